/**
 * Kernel tests for the block ops (LayerNorm, row broadcasts, axpby, GELU, GLU, copy_rows, attention with
 * ALiBi / ring cache, MoE, soft-capping): SIMD vs scalar twin, scalar twin vs an independent JS reference (float64, or
 * an exact emulation of the reference engine's f32 steps where that is what is specified), and a plan run
 * equal to direct calls. Needs build/wasmlm.wasm (npm run build:wasm).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import * as abi from '../src/abi.js';
import { Views } from '../src/engine/memory.js';
import { Plan } from '../src/engine/plan.js';
import { dequantize, f16ToF32, f32ToF16, quantizeTensor } from '../src/formats/quantize.js';
import { type Kernels, loadKernels } from './helpers/wasm.js';
import { rng, randF32, roundHalfEven, worst, expectClose, expectBitsEqual, fr } from './helpers/numeric.js';

/** The exports this file uses beyond helpers/wasm.ts's list. */
interface BlockKernels extends Kernels {
  layernorm(x: number, w: number, b: number, out: number, n: number, nTok: number, eps: number): void;
  layernorm_ref(x: number, w: number, b: number, out: number, n: number, nTok: number, eps: number): void;
  add_row(x: number, row: number, out: number, n: number, nTok: number): void;
  add_row_ref(x: number, row: number, out: number, n: number, nTok: number): void;
  mul_row(x: number, row: number, out: number, n: number, nTok: number): void;
  mul_row_ref(x: number, row: number, out: number, n: number, nTok: number): void;
  axpby(a: number, b: number, out: number, n: number, alpha: number, beta: number): void;
  axpby_ref(a: number, b: number, out: number, n: number, alpha: number, beta: number): void;
  gelu(x: number, out: number, n: number): void;
  gelu_ref(x: number, out: number, n: number): void;
  glu(a: number, b: number, out: number, n: number, nTok: number, aStride: number, bStride: number, act: number): void;
  glu_ref(a: number, b: number, out: number, n: number, nTok: number, aStride: number, bStride: number, act: number): void;
  copy_rows(src: number, srcStride: number, dst: number, dstStride: number, n: number, nRows: number): void;
  alibi_slope(h: number, nHead: number, maxBias: number): number;
  attention(q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
            headDim: number, scale: number, scratch: number, window: number, maxBias?: number, ring?: number): void;
  attention_ref(q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
                headDim: number, scale: number, scratch: number, window: number, maxBias?: number, ring?: number): void;
  moe(x: number, router: number, out: number, nTok: number, nExpert: number, usedAndFlags: number, nEmbd: number, nFf: number,
      gate: number, up: number, down: number, typeGate: number, typeUp: number, typeDown: number, scratch: number): void;
  moe_ref(x: number, router: number, out: number, nTok: number, nExpert: number, usedAndFlags: number, nEmbd: number, nFf: number,
          gate: number, up: number, down: number, typeGate: number, typeUp: number, typeDown: number, scratch: number): void;
  moe_scratch_bytes(nExpert: number, nEmbd: number, nFf: number, typeGate: number, typeUp: number, typeDown: number): number;
  softcap(x: number, out: number, n: number, cap: number): void;
  softcap_ref(x: number, out: number, n: number, cap: number): void;
}

const loaded = loadKernels(2048); // 128 MiB
const k = loaded.k as BlockKernels;
const heap = loaded.heap;
beforeEach(() => heap.reset());

// ------------------------------------------------------------------ helpers


/** any number (float64) -> IEEE half bits, round to nearest even, in exact arithmetic (one rounding). */
function f64ToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | roundHalfEven(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  let r = roundHalfEven(a / 2 ** (e - 10));
  if (r === 2048) { r = 1024; e++; }
  if (e > 15) return s | 0x7c00;
  return s | ((e + 15) << 10) | (r - 1024);
}

/** f32 value -> nearest half -> f32 value (the kernels' roundF16) */
const f16round = (x: number) => f16ToF32(f32ToF16(x));

const get = (p: number, n: number) => heap.f32(p, n).slice();

// ------------------------------------------------------------------ LayerNorm

/** The reference engine's LayerNorm, emulated step by step (f64 sums, every f32 step rounded). */
function layerNormEmulated(x: Float32Array, w: Float32Array | null, b: Float32Array | null, n: number, nTok: number, eps: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < nTok; t++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[t * n + i];
    const mean = fr(fr(sum) / n);
    let sum2 = 0;
    for (let i = 0; i < n; i++) { const d = fr(x[t * n + i] - mean); sum2 += fr(d * d); }
    const variance = fr(sum2 / n);
    const scale = fr(1 / fr(Math.sqrt(fr(variance + eps))));
    for (let i = 0; i < n; i++) {
      let v = fr(fr(x[t * n + i] - mean) * scale);
      if (w) v = fr(v * w[i]);
      if (b) v = fr(v + b[i]);
      out.push(v);
    }
  }
  return out;
}

function layerNormF64(x: Float32Array, w: Float32Array | null, b: Float32Array | null, n: number, nTok: number, eps: number): { y: number[]; mag: number[] } {
  const y: number[] = [], mag: number[] = [];
  for (let t = 0; t < nTok; t++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[t * n + i];
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[t * n + i] - mean) ** 2;
    const s = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) {
      const core = (x[t * n + i] - mean) * s * (w ? w[i] : 1);
      y.push(core + (b ? b[i] : 0));
      // x − mean is an f32 subtraction: its error scales with |x| + |mean|, not with the difference
      mag.push((Math.abs(x[t * n + i]) + Math.abs(mean)) * s * (w ? Math.abs(w[i]) : 1) + (b ? Math.abs(b[i]) : 0));
    }
  }
  return { y, mag };
}

