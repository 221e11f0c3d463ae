/**
 * The forward pass of a batch as a plan, read from the ModelSpec top to bottom like run.c's forward():
 * embeddings, then per layer attention and feed-forward with the spec's residual kind, then the output
 * norm and projection. Weights are looked up by the spec's WeightRefs (Weights), the KV cache and buffers
 * are the RunState's; the plan builder keeps the activation cache.
 */
import type { AttentionSpec, Linear, LayerSpec, ModelSpec, NormSpec } from '../models/spec.js';
import { GLU_GELU, GLU_SILU, MOE_NORMALIZE, ROPE_NEOX, ROPE_NORMAL } from '../abi.js';
import type { Plan } from './plan.js';
import { KV_TYPES } from './options.js';
import { storeKV, wholeModel, type LayerCache, type LayerPart, type RunState } from './state.js';
import type { AdapterWeights, Weights } from './weights.js';

/** What a forward pass reads besides the plan. */
export interface Model {
  spec: ModelSpec;
  weights: Weights;
  state: RunState;
  adapters: readonly AdapterWeights[];
  /** the context length the KV cache holds (LongRoPE picks its factors by it) */
  contextLength: number;
  /** the layers (and ends) this memory holds: a shard's part of a sharded model (default: the whole model).
   *  A part without the embeddings starts from the residual stream the shard before it left in buf.x. */
  part?: LayerPart;
}

/** A sequence's part of a batch: `n` consecutive tokens of the batch, at positions pos0.. of its own KV cache. */
export interface Segment {
  cache: LayerCache[];
  n: number;
  pos0: number;
}

/**
 * A batch: n tokens (ids and positions already in buf.ids / buf.pos), one or more sequences' segments in
 * order (their n add up to the batch's). The matmuls run once over all rows; positions, the KV store and
 * attention are per segment, each over its own cache.
 */
export interface Batch {
  n: number;
  segments: Segment[];
  /** normalize (and project, unless `hidden`) the last `rows` tokens' states: 0 = none */
  rows: number;
  /** stop after the output norm: the hidden states stay in buf.xn */
  hidden: boolean;
}

/**
 * y = l(x) for nTok rows: the matmul (x in the weights' activation format), each adapter's LoRA delta,
 * the bias.
 */
export function linear(P: Plan, m: Model, l: Linear, x: number, y: number, nTok: number): void {
  const w = m.weights.get(l.weight);
  const [nIn, nOut] = l.weight.ne as [number, number];
  P.matmul({ type: w.type, w: w.ptr, act: P.activations(w.type, x, nIn, nTok, m.state.buf.act), y, nIn, nOut, nTok });
  for (const ad of m.adapters) {
    const pair = ad.pairs.get(l.weight.name);
    if (!pair) continue;
    const { a, b, rank } = pair;
    P.matmul({ type: a.type, w: a.ptr, act: P.activations(a.type, x, nIn, nTok, ad.act), y: ad.tmpA, nIn, nOut: rank, nTok });
    P.matmul({ type: b.type, w: b.ptr, act: P.activations(b.type, ad.tmpA, rank, nTok, ad.act), y: ad.tmpB, nIn: rank, nOut, nTok });
    P.axpby({ a: y, b: ad.tmpB, out: y, n: nTok * nOut, alpha: 1, beta: ad.userScale * (ad.alpha ? ad.alpha / rank : 1) });
  }
  if (l.bias) P.addRow({ x: y, row: m.weights.ptr(l.bias), out: y, n: nOut, nTok });
}

/**
 * RoPE on nTok rows of `heads` heads at x, positions pos0.., with layer `a`'s settings (its own base and scale,
 * Gemma 3's local layers, else the model's); nothing without RoPE. The one rope of the forward pass and of the
 * context shift. `rotateOnly`: no magnitude scale (YaRN's and LongRoPE's: a context shift turns keys that have it).
 */
export function ropeRows(P: Plan, m: Model, a: AttentionSpec, x: number, nTok: number, heads: number, pos0: number,
  rotateOnly = false): void {
  const pos = m.spec.positions;
  if (pos.kind !== 'rope') return;
  const { longrope, yarn } = pos;
  const freqScale = a.rope?.freqScale ?? pos.freqScale;
  const extFactor = yarn?.extFactor ?? 0;
  P.rope({
    x, nTok, nHead: heads, headDim: m.spec.headDim, nRot: pos.nRot, pos0, base: a.rope?.base ?? pos.base, freqScale,
    mode: pos.mode === 'neox' ? ROPE_NEOX : ROPE_NORMAL,
    // RoPE scaling: LLaMA 3's per-pair factors, LongRoPE's long or short factors, YaRN
    freqFactors: m.weights.ptr(longrope ? (m.contextLength > longrope.originalContext ? longrope.long : longrope.short) : pos.freqFactors),
    extFactor,
    // the kernel scales by attnFactor, and by 1 + 0.1·ln(1/freqScale) where extFactor ≠ 0: rotateOnly cancels both
    attnFactor: rotateOnly ? 1 / (extFactor !== 0 ? 1 + 0.1 * Math.log(1 / freqScale) : 1)
      : yarn?.attnFactor ?? longrope?.attnFactor ?? 1,
    corrLow: yarn?.corrLow ?? 0, corrHigh: yarn?.corrHigh ?? 0,
  });
}

