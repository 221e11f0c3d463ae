// Q4_K (144 B per 256: d, dmin, scales[12], qs[128]) and Q5_K (176 B: d, dmin, scales[12], qh[32],
// qs[128]): eight 32-value groups with 6-bit scales and mins; ggml's imatrix-free `_ref` quantizers.

import { F01, fround, kBlocks, makeQkx2Quants, nearestInt, type BlockCodec } from './common.js';
import { f16Table, f32ToF16 } from './float.js';

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

export const Q4_K: BlockCodec = {
  quantize: quantizeQ4_K,
  dequantize(q, _dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) dequantQ4K(q, b * 144, y, b * 256, f16);
  },
};

export const Q5_K: BlockCodec = {
  quantize: quantizeQ5_K,
  dequantize(q, _dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) dequantQ5K(q, b * 176, y, b * 256, f16);
  },
};
