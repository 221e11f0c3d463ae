/**
 * A float64 reference for the training tests (src/train/plan.ts computes the same in wasm, f32): the training
 * forward pass of one sequence (keeping what backward needs) and its backward pass, for the llama family:
 * embeddings, per layer RMSNorm → q/k/v (+ LoRA) → RoPE (normal mode) → causal GQA
 * attention → output (+ LoRA) → residual, RMSNorm → SwiGLU (+ LoRA) → residual; the output norm and
 * projection; cross-entropy over the masked positions. Float64 arithmetic over the frozen weights' rows
 * (Frozen, below: rows dequantized exactly); the gradients of the adapter's A and B only (the base is frozen).
 */
import type { LayerSpec, Linear, ModelSpec, RopeSpec, WeightRef } from '../../src/models/spec.js';
import type { TrainableAdapter } from '../../src/train/adapter.js';
import type { TrainingAccess } from '../../src/train/access.js';

/** x: [T][n] → out = x · r · w with r = 1/√(mean x² + eps) per row; returns r per row. */
function rmsnorm(x: Float64Array, w: Float32Array, out: Float64Array, T: number, n: number, eps: number): Float64Array {
  const r = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[t * n + i]! ** 2;
    r[t] = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) out[t * n + i] = x[t * n + i]! * r[t]! * w[i]!;
  }
  return r;
}

/** dx += the gradient of rmsnorm at x (rows' r) for dy. */
function rmsnormBack(x: Float64Array, r: Float64Array, w: Float32Array, dy: Float64Array, dx: Float64Array, T: number, n: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let dot = 0;
    for (let i = 0; i < n; i++) dot += dy[o + i]! * w[i]! * x[o + i]!;
    const rt = r[t]!;
    const c = rt * rt * rt * dot / n;
    for (let i = 0; i < n; i++) dx[o + i] += rt * w[i]! * dy[o + i]! - c * x[o + i]!;
  }
}

/** Rotates each head of x [T][heads·hd] in place by the positions' angles (sign −1: the inverse). */
function rope(x: Float64Array, T: number, heads: number, hd: number, p: RopeSpec, sign: number): void {
  const half = p.nRot / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const theta = t * p.freqScale * p.base ** (-2 * i / p.nRot);
      const c = Math.cos(theta), s = sign * Math.sin(theta);
      for (let h = 0; h < heads; h++) {
        const o = t * heads * hd + h * hd + 2 * i;
        const x0 = x[o]!, x1 = x[o + 1]!;
        x[o] = x0 * c - x1 * s;
        x[o + 1] = x0 * s + x1 * c;
      }
    }
  }
}

/** What a linear layer's backward needs: its input, and A·x per LoRA pair. */
interface LinearSaved { x: Float64Array; u?: Float64Array }

interface LayerSaved {
  x: Float64Array; r1: Float64Array; xn: Float64Array;
  q: Float64Array; k: Float64Array; v: Float64Array; probs: Float64Array; att: Float64Array;
  x2: Float64Array; r2: Float64Array; xn2: Float64Array; g: Float64Array; u: Float64Array; h: Float64Array;
  lin: Map<string, LinearSaved>;
}

export class TrainGraph {
  private readonly norms = new Map<string, Float32Array>();
  constructor(private readonly spec: ModelSpec, private readonly frozen: Frozen, private readonly adapter: TrainableAdapter) {
  }

  private gain(name: { name: string; ne: number[] }): Float32Array {
    let v = this.norms.get(name.name);
    if (!v) this.norms.set(name.name, v = this.frozen.vector(name));
    return v;
  }

  /** y = W·x + s·B·(A·x) (+ bias) for T rows; saves what backward needs in `saved`. */
  private linear(l: Linear, x: Float64Array, T: number, saved: Map<string, LinearSaved>): Float64Array {
    const [nIn, nOut] = l.weight.ne as [number, number];
    const y = new Float64Array(T * nOut);
    this.frozen.matmul(l.weight, x, y, T);
    if (l.bias) {
      const b = this.gain(l.bias);
      for (let t = 0; t < T; t++) for (let o = 0; o < nOut; o++) y[t * nOut + o] += b[o]!;
    }
    const pair = this.adapter.pairs.get(l.weight.name);
    const entry: LinearSaved = { x };
    if (pair) {
      const R = this.adapter.rank, s = this.adapter.scale;
      const u = new Float64Array(T * R);
      for (let t = 0; t < T; t++) {
        for (let r = 0; r < R; r++) {
          let acc = 0;
          for (let i = 0; i < nIn; i++) acc += pair.a[r * nIn + i]! * x[t * nIn + i]!;
          u[t * R + r] = acc;
        }
        for (let o = 0; o < nOut; o++) {
          let acc = 0;
          for (let r = 0; r < R; r++) acc += pair.b[o * R + r]! * u[t * R + r]!;
          y[t * nOut + o] += s * acc;
        }
      }
      entry.u = u;
    }
    saved.set(l.weight.name, entry);
    return y;
  }

