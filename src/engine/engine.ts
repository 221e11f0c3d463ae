/**
 * The engine: one wasm memory holding the weights (weights.ts), the KV cache and the buffers of a batch
 * (state.ts); `evaluate` writes the forward pass of each batch as one plan (forward.ts, plan.ts) and runs
 * it inside wasm, on this thread or the thread pool (pool.ts). Options and their policies: options.ts.
 */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader, GGUFTensorInfo } from '../formats/gguf.js';
import type { ByteStream } from '../formats/source.js';
import type { ModelSpec } from '../models/spec.js';
import { CTL_BYTES, OP_WORDS, SYNC_BYTES } from '../abi.js';
import { outputLogits, writeForward, type Model } from './forward.js';
import { createMemory, Layout, PAGE, Views } from './memory.js';
import {
  chooseBatchSize, chooseContextLength, chooseKvType, chooseThreads, layerMatmulBytes, planCapacity, type EngineOptions,
  type KvType,
} from './options.js';
import { Plan } from './plan.js';
import { capThreads, ThreadPool } from './pool.js';
import { kvCacheBytes, logitRowsFor, placeState, type RunState } from './state.js';
import {
  instantiateKernels, isThreadsModule, kernelModule, kernelVariantOf, RESERVED_BYTES, sizingKernels,
  type KernelExports, type KernelVariant, type ThreadKernelExports,
} from './wasm.js';
import { placeAdapter, Weights, type AdapterWeights } from './weights.js';
import type { TrainingAccess } from '../train/access.js';

export type { EngineOptions } from './options.js';
export type { AdapterWeights } from './weights.js';

/** What `evaluate` returns rows of: logits, or the final hidden states (after the output norm). */
export type Rows = 'last' | 'all' | 'hidden';

export class Engine {
  /** tokens whose keys and values are in the cache, in order */
  readonly cached: number[] = [];
  /** every layer keeps a sliding window in a ring: generation may run past contextLength */
  readonly unbounded: boolean;
  readonly adapters: AdapterWeights[] = [];
  /** threads that compute (1: this thread alone) */
  threads = 1;
  /** why `threads` is what it is */
  threadsNote = 'one thread';

  private readonly views: Views;
  private kernels!: KernelExports;
  private plan!: Plan;
  private pool: ThreadPool | undefined;
  private readonly model: Model;

  private constructor(
    readonly spec: ModelSpec,
    weights: Weights,
    private readonly state: RunState,
    private readonly layout: Layout,
    readonly contextLength: number,
    readonly batchSize: number,
    /** rows of logits one pass can return */
    readonly logitRows: number,
    shared: boolean,
    private readonly runPlanHook: EngineOptions['runPlan'],
  ) {
    this.views = new Views(createMemory(layout.size, `model '${spec.name ?? spec.arch}'`, shared));
    this.unbounded = state.layers.every((l) => l.ring > 0);
    this.model = { spec, weights, state, adapters: this.adapters, contextLength };
  }

