/**
 * The run state (run.c's RunState): the KV cache of every layer and the buffers one forward pass of a
 * batch works in, each placed in the memory layout with its shape. B = batch size (tokens per pass),
 * E = nEmbd, F = nFf, qDim = nHead·headDim, kvDim = nHeadKv·headDim; f32 unless said otherwise.
 */
import { ATTN_FUSE_HEADS, ATTN_FUSE_MIN_LEN, ATTN_TILE, GGML_F32 } from '../abi.js';
import type { ModelSpec } from '../models/spec.js';
import type { Layout } from './memory.js';
import { KV_TYPES, kvRowBytes, type KvType } from './options.js';
import type { Plan } from './plan.js';
import type { Weights } from './weights.js';
import type { KernelExports } from './wasm.js';

/** One layer's K and V cache. */
export interface LayerCache {
  /** the element type of its rows (cacheRowBytes bytes each: OP_KV_CONVERT's layout, src/abi.ts) */
  type: KvType;
  /** [rows] rows each */
  k: number;
  v: number;
  /** the context length, or a ring of window + B rows */
  rows: number;
  /** > 0: a ring of this many rows (position j in row j % ring); 0: row j is position j */
  ring: number;
  /** keys further back than this many positions are masked (0: none) */
  window: number;
}

export interface Buffers {
  /** i32 [B]: the batch's token ids */
  ids: number;
  /** i32 [B]: their positions (learned position embeddings) */
  pos: number;
  /** [B][E]: the residual stream */
  x: number;
  /** [B][max(E, qDim)]: a normalized x (a block's input; after the output norm, the hidden states) */
  xn: number;
  /** [B][qDim], [B][kvDim], [B][kvDim]: queries, keys, values of the batch */
  q: number;
  k: number;
  v: number;
  /** [B][qDim + 2·kvDim]: the fused projection's output (0: no layer fuses q, k, v) */
  qkv: number;
  /** [B][qDim]: attention output */
  att: number;
  /** [B][E] each: branch outputs (attention; the FFN's in parallel blocks) and embeddings */
  tmp: number;
  tmp2: number;
  /** [B][F]: FFN hidden (gate, then act(gate) ⊙ up) */
  gate: number;
  /** [B][F], or [B][2F] when a layer fuses gate and up */
  up: number;
  /** matmul inputs in the weights' activation format: the largest act_bytes of any projection */
  act: number;
  /** [logitRows][nVocab] */
  logits: number;
  /** [B][max nExpert]: router logits */
  router: number;
  /** per-thread scratch, `scratchStride` bytes apart: attention scores [cache rows + B], then MoE buffers */
  scores: number;
  moe: number;
}

export interface RunState {
  layers: LayerCache[];
  buf: Buffers;
  /** bytes between the per-thread copies of the scratch (scores, moe) */
  scratchStride: number;
  /** f32 rows for withF32Rows over any typed cache, the default one or a session's (f32RowsTmpBytes); 0 while
   *  every cache is f32 (Engine.createCache places it for a session's typed cache) */
  kvTmp: number;
}

/** Rows of the logits buffer: at most this many bytes (8 rows of a 32k vocabulary), at most the batch. */
export const LOGITS_BUDGET = 1 << 20;

export function logitRowsFor(spec: ModelSpec, batch: number, asked: number | undefined): number {
  return Math.max(1, Math.min(batch, asked ?? Math.floor(LOGITS_BUDGET / (spec.nVocab * 4))));
}

/** Bytes of one row (a position's keys, or values) of a layer's cache. */
export function cacheRowBytes(spec: ModelSpec, c: Pick<LayerCache, 'type'>): number {
  return kvRowBytes(c.type, spec.nHeadKv, spec.headDim);
}

/** Bytes of one thread's attention scratch over caches of at most `rows` rows for batches of B tokens, of any
 *  KV type (a session may choose its own): a typed cache's needs the most (the scores of the heads that share a
 *  KV head, then the dequantized tiles: src/abi.ts ATTENTION_KV_TYPE); an f32 cache's are the first (rows + B)·4. */
