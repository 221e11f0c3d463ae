/** The `wasmlm` command (entered through bin.ts): run, serve, chat, finetune, info, fit, tokenize, convert, quantize, bench. */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WasmlmError } from '../errors.js';
import { typeName } from '../formats/ggml-types.js';
import { readGGUF, GGUFValueType, type GGUFMetaValue } from '../formats/gguf.js';
import { GGUFMetadata } from '../formats/gguf-metadata.js';
import { readGGUFModel, tensorLocation } from '../formats/gguf-split.js';
import { writeGGUFFiles, type GGUFSplitOptions } from '../formats/gguf-writer.js';
import { dequantize, planQuantization, QUANT_TARGETS } from '../formats/quantize.js';
import { Quantizer } from '../formats/quantize-wasm.js';
import { convertLlama2c } from '../formats/llama2c.js';
import { convertHFFolder } from '../formats/hf-convert.js';
import type { GenerateOptions } from '../generate/generator.js';
import { compileGrammar, constraintGbnf, type JsonSchema } from '../grammar/index.js';
import { Sampler } from '../generate/sampler.js';
import { loadModel, type LoadOptions } from '../model.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { resolveSpec } from '../models/index.js';
import { estimateMemory, loadSizing } from '../engine/budget.js';
import type { KvType } from '../engine/options.js';
import { OpProfile } from './profile.js';
import { CHAT } from './chat.js';
import { SERVE } from './serve.js';
import { FINETUNE } from './finetune.js';
import { FIT, INFO } from './info.js';
import { num, SAMPLING_FLAGS, type Flags } from './flags.js';

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  /** the usage line(s) and the option lines, as `wasmlm COMMAND --help` prints them */
  usage: string;
  options: Options;
  run(positional: string[], flags: Flags): Promise<void>;
}

/** --help and --debug: every command takes them */
const COMMON: Options = { help: { type: 'boolean', short: 'h' }, debug: { type: 'boolean' } };

/** convert and quantize: write a split GGUF */
const SPLIT_OPTIONS: Options = { 'split-max-size': { type: 'string' }, 'split-max-tensors': { type: 'string' } };
const SPLIT_USAGE = `    --split-max-size N[K|M|G]    write shards of at most N bytes of tensors each (K, M, G: 10^3, 10^6,
                                 10^9, as llama.cpp's gguf-split), named OUT-00001-of-0000N.gguf, …
    --split-max-tensors N        write shards of at most N tensors each`;

