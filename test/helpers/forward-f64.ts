/**
 * The loss of a LoRA-adapted model in float64, for any ModelSpec training supports (test/train-families.test.ts
 * differentiates it by central differences): embeddings (scaled, + learned positions, normalised), per layer
 * RMSNorm / LayerNorm, q/k/v or fused qkv (+ biases, + LoRA), per-head q/k norms, RoPE (normal / neox, partial,
 * the layer's own base), causal GQA attention (soft-capped scores, ALiBi, sliding window), sandwich norms,
 * LayerScale, sequential or parallel residuals, SwiGLU / GeGLU / plain GELU (the smooth tanh form) / fused
 * gate-up; the output norm, projection and soft-cap; the masked cross-entropy. Written from the ModelSpec's
 * documented semantics (src/models/spec.ts, the fixtures' README), independently of src/train/plan.ts.
 */
import type { AttentionSpec, Linear, ModelSpec, NormSpec, WeightRef } from '../../src/models/spec.js';
import type { TrainingAccess } from '../../src/train/access.js';
import { attentionF64 } from './attention-f64.js';

/** A LoRA pair in float64: A [r][nIn], B [nOut][r], the scale s of y = W·x + s·B·(A·x). */
export interface Pair64 { a: Float64Array; b: Float64Array; r: number }

export class Forward64 {
  private readonly cache = new Map<string, Float64Array>();
  constructor(private readonly spec: ModelSpec, private readonly access: TrainingAccess) {}

  /** A weight's values (rows dequantized by the kernels' get_rows: exact), as float64. */
  private w(ref: WeightRef): Float64Array {
    let v = this.cache.get(ref.name);
    if (v) return v;
    const nIn = ref.ne[0]!, nOut = ref.ne.slice(1).reduce((a, b) => a * b, 1);
    const at = this.access.scratch((nOut + nOut * nIn) * 4 + 64);
    const i32 = this.access.views.i32;
    for (let o = 0; o < nOut; o++) i32[(at >>> 2) + o] = o;
    const w = this.access.weights.get(ref);
    this.access.kernels.get_rows(w.type, w.ptr, nIn, at, nOut, at + nOut * 4);
    v = Float64Array.from(this.access.views.f32.subarray((at >>> 2) + nOut, (at >>> 2) + nOut + nOut * nIn));
    this.cache.set(ref.name, v);
    return v;
  }

  private norm(nm: NormSpec, x: Float64Array, n: number): Float64Array {
    const w = this.w(nm.weight), b = nm.bias ? this.w(nm.bias) : undefined, eps = this.spec.normEps;
    const out = new Float64Array(x.length);
    for (let o = 0; o < x.length; o += n) {
      let mean = 0, v = 0;
      if (nm.kind === 'layer') {
        for (let i = 0; i < n; i++) mean += x[o + i]!;
        mean /= n;
      }
      for (let i = 0; i < n; i++) v += (x[o + i]! - mean) ** 2;
      const r = 1 / Math.sqrt(v / n + eps);
      for (let i = 0; i < n; i++) out[o + i] = (x[o + i]! - mean) * r * w[i]! + (b ? b[i]! : 0);
    }
    return out;
  }

  private linear(l: Linear, x: Float64Array, T: number, pairs: Map<string, Pair64>, scale: number): Float64Array {
    const [nIn, nOut] = l.weight.ne as [number, number];
    const W = this.w(l.weight), bias = l.bias ? this.w(l.bias) : undefined, p = pairs.get(l.weight.name);
    const y = new Float64Array(T * nOut);
    const u = new Float64Array(p ? p.r : 0);
    for (let t = 0; t < T; t++) {
      const xo = t * nIn;
      if (p) {
        for (let k = 0; k < p.r; k++) { let s = 0; for (let i = 0; i < nIn; i++) s += p.a[k * nIn + i]! * x[xo + i]!; u[k] = s; }
      }
      for (let o = 0; o < nOut; o++) {
        let s = bias ? bias[o]! : 0;
        for (let i = 0; i < nIn; i++) s += W[o * nIn + i]! * x[xo + i]!;
        if (p) for (let k = 0; k < p.r; k++) s += scale * p.b[o * p.r + k]! * u[k]!;
        y[t * nOut + o] = s;
      }
    }
    return y;
  }