/** The logits of nTok rows of normalised hidden states x: the output projection (then the final soft-cap). */
export function outputLogits(P: Plan, m: Model, x: number, nTok: number): void {
  const { spec: s, state: { buf } } = m;
  linear(P, m, s.output, x, buf.logits, nTok);
  if (s.finalSoftcap) P.softcap({ x: buf.logits, out: buf.logits, n: nTok * s.nVocab, cap: s.finalSoftcap });
}

/** The forward pass of `batch` into P. */
export function writeForward(P: Plan, m: Model, batch: Batch): void {
  const { spec: s, weights: W, state } = m;
  const b = state.buf;
  const { n } = batch;
  const { nEmbd: E, nHead, nHeadKv, headDim } = s;
  const qDim = nHead * headDim;
  const kvDim = nHeadKv * headDim;
  const eps = s.normEps;
  const pos = s.positions;

  // rows of the norm's width (E, or headDim for per-head norms)
  const norm = (nm: NormSpec, x: number, out: number, rows = n) => {
    const w = W.ptr(nm.weight);
    const width = nm.weight.ne[0]!;
    if (nm.kind === 'layer') P.layernorm({ x, w, b: W.ptr(nm.bias), out, n: width, nTok: rows, eps });
    else P.rmsnorm({ x, w, out, n: width, nTok: rows, eps });
  };

  const attention = (l: LayerSpec, layer: number, x: number, out: number) => {
    const a = l.attn;
    // q, k, v of the batch
    if (a.qkv) {
      linear(P, m, a.qkv, x, b.qkv, n);
      const w = qDim + 2 * kvDim;
      P.copyRows({ src: b.qkv, srcStride: w, dst: b.q, dstStride: qDim, n: qDim, nRows: n });
      P.copyRows({ src: b.qkv + qDim * 4, srcStride: w, dst: b.k, dstStride: kvDim, n: kvDim, nRows: n });
      P.copyRows({ src: b.qkv + (qDim + kvDim) * 4, srcStride: w, dst: b.v, dstStride: kvDim, n: kvDim, nRows: n });
    } else {
      linear(P, m, a.q!, x, b.q, n);
      linear(P, m, a.k!, x, b.k, n);
      linear(P, m, a.v!, x, b.v, n);
    }
    // per-head q/k norms (Qwen3, Gemma 3)
    if (a.qNorm) norm(a.qNorm, b.q, b.q, n * nHead);
    if (a.kNorm) norm(a.kNorm, b.k, b.k, n * nHeadKv);
    // per sequence: positions, its keys and values into its cache (of its type), attention over its cache
    let row = 0;
    for (const { cache, n: nTok, pos0 } of batch.segments) {
      const c = cache[layer]!;
      const [q, k, v, att] = [b.q + row * qDim * 4, b.k + row * kvDim * 4, b.v + row * kvDim * 4, b.att + row * qDim * 4];
      ropeRows(P, m, a, q, nTok, nHead, pos0);
      ropeRows(P, m, a, k, nTok, nHeadKv, pos0);
      storeKV(P, s, c, k, v, pos0, nTok);
      P.attention({
        q, kc: c.k, vc: c.v, out: att, nTok, pos0, nHead, nKvHead: nHeadKv, headDim, scale: s.kqScale,
        scratch: b.scores, window: c.window, maxBias: pos.kind === 'alibi' ? pos.maxBias : 0, ring: c.ring,
        kvType: KV_TYPES[c.type], softcap: s.attnSoftcap,
      });
      row += nTok;
    }
    linear(P, m, a.output, b.att, out, n);
    if (l.attnPostNorm) norm(l.attnPostNorm, out, out);
    if (l.attnScale) P.mulRow({ x: out, row: W.ptr(l.attnScale), out, n: E, nTok: n });
  };

  const feedForward = (l: LayerSpec, x: number, out: number) => {
    if (l.moe) {
      const e = l.moe;
      const [gate, up, down] = [W.get(e.gate), W.get(e.up), W.get(e.down)];
      linear(P, m, { weight: e.router }, x, b.router, n);
      P.moe({
        x, router: b.router, out, nTok: n, nExpert: e.nExpert, usedAndFlags: e.nUsed | (e.normalize ? MOE_NORMALIZE : 0),
        nEmbd: E, nFf: e.gate.ne[1]!, gate: gate.ptr, up: up.ptr, down: down.ptr,
        typeGate: gate.type, typeUp: up.type, typeDown: down.type, scratch: b.moe,
      });
    } else {
      const f = l.ffn!;
      const F = f.down.weight.ne[0]!;
      const act = f.act === 'gelu' ? GLU_GELU : GLU_SILU;
      if (f.kind !== 'glu') {
        // down(gelu(up·x))
        linear(P, m, f.up, x, b.up, n);
        P.gelu({ x: b.up, out: b.gate, n: n * F });
      } else if (f.fusedGateUp) {
        // up holds [gate; up] per row
        linear(P, m, f.up, x, b.up, n);
        P.glu({ a: b.up, b: b.up + F * 4, out: b.gate, n: F, nTok: n, aStride: 2 * F, bStride: 2 * F, act });
      } else {
        linear(P, m, f.gate!, x, b.gate, n);
        linear(P, m, f.up, x, b.up, n);
        P.glu({ a: b.gate, b: b.up, out: b.gate, n: F, nTok: n, aStride: F, bStride: F, act });
      }
      linear(P, m, f.down, b.gate, out, n);
    }
    if (l.ffnPostNorm) norm(l.ffnPostNorm, out, out);
    if (l.ffnScale) P.mulRow({ x: out, row: W.ptr(l.ffnScale), out, n: E, nTok: n });
  };

  const part = m.part ?? wholeModel(s);
  // embeddings: token rows (scaled), + learned positions, + an embedding norm
  if (part.embed) {
    const embd = W.get(s.tokenEmbd);
    P.getRows({ type: embd.type, table: embd.ptr, rowLen: E, ids: b.ids, nTok: n, out: b.x });
    if (s.embdScale !== 1) P.axpby({ a: b.x, b: 0, out: b.x, n: n * E, alpha: s.embdScale, beta: 0 });
    if (pos.kind === 'learned') {
      const pe = W.get(pos.weight);
      P.getRows({ type: pe.type, table: pe.ptr, rowLen: E, ids: b.pos, nTok: n, out: b.tmp });
      P.add({ a: b.x, b: b.tmp, out: b.x, n: n * E });
    }
    if (s.embdNorm) norm(s.embdNorm, b.x, b.x);
  }

  s.layers.slice(part.from, part.to).forEach((l, i) => {
    const c = part.from + i;
    if (s.residual === 'deepnorm') {
      // x = norm(α·x + attn(x)); x = norm(α·x + ffn(x))
      attention(l, c, b.x, b.tmp);
      P.axpby({ a: b.x, b: b.tmp, out: b.x, n: n * E, alpha: s.deepnormAlpha, beta: 1 });
      norm(l.attnNorm, b.x, b.x);
      feedForward(l, b.x, b.tmp);
      P.axpby({ a: b.x, b: b.tmp, out: b.x, n: n * E, alpha: s.deepnormAlpha, beta: 1 });
      norm(l.ffnNorm!, b.x, b.x);
    } else if (s.residual === 'parallel') {
      // x += attn(norm(x)) + ffn(norm'(x))   (one norm: the FFN reads the attention's input)
      norm(l.attnNorm, b.x, b.xn);
      attention(l, c, b.xn, b.tmp);
      if (l.ffnNorm) norm(l.ffnNorm, b.x, b.xn);
      feedForward(l, b.xn, b.tmp2);
      P.add({ a: b.x, b: b.tmp, out: b.x, n: n * E });
      P.add({ a: b.x, b: b.tmp2, out: b.x, n: n * E });
    } else {
      // x += attn(norm(x)); x += ffn(norm(x))
      norm(l.attnNorm, b.x, b.xn);
      attention(l, c, b.xn, b.tmp);
      P.add({ a: b.x, b: b.tmp, out: b.x, n: n * E });
      norm(l.ffnNorm!, b.x, b.xn);
      feedForward(l, b.xn, b.tmp);
      P.add({ a: b.x, b: b.tmp, out: b.x, n: n * E });
    }
  });

  // the output norm and projection of the last `rows` tokens
  if (part.head && batch.rows > 0) {
    norm(s.outputNorm, b.x + (n - batch.rows) * E * 4, b.xn, batch.rows);
    if (!batch.hidden) outputLogits(P, m, b.xn, batch.rows);
  }
}
