// F32, F16 and BF16 weights: matmul kernels (1 token; 4 tokens, BF16 2), row conversion (get_rows), scalar twin.
// F32/F16: f32 math on act (f32 rows; fp16-rounded for F16). BF16: exact bf16 products summed in f64 (act
// bf16-rounded). F16/BF16: the 1-token and the multi-token kernels do the same per-token operations in the
// same order, so results are bit-identical whatever nTok is (batch == token by token). F32 too: both
// kernels keep two 4-wide accumulators per token.
import { GGML_F32, GGML_F16, GGML_BF16 } from "../../src/abi";
import { h2f, h2f4, f16x8AllNormal, h2f4NormalLo, h2f4NormalHi, bf2f } from "../ops/f16";
import { hsum4, hsum4x4 } from "./common";

// ---------------------------------------------------------------- F32

// Per token, the same operations in the same order as k4F32 (two 4-wide accumulators over 8 weights, a
// 4-wide step, the same horizontal sum, a separate scalar tail): a token's result does not depend on nTok.
function k1F32(w: usize, x: usize, n: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    a = f32x4.add(a, f32x4.mul(v128.load(w + off, 0), v128.load(x + off, 0)));
    b = f32x4.add(b, f32x4.mul(v128.load(w + off, 16), v128.load(x + off, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    a = f32x4.add(a, f32x4.mul(v128.load(w + off), v128.load(x + off)));
  }
  let s = hsum4(f32x4.add(a, b));
  if (i < n) {
    let t: f32 = 0;
    for (; i < n; i++) {
      const off = <usize>i << 2;
      t += load<f32>(w + off) * load<f32>(x + off);
    }
    s += t;
  }
  return s;
}

function k4F32(w: usize, x0: usize, x1: usize, x2: usize, x3: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    const w0 = v128.load(w + off, 0), w1 = v128.load(w + off, 16);
    a0 = f32x4.add(a0, f32x4.mul(w0, v128.load(x0 + off, 0)));
    b0 = f32x4.add(b0, f32x4.mul(w1, v128.load(x0 + off, 16)));
    a1 = f32x4.add(a1, f32x4.mul(w0, v128.load(x1 + off, 0)));
    b1 = f32x4.add(b1, f32x4.mul(w1, v128.load(x1 + off, 16)));
    a2 = f32x4.add(a2, f32x4.mul(w0, v128.load(x2 + off, 0)));
    b2 = f32x4.add(b2, f32x4.mul(w1, v128.load(x2 + off, 16)));
    a3 = f32x4.add(a3, f32x4.mul(w0, v128.load(x3 + off, 0)));
    b3 = f32x4.add(b3, f32x4.mul(w1, v128.load(x3 + off, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    const w0 = v128.load(w + off);
    a0 = f32x4.add(a0, f32x4.mul(w0, v128.load(x0 + off)));
    a1 = f32x4.add(a1, f32x4.mul(w0, v128.load(x1 + off)));
    a2 = f32x4.add(a2, f32x4.mul(w0, v128.load(x2 + off)));
    a3 = f32x4.add(a3, f32x4.mul(w0, v128.load(x3 + off)));
  }
  let r = hsum4x4(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
  if (i < n) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (; i < n; i++) {
      const off = <usize>i << 2;
      const wi = load<f32>(w + off);
      t0 += wi * load<f32>(x0 + off);
      t1 += wi * load<f32>(x1 + off);
      t2 += wi * load<f32>(x2 + off);
      t3 += wi * load<f32>(x3 + off);
    }
    r = f32x4.add(r, f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(t0), 1, t1), 2, t2), 3, t3));
  }
  return r;
}

// ---------------------------------------------------------------- F16 (act: f32, fp16-rounded)
// Weights convert 8 at a time: all-normal groups take the short integer path; groups holding a zero,
// subnormal, inf or NaN call the exact h2f4 out of line (kept out of the loop so its constants do not
// take the loop's registers).

// @ts-ignore: decorator
@noinline function h2f4SlowLo(h: v128): v128 { return h2f4(i32x4.extend_low_i16x8_u(h)); }
// @ts-ignore: decorator
@noinline function h2f4SlowHi(h: v128): v128 { return h2f4(i32x4.extend_high_i16x8_u(h)); }

function k1F16(w: usize, x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const px = x + (<usize>i << 2);
    let w0: v128, w1: v128;
    if (f16x8AllNormal(h)) {
      w0 = h2f4NormalLo(h);
      w1 = h2f4NormalHi(h);
    } else {
      w0 = h2f4SlowLo(h);
      w1 = h2f4SlowHi(h);
    }
    a0 = f32x4.add(a0, f32x4.mul(w0, v128.load(px, 0)));
    a1 = f32x4.add(a1, f32x4.mul(w1, v128.load(px, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    a0 = f32x4.add(a0, f32x4.mul(h2f4(v128.load16x4_u(w + (<usize>i << 1))), v128.load(x + (<usize>i << 2))));
  }
  let t: f32 = 0;
  for (; i < n; i++) t += h2f(<i32>load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2));
  return hsum4(f32x4.add(a0, a1)) + t;
}

// Per token, the same operations in the same order as k1F16: a token's result does not depend on nTok.
function k4F16(w: usize, x0: usize, x1: usize, x2: usize, x3: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    let w0: v128, w1: v128;
    if (f16x8AllNormal(h)) {
      w0 = h2f4NormalLo(h);
      w1 = h2f4NormalHi(h);
    } else {
      w0 = h2f4SlowLo(h);
      w1 = h2f4SlowHi(h);
    }
    const off = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(w0, v128.load(x0 + off, 0)));
    b0 = f32x4.add(b0, f32x4.mul(w1, v128.load(x0 + off, 16)));
    a1 = f32x4.add(a1, f32x4.mul(w0, v128.load(x1 + off, 0)));
    b1 = f32x4.add(b1, f32x4.mul(w1, v128.load(x1 + off, 16)));
    a2 = f32x4.add(a2, f32x4.mul(w0, v128.load(x2 + off, 0)));
    b2 = f32x4.add(b2, f32x4.mul(w1, v128.load(x2 + off, 16)));
    a3 = f32x4.add(a3, f32x4.mul(w0, v128.load(x3 + off, 0)));
    b3 = f32x4.add(b3, f32x4.mul(w1, v128.load(x3 + off, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const w0 = h2f4(v128.load16x4_u(w + (<usize>i << 1)));
    const off = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(w0, v128.load(x0 + off)));
    a1 = f32x4.add(a1, f32x4.mul(w0, v128.load(x1 + off)));
    a2 = f32x4.add(a2, f32x4.mul(w0, v128.load(x2 + off)));
    a3 = f32x4.add(a3, f32x4.mul(w0, v128.load(x3 + off)));
  }
  let r = hsum4x4(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
  if (i < n) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (; i < n; i++) {
      const wi = h2f(<i32>load<u16>(w + (<usize>i << 1)));
      const off = <usize>i << 2;
      t0 += wi * load<f32>(x0 + off);
      t1 += wi * load<f32>(x1 + off);
      t2 += wi * load<f32>(x2 + off);
      t3 += wi * load<f32>(x3 + off);
    }
    r = f32x4.add(r, f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(t0), 1, t1), 2, t2), 3, t3));
  }
  return r;
}

