/**
 * The engine: one wasm memory holding the weights, a KV cache and the scratch buffers of a batch;
 * `evaluate` writes the forward pass of a batch of tokens as one plan and runs it inside wasm.
 */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader, GGUFTensorInfo } from '../formats/gguf.js';
import type { ByteStream } from '../formats/source.js';
import type { ModelSpec, WeightRef } from '../models/spec.js';
import { specWeights } from '../models/spec.js';
import { GGML_F32, ROPE_NEOX, ROPE_NORMAL } from './abi.js';
import { createMemory, Layout, Views } from './memory.js';
import { Plan } from './plan.js';
import { instantiateKernels, kernelModule, RESERVED_BYTES, type KernelExports } from './wasm.js';

export interface EngineOptions {
  /** tokens in the KV cache; default: the model's, capped to fit `kvBudgetBytes` */
  contextLength?: number;
  /** tokens evaluated per forward pass (prompt chunks); default 128 */
  batchSize?: number;
  /** a precompiled kernel module (edge runtimes) */
  wasmModule?: WebAssembly.Module;
}

/** The KV cache takes at most this much memory when contextLength is not given. */
export const DEFAULT_KV_BUDGET = 1 << 30;
/** The logits buffer takes at most this much (rows × vocab × 4 bytes). */
const LOGITS_BUDGET = 32 << 20;

interface Weight {
  ptr: number;
  type: number;
}

interface LayerWeights {
  attnNorm: number;
  wq: Weight; wk: Weight; wv: Weight; wo: Weight;
  ffnNorm: number;
  gate: Weight; up: Weight; down: Weight;
  /** K and V cache of this layer: [contextLength][nHeadKv·headDim] f32 */
  kCache: number;
  vCache: number;
}

export class Engine {
  readonly contextLength: number;
  readonly batchSize: number;
  /** rows of logits one pass can return */
  readonly logitRows: number;
  readonly memoryBytes: number;
  /** tokens whose keys and values are in the cache, in order */
  readonly cached: number[] = [];

  private readonly views: Views;
  private readonly plan: Plan;
  private kernels!: KernelExports;
  private readonly layers: LayerWeights[];
  private readonly embd: Weight;
  private readonly outNorm: number;
  private readonly output: Weight;
  private readonly buf: {
    ids: number; x: number; xn: number; q: number; att: number; tmp: number;
    gate: number; up: number; act: number; scores: number; logits: number;
  };

  private constructor(readonly spec: ModelSpec, private readonly tensors: Map<string, GGUFTensorInfo>,
    private readonly weightPtrs: Map<string, number>, layout: Layout, kvPtrs: number[],
    buf: Engine['buf'], planPtr: number, planOps: number, contextLength: number, batchSize: number, logitRows: number) {
    this.contextLength = contextLength;
    this.batchSize = batchSize;
    this.logitRows = logitRows;
    this.memoryBytes = layout.size;
    this.views = new Views(createMemory(layout.size, `model '${spec.name || spec.arch}'`));
    this.plan = new Plan(this.views, planPtr, planOps);
    this.buf = buf;
    const w = (ref: WeightRef): Weight => ({ ptr: weightPtrs.get(ref.name)!, type: tensors.get(ref.name)!.type });
    this.embd = w(spec.tokenEmbd);
    this.outNorm = w(spec.outputNorm.weight).ptr;
    this.output = w(spec.output);
    this.layers = spec.layers.map((l, i) => ({
      attnNorm: w(l.attnNorm.weight).ptr,
      wq: w(l.attn.wq), wk: w(l.attn.wk), wv: w(l.attn.wv), wo: w(l.attn.wo),
      ffnNorm: w(l.ffnNorm.weight).ptr,
      gate: w(l.ffn.gate), up: w(l.ffn.up), down: w(l.ffn.down),
      kCache: kvPtrs[2 * i]!,
      vCache: kvPtrs[2 * i + 1]!,
    }));
  }

