/**
 * The engine's options and the policies that resolve them for a model: how many threads, how long a
 * context, how many tokens per pass, how many plan ops.
 */
import { GGML_F16, GGML_F32, GGML_Q8_0 } from '../abi.js';
import { checkSignal, kindOf, WasmlmError } from '../errors.js';
import type { ModelSpec } from '../models/spec.js';
import { MAX_MEMORY_BYTES } from './memory.js';
import type { Plan } from './plan.js';
import { threadSupport, type PoolTuning } from './pool.js';

/** Runs ops [first, first + count) of a written plan. */
export type RunOps = (first: number, count: number) => void;

export interface EngineOptions {
  /** tokens in the KV cache; default: the model's, capped so that the cache (of `kvType`) fits DEFAULT_KV_BUDGET */
  contextLength?: number;
  /**
   * the KV cache's element type: 'f32', 'f16' (half the memory of f32) or 'q8_0' (ggml's 8-bit blocks: 34
   * bytes per 32 values, ~27% of f32); default (as llama.cpp) 'f16', except 'f32' for a model whose
   * weights are all F32 (those exist for exactness: the embedded model reproduces run.c byte for byte)
   */
  kvType?: KvType;
  /**
   * tokens evaluated per forward pass (prompt chunks); default 32: the matmuls reuse each block of weights
   * for every token of the pass from cache, so larger passes gain nothing measurable on a CPU, while the
   * scratch they need grows with them (~2 MiB per 8 tokens at TinyLlama's size)
   */
  batchSize?: number;
  /** a precompiled kernel module (edge runtimes); a threads build (wasmlm.mt.wasm) is needed for threads > 1 */
  wasmModule?: WebAssembly.Module;
  /**
   * threads that compute each op (a worker pool over one shared memory); default: the cores available,
   * or 1 for a model with less than MIN_LAYER_BYTES_FOR_THREADS of weights per layer. Falls back to one
   * thread where threads are not possible (see Engine.threadsNote). Checked by checkLoadOptions.
   */
  threads?: number;
  /** @internal thread pool tuning (tests: `{ minSplit: 0, chunks: 16, jitter: 20000 }` splits even the
   *  smallest ops in many chunks and shakes the timing) */
  threadTuning?: PoolTuning;
  /**
   * bytes of wasm memory one shard may take at load (default and most: 4 GiB, wasm32's limit): a model whose
   * weights, KV cache and buffers need more is split by layers over several memories (engine.ts, "shards";
   * tests force it on small models with a small value)
   */
  maxShardBytes?: number;
  /** @internal rows of the logits buffer (default: as many as fit in LOGITS_BUDGET, at most batchSize) */
  logitRows?: number;
  /**
   * @internal an observer that runs every plan in place of the engine (the CLI's profiler, WASMLM_PROFILE):
   * it gets the written plan (`plan.read()` decodes it) and `run`, which runs a range of its ops; it must
   * run every op, in order, once.
   */
  runPlan?: (plan: Plan, run: RunOps) => void;
}

/** The KV cache's element types, and the ggml type code the kernels take for each. */
export const KV_TYPES = { f32: GGML_F32, f16: GGML_F16, q8_0: GGML_Q8_0 } as const;
export type KvType = keyof typeof KV_TYPES;

/** `kvType` as asked (undefined: not asked), or a WasmlmError naming the option. */
export function checkKvType(asked: unknown): KvType | undefined {
  if (asked === undefined || (typeof asked === 'string' && Object.hasOwn(KV_TYPES, asked))) return asked as KvType | undefined;
  throw new WasmlmError('BAD_ARGUMENT', `kvType must be one of ${Object.keys(KV_TYPES).map((k) => `'${k}'`).join(', ')}, got ` +
    (typeof asked === 'string' ? `'${asked}'` : kindOf(asked)));
}

/**
 * The KV cache type: `asked` (checked), else 'f32' when every weight is F32, and 'f16' otherwise (F16, BF16
 * or quantized weights: llama.cpp's default). `weightTypes`: the model's tensors' ggml types.
 */
export function chooseKvType(asked: unknown, weightTypes: Iterable<number>): KvType {
  const t = checkKvType(asked);
  if (t) return t;
  for (const type of weightTypes) if (type !== GGML_F32) return 'f16';
  return 'f32';
}

/** Bytes of one KV cache row (one position's keys, or values, of nHeadKv heads) of `type`: f32 4 bytes a value,
 *  f16 2, q8_0 34 per block of 32 (a head whose size is not a multiple of 32 ends in a block of 2 + rest bytes). */
export function kvRowBytes(type: KvType, nHeadKv: number, headDim: number): number {
  const head = type === 'f32' ? headDim * 4 : type === 'f16' ? headDim * 2
    : Math.floor(headDim / 32) * 34 + (headDim % 32 ? headDim % 32 + 2 : 0);
  return nHeadKv * head;
}

/**
 * The one check of loadModel's options that are not the engine's to choose (loadModel, and the browser's
 * before it starts a worker): an object (or undefined), `threads` a positive integer, `onProgress` a
 * function, `signal` an AbortSignal, `kvType` one of KV_TYPES, `maxShardBytes` (chooseMaxShardBytes). Returns the options ({} for undefined).
 */
