/**
 * Prefill attention over tiles of queries (assembly/ops/attention.ts, attendFusedQueries): on the fused path
 * (long contexts, grouped-query attention with a group of at most 8 heads) consecutive queries go over each
 * tile of K and V rows together. Each query's result must be the bits it gets alone (decode, one token at a
 * time): batch == token by token, for f32, f16 and q8_0 caches, with soft-capping and ALiBi, batches that start
 * below the fused path's threshold and end above it, a sliding window that cuts the tile short, and an f32
 * scratch just long enough for the context (fewer queries per tile). Needs build/wasmlm.wasm.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import * as abi from '../src/abi.js';
import { loadKernels } from './helpers/wasm.js';
import { randF32, expectBitsEqual, expectClose, fr } from './helpers/numeric.js';
import { attentionF64 } from './helpers/attention-f64.js';
import { scratchFloats, type AttentionKernels } from './helpers/attention-kernels.js';

const { k: kernels, heap } = loadKernels(2048);
beforeEach(() => heap.reset());

const k = kernels as unknown as AttentionKernels;

describe('attention: a batch of queries == the same queries one at a time, bit for bit', () => {
  // nTok, pos0, nHead, nKvHead, headDim, kvType, window, maxBias, cap
  const cases: [number, number, number, number, number, number, number, number, number][] = [
    [9, 1100, 32, 4, 64, abi.GGML_F16, 0, 0, 0],     // tinyllama's shape: tiles of 4, 4, then 1
    [7, 2100, 16, 2, 64, abi.GGML_F32, 0, 0, 0],     // f32 cache (tiles of 2: the scratch of an f32 cache is the context)
    [6, 1100, 8, 2, 16, abi.GGML_Q8_0, 0, 0, 0],     // q8_0 cache, group 4
    [5, 1030, 8, 2, 16, abi.GGML_F16, 0, 8, 30],     // ALiBi and soft-capping
    [12, 505, 8, 2, 16, abi.GGML_F16, 0, 0, 0],      // the first queries below the threshold (512)
    [6, 1200, 8, 2, 16, abi.GGML_F16, 1203, 0, 0],   // a window: the last queries' keys start past 0
    [5, 1100, 4, 4, 16, abi.GGML_F32, 0, 0, 0],      // no sharing (group 1): the per-head path
  ];
  for (const [nTok, pos0, nHead, nKv, hd, kvType, window, maxBias, cap] of cases) {
    it(`nTok=${nTok} pos0=${pos0} heads ${nHead}/${nKv} headDim=${hd} kv ${kvType} window=${window} maxBias=${maxBias} cap=${cap}`, () => {
      const ctx = pos0 + nTok, kvDim = nKv * hd, qDim = nHead * hd;
      const kf = randF32(ctx * kvDim, hd + 1, -2, 2), vf = randF32(ctx * kvDim, hd + 2, -1, 1);
      const q = randF32(nTok * qDim, nTok + pos0, -2, 2);
      const rowBytes = k.kv_row_bytes(kvType, nKv, hd);
      const kc = heap.alloc(ctx * rowBytes), vc = heap.alloc(ctx * rowBytes);
      k.kv_convert(heap.put(kf), abi.GGML_F32, kc, kvType, hd, nKv, ctx);
      k.kv_convert(heap.put(vf), abi.GGML_F32, vc, kvType, hd, nKv, ctx);
      const scale = fr(1 / Math.sqrt(hd));
      const s = heap.alloc(scratchFloats(ctx, hd) * 4);
      const batch = heap.alloc(nTok * qDim * 4);
      k.attention(heap.put(q), kc, vc, batch, nTok, pos0, nHead, nKv, hd, scale, s, window, maxBias, 0, kvType, cap);
      const got = heap.f32(batch, nTok * qDim).slice();
      for (let t = 0; t < nTok; t++) {
        const one = heap.alloc(qDim * 4);
        k.attention(heap.put(q.subarray(t * qDim, (t + 1) * qDim)), kc, vc, one, 1, pos0 + t, nHead, nKv, hd, scale, s, window, maxBias, 0, kvType, cap);
        expectBitsEqual(got.subarray(t * qDim, (t + 1) * qDim), heap.f32(one, qDim).slice(), `token ${t}`);
      }
      // and the batch is attention: against float64 over the cache's values (f32 here: typed caches round)
      if (kvType === abi.GGML_F32 && cap === 0) {
        const want = attentionF64(q, kf, vf, nTok, pos0, nHead, nKv, hd, scale, window,
          { slope: (h) => (maxBias > 0 ? k.alibi_slope(h, nHead, maxBias) : 0) });
        expectClose(got, want, (i) => 5e-7 + 3e-6 * Math.abs(want[i]!), 'batch vs float64');
      }
    });
  }

  it('out == q, and an f32 scratch of just the context (fewer queries per tile) give the same bits', () => {
    const nTok = 8, pos0 = 2100, nHead = 16, nKv = 2, hd = 32, ctx = pos0 + nTok, qDim = nHead * hd, kvDim = nKv * hd;
    const q = randF32(nTok * qDim, 3, -2, 2);
    const kc = heap.put(randF32(ctx * kvDim, 4, -2, 2)), vc = heap.put(randF32(ctx * kvDim, 5, -1, 1));
    const big = heap.alloc(scratchFloats(ctx, hd) * 4), small = heap.alloc((pos0 + 1) * 4 + 4096);
    heap.f32(small + (pos0 + 1) * 4, 1024).fill(NaN);
    const a = heap.alloc(nTok * qDim * 4), b = heap.alloc(nTok * qDim * 4);
    k.attention(heap.put(q), kc, vc, a, nTok, pos0, nHead, nKv, hd, 0.125, big, 0, 0, 0, abi.GGML_F32, 0);
    k.attention(heap.put(q), kc, vc, b, nTok, pos0, nHead, nKv, hd, 0.125, small, 0, 0, 0, abi.GGML_F32, 0);
    expectBitsEqual(heap.f32(b, nTok * qDim).slice(), heap.f32(a, nTok * qDim).slice(), 'small scratch');
    for (let t = 0; t < nTok; t++) {
      const one = heap.alloc(qDim * 4);
      k.attention(heap.put(q.subarray(t * qDim, (t + 1) * qDim)), kc, vc, one, 1, pos0 + t, nHead, nKv, hd, 0.125, big, 0, 0, 0, abi.GGML_F32, 0);
      expectBitsEqual(heap.f32(a + t * qDim * 4, qDim).slice(), heap.f32(one, qDim).slice(), `token ${t}`);
    }
    expect(heap.f32(small + (pos0 + 1) * 4, 1024).every(Number.isNaN), 'the scratch past the context stays untouched').toBe(true);
    const ip = heap.put(q);
    k.attention(ip, kc, vc, ip, nTok, pos0, nHead, nKv, hd, 0.125, big, 0, 0, 0, abi.GGML_F32, 0);
    expectBitsEqual(heap.f32(ip, nTok * qDim).slice(), heap.f32(a, nTok * qDim).slice(), 'out == q');
  });
});
