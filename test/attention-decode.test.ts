/**
 * Decode attention over long contexts (assembly/ops/attention.ts, attendFused; kv.ts, dequantHeads): one query
 * token, the fused path. Its fast forms must not change a bit: every whole group of the KV heads in a range goes
 * over the cache together tile by tile, the heads of a group two at a time (tileScoreRun2, weightedSum2: one K
 * and V load for both), a typed cache's tile converted as normal halves with one test a row (rows with a zero,
 * subnormal, inf or NaN converted again), the tiles' lines requested before they are read. Checked over odd
 * shapes (head dims not a multiple of 4, 16 or 32; groups of 1, 3, 6, 8, 10; one KV head; MHA), windows, ring
 * wrap, ALiBi and soft-capping, f32 / f16 / q8_0 caches: against float64; a typed cache against the f32 cache
 * of its dequantized values; all KV heads together against each KV head alone; a head against the same head
 * in another place of its group (alone, or paired with another head); a ring against the linear cache; an f32
 * scratch of just the context. Needs build/wasmlm.wasm.
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
const { GGML_F32: F32, GGML_F16: F16, GGML_Q8_0: Q8_0 } = abi;

/** rows [rows][nKv·hd] of f32 into a cache of kvType (rows of kv_row_bytes) */
function cacheOf(f: Float32Array, kvType: number, nKv: number, hd: number, rows: number): number {
  const c = heap.alloc(rows * k.kv_row_bytes(kvType, nKv, hd));
  k.kv_convert(heap.put(f), F32, c, kvType, hd, nKv, rows);
  return c;
}

/** the f32 values a cache of kvType holds (its rows dequantized) */
function valuesOf(c: number, kvType: number, nKv: number, hd: number, rows: number): Float32Array {
  const f = heap.alloc(rows * nKv * hd * 4);
  k.kv_convert(c, kvType, f, F32, hd, nKv, rows);
  return heap.f32(f, rows * nKv * hd).slice();
}

/** KV head g's columns of rows [rows][nKv·hd] */
function headOf(f: Float32Array, g: number, nKv: number, hd: number, rows: number): Float32Array {
  const out = new Float32Array(rows * hd);
  for (let r = 0; r < rows; r++) out.set(f.subarray((r * nKv + g) * hd, (r * nKv + g + 1) * hd), r * hd);
  return out;
}

interface Shape { pos: number; nHead: number; nKv: number; hd: number; window?: number; maxBias?: number; cap?: number }

/** one decode step (query at position pos) over f32 caches kf / vf, returning the output row */
function decode(s: Shape, q: Float32Array, kc: number, vc: number, kvType: number, opts: { nHead?: number; nKv?: number; scratch?: number; ring?: number } = {}): Float32Array {
  const nHead = opts.nHead ?? s.nHead, nKv = opts.nKv ?? s.nKv;
  const out = heap.alloc(nHead * s.hd * 4);
  const scratch = opts.scratch ?? heap.alloc(scratchFloats(s.pos + 1, s.hd) * 4);
  k.attention(heap.put(q), kc, vc, out, 1, s.pos, nHead, nKv, s.hd, fr(1 / Math.sqrt(s.hd)), scratch, s.window ?? 0, s.maxBias ?? 0,
    opts.ring ?? 0, kvType, s.cap ?? 0);
  return heap.f32(out, nHead * s.hd).slice();
}

/** K and V values with some halves' specials: exact zeros and f16 subnormals in a few rows */
function kvValues(s: Shape, seed: number): { kf: Float32Array; vf: Float32Array } {
  const n = (s.pos + 1) * s.nKv * s.hd;
  const kf = randF32(n, seed, -2, 2), vf = randF32(n, seed + 1, -1, 1);
  for (let i = 0; i < n; i += 997) { kf[i] = 0; vf[i + 1] = 3e-6; kf[i + 2] = -2e-7; }
  return { kf, vf };
}

