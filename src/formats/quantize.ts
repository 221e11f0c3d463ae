// Reference quantizers and dequantizers in plain JS, bit-exact with ggml's `*_ref` C
// functions (used offline by tools, benchmarks and tests; not the inference hot path).
//
// Float conversions: f32ToF16 rounds to nearest even (subnormals, ±inf, NaN → 0x7e00 with
// the sign, like ggml's portable conversion); f32ToBF16 rounds to nearest even with NaN
// made quiet (ggml_compute_fp32_to_bf16). Quantizers follow ggml's f32 arithmetic: every
// intermediate is rounded to f32 (Math.fround) exactly where C would.
//
// Block layouts (little endian, d/m fp16):
//   Q8_0 34 B: d, qs[32] int8                      x = d·q
//   Q4_0 18 B: d, qs[16]                           x[j] = d·((qs[j]&15) − 8), x[j+16] = d·((qs[j]>>4) − 8)
//   Q4_1 20 B: d, m, qs[16]                        x = d·q + m
//   Q5_0 22 B: d, qh u32, qs[16]                   5-bit q − 16
//   Q5_1 24 B: d, m, qh u32, qs[16]                5-bit q, + m
//   K-quants, 256 per super-block: Q2_K 84 B, Q3_K 110 B, Q4_K 144 B, Q5_K 176 B, Q6_K 210 B, Q8_K 292 B
//   (Q8_K is an activation type: dequantize only). The K-quantizers are ggml's imatrix-free `_ref`
//   ones (what llama-quantize runs without --imatrix), f32 arithmetic without FMA contraction.

import { WasmlmError } from '../errors.js';
import {
  GGML_BF16,
  GGML_F16,
  GGML_F32,
  GGML_Q2_K,
  GGML_Q3_K,
  GGML_Q4_0,
  GGML_Q4_1,
  GGML_Q4_K,
  GGML_Q5_0,
  GGML_Q5_1,
  GGML_Q5_K,
  GGML_Q6_K,
  GGML_Q8_0,
  GGML_Q8_1,
  GGML_Q8_K,
  ggmlTypeInfo,
  ggmlTypeName,
} from './ggml-types.js';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
const fround = Math.fround;

// --- scalar conversions ----------------------------------------------------------------------

/** IEEE half bits of x, round to nearest even. */
export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const w = u32buf[0]!;
  const sign = (w >>> 16) & 0x8000;
  const exp = (w >>> 23) & 0xff;
  const mant = w & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // half subnormal (or zero): value / 2^-24, rounded
    const shift = 14 - e;
    if (shift > 24) return sign;
    const full = mant | 0x800000;
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1) !== 0)) m++;
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry may reach inf, as it should
  return sign | h;
}

let F16_TABLE: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16ToF32Slow(h);
  }
  return F16_TABLE;
}

function f16ToF32Slow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** The value of IEEE half bits h. */
export function f16ToF32(h: number): number {
  return f16Table()[h & 0xffff]!;
}

/** bfloat16 bits of x, round to nearest even (NaN made quiet). */
export function f32ToBF16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

export function bf16ToF32(b: number): number {
  u32buf[0] = (b & 0xffff) << 16;
  return f32buf[0]!;
}

/** C roundf: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function blocksOf(src: Float32Array, qk: number, what: string): number {
  if (src.length % qk !== 0) {
    throw new WasmlmError('BAD_ARGUMENT', `${what}: ${src.length} values is not a multiple of the block size ${qk}`);
  }
  return src.length / qk;
}

// --- quantizers ------------------------------------------------------------------------------

/** ggml quantize_row_q8_0_ref. */
export function quantizeQ8_0(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q8_0');
  const out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[x0 + j]!));
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 34;
    dv.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(o + 2 + j, roundf(fround(src[x0 + j]! * id)));
  }
  return out;
}

/** The value of largest magnitude among x[from .. from + n) (the first of equals), sign kept, as ggml picks it. */
function signedAbsMax(x: Float32Array, from: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let i = from; i < from + n; i++) {
    const a = Math.abs(x[i]!);
    if (a > amax) {
      amax = a;
      max = x[i]!;
    }
  }
  return max;
}

