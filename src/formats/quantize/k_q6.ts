// Q6_K, 210 B per 256: ql[128], qh[64], scales[16] int8, d; ggml's imatrix-free `_ref` quantizer.

import { GROUP_MAX_EPS, fround, kBlocks, makeQxQuants, nearestInt, type BlockCodec } from './common.js';
import { f16Table, f32ToF16 } from './float.js';

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

export const Q6_K: BlockCodec = {
  quantize: quantizeQ6_K,
  dequantize(q, _dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) dequantQ6K(q, b * 210, y, b * 256, f16);
  },
};
