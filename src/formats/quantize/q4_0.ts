// Q4_0, 18 B per 32: d, qs[16]; x[j] = d·((qs[j]&15) − 8), x[j+16] = d·((qs[j]>>4) − 8).

import { blocksOf, fround, signedAbsMax, type BlockCodec } from './common.js';
import { f32ToF16 } from './float.js';

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

export const Q4_0: BlockCodec = {
  quantize: quantizeQ4_0,
  dequantize(q, _dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) {
      const o = b * 18;
      const d = f16(o);
      for (let j = 0; j < 16; j++) {
        const x = q[o + 2 + j]!;
        y[b * 32 + j] = d * ((x & 15) - 8);
        y[b * 32 + j + 16] = d * ((x >> 4) - 8);
      }
    }
  },
};
