/**
 * The backward kernels of training beyond llama (assembly/ops/backward_ext.ts, and attention_back's soft-cap,
 * ALiBi and window): each SIMD kernel equals its scalar twin bit for bit, and central differences of a float64
 * forward pass.
 */
import { describe, expect, it } from 'vitest';
import { loadKernels, type Kernels } from './helpers/wasm.js';
import { attentionF64 } from './helpers/attention-f64.js';

interface ExtKernels extends Kernels {
  layernorm_back(x: number, w: number, dy: number, dx: number, n: number, t0: number, t1: number, eps: number): void;
  layernorm_back_ref(x: number, w: number, dy: number, dx: number, n: number, t0: number, t1: number, eps: number): void;
  gelu_mul(gate: number, up: number, out: number, i0: number, i1: number): void;
  gelu_mul_ref(gate: number, up: number, out: number, i0: number, i1: number): void;
  gelu_mul_back(gate: number, up: number, dh: number, out: number, n: number, i0: number, i1: number): void;
  gelu_mul_back_ref(gate: number, up: number, dh: number, out: number, n: number, i0: number, i1: number): void;
  softcap_back(x: number, dy: number, out: number, n: number, cap: number, i0: number, i1: number): void;
  softcap_back_ref(x: number, dy: number, out: number, n: number, cap: number, i0: number, i1: number): void;
  attention_back(q: number, k: number, v: number, dout: number, out: number, nTok: number, nHead: number, nKv: number, hd: number,
    scale: number, kh0: number, kh1: number, scratch: number, cap: number, maxBias: number, window: number): void;
  attention_back_ref(q: number, k: number, v: number, dout: number, out: number, nTok: number, nHead: number, nKv: number, hd: number,
    scale: number, kh0: number, kh1: number, scratch: number, cap: number, maxBias: number, window: number): void;
  attention_back_scratch_bytes(nTok: number): number;
  alibi_slope(h: number, nHead: number, maxBias: number): number;
}

const { k: k0, heap } = loadKernels(256);
const k = k0 as ExtKernels;

/** deterministic values in [−amp, amp) */
function rand(n: number, seed: number, amp = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * amp;
  });
}

/** max |a − b| / max |b| */
function relDev(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
}