describe('layernorm', () => {
  for (const n of [1, 7, 64, 100, 4097]) {
    for (const nTok of [1, 3, 5]) {
      for (const [withW, withB] of [[true, true], [true, false], [false, true], [false, false]]) {
        if (n === 4097 && nTok !== 3) continue;
        it(`n=${n} nTok=${nTok} ${withW ? 'gain' : 'no gain'} ${withB ? 'bias' : 'no bias'}, and in place`, () => {
          const eps = fr(1e-5);
          const x = randF32(n * nTok, n * 10 + nTok, -2, 2);
          if (n >= 64) for (let i = 0; i < n; i++) x[i] += 3; // a row with an offset mean
          const wv = randF32(n, n + 1, 0.5, 1.5), bv = randF32(n, n + 2, -1, 1);
          const xp = heap.put(x), w = withW ? heap.put(wv) : 0, b = withB ? heap.put(bv) : 0;
          const a = heap.alloc(n * nTok * 4), r = heap.alloc(n * nTok * 4), inPlace = heap.put(x, 4);
          k.layernorm(xp, w, b, a, n, nTok, eps);
          k.layernorm_ref(xp, w, b, r, n, nTok, eps);
          k.layernorm(inPlace, w, b, inPlace, n, nTok, eps);
          const ga = get(a, n * nTok), gr = get(r, n * nTok);
          expectBitsEqual(get(inPlace, n * nTok), ga, 'in place');
          expectBitsEqual(get(xp, n * nTok), x, 'x untouched');
          for (let t = 0; t < nTok; t++) { // a row's result does not depend on nTok
            const o = heap.alloc(n * 4);
            k.layernorm(xp + t * n * 4, w, b, o, n, 1, eps);
            expectBitsEqual(get(o, n), get(a + t * n * 4, n), `row ${t} alone`);
          }
          // only the order of the f64 sums differs
          expectClose(ga, gr, (i) => 2.5e-7 * Math.abs(gr[i]) + 1e-30, 'SIMD vs scalar');
          const emu = layerNormEmulated(x, withW ? wv : null, withB ? bv : null, n, nTok, eps);
          expectClose(gr, emu, () => 0, 'scalar vs emulated reference');
          const { y, mag } = layerNormF64(x, withW ? wv : null, withB ? bv : null, n, nTok, eps);
          expectClose(ga, y, (i) => 1e-6 * mag[i] + 1e-7, 'SIMD vs float64');
          expectClose(gr, y, (i) => 1e-6 * mag[i] + 1e-7, 'scalar vs float64');
        });
      }
    }
  }

  it('the float64 comparison can fail (sample variance instead of population is caught)', () => {
    const n = 64, x = randF32(n, 3, -2, 2);
    const r = heap.alloc(n * 4);
    k.layernorm_ref(heap.put(x), 0, 0, r, n, 1, 1e-5);
    let mean = 0;
    for (const v of x) mean += v;
    mean /= n;
    let v2 = 0;
    for (const v of x) v2 += (v - mean) ** 2;
    const s = 1 / Math.sqrt(v2 / (n - 1) + 1e-5);
    const wrong = Array.from(x, (v) => (v - mean) * s);
    expect(worst(get(r, n), wrong, (i) => 1e-6 * Math.abs(wrong[i]) + 1e-7).excess).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------ add_row, mul_row, axpby, copy_rows

describe('row broadcasts, axpby, copy_rows', () => {
  for (const n of [1, 7, 64, 100]) {
    for (const nTok of [1, 3, 5]) {
      it(`add_row / mul_row n=${n} nTok=${nTok} (exact, in place)`, () => {
        const x = randF32(n * nTok, n + nTok, -3, 3), row = randF32(n, n * 3 + 1, -2, 2);
        const xp = heap.put(x), rp = heap.put(row);
        for (const [name, f, fref, op] of [
          ['add_row', k.add_row, k.add_row_ref, (a: number, b: number) => fr(a + b)],
          ['mul_row', k.mul_row, k.mul_row_ref, (a: number, b: number) => fr(a * b)],
        ] as const) {
          const want = Float32Array.from(x, (v, i) => op(v, row[i % n]));
          const o1 = heap.alloc(n * nTok * 4), o2 = heap.alloc(n * nTok * 4), ip = heap.put(x, 8);
          f(xp, rp, o1, n, nTok);
          fref(xp, rp, o2, n, nTok);
          f(ip, rp, ip, n, nTok);
          expectBitsEqual(get(o1, n * nTok), want, name);
          expectBitsEqual(get(o2, n * nTok), want, `${name}_ref`);
          expectBitsEqual(get(ip, n * nTok), want, `${name} in place`);
        }
      });
    }

    it(`axpby n=${n}: exact, beta = 0 does not read b, out may alias a or b`, () => {
      const a = randF32(n, n + 5, -3, 3), b = randF32(n, n + 6, -3, 3);
      const pa = heap.put(a), pb = heap.put(b);
      for (const [alpha, beta] of [[1.5, -0.25], [1, 1], [0.7, 0], [-2, 3]]) {
        const want = Float32Array.from(a, (v, i) => (beta === 0 ? fr(fr(alpha) * v) : fr(fr(fr(alpha) * v) + fr(fr(beta) * b[i]))));
        const o1 = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
        k.axpby(pa, pb, o1, n, alpha, beta);
        k.axpby_ref(pa, pb, o2, n, alpha, beta);
        expectBitsEqual(get(o1, n), want, `axpby ${alpha} ${beta}`);
        expectBitsEqual(get(o2, n), want, `axpby_ref ${alpha} ${beta}`);
        const ia = heap.put(a), ib = heap.put(b);
        k.axpby(ia, pb, ia, n, alpha, beta);
        expectBitsEqual(get(ia, n), want, 'out == a');
        k.axpby(pa, ib, ib, n, alpha, beta);
        expectBitsEqual(get(ib, n), want, 'out == b');
      }
      // beta = 0: b is not read (NaNs there would poison 0·b)
      const nan = heap.put(new Float32Array(n).fill(NaN));
      const o = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
      k.axpby(pa, nan, o, n, 2, 0);
      k.axpby_ref(pa, nan, o2, n, 2, 0);
      expectBitsEqual(get(o, n), Float32Array.from(a, (v) => fr(2 * v)), 'beta 0, NaN b');
      expectBitsEqual(get(o2, n), Float32Array.from(a, (v) => fr(2 * v)), 'beta 0, NaN b (ref)');
      k.axpby(pa, 0, o, n, 0.5, 0); // b = 0 as the engine passes it
      expectBitsEqual(get(o, n), Float32Array.from(a, (v) => fr(0.5 * v)), 'b = 0 pointer');
    });

    it(`copy_rows n=${n}`, () => {
      const nRows = 5, srcStride = n + 3, dstStride = n + 1;
      const src = randF32(nRows * srcStride, n + 9);
      const sp = heap.put(src, 4);
      const dst = heap.alloc(nRows * dstStride * 4);
      heap.f32(dst, nRows * dstStride).fill(-7);
      k.copy_rows(sp, srcStride, dst, dstStride, n, nRows);
      const got = get(dst, nRows * dstStride);
      for (let r = 0; r < nRows; r++) {
        for (let i = 0; i < dstStride; i++) {
          expect(got[r * dstStride + i], `row ${r} col ${i}`).toBe(i < n ? src[r * srcStride + i] : -7);
        }
      }
      // in-place compaction (the engine's split of fused qkv rows is the same shape)
      const ip = heap.put(src);
      k.copy_rows(ip, srcStride, ip, n, n, nRows);
      for (let r = 0; r < nRows; r++) {
        expectBitsEqual(heap.f32(ip + r * n * 4, n), src.subarray(r * srcStride, r * srcStride + n), `compaction row ${r}`);
      }
    });
  }
});

// ------------------------------------------------------------------ GELU

const GELU_A = fr(0.044715);
const SQRT_2_OVER_PI = fr(0.79788456080286535587989211986876);

/** The reference's table entry for an fp16 value v, emulated in f32 (tanhf = correctly rounded tanh). */
function geluTableEmulated(v: number, fma = false): number {
  const a = fr(GELU_A * v);
  const c = fma ? fr(a * v + 1) : fr(1 + fr(a * v));
  const e = fr(fr(SQRT_2_OVER_PI * v) * c);
  const th = fr(Math.tanh(e));
  return f16round(fr(fr(0.5 * v) * fr(1 + th)));
}

function geluEmulated(x: number): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  return geluTableEmulated(f16round(x));
}

/** exact tanh-GELU in float64 */
const geluF64 = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

describe('gelu', () => {
  it('all 65536 halves: SIMD == scalar bit for bit, == the emulated f32 table exactly; vs float64 (numbers printed)', () => {
    const n = 65536;
    const x = new Float32Array(n);
    for (let h = 0; h < n; h++) x[h] = f16ToF32(h);
    const xp = heap.put(x);
    const o1 = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
    k.gelu(xp, o1, n);
    k.gelu_ref(xp, o2, n);
    const g1 = get(o1, n), g2 = get(o2, n);
    expectBitsEqual(g1, g2, 'SIMD vs scalar');
    const emu = Float32Array.from(x, geluEmulated);
    expectBitsEqual(g2, emu, 'scalar vs emulated reference table');

    // against exact GELU (float64) rounded once to fp16, over the inputs that go through the table
    let inRange = 0, differ = 0, differ1ulp = 0, differNearBoundary = 0, maxUlps = 0, worstX = 0;
    let differTail = 0, differMain = 0, fmaDiffer = 0, mainBoundary = 0, mainUlps = 0;
    const ulpsBetween = (ha: number, hb: number) => {
      const ord = (h: number) => (h & 0x8000 ? -(h & 0x7fff) : h);
      return Math.abs(ord(ha) - ord(hb));
    };
    for (let h = 0; h < n; h++) {
      const v = x[h];
      if (!(v > -10 && v < 10)) continue;
      inRange++;
      if (geluTableEmulated(v, true) !== geluTableEmulated(v)) fmaDiffer++;
      const y64 = geluF64(v);
      const want = f64ToHalf(y64);
      const got = f32ToF16(g1[h]);
      if (got === want || (got & 0x7fff) === 0 && (want & 0x7fff) === 0) continue;
      differ++;
      const u = ulpsBetween(got, want);
      if (u > maxUlps) { maxUlps = u; worstX = v; }
      if (u === 1) {
        differ1ulp++;
        // distance of y64 from the midpoint between the two candidates, relative to |y64|
        const mid = (f16ToF32(got) + f16ToF32(want)) / 2;
        if (Math.abs(y64 - mid) <= 1e-3 * Math.abs(y64)) differNearBoundary++;
      }
      if (v < -3) differTail++;
      else {
        differMain++;
        const mid = (f16ToF32(got) + f16ToF32(want)) / 2;
        mainBoundary = Math.max(mainBoundary, Math.abs(y64 - mid) / Math.abs(y64));
        mainUlps = Math.max(mainUlps, u);
      }
    }
    console.log(`GELU exhaustive: ${inRange} fp16 inputs in (-10, 10); SIMD == scalar == emulated f32 table for all 65536 halves. ` +
      `vs float64 GELU rounded to fp16: ${differ} differ (${differ1ulp} by 1 ulp, ${differNearBoundary} of those with the float64 value ` +
      `within 1e-3 relative of the rounding boundary; max ${maxUlps} ulp at x=${worstX}); ${differTail} of them at x < -3 (f32 ` +
      `cancellation in 1 + tanhf(u) near -1 in the reference formula), ${differMain} at x >= -3 (max ${mainUlps} ulp, ` +
      `float64 value within ${mainBoundary.toExponential(2)} relative of the boundary). ` +
      `FMA-contracted 1 + A·x·x would change ${fmaDiffer} table entries.`);
    expect(inRange).toBe(2 * 0x4900); // |x| < 10: halves 0x0000..0x48ff and 0x8000..0xc8ff
    // where the f32 formula is well conditioned (x ≥ −3) a difference is 1 ulp and only where the float64 value sits
    // within a few f32 ulps of an fp16 rounding boundary; below −3 the reference's own f32 cancellation dominates
    expect(differMain).toBeLessThanOrEqual(20);
    expect(mainUlps).toBeLessThanOrEqual(1);
    expect(mainBoundary).toBeLessThanOrEqual(1e-6);
    expect(maxUlps).toBeLessThanOrEqual(2);
  });

  it('values between halves, ties, the ±10 clamps, inf, NaN, signed zero; in place; odd lengths', () => {
    const r = rng(77);
    const vals: number[] = [-10, 10, -9.999, 9.999, -10.001, 10.001, 1e6, -1e6, Infinity, -Infinity, 0, -0, NaN, 1e-30, -1e-30,
      9.996, 9.9961, -5.5, -4.25, 3.0001220703125 /* a tie: 3 + ulp(3)/2 in fp16 */, 0.5 + 2 ** -12];
    while (vals.length < 1003) {
      const kind = vals.length % 3;
      if (kind === 0) vals.push((r() - 0.5) * 24);
      else if (kind === 1) { const h = Math.floor(r() * 0x4900); const a = f16ToF32(h), b = f16ToF32(h + 1); vals.push((r() < 0.5 ? -1 : 1) * (a + b) / 2); }
      else vals.push((r() - 0.5) * 0.01);
    }
    const x = Float32Array.from(vals);
    const n = x.length;
    const xp = heap.put(x), ip = heap.put(x, 4);
    const o1 = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
    k.gelu(xp, o1, n);
    k.gelu_ref(xp, o2, n);
    k.gelu(ip, ip, n);
    const want = Float32Array.from(x, geluEmulated);
    expectBitsEqual(get(o1, n), want, 'SIMD');
    expectBitsEqual(get(o2, n), want, 'scalar');
    expectBitsEqual(get(ip, n), want, 'in place');
    const g = get(o1, n);
    expect(g[0]).toBe(0);        // −10 → 0
    expect(g[1]).toBe(10);       // 10 → 10
    expect(g[6]).toBe(1e6);      // x ≥ 10 → x (not fp16-rounded)
    expect(g[8]).toBe(Infinity);
    expect(g[9]).toBe(0);
    expect(Number.isNaN(g[12])).toBe(true);
    expect(Object.is(g[11], -0)).toBe(true); // gelu(−0) = −0, as the table holds
    for (const m of [1, 2, 3, 5, 7]) {
      const o = heap.alloc(m * 4);
      k.gelu(xp + 4 * 13, o, m);
      expectBitsEqual(get(o, m), want.subarray(13, 13 + m), `n=${m}`);
    }
  });

  it('the exhaustive comparison can fail (gelu without the fp16 input rounding is caught)', () => {
    const x = Float32Array.from({ length: 1000 }, (_, i) => -4 + i * 0.008123);
    const o = heap.alloc(x.length * 4);
    k.gelu_ref(heap.put(x), o, x.length);
    const g = get(o, x.length);
    let mismatches = 0;
    for (let i = 0; i < x.length; i++) if (g[i] !== f16round(fr(geluF64(x[i])))) mismatches++;
    expect(mismatches).toBeGreaterThan(100);
  });
});

// ------------------------------------------------------------------ GLU

describe('glu', () => {
  for (const act of [abi.GLU_SILU, abi.GLU_GELU]) {
    for (const n of [1, 7, 64, 100]) {
      for (const nTok of [1, 3, 5]) {
        it(`${act === abi.GLU_SILU ? 'SiLU' : 'GELU'} n=${n} nTok=${nTok}: split and fused rows, in place`, () => {
          const a = randF32(n * nTok, n + nTok + act, -12, 12), b = randF32(n * nTok, n * 7 + nTok, -3, 3);
          if (n >= 7) { a[0] = -10; a[1] = 10; a[2] = -11; a[3] = 0; a[4] = -0; a[5] = 20; a[6] = -100; }
          const ref = (av: number, bv: number) => {
            if (act === abi.GLU_GELU) return av <= -10 ? 0 : fr(geluEmulated(av) * bv);
            return av / (1 + Math.exp(-av)) * bv;
          };
          const want = Array.from(a, (v, i) => ref(v, b[i]));
          // split gate / up (strides n)
          const pa = heap.put(a), pb = heap.put(b, 4);
          const o1 = heap.alloc(n * nTok * 4), o2 = heap.alloc(n * nTok * 4);
          k.glu(pa, pb, o1, n, nTok, n, n, act);
          k.glu_ref(pa, pb, o2, n, nTok, n, n, act);
          const g1 = get(o1, n * nTok), g2 = get(o2, n * nTok);
          expectBitsEqual(g1, g2, 'SIMD vs scalar');
          if (act === abi.GLU_GELU) expectClose(g2, want, () => 0, 'scalar vs emulated reference');
          else expectClose(g2, want, (i) => 1e-6 * Math.abs(want[i]) + 1e-35, 'scalar vs float64');
          const ia = heap.put(a);
          k.glu(ia, pb, ia, n, nTok, n, n, act);
          expectBitsEqual(get(ia, n * nTok), g1, 'out == a');
          // fused rows [gate; up] of 2n, out rows of n, written over the fused buffer
          const fused = new Float32Array(2 * n * nTok);
          for (let t = 0; t < nTok; t++) {
            fused.set(a.subarray(t * n, (t + 1) * n), 2 * t * n);
            fused.set(b.subarray(t * n, (t + 1) * n), 2 * t * n + n);
          }
          const pf = heap.put(fused), o3 = heap.alloc(n * nTok * 4);
          k.glu(pf, pf + n * 4, o3, n, nTok, 2 * n, 2 * n, act);
          expectBitsEqual(get(o3, n * nTok), g1, 'fused');
          k.glu_ref(pf, pf + n * 4, o3, n, nTok, 2 * n, 2 * n, act);
          expectBitsEqual(get(o3, n * nTok), g1, 'fused (ref)');
          k.glu(pf, pf + n * 4, pf, n, nTok, 2 * n, 2 * n, act);
          expectBitsEqual(get(pf, n * nTok), g1, 'fused, in place');
        });
      }
    }
  }

  it('SiLU GLU equals silu_mul; GELU GLU equals gelu then multiply (rounded gelu times up)', () => {
    const n = 37, nTok = 3;
    const a = randF32(n * nTok, 5, -6, 6), b = randF32(n * nTok, 6, -2, 2);
    const pa = heap.put(a), pb = heap.put(b), o = heap.alloc(n * nTok * 4), o2 = heap.alloc(n * nTok * 4);
    k.glu(pa, pb, o, n, nTok, n, n, abi.GLU_SILU);
    k.silu_mul(pa, pb, o2, n * nTok);
    expectBitsEqual(get(o, n * nTok), get(o2, n * nTok), 'silu');
    k.glu(pa, pb, o, n, nTok, n, n, abi.GLU_GELU);
    k.gelu(pa, o2, n * nTok);
    const g = get(o2, n * nTok);
    expectBitsEqual(get(o, n * nTok), Float32Array.from(g, (v, i) => fr(v * b[i])), 'gelu');
  });
});

// ------------------------------------------------------------------ attention: ALiBi, ring

function slopeF64(h: number, nHead: number, maxBias: number): number {
  const n2 = 2 ** Math.floor(Math.log2(nHead));
  const m0 = 2 ** (-maxBias / n2), m1 = 2 ** (-maxBias / 2 / n2);
  return h < n2 ? m0 ** (h + 1) : m1 ** (2 * (h - n2) + 1);
}

/** the reference's f32 slope: m = powf(2, f32 exponent), then powf(m, k), each correctly rounded */
function slopeEmulated(h: number, nHead: number, maxBias: number): number {
  const n2 = 2 ** Math.floor(Math.log2(nHead));
  const m0 = fr(2 ** fr(-maxBias / n2)), m1 = fr(2 ** fr(fr(-(maxBias / 2)) / n2));
  return h < n2 ? fr(m0 ** (h + 1)) : fr(m1 ** (2 * (h - n2) + 1));
}

/** float64 attention; kc/vc linear caches (row j = position j) */
function attentionF64(q: Float32Array, kc: Float32Array, vc: Float32Array, nTok: number, pos0: number, nHead: number,
                      nKv: number, hd: number, scale: number, window: number, maxBias: number): number[] {
  const out: number[] = new Array(nTok * nHead * hd).fill(0);
  for (let t = 0; t < nTok; t++) {
    const p = pos0 + t;
    for (let h = 0; h < nHead; h++) {
      const kh = Math.floor(h / (nHead / nKv));
      const slope = maxBias > 0 ? slopeF64(h, nHead, maxBias) : 0;
      const js: number[] = [], sc: number[] = [];
      for (let j = 0; j <= p; j++) {
        if (window > 0 && p - j >= window) continue;
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[(t * nHead + h) * hd + d] * kc[(j * nKv + kh) * hd + d];
        js.push(j);
        sc.push(s * scale - slope * (p - j));
      }
      let m = -Infinity;
      for (const v of sc) m = Math.max(m, v);
      const e = sc.map((v) => Math.exp(v - m));
      const sum = e.reduce((x, y) => x + y, 0);
      for (let d = 0; d < hd; d++) {
        let a = 0;
        js.forEach((j, i) => { a += (e[i] / sum) * vc[(j * nKv + kh) * hd + d]; });
        out[(t * nHead + h) * hd + d] = a;
      }
    }
  }
  return out;
}

describe('attention: ALiBi', () => {
  it('slopes: ggml series, f32 values (4, 6, 8, 12 heads; max_bias 8 and 5.5)', () => {
    for (const maxBias of [8, 5.5]) {
      for (const nHead of [1, 4, 6, 8, 12]) {
        for (let h = 0; h < nHead; h++) {
          const got = k.alibi_slope(h, nHead, maxBias);
          expect(got, `h=${h}/${nHead} maxBias=${maxBias}`).toBe(slopeEmulated(h, nHead, maxBias));
          // powf(m, k) of an f32-rounded m: within (k + 1) f32 ulps of the exact series
          const want = slopeF64(h, nHead, maxBias);
          const kk = h < 2 ** Math.floor(Math.log2(nHead)) ? h + 1 : 2 * (h - 2 ** Math.floor(Math.log2(nHead))) + 1;
          expect(Math.abs(got - want), `h=${h}/${nHead} maxBias=${maxBias}: ${got} vs ${want}`).toBeLessThanOrEqual((kk + 1) * 2 ** -24 * want);
        }
      }
    }
    // exact powers of two where the series says so (bloom: 8 heads, max_bias 8 → 2^-1 .. 2^-8)
    for (let h = 0; h < 8; h++) expect(k.alibi_slope(h, 8, 8)).toBe(2 ** -(h + 1));
    // 6 heads: n2 = 4, m0 = 2^-2, m1 = 2^-1: 1/4, 1/16, 1/64, 1/256, then m1^1, m1^3
    expect([0, 1, 2, 3, 4, 5].map((h) => k.alibi_slope(h, 6, 8))).toEqual([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]);
  });

  const cases: [number, number, number, number, number, number, number][] = [
    // nTok, pos0, nHead, nKvHead, headDim, window, maxBias
    [5, 0, 4, 4, 16, 0, 8],
    [3, 9, 6, 6, 16, 0, 8],    // bloom_6head: non-power-of-two series
    [4, 2, 6, 2, 12, 0, 8],
    [7, 0, 8, 8, 8, 0, 8],
    [2, 20, 8, 4, 17, 0, 5.5],
    [6, 4, 6, 3, 16, 4, 8],    // ALiBi + sliding window
  ];
  for (const [nTok, pos0, nHead, nKv, hd, window, maxBias] of cases) {
    it(`nTok=${nTok} pos0=${pos0} heads ${nHead}/${nKv} headDim=${hd} window=${window} maxBias=${maxBias}`, () => {
      const ctx = pos0 + nTok;
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
      expectClose(ga, gb, () => 2e-6, 'SIMD vs scalar');
      const want = attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, scale, window, maxBias);
      expectClose(gb, want, () => 4e-6, 'scalar vs float64');
      expectClose(ga, want, () => 4e-6, 'SIMD vs float64');
      const noBias = attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, scale, window, 0);
      if (ctx > 1 && (window === 0 || window > 1)) {
        expect(worst(ga, noBias, () => 4e-6).excess, 'ALiBi changes the result').toBeGreaterThan(0);
      }
      // out == q
      const ip = heap.put(q);
      k.attention(ip, kp, vp, ip, nTok, pos0, nHead, nKv, hd, scale, s, window, maxBias, 0);
      expectBitsEqual(get(ip, n), ga, 'out == q');
    });
  }

  it('maxBias 0 and ring 0 are the old behaviour, bit for bit (also when the two args are left out)', () => {
    const nTok = 5, pos0 = 3, nHead = 4, nKv = 2, hd = 16, ctx = pos0 + nTok;
    const q = randF32(nTok * nHead * hd, 1, -2, 2), kc = randF32(ctx * nKv * hd, 2, -2, 2), vc = randF32(ctx * nKv * hd, 3);
    const qp = heap.put(q), kp = heap.put(kc), vp = heap.put(vc), s = heap.alloc(ctx * 4);
    const n = nTok * nHead * hd;
    for (const f of [k.attention, k.attention_ref]) {
      const a = heap.alloc(n * 4), b = heap.alloc(n * 4), c = heap.alloc(n * 4);
      f(qp, kp, vp, a, nTok, pos0, nHead, nKv, hd, 0.25, s, 0, 0, 0);
      f(qp, kp, vp, b, nTok, pos0, nHead, nKv, hd, 0.25, s, 0);
      f(qp, kp, vp, c, nTok, pos0, nHead, nKv, hd, 0.25, s, 0, -1, 0); // negative max_bias: off
      expectBitsEqual(get(a, n), get(b, n), '12 args');
      expectBitsEqual(get(a, n), get(c, n), 'maxBias < 0');
      expectClose(get(a, n), attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, 0.25, 0, 0), () => 4e-6, 'vs float64');
    }
  });
});

