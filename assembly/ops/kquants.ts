// K-quants (super-blocks of 256 weights): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
//   - rows: dequantization of one row (get_rows), the reference's f32 formulas step by step
//   - matmul against the Q8_K act (quant.ts): integer dot products, then per super-block and token, in f64
//     where both products are exact (i32 · fp16 · f32 < 2^53):
//       acc = acc + f64(Σ_j sc_j·Σ q_w·q_a) · (f64(d_w)·f64(d_a))        [Q2_K, Q4_K, Q5_K also:]
//       acc = acc − f64(Σ_j m_j·bsum_j) · (f64(dmin_w)·f64(d_a))
//     y = f32(acc): the dot product of the quantized operands, rounded once (the reference's own f32 sums
//     are within their rounding of it). Same steps in the 1-token kernel, the 4-token kernel (lanes =
//     tokens) and the scalar twin, so the three agree bit for bit and a token's result does not depend on
//     the tile it falls in.
//
// Block layouts (little endian, d/dmin fp16), weights in element order:
//   Q2_K  84 B: scales[16] (lo nibble scale, hi nibble min, per 16), qs[64] (2 bits), d, dmin
//   Q3_K 110 B: hmask[32], qs[64] (2 low bits), scales[12] (16 × 6 bits, −32), d
//   Q4_K 144 B: d, dmin, scales[12] (8 scales + 8 mins, 6 bits, per 32), qs[128] (4 bits)
//   Q5_K 176 B: d, dmin, scales[12] (as Q4_K), qh[32] (5th bit), qs[128]
//   Q6_K 210 B: ql[128] (4 low bits), qh[64] (2 high bits), scales[16] (i8, per 16), d
import { GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K } from "../../src/engine/abi";
import { h2f, h2fFast } from "./f16";
import { QA_SHIFT, loadQa, actQaRow, actQ8KD, actQ8KSums } from "./quant";

const BLOCK_BYTES: usize = 65536;

/** Bytes per super-block of 256 (0: not a K-quant). */
// @ts-ignore: decorator
@inline export function kBlockBytes(type: i32): usize {
  if (type == GGML_Q4_K) return 144;
  if (type == GGML_Q6_K) return 210;
  if (type == GGML_Q5_K) return 176;
  if (type == GGML_Q2_K) return 84;
  if (type == GGML_Q3_K) return 110;
  return 0;
}

// ---------------------------------------------------------------- scale unpacking

// Q4_K/Q5_K: the 12 scale bytes at p -> 8 six-bit scales (bytes of sc03, sc47) and mins (mn03, mn47)
// @ts-ignore: decorator
@inline function k4sc03(a0: u32): u32 { return a0 & 0x3f3f3f3f; }
// @ts-ignore: decorator
@inline function k4mn03(a1: u32): u32 { return a1 & 0x3f3f3f3f; }
// @ts-ignore: decorator
@inline function k4sc47(a0: u32, a2: u32): u32 { return (a2 & 0x0f0f0f0f) | ((a0 >> 2) & 0x30303030); }
// @ts-ignore: decorator
@inline function k4mn47(a1: u32, a2: u32): u32 { return ((a2 >> 4) & 0x0f0f0f0f) | ((a1 >> 2) & 0x30303030); }

// Q3_K: the 12 scale bytes -> 16 six-bit values (biased by 32), 4 per u32
// @ts-ignore: decorator
@inline function k3s(a0: u32, a1: u32, a2: u32, i: i32): u32 {
  if (i == 0) return (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4);
  if (i == 1) return (a1 & 0x0f0f0f0f) | (((a2 >> 2) & 0x03030303) << 4);
  if (i == 2) return ((a0 >> 4) & 0x0f0f0f0f) | (((a2 >> 4) & 0x03030303) << 4);
  return ((a1 >> 4) & 0x0f0f0f0f) | (((a2 >> 6) & 0x03030303) << 4);
}

// ---------------------------------------------------------------- integer helpers

// @ts-ignore: decorator
@inline function isum4(v: v128): i32 {
  const s = i32x4.add(v, v128.shuffle<i32>(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

// [Σa0, Σa1, Σa2, Σa3] (i32)
// @ts-ignore: decorator
@inline function isum4x4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = i32x4.add(v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), v128.shuffle<i32>(a0, a1, 2, 6, 3, 7));
  const s23 = i32x4.add(v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), v128.shuffle<i32>(a2, a3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(s01, s23, 0, 1, 4, 5), v128.shuffle<i32>(s01, s23, 2, 3, 6, 7));
}

// i32x4 partial sums of 16 weights (w0, w1: i16x8) times 16 act quants (i16) at a
// @ts-ignore: decorator
@inline function dot16(w0: v128, w1: v128, a: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a, 0)), i32x4.dot_i16x8_s(w1, v128.load(a, 16)));
}

// the same for 16 weights given as i8x16 (signed), scaled by the i16 splat sc
// @ts-ignore: decorator
@inline function wLo(v: v128, sc: v128): v128 { return i16x8.mul(i16x8.extend_low_i8x16_s(v), sc); }
// @ts-ignore: decorator
@inline function wHi(v: v128, sc: v128): v128 { return i16x8.mul(i16x8.extend_high_i8x16_s(v), sc); }

// [da0, da1, da2, da3]
// @ts-ignore: decorator
@inline function load4f(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(p0)), 1, load<f32>(p1)), 2,
    load<f32>(p2)), 3, load<f32>(p3));
}

// acc (f64x2, tokens 2h, 2h+1) ± f64(si)·(d·f64(da)) for lanes 2h, 2h+1 of si (i32x4) and da (f32x4)
// @ts-ignore: decorator
@inline function half(v: v128, h: i32): v128 { return h == 0 ? v : v128.shuffle<i32>(v, v, 2, 3, 2, 3); }
// @ts-ignore: decorator
@inline function madd2(acc: v128, si: v128, d: f64, da: v128, h: i32): v128 {
  return f64x2.add(acc, f64x2.mul(f64x2.convert_low_i32x4_s(half(si, h)),
                                  f64x2.mul(f64x2.splat(d), f64x2.promote_low_f32x4(half(da, h)))));
}
// @ts-ignore: decorator
@inline function msub2(acc: v128, si: v128, d: f64, da: v128, h: i32): v128 {
  return f64x2.sub(acc, f64x2.mul(f64x2.convert_low_i32x4_s(half(si, h)),
                                  f64x2.mul(f64x2.splat(d), f64x2.promote_low_f32x4(half(da, h)))));
}
// [f32(lo0), f32(lo1), f32(hi0), f32(hi1)]
// @ts-ignore: decorator
@inline function demote4(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

// the act pointers of a token: q row, d row, bsums row (advanced per super-block by the kernels)
// Q plane bytes per super-block
// @ts-ignore: decorator
@inline const QS: usize = <usize>256 << QA_SHIFT;

// ================================================================ Q4_K

// mins · bsums (pairs of 16-sums = the 32-sums) for one token: i32x4 partials
// @ts-ignore: decorator
@inline function minDot8(mLo: v128, mHi: v128, bs: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(mLo, v128.load(bs, 0)), i32x4.dot_i16x8_s(mHi, v128.load(bs, 16)));
}

function k1Q4K(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  const mask = i8x16.splat(0x0f);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let si = i32x4.splat(0);
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 16 + (<usize>p << 5), 0), x1 = v128.load(w + 16 + (<usize>p << 5), 16);
      const ap = q + (<usize>p << 7);
      const lo0 = v128.and(x0, mask), lo1 = v128.and(x1, mask);
      const hi0 = i8x16.shr_u(x0, 4), hi1 = i8x16.shr_u(x1, 4);
      // one sub-block's sum, then its scale (post-multiplied: 1 i32 mul instead of 4 i16 muls)
      const sl = i32x4.add(dot16(i16x8.extend_low_i8x16_u(lo0), i16x8.extend_high_i8x16_u(lo0), ap),
                           dot16(i16x8.extend_low_i8x16_u(lo1), i16x8.extend_high_i8x16_u(lo1), ap + 32));
      const sh2 = i32x4.add(dot16(i16x8.extend_low_i8x16_u(hi0), i16x8.extend_high_i8x16_u(hi0), ap + 64),
                            dot16(i16x8.extend_low_i8x16_u(hi1), i16x8.extend_high_i8x16_u(hi1), ap + 96));
      si = i32x4.add(si, i32x4.add(i32x4.mul(sl, i32x4.splat((sw >> sh) & 0xff)), i32x4.mul(sh2, i32x4.splat((sw >> (sh + 8)) & 0xff))));
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const sm = minDot8(mLo, mHi, bs);
    const da = load<f32>(d);
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w)) * <f64>da);
    acc = acc - <f64>isum4(sm) * (<f64>h2fFast(<i32>load<u16>(w, 2)) * <f64>da);
    w += 144;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q4K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const mask = i8x16.splat(0x0f);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s * QS;
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 16 + (<usize>p << 5), 0), x1 = v128.load(w + 16 + (<usize>p << 5), 16);
      const ap = qo + (<usize>p << 7);
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff));
      const lo0 = v128.and(x0, mask), lo1 = v128.and(x1, mask);
      let u0 = wLo(lo0, vl), u1 = wHi(lo0, vl), u2 = wLo(lo1, vl), u3 = wHi(lo1, vl);
      s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap), dot16(u2, u3, q0 + ap + 32)));
      s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap), dot16(u2, u3, q1 + ap + 32)));
      s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap), dot16(u2, u3, q2 + ap + 32)));
      s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap), dot16(u2, u3, q3 + ap + 32)));
      const vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      const hi0 = i8x16.shr_u(x0, 4), hi1 = i8x16.shr_u(x1, 4);
      u0 = wLo(hi0, vh); u1 = wHi(hi0, vh); u2 = wLo(hi1, vh); u3 = wHi(hi1, vh);
      s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 64), dot16(u2, u3, q0 + ap + 96)));
      s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 64), dot16(u2, u3, q1 + ap + 96)));
      s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 64), dot16(u2, u3, q2 + ap + 96)));
      s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 64), dot16(u2, u3, q3 + ap + 96)));
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const bo = <usize>s << 5;
    const sm = isum4x4(minDot8(mLo, mHi, b0 + bo), minDot8(mLo, mHi, b1 + bo),
                       minDot8(mLo, mHi, b2 + bo), minDot8(mLo, mHi, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dw: f64 = h2fFast(<i32>load<u16>(w)), dmin: f64 = h2fFast(<i32>load<u16>(w, 2));
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += 144;
  }
  return demote4(accLo, accHi);
}