describe('decode attention on the fused path: the fast forms give the bits of the plain ones', () => {
  const cases: [string, Shape][] = [
    ['tinyllama\'s shape (4 KV heads of 8 heads, head dim 64)', { pos: 2047, nHead: 32, nKv: 4, hd: 64 }],
    ['group 8, head dim 40 (16 + 16 + 8 dims; q8_0: a short block)', { pos: 1500, nHead: 24, nKv: 3, hd: 40 }],
    ['group 3 (a pair and a head alone), head dim 17 (scalar tails)', { pos: 1300, nHead: 15, nKv: 5, hd: 17 }],
    ['group 6 with one KV head (MQA), head dim 24', { pos: 1400, nHead: 6, nKv: 1, hd: 24 }],
    ['a sliding window of 900 keys', { pos: 1700, nHead: 12, nKv: 4, hd: 20, window: 900 }],
    ['ALiBi and soft-capping', { pos: 1200, nHead: 16, nKv: 2, hd: 16, maxBias: 8, cap: 30 }],
    ['group 10 > 8 (blocks of 8 and 2 heads)', { pos: 1600, nHead: 20, nKv: 2, hd: 8 }],
    ['MHA (group 1: the per-head path)', { pos: 1100, nHead: 8, nKv: 8, hd: 16 }],
  ];
  for (const [name, s] of cases) {
    for (const kvType of [F32, F16, Q8_0]) {
      it(`${name}, kv type ${kvType}`, () => {
        const rows = s.pos + 1, qDim = s.nHead * s.hd, group = s.nHead / s.nKv;
        const { kf, vf } = kvValues(s, s.pos + kvType);
        const q = randF32(qDim, s.hd + kvType, -2, 2);
        const kc = cacheOf(kf, kvType, s.nKv, s.hd, rows), vc = cacheOf(vf, kvType, s.nKv, s.hd, rows);
        const got = decode(s, q, kc, vc, kvType);
        // the values the cache holds, as an f32 cache: the same bits
        const kv = valuesOf(kc, kvType, s.nKv, s.hd, rows), vv = valuesOf(vc, kvType, s.nKv, s.hd, rows);
        const kp = heap.put(kv), vp = heap.put(vv);
        if (kvType !== F32) expectBitsEqual(got, decode(s, q, kp, vp, F32), 'typed cache vs the f32 cache of its values');
        // and float64 over those values
        const want = attentionF64(q, kv, vv, 1, s.pos, s.nHead, s.nKv, s.hd, fr(1 / Math.sqrt(s.hd)), s.window ?? 0,
          { cap: s.cap, slope: (h) => ((s.maxBias ?? 0) > 0 ? k.alibi_slope(h, s.nHead, s.maxBias!) : 0) });
        expectClose(got, want, (i) => 5e-7 + 3e-6 * Math.abs(want[i]!), 'vs float64');
        // each KV head alone (its own cache, its group's heads): the same bits as all together
        for (let g = 0; g < s.nKv; g++) {
          const kg = heap.put(headOf(kv, g, s.nKv, s.hd, rows)), vg = heap.put(headOf(vv, g, s.nKv, s.hd, rows));
          const slice = (a: Float32Array) => a.slice(g * group * s.hd, (g + 1) * group * s.hd);
          if ((s.maxBias ?? 0) > 0) continue; // ALiBi's slope depends on the head's index among all heads
          expectBitsEqual(decode(s, slice(q), kg, vg, F32, { nHead: group, nKv: 1 }), slice(got), `KV head ${g} alone`);
        }
        // every group's heads rotated by one (each head in another place: alone, first or second of a pair)
        if (group > 1 && !((s.maxBias ?? 0) > 0)) {
          const rot = (a: Float32Array) => {
            const r = new Float32Array(a.length);
            for (let h = 0; h < s.nHead; h++) {
              const g0 = h - (h % group), to = g0 + ((h - g0 + 1) % group);
              r.set(a.subarray(h * s.hd, (h + 1) * s.hd), to * s.hd);
            }
            return r;
          };
          expectBitsEqual(decode(s, rot(q), kc, vc, kvType), rot(got), 'heads rotated within their group');
        }
      });
    }
  }

  // the fused path (a window of 1500 keys), and the per-head path (300 keys: below the fused path's threshold),
  // whose tiles start past the ring's end
  for (const [pos, window, ring] of [[3000, 1500, 1537], [1000, 300, 317]] as const) {
    it(`a ring cache that wraps gives the linear cache's bits (window ${window}, ring ${ring}; f32, f16, q8_0)`, () => {
      const s: Shape = { pos, nHead: 32, nKv: 4, hd: 64, window };
      const rows = s.pos + 1, kvDim = s.nKv * s.hd;
      const { kf, vf } = kvValues(s, 7);
      const q = randF32(s.nHead * s.hd, 8, -2, 2);
      for (const kvType of [F32, F16, Q8_0]) {
        const kRing = new Float32Array(ring * kvDim).fill(NaN), vRing = new Float32Array(ring * kvDim).fill(NaN);
        for (let p = rows - window; p < rows; p++) {
          kRing.set(kf.subarray(p * kvDim, (p + 1) * kvDim), (p % ring) * kvDim);
          vRing.set(vf.subarray(p * kvDim, (p + 1) * kvDim), (p % ring) * kvDim);
        }
        const a = decode(s, q, cacheOf(kRing, kvType, s.nKv, s.hd, ring), cacheOf(vRing, kvType, s.nKv, s.hd, ring), kvType, { ring });
        const b = decode(s, q, cacheOf(kf, kvType, s.nKv, s.hd, rows), cacheOf(vf, kvType, s.nKv, s.hd, rows), kvType);
        expectBitsEqual(a, b, `ring vs linear, kv type ${kvType}`);
        expect(a.every(Number.isFinite), 'no row outside the window was read').toBe(true);
      }
    });
  }

  it('an f32 scratch of just the context (fewer KV heads at a time) gives the same bits and stays inside it', () => {
    const s: Shape = { pos: 1999, nHead: 32, nKv: 4, hd: 64 };
    const rows = s.pos + 1;
    const { kf, vf } = kvValues(s, 9);
    const q = randF32(s.nHead * s.hd, 10, -2, 2);
    const kc = heap.put(kf), vc = heap.put(vf);
    const small = heap.alloc(rows * 4 + 4096);
    heap.f32(small + rows * 4, 1024).fill(NaN);
    expectBitsEqual(decode(s, q, kc, vc, F32, { scratch: small }), decode(s, q, kc, vc, F32), 'small scratch');
    expect(heap.f32(small + rows * 4, 1024).every(Number.isNaN), 'the scratch past the context stays untouched').toBe(true);
  });
});