// ---------------------------------------------------------------- BF16 (act: f32, bf16-rounded)
// A product of two bf16 values is exact in f32 (8-bit significands); the products are summed in f64, so
// the result is the exact dot product rounded (about) once: f32 summation noise would be amplified by the
// next layer's bf16 rounding of its input (measured: 1.3e-3 in the fixture's logits, 1e-6 with exact sums).
// Per token 4 f64x2 accumulators (lanes 0,1 / 2,3 / 4,5 / 6,7 of each 8 weights), the same steps in the
// 1- and 2-token kernels (tiles of 2 tokens keep the 8 accumulators in registers).

// @ts-ignore: decorator
@inline function bf4lo(h: v128): v128 { return i32x4.shl(i32x4.extend_low_i16x8_u(h), 16); }
// @ts-ignore: decorator
@inline function bf4hi(h: v128): v128 { return i32x4.shl(i32x4.extend_high_i16x8_u(h), 16); }
// @ts-ignore: decorator
@inline function pLo(p: v128): v128 { return f64x2.promote_low_f32x4(p); }
// @ts-ignore: decorator
@inline function pHi(p: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(p, p, 2, 3, 2, 3)); }
// @ts-ignore: decorator
@inline function bfResult(a: v128, b: v128, c: v128, d: v128, t: f64): f32 {
  const s = f64x2.add(f64x2.add(a, b), f64x2.add(c, d));
  return <f32>((f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1)) + t);
}

// @ts-ignore: decorator
@inline function bfTail(w: usize, x: usize, i: i32, n: i32): f64 {
  let t: f64 = 0;
  for (; i < n; i++) t += <f64>(bf2f(<i32>load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2)));
  return t;
}

function k1BF16(w: usize, x: usize, n: i32): f32 {
  let a = f64x2.splat(0), b = f64x2.splat(0), c = f64x2.splat(0), d = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const px = x + (<usize>i << 2);
    const p0 = f32x4.mul(bf4lo(h), v128.load(px, 0)), p1 = f32x4.mul(bf4hi(h), v128.load(px, 16));
    a = f64x2.add(a, pLo(p0));
    b = f64x2.add(b, pHi(p0));
    c = f64x2.add(c, pLo(p1));
    d = f64x2.add(d, pHi(p1));
  }
  if (i + 4 <= n) {
    const p0 = f32x4.mul(i32x4.shl(v128.load16x4_u(w + (<usize>i << 1)), 16), v128.load(x + (<usize>i << 2)));
    a = f64x2.add(a, pLo(p0));
    b = f64x2.add(b, pHi(p0));
    i += 4;
  }
  return bfResult(a, b, c, d, bfTail(w, x, i, n));
}

