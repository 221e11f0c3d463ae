// Shared by the reference quantizers (see ../quantize.ts): C rounding, block counts, and the
// scale-fitting searches of ggml's K-quants (make_qx_quants, make_qkx2_quants).
//
// Every f32 operation of the reference is one Math.fround here: +, −, ×, ÷ and sqrt of f32
// values computed in f64 and rounded once are correctly rounded f32 results, so these match the
// C code bit for bit as long as the C code is compiled without FMA contraction (ggml-base is).

import { WasmlmError } from '../../errors.js';

export const fround = Math.fround;

/** A block group's entry: ggml's `_ref` quantizer (absent for activation types) and its dequantizer. */
export interface BlockCodec {
  /** f32 values (a whole number of blocks) → blocks */
  quantize?: (src: Float32Array) => Uint8Array;
  /** nb blocks of `q` → y; f16(o) is the half at byte o of q */
  dequantize: (q: Uint8Array, dv: DataView, nb: number, y: Float32Array, f16: Half) => void;
}
export type Half = (o: number) => number;

/** C roundf: half away from zero. */
export function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function blocksOf(src: Float32Array, qk: number, what: string): number {
  if (src.length % qk !== 0) {
    throw new WasmlmError('BAD_ARGUMENT', `${what}: ${src.length} values is not a multiple of the block size ${qk}`);
  }
  return src.length / qk;
}

/** The value of largest magnitude among x[from .. from + n) (the first of equals), sign kept, as ggml picks it. */
export function signedAbsMax(x: Float32Array, from: number, n: number): number {
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

export const GROUP_MAX_EPS = fround(1e-15);

export const F01 = fround(0.1);

/** ggml nearest_int: x + 1.5·2^23 in f32 keeps the integer part, rounded half to even. */
export function nearestInt(x: number): number {
  return fround(x + 12582912) - 12582912;
}

const SUMS = new Float64Array(2);

/**
 * The first pass of ggml's make_qx_quants / make_q3_quants at one inverse scale: each value's level
 * l = clamp(nearest_int(iscale·x), −nmax, nmax − 1), and into out Σ w·x·l and Σ w·l² with w = x², every
 * step rounded to f32 as ggml computes it. The levels go to L[lo..] plus `offset` when L is given.
 */
export function levelSums(n: number, nmax: number, x: Float32Array, xo: number, iscale: number,
  L: Uint8Array | Int8Array | null, lo: number, offset: number, out: Float64Array): void {
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(fround(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    if (L) L[lo + i] = l + offset;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  out[0] = sumlx;
  out[1] = suml2;
}

/** ggml make_qx_quants with rmse_type 1 and no importance weights (w = x²): symmetric, L in [0, 2·nmax). */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fround(-nmax / max);
  levelSums(n, nmax, x, xo, iscale, L, lo, nmax, SUMS);
  let sumlx = SUMS[0]!;
  let suml2 = SUMS[1]!;
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(F01 * is)) / max);
    levelSums(n, nmax, x, xo, iscale, null, 0, 0, SUMS);
    sumlx = SUMS[0]!;
    suml2 = SUMS[1]!;
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

/**
 * ggml make_qkx2_quants: asymmetric (scale, min) fit of n ≤ 32 values to [0, nmax] minimising the
 * weighted error over nstep+1 candidate scales. Returns the scale; the min (≥ 0, subtracted) in out[0].
 * Same arithmetic as the reference, plus one shortcut that cannot change the result: a candidate
 * whose levels equal those of the previous, rejected candidate (same min) is rejected again unevaluated.
 */
export function makeQkx2Quants(
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

export function kBlocks(src: Float32Array, what: string): number {
  return blocksOf(src, 256, what);
}