describe('attention: sliding window over a ring cache (engine-style wrapping batches)', () => {
  it('a query\'s result does not depend on the batch size (ring, window, ALiBi): bit for bit', () => {
    const T = 14, window = 4, B = 5, ring = window + B, nHead = 6, nKv = 2, hd = 16, kvDim = nKv * hd, qDim = nHead * hd;
    const q = randF32(T * qDim, 1, -2, 2), kAll = randF32(T * kvDim, 2, -2, 2), vAll = randF32(T * kvDim, 3);
    const results: Float32Array[] = [];
    for (const batch of [B, 1, 3]) {
      const kr = heap.alloc(ring * kvDim * 4), vr = heap.alloc(ring * kvDim * 4), s = heap.alloc(ring * 4);
      const o = heap.alloc(batch * qDim * 4), got = new Float32Array(T * qDim);
      for (let pos0 = 0; pos0 < T; pos0 += batch) {
        const n = Math.min(batch, T - pos0);
        for (let p = pos0; p < pos0 + n; p++) {
          heap.f32(kr + (p % ring) * kvDim * 4, kvDim).set(kAll.subarray(p * kvDim, (p + 1) * kvDim));
          heap.f32(vr + (p % ring) * kvDim * 4, kvDim).set(vAll.subarray(p * kvDim, (p + 1) * kvDim));
        }
        k.attention(heap.put(q.subarray(pos0 * qDim, (pos0 + n) * qDim)), kr, vr, o, n, pos0, nHead, nKv, hd, 0.25, s, window, 8, ring);
        got.set(heap.f32(o, n * qDim), pos0 * qDim);
      }
      results.push(got);
    }
    expectBitsEqual(results[1], results[0], 'one at a time vs batch 5');
    expectBitsEqual(results[2], results[0], 'batch 3 vs batch 5');
  });

  const cases: [number, number, number, number, number, number][] = [
    // total tokens, batch, window, nHead, nKv, headDim
    [23, 3, 4, 4, 2, 16],
    [20, 1, 4, 4, 2, 16],     // decode one token at a time
    [30, 5, 8, 6, 3, 12],
    [17, 4, 1, 2, 2, 8],      // window 1: only the token itself
    [26, 7, 6, 8, 8, 20],
  ];
  for (const alibi of [0, 8]) {
    for (const [T, B, window, nHead, nKv, hd] of cases) {
      it(`T=${T} batch=${B} window=${window} ring=${window + B} heads ${nHead}/${nKv} headDim=${hd}${alibi ? ' ALiBi' : ''}`, () => {
        const ring = window + B;
        const kvDim = nKv * hd, qDim = nHead * hd;
        const q = randF32(T * qDim, T + window, -2, 2);
        const kAll = randF32(T * kvDim, T + 1, -2, 2), vAll = randF32(T * kvDim, T + 2, -1, 1);
        const scale = fr(1 / Math.sqrt(hd));
        const kRing = heap.alloc(ring * kvDim * 4), vRing = heap.alloc(ring * kvDim * 4);
        const kLin = heap.alloc(T * kvDim * 4), vLin = heap.alloc(T * kvDim * 4);
        const s = heap.alloc((ring + T) * 4);
        const gotRing = new Float32Array(T * qDim), gotRingRef = new Float32Array(T * qDim), gotLin = new Float32Array(T * qDim);
        const o = heap.alloc(B * qDim * 4);
        for (let pos0 = 0; pos0 < T; pos0 += B) {
          const n = Math.min(B, T - pos0);
          // write K/V rows of the batch the way the engine does: rows pos0 % ring.., wrapping once
          const start = pos0 % ring, first = Math.min(n, ring - start);
          for (const [all, cache] of [[kAll, kRing], [vAll, vRing]] as const) {
            heap.f32(cache + start * kvDim * 4, first * kvDim).set(all.subarray(pos0 * kvDim, (pos0 + first) * kvDim));
            if (first < n) heap.f32(cache, (n - first) * kvDim).set(all.subarray((pos0 + first) * kvDim, (pos0 + n) * kvDim));
          }
          // poison every ring row no query of this batch may read (positions < pos0 + 1 − window)
          const needed = new Set<number>();
          for (let p = Math.max(0, pos0 + 1 - window); p < pos0 + n; p++) needed.add(p % ring);
          for (let r = 0; r < ring; r++) {
            if (!needed.has(r)) { heap.f32(kRing + r * kvDim * 4, kvDim).fill(NaN); heap.f32(vRing + r * kvDim * 4, kvDim).fill(NaN); }
          }
          // linear cache: positions 0 .. pos0+n−1, the ones outside every window poisoned too
          heap.f32(kLin, T * kvDim).fill(NaN);
          heap.f32(vLin, T * kvDim).fill(NaN);
          for (const p of Array.from({ length: pos0 + n }, (_, i) => i).filter((p) => p >= pos0 + 1 - window)) {
            heap.f32(kLin + p * kvDim * 4, kvDim).set(kAll.subarray(p * kvDim, (p + 1) * kvDim));
            heap.f32(vLin + p * kvDim * 4, kvDim).set(vAll.subarray(p * kvDim, (p + 1) * kvDim));
          }
          const qp = heap.put(q.subarray(pos0 * qDim, (pos0 + n) * qDim));
          k.attention(qp, kRing, vRing, o, n, pos0, nHead, nKv, hd, scale, s, window, alibi, ring);
          gotRing.set(heap.f32(o, n * qDim), pos0 * qDim);
          k.attention_ref(qp, kRing, vRing, o, n, pos0, nHead, nKv, hd, scale, s, window, alibi, ring);
          gotRingRef.set(heap.f32(o, n * qDim), pos0 * qDim);
          k.attention(qp, kLin, vLin, o, n, pos0, nHead, nKv, hd, scale, s, window, alibi, 0);
          gotLin.set(heap.f32(o, n * qDim), pos0 * qDim);
        }
        // the ring gives exactly the linear cache's result (same f32 operations in the same order)
        expectBitsEqual(gotRing, gotLin, 'ring vs linear (SIMD)');
        expect(gotRing.every(Number.isFinite), 'no poisoned row was read').toBe(true);
        expect(gotRingRef.every(Number.isFinite), 'no poisoned row was read (scalar)').toBe(true);
        expectClose(gotRing, gotRingRef, () => 2e-6, 'SIMD vs scalar');
        const want = attentionF64(q, kAll, vAll, T, 0, nHead, nKv, hd, scale, window, alibi);
        expectClose(gotRingRef, want, () => 4e-6, 'scalar ring vs float64 linear');
        expectClose(gotRing, want, () => 4e-6, 'SIMD ring vs float64 linear');
      });
    }
  }
});

