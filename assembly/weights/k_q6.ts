// Q6_K weights (super-blocks of 256: 4 low bits in ql, 2 high bits in qh, an i8 scale per 16): matmul
// kernels, row dequantization (get_rows) and scalar twin. The K-quant scheme, layouts and the V8 notes:
// k_common.ts.
import { h2f } from "../ops/f16";
import { loadQa } from "./act";
import { KC, KC_M4, KC_M30, isum4x4, load4f, fence } from "./common";
import {
  QS, h2f2, halves2, madd2, demote4, bsumDot, dot16v, scale2, scSplat, rows2, hsumRows, prepK, tokK, step, rd,
  scale2R,
} from "./k_common";

// ================================================================ Q6_K
// Half n (128 weights) has ql[64n .. 64n + 63], qh[32n .. 32n + 31] and 8 scales (i8, per 16 weights). Its
// group k of 16 weights (k = e + 2g + 4h; e, g, h in {0, 1}) takes its low 4 bits from the low (h = 0) or high
// (h = 1) nibbles of ql[64n + 32g + 16e ..] and its high 2 bits from bits 2(2h + g), 2(2h + g) + 1 of
// qh[32n + 16e ..]. Quants unsigned (0..63): Σ sc·Σ(q − 32)·a = Σ sc·Σq·a − 32·Σ sc·bsum.

// group e + 2g + 4h of a half from ql = ql[64n + 32g + 16e ..] and qh = qh[32n + 16e ..] (bytes, < 64). The
// qh shifts (left 4 or 2, right 2) move bits across a byte boundary only into bits 0..1 or 6..7, outside the
// mask (bits 4, 5).
// @ts-ignore: decorator
@inline function q6Group(ql: v128, qh: v128, h: i32, g: i32, m4: v128, m30: v128): v128 {
  const t = 2 * h + g;
  const hi = t == 0 ? i16x8.shl(qh, 4) : t == 1 ? i16x8.shl(qh, 2) : t == 2 ? qh : i16x8.shr_u(qh, 2);
  return v128.or(v128.and(h ? i16x8.shr_u(ql, 4) : ql, m4), v128.and(hi, m30));
}

// ql of group e + 2g + 4h of half n of the block at w; its qh
// @ts-ignore: decorator
@inline function q6ql(w: usize, n: i32, e: i32, g: i32): v128 { return v128.load(w + <usize>(64 * n + 32 * g + 16 * e)); }
// @ts-ignore: decorator
@inline function q6qh(w: usize, n: i32, e: i32): v128 { return v128.load(w + <usize>(128 + 32 * n + 16 * e)); }

// sc_k·Σ q·a + sc_{k+2}·Σ q·a for the groups k = e + 4h and k + 2 of half n (block at w), with act a0, a1 and
// a2, a3 (i16) and l = the half's 8 scales (i16). A lane adds 4 products q·a ≤ 63·128: below 2^15 (scale2).
// @ts-ignore: decorator
@inline function q6Pair(w: usize, n: i32, h: i32, e: i32, m4: v128, m30: v128, a0: v128, a1: v128, a2: v128,
                        a3: v128, l: v128): v128 {
  const qh = q6qh(w, n, e);
  const s0 = dot16v(q6Group(q6ql(w, n, e, 0), qh, h, 0, m4, m30), a0, a1);
  const s1 = dot16v(q6Group(q6ql(w, n, e, 1), qh, h, 1, m4, m30), a2, a3);
  const sc = h ? v128.shuffle<i16>(l, l, 4, 4, 5, 5, 6, 6, 7, 7) : v128.shuffle<i16>(l, l, 0, 0, 1, 1, 2, 2, 3, 3);
  return scale2(s0, s1, e ? v128.shuffle<u32>(sc, sc, 1, 1, 3, 3) : v128.shuffle<u32>(sc, sc, 0, 0, 2, 2));
}

// 32·Σ sc·bsum (i32x4 partials) for the 16 scales c (i8x16) and the bsums at bs
// @ts-ignore: decorator
@inline function q6Corr(c: v128, bs: usize): v128 {
  return i32x4.shl(bsumDot(i16x8.extend_low_i8x16_s(c), i16x8.extend_high_i8x16_s(c), bs), 5);
}

