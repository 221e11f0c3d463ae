/**
 * `wasmlm info MODEL`: metadata, tensor types and the memory the model needs (estimateMemory, the estimate
 * loadModel checks) for a few context lengths and each KV type; `wasmlm fit MODEL --memory 8G` (or
 * `info --memory`): the largest context that fits, per KV type, and else a smaller quantization.
 */
import type { ParseArgsConfig } from 'node:util';
import { WasmlmError } from '../errors.js';
import { typeName } from '../formats/ggml-types.js';
import { readGGUF, type GGUFHeader } from '../formats/gguf.js';
import { resolveAdapter, type AdapterPlan } from '../models/lora.js';
import { readGGUFModel } from '../formats/gguf-split.js';
import { resolveSpec } from '../models/index.js';
import type { ModelSpec } from '../models/spec.js';
import type { GGUFTensorInfo } from '../formats/gguf.js';
import {
  estimateMemory, ESTIMATE_KV_TYPES, gib, largestContext, loadSizing, memoryLimit, quantizedSizes, type MemoryEstimate, type Sizing,
} from '../engine/budget.js';
import { bytesFlag, intFlag, type Flags } from './flags.js';

const ESTIMATE_FLAGS = {
  memory: { type: 'string' },
  threads: { type: 'string' },
  batch: { type: 'string' },
  lora: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

const ESTIMATE_USAGE = `    --threads N                  threads the estimate counts scratch for (default: as loading chooses)
    --batch N                    tokens per forward pass (default 32)
    --lora FILE                  count a LoRA adapter GGUF too (repeatable)
    --json                       as JSON`;

export const INFO = {
  usage: `wasmlm info FILE.gguf          metadata, tensor types, and the memory the model needs (estimated from
                                 the header, as loadModel checks it) for a few context lengths and KV types
    --memory SIZE                also the largest context that fits in SIZE (8G = 8 GiB), as wasmlm fit
${ESTIMATE_USAGE}`,
  options: ESTIMATE_FLAGS,
  run: info,
};

export const FIT = {
  usage: `wasmlm fit FILE.gguf           the largest context that fits, per KV type (else a smaller quantization)
    --memory SIZE                the memory to fit in: N[K|M|G|T], binary (8G = 8 GiB); default: what this
                                 machine has available (os.freemem())
${ESTIMATE_USAGE}`,
  options: ESTIMATE_FLAGS,
  run: fit,
};

interface Setup {
  spec: ModelSpec; tensors: Map<string, GGUFTensorInfo>; sizing: Sizing; threads: number; batchSize: number | undefined;
  adapters: AdapterPlan['pairs'][];
}

async function setup(h: GGUFHeader, flags: Flags): Promise<Setup> {
  const { spec, tensors } = resolveSpec(h);
  const { sizing, threads } = await loadSizing(spec, tensors, { threads: intFlag(flags, 'threads', 1, 256) });
  const adapters: AdapterPlan['pairs'][] = [];
  for (const file of (flags.lora as string[] | undefined) ?? []) {
    adapters.push(resolveAdapter(await readGGUF(file), spec).pairs);
  }
  return { spec, tensors, sizing, threads, batchSize: intFlag(flags, 'batch', 1, 4096), adapters };
}

const estimate = (s: Setup, contextLength: number | undefined, kvType?: MemoryEstimate['kvType']) =>
  estimateMemory(s.spec, s.tensors, s.sizing, { contextLength, kvType, threads: s.threads, batchSize: s.batchSize, adapters: s.adapters });

/** Context lengths for the table: powers of 4 from 512 up to the model's, the model's, the default. */
function contexts(s: Setup): number[] {
  const set = new Set<number>();
  for (let n = 512; n < s.spec.contextLength; n *= 4) set.add(n);
  set.add(s.spec.contextLength);
  set.add(estimate(s, undefined).contextLength);
  return [...set].sort((a, b) => a - b);
}

/** The largest context per KV type in `budget`, and (when none fits even 1 token) the quantizations that would. */
function fits(s: Setup, budget: number) {
  const per = ESTIMATE_KV_TYPES.map((kvType) => {
    const contextLength = largestContext(s.spec, s.tensors, s.sizing, budget, { kvType, threads: s.threads, batchSize: s.batchSize, adapters: s.adapters });
    return { kvType, contextLength, bytes: contextLength ? estimate(s, contextLength, kvType).total : undefined };
  });
  let quantized: { type: string; weights: number; contextLength: number }[] | undefined;
  if (per.every((p) => p.contextLength === 0)) {
    const e = estimate(s, 1, 'q8_0');
    quantized = quantizedSizes(s.tensors, s.spec.arch, e.weights).filter((q) => q.bytes + e.total - e.weights <= budget)
      .map((q) => ({ type: q.type, weights: q.bytes, contextLength: 1 }));
  }
  return { per, quantized };
}

function fitLines(s: Setup, budget: number, what: string): string[] {
  const { per, quantized } = fits(s, budget);
  const out = [`largest context in ${gib(budget)} (${what}), ${s.threads} thread${s.threads > 1 ? 's' : ''}:`];
  for (const p of per) {
    out.push(`  kvType ${p.kvType.padEnd(5)} ${p.contextLength === 0 ? 'does not fit (even 1 token)'
      : `contextLength ${p.contextLength}${p.contextLength === s.spec.contextLength ? ' (the model\'s)' : ''}: ${gib(p.bytes!)}`}`);
  }
  if (quantized) {
    out.push(quantized.length ? `  quantized, it would fit: ${quantized.map((q) => `${q.type} (weights ~${gib(q.weights)})`).join(', ')}`
      : '  no quantization wasmlm writes makes it fit');
  }
  return out;
}

async function budgetOf(flags: Flags): Promise<{ bytes: number; what: string }> {
  const asked = bytesFlag(flags, 'memory');
  if (asked !== undefined) return { bytes: asked, what: '--memory' };
  const limit = await memoryLimit();
  return { bytes: limit.bytes, what: `available: ${limit.rule}` };
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
  if (!file || positional.length > 1) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm info FILE.gguf');
  const budget = flags.memory !== undefined ? await budgetOf(flags) : undefined;
  const h = await readGGUFModel(file); // a split GGUF: all its shards
  const sum = summarize(h);
  const s = await setup(h, flags);
  const table = contexts(s).map((contextLength) => ({
    contextLength, bytes: Object.fromEntries(ESTIMATE_KV_TYPES.map((kv) => [kv, estimate(s, contextLength, kv)])),
  }));
  const def = estimate(s, undefined);
  if (flags.json) {
    const fit = budget && { memory: budget.bytes, ...fits(s, budget.bytes) };
    process.stdout.write(JSON.stringify({ ...sum, memory: { threads: s.threads, default: def, table, fit } }, null, 2) + '\n');
    return;
  }
  const out: string[] = [`GGUF v${sum.version}, ${sum.tensors} tensors, ${sum.parameters.toLocaleString('en-US')} parameters`, '', 'metadata:'];
  for (const [k, v] of Object.entries(sum.metadata)) out.push(`  ${k} = ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  out.push('', 'tensor types:');
  for (const [t, e] of Object.entries(sum.types)) out.push(`  ${t.padEnd(6)} ${String(e.tensors).padStart(5)} tensors ${(e.bytes / 2 ** 20).toFixed(2).padStart(10)} MiB`);
  out.push('', `memory (estimated from the header, as loadModel checks it; ${s.threads} thread${s.threads > 1 ? 's' : ''}):`,
    `  ${'context'.padStart(8)}${ESTIMATE_KV_TYPES.map((kv) => `kv ${kv}`.padStart(14)).join('')}`);
  for (const row of table) {
    out.push(`  ${String(row.contextLength).padStart(8)}${ESTIMATE_KV_TYPES.map((kv) => {
      const e = row.bytes[kv]!;
      return `${gib(e.total)}${e.shards > 1 ? ` ×${e.shards}` : ''}`.padStart(14);
    }).join('')}`);
  }
  out.push(`  (×N: split over N wasm memories of at most 4 GiB)`,
    `  by default: contextLength ${def.contextLength}, kvType ${def.kvType}: ${gib(def.total)} — weights ${gib(def.weights)}, ` +
    (def.adapters ? `adapters ${gib(def.adapters)}, ` : '') +
    `KV cache ${gib(def.kvCache)}, buffers ${gib(def.buffers)}, thread scratch ${gib(def.threadScratch)}` +
    (def.shards > 1 ? `, ${def.shards} memories (+${gib(def.shardOverhead)})` : ''));
  if (budget) out.push('', ...fitLines(s, budget.bytes, budget.what));
  process.stdout.write(out.join('\n') + '\n');
}

async function fit(positional: string[], flags: Flags): Promise<void> {
  const file = positional[0];
  if (!file || positional.length > 1) throw new WasmlmError('BAD_ARGUMENT', 'usage: wasmlm fit FILE.gguf [--memory SIZE]');
  const budget = await budgetOf(flags);
  const s = await setup(await readGGUFModel(file), flags);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ memory: budget.bytes, rule: budget.what, threads: s.threads, ...fits(s, budget.bytes) }, null, 2) + '\n');
    return;
  }
  process.stdout.write(fitLines(s, budget.bytes, budget.what).join('\n') + '\n');
}
