// Q2_K and Q3_K weights (super-blocks of 256, 2-bit quants; Q3_K a third bit in hmask; a scale per 16):
// matmul kernels, row dequantization (get_rows) and scalar twin. The K-quant scheme, layouts and the V8
// notes: k_common.ts.
import { GGML_Q2_K, GGML_Q3_K } from "../../src/abi";
import { h2f } from "../ops/f16";
import { loadQa } from "./act";
import { KC, KC_M4, KC_M3, KC_M04, KC_B32, isum4x4, load4f, fence } from "./common";
import {
  QS, h2f4, h2f2, halves2, pairSum, hsum2, madd2, msub2, demote4, bsumDot, dot16v, scale2, scPair, scSplat,
  rows2, hsumRows, prepK, tokK, step, rd, scale2R,
} from "./k_common";

// ================================================================ Q2_K / Q3_K
// Half n (128 weights) has qs[32n .. 32n + 31]: weight 128n + 32j + l is bits 2j, 2j + 1 of byte l, so group
// k = 8n + 2j + b of 16 weights (b = l >> 4) reads bytes 16b .. 16b + 15. Q3_K's third bit is bit 4n + j of
// hmask[l]. Q2_K: a 4-bit scale (low nibble) and min (high nibble) per group; Q3_K: 6-bit scales biased by
// 32, quants unsigned (0..7): Σ sc·Σ(q − 4)·a = Σ sc·Σq·a − 4·Σ sc·bsum.

// Q3_K: the 12 scale bytes -> 16 six-bit values (biased by 32), 4 per u32
// @ts-ignore: decorator
@inline function k3s(a0: u32, a1: u32, a2: u32, i: i32): u32 {
  if (i == 0) return (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4);
  if (i == 1) return (a1 & 0x0f0f0f0f) | (((a2 >> 2) & 0x03030303) << 4);
  if (i == 2) return ((a0 >> 4) & 0x0f0f0f0f) | (((a2 >> 4) & 0x03030303) << 4);
  return ((a1 >> 4) & 0x0f0f0f0f) | (((a2 >> 6) & 0x03030303) << 4);
}

// the 16 scales of the block at w (i8x16): Q2_K 0..15, Q3_K −32..31
// @ts-ignore: decorator
@inline function q23Scales(q3: bool, w: usize, m4: v128): v128 {
  if (!q3) return v128.and(v128.load(w), m4);
  const a0 = load<u32>(w, 96), a1 = load<u32>(w, 100), a2 = load<u32>(w, 104);
  const v = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(k3s(a0, a1, a2, 0)), 1,
    k3s(a0, a1, a2, 1)), 2, k3s(a0, a1, a2, 2)), 3, k3s(a0, a1, a2, 3));
  return i8x16.sub(v, v128.load(KC, KC_B32));
}

// group 8n + 2j + b of the Q2_K (q3 = false) or Q3_K block at w (bytes, < 8). The qs shift (right, at most 6)
// brings the next byte's bits only down to bit 2 and up; the hmask shifts (left at most 2, right at most 5)
// keep them out of bit 2.
// @ts-ignore: decorator
@inline function q23Quants(q3: bool, w: usize, n: i32, j: i32, b: i32, m3: v128, m04: v128): v128 {
  const x = v128.load(w + <usize>((q3 ? 32 : 16) + 32 * n + 16 * b));
  const v = v128.and(j ? i16x8.shr_u(x, 2 * j) : x, m3);
  if (!q3) return v;
  const h = v128.load(w + <usize>(16 * b)), t = 4 * n + j;
  return v128.or(v, v128.and(t < 2 ? i16x8.shl(h, 2 - t) : t == 2 ? h : i16x8.shr_u(h, t - 2), m04));
}

// sc_k·Σ q·a + sc_{k+1}·Σ q·a for the groups k = 8n + 2j and k + 1 (block at w), act a0..a3 (i16), l = the
// half's 8 scales (i16). A lane adds 4 products q·a ≤ 7·128: below 2^15 (scale2).
// @ts-ignore: decorator
@inline function q23Pair(q3: bool, w: usize, n: i32, j: i32, m3: v128, m04: v128, a0: v128, a1: v128, a2: v128,
                         a3: v128, l: v128): v128 {
  return scale2(dot16v(q23Quants(q3, w, n, j, 0, m3, m04), a0, a1), dot16v(q23Quants(q3, w, n, j, 1, m3, m04), a2, a3),
                scPair(l, j));
}

