/**
 * The memory budget: what a model needs, from its header alone (before anything is allocated), and what
 * the runtime allows. One estimator (estimateMemory) serves loadModel's check (checkBudget), `wasmlm info`
 * and `wasmlm fit`: it plans the engine's own layout in numbers — the same Weights.forSpec and placeState
 * the engine places its memory with — so it follows every change there (test/budget.test.ts compares it
 * with the engine's wasm memory on every fixture).
 */
import { CTL_BYTES, OP_WORDS, SYNC_BYTES } from '../abi.js';
import { WasmlmError } from '../errors.js';
import type { GGUFTensorInfo } from '../formats/gguf.js';
import { tensorBytes } from '../formats/ggml-types.js';
import { planQuantization, QUANT_TARGETS } from '../formats/quantize.js';
import type { ModelSpec } from '../models/spec.js';
import { Layout, MAX_MEMORY_BYTES } from './memory.js';
import {
  chooseBatchSize, chooseContextLength, chooseKvType, chooseThreads, KV_TYPES, layerMatmulBytes, planCapacity,
  type EngineOptions, type KvType,
} from './options.js';
import { kvCacheBytes, logitRowsFor, placeState } from './state.js';
import { kernelModule, RESERVED_BYTES, sizingKernels, type KernelExports } from './wasm.js';
import { splitLayers } from './shards.js';
import { placeAdapter, Weights } from './weights.js';
import type { AdapterPlan } from '../models/lora.js';

/** The kernels' size functions the layout needs (sizingKernels gives them). */
export type Sizing = Pick<KernelExports, 'act_bytes' | 'moe_scratch_bytes'>;

export interface EstimateOptions {
  /** as loadModel's (default: the model's, capped as chooseContextLength does) */
  contextLength?: number;
  kvType?: KvType;
  batchSize?: number;
  /** threads that compute (each has its scratch); default 1 */
  threads?: number;
  /** most bytes of one wasm memory (a shard); default and at most 4 GiB (wasm32) */
  maxShardBytes?: number;
  /** LoRA adapters to count, as loadAdapter places them in turn (resolveAdapter's pairs) */
  adapters?: AdapterPlan['pairs'][];
}

/** What a model needs in wasm memory, by part (bytes). */
export interface MemoryEstimate {
  contextLength: number;
  kvType: KvType;
  batchSize: number;
  threads: number;
  /** every tensor the model uses, as placed (a repacked tensor keeps its size), and the repack scratch */
  weights: number;
  /** the adapters' A and B tensors, their scratch, and the larger plan each one needs */
  adapters: number;
  /** the default KV cache: keys and values of every layer for contextLength tokens of kvType (a sliding-window layer: its ring) */
  kvCache: number;
  /** the batch buffers (activations, logits, KV conversion rows), the plan, the module's reserved bytes */
  buffers: number;
  /** the attention (and MoE) scratch of each thread, times threads */
  threadScratch: number;
  /** wasm memories: 1, or ⌈…⌉ when the model is split by layers over memories of at most maxShardBytes */
  shards: number;
  /** what each memory after the first repeats (its buffers and thread scratch) */
  shardOverhead: number;
  total: number;
}

/**
 * The model's memory needs for `options`, from the header (spec and tensor index) and the kernels' size
 * functions: a dry run of the engine's layout. Throws as loadModel would for bad options
 * (contextLength above the model's: CONTEXT_TOO_LONG).
 */
