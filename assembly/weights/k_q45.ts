// Q4_K and Q5_K weights (super-blocks of 256, 8 sub-blocks of 32 with 6-bit scales and mins): matmul
// kernels, row dequantization (get_rows) and scalar twin. The K-quant scheme, layouts and the V8 notes:
// k_common.ts.
import { GGML_Q4_K, GGML_Q5_K } from "../../src/abi";
import { h2f } from "../ops/f16";
import { loadQa } from "./act";
import { KC, KC_M4, KC_M10, KC_K4LO, KC_K4HI, isum4x4, load4f, fence } from "./common";
import {
  QS, h2f4, h2f2, pairSum, madd2, msub2, demote4, bsumDot8, dot16v, scPair, scSplat, rows2, prepK, tokK, step,
  rd, scale2R,
} from "./k_common";

// ================================================================ Q4_K / Q5_K
// Sub-block pair p (64 weights) reads qs[32p .. 32p + 31]: sub-block 2p is the low nibbles, 2p + 1 the high
// nibbles; Q5_K adds bit 2p (2p + 1) of qh[l] as bit 4 of weight l. 8 six-bit scales and mins per block.

// the 8 scales and 8 mins of the block whose first 16 bytes are hdr (d, dmin, scales[12] = u32 lanes a0, a1,
// a2), as bytes [sc0..sc7, m0..m7]:
//   sc0..3 = a0 & 0x3f.., sc4..7 = (a2 & 0x0f..) | ((a0 >> 2) & 0x30..),
//   m0..3  = a1 & 0x3f.., m4..7  = ((a2 >> 4) & 0x0f..) | ((a1 >> 2) & 0x30..)
// @ts-ignore: decorator
@inline function k4Scales(hdr: v128): v128 {
  const a = v128.shuffle<u32>(hdr, i32x4.shr_u(hdr, 4), 1, 3, 2, 7);     // [a0, a2, a1, a2 >> 4]
  const b = i32x4.shr_u(v128.shuffle<u32>(hdr, hdr, 1, 1, 2, 2), 2);     // [a0 >> 2, a0 >> 2, a1 >> 2, a1 >> 2]
  return v128.or(v128.and(a, v128.load(KC, KC_K4LO)), v128.and(b, v128.load(KC, KC_K4HI)));
}

// The 16 quants l = 16b .. 16b + 15 of sub-block 2p + nib of the Q4_K (q5 = false) or Q5_K block at w, as
// bytes (< 32). Q5_K's bit: qh >> (j − 4) or << (4 − j), j = 2p + nib; the shifts are at most 4 (left) and 3
// (right), so no bit crosses into another byte's bit 4.
// @ts-ignore: decorator
@inline function q45Quants(q5: bool, w: usize, p: i32, nib: i32, b: i32, m4: v128, m10: v128): v128 {
  const x = v128.load(w + <usize>((q5 ? 48 : 16) + 32 * p + 16 * b));
  const v = v128.and(nib ? i16x8.shr_u(x, 4) : x, m4);
  if (!q5) return v;
  const h = v128.load(w + <usize>(16 + 16 * b)), j = 2 * p + nib;
  return v128.or(v, v128.and(j < 4 ? i16x8.shl(h, 4 - j) : j == 4 ? h : i16x8.shr_u(h, j - 4), m10));
}

// sub-block 2p + nib of two rows (blocks at w0, w1) times its 32 act (i16) at q + 64·(2p + nib) (loaded once for
// both rows): [row 0's i32x4 partials, row 1's] narrowed to i16. A lane adds 8 products q·a ≤ 31·128: below 2^15.
// @ts-ignore: decorator
@inline function q45Sub2(q5: bool, w0: usize, w1: usize, p: i32, nib: i32, q: usize, m4: v128, m10: v128): v128 {
  const o = 64 * (2 * p + nib);
  const a0 = v128.load(q + <usize>o), a1 = v128.load(q + <usize>(o + 16));
  const a2 = v128.load(q + <usize>(o + 32)), a3 = v128.load(q + <usize>(o + 48));
  const r0 = i32x4.add(dot16v(q45Quants(q5, w0, p, nib, 0, m4, m10), a0, a1), dot16v(q45Quants(q5, w0, p, nib, 1, m4, m10), a2, a3));
  const r1 = i32x4.add(dot16v(q45Quants(q5, w1, p, nib, 0, m4, m10), a0, a1), dot16v(q45Quants(q5, w1, p, nib, 1, m4, m10), a2, a3));
  return i16x8.narrow_i32x4_s(r0, r1);
}

