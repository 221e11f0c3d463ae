// KV cache element types: f32, f16 and q8_0 rows, one head after another (src/abi.ts: OP_KV_CONVERT). The
// store converts a batch's f32 key/value rows into the cache's type; attention dequantizes a tile of a head's
// rows at a time (dequantHeads) and runs its f32 kernels on it; the context shift dequantizes, rotates and
// requantizes (the same op both ways). Every SIMD kernel has its scalar twin (<name>_ref); both give the
// same bits.
import * as abi from "../../src/abi";
import { GGML_F16, GGML_F32, GGML_Q8_0 } from "../../src/abi";
import { f16x8AllNormal, f16x8NormalLanes, f2h, h2f, h2f4, h2f4NormalHi, h2f4NormalLo, roundF16x4 } from "./f16";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, ptr, region } from "./entry";
import { absMax8, q8x4, store8 } from "../weights/common";

const TWO_P24: f32 = 16777216.0;

/** Bytes of one head of headDim values in a cache of `type` (q8_0: 34 per 32 values, a short last block). */
// @ts-ignore: decorator
@inline export function kvHeadBytes(type: i32, headDim: i32): usize {
  if (type == GGML_F16) return <usize>headDim << 1;
  if (type == GGML_Q8_0) {
    const rem = headDim & 31;
    return <usize>(headDim >> 5) * 34 + (rem != 0 ? <usize>rem + 2 : 0);
  }
  return <usize>headDim << 2;
}

/** Bytes of one cache row: nHead heads. */
export function kv_row_bytes(type: i32, nHead: i32, headDim: i32): usize {
  return <usize>nHead * kvHeadBytes(type, headDim);
}

// ---- f32 -> f16 (the bits of f2h, four lanes at a time)

/** f2h lane by lane: four f32 -> four half bits in the low 16 bits of each i32 lane. */
// @ts-ignore: decorator
@inline function f2h4(x: v128): v128 {
  const r = roundF16x4(x);                                   // a half's value (or inf / NaN) as f32
  const s = v128.and(i32x4.shr_u(r, 16), i32x4.splat(0x8000));
  const a = v128.and(r, i32x4.splat(0x7fffffff));
  const normal = i32x4.shr_u(i32x4.sub(a, i32x4.splat(0x38000000)), 13);
  const special = v128.or(v128.and(i32x4.shr_u(a, 13), i32x4.splat(0x3ff)), i32x4.splat(0x7c00));
  const sub = i32x4.trunc_sat_f32x4_s(f32x4.mul(a, f32x4.splat(TWO_P24)));
  let o = v128.bitselect(special, normal, i32x4.ge_s(a, i32x4.splat(0x7f800000)));
  o = v128.bitselect(sub, o, i32x4.lt_s(a, i32x4.splat(0x38800000)));
  return v128.or(o, s);
}

// ---- one head: f32 -> type (quantize) and type -> f32 (dequantize)