// [y(x0), y(x1), -, -]
function k2BF16(w: usize, x0: usize, x1: usize, n: i32): v128 {
  let a0 = f64x2.splat(0), b0 = f64x2.splat(0), c0 = f64x2.splat(0), d0 = f64x2.splat(0);
  let a1 = f64x2.splat(0), b1 = f64x2.splat(0), c1 = f64x2.splat(0), d1 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const w0 = bf4lo(h), w1 = bf4hi(h);
    const off = <usize>i << 2;
    let p0 = f32x4.mul(w0, v128.load(x0 + off, 0)), p1 = f32x4.mul(w1, v128.load(x0 + off, 16));
    a0 = f64x2.add(a0, pLo(p0));
    b0 = f64x2.add(b0, pHi(p0));
    c0 = f64x2.add(c0, pLo(p1));
    d0 = f64x2.add(d0, pHi(p1));
    p0 = f32x4.mul(w0, v128.load(x1 + off, 0));
    p1 = f32x4.mul(w1, v128.load(x1 + off, 16));
    a1 = f64x2.add(a1, pLo(p0));
    b1 = f64x2.add(b1, pHi(p0));
    c1 = f64x2.add(c1, pLo(p1));
    d1 = f64x2.add(d1, pHi(p1));
  }
  if (i + 4 <= n) {
    const w0 = i32x4.shl(v128.load16x4_u(w + (<usize>i << 1)), 16);
    const off = <usize>i << 2;
    let p0 = f32x4.mul(w0, v128.load(x0 + off));
    a0 = f64x2.add(a0, pLo(p0));
    b0 = f64x2.add(b0, pHi(p0));
    p0 = f32x4.mul(w0, v128.load(x1 + off));
    a1 = f64x2.add(a1, pLo(p0));
    b1 = f64x2.add(b1, pHi(p0));
    i += 4;
  }
  return f32x4.replace_lane(f32x4.splat(bfResult(a0, b0, c0, d0, bfTail(w, x0, i, n))), 1,
                            bfResult(a1, b1, c1, d1, bfTail(w, x1, i, n)));
}

// ---------------------------------------------------------------- entries for weights/index.ts

// one token, rows w0 and w1 (w1 = w0: one row) -> y0, y1
// @ts-ignore: decorator
@inline export function floatDec(type: i32, w0: usize, w1: usize, x: usize, nIn: i32, y0: usize, y1: usize): void {
  if (type == GGML_F32) {
    store<f32>(y0, k1F32(w0, x, nIn));
    if (w1 != w0) store<f32>(y1, k1F32(w1, x, nIn));
  } else if (type == GGML_F16) {
    store<f32>(y0, k1F16(w0, x, nIn));
    if (w1 != w0) store<f32>(y1, k1F16(w1, x, nIn));
  } else {
    store<f32>(y0, k1BF16(w0, x, nIn));
    if (w1 != w0) store<f32>(y1, k1BF16(w1, x, nIn));
  }
}

// one row, the tokens x0..x3 (BF16: x0, x1) -> [y(x0), .., y(x3)]
// @ts-ignore: decorator
@inline export function floatTile(type: i32, w: usize, x0: usize, x1: usize, x2: usize, x3: usize, nIn: i32): v128 {
  if (type == GGML_F32) return k4F32(w, x0, x1, x2, x3, nIn);
  if (type == GGML_F16) return k4F16(w, x0, x1, x2, x3, nIn);
  return k2BF16(w, x0, x1, nIn);
}

/** matmul_ref for F32, F16, BF16 weights (act: f32 rows). */
export function floatRef(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const rb: usize = type == GGML_F32 ? <usize>nIn << 2 : <usize>nIn << 1;
  for (let t = 0; t < nTok; t++) {
    for (let o = r0; o < r1; o++) {
      const wr = w + <usize>o * rb;
      const xr = act + (<usize>t * <usize>nIn << 2);
      let s: f32 = 0;
      let sd: f64 = 0;
      for (let i = 0; i < nIn; i++) {
        const wi: f32 = type == GGML_F32 ? load<f32>(wr + (<usize>i << 2))
          : type == GGML_F16 ? h2f(<i32>load<u16>(wr + (<usize>i << 1))) : bf2f(<i32>load<u16>(wr + (<usize>i << 1)));
        s += wi * load<f32>(xr + (<usize>i << 2));
        sd += <f64>(wi * load<f32>(xr + (<usize>i << 2)));   // BF16: an exact product
      }
      if (type == GGML_BF16) s = <f32>sd;
      store<f32>(y + (<usize>t * <usize>nOut + <usize>o << 2), s);
    }
  }
}

// ---------------------------------------------------------------- rows (get_rows)

/** Converts row src (n values of `type`) to f32 at dst. */
export function floatRow(type: i32, src: usize, dst: usize, n: i32): void {
  if (type == GGML_F32) memory.copy(dst, src, <usize>n << 2);
  else if (type == GGML_F16) rowF16(src, dst, n);
  else rowBF16(src, dst, n);
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

