/**
 * The engine: one wasm memory holding the weights, a KV cache and the scratch buffers of a batch;
 * `evaluate` writes the forward pass of a batch of tokens as one plan and runs it inside wasm.
 */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader, GGUFTensorInfo } from '../formats/gguf.js';
import type { ByteStream } from '../formats/source.js';
import type { FfnSpec, Linear, ModelSpec, NormSpec, WeightRef } from '../models/spec.js';
import { specWeights } from '../models/spec.js';
import {
  CTL_BYTES, SYNC_BYTES, GGML_F32, GGML_Q4_0,
  GGML_Q8_0, GLU_GELU, GLU_SILU, MOE_NORMALIZE, REPACKED, ROPE_NEOX, ROPE_NORMAL,
} from '../abi.js';
import { createMemory, Layout, PAGE, Views } from './memory.js';
import { Plan } from './plan.js';
import { capThreads, threadSupport, ThreadPool, type PoolTuning } from './pool.js';
import {
  instantiateKernels, isThreadsModule, kernelModule, kernelVariantOf, RESERVED_BYTES, sizingKernels,
  type KernelExports, type KernelVariant, type ThreadKernelExports,
} from './wasm.js';

export interface EngineOptions {
  /** tokens in the KV cache; default: the model's, capped to fit `kvBudgetBytes` */
  contextLength?: number;
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
   * thread where threads are not possible (see Engine.threadsNote).
   */
  threads?: number;
  /** @internal thread pool tuning (tests: `{ minSplit: 0, chunks: 16, jitter: 20000 }` splits even the
   *  smallest ops in many chunks and shakes the timing) */
  threadTuning?: PoolTuning;
  /** @internal rows of the logits buffer (default: as many as fit in LOGITS_BUDGET, at most batchSize) */
  logitRows?: number;
}

/**
 * The layout code of a tensor in memory: Q8_0 and Q4_0 are repacked at load (assembly/ops/repack.ts)
 * into a quant plane and a scale plane per row, and the kernels take them as type | REPACKED.
 */
export function memoryType(t: GGUFTensorInfo): number {
  return (t.type === GGML_Q8_0 || t.type === GGML_Q4_0) && t.ne[0]! % 32 === 0 ? t.type | REPACKED : t.type;
}

/** Bytes of a row of `t` that `repack` copies aside (0: not repacked). */
function repackRowBytes(t: GGUFTensorInfo): number {
  return memoryType(t) === t.type ? 0 : t.nBytes / (t.nElements / t.ne[0]!);
}

/** Prompt tokens per forward pass when batchSize is not given (see EngineOptions.batchSize). */
export const DEFAULT_BATCH = 32;

/** The KV cache takes at most this much memory when contextLength is not given. */
export const DEFAULT_KV_BUDGET = 1 << 30;
/**
 * The logits buffer takes at most this much (rows × vocab × 4 bytes): 8 rows of a 32k vocabulary.
 * Generation needs one row; `evaluate(…, 'all')` projects a batch's hidden states that many at a time.
 */
const LOGITS_BUDGET = 1 << 20;

interface Weight {
  ptr: number;
  type: number;
}
interface Lin {
  name: string;
  w: Weight;
  /** 0: none */
  bias: number;
  nIn: number;
  nOut: number;
}
interface Norm {
  layer: boolean;
  w: number;
  b: number;
}

interface Layer {
  attnNorm: Norm;
  ffnNorm: Norm | undefined;
  q?: Lin; k?: Lin; v?: Lin; qkv?: Lin;
  o: Lin;
  ffn?: { glu: boolean; act: number; gate?: Lin; up: Lin; down: Lin; fused: boolean };
  moe?: { router: Lin; gate: Weight; up: Weight; down: Weight; nExpert: number; flags: number; nFf: number };
  attnScale: number;
  ffnScale: number;
  window: number;
  /** rows of the K and V cache: the context length, or a ring of window + batch rows */
  cacheRows: number;
  ring: number;
  kCache: number;
  vCache: number;
}

