// OP_MATMUL: y[t·nOut + o] = Σ_i W[o, i]·x[t, i] for o in [r0, r1), t < nTok.
// W is a GGUF tensor (ne = [nIn, nOut]): row o is contiguous in raw block layout.
// F32/F16: f32 math on act (f32 rows; fp16-rounded for F16). BF16: exact bf16 products summed in f64 (act
// bf16-rounded). Q8_0/Q4_0: integer block dots against the Q8_0-quantized act (see quant.ts),
// Σ_b d_w·d_a·Σ_j q_w·q_a accumulated in f32. Q4_1/Q5_0/Q5_1: legacy.ts; Q2_K..Q6_K: kquants.ts.
//
// Tiling: rows are processed in blocks of ~64 KiB of weights; within a block, tokens go in tiles of 4
// (1 weight row × 4 tokens: every weight vector load/convert is shared by 4 tokens; a tile of 2 or 3
// tokens repeats a token pointer and drops the extra lanes; BF16: tiles of 2) and a lone token uses a
// 1×1 kernel. F16/BF16/quantized: the 1×1 and 1×4 (1×2) kernels do the same per-token operations in the
// same order, so results are bit-identical whatever nTok is (batch == token by token). F32 too: both
// kernels keep two 4-wide accumulators per token.
import {
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
  GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, WASMLM_Q8_0R, WASMLM_Q4_0R,
} from "../../src/abi";
import { h2f, h2f4, f16x8AllNormal, h2f4NormalLo, h2f4NormalHi, bf2f } from "./f16";
import { actQ8Row, actQ8Scales, actQaRow, actQ81D, actQ81S, loadQa } from "./quant";
import { rowBytesOf } from "./rows";
import { mmLegacy, mmLegacyRef } from "./legacy";
import { mmK, mmKRef, KC, KC_M4, KC_H2F, KC_P112 } from "./kquants";
import { PREFETCH_ROWS, touch } from "./prefetch";

const BLOCK_BYTES: usize = 65536;