// ================================================================ Q5_K

function k1Q5K(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  const mask = i8x16.splat(0x0f), bit4 = i8x16.splat(0x10);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let h0 = v128.load(w, 16), h1 = v128.load(w, 32);
    let si = i32x4.splat(0);
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 48 + (<usize>p << 5), 0), x1 = v128.load(w + 48 + (<usize>p << 5), 16);
      const ap = q + (<usize>p << 7);
      const lo0 = v128.or(v128.and(x0, mask), v128.and(i8x16.shl(h0, 4), bit4));
      const lo1 = v128.or(v128.and(x1, mask), v128.and(i8x16.shl(h1, 4), bit4));
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff));
      si = i32x4.add(si, dot16(wLo(lo0, vl), wHi(lo0, vl), ap));
      si = i32x4.add(si, dot16(wLo(lo1, vl), wHi(lo1, vl), ap + 32));
      const hi0 = v128.or(i8x16.shr_u(x0, 4), v128.and(i8x16.shl(h0, 3), bit4));
      const hi1 = v128.or(i8x16.shr_u(x1, 4), v128.and(i8x16.shl(h1, 3), bit4));
      const vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      si = i32x4.add(si, dot16(wLo(hi0, vh), wHi(hi0, vh), ap + 64));
      si = i32x4.add(si, dot16(wLo(hi1, vh), wHi(hi1, vh), ap + 96));
      h0 = i8x16.shr_u(h0, 2);
      h1 = i8x16.shr_u(h1, 2);
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const sm = minDot8(mLo, mHi, bs);
    const da = load<f32>(d);
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w)) * <f64>da);
    acc = acc - <f64>isum4(sm) * (<f64>h2fFast(<i32>load<u16>(w, 2)) * <f64>da);
    w += 176;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q5K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const mask = i8x16.splat(0x0f), bit4 = i8x16.splat(0x10);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let h0 = v128.load(w, 16), h1 = v128.load(w, 32);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s * QS;
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 48 + (<usize>p << 5), 0), x1 = v128.load(w + 48 + (<usize>p << 5), 16);
      const ap = qo + (<usize>p << 7);
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff));
      const lo0 = v128.or(v128.and(x0, mask), v128.and(i8x16.shl(h0, 4), bit4));
      const lo1 = v128.or(v128.and(x1, mask), v128.and(i8x16.shl(h1, 4), bit4));
      let u0 = wLo(lo0, vl), u1 = wHi(lo0, vl), u2 = wLo(lo1, vl), u3 = wHi(lo1, vl);
      s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap), dot16(u2, u3, q0 + ap + 32)));
      s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap), dot16(u2, u3, q1 + ap + 32)));
      s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap), dot16(u2, u3, q2 + ap + 32)));
      s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap), dot16(u2, u3, q3 + ap + 32)));
      const vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      const hi0 = v128.or(i8x16.shr_u(x0, 4), v128.and(i8x16.shl(h0, 3), bit4));
      const hi1 = v128.or(i8x16.shr_u(x1, 4), v128.and(i8x16.shl(h1, 3), bit4));
      u0 = wLo(hi0, vh); u1 = wHi(hi0, vh); u2 = wLo(hi1, vh); u3 = wHi(hi1, vh);
      s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 64), dot16(u2, u3, q0 + ap + 96)));
      s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 64), dot16(u2, u3, q1 + ap + 96)));
      s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 64), dot16(u2, u3, q2 + ap + 96)));
      s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 64), dot16(u2, u3, q3 + ap + 96)));
      h0 = i8x16.shr_u(h0, 2);
      h1 = i8x16.shr_u(h1, 2);
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const bo = <usize>s << 5;
    const sm = isum4x4(minDot8(mLo, mHi, b0 + bo), minDot8(mLo, mHi, b1 + bo),
                       minDot8(mLo, mHi, b2 + bo), minDot8(mLo, mHi, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dw: f64 = h2fFast(<i32>load<u16>(w)), dmin: f64 = h2fFast(<i32>load<u16>(w, 2));
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += 176;
  }
  return demote4(accLo, accHi);
}

// ================================================================ Q6_K

// the 8 groups of 16 weights of one half (128 weights), as signed i8 (q − 32), group k in element order
// ql0..ql3: ql[0..63] of the half, qh0/qh1: qh[0..31] of the half
// @ts-ignore: decorator
@inline function q6g(k: i32, ql0: v128, ql1: v128, ql2: v128, ql3: v128, qh0: v128, qh1: v128): v128 {
  const m4 = i8x16.splat(0x0f), m30 = i8x16.splat(0x30);
  let v: v128;
  if (k == 0) v = v128.or(v128.and(ql0, m4), v128.and(i8x16.shl(qh0, 4), m30));
  else if (k == 1) v = v128.or(v128.and(ql1, m4), v128.and(i8x16.shl(qh1, 4), m30));
  else if (k == 2) v = v128.or(v128.and(ql2, m4), v128.and(i8x16.shl(qh0, 2), m30));
  else if (k == 3) v = v128.or(v128.and(ql3, m4), v128.and(i8x16.shl(qh1, 2), m30));
  else if (k == 4) v = v128.or(i8x16.shr_u(ql0, 4), v128.and(qh0, m30));
  else if (k == 5) v = v128.or(i8x16.shr_u(ql1, 4), v128.and(qh1, m30));
  else if (k == 6) v = v128.or(i8x16.shr_u(ql2, 4), v128.and(i8x16.shr_u(qh0, 2), m30));
  else v = v128.or(i8x16.shr_u(ql3, 4), v128.and(i8x16.shr_u(qh1, 2), m30));
  return i8x16.sub(v, i8x16.splat(32));
}

function k1Q6K(w: usize, q: usize, d: usize, ns: i32): f32 {
  let acc: f64 = 0;
  for (let s = 0; s < ns; s++) {
    let si = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const l = w + (<usize>n << 6), h = w + 128 + (<usize>n << 5), sc = w + 192 + (<usize>n << 3);
      const ql0 = v128.load(l, 0), ql1 = v128.load(l, 16), ql2 = v128.load(l, 32), ql3 = v128.load(l, 48);
      const qh0 = v128.load(h, 0), qh1 = v128.load(h, 16);
      const ap = q + (<usize>n << 8);
      const v0 = q6g(0, ql0, ql1, ql2, ql3, qh0, qh1);
      const c0 = i16x8.splat(<i16>load<i8>(sc, 0));
      si = i32x4.add(si, dot16(wLo(v0, c0), wHi(v0, c0), ap + 0));
      const v1 = q6g(1, ql0, ql1, ql2, ql3, qh0, qh1);
      const c1 = i16x8.splat(<i16>load<i8>(sc, 1));
      si = i32x4.add(si, dot16(wLo(v1, c1), wHi(v1, c1), ap + 32));
      const v2 = q6g(2, ql0, ql1, ql2, ql3, qh0, qh1);
      const c2 = i16x8.splat(<i16>load<i8>(sc, 2));
      si = i32x4.add(si, dot16(wLo(v2, c2), wHi(v2, c2), ap + 64));
      const v3 = q6g(3, ql0, ql1, ql2, ql3, qh0, qh1);
      const c3 = i16x8.splat(<i16>load<i8>(sc, 3));
      si = i32x4.add(si, dot16(wLo(v3, c3), wHi(v3, c3), ap + 96));
      const v4 = q6g(4, ql0, ql1, ql2, ql3, qh0, qh1);
      const c4 = i16x8.splat(<i16>load<i8>(sc, 4));
      si = i32x4.add(si, dot16(wLo(v4, c4), wHi(v4, c4), ap + 128));
      const v5 = q6g(5, ql0, ql1, ql2, ql3, qh0, qh1);
      const c5 = i16x8.splat(<i16>load<i8>(sc, 5));
      si = i32x4.add(si, dot16(wLo(v5, c5), wHi(v5, c5), ap + 160));
      const v6 = q6g(6, ql0, ql1, ql2, ql3, qh0, qh1);
      const c6 = i16x8.splat(<i16>load<i8>(sc, 6));
      si = i32x4.add(si, dot16(wLo(v6, c6), wHi(v6, c6), ap + 192));
      const v7 = q6g(7, ql0, ql1, ql2, ql3, qh0, qh1);
      const c7 = i16x8.splat(<i16>load<i8>(sc, 7));
      si = i32x4.add(si, dot16(wLo(v7, c7), wHi(v7, c7), ap + 224));
    }
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w, 208)) * <f64>load<f32>(d));
    w += 210;
    q += QS;
    d += 4;
  }
  return <f32>acc;
}

