/**
 * The engine: the weights (weights.ts), the KV cache and the buffers of a batch (state.ts) in wasm memory;
 * `evaluate` writes the forward pass of each batch as a plan (forward.ts, plan.ts) and runs it inside wasm,
 * on this thread or the thread pool (pool.ts). A model too large for one memory is split by layers over
 * several (shards.ts): one Shard per memory, each with its own kernels, plan and pool; the engine routes the
 * layers and passes the residual stream from shard to shard. Options and their policies: options.ts.
 */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader, GGUFTensorInfo } from '../formats/gguf.js';
import type { ByteStream } from '../formats/source.js';
import type { ModelSpec } from '../models/spec.js';
import { OP_WORDS, SYNC_BYTES } from '../abi.js';
import { outputLogits, ropeRows, writeForward, type Batch } from './forward.js';
import { Layout, PAGE } from './memory.js';
import {
  chooseBatchSize, chooseContextLength, chooseKvType, chooseMaxShardBytes, chooseThreads, layerMatmulBytes, planCapacity,
  type EngineOptions, type KvType,
} from './options.js';
import { Plan } from './plan.js';
import { capThreads, ThreadPool, type JobLayout } from './pool.js';
import { planShard, Shard, splitLayers, type ShardSizing } from './shards.js';
import {
  cacheRowBytes, F32_ROWS_CHUNK, f32RowsTmpBytes, kvCacheBytes, logitRowsFor, placeCaches, withF32Rows, type LayerCache,
} from './state.js';
import {
  isThreadsModule, kernelModule, kernelVariantOf, sizingKernels, type KernelVariant, type ThreadKernelExports,
} from './wasm.js';
import { placeAdapter, readWeights, type AdapterWeights } from './weights.js';
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

/** A LoRA adapter over every shard: its pairs in the shard of their base weight; one scale for all. */
export interface AdapterHandle {
  userScale: number;
}

/** Bytes of each norm in Engine.weightSample: the first of its weights. */
const sampleBytesPerNorm = (spec: ModelSpec) => Math.min(256, spec.nEmbd * 2);

export class Engine {
  /** the model's own KV cache (the one calls without a session use) */
  readonly defaultCache: KvCache;
  /** every layer keeps a sliding window in a ring: generation may run past contextLength */
  readonly unbounded: boolean;
  /** threads that compute (1: this thread alone) */
  threads = 1;
  /** why `threads` is what it is */
  threadsNote = 'one thread';

  private readonly adapters = new Map<AdapterHandle, AdapterWeights[]>();
  private readonly freeCaches: KvCache[] = [];
  /** the caches of live sessions */
  private readonly liveCaches = new Set<KvCache>();
  /** training's one region (src/train), reused by every trainer and step */
  private work = { at: 0, bytes: 0 };

  private constructor(
    readonly spec: ModelSpec,
    /** the memories, in layer order: the first has the embeddings, the last the output norm and head */
    private readonly shards: Shard[],
    readonly contextLength: number,
    readonly batchSize: number,
    /** rows of logits one pass can return */
    readonly logitRows: number,
    private readonly runPlanHook: EngineOptions['runPlan'],
  ) {
    const layers = shards.flatMap((s) => s.state.layers);
    this.unbounded = layers.every((l) => l.ring > 0);
    this.defaultCache = new KvCache(layers, kvCacheBytes(spec, layers));
  }