// ------------------------------------------------------------------ MoE

/** The reference engine's Q8_0 activation quantization (as in kernels.test.ts). */
function emulateActQ8(x: ArrayLike<number>): { d: number[]; q: number[] } {
  const d: number[] = [], q: number[] = [];
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const id = amax ? fr(127 / amax) : 0;
    d.push(f16round(fr(amax / 127)));
    for (let j = 0; j < 32; j++) q.push(roundHalfEven(fr(x[b * 32 + j] * id)));
  }
  return { d, q };
}

/** GGUF tensor bytes (rows of nIn) into the heap as the engine leaves them: Q8_0 / Q4_0 repacked in place. */
function putWeights(type: number, bytes: Uint8Array, nIn: number, misalign = 0): { ptr: number; type: number } {
  const ptr = heap.put(bytes, misalign);
  const blocked = type === abi.GGML_Q8_0 || type === abi.GGML_Q4_0;
  const nRows = blocked ? bytes.length / ((nIn / 32) * (type === abi.GGML_Q4_0 ? 18 : 34)) : 0;
  return { ptr, type: k.repack(type, ptr, nRows, nIn, heap.alloc(2 * nIn)) };
}

interface MoeSetup {
  nExpert: number; nEmbd: number; nFf: number; nTok: number; type: number;
  /** the layout code the kernels take (Q8_0: repacked) */
  mtype: number;
  x: Float32Array; router: Float32Array;
  gW: Float32Array; uW: Float32Array; dW: Float32Array;     // dequantized, [e][out][in]
  gate: number; up: number; down: number; xp: number; rp: number;
}