export function attentionScratchBytes(spec: ModelSpec, rows: number, B: number): number {
  const hd = spec.headDim;
  const fuseLen = Math.max(ATTN_FUSE_MIN_LEN, ATTN_FUSE_HEADS * (hd + ATTN_TILE + 2));
  return al64(Math.max(rows + B, ATTN_FUSE_HEADS * fuseLen) * 4 + 16 + 2 * ATTN_TILE * hd * 4);
}

const al64 = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Keys and values of a batch (n rows of kvDim f32 at k and v, positions pos0..) into the cache rows of a
 * layer (a ring wraps at c.ring), converted to the cache's type.
 */
export function storeKV(P: Plan, spec: ModelSpec, c: LayerCache, k: number, v: number, pos0: number, n: number): void {
  const kvDim = spec.nHeadKv * spec.headDim;
  const rowBytes = cacheRowBytes(spec, c);
  const start = c.ring ? pos0 % c.ring : pos0;
  const first = c.ring ? Math.min(n, c.ring - start) : n;
  const store = (src: number, dst: number, nRows: number) => P.kvConvert({
    src, srcType: GGML_F32, dst, dstType: KV_TYPES[c.type], headDim: spec.headDim, nHead: spec.nHeadKv, nRows,
  });
  for (const [src, cache] of [[k, c.k], [v, c.v]] as const) {
    store(src, cache + start * rowBytes, first);
    if (first < n) store(src + first * kvDim * 4, cache, n - first);
  }
}

/** Rows of a typed cache converted to f32 at a time by withF32Rows. */
export const F32_ROWS_CHUNK = 1024;

/** Bytes of withF32Rows's `tmp` for caches of at most `rows` rows (0 when the type is f32). */
export function f32RowsTmpBytes(spec: ModelSpec, rows: number, type: KvType): number {
  return type === 'f32' ? 0 : Math.min(rows, F32_ROWS_CHUNK) * spec.nHeadKv * spec.headDim * 4;
}

/**
 * Work on cache rows [row0, row0 + nRows) of `cache` (a layer's c.k or c.v) as f32 rows of kvDim floats, in
 * place: `f(rows, n)` writes the ops that change n f32 rows at `rows` (the context shift's rope). An f32
 * cache is handed over as it is (one call); a typed one F32_ROWS_CHUNK rows at a time: dequantized into
 * `tmp` (f32RowsTmpBytes: RunState.kvTmp, shared by every cache), f, requantized into the cache (3 ops +
 * f's per chunk).
 */
export function withF32Rows(P: Plan, spec: ModelSpec, c: LayerCache, cache: number, row0: number, nRows: number, tmp: number,
  f: (rows: number, n: number) => void): void {
  const rowBytes = cacheRowBytes(spec, c);
  if (c.type === 'f32') {
    f(cache + row0 * rowBytes, nRows);
    return;
  }
  const type = KV_TYPES[c.type], headDim = spec.headDim, nHead = spec.nHeadKv;
  for (let r = row0; r < row0 + nRows; r += F32_ROWS_CHUNK) {
    const n = Math.min(F32_ROWS_CHUNK, row0 + nRows - r);
    const rows = cache + r * rowBytes;
    P.kvConvert({ src: rows, srcType: type, dst: tmp, dstType: GGML_F32, headDim, nHead, nRows: n });
    f(tmp, n);
    P.kvConvert({ src: tmp, srcType: GGML_F32, dst: rows, dstType: type, headDim, nHead, nRows: n });
  }
}

/** Layers [from, to) of a model, with its token embeddings (`embed`) and its output norm and head (`head`): what
 *  one shard of a sharded engine holds (engine.ts); the whole model is { 0, nLayer, true, true }. */
export interface LayerPart {
  from: number;
  to: number;
  embed: boolean;
  head: boolean;
}

export function wholeModel(spec: ModelSpec): LayerPart {
  return { from: 0, to: spec.nLayer, embed: true, head: true };
}

