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
import { outputLogits, ropeRows, writeForward, type Model } from './forward.js';
import { createMemory, Layout, PAGE, Views } from './memory.js';
import {
  chooseBatchSize, chooseContextLength, chooseKvType, chooseThreads, layerMatmulBytes, planCapacity, type EngineOptions,
  type KvType,
} from './options.js';
import { Plan } from './plan.js';
import { capThreads, ThreadPool, type JobLayout } from './pool.js';
import {
  cacheRowBytes, F32_ROWS_CHUNK, f32RowsTmpBytes, kvCacheBytes, logitRowsFor, placeCaches, placeState, withF32Rows, type LayerCache, type RunState,
} from './state.js';
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

/**
 * One sequence's KV cache: its own region of wasm memory (every layer's K and V rows) and the tokens
 * whose keys and values are in it, in order (token i at position i). The engine's default cache is the
 * model's own; a session gets one from createCache() and gives it back with freeCache().
 */
export class KvCache {
  /** tokens whose keys and values are in the cache, in order */
  readonly cached: number[] = [];
  constructor(readonly layers: LayerCache[], readonly bytes: number) {}

  /** the element type of its rows (every layer's) */
  get type(): KvType {
    return this.layers[0]?.type ?? 'f32';
  }
}

/** One sequence's part of a saved state: the tokens and, per layer, its used K rows then V rows. */
export interface CacheRows {
  tokens: number[];
  /** per layer: K rows then V rows, `usedRows(layer, tokens.length)` each */
  layers: Uint8Array[];
}

export class Engine {
  /** the model's own KV cache (the one calls without a session use) */
  readonly defaultCache: KvCache;
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
  private readonly freeCaches: KvCache[] = [];
  /** the caches of live sessions */
  private readonly liveCaches = new Set<KvCache>();
  /** training's one region (src/train), reused by every trainer and step */
  private work = { at: 0, bytes: 0 };

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
    this.defaultCache = new KvCache(state.layers, kvCacheBytes(spec, state.layers));
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

  /** the default cache's type (loadModel's kvType): a session's may differ */
  get kvType(): KvType {
    return this.defaultCache.type;
  }

  get kvCacheBytes(): number {
    return this.defaultCache.bytes;
  }

  /** tokens in the default cache */
  get cached(): number[] {
    return this.defaultCache.cached;
  }

  /**
   * A new KV cache of `type` for a sequence (a session): a freed one of that type if there is one, else a
   * new region of wasm memory (grown for it: TOO_LARGE when it cannot). The first typed cache of an f32
   * model also places the f32 rows its context shift works in (RunState.kvTmp).
   */
  createCache(type: KvType = this.kvType): KvCache {
    const i = this.freeCaches.findIndex((c) => c.type === type);
    if (i >= 0) {
      const free = this.freeCaches.splice(i, 1)[0]!;
      this.liveCaches.add(free);
      return free;
    }
    const needTmp = !this.state.kvTmp && type !== 'f32';
    const tmpBytes = f32RowsTmpBytes(this.spec, this.contextLength, type);
    // grown first (a dry run of the placement): a cache that does not fit leaves the layout as it was
    const dry = new Layout(this.layout.size);
    placeCaches(this.spec, dry, this.batchSize, this.contextLength, type);
    if (needTmp) dry.alloc(tmpBytes);
    this.growTo(dry.size);
    const layers = placeCaches(this.spec, this.layout, this.batchSize, this.contextLength, type);
    if (needTmp) this.state.kvTmp = this.layout.alloc(tmpBytes);
    const cache = new KvCache(layers, kvCacheBytes(this.spec, layers));
    this.liveCaches.add(cache);
    return cache;
  }

  /** Give a cache back (its memory is reused by the next createCache). */
  freeCache(cache: KvCache): void {
    if (cache === this.defaultCache || this.freeCaches.includes(cache)) return;
    cache.cached.length = 0;
    this.liveCaches.delete(cache);
    this.freeCaches.push(cache);
  }