function moeSetup(type: number, nExpert: number, nEmbd: number, nFf: number, nTok: number, seed: number): MoeSetup {
  const gSrc = randF32(nExpert * nFf * nEmbd, seed + 1, -0.5, 0.5);
  const uSrc = randF32(nExpert * nFf * nEmbd, seed + 2, -0.5, 0.5);
  const dSrc = randF32(nExpert * nEmbd * nFf, seed + 3, -0.5, 0.5);
  const gB = quantizeTensor(type, gSrc), uB = quantizeTensor(type, uSrc), dB = quantizeTensor(type, dSrc);
  const x = randF32(nEmbd * nTok, seed + 4, -2, 2);
  const router = randF32(nExpert * nTok, seed + 5, -2, 2);
  const gate = putWeights(type, gB, nEmbd, 1), up = putWeights(type, uB, nEmbd, 2), down = putWeights(type, dB, nFf, 3);
  return {
    nExpert, nEmbd, nFf, nTok, type, mtype: gate.type, x, router,
    gW: dequantize(type, gB, gSrc.length), uW: dequantize(type, uB, uSrc.length), dW: dequantize(type, dB, dSrc.length),
    gate: gate.ptr, up: up.ptr, down: down.ptr, xp: heap.put(x), rp: heap.put(router),
  };
}