  private rope(a: AttentionSpec, x: Float64Array, T: number, heads: number): void {
    const pos = this.spec.positions;
    if (pos.kind !== 'rope') return;
    const hd = this.spec.headDim, half = pos.nRot / 2;
    const base = a.rope?.base ?? pos.base, fs = a.rope?.freqScale ?? pos.freqScale;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < half; i++) {
        const th = t * fs * base ** (-2 * i / pos.nRot), c = Math.cos(th), s = Math.sin(th);
        for (let h = 0; h < heads; h++) {
          const o = (t * heads + h) * hd;
          const [i0, i1] = pos.mode === 'neox' ? [o + i, o + i + half] : [o + 2 * i, o + 2 * i + 1];
          const x0 = x[i0]!, x1 = x[i1]!;
          x[i0] = x0 * c - x1 * s;
          x[i1] = x0 * s + x1 * c;
        }
      }
    }
  }

  private attention(a: AttentionSpec, q: Float64Array, k: Float64Array, v: Float64Array, T: number): Float64Array {
    const s = this.spec, H = s.nHead, pos = s.positions;
    const n2 = 2 ** Math.floor(Math.log2(H));
    // ALiBi's slopes (the fixtures' README)
    const slope = pos.kind !== 'alibi' ? undefined
      : (h: number) => h < n2 ? (2 ** (-pos.maxBias / n2)) ** (h + 1) : (2 ** (-pos.maxBias / 2 / n2)) ** (2 * (h - n2) + 1);
    return attentionF64(q, k, v, T, 0, H, s.nHeadKv, s.headDim, s.kqScale, a.slidingWindow, { cap: s.attnSoftcap, slope });
  }

  /** The sum of the masked rows' cross-entropies of one sequence (mask[p]: row p predicts tokens[p + 1]). */
  loss(tokens: number[], mask: number[], pairs: Map<string, Pair64>, scale: number): number {
    const s = this.spec, T = tokens.length, E = s.nEmbd, hd = s.headDim, Q = s.nHead * hd, K = s.nHeadKv * hd;
    const lin = (l: Linear, x: Float64Array) => this.linear(l, x, T, pairs, scale);
    const add = (a: Float64Array, b: Float64Array) => a.map((x, i) => x + b[i]!);
    const emb = this.w(s.tokenEmbd);
    let x: Float64Array = new Float64Array(T * E);
    tokens.forEach((id, t) => { for (let i = 0; i < E; i++) x[t * E + i] = emb[id * E + i]! * s.embdScale; });
    if (s.positions.kind === 'learned') x = add(x, this.w(s.positions.weight).subarray(0, T * E));
    if (s.embdNorm) x = this.norm(s.embdNorm, x, E);
    const branch = (y: Float64Array, post?: NormSpec, gain?: WeightRef) => {
      let out = post ? this.norm(post, y, E) : y;
      if (gain) { const g = this.w(gain); out = out.map((v, i) => v * g[i % E]!); }
      return out;
    };
    for (const l of s.layers) {
      const a = l.attn, f = l.ffn!;
      const xn = this.norm(l.attnNorm, x, E);
      let q: Float64Array, k: Float64Array, v: Float64Array;
      if (a.qkv) {
        const qkv = lin(a.qkv, xn), w = Q + 2 * K;
        q = new Float64Array(T * Q); k = new Float64Array(T * K); v = new Float64Array(T * K);
        for (let t = 0; t < T; t++) {
          q.set(qkv.subarray(t * w, t * w + Q), t * Q);
          k.set(qkv.subarray(t * w + Q, t * w + Q + K), t * K);
          v.set(qkv.subarray(t * w + Q + K, t * w + w), t * K);
        }
      } else [q, k, v] = [lin(a.q!, xn), lin(a.k!, xn), lin(a.v!, xn)];
      if (a.qNorm) q = this.norm(a.qNorm, q, hd);
      if (a.kNorm) k = this.norm(a.kNorm, k, hd);
      this.rope(a, q, T, s.nHead);
      this.rope(a, k, T, s.nHeadKv);
      const ao = branch(lin(a.output, this.attention(a, q, k, v, T)), l.attnPostNorm, l.attnScale);
      const ffn = (inp: Float64Array) => {
        const F = f.down.weight.ne[0]!;
        const act = (z: number) => f.act === 'silu' ? z / (1 + Math.exp(-z))
          : 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * z * (1 + 0.044715 * z * z)));
        let h: Float64Array;
        if (f.kind === 'plain') h = lin(f.up, inp).map(act);
        else {
          let g: Float64Array, u: Float64Array;
          if (f.fusedGateUp) {
            const gu = lin(f.up, inp);
            g = new Float64Array(T * F); u = new Float64Array(T * F);
            for (let t = 0; t < T; t++) { g.set(gu.subarray(2 * t * F, 2 * t * F + F), t * F); u.set(gu.subarray(2 * t * F + F, 2 * t * F + 2 * F), t * F); }
          } else [g, u] = [lin(f.gate!, inp), lin(f.up, inp)];
          h = g.map((z, i) => act(z) * u[i]!);
        }
        return branch(lin(f.down, h), l.ffnPostNorm, l.ffnScale);
      };
      if (s.residual === 'parallel') x = add(add(x, ao), ffn(l.ffnNorm ? this.norm(l.ffnNorm, x, E) : xn));
      else {
        const x2 = add(x, ao);
        x = add(x2, ffn(this.norm(l.ffnNorm!, x2, E)));
      }
    }
    const logits = lin(s.output, this.norm(s.outputNorm, x, E));
    const V = s.nVocab;
    let sum = 0;
    for (let t = 0; t < T; t++) {
      if (!mask[t]) continue;
      const row = Array.from(logits.subarray(t * V, (t + 1) * V), (z) => s.finalSoftcap ? s.finalSoftcap * Math.tanh(z / s.finalSoftcap) : z);
      const mx = Math.max(...row);
      sum += mx + Math.log(row.reduce((acc, z) => acc + Math.exp(z - mx), 0)) - row[tokens[t + 1]!]!;
    }
    return sum;
  }
}
