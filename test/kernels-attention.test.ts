/**
 * Attention over long contexts (assembly/ops/attention.ts): the fused path, where the query heads that
 * share a KV head go over the cache together, a tile of keys at a time, with a one-pass softmax. It runs
 * once a query sees at least max(512, min(group, 8)·(headDim + 66)) keys when KV heads are shared
 * (group > 1); kernels.test.ts and kernels-block.test.ts cover the short contexts (per-head path). Checked
 * against the scalar two-pass attention_ref and a float64 reference; the properties the engine relies on
 * bit for bit: out == q, a ring cache equals the linear one, and a head's result does not depend on
 * which heads share its pass (threads split the heads anywhere). Needs build/wasmlm.wasm.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { loadKernels } from './helpers/wasm.js';
import { randF32, expectClose, expectBitsEqual, fr } from './helpers/numeric.js';
import { attentionF64 } from './helpers/attention-f64.js';

const { k: kernels, heap } = loadKernels(2048); // 128 MiB
beforeEach(() => heap.reset());

type Attention = (q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
  headDim: number, scale: number, scratch: number, window: number, maxBias: number, ring: number) => void;
const k = kernels as unknown as { attention: Attention; attention_ref: Attention; alibi_slope(h: number, nHead: number, maxBias: number): number };

const get = (p: number, n: number) => heap.f32(p, n).slice();
/** tolerance around `want`: both kernels stay within about 2e-7 + 1.5e-6·|x| of float64 here */
const tol = (want: ArrayLike<number>) => (i: number) => 5e-7 + 3e-6 * Math.abs(want[i]!);
/** the fused path's threshold (attention.ts: FUSE_MIN_LEN, TILE, FUSE_HEADS) */
const fuseLen = (group: number, hd: number) => Math.max(512, Math.min(group, 8) * (hd + 64 + 2));