/** float64 MoE with the reference engine's activation quantization for Q8_0; tol per output. */
function moeF64(m: MoeSetup, nUsed: number, normalize: boolean): { y: number[]; tol: number[] } {
  const { nExpert: E, nEmbd: D, nFf: F, type } = m;
  const q8 = type === abi.GGML_Q8_0;
  const y: number[] = [], tol: number[] = [];
  const mv = (W: Float32Array, e: number, nOut: number, nIn: number, xin: ArrayLike<number>) => {
    const r: number[] = [], mag: number[] = [];
    for (let o = 0; o < nOut; o++) {
      let s = 0, a = 0;
      const base = (e * nOut + o) * nIn;
      for (let i = 0; i < nIn; i++) { s += W[base + i] * xin[i]; a += Math.abs(W[base + i] * xin[i]); }
      r.push(s);
      mag.push(a);
    }
    return { r, mag };
  };
  const actOf = (v: ArrayLike<number>) => {
    if (!q8) return Array.from(v);
    const { d, q } = emulateActQ8(v);
    return q.map((qi, i) => qi * d[i >> 5]);
  };
  for (let t = 0; t < m.nTok; t++) {
    const logits = Array.from(m.router.subarray(t * E, (t + 1) * E));
    const mx = Math.max(...logits);
    const ex = logits.map((v) => Math.exp(v - mx));
    const sum = ex.reduce((a, b) => a + b, 0);
    const p = ex.map((v) => v / sum);
    const order = p.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, nUsed);
    const psum = order.reduce((a, [v]) => a + v, 0);
    const xa = actOf(m.x.subarray(t * D, (t + 1) * D));
    const acc = new Array(D).fill(0), mag = new Array(D).fill(0), flip = new Array(D).fill(0);
    for (const [pe, e] of order) {
      const w = normalize ? pe / psum : pe;
      const g = mv(m.gW, e, F, D, xa), u = mv(m.uW, e, F, D, xa);
      const h = Float32Array.from(g.r, (gv, i) => (gv / (1 + Math.exp(-gv))) * u.r[i]);
      const ha = actOf(h);
      const dn = mv(m.dW, e, D, F, ha);
      // one act-quantization flip of the hidden row (the kernel's h differs from this one by f32 rounding)
      let dmax = 0, wmax = 0;
      if (q8) {
        dmax = Math.max(...emulateActQ8(h).d);
        for (let i = e * D * F; i < (e + 1) * D * F; i++) wmax = Math.max(wmax, Math.abs(m.dW[i]));
      }
      // the hidden row itself carries f32 rounding of gate/up/silu: 1e-6 relative through down
      for (let o = 0; o < D; o++) { acc[o] += w * dn.r[o]; mag[o] += w * dn.mag[o]; flip[o] += w * 2 * dmax * wmax; }
    }
    for (let o = 0; o < D; o++) { y.push(acc[o]); tol.push(1e-5 * mag[o] + flip[o] + 1e-6); }
  }
  return { y, tol };
}