export function checkLoadOptions<T extends object>(options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `loadModel options must be an object, got ${kindOf(options)}`);
  }
  const o = options as { threads?: unknown; onProgress?: unknown; signal?: unknown; kvType?: unknown; maxShardBytes?: unknown };
  checkKvType(o.kvType);
  chooseMaxShardBytes(o.maxShardBytes as number | undefined);
  if (o.threads !== undefined && (typeof o.threads !== 'number' || !Number.isInteger(o.threads) || o.threads < 1)) {
    throw new WasmlmError('BAD_ARGUMENT', `threads must be a positive integer, got ${String(o.threads)}`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new WasmlmError('BAD_ARGUMENT', `onProgress must be a function, got ${typeof o.onProgress}`);
  }
  checkSignal(o.signal, 'loadModel');
  return options;
}

/** `maxShardBytes` as asked (checked: a positive integer, at most 4 GiB), else 4 GiB. */
export function chooseMaxShardBytes(asked: number | undefined): number {
  if (asked === undefined) return MAX_MEMORY_BYTES;
  if (typeof asked !== 'number' || !Number.isInteger(asked) || asked < 1 || asked > MAX_MEMORY_BYTES) {
    throw new WasmlmError('BAD_ARGUMENT', `maxShardBytes must be a positive integer of at most ${MAX_MEMORY_BYTES} (4 GiB), got ${String(asked)}`);
  }
  return asked;
}

/** Prompt tokens per forward pass when batchSize is not given (see EngineOptions.batchSize). */
export const DEFAULT_BATCH = 32;

export function chooseBatchSize(asked: number | undefined): number {
  const B = asked ?? DEFAULT_BATCH;
  if (!Number.isInteger(B) || B < 1) throw new WasmlmError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${String(B)}`);
  return B;
}

/** The KV cache takes at most this much memory when contextLength is not given. */
export const DEFAULT_KV_BUDGET = 1 << 30;

export function chooseContextLength(spec: ModelSpec, asked: number | undefined, kvType: KvType): number {
  const perToken = 2 * spec.nLayer * kvRowBytes(kvType, spec.nHeadKv, spec.headDim);
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 1) {
      throw new WasmlmError('BAD_ARGUMENT', `contextLength must be a positive integer, got ${String(asked)}`);
    }
    if (asked > spec.contextLength) {
      throw new WasmlmError('CONTEXT_TOO_LONG', `contextLength ${asked} is above the model's ${spec.contextLength}`);
    }
    return asked;
  }
  return Math.max(1, Math.min(spec.contextLength, Math.floor(DEFAULT_KV_BUDGET / perToken)));
}

/**
 * Below this many bytes of weights per layer (those a token multiplies by: the output matrix counts,
 * embedding tables do not), a model runs on one thread unless `threads` asks for more: its ops take
 * microseconds, and handing ~10 dependent ops per layer of a token from thread to thread costs more
 * than a second thread saves. Measured on 2 cores, decode speed with 2 threads over 1: 0.92× at 0.22 MiB
 * per layer (stories260K), 1.40× at 0.61 MiB, 1.47× at 1.3 MiB, 1.8–2.3× from 5 MiB up.
 */
export const MIN_LAYER_BYTES_FOR_THREADS = 512 << 10;

/** Weights a token's forward pass multiplies by (not the embedding tables it reads rows of), per layer. */
export function layerMatmulBytes(spec: ModelSpec, tensors: Map<string, { nBytes: number }>): number {
  let bytes = 0;
  for (const t of tensors.values()) bytes += t.nBytes;
  if (!spec.tiedOutput) bytes -= tensors.get(spec.tokenEmbd.name)?.nBytes ?? 0;
  if (spec.positions.kind === 'learned') bytes -= tensors.get(spec.positions.weight.name)?.nBytes ?? 0;
  return bytes / Math.max(1, spec.nLayer);
}

export interface ThreadChoice {
  n: number;
  /** why n is what it is */
  note: string;
  kind?: 'node' | 'web';
}

/**
 * How many threads: `threads` if given (checked by checkLoadOptions), else the cores available for a model
 * big enough to gain from them; 1 where threads are not possible; with the reason.
 */
export async function chooseThreads(asked: number | undefined, layerBytes: number): Promise<ThreadChoice> {
  if (asked === 1) return { n: 1, note: 'one thread (asked)' };
  const support = await threadSupport();
  const want = asked ?? support.cores;
  if (want === 1) return { n: 1, note: 'one thread: one core available' };
  if (asked === undefined && layerBytes < MIN_LAYER_BYTES_FOR_THREADS) {
    return {
      n: 1,
      note: `one thread: the model is too small for threads to pay (${(layerBytes / 2 ** 20).toFixed(2)} MiB of weights ` +
        `per layer, below ${(MIN_LAYER_BYTES_FOR_THREADS / 2 ** 20).toFixed(2)} MiB); pass \`threads\` to use more`,
    };
  }
  if (!support.ok) return { n: 1, note: `one thread: ${support.reason}` };
  const where = support.kind === 'node' ? 'worker_threads' : 'Web Workers';
  const cores = asked === undefined ? `, one per core` : want > support.cores ? ` (more than the ${support.cores} cores available)` : '';
  return { n: want, note: `${want} threads: this thread and ${want - 1} ${where}${cores}`, kind: support.kind };
}

/** Plan ops for one batch: per layer at most ~40, plus per adapter up to 5 per adapted projection (2 matmuls, the
 *  axpby, and 2 activation conversions for quantized adapters). */
export function planCapacity(nLayer: number, adapters: number): number {
  return 32 + nLayer * (48 + adapters * 8 * 5);
}