export function estimateMemory(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, sizing: Sizing,
  options: EstimateOptions = {}): MemoryEstimate {
  const kvType = chooseKvType(options.kvType, [...tensors.values()].map((t) => t.type));
  const contextLength = chooseContextLength(spec, options.contextLength, kvType);
  const B = chooseBatchSize(options.batchSize);
  const threads = Math.max(1, options.threads ?? 1);
  const weightLayout = new Layout(0);
  const placed = Weights.forSpec(spec, tensors, weightLayout);
  const stateLayout = new Layout(0);
  const logitRows = logitRowsFor(spec, B, undefined);
  const state = placeState(spec, placed, sizing, stateLayout, B, contextLength, logitRows, threads, kvType);
  const kvCache = kvCacheBytes(spec, state.layers);
  const threadScratch = state.scratchStride * threads;
  const planOps = planCapacity(spec.nLayer, 0);
  const plan = planOps * OP_WORDS * 4 + (threads > 1 ? CTL_BYTES + planOps * SYNC_BYTES + 128 : 0);
  const buffers = RESERVED_BYTES + stateLayout.size - kvCache - threadScratch + plan;
  const weights = weightLayout.size;
  const adapterLayout = new Layout(0);
  (options.adapters ?? []).forEach((pairs, i) => {
    placeAdapter(pairs, 0, 1, B, adapterLayout, sizing);
    const ops = planCapacity(spec.nLayer, i + 1);
    adapterLayout.alloc(ops * OP_WORDS * 4);
    if (threads > 1) adapterLayout.alloc(ops * SYNC_BYTES, 64);
  });
  const adapters = adapterLayout.size;
  const perShard = Math.min(options.maxShardBytes ?? MAX_MEMORY_BYTES, MAX_MEMORY_BYTES);
  const fixed = buffers + threadScratch;
  // over one memory: the engine's own split (shards.ts; TOO_LARGE naming the part that fits no memory)
  const shards = weights + adapters + kvCache + fixed <= perShard ? 1 : splitLayers({
    spec, tensors, kernels: sizing, batchSize: B, contextLength, logitRows, threads, kvType,
  }, perShard - adapters).length;
  const shardOverhead = (shards - 1) * fixed;
  return {
    contextLength, kvType, batchSize: B, threads, weights, adapters, kvCache, buffers, threadScratch, shards, shardOverhead,
    total: weights + adapters + kvCache + buffers + threadScratch + shardOverhead,
  };
}

/** The largest contextLength (≤ the model's) whose estimate fits `budget` bytes; 0 when not even 1 does. */
export function largestContext(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, sizing: Sizing, budget: number,
  options: Omit<EstimateOptions, 'contextLength'> = {}): number {
  const fits = (n: number) => estimateMemory(spec, tensors, sizing, { ...options, contextLength: n }).total <= budget;
  if (!fits(1)) return 0;
  let lo = 1, hi = spec.contextLength;
  if (fits(hi)) return hi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid; else hi = mid;
  }
  return lo;
}

/**
 * The weights' bytes if the model were quantized to each of QUANT_TARGETS' quantized types (llama-quantize's
 * choice of tensors: planQuantization), smallest last; only types that make it smaller than it is.
 */
