/**
 * The backward kernels of training (assembly/ops/backward.ts): each SIMD kernel equals its scalar twin bit for
 * bit, and a float64 reference (the analytic gradient, or central differences of a float64 forward).
 */
import { describe, expect, it } from 'vitest';
import * as abi from '../src/abi.js';
import { dequantize, quantizeTensor } from '../src/formats/quantize.js';
import { loadKernels, type Kernels } from './helpers/wasm.js';

interface BackKernels extends Kernels {
  matmul_t(type: number, w: number, dy: number, dx: number, nIn: number, nOut: number, t0: number, t1: number, scratch: number): void;
  matmul_t_ref(type: number, w: number, dy: number, dx: number, nIn: number, nOut: number, t0: number, t1: number, scratch: number): void;
  matmul_t_scratch_bytes(nIn: number): number;
  matmul_dq(type: number, w: number, x: number, y: number, nIn: number, nOut: number, nTok: number, r0: number, r1: number, scratch: number): void;
  matmul_dq_ref(type: number, w: number, x: number, y: number, nIn: number, nOut: number, nTok: number, r0: number, r1: number, scratch: number): void;
  outer_acc(x: number, y: number, c: number, m: number, n: number, nTok: number, alpha: number, m0: number, m1: number): void;
  outer_acc_ref(x: number, y: number, c: number, m: number, n: number, nTok: number, alpha: number, m0: number, m1: number): void;
  rmsnorm_back(x: number, w: number, dy: number, dx: number, n: number, t0: number, t1: number, eps: number): void;
  rmsnorm_back_ref(x: number, w: number, dy: number, dx: number, n: number, t0: number, t1: number, eps: number): void;
  silu_mul_back(gate: number, up: number, dh: number, out: number, n: number, i0: number, i1: number): void;
  silu_mul_back_ref(gate: number, up: number, dh: number, out: number, n: number, i0: number, i1: number): void;
  attention_back(q: number, k: number, v: number, dout: number, out: number, nTok: number, nHead: number, nKv: number, hd: number,
    scale: number, kh0: number, kh1: number, scratch: number): void;
  attention_back_scratch_bytes(nTok: number): number;
  attention_back_ref(q: number, k: number, v: number, dout: number, out: number, nTok: number, nHead: number, nKv: number, hd: number,
    scale: number, kh0: number, kh1: number, scratch: number): void;
  cross_entropy(logits: number, targets: number, loss: number, n: number, r0: number, r1: number, scale: number): void;
  cross_entropy_ref(logits: number, targets: number, loss: number, n: number, r0: number, r1: number, scale: number): void;
}

const { k: k0, heap } = loadKernels(2048);
const k = k0 as BackKernels;

/** deterministic values in [−1, 1) */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a − b| / max |b| */
function relDev(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
}