  /** Empty every cache (the default one and every session's): what they hold is stale (an adapter changed). */
  forgetAll(): void {
    this.defaultCache.cached.length = 0;
    for (const c of this.liveCaches) c.cached.length = 0;
  }

  /**
   * Bytes of some weights, for the fingerprint of saved sessions: the first bytes of every norm
   * (they differ between fine-tunes of one base; stored as the file has them, in any runtime).
   */
  weightSample(): Uint8Array {
    const u8 = this.views.u8;
    const norms = [...this.spec.layers.map((l) => l.attnNorm), this.spec.outputNorm];
    const parts = norms.map((nm) => {
      const p = this.model.weights.ptr(nm.weight);
      return u8.slice(p, p + Math.min(256, this.spec.nEmbd * 2));
    });
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    parts.reduce((at, p) => { out.set(p, at); return at + p.length; }, 0);
    return out;
  }

  /** Rows of a layer's cache that hold the first `n` positions' keys (a ring holds the last `ring`). */
  usedRows(layer: number, n: number): number {
    const l = this.state.layers[layer]!;
    return l.ring ? Math.min(n, l.ring) : n;
  }

  /** Bytes of one row (one position's keys, or values, of one layer) of a cache of `type`. */
  rowBytes(type: KvType): number {
    return cacheRowBytes(this.spec, { type });
  }

  /** The tokens and used rows of `cache` (copies). */
  readRows(cache: KvCache): CacheRows {
    const u8 = this.views.u8;
    const n = cache.cached.length;
    const rb = this.rowBytes(cache.type);
    return {
      tokens: cache.cached.slice(),
      layers: cache.layers.map((l, i) => {
        const bytes = this.usedRows(i, n) * rb;
        const out = new Uint8Array(2 * bytes);
        out.set(u8.subarray(l.k, l.k + bytes), 0);
        out.set(u8.subarray(l.v, l.v + bytes), bytes);
        return out;
      }),
    };
  }

  /** Put saved rows into `cache` (checked by the caller: every layer's length is 2·usedRows·rowBytes of its type). */
  writeRows(cache: KvCache, rows: CacheRows): void {
    const u8 = this.views.u8;
    cache.layers.forEach((l, i) => {
      const data = rows.layers[i]!;
      const bytes = data.length / 2;
      u8.set(data.subarray(0, bytes), l.k);
      u8.set(data.subarray(bytes), l.v);
    });
    cache.cached.length = 0;
    cache.cached.push(...rows.tokens);
  }

  /**
   * Context shift: keep the first `keep` tokens of `cache`, drop the `drop` after them, and move the
   * rest down to positions keep.. — their keys rotated by −drop (RoPE composes: R(p − d) = R(−d)·R(p)),
   * ALiBi and no positions need nothing. Learned absolute positions and sliding-window rings cannot be
   * moved: the cache keeps the first `keep` tokens and the caller re-evaluates the rest.
   * Returns the tokens now in the cache.
   */
  shift(cache: KvCache, keep: number, drop: number): number[] {
    const n = cache.cached.length;
    if (keep < 0 || drop <= 0 || keep + drop > n) throw new Error(`shift(${keep}, ${drop}) of ${n} tokens`);
    const pos = this.spec.positions;
    if (pos.kind === 'learned' || cache.layers.some((l) => l.ring > 0)) {
      cache.cached.length = keep;
      return cache.cached.slice();
    }
    const rb = this.rowBytes(cache.type);
    const moved = n - keep - drop;
    const u8 = this.views.u8;
    for (const l of cache.layers) {
      for (const at of [l.k, l.v]) u8.copyWithin(at + keep * rb, at + (keep + drop) * rb, at + n * rb);
    }
    if (pos.kind === 'rope' && moved > 0) {
      // each layer's moved keys (as f32: a typed cache's dequantized a chunk at a time, then requantized) as
      // one row of n·nHeadKv heads, rotated by −drop with the layer's rope settings (not scaled again)
      const { spec } = this;
      const chunks = Math.ceil(moved / F32_ROWS_CHUNK);
      this.ensurePlan(spec.nLayer * chunks * 3);
      const P = this.plan.reset();
      cache.layers.forEach((l, i) => withF32Rows(P, spec, l, l.k, keep, moved, this.state.kvTmp,
        (rows, nRows) => ropeRows(P, this.model, spec.layers[i]!.attn, rows, 1, nRows * spec.nHeadKv, -drop, true)));
      this.runPlan(P);
    }
    cache.cached.splice(keep, drop);
    return cache.cached.slice();
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
    this.growTo(this.layout.size);
    await weights.read(header, stream, () => this.views.u8, this.kernels);
    this.ensurePlan(planCapacity(this.spec.nLayer, this.adapters.length + 1));
    this.adapters.push(adapter);
    return adapter;
  }

