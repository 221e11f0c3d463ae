/**
 * The kernel options the 2025 families need, against float64 references of their formulas: the attention
 * score soft-cap (Gemma 2: s ← c·tanh(s/c) after scaling, before ALiBi / mask and softmax) on the per-head and
 * the fused (long context) paths, and RoPE with per-pair frequency divisors and an attention factor
 * (LongRoPE: θ_i = p · base^(−2i/nRot) / f_i, cos and sin times attnFactor). Needs build/wasmlm.wasm.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ROPE_NEOX, ROPE_NORMAL } from '../src/abi.js';
import { loadKernels } from './helpers/wasm.js';
import { expectBitsEqual, expectClose, fr, randF32 } from './helpers/numeric.js';
import { attentionF64 } from './helpers/attention-f64.js';

const { k: kernels, heap } = loadKernels(1024);
beforeEach(() => heap.reset());

type Attention = (q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
  headDim: number, scale: number, scratch: number, window: number, maxBias: number, ring: number, kvType: number, softcap: number) => void;
type Rope = (x: number, nTok: number, nHead: number, headDim: number, nRot: number, pos0: number, base: number, freqScale: number,
  mode: number, freqFactors: number, extFactor: number, attnFactor: number, corrLow: number, corrHigh: number) => void;
const k = kernels as unknown as { attention: Attention; attention_ref: Attention; rope: Rope; rope_ref: Rope };

const get = (p: number, n: number) => heap.f32(p, n).slice();

describe('attention score soft-cap', () => {
  // nTok, pos0, nHead, nKvHead, headDim, window, cap: short contexts (per-head path) and long ones (fused path)
  const cases: [number, number, number, number, number, number, number][] = [
    [5, 0, 4, 2, 32, 0, 50],      // gemma2's shape, a prompt
    [3, 9, 4, 2, 32, 4, 50],      // sliding window 4
    [1, 40, 8, 8, 16, 0, 3],      // a cap small enough that most scores are capped hard
    [2, 1100, 8, 2, 16, 0, 5],    // the fused path
    [1, 1300, 12, 2, 20, 700, 5], // fused, window, head dim with a tail
  ];
  for (const [nTok, pos0, nHead, nKv, hd, window, cap] of cases) {
    it(`nTok=${nTok} pos0=${pos0} heads ${nHead}/${nKv} headDim=${hd} window=${window} cap=${cap}`, () => {
      const ctx = pos0 + nTok;
      // scores of size ~±hd·scale·16: well beyond small caps
      const q = randF32(nTok * nHead * hd, 11 + hd, -4, 4);
      const kc = randF32(ctx * nKv * hd, 12 + hd, -4, 4);
      const vc = randF32(ctx * nKv * hd, 13 + hd);
      const scale = fr(1 / Math.sqrt(hd));
      const qp = heap.put(q), kp = heap.put(kc), vp = heap.put(vc);
      const n = nTok * nHead * hd;
      const a = heap.alloc(n * 4), b = heap.alloc(n * 4), c = heap.alloc(n * 4), s = heap.alloc(ctx * 4 + 64 * 1024);
      k.attention(qp, kp, vp, a, nTok, pos0, nHead, nKv, hd, scale, s, window, 0, 0, 0, cap);
      k.attention_ref(qp, kp, vp, b, nTok, pos0, nHead, nKv, hd, scale, s, window, 0, 0, 0, cap);
      k.attention(qp, kp, vp, c, nTok, pos0, nHead, nKv, hd, scale, s, window, 0, 0, 0, 0);
      const want = attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, scale, window, { cap });
      const uncapped = attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, scale, window);
      const tol = (i: number) => 1e-6 + 4e-6 * Math.abs(want[i]!);
      expectClose(get(b, n), want, tol, 'scalar vs float64');
      expectClose(get(a, n), want, tol, 'SIMD vs float64');
      expectClose(get(c, n), uncapped, (i) => 1e-6 + 4e-6 * Math.abs(uncapped[i]!), 'cap 0 is off');
      // the cap changes the result (the case tests something)
      let moved = 0;
      for (let i = 0; i < n; i++) moved = Math.max(moved, Math.abs(want[i]! - uncapped[i]!));
      expect(moved).toBeGreaterThan(1e-3);
      // out == q
      const ip = heap.put(q);
      k.attention(ip, kp, vp, ip, nTok, pos0, nHead, nKv, hd, scale, s, window, 0, 0, 0, cap);
      expectBitsEqual(get(ip, n), get(a, n), 'out == q');
    });
  }
});

/** float64 RoPE with per-pair divisors and an attention factor (cos and sin times it) */
function ropeF64(x: Float32Array, nTok: number, nHead: number, hd: number, nRot: number, pos0: number, base: number,
  freqScale: number, neox: boolean, factors: Float32Array, attnFactor: number): Float64Array {
  const out = Float64Array.from(x);
  const half = nRot / 2;
  for (let t = 0; t < nTok; t++) {
    for (let i = 0; i < half; i++) {
      const theta = ((pos0 + t) * freqScale * base ** (-2 * i / nRot)) / factors[i]!;
      const c = Math.cos(theta) * attnFactor, s = Math.sin(theta) * attnFactor;
      for (let h = 0; h < nHead; h++) {
        const o = (t * nHead + h) * hd;
        const [i0, i1] = neox ? [o + i, o + i + half] : [o + 2 * i, o + 2 * i + 1];
        const x0 = x[i0]!, x1 = x[i1]!;
        out[i0] = x0 * c - x1 * s;
        out[i1] = x0 * s + x1 * c;
      }
    }
  }
  return out;
}

describe('RoPE with frequency factors and an attention factor (LongRoPE)', () => {
  // nTok, nHead, headDim, nRot, pos0, mode: Phi-3.5-mini's head (96, all rotating), Phi-4-mini's partial rotary (96 of 128)
  const cases: [number, number, number, number, number, number][] = [
    [3, 4, 96, 96, 0, ROPE_NEOX],
    [2, 3, 128, 96, 5000, ROPE_NEOX],
    [1, 2, 96, 96, 131000, ROPE_NEOX],
    [2, 2, 16, 16, 77, ROPE_NORMAL],
  ];
  for (const [nTok, nHead, hd, nRot, pos0, mode] of cases) {
    it(`nTok=${nTok} heads=${nHead} headDim=${hd} nRot=${nRot} pos0=${pos0} mode=${mode}`, () => {
      const x = randF32(nTok * nHead * hd, hd + pos0, -2, 2);
      const factors = randF32(nRot / 2, nRot, 1, 40);
      const attnFactor = fr(1.1902380714238083);
      const base = 10000;
      const fp = heap.put(factors);
      const want = ropeF64(x, nTok, nHead, hd, nRot, pos0, base, 1, mode === ROPE_NEOX, factors, attnFactor);
      for (const [name, rope] of [['rope', k.rope], ['rope_ref', k.rope_ref]] as const) {
        const xp = heap.put(x);
        rope(xp, nTok, nHead, hd, nRot, pos0, base, 1, mode, fp, 0, attnFactor, 0, 0);
        // θ in f64, cos and sin rounded to f32 once, times the f32 attention factor, the rotation in f32
        expectClose(get(xp, x.length), want, (i) => 4e-6 + 1e-6 * Math.abs(want[i]!), `${name} vs float64`);
      }
    });
  }
});
