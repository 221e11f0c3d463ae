// The other blocks of 32 (d, m fp16):
//   Q4_1 20 B: d, m, qs[16]          x = d·q + m
//   Q5_0 22 B: d, qh u32, qs[16]     5-bit q − 16
//   Q5_1 24 B: d, m, qh u32, qs[16]  5-bit q, + m

import { blocksOf, fround, signedAbsMax, type BlockCodec } from './common.js';
import { f32ToF16 } from './float.js';

/**
 * The head of a Q4_1/Q5_1 block: d = (max − min) / nmax and m = min as halves at o and o + 2.
 * Returns min and 1/d (0 when d is 0), in f32 as ggml computes them.
 */
function minScale(src: Float32Array, x0: number, nmax: number, dv: DataView, o: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    const v = src[x0 + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = fround(fround(max - min) / nmax);
  dv.setUint16(o, f32ToF16(d), true);
  dv.setUint16(o + 2, f32ToF16(min), true);
  return [min, d !== 0 ? fround(1 / d) : 0];
}

/** ggml quantize_row_q4_1_ref. */
export function quantizeQ4_1(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q4_1');
  const out = new Uint8Array(nb * 20);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    const o = b * 20;
    const [min, id] = minScale(src, x0, 15, dv, o);
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
    const o = b * 24;
    const [min, id] = minScale(src, x0, 31, dv, o);
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

export const Q4_1: BlockCodec = {
  quantize: quantizeQ4_1,
  dequantize(q, _dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) {
      const o = b * 20;
      const d = f16(o);
      const m = f16(o + 2);
      for (let j = 0; j < 16; j++) {
        const x = q[o + 4 + j]!;
        y[b * 32 + j] = d * (x & 15) + m;
        y[b * 32 + j + 16] = d * (x >> 4) + m;
      }
    }
  },
};

export const Q5_0: BlockCodec = {
  quantize: quantizeQ5_0,
  dequantize(q, dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) {
      const o = b * 22;
      const d = f16(o);
      const qh = dv.getUint32(o + 2, true);
      for (let j = 0; j < 16; j++) {
        const x = q[o + 6 + j]!;
        const h0 = ((qh >>> j) << 4) & 0x10;
        const h1 = (qh >>> (j + 12)) & 0x10;
        y[b * 32 + j] = d * (((x & 15) | h0) - 16);
        y[b * 32 + j + 16] = d * (((x >> 4) | h1) - 16);
      }
    }
  },
};

export const Q5_1: BlockCodec = {
  quantize: quantizeQ5_1,
  dequantize(q, dv, nb, y, f16) {
    for (let b = 0; b < nb; b++) {
      const o = b * 24;
      const d = f16(o);
      const m = f16(o + 2);
      const qh = dv.getUint32(o + 4, true);
      for (let j = 0; j < 16; j++) {
        const x = q[o + 8 + j]!;
        const h0 = ((qh >>> j) << 4) & 0x10;
        const h1 = (qh >>> (j + 12)) & 0x10;
        y[b * 32 + j] = d * ((x & 15) | h0) + m;
        y[b * 32 + j + 16] = d * ((x >> 4) | h1) + m;
      }
    }
  },
};