  /** Room in the plan for `capacity` ops (a new plan region, and sync lines for the threads, when it lacks it). */
  private ensurePlan(capacity: number): void {
    if (capacity <= this.plan.capacity) return;
    const planPtr = this.layout.alloc(capacity * OP_WORDS * 4);
    const sync = this.pool ? this.layout.alloc(capacity * SYNC_BYTES, 64) : 0;
    this.growTo(this.layout.size);
    this.plan = new Plan(this.views, planPtr, capacity, this.kernels);
    if (sync) this.pool!.setSync(sync, capacity);
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
    const engine = this;
    return {
      spec: this.spec, weights: this.model.weights, views: this.views, kernels: this.kernels as TrainingAccess['kernels'],
      get threads() { return engine.pool?.alive ? engine.threads : 1; },
      scratch: (bytes: number) => {
        const at = this.layout.alloc(bytes);
        this.growTo(this.layout.size);
        return at;
      },
      workspace: (bytes: number) => {
        const w = this.work;
        if (bytes > w.bytes) {
          // extended in place while it is the last region, else a new one (the old is left: bump-only layout)
          if (w.bytes === 0 || this.layout.size !== w.at + w.bytes) w.at = this.layout.alloc(0);
          this.layout.alloc(w.at + bytes - this.layout.size, 1);
          w.bytes = bytes;
          this.growTo(this.layout.size);
        }
        return w.at;
      },
      run: (P: Plan, job?: JobLayout) => this.runPlan(P, job),
    };
  }

  /** Forget the cache from position `keep` on. */
  truncate(keep: number, cache = this.defaultCache): void {
    cache.cached.length = Math.min(cache.cached.length, keep);
  }

  /** No room for another token. */
  isFull(cache: KvCache): boolean {
    return !this.unbounded && cache.cached.length >= this.contextLength;
  }

  get full(): boolean {
    return this.isFull(this.defaultCache);
  }

  /** Sequences one batched decode can take: a row of the batch and a row of logits each. */
  get maxDecodeBatch(): number {
    return Math.min(this.batchSize, this.logitRows);
  }

  /**
   * One next token for each of several sequences in one forward pass: ids[i] after caches[i]'s tokens
   * (distinct caches, none full, at most maxDecodeBatch). The weights are read once for all of them;
   * each attends over its own cache. Returns each one's logits, views valid until the next call.
   */
  decode(caches: KvCache[], ids: number[]): Float32Array[] {
    const n = caches.length;
    if (n === 0 || n !== ids.length || n > this.maxDecodeBatch || new Set(caches).size !== n) {
      throw new Error(`decode: ${n} caches, ${ids.length} ids (at most ${this.maxDecodeBatch}, distinct)`);
    }
    if (n === 1) return [this.evaluate(ids, 'last', undefined, caches[0])];
    caches.forEach((c, i) => this.checkRoom(c, 1, i, ids[i]!));
    const { ids: idsBuf, pos: posBuf } = this.state.buf;
    const i32 = this.views.i32;
    caches.forEach((c, i) => {
      i32[(idsBuf >>> 2) + i] = ids[i]!;
      i32[(posBuf >>> 2) + i] = c.cached.length;
    });
    // each further segment adds per layer: two ropes, at most four copies, an attention
    this.ensurePlan(planCapacity(this.spec.nLayer, this.adapters.length) + this.spec.nLayer * 8 * (n - 1));
    writeForward(this.plan.reset(), this.model, {
      n, rows: n, hidden: false, segments: caches.map((c) => ({ cache: c.layers, n: 1, pos0: c.cached.length })),
    });
    this.runPlan(this.plan);
    caches.forEach((c, i) => c.cached.push(ids[i]!));
    const f32 = this.views.f32, V = this.spec.nVocab, base = this.state.buf.logits >>> 2;
    return caches.map((_, i) => f32.subarray(base + i * V, base + (i + 1) * V));
  }