  /**
   * Plan the memory, check it fits, then stream the weights from `stream` (positioned right after
   * the GGUF header) straight into wasm memory.
   */
  static async load(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, header: GGUFHeader,
    stream: ByteStream, options: EngineOptions = {}): Promise<Engine> {
    const module = kernelModule(options.wasmModule);
    const contextLength = chooseContextLength(spec, options.contextLength);
    const batchSize = options.batchSize ?? 128;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new WasmlmError('BAD_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`);
    }
    const { nEmbd: E, nFf: F, nLayer, nVocab } = spec;
    const qDim = spec.nHead * spec.headDim;
    const kvDim = spec.nHeadKv * spec.headDim;
    const logitRows = Math.max(1, Math.min(batchSize, Math.floor(LOGITS_BUDGET / (nVocab * 4))));

    const kernelsForSizing = await instantiateKernels(await module, new WebAssembly.Memory({ initial: 2, maximum: 65536 }));
    const layout = new Layout(RESERVED_BYTES);
    const weightPtrs = new Map<string, number>();
    for (const ref of specWeights(spec)) weightPtrs.set(ref.name, layout.alloc(tensors.get(ref.name)!.nBytes));
    const kvPtrs: number[] = [];
    for (let i = 0; i < nLayer; i++) {
      kvPtrs.push(layout.alloc(contextLength * kvDim * 4), layout.alloc(contextLength * kvDim * 4));
    }
    let actBytes = 0;
    for (const ref of specWeights(spec)) {
      if (ref.ne.length !== 2) continue;
      const t = tensors.get(ref.name)!;
      actBytes = Math.max(actBytes, kernelsForSizing.act_bytes(t.type, ref.ne[0]!, batchSize));
    }
    const B = batchSize;
    const buf = {
      ids: layout.alloc(B * 4),
      x: layout.alloc(B * E * 4),
      xn: layout.alloc(B * Math.max(E, qDim) * 4),
      q: layout.alloc(B * qDim * 4),
      att: layout.alloc(B * qDim * 4),
      tmp: layout.alloc(B * E * 4),
      gate: layout.alloc(B * F * 4),
      up: layout.alloc(B * F * 4),
      act: layout.alloc(actBytes),
      scores: layout.alloc(contextLength * 4),
      logits: layout.alloc(logitRows * nVocab * 4),
    };
    const planOps = 16 + nLayer * 24;
    const planPtr = layout.alloc(planOps * 64);

    const engine = new Engine(spec, tensors, weightPtrs, layout, kvPtrs, buf, planPtr, planOps,
      contextLength, batchSize, logitRows);
    engine.kernels = await instantiateKernels(await module, engine.views.memory);
    await engine.readWeights(header, stream);
    return engine;
  }

  private async readWeights(header: GGUFHeader, stream: ByteStream): Promise<void> {
    const order = [...this.weightPtrs.keys()].map((name) => this.tensors.get(name)!).sort((a, b) => a.offset - b.offset);
    for (const t of order) {
      const at = header.dataOffset + t.offset;
      if (at < stream.position) throw new WasmlmError('BAD_FORMAT', `tensor '${t.name}' overlaps the tensor before it`);
      await stream.skip(at - stream.position);
      const ptr = this.weightPtrs.get(t.name)!;
      await stream.readInto(this.views.u8.subarray(ptr, ptr + t.nBytes));
    }
  }

  /** Forget the cache from position `keep` on. */
  truncate(keep: number): void {
    this.cached.length = Math.min(this.cached.length, keep);
  }