describe('matmul_t (dx += Wᵀ·dy) and matmul_dq (y = W·x) over each type\'s row dequantizer', () => {
  const TYPES: Array<[string, number]> = [
    ['F32', abi.GGML_F32], ['F16', abi.GGML_F16], ['BF16', abi.GGML_BF16], ['Q8_0', abi.GGML_Q8_0], ['Q4_0', abi.GGML_Q4_0],
    ['Q4_1', abi.GGML_Q4_1], ['Q5_0', abi.GGML_Q5_0], ['Q4_K', abi.GGML_Q4_K], ['Q5_K', abi.GGML_Q5_K], ['Q6_K', abi.GGML_Q6_K],
    ['Q2_K', abi.GGML_Q2_K], ['Q3_K', abi.GGML_Q3_K], ['F32, rows of 135', abi.GGML_F32], ['F32, rows of 132', abi.GGML_F32],
  ];
  // 11 tokens: the kernels' tiles (4 tokens for matmul_t, 2 for matmul_dq) and what is left; 37 rows: a last block of 5
  it.each(TYPES)('%s', (name, type) => {
    heap.reset();
    const K = type >= abi.GGML_Q2_K && type <= abi.GGML_Q6_K ? 256 : 64;
    const nIn = Number(/rows of (\d+)/.exec(name)?.[1] ?? 2 * K), nOut = 37, nTok = 11;
    const bytes = type === abi.GGML_F32 ? new Uint8Array(rand(nIn * nOut, 1).buffer) : quantizeTensor(type, rand(nIn * nOut, 1));
    const wf = type === abi.GGML_F32 ? rand(nIn * nOut, 1) : dequantize(type, bytes, nIn * nOut);
    const w = heap.put(bytes);
    let layout = type;
    if (type === abi.GGML_Q8_0 || type === abi.GGML_Q4_0) layout = k.repack(type, w, nOut, nIn, heap.alloc(bytes.length / nOut));
    const dy = heap.put(rand(nTok * nOut, 2));
    const dx0 = rand(nTok * nIn, 3);
    const a = heap.put(dx0), b = heap.put(dx0);
    const scratch = heap.alloc(k.matmul_t_scratch_bytes(nIn));
    k.matmul_t(layout, w, dy, a, nIn, nOut, 0, 2, scratch);
    k.matmul_t(layout, w, dy, a, nIn, nOut, 2, nTok, scratch);
    k.matmul_t_ref(layout, w, dy, b, nIn, nOut, 0, nTok, scratch);
    expect(Array.from(heap.f32(a, nTok * nIn))).toEqual(Array.from(heap.f32(b, nTok * nIn)));
    const g = heap.f32(dy, nTok * nOut);
    const want = new Float64Array(nTok * nIn);
    for (let t = 0; t < nTok; t++) {
      for (let i = 0; i < nIn; i++) {
        let s = dx0[t * nIn + i]!;
        for (let o = 0; o < nOut; o++) s += wf[o * nIn + i]! * g[t * nOut + o]!;
        want[t * nIn + i] = s;
      }
    }
    expect(relDev(heap.f32(a, nTok * nIn), want)).toBeLessThan(2e-6);
    // y = W·x
    const x = heap.put(dx0);
    const ya = heap.alloc(nTok * nOut * 4), yb = heap.alloc(nTok * nOut * 4);
    k.matmul_dq(layout, w, x, ya, nIn, nOut, nTok, 0, 16, scratch);
    k.matmul_dq(layout, w, x, ya, nIn, nOut, nTok, 16, nOut, scratch);
    k.matmul_dq_ref(layout, w, x, yb, nIn, nOut, nTok, 0, nOut, scratch);
    expect(Array.from(heap.f32(ya, nTok * nOut))).toEqual(Array.from(heap.f32(yb, nTok * nOut)));
    const wantY = new Float64Array(nTok * nOut);
    for (let t = 0; t < nTok; t++) {
      for (let o = 0; o < nOut; o++) {
        let s = 0;
        for (let i = 0; i < nIn; i++) s += wf[o * nIn + i]! * dx0[t * nIn + i]!;
        wantY[t * nOut + o] = s;
      }
    }
    expect(relDev(heap.f32(ya, nTok * nOut), wantY)).toBeLessThan(2e-6);
  });
});