  private checkRoom(cache: KvCache, n: number, at: number, id: number): void {
    if (!this.unbounded && cache.cached.length + n > this.contextLength) {
      throw new WasmlmError('CONTEXT_FULL',
        `the context holds ${this.contextLength} tokens: ${cache.cached.length} cached + ${n} new do not fit`);
    }
    if (!Number.isInteger(id) || id < 0 || id >= this.spec.nVocab) {
      throw new WasmlmError('TOKEN_OUT_OF_RANGE', `token id ${id} at index ${at} is outside the vocabulary (0..${this.spec.nVocab - 1})`);
    }
  }

  /**
   * Evaluate `ids` after the cached tokens. Returns the logits of the last token ('last'), and with
   * 'all' or 'hidden' hands each batch's rows (logits, or hidden states after the output norm) to
   * `onRows(first, rows)` as views into memory, valid until the next call.
   */
  evaluate(ids: ArrayLike<number>, mode: Rows = 'last', onRows?: (first: number, rows: Float32Array[]) => void,
    cache = this.defaultCache): Float32Array {
    const n = ids.length;
    if (n === 0) throw new WasmlmError('EMPTY_PROMPT', 'nothing to evaluate: no tokens');
    for (let i = 0; i < n; i++) this.checkRoom(cache, n, i, ids[i]!);
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
        this.forward(cache, ids, i, end, rows, true);
        for (let r = 0; r < rows; r += this.logitRows) {
          const count = Math.min(this.logitRows, rows - r);
          this.project(r, count);
          hand(i + r, count);
          last = count - 1;
        }
        continue;
      }
      this.forward(cache, ids, i, end, rows, mode === 'hidden');
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
  private forward(cache: KvCache, ids: ArrayLike<number>, from: number, to: number, rows: number, hidden: boolean): void {
    const n = to - from;
    const pos0 = cache.cached.length;
    const { ids: idsBuf, pos: posBuf } = this.state.buf;
    const i32 = this.views.i32;
    for (let i = 0; i < n; i++) {
      i32[(idsBuf >>> 2) + i] = ids[from + i]!;
      i32[(posBuf >>> 2) + i] = pos0 + i;
    }
    writeForward(this.plan.reset(), this.model, { n, rows, hidden, segments: [{ cache: cache.layers, n, pos0 }] });
    this.runPlan(this.plan);
    for (let i = from; i < to; i++) cache.cached.push(ids[i]!);
  }

  /** Logits of `count` rows of the normalized hidden states a forward pass left in xn, from row `first`. */
  private project(first: number, count: number): void {
    const P = this.plan.reset();
    outputLogits(P, this.model, this.state.buf.xn + first * this.spec.nEmbd * 4, count);
    this.runPlan(P);
  }

  /** Runs plan P (`job`: the plan's own per-thread scratch stride and sync area, training's). */
  private runPlan(P: Plan, job?: JobLayout): void {
    const run = (first: number, count: number) => {
      if (this.pool?.alive) this.pool.run(P.opPtr(first), count, job);
      else this.kernels.run(P.opPtr(first), count);
    };
    if (this.runPlanHook) this.runPlanHook(P, run);
    else run(0, P.length);
  }
}

/** An engine dropped without dispose() stops its workers when it is collected. */
const disposeOnCollect = new FinalizationRegistry<ThreadPool>((pool) => pool.terminate());
