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
//   K-quants (dequantize only): Q2_K 84 B, Q3_K 110 B, Q4_K 144 B, Q5_K 176 B, Q6_K 210 B, Q8_K 292 B per 256.

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

/** ggml quantize_row_q4_0_ref. */
export function quantizeQ4_0(src: Float32Array): Uint8Array {
  const nb = blocksOf(src, 32, 'Q4_0');
  const out = new Uint8Array(nb * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x0 = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[x0 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
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
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[x0 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
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
 * F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1.
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