// the 16 scales c as i16 (groups 0..7, 8..15)
// @ts-ignore: decorator
@inline function q23Lo(q3: bool, c: v128): v128 { return q3 ? i16x8.extend_low_i8x16_s(c) : i16x8.extend_low_i8x16_u(c); }
// @ts-ignore: decorator
@inline function q23Hi(q3: bool, c: v128): v128 { return q3 ? i16x8.extend_high_i8x16_s(c) : i16x8.extend_high_i8x16_u(c); }

// Q2_K: the 16 mins (i8x16) of the block at w
// @ts-ignore: decorator
@inline function q2Mins(w: usize, m4: v128): v128 { return v128.and(i16x8.shr_u(v128.load(w), 4), m4); }

// Q3_K: 4·Σ sc·bsum (i32x4 partials)
// @ts-ignore: decorator
@inline function q3Corr(c: v128, bs: usize): v128 {
  return i32x4.shl(bsumDot(i16x8.extend_low_i8x16_s(c), i16x8.extend_high_i8x16_s(c), bs), 2);
}

// Group i = 4n + j (32 weights: the groups of 16 k = 2i, 2i + 1, scales l_2j, l_2j+1 of half n) of two rows
// (blocks at w0, w1; scales c0, c1: i8x16) against one token's act q, as rows2 partials of Σ sc·Σq·a (plain
// build; the relaxed build's decode kernel is k1Q23R: with rows2 its groups, the smallest of the K-quants,
// measured 0.96x).
// @ts-ignore: decorator
@inline function q23Rows(q3: bool, w0: usize, w1: usize, c0: v128, c1: v128, i: i32, q: usize, m3: v128, m04: v128): v128 {
  const n = i >> 2, j = i & 3;
  const l0 = n ? q23Hi(q3, c0) : q23Lo(q3, c0), l1 = n ? q23Hi(q3, c1) : q23Lo(q3, c1);   // the half's scales (i16)
  const a0 = v128.load(q + <usize>(64 * i)), a1 = v128.load(q + <usize>(64 * i + 16));
  const a2 = v128.load(q + <usize>(64 * i + 32)), a3 = v128.load(q + <usize>(64 * i + 48));
  return rows2(q23Pair(q3, w0, n, j, m3, m04, a0, a1, a2, a3, l0), q23Pair(q3, w1, n, j, m3, m04, a0, a1, a2, a3, l1));
}