// [Σa0, Σa1, Σa2, Σa3]
// @ts-ignore: decorator
@inline function hsum4x4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline function hsum4(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

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

function mmBF16(w: usize, x: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const rb: usize = <usize>nIn << 1;
  const xb = <usize>nIn << 2;
  const yb = <usize>nOut << 2;
  const rowsPerBlock = max<i32>(1, <i32>(BLOCK_BYTES / max<usize>(rb, 1)));
  for (let o0 = r0; o0 < r1; o0 += rowsPerBlock) {
    const o1 = min<i32>(o0 + rowsPerBlock, r1);
    for (let t = 0; t < nTok; t += 2) {
      const x0 = x + <usize>t * xb;
      const yt = y + <usize>t * yb;
      if (t + 1 == nTok) {
        for (let o = o0; o < o1; o++) store<f32>(yt + (<usize>o << 2), k1BF16(w + <usize>o * rb, x0, nIn));
      } else {
        for (let o = o0; o < o1; o++) {
          const r = k2BF16(w + <usize>o * rb, x0, x0 + xb, nIn);
          store<f32>(yt + (<usize>o << 2), f32x4.extract_lane(r, 0));
          store<f32>(yt + yb + (<usize>o << 2), f32x4.extract_lane(r, 1));
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Q8_0 / Q4_0, repacked (repack.ts)
// act: the Q8_0 format (quant.ts): i16 quants + f32 scale per block; for Q4_0 in the relaxed-SIMD build the
// Q8_0C format: i8 quants, f32 scales and c = 8·Σq per block. Rows in the repacked layout: a quant plane,
// then nb fp16 scales. Per token and row, every kernel of a build does the same steps in the same order:
//   for each group of 4 blocks: s = (4 weight scales) · (4 act scales), one f32x4 multiply;
//     for each block j of the group: acc += f32(the block's i32x4 partial sums) · s[j]
//   blocks past the last whole group: s[j] = dw · da as a scalar f32 multiply (the same value);
//   y = the horizontal sum of acc.
// So a token's result does not depend on nTok, nor on whether its row went through a 1- or 2-row kernel.
// Q is the weight type's marker: u16 for Q8_0, u8 for Q4_0.

// 4 fp16 at p -> f32x4, exact for normal, subnormal and zero halves: the sign, exponent and mantissa
// moved to f32 positions make the half's value times 2^-112 (an f32 subnormal for a subnormal half).
// (hm, p112: the constants KC_H2F and KC_P112, loaded once per kernel: V8 rebuilds a v128.const at every
// use in a loop)
// @ts-ignore: decorator
@inline function h2f4At(p: usize, hm: v128, p112: v128): v128 {
  const h = v128.load16x4_s(p);
  return f32x4.mul(v128.and(i32x4.shl(h, 13), hm), p112);
}

// lane 0 of v in every lane; v's lanes moved down by one (the next block's scale to lane 0)
// @ts-ignore: decorator
@inline function lane0(v: v128): v128 { return v128.shuffle<f32>(v, v, 0, 0, 0, 0); }
// @ts-ignore: decorator
@inline function rotate(v: v128): v128 { return v128.shuffle<f32>(v, v, 1, 2, 3, 0); }

/** Q4_0 in the relaxed build: unsigned nibbles against i8 act quants with i16x8.relaxed_dot_i8x16_i7x16_s. */
// @ts-ignore: decorator
@inline function relaxedQ4<Q>(): bool { return ASC_FEATURE_RELAXED_SIMD && sizeof<Q>() == 1; }
/** quant bytes per block of weights, and of act */
// @ts-ignore: decorator
@inline function wStep<Q>(): usize { return sizeof<Q>() == 1 ? 16 : 32; }
// @ts-ignore: decorator
@inline function aStep<Q>(): usize { return relaxedQ4<Q>() ? 32 : 64; }

// A block's weights unpacked for the dot, from its quant bytes: v = the first 16, u = the next 16.
//   Q8_0: 4 × 8 i16 (weights 0-7, 8-15, 16-23, 24-31) from 32 i8.
//   Q4_0 (plain build): the same from 16 bytes where lane k (as i16) holds the nibbles of weights k, 8+k,
//     16+k, 24+k at bits 0, 4, 8, 12, each q ^ 8, i.e. q − 8 as a signed 4-bit number (u is not read).
//   Q4_0 (relaxed build): weights 0-15 and 16-31 as unsigned nibbles q in i8 lanes (GGUF order; u0, u1).
// @ts-ignore: decorator
@inline function wq0<Q>(v: v128, u: v128, m4: v128): v128 {
  if (relaxedQ4<Q>()) return v128.and(v, m4);
  return sizeof<Q>() == 1 ? i16x8.shr_s(i16x8.shl(v, 12), 12) : i16x8.extend_low_i8x16_s(v);
}
// @ts-ignore: decorator
@inline function wq1<Q>(v: v128, u: v128, m4: v128): v128 {
  if (relaxedQ4<Q>()) return v128.and(i16x8.shr_u(v, 4), m4);
  return sizeof<Q>() == 1 ? i16x8.shr_s(i16x8.shl(v, 8), 12) : i16x8.extend_high_i8x16_s(v);
}
// @ts-ignore: decorator
@inline function wq2<Q>(v: v128, u: v128): v128 {
  if (relaxedQ4<Q>()) return v;
  return sizeof<Q>() == 1 ? i16x8.shr_s(i16x8.shl(v, 4), 12) : i16x8.extend_low_i8x16_s(u);
}
// @ts-ignore: decorator
@inline function wq3<Q>(v: v128, u: v128): v128 {
  if (relaxedQ4<Q>()) return v;
  return sizeof<Q>() == 1 ? i16x8.shr_s(v, 12) : i16x8.extend_high_i8x16_s(u);
}
// @ts-ignore: decorator
@inline function hiHalf<Q>(w: usize, v: v128): v128 { return sizeof<Q>() == 1 ? v : v128.load(w, 16); }

// i32x4 partial sums of one block: unpacked weights w0..w3 against the act block at a (c: the block's
// 8·Σq_a, read by the relaxed Q4_0 dot only)
// @ts-ignore: decorator
@inline function dotU<Q>(w0: v128, w1: v128, w2: v128, w3: v128, a: usize, c: usize): v128 {
  if (relaxedQ4<Q>()) {
    // pairs of nibble · act products in i16 (|Σ| ≤ 4·15·127), then pairs of those in i32; minus 8·Σq_a
    const p = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 0), w0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 16), w1));
    return i32x4.sub(i32x4.extadd_pairwise_i16x8_s(p), v128.load32_zero(c));
  }
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a, 0)), i32x4.dot_i16x8_s(w1, v128.load(a, 16))),
                   i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48))));
}