// one q8_0 block of k ≤ 32 values: the reference's arithmetic (scalar; the SIMD path for full blocks below)
// @ts-ignore: decorator
@inline function quantBlockScalar(x: usize, k: i32, dst: usize): void {
  let amax: f32 = 0;
  for (let j = 0; j < k; j++) amax = max<f32>(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
  const id: f32 = amax != 0 ? <f32>127.0 / amax : <f32>0.0;
  store<u16>(dst, <u16>f2h(amax / <f32>127.0));
  for (let j = 0; j < k; j++) store<i8>(dst + 2 + <usize>j, <i8><i32>nearest<f32>(load<f32>(x + (<usize>j << 2)) * id));
}

/** One head of headDim f32 values at x into `type` at dst (kvHeadBytes bytes). */
export function quantizeHead(type: i32, x: usize, headDim: i32, dst: usize): void {
  if (type == GGML_F32) {
    memory.copy(dst, x, <usize>headDim << 2);
  } else if (type == GGML_F16) {
    let i = 0;
    for (; i + 8 <= headDim; i += 8) {
      const p = x + (<usize>i << 2);
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(f2h4(v128.load(p)), f2h4(v128.load(p, 16))));
    }
    for (; i < headDim; i++) store<u16>(dst + (<usize>i << 1), <u16>f2h(load<f32>(x + (<usize>i << 2))));
  } else {
    const nb = headDim >> 5;
    for (let b = 0; b < nb; b++) {
      const xp = x + (<usize>b << 7), qp = dst + <usize>b * 34;
      const v0 = v128.load(xp, 0), v1 = v128.load(xp, 16), v2 = v128.load(xp, 32), v3 = v128.load(xp, 48);
      const v4 = v128.load(xp, 64), v5 = v128.load(xp, 80), v6 = v128.load(xp, 96), v7 = v128.load(xp, 112);
      const amax = absMax8(v0, v1, v2, v3, v4, v5, v6, v7);
      const iv = f32x4.splat(amax != 0 ? <f32>127.0 / amax : <f32>0.0);
      store<u16>(qp, <u16>f2h(amax / <f32>127.0));
      const q0 = q8x4(v0, iv);
      const q1 = q8x4(v1, iv);
      const q2 = q8x4(v2, iv);
      const q3 = q8x4(v3, iv);
      const q4 = q8x4(v4, iv);
      const q5 = q8x4(v5, iv);
      const q6 = q8x4(v6, iv);
      const q7 = q8x4(v7, iv);
      v128.store(qp + 2, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
      v128.store(qp + 18, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)));
    }
    const rem = headDim & 31;
    if (rem != 0) quantBlockScalar(x + (<usize>nb << 7), rem, dst + <usize>nb * 34);
  }
}

export function quantizeHead_ref(type: i32, x: usize, headDim: i32, dst: usize): void {
  for (let i = 0; i < headDim; i++) {
    if (type == GGML_F32) store<f32>(dst + (<usize>i << 2), load<f32>(x + (<usize>i << 2)));
    else if (type == GGML_F16) store<u16>(dst + (<usize>i << 1), <u16>f2h(load<f32>(x + (<usize>i << 2))));
  }
  if (type != GGML_Q8_0) return;
  for (let b = 0; b * 32 < headDim; b++) quantBlockScalar(x + (<usize>b << 7), min<i32>(32, headDim - b * 32), dst + <usize>b * 34);
}

/** Value i of a head at h in a cache of `type` (the scalar twins' read). */
// @ts-ignore: decorator
@inline export function kvAt(type: i32, h: usize, i: i32): f32 {
  if (type == GGML_F16) return h2f(load<u16>(h + (<usize>i << 1)));
  if (type == GGML_Q8_0) {
    const b = h + <usize>(i >> 5) * 34;
    return <f32>load<i8>(b + 2 + <usize>(i & 31)) * h2f(load<u16>(b));
  }
  return load<f32>(h + (<usize>i << 2));
}

/** One head of `type` at src into headDim f32 values at dst (the same values as kvAt). */
export function dequantHead(type: i32, src: usize, headDim: i32, dst: usize): void {
  if (type == GGML_F32) {
    memory.copy(dst, src, <usize>headDim << 2);
  } else if (type == GGML_F16) {
    let i = 0;
    for (; i + 8 <= headDim; i += 8) {
      const h = v128.load(src + (<usize>i << 1));
      const p = dst + (<usize>i << 2);
      if (f16x8AllNormal(h)) {    // the common case: three operations per four values
        v128.store(p, h2f4NormalLo(h));
        v128.store(p, h2f4NormalHi(h), 16);
      } else {
        v128.store(p, h2f4(i32x4.extend_low_i16x8_u(h)));
        v128.store(p, h2f4(i32x4.extend_high_i16x8_u(h)), 16);
      }
    }
    for (; i < headDim; i++) store<f32>(dst + (<usize>i << 2), h2f(load<u16>(src + (<usize>i << 1))));
  } else {
    const nb = headDim >> 5;
    for (let b = 0; b < nb; b++) {
      const qp = src + <usize>b * 34, p = dst + (<usize>b << 7);
      const d = f32x4.splat(h2f(load<u16>(qp)));
      const lo = v128.load(qp, 2), hi = v128.load(qp, 18);
      const l0 = i16x8.extend_low_i8x16_s(lo), l1 = i16x8.extend_high_i8x16_s(lo);
      const h0 = i16x8.extend_low_i8x16_s(hi), h1 = i16x8.extend_high_i8x16_s(hi);
      store8(p, l0, l1, h0, h1, d);
    }
    for (let i = nb << 5; i < headDim; i++) store<f32>(dst + (<usize>i << 2), kvAt(type, src, i));
  }
}

