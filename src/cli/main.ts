#!/usr/bin/env node
/** The `wasmlm` command: run, info, tokenize, convert, quantize, bench. */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { WasmlmError } from '../errors.js';
import { rowBytes, typeName } from '../formats/ggml-types.js';
import { readGGUF, GGUFValueType, type GGUFHeader, type GGUFMetaValue } from '../formats/gguf.js';
import { GGUFMetadata } from '../formats/gguf-metadata.js';
import { writeGGUFFile } from '../formats/gguf-writer.js';
import { dequantize, planQuantization, quantizeTensor, QUANT_TARGETS } from '../formats/quantize.js';
import { convertLlama2c } from '../formats/llama2c.js';
import type { GenerateOptions } from '../generate/generator.js';
import * as abi from '../abi.js';
import { loadModel, type LoadOptions } from '../model.js';
import { loadTokenizer } from '../tokenizer/load.js';

const USAGE = `wasmlm — run GGUF language models with WebAssembly

usage:
  wasmlm run [PROMPT]            generate text (default model: the embedded stories260K)
      --model FILE.gguf          a GGUF model file or URL
      --max-tokens N             most tokens to generate (default 256)
      --temperature T            0 = greedy (default 0.8)
      --top-k K  --top-p P  --min-p P  --repeat-penalty R  --seed S
      --stop TEXT                stop before TEXT (repeatable)
      --ignore-eos               keep going past end-of-text
      --context N                context length (KV cache size)
      --lora FILE[:SCALE]        apply a LoRA adapter (repeatable; scale default 1)
      --json                     print one JSON object {text, tokens, finishReason, timings}
  wasmlm info FILE.gguf          metadata and a tensor type summary
      --json                     as JSON
  wasmlm tokenize (--model FILE.gguf | --tokenizer FILE) TEXT
                                 FILE: a GGUF vocabulary or an HF tokenizer.json
      --no-special               do not add BOS/EOS
      --parse-special            read special-token text such as <|im_start|> as those tokens
  wasmlm bench FILE.gguf         time prefill and decode on random prompt tokens
      --threads N --prompt 128 --gen 64 --json
      --context-fill N           prefill N tokens (instead of --prompt), then time decode from there
                                 (WASMLM_PROFILE=1: time per op kind, on stderr)
  wasmlm quantize IN.gguf OUT.gguf --type TYPE
                                 re-quantize a model, tensor by tensor; TYPE: q8_0, q4_0, q4_1, q5_0,
                                 q5_1, q2_k, q3_k, q4_k, q5_k, q6_k (every 2-D weight that type),
                                 q4_k_m, q5_k_m (llama.cpp's mixes), f16, bf16, f32
  wasmlm convert MODEL.bin TOKENIZER.bin OUT.gguf
                                 convert a llama2.c checkpoint + tokenizer to GGUF
  wasmlm help
`;

type Flags = Record<string, string | boolean | string[]>;

function parse(argv: string[]): { positional: string[]; flags: Flags } {
  const positional: string[] = [];
  const flags: Flags = {};
  const booleans = new Set(['json', 'ignore-eos', 'no-special', 'parse-special', 'help']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { positional.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    let value: string | boolean;
    if (booleans.has(name)) value = true;
    else if (eq >= 0) value = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new WasmlmError('BAD_ARGUMENT', `--${name} needs a value`);
      value = argv[++i]!;
    }
    if (name === 'stop' || name === 'lora') (flags[name] = (flags[name] as string[] | undefined) ?? []).push(value as string);
    else flags[name] = value;
  }
  return { positional, flags };
}

function num(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) {
    throw new WasmlmError('BAD_ARGUMENT', `--${name} expects a number, got '${String(v)}'`);
  }
  return n;
}