// @ts-ignore: decorator
@inline function blockDot<Q>(w: usize, a: usize, c: usize, m4: v128): v128 {
  const v = v128.load(w), u = hiHalf<Q>(w, v);
  return dotU<Q>(wq0<Q>(v, u, m4), wq1<Q>(v, u, m4), wq2<Q>(v, u), wq3<Q>(v, u), a, c);
}

// acc + f32(sums) · s
// @ts-ignore: decorator
@inline function scaleAcc(acc: v128, sums: v128, s: v128): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sums), s));
}

// the scale of a block past the last whole group of 4, as a splat
// @ts-ignore: decorator
@inline function tailScale(dw: usize, da: usize): v128 {
  return f32x4.splat(h2f(<i32>load<u16>(dw)) * load<f32>(da));
}

// Two rows (w0, w1: their quant planes; s0, s1: their scale planes) × one token (act quants aq, scales ad,
// Q8_0C sums ac): [y0, y1, -, -]
function k2Q<Q>(w0: usize, s0: usize, w1: usize, s1: usize, aq: usize, ad: usize, ac: usize, nb: i32): v128 {
  const hm = v128.load(KC, KC_H2F), p112 = v128.load(KC, KC_P112), m4 = v128.load(KC, KC_M4);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const da = v128.load(ad);
    let sc0 = f32x4.mul(h2f4At(s0, hm, p112), da), sc1 = f32x4.mul(h2f4At(s1, hm, p112), da);
    for (let j = 0; j < 4; j++) {
      acc0 = scaleAcc(acc0, blockDot<Q>(w0, aq, ac, m4), lane0(sc0));
      acc1 = scaleAcc(acc1, blockDot<Q>(w1, aq, ac, m4), lane0(sc1));
      sc0 = rotate(sc0); sc1 = rotate(sc1);
      w0 += wStep<Q>(); w1 += wStep<Q>(); aq += aStep<Q>(); ac += 4;
    }
    s0 += 8; s1 += 8; ad += 16;
  }
  for (; b < nb; b++) {
    acc0 = scaleAcc(acc0, blockDot<Q>(w0, aq, ac, m4), tailScale(s0, ad));
    acc1 = scaleAcc(acc1, blockDot<Q>(w1, aq, ac, m4), tailScale(s1, ad));
    w0 += wStep<Q>(); w1 += wStep<Q>(); aq += aStep<Q>(); ac += 4; s0 += 2; s1 += 2; ad += 4;
  }
  return hsum4x4(acc0, acc1, acc0, acc1);
}

// One row × one token (the same steps as k2Q for each of its rows)
function k1Q<Q>(w: usize, s: usize, aq: usize, ad: usize, ac: usize, nb: i32): f32 {
  const hm = v128.load(KC, KC_H2F), p112 = v128.load(KC, KC_P112), m4 = v128.load(KC, KC_M4);
  let acc = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    let sc = f32x4.mul(h2f4At(s, hm, p112), v128.load(ad));
    for (let j = 0; j < 4; j++) {
      acc = scaleAcc(acc, blockDot<Q>(w, aq, ac, m4), lane0(sc));
      sc = rotate(sc);
      w += wStep<Q>(); aq += aStep<Q>(); ac += 4;
    }
    s += 8; ad += 16;
  }
  for (; b < nb; b++) {
    acc = scaleAcc(acc, blockDot<Q>(w, aq, ac, m4), tailScale(s, ad));
    w += wStep<Q>(); aq += aStep<Q>(); ac += 4; s += 2; ad += 4;
  }
  return hsum4(acc);
}