describe('training kernels: SIMD == scalar twin == float64', () => {
  it('outer_acc: c += alpha·xᵀ·y', () => {
    heap.reset();
    const M = 7, N = 45, T = 9, alpha = 0.75;
    const x = heap.put(rand(T * M, 4)), y = heap.put(rand(T * N, 5));
    const c0 = rand(M * N, 6);
    const a = heap.put(c0), b = heap.put(c0);
    k.outer_acc(x, y, a, M, N, T, alpha, 0, 3);
    k.outer_acc(x, y, a, M, N, T, alpha, 3, M);
    k.outer_acc_ref(x, y, b, M, N, T, alpha, 0, M);
    expect(Array.from(heap.f32(a, M * N))).toEqual(Array.from(heap.f32(b, M * N)));
    const X = heap.f32(x, T * M), Y = heap.f32(y, T * N);
    const want = Array.from(c0, (c, idx) => {
      const m = Math.floor(idx / N), j = idx % N;
      let s = 0;
      for (let t = 0; t < T; t++) s += X[t * M + m]! * Y[t * N + j]!;
      return c + alpha * s;
    });
    expect(relDev(heap.f32(a, M * N), want)).toBeLessThan(2e-6);
  });

  it('rmsnorm_back: the gradient of x·r·w, against central differences', () => {
    heap.reset();
    const n = 37, T = 3, eps = 1e-5;
    const xv = rand(T * n, 7), wv = rand(n, 8), dyv = rand(T * n, 9);
    const x = heap.put(xv), w = heap.put(wv), dy = heap.put(dyv);
    const a = heap.put(new Float32Array(T * n)), b = heap.put(new Float32Array(T * n));
    k.rmsnorm_back(x, w, dy, a, n, 0, T, eps);
    k.rmsnorm_back_ref(x, w, dy, b, n, 0, T, eps);
    expect(Array.from(heap.f32(a, T * n))).toEqual(Array.from(heap.f32(b, T * n)));
    // L = Σ dy·rmsnorm(x)
    const loss = (xs: Float64Array, t: number) => {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += xs[i]! ** 2;
      const r = 1 / Math.sqrt(ss / n + eps);
      let l = 0;
      for (let i = 0; i < n; i++) l += dyv[t * n + i]! * xs[i]! * r * wv[i]!;
      return l;
    };
    const want = new Float64Array(T * n);
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < n; i++) {
        const xp = Float64Array.from(xv.subarray(t * n, (t + 1) * n)), xm = xp.slice();
        xp[i] += 1e-6; xm[i] -= 1e-6;
        want[t * n + i] = (loss(xp, t) - loss(xm, t)) / 2e-6;
      }
    }
    expect(relDev(heap.f32(a, T * n), want)).toBeLessThan(1e-5);
  });

  it('silu_mul_back: d gate and d up of silu(gate)·up', () => {
    heap.reset();
    const n = 53;
    const g = rand(n, 10).map((v) => v * 6), u = rand(n, 11), d = rand(n, 12);
    const gp = heap.put(g), up = heap.put(u), dh = heap.put(d);
    const a = heap.put(new Float32Array(2 * n)), b = heap.put(new Float32Array(2 * n));
    k.silu_mul_back(gp, up, dh, a, n, 0, 16);
    k.silu_mul_back(gp, up, dh, a, n, 16, n);
    k.silu_mul_back_ref(gp, up, dh, b, n, 0, n);
    expect(Array.from(heap.f32(a, 2 * n))).toEqual(Array.from(heap.f32(b, 2 * n)));
    const want = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      const s = 1 / (1 + Math.exp(-g[i]!));
      want[i] = d[i]! * u[i]! * s * (1 + g[i]! * (1 - s));
      want[n + i] = d[i]! * g[i]! * s;
    }
    expect(relDev(heap.f32(a, 2 * n), want)).toBeLessThan(1e-6);
  });

  it('attention_back: dq, dk, dv of causal GQA attention, against central differences', () => {
    heap.reset();
    const T = 6, H = 4, KV = 2, hd = 10, scale = 1 / Math.sqrt(hd);
    const qv = rand(T * H * hd, 13), kv = rand(T * KV * hd, 14), vv = rand(T * KV * hd, 15), dov = rand(T * H * hd, 16);
    const q = heap.put(qv), kk = heap.put(kv), v = heap.put(vv), dout = heap.put(dov);
    const size = T * (H + 2 * KV) * hd;
    const a = heap.alloc(size * 4), b = heap.alloc(size * 4), scratch = heap.alloc(k.attention_back_scratch_bytes(T));
    k.attention_back(q, kk, v, dout, a, T, H, KV, hd, scale, 0, 1, scratch);
    k.attention_back(q, kk, v, dout, a, T, H, KV, hd, scale, 1, KV, scratch);
    k.attention_back_ref(q, kk, v, dout, b, T, H, KV, hd, scale, 0, KV, scratch);
    expect(Array.from(heap.f32(a, size))).toEqual(Array.from(heap.f32(b, size)));
    // L = Σ dout·attention(q, k, v) in float64
    const loss = (Q: Float64Array, Kx: Float64Array, V: Float64Array) => {
      let l = 0;
      for (let h = 0; h < H; h++) {
        const kh = Math.floor(h / (H / KV));
        for (let t = 0; t < T; t++) {
          const s: number[] = [];
          for (let j = 0; j <= t; j++) {
            let d = 0;
            for (let i = 0; i < hd; i++) d += Q[t * H * hd + h * hd + i]! * Kx[j * KV * hd + kh * hd + i]!;
            s.push(d * scale);
          }
          const mx = Math.max(...s);
          const e = s.map((x) => Math.exp(x - mx));
          const z = e.reduce((p, c) => p + c, 0);
          for (let j = 0; j <= t; j++) {
            for (let i = 0; i < hd; i++) l += dov[t * H * hd + h * hd + i]! * (e[j]! / z) * V[j * KV * hd + kh * hd + i]!;
          }
        }
      }
      return l;
    };
    const ins = [Float64Array.from(qv), Float64Array.from(kv), Float64Array.from(vv)];
    const want: number[] = [];
    for (let which = 0; which < 3; which++) {
      const arr = ins[which]!;
      for (let i = 0; i < arr.length; i++) {
        const keep = arr[i]!;
        arr[i] = keep + 1e-6;
        const lp = loss(ins[0]!, ins[1]!, ins[2]!);
        arr[i] = keep - 1e-6;
        const lm = loss(ins[0]!, ins[1]!, ins[2]!);
        arr[i] = keep;
        want.push((lp - lm) / 2e-6);
      }
    }
    expect(relDev(heap.f32(a, size), want)).toBeLessThan(1e-5);
  });

  it('cross_entropy: row losses and (softmax − one-hot)·scale; a target < 0 is not learned', () => {
    heap.reset();
    const V = 103, R = 3, scale = 0.25;
    const lv = rand(V * R, 17).map((x) => x * 8);
    const targets = new Int32Array([5, -1, 102]);
    const a = heap.put(lv), b = heap.put(lv), tg = heap.put(targets);
    const la = heap.alloc(R * 4), lb = heap.alloc(R * 4);
    k.cross_entropy(a, tg, la, V, 0, 1, scale);
    k.cross_entropy(a, tg, la, V, 1, R, scale);
    k.cross_entropy_ref(b, tg, lb, V, 0, R, scale);
    expect(Array.from(heap.f32(a, V * R))).toEqual(Array.from(heap.f32(b, V * R)));
    expect(Array.from(heap.f32(la, R))).toEqual(Array.from(heap.f32(lb, R)));
    const grads = heap.f32(a, V * R), losses = heap.f32(la, R);
    for (let r = 0; r < R; r++) {
      const row = Array.from(lv.subarray(r * V, (r + 1) * V));
      const t = targets[r]!;
      if (t < 0) {
        expect(losses[r]).toBe(0);
        expect(Array.from(grads.subarray(r * V, (r + 1) * V)).every((x) => x === 0)).toBe(true);
        continue;
      }
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((p, x) => p + Math.exp(x - mx), 0));
      expect(Math.abs(losses[r]! - (lse - row[t]!))).toBeLessThan(1e-6 * lse);
      const want = row.map((x, i) => (Math.exp(x - lse) - (i === t ? 1 : 0)) * scale);
      expect(relDev(grads.subarray(r * V, (r + 1) * V), want)).toBeLessThan(1e-6);
    }
  });

  it('cross_entropy: logits spread past exp\'s range give zeros, never subnormals (they would slow the head\'s backward)', () => {
    heap.reset();
    const V = 67, scale = 1 / 255;
    // one logit far above the rest: softmax values down to e^-300 (0 in f32), and around f32's smallest normal
    const lv = rand(V, 23).map((x, i) => (i === 9 ? 120 : x * 60 + (i % 5 === 0 ? -200 : 0)));
    const a = heap.put(lv), b = heap.put(lv), tg = heap.put(new Int32Array([30]));
    const la = heap.alloc(4), lb = heap.alloc(4);
    k.cross_entropy(a, tg, la, V, 0, 1, scale);
    k.cross_entropy_ref(b, tg, lb, V, 0, 1, scale);
    expect(Array.from(heap.f32(a, V))).toEqual(Array.from(heap.f32(b, V)));
    expect(heap.f32(la, 1)[0]).toBe(heap.f32(lb, 1)[0]);
    const grads = Array.from(heap.f32(a, V));
    expect(grads.filter((g) => g !== 0 && Math.abs(g) < 2 ** -126)).toEqual([]);
    expect(grads.filter((g) => g === 0).length).toBeGreaterThan(V / 2);
    const mx = Math.max(...lv), lse = mx + Math.log(Array.from(lv).reduce((p, x) => p + Math.exp(x - mx), 0));
    expect(Math.abs(heap.f32(la, 1)[0]! - (lse - lv[30]!))).toBeLessThan(1e-6 * lse);
    const want = Array.from(lv, (x, i) => (Math.exp(x - lse) - (i === 30 ? 1 : 0)) * scale);
    expect(relDev(grads, want)).toBeLessThan(1e-6);
  });
});