  /**
   * Plan the memory (split in shards when it does not fit one: maxShardBytes), check it fits, then stream
   * the weights from `stream` (positioned right after the GGUF header) straight into wasm memory.
   * `options.threads` is checked by the caller (checkLoadOptions).
   */
  static async load(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, header: Pick<GGUFHeader, 'dataOffset'>,
    stream: ByteStream, options: EngineOptions = {}): Promise<Engine> {
    const maxShardBytes = chooseMaxShardBytes(options.maxShardBytes);
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

    const sizing: ShardSizing = {
      spec, tensors, kernels: await sizingKernels(module), batchSize: B, contextLength, logitRows, threads: threads.n, kvType,
    };
    const parts = splitLayers(sizing, maxShardBytes);
    const name = `model '${spec.name ?? spec.arch}'`;
    const shards: Shard[] = [];
    for (const [i, part] of parts.entries()) {
      const what = parts.length > 1 ? `${name}, shard ${i + 1} of ${parts.length} (layers ${part.from}..${part.to - 1})` : name;
      shards.push(await Shard.create(planShard(sizing, part), spec, contextLength, what, shared, module));
    }
    const engine = new Engine(spec, shards, contextLength, B, logitRows, options.runPlan);
    // the workers start while the weights stream in (each shard's over its own memory)
    const pools = threads.n > 1 && threads.kind
      ? shards.map((s) => ThreadPool.start(threads.kind!, module, s.views.memory, s.kernels as ThreadKernelExports, s.p.ctl, threads.n,
        s.state.scratchStride, s.p.sync, s.p.planOps, options.threadTuning).then((p) => p, (e: Error) => e))
      : [];
    try {
      await readWeights(header, stream, shards.map((s) => ({ weights: s.weights, u8: () => s.views.u8, kernels: s.kernels })));
    } catch (e) {
      for (const p of pools) void p.then((x) => { if (x instanceof ThreadPool) x.terminate(); });
      throw e;
    }
    engine.threads = threads.n;
    engine.threadsNote = threads.note;
    const started = await Promise.all(pools);
    const failed = started.find((p): p is Error => !(p instanceof ThreadPool));
    if (failed) {
      for (const p of started) if (p instanceof ThreadPool) p.terminate();
      engine.threads = 1;
      engine.threadsNote = `one thread: the worker threads failed to start (${failed.message})`;
    } else if (started.length > 0) {
      shards.forEach((s, i) => { s.pool = started[i] as ThreadPool; });
      disposeOnCollect.register(engine, started as ThreadPool[], engine);
    }
    return engine;
  }

  /** Stops the worker threads, if any (the engine is not used after this). */
  dispose(): void {
    disposeOnCollect.unregister(this);
    for (const s of this.shards) {
      s.pool?.terminate();
      s.pool = undefined;
    }
  }

  /** how many wasm memories (kernel instances) the model is split over: 1 unless it does not fit one (maxShardBytes) */
  get shardCount(): number {
    return this.shards.length;
  }

  /** the first shard's pool (tests) */
  get pool(): ThreadPool | undefined {
    return this.shards[0]!.pool;
  }