function k4Q6K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  for (let s = 0; s < ns; s++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s * QS;
    for (let n = 0; n < 2; n++) {
      const l = w + (<usize>n << 6), h = w + 128 + (<usize>n << 5), sc = w + 192 + (<usize>n << 3);
      const ql0 = v128.load(l, 0), ql1 = v128.load(l, 16), ql2 = v128.load(l, 32), ql3 = v128.load(l, 48);
      const qh0 = v128.load(h, 0), qh1 = v128.load(h, 16);
      const ap = qo + (<usize>n << 8);
      const v0 = q6g(0, ql0, ql1, ql2, ql3, qh0, qh1);
      const c0 = i16x8.splat(<i16>load<i8>(sc, 0));
      { const u0 = wLo(v0, c0), u1 = wHi(v0, c0);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 0));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 0));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 0));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 0));
      }
      const v1 = q6g(1, ql0, ql1, ql2, ql3, qh0, qh1);
      const c1 = i16x8.splat(<i16>load<i8>(sc, 1));
      { const u0 = wLo(v1, c1), u1 = wHi(v1, c1);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 32));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 32));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 32));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 32));
      }
      const v2 = q6g(2, ql0, ql1, ql2, ql3, qh0, qh1);
      const c2 = i16x8.splat(<i16>load<i8>(sc, 2));
      { const u0 = wLo(v2, c2), u1 = wHi(v2, c2);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 64));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 64));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 64));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 64));
      }
      const v3 = q6g(3, ql0, ql1, ql2, ql3, qh0, qh1);
      const c3 = i16x8.splat(<i16>load<i8>(sc, 3));
      { const u0 = wLo(v3, c3), u1 = wHi(v3, c3);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 96));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 96));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 96));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 96));
      }
      const v4 = q6g(4, ql0, ql1, ql2, ql3, qh0, qh1);
      const c4 = i16x8.splat(<i16>load<i8>(sc, 4));
      { const u0 = wLo(v4, c4), u1 = wHi(v4, c4);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 128));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 128));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 128));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 128));
      }
      const v5 = q6g(5, ql0, ql1, ql2, ql3, qh0, qh1);
      const c5 = i16x8.splat(<i16>load<i8>(sc, 5));
      { const u0 = wLo(v5, c5), u1 = wHi(v5, c5);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 160));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 160));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 160));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 160));
      }
      const v6 = q6g(6, ql0, ql1, ql2, ql3, qh0, qh1);
      const c6 = i16x8.splat(<i16>load<i8>(sc, 6));
      { const u0 = wLo(v6, c6), u1 = wHi(v6, c6);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 192));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 192));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 192));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 192));
      }
      const v7 = q6g(7, ql0, ql1, ql2, ql3, qh0, qh1);
      const c7 = i16x8.splat(<i16>load<i8>(sc, 7));
      { const u0 = wLo(v7, c7), u1 = wHi(v7, c7);
        s0 = i32x4.add(s0, dot16(u0, u1, q0 + ap + 224));
        s1 = i32x4.add(s1, dot16(u0, u1, q1 + ap + 224));
        s2 = i32x4.add(s2, dot16(u0, u1, q2 + ap + 224));
        s3 = i32x4.add(s3, dot16(u0, u1, q3 + ap + 224));
      }
    }
    const dof = <usize>s << 2;
    const dw: f64 = h2fFast(<i32>load<u16>(w, 208));
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const si = isum4x4(s0, s1, s2, s3);
    accLo = madd2(accLo, si, dw, da, 0);
    accHi = madd2(accHi, si, dw, da, 1);
    w += 210;
  }
  return demote4(accLo, accHi);
}

// ================================================================ Q3_K

// group of 16 weights (j constant): 2 low bits from qv (bits 2j, 2j+1), high bit from hv (bit j), value − 4
// @ts-ignore: decorator
@inline function q3g(qv: v128, hv: v128, j: i32): v128 {
  const low = v128.and(i8x16.shr_u(qv, <i32>(j << 1)), i8x16.splat(3));
  const high = v128.and(j < 2 ? i8x16.shl(hv, <i32>(2 - j)) : j == 2 ? hv : i8x16.shr_u(hv, 1), i8x16.splat(4));
  return i8x16.sub(v128.or(low, high), i8x16.splat(4));
}

function k1Q3K(w: usize, q: usize, d: usize, ns: i32): f32 {
  let acc: f64 = 0;
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 96), a1 = load<u32>(w, 100), a2 = load<u32>(w, 104);
    const sA = k3s(a0, a1, a2, 0), sB = k3s(a0, a1, a2, 1), sC = k3s(a0, a1, a2, 2), sD = k3s(a0, a1, a2, 3);
    const hm0 = v128.load(w, 0), hm1 = v128.load(w, 16);
    let si = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 32 + (<usize>n << 5), 0), qv1 = v128.load(w + 32 + (<usize>n << 5), 16);
      const hA = i8x16.shr_u(hm0, n << 2), hB = i8x16.shr_u(hm1, n << 2);   // the high bits of this half at bits 0..3
      const w01 = n ? sC : sA, w23 = n ? sD : sB;                          // scales 8n..8n+3, 8n+4..8n+7
      const ap = q + (<usize>n << 8);
      const v0a = q3g(qv0, hA, 0), v0b = q3g(qv1, hB, 0);
      const c0a = i16x8.splat(<i16>(((w01 >> 0) & 0xff) - 32)), c0b = i16x8.splat(<i16>(((w01 >> 8) & 0xff) - 32));
      si = i32x4.add(si, dot16(wLo(v0a, c0a), wHi(v0a, c0a), ap + 0));
      si = i32x4.add(si, dot16(wLo(v0b, c0b), wHi(v0b, c0b), ap + 32));
      const v1a = q3g(qv0, hA, 1), v1b = q3g(qv1, hB, 1);
      const c1a = i16x8.splat(<i16>(((w01 >> 16) & 0xff) - 32)), c1b = i16x8.splat(<i16>(((w01 >> 24) & 0xff) - 32));
      si = i32x4.add(si, dot16(wLo(v1a, c1a), wHi(v1a, c1a), ap + 64));
      si = i32x4.add(si, dot16(wLo(v1b, c1b), wHi(v1b, c1b), ap + 96));
      const v2a = q3g(qv0, hA, 2), v2b = q3g(qv1, hB, 2);
      const c2a = i16x8.splat(<i16>(((w23 >> 0) & 0xff) - 32)), c2b = i16x8.splat(<i16>(((w23 >> 8) & 0xff) - 32));
      si = i32x4.add(si, dot16(wLo(v2a, c2a), wHi(v2a, c2a), ap + 128));
      si = i32x4.add(si, dot16(wLo(v2b, c2b), wHi(v2b, c2b), ap + 160));
      const v3a = q3g(qv0, hA, 3), v3b = q3g(qv1, hB, 3);
      const c3a = i16x8.splat(<i16>(((w23 >> 16) & 0xff) - 32)), c3b = i16x8.splat(<i16>(((w23 >> 24) & 0xff) - 32));
      si = i32x4.add(si, dot16(wLo(v3a, c3a), wHi(v3a, c3a), ap + 192));
      si = i32x4.add(si, dot16(wLo(v3b, c3b), wHi(v3b, c3b), ap + 224));
    }
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w, 108)) * <f64>load<f32>(d));
    w += 110;
    q += QS;
    d += 4;
  }
  return <f32>acc;
}

function k4Q3K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 96), a1 = load<u32>(w, 100), a2 = load<u32>(w, 104);
    const sA = k3s(a0, a1, a2, 0), sB = k3s(a0, a1, a2, 1), sC = k3s(a0, a1, a2, 2), sD = k3s(a0, a1, a2, 3);
    const hm0 = v128.load(w, 0), hm1 = v128.load(w, 16);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s * QS;
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 32 + (<usize>n << 5), 0), qv1 = v128.load(w + 32 + (<usize>n << 5), 16);
      const hA = i8x16.shr_u(hm0, n << 2), hB = i8x16.shr_u(hm1, n << 2);   // the high bits of this half at bits 0..3
      const w01 = n ? sC : sA, w23 = n ? sD : sB;                          // scales 8n..8n+3, 8n+4..8n+7
      const ap = qo + (<usize>n << 8);
      const v0a = q3g(qv0, hA, 0), v0b = q3g(qv1, hB, 0);
      const c0a = i16x8.splat(<i16>(((w01 >> 0) & 0xff) - 32)), c0b = i16x8.splat(<i16>(((w01 >> 8) & 0xff) - 32));
      { const u0 = wLo(v0a, c0a), u1 = wHi(v0a, c0a), u2 = wLo(v0b, c0b), u3 = wHi(v0b, c0b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 0), dot16(u2, u3, q0 + ap + 32)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 0), dot16(u2, u3, q1 + ap + 32)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 0), dot16(u2, u3, q2 + ap + 32)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 0), dot16(u2, u3, q3 + ap + 32)));
      }
      const v1a = q3g(qv0, hA, 1), v1b = q3g(qv1, hB, 1);
      const c1a = i16x8.splat(<i16>(((w01 >> 16) & 0xff) - 32)), c1b = i16x8.splat(<i16>(((w01 >> 24) & 0xff) - 32));
      { const u0 = wLo(v1a, c1a), u1 = wHi(v1a, c1a), u2 = wLo(v1b, c1b), u3 = wHi(v1b, c1b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 64), dot16(u2, u3, q0 + ap + 96)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 64), dot16(u2, u3, q1 + ap + 96)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 64), dot16(u2, u3, q2 + ap + 96)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 64), dot16(u2, u3, q3 + ap + 96)));
      }
      const v2a = q3g(qv0, hA, 2), v2b = q3g(qv1, hB, 2);
      const c2a = i16x8.splat(<i16>(((w23 >> 0) & 0xff) - 32)), c2b = i16x8.splat(<i16>(((w23 >> 8) & 0xff) - 32));
      { const u0 = wLo(v2a, c2a), u1 = wHi(v2a, c2a), u2 = wLo(v2b, c2b), u3 = wHi(v2b, c2b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 128), dot16(u2, u3, q0 + ap + 160)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 128), dot16(u2, u3, q1 + ap + 160)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 128), dot16(u2, u3, q2 + ap + 160)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 128), dot16(u2, u3, q3 + ap + 160)));
      }
      const v3a = q3g(qv0, hA, 3), v3b = q3g(qv1, hB, 3);
      const c3a = i16x8.splat(<i16>(((w23 >> 16) & 0xff) - 32)), c3b = i16x8.splat(<i16>(((w23 >> 24) & 0xff) - 32));
      { const u0 = wLo(v3a, c3a), u1 = wHi(v3a, c3a), u2 = wLo(v3b, c3b), u3 = wHi(v3b, c3b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 192), dot16(u2, u3, q0 + ap + 224)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 192), dot16(u2, u3, q1 + ap + 224)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 192), dot16(u2, u3, q2 + ap + 224)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 192), dot16(u2, u3, q3 + ap + 224)));
      }
    }
    const dof = <usize>s << 2;
    const dw: f64 = h2fFast(<i32>load<u16>(w, 108));
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const si = isum4x4(s0, s1, s2, s3);
    accLo = madd2(accLo, si, dw, da, 0);
    accHi = madd2(accHi, si, dw, da, 1);
    w += 110;
  }
  return demote4(accLo, accHi);
}