function runMoe(m: MoeSetup, flags: number, simd: boolean, out?: number, x?: number): number {
  const bytes = k.moe_scratch_bytes(m.nExpert, m.nEmbd, m.nFf, m.type, m.type, m.type);
  const scratch = heap.alloc(bytes + 256);
  heap.u8(scratch + bytes, 256).fill(0xa5);
  const o = out ?? heap.alloc(m.nTok * m.nEmbd * 4);
  (simd ? k.moe : k.moe_ref)(x ?? m.xp, m.rp, o, m.nTok, m.nExpert, flags, m.nEmbd, m.nFf, m.gate, m.up, m.down,
    m.mtype, m.mtype, m.mtype, scratch);
  expect(heap.u8(scratch + bytes, 256).every((v) => v === 0xa5), 'wrote past moe_scratch_bytes').toBe(true);
  return o;
}

describe('moe', () => {
  for (const type of [abi.GGML_F32, abi.GGML_Q8_0]) {
    for (const nUsed of [1, 2]) {
      for (const normalize of [true, false]) {
        for (const nTok of [1, 3, 5, 40]) { // 40 > the kernel's chunk of 32 tokens
          const name = `${type === abi.GGML_F32 ? 'F32' : 'Q8_0'} nUsed=${nUsed} ${normalize ? 'normalized' : 'raw p'} nTok=${nTok}`;
          it(name, () => {
            const m = moeSetup(type, 4, 64, 96, nTok, type * 100 + nUsed * 10 + nTok);
            const flags = nUsed | (normalize ? abi.MOE_NORMALIZE : 0);
            const D = m.nEmbd;
            const a = get(runMoe(m, flags, true), nTok * D);
            const r = get(runMoe(m, flags, false), nTok * D);
            const { y, tol } = moeF64(m, nUsed, normalize);
            expectClose(r, y, (i) => tol[i], 'scalar vs float64');
            expectClose(a, y, (i) => tol[i], 'SIMD vs float64');
            expectClose(a, r, (i) => tol[i], 'SIMD vs scalar');
            // out == x
            const ip = heap.put(m.x);
            runMoe(m, flags, true, ip, ip);
            expectBitsEqual(get(ip, nTok * D), a, 'out == x');
            // grouped batch == one token at a time, bit for bit
            if (nTok > 1) {
              const single = new Float32Array(nTok * D);
              const o1 = heap.alloc(D * 4);
              const scratch = heap.alloc(k.moe_scratch_bytes(4, D, m.nFf, type, type, type));
              for (let t = 0; t < nTok; t++) {
                k.moe(m.xp + t * D * 4, m.rp + t * 4 * 4, o1, 1, 4, flags, D, m.nFf, m.gate, m.up, m.down, m.mtype, m.mtype, m.mtype, scratch);
                single.set(heap.f32(o1, D), t * D);
              }
              expectBitsEqual(a, single, 'batch vs token by token');
            }
            if (nUsed === 2) {
              // the comparison can fail: the other weighting is rejected
              const other = moeF64(m, nUsed, !normalize);
              expect(worst(a, other.y, (i) => tol[i]).excess).toBeGreaterThan(0);
            }
          });
        }
      }
    }
  }

  it('mixed types (gate F32, up Q8_0, down F32) and ties in the router pick the lower index', () => {
    const nE = 4, D = 32, F = 64, nTok = 3;
    const src = (s: number, n: number) => randF32(n, s, -0.5, 0.5);
    const g = src(1, nE * F * D), u = src(2, nE * F * D), d = src(3, nE * D * F);
    const uB = quantizeTensor(abi.GGML_Q8_0, u);
    const gp = heap.put(quantizeTensor(abi.GGML_F32, g)), { ptr: up, type: uT } = putWeights(abi.GGML_Q8_0, uB, D), dp = heap.put(quantizeTensor(abi.GGML_F32, d));
    const x = randF32(D * nTok, 4, -2, 2);
    const router = new Float32Array([0.5, 1, 1, 0.2, /**/ 3, 3, 3, 3, /**/ -1, 0, 0.3, 0.3]);
    const bytes = k.moe_scratch_bytes(nE, D, F, abi.GGML_F32, abi.GGML_Q8_0, abi.GGML_F32);
    const s = heap.alloc(bytes);
    const xp = heap.put(x), rp = heap.put(router);
    const o = heap.alloc(D * nTok * 4), o2 = heap.alloc(D * nTok * 4);
    k.moe(xp, rp, o, nTok, nE, 2 | abi.MOE_NORMALIZE, D, F, gp, up, dp, abi.GGML_F32, uT, abi.GGML_F32, s);
    k.moe_ref(xp, rp, o2, nTok, nE, 2 | abi.MOE_NORMALIZE, D, F, gp, up, dp, abi.GGML_F32, uT, abi.GGML_F32, s);
    const uW = dequantize(abi.GGML_Q8_0, uB, u.length);
    const sel = [[1, 2], [0, 1], [2, 3]];
    const want: number[] = [];
    const tolv: number[] = [];
    for (let t = 0; t < nTok; t++) {
      const xt = x.subarray(t * D, (t + 1) * D);
      const { d: da, q: qa } = emulateActQ8(xt);
      const xq = qa.map((q, i) => q * da[i >> 5]);
      const acc = new Array(D).fill(0), mag = new Array(D).fill(0);
      for (const e of sel[t]) {
        const h: number[] = [];
        for (let f = 0; f < F; f++) {
          let gv = 0, uv = 0;
          for (let i = 0; i < D; i++) { gv += g[(e * F + f) * D + i] * xt[i]; uv += uW[(e * F + f) * D + i] * xq[i]; }
          h.push((gv / (1 + Math.exp(-gv))) * uv);
        }
        for (let o3 = 0; o3 < D; o3++) {
          let s3 = 0, m3 = 0;
          for (let f = 0; f < F; f++) { s3 += d[(e * D + o3) * F + f] * h[f]; m3 += Math.abs(d[(e * D + o3) * F + f] * h[f]); }
          acc[o3] += 0.5 * s3;
          mag[o3] += 0.5 * m3;
        }
      }
      want.push(...acc);
      tolv.push(...mag.map((v) => 1e-5 * v + 1e-6));
    }
    expectClose(get(o2, D * nTok), want, (i) => tolv[i], 'scalar');
    expectClose(get(o, D * nTok), want, (i) => tolv[i], 'SIMD');
  });

  it('nUsed 0 writes zeros', () => {
    const m = moeSetup(abi.GGML_Q8_0, 4, 32, 32, 3, 9);
    const o = heap.alloc(3 * 32 * 4);
    heap.f32(o, 96).fill(5);
    runMoe(m, 0 | abi.MOE_NORMALIZE, true, o);
    expect(Array.from(heap.f32(o, 96)).every((v) => v === 0)).toBe(true);
  });

  it('moe_scratch_bytes grows with the sizes and covers the act formats', () => {
    const a = k.moe_scratch_bytes(8, 4096, 14336, abi.GGML_Q8_0, abi.GGML_Q8_0, abi.GGML_Q8_0);
    const b = k.moe_scratch_bytes(8, 4096, 14336, abi.GGML_F32, abi.GGML_F32, abi.GGML_F32);
    expect(a).toBeGreaterThan(16 * (2 * 14336 * 4 + 3 * 4096 * 4));
    expect(b).toBeGreaterThan(a);
    expect(a % 64).toBe(0);
  });
});