// One token, two rows (w1 = w0, y1 = y0: one row), plain build: see k1Q45 (k_q45.ts)
// @ts-ignore: decorator
@inline function k1Q23(q3: bool, w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  const bsz: usize = q3 ? 110 : 84;
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m3 = v128.load(KC, KC_M3), m04 = v128.load(KC, KC_M04);
  for (let s = 0; s < ns; s++) {
    const c0 = q23Scales(q3, w0, m4), c1 = q23Scales(q3, w1, m4);
    // Q2_K: mins · bsums first (see k1Q45)
    let sm = i32x4.splat(0);
    if (!q3) {
      const n0 = q2Mins(w0, m4), n1 = q2Mins(w1, m4);
      sm = pairSum(bsumDot(i16x8.extend_low_i8x16_u(n0), i16x8.extend_high_i8x16_u(n0), bs),
                   bsumDot(i16x8.extend_low_i8x16_u(n1), i16x8.extend_high_i8x16_u(n1), bs));
      fence(y0, sm);
    }
    let si = q23Rows(q3, w0, w1, c0, c1, 0, q, m3, m04);
    fence(y0, si);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 1, q, m3, m04), y0);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 2, q, m3, m04), y0);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 3, q, m3, m04), y0);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 4, q, m3, m04), y0);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 5, q, m3, m04), y0);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 6, q, m3, m04), y0);
    si = step(si, q23Rows(q3, w0, w1, c0, c1, 7, q, m3, m04), y0);
    const da = f64x2.splat(<f64>load<f32>(d));
    if (q3) {
      si = i32x4.sub(si, rows2(q3Corr(c0, bs), q3Corr(c1, bs)));
      const p = f64x2.mul(hsumRows(si), f64x2.mul(h2f2(halves2(w0 + 108, w1 + 108)), da));
      acc0 += f64x2.extract_lane(p, 0);
      acc1 += f64x2.extract_lane(p, 1);
    } else {
      // [Σsi0, Σsm0, Σsi1, Σsm1] (sm: pairSum layout)
      const u = i32x4.add(v128.shuffle<i32>(si, sm, 0, 4, 2, 5), v128.shuffle<i32>(si, sm, 1, 6, 3, 7));
      const dd = h2f4(v128.load32_lane(w1 + 80, v128.load32_zero(w0, 80), 1));    // [dw0, dmin0, dw1, dmin1]
      const p0 = f64x2.mul(f64x2.convert_low_i32x4_s(u), f64x2.mul(f64x2.promote_low_f32x4(dd), da));
      const p1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<u32>(u, u, 2, 3, 2, 3)),
                           f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<u32>(dd, dd, 2, 3, 2, 3)), da));
      acc0 = acc0 + f64x2.extract_lane(p0, 0) - f64x2.extract_lane(p0, 1);
      acc1 = acc1 + f64x2.extract_lane(p1, 0) - f64x2.extract_lane(p1, 1);
    }
    w0 += bsz;
    w1 += bsz;
    q += QS;
    d += 4;
    bs += 32;
  }
  store<f32>(y0, <f32>acc0);
  store<f32>(y1, <f32>acc1);
}

// k1Q23 for the relaxed build (i8 act): each row keeps its own sums
// @ts-ignore: decorator
@inline function k1Q23R(q3: bool, w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  const bsz: usize = q3 ? 110 : 84;
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m3 = v128.load(KC, KC_M3), m04 = v128.load(KC, KC_M04);
  for (let s = 0; s < ns; s++) {
    const c0 = q23Scales(q3, w0, m4), c1 = q23Scales(q3, w1, m4);
    // Q2_K: mins · bsums first (see k1Q45)
    let sm = i32x4.splat(0);
    if (!q3) {
      const n0 = q2Mins(w0, m4), n1 = q2Mins(w1, m4);
      sm = pairSum(bsumDot(i16x8.extend_low_i8x16_u(n0), i16x8.extend_high_i8x16_u(n0), bs),
                   bsumDot(i16x8.extend_low_i8x16_u(n1), i16x8.extend_high_i8x16_u(n1), bs));
      fence(y0, sm);
    }
    let si0 = i32x4.splat(0), si1 = i32x4.splat(0);
    {
      const l0 = q23Lo(q3, c0), l1 = q23Lo(q3, c1);     // scales 0..7 (i16)
      {
        const a0 = v128.load(q, 0), a1 = v128.load(q, 16);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 0, 0, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 0, 0, 1, m3, m04)), l0, 0));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 0, 0, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 0, 0, 1, m3, m04)), l1, 0));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 32), a1 = v128.load(q, 48);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 0, 1, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 0, 1, 1, m3, m04)), l0, 1));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 0, 1, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 0, 1, 1, m3, m04)), l1, 1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 64), a1 = v128.load(q, 80);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 0, 2, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 0, 2, 1, m3, m04)), l0, 2));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 0, 2, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 0, 2, 1, m3, m04)), l1, 2));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 96), a1 = v128.load(q, 112);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 0, 3, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 0, 3, 1, m3, m04)), l0, 3));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 0, 3, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 0, 3, 1, m3, m04)), l1, 3));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    {
      const l0 = q23Hi(q3, c0), l1 = q23Hi(q3, c1);     // scales 8..15 (i16)
      {
        const a0 = v128.load(q, 128), a1 = v128.load(q, 144);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 1, 0, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 1, 0, 1, m3, m04)), l0, 0));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 1, 0, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 1, 0, 1, m3, m04)), l1, 0));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 160), a1 = v128.load(q, 176);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 1, 1, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 1, 1, 1, m3, m04)), l0, 1));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 1, 1, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 1, 1, 1, m3, m04)), l1, 1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 192), a1 = v128.load(q, 208);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 1, 2, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 1, 2, 1, m3, m04)), l0, 2));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 1, 2, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 1, 2, 1, m3, m04)), l1, 2));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 224), a1 = v128.load(q, 240);
        si0 = i32x4.add(si0, scale2R(rd(a0, q23Quants(q3, w0, 1, 3, 0, m3, m04)), rd(a1, q23Quants(q3, w0, 1, 3, 1, m3, m04)), l0, 3));
        si1 = i32x4.add(si1, scale2R(rd(a0, q23Quants(q3, w1, 1, 3, 0, m3, m04)), rd(a1, q23Quants(q3, w1, 1, 3, 1, m3, m04)), l1, 3));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    const da = f64x2.splat(<f64>load<f32>(d));
    if (q3) {
      si0 = i32x4.sub(si0, q3Corr(c0, bs));
      si1 = i32x4.sub(si1, q3Corr(c1, bs));
      const p = f64x2.mul(hsum2(si0, si1), f64x2.mul(h2f2(halves2(w0 + 108, w1 + 108)), da));
      acc0 += f64x2.extract_lane(p, 0);
      acc1 += f64x2.extract_lane(p, 1);
    } else {
      const u = pairSum(pairSum(si0, si1), sm);                                   // [Σsi0, Σsm0, Σsi1, Σsm1]
      const dd = h2f4(v128.load32_lane(w1 + 80, v128.load32_zero(w0, 80), 1));    // [dw0, dmin0, dw1, dmin1]
      const p0 = f64x2.mul(f64x2.convert_low_i32x4_s(u), f64x2.mul(f64x2.promote_low_f32x4(dd), da));
      const p1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<u32>(u, u, 2, 3, 2, 3)),
                           f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<u32>(dd, dd, 2, 3, 2, 3)), da));
      acc0 = acc0 + f64x2.extract_lane(p0, 0) - f64x2.extract_lane(p0, 1);
      acc1 = acc1 + f64x2.extract_lane(p1, 0) - f64x2.extract_lane(p1, 1);
    }
    w0 += bsz;
    w1 += bsz;
    q += QS;
    d += 4;
    bs += 32;
  }
  store<f32>(y0, <f32>acc0);
  store<f32>(y1, <f32>acc1);
}