// ================================================================ Q2_K

// mins (16, per 16 weights) · bsums for one token
// @ts-ignore: decorator
@inline function minDot16(mLo: v128, mHi: v128, bs: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(mLo, v128.load(bs, 0)), i32x4.dot_i16x8_s(mHi, v128.load(bs, 16)));
}

function k1Q2K(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  const m3 = i8x16.splat(3);
  for (let s = 0; s < ns; s++) {
    let si = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 16 + (<usize>n << 5), 0), qv1 = v128.load(w + 16 + (<usize>n << 5), 16);
      const scp = w + (<usize>n << 3);
      const ap = q + (<usize>n << 8);
      const v0a = v128.and(i8x16.shr_u(qv0, 0), m3), v0b = v128.and(i8x16.shr_u(qv1, 0), m3);
      const c0a = i16x8.splat(<i16>(load<u8>(scp, 0) & 15)), c0b = i16x8.splat(<i16>(load<u8>(scp, 1) & 15));
      si = i32x4.add(si, dot16(wLo(v0a, c0a), wHi(v0a, c0a), ap + 0));
      si = i32x4.add(si, dot16(wLo(v0b, c0b), wHi(v0b, c0b), ap + 32));
      const v1a = v128.and(i8x16.shr_u(qv0, 2), m3), v1b = v128.and(i8x16.shr_u(qv1, 2), m3);
      const c1a = i16x8.splat(<i16>(load<u8>(scp, 2) & 15)), c1b = i16x8.splat(<i16>(load<u8>(scp, 3) & 15));
      si = i32x4.add(si, dot16(wLo(v1a, c1a), wHi(v1a, c1a), ap + 64));
      si = i32x4.add(si, dot16(wLo(v1b, c1b), wHi(v1b, c1b), ap + 96));
      const v2a = v128.and(i8x16.shr_u(qv0, 4), m3), v2b = v128.and(i8x16.shr_u(qv1, 4), m3);
      const c2a = i16x8.splat(<i16>(load<u8>(scp, 4) & 15)), c2b = i16x8.splat(<i16>(load<u8>(scp, 5) & 15));
      si = i32x4.add(si, dot16(wLo(v2a, c2a), wHi(v2a, c2a), ap + 128));
      si = i32x4.add(si, dot16(wLo(v2b, c2b), wHi(v2b, c2b), ap + 160));
      const v3a = v128.and(i8x16.shr_u(qv0, 6), m3), v3b = v128.and(i8x16.shr_u(qv1, 6), m3);
      const c3a = i16x8.splat(<i16>(load<u8>(scp, 6) & 15)), c3b = i16x8.splat(<i16>(load<u8>(scp, 7) & 15));
      si = i32x4.add(si, dot16(wLo(v3a, c3a), wHi(v3a, c3a), ap + 192));
      si = i32x4.add(si, dot16(wLo(v3b, c3b), wHi(v3b, c3b), ap + 224));
    }
    const mv = i8x16.shr_u(v128.load(w), 4);
    const sm = minDot16(i16x8.extend_low_i8x16_u(mv), i16x8.extend_high_i8x16_u(mv), bs);
    const da = load<f32>(d);
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w, 80)) * <f64>da);
    acc = acc - <f64>isum4(sm) * (<f64>h2fFast(<i32>load<u16>(w, 82)) * <f64>da);
    w += 84;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q2K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m3 = i8x16.splat(3);
  for (let s = 0; s < ns; s++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s * QS;
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 16 + (<usize>n << 5), 0), qv1 = v128.load(w + 16 + (<usize>n << 5), 16);
      const scp = w + (<usize>n << 3);
      const ap = qo + (<usize>n << 8);
      const v0a = v128.and(i8x16.shr_u(qv0, 0), m3), v0b = v128.and(i8x16.shr_u(qv1, 0), m3);
      const c0a = i16x8.splat(<i16>(load<u8>(scp, 0) & 15)), c0b = i16x8.splat(<i16>(load<u8>(scp, 1) & 15));
      { const u0 = wLo(v0a, c0a), u1 = wHi(v0a, c0a), u2 = wLo(v0b, c0b), u3 = wHi(v0b, c0b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 0), dot16(u2, u3, q0 + ap + 32)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 0), dot16(u2, u3, q1 + ap + 32)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 0), dot16(u2, u3, q2 + ap + 32)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 0), dot16(u2, u3, q3 + ap + 32)));
      }
      const v1a = v128.and(i8x16.shr_u(qv0, 2), m3), v1b = v128.and(i8x16.shr_u(qv1, 2), m3);
      const c1a = i16x8.splat(<i16>(load<u8>(scp, 2) & 15)), c1b = i16x8.splat(<i16>(load<u8>(scp, 3) & 15));
      { const u0 = wLo(v1a, c1a), u1 = wHi(v1a, c1a), u2 = wLo(v1b, c1b), u3 = wHi(v1b, c1b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 64), dot16(u2, u3, q0 + ap + 96)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 64), dot16(u2, u3, q1 + ap + 96)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 64), dot16(u2, u3, q2 + ap + 96)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 64), dot16(u2, u3, q3 + ap + 96)));
      }
      const v2a = v128.and(i8x16.shr_u(qv0, 4), m3), v2b = v128.and(i8x16.shr_u(qv1, 4), m3);
      const c2a = i16x8.splat(<i16>(load<u8>(scp, 4) & 15)), c2b = i16x8.splat(<i16>(load<u8>(scp, 5) & 15));
      { const u0 = wLo(v2a, c2a), u1 = wHi(v2a, c2a), u2 = wLo(v2b, c2b), u3 = wHi(v2b, c2b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 128), dot16(u2, u3, q0 + ap + 160)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 128), dot16(u2, u3, q1 + ap + 160)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 128), dot16(u2, u3, q2 + ap + 160)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 128), dot16(u2, u3, q3 + ap + 160)));
      }
      const v3a = v128.and(i8x16.shr_u(qv0, 6), m3), v3b = v128.and(i8x16.shr_u(qv1, 6), m3);
      const c3a = i16x8.splat(<i16>(load<u8>(scp, 6) & 15)), c3b = i16x8.splat(<i16>(load<u8>(scp, 7) & 15));
      { const u0 = wLo(v3a, c3a), u1 = wHi(v3a, c3a), u2 = wLo(v3b, c3b), u3 = wHi(v3b, c3b);
        s0 = i32x4.add(s0, i32x4.add(dot16(u0, u1, q0 + ap + 192), dot16(u2, u3, q0 + ap + 224)));
        s1 = i32x4.add(s1, i32x4.add(dot16(u0, u1, q1 + ap + 192), dot16(u2, u3, q1 + ap + 224)));
        s2 = i32x4.add(s2, i32x4.add(dot16(u0, u1, q2 + ap + 192), dot16(u2, u3, q2 + ap + 224)));
        s3 = i32x4.add(s3, i32x4.add(dot16(u0, u1, q3 + ap + 192), dot16(u2, u3, q3 + ap + 224)));
      }
    }
    const mv = i8x16.shr_u(v128.load(w), 4);
    const mLo = i16x8.extend_low_i8x16_u(mv), mHi = i16x8.extend_high_i8x16_u(mv);
    const bo = <usize>s << 5;
    const sm = isum4x4(minDot16(mLo, mHi, b0 + bo), minDot16(mLo, mHi, b1 + bo),
                       minDot16(mLo, mHi, b2 + bo), minDot16(mLo, mHi, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dw: f64 = h2fFast(<i32>load<u16>(w, 80)), dmin: f64 = h2fFast(<i32>load<u16>(w, 82));
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += 84;
  }
  return demote4(accLo, accHi);
}

// ================================================================ relaxed-SIMD kernels (QA = i8)
// The weights' quants are unsigned (Q6_K and Q3_K before their −32 / −4 offset), so they are valid 7-bit
// operands: i16x8.relaxed_dot_i8x16_i7x16_s(act, w) gives exact pair sums (|pair| ≤ 2·127·63, no
// saturation on any lowering), and i32x4.dot_i16x8_s(pairs, splat(scale)) scales and widens them in one
// op. Offsets are taken out with the bsums: Σ sc·Σ(q − o)·a = Σ sc·Σq·a − o·Σ sc·bsum. The integer sums are
// exact, so these kernels equal the plain ones and the scalar twin bit for bit.

// pair sums of 16 act quants (i8 at a) times 16 weights in [0, 127]
// @ts-ignore: decorator
@inline function rd16(a: usize, w: v128): v128 { return i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a), w); }

// Q6_K group k of a half, unsigned (q, without the −32)
// @ts-ignore: decorator
@inline function q6u(k: i32, ql0: v128, ql1: v128, ql2: v128, ql3: v128, qh0: v128, qh1: v128): v128 {
  return i8x16.add(q6g(k, ql0, ql1, ql2, ql3, qh0, qh1), i8x16.splat(32));
}

// Q3_K group (j constant), unsigned (q + 4 in [0, 7])
// @ts-ignore: decorator
@inline function q3u(qv: v128, hv: v128, j: i32): v128 {
  const low = v128.and(i8x16.shr_u(qv, <i32>(j << 1)), i8x16.splat(3));
  return v128.or(low, v128.and(j < 2 ? i8x16.shl(hv, <i32>(2 - j)) : j == 2 ? hv : i8x16.shr_u(hv, 1), i8x16.splat(4)));
}