export function quantizedSizes(tensors: Map<string, GGUFTensorInfo>, arch: string, weights: number): { type: string; bytes: number }[] {
  const list = [...tensors.values()];
  const out: { type: string; bytes: number }[] = [];
  for (const name of ['q8_0', 'q6_k', 'q5_k_m', 'q4_k_m', 'q4_0', 'q3_k', 'q2_k']) {
    const layout = new Layout(0); // placed as Weights.place does (Q8_0 / Q4_0 repack in place: their size stays)
    for (const e of planQuantization(QUANT_TARGETS[name]!, list, { arch })) layout.alloc(tensorBytes(e.outType, e.ne));
    if (layout.size < weights * 0.98) out.push({ type: name, bytes: layout.size });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

// ------------------------------------------------------------------------------------- the runtime's memory

/** What this runtime lets a model use, and by which rule (README "Large models"). */
export interface MemoryLimit {
  bytes: number;
  /** 'node', 'deno', 'workerd', 'browser' or 'other' */
  runtime: string;
  /** how `bytes` was found, for messages */
  rule: string;
  /** a limit of the runtime itself (workerd's per isolate): a larger maxMemory does not lift it */
  hard: boolean;
}

/** workerd (Cloudflare Workers): memory per isolate, wasm memories included. */
export const WORKERD_LIMIT = 128 * 2 ** 20;
/** Where a runtime says nothing of its memory: one wasm32 memory's worth. */
export const DEFAULT_MEMORY_LIMIT = 4 * 2 ** 30;

type Global = {
  navigator?: { userAgent?: string; deviceMemory?: number };
  performance?: { memory?: { jsHeapSizeLimit?: number } };
  process?: { versions?: { node?: string }; constrainedMemory?: () => number | undefined };
  Deno?: { systemMemoryInfo?: () => { available: number; total: number } };
};

/**
 * What this runtime allows (loadModel's default maxMemory):
 * - workerd: 128 MiB per isolate (hard);
 * - Node: os.freemem() (macOS: 3/4 of os.totalmem()), at most the cgroup's limit: nodeMemory;
 * - Deno: Deno.systemMemoryInfo().available (without --allow-sys: DEFAULT_MEMORY_LIMIT);
 * - browsers: navigator.deviceMemory GiB (Chromium: the device's RAM rounded down to a power of two, at most 8),
 *   else performance.memory.jsHeapSizeLimit, else DEFAULT_MEMORY_LIMIT;
 * - elsewhere DEFAULT_MEMORY_LIMIT (4 GiB).
 */
export async function memoryLimit(): Promise<MemoryLimit> {
  const g = globalThis as unknown as Global;
  if (g.navigator?.userAgent === 'Cloudflare-Workers') {
    return { bytes: WORKERD_LIMIT, runtime: 'workerd', rule: 'workerd allows 128 MiB per isolate', hard: true };
  }
  if (g.Deno?.systemMemoryInfo) {
    try {
      return { bytes: g.Deno.systemMemoryInfo().available, runtime: 'deno', rule: 'Deno.systemMemoryInfo().available', hard: false };
    } catch {
      // refused without --allow-sys: the default below, saying so
      return { bytes: DEFAULT_MEMORY_LIMIT, runtime: 'deno', hard: false,
        rule: 'the default without --allow-sys (Deno.systemMemoryInfo() needs it; 4 GiB): run with --allow-sys, or pass maxMemory' };
    }
  }
  if (g.process?.versions?.node) {
    const os = await import('node:os');
    return nodeMemory({ platform: os.platform(), free: os.freemem(), total: os.totalmem(), cgroup: g.process.constrainedMemory?.() });
  }
  if (g.navigator?.deviceMemory) {
    return { bytes: g.navigator.deviceMemory * 2 ** 30, runtime: 'browser', rule: 'navigator.deviceMemory', hard: false };
  }
  const heap = g.performance?.memory?.jsHeapSizeLimit;
  if (heap) return { bytes: heap, runtime: 'browser', rule: 'performance.memory.jsHeapSizeLimit', hard: false };
  return { bytes: DEFAULT_MEMORY_LIMIT, runtime: 'other', rule: 'the default for runtimes that report no memory (4 GiB)', hard: false };
}

/**
 * Node's rule: os.freemem() — on Linux MemAvailable, on Windows the available physical memory, both counting
 * the reclaimable cache — except on macOS, whose freemem leaves out the inactive and purgeable pages that
 * macOS hands back on demand (it reads a few hundred MB on a machine with GBs to spare): there 3/4 of
 * os.totalmem(). At most the cgroup's limit (process.constrainedMemory()) when one is set.
 */
export function nodeMemory(m: { platform: string; free: number; total: number; cgroup?: number }): MemoryLimit {
  const mac = m.platform === 'darwin';
  const bytes = mac ? Math.max(m.free, Math.floor(m.total * 0.75)) : m.free;
  if (m.cgroup && m.cgroup > 0 && m.cgroup < bytes) {
    return { bytes: m.cgroup, runtime: 'node', rule: "the cgroup's limit (process.constrainedMemory())", hard: false };
  }
  return { bytes, runtime: 'node', rule: mac ? '3/4 of os.totalmem() (macOS)' : 'os.freemem()', hard: false };
}

/** The `maxMemory` load option: undefined, or a positive number of bytes (Infinity: no check). */
export function checkMaxMemory(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0)) {
    throw new WasmlmError('BAD_ARGUMENT', `maxMemory must be a positive number of bytes (Infinity: no check), got ${String(v)}`);
  }
  return v;
}

/**
 * loadModel's check, before anything is allocated: the estimate for `options` against `maxMemory` (default:
 * memoryLimit()); over it, OUT_OF_MEMORY saying what the model needs by part, what is available, and what
 * would fit (the largest context, a q8_0 KV cache, a smaller quantization). A hard runtime limit (workerd)
 * applies even under a larger maxMemory. Returns the estimate.
 */