// One row × 4 tokens (act rows q0..q3, scale rows d0..d3, Q8_0C sum rows c0..c3): [y(t0), .., y(t3)].
// Each block's weights are unpacked once for the 4 tokens.
function k4Q<Q>(w: usize, s: usize, q0: usize, q1: usize, q2: usize, q3: usize,
                d0: usize, d1: usize, d2: usize, d3: usize, c0: usize, c1: usize, c2: usize, c3: usize, nb: i32): v128 {
  const hm = v128.load(KC, KC_H2F), p112 = v128.load(KC, KC_P112), m4 = v128.load(KC, KC_M4);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let v: v128, u: v128, w0: v128, w1: v128, w2: v128, w3: v128;
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const dw = h2f4At(s, hm, p112);
    let sc0 = f32x4.mul(dw, v128.load(d0)), sc1 = f32x4.mul(dw, v128.load(d1));
    let sc2 = f32x4.mul(dw, v128.load(d2)), sc3 = f32x4.mul(dw, v128.load(d3));
    for (let j = 0; j < 4; j++) {
      v = v128.load(w); u = hiHalf<Q>(w, v);
      w0 = wq0<Q>(v, u, m4); w1 = wq1<Q>(v, u, m4); w2 = wq2<Q>(v, u); w3 = wq3<Q>(v, u);
      acc0 = scaleAcc(acc0, dotU<Q>(w0, w1, w2, w3, q0, c0), lane0(sc0));
      acc1 = scaleAcc(acc1, dotU<Q>(w0, w1, w2, w3, q1, c1), lane0(sc1));
      acc2 = scaleAcc(acc2, dotU<Q>(w0, w1, w2, w3, q2, c2), lane0(sc2));
      acc3 = scaleAcc(acc3, dotU<Q>(w0, w1, w2, w3, q3, c3), lane0(sc3));
      sc0 = rotate(sc0); sc1 = rotate(sc1); sc2 = rotate(sc2); sc3 = rotate(sc3);
      w += wStep<Q>();
      q0 += aStep<Q>(); q1 += aStep<Q>(); q2 += aStep<Q>(); q3 += aStep<Q>(); c0 += 4; c1 += 4; c2 += 4; c3 += 4;
    }
    s += 8; d0 += 16; d1 += 16; d2 += 16; d3 += 16;
  }
  for (; b < nb; b++) {
    v = v128.load(w); u = hiHalf<Q>(w, v);
    w0 = wq0<Q>(v, u, m4); w1 = wq1<Q>(v, u, m4); w2 = wq2<Q>(v, u); w3 = wq3<Q>(v, u);
    acc0 = scaleAcc(acc0, dotU<Q>(w0, w1, w2, w3, q0, c0), tailScale(s, d0));
    acc1 = scaleAcc(acc1, dotU<Q>(w0, w1, w2, w3, q1, c1), tailScale(s, d1));
    acc2 = scaleAcc(acc2, dotU<Q>(w0, w1, w2, w3, q2, c2), tailScale(s, d2));
    acc3 = scaleAcc(acc3, dotU<Q>(w0, w1, w2, w3, q3, c3), tailScale(s, d3));
    w += wStep<Q>(); s += 2;
    q0 += aStep<Q>(); q1 += aStep<Q>(); q2 += aStep<Q>(); q3 += aStep<Q>(); c0 += 4; c1 += 4; c2 += 4; c3 += 4;
    d0 += 4; d1 += 4; d2 += 4; d3 += 4;
  }
  return hsum4x4(acc0, acc1, acc2, acc3);
}

// ---------------------------------------------------------------- drivers

// stores lanes 0..nt-1 of r to y[(t+k)·nOut + o]
// @ts-ignore: decorator
@inline function store4(yp: usize, yb: usize, r: v128, nt: i32): void {
  store<f32>(yp, f32x4.extract_lane(r, 0));
  store<f32>(yp + yb, f32x4.extract_lane(r, 1));
  if (nt > 2) store<f32>(yp + 2 * yb, f32x4.extract_lane(r, 2));
  if (nt > 3) store<f32>(yp + 3 * yb, f32x4.extract_lane(r, 3));
}