function k1Q4KR(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  const mask = i8x16.splat(0x0f), bit4 = i8x16.splat(0x10);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let si = i32x4.splat(0);
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 16 + (<usize>p << 5), 0), x1 = v128.load(w + 16 + (<usize>p << 5), 16);
      const lo0 = v128.and(x0, mask), lo1 = v128.and(x1, mask);
      const hi0 = i8x16.shr_u(x0, 4), hi1 = i8x16.shr_u(x1, 4);
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff)), vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      const ap = q + (<usize>p << 6);
      si = i32x4.add(si, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(ap, lo0), rd16(ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(ap + 32, hi0), rd16(ap + 48, hi1)), vh)));
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const sm = minDot8(mLo, mHi, bs);
    const da = load<f32>(d);
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w)) * <f64>da);
    acc = acc - <f64>isum4(sm) * (<f64>h2fFast(<i32>load<u16>(w, 2)) * <f64>da);
    w += 144;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q4KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const mask = i8x16.splat(0x0f), bit4 = i8x16.splat(0x10);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s << 8;
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 16 + (<usize>p << 5), 0), x1 = v128.load(w + 16 + (<usize>p << 5), 16);
      const lo0 = v128.and(x0, mask), lo1 = v128.and(x1, mask);
      const hi0 = i8x16.shr_u(x0, 4), hi1 = i8x16.shr_u(x1, 4);
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff)), vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      const ap = qo + (<usize>p << 6);
      s0 = i32x4.add(s0, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q0 + ap, lo0), rd16(q0 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q0 + ap + 32, hi0), rd16(q0 + ap + 48, hi1)), vh)));
      s1 = i32x4.add(s1, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q1 + ap, lo0), rd16(q1 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q1 + ap + 32, hi0), rd16(q1 + ap + 48, hi1)), vh)));
      s2 = i32x4.add(s2, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q2 + ap, lo0), rd16(q2 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q2 + ap + 32, hi0), rd16(q2 + ap + 48, hi1)), vh)));
      s3 = i32x4.add(s3, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q3 + ap, lo0), rd16(q3 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q3 + ap + 32, hi0), rd16(q3 + ap + 48, hi1)), vh)));
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const bo = <usize>s << 5;
    const sm = isum4x4(minDot8(mLo, mHi, b0 + bo), minDot8(mLo, mHi, b1 + bo),
                       minDot8(mLo, mHi, b2 + bo), minDot8(mLo, mHi, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dw: f64 = h2fFast(<i32>load<u16>(w)), dmin: f64 = h2fFast(<i32>load<u16>(w, 2));
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += 144;
  }
  return demote4(accLo, accHi);
}

function k1Q5KR(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  const mask = i8x16.splat(0x0f), bit4 = i8x16.splat(0x10);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let h0 = v128.load(w, 16), h1 = v128.load(w, 32);
    let si = i32x4.splat(0);
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 48 + (<usize>p << 5), 0), x1 = v128.load(w + 48 + (<usize>p << 5), 16);
      const lo0 = v128.or(v128.and(x0, mask), v128.and(i8x16.shl(h0, 4), bit4));
      const lo1 = v128.or(v128.and(x1, mask), v128.and(i8x16.shl(h1, 4), bit4));
      const hi0 = v128.or(i8x16.shr_u(x0, 4), v128.and(i8x16.shl(h0, 3), bit4));
      const hi1 = v128.or(i8x16.shr_u(x1, 4), v128.and(i8x16.shl(h1, 3), bit4));
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff)), vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      const ap = q + (<usize>p << 6);
      si = i32x4.add(si, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(ap, lo0), rd16(ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(ap + 32, hi0), rd16(ap + 48, hi1)), vh)));
      h0 = i8x16.shr_u(h0, 2);
      h1 = i8x16.shr_u(h1, 2);
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const sm = minDot8(mLo, mHi, bs);
    const da = load<f32>(d);
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w)) * <f64>da);
    acc = acc - <f64>isum4(sm) * (<f64>h2fFast(<i32>load<u16>(w, 2)) * <f64>da);
    w += 176;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q5KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const mask = i8x16.splat(0x0f), bit4 = i8x16.splat(0x10);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 4), a1 = load<u32>(w, 8), a2 = load<u32>(w, 12);
    const sc03 = k4sc03(a0), sc47 = k4sc47(a0, a2);
    let h0 = v128.load(w, 16), h1 = v128.load(w, 32);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s << 8;
    for (let p = 0; p < 4; p++) {
      const sw = p < 2 ? sc03 : sc47;
      const sh = (p & 1) << 4;
      const x0 = v128.load(w + 48 + (<usize>p << 5), 0), x1 = v128.load(w + 48 + (<usize>p << 5), 16);
      const lo0 = v128.or(v128.and(x0, mask), v128.and(i8x16.shl(h0, 4), bit4));
      const lo1 = v128.or(v128.and(x1, mask), v128.and(i8x16.shl(h1, 4), bit4));
      const hi0 = v128.or(i8x16.shr_u(x0, 4), v128.and(i8x16.shl(h0, 3), bit4));
      const hi1 = v128.or(i8x16.shr_u(x1, 4), v128.and(i8x16.shl(h1, 3), bit4));
      const vl = i16x8.splat(<i16>((sw >> sh) & 0xff)), vh = i16x8.splat(<i16>((sw >> (sh + 8)) & 0xff));
      const ap = qo + (<usize>p << 6);
      s0 = i32x4.add(s0, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q0 + ap, lo0), rd16(q0 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q0 + ap + 32, hi0), rd16(q0 + ap + 48, hi1)), vh)));
      s1 = i32x4.add(s1, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q1 + ap, lo0), rd16(q1 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q1 + ap + 32, hi0), rd16(q1 + ap + 48, hi1)), vh)));
      s2 = i32x4.add(s2, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q2 + ap, lo0), rd16(q2 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q2 + ap + 32, hi0), rd16(q2 + ap + 48, hi1)), vh)));
      s3 = i32x4.add(s3, i32x4.add(i32x4.dot_i16x8_s(i16x8.add(rd16(q3 + ap, lo0), rd16(q3 + ap + 16, lo1)), vl),
                                         i32x4.dot_i16x8_s(i16x8.add(rd16(q3 + ap + 32, hi0), rd16(q3 + ap + 48, hi1)), vh)));
      h0 = i8x16.shr_u(h0, 2);
      h1 = i8x16.shr_u(h1, 2);
    }
    const m16 = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(k4mn03(a1)), 1, k4mn47(a1, a2)));
    const mLo = v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3);
    const mHi = v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
    const bo = <usize>s << 5;
    const sm = isum4x4(minDot8(mLo, mHi, b0 + bo), minDot8(mLo, mHi, b1 + bo),
                       minDot8(mLo, mHi, b2 + bo), minDot8(mLo, mHi, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dw: f64 = h2fFast(<i32>load<u16>(w)), dmin: f64 = h2fFast(<i32>load<u16>(w, 2));
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += 176;
  }
  return demote4(accLo, accHi);
}