/** The gradient of L(x) = Σ dy·f(x) by central differences in float64 (f: x → outputs). */
function centralGrad(x: Float32Array, f: (x: Float64Array) => ArrayLike<number>, dy: ArrayLike<number>, h = 1e-5): Float64Array {
  const xv = Float64Array.from(x), g = new Float64Array(x.length);
  const L = () => { const y = f(xv); let s = 0; for (let i = 0; i < dy.length; i++) s += dy[i]! * y[i]!; return s; };
  for (let i = 0; i < x.length; i++) {
    const x0 = xv[i]!;
    xv[i] = x0 + h; const lp = L();
    xv[i] = x0 - h; const lm = L();
    xv[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

const geluF64 = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * z * (1 + 0.044715 * z * z)));

describe('training kernels beyond llama: SIMD == scalar twin == float64', () => {
  it.each([['with a gain', true], ['without a gain (w = 0)', false]])('layernorm_back %s: the gradient of (x − μ)·r·w + b, against central differences', (_what, gain) => {
    heap.reset();
    const T = 3, n = 37, eps = 1e-5;
    const xv = rand(T * n, 1, 2), wv = rand(n, 2), dyv = rand(T * n, 3);
    const x = heap.put(xv), w = gain ? heap.put(wv) : 0, dy = heap.put(dyv);
    const dx0 = rand(T * n, 4, 0.5);
    const a = heap.put(dx0), b = heap.put(dx0);
    k.layernorm_back(x, w, dy, a, n, 0, 1, eps);
    k.layernorm_back(x, w, dy, a, n, 1, T, eps);
    k.layernorm_back_ref(x, w, dy, b, n, 0, T, eps);
    expect(Array.from(heap.f32(a, T * n))).toEqual(Array.from(heap.f32(b, T * n)));
    const ln = (X: Float64Array) => {
      const y = new Float64Array(T * n);
      for (let t = 0; t < T; t++) {
        let m = 0, v = 0;
        for (let i = 0; i < n; i++) m += X[t * n + i]! / n;
        for (let i = 0; i < n; i++) v += (X[t * n + i]! - m) ** 2 / n;
        for (let i = 0; i < n; i++) y[t * n + i] = (X[t * n + i]! - m) / Math.sqrt(v + eps) * (gain ? wv[i]! : 1) + 0.3;
      }
      return y;
    };
    const want = centralGrad(xv, ln, dyv).map((g, i) => g + dx0[i]!);
    expect(relDev(heap.f32(a, T * n), want)).toBeLessThan(1e-5);
  });

  it('gelu_mul: the smooth tanh GELU, gated and plain', () => {
    heap.reset();
    const n = 45;
    const g = rand(n, 5, 6), u = rand(n, 6);
    const gp = heap.put(g), up = heap.put(u);
    for (const withUp of [true, false]) {
      const a = heap.alloc(n * 4), b = heap.alloc(n * 4);
      k.gelu_mul(gp, withUp ? up : 0, a, 0, 16);
      k.gelu_mul(gp, withUp ? up : 0, a, 16, n);
      k.gelu_mul_ref(gp, withUp ? up : 0, b, 0, n);
      expect(Array.from(heap.f32(a, n))).toEqual(Array.from(heap.f32(b, n)));
      expect(relDev(heap.f32(a, n), Array.from(g, (z, i) => geluF64(z) * (withUp ? u[i]! : 1)))).toBeLessThan(1e-6);
    }
  });

  it('gelu_mul_back: d gate and d up of gelu(gate)·up (and d x of plain gelu), against central differences', () => {
    heap.reset();
    const n = 45;
    const g = rand(n, 7, 6), u = rand(n, 8), d = rand(n, 9);
    const gp = heap.put(g), up = heap.put(u), dh = heap.put(d);
    for (const withUp of [true, false]) {
      const size = withUp ? 2 * n : n;
      const a = heap.alloc(size * 4), b = heap.alloc(size * 4);
      k.gelu_mul_back(gp, withUp ? up : 0, dh, a, n, 0, 16);
      k.gelu_mul_back(gp, withUp ? up : 0, dh, a, n, 16, n);
      k.gelu_mul_back_ref(gp, withUp ? up : 0, dh, b, n, 0, n);
      expect(Array.from(heap.f32(a, size))).toEqual(Array.from(heap.f32(b, size)));
      const dg = centralGrad(g, (G) => G.map((z, i) => geluF64(z) * (withUp ? u[i]! : 1)), d);
      expect(relDev(heap.f32(a, n), dg)).toBeLessThan(1e-5);
      if (withUp) expect(relDev(heap.f32(a + n * 4, n), Array.from(g, (z, i) => d[i]! * geluF64(z)))).toBeLessThan(1e-6);
    }
  });

  it('softcap_back: the gradient of cap·tanh(x / cap)', () => {
    heap.reset();
    const n = 39, cap = 5;
    const x = rand(n, 10, 12), dy = rand(n, 11);
    const xp = heap.put(x), dyp = heap.put(dy);
    const a = heap.alloc(n * 4), b = heap.alloc(n * 4);
    k.softcap_back(xp, dyp, a, n, cap, 0, 16);
    k.softcap_back(xp, dyp, a, n, cap, 16, n);
    k.softcap_back_ref(xp, dyp, b, n, cap, 0, n);
    expect(Array.from(heap.f32(a, n))).toEqual(Array.from(heap.f32(b, n)));
    expect(relDev(heap.f32(a, n), centralGrad(x, (X) => X.map((z) => cap * Math.tanh(z / cap)), dy))).toBeLessThan(1e-6);
    // in place over dy
    k.softcap_back(xp, dyp, dyp, n, cap, 0, n);
    expect(Array.from(heap.f32(dyp, n))).toEqual(Array.from(heap.f32(b, n)));
  });

  it.each([
    ['soft-capped scores', 2, 0, 0],
    ['ALiBi (6 heads: the non-power-of-two series)', 0, 8, 0],
    ['a sliding window of 3', 0, 0, 3],
    ['all three', 1.5, 8, 4],
  ])('attention_back with %s: dq, dk, dv against central differences', (_what, cap, maxBias, window) => {
    heap.reset();
    // 11 tokens: query tiles of 4 (keys seen by the whole tile, and by some of its rows), then 3
    const T = 11, H = 6, KV = 2, hd = 9, scale = 1.3 / Math.sqrt(hd);
    const qv = rand(T * H * hd, 13), kv = rand(T * KV * hd, 14), vv = rand(T * KV * hd, 15), dov = rand(T * H * hd, 16);
    const q = heap.put(qv), kk = heap.put(kv), v = heap.put(vv), dout = heap.put(dov);
    const size = T * (H + 2 * KV) * hd;
    const a = heap.alloc(size * 4), b = heap.alloc(size * 4), scratch = heap.alloc(k.attention_back_scratch_bytes(T));
    k.attention_back(q, kk, v, dout, a, T, H, KV, hd, scale, 0, 1, scratch, cap, maxBias, window);
    k.attention_back(q, kk, v, dout, a, T, H, KV, hd, scale, 1, KV, scratch, cap, maxBias, window);
    k.attention_back_ref(q, kk, v, dout, b, T, H, KV, hd, scale, 0, KV, scratch, cap, maxBias, window);
    expect(Array.from(heap.f32(a, size))).toEqual(Array.from(heap.f32(b, size)));
    const slope = maxBias > 0 ? (h: number) => k.alibi_slope(h, H, maxBias) : undefined;
    const att = (Q: ArrayLike<number>, K: ArrayLike<number>, V: ArrayLike<number>) => attentionF64(Q, K, V, T, 0, H, KV, hd, scale, window, { cap, slope });
    const got = heap.f32(a, size);
    const dq = centralGrad(qv, (Q) => att(Q, kv, vv), dov);
    const dk = centralGrad(kv, (K) => att(qv, K, vv), dov);
    const dv = centralGrad(vv, (V) => att(qv, kv, V), dov);
    expect(relDev(got.subarray(0, T * H * hd), dq)).toBeLessThan(1e-5);
    expect(relDev(got.subarray(T * H * hd, T * (H + KV) * hd), dk)).toBeLessThan(1e-5);
    expect(relDev(got.subarray(T * (H + KV) * hd), dv)).toBeLessThan(1e-5);
  });
});
