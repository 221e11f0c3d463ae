// Q2_K (84 B per 256: scales[16] (scale | min << 4), qs[64], d, dmin) and Q3_K (110 B: hmask[32],
// qs[64], scales[12] (16 × 6 bits, offset 32), d): ggml's imatrix-free `_ref` quantizers.

import { F01, GROUP_MAX_EPS, fround, kBlocks, levelSums, makeQkx2Quants, nearestInt, signedAbsMax, type BlockCodec } from './common.js';

const SUMS = new Float64Array(2);
import { f16Table, f32ToF16 } from './float.js';

/** ggml make_q3_quants with do_rmse: L (signed, offset by nmax on return) in [0, 2·nmax). */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  levelSums(n, nmax, x, xo, fround(-nmax / max), L, lo, 0, SUMS);
  let sumlx = SUMS[0]!;
  let suml2 = SUMS[1]!;
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

export const Q2_K: BlockCodec = {
  quantize: quantizeQ2_K,
  dequantize(q, dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) dequantQ2K(q, dv, b * 84, y, b * 256, f16);
  },
};

export const Q3_K: BlockCodec = {
  quantize: quantizeQ3_K,
  dequantize(q, dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) dequantQ3K(q, dv, b * 110, y, b * 256, f16);
  },
};