function k1Q6KR(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  for (let s = 0; s < ns; s++) {
    let si = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const l = w + (<usize>n << 6), h = w + 128 + (<usize>n << 5), sc = w + 192 + (<usize>n << 3);
      const ql0 = v128.load(l, 0), ql1 = v128.load(l, 16), ql2 = v128.load(l, 32), ql3 = v128.load(l, 48);
      const qh0 = v128.load(h, 0), qh1 = v128.load(h, 16);
      const ap = q + (<usize>n << 7);
      const v0 = q6u(0, ql0, ql1, ql2, ql3, qh0, qh1), c0 = i16x8.splat(<i16>load<i8>(sc, 0));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 0, v0), c0));
      const v1 = q6u(1, ql0, ql1, ql2, ql3, qh0, qh1), c1 = i16x8.splat(<i16>load<i8>(sc, 1));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 16, v1), c1));
      const v2 = q6u(2, ql0, ql1, ql2, ql3, qh0, qh1), c2 = i16x8.splat(<i16>load<i8>(sc, 2));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 32, v2), c2));
      const v3 = q6u(3, ql0, ql1, ql2, ql3, qh0, qh1), c3 = i16x8.splat(<i16>load<i8>(sc, 3));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 48, v3), c3));
      const v4 = q6u(4, ql0, ql1, ql2, ql3, qh0, qh1), c4 = i16x8.splat(<i16>load<i8>(sc, 4));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 64, v4), c4));
      const v5 = q6u(5, ql0, ql1, ql2, ql3, qh0, qh1), c5 = i16x8.splat(<i16>load<i8>(sc, 5));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 80, v5), c5));
      const v6 = q6u(6, ql0, ql1, ql2, ql3, qh0, qh1), c6 = i16x8.splat(<i16>load<i8>(sc, 6));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 96, v6), c6));
      const v7 = q6u(7, ql0, ql1, ql2, ql3, qh0, qh1), c7 = i16x8.splat(<i16>load<i8>(sc, 7));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 112, v7), c7));
    }
    // Σ sc·Σ(q − 32)·a = Σ sc·Σq·a − 32·Σ sc·bsum
    const scv = v128.load(w, 192);
    const scLo = i16x8.extend_low_i8x16_s(scv), scHi = i16x8.extend_high_i8x16_s(scv);
    const corr = isum4(minDot16(scLo, scHi, bs));
    acc = acc + <f64>(isum4(si) - (corr << 5)) * (<f64>h2fFast(<i32>load<u16>(w, 208)) * <f64>load<f32>(d));
    w += 210;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q6KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  for (let s = 0; s < ns; s++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s << 8;
    for (let n = 0; n < 2; n++) {
      const l = w + (<usize>n << 6), h = w + 128 + (<usize>n << 5), sc = w + 192 + (<usize>n << 3);
      const ql0 = v128.load(l, 0), ql1 = v128.load(l, 16), ql2 = v128.load(l, 32), ql3 = v128.load(l, 48);
      const qh0 = v128.load(h, 0), qh1 = v128.load(h, 16);
      const ap = qo + (<usize>n << 7);
      const v0 = q6u(0, ql0, ql1, ql2, ql3, qh0, qh1), c0 = i16x8.splat(<i16>load<i8>(sc, 0));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 0, v0), c0));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 0, v0), c0));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 0, v0), c0));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 0, v0), c0));
      const v1 = q6u(1, ql0, ql1, ql2, ql3, qh0, qh1), c1 = i16x8.splat(<i16>load<i8>(sc, 1));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 16, v1), c1));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 16, v1), c1));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 16, v1), c1));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 16, v1), c1));
      const v2 = q6u(2, ql0, ql1, ql2, ql3, qh0, qh1), c2 = i16x8.splat(<i16>load<i8>(sc, 2));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 32, v2), c2));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 32, v2), c2));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 32, v2), c2));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 32, v2), c2));
      const v3 = q6u(3, ql0, ql1, ql2, ql3, qh0, qh1), c3 = i16x8.splat(<i16>load<i8>(sc, 3));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 48, v3), c3));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 48, v3), c3));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 48, v3), c3));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 48, v3), c3));
      const v4 = q6u(4, ql0, ql1, ql2, ql3, qh0, qh1), c4 = i16x8.splat(<i16>load<i8>(sc, 4));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 64, v4), c4));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 64, v4), c4));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 64, v4), c4));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 64, v4), c4));
      const v5 = q6u(5, ql0, ql1, ql2, ql3, qh0, qh1), c5 = i16x8.splat(<i16>load<i8>(sc, 5));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 80, v5), c5));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 80, v5), c5));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 80, v5), c5));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 80, v5), c5));
      const v6 = q6u(6, ql0, ql1, ql2, ql3, qh0, qh1), c6 = i16x8.splat(<i16>load<i8>(sc, 6));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 96, v6), c6));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 96, v6), c6));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 96, v6), c6));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 96, v6), c6));
      const v7 = q6u(7, ql0, ql1, ql2, ql3, qh0, qh1), c7 = i16x8.splat(<i16>load<i8>(sc, 7));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 112, v7), c7));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 112, v7), c7));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 112, v7), c7));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 112, v7), c7));
    }
    // Σ sc·Σ(q − 32)·a = Σ sc·Σq·a − 32·Σ sc·bsum
    const scv = v128.load(w, 192);
    const scLo = i16x8.extend_low_i8x16_s(scv), scHi = i16x8.extend_high_i8x16_s(scv);
    const bo = <usize>s << 5;
    const corr = isum4x4(minDot16(scLo, scHi, b0 + bo), minDot16(scLo, scHi, b1 + bo),
                         minDot16(scLo, scHi, b2 + bo), minDot16(scLo, scHi, b3 + bo));
    const dof = <usize>s << 2;
    const dw: f64 = h2fFast(<i32>load<u16>(w, 208));
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const si = i32x4.sub(isum4x4(s0, s1, s2, s3), i32x4.shl(corr, 5));
    accLo = madd2(accLo, si, dw, da, 0);
    accHi = madd2(accHi, si, dw, da, 1);
    w += 210;
  }
  return demote4(accLo, accHi);
}

function k1Q3KR(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 96), a1 = load<u32>(w, 100), a2 = load<u32>(w, 104);
    const sA = k3s(a0, a1, a2, 0), sB = k3s(a0, a1, a2, 1), sC = k3s(a0, a1, a2, 2), sD = k3s(a0, a1, a2, 3);
    const hm0 = v128.load(w, 0), hm1 = v128.load(w, 16);
    let si = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 32 + (<usize>n << 5), 0), qv1 = v128.load(w + 32 + (<usize>n << 5), 16);
      const hA = i8x16.shr_u(hm0, n << 2), hB = i8x16.shr_u(hm1, n << 2);
      const w01 = n ? sC : sA, w23 = n ? sD : sB;
      const ap = q + (<usize>n << 7);
      const v0a = q3u(qv0, hA, 0), v0b = q3u(qv1, hB, 0);
      const c0a = i16x8.splat(<i16>(((w01 >> 0) & 0xff) - 32)), c0b = i16x8.splat(<i16>(((w01 >> 8) & 0xff) - 32));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 0, v0a), c0a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 16, v0b), c0b));
      const v1a = q3u(qv0, hA, 1), v1b = q3u(qv1, hB, 1);
      const c1a = i16x8.splat(<i16>(((w01 >> 16) & 0xff) - 32)), c1b = i16x8.splat(<i16>(((w01 >> 24) & 0xff) - 32));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 32, v1a), c1a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 48, v1b), c1b));
      const v2a = q3u(qv0, hA, 2), v2b = q3u(qv1, hB, 2);
      const c2a = i16x8.splat(<i16>(((w23 >> 0) & 0xff) - 32)), c2b = i16x8.splat(<i16>(((w23 >> 8) & 0xff) - 32));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 64, v2a), c2a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 80, v2b), c2b));
      const v3a = q3u(qv0, hA, 3), v3b = q3u(qv1, hB, 3);
      const c3a = i16x8.splat(<i16>(((w23 >> 16) & 0xff) - 32)), c3b = i16x8.splat(<i16>(((w23 >> 24) & 0xff) - 32));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 96, v3a), c3a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 112, v3b), c3b));
    }
    // Σ sc·Σ(q − 4)·a = Σ sc·Σq·a − 4·Σ sc·bsum
    const scv = i8x16.sub(i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(sA), 1, sB), 2, sC), 3, sD), i8x16.splat(32));
    const scLo = i16x8.extend_low_i8x16_s(scv), scHi = i16x8.extend_high_i8x16_s(scv);
    const corr = isum4(minDot16(scLo, scHi, bs));
    acc = acc + <f64>(isum4(si) - (corr << 2)) * (<f64>h2fFast(<i32>load<u16>(w, 108)) * <f64>load<f32>(d));
    w += 110;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q3KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  for (let s = 0; s < ns; s++) {
    const a0 = load<u32>(w, 96), a1 = load<u32>(w, 100), a2 = load<u32>(w, 104);
    const sA = k3s(a0, a1, a2, 0), sB = k3s(a0, a1, a2, 1), sC = k3s(a0, a1, a2, 2), sD = k3s(a0, a1, a2, 3);
    const hm0 = v128.load(w, 0), hm1 = v128.load(w, 16);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s << 8;
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 32 + (<usize>n << 5), 0), qv1 = v128.load(w + 32 + (<usize>n << 5), 16);
      const hA = i8x16.shr_u(hm0, n << 2), hB = i8x16.shr_u(hm1, n << 2);
      const w01 = n ? sC : sA, w23 = n ? sD : sB;
      const ap = qo + (<usize>n << 7);
      const v0a = q3u(qv0, hA, 0), v0b = q3u(qv1, hB, 0);
      const c0a = i16x8.splat(<i16>(((w01 >> 0) & 0xff) - 32)), c0b = i16x8.splat(<i16>(((w01 >> 8) & 0xff) - 32));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 0, v0a), c0a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 0, v0a), c0a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 0, v0a), c0a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 0, v0a), c0a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 16, v0b), c0b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 16, v0b), c0b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 16, v0b), c0b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 16, v0b), c0b));
      const v1a = q3u(qv0, hA, 1), v1b = q3u(qv1, hB, 1);
      const c1a = i16x8.splat(<i16>(((w01 >> 16) & 0xff) - 32)), c1b = i16x8.splat(<i16>(((w01 >> 24) & 0xff) - 32));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 32, v1a), c1a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 32, v1a), c1a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 32, v1a), c1a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 32, v1a), c1a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 48, v1b), c1b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 48, v1b), c1b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 48, v1b), c1b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 48, v1b), c1b));
      const v2a = q3u(qv0, hA, 2), v2b = q3u(qv1, hB, 2);
      const c2a = i16x8.splat(<i16>(((w23 >> 0) & 0xff) - 32)), c2b = i16x8.splat(<i16>(((w23 >> 8) & 0xff) - 32));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 64, v2a), c2a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 64, v2a), c2a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 64, v2a), c2a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 64, v2a), c2a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 80, v2b), c2b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 80, v2b), c2b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 80, v2b), c2b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 80, v2b), c2b));
      const v3a = q3u(qv0, hA, 3), v3b = q3u(qv1, hB, 3);
      const c3a = i16x8.splat(<i16>(((w23 >> 16) & 0xff) - 32)), c3b = i16x8.splat(<i16>(((w23 >> 24) & 0xff) - 32));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 96, v3a), c3a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 96, v3a), c3a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 96, v3a), c3a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 96, v3a), c3a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 112, v3b), c3b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 112, v3b), c3b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 112, v3b), c3b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 112, v3b), c3b));
    }
    // Σ sc·Σ(q − 4)·a = Σ sc·Σq·a − 4·Σ sc·bsum
    const scv = i8x16.sub(i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(sA), 1, sB), 2, sC), 3, sD), i8x16.splat(32));
    const scLo = i16x8.extend_low_i8x16_s(scv), scHi = i16x8.extend_high_i8x16_s(scv);
    const bo = <usize>s << 5;
    const corr = isum4x4(minDot16(scLo, scHi, b0 + bo), minDot16(scLo, scHi, b1 + bo),
                         minDot16(scLo, scHi, b2 + bo), minDot16(scLo, scHi, b3 + bo));
    const dof = <usize>s << 2;
    const dw: f64 = h2fFast(<i32>load<u16>(w, 108));
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const si = i32x4.sub(isum4x4(s0, s1, s2, s3), i32x4.shl(corr, 2));
    accLo = madd2(accLo, si, dw, da, 0);
    accHi = madd2(accHi, si, dw, da, 1);
    w += 110;
  }
  return demote4(accLo, accHi);
}