describe('attention over long contexts (the fused path)', () => {
  // nTok, pos0, nHead, nKvHead, headDim, window, maxBias
  const cases: [number, number, number, number, number, number, number][] = [
    [1, 2047, 32, 4, 64, 0, 0],    // tinyllama's shape, decode at 2048
    [3, 1100, 8, 2, 16, 0, 0],     // a short batch: every query past the threshold
    [2, 700, 6, 3, 16, 0, 0],      // group 2
    [1, 1300, 12, 2, 20, 0, 0],    // group 6; head dim 20: 16 + 4 dims
    [1, 1500, 6, 1, 17, 0, 0],     // MQA; head dim 17: scalar tails
    [2, 1400, 20, 2, 8, 0, 0],     // group 10 > 8: blocks of 8 and 2 heads
    [1, 1200, 8, 2, 16, 0, 8],     // ALiBi
    [2, 1600, 8, 4, 16, 1000, 0],  // sliding window (1000 keys)
    [4, 510, 8, 2, 16, 0, 0],      // queries on both sides of the threshold (512)
  ];
  for (const [nTok, pos0, nHead, nKv, hd, window, maxBias] of cases) {
    it(`nTok=${nTok} pos0=${pos0} heads ${nHead}/${nKv} headDim=${hd} window=${window} maxBias=${maxBias}`, () => {
      const ctx = pos0 + nTok;
      const len = window > 0 ? Math.min(window, ctx) : ctx;
      expect(len >= fuseLen(nHead / nKv, hd) || nTok > 1, 'the case reaches the fused path').toBe(true);
      const q = randF32(nTok * nHead * hd, hd + nTok + nHead, -2, 2);
      const kc = randF32(ctx * nKv * hd, hd + 1, -2, 2);
      const vc = randF32(ctx * nKv * hd, hd + 2, -1, 1);
      const scale = fr(1 / Math.sqrt(hd));
      const qp = heap.put(q), kp = heap.put(kc), vp = heap.put(vc);
      const n = nTok * nHead * hd;
      const a = heap.alloc(n * 4), b = heap.alloc(n * 4), s = heap.alloc(ctx * 4);
      k.attention(qp, kp, vp, a, nTok, pos0, nHead, nKv, hd, scale, s, window, maxBias, 0);
      k.attention_ref(qp, kp, vp, b, nTok, pos0, nHead, nKv, hd, scale, s, window, maxBias, 0);
      const ga = get(a, n), gb = get(b, n);
      const want = attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, scale, window, { slope: (h) => (maxBias > 0 ? k.alibi_slope(h, nHead, maxBias) : 0) });
      expectClose(gb, want, tol(want), 'scalar vs float64');
      expectClose(ga, want, tol(want), 'SIMD vs float64');
      expectClose(ga, gb, tol(gb), 'SIMD vs scalar');
      // out == q
      const ip = heap.put(q);
      k.attention(ip, kp, vp, ip, nTok, pos0, nHead, nKv, hd, scale, s, window, maxBias, 0);
      expectBitsEqual(get(ip, n), ga, 'out == q');
    });
  }

  it('uses no more scratch than the context length (the floats after it stay untouched)', () => {
    const nHead = 32, nKv = 4, hd = 64, pos0 = 1100, ctx = pos0 + 1;
    const q = randF32(nHead * hd, 5, -2, 2), kc = randF32(ctx * nKv * hd, 6, -2, 2), vc = randF32(ctx * nKv * hd, 7);
    const s = heap.alloc(ctx * 4 + 4096), o = heap.alloc(nHead * hd * 4);
    heap.f32(s, ctx + 1024).fill(NaN);
    k.attention(heap.put(q), heap.put(kc), heap.put(vc), o, 1, pos0, nHead, nKv, hd, 0.125, s, 0, 0, 0);
    expect(heap.f32(s + ctx * 4, 1024).every(Number.isNaN)).toBe(true);
    expect(get(o, nHead * hd).every(Number.isFinite)).toBe(true);
  });

  it('a head computes the same bits whichever heads share its pass', () => {
    // 8 query heads on one KV head (one pass over 8 heads) against 2 heads on it (a pass over 2), the
    // same q rows: as when threads cut a block of heads
    const hd = 16, pos0 = 1300, ctx = pos0 + 1, scale = 0.25;
    const q8 = randF32(8 * hd, 11, -2, 2), kc = randF32(ctx * hd, 12, -2, 2), vc = randF32(ctx * hd, 13);
    const kp = heap.put(kc), vp = heap.put(vc), s = heap.alloc(ctx * 4);
    const o8 = heap.alloc(8 * hd * 4);
    k.attention(heap.put(q8), kp, vp, o8, 1, pos0, 8, 1, hd, scale, s, 0, 0, 0);
    const all = get(o8, 8 * hd);
    for (const h of [0, 3, 6]) {
      const o2 = heap.alloc(2 * hd * 4);
      k.attention(heap.put(q8.slice(h * hd, (h + 2) * hd)), kp, vp, o2, 1, pos0, 2, 1, hd, scale, s, 0, 0, 0);
      expectBitsEqual(get(o2, 2 * hd), all.slice(h * hd, (h + 2) * hd), `heads ${h}, ${h + 1}`);
    }
  });

  it('a ring cache gives the linear cache\'s bits (tiles that wrap around the ring)', () => {
    const nHead = 8, nKv = 2, hd = 16, window = 1100, ring = 1157, scale = 0.25, nTok = 3;
    const kvDim = nKv * hd, qDim = nHead * hd;
    for (const [pos0, alibi] of [[1500, 0], [2300, 0], [3000, 8]] as const) {
      const T = pos0 + nTok;
      const kAll = randF32(T * kvDim, pos0, -2, 2), vAll = randF32(T * kvDim, pos0 + 1);
      const q = randF32(nTok * qDim, pos0 + 2, -2, 2);
      const kRing = heap.alloc(ring * kvDim * 4), vRing = heap.alloc(ring * kvDim * 4);
      heap.f32(kRing, ring * kvDim).fill(NaN);
      heap.f32(vRing, ring * kvDim).fill(NaN);
      for (let p = Math.max(0, pos0 + 1 - window); p < T; p++) {
        heap.f32(kRing + (p % ring) * kvDim * 4, kvDim).set(kAll.subarray(p * kvDim, (p + 1) * kvDim));
        heap.f32(vRing + (p % ring) * kvDim * 4, kvDim).set(vAll.subarray(p * kvDim, (p + 1) * kvDim));
      }
      const kLin = heap.put(kAll), vLin = heap.put(vAll), qp = heap.put(q);
      const s = heap.alloc(T * 4), a = heap.alloc(nTok * qDim * 4), b = heap.alloc(nTok * qDim * 4);
      k.attention(qp, kRing, vRing, a, nTok, pos0, nHead, nKv, hd, scale, s, window, alibi, ring);
      k.attention(qp, kLin, vLin, b, nTok, pos0, nHead, nKv, hd, scale, s, window, alibi, 0);
      const ga = get(a, nTok * qDim);
      expectBitsEqual(ga, get(b, nTok * qDim), `ring vs linear at ${pos0}`);
      expect(ga.every(Number.isFinite), 'no row outside the window was read').toBe(true);
      const want = attentionF64(q, kAll, vAll, nTok, pos0, nHead, nKv, hd, scale, window, { slope: (h) => (alibi > 0 ? k.alibi_slope(h, nHead, alibi) : 0) });
      expectClose(ga, want, tol(want), 'vs float64');
    }
  });

  it('softmax over a tile whose max grows late (rescaling) and one where one key dominates', () => {
    const nHead = 4, nKv = 1, hd = 8, pos0 = 1023, ctx = pos0 + 1, scale = 1;
    const q = randF32(nHead * hd, 21, -1, 1);
    const kc = randF32(ctx * hd, 22, -0.5, 0.5);
    // keys growing along the context: the running max moves up tile after tile
    for (let j = 0; j < ctx; j++) for (let i = 0; i < hd; i++) kc[j * hd + i]! *= 1 + j / 64;
    // one key far above the others for head 0
    for (let i = 0; i < hd; i++) kc[700 * hd + i] = 40 * Math.sign(q[i]!);
    const vc = randF32(ctx * hd, 23);
    const o = heap.alloc(nHead * hd * 4), r = heap.alloc(nHead * hd * 4), s = heap.alloc(ctx * 4);
    const qp = heap.put(q), kp = heap.put(kc), vp = heap.put(vc);
    k.attention(qp, kp, vp, o, 1, pos0, nHead, nKv, hd, scale, s, 0, 0, 0);
    k.attention_ref(qp, kp, vp, r, 1, pos0, nHead, nKv, hd, scale, s, 0, 0, 0);
    const want = attentionF64(q, kc, vc, 1, pos0, nHead, nKv, hd, scale, 0);
    expectClose(get(o, nHead * hd), want, tol(want), 'SIMD vs float64');
    expectClose(get(r, nHead * hd), want, tol(want), 'scalar vs float64');
    // head 0 is (nearly) V row 700
    expectClose(get(o, hd), vc.subarray(700 * hd, 701 * hd), () => 1e-5, 'the dominant key');
  });
});