// F32 and F16 (kind 0, 1): act rows are f32 [nTok][nIn]
function mmFloat(kind: i32, w: usize, x: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const rb: usize = kind == 1 ? <usize>nIn << 1 : <usize>nIn << 2;
  const xb = <usize>nIn << 2;
  const yb = <usize>nOut << 2;
  const rowsPerBlock = max<i32>(1, <i32>(BLOCK_BYTES / max<usize>(rb, 1)));
  for (let o0 = r0; o0 < r1; o0 += rowsPerBlock) {
    const o1 = min<i32>(o0 + rowsPerBlock, r1);
    for (let t = 0; t < nTok; t += 4) {
      const nt = min<i32>(4, nTok - t);
      const x0 = x + <usize>t * xb;
      const yt = y + <usize>t * yb;
      if (nt == 1) {
        for (let o = o0; o < o1; o++) {
          const wr = w + <usize>o * rb;
          store<f32>(yt + (<usize>o << 2), kind == 1 ? k1F16(wr, x0, nIn) : k1F32(wr, x0, nIn));
        }
      } else {
        const x1 = x0 + xb;
        const x2 = nt > 2 ? x1 + xb : x1;
        const x3 = nt > 3 ? x2 + xb : x2;
        for (let o = o0; o < o1; o++) {
          const wr = w + <usize>o * rb;
          const r = kind == 1 ? k4F16(wr, x0, x1, x2, x3, nIn) : k4F32(wr, x0, x1, x2, x3, nIn);
          store4(yt + (<usize>o << 2), yb, r, nt);
        }
      }
    }
  }
}

function mmQuant<Q>(w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const nb = nIn >> 5;
  const qb: usize = <usize>nb * wStep<Q>();   // quant plane bytes per row
  const rb: usize = qb + (<usize>nb << 1);
  const yb = <usize>nOut << 2;
  const ab: usize = relaxedQ4<Q>() ? <usize>nIn : <usize>nIn << 1;   // act quants per token
  const db = <usize>nb << 2;                                          // act scales (and Q8_0C sums) per token
  const rowsPerBlock = max<i32>(2, <i32>(BLOCK_BYTES / rb)) & ~1;
  for (let o0 = r0; o0 < r1; o0 += rowsPerBlock) {
    const o1 = min<i32>(o0 + rowsPerBlock, r1);
    for (let t = 0; t < nTok; t += 4) {
      const nt = min<i32>(4, nTok - t);
      const q0 = relaxedQ4<Q>() ? actQaRow(act, nIn, t) : actQ8Row(act, nIn, t);
      const d0 = relaxedQ4<Q>() ? actQ81D(act, nIn, nTok, t) : actQ8Scales(act, nIn, nTok, t);
      const c0: usize = relaxedQ4<Q>() ? actQ81S(act, nIn, nTok, t) : 0;
      const yt = y + <usize>t * yb;
      if (nt == 1) {
        let o = o0;
        const wEnd = w + <usize>r1 * rb;
        for (; o + 2 <= o1; o += 2) {
          const w0 = w + <usize>o * rb;
          // (prefetch.ts; y[o] is overwritten with the row's result below)
          store<u32>(yt + (<usize>o << 2), touch(w0 + <usize>PREFETCH_ROWS * rb, w0 + <usize>(PREFETCH_ROWS + 2) * rb, wEnd));
          const r = k2Q<Q>(w0, w0 + qb, w0 + rb, w0 + rb + qb, q0, d0, c0, nb);
          store<f32>(yt + (<usize>o << 2), f32x4.extract_lane(r, 0));
          store<f32>(yt + (<usize>o << 2), f32x4.extract_lane(r, 1), 4);
        }
        if (o < o1) {
          const w0 = w + <usize>o * rb;
          store<f32>(yt + (<usize>o << 2), k1Q<Q>(w0, w0 + qb, q0, d0, c0, nb));
        }
      } else {
        const q1 = q0 + ab, d1 = d0 + db, c1 = c0 + db;
        const q2 = nt > 2 ? q1 + ab : q1, d2 = nt > 2 ? d1 + db : d1, c2 = nt > 2 ? c1 + db : c1;
        const q3 = nt > 3 ? q2 + ab : q2, d3 = nt > 3 ? d2 + db : d2, c3 = nt > 3 ? c2 + db : c2;
        for (let o = o0; o < o1; o++) {
          const wr = w + <usize>o * rb;
          store4(yt + (<usize>o << 2), yb, k4Q<Q>(wr, wr + qb, q0, q1, q2, q3, d0, d1, d2, d3, c0, c1, c2, c3, nb), nt);
        }
      }
    }
  }
}