// relaxed: pair sums (i16x8) of sub-block 2p + nib of the block at w times its act (i8) a0, a1 (|lane| ≤ 4·31·127)
// @ts-ignore: decorator
@inline function q45SubR(q5: bool, w: usize, p: i32, nib: i32, a0: v128, a1: v128, m4: v128, m10: v128): v128 {
  return i16x8.add(rd(a0, q45Quants(q5, w, p, nib, 0, m4, m10)), rd(a1, q45Quants(q5, w, p, nib, 1, m4, m10)));
}

// Sub-block pair p (64 weights) of two rows (blocks at w0, w1; scales sc0, sc1: i16 × 8) against one token's
// act q, as rows2 partials of Σ sc·Σq·a; fence(y0) between its two sub-blocks' loads. Plain build: the two
// rows' i16 partials of a sub-block share a vector (q45Sub2), regrouped per row (i64 lanes) for one
// i32x4.dot_i16x8_s per row that scales and adds both sub-blocks (as scale2); relaxed: scale2R per row.
// @ts-ignore: decorator
@inline function q45Rows(q5: bool, w0: usize, w1: usize, sc0: v128, sc1: v128, p: i32, q: usize, m4: v128, m10: v128,
                         y0: usize, y1: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const o = 64 * p;
    let a0 = v128.load(q + <usize>o), a1 = v128.load(q + <usize>(o + 16));
    const lo0 = q45SubR(q5, w0, p, 0, a0, a1, m4, m10), lo1 = q45SubR(q5, w1, p, 0, a0, a1, m4, m10);
    fence(y0, lo0);
    fence(y1, lo1);
    a0 = v128.load(q + <usize>(o + 32));
    a1 = v128.load(q + <usize>(o + 48));
    const hi0 = q45SubR(q5, w0, p, 1, a0, a1, m4, m10), hi1 = q45SubR(q5, w1, p, 1, a0, a1, m4, m10);
    return rows2(scale2R(lo0, hi0, sc0, p), scale2R(lo1, hi1, sc1, p));
  }
  const lo = q45Sub2(q5, w0, w1, p, 0, q, m4, m10);
  fence(y0, lo);
  const hi = q45Sub2(q5, w0, w1, p, 1, q, m4, m10);
  return rows2(i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 0, 2), scPair(sc0, p)),
               i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 1, 3), scPair(sc1, p)));
}

// One token, two rows (blocks at w0, w1; outputs y0, y1; w1 = w0, y1 = y0 for a single row): per sub-block
// pair, both rows' partials in one vector (2 lanes each), then per super-block the f64 steps.
// @ts-ignore: decorator
@inline function k1Q45(q5: bool, w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  const bsz: usize = q5 ? 176 : 144;
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m10 = v128.load(KC, KC_M10);
  for (let s = 0; s < ns; s++) {
    const scm0 = k4Scales(v128.load(w0)), scm1 = k4Scales(v128.load(w1));
    const sc0 = i16x8.extend_low_i8x16_u(scm0), sc1 = i16x8.extend_low_i8x16_u(scm1);
    // mins · bsums first (then only sc0, sc1 and sm stay live through the groups)
    const sm = pairSum(bsumDot8(i16x8.extend_high_i8x16_u(scm0), bs), bsumDot8(i16x8.extend_high_i8x16_u(scm1), bs));
    fence(y0, sm);
    let si = q45Rows(q5, w0, w1, sc0, sc1, 0, q, m4, m10, y0, y1);
    fence(y0, si);
    si = step(si, q45Rows(q5, w0, w1, sc0, sc1, 1, q, m4, m10, y0, y1), y0);
    si = step(si, q45Rows(q5, w0, w1, sc0, sc1, 2, q, m4, m10, y0, y1), y0);
    si = step(si, q45Rows(q5, w0, w1, sc0, sc1, 3, q, m4, m10, y0, y1), y0);
    // [Σsi0, Σsm0, Σsi1, Σsm1] (sm: pairSum layout)
    const u = i32x4.add(v128.shuffle<i32>(si, sm, 0, 4, 2, 5), v128.shuffle<i32>(si, sm, 1, 6, 3, 7));
    const dd = h2f4(v128.load32_lane(w1, v128.load32_zero(w0), 1));       // [dw0, dmin0, dw1, dmin1]
    const da = f64x2.splat(<f64>load<f32>(d));
    const p0 = f64x2.mul(f64x2.convert_low_i32x4_s(u), f64x2.mul(f64x2.promote_low_f32x4(dd), da));
    const p1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<u32>(u, u, 2, 3, 2, 3)),
                         f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<u32>(dd, dd, 2, 3, 2, 3)), da));
    acc0 = acc0 + f64x2.extract_lane(p0, 0) - f64x2.extract_lane(p0, 1);
    acc1 = acc1 + f64x2.extract_lane(p1, 0) - f64x2.extract_lane(p1, 1);
    w0 += bsz;
    w1 += bsz;
    q += QS;
    d += 4;
    bs += 32;
  }
  store<f32>(y0, <f32>acc0);
  store<f32>(y1, <f32>acc1);
}