const COMMANDS: Record<string, Command> = {
  run: {
    usage: `wasmlm run [PROMPT]            generate text (default model: the embedded stories260K)
    -m, --model FILE.gguf        a GGUF model file or URL
    -p, --prompt TEXT            the prompt (or give it as the words after the flags)
    -n, --max-tokens N           most tokens to generate (default 256)
    -t, --temperature T          0 = greedy (default 0.8)
    --top-k K  --top-p P  --min-p P  --repeat-penalty R  --seed S
    --stop TEXT                  stop before TEXT (repeatable)
    --ignore-eos                 keep going past end-of-text
    --context N                  context length (KV cache size)
    --threads N                  threads that compute (default: the cores, for a big enough model)
    --lora FILE[:SCALE]          apply a LoRA adapter (repeatable; scale default 1)
    --chat                       the prompt is a user message: render it with the model's chat template
                                 (ChatML, with a warning, when the model has none)
    --json                       print one JSON object {text, tokens, finishReason, timings}
    --json-schema FILE           the output is JSON valid against this JSON Schema (only it is printed)
    --grammar FILE               the output follows this GBNF grammar, llama.cpp's format (only it is printed)`,
    options: {
      model: { type: 'string', short: 'm' },
      'json-schema': { type: 'string' },
      grammar: { type: 'string' },
      prompt: { type: 'string', short: 'p' },
      ...SAMPLING_FLAGS,
      stop: { type: 'string', multiple: true },
      'ignore-eos': { type: 'boolean' },
      context: { type: 'string' },
      threads: { type: 'string' },
      lora: { type: 'string', multiple: true },
      chat: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    run: (positional, flags) => run(positional, flags),
  },
  serve: SERVE,
  chat: CHAT,
  finetune: FINETUNE,
  info: INFO,
  fit: FIT,
  tokenize: {
    usage: `wasmlm tokenize (--model FILE.gguf | --tokenizer FILE) TEXT
                                 FILE: a GGUF vocabulary or an HF tokenizer.json
    --no-special                 do not add BOS/EOS
    --parse-special              read special-token text such as <|im_start|> as those tokens
    --json                       as JSON`,
    options: {
      model: { type: 'string', short: 'm' },
      tokenizer: { type: 'string' },
      'no-special': { type: 'boolean' },
      'parse-special': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    run: (positional, flags) => tokenize(positional, flags),
  },
  bench: {
    usage: `wasmlm bench FILE.gguf         time prefill and decode on random prompt tokens
    --threads N --prompt 128 --gen 64 --json
    --context-fill N             prefill N tokens (instead of --prompt), then time decode from there
                                 (WASMLM_PROFILE=1: time per op kind, on stderr)`,
    options: {
      threads: { type: 'string' },
      prompt: { type: 'string' },
      gen: { type: 'string' },
      'context-fill': { type: 'string' },
      json: { type: 'boolean' },
    },
    run: (positional, flags) => bench(positional, flags),
  },
  quantize: {
    usage: `wasmlm quantize IN.gguf OUT.gguf --type TYPE
                                 re-quantize a model, tensor by tensor; TYPE: q8_0, q4_0, q4_1, q5_0,
                                 q5_1, q2_k, q3_k, q4_k, q5_k, q6_k (every 2-D weight that type),
                                 q4_k_m, q5_k_m (llama.cpp's mixes), f16, bf16, f32
    --threads N                  threads that quantize (default: the cores)
${SPLIT_USAGE}`,
    options: { type: { type: 'string' }, threads: { type: 'string' }, ...SPLIT_OPTIONS },
    run: (positional, flags) => quantize(positional, flags),
  },
  convert: {
    usage: `wasmlm convert DIR OUT.gguf [--type TYPE]
                                 convert a Hugging Face folder (config.json, safetensors, tokenizer.json)
                                 to the GGUF llama.cpp's converter writes; TYPE as for quantize (default:
                                 the folder's F32 / F16 / BF16)
  wasmlm convert MODEL.bin TOKENIZER.bin OUT.gguf
                                 convert a llama2.c checkpoint + tokenizer to GGUF
${SPLIT_USAGE}`,
    options: { type: { type: 'string' }, ...SPLIT_OPTIONS },
    run: (positional, flags) => convert(positional, flags),
  },
};

const USAGE = `wasmlm — run GGUF language models with WebAssembly

usage:
${Object.values(COMMANDS).map((c) => '  ' + c.usage.replace(/\n/g, '\n  ')).join('\n')}
  wasmlm help | --help | -h      this text (wasmlm COMMAND --help: that command's)
  wasmlm --version               the version

every command: --debug prints an error's stack trace
`;

/** The edit distance of a and b (for "did you mean"). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `name` (an option without its dashes, or a command). */
function closest(name: string, known: string[]): string | undefined {
  const n = name.toLowerCase().replace(/_/g, '-');
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(n) || n.startsWith(k) ? Math.abs(k.length - n.length) * 0.5 : distance(n, k);
    if (d < bestD) { bestD = d; best = k; }
  }
  return best;
}

/** The command's flags and positional arguments, strictly: an unknown flag or a flag without its value is an error. */
function parse(command: string, spec: Command, argv: string[]): { positional: string[]; flags: Flags } {
  const options = { ...COMMON, ...spec.options };
  // a negative number after a flag that takes a value is that value (`-t -1`; parseArgs would call it ambiguous)
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const long = a.startsWith('--') ? a.slice(2) : Object.keys(options).find((k) => a === `-${options[k]!.short}`);
    if (long !== undefined && options[long]?.type === 'string' && /^-(\d|\.\d)/.test(argv[i + 1] ?? '')) {
      args.push(`--${long}=${argv[++i]}`);
    } else {
      args.push(a);
    }
  }
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { positional: positionals, flags: values as Flags };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = (e as Error).message;
    const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(message);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const [, dashes, name] = unknown;
      const long = Object.keys(options);
      const hint = dashes === '-'
        ? Object.entries(options).filter(([, o]) => o.short).map(([k, o]) => `-${o.short} (--${k})`).join(', ')
        : undefined;
      const near = dashes === '--' ? closest(name!, long) : undefined;
      throw new WasmlmError('BAD_ARGUMENT', `unknown option ${dashes}${name} for 'wasmlm ${command}'` +
        (near ? `; did you mean --${near}?` : hint !== undefined ? `; its short options: ${hint || 'none'}` : '') +
        ` (wasmlm ${command} --help lists them)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new WasmlmError('BAD_ARGUMENT', `wasmlm ${command}: ${message.replace(/\.$/, '')}`);
    }
    throw e;
  }
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

/** --lora FILE[:SCALE]: the file and the scale (default 1); a scale that is not a number is an error. */
function parseLora(spec: string): { file: string; scale: number } {
  const colon = spec.lastIndexOf(':');
  const tail = colon >= 0 ? spec.slice(colon + 1) : '';
  // FILE:SCALE when what follows the last colon is not a path (C:\x, http://…) and not empty
  if (colon > 1 && !/[\\/]/.test(tail)) {
    const scale = Number(tail);
    if (tail.trim() === '' || !Number.isFinite(scale)) {
      throw new WasmlmError('BAD_ARGUMENT', `--lora ${spec}: the scale after the last ':' must be a number, got '${tail}' (FILE[:SCALE], e.g. adapter.gguf:0.5)`);
    }
    return { file: spec.slice(0, colon), scale };
  }
  if (spec === '') throw new WasmlmError('BAD_ARGUMENT', '--lora needs a file (FILE[:SCALE])');
  return { file: spec, scale: 1 };
}

async function run(positional: string[], flags: Flags): Promise<void> {
  // everything checked before anything is loaded or printed
  if (flags.prompt !== undefined && positional.length > 0) {
    throw new WasmlmError('BAD_ARGUMENT', `give the prompt once: -p/--prompt '${String(flags.prompt)}' and the words '${positional.join(' ')}' were both given`);
  }
  const prompt = (flags.prompt as string | undefined) ?? (positional.join(' ') || 'Once upon a time');
  const loras = ((flags.lora as string[] | undefined) ?? []).map(parseLora);
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
  if (!Number.isInteger(options.maxTokens) || options.maxTokens! < 0) {
    throw new WasmlmError('BAD_ARGUMENT', `--max-tokens must be a non-negative integer, got ${options.maxTokens}`);
  }
  await readConstraint(flags, options);
  try {
    new Sampler(options);
  } catch (e) {
    // the sampler names the option as the API does: name the flag
    if (e instanceof WasmlmError) {
      throw new WasmlmError(e.code, e.message.replace(/^(temperature|topK|topP|minP|repeatPenalty|repeatLastN|seed)\b/,
        (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`), { cause: e });
    }
    throw e;
  }
  const model = await loadModel(flags.model as string | undefined, {
    contextLength: num(flags, 'context'),
    threads: num(flags, 'threads'),
    onProgress: progressBar(),
  });
  for (const { file, scale } of loras) await model.loadAdapter(file, { scale });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  options.signal = abort.signal;
  const chat = flags.chat === true;
  if (chat && !model.info.chatTemplate) {
    process.stderr.write('wasmlm: this model has no chat template: using ChatML, which a model not trained on it answers poorly\n');
  }
  const messages = [{ role: 'user', content: prompt }];
  if (flags.json) {
    const result = chat ? await model.chat(messages, options) : await model.complete(prompt, options);
    process.stdout.write(JSON.stringify({ prompt, ...result }) + '\n');
    return;
  }
  if (!chat && options.grammar === undefined && options.responseFormat === undefined) process.stdout.write(prompt);
  const it = chat ? model.chatStream(messages, options) : model.generate(prompt, options);
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