  /**
   * Plan the memory, check it fits, then stream the weights from `stream` (positioned right after
   * the GGUF header) straight into wasm memory. `options.threads` is checked by the caller (checkLoadOptions).
   */
  static async load(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, header: GGUFHeader,
    stream: ByteStream, options: EngineOptions = {}): Promise<Engine> {
    const threads = await capThreads(await chooseThreads(options.threads, layerMatmulBytes(spec, tensors)), options.threadTuning);
    const module = await kernelModule(options.wasmModule, threads.n > 1);
    const shared = isThreadsModule(module);
    if (threads.n > 1 && !shared) {
      threads.n = 1;
      threads.note = 'one thread: the kernel module given (wasmModule) is not a threads build (wasmlm.mt.wasm)';
    }
    const kvType = chooseKvType(options.kvType, [...tensors.values()].map((t) => t.type));
    const contextLength = chooseContextLength(spec, options.contextLength, kvType);
    const B = chooseBatchSize(options.batchSize);
    const logitRows = logitRowsFor(spec, B, options.logitRows);

    // the layout: weights, run state, then the plan (and for threads the control block and sync lines)
    const sizing = await sizingKernels(module);
    const layout = new Layout(RESERVED_BYTES);
    const weights = Weights.forSpec(spec, tensors, layout);
    const state = placeState(spec, weights, sizing, layout, B, contextLength, logitRows, threads.n, kvType);
    const ctl = threads.n > 1 ? layout.alloc(CTL_BYTES, 64) : 0;
    const planOps = planCapacity(spec.nLayer, 0);
    const planPtr = layout.alloc(planOps * OP_WORDS * 4);
    const sync = threads.n > 1 ? layout.alloc(planOps * SYNC_BYTES, 64) : 0;

    const engine = new Engine(spec, weights, state, layout, contextLength, B, logitRows, shared, options.runPlan);
    engine.kernels = await instantiateKernels(module, engine.views.memory);
    engine.plan = new Plan(engine.views, planPtr, planOps, engine.kernels);
    // the workers start while the weights stream in
    const pool = threads.n > 1 && threads.kind
      ? ThreadPool.start(threads.kind, module, engine.views.memory, engine.kernels as ThreadKernelExports, ctl, threads.n,
        state.scratchStride, sync, planOps, options.threadTuning).then((p) => p, (e: Error) => e)
      : undefined;
    try {
      await weights.read(header, stream, () => engine.views.u8, engine.kernels);
    } catch (e) {
      void pool?.then((p) => { if (p instanceof ThreadPool) p.terminate(); });
      throw e;
    }
    engine.threads = threads.n;
    engine.threadsNote = threads.note;
    const started = await pool;
    if (started instanceof ThreadPool) {
      engine.pool = started;
      disposeOnCollect.register(engine, started, engine);
    } else if (started) {
      engine.threads = 1;
      engine.threadsNote = `one thread: the worker threads failed to start (${started.message})`;
    }
    return engine;
  }

  /** Stops the worker threads, if any (the engine is not used after this). */
  dispose(): void {
    if (this.pool) {
      disposeOnCollect.unregister(this);
      this.pool.terminate();
      this.pool = undefined;
    }
  }

  /** which kernel build runs: plain SIMD, or relaxed SIMD where the runtime has it (and computes it right) */
  get kernelVariant(): KernelVariant {
    return kernelVariantOf(this.kernels);
  }

  get kvType(): KvType {
    return this.state.layers[0]?.type ?? 'f32';
  }

  get kvCacheBytes(): number {
    return kvCacheBytes(this.spec, this.state);
  }

  get memoryBytes(): number {
    return this.views.memory.buffer.byteLength;
  }

