// get_rows: gather rows of a GGUF tensor (embedding table) and dequantize them to f32, with the
// reference dequantizer's f32 steps (bit-exact with ggml's dequantize_row_* and gguf-py).
import {
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
  GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, WASMLM_Q8_0R, WASMLM_Q4_0R,
} from "../../src/abi";
import { h2f, h2f4, f16x8AllNormal, h2f4NormalLo, h2f4NormalHi, bf2f } from "./f16";
import { legacyBlockBytes, rowLegacy } from "./legacy";
import { kBlockBytes, rowK } from "./kquants";

/** Bytes of one row of rowLen values of `type` (GGUF block layout, or repacked: the same size; 0 if unsupported). */
// @ts-ignore: decorator
@inline export function rowBytesOf(type: i32, rowLen: i32): usize {
  if (type == GGML_F32) return <usize>rowLen << 2;
  if (type == GGML_F16) return <usize>rowLen << 1;
  if (type == GGML_Q8_0 || type == WASMLM_Q8_0R) return <usize>(rowLen >> 5) * 34;
  if (type == GGML_Q4_0 || type == WASMLM_Q4_0R) return <usize>(rowLen >> 5) * 18;
  if (type == GGML_BF16) return <usize>rowLen << 1;
  const lb = legacyBlockBytes(type);
  if (lb != 0) return <usize>(rowLen >> 5) * lb;
  return <usize>(rowLen >> 8) * kBlockBytes(type);
}

function rowF16(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const d = dst + (<usize>i << 2);
    if (f16x8AllNormal(h)) {
      v128.store(d, h2f4NormalLo(h), 0);
      v128.store(d, h2f4NormalHi(h), 16);
    } else {
      v128.store(d, h2f4(i32x4.extend_low_i16x8_u(h)), 0);
      v128.store(d, h2f4(i32x4.extend_high_i16x8_u(h)), 16);
    }
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), h2f(<i32>load<u16>(src + (<usize>i << 1))));
}

function rowBF16(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const d = dst + (<usize>i << 2);
    v128.store(d, i32x4.shl(i32x4.extend_low_i16x8_u(h), 16), 0);
    v128.store(d, i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), bf2f(<i32>load<u16>(src + (<usize>i << 1))));
}

// Repacked Q8_0 (repack.ts): quants[nb][32] then nb fp16 scales
function rowQ8_0R(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  const scales = src + (<usize>nb << 5);
  for (let b = 0; b < nb; b++) {
    const d = f32x4.splat(h2f(<i32>load<u16>(scales + (<usize>b << 1))));
    const v0 = v128.load(src), v1 = v128.load(src, 16);
    store8(dst, i16x8.extend_low_i8x16_s(v0), i16x8.extend_high_i8x16_s(v0), i16x8.extend_low_i8x16_s(v1), i16x8.extend_high_i8x16_s(v1), d);
    src += 32;
    dst += 128;
  }
}

// Repacked Q4_0 (repack.ts): quants[nb][16] (plain build: i16 lane k = weights k, 8+k, 16+k, 24+k, nibbles
// q ^ 8; relaxed build: GGUF's order), then nb fp16 scales
function rowQ4_0R(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  const scales = src + (<usize>nb << 4);
  for (let b = 0; b < nb; b++) {
    const d = f32x4.splat(h2f(<i32>load<u16>(scales + (<usize>b << 1))));
    const v = v128.load(src);
    if (ASC_FEATURE_RELAXED_SIMD) {   // the relaxed build keeps GGUF's nibble order: byte j = weights j, 16 + j
      const lo = i8x16.sub(v128.and(v, i8x16.splat(15)), i8x16.splat(8)), hi = i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8));
      store8(dst, i16x8.extend_low_i8x16_s(lo), i16x8.extend_high_i8x16_s(lo), i16x8.extend_low_i8x16_s(hi), i16x8.extend_high_i8x16_s(hi), d);
    } else {
      store8(dst, i16x8.shr_s(i16x8.shl(v, 12), 12), i16x8.shr_s(i16x8.shl(v, 8), 12), i16x8.shr_s(i16x8.shl(v, 4), 12), i16x8.shr_s(v, 12), d);
    }
    src += 16;
    dst += 128;
  }
}

// 32 weights as 4 × 8 i16 (in order), times d, stored as f32 at dst
// @ts-ignore: decorator
@inline function store8(dst: usize, w0: v128, w1: v128, w2: v128, w3: v128, d: v128): void {
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0)), d), 0);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0)), d), 16);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1)), d), 32);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1)), d), 48);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w2)), d), 64);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w2)), d), 80);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w3)), d), 96);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w3)), d), 112);
}

/** out[t·rowLen ..] = dequantized row ids[t] of table (rows of rowLen values; Q8_0/Q4_0 repacked). */
export function get_rows(type: i32, table: usize, rowLen: i32, ids: usize, nTok: i32, out: usize): void {
  const rb = rowBytesOf(type, rowLen);
  const ob = <usize>rowLen << 2;
  for (let t = 0; t < nTok; t++) {
    const src = table + <usize>load<u32>(ids + (<usize>t << 2)) * rb;
    const dst = out + <usize>t * ob;
    if (type == GGML_F32) memory.copy(dst, src, ob);
    else if (type == GGML_F16) rowF16(src, dst, rowLen);
    else if (type == WASMLM_Q8_0R) rowQ8_0R(src, dst, rowLen);
    else if (type == WASMLM_Q4_0R) rowQ4_0R(src, dst, rowLen);
    else if (type == GGML_BF16) rowBF16(src, dst, rowLen);
    else if (type == GGML_Q4_1 || type == GGML_Q5_0 || type == GGML_Q5_1) rowLegacy(type, src, dst, rowLen);
    else if (type == GGML_Q2_K || type == GGML_Q3_K || type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q6_K) {
      rowK(type, src, dst, rowLen);
    } else unreachable();
  }
}
