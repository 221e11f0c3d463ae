// 8-bit blocks of 32: Q8_0 (weights, 34 B: d, qs[32] int8, x = d·q); Q8_1 (36 B: d, s, qs[32])
// and Q8_K (292 B per 256: f32 d, qs[256], bsums) are activation types: dequantize only.

import { blocksOf, fround, roundf, type BlockCodec } from './common.js';
import { f32ToF16 } from './float.js';

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

export const Q8_0: BlockCodec = {
  quantize: quantizeQ8_0,
  dequantize(_q, dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) {
      const o = b * 34;
      const d = f16(o);
      for (let j = 0; j < 32; j++) y[b * 32 + j] = d * dv.getInt8(o + 2 + j);
    }
  },
};

export const Q8_1: BlockCodec = {
  dequantize(_q, dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) {
      const o = b * 36;
      const d = f16(o);
      for (let j = 0; j < 32; j++) y[b * 32 + j] = d * dv.getInt8(o + 4 + j);
    }
  },
};

export const Q8_K: BlockCodec = {
  dequantize(_q, dv, nb, y) {
    for (let b = 0; b < nb; b++) {
      const o = b * 292;
      const d = dv.getFloat32(o, true);
      for (let j = 0; j < 256; j++) y[b * 256 + j] = d * dv.getInt8(o + 4 + j);
    }
  },
};