  /**
   * Evaluate `ids` after the cached tokens. Returns the logits of the last token, or of every
   * token when `all` (then `onRows(first, rows)` receives each batch's rows as a view into memory).
   */
  evaluate(ids: ArrayLike<number>, all = false, onRows?: (first: number, rows: Float32Array[]) => void): Float32Array {
    const n = ids.length;
    if (n === 0) throw new WasmlmError('EMPTY_PROMPT', 'nothing to evaluate: no tokens');
    if (this.cached.length + n > this.contextLength) {
      throw new WasmlmError('CONTEXT_FULL',
        `the context holds ${this.contextLength} tokens: ${this.cached.length} cached + ${n} new do not fit`);
    }
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.spec.nVocab) {
        throw new WasmlmError('TOKEN_OUT_OF_RANGE', `token id ${id} at index ${i} is outside the vocabulary (0..${this.spec.nVocab - 1})`);
      }
    }
    const step = all ? Math.min(this.batchSize, this.logitRows) : this.batchSize;
    const V = this.spec.nVocab;
    const base = this.buf.logits >>> 2;
    let last = 0;
    for (let i = 0; i < n; i += step) {
      const end = Math.min(n, i + step);
      const rows = all ? end - i : end === n ? 1 : 0;
      this.forward(ids, i, end, rows);
      if (rows > 0) {
        last = rows - 1;
        if (onRows) {
          const f32 = this.views.f32;
          onRows(i, Array.from({ length: rows }, (_, r) => f32.subarray(base + r * V, base + (r + 1) * V)));
        }
      }
    }
    return this.views.f32.subarray(base + last * V, base + (last + 1) * V);
  }

  /** One batch: tokens ids[from, to) at positions cached.length.., logits for the last `rows` of them. */
  private forward(ids: ArrayLike<number>, from: number, to: number, rows: number): void {
    const s = this.spec;
    const { nEmbd: E, nFf: F, nHead, nHeadKv, headDim } = s;
    const qDim = nHead * headDim;
    const kvDim = nHeadKv * headDim;
    const n = to - from;
    const pos0 = this.cached.length;
    const b = this.buf;
    const P = this.plan.reset();
    const i32 = this.views.i32;
    for (let i = 0; i < n; i++) i32[(b.ids >>> 2) + i] = ids[from + i]!;

    // act holds `prepared` = the matmul input converted for weights of type `preparedType`
    let prepared = -1;
    let preparedType = -1;
    const matmul = (w: Weight, x: number, y: number, nIn: number, nOut: number, nTok: number) => {
      let act = x;
      if (w.type !== GGML_F32) {
        if (prepared !== x || preparedType !== w.type) P.prepAct(w.type, x, b.act, nIn, nTok);
        prepared = x;
        preparedType = w.type;
        act = b.act;
      }
      P.matmul(w.type, w.ptr, act, y, nIn, nOut, nTok);
    };
    const written = (buffer: number) => { if (buffer === prepared) prepared = -1; };
    const rope = s.rope;
    const ropeMode = rope.mode === 'neox' ? ROPE_NEOX : ROPE_NORMAL;

    P.getRows(this.embd.type, this.embd.ptr, E, b.ids, n, b.x);
    for (const L of this.layers) {
      // attention
      P.rmsnorm(b.x, L.attnNorm, b.xn, E, n, s.normEps); written(b.xn);
      const k = L.kCache + pos0 * kvDim * 4;
      const v = L.vCache + pos0 * kvDim * 4;
      matmul(L.wq, b.xn, b.q, E, qDim, n);
      matmul(L.wk, b.xn, k, E, kvDim, n);
      matmul(L.wv, b.xn, v, E, kvDim, n);
      P.rope(b.q, n, nHead, headDim, rope.nRot, pos0, rope.base, rope.freqScale, ropeMode);
      P.rope(k, n, nHeadKv, headDim, rope.nRot, pos0, rope.base, rope.freqScale, ropeMode);
      P.attention(b.q, L.kCache, L.vCache, b.att, n, pos0, nHead, nHeadKv, headDim,
        1 / Math.sqrt(headDim), b.scores, 0); written(b.att);
      matmul(L.wo, b.att, b.tmp, qDim, E, n);
      P.add(b.x, b.tmp, b.x, n * E);
      // feed-forward
      P.rmsnorm(b.x, L.ffnNorm, b.xn, E, n, s.normEps); written(b.xn);
      matmul(L.gate, b.xn, b.gate, E, F, n);
      matmul(L.up, b.xn, b.up, E, F, n);
      P.siluMul(b.gate, b.up, b.gate, n * F); written(b.gate);
      matmul(L.down, b.gate, b.tmp, F, E, n);
      P.add(b.x, b.tmp, b.x, n * E);
    }
    if (rows > 0) {
      const from = b.x + (n - rows) * E * 4;
      P.rmsnorm(from, this.outNorm, b.xn, E, rows, s.normEps); written(b.xn);
      matmul(this.output, b.xn, b.logits, E, s.nVocab, rows);
    }
    this.kernels.run(P.ptr, P.length);
    for (let i = from; i < to; i++) this.cached.push(ids[i]!);
  }
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