function k1Q2KR(w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  let acc: f64 = 0;
  const m3 = i8x16.splat(3);
  for (let s = 0; s < ns; s++) {
    let si = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 16 + (<usize>n << 5), 0), qv1 = v128.load(w + 16 + (<usize>n << 5), 16);
      const scp = w + (<usize>n << 3);
      const ap = q + (<usize>n << 7);
      const v0a = v128.and(i8x16.shr_u(qv0, 0), m3), v0b = v128.and(i8x16.shr_u(qv1, 0), m3);
      const c0a = i16x8.splat(<i16>(load<u8>(scp, 0) & 15)), c0b = i16x8.splat(<i16>(load<u8>(scp, 1) & 15));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 0, v0a), c0a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 16, v0b), c0b));
      const v1a = v128.and(i8x16.shr_u(qv0, 2), m3), v1b = v128.and(i8x16.shr_u(qv1, 2), m3);
      const c1a = i16x8.splat(<i16>(load<u8>(scp, 2) & 15)), c1b = i16x8.splat(<i16>(load<u8>(scp, 3) & 15));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 32, v1a), c1a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 48, v1b), c1b));
      const v2a = v128.and(i8x16.shr_u(qv0, 4), m3), v2b = v128.and(i8x16.shr_u(qv1, 4), m3);
      const c2a = i16x8.splat(<i16>(load<u8>(scp, 4) & 15)), c2b = i16x8.splat(<i16>(load<u8>(scp, 5) & 15));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 64, v2a), c2a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 80, v2b), c2b));
      const v3a = v128.and(i8x16.shr_u(qv0, 6), m3), v3b = v128.and(i8x16.shr_u(qv1, 6), m3);
      const c3a = i16x8.splat(<i16>(load<u8>(scp, 6) & 15)), c3b = i16x8.splat(<i16>(load<u8>(scp, 7) & 15));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 96, v3a), c3a));
      si = i32x4.add(si, i32x4.dot_i16x8_s(rd16(ap + 112, v3b), c3b));
    }
    const mv = i8x16.shr_u(v128.load(w), 4);
    const mLo = i16x8.extend_low_i8x16_u(mv), mHi = i16x8.extend_high_i8x16_u(mv);
    const sm = minDot16(mLo, mHi, bs);
    const da = load<f32>(d);
    acc = acc + <f64>isum4(si) * (<f64>h2fFast(<i32>load<u16>(w, 80)) * <f64>da);
    acc = acc - <f64>isum4(sm) * (<f64>h2fFast(<i32>load<u16>(w, 82)) * <f64>da);
    w += 84;
    q += QS;
    d += 4;
    bs += 32;
  }
  return <f32>acc;
}

function k4Q2KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m3 = i8x16.splat(3);
  for (let s = 0; s < ns; s++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    const qo = <usize>s << 8;
    for (let n = 0; n < 2; n++) {
      const qv0 = v128.load(w + 16 + (<usize>n << 5), 0), qv1 = v128.load(w + 16 + (<usize>n << 5), 16);
      const scp = w + (<usize>n << 3);
      const ap = qo + (<usize>n << 7);
      const v0a = v128.and(i8x16.shr_u(qv0, 0), m3), v0b = v128.and(i8x16.shr_u(qv1, 0), m3);
      const c0a = i16x8.splat(<i16>(load<u8>(scp, 0) & 15)), c0b = i16x8.splat(<i16>(load<u8>(scp, 1) & 15));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 0, v0a), c0a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 0, v0a), c0a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 0, v0a), c0a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 0, v0a), c0a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 16, v0b), c0b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 16, v0b), c0b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 16, v0b), c0b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 16, v0b), c0b));
      const v1a = v128.and(i8x16.shr_u(qv0, 2), m3), v1b = v128.and(i8x16.shr_u(qv1, 2), m3);
      const c1a = i16x8.splat(<i16>(load<u8>(scp, 2) & 15)), c1b = i16x8.splat(<i16>(load<u8>(scp, 3) & 15));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 32, v1a), c1a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 32, v1a), c1a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 32, v1a), c1a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 32, v1a), c1a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 48, v1b), c1b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 48, v1b), c1b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 48, v1b), c1b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 48, v1b), c1b));
      const v2a = v128.and(i8x16.shr_u(qv0, 4), m3), v2b = v128.and(i8x16.shr_u(qv1, 4), m3);
      const c2a = i16x8.splat(<i16>(load<u8>(scp, 4) & 15)), c2b = i16x8.splat(<i16>(load<u8>(scp, 5) & 15));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 64, v2a), c2a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 64, v2a), c2a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 64, v2a), c2a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 64, v2a), c2a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 80, v2b), c2b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 80, v2b), c2b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 80, v2b), c2b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 80, v2b), c2b));
      const v3a = v128.and(i8x16.shr_u(qv0, 6), m3), v3b = v128.and(i8x16.shr_u(qv1, 6), m3);
      const c3a = i16x8.splat(<i16>(load<u8>(scp, 6) & 15)), c3b = i16x8.splat(<i16>(load<u8>(scp, 7) & 15));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 96, v3a), c3a));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 96, v3a), c3a));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 96, v3a), c3a));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 96, v3a), c3a));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(rd16(q0 + ap + 112, v3b), c3b));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(rd16(q1 + ap + 112, v3b), c3b));
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(rd16(q2 + ap + 112, v3b), c3b));
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(rd16(q3 + ap + 112, v3b), c3b));
    }
    const mv = i8x16.shr_u(v128.load(w), 4);
    const mLo = i16x8.extend_low_i8x16_u(mv), mHi = i16x8.extend_high_i8x16_u(mv);
    const bo = <usize>s << 5;
    const sm = isum4x4(minDot16(mLo, mHi, b0 + bo), minDot16(mLo, mHi, b1 + bo),
                       minDot16(mLo, mHi, b2 + bo), minDot16(mLo, mHi, b3 + bo));
    const dof = <usize>s << 2;
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const dw: f64 = h2fFast(<i32>load<u16>(w, 80)), dmin: f64 = h2fFast(<i32>load<u16>(w, 82));
    const si = isum4x4(s0, s1, s2, s3);
    accLo = msub2(madd2(accLo, si, dw, da, 0), sm, dmin, da, 0);
    accHi = msub2(madd2(accHi, si, dw, da, 1), sm, dmin, da, 1);
    w += 84;
  }
  return demote4(accLo, accHi);
}

// ================================================================ driver

// @ts-ignore: decorator
@inline function k1K(type: i32, w: usize, q: usize, d: usize, bs: usize, ns: i32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (type == GGML_Q4_K) return k1Q4KR(w, q, d, bs, ns);
    if (type == GGML_Q6_K) return k1Q6KR(w, q, d, bs, ns);
    if (type == GGML_Q5_K) return k1Q5KR(w, q, d, bs, ns);
    if (type == GGML_Q2_K) return k1Q2KR(w, q, d, bs, ns);
    return k1Q3KR(w, q, d, bs, ns);
  }
  if (type == GGML_Q4_K) return k1Q4K(w, q, d, bs, ns);
  if (type == GGML_Q6_K) return k1Q6K(w, q, d, ns);
  if (type == GGML_Q5_K) return k1Q5K(w, q, d, bs, ns);
  if (type == GGML_Q2_K) return k1Q2K(w, q, d, bs, ns);
  return k1Q3K(w, q, d, ns);
}

// @ts-ignore: decorator
@inline function k4K(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                     d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (type == GGML_Q4_K) return k4Q4KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
    if (type == GGML_Q6_K) return k4Q6KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
    if (type == GGML_Q5_K) return k4Q5KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
    if (type == GGML_Q2_K) return k4Q2KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
    return k4Q3KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
  }
  if (type == GGML_Q4_K) return k4Q4K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
  if (type == GGML_Q6_K) return k4Q6K(w, q0, q1, q2, q3, d0, d1, d2, d3, ns);
  if (type == GGML_Q5_K) return k4Q5K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
  if (type == GGML_Q2_K) return k4Q2K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
  return k4Q3K(w, q0, q1, q2, q3, d0, d1, d2, d3, ns);
}

// stores lanes 0..nt-1 of r to y[(t+k)·nOut + o]
// @ts-ignore: decorator
@inline function store4(yp: usize, yb: usize, r: v128, nt: i32): void {
  store<f32>(yp, f32x4.extract_lane(r, 0));
  store<f32>(yp + yb, f32x4.extract_lane(r, 1));
  if (nt > 2) store<f32>(yp + 2 * yb, f32x4.extract_lane(r, 2));
  if (nt > 3) store<f32>(yp + 3 * yb, f32x4.extract_lane(r, 3));
}

/** matmul for K-quant weights (nIn a multiple of 256); act: Q8_K (quant.ts). */
export function mmK(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const ns = nIn >> 8;
  const rb: usize = <usize>ns * kBlockBytes(type);
  const yb = <usize>nOut << 2;
  const qb = <usize>nIn << QA_SHIFT;
  const db = <usize>ns << 2;
  const bb = <usize>(nIn >> 4) << 1;
  const rowsPerBlock = max<i32>(1, <i32>(BLOCK_BYTES / max<usize>(rb, 1)));
  for (let o0 = r0; o0 < r1; o0 += rowsPerBlock) {
    const o1 = min<i32>(o0 + rowsPerBlock, r1);
    for (let t = 0; t < nTok; t += 4) {
      const nt = min<i32>(4, nTok - t);
      const q0 = actQaRow(act, nIn, t);
      const d0 = actQ8KD(act, nIn, nTok, t);
      const b0 = actQ8KSums(act, nIn, nTok, t);
      const yt = y + <usize>t * yb;
      if (nt == 1) {
        for (let o = o0; o < o1; o++) {
          store<f32>(yt + (<usize>o << 2), k1K(type, w + <usize>o * rb, q0, d0, b0, ns));
        }
      } else {
        const q1 = q0 + qb, d1 = d0 + db, b1 = b0 + bb;
        const q2 = nt > 2 ? q1 + qb : q1, d2 = nt > 2 ? d1 + db : d1, b2 = nt > 2 ? b1 + bb : b1;
        const q3 = nt > 3 ? q2 + qb : q2, d3 = nt > 3 ? d2 + db : d2, b3 = nt > 3 ? b2 + bb : b2;
        for (let o = o0; o < o1; o++) {
          const r = k4K(type, w + <usize>o * rb, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns);
          store4(yt + (<usize>o << 2), yb, r, nt);
        }
      }
    }
  }
}