export async function checkBudget(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, sizing: Sizing,
  options: EstimateOptions & { maxMemory?: number }, limit?: MemoryLimit): Promise<MemoryEstimate> {
  const est = estimateMemory(spec, tensors, sizing, options);
  const asked = checkMaxMemory(options.maxMemory);
  if (asked === Infinity) return est;
  const runtime = limit ?? await memoryLimit();
  const budget = asked === undefined ? runtime.bytes : runtime.hard ? Math.min(asked, runtime.bytes) : asked;
  if (est.total <= budget) return est;
  const why = asked !== undefined && (!runtime.hard || asked <= runtime.bytes) ? `maxMemory is ${gib(asked)}` : `${gib(budget)} available (${runtime.rule})`;
  throw new WasmlmError('OUT_OF_MEMORY', `model '${spec.name || spec.arch}' needs ${describe(est)}, but ${why}; ` +
    `what would fit: ${suggest(spec, tensors, sizing, budget, est, options)}`);
}

/**
 * loadModel's hook: checkBudget with the threads and kernel build the engine will choose (so the kernel
 * module is the one it compiles anyway), before the engine allocates anything.
 */
export async function checkLoadBudget(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>,
  options: EngineOptions & { maxMemory?: number; maxShardBytes?: number }): Promise<MemoryEstimate> {
  checkMaxMemory(options.maxMemory);
  const { sizing, threads } = await loadSizing(spec, tensors, options);
  return checkBudget(spec, tensors, sizing, { ...options, threads });
}

/** The kernels' size functions and the thread count as loading would choose them (`threads` unset: the cores, for a big enough model). */
export async function loadSizing(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>,
  options: Pick<EngineOptions, 'threads' | 'wasmModule'> = {}): Promise<{ sizing: Sizing; threads: number }> {
  const threads = await chooseThreads(options.threads, layerMatmulBytes(spec, tensors));
  return { sizing: await sizingKernels(await kernelModule(options.wasmModule, threads.n > 1)), threads: threads.n };
}

/** "5.12 GiB (weights …, KV cache …, …)" */
export function describe(e: MemoryEstimate): string {
  const parts = [`weights ${gib(e.weights)}`, ...(e.adapters ? [`adapters ${gib(e.adapters)}`] : []), `KV cache ${gib(e.kvCache)} (${e.contextLength} tokens, ${e.kvType})`,
    `buffers ${gib(e.buffers)}`, `thread scratch ${gib(e.threadScratch)}${e.threads > 1 ? ` (${e.threads} threads)` : ''}`];
  if (e.shards > 1) parts.push(`${e.shards} wasm memories: ${gib(e.shardOverhead)} more buffers`);
  return `${gib(e.total)} (${parts.join(', ')})`;
}

/** What would fit in `budget`: the largest context at this KV type, at q8_0, a smaller quantization. */
function suggest(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, sizing: Sizing, budget: number,
  est: MemoryEstimate, options: EstimateOptions): string {
  const out: string[] = [];
  const types: KvType[] = [est.kvType, ...(est.kvType === 'q8_0' ? [] : ['q8_0' as const])];
  for (const kvType of types) {
    const n = largestContext(spec, tensors, sizing, budget, { ...options, kvType });
    if (n > 0) out.push(`contextLength ${n} with kvType '${kvType}'`);
  }
  const rest = est.total - est.weights;
  const q = quantizedSizes(tensors, spec.arch, est.weights).find((s) => s.bytes + rest <= budget);
  if (q) out.push(`the model quantized to ${q.type} (weights ~${gib(q.bytes)}, ${gib(q.bytes + rest)} in all at ${est.contextLength} tokens)`);
  return out.length ? out.join('; or ') : `nothing at this quantization: even 1 token of context needs ${gib(estimateMemory(spec, tensors, sizing, { ...options, contextLength: 1 }).total)}`;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
/** bytes as GiB (or MiB below 1 GiB), for messages */
export function gib(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : mib(n);
}

/** The KV types, for info/fit tables. */
export const ESTIMATE_KV_TYPES = Object.keys(KV_TYPES) as KvType[];