  /** which kernel build runs: plain SIMD, or relaxed SIMD where the runtime has it (and computes it right) */
  get kernelVariant(): KernelVariant {
    return kernelVariantOf(this.shards[0]!.kernels);
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

  /** The shard that holds layer `i`. */
  private shardOf(i: number): Shard {
    return this.shards.find((s) => s.hasLayer(i))!;
  }

  private get head(): Shard {
    return this.shards[this.shards.length - 1]!;
  }

  /**
   * A new KV cache of `type` for a sequence (a session): a freed one of that type if there is one, else a
   * new region of each shard's memory (grown for it: TOO_LARGE when it cannot). The first typed cache of an
   * f32 model also places the f32 rows its context shift works in (RunState.kvTmp).
   */
  createCache(type: KvType = this.kvType): KvCache {
    const i = this.freeCaches.findIndex((c) => c.type === type);
    if (i >= 0) {
      const free = this.freeCaches.splice(i, 1)[0]!;
      this.liveCaches.add(free);
      return free;
    }
    const tmpBytes = f32RowsTmpBytes(this.spec, this.contextLength, type);
    const needTmp = (s: Shard) => !s.state.kvTmp && type !== 'f32' && s.part.to > s.part.from;
    // grown first (a dry run of the placement): a cache that does not fit leaves every layout as it was
    for (const s of this.shards) {
      const dry = new Layout(s.layout.size);
      placeCaches(this.spec, dry, this.batchSize, this.contextLength, type, s.part);
      if (needTmp(s)) dry.alloc(tmpBytes);
      growTo(s, dry.size);
    }
    const layers = this.shards.flatMap((s) => {
      const placed = placeCaches(this.spec, s.layout, this.batchSize, this.contextLength, type, s.part);
      if (needTmp(s)) s.state.kvTmp = s.layout.alloc(tmpBytes);
      return placed;
    });
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

  /** the length of weightSample() for a model of `spec` (known before loading) */
  static weightSampleBytes(spec: ModelSpec): number {
    return (spec.nLayer + 1) * sampleBytesPerNorm(spec);
  }

  /**
   * Bytes of some weights, for the fingerprint of saved sessions: the first bytes of every norm
   * (they differ between fine-tunes of one base; stored as the file has them, in any runtime).
   */
  weightSample(): Uint8Array {
    const norms = [...this.spec.layers.map((l, i) => [l.attnNorm, this.shardOf(i)] as const), [this.spec.outputNorm, this.head] as const];
    const parts = norms.map(([nm, s]) => {
      const p = s.weights.ptr(nm.weight);
      return s.views.u8.slice(p, p + sampleBytesPerNorm(this.spec));
    });
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => { out.set(p, at); return at + p.length; }, 0);
    return out;
  }

  /** Rows of a layer's cache that hold the first `n` positions' keys (a ring holds the last `ring`). */
  usedRows(layer: number, n: number): number {
    const l = this.defaultCache.layers[layer]!;
    return l.ring ? Math.min(n, l.ring) : n;
  }

  /** Bytes of one row (one position's keys, or values, of one layer) of a cache of `type`. */
  rowBytes(type: KvType): number {
    return cacheRowBytes(this.spec, { type });
  }

  /** The tokens and used rows of `cache` (copies). */
  readRows(cache: KvCache): CacheRows {
    const n = cache.cached.length;
    const rb = this.rowBytes(cache.type);
    return {
      tokens: cache.cached.slice(),
      layers: cache.layers.map((l, i) => {
        const u8 = this.shardOf(i).views.u8;
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
    cache.layers.forEach((l, i) => {
      const u8 = this.shardOf(i).views.u8;
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
    cache.layers.forEach((l, i) => {
      const u8 = this.shardOf(i).views.u8;
      for (const at of [l.k, l.v]) u8.copyWithin(at + keep * rb, at + (keep + drop) * rb, at + n * rb);
    });
    if (pos.kind === 'rope' && moved > 0) {
      // each layer's moved keys (as f32: a typed cache's dequantized a chunk at a time, then requantized) as
      // one row of n·nHeadKv heads, rotated by −drop with the layer's rope settings (not scaled again); a plan per shard
      const { spec } = this;
      const chunks = Math.ceil(moved / F32_ROWS_CHUNK);
      for (const s of this.shards) {
        if (s.part.to === s.part.from) continue;
        this.ensurePlan(s, spec.nLayer * chunks * 3);
        const P = s.plan.reset();
        for (let i = s.part.from; i < s.part.to; i++) {
          const l = cache.layers[i]!;
          withF32Rows(P, spec, l, l.k, keep, moved, s.state.kvTmp,
            (rows, nRows) => ropeRows(P, s.model, spec.layers[i]!.attn, rows, 1, nRows * spec.nHeadKv, -drop, true));
        }
        this.runPlan(s, P);
      }
    }
    cache.cached.splice(keep, drop);
    return cache.cached.slice();
  }

  /** bytes of wasm memory, every shard's */
  get memoryBytes(): number {
    return this.shards.reduce((n, s) => n + s.views.memory.buffer.byteLength, 0);
  }

  /**
   * Load a LoRA adapter's A/B pairs into memory (each pair in the shard of its base weight, grown for them).
   * `pairs` maps a base weight name to its A [nIn, r] and B [r, nOut] tensors in the adapter file.
   */
  async addAdapter(header: GGUFHeader, stream: ByteStream,
    pairs: Map<string, { a: GGUFTensorInfo; b: GGUFTensorInfo }>, alpha: number, userScale: number): Promise<AdapterHandle> {
    const placed = this.shards.flatMap((s) => {
      const mine = new Map([...pairs].filter(([name]) => s.weights.has(name)));
      if (mine.size === 0) return [];
      const { adapter, weights } = placeAdapter(mine, alpha, userScale, this.batchSize, s.layout, s.kernels);
      growTo(s, s.layout.size);
      return [{ s, adapter, weights }];
    });
    await readWeights(header, stream, placed.map(({ s, weights }) => ({ weights, u8: () => s.views.u8, kernels: s.kernels })));
    const parts = placed.map((p) => p.adapter);
    const handle: AdapterHandle = {
      get userScale() { return userScale; },
      set userScale(v: number) { userScale = v; for (const a of parts) a.userScale = v; },
    };
    for (const { s, adapter } of placed) {
      this.ensurePlan(s, planCapacity(this.spec.nLayer, s.adapters.length + 1));
      s.adapters.push(adapter);
    }
    this.adapters.set(handle, parts);
    return handle;
  }

  /** Room in a shard's plan for `capacity` ops (a new plan region, and sync lines for the threads, when it lacks it). */
  private ensurePlan(s: Shard, capacity: number): void {
    if (capacity <= s.plan.capacity) return;
    const planPtr = s.layout.alloc(capacity * OP_WORDS * 4);
    const sync = s.pool ? s.layout.alloc(capacity * SYNC_BYTES, 64) : 0;
    growTo(s, s.layout.size);
    s.plan = new Plan(s.views, planPtr, capacity, s.kernels);
    if (sync) s.pool!.setSync(sync, capacity);
  }

  removeAdapter(handle: AdapterHandle): void {
    for (const a of this.adapters.get(handle) ?? []) {
      for (const s of this.shards) {
        const i = s.adapters.indexOf(a);
        if (i >= 0) s.adapters.splice(i, 1);
      }
    }
    this.adapters.delete(handle);
  }

  /**
   * What training (src/train) reads: the spec, the placed (frozen) weights, the kernels and the memory,
   * and `scratch(bytes)`: a new region of memory (grown for it). One memory only: a sharded model is not trained.
   */
  trainingAccess(): TrainingAccess {
    if (this.shards.length > 1) {
      throw new WasmlmError('NOT_SUPPORTED', `training needs the model in one wasm memory: this one is split over ` +
        `${this.shards.length} (maxShardBytes, or a model over 4 GiB); load it unsharded to train an adapter`);
    }
    const s = this.shards[0]!, threads = this.threads;
    return {
      spec: this.spec, weights: s.weights, views: s.views, kernels: s.kernels as TrainingAccess['kernels'],
      get threads() { return s.pool?.alive ? threads : 1; },
      scratch: (bytes: number) => {
        const at = s.layout.alloc(bytes);
        growTo(s, s.layout.size);
        return at;
      },
      workspace: (bytes: number) => {
        const w = this.work;
        if (bytes > w.bytes) {
          // extended in place while it is the last region, else a new one (the old is left: bump-only layout)
          if (w.bytes === 0 || s.layout.size !== w.at + w.bytes) w.at = s.layout.alloc(0);
          s.layout.alloc(w.at + bytes - s.layout.size, 1);
          w.bytes = bytes;
          growTo(s, s.layout.size);
        }
        return w.at;
      },
      run: (P: Plan, job?: JobLayout) => this.runPlan(s, P, job),
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
    const first = this.shards[0]!;
    const { ids: idsBuf, pos: posBuf } = first.state.buf;
    const i32 = first.views.i32;
    caches.forEach((c, i) => {
      i32[(idsBuf >>> 2) + i] = ids[i]!;
      i32[(posBuf >>> 2) + i] = c.cached.length;
    });
    // each further segment adds per layer: two ropes, at most four copies, an attention
    for (const s of this.shards) this.ensurePlan(s, planCapacity(this.spec.nLayer, s.adapters.length) + this.spec.nLayer * 8 * (n - 1));
    this.pass({ n, rows: n, hidden: false, segments: caches.map((c) => ({ cache: c.layers, n: 1, pos0: c.cached.length })) });
    caches.forEach((c, i) => c.cached.push(ids[i]!));
    const f32 = this.head.views.f32, V = this.spec.nVocab, base = this.head.state.buf.logits >>> 2;
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
    const buf = this.head.state.buf;
    const width = mode === 'hidden' ? this.spec.nEmbd : this.spec.nVocab;
    const base = (mode === 'hidden' ? buf.xn : buf.logits) >>> 2;
    const f32 = () => this.head.views.f32;
    const hand = (first: number, rows: number) => {
      onRows?.(first, Array.from({ length: rows }, (_, r) => f32().subarray(base + r * width, base + (r + 1) * width)));
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
    return f32().subarray(base + last * width, base + (last + 1) * width);
  }

  /**
   * One batch: tokens ids[from, to) at positions cached.length.., then the output norm and the
   * output projection for the last `rows` of them (no projection when `hidden`).
   */
  private forward(cache: KvCache, ids: ArrayLike<number>, from: number, to: number, rows: number, hidden: boolean): void {
    const n = to - from;
    const pos0 = cache.cached.length;
    const first = this.shards[0]!;
    const { ids: idsBuf, pos: posBuf } = first.state.buf;
    const i32 = first.views.i32;
    for (let i = 0; i < n; i++) {
      i32[(idsBuf >>> 2) + i] = ids[from + i]!;
      i32[(posBuf >>> 2) + i] = pos0 + i;
    }
    this.pass({ n, rows, hidden, segments: [{ cache: cache.layers, n, pos0 }] });
    for (let i = from; i < to; i++) cache.cached.push(ids[i]!);
  }

  /**
   * One forward pass of `batch` (its ids and positions in the first shard's buffers): each shard's plan in
   * turn, the residual stream (n rows of nEmbd floats) copied into the next shard's buf.x between them.
   */
  private pass(batch: Batch): void {
    const bytes = batch.n * this.spec.nEmbd * 4;
    this.shards.forEach((s, i) => {
      if (i > 0) {
        const prev = this.shards[i - 1]!, x = prev.state.buf.x;
        s.views.u8.set(prev.views.u8.subarray(x, x + bytes), s.state.buf.x);
      }
      writeForward(s.plan.reset(), s.model, batch);
      this.runPlan(s, s.plan);
    });
  }

  /** Logits of `count` rows of the normalized hidden states a forward pass left in xn, from row `first`. */
  private project(first: number, count: number): void {
    const s = this.head;
    const P = s.plan.reset();
    outputLogits(P, s.model, s.state.buf.xn + first * this.spec.nEmbd * 4, count);
    this.runPlan(s, P);
  }

  /** Runs plan P in shard s (`job`: the plan's own per-thread scratch stride and sync area, training's). */
  private runPlan(s: Shard, P: Plan, job?: JobLayout): void {
    const run = (first: number, count: number) => {
      if (s.pool?.alive) s.pool.run(P.opPtr(first), count, job);
      else s.kernels.run(P.opPtr(first), count);
    };
    if (this.runPlanHook) this.runPlanHook(P, run);
    else run(0, P.length);
  }
}

/** Grow a shard's memory to at least `bytes` (TOO_LARGE when it cannot). */
function growTo(s: Shard, bytes: number): void {
  const memory = s.views.memory;
  const have = memory.buffer.byteLength;
  if (bytes <= have) return;
  try {
    memory.grow(Math.ceil((bytes - have) / PAGE));
  } catch (e) {
    throw new WasmlmError('TOO_LARGE', `cannot grow wasm memory to ${(bytes / 2 ** 20).toFixed(0)} MiB: ${(e as Error).message}`, { cause: e });
  }
}

/** An engine dropped without dispose() stops its workers when it is collected. */
const disposeOnCollect = new FinalizationRegistry<ThreadPool[]>((pools) => { for (const p of pools) p.terminate(); });