export function dequantHead_ref(type: i32, src: usize, headDim: i32, dst: usize): void {
  for (let i = 0; i < headDim; i++) store<f32>(dst + (<usize>i << 2), kvAt(type, src, i));
}

/**
 * One head's rows (a cache of `type`, rows rowBytes apart, the head at `head` bytes into each row) for n
 * positions from cache row r0 on (wrapping at ring when ring > 0; r0 < 2·ring) into n rows of headDim f32 at dst.
 */
export function dequantHeads(type: i32, head: usize, rowBytes: usize, r0: i32, n: i32, ring: i32, headDim: i32, dst: usize): void {
  const headBytes = <usize>headDim << 2;
  // the rows' lines requested all at once first (the conversion below then finds them in cache)
  store<u32>(dst, touchRows(head, rowBytes, r0, n, ring, kvHeadBytes(type, headDim)));
  if (type == GGML_F16) {
    // the rows before the ring wraps (r0 may be up to 2·ring − 1), then those from row 0
    const rs = ring > 0 && r0 >= ring ? r0 - ring : r0;
    const n1 = ring > 0 ? min<i32>(n, ring - rs) : n;
    f16Rows(head + <usize>rs * rowBytes, rowBytes, n1, headDim, dst);
    if (n1 < n) f16Rows(head, rowBytes, n - n1, headDim, dst + <usize>n1 * headBytes);
    return;
  }
  let r = r0;
  for (let i = 0; i < n; i++) {
    if (ring > 0 && r >= ring) r -= ring;
    dequantHead(type, head + <usize>r * rowBytes, headDim, dst + <usize>i * headBytes);
    r++;
  }
}

/**
 * One load of every 64-byte line of n rows of `bytes` bytes (rows rowBytes apart from `head`, from cache row r0
 * on, wrapping at ring when ring > 0), few instructions per line, so that many lines are in flight at once before
 * a kernel reads them (from a cache in L3 or memory, without it the lines come a few at a time): returns the bytes
 * OR-ed (the caller stores them where it writes next, so that the loads stay).
 */
export function touchRows(head: usize, rowBytes: usize, r0: i32, n: i32, ring: i32, bytes: usize): u32 {
  let x: u32 = 0;
  let r = r0;
  for (let i = 0; i < n; i++) {
    if (ring > 0 && r >= ring) r -= ring;
    const s = head + <usize>r * rowBytes;
    for (let b: usize = 0; b < bytes; b += 64) x |= load<u8>(s + b);
    r++;
  }
  return x;
}

/**
 * n rows of headDim halves (rows rowBytes apart from src) into n rows of f32 at dst: the values of dequantHead.
 * A row's halves are converted as normal ones (three operations per four values) while a test that all were
 * normal is gathered (no branch per 8 values); a row with a zero, subnormal, inf or NaN half is converted again
 * by dequantHead.
 */