function progressBar(): LoadOptions['onProgress'] {
  if (!process.stderr.isTTY) return undefined;
  let last = -1;
  return ({ loaded, total }) => {
    if (!total || total < 16 * 2 ** 20) return;
    const pct = Math.floor((loaded / total) * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    process.stderr.write(`\rloading [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% of ${(total / 2 ** 20).toFixed(0)} MiB`);
    if (loaded >= total) process.stderr.write('\n');
  };
}

async function run(positional: string[], flags: Flags): Promise<void> {
  const prompt = positional.join(' ') || 'Once upon a time';
  const model = await loadModel(flags.model as string | undefined, {
    contextLength: num(flags, 'context'),
    onProgress: progressBar(),
  });
  for (const spec of (flags.lora as string[] | undefined) ?? []) {
    const m = /^(.*?)(?::(-?[\d.]+(?:e-?\d+)?))?$/.exec(spec)!;
    const scale = m[2] === undefined ? 1 : Number(m[2]);
    if (!Number.isFinite(scale)) throw new WasmlmError('BAD_ARGUMENT', `--lora ${spec}: the scale must be a number`);
    await model.loadAdapter(m[1]!, { scale });
  }
  const options: GenerateOptions = {
    maxTokens: num(flags, 'max-tokens') ?? 256,
    temperature: num(flags, 'temperature'),
    topK: num(flags, 'top-k'),
    topP: num(flags, 'top-p'),
    minP: num(flags, 'min-p'),
    repeatPenalty: num(flags, 'repeat-penalty'),
    seed: num(flags, 'seed'),
    stop: flags.stop as string[] | undefined,
    ignoreEos: flags['ignore-eos'] === true,
  };
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  options.signal = abort.signal;
  if (flags.json) {
    const result = await model.complete(prompt, options);
    process.stdout.write(JSON.stringify({ prompt, ...result }) + '\n');
    return;
  }
  process.stdout.write(prompt);
  const it = model.generate(prompt, options);
  let step = await it.next();
  while (!step.done) {
    process.stdout.write(step.value);
    step = await it.next();
  }
  process.stdout.write('\n');
  const t = step.value.timings;
  process.stderr.write(`[${t.generatedTokens} tokens, ${step.value.finishReason}; prompt ${t.prefillTokensPerSecond.toFixed(1)} tok/s, ` +
    `generation ${t.decodeTokensPerSecond.toFixed(1)} tok/s]\n`);
}

function summarize(h: GGUFHeader) {
  const types: Record<string, { tensors: number; bytes: number }> = {};
  let params = 0;
  for (const t of h.tensors) {
    const e = (types[typeName(t.type)] ??= { tensors: 0, bytes: 0 });
    e.tensors++;
    e.bytes += t.nBytes;
    params += t.nElements;
  }
  const metadata: Record<string, unknown> = {};
  for (const [k, v] of h.metadata) {
    const value = v.value as unknown;
    const len = Array.isArray(value) ? value.length : ArrayBuffer.isView(value) ? (value as unknown as ArrayLike<unknown>).length : -1;
    metadata[k] = len >= 0 ? (len > 8 ? `[${len} items]` : Array.from(value as ArrayLike<unknown>)) :
      typeof value === 'bigint' ? value.toString() : value;
  }
  return { version: h.version, tensors: h.tensors.length, parameters: params, types, metadata };
}

async function info(positional: string[], flags: Flags): Promise<void> {
  const file = positional[0];
  if (!file) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm info FILE.gguf');
  const s = summarize(await readGGUF(file));
  if (flags.json) { process.stdout.write(JSON.stringify(s, null, 2) + '\n'); return; }
  const out: string[] = [`GGUF v${s.version}, ${s.tensors} tensors, ${s.parameters.toLocaleString('en-US')} parameters`, '', 'metadata:'];
  for (const [k, v] of Object.entries(s.metadata)) out.push(`  ${k} = ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  out.push('', 'tensor types:');
  for (const [t, e] of Object.entries(s.types)) out.push(`  ${t.padEnd(6)} ${String(e.tensors).padStart(5)} tensors ${(e.bytes / 2 ** 20).toFixed(2).padStart(10)} MiB`);
  process.stdout.write(out.join('\n') + '\n');
}

async function tokenize(positional: string[], flags: Flags): Promise<void> {
  // --model FILE.gguf, or --tokenizer FILE (a GGUF vocabulary or an HF tokenizer.json; a
  // tokenizer_config.json beside it is read too)
  const source = (flags.tokenizer ?? flags.model) as string | undefined;
  if (typeof source !== 'string' || source === '') {
    throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm tokenize (--model FILE.gguf | --tokenizer tokenizer.json) TEXT');
  }
  const tok = await loadTokenizer(source);
  const ids = tok.encode(positional.join(' '), { addSpecial: flags['no-special'] !== true, parseSpecial: flags['parse-special'] === true });
  if (flags.json) process.stdout.write(JSON.stringify({ ids, pieces: ids.map((id) => tok.idToPiece(id)) }) + '\n');
  else process.stdout.write(ids.map((id) => `${id}\t${JSON.stringify(tok.idToPiece(id))}`).join('\n') + '\n');
}

async function convert(positional: string[]): Promise<void> {
  const [modelPath, tokPath, outPath] = positional;
  if (!modelPath || !tokPath || !outPath) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm convert MODEL.bin TOKENIZER.bin OUT.gguf');
  const read = async (p: string) => {
    try { return new Uint8Array(await readFile(p)); } catch (e) {
      throw new WasmlmError('IO_ERROR', `cannot read ${p}: ${(e as Error).message}`);
    }
  };
  const name = modelPath.replace(/^.*[\\/]/, '').replace(/\.bin$/, '');
  const gguf = convertLlama2c(await read(modelPath), await read(tokPath), { name });
  await writeFile(outPath, gguf);
  process.stderr.write(`wrote ${outPath} (${gguf.length} bytes)\n`);
}

async function bench(positional: string[], flags: Flags): Promise<void> {
  const file = positional[0];
  if (!file) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm bench FILE.gguf [--threads N] [--prompt 128 | --context-fill N] [--gen 64] [--json]');
  const fill = num(flags, 'context-fill');
  const nPrompt = fill ?? num(flags, 'prompt') ?? 128;
  const nGen = num(flags, 'gen') ?? 64;
  const threads = num(flags, 'threads') ?? 1;
  const t0 = performance.now();
  const model = await loadModel(file, { threads, contextLength: Math.min(nPrompt + nGen + 1, 1 << 30), onProgress: progressBar() });
  const loadMs = performance.now() - t0;
  const profile = process.env.WASMLM_PROFILE ? profileOps(model) : undefined;
  const V = model.info.vocabSize;
  let seed = 12345;
  const ids = [model.tokenizer.special.bos ?? 1];
  while (ids.length < nPrompt) { seed = (seed * 1103515245 + 12345) >>> 0; ids.push(seed % V); }
  // one short warm-up completion on other ids (nothing of it is reused): V8 runs wasm first with its baseline
  // compiler and optimizes the hot functions in the background, so a first run measures that (the browser
  // bench warms up both engines the same way; native code has no such phase)
  await model.complete(ids.slice(1, 9).map((x) => (x + 7) % V), { temperature: 0, maxTokens: 4, ignoreEos: true });
  const r = await model.complete(ids, { temperature: 0, maxTokens: nGen, ignoreEos: true });
  const result: Record<string, number> = {
    prefill_tps: r.timings.prefillTokensPerSecond,
    decode_tps: (r.tokens.length - 1) / (r.timings.generateMs / 1000),
    load_ms: loadMs,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    threads: model.info.threads,
    file_mb: (await stat(file)).size / 2 ** 20,
    kv_mb: model.info.kvCacheBytes / 2 ** 20,
  };
  if (fill !== undefined) result.context = nPrompt;
  profile?.report();
  if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(`prefill ${result.prefill_tps!.toFixed(1)} tok/s, decode ${result.decode_tps!.toFixed(2)} tok/s, ` +
    `load ${result.load_ms!.toFixed(0)} ms, peak RSS ${result.peak_rss_mb!.toFixed(0)} MiB, ${result.threads} thread(s)` +
    (fill !== undefined ? `, decode after ${nPrompt} tokens of context` : '') + '\n');
}

/**
 * WASMLM_PROFILE: runs each plan op on its own (one `run` call per op) and adds up the time per
 * op kind (matmuls per weight type and size), split into prefill (batches of several tokens) and
 * decode. Reaches into the engine's internals; the per-op calls cost a little (and one barrier per op
 * with threads), so the totals are a bit above an unprofiled run.
 */
function profileOps(model: unknown): { report(): void } | undefined {
  const m = model as Record<string, unknown>;
  const engine = (m.engineRef ?? m.engine) as Record<string, any> | undefined;
  const memory = engine?.views?.memory as WebAssembly.Memory | undefined;
  const target = engine?.pool?.alive ? engine.pool : engine?.kernels;
  if (!engine || !memory || typeof target?.run !== 'function') {
    process.stderr.write('WASMLM_PROFILE: engine internals not found, no profile\n');
    return undefined;
  }
  const names = new Map<number, string>();
  for (const [k, v] of Object.entries(abi)) if (k.startsWith('OP_') && k !== 'OP_WORDS') names.set(v as number, k.slice(3).toLowerCase());
  const times = new Map<string, { ms: number; n: number; bytes: number; flops: number }>();
  const phases = { prefill: 0, decode: 0 };
  const run = target.run.bind(target) as (ptr: number, n: number) => void;
  const timed = (ptr: number, nOps: number): void => {
    const i32 = new Int32Array(memory.buffer);
    let batch = 0;
    for (let i = 0; i < nOps; i++) {
      const w = (ptr >>> 2) + i * abi.OP_WORDS;
      if (i32[w] === abi.OP_MATMUL) batch = Math.max(batch, i32[w + 7]!);
    }
    const phase = batch > 1 ? 'prefill' : 'decode';
    const start = performance.now();
    for (let i = 0; i < nOps; i++) {
      const at = ptr + i * abi.OP_WORDS * 4;
      const w = at >>> 2;
      const code = i32[w]!;
      let key = names.get(code) ?? `op ${code}`;
      let bytes = 0;
      let flops = 0;
      const layout = (t: number) => typeName(t & ~abi.REPACKED) + (t & abi.REPACKED ? ' (repacked)' : '');
      if (code === abi.OP_MATMUL) {
        key = `matmul ${layout(i32[w + 1]!)} ${i32[w + 5]}x${i32[w + 6]}`;
        try { bytes = rowBytes(i32[w + 1]! & ~abi.REPACKED, i32[w + 5]!) * i32[w + 6]!; } catch { bytes = 0; }
        flops = 2 * i32[w + 5]! * i32[w + 6]! * i32[w + 7]!;
      } else if (code === abi.OP_PREP_ACT) {
        key = `prep_act ${layout(i32[w + 1]!)}`;
      }
      key = `${phase}  ${key}`;
      const t = performance.now();
      run(at, 1);
      const e = (times.get(key) ?? times.set(key, { ms: 0, n: 0, bytes: 0, flops: 0 }).get(key))!;
      e.ms += performance.now() - t;
      e.n++;
      e.bytes += bytes;
      e.flops += flops;
    }
    phases[phase] += performance.now() - start;
  };
  // the pool is an object of ours; the kernels are a wasm exports object (frozen): put a copy in its place
  if (target === engine.kernels) engine.kernels = { ...target, run: timed };
  else target.run = timed;
  return {
    report(): void {
      const total = [...times.values()].reduce((a, e) => a + e.ms, 0);
      const pre = (k: string) => k.startsWith('prefill');
      const rows = [...times.entries()].sort((a, b) => (pre(a[0]) === pre(b[0]) ? b[1].ms - a[1].ms : pre(a[0]) ? -1 : 1));
      const out = [`WASMLM_PROFILE: ${total.toFixed(0)} ms in ops (prefill ${phases.prefill.toFixed(0)} ms, decode ${phases.decode.toFixed(0)} ms)`];
      for (const [k, e] of rows) {
        const ph = phases[k.startsWith('prefill') ? 'prefill' : 'decode'];
        out.push(`  ${k.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms ${((100 * e.ms) / ph).toFixed(1).padStart(5)}% of ${k.slice(0, 7).trim()}  ${String(e.n).padStart(6)} calls` +
          (e.bytes > 0 ? `  ${(e.bytes / e.ms / 1e6).toFixed(2).padStart(6)} GB/s of weights, ${(e.flops / e.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` : ''));
      }
      process.stderr.write(out.join('\n') + '\n');
    },
  };
}

/** wasmlm quantize IN OUT --type T: one tensor in memory at a time (read, dequantize if needed, quantize, write). */
async function quantize(positional: string[], flags: Flags): Promise<void> {
  const [inPath, outPath] = positional;
  const targetName = String(flags.type ?? '').toLowerCase();
  const target = QUANT_TARGETS[targetName];
  if (!inPath || !outPath || !target) {
    throw new WasmlmError('BAD_ARGUMENT', `usage: wasmlm quantize IN.gguf OUT.gguf --type ${Object.keys(QUANT_TARGETS).join('|')}` +
      (flags.type !== undefined && !target ? ` (unknown type '${String(flags.type)}')` : ''));
  }
  const h = await readGGUF(inPath);
  const meta = new GGUFMetadata(h);
  const arch = meta.optionalString('general.architecture');
  const plan = planQuantization(target, h.tensors, { arch, nLayer: meta.optionalU32(`${arch}.block_count`), nExpert: meta.optionalU32(`${arch}.expert_count`) });
  // metadata as llama-quantize writes it: everything kept, then quantization_version and file_type (re)set last
  const metadata = new Map<string, GGUFMetaValue>(h.metadata);
  metadata.delete('general.quantization_version');
  metadata.delete('general.file_type');
  metadata.set('general.quantization_version', { type: GGUFValueType.UINT32, value: 2 });
  metadata.set('general.file_type', { type: GGUFValueType.UINT32, value: target.fileType });
  const { open } = await import('node:fs/promises');
  const fh = await open(inPath, 'r');
  const t0 = performance.now();
  let inBytes = 0;
  try {
    const tensors = plan.map((p, i) => ({
      name: p.name,
      ne: p.ne,
      type: p.outType,
      data: async (): Promise<Uint8Array> => {
        const info = h.tensors.find((t) => t.name === p.name)!;
        const bytes = new Uint8Array(info.nBytes);
        let off = 0;
        while (off < bytes.length) {
          const { bytesRead } = await fh.read(bytes, off, bytes.length - off, h.dataOffset + info.offset + off);
          if (bytesRead === 0) throw new WasmlmError('TRUNCATED', `${inPath}: tensor '${p.name}' ends past the end of the file`);
          off += bytesRead;
        }
        inBytes += bytes.length;
        const out = p.outType === p.type ? bytes : quantizeTensor(p.outType, dequantize(p.type, bytes, info.nElements));
        process.stderr.write(`[${String(i + 1).padStart(4)}/${plan.length}] ${p.name.padEnd(28)} ${typeName(p.type).padEnd(5)} → ${typeName(p.outType).padEnd(5)} ` +
          `[${p.ne.join(', ')}]${p.note ? `  (${p.note})` : ''}\n`);
        return out;
      },
    }));
    const written = await writeGGUFFile(outPath, metadata, tensors);
    process.stderr.write(`wrote ${outPath}: ${(written / 2 ** 20).toFixed(1)} MiB (from ${(inBytes / 2 ** 20).toFixed(1)} MiB of tensors), ` +
      `${target.name}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  } finally {
    await fh.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    const { positional, flags } = parse(rest);
    switch (command) {
      case 'run': await run(positional, flags); return 0;
      case 'info': await info(positional, flags); return 0;
      case 'tokenize': await tokenize(positional, flags); return 0;
      case 'convert': await convert(positional); return 0;
      case 'quantize': await quantize(positional, flags); return 0;
      case 'bench': await bench(positional, flags); return 0;
      case undefined: case 'help': case '--help': case '-h':
        process.stdout.write(USAGE); return command === undefined ? 1 : 0;
      default:
        process.stderr.write(`wasmlm: unknown command '${command}'\n\n${USAGE}`); return 2;
    }
  } catch (e) {
    if (e instanceof WasmlmError) {
      process.stderr.write(`wasmlm: ${e.message} [${e.code}]\n`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