/** ggml quantize_row_q4_0_ref. */
export function quantizeQ4_0(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q4_0');
  const out = new Uint8Array(nb * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    const max = signedAbsMax(src, x0, 32);
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 18;
    dv.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      const a = fround(src[x0 + j]! * id);
      const c = fround(src[x0 + 16 + j]! * id);
      const q0 = Math.min(15, Math.trunc(fround(a + 8.5)));
      const q1 = Math.min(15, Math.trunc(fround(c + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** ggml quantize_row_q4_1_ref. */
export function quantizeQ4_1(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q4_1');
  const out = new Uint8Array(nb * 20);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < 32; j++) {
      const v = src[x0 + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 20;
    dv.setUint16(o, f32ToF16(d), true);
    dv.setUint16(o + 2, f32ToF16(min), true);
    for (let j = 0; j < 16; j++) {
      const a = fround(fround(src[x0 + j]! - min) * id);
      const c = fround(fround(src[x0 + 16 + j]! - min) * id);
      const q0 = Math.min(15, Math.trunc(fround(a + 0.5)));
      const q1 = Math.min(15, Math.trunc(fround(c + 0.5)));
      out[o + 4 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** ggml quantize_row_q5_0_ref. */
export function quantizeQ5_0(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q5_0');
  const out = new Uint8Array(nb * 22);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    const max = signedAbsMax(src, x0, 32);
    const d = fround(max / -16);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 22;
    dv.setUint16(o, f32ToF16(d), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const a = fround(src[x0 + j]! * id);
      const c = fround(src[x0 + 16 + j]! * id);
      const q0 = Math.min(31, Math.trunc(fround(a + 16.5)));
      const q1 = Math.min(31, Math.trunc(fround(c + 16.5)));
      out[o + 6 + j] = (q0 & 15) | ((q1 & 15) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + 16);
    }
    dv.setUint32(o + 2, qh >>> 0, true);
  }
  return out;
}

/** ggml quantize_row_q5_1_ref. */
export function quantizeQ5_1(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q5_1');
  const out = new Uint8Array(nb * 24);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < 32; j++) {
      const v = src[x0 + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * 24;
    dv.setUint16(o, f32ToF16(d), true);
    dv.setUint16(o + 2, f32ToF16(min), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const a = fround(fround(src[x0 + j]! - min) * id);
      const c = fround(fround(src[x0 + 16 + j]! - min) * id);
      const q0 = Math.trunc(fround(a + 0.5)) & 0xff;
      const q1 = Math.trunc(fround(c + 0.5)) & 0xff;
      out[o + 8 + j] = (q0 & 15) | ((q1 & 15) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + 16);
    }
    dv.setUint32(o + 4, qh >>> 0, true);
  }
  return out;
}

// --- K-quants --------------------------------------------------------------------------------
//
// Every f32 operation of the reference is one Math.fround here: +, −, ×, ÷ and sqrt of f32
// values computed in f64 and rounded once are correctly rounded f32 results, so these match the
// C code bit for bit as long as the C code is compiled without FMA contraction (ggml-base is).

const GROUP_MAX_EPS = fround(1e-15);
const F01 = fround(0.1);

/** ggml nearest_int: x + 1.5·2^23 in f32 keeps the integer part, rounded half to even. */
function nearestInt(x: number): number {
  return fround(x + 12582912) - 12582912;
}

/** ggml make_qx_quants with rmse_type 1 and no importance weights (w = x²): symmetric, L in [0, 2·nmax). */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(fround(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(F01 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(fround(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = fround(xi * xi);
      sumlx = fround(sumlx + fround(fround(w * xi) * l));
      suml2 = fround(suml2 + fround(fround(w * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fround(iscale * x[xo + i]!));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

/** ggml make_q3_quants with do_rmse: L (signed, offset by nmax on return) in [0, 2·nmax). */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(fround(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const w = fround(xi * xi);
      const li = L[lo + i]!;
      let slx = fround(sumlx - fround(fround(w * xi) * li));
      if (slx > 0) {
        let sl2 = fround(suml2 - fround(fround(w * li) * li));
        let nl = nearestInt(fround(fround(xi * sl2) / slx));
        nl = Math.max(-nmax, Math.min(nmax - 1, nl));
        if (nl !== li) {
          slx = fround(slx + fround(fround(w * xi) * nl));
          sl2 = fround(sl2 + fround(fround(w * nl) * nl));
          if (sl2 > 0 && fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

/**
 * ggml make_qkx2_quants: asymmetric (scale, min) fit of n ≤ 32 values to [0, nmax] minimising the
 * weighted error over nstep+1 candidate scales. Returns the scale; the min (≥ 0, subtracted) in out[0].
 * Same arithmetic as the reference, plus one shortcut that cannot change the result: a candidate
 * whose levels equal those of the previous, rejected candidate (same min) is rejected again unevaluated.
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, lo: number,
  Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean, out: Float32Array,
): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights[0]!;
  let sumX = fround(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    out[0] = -min;
    return 0;
  }
  const xm = QKX_XM; // fround(x − min) for the current min
  const prev = QKX_PREV; // levels of the last candidate, when it was rejected with the current min
  for (let i = 0; i < n; i++) xm[i] = x[xo + i]! - min;
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const v = fround(iscale * xm[i]!);
    let l = fround(v + 12582912) - 12582912; // nearest_int
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = l;
    let diff = fround(fround(fround(scale * l) + min) - x[xo + i]!);
    diff = useMad ? Math.abs(diff) : fround(diff * diff);
    bestError = fround(bestError + fround(weights[i]! * diff));
  }
  let prevRejected = false;
  for (let is = 0; is <= nstep; is++) {
    // min moves to the best fit so far, and the next candidates start from it
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let same = prevRejected;
    for (let i = 0; i < n; i++) {
      const v = fround(iscale * xm[i]!);
      let l = fround(v + 12582912) - 12582912;
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      if (same && prev[i] !== l) same = false;
      Laux[i] = l;
    }
    if (same) continue;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Laux[i]!;
      const wl = fround(weights[i]! * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * x[xo + i]!));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    prevRejected = true;
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fround(fround(fround(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : fround(diff * diff);
        curError = fround(curError + fround(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        if (thisMin !== min) {
          min = thisMin;
          for (let i = 0; i < n; i++) xm[i] = x[xo + i]! - min;
        }
        prevRejected = false;
      }
    }
    if (prevRejected) for (let i = 0; i < n; i++) prev[i] = Laux[i]!;
  }
  out[0] = -min;
  return scale;
}
const QKX_XM = new Float32Array(32);
const QKX_PREV = new Uint8Array(32);

function kBlocks(src: Float32Array, what: string): number {
  return blocksOf(src, 256, what);
}

/** ggml quantize_row_q2_K_ref. Block: scales[16] (scale | min << 4), qs[64], d, dmin. */
export function quantizeQ2_K(src: Float32Array): Uint8Array {
  const nb = kBlocks(src, 'Q2_K');
  const out = new Uint8Array(nb * 84);
  const dv = new DataView(out.buffer);
  const h = f16Table();
  const L = new Uint8Array(256);
  const Laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const mins = new Float32Array(16);
  const scales = new Float32Array(16);
  const m1 = new Float32Array(1);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 256;
    const o = b * 84;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x0 + 16 * j + l]!);
      scales[j] = makeQkx2Quants(16, 3, src, x0 + 16 * j, weights, L, 16 * j, Laux, -0.5, F01, 15, true, m1);
      mins[j] = m1[0]!;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    if (maxScale > 0) {
      const iscale = fround(15 / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(fround(iscale * scales[j]!)) & 0xff;
      dv.setUint16(o + 80, f32ToF16(fround(maxScale / 15)), true);
    } else {
      dv.setUint16(o + 80, f32ToF16(0), true);
    }
    if (maxMin > 0) {
      const iscale = fround(15 / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] = (out[o + j]! | (nearestInt(fround(iscale * mins[j]!)) << 4)) & 0xff;
      dv.setUint16(o + 82, f32ToF16(fround(maxMin / 15)), true);
    } else {
      dv.setUint16(o + 82, f32ToF16(0), true);
    }
    const dAll = h[dv.getUint16(o + 80, true)]!;
    const mAll = h[dv.getUint16(o + 82, true)]!;
    for (let j = 0; j < 16; j++) {
      const d = fround(dAll * (out[o + j]! & 0xf));
      if (d === 0) continue;
      const dm = fround(mAll * (out[o + j]! >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(fround(src[x0 + 16 * j + ii]! + dm) / d));
        L[16 * j + ii] = Math.max(0, Math.min(3, l));
      }
    }
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++) {
        out[o + 16 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
      }
    }
  }
  return out;
}

/** ggml quantize_row_q3_K_ref. Block: hmask[32], qs[64], scales[12] (16 × 6 bits, offset 32), d. */
export function quantizeQ3_K(src: Float32Array): Uint8Array {
  const nb = kBlocks(src, 'Q3_K');
  const out = new Uint8Array(nb * 110);
  const dv = new DataView(out.buffer);
  const h = f16Table();
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 256;
    const o = b * 110;
    const sc = o + 96;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, src, x0 + 16 * j, L, 16 * j);
      const s = Math.abs(scales[j]!);
      if (s > amax) {
        amax = s;
        maxScale = scales[j]!;
      }
    }
    if (maxScale !== 0) {
      const iscale = fround(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(fround(iscale * scales[j]!)) << 24) >> 24; // int8_t
        l = Math.max(-32, Math.min(31, l)) + 32;
        if (j < 8) out[sc + j] = l & 0xf;
        else out[sc + j - 8] = out[sc + j - 8]! | ((l & 0xf) << 4);
        l >>= 4;
        out[sc + (j % 4) + 8] = out[sc + (j % 4) + 8]! | (l << (2 * (j >> 2)));
      }
      dv.setUint16(o + 108, f32ToF16(fround(1 / iscale)), true);
    } else {
      dv.setUint16(o + 108, f32ToF16(0), true);
    }
    const dAll = h[dv.getUint16(o + 108, true)]!;
    for (let j = 0; j < 16; j++) {
      let s = j < 8 ? out[sc + j]! & 0xf : out[sc + j - 8]! >> 4;
      s = (s | (((out[sc + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const d = fround(dAll * s);
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(src[x0 + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
      }
    }
    let m = 0;
    let hm = 1;
    for (let j = 0; j < 256; j++) {
      if (L[j]! > 3) {
        out[o + m] = out[o + m]! | hm;
        L[j] = L[j]! - 4;
      }
      if (++m === 32) {
        m = 0;
        hm <<= 1;
      }
    }
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++) {
        out[o + 32 + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
      }
    }
  }
  return out;
}

/** Scales and mins of the eight 32-value groups of a Q4_K/Q5_K block, 6 bits each, into 12 bytes at o. */
function packScalesMinsK4(out: Uint8Array, o: number, scales: Float32Array, mins: Float32Array, maxScale: number, maxMin: number): void {
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(fround(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(fround(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      out[o + j] = ls;
      out[o + j + 4] = lm;
    } else {
      out[o + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[o + j - 4] = out[o + j - 4]! | ((ls >> 4) << 6);
      out[o + j] = out[o + j]! | ((lm >> 4) << 6);
    }
  }
}

/** Shared part of Q4_K and Q5_K: per-group fit, scales, d/dmin, then the final levels in L (0..nmax). */
function quantizeBlockK4(
  src: Float32Array, x0: number, nmax: number, rmin: number, nstep: number,
  out: Uint8Array, dv: DataView, o: number, L: Uint8Array, s: KScratch,
): void {
  const h = f16Table();
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xo = x0 + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fround(sumX2 + fround(src[xo + l]! * src[xo + l]!));
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) s.weights[l] = fround(avX + Math.abs(src[xo + l]!));
    s.scales[j] = makeQkx2Quants(32, nmax, src, xo, s.weights, L, 32 * j, s.Laux, rmin, F01, nstep, false, s.m1);
    s.mins[j] = s.m1[0]!;
    if (s.scales[j]! > maxScale) maxScale = s.scales[j]!;
    if (s.mins[j]! > maxMin) maxMin = s.mins[j]!;
  }
  packScalesMinsK4(out, o + 4, s.scales, s.mins, maxScale, maxMin);
  dv.setUint16(o, f32ToF16(fround(maxScale / 63)), true);
  dv.setUint16(o + 2, f32ToF16(fround(maxMin / 63)), true);
  const dAll = h[dv.getUint16(o, true)]!;
  const mAll = h[dv.getUint16(o + 2, true)]!;
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, out, o + 4);
    const d = fround(dAll * sc);
    if (d === 0) continue;
    const dm = fround(mAll * m);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fround(fround(src[x0 + 32 * j + ii]! + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

interface KScratch { weights: Float32Array; scales: Float32Array; mins: Float32Array; Laux: Uint8Array; m1: Float32Array }
function kScratch(): KScratch {
  return { weights: new Float32Array(32), scales: new Float32Array(8), mins: new Float32Array(8), Laux: new Uint8Array(32), m1: new Float32Array(1) };
}

/** ggml quantize_row_q4_K_ref. Block: d, dmin, scales[12], qs[128]. */
export function quantizeQ4_K(src: Float32Array): Uint8Array {
  const nb = kBlocks(src, 'Q4_K');
  const out = new Uint8Array(nb * 144);
  const dv = new DataView(out.buffer);
  const L = new Uint8Array(256);
  const s = kScratch();
  for (let b = 0; b < nb; b++) {
    const o = b * 144;
    quantizeBlockK4(src, b * 256, 15, -1, 20, out, dv, o, L, s);
    let q = o + 16;
    for (let j = 0; j < 256; j += 64) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
      q += 32;
    }
  }
  return out;
}

/** ggml quantize_row_q5_K_ref. Block: d, dmin, scales[12], qh[32], qs[128]. */
export function quantizeQ5_K(src: Float32Array): Uint8Array {
  const nb = kBlocks(src, 'Q5_K');
  const out = new Uint8Array(nb * 176);
  const dv = new DataView(out.buffer);
  const L = new Uint8Array(256);
  const s = kScratch();
  for (let b = 0; b < nb; b++) {
    const o = b * 176;
    quantizeBlockK4(src, b * 256, 31, -0.5, 15, out, dv, o, L, s);
    const qh = o + 16;
    let ql = o + 48;
    let m1 = 1;
    let m2 = 2;
    for (let n = 0; n < 256; n += 64) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j]!;
        if (l1 > 15) {
          l1 -= 16;
          out[qh + j] = out[qh + j]! | m1;
        }
        let l2 = L[n + j + 32]!;
        if (l2 > 15) {
          l2 -= 16;
          out[qh + j] = out[qh + j]! | m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
  return out;
}

/** ggml quantize_row_q6_K_ref. Block: ql[128], qh[64], scales[16] int8, d. */
export function quantizeQ6_K(src: Float32Array): Uint8Array {
  const nb = kBlocks(src, 'Q6_K');
  const out = new Uint8Array(nb * 210);
  const dv = new DataView(out.buffer);
  const h = f16Table();
  const L = new Uint8Array(256);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 256;
    const o = b * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x0 + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      const a = Math.abs(scale);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all zero, d = 0
    const iscale = fround(-128 / maxScale);
    dv.setUint16(o + 208, f32ToF16(fround(1 / iscale)), true);
    for (let ib = 0; ib < 16; ib++) dv.setInt8(o + 192 + ib, Math.min(127, nearestInt(fround(iscale * scales[ib]!))));
    const dAll = h[dv.getUint16(o + 208, true)]!;
    for (let j = 0; j < 16; j++) {
      const d = fround(dAll * dv.getInt8(o + 192 + j));
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(src[x0 + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = o;
    let qh = o + 128;
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]!, q2 = L[j + l + 32]!, q3 = L[j + l + 64]!, q4 = L[j + l + 96]!;
        out[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
      ql += 64;
      qh += 32;
    }
  }
  return out;
}

export function quantizeF16(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]!);
  return toLEBytes(out);
}

export function quantizeBF16(src: Float32Array): Uint8Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBF16(src[i]!);
  return toLEBytes(out);
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toLEBytes(a: Uint16Array | Float32Array): Uint8Array {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (!HOST_LE) {
    const k = a.BYTES_PER_ELEMENT;
    for (let i = 0; i < b.length; i += k) b.subarray(i, i + k).reverse();
  }
  return b;
}

/**
 * Quantize f32 values (a whole tensor, rows along ne[0] laid end to end; the row length must
 * be a multiple of the block size, which holds when src.length is) to `type`:
 * F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, and (rows a multiple of 256) Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K.
 */
export function quantizeTensor(type: number, src: Float32Array): Uint8Array {
  switch (type) {
    case GGML_F32: return toLEBytes(src.slice());
    case GGML_F16: return quantizeF16(src);
    case GGML_BF16: return quantizeBF16(src);
    case GGML_Q8_0: return quantizeQ8_0(src);
    case GGML_Q4_0: return quantizeQ4_0(src);
    case GGML_Q4_1: return quantizeQ4_1(src);
    case GGML_Q5_0: return quantizeQ5_0(src);
    case GGML_Q5_1: return quantizeQ5_1(src);
    case GGML_Q2_K: return quantizeQ2_K(src);
    case GGML_Q3_K: return quantizeQ3_K(src);
    case GGML_Q4_K: return quantizeQ4_K(src);
    case GGML_Q5_K: return quantizeQ5_K(src);
    case GGML_Q6_K: return quantizeQ6_K(src);
  }
  throw new WasmlmError('UNSUPPORTED_TYPE', `no reference quantizer for ${ggmlTypeName(type)}`);
}

// --- dequantizers ----------------------------------------------------------------------------

/**
 * n values of `type` from `bytes` (blocks laid end to end, n a multiple of the block size):
 * F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
 */
export function dequantize(type: number, bytes: Uint8Array, n: number): Float32Array {
  const info = ggmlTypeInfo(type);
  if (!info) throw new WasmlmError('BAD_ARGUMENT', `unknown ggml type ${type}`);
  if (!Number.isSafeInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new WasmlmError('BAD_ARGUMENT', `dequantize ${info.name}: ${n} values is not a whole number of blocks of ${info.blockSize}`);
  }
  const nb = n / info.blockSize;
  const need = nb * info.typeSize;
  if (bytes.length < need) {
    throw new WasmlmError('BAD_ARGUMENT', `dequantize ${info.name}: ${n} values need ${need} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const y = new Float32Array(n);
  const h = f16Table();
  const f16 = (o: number) => h[dv.getUint16(o, true)]!;
  switch (type) {
    case GGML_F32:
      for (let i = 0; i < n; i++) y[i] = dv.getFloat32(i * 4, true);
      return y;
    case GGML_F16:
      for (let i = 0; i < n; i++) y[i] = f16(i * 2);
      return y;
    case GGML_BF16:
      for (let i = 0; i < n; i++) y[i] = bf16ToF32(dv.getUint16(i * 2, true));
      return y;
    case GGML_Q8_0:
      for (let b = 0; b < nb; b++) {
        const o = b * 34;
        const d = f16(o);
        for (let j = 0; j < 32; j++) y[b * 32 + j] = d * dv.getInt8(o + 2 + j);
      }
      return y;
    case GGML_Q8_1:
      for (let b = 0; b < nb; b++) {
        const o = b * 36;
        const d = f16(o);
        for (let j = 0; j < 32; j++) y[b * 32 + j] = d * dv.getInt8(o + 4 + j);
      }
      return y;
    case GGML_Q4_0:
      for (let b = 0; b < nb; b++) {
        const o = b * 18;
        const d = f16(o);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j]!;
          y[b * 32 + j] = d * ((q & 15) - 8);
          y[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      return y;
    case GGML_Q4_1:
      for (let b = 0; b < nb; b++) {
        const o = b * 20;
        const d = f16(o);
        const m = f16(o + 2);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 4 + j]!;
          y[b * 32 + j] = d * (q & 15) + m;
          y[b * 32 + j + 16] = d * (q >> 4) + m;
        }
      }
      return y;
    case GGML_Q5_0:
      for (let b = 0; b < nb; b++) {
        const o = b * 22;
        const d = f16(o);
        const qh = dv.getUint32(o + 2, true);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 6 + j]!;
          const h0 = ((qh >>> j) << 4) & 0x10;
          const h1 = (qh >>> (j + 12)) & 0x10;
          y[b * 32 + j] = d * (((q & 15) | h0) - 16);
          y[b * 32 + j + 16] = d * (((q >> 4) | h1) - 16);
        }
      }
      return y;
    case GGML_Q5_1:
      for (let b = 0; b < nb; b++) {
        const o = b * 24;
        const d = f16(o);
        const m = f16(o + 2);
        const qh = dv.getUint32(o + 4, true);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 8 + j]!;
          const h0 = ((qh >>> j) << 4) & 0x10;
          const h1 = (qh >>> (j + 12)) & 0x10;
          y[b * 32 + j] = d * ((q & 15) | h0) + m;
          y[b * 32 + j + 16] = d * ((q >> 4) | h1) + m;
        }
      }
      return y;
    case GGML_Q8_K:
      for (let b = 0; b < nb; b++) {
        const o = b * 292;
        const d = dv.getFloat32(o, true);
        for (let j = 0; j < 256; j++) y[b * 256 + j] = d * dv.getInt8(o + 4 + j);
      }
      return y;
    case GGML_Q2_K:
      for (let b = 0; b < nb; b++) dequantQ2K(bytes, dv, b * 84, y, b * 256, f16);
      return y;
    case GGML_Q3_K:
      for (let b = 0; b < nb; b++) dequantQ3K(bytes, dv, b * 110, y, b * 256, f16);
      return y;
    case GGML_Q4_K:
      for (let b = 0; b < nb; b++) dequantQ4K(bytes, b * 144, y, b * 256, f16);
      return y;
    case GGML_Q5_K:
      for (let b = 0; b < nb; b++) dequantQ5K(bytes, b * 176, y, b * 256, f16);
      return y;
    case GGML_Q6_K:
      for (let b = 0; b < nb; b++) dequantQ6K(bytes, b * 210, y, b * 256, f16);
      return y;
  }
  throw new WasmlmError('UNSUPPORTED_TYPE', `no reference dequantizer for ${info.name}`);
}

// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin.
function dequantQ2K(q: Uint8Array, dv: DataView, o: number, y: Float32Array, yo: number, f16: (o: number) => number): void {
  const d = f16(o + 80);
  const dmin = f16(o + 82);
  let is = 0;
  let qo = o + 16;
  for (let n = 0; n < 256; n += 128) {
    let shift = 0;
    for (let j = 0; j < 4; j++) {
      let sc = q[o + is++]!;
      let dl = d * (sc & 15);
      let ml = dmin * (sc >> 4);
      for (let l = 0; l < 16; l++) y[yo++] = dl * ((q[qo + l]! >> shift) & 3) - ml;
      sc = q[o + is++]!;
      dl = d * (sc & 15);
      ml = dmin * (sc >> 4);
      for (let l = 0; l < 16; l++) y[yo++] = dl * ((q[qo + l + 16]! >> shift) & 3) - ml;
      shift += 2;
    }
    qo += 32;
  }
  void dv;
}

// Q3_K: hmask[32], qs[64], scales[12] (16 6-bit signed scales, offset 32), d.
function dequantQ3K(q: Uint8Array, dv: DataView, o: number, y: Float32Array, yo: number, f16: (o: number) => number): void {
  const d = f16(o + 108);
  const hm = o;
  let qo = o + 32;
  // unpack the 12 scale bytes into 16 6-bit values
  const a0 = dv.getUint32(o + 96, true);
  const a1 = dv.getUint32(o + 100, true);
  const tmp = dv.getUint32(o + 104, true);
  const kmask1 = 0x03030303;
  const kmask2 = 0x0f0f0f0f;
  const s = [
    (a0 & kmask2) | (((tmp >>> 0) & kmask1) << 4),
    (a1 & kmask2) | (((tmp >>> 2) & kmask1) << 4),
    ((a0 >>> 4) & kmask2) | (((tmp >>> 4) & kmask1) << 4),
    ((a1 >>> 4) & kmask2) | (((tmp >>> 6) & kmask1) << 4),
  ];
  const scales = new Int8Array(16);
  for (let i = 0; i < 4; i++) for (let k = 0; k < 4; k++) scales[i * 4 + k] = ((s[i]! >>> (8 * k)) & 0xff) - 32;
  let is = 0;
  let m = 1;
  for (let n = 0; n < 256; n += 128) {
    let shift = 0;
    for (let j = 0; j < 4; j++) {
      let dl = d * scales[is++]!;
      for (let l = 0; l < 16; l++) {
        y[yo++] = dl * (((q[qo + l]! >> shift) & 3) - ((q[hm + l]! & m) !== 0 ? 0 : 4));
      }
      dl = d * scales[is++]!;
      for (let l = 0; l < 16; l++) {
        y[yo++] = dl * (((q[qo + l + 16]! >> shift) & 3) - ((q[hm + l + 16]! & m) !== 0 ? 0 : 4));
      }
      shift += 2;
      m <<= 1;
    }
    qo += 32;
  }
}

/** 6-bit scale and min number j of the 12-byte K-quant scale block at o. */
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j]! & 63, q[o + j + 4]! & 63];
  return [
    (q[o + j + 4]! & 0xf) | ((q[o + j - 4]! >> 6) << 4),
    (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4),
  ];
}

// Q4_K: d, dmin, scales[12], qs[128].
function dequantQ4K(q: Uint8Array, o: number, y: Float32Array, yo: number, f16: (o: number) => number): void {
  const d = f16(o);
  const dmin = f16(o + 2);
  let qo = o + 16;
  let is = 0;
  for (let j = 0; j < 256; j += 64) {
    const [sc1, m1] = scaleMinK4(is, q, o + 4);
    const [sc2, m2] = scaleMinK4(is + 1, q, o + 4);
    const d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
    for (let l = 0; l < 32; l++) y[yo++] = d1 * (q[qo + l]! & 0xf) - mm1;
    for (let l = 0; l < 32; l++) y[yo++] = d2 * (q[qo + l]! >> 4) - mm2;
    qo += 32;
    is += 2;
  }
}

// Q5_K: d, dmin, scales[12], qh[32], qs[128].
function dequantQ5K(q: Uint8Array, o: number, y: Float32Array, yo: number, f16: (o: number) => number): void {
  const d = f16(o);
  const dmin = f16(o + 2);
  const qh = o + 16;
  let ql = o + 48;
  let is = 0;
  let u1 = 1;
  let u2 = 2;
  for (let j = 0; j < 256; j += 64) {
    const [sc1, m1] = scaleMinK4(is, q, o + 4);
    const [sc2, m2] = scaleMinK4(is + 1, q, o + 4);
    const d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
    for (let l = 0; l < 32; l++) y[yo++] = d1 * ((q[ql + l]! & 0xf) + ((q[qh + l]! & u1) !== 0 ? 16 : 0)) - mm1;
    for (let l = 0; l < 32; l++) y[yo++] = d2 * ((q[ql + l]! >> 4) + ((q[qh + l]! & u2) !== 0 ? 16 : 0)) - mm2;
    ql += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
}

// Q6_K: ql[128], qh[64], scales[16] int8, d.
function dequantQ6K(q: Uint8Array, o: number, y: Float32Array, yo: number, f16: (o: number) => number): void {
  const d = f16(o + 208);
  let ql = o;
  let qh = o + 128;
  let sc = o + 192;
  const s8 = (i: number) => (q[sc + i]! << 24) >> 24;
  for (let n = 0; n < 256; n += 128) {
    for (let l = 0; l < 32; l++) {
      const is = l >> 4;
      const q1 = ((q[ql + l]! & 0xf) | (((q[qh + l]! >> 0) & 3) << 4)) - 32;
      const q2 = ((q[ql + l + 32]! & 0xf) | (((q[qh + l]! >> 2) & 3) << 4)) - 32;
      const q3 = ((q[ql + l]! >> 4) | (((q[qh + l]! >> 4) & 3) << 4)) - 32;
      const q4 = ((q[ql + l + 32]! >> 4) | (((q[qh + l]! >> 6) & 3) << 4)) - 32;
      y[yo + l] = d * s8(is) * q1;
      y[yo + l + 32] = d * s8(is + 2) * q2;
      y[yo + l + 64] = d * s8(is + 4) * q3;
      y[yo + l + 96] = d * s8(is + 6) * q4;
    }
    yo += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

// --- whole-model quantization: which type each tensor gets (llama-quantize's choices) ------------

/** A target of `wasmlm quantize --type`: the GGUF general.file_type it writes and its default tensor type. */
export interface QuantTarget {
  name: string;
  /** llama_ftype written to general.file_type */
  fileType: number;
  /** the type of most 2-D weights */
  type: number;
  /** llama.cpp's per-tensor mix (q4_k_m, q5_k_m); otherwise every quantizable weight is `type` (llama-quantize --pure) */
  mix: boolean;
}

export const QUANT_TARGETS: Readonly<Record<string, QuantTarget>> = Object.fromEntries(([
  ['f32', 0, GGML_F32, false], ['f16', 1, GGML_F16, false], ['bf16', 32, GGML_BF16, false],
  ['q8_0', 7, GGML_Q8_0, false], ['q4_0', 2, GGML_Q4_0, false], ['q4_1', 3, GGML_Q4_1, false],
  ['q5_0', 8, GGML_Q5_0, false], ['q5_1', 9, GGML_Q5_1, false],
  ['q2_k', 10, GGML_Q2_K, false], ['q3_k', 12, GGML_Q3_K, false], ['q4_k', 15, GGML_Q4_K, false],
  ['q5_k', 17, GGML_Q5_K, false], ['q6_k', 18, GGML_Q6_K, false],
  ['q4_k_m', 15, GGML_Q4_K, true], ['q5_k_m', 17, GGML_Q5_K, true],
] as const).map(([name, fileType, type, mix]) => [name, { name, fileType, type, mix }]));

export interface QuantPlanTensor {
  name: string;
  /** dims, ne[0] fastest */
  ne: readonly number[];
  /** the tensor's type now */
  type: number;
}

export interface QuantPlanOptions {
  /** general.architecture (falcon has its own rules) */
  arch?: string;
  /** block_count; default: 1 + the highest blk.N seen */
  nLayer?: number;
  /** expert_count (8-expert models keep attn_v/attn_k in Q8_0) */
  nExpert?: number;
}

export interface QuantPlanEntry extends QuantPlanTensor {
  /** the type it is written as */
  outType: number;
  /** why it is not `target.type` (fallback for its row size), for the log */
  note?: string;
}

/** llama.cpp's tensor order in a quantized file: non-layer tensors first, then by layer, by name within each. */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const layer = (n: string) => { const m = /^blk\.(\d+)\./.exec(n); return m ? Number(m[1]) : -1; };
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Would llama-quantize quantize this tensor at all (2-D+ weights but norms, routers, positions, ...)? */
function quantizable(t: QuantPlanTensor): boolean {
  let dims = t.ne.length;
  while (dims > 1 && t.ne[dims - 1] === 1) dims--;
  if (dims < 2) return false;
  const n = t.name;
  if (!n.endsWith('weight')) return false;
  return !['_norm.weight', 'ffn_gate_inp.weight', 'altup', 'laurel', 'per_layer_model_proj', 'ssm_conv1d',
    'shortconv.conv.weight', 'time_mix_', 'attn_rel_b.weight', '.position_embd', '.rel_pos', '.patch_embd']
    .some((s) => n.includes(s)) && n !== 'position_embd.weight' && n !== 'token_types.weight';
}

/** llama.cpp's fallback when a row (ne[0]) is not a whole number of blocks of `type`. */
function fallbackType(type: number, ne0: number): number {
  if (ne0 % ggmlTypeInfo(type)!.blockSize === 0) return type;
  let t: number;
  switch (type) {
    case GGML_Q2_K: case GGML_Q3_K: t = GGML_Q4_0; break;
    case GGML_Q4_K: t = GGML_Q5_0; break;
    case GGML_Q5_K: t = GGML_Q5_1; break;
    case GGML_Q6_K: t = GGML_Q8_0; break;
    default: t = GGML_F16; // llama.cpp has no fallback here (it stops); F16 keeps the tensor usable
  }
  return ne0 % ggmlTypeInfo(t)!.blockSize === 0 ? t : GGML_F16;
}

/**
 * The type of every tensor when a model is quantized to `target`, in llama.cpp's output order:
 * what llama-quantize (no imatrix) picks for the same file: 1-D tensors, norms and routers keep
 * their type; with `--pure`-like targets every other weight is target.type; q4_k_m / q5_k_m use
 * llama.cpp's mix (output, or token_embd when it doubles as the output, Q6_K; attn_v and
 * ffn_down Q6_K on the first and last eighth of the layers and every third in between); a row that
 * is not a whole number of blocks falls back as llama.cpp does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0).
 */
export function planQuantization(target: QuantTarget, tensors: readonly QuantPlanTensor[], options: QuantPlanOptions = {}): QuantPlanEntry[] {
  const ordered = llamaTensorOrder(tensors);
  const quantized = target.type !== GGML_F32 && target.type !== GGML_F16 && target.type !== GGML_BF16;
  const layerOf = (n: string) => { const m = /^blk\.(\d+)\./.exec(n); return m ? Number(m[1]) : -1; };
  const nLayer = options.nLayer ?? 1 + Math.max(-1, ...ordered.map((t) => layerOf(t.name)));
  const nExpert = Math.max(1, options.nExpert ?? 1);
  const falcon = options.arch === 'falcon';
  const isAttnV = (n: string) => n.includes('attn_v.weight') || n.includes('attn_qkv.weight') || n.includes('attn_kv_b.weight');
  const nAttnV = ordered.filter((t) => isAttnV(t.name)).length;
  const tied = !ordered.some((t) => t.name === 'output.weight');
  const moreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
  const q4km = target.name === 'q4_k_m';
  let iAttnV = 0;
  let iFfnDown = 0;
  return ordered.map((t): QuantPlanEntry => {
    if (!quantizable(t)) return { ...t, outType: t.type };
    let type = target.type;
    const n = t.name;
    if (quantized && target.mix) {
      if (n === 'output.weight' || (tied && n === 'token_embd.weight')) {
        if (falcon || t.ne[0]! % 256 !== 0) type = GGML_Q8_0;
        else if (type !== GGML_Q8_0) type = GGML_Q6_K;
      } else if (n === 'token_embd.weight') {
        // the default type
      } else if (isAttnV(n)) {
        if (moreBits(iAttnV, nAttnV)) type = GGML_Q6_K;
        if (nExpert === 8) type = GGML_Q8_0;
        iAttnV++;
      } else if (n.includes('attn_k.weight')) {
        if (nExpert === 8) type = GGML_Q8_0;
      } else if (n.includes('ffn_down')) {
        const i = nExpert > 1 ? layerOf(n) : iFfnDown;
        if (q4km) {
          if (falcon) type = i < Math.trunc(nLayer / 16) ? GGML_Q6_K : moreBits(i, nLayer) ? GGML_Q5_K : GGML_Q4_K;
          else if (moreBits(i, nLayer)) type = GGML_Q6_K;
        } else if (moreBits(i, nLayer)) {
          type = GGML_Q6_K; // q5_k_m
        }
        iFfnDown++;
      } else if (n.includes('attn_output.weight')) {
        if (!falcon && nExpert === 8 && q4km) type = GGML_Q5_K;
      }
    }
    const fb = quantized ? fallbackType(type, t.ne[0]!) : type;
    const entry: QuantPlanEntry = { ...t, outType: fb };
    if (fb !== type) entry.note = `ne[0] = ${t.ne[0]} is not a multiple of ${ggmlTypeInfo(type)!.blockSize}: ${ggmlTypeName(type)} → ${ggmlTypeName(fb)}`;
    return entry;
  });
}