// Four tokens (lanes), one row: each sub-block's 32 weights are unpacked and scaled once (prepK), then dotted
// with each token's act (tokK); the fence after each token keeps one token's act loads in registers at a time.
// two: only the first two tokens (lanes 2 and 3 are not computed).
// @ts-ignore: decorator
@inline function k4Q45(q5: bool, two: bool, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                       d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m10 = v128.load(KC, KC_M10);
  for (let s = 0; s < ns; s++) {
    const hdr = v128.load(w);
    const scm = k4Scales(hdr);
    const sc16 = i16x8.extend_low_i8x16_u(scm);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let p0: v128, p1: v128, p2: v128, p3: v128;
    {
      const sc = scSplat(sc16, 0), v0 = q45Quants(q5, w, 0, 0, 0, m4, m10), v1 = q45Quants(q5, w, 0, 0, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 0, 16, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 0, 16, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 0, 16, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 0, 16, yp);
    {
      const sc = scSplat(sc16, 1), v0 = q45Quants(q5, w, 0, 1, 0, m4, m10), v1 = q45Quants(q5, w, 0, 1, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 32, 48, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 32, 48, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 32, 48, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 32, 48, yp);
    {
      const sc = scSplat(sc16, 2), v0 = q45Quants(q5, w, 1, 0, 0, m4, m10), v1 = q45Quants(q5, w, 1, 0, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 64, 80, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 64, 80, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 64, 80, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 64, 80, yp);
    {
      const sc = scSplat(sc16, 3), v0 = q45Quants(q5, w, 1, 1, 0, m4, m10), v1 = q45Quants(q5, w, 1, 1, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 96, 112, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 96, 112, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 96, 112, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 96, 112, yp);
    {
      const sc = scSplat(sc16, 4), v0 = q45Quants(q5, w, 2, 0, 0, m4, m10), v1 = q45Quants(q5, w, 2, 0, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 128, 144, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 128, 144, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 128, 144, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 128, 144, yp);
    {
      const sc = scSplat(sc16, 5), v0 = q45Quants(q5, w, 2, 1, 0, m4, m10), v1 = q45Quants(q5, w, 2, 1, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 160, 176, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 160, 176, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 160, 176, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 160, 176, yp);
    {
      const sc = scSplat(sc16, 6), v0 = q45Quants(q5, w, 3, 0, 0, m4, m10), v1 = q45Quants(q5, w, 3, 0, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 192, 208, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 192, 208, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 192, 208, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 192, 208, yp);
    {
      const sc = scSplat(sc16, 7), v0 = q45Quants(q5, w, 3, 1, 0, m4, m10), v1 = q45Quants(q5, w, 3, 1, 1, m4, m10);
      p0 = prepK(v0, sc, 0); p1 = prepK(v0, sc, 1); p2 = prepK(v1, sc, 0); p3 = prepK(v1, sc, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, true, q0, 224, 240, yp);
    s1 = tokK(s1, p0, p1, p2, p3, true, q1, 224, 240, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, true, q2, 224, 240, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, true, q3, 224, 240, yp);
    const m16 = i16x8.extend_high_i8x16_u(scm);
    const bo = <usize>s << 5;
    const sm = isum4x4(bsumDot8(m16, b0 + bo), bsumDot8(m16, b1 + bo), bsumDot8(m16, b2 + bo), bsumDot8(m16, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dd = h2f2(hdr);
    const dw = f64x2.extract_lane(dd, 0), dmin = f64x2.extract_lane(dd, 1);
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += q5 ? 176 : 144;
    q0 += QS;
    q1 += QS;
    q2 += QS;
    q3 += QS;
  }
  return demote4(accLo, accHi);
}



// ---------------------------------------------------------------- kernels per type (the generic ones inlined)

function k1Q4K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q45(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k4Q4K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q45(false, false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k2Q4K(w: usize, q0: usize, q1: usize, d0: usize, d1: usize, b0: usize, b1: usize, ns: i32, yp: usize): v128 {
  return k4Q45(false, true, w, q0, q1, q1, q1, d0, d1, d1, d1, b0, b1, b1, b1, ns, yp);
}
function k1Q5K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q45(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k4Q5K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q45(true, false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k2Q5K(w: usize, q0: usize, q1: usize, d0: usize, d1: usize, b0: usize, b1: usize, ns: i32, yp: usize): v128 {
  return k4Q45(true, true, w, q0, q1, q1, q1, d0, d1, d1, d1, b0, b1, b1, b1, ns, yp);
}

// ---------------------------------------------------------------- entries for weights/index.ts

// one token (act planes q, d, bsums e), rows w0 and w1 (w1 = w0, y1 = y0: one row) -> y0, y1
// @ts-ignore: decorator
@inline export function q45Dec(type: i32, w0: usize, w1: usize, q: usize, d: usize, e: usize, nIn: i32, y0: usize, y1: usize): void {
  const ns = nIn >> 8;
  if (type == GGML_Q4_K) k1Q4K(w0, w1, q, d, e, ns, y0, y1);
  else k1Q5K(w0, w1, q, d, e, ns, y0, y1);
}

// one row, nt tokens (2..4) -> [y(t0), .., y(t3)]; yp: the row's output for the first token (a fence target)
// @ts-ignore: decorator
@inline export function q45Tile(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize,
                            d2: usize, d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32, yp: usize, nt: i32): v128 {
  const ns = nIn >> 8;
  if (nt == 2) return type == GGML_Q4_K ? k2Q4K(w, q0, q1, d0, d1, e0, e1, ns, yp) : k2Q5K(w, q0, q1, d0, d1, e0, e1, ns, yp);
  if (type == GGML_Q4_K) return k4Q4K(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, ns, yp);
  return k4Q5K(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, ns, yp);
}

// ---------------------------------------------------------------- scalar twin, rows

/** acc after super-block b (act quants qs, bsums bs, scale da): the same integers and f64 steps as the kernels. */
// @ts-ignore: decorator
@inline export function q45RefBlock(type: i32, b: usize, qs: usize, bs: usize, da: f32, acc: f64): f64 {
  const dw = h2f(<i32>load<u16>(b)), dmin = h2f(<i32>load<u16>(b, 2));
  let sumi = 0, summ = 0;
  for (let j = 0; j < 8; j++) {
    const sc = q45Scale(b, j), m = q45Min(b, j);
    let dot = 0;
    for (let l = 0; l < 32; l++) dot += q45Quant(type, b, j, l) * loadQa(qs, j * 32 + l);
    sumi += sc * dot;
    summ += m * (<i32>load<i16>(bs + (<usize>(2 * j) << 1)) + <i32>load<i16>(bs + (<usize>(2 * j + 1) << 1)));
  }
  acc = acc + <f64>sumi * (<f64>dw * <f64>da);
  return acc - <f64>summ * (<f64>dmin * <f64>da);
}

// 6-bit scale and min j (0..7) of the block at b
// @ts-ignore: decorator
@inline function q45Scale(b: usize, j: i32): i32 {
  if (j < 4) return load<u8>(b + 4 + <usize>j) & 63;
  return (load<u8>(b + 8 + <usize>j) & 15) | ((load<u8>(b + <usize>j) >> 6) << 4);
}
// @ts-ignore: decorator
@inline function q45Min(b: usize, j: i32): i32 {
  if (j < 4) return load<u8>(b + 8 + <usize>j) & 63;
  return (load<u8>(b + 8 + <usize>j) >> 4) | ((load<u8>(b + 4 + <usize>j) >> 6) << 4);
}
// weight 32j + l: nibble (j&1 ? high : low) of qs[32(j>>1) + l], Q5_K: + 16·bit j of qh[l]
// @ts-ignore: decorator
@inline function q45Quant(type: i32, b: usize, j: i32, l: i32): i32 {
  const byte = <i32>load<u8>(b + (type == GGML_Q4_K ? 16 : 48) + <usize>((j >> 1) * 32 + l));
  let v = (j & 1) ? byte >> 4 : byte & 15;
  if (type == GGML_Q5_K) v |= ((<i32>load<u8>(b + 16 + <usize>l) >> j) & 1) << 4;
  return v;
}

/** Dequantizes n values (a multiple of 256) of Q4_K or Q5_K at src into f32 at dst (the reference's f32 steps). */
export function q45Row(type: i32, src: usize, dst: usize, n: i32): void {
  for (let s = 0; s < n >> 8; s++) {
    const d = h2f(<i32>load<u16>(src)), dmin = h2f(<i32>load<u16>(src, 2));
    for (let j = 0; j < 8; j++) {
      const d1: f32 = d * <f32>q45Scale(src, j), m1: f32 = dmin * <f32>q45Min(src, j);
      for (let l = 0; l < 32; l++) store<f32>(dst + (<usize>(j * 32 + l) << 2), d1 * <f32>q45Quant(type, src, j, l) - m1);
    }
    src += type == GGML_Q5_K ? 176 : 144;
    dst += 1024;
  }
}