  /** Backward of `linear`: returns dx; adds dA, dB into grads. */
  private linearBack(l: Linear, dy: Float64Array, T: number, saved: Map<string, LinearSaved>, grads: Map<string, Float64Array>): Float64Array {
    const [nIn, nOut] = l.weight.ne as [number, number];
    const { x, u } = saved.get(l.weight.name)!;
    const dx = new Float64Array(T * nIn);
    this.frozen.matmulT(l.weight, dy, dx, T);
    const pair = this.adapter.pairs.get(l.weight.name);
    if (pair && u) {
      const R = this.adapter.rank, s = this.adapter.scale;
      const dA = grads.get(`${l.weight.name}.lora_a`)!, dB = grads.get(`${l.weight.name}.lora_b`)!;
      const du = new Float64Array(R);
      for (let t = 0; t < T; t++) {
        du.fill(0);
        for (let o = 0; o < nOut; o++) {
          const g = s * dy[t * nOut + o]!;
          for (let r = 0; r < R; r++) {
            dB[o * R + r] += g * u[t * R + r]!;
            du[r] += g * pair.b[o * R + r]!;
          }
        }
        for (let r = 0; r < R; r++) {
          const d = du[r]!;
          for (let i = 0; i < nIn; i++) {
            dA[r * nIn + i] += d * x[t * nIn + i]!;
            dx[t * nIn + i] += d * pair.a[r * nIn + i]!;
          }
        }
      }
    }
    return dx;
  }

  /**
   * Forward and backward of one sequence: `mask[p]` = 1 where row p is trained to predict tokens[p + 1].
   * Adds d(loss sum / N)/dθ into `grads` (by adapter tensor name); returns the sum of the row losses.
   */
  run(tokens: number[], mask: number[], N: number, grads: Map<string, Float64Array>): number {
    const s = this.spec;
    const T = tokens.length;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd, normEps: eps } = s;
    const pos = s.positions as RopeSpec;
    const group = nHead / nHeadKv;

    // embeddings
    let x = new Float64Array(T * E);
    const embd = this.frozen.lookup(s.tokenEmbd, tokens);
    for (let k = 0; k < T * E; k++) x[k] = embd[k]!;