// Four tokens (lanes), one row: see k4Q45 (k_q45.ts)
// @ts-ignore: decorator
@inline function k4Q23(q3: bool, w: usize, q0: usize, q1: usize, q2: usize, q3p: usize, d0: usize, d1: usize, d2: usize,
                       d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m3 = v128.load(KC, KC_M3), m04 = v128.load(KC, KC_M04);
  for (let s = 0; s < ns; s++) {
    const c = q23Scales(q3, w, m4);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let p0: v128, p1: v128, p2: v128, p3: v128;
    const ll = q23Lo(q3, c), lh = q23Hi(q3, c);     // scales 0..7, 8..15 (i16)
    {
      const g0 = q23Quants(q3, w, 0, 0, 0, m3, m04), g1 = q23Quants(q3, w, 0, 0, 1, m3, m04);
      const sa = scSplat(ll, 0), sb = scSplat(ll, 1);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 0, 16, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 0, 16, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 0, 16, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 0, 16, yp);
    {
      const g0 = q23Quants(q3, w, 0, 1, 0, m3, m04), g1 = q23Quants(q3, w, 0, 1, 1, m3, m04);
      const sa = scSplat(ll, 2), sb = scSplat(ll, 3);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 32, 48, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 32, 48, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 32, 48, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 32, 48, yp);
    {
      const g0 = q23Quants(q3, w, 0, 2, 0, m3, m04), g1 = q23Quants(q3, w, 0, 2, 1, m3, m04);
      const sa = scSplat(ll, 4), sb = scSplat(ll, 5);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 64, 80, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 64, 80, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 64, 80, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 64, 80, yp);
    {
      const g0 = q23Quants(q3, w, 0, 3, 0, m3, m04), g1 = q23Quants(q3, w, 0, 3, 1, m3, m04);
      const sa = scSplat(ll, 6), sb = scSplat(ll, 7);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 96, 112, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 96, 112, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 96, 112, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 96, 112, yp);
    {
      const g0 = q23Quants(q3, w, 1, 0, 0, m3, m04), g1 = q23Quants(q3, w, 1, 0, 1, m3, m04);
      const sa = scSplat(lh, 0), sb = scSplat(lh, 1);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 128, 144, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 128, 144, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 128, 144, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 128, 144, yp);
    {
      const g0 = q23Quants(q3, w, 1, 1, 0, m3, m04), g1 = q23Quants(q3, w, 1, 1, 1, m3, m04);
      const sa = scSplat(lh, 2), sb = scSplat(lh, 3);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 160, 176, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 160, 176, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 160, 176, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 160, 176, yp);
    {
      const g0 = q23Quants(q3, w, 1, 2, 0, m3, m04), g1 = q23Quants(q3, w, 1, 2, 1, m3, m04);
      const sa = scSplat(lh, 4), sb = scSplat(lh, 5);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 192, 208, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 192, 208, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 192, 208, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 192, 208, yp);
    {
      const g0 = q23Quants(q3, w, 1, 3, 0, m3, m04), g1 = q23Quants(q3, w, 1, 3, 1, m3, m04);
      const sa = scSplat(lh, 6), sb = scSplat(lh, 7);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 224, 240, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 224, 240, yp);
    s2 = tokK(s2, p0, p1, p2, p3, false, q2, 224, 240, yp);
    s3 = tokK(s3, p0, p1, p2, p3, false, q3p, 224, 240, yp);
    const bo = <usize>s << 5, dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    if (q3) {
      const corr = isum4x4(q3Corr(c, b0 + bo), q3Corr(c, b1 + bo), q3Corr(c, b2 + bo), q3Corr(c, b3 + bo));
      const dw = f64x2.extract_lane(h2f2(v128.load16_splat(w, 108)), 0);
      const si = i32x4.sub(isum4x4(s0, s1, s2, s3), corr);
      accLo = madd2(accLo, si, dw, da, 0);
      accHi = madd2(accHi, si, dw, da, 1);
    } else {
      const mn = q2Mins(w, m4);
      const mLo = i16x8.extend_low_i8x16_u(mn), mHi = i16x8.extend_high_i8x16_u(mn);
      const sm = isum4x4(bsumDot(mLo, mHi, b0 + bo), bsumDot(mLo, mHi, b1 + bo), bsumDot(mLo, mHi, b2 + bo),
                         bsumDot(mLo, mHi, b3 + bo));
      const dd = h2f2(v128.load32_zero(w, 80));
      const dw = f64x2.extract_lane(dd, 0), dmin = f64x2.extract_lane(dd, 1);
      const si = isum4x4(s0, s1, s2, s3);
      accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
      accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    }
    w += q3 ? 110 : 84;
    q0 += QS;
    q1 += QS;
    q2 += QS;
    q3p += QS;
  }
  return demote4(accLo, accHi);
}