/**
 * A LoRA adapter as the engine applies it: y += s · B·(A·x) for each paired weight, with
 * s = userScale · alpha / rank (alpha 0: s = userScale).
 */
export interface AdapterWeights {
  userScale: number;
  alpha: number;
  pairs: Map<string, { a: Weight; b: Weight; rank: number }>;
  /** scratch: [batch][rank] and [batch][nOut] */
  tmpA: number;
  tmpB: number;
}

/** What `evaluate` returns rows of: logits, or the final hidden states (after the output norm). */
export type Rows = 'last' | 'all' | 'hidden';

export class Engine {
  readonly contextLength: number;
  readonly batchSize: number;
  /** rows of logits one pass can return */
  readonly logitRows: number;
  /** tokens whose keys and values are in the cache, in order */
  readonly cached: number[] = [];
  /** every layer keeps a sliding window in a ring: generation may run past contextLength */
  readonly unbounded: boolean;
  readonly adapters: AdapterWeights[] = [];

  private readonly views: Views;
  private plan: Plan;
  private kernels!: KernelExports;
  private pool: ThreadPool | undefined;
  /** threads that compute (1: this thread alone) */
  threads = 1;
  /** why `threads` is what it is */
  threadsNote = 'one thread';
  private readonly layers: Layer[];
  private readonly embd: Weight;
  private readonly posEmbd: Weight | undefined;
  private readonly embdNorm: Norm | undefined;
  private readonly outNorm: Norm;
  private readonly output: Lin;
  private readonly buf: Record<
    'ids' | 'pos' | 'x' | 'xn' | 'q' | 'k' | 'v' | 'qkv' | 'att' | 'tmp' | 'tmp2' | 'gate' | 'up' |
    'act' | 'scores' | 'logits' | 'router' | 'moe', number>;

  private constructor(
    readonly spec: ModelSpec,
    private readonly tensors: Map<string, GGUFTensorInfo>,
    private readonly weightPtrs: Map<string, number>,
    private readonly layout: Layout,
    layers: Layer[],
    buf: Engine['buf'],
    planPtr: number,
    planOps: number,
    contextLength: number,
    batchSize: number,
    logitRows: number,
    shared: boolean,
  ) {
    this.contextLength = contextLength;
    this.batchSize = batchSize;
    this.logitRows = logitRows;
    this.views = new Views(createMemory(layout.size, `model '${spec.name ?? spec.arch}'`, shared));
    this.plan = new Plan(this.views, planPtr, planOps);
    this.buf = buf;
    this.layers = layers;
    this.unbounded = layers.every((l) => l.ring > 0);
    const w = (ref: WeightRef): Weight => this.weight(ref);
    this.embd = w(spec.tokenEmbd);
    this.posEmbd = spec.positions.kind === 'learned' ? w(spec.positions.weight) : undefined;
    this.embdNorm = spec.embdNorm && this.norm(spec.embdNorm);
    this.outNorm = this.norm(spec.outputNorm);
    this.output = this.lin(spec.output);
  }