    const saved: LayerSaved[] = [];
    for (const l of s.layers) {
      const lin = new Map<string, LinearSaved>();
      const xn = new Float64Array(T * E);
      const r1 = rmsnorm(x, this.gain(l.attnNorm.weight), xn, T, E, eps);
      const q = this.linear(l.attn.q!, xn, T, lin);
      const k = this.linear(l.attn.k!, xn, T, lin);
      const v = this.linear(l.attn.v!, xn, T, lin);
      rope(q, T, nHead, hd, pos, 1);
      rope(k, T, nHeadKv, hd, pos, 1);
      // causal attention, probs [nHead][T][T]
      const probs = new Float64Array(nHead * T * T);
      const att = new Float64Array(T * nHead * hd);
      for (let h = 0; h < nHead; h++) {
        const kh = Math.floor(h / group);
        for (let t = 0; t < T; t++) {
          const p = probs.subarray((h * T + t) * T, (h * T + t + 1) * T);
          let max = -Infinity;
          for (let j = 0; j <= t; j++) {
            let d = 0;
            for (let i = 0; i < hd; i++) d += q[t * nHead * hd + h * hd + i]! * k[j * nHeadKv * hd + kh * hd + i]!;
            p[j] = d * s.kqScale;
            if (p[j]! > max) max = p[j]!;
          }
          let sum = 0;
          for (let j = 0; j <= t; j++) { p[j] = Math.exp(p[j]! - max); sum += p[j]!; }
          for (let j = 0; j <= t; j++) {
            p[j] = p[j]! / sum;
            for (let i = 0; i < hd; i++) att[t * nHead * hd + h * hd + i] += p[j]! * v[j * nHeadKv * hd + kh * hd + i]!;
          }
        }
      }
      const o = this.linear(l.attn.output, att, T, lin);
      const x2 = new Float64Array(T * E);
      for (let i = 0; i < T * E; i++) x2[i] = x[i]! + o[i]!;
      const xn2 = new Float64Array(T * E);
      const r2 = rmsnorm(x2, this.gain(l.ffnNorm!.weight), xn2, T, E, eps);
      const f = l.ffn!;
      const g = this.linear(f.gate!, xn2, T, lin);
      const u = this.linear(f.up, xn2, T, lin);
      const h = new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) h[i] = g[i]! / (1 + Math.exp(-g[i]!)) * u[i]!;
      const d = this.linear(f.down, h, T, lin);
      const x3 = new Float64Array(T * E);
      for (let i = 0; i < T * E; i++) x3[i] = x2[i]! + d[i]!;
      saved.push({ x, r1, xn, q, k, v, probs, att, x2, r2, xn2, g, u, h, lin });
      x = x3;
    }

    // the output norm, then logits and cross-entropy of the masked rows only
    const rows: number[] = [];
    for (let p = 0; p < T; p++) if (mask[p]) rows.push(p);
    const M = rows.length;
    const xf = new Float64Array(M * E);
    rows.forEach((p, m) => { for (let i = 0; i < E; i++) xf[m * E + i] = x[p * E + i]!; });
    const outGain = this.gain(s.outputNorm.weight);
    const xfn = new Float64Array(M * E);
    const rf = rmsnorm(xf, outGain, xfn, M, E, eps);
    const V = s.nVocab;
    const logits = new Float64Array(M * V);
    this.frozen.matmul(s.output.weight, xfn, logits, M);
    let lossSum = 0;
    const dlogits = logits; // in place: softmax − one-hot, over N
    for (let m = 0; m < M; m++) {
      const row = dlogits.subarray(m * V, (m + 1) * V);
      const target = tokens[rows[m]! + 1]!;
      let max = -Infinity;
      for (let i = 0; i < V; i++) if (row[i]! > max) max = row[i]!;
      let sum = 0;
      for (let i = 0; i < V; i++) sum += Math.exp(row[i]! - max);
      const lse = max + Math.log(sum);
      lossSum += lse - row[target]!;
      for (let i = 0; i < V; i++) row[i] = Math.exp(row[i]! - lse) / N;
      row[target] -= 1 / N;
    }

    // backward
    const dxfn = new Float64Array(M * E);
    this.frozen.matmulT(s.output.weight, dlogits, dxfn, M);
    const dxf = new Float64Array(M * E);
    rmsnormBack(xf, rf, outGain, dxfn, dxf, M, E);
    let dx = new Float64Array(T * E);
    rows.forEach((p, m) => { for (let i = 0; i < E; i++) dx[p * E + i] = dxf[m * E + i]!; });

    for (let li = s.layers.length - 1; li >= 0; li--) {
      const l: LayerSpec = s.layers[li]!;
      const sv = saved[li]!;
      const f = l.ffn!;
      // x3 = x2 + down(h): dx2 = dx + the FFN branch's
      const dh = this.linearBack(f.down, dx, T, sv.lin, grads);
      const dg = new Float64Array(dh.length), du = new Float64Array(dh.length);
      for (let i = 0; i < dh.length; i++) {
        const gi = sv.g[i]!, sig = 1 / (1 + Math.exp(-gi));
        du[i] = dh[i]! * gi * sig;
        dg[i] = dh[i]! * sv.u[i]! * sig * (1 + gi * (1 - sig));
      }
      const dxn2 = this.linearBack(f.gate!, dg, T, sv.lin, grads);
      const dxn2u = this.linearBack(f.up, du, T, sv.lin, grads);
      for (let i = 0; i < dxn2.length; i++) dxn2[i] += dxn2u[i]!;
      const dx2 = dx;
      rmsnormBack(sv.x2, sv.r2, this.gain(l.ffnNorm!.weight), dxn2, dx2, T, E);
      // x2 = x + output(att)
      const datt = this.linearBack(l.attn.output, dx2, T, sv.lin, grads);
      const dq = new Float64Array(T * nHead * hd);
      const dk = new Float64Array(T * nHeadKv * hd);
      const dv = new Float64Array(T * nHeadKv * hd);
      const dp = new Float64Array(T);
      for (let h = 0; h < nHead; h++) {
        const kh = Math.floor(h / group);
        for (let t = 0; t < T; t++) {
          const p = sv.probs.subarray((h * T + t) * T, (h * T + t + 1) * T);
          const da = t * nHead * hd + h * hd;
          let dot = 0;
          for (let j = 0; j <= t; j++) {
            let d = 0;
            const vo = j * nHeadKv * hd + kh * hd;
            for (let i = 0; i < hd; i++) {
              d += datt[da + i]! * sv.v[vo + i]!;
              dv[vo + i] += p[j]! * datt[da + i]!;
            }
            dp[j] = d;
            dot += p[j]! * d;
          }
          for (let j = 0; j <= t; j++) {
            const ds = p[j]! * (dp[j]! - dot) * s.kqScale;
            const ko = j * nHeadKv * hd + kh * hd;
            for (let i = 0; i < hd; i++) {
              dq[da + i] += ds * sv.k[ko + i]!;
              dk[ko + i] += ds * sv.q[da + i]!;
            }
          }
        }
      }
      rope(dq, T, nHead, hd, pos, -1);
      rope(dk, T, nHeadKv, hd, pos, -1);
      const dxn = this.linearBack(l.attn.q!, dq, T, sv.lin, grads);
      const dxnk = this.linearBack(l.attn.k!, dk, T, sv.lin, grads);
      const dxnv = this.linearBack(l.attn.v!, dv, T, sv.lin, grads);
      for (let i = 0; i < dxn.length; i++) dxn[i] += dxnk[i]! + dxnv[i]!;
      rmsnormBack(sv.x, sv.r1, this.gain(l.attnNorm.weight), dxn, dx2, T, E);
      dx = dx2;
    }
    return lossSum;
  }
}