// 32 weights of two rows (blocks at w0, w1: scales c0, c1) against one token's act q, as rows2 partials of
// Σ sc·Σq·a: pair i = 4n + 2h + x of half n. Plain build: groups k = x + 4h and k + 2 (sharing their qh
// bytes; q6Pair); relaxed: groups k = 2x + 4h and k + 1 (adjacent scales, for scale2R).
// @ts-ignore: decorator
@inline function q6Rows(w0: usize, w1: usize, c0: v128, c1: v128, i: i32, q: usize, m4: v128, m30: v128): v128 {
  const n = i >> 2, h = (i >> 1) & 1, x = i & 1;
  const l0 = n ? i16x8.extend_high_i8x16_s(c0) : i16x8.extend_low_i8x16_s(c0);   // the half's 8 scales (i16)
  const l1 = n ? i16x8.extend_high_i8x16_s(c1) : i16x8.extend_low_i8x16_s(c1);
  if (ASC_FEATURE_RELAXED_SIMD) {
    const o = 128 * n + 64 * h + 32 * x;
    const a0 = v128.load(q + <usize>o), a1 = v128.load(q + <usize>(o + 16));
    return rows2(q6PairR(w0, n, h, x, a0, a1, l0, m4, m30), q6PairR(w1, n, h, x, a0, a1, l1, m4, m30));
  }
  const o = 256 * n + 128 * h + 32 * x;
  const a0 = v128.load(q + <usize>o), a1 = v128.load(q + <usize>(o + 16));
  const a2 = v128.load(q + <usize>(o + 64)), a3 = v128.load(q + <usize>(o + 80));
  return rows2(q6Pair(w0, n, h, x, m4, m30, a0, a1, a2, a3, l0), q6Pair(w1, n, h, x, m4, m30, a0, a1, a2, a3, l1));
}

// relaxed: sc_{2p}·Σ q·a + sc_{2p+1}·Σ q·a for the groups 2p, 2p + 1 (p = 2h + g) of half n (block at w), act
// a0, a1 (i8), l = the half's 8 scales (i16)
// @ts-ignore: decorator
@inline function q6PairR(w: usize, n: i32, h: i32, g: i32, a0: v128, a1: v128, l: v128, m4: v128, m30: v128): v128 {
  return scale2R(rd(a0, q6Group(q6ql(w, n, 0, g), q6qh(w, n, 0), h, g, m4, m30)),
                 rd(a1, q6Group(q6ql(w, n, 1, g), q6qh(w, n, 1), h, g, m4, m30)), l, 2 * h + g);
}

// One token, two rows (w1 = w0, y1 = y0: one row): see k1Q45 (k_q45.ts)
function k1Q6K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m30 = v128.load(KC, KC_M30);
  for (let s = 0; s < ns; s++) {
    const c0 = v128.load(w0, 192), c1 = v128.load(w1, 192);
    let si = q6Rows(w0, w1, c0, c1, 0, q, m4, m30);
    fence(y0, si);
    si = step(si, q6Rows(w0, w1, c0, c1, 1, q, m4, m30), y0);
    si = step(si, q6Rows(w0, w1, c0, c1, 2, q, m4, m30), y0);
    si = step(si, q6Rows(w0, w1, c0, c1, 3, q, m4, m30), y0);
    si = step(si, q6Rows(w0, w1, c0, c1, 4, q, m4, m30), y0);
    si = step(si, q6Rows(w0, w1, c0, c1, 5, q, m4, m30), y0);
    si = step(si, q6Rows(w0, w1, c0, c1, 6, q, m4, m30), y0);
    si = step(si, q6Rows(w0, w1, c0, c1, 7, q, m4, m30), y0);
    si = i32x4.sub(si, rows2(q6Corr(c0, bs), q6Corr(c1, bs)));
    const p = f64x2.mul(hsumRows(si), f64x2.mul(h2f2(halves2(w0 + 208, w1 + 208)), f64x2.splat(<f64>load<f32>(d))));
    acc0 += f64x2.extract_lane(p, 0);
    acc1 += f64x2.extract_lane(p, 1);
    w0 += 210;
    w1 += 210;
    q += QS;
    d += 4;
    bs += 32;
  }
  store<f32>(y0, <f32>acc0);
  store<f32>(y1, <f32>acc1);
}