  private growTo(bytes: number): void {
    const memory = this.views.memory;
    const have = memory.buffer.byteLength;
    if (bytes <= have) return;
    try {
      memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch (e) {
      throw new WasmlmError('TOO_LARGE', `cannot grow wasm memory to ${(bytes / 2 ** 20).toFixed(0)} MiB: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Load a LoRA adapter's A/B pairs into memory (grown for them). `pairs` maps a base weight name
   * to its A [nIn, r] and B [r, nOut] tensors in the adapter file.
   */
  async addAdapter(header: GGUFHeader, stream: ByteStream,
    pairs: Map<string, { a: GGUFTensorInfo; b: GGUFTensorInfo }>, alpha: number, userScale: number): Promise<AdapterWeights> {
    const { adapter, weights } = placeAdapter(pairs, alpha, userScale, this.batchSize, this.layout, this.kernels);
    const capacity = planCapacity(this.spec.nLayer, this.adapters.length + 1);
    const planPtr = capacity > this.plan.capacity ? this.layout.alloc(capacity * OP_WORDS * 4) : 0;
    const sync = planPtr && this.pool ? this.layout.alloc(capacity * SYNC_BYTES, 64) : 0;
    this.growTo(this.layout.size);
    await weights.read(header, stream, () => this.views.u8, this.kernels);
    if (planPtr) this.plan = new Plan(this.views, planPtr, capacity, this.kernels);
    if (sync) this.pool!.setSync(sync, capacity);
    this.adapters.push(adapter);
    return adapter;
  }

  removeAdapter(adapter: AdapterWeights): void {
    const i = this.adapters.indexOf(adapter);
    if (i >= 0) this.adapters.splice(i, 1);
  }

  /**
   * What training (src/train) reads: the spec, the placed (frozen) weights, the kernels and the memory,
   * and `scratch(bytes)`: a new region of memory (grown for it).
   */
  trainingAccess(): TrainingAccess {
    return {
      spec: this.spec, weights: this.model.weights, views: this.views, kernels: this.kernels as TrainingAccess['kernels'],
      scratch: (bytes: number) => {
        const at = this.layout.alloc(bytes);
        this.growTo(this.layout.size);
        return at;
      },
    };
  }

  /** Forget the cache from position `keep` on. */
  truncate(keep: number): void {
    this.cached.length = Math.min(this.cached.length, keep);
  }

  /** No room for another token. */
  get full(): boolean {
    return !this.unbounded && this.cached.length >= this.contextLength;
  }

  /**
   * Evaluate `ids` after the cached tokens. Returns the logits of the last token ('last'), and with
   * 'all' or 'hidden' hands each batch's rows (logits, or hidden states after the output norm) to
   * `onRows(first, rows)` as views into memory, valid until the next call.
   */
  evaluate(ids: ArrayLike<number>, mode: Rows = 'last', onRows?: (first: number, rows: Float32Array[]) => void): Float32Array {
    const n = ids.length;
    if (n === 0) throw new WasmlmError('EMPTY_PROMPT', 'nothing to evaluate: no tokens');
    if (!this.unbounded && this.cached.length + n > this.contextLength) {
      throw new WasmlmError('CONTEXT_FULL',
        `the context holds ${this.contextLength} tokens: ${this.cached.length} cached + ${n} new do not fit`);
    }
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.spec.nVocab) {
        throw new WasmlmError('TOKEN_OUT_OF_RANGE', `token id ${id} at index ${i} is outside the vocabulary (0..${this.spec.nVocab - 1})`);
      }
    }
    const buf = this.state.buf;
    const width = mode === 'hidden' ? this.spec.nEmbd : this.spec.nVocab;
    const base = (mode === 'hidden' ? buf.xn : buf.logits) >>> 2;
    const f32 = this.views.f32;
    const hand = (first: number, rows: number) => {
      onRows?.(first, Array.from({ length: rows }, (_, r) => f32.subarray(base + r * width, base + (r + 1) * width)));
    };
    let last = 0;
    for (let i = 0; i < n; i += this.batchSize) {
      const end = Math.min(n, i + this.batchSize);
      const rows = mode === 'last' ? (end === n ? 1 : 0) : end - i;
      if (mode === 'all' && rows > this.logitRows) {
        // more rows than the logits buffer holds: project the hidden states a part at a time
        this.forward(ids, i, end, rows, true);
        for (let r = 0; r < rows; r += this.logitRows) {
          const count = Math.min(this.logitRows, rows - r);
          this.project(r, count);
          hand(i + r, count);
          last = count - 1;
        }
        continue;
      }
      this.forward(ids, i, end, rows, mode === 'hidden');
      if (rows > 0) {
        last = rows - 1;
        hand(i, rows);
      }
    }
    return f32.subarray(base + last * width, base + (last + 1) * width);
  }

  /**
   * One batch: tokens ids[from, to) at positions cached.length.., then the output norm and the
   * output projection for the last `rows` of them (no projection when `hidden`).
   */
  private forward(ids: ArrayLike<number>, from: number, to: number, rows: number, hidden: boolean): void {
    const n = to - from;
    const pos0 = this.cached.length;
    const { ids: idsBuf, pos: posBuf } = this.state.buf;
    const i32 = this.views.i32;
    for (let i = 0; i < n; i++) {
      i32[(idsBuf >>> 2) + i] = ids[from + i]!;
      i32[(posBuf >>> 2) + i] = pos0 + i;
    }
    writeForward(this.plan.reset(), this.model, { n, pos0, rows, hidden });
    this.runPlan(this.plan);
    for (let i = from; i < to; i++) this.cached.push(ids[i]!);
  }

  /** Logits of `count` rows of the normalized hidden states a forward pass left in xn, from row `first`. */
  private project(first: number, count: number): void {
    const P = this.plan.reset();
    outputLogits(P, this.model, this.state.buf.xn + first * this.spec.nEmbd * 4, count);
    this.runPlan(P);
  }

  private runPlan(P: Plan): void {
    const run = (first: number, count: number) => {
      if (this.pool?.alive) this.pool.run(P.opPtr(first), count);
      else this.kernels.run(P.opPtr(first), count);
    };
    if (this.runPlanHook) this.runPlanHook(P, run);
    else run(0, P.length);
  }
}

/** An engine dropped without dispose() stops its workers when it is collected. */
const disposeOnCollect = new FinalizationRegistry<ThreadPool>((pool) => pool.terminate());