  /**
   * Plan the memory, check it fits, then stream the weights from `stream` (positioned right after
   * the GGUF header) straight into wasm memory.
   */
  static async load(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, header: GGUFHeader,
    stream: ByteStream, options: EngineOptions = {}): Promise<Engine> {
    // weights a token's forward pass multiplies by (not the embedding tables it reads a row of), per layer
    let matmulBytes = 0;
    for (const t of tensors.values()) matmulBytes += t.nBytes;
    if (!spec.tiedOutput) matmulBytes -= tensors.get(spec.tokenEmbd.name)?.nBytes ?? 0;
    if (spec.positions.kind === 'learned') matmulBytes -= tensors.get(spec.positions.weight.name)?.nBytes ?? 0;
    const threads = await capThreads(await chooseThreads(options, matmulBytes / Math.max(1, spec.nLayer)), options.threadTuning);
    const module = await kernelModule(options.wasmModule, threads.n > 1);
    const shared = isThreadsModule(module);
    if (threads.n > 1 && !shared) {
      threads.n = 1;
      threads.note = 'one thread: the kernel module given (wasmModule) is not a threads build (wasmlm.mt.wasm)';
    }
    const contextLength = chooseContextLength(spec, options.contextLength);
    const B = options.batchSize ?? DEFAULT_BATCH;
    if (!Number.isInteger(B) || B < 1) {
      throw new WasmlmError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${B}`);
    }
    const { nEmbd: E, nFf: F, nVocab } = spec;
    const qDim = spec.nHead * spec.headDim;
    const kvDim = spec.nHeadKv * spec.headDim;
    const logitRows = Math.max(1, Math.min(B, options.logitRows ?? Math.floor(LOGITS_BUDGET / (nVocab * 4))));

    // sizes that depend on the kernels' own formats
    const sizing = await sizingKernels(module);
    const layout = new Layout(RESERVED_BYTES);
    const weightPtrs = new Map<string, number>();
    for (const ref of specWeights(spec)) weightPtrs.set(ref.name, layout.alloc(tensors.get(ref.name)!.nBytes));

    let actBytes = 0;
    let moeBytes = 0;
    let maxExperts = 0;
    let upRows = F;
    let fusedQkv = false;
    for (const l of spec.layers) {
      for (const lin of [l.attn.q, l.attn.k, l.attn.v, l.attn.qkv, l.attn.output, l.ffn?.gate, l.ffn?.up, l.ffn?.down, l.moe && { weight: l.moe.router }]) {
        if (!lin) continue;
        actBytes = Math.max(actBytes, sizing.act_bytes(tensors.get(lin.weight.name)!.type, lin.weight.ne[0]!, B));
      }
      if (l.attn.qkv) fusedQkv = true;
      if (l.ffn?.fusedGateUp) upRows = 2 * F;
      if (l.moe) {
        const t = (r: WeightRef) => tensors.get(r.name)!.type;
        maxExperts = Math.max(maxExperts, l.moe.nExpert);
        moeBytes = Math.max(moeBytes, sizing.moe_scratch_bytes(l.moe.nExpert, E, l.moe.gate.ne[1]!, t(l.moe.gate), t(l.moe.up), t(l.moe.down)));
      }
    }
    const out = tensors.get(spec.output.weight.name)!;
    actBytes = Math.max(actBytes, sizing.act_bytes(out.type, E, logitRows));

    const layers: Layer[] = [];
    let maxCacheRows = 0;
    for (const l of spec.layers) {
      const window = l.attn.slidingWindow;
      const ring = window > 0 && window + B < contextLength ? window + B : 0;
      const cacheRows = ring || contextLength;
      maxCacheRows = Math.max(maxCacheRows, cacheRows);
      layers.push({
        kCache: layout.alloc(cacheRows * kvDim * 4),
        vCache: layout.alloc(cacheRows * kvDim * 4),
        window, ring, cacheRows,
      } as Layer);
    }
    const buf = {
      ids: layout.alloc(B * 4),
      pos: layout.alloc(B * 4),
      x: layout.alloc(B * E * 4),
      xn: layout.alloc(B * Math.max(E, qDim) * 4),
      q: layout.alloc(B * qDim * 4),
      k: layout.alloc(B * kvDim * 4),
      v: layout.alloc(B * kvDim * 4),
      qkv: fusedQkv ? layout.alloc(B * (qDim + 2 * kvDim) * 4) : 0,
      att: layout.alloc(B * qDim * 4),
      tmp: layout.alloc(B * E * 4),
      tmp2: layout.alloc(B * E * 4),
      gate: layout.alloc(B * F * 4),
      up: layout.alloc(B * upRows * 4),
      act: layout.alloc(actBytes),
      scores: 0,
      logits: layout.alloc(logitRows * nVocab * 4),
      router: layout.alloc(B * Math.max(1, maxExperts) * 4),
      moe: 0,
    };
    // per-thread scratch (attention scores, MoE buffers): one copy per thread, scratchStride bytes apart
    const al64 = (n: number) => Math.ceil(n / 64) * 64;
    const scratchStride = al64((maxCacheRows + B) * 4) + al64(moeBytes);
    buf.scores = layout.alloc(scratchStride * threads.n);
    buf.moe = buf.scores + al64((maxCacheRows + B) * 4);
    let repackBytes = 0;
    for (const name of weightPtrs.keys()) repackBytes = Math.max(repackBytes, repackRowBytes(tensors.get(name)!));
    const repackScratch = repackBytes > 0 ? layout.alloc(repackBytes) : 0;
    const ctl = threads.n > 1 ? layout.alloc(CTL_BYTES, 64) : 0;
    const planOps = planCapacity(spec.nLayer, 0);
    const planPtr = layout.alloc(planOps * 64);
    // threads: one sync line per op of the plan (chunk counters, see abi.ts)
    const sync = threads.n > 1 ? layout.alloc(planOps * SYNC_BYTES, 64) : 0;
    const engine = new Engine(spec, tensors, weightPtrs, layout, layers, buf, planPtr, planOps,
      contextLength, B, logitRows, shared);
    engine.resolveLayers();
    engine.kernels = await instantiateKernels(module, engine.views.memory);
    // the workers start while the weights stream in
    const pool = threads.n > 1 && threads.kind
      ? ThreadPool.start(threads.kind, module, engine.views.memory, engine.kernels as ThreadKernelExports, ctl, threads.n, scratchStride, sync, planOps, options.threadTuning)
        .then((p) => p, (e: Error) => e)
      : undefined;
    try {
      await engine.readTensors(header, stream, [...weightPtrs.keys()].map((n) => tensors.get(n)!), weightPtrs, repackScratch);
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

  get kvCacheBytes(): number {
    const kvDim = this.spec.nHeadKv * this.spec.headDim;
    return this.layers.reduce((sum, l) => sum + 2 * l.cacheRows * kvDim * 4, 0);
  }

  get memoryBytes(): number {
    return this.views.memory.buffer.byteLength;
  }

  private weight(ref: WeightRef): Weight {
    return { ptr: this.weightPtrs.get(ref.name)!, type: memoryType(this.tensors.get(ref.name)!) };
  }
  private lin(l: Linear): Lin {
    return {
      name: l.weight.name,
      w: this.weight(l.weight),
      bias: l.bias ? this.weightPtrs.get(l.bias.name)! : 0,
      nIn: l.weight.ne[0]!,
      nOut: l.weight.ne[1]!,
    };
  }
  private norm(n: NormSpec): Norm {
    return { layer: n.kind === 'layer', w: this.weightPtrs.get(n.weight.name)!, b: n.bias ? this.weightPtrs.get(n.bias.name)! : 0 };
  }

  private resolveLayers(): void {
    this.spec.layers.forEach((l, i) => {
      const L = this.layers[i]!;
      L.attnNorm = this.norm(l.attnNorm);
      L.ffnNorm = l.ffnNorm && this.norm(l.ffnNorm);
      const a = l.attn;
      if (a.qkv) L.qkv = this.lin(a.qkv);
      else { L.q = this.lin(a.q!); L.k = this.lin(a.k!); L.v = this.lin(a.v!); }
      L.o = this.lin(a.output);
      if (l.ffn) L.ffn = this.ffn(l.ffn);
      if (l.moe) {
        L.moe = {
          router: this.lin({ weight: l.moe.router }),
          gate: this.weight(l.moe.gate), up: this.weight(l.moe.up), down: this.weight(l.moe.down),
          nExpert: l.moe.nExpert,
          flags: l.moe.nUsed | (l.moe.normalize ? MOE_NORMALIZE : 0),
          nFf: l.moe.gate.ne[1]!,
        };
      }
      L.attnScale = l.attnScale ? this.weightPtrs.get(l.attnScale.name)! : 0;
      L.ffnScale = l.ffnScale ? this.weightPtrs.get(l.ffnScale.name)! : 0;
    });
  }

  private ffn(f: FfnSpec): NonNullable<Layer['ffn']> {
    return {
      glu: f.kind === 'glu',
      act: f.act === 'gelu' ? GLU_GELU : GLU_SILU,
      gate: f.gate && this.lin(f.gate),
      up: this.lin(f.up),
      down: this.lin(f.down),
      fused: f.fusedGateUp,
    };
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

  /** Copy tensors from the stream (in file order) to their places in memory, and repack those that
   *  change layout (memoryType; `scratch` holds a row of any of them). */
  private async readTensors(header: GGUFHeader, stream: ByteStream, list: GGUFTensorInfo[], ptrs: Map<string, number>,
    scratch: number): Promise<void> {
    const order = [...list].sort((a, b) => a.offset - b.offset);
    for (const t of order) {
      const at = header.dataOffset + t.offset;
      if (at < stream.position) throw new WasmlmError('BAD_FORMAT', `tensor '${t.name}' overlaps the tensor before it`);
      await stream.skip(at - stream.position);
      const ptr = ptrs.get(t.name)!;
      await stream.readInto(this.views.u8.subarray(ptr, ptr + t.nBytes));
      const type = memoryType(t);
      if (type !== t.type) {
        const got = this.kernels.repack(t.type, ptr, t.nElements / t.ne[0]!, t.ne[0]!, scratch);
        if (got !== type) throw new Error(`internal: repack of ${t.name} gave layout ${got}, expected ${type}`);
      }
    }
  }

  /**
   * Load a LoRA adapter's A/B pairs into memory (grown for them). `pairs` maps a base weight name
   * to its A [nIn, r] and B [r, nOut] tensors in the adapter file.
   */
  async addAdapter(header: GGUFHeader, stream: ByteStream,
    pairs: Map<string, { a: GGUFTensorInfo; b: GGUFTensorInfo }>, alpha: number, userScale: number): Promise<AdapterWeights> {
    const ptrs = new Map<string, number>();
    const list: GGUFTensorInfo[] = [];
    let maxRank = 1;
    let maxOut = 1;
    for (const { a, b } of pairs.values()) {
      for (const t of [a, b]) { ptrs.set(t.name, this.layout.alloc(t.nBytes)); list.push(t); }
      maxRank = Math.max(maxRank, a.ne[1]!);
      maxOut = Math.max(maxOut, b.ne[1]!);
    }
    const B = this.batchSize;
    const tmpA = this.layout.alloc(B * maxRank * 4);
    const tmpB = this.layout.alloc(B * maxOut * 4);
    let maxAct = 0;
    const sizingAct = (t: GGUFTensorInfo) => this.kernels.act_bytes(t.type, t.ne[0]!, B);
    for (const { a, b } of pairs.values()) maxAct = Math.max(maxAct, sizingAct(a), sizingAct(b));
    const act = maxAct > 0 ? this.layout.alloc(maxAct) : 0;
    const capacity = planCapacity(this.spec.nLayer, this.adapters.length + 1);
    const planPtr = capacity > this.plan.capacity ? this.layout.alloc(capacity * 64) : 0;
    const sync = planPtr && this.pool ? this.layout.alloc(capacity * SYNC_BYTES, 64) : 0;
    const repackBytes = Math.max(0, ...list.map(repackRowBytes));
    const scratch = repackBytes > 0 ? this.layout.alloc(repackBytes) : 0;
    this.growTo(this.layout.size);
    await this.readTensors(header, stream, list, ptrs, scratch);
    if (planPtr) this.plan = new Plan(this.views, planPtr, capacity);
    if (sync) this.pool!.setSync(sync, capacity);
    const adapter: AdapterWeights = { userScale, alpha, pairs: new Map(), tmpA, tmpB };
    for (const [name, { a, b }] of pairs) {
      adapter.pairs.set(name, {
        a: { ptr: ptrs.get(a.name)!, type: memoryType(a) },
        b: { ptr: ptrs.get(b.name)!, type: memoryType(b) },
        rank: a.ne[1]!,
      });
    }
    this.loraAct = Math.max(this.loraAct, act);
    this.loraActBytes = Math.max(this.loraActBytes, maxAct);
    this.adapters.push(adapter);
    return adapter;
  }

  /** act scratch for LoRA matmuls (their inputs differ from the base weight's) */
  private loraAct = 0;
  private loraActBytes = 0;

  removeAdapter(adapter: AdapterWeights): void {
    const i = this.adapters.indexOf(adapter);
    if (i >= 0) this.adapters.splice(i, 1);
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
    const width = mode === 'hidden' ? this.spec.nEmbd : this.spec.nVocab;
    const base = (mode === 'hidden' ? this.buf.xn : this.buf.logits) >>> 2;
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
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim } = s;
    const qDim = nHead * headDim;
    const kvDim = nHeadKv * headDim;
    const n = to - from;
    const pos0 = this.cached.length;
    const b = this.buf;
    const P = this.plan.reset();
    const i32 = this.views.i32;
    for (let i = 0; i < n; i++) {
      i32[(b.ids >>> 2) + i] = ids[from + i]!;
      i32[(b.pos >>> 2) + i] = pos0 + i;
    }

    // act holds `prepared`, the matmul input converted to the activation format `preparedFormat`
    let prepared = -1;
    let preparedFormat = -1;
    const prep: Prep = (type, x, nIn, nTok, act = b.act) => {
      if (type === GGML_F32) return x;
      if (act !== b.act) { P.prepAct(type, x, act, nIn, nTok); return act; }
      const format = this.kernels.act_format(type);
      if (prepared !== x || preparedFormat !== format) P.prepAct(type, x, act, nIn, nTok);
      prepared = x;
      preparedFormat = format;
      return act;
    };
    const written = (buffer: number) => { if (buffer === prepared) prepared = -1; };
    const linear = (l: Lin, x: number, y: number, nTok = n) => {
      this.linearOps(P, l, x, y, nTok, prep);
      written(y);
    };
    const norm = (nm: Norm, x: number, out: number, nTok = n) => {
      if (nm.layer) P.layernorm(x, nm.w, nm.b, out, E, nTok, s.normEps);
      else P.rmsnorm(x, nm.w, out, E, nTok, s.normEps);
      written(out);
    };
    const pos = s.positions;
    const scaling = pos.kind === 'rope' && (pos.freqFactors || pos.yarn) ? {
      freqFactors: pos.freqFactors ? this.weightPtrs.get(pos.freqFactors.name)! : 0,
      extFactor: pos.yarn?.extFactor ?? 0,
      attnFactor: pos.yarn?.attnFactor ?? 1,
      corrLow: pos.yarn?.corrLow ?? 0,
      corrHigh: pos.yarn?.corrHigh ?? 0,
    } : undefined;
    const rope = (x: number, heads: number) => {
      if (pos.kind !== 'rope') return;
      P.rope(x, n, heads, headDim, pos.nRot, pos0, pos.base, pos.freqScale, pos.mode === 'neox' ? ROPE_NEOX : ROPE_NORMAL, scaling);
    };
    const maxBias = pos.kind === 'alibi' ? pos.maxBias : 0;

    // embeddings
    P.getRows(this.embd.type, this.embd.ptr, E, b.ids, n, b.x);
    if (s.embdScale !== 1) P.axpby(b.x, 0, b.x, n * E, s.embdScale, 0);
    if (this.posEmbd) {
      P.getRows(this.posEmbd.type, this.posEmbd.ptr, E, b.pos, n, b.tmp);
      P.add(b.x, b.tmp, b.x, n * E);
    }
    if (this.embdNorm) norm(this.embdNorm, b.x, b.x);

    const attention = (L: Layer, x: number, out: number) => {
      // q, k, v for the batch
      if (L.qkv) {
        linear(L.qkv, x, b.qkv);
        const w = qDim + 2 * kvDim;
        P.copyRows(b.qkv, w, b.q, qDim, qDim, n);
        P.copyRows(b.qkv + qDim * 4, w, b.k, kvDim, kvDim, n);
        P.copyRows(b.qkv + (qDim + kvDim) * 4, w, b.v, kvDim, kvDim, n);
      } else {
        linear(L.q!, x, b.q);
        linear(L.k!, x, b.k);
        linear(L.v!, x, b.v);
      }
      rope(b.q, nHead);
      rope(b.k, nHeadKv);
      // into the cache: rows pos0.. (a ring wraps at L.ring)
      const start = L.ring ? pos0 % L.ring : pos0;
      const first = L.ring ? Math.min(n, L.ring - start) : n;
      for (const [src, cache] of [[b.k, L.kCache], [b.v, L.vCache]] as const) {
        P.copy(src, cache + start * kvDim * 4, first * kvDim * 4);
        if (first < n) P.copy(src + first * kvDim * 4, cache, (n - first) * kvDim * 4);
      }
      P.attention(b.q, L.kCache, L.vCache, b.att, n, pos0, nHead, nHeadKv, headDim, 1 / Math.sqrt(headDim),
        b.scores, L.window, maxBias, L.ring);
      written(b.att);
      linear(L.o, b.att, out);
      if (L.attnScale) P.mulRow(out, L.attnScale, out, E, n);
    };

    const feedForward = (L: Layer, x: number, out: number) => {
      if (L.moe) {
        const m = L.moe;
        linear(m.router, x, b.router);
        P.moe(x, b.router, out, n, m.nExpert, m.flags, E, m.nFf, m.gate.ptr, m.up.ptr, m.down.ptr,
          m.gate.type, m.up.type, m.down.type, b.moe);
      } else {
        const f = L.ffn!;
        const F = f.down.nIn;
        if (!f.glu) {
          linear(f.up, x, b.up);
          P.gelu(b.up, b.gate, n * F);
        } else if (f.fused) {
          linear(f.up, x, b.up);
          P.glu(b.up, b.up + F * 4, b.gate, F, n, 2 * F, 2 * F, f.act);
        } else {
          linear(f.gate!, x, b.gate);
          linear(f.up, x, b.up);
          P.glu(b.gate, b.up, b.gate, F, n, F, F, f.act);
        }
        written(b.gate);
        linear(f.down, b.gate, out);
      }
      if (L.ffnScale) P.mulRow(out, L.ffnScale, out, E, n);
    };

    for (const L of this.layers) {
      if (s.residual === 'deepnorm') {
        // x = norm(α·x + attn(x)); x = norm(α·x + ffn(x))
        attention(L, b.x, b.tmp);
        P.axpby(b.x, b.tmp, b.x, n * E, s.deepnormAlpha, 1);
        norm(L.attnNorm, b.x, b.x);
        feedForward(L, b.x, b.tmp);
        P.axpby(b.x, b.tmp, b.x, n * E, s.deepnormAlpha, 1);
        norm(L.ffnNorm!, b.x, b.x);
      } else if (s.residual === 'parallel') {
        // x += attn(norm(x)) + ffn(norm'(x))
        norm(L.attnNorm, b.x, b.xn);
        attention(L, b.xn, b.tmp);
        if (L.ffnNorm) norm(L.ffnNorm, b.x, b.xn);
        feedForward(L, b.xn, b.tmp2);
        P.add(b.x, b.tmp, b.x, n * E);
        P.add(b.x, b.tmp2, b.x, n * E);
      } else {
        norm(L.attnNorm, b.x, b.xn);
        attention(L, b.xn, b.tmp);
        P.add(b.x, b.tmp, b.x, n * E);
        norm(L.ffnNorm!, b.x, b.xn);
        feedForward(L, b.xn, b.tmp);
        P.add(b.x, b.tmp, b.x, n * E);
      }
      written(b.x);
    }
    if (rows > 0) {
      norm(this.outNorm, b.x + (n - rows) * E * 4, b.xn, rows);
      if (!hidden) linear(this.output, b.xn, b.logits, rows);
    }
    this.runPlan(P);
    for (let i = from; i < to; i++) this.cached.push(ids[i]!);
  }

  /** y = l(x) for nTok rows: the matmul, the LoRA adapters' deltas, the bias */
  private linearOps(P: Plan, l: Lin, x: number, y: number, nTok: number, prep: Prep): void {
    P.matmul(l.w.type, l.w.ptr, prep(l.w.type, x, l.nIn, nTok), y, l.nIn, l.nOut, nTok);
    for (const ad of this.adapters) {
      const pair = ad.pairs.get(l.name);
      if (!pair) continue;
      P.matmul(pair.a.type, pair.a.ptr, prep(pair.a.type, x, l.nIn, nTok, this.loraAct), ad.tmpA, l.nIn, pair.rank, nTok);
      P.matmul(pair.b.type, pair.b.ptr, prep(pair.b.type, ad.tmpA, pair.rank, nTok, this.loraAct), ad.tmpB, pair.rank, l.nOut, nTok);
      P.axpby(y, ad.tmpB, y, nTok * l.nOut, 1, ad.userScale * (ad.alpha ? ad.alpha / pair.rank : 1));
    }
    if (l.bias) P.addRow(y, l.bias, y, l.nOut, nTok);
  }

  /** Logits of `count` rows of the normalized hidden states a forward pass left in xn, from row `first`. */
  private project(first: number, count: number): void {
    const b = this.buf;
    const P = this.plan.reset();
    const prep: Prep = (type, x, nIn, nTok, act = b.act) => {
      if (type === GGML_F32) return x;
      P.prepAct(type, x, act, nIn, nTok);
      return act;
    };
    this.linearOps(P, this.output, b.xn + first * this.spec.nEmbd * 4, b.logits, count, prep);
    this.runPlan(P);
  }

  private runPlan(P: Plan): void {
    if (this.pool?.alive) this.pool.run(P.ptr, P.length);
    else this.kernels.run(P.ptr, P.length);
  }
}

/** Converts a matmul input to the activation format of weights of `type` (into `act`), returns where it is. */
type Prep = (type: number, x: number, nIn: number, nTok: number, act?: number) => number;

/** An engine dropped without dispose() stops its workers when it is collected. */
const disposeOnCollect = new FinalizationRegistry<ThreadPool>((pool) => pool.terminate());

/**
 * Below this many bytes of weights per layer (those a token multiplies by: the output matrix counts,
 * embedding tables do not), a model runs on one thread unless `threads` asks for more: its ops take
 * microseconds, and handing ~10 dependent ops per layer of a token from thread to thread costs more
 * than a second thread saves. Measured on 2 cores, decode speed with 2 threads over 1: 0.92× at 0.22 MiB
 * per layer (stories260K), 1.40× at 0.61 MiB, 1.47× at 1.3 MiB, 1.8–2.3× from 5 MiB up.
 */
export const MIN_LAYER_BYTES_FOR_THREADS = 512 << 10;

/**
 * How many threads: `threads` if given (else the cores available, for a model big enough to gain from
 * them), 1 where threads are not possible; with the reason.
 */
async function chooseThreads(options: EngineOptions, layerBytes: number): Promise<{ n: number; note: string; kind?: 'node' | 'web' }> {
  const asked = options.threads;
  if (asked !== undefined && (!Number.isInteger(asked) || asked < 1)) {
    throw new WasmlmError('BAD_ARGUMENT', `threads must be a positive integer, got ${asked}`);
  }
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

/** Plan ops for one batch: per layer at most ~40, plus 3 per adapted projection per adapter. */
function planCapacity(nLayer: number, adapters: number): number {
  return 32 + nLayer * (48 + adapters * 8 * 3);
}

function chooseContextLength(spec: ModelSpec, asked: number | undefined): number {
  const perToken = 2 * spec.nLayer * spec.nHeadKv * spec.headDim * 4;
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 1) {
      throw new WasmlmError('BAD_ARGUMENT', `contextLength must be a positive integer, got ${asked}`);
    }
    if (asked > spec.contextLength) {
      throw new WasmlmError('CONTEXT_TOO_LONG', `contextLength ${asked} is above the model's ${spec.contextLength}`);
    }
    return asked;
  }
  return Math.max(1, Math.min(spec.contextLength, Math.floor(DEFAULT_KV_BUDGET / perToken)));
}