/**
 * Place the caches (of `kvType`) of the layers of `part` and the buffers for batches of `B` tokens, a context
 * of `contextLength`, `threads` threads.
 */
export function placeState(spec: ModelSpec, weights: Weights, kernels: Pick<KernelExports, 'act_bytes' | 'moe_scratch_bytes'>,
  layout: Layout, B: number, contextLength: number, logitRows: number, threads: number, kvType: KvType,
  part: LayerPart = wholeModel(spec)): RunState {
  const { nEmbd: E, nFf: F, nVocab } = spec;
  const qDim = spec.nHead * spec.headDim;
  const kvDim = spec.nHeadKv * spec.headDim;

  // what the layers need at most: activation bytes, MoE scratch, experts, fused buffers
  let actBytes = 0;
  let moeBytes = 0;
  let maxExperts = 0;
  let upRows = F;
  let fusedQkv = false;
  for (const l of spec.layers.slice(part.from, part.to)) {
    for (const lin of [l.attn.q, l.attn.k, l.attn.v, l.attn.qkv, l.attn.output, l.ffn?.gate, l.ffn?.up, l.ffn?.down, l.moe && { weight: l.moe.router }]) {
      if (lin) actBytes = Math.max(actBytes, kernels.act_bytes(weights.fileType(lin.weight), lin.weight.ne[0]!, B));
    }
    if (l.attn.qkv) fusedQkv = true;
    if (l.ffn?.fusedGateUp) upRows = 2 * F;
    if (l.moe) {
      const m = l.moe;
      maxExperts = Math.max(maxExperts, m.nExpert);
      moeBytes = Math.max(moeBytes, kernels.moe_scratch_bytes(m.nExpert, E, m.gate.ne[1]!,
        weights.fileType(m.gate), weights.fileType(m.up), weights.fileType(m.down)));
    }
  }
  if (part.head) actBytes = Math.max(actBytes, kernels.act_bytes(weights.fileType(spec.output.weight), E, logitRows));

  const layers = placeCaches(spec, layout, B, contextLength, kvType, part);
  const maxCacheRows = Math.max(0, ...layers.map((l) => l.rows));
  const buf: Buffers = {
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
    logits: part.head ? layout.alloc(logitRows * nVocab * 4) : 0,
    router: layout.alloc(B * Math.max(1, maxExperts) * 4),
    scores: 0,
    moe: 0,
  };
  const scoreBytes = attentionScratchBytes(spec, maxCacheRows, B);
  const scratchStride = scoreBytes + al64(moeBytes);
  buf.scores = layout.alloc(scratchStride * threads);
  buf.moe = buf.scores + scoreBytes;
  const kvTmp = kvType === 'f32' ? 0 : layout.alloc(f32RowsTmpBytes(spec, maxCacheRows, kvType));
  return { layers, buf, scratchStride, kvTmp };
}

/** One sequence's KV cache (the K and V of every layer of `part`, rows of `kvType`) for batches of `B` tokens and a
 *  context of `contextLength`. */
export function placeCaches(spec: ModelSpec, layout: Layout, B: number, contextLength: number, kvType: KvType,
  part: LayerPart = wholeModel(spec)): LayerCache[] {
  const rowBytes = kvRowBytes(kvType, spec.nHeadKv, spec.headDim);
  return spec.layers.slice(part.from, part.to).map((l): LayerCache => {
    const window = l.attn.slidingWindow;
    const ring = window > 0 && window + B < contextLength ? window + B : 0;
    const rows = ring || contextLength;
    return { type: kvType, k: layout.alloc(rows * rowBytes), v: layout.alloc(rows * rowBytes), rows, ring, window };
  });
}

/** Bytes of the KV caches. */
export function kvCacheBytes(spec: ModelSpec, layers: LayerCache[]): number {
  return layers.reduce((sum, l) => sum + 2 * l.rows * cacheRowBytes(spec, l), 0);
}