// ------------------------------------------------------------------ run (plans)

describe('softcap', () => {
  it('SIMD == scalar bit for bit, in place too; within 2 ulp of cap·tanh(x / cap) in float64, odd, bounded by cap', () => {
    const n = 4099, cap = 30;
    const x = randF32(n, 41, -400, 400);
    x.set([0, -0, 1e-30, -1e-30, 29.99, -30, 30, 3000, -3000, Infinity, -Infinity], 0);
    const xp = heap.put(x);
    const o1 = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
    k.softcap(xp, o1, n, cap);
    k.softcap_ref(xp, o2, n, cap);
    const g = get(o1, n);
    expectBitsEqual(g, get(o2, n), 'SIMD vs scalar');
    const inPlace = heap.put(x);
    k.softcap(inPlace, inPlace, n, cap);
    expectBitsEqual(get(inPlace, n), g, 'in place');
    let ulps = 0;
    for (let i = 0; i < n; i++) {
      const want = cap * Math.tanh(x[i]! / cap);
      expect(Math.abs(g[i]!)).toBeLessThanOrEqual(cap);
      expect(Object.is(g[i], -0)).toBe(Object.is(x[i], -0) || (x[i]! < 0 && want === 0));
      const ulp = Math.max(2 ** -149, 2 ** (Math.floor(Math.log2(Math.abs(want) || 2 ** -149)) - 23));
      ulps = Math.max(ulps, Math.abs(g[i]! - want) / ulp);
    }
    expect(ulps).toBeLessThanOrEqual(2);
  });
});

describe('run: the new ops through a plan equal direct calls', () => {
  it('layernorm, add_row, mul_row, axpby, gelu, glu (split and fused), copy_rows, attention (ALiBi + ring), moe, softcap', () => {
    const E = 64, nTok = 5, F = 96, nHead = 4, hd = 16, window = 4, ring = 9, pos0 = 11, nE = 4;
    const eps = fr(1e-5), maxBias = 8, scale = 0.25;
    const m = moeSetup(abi.GGML_Q8_0, nE, E, F, nTok, 5);
    const inputs = {
      x: heap.put(randF32(E * nTok, 1, -2, 2)),
      w: heap.put(randF32(E, 2, 0.5, 1.5)),
      b: heap.put(randF32(E, 3)),
      fused: heap.put(randF32(2 * F * nTok, 4, -4, 4)),
      q: heap.put(randF32(E * nTok, 6, -2, 2)),
      kc: heap.put(randF32(ring * E, 7, -2, 2)),
      vc: heap.put(randF32(ring * E, 8)),
    };
    const outBytes = {
      ln: E * nTok * 4, ar: E * nTok * 4, mr: E * nTok * 4, ax: E * nTok * 4, ge: 2 * F * nTok * 4, gs: F * nTok * 4, gg: F * nTok * 4,
      cr: F * nTok * 4, at: E * nTok * 4, moe: E * nTok * 4, sc: (window + 1) * 4, cap: E * nTok * 4,
      ms: k.moe_scratch_bytes(nE, E, F, m.type, m.type, m.type),
    };
    type Outs = Record<keyof typeof outBytes, number>;
    const alloc = (): Outs => Object.fromEntries(Object.entries(outBytes).map(([n, b]) => [n, heap.alloc(b)])) as Outs;
    const A = alloc(), B = alloc();
    const I = inputs;
    // direct
    k.layernorm(I.x, I.w, I.b, A.ln, E, nTok, eps);
    k.add_row(A.ln, I.b, A.ar, E, nTok);
    k.mul_row(A.ar, I.w, A.mr, E, nTok);
    k.axpby(A.mr, I.x, A.ax, E * nTok, 0.5, 2);
    k.gelu(I.fused, A.ge, 2 * F * nTok);
    k.glu(I.fused, I.fused + F * 4, A.gs, F, nTok, 2 * F, 2 * F, abi.GLU_SILU);
    k.glu(A.ge, A.ge + F * 4, A.gg, F, nTok, 2 * F, 2 * F, abi.GLU_GELU);
    k.copy_rows(I.fused + 4, 2 * F, A.cr, F, F, nTok);
    k.attention(I.q, I.kc, I.vc, A.at, nTok, pos0, nHead, nHead, hd, scale, A.sc, window, maxBias, ring);
    k.moe(m.xp, m.rp, A.moe, nTok, nE, 2 | abi.MOE_NORMALIZE, E, F, m.gate, m.up, m.down, m.mtype, m.mtype, m.mtype, A.ms);
    k.softcap(A.moe, A.cap, E * nTok, 0.75);
    // plan: the same ops through the plan builder, over stale words (which must not matter)
    const P = new Plan(new Views(heap.memory), heap.alloc(11 * abi.OP_WORDS * 4), 11, k);
    heap.i32(P.ptr, 11 * abi.OP_WORDS).fill(0x7eadbeef);
    P.reset();
    P.layernorm({ x: I.x, w: I.w, b: I.b, out: B.ln, n: E, nTok, eps });
    P.addRow({ x: B.ln, row: I.b, out: B.ar, n: E, nTok });
    P.mulRow({ x: B.ar, row: I.w, out: B.mr, n: E, nTok });
    P.axpby({ a: B.mr, b: I.x, out: B.ax, n: E * nTok, alpha: 0.5, beta: 2 });
    P.gelu({ x: I.fused, out: B.ge, n: 2 * F * nTok });
    P.glu({ a: I.fused, b: I.fused + F * 4, out: B.gs, n: F, nTok, aStride: 2 * F, bStride: 2 * F, act: abi.GLU_SILU });
    P.glu({ a: B.ge, b: B.ge + F * 4, out: B.gg, n: F, nTok, aStride: 2 * F, bStride: 2 * F, act: abi.GLU_GELU });
    P.copyRows({ src: I.fused + 4, srcStride: 2 * F, dst: B.cr, dstStride: F, n: F, nRows: nTok });
    P.attention({ q: I.q, kc: I.kc, vc: I.vc, out: B.at, nTok, pos0, nHead, nKvHead: nHead, headDim: hd, scale, scratch: B.sc,
      window, maxBias, ring });
    P.moe({ x: m.xp, router: m.rp, out: B.moe, nTok, nExpert: nE, usedAndFlags: 2 | abi.MOE_NORMALIZE, nEmbd: E, nFf: F,
      gate: m.gate, up: m.up, down: m.down, typeGate: m.mtype, typeUp: m.mtype, typeDown: m.mtype, scratch: B.ms });
    P.softcap({ x: B.moe, out: B.cap, n: E * nTok, cap: 0.75 });
    expect(P.length).toBe(11);
    k.run(P.ptr, P.length);
    for (const name of Object.keys(outBytes) as (keyof Outs)[]) {
      if (name === 'ms' || name === 'sc') continue;
      expect(heap.bytes(B[name], outBytes[name]), name).toEqual(heap.bytes(A[name], outBytes[name]));
    }
    for (const name of ['ln', 'gg', 'at', 'moe', 'cap'] as const) {
      const v = heap.f32(B[name], outBytes[name] / 4);
      expect(v.some((x) => x !== 0) && v.every(Number.isFinite), name).toBe(true);
    }
  });
});