// Four tokens (lanes), one row: see k4Q45 (k_q45.ts). The groups k and k + 2 share their qh bytes.
// two: only the first two tokens (lanes 2 and 3 are not computed).
// @ts-ignore: decorator
@inline function k4Q6(two: bool, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m30 = v128.load(KC, KC_M30);
  for (let s = 0; s < ns; s++) {
    const c = v128.load(w, 192);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let p0: v128, p1: v128, p2: v128, p3: v128;
    const ll = i16x8.extend_low_i8x16_s(c), lh = i16x8.extend_high_i8x16_s(c);     // scales 0..7, 8..15 (i16)
    {
      const qh = q6qh(w, 0, 0);
      const g0 = q6Group(q6ql(w, 0, 0, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 0, 1), qh, 0, 1, m4, m30);
      const sa = scSplat(ll, 0), sb = scSplat(ll, 2);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 0, 32, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 0, 32, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 0, 32, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 0, 32, yp);
    {
      const qh = q6qh(w, 0, 1);
      const g0 = q6Group(q6ql(w, 0, 1, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 1, 1), qh, 0, 1, m4, m30);
      const sa = scSplat(ll, 1), sb = scSplat(ll, 3);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 16, 48, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 16, 48, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 16, 48, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 16, 48, yp);
    {
      const qh = q6qh(w, 0, 0);
      const g0 = q6Group(q6ql(w, 0, 0, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 0, 1), qh, 1, 1, m4, m30);
      const sa = scSplat(ll, 4), sb = scSplat(ll, 6);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 64, 96, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 64, 96, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 64, 96, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 64, 96, yp);
    {
      const qh = q6qh(w, 0, 1);
      const g0 = q6Group(q6ql(w, 0, 1, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 1, 1), qh, 1, 1, m4, m30);
      const sa = scSplat(ll, 5), sb = scSplat(ll, 7);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 80, 112, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 80, 112, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 80, 112, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 80, 112, yp);
    {
      const qh = q6qh(w, 1, 0);
      const g0 = q6Group(q6ql(w, 1, 0, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 0, 1), qh, 0, 1, m4, m30);
      const sa = scSplat(lh, 0), sb = scSplat(lh, 2);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 128, 160, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 128, 160, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 128, 160, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 128, 160, yp);
    {
      const qh = q6qh(w, 1, 1);
      const g0 = q6Group(q6ql(w, 1, 1, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 1, 1), qh, 0, 1, m4, m30);
      const sa = scSplat(lh, 1), sb = scSplat(lh, 3);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 144, 176, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 144, 176, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 144, 176, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 144, 176, yp);
    {
      const qh = q6qh(w, 1, 0);
      const g0 = q6Group(q6ql(w, 1, 0, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 0, 1), qh, 1, 1, m4, m30);
      const sa = scSplat(lh, 4), sb = scSplat(lh, 6);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 192, 224, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 192, 224, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 192, 224, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 192, 224, yp);
    {
      const qh = q6qh(w, 1, 1);
      const g0 = q6Group(q6ql(w, 1, 1, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 1, 1), qh, 1, 1, m4, m30);
      const sa = scSplat(lh, 5), sb = scSplat(lh, 7);
      p0 = prepK(g0, sa, 0); p1 = prepK(g0, sa, 1); p2 = prepK(g1, sb, 0); p3 = prepK(g1, sb, 1);
    }
    s0 = tokK(s0, p0, p1, p2, p3, false, q0, 208, 240, yp);
    s1 = tokK(s1, p0, p1, p2, p3, false, q1, 208, 240, yp);
    if (!two) s2 = tokK(s2, p0, p1, p2, p3, false, q2, 208, 240, yp);
    if (!two) s3 = tokK(s3, p0, p1, p2, p3, false, q3, 208, 240, yp);
    const bo = <usize>s << 5;
    const corr = isum4x4(q6Corr(c, b0 + bo), q6Corr(c, b1 + bo), q6Corr(c, b2 + bo), q6Corr(c, b3 + bo));
    const dof = <usize>s << 2;
    const dw = f64x2.extract_lane(h2f2(v128.load16_splat(w, 208)), 0);
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const si = i32x4.sub(isum4x4(s0, s1, s2, s3), corr);
    accLo = madd2(accLo, si, dw, da, 0);
    accHi = madd2(accHi, si, dw, da, 1);
    w += 210;
    q0 += QS;
    q1 += QS;
    q2 += QS;
    q3 += QS;
  }
  return demote4(accLo, accHi);
}