/** --json-schema FILE / --grammar FILE into the options, compiled here so that errors come before loading. */
async function readConstraint(flags: Flags, options: GenerateOptions): Promise<void> {
  const schemaFile = flags['json-schema'] as string | undefined, grammarFile = flags.grammar as string | undefined;
  if (schemaFile !== undefined && grammarFile !== undefined) throw new WasmlmError('BAD_ARGUMENT', 'give --json-schema or --grammar, not both');
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (e) {
      throw new WasmlmError('IO_ERROR', `--${flag} ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  if (schemaFile !== undefined) {
    const text = await read('json-schema', schemaFile);
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch (e) {
      throw new WasmlmError('BAD_SCHEMA', `--json-schema ${schemaFile}: not JSON (${(e as Error).message})`, { cause: e });
    }
    options.responseFormat = { type: 'json_schema', schema: schema as JsonSchema };
  }
  if (grammarFile !== undefined) options.grammar = await read('grammar', grammarFile);
  const file = schemaFile ?? grammarFile;
  try {
    const gbnf = constraintGbnf(options);
    if (gbnf !== undefined) compileGrammar(gbnf);
  } catch (e) {
    if (e instanceof WasmlmError) throw new WasmlmError(e.code, `${file}: ${e.message}`, { cause: e });
    throw e;
  }
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

/** --split-max-size / --split-max-tensors as writeGGUFFiles' options (none: one file). */
function splitOptions(flags: Flags): GGUFSplitOptions {
  const out: GGUFSplitOptions = {};
  const size = flags['split-max-size'];
  if (typeof size === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)B?\s*$/i.exec(size);
    const n = m ? Math.floor(Number(m[1]) * 1000 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase())) : NaN;
    if (!(n >= 1) || !Number.isSafeInteger(n)) {
      throw new WasmlmError('BAD_ARGUMENT', `--split-max-size expects a positive size N[K|M|G] (e.g. 2G, 500M), got '${size}'`);
    }
    out.maxBytes = n;
  }
  const tensors = num(flags, 'split-max-tensors');
  if (tensors !== undefined) {
    if (!Number.isSafeInteger(tensors) || tensors < 1) throw new WasmlmError('BAD_ARGUMENT', `--split-max-tensors expects a positive integer, got '${String(flags['split-max-tensors'])}'`);
    out.maxTensors = tensors;
  }
  return out;
}

/** The files writeGGUFFiles wrote, for stderr. */
function wroteText(files: { path: string; bytes: number }[]): string {
  const total = files.reduce((a, f) => a + f.bytes, 0);
  return files.length === 1 ? `${files[0]!.path}: ${(total / 2 ** 20).toFixed(1)} MiB`
    : `${files.length} shards, ${files[0]!.path} … ${files[files.length - 1]!.path}: ${(total / 2 ** 20).toFixed(1)} MiB`;
}

async function convert(positional: string[], flags: Flags): Promise<void> {
  if (positional.length === 2) {
    const [dir, out] = positional as [string, string];
    const type = flags.type === undefined ? undefined : String(flags.type).toLowerCase();
    if (type !== undefined && !QUANT_TARGETS[type]) {
      throw new WasmlmError('BAD_ARGUMENT', `--type: unknown type '${String(flags.type)}' (one of ${Object.keys(QUANT_TARGETS).join(', ')})`);
    }
    const r = await convertHFFolder(dir, out, { type, split: splitOptions(flags) });
    process.stderr.write(`wrote ${wroteText(r.files)} (${r.arch}, ${r.tensors} tensors)\n`);
    return;
  }
  if (flags.type !== undefined) throw new WasmlmError('BAD_ARGUMENT', '--type applies to Hugging Face folders (wasmlm convert DIR OUT.gguf --type TYPE)');
  const [modelPath, tokPath, outPath] = positional;
  if (!modelPath || !tokPath || !outPath) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm convert DIR OUT.gguf [--type TYPE] | wasmlm convert MODEL.bin TOKENIZER.bin OUT.gguf');
  const read = async (p: string) => {
    try { return new Uint8Array(await readFile(p)); } catch (e) {
      throw new WasmlmError('IO_ERROR', `cannot read ${p}: ${(e as Error).message}`);
    }
  };
  const split = splitOptions(flags);
  const name = modelPath.replace(/^.*[\\/]/, '').replace(/\.bin$/, '');
  const gguf = convertLlama2c(await read(modelPath), await read(tokPath), { name });
  if (split.maxBytes === undefined && split.maxTensors === undefined) {
    await writeFile(outPath, gguf);
    process.stderr.write(`wrote ${outPath} (${gguf.length} bytes)\n`);
    return;
  }
  // the converted file, as metadata and tensors (views into its bytes), into shards
  const h = await readGGUF(gguf);
  const tensors = h.tensors.map((t) => ({ ...t, data: gguf.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
  process.stderr.write(`wrote ${wroteText(await writeGGUFFiles(outPath, h.metadata, tensors, split))}\n`);
}

async function bench(positional: string[], flags: Flags): Promise<void> {
  const file = positional[0];
  if (!file) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm bench FILE.gguf [--threads N] [--prompt 128 | --context-fill N] [--gen 64] [--json]');
  const fill = num(flags, 'context-fill');
  const nPrompt = fill ?? num(flags, 'prompt') ?? 128;
  const nGen = num(flags, 'gen') ?? 64;
  const threads = num(flags, 'threads') ?? 1;
  const profile = process.env.WASMLM_PROFILE ? new OpProfile() : undefined;
  const t0 = performance.now();
  const model = await loadModel(file, { threads, contextLength: Math.min(nPrompt + nGen + 1, 1 << 30), onProgress: progressBar(), runPlan: profile?.runPlan });
  const loadMs = performance.now() - t0;
  const V = model.info.vocabSize;
  let seed = 12345;
  const ids = [model.tokenizer.special.bos ?? 1];
  while (ids.length < nPrompt) { seed = (seed * 1103515245 + 12345) >>> 0; ids.push(seed % V); }
  // one short warm-up completion on other ids (nothing of it is reused): V8 runs wasm first with its baseline
  // compiler and optimizes the hot functions in the background, so a first run measures that (the browser
  // bench warms up both engines the same way; native code has no such phase)
  await model.complete(ids.slice(1, 9).map((x) => (x + 7) % V), { temperature: 0, maxTokens: 4, ignoreEos: true });
  const r = await model.complete(ids, { temperature: 0, maxTokens: nGen, ignoreEos: true });
  const peakRss = process.resourceUsage().maxRSS / 1024; // (before the header is read again, below)
  const file_mb = (await stat(file)).size / 2 ** 20;
  const kv_mb = model.info.kvCacheBytes / 2 ** 20;
  const scratch_mb = (await extraShardScratch(file, model.info)) / 2 ** 20;
  const result: Record<string, number> = {
    prefill_tps: r.timings.prefillTokensPerSecond,
    decode_tps: (r.tokens.length - 1) / (r.timings.generateMs / 1000),
    load_ms: loadMs,
    peak_rss_mb: peakRss,
    threads: model.info.threads,
    file_mb,
    kv_mb,
    scratch_mb,
    bound_mb: file_mb + kv_mb + 64 + scratch_mb,
  };
  if (fill !== undefined) result.context = nPrompt;
  if (profile) process.stderr.write(profile.report());
  if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(`prefill ${result.prefill_tps!.toFixed(1)} tok/s, decode ${result.decode_tps!.toFixed(2)} tok/s, ` +
    `load ${result.load_ms!.toFixed(0)} ms, peak RSS ${peakRss.toFixed(0)} MiB (bound ${result.bound_mb!.toFixed(0)} MiB = file ` +
    `${file_mb.toFixed(0)} + KV ${kv_mb.toFixed(1)} + 64 + extra shards' scratch ${scratch_mb.toFixed(1)}), ${result.threads} thread(s)` +
    (fill !== undefined ? `, decode after ${nPrompt} tokens of context` : '') + '\n');
}

/**
 * The bench's RSS bound's last term: what each wasm memory after the first repeats, its buffers and thread
 * scratch (estimateMemory's shardOverhead, for the model as loaded: its context, KV type and threads); 0 for
 * one memory.
 */
async function extraShardScratch(file: string, info: { shards: number; threads: number; contextLength: number; kvType: KvType }): Promise<number> {
  if (info.shards === 1) return 0;
  const { spec, tensors } = resolveSpec(await readGGUFModel(file));
  const { sizing } = await loadSizing(spec, tensors, { threads: info.threads });
  return estimateMemory(spec, tensors, sizing, { contextLength: info.contextLength, kvType: info.kvType, threads: info.threads }).shardOverhead;
}

/**
 * wasmlm quantize IN OUT --type T: one tensor in memory at a time (read, dequantize if needed, quantize in
 * wasm on --threads threads, write); a progress bar on a terminal, a line per tensor otherwise.
 */
async function quantize(positional: string[], flags: Flags): Promise<void> {
  const [inPath, outPath] = positional;
  const targetName = String(flags.type ?? '').toLowerCase();
  const target = QUANT_TARGETS[targetName];
  if (!inPath || !outPath || !target) {
    throw new WasmlmError('BAD_ARGUMENT', `usage: wasmlm quantize IN.gguf OUT.gguf --type ${Object.keys(QUANT_TARGETS).join('|')}` +
      (flags.type !== undefined && !target ? ` (unknown type '${String(flags.type)}')` : ''));
  }
  const split = splitOptions(flags);
  const h = await readGGUFModel(inPath); // a split GGUF: all its shards
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
  const handles = new Map<string, import('node:fs/promises').FileHandle>(); // one handle per shard, opened when first read
  const t0 = performance.now();
  let inBytes = 0;
  const quantizer = await Quantizer.create({ threads: num(flags, 'threads') ?? (await import('node:os')).availableParallelism() });
  const bar = quantizeBar(plan.filter((p) => p.outType !== p.type).reduce((a, p) => a + p.ne.reduce((x, y) => x * y, 1), 0));
  try {
    const tensors = plan.map((p, i) => ({
      name: p.name,
      ne: p.ne,
      type: p.outType,
      data: async (): Promise<Uint8Array> => {
        const info = h.tensors.find((t) => t.name === p.name)!;
        const at = tensorLocation(h, info);
        const path = String(at.source ?? inPath);
        let fh = handles.get(path);
        if (!fh) handles.set(path, fh = await open(path, 'r'));
        const bytes = new Uint8Array(info.nBytes);
        let off = 0;
        while (off < bytes.length) {
          const { bytesRead } = await fh.read(bytes, off, bytes.length - off, at.offset + off);
          if (bytesRead === 0) throw new WasmlmError('TRUNCATED', `${path}: tensor '${p.name}' ends past the end of the file`);
          off += bytesRead;
        }
        inBytes += bytes.length;
        const line = `[${String(i + 1).padStart(4)}/${plan.length}] ${p.name.padEnd(28)} ${typeName(p.type).padEnd(5)} → ` +
          `${typeName(p.outType).padEnd(5)} [${p.ne.join(', ')}]${p.note ? `  (${p.note})` : ''}`;
        if (p.outType === p.type) {
          bar.log(line);
          return bytes;
        }
        const out = quantizer.quantize(p.outType, dequantize(p.type, bytes, info.nElements), (n) => bar.progress(p.name, n));
        bar.done(line, info.nElements);
        return out;
      },
    }));
    const files = await writeGGUFFiles(outPath, metadata, tensors, split);
    bar.end();
    process.stderr.write(`wrote ${wroteText(files)} (from ${(inBytes / 2 ** 20).toFixed(1)} MiB of tensors), ` +
      `${target.name}, ${quantizer.threads} thread(s), ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  } finally {
    bar.end();
    quantizer.dispose();
    for (const fh of handles.values()) await fh.close();
  }
}

/**
 * wasmlm quantize's progress: on a terminal one bar over the values to quantize (redrawn at each percent),
 * otherwise one line per tensor as it is written.
 */
function quantizeBar(total: number): { log(line: string): void; progress(name: string, n: number): void; done(line: string, n: number): void; end(): void } {
  if (!process.stderr.isTTY || total === 0) {
    return { log: (line) => process.stderr.write(line + '\n'), progress: () => {}, done: (line) => process.stderr.write(line + '\n'), end: () => {} };
  }
  let before = 0; // values of the tensors done
  let last = -1;
  let open = false;
  const draw = (name: string, n: number) => {
    const pct = Math.floor(((before + n) / total) * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    process.stderr.write(`\rquantizing [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${name.padEnd(28)}`);
    open = true;
  };
  return {
    log: () => {},
    progress: draw,
    done: (_line, n) => { before += n; },
    end: () => { if (open) process.stderr.write('\n'); open = false; },
  };
}

async function version(): Promise<string> {
  // dist/cli.js: ../package.json
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** Whether `e` is a write to a closed stdout or stderr (e.g. `wasmlm run | head -c 20`). */
function closedPipe(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === 'EPIPE';
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const [command, ...rest] = argv;
    if (command === undefined) { process.stderr.write(USAGE); return 1; }
    if (command === 'help' || command === '--help' || command === '-h') { process.stdout.write(USAGE); return 0; }
    if (command === '--version' || command === '-v' || command === 'version') { process.stdout.write(`wasmlm ${await version()}\n`); return 0; }
    const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]! : undefined;
    if (!spec) {
      const near = closest(command.replace(/^-+/, ''), Object.keys(COMMANDS));
      process.stderr.write(`wasmlm: unknown command '${command}'; did you mean '${near}'?\n\n${USAGE}`);
      return 2;
    }
    const { positional, flags } = parse(command, spec, rest);
    if (flags.help) { process.stdout.write(`usage:\n  ${spec.usage.replace(/\n/g, '\n  ')}\n    -h, --help                   this text\n    --debug                      print an error's stack trace\n`); return 0; }
    await spec.run(positional, flags);
    return 0;
  } catch (e) {
    if (closedPipe(e)) return 0;
    const code = e instanceof WasmlmError ? ` [${e.code}]` : '';
    process.stderr.write(`wasmlm: ${e instanceof Error ? e.message : String(e)}${code}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// a closed stdout (`| head`) ends the command quietly: what was wanted has been read
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (closedPipe(e)) process.exit(0);
    throw e;
  });
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
