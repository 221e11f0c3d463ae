// F32, F16, BF16: the float conversions (bit-exact with ggml's portable ones) and their "quantizers".
//
// f32ToF16 rounds to nearest even (subnormals, ±inf, NaN → 0x7e00 with the sign); f32ToBF16
// rounds to nearest even with NaN made quiet (ggml_compute_fp32_to_bf16).

import type { BlockCodec } from './common.js';

const f32buf = new Float32Array(1);

const u32buf = new Uint32Array(f32buf.buffer);

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

export function f16Table(): Float32Array {
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

export const F32: BlockCodec = {
  quantize: (src) => toLEBytes(src.slice()),
  dequantize(_q, dv, n, y) {
    for (let i = 0; i < n; i++) y[i] = dv.getFloat32(i * 4, true);
  },
};

export const F16: BlockCodec = {
  quantize: quantizeF16,
  dequantize(_q, _dv, n, y, f16) {
    for (let i = 0; i < n; i++) y[i] = f16(i * 2);
  },
};

export const BF16: BlockCodec = {
  quantize: quantizeBF16,
  dequantize(_q, dv, n, y) {
    for (let i = 0; i < n; i++) y[i] = bf16ToF32(dv.getUint16(i * 2, true));
  },
};