// ---------------------------------------------------------------- entries for weights/index.ts

// one token (act planes q, d, bsums e), rows w0 and w1 (w1 = w0, y1 = y0: one row) -> y0, y1
// @ts-ignore: decorator
@inline export function q6Dec(type: i32, w0: usize, w1: usize, q: usize, d: usize, e: usize, nIn: i32, y0: usize, y1: usize): void {
  const ns = nIn >> 8;
  k1Q6K(w0, w1, q, d, e, ns, y0, y1);
}

function k4Q6K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q6(false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k2Q6K(w: usize, q0: usize, q1: usize, d0: usize, d1: usize, b0: usize, b1: usize, ns: i32, yp: usize): v128 {
  return k4Q6(true, w, q0, q1, q1, q1, d0, d1, d1, d1, b0, b1, b1, b1, ns, yp);
}

// one row, nt tokens (2..4) -> [y(t0), .., y(t3)]; yp: the row's output for the first token (a fence target)
// @ts-ignore: decorator
@inline export function q6Tile(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize,
                            d2: usize, d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32, yp: usize, nt: i32): v128 {
  const ns = nIn >> 8;
  if (nt == 2) return k2Q6K(w, q0, q1, d0, d1, e0, e1, ns, yp);
  return k4Q6K(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, ns, yp);
}

// ---------------------------------------------------------------- scalar twin, rows

// weight i (0..255) of the block at b, unsigned (0..63; the value is q − 32)
// @ts-ignore: decorator
@inline function q6Quant(b: usize, i: i32): i32 {
  const n = i >> 7, r = i & 127, g = r >> 5, l = r & 31;   // half, quarter, lane
  const lb = <i32>load<u8>(b + <usize>(64 * n + l + ((g & 1) << 5)));
  const hb = <i32>load<u8>(b + 128 + <usize>(32 * n + l));
  return (g < 2 ? lb & 15 : lb >> 4) | (((hb >> (2 * g)) & 3) << 4);
}

/** acc after super-block b (act quants qs, scale da): the same integers and f64 steps as the kernels. */
// @ts-ignore: decorator
@inline export function q6RefBlock(b: usize, qs: usize, da: f32, acc: f64): f64 {
  const dw = h2f(<i32>load<u16>(b, 208));
  let sumi = 0;
  for (let i = 0; i < 256; i++) sumi += <i32>load<i8>(b + 192 + <usize>(i >> 4)) * (q6Quant(b, i) - 32) * loadQa(qs, i);
  return acc + <f64>sumi * (<f64>dw * <f64>da);
}

/** Dequantizes n values (a multiple of 256) of Q6_K at src into f32 at dst (the reference's f32 steps). */
export function q6Row(src: usize, dst: usize, n: i32): void {
  for (let s = 0; s < n >> 8; s++) {
    const d = h2f(<i32>load<u16>(src, 208));
    for (let i = 0; i < 256; i++) {
      const dl: f32 = d * <f32>load<i8>(src + 192 + <usize>(i >> 4));
      store<f32>(dst + (<usize>i << 2), dl * <f32>(q6Quant(src, i) - 32));
    }
    src += 210;
    dst += 1024;
  }
}
