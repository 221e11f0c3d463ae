/**
 * The run state (run.c's RunState): the KV cache of every layer and the buffers one forward pass of a
 * batch works in, each placed in the memory layout with its shape. B = batch size (tokens per pass),
 * E = nEmbd, F = nFf, qDim = nHead·headDim, kvDim = nHeadKv·headDim; f32 unless said otherwise.
 */
import type { ModelSpec } from '../models/spec.js';
import type { Layout } from './memory.js';
import type { Weights } from './weights.js';
import type { KernelExports } from './wasm.js';

/** One layer's K and V cache. */
export interface LayerCache {
  /** [rows][kvDim] each */
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
}

/** Rows of the logits buffer: at most this many bytes (8 rows of a 32k vocabulary), at most the batch. */
export const LOGITS_BUDGET = 1 << 20;

export function logitRowsFor(spec: ModelSpec, batch: number, asked: number | undefined): number {
  return Math.max(1, Math.min(batch, asked ?? Math.floor(LOGITS_BUDGET / (spec.nVocab * 4))));
}

/** Place the caches and buffers for batches of `B` tokens, a context of `contextLength`, `threads` threads. */
export function placeState(spec: ModelSpec, weights: Weights, kernels: Pick<KernelExports, 'act_bytes' | 'moe_scratch_bytes'>,
  layout: Layout, B: number, contextLength: number, logitRows: number, threads: number): RunState {
  const { nEmbd: E, nFf: F, nVocab } = spec;
  const qDim = spec.nHead * spec.headDim;
  const kvDim = spec.nHeadKv * spec.headDim;

  // what the layers need at most: activation bytes, MoE scratch, experts, fused buffers
  let actBytes = 0;
  let moeBytes = 0;
  let maxExperts = 0;
  let upRows = F;
  let fusedQkv = false;
  for (const l of spec.layers) {
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
  actBytes = Math.max(actBytes, kernels.act_bytes(weights.fileType(spec.output.weight), E, logitRows));

  const layers = placeCaches(spec, layout, B, contextLength);
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
    logits: layout.alloc(logitRows * nVocab * 4),
    router: layout.alloc(B * Math.max(1, maxExperts) * 4),
    scores: 0,
    moe: 0,
  };
  const al64 = (n: number) => Math.ceil(n / 64) * 64;
  const scoreBytes = al64((maxCacheRows + B) * 4);
  const scratchStride = scoreBytes + al64(moeBytes);
  buf.scores = layout.alloc(scratchStride * threads);
  buf.moe = buf.scores + scoreBytes;
  return { layers, buf, scratchStride };
}

/** One sequence's KV cache (every layer's K and V) for batches of `B` tokens and a context of `contextLength`. */
export function placeCaches(spec: ModelSpec, layout: Layout, B: number, contextLength: number): LayerCache[] {
  const kvDim = spec.nHeadKv * spec.headDim;
  return spec.layers.map((l): LayerCache => {
    const window = l.attn.slidingWindow;
    const ring = window > 0 && window + B < contextLength ? window + B : 0;
    const rows = ring || contextLength;
    return { k: layout.alloc(rows * kvDim * 4), v: layout.alloc(rows * kvDim * 4), rows, ring, window };
  });
}

/** Bytes of the KV caches. */
export function kvCacheBytes(spec: ModelSpec, layers: LayerCache[]): number {
  const kvDim = spec.nHeadKv * spec.headDim;
  return layers.reduce((sum, l) => sum + 2 * l.rows * kvDim * 4, 0);
}