/** y[t·nOut + o] = W[o]·x[t] for o in [r0, r1), t < nTok; act as written by prep_act for `type`. */
export function matmul(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  if (type == GGML_F32) mmFloat(0, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_F16) mmFloat(1, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_BF16) mmBF16(w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == WASMLM_Q8_0R) mmQuant<u16>(w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == WASMLM_Q4_0R) mmQuant<u8>(w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q4_1 || type == GGML_Q5_0 || type == GGML_Q5_1) mmLegacy(type, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q2_K || type == GGML_Q3_K || type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q6_K) {
    mmK(type, w, act, y, nIn, nOut, nTok, r0, r1);
  } else unreachable();
}

// ---------------------------------------------------------------- scalar twin

export function matmul_ref(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  if (type == GGML_Q4_1 || type == GGML_Q5_0 || type == GGML_Q5_1) {
    mmLegacyRef(type, w, act, y, nIn, nOut, nTok, r0, r1);
    return;
  }
  if (type == GGML_Q2_K || type == GGML_Q3_K || type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q6_K) {
    mmKRef(type, w, act, y, nIn, nOut, nTok, r0, r1);
    return;
  }
  const rb = rowBytesOf(type, nIn);
  if (rb == 0) unreachable();
  const nb = nIn >> 5;
  for (let t = 0; t < nTok; t++) {
    for (let o = r0; o < r1; o++) {
      const wr = w + <usize>o * rb;
      let s: f32 = 0;
      if (type == GGML_F32 || type == GGML_F16 || type == GGML_BF16) {
        const xr = act + (<usize>t * <usize>nIn << 2);
        let sd: f64 = 0;
        for (let i = 0; i < nIn; i++) {
          const wi: f32 = type == GGML_F32 ? load<f32>(wr + (<usize>i << 2))
            : type == GGML_F16 ? h2f(<i32>load<u16>(wr + (<usize>i << 1))) : bf2f(<i32>load<u16>(wr + (<usize>i << 1)));
          s += wi * load<f32>(xr + (<usize>i << 2));
          sd += <f64>(wi * load<f32>(xr + (<usize>i << 2)));   // BF16: an exact product
        }
        if (type == GGML_BF16) s = <f32>sd;
      } else if (type == WASMLM_Q8_0R || type == WASMLM_Q4_0R) {
        const q4 = type == WASMLM_Q4_0R;
        const qa = ASC_FEATURE_RELAXED_SIMD && q4;   // Q8_0C act (QA quants)
        const aq = qa ? actQaRow(act, nIn, t) : actQ8Row(act, nIn, t);
        const ad = qa ? actQ81D(act, nIn, nTok, t) : actQ8Scales(act, nIn, nTok, t);
        const scales = wr + <usize>nb * (q4 ? 16 : 32);
        for (let b = 0; b < nb; b++) {
          let sumi: i32 = 0;
          for (let j = 0; j < 32; j++) {
            let q: i32;
            if (q4 && ASC_FEATURE_RELAXED_SIMD) {   // GGUF nibble order: byte j weight j, high nibble weight 16 + j
              q = ((<i32>load<u8>(wr + (<usize>b << 4) + (j & 15)) >> ((j >> 4) << 2)) & 15) - 8;
            } else if (q4) {   // byte 2k = weights k, 8+k; byte 2k+1 = weights 16+k, 24+k; nibbles q ^ 8
              const k = j & 7, g = j >> 3;
              const nib = (<i32>load<u8>(wr + (<usize>b << 4) + (k << 1) + (g >> 1)) >> ((g & 1) << 2)) & 15;
              q = (nib ^ 8) - 8;
            } else {
              q = <i32>load<i8>(wr + (<usize>b << 5) + j);
            }
            sumi += q * (qa ? loadQa(aq, b * 32 + j) : <i32>load<i16>(aq + (<usize>(b * 32 + j) << 1)));
          }
          s += <f32>sumi * (h2f(<i32>load<u16>(scales + (<usize>b << 1))) * load<f32>(ad + (<usize>b << 2)));
        }
      } else unreachable();   // GGUF-layout Q8_0 / Q4_0: repack first
      store<f32>(y + (<usize>t * <usize>nOut + <usize>o << 2), s);
    }
  }
}