// ================================================================ scalar twins

// the integer quant (before scaling) of weight i (0..255) of a super-block, and its scale and min indices
// are decoded inline per type below; every twin does the same f32 steps as the SIMD kernels.

/** y[t·nOut + o] for K-quant weights, scalar: the same integers and f32 steps as mmK. */
export function mmKRef(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const ns = nIn >> 8;
  const bsz = kBlockBytes(type);
  const rb: usize = <usize>ns * bsz;
  for (let t = 0; t < nTok; t++) {
    const qa = actQaRow(act, nIn, t);
    const dr = actQ8KD(act, nIn, nTok, t);
    const br = actQ8KSums(act, nIn, nTok, t);
    for (let o = r0; o < r1; o++) {
      let acc: f64 = 0;
      for (let s = 0; s < ns; s++) {
        const b = w + <usize>o * rb + <usize>s * bsz;
        const qs = qa + (<usize>(s * 256) << QA_SHIFT);
        const bs = br + (<usize>(s * 16) << 1);
        const da = load<f32>(dr + (<usize>s << 2));
        let sumi = 0, summ = 0;
        let dw: f32 = 0, dmin: f32 = 0;
        if (type == GGML_Q4_K || type == GGML_Q5_K) {
          dw = h2f(<i32>load<u16>(b));
          dmin = h2f(<i32>load<u16>(b, 2));
          for (let j = 0; j < 8; j++) {
            let sc: i32, m: i32;
            if (j < 4) {
              sc = load<u8>(b + 4 + <usize>j) & 63;
              m = load<u8>(b + 8 + <usize>j) & 63;
            } else {
              sc = (load<u8>(b + 8 + <usize>j) & 15) | ((load<u8>(b + <usize>j) >> 6) << 4);
              m = (load<u8>(b + 8 + <usize>j) >> 4) | ((load<u8>(b + 4 + <usize>j) >> 6) << 4);
            }
            let dot = 0;
            for (let l = 0; l < 32; l++) {
              // weight 32j + l: nibble (j&1 ? high : low) of qs[32(j>>1) + l], Q5_K: + 16·bit j of qh[l]
              const qsOff: usize = type == GGML_Q4_K ? 16 : 48;
              const byte = <i32>load<u8>(b + qsOff + <usize>((j >> 1) * 32 + l));
              let v = (j & 1) ? byte >> 4 : byte & 15;
              if (type == GGML_Q5_K) v |= ((<i32>load<u8>(b + 16 + <usize>l) >> j) & 1) << 4;
              dot += v * loadQa(qs, j * 32 + l);
            }
            sumi += sc * dot;
            summ += m * (<i32>load<i16>(bs + (<usize>(2 * j) << 1)) + <i32>load<i16>(bs + (<usize>(2 * j + 1) << 1)));
          }
        } else if (type == GGML_Q6_K) {
          dw = h2f(<i32>load<u16>(b, 208));
          for (let i = 0; i < 256; i++) {
            const n = i >> 7, r = i & 127, g = r >> 5, l = r & 31;   // half, quarter, lane
            const lb = <i32>load<u8>(b + <usize>(64 * n + l + ((g & 1) << 5)));
            const hb = <i32>load<u8>(b + 128 + <usize>(32 * n + l));
            const v = ((g < 2 ? lb & 15 : lb >> 4) | (((hb >> (2 * g)) & 3) << 4)) - 32;
            sumi += <i32>load<i8>(b + 192 + <usize>(i >> 4)) * v * loadQa(qs, i);
          }
        } else if (type == GGML_Q3_K) {
          dw = h2f(<i32>load<u16>(b, 108));
          for (let i = 0; i < 256; i++) {
            const n = i >> 7, r = i & 127, j = r >> 5, l = r & 31;   // half, shift step, byte
            const low = (<i32>load<u8>(b + 32 + <usize>(32 * n + l)) >> (2 * j)) & 3;
            const high = (<i32>load<u8>(b + <usize>l) >> (4 * n + j)) & 1;
            const k = i >> 4;
            // 6-bit scale k: low 4 bits from byte k%8 (nibble k/8), high 2 bits from byte 8 + k%4 (bits 2·(k/4))
            const lo4 = (<i32>load<u8>(b + 96 + <usize>(k & 7)) >> ((k >> 3) << 2)) & 15;
            const hi2 = (<i32>load<u8>(b + 104 + <usize>(k & 3)) >> ((k >> 2) << 1)) & 3;
            const sc = (lo4 | (hi2 << 4)) - 32;
            sumi += sc * ((low | (high << 2)) - 4) * loadQa(qs, i);
          }
        } else {  // Q2_K
          dw = h2f(<i32>load<u16>(b, 80));
          dmin = h2f(<i32>load<u16>(b, 82));
          for (let i = 0; i < 256; i++) {
            const n = i >> 7, r = i & 127, j = r >> 5, l = r & 31;
            const v = (<i32>load<u8>(b + 16 + <usize>(32 * n + l)) >> (2 * j)) & 3;
            sumi += (<i32>load<u8>(b + <usize>(i >> 4)) & 15) * v * loadQa(qs, i);
          }
          for (let k = 0; k < 16; k++) summ += (<i32>load<u8>(b + <usize>k) >> 4) * <i32>load<i16>(bs + (<usize>k << 1));
        }
        acc = acc + <f64>sumi * (<f64>dw * <f64>da);
        if (type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q2_K) acc = acc - <f64>summ * (<f64>dmin * <f64>da);
      }
      store<f32>(y + (<usize>t * <usize>nOut + <usize>o << 2), <f32>acc);
    }
  }
}

// ================================================================ rows (get_rows)

/** Dequantizes n values (a multiple of 256) of K-quant `type` at src into f32 at dst. */
export function rowK(type: i32, src: usize, dst: usize, n: i32): void {
  const ns = n >> 8;
  for (let s = 0; s < ns; s++) {
    if (type == GGML_Q4_K || type == GGML_Q5_K) {
      const d = h2f(<i32>load<u16>(src)), dmin = h2f(<i32>load<u16>(src, 2));
      const q5 = type == GGML_Q5_K;
      const qs = src + (q5 ? 48 : 16);
      for (let j = 0; j < 8; j++) {
        let sc: i32, m: i32;
        if (j < 4) {
          sc = load<u8>(src + 4 + <usize>j) & 63;
          m = load<u8>(src + 8 + <usize>j) & 63;
        } else {
          sc = (load<u8>(src + 8 + <usize>j) & 15) | ((load<u8>(src + <usize>j) >> 6) << 4);
          m = (load<u8>(src + 8 + <usize>j) >> 4) | ((load<u8>(src + 4 + <usize>j) >> 6) << 4);
        }
        const d1: f32 = d * <f32>sc, m1: f32 = dmin * <f32>m;
        for (let l = 0; l < 32; l++) {
          const byte = <i32>load<u8>(qs + <usize>((j >> 1) * 32 + l));
          let v = (j & 1) ? byte >> 4 : byte & 15;
          if (q5) v |= ((<i32>load<u8>(src + 16 + <usize>l) >> j) & 1) << 4;
          store<f32>(dst + (<usize>(j * 32 + l) << 2), d1 * <f32>v - m1);
        }
      }
      src += q5 ? 176 : 144;
    } else if (type == GGML_Q6_K) {
      const d = h2f(<i32>load<u16>(src, 208));
      for (let i = 0; i < 256; i++) {
        const n2 = i >> 7, r = i & 127, g = r >> 5, l = r & 31;
        const lb = <i32>load<u8>(src + <usize>(64 * n2 + l + ((g & 1) << 5)));
        const hb = <i32>load<u8>(src + 128 + <usize>(32 * n2 + l));
        const v = ((g < 2 ? lb & 15 : lb >> 4) | (((hb >> (2 * g)) & 3) << 4)) - 32;
        const dl: f32 = d * <f32>load<i8>(src + 192 + <usize>(i >> 4));
        store<f32>(dst + (<usize>i << 2), dl * <f32>v);
      }
      src += 210;
    } else if (type == GGML_Q3_K) {
      const d = h2f(<i32>load<u16>(src, 108));
      for (let i = 0; i < 256; i++) {
        const n2 = i >> 7, r = i & 127, j = r >> 5, l = r & 31;
        const low = (<i32>load<u8>(src + 32 + <usize>(32 * n2 + l)) >> (2 * j)) & 3;
        const high = (<i32>load<u8>(src + <usize>l) >> (4 * n2 + j)) & 1;
        const k = i >> 4;
        const lo4 = (<i32>load<u8>(src + 96 + <usize>(k & 7)) >> ((k >> 3) << 2)) & 15;
        const hi2 = (<i32>load<u8>(src + 104 + <usize>(k & 3)) >> ((k >> 2) << 1)) & 3;
        const dl: f32 = d * <f32>((lo4 | (hi2 << 4)) - 32);
        store<f32>(dst + (<usize>i << 2), dl * <f32>((low | (high << 2)) - 4));
      }
      src += 110;
    } else if (type == GGML_Q2_K) {
      const d = h2f(<i32>load<u16>(src, 80)), dmin = h2f(<i32>load<u16>(src, 82));
      for (let i = 0; i < 256; i++) {
        const n2 = i >> 7, r = i & 127, j = r >> 5, l = r & 31;
        const v = (<i32>load<u8>(src + 16 + <usize>(32 * n2 + l)) >> (2 * j)) & 3;
        const sc = <i32>load<u8>(src + <usize>(i >> 4));
        const dl: f32 = d * <f32>(sc & 15), ml: f32 = dmin * <f32>(sc >> 4);
        store<f32>(dst + (<usize>i << 2), dl * <f32>v - ml);
      }
      src += 84;
    } else {
      unreachable();
    }
    dst += 1024;
  }
}