// ---------------------------------------------------------------- kernels per type (the generic ones inlined)

function k1Q2K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k4Q2K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q23(false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k1Q3K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q2KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23R(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q3KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23R(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k4Q3K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q23(true, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}

// ---------------------------------------------------------------- entries for weights/index.ts

// one token (act planes q, d, bsums e), rows w0 and w1 (w1 = w0, y1 = y0: one row) -> y0, y1
// @ts-ignore: decorator
@inline export function q23Dec(type: i32, w0: usize, w1: usize, q: usize, d: usize, e: usize, nIn: i32, y0: usize, y1: usize): void {
  const ns = nIn >> 8;
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (type == GGML_Q2_K) k1Q2KR(w0, w1, q, d, e, ns, y0, y1);
    else k1Q3KR(w0, w1, q, d, e, ns, y0, y1);
  } else {
    if (type == GGML_Q2_K) k1Q2K(w0, w1, q, d, e, ns, y0, y1);
    else k1Q3K(w0, w1, q, d, e, ns, y0, y1);
  }
}

// one row, 4 tokens -> [y(t0), .., y(t3)]; yp: the row's output for the first token (a fence target)
// @ts-ignore: decorator
@inline export function q23Tile(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize,
                            d2: usize, d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32, yp: usize): v128 {
  const ns = nIn >> 8;
  if (type == GGML_Q2_K) return k4Q2K(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, ns, yp);
  return k4Q3K(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, ns, yp);
}

// ---------------------------------------------------------------- scalar twin, rows

// weight i (0..255) of the Q2_K (0..3) or Q3_K (0..7, the value is q − 4) block at b
// @ts-ignore: decorator
@inline function q23Quant(type: i32, b: usize, i: i32): i32 {
  const n = i >> 7, r = i & 127, j = r >> 5, l = r & 31;   // half, shift step, byte
  if (type == GGML_Q2_K) return (<i32>load<u8>(b + 16 + <usize>(32 * n + l)) >> (2 * j)) & 3;
  const low = (<i32>load<u8>(b + 32 + <usize>(32 * n + l)) >> (2 * j)) & 3;
  const high = (<i32>load<u8>(b + <usize>l) >> (4 * n + j)) & 1;
  return low | (high << 2);
}

// Q3_K: 6-bit scale k (−32..31): low 4 bits from byte k%8 (nibble k/8), high 2 bits from byte 8 + k%4 (bits 2·(k/4))
// @ts-ignore: decorator
@inline function q3Scale(b: usize, k: i32): i32 {
  const lo4 = (<i32>load<u8>(b + 96 + <usize>(k & 7)) >> ((k >> 3) << 2)) & 15;
  const hi2 = (<i32>load<u8>(b + 104 + <usize>(k & 3)) >> ((k >> 2) << 1)) & 3;
  return (lo4 | (hi2 << 4)) - 32;
}

/** acc after super-block b (act quants qs, bsums bs, scale da): the same integers and f64 steps as the kernels. */
// @ts-ignore: decorator
@inline export function q23RefBlock(type: i32, b: usize, qs: usize, bs: usize, da: f32, acc: f64): f64 {
  let sumi = 0;
  if (type == GGML_Q3_K) {
    for (let i = 0; i < 256; i++) sumi += q3Scale(b, i >> 4) * (q23Quant(type, b, i) - 4) * loadQa(qs, i);
    return acc + <f64>sumi * (<f64>h2f(<i32>load<u16>(b, 108)) * <f64>da);
  }
  let summ = 0;
  for (let i = 0; i < 256; i++) sumi += (<i32>load<u8>(b + <usize>(i >> 4)) & 15) * q23Quant(type, b, i) * loadQa(qs, i);
  for (let k = 0; k < 16; k++) summ += (<i32>load<u8>(b + <usize>k) >> 4) * <i32>load<i16>(bs + (<usize>k << 1));
  acc = acc + <f64>sumi * (<f64>h2f(<i32>load<u16>(b, 80)) * <f64>da);
  return acc - <f64>summ * (<f64>h2f(<i32>load<u16>(b, 82)) * <f64>da);
}

/** Dequantizes n values (a multiple of 256) of Q2_K or Q3_K at src into f32 at dst (the reference's f32 steps). */
export function q23Row(type: i32, src: usize, dst: usize, n: i32): void {
  for (let s = 0; s < n >> 8; s++) {
    if (type == GGML_Q3_K) {
      const d = h2f(<i32>load<u16>(src, 108));
      for (let i = 0; i < 256; i++) {
        const dl: f32 = d * <f32>q3Scale(src, i >> 4);
        store<f32>(dst + (<usize>i << 2), dl * <f32>(q23Quant(type, src, i) - 4));
      }
      src += 110;
    } else {
      const d = h2f(<i32>load<u16>(src, 80)), dmin = h2f(<i32>load<u16>(src, 82));
      for (let i = 0; i < 256; i++) {
        const sc = <i32>load<u8>(src + <usize>(i >> 4));
        const dl: f32 = d * <f32>(sc & 15), ml: f32 = dmin * <f32>(sc >> 4);
        store<f32>(dst + (<usize>i << 2), dl * <f32>q23Quant(type, src, i) - ml);
      }
      src += 84;
    }
    dst += 1024;
  }
}