function f16Rows(src: usize, rowBytes: usize, n: i32, headDim: i32, dst: usize): void {
  const headBytes = <usize>headDim << 2;
  const full = headDim & ~7;
  for (let i = 0; i < n; i++) {
    const s = src + <usize>i * rowBytes, d = dst + <usize>i * headBytes;
    let normal = i16x8.splat(-1);
    for (let c = 0; c < full; c += 8) {
      const h = v128.load(s + (<usize>c << 1));
      const o = d + (<usize>c << 2);
      normal = i16x8.min_u(normal, f16x8NormalLanes(h));
      v128.store(o, h2f4NormalLo(h));
      v128.store(o, h2f4NormalHi(h), 16);
    }
    if (!i16x8.all_true(normal)) dequantHead(GGML_F16, s, full, d);
    for (let c = full; c < headDim; c++) store<f32>(d + (<usize>c << 2), h2f(load<u16>(s + (<usize>c << 1))));
  }
}

// ---- the op: rows between f32 and a cache type

/** Rows [r0, r1) of nHead heads from src (srcType) to dst (dstType), one of them f32. */
function convertRows(src: usize, srcType: i32, dst: usize, dstType: i32, headDim: i32, nHead: i32, r0: i32, r1: i32, ref: bool): void {
  const sh = kvHeadBytes(srcType, headDim), dh = kvHeadBytes(dstType, headDim);
  const toF32 = dstType == GGML_F32;
  if (!toF32 && srcType != GGML_F32) unreachable();
  for (let r = r0; r < r1; r++) {
    for (let h = 0; h < nHead; h++) {
      const u = <usize>r * <usize>nHead + <usize>h;
      const s = src + u * sh, d = dst + u * dh;
      if (toF32) {
        if (ref) dequantHead_ref(srcType, s, headDim, d); else dequantHead(srcType, s, headDim, d);
      } else if (ref) quantizeHead_ref(dstType, s, headDim, d);
      else quantizeHead(dstType, s, headDim, d);
    }
  }
}

/** OP_KV_CONVERT (the SIMD kernels). */
export function kv_convert(src: usize, srcType: i32, dst: usize, dstType: i32, headDim: i32, nHead: i32, nRows: i32): void {
  convertRows(src, srcType, dst, dstType, headDim, nHead, 0, nRows, false);
}

/** OP_KV_CONVERT with the scalar twins. */
export function kv_convert_ref(src: usize, srcType: i32, dst: usize, dstType: i32, headDim: i32, nHead: i32, nRows: i32): void {
  convertRows(src, srcType, dst, dstType, headDim, nHead, 0, nRows, true);
}

// ---- entry for the scheduler (see entry.ts): units are rows

export function kv_convert_info(q: i32, op: usize): i64 {
  const nRows = arg(op, abi.KV_CONVERT_N_ROWS), nHead = arg(op, abi.KV_CONVERT_N_HEAD), headDim = arg(op, abi.KV_CONVERT_HEAD_DIM);
  const rows = <usize>max<i32>(nRows, 0);
  if (q == UNITS) return nRows;
  if (q == WORK) return <i64>nRows * <i64>nHead * <i64>headDim;
  if (q == WRITES) return region(ptr(op, abi.KV_CONVERT_DST), rows * kv_row_bytes(arg(op, abi.KV_CONVERT_DST_TYPE), nHead, headDim));
  if (q == READS) return region(ptr(op, abi.KV_CONVERT_SRC), rows * kv_row_bytes(arg(op, abi.KV_CONVERT_SRC_TYPE), nHead, headDim));
  return q == ALIGN ? 1 : 0;
}

export function kv_convert_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  convertRows(ptr(op, abi.KV_CONVERT_SRC), arg(op, abi.KV_CONVERT_SRC_TYPE), ptr(op, abi.KV_CONVERT_DST),
              arg(op, abi.KV_CONVERT_DST_TYPE), arg(op, abi.KV_CONVERT_HEAD_DIM), arg(op, abi.KV_CONVERT_N_HEAD), lo, hi, false);
}