/** rows dequantized per chunk (bounded by CHUNK_FLOATS floats) */
const CHUNK_FLOATS = 1 << 18;

export class Frozen {
  /** scratch regions by use, kept and grown (never shrunk) */
  private readonly regions = new Map<string, { at: number; bytes: number }>();
  constructor(private readonly access: TrainingAccess) {}

  private region(use: string, bytes: number): number {
    let r = this.regions.get(use);
    if (!r || r.bytes < bytes) this.regions.set(use, r = { at: this.access.scratch(bytes), bytes });
    return r.at;
  }

  /** f(rows, o0, count): rows o0..o0+count of `ref` (count · nIn floats, a view valid during the call). */
  forRows(ref: WeightRef, f: (rows: Float32Array, o0: number, count: number) => void): void {
    const [nIn, nOut] = ref.ne as [number, number];
    const per = Math.max(1, Math.min(nOut, Math.floor(CHUNK_FLOATS / nIn)));
    const w = this.access.weights.get(ref);
    const ids = this.region('rows', (per * nIn + per) * 4) >>> 2;
    const out = ids + per;
    for (let o0 = 0; o0 < nOut; o0 += per) {
      const count = Math.min(per, nOut - o0);
      const i32 = this.access.views.i32;
      for (let k = 0; k < count; k++) i32[ids + k] = o0 + k;
      this.access.kernels.get_rows(w.type, w.ptr, nIn, ids * 4, count, out * 4);
      f(this.access.views.f32.subarray(out, out + count * nIn), o0, count);
    }
  }

  /** Rows `ids` of `ref` (an embedding table) as floats, [ids.length][nIn]. */
  lookup(ref: WeightRef, ids: number[]): Float32Array {
    const nIn = ref.ne[0]!;
    const n = ids.length;
    const at = this.region('lookup', (n + n * nIn) * 4);
    this.access.views.i32.set(ids, at >>> 2);
    const w = this.access.weights.get(ref);
    this.access.kernels.get_rows(w.type, w.ptr, nIn, at, n, at + n * 4);
    return this.access.views.f32.slice((at >>> 2) + n, (at >>> 2) + n + n * nIn);
  }

  /** A 1-D weight (a norm's gain) as floats. */
  vector(ref: WeightRef): Float32Array {
    const n = ref.ne[0]!;
    let v: Float32Array | undefined;
    this.forRows({ name: ref.name, ne: [n, 1] }, (rows) => { v = rows.slice(); });
    return v!;
  }

  /** y[t] = W·x[t] for T rows (x: [T][nIn], y: [T][nOut]); y is overwritten. */
  matmul(ref: WeightRef, x: Float64Array, y: Float64Array, T: number): void {
    const [nIn, nOut] = ref.ne as [number, number];
    this.forRows(ref, (rows, o0, count) => {
      for (let t = 0; t < T; t++) {
        const xo = t * nIn;
        for (let k = 0; k < count; k++) {
          const wo = k * nIn;
          let s = 0;
          for (let i = 0; i < nIn; i++) s += rows[wo + i]! * x[xo + i]!;
          y[t * nOut + o0 + k] = s;
        }
      }
    });
  }

  /** dx[t] += Wᵀ·dy[t] for T rows (dy: [T][nOut], dx: [T][nIn]). */
  matmulT(ref: WeightRef, dy: Float64Array, dx: Float64Array, T: number): void {
    const [nIn, nOut] = ref.ne as [number, number];
    this.forRows(ref, (rows, o0, count) => {
      for (let t = 0; t < T; t++) {
        const xo = t * nIn;
        for (let k = 0; k < count; k++) {
          const g = dy[t * nOut + o0 + k]!;
          if (g === 0) continue;
          const wo = k * nIn;
          for (let i = 0; i < nIn; i++) dx[xo + i] += rows[wo + i]! * g;
        }
      }
    });
  }
}
