// K-quants (super-blocks of 256 weights): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
//   - rows: dequantization of one row (get_rows), the reference's f32 formulas step by step
//   - matmul against the Q8_K act (quant.ts): integer dot products, then per super-block and token, in f64
//     where both products are exact (i32 · fp16 · f32 < 2^53):
//       acc = acc + f64(Σ_j sc_j·Σ q_w·q_a) · (f64(d_w)·f64(d_a))        [Q2_K, Q4_K, Q5_K also:]
//       acc = acc − f64(Σ_j m_j·bsum_j) · (f64(dmin_w)·f64(d_a))
//     y = f32(acc): the dot product of the quantized operands, rounded once (the reference's own f32 sums
//     are within their rounding of it). Same steps in the 1-token kernel, the 4-token kernel (lanes =
//     tokens) and the scalar twin, so the three agree bit for bit and a token's result does not depend on
//     the tile it falls in. The integer sums are exact in any order, so the kernels group them freely.
//
// Block layouts (little endian, d/dmin fp16), weights in element order:
//   Q2_K  84 B: scales[16] (lo nibble scale, hi nibble min, per 16), qs[64] (2 bits), d, dmin
//   Q3_K 110 B: hmask[32], qs[64] (2 low bits), scales[12] (16 × 6 bits, −32), d
//   Q4_K 144 B: d, dmin, scales[12] (8 scales + 8 mins, 6 bits, per 32), qs[128] (4 bits)
//   Q5_K 176 B: d, dmin, scales[12] (as Q4_K), qh[32] (5th bit), qs[128]
//   Q6_K 210 B: ql[128] (4 low bits), qh[64] (2 high bits), scales[16] (i8, per 16), d
//
// Kernels (plain SIMD: act quants i16, i32x4.dot_i16x8_s; relaxed SIMD (…R): act quants i8,
// i16x8.relaxed_dot_i8x16_i7x16_s):
//   - 1 token (decode): two rows per call (mmK pairs them up), so each act load serves two rows.
//   - 4 tokens (prefill): one row; each group of weights is unpacked (and scaled) once for the 4 tokens.
//   - Weights are unpacked at byte level (16 per op) and zero-extended to i16 (plain) or fed as unsigned
//     bytes (relaxed): the quants are used unsigned, and the Q3_K/Q6_K offsets (−4, −32) are taken out with
//     the act's bsums: Σ sc·Σ(q − o)·a = Σ sc·Σq·a − o·Σ sc·bsum.
//   - Nibbles and bit fields are cut with i16 shifts and byte masks (wasm's i8x16 shifts are emulated: 3 to 5
//     instructions on x64); each use states why the bits a shift moves across a byte boundary are masked.
// V8 (TurboFan, Node 20) shapes the code as much as the arithmetic does, see KC and fence.
import { GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K } from "../../src/abi";
import { h2f } from "./f16";
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

// Q plane bytes per super-block
// @ts-ignore: decorator
@inline const QS: usize = <usize>256 << QA_SHIFT;

// ---------------------------------------------------------------- V8

// Lane constants. V8 rematerialises a v128.const at every use inside a loop (three or more instructions); a
// vector loaded from memory costs one load, or nothing when it is loaded before the loop.
export const KC: usize = memory.data<u32>([
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f,   // KC_M4: the low nibble of each byte
  0x30303030, 0x30303030, 0x30303030, 0x30303030,   // KC_M30: bits 4, 5 of each byte
  0x10101010, 0x10101010, 0x10101010, 0x10101010,   // KC_M10: bit 4 of each byte
  0x03030303, 0x03030303, 0x03030303, 0x03030303,   // KC_M3: bits 0, 1 of each byte
  0x04040404, 0x04040404, 0x04040404, 0x04040404,   // KC_M04: bit 2 of each byte
  0x20202020, 0x20202020, 0x20202020, 0x20202020,   // KC_B32: 32 in each byte
  0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f,   // KC_K4LO: Q4_K scales and mins, low bits
  0x00000000, 0x30303030, 0x00000000, 0x30303030,   // KC_K4HI: Q4_K scales and mins, high bits
  0x8fffe000, 0x8fffe000, 0x8fffe000, 0x8fffe000,   // KC_H2F: a half's sign, exponent and mantissa, << 13
  0x0f800000, 0x0f800000, 0x0f800000, 0x0f800000,   // KC_E31: half exponent 31, << 13
  0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000,   // KC_INF: f32 exponent 255
  0x77800000, 0x77800000, 0x77800000, 0x77800000,   // KC_P112: f32 2^112
], 16);
// @ts-ignore: decorator
@inline export const KC_M4: usize = 0;
// @ts-ignore: decorator
@inline const KC_M30: usize = 16;
// @ts-ignore: decorator
@inline const KC_M10: usize = 32;
// @ts-ignore: decorator
@inline const KC_M3: usize = 48;
// @ts-ignore: decorator
@inline const KC_M04: usize = 64;
// @ts-ignore: decorator
@inline const KC_B32: usize = 80;
// @ts-ignore: decorator
@inline const KC_K4LO: usize = 96;
// @ts-ignore: decorator
@inline const KC_K4HI: usize = 112;
// @ts-ignore: decorator
@inline export const KC_H2F: usize = 128;
// @ts-ignore: decorator
@inline const KC_E31: usize = 144;
// @ts-ignore: decorator
@inline const KC_INF: usize = 160;
// @ts-ignore: decorator
@inline export const KC_P112: usize = 176;

// V8 schedules every load of a basic block ahead of the arithmetic on them: a super-block unrolled into
// straight-line code (40+ loads) spills most of them to the stack. A store makes the loads after it wait,
// and waits for its own value: storing a lane of a running sum to the output (which the result overwrites at
// the end) between two groups of loads keeps each group's loads in registers.
// @ts-ignore: decorator
@inline function fence(yp: usize, v: v128): void { v128.store32_lane(yp, v, 0); }

// ---------------------------------------------------------------- shared helpers

// f32(h2f(h_i)) for the halves in i16 lanes 0..3 of v, exactly: a half's sign, exponent and mantissa moved to
// their f32 positions make its value times 2^-112 (an f32 subnormal for a subnormal half), so one multiply by
// 2^112 converts normal, subnormal and zero halves; exponent 31 (inf, NaN) gets 255.
// @ts-ignore: decorator
@inline function h2f4(v: v128): v128 {
  const e = v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), v128.load(KC, KC_H2F));
  const e31 = v128.load(KC, KC_E31);
  const inf = v128.and(i32x4.eq(v128.and(e, e31), e31), v128.load(KC, KC_INF));
  return v128.or(f32x4.mul(e, v128.load(KC, KC_P112)), inf);
}

// [f64(h2f(h0)), f64(h2f(h1))] for the halves in i16 lanes 0 and 1 of v
// @ts-ignore: decorator
@inline function h2f2(v: v128): v128 { return f64x2.promote_low_f32x4(h2f4(v)); }

// the halves at a and b in i16 lanes 0 and 1
// @ts-ignore: decorator
@inline function halves2(a: usize, b: usize): v128 {
  return v128.load16_lane(b, v128.load16_splat(a), 1);
}

// [a0 + a2, b0 + b2, a1 + a3, b1 + b3] (i32): twice gives the four sums of pairSum(pairSum(a, b), pairSum(c, d))
// in the order a, c, b, d
// @ts-ignore: decorator
@inline function pairSum(a: v128, b: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
}

// [f64(Σ lanes of a), f64(Σ lanes of b)]
// @ts-ignore: decorator
@inline function hsum2(a: v128, b: v128): v128 {
  const t = pairSum(a, b);
  return f64x2.convert_low_i32x4_s(i32x4.add(t, v128.shuffle<i32>(t, t, 2, 3, 0, 1)));
}

// [Σa0, Σa1, Σa2, Σa3] (i32)
// @ts-ignore: decorator
@inline function isum4x4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = i32x4.add(v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), v128.shuffle<i32>(a0, a1, 2, 6, 3, 7));
  const s23 = i32x4.add(v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), v128.shuffle<i32>(a2, a3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(s01, s23, 0, 1, 4, 5), v128.shuffle<i32>(s01, s23, 2, 3, 6, 7));
}

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

// i32x4 partials of Σ m·bsum for 16 i16 factors (mLo: 0..7, mHi: 8..15) and the 16 bsums (i16) at bs
// @ts-ignore: decorator
@inline function bsumDot(mLo: v128, mHi: v128, bs: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(mLo, v128.load(bs, 0)), i32x4.dot_i16x8_s(mHi, v128.load(bs, 16)));
}

// The same for 8 factors, one per 32 weights (Q4_K/Q5_K mins): each is paired with two 16-sums
// @ts-ignore: decorator
@inline function bsumDot8(m16: v128, bs: usize): v128 {
  return bsumDot(v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3), v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7), bs);
}

// ---- plain SIMD (act quants i16)

// i32x4 partials of Σ v·a for 16 weights v (bytes, < 128) and their act a0 (weights 0..7), a1 (8..15)
// @ts-ignore: decorator
@inline function dot16v(v: v128, a0: v128, a1: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v), a0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v), a1));
}

// sc_lo·Σ lo + sc_hi·Σ hi for two groups of weights with i32x4 partial sums lo and hi, scp = [sc_lo ×4,
// sc_hi ×4] (i16): when each lane of lo and hi is below 2^15 in magnitude (stated where used), the i16
// narrowing is exact and one i32x4.dot_i16x8_s scales both groups and adds lane pairs.
// @ts-ignore: decorator
@inline function scale2(lo: v128, hi: v128, scp: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.narrow_i32x4_s(lo, hi), scp);
}

// [sc_{2p} ×4, sc_{2p+1} ×4] (i16) from sc16 = [sc0..sc7] (i16)
// @ts-ignore: decorator
@inline function scPair(sc16: v128, p: i32): v128 {
  const s = p < 2 ? v128.shuffle<i16>(sc16, sc16, 0, 0, 1, 1, 2, 2, 3, 3) : v128.shuffle<i16>(sc16, sc16, 4, 4, 5, 5, 6, 6, 7, 7);
  return (p & 1) ? v128.shuffle<u32>(s, s, 2, 2, 3, 3) : v128.shuffle<u32>(s, s, 0, 0, 1, 1);
}

// sc_j (i16 lane j of sc16) in every i16 lane
// @ts-ignore: decorator
@inline function scSplat(sc16: v128, j: i32): v128 {
  if (j == 0) return v128.shuffle<i16>(sc16, sc16, 0, 0, 0, 0, 0, 0, 0, 0);
  if (j == 1) return v128.shuffle<i16>(sc16, sc16, 1, 1, 1, 1, 1, 1, 1, 1);
  if (j == 2) return v128.shuffle<i16>(sc16, sc16, 2, 2, 2, 2, 2, 2, 2, 2);
  if (j == 3) return v128.shuffle<i16>(sc16, sc16, 3, 3, 3, 3, 3, 3, 3, 3);
  if (j == 4) return v128.shuffle<i16>(sc16, sc16, 4, 4, 4, 4, 4, 4, 4, 4);
  if (j == 5) return v128.shuffle<i16>(sc16, sc16, 5, 5, 5, 5, 5, 5, 5, 5);
  if (j == 6) return v128.shuffle<i16>(sc16, sc16, 6, 6, 6, 6, 6, 6, 6, 6);
  return v128.shuffle<i16>(sc16, sc16, 7, 7, 7, 7, 7, 7, 7, 7);
}

// 16 weights (bytes, < 128) as 2 × 8 i16, times sc (i16 splat)
// @ts-ignore: decorator
@inline function uLo(v: v128, sc: v128): v128 { return i16x8.mul(i16x8.extend_low_i8x16_u(v), sc); }
// @ts-ignore: decorator
@inline function uHi(v: v128, sc: v128): v128 { return i16x8.mul(i16x8.extend_high_i8x16_u(v), sc); }

// s + Σ of 32 scaled weights (i16 × 8 in u0..u3) times their act (i16 × 8 in a0..a3), then fence(yp). The
// callers load the act with constant offsets on a pointer per token: V8 does not fold "pointer + constant"
// into an address (the i32 sum could wrap), while a load's offset field costs nothing.
// @ts-ignore: decorator
@inline function tok32(s: v128, u0: v128, u1: v128, u2: v128, u3: v128, a0: v128, a1: v128, a2: v128, a3: v128,
                       yp: usize): v128 {
  s = i32x4.add(s, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(u0, a0), i32x4.dot_i16x8_s(u1, a1)),
                             i32x4.add(i32x4.dot_i16x8_s(u2, a2), i32x4.dot_i16x8_s(u3, a3))));
  fence(yp, s);
  return s;
}

// ---- relaxed SIMD (act quants i8)
// i16x8.relaxed_dot_i8x16_i7x16_s(act, w) with w the unsigned quants (< 128, valid 7-bit operands) gives
// exact pair sums (|pair| ≤ 2·127·63, no saturation on any lowering); i32x4.dot_i16x8_s then scales and
// widens them. The integer sums are exact, so these kernels equal the plain ones bit for bit.

// pair sums (i16x8) of 16 weights v (bytes, < 128) times 16 act quants a (i8)
// @ts-ignore: decorator
@inline function rd(a: v128, v: v128): v128 { return i16x8.relaxed_dot_i8x16_i7x16_s(a, v); }

// sc_{2p}·Σ lo + sc_{2p+1}·Σ hi (i32x4 partials) for the pair sums lo, hi (i16x8) of two groups and
// sc16 = [sc0..sc7] (i16): interleaved with the scales, one i32x4.dot_i16x8_s per 8 lanes does both groups
// @ts-ignore: decorator
@inline function scale2R(lo: v128, hi: v128, sc16: v128, p: i32): v128 {
  const sc = p == 0 ? v128.shuffle<u32>(sc16, sc16, 0, 0, 0, 0) : p == 1 ? v128.shuffle<u32>(sc16, sc16, 1, 1, 1, 1)
    : p == 2 ? v128.shuffle<u32>(sc16, sc16, 2, 2, 2, 2) : v128.shuffle<u32>(sc16, sc16, 3, 3, 3, 3);
  return i32x4.add(i32x4.dot_i16x8_s(v128.shuffle<i16>(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11), sc),
                   i32x4.dot_i16x8_s(v128.shuffle<i16>(lo, hi, 4, 12, 5, 13, 6, 14, 7, 15), sc));
}

// s + sa·(pair sums of g0 · act a0) + sb·(g1 · a1), then fence(yp) (act loads: see tok32)
// @ts-ignore: decorator
@inline function tok16x2R(s: v128, g0: v128, g1: v128, sa: v128, sb: v128, a0: v128, a1: v128, yp: usize): v128 {
  s = i32x4.add(s, i32x4.add(i32x4.dot_i16x8_s(rd(a0, g0), sa), i32x4.dot_i16x8_s(rd(a1, g1), sb)));
  fence(yp, s);
  return s;
}

// s + sc·(pair sums of 32 weights v0, v1 · act a0, a1), then fence(yp) (act loads: see tok32)
// @ts-ignore: decorator
@inline function tok32R(s: v128, v0: v128, v1: v128, sc: v128, a0: v128, a1: v128, yp: usize): v128 {
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.add(rd(a0, v0), rd(a1, v1)), sc));
  fence(yp, s);
  return s;
}

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

// sub-block 2p + nib of two rows (blocks at w0, w1) times its 32 act a0..a3 (i16, loaded once for both rows):
// [row 0's i32x4 partials, row 1's] narrowed to i16. A lane adds 8 products q·a ≤ 31·128: below 2^15.
// @ts-ignore: decorator
@inline function q45Sub2(q5: bool, w0: usize, w1: usize, p: i32, nib: i32, a0: v128, a1: v128, a2: v128, a3: v128,
                         m4: v128, m10: v128): v128 {
  const r0 = i32x4.add(dot16v(q45Quants(q5, w0, p, nib, 0, m4, m10), a0, a1), dot16v(q45Quants(q5, w0, p, nib, 1, m4, m10), a2, a3));
  const r1 = i32x4.add(dot16v(q45Quants(q5, w1, p, nib, 0, m4, m10), a0, a1), dot16v(q45Quants(q5, w1, p, nib, 1, m4, m10), a2, a3));
  return i16x8.narrow_i32x4_s(r0, r1);
}

// One token, two rows (blocks at w0, w1; outputs y0, y1; w1 = w0, y1 = y0 for a single row). Per sub-block
// pair, [row 0's low-nibble sums, row 1's] and the high-nibble ones are regrouped per row (i64 lanes) and
// one i32x4.dot_i16x8_s per row scales and adds both sub-blocks (as scale2).
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
    let si0 = i32x4.splat(0), si1 = i32x4.splat(0);
    {
      const lo = q45Sub2(q5, w0, w1, 0, 0, v128.load(q, 0), v128.load(q, 16), v128.load(q, 32), v128.load(q, 48), m4, m10);
      fence(y0, lo);
      const hi = q45Sub2(q5, w0, w1, 0, 1, v128.load(q, 64), v128.load(q, 80), v128.load(q, 96), v128.load(q, 112), m4, m10);
      si0 = i32x4.add(si0, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 0, 2), scPair(sc0, 0)));
      si1 = i32x4.add(si1, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 1, 3), scPair(sc1, 0)));
      fence(y0, si0);
      fence(y1, si1);
    }
    {
      const lo = q45Sub2(q5, w0, w1, 1, 0, v128.load(q, 128), v128.load(q, 144), v128.load(q, 160), v128.load(q, 176), m4, m10);
      fence(y0, lo);
      const hi = q45Sub2(q5, w0, w1, 1, 1, v128.load(q, 192), v128.load(q, 208), v128.load(q, 224), v128.load(q, 240), m4, m10);
      si0 = i32x4.add(si0, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 0, 2), scPair(sc0, 1)));
      si1 = i32x4.add(si1, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 1, 3), scPair(sc1, 1)));
      fence(y0, si0);
      fence(y1, si1);
    }
    {
      const lo = q45Sub2(q5, w0, w1, 2, 0, v128.load(q, 256), v128.load(q, 272), v128.load(q, 288), v128.load(q, 304), m4, m10);
      fence(y0, lo);
      const hi = q45Sub2(q5, w0, w1, 2, 1, v128.load(q, 320), v128.load(q, 336), v128.load(q, 352), v128.load(q, 368), m4, m10);
      si0 = i32x4.add(si0, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 0, 2), scPair(sc0, 2)));
      si1 = i32x4.add(si1, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 1, 3), scPair(sc1, 2)));
      fence(y0, si0);
      fence(y1, si1);
    }
    {
      const lo = q45Sub2(q5, w0, w1, 3, 0, v128.load(q, 384), v128.load(q, 400), v128.load(q, 416), v128.load(q, 432), m4, m10);
      fence(y0, lo);
      const hi = q45Sub2(q5, w0, w1, 3, 1, v128.load(q, 448), v128.load(q, 464), v128.load(q, 480), v128.load(q, 496), m4, m10);
      si0 = i32x4.add(si0, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 0, 2), scPair(sc0, 3)));
      si1 = i32x4.add(si1, i32x4.dot_i16x8_s(v128.shuffle<u64>(lo, hi, 1, 3), scPair(sc1, 3)));
      fence(y0, si0);
      fence(y1, si1);
    }
    const u = pairSum(pairSum(si0, si1), sm);                             // [Σsi0, Σsm0, Σsi1, Σsm1]
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

// Four tokens (lanes), one row: each sub-block's 32 weights are unpacked and scaled (i16) once, then dotted
// with each token's act; the fence after each token keeps one token's act loads in registers at a time.
// @ts-ignore: decorator
@inline function k4Q45(q5: bool, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                       d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m10 = v128.load(KC, KC_M10);
  for (let s = 0; s < ns; s++) {
    const hdr = v128.load(w);
    const scm = k4Scales(hdr);
    const sc16 = i16x8.extend_low_i8x16_u(scm);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    {
      const sc = scSplat(sc16, 0);
      const v0 = q45Quants(q5, w, 0, 0, 0, m4, m10), v1 = q45Quants(q5, w, 0, 0, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 0), v128.load(q0, 16), v128.load(q0, 32), v128.load(q0, 48), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 0), v128.load(q1, 16), v128.load(q1, 32), v128.load(q1, 48), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 0), v128.load(q2, 16), v128.load(q2, 32), v128.load(q2, 48), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 0), v128.load(q3, 16), v128.load(q3, 32), v128.load(q3, 48), yp);
    }
    {
      const sc = scSplat(sc16, 1);
      const v0 = q45Quants(q5, w, 0, 1, 0, m4, m10), v1 = q45Quants(q5, w, 0, 1, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 64), v128.load(q0, 80), v128.load(q0, 96), v128.load(q0, 112), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 64), v128.load(q1, 80), v128.load(q1, 96), v128.load(q1, 112), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 64), v128.load(q2, 80), v128.load(q2, 96), v128.load(q2, 112), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 64), v128.load(q3, 80), v128.load(q3, 96), v128.load(q3, 112), yp);
    }
    {
      const sc = scSplat(sc16, 2);
      const v0 = q45Quants(q5, w, 1, 0, 0, m4, m10), v1 = q45Quants(q5, w, 1, 0, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 128), v128.load(q0, 144), v128.load(q0, 160), v128.load(q0, 176), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 128), v128.load(q1, 144), v128.load(q1, 160), v128.load(q1, 176), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 128), v128.load(q2, 144), v128.load(q2, 160), v128.load(q2, 176), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 128), v128.load(q3, 144), v128.load(q3, 160), v128.load(q3, 176), yp);
    }
    {
      const sc = scSplat(sc16, 3);
      const v0 = q45Quants(q5, w, 1, 1, 0, m4, m10), v1 = q45Quants(q5, w, 1, 1, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 192), v128.load(q0, 208), v128.load(q0, 224), v128.load(q0, 240), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 192), v128.load(q1, 208), v128.load(q1, 224), v128.load(q1, 240), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 192), v128.load(q2, 208), v128.load(q2, 224), v128.load(q2, 240), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 192), v128.load(q3, 208), v128.load(q3, 224), v128.load(q3, 240), yp);
    }
    {
      const sc = scSplat(sc16, 4);
      const v0 = q45Quants(q5, w, 2, 0, 0, m4, m10), v1 = q45Quants(q5, w, 2, 0, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 256), v128.load(q0, 272), v128.load(q0, 288), v128.load(q0, 304), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 256), v128.load(q1, 272), v128.load(q1, 288), v128.load(q1, 304), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 256), v128.load(q2, 272), v128.load(q2, 288), v128.load(q2, 304), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 256), v128.load(q3, 272), v128.load(q3, 288), v128.load(q3, 304), yp);
    }
    {
      const sc = scSplat(sc16, 5);
      const v0 = q45Quants(q5, w, 2, 1, 0, m4, m10), v1 = q45Quants(q5, w, 2, 1, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 320), v128.load(q0, 336), v128.load(q0, 352), v128.load(q0, 368), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 320), v128.load(q1, 336), v128.load(q1, 352), v128.load(q1, 368), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 320), v128.load(q2, 336), v128.load(q2, 352), v128.load(q2, 368), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 320), v128.load(q3, 336), v128.load(q3, 352), v128.load(q3, 368), yp);
    }
    {
      const sc = scSplat(sc16, 6);
      const v0 = q45Quants(q5, w, 3, 0, 0, m4, m10), v1 = q45Quants(q5, w, 3, 0, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 384), v128.load(q0, 400), v128.load(q0, 416), v128.load(q0, 432), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 384), v128.load(q1, 400), v128.load(q1, 416), v128.load(q1, 432), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 384), v128.load(q2, 400), v128.load(q2, 416), v128.load(q2, 432), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 384), v128.load(q3, 400), v128.load(q3, 416), v128.load(q3, 432), yp);
    }
    {
      const sc = scSplat(sc16, 7);
      const v0 = q45Quants(q5, w, 3, 1, 0, m4, m10), v1 = q45Quants(q5, w, 3, 1, 1, m4, m10);
      const u0 = uLo(v0, sc), u1 = uHi(v0, sc), u2 = uLo(v1, sc), u3 = uHi(v1, sc);
      s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 448), v128.load(q0, 464), v128.load(q0, 480), v128.load(q0, 496), yp);
      s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 448), v128.load(q1, 464), v128.load(q1, 480), v128.load(q1, 496), yp);
      s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 448), v128.load(q2, 464), v128.load(q2, 480), v128.load(q2, 496), yp);
      s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 448), v128.load(q3, 464), v128.load(q3, 480), v128.load(q3, 496), yp);
    }
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

// k1Q45 with i8 act: the two 16-weight halves of a sub-block add up in i16 (|lane| ≤ 4·31·127)
// @ts-ignore: decorator
@inline function k1Q45R(q5: bool, w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  const bsz: usize = q5 ? 176 : 144;
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m10 = v128.load(KC, KC_M10);
  for (let s = 0; s < ns; s++) {
    const scm0 = k4Scales(v128.load(w0)), scm1 = k4Scales(v128.load(w1));
    const sc0 = i16x8.extend_low_i8x16_u(scm0), sc1 = i16x8.extend_low_i8x16_u(scm1);
    // mins · bsums first (then only sc0, sc1 and sm stay live through the groups)
    const sm = pairSum(bsumDot8(i16x8.extend_high_i8x16_u(scm0), bs), bsumDot8(i16x8.extend_high_i8x16_u(scm1), bs));
    fence(y0, sm);
    let si0 = i32x4.splat(0), si1 = i32x4.splat(0);
    {
      const a0 = v128.load(q, 0), a1 = v128.load(q, 16);
      const lo0 = i16x8.add(rd(a0, q45Quants(q5, w0, 0, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w0, 0, 0, 1, m4, m10)));
      const lo1 = i16x8.add(rd(a0, q45Quants(q5, w1, 0, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w1, 0, 0, 1, m4, m10)));
      fence(y0, lo0);
      fence(y1, lo1);
      const a2 = v128.load(q, 32), a3 = v128.load(q, 48);
      const hi0 = i16x8.add(rd(a2, q45Quants(q5, w0, 0, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w0, 0, 1, 1, m4, m10)));
      const hi1 = i16x8.add(rd(a2, q45Quants(q5, w1, 0, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w1, 0, 1, 1, m4, m10)));
      si0 = i32x4.add(si0, scale2R(lo0, hi0, sc0, 0));
      si1 = i32x4.add(si1, scale2R(lo1, hi1, sc1, 0));
      fence(y0, si0);
      fence(y1, si1);
    }
    {
      const a0 = v128.load(q, 64), a1 = v128.load(q, 80);
      const lo0 = i16x8.add(rd(a0, q45Quants(q5, w0, 1, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w0, 1, 0, 1, m4, m10)));
      const lo1 = i16x8.add(rd(a0, q45Quants(q5, w1, 1, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w1, 1, 0, 1, m4, m10)));
      fence(y0, lo0);
      fence(y1, lo1);
      const a2 = v128.load(q, 96), a3 = v128.load(q, 112);
      const hi0 = i16x8.add(rd(a2, q45Quants(q5, w0, 1, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w0, 1, 1, 1, m4, m10)));
      const hi1 = i16x8.add(rd(a2, q45Quants(q5, w1, 1, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w1, 1, 1, 1, m4, m10)));
      si0 = i32x4.add(si0, scale2R(lo0, hi0, sc0, 1));
      si1 = i32x4.add(si1, scale2R(lo1, hi1, sc1, 1));
      fence(y0, si0);
      fence(y1, si1);
    }
    {
      const a0 = v128.load(q, 128), a1 = v128.load(q, 144);
      const lo0 = i16x8.add(rd(a0, q45Quants(q5, w0, 2, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w0, 2, 0, 1, m4, m10)));
      const lo1 = i16x8.add(rd(a0, q45Quants(q5, w1, 2, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w1, 2, 0, 1, m4, m10)));
      fence(y0, lo0);
      fence(y1, lo1);
      const a2 = v128.load(q, 160), a3 = v128.load(q, 176);
      const hi0 = i16x8.add(rd(a2, q45Quants(q5, w0, 2, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w0, 2, 1, 1, m4, m10)));
      const hi1 = i16x8.add(rd(a2, q45Quants(q5, w1, 2, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w1, 2, 1, 1, m4, m10)));
      si0 = i32x4.add(si0, scale2R(lo0, hi0, sc0, 2));
      si1 = i32x4.add(si1, scale2R(lo1, hi1, sc1, 2));
      fence(y0, si0);
      fence(y1, si1);
    }
    {
      const a0 = v128.load(q, 192), a1 = v128.load(q, 208);
      const lo0 = i16x8.add(rd(a0, q45Quants(q5, w0, 3, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w0, 3, 0, 1, m4, m10)));
      const lo1 = i16x8.add(rd(a0, q45Quants(q5, w1, 3, 0, 0, m4, m10)), rd(a1, q45Quants(q5, w1, 3, 0, 1, m4, m10)));
      fence(y0, lo0);
      fence(y1, lo1);
      const a2 = v128.load(q, 224), a3 = v128.load(q, 240);
      const hi0 = i16x8.add(rd(a2, q45Quants(q5, w0, 3, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w0, 3, 1, 1, m4, m10)));
      const hi1 = i16x8.add(rd(a2, q45Quants(q5, w1, 3, 1, 0, m4, m10)), rd(a3, q45Quants(q5, w1, 3, 1, 1, m4, m10)));
      si0 = i32x4.add(si0, scale2R(lo0, hi0, sc0, 3));
      si1 = i32x4.add(si1, scale2R(lo1, hi1, sc1, 3));
      fence(y0, si0);
      fence(y1, si1);
    }
    const u = pairSum(pairSum(si0, si1), sm);                             // [Σsi0, Σsm0, Σsi1, Σsm1]
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

// k4Q45 with i8 act
// @ts-ignore: decorator
@inline function k4Q45R(q5: bool, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                        d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m10 = v128.load(KC, KC_M10);
  for (let s = 0; s < ns; s++) {
    const hdr = v128.load(w);
    const scm = k4Scales(hdr);
    const sc16 = i16x8.extend_low_i8x16_u(scm);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    {
      const sc = scSplat(sc16, 0);
      const v0 = q45Quants(q5, w, 0, 0, 0, m4, m10), v1 = q45Quants(q5, w, 0, 0, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 0), v128.load(q0, 16), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 0), v128.load(q1, 16), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 0), v128.load(q2, 16), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 0), v128.load(q3, 16), yp);
    }
    {
      const sc = scSplat(sc16, 1);
      const v0 = q45Quants(q5, w, 0, 1, 0, m4, m10), v1 = q45Quants(q5, w, 0, 1, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 32), v128.load(q0, 48), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 32), v128.load(q1, 48), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 32), v128.load(q2, 48), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 32), v128.load(q3, 48), yp);
    }
    {
      const sc = scSplat(sc16, 2);
      const v0 = q45Quants(q5, w, 1, 0, 0, m4, m10), v1 = q45Quants(q5, w, 1, 0, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 64), v128.load(q0, 80), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 64), v128.load(q1, 80), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 64), v128.load(q2, 80), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 64), v128.load(q3, 80), yp);
    }
    {
      const sc = scSplat(sc16, 3);
      const v0 = q45Quants(q5, w, 1, 1, 0, m4, m10), v1 = q45Quants(q5, w, 1, 1, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 96), v128.load(q0, 112), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 96), v128.load(q1, 112), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 96), v128.load(q2, 112), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 96), v128.load(q3, 112), yp);
    }
    {
      const sc = scSplat(sc16, 4);
      const v0 = q45Quants(q5, w, 2, 0, 0, m4, m10), v1 = q45Quants(q5, w, 2, 0, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 128), v128.load(q0, 144), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 128), v128.load(q1, 144), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 128), v128.load(q2, 144), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 128), v128.load(q3, 144), yp);
    }
    {
      const sc = scSplat(sc16, 5);
      const v0 = q45Quants(q5, w, 2, 1, 0, m4, m10), v1 = q45Quants(q5, w, 2, 1, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 160), v128.load(q0, 176), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 160), v128.load(q1, 176), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 160), v128.load(q2, 176), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 160), v128.load(q3, 176), yp);
    }
    {
      const sc = scSplat(sc16, 6);
      const v0 = q45Quants(q5, w, 3, 0, 0, m4, m10), v1 = q45Quants(q5, w, 3, 0, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 192), v128.load(q0, 208), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 192), v128.load(q1, 208), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 192), v128.load(q2, 208), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 192), v128.load(q3, 208), yp);
    }
    {
      const sc = scSplat(sc16, 7);
      const v0 = q45Quants(q5, w, 3, 1, 0, m4, m10), v1 = q45Quants(q5, w, 3, 1, 1, m4, m10);
      s0 = tok32R(s0, v0, v1, sc, v128.load(q0, 224), v128.load(q0, 240), yp);
      s1 = tok32R(s1, v0, v1, sc, v128.load(q1, 224), v128.load(q1, 240), yp);
      s2 = tok32R(s2, v0, v1, sc, v128.load(q2, 224), v128.load(q2, 240), yp);
      s3 = tok32R(s3, v0, v1, sc, v128.load(q3, 224), v128.load(q3, 240), yp);
    }
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

// One token, two rows: see k1Q45
function k1Q6K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m30 = v128.load(KC, KC_M30);
  for (let s = 0; s < ns; s++) {
    const c0 = v128.load(w0, 192), c1 = v128.load(w1, 192);
    let si0 = i32x4.splat(0), si1 = i32x4.splat(0);
    {
      const l0 = i16x8.extend_low_i8x16_s(c0), l1 = i16x8.extend_low_i8x16_s(c1);     // scales 0..7 (i16)
      {
        const a0 = v128.load(q, 0), a1 = v128.load(q, 16), a2 = v128.load(q, 64), a3 = v128.load(q, 80);
        si0 = i32x4.add(si0, q6Pair(w0, 0, 0, 0, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 0, 0, 0, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 32), a1 = v128.load(q, 48), a2 = v128.load(q, 96), a3 = v128.load(q, 112);
        si0 = i32x4.add(si0, q6Pair(w0, 0, 0, 1, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 0, 0, 1, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 128), a1 = v128.load(q, 144), a2 = v128.load(q, 192), a3 = v128.load(q, 208);
        si0 = i32x4.add(si0, q6Pair(w0, 0, 1, 0, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 0, 1, 0, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 160), a1 = v128.load(q, 176), a2 = v128.load(q, 224), a3 = v128.load(q, 240);
        si0 = i32x4.add(si0, q6Pair(w0, 0, 1, 1, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 0, 1, 1, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    {
      const l0 = i16x8.extend_high_i8x16_s(c0), l1 = i16x8.extend_high_i8x16_s(c1);     // scales 8..15 (i16)
      {
        const a0 = v128.load(q, 256), a1 = v128.load(q, 272), a2 = v128.load(q, 320), a3 = v128.load(q, 336);
        si0 = i32x4.add(si0, q6Pair(w0, 1, 0, 0, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 1, 0, 0, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 288), a1 = v128.load(q, 304), a2 = v128.load(q, 352), a3 = v128.load(q, 368);
        si0 = i32x4.add(si0, q6Pair(w0, 1, 0, 1, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 1, 0, 1, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 384), a1 = v128.load(q, 400), a2 = v128.load(q, 448), a3 = v128.load(q, 464);
        si0 = i32x4.add(si0, q6Pair(w0, 1, 1, 0, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 1, 1, 0, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 416), a1 = v128.load(q, 432), a2 = v128.load(q, 480), a3 = v128.load(q, 496);
        si0 = i32x4.add(si0, q6Pair(w0, 1, 1, 1, m4, m30, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q6Pair(w1, 1, 1, 1, m4, m30, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    si0 = i32x4.sub(si0, q6Corr(c0, bs));
    si1 = i32x4.sub(si1, q6Corr(c1, bs));
    const p = f64x2.mul(hsum2(si0, si1), f64x2.mul(h2f2(halves2(w0 + 208, w1 + 208)), f64x2.splat(<f64>load<f32>(d))));
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

// Four tokens: see k4Q45. The groups k and k + 2 share their qh bytes.
function k4Q6K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m30 = v128.load(KC, KC_M30);
  for (let s = 0; s < ns; s++) {
    const c = v128.load(w, 192);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    {
      const l = i16x8.extend_low_i8x16_s(c);     // scales 0..7 (i16)
      {
        const qh = q6qh(w, 0, 0);
        const g0 = q6Group(q6ql(w, 0, 0, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 0, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 0), sb = scSplat(l, 2);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 0), v128.load(q0, 16), v128.load(q0, 64), v128.load(q0, 80), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 0), v128.load(q1, 16), v128.load(q1, 64), v128.load(q1, 80), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 0), v128.load(q2, 16), v128.load(q2, 64), v128.load(q2, 80), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 0), v128.load(q3, 16), v128.load(q3, 64), v128.load(q3, 80), yp);
      }
      {
        const qh = q6qh(w, 0, 1);
        const g0 = q6Group(q6ql(w, 0, 1, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 1, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 1), sb = scSplat(l, 3);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 32), v128.load(q0, 48), v128.load(q0, 96), v128.load(q0, 112), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 32), v128.load(q1, 48), v128.load(q1, 96), v128.load(q1, 112), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 32), v128.load(q2, 48), v128.load(q2, 96), v128.load(q2, 112), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 32), v128.load(q3, 48), v128.load(q3, 96), v128.load(q3, 112), yp);
      }
      {
        const qh = q6qh(w, 0, 0);
        const g0 = q6Group(q6ql(w, 0, 0, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 0, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 4), sb = scSplat(l, 6);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 128), v128.load(q0, 144), v128.load(q0, 192), v128.load(q0, 208), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 128), v128.load(q1, 144), v128.load(q1, 192), v128.load(q1, 208), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 128), v128.load(q2, 144), v128.load(q2, 192), v128.load(q2, 208), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 128), v128.load(q3, 144), v128.load(q3, 192), v128.load(q3, 208), yp);
      }
      {
        const qh = q6qh(w, 0, 1);
        const g0 = q6Group(q6ql(w, 0, 1, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 1, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 5), sb = scSplat(l, 7);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 160), v128.load(q0, 176), v128.load(q0, 224), v128.load(q0, 240), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 160), v128.load(q1, 176), v128.load(q1, 224), v128.load(q1, 240), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 160), v128.load(q2, 176), v128.load(q2, 224), v128.load(q2, 240), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 160), v128.load(q3, 176), v128.load(q3, 224), v128.load(q3, 240), yp);
      }
    }
    {
      const l = i16x8.extend_high_i8x16_s(c);     // scales 8..15 (i16)
      {
        const qh = q6qh(w, 1, 0);
        const g0 = q6Group(q6ql(w, 1, 0, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 0, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 0), sb = scSplat(l, 2);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 256), v128.load(q0, 272), v128.load(q0, 320), v128.load(q0, 336), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 256), v128.load(q1, 272), v128.load(q1, 320), v128.load(q1, 336), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 256), v128.load(q2, 272), v128.load(q2, 320), v128.load(q2, 336), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 256), v128.load(q3, 272), v128.load(q3, 320), v128.load(q3, 336), yp);
      }
      {
        const qh = q6qh(w, 1, 1);
        const g0 = q6Group(q6ql(w, 1, 1, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 1, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 1), sb = scSplat(l, 3);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 288), v128.load(q0, 304), v128.load(q0, 352), v128.load(q0, 368), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 288), v128.load(q1, 304), v128.load(q1, 352), v128.load(q1, 368), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 288), v128.load(q2, 304), v128.load(q2, 352), v128.load(q2, 368), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 288), v128.load(q3, 304), v128.load(q3, 352), v128.load(q3, 368), yp);
      }
      {
        const qh = q6qh(w, 1, 0);
        const g0 = q6Group(q6ql(w, 1, 0, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 0, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 4), sb = scSplat(l, 6);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 384), v128.load(q0, 400), v128.load(q0, 448), v128.load(q0, 464), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 384), v128.load(q1, 400), v128.load(q1, 448), v128.load(q1, 464), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 384), v128.load(q2, 400), v128.load(q2, 448), v128.load(q2, 464), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 384), v128.load(q3, 400), v128.load(q3, 448), v128.load(q3, 464), yp);
      }
      {
        const qh = q6qh(w, 1, 1);
        const g0 = q6Group(q6ql(w, 1, 1, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 1, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 5), sb = scSplat(l, 7);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 416), v128.load(q0, 432), v128.load(q0, 480), v128.load(q0, 496), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 416), v128.load(q1, 432), v128.load(q1, 480), v128.load(q1, 496), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 416), v128.load(q2, 432), v128.load(q2, 480), v128.load(q2, 496), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3, 416), v128.load(q3, 432), v128.load(q3, 480), v128.load(q3, 496), yp);
      }
    }
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

// k1Q6K with i8 act: groups k and k + 1 (adjacent scales) are paired for scale2R
function k1Q6KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  let acc0: f64 = 0, acc1: f64 = 0;
  const m4 = v128.load(KC, KC_M4), m30 = v128.load(KC, KC_M30);
  for (let s = 0; s < ns; s++) {
    const c0 = v128.load(w0, 192), c1 = v128.load(w1, 192);
    let si0 = i32x4.splat(0), si1 = i32x4.splat(0);
    {
      const l0 = i16x8.extend_low_i8x16_s(c0), l1 = i16x8.extend_low_i8x16_s(c1);     // scales 0..7 (i16)
      {
        const a0 = v128.load(q, 0), a1 = v128.load(q, 16);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 0, 0, 0), q6qh(w0, 0, 0), 0, 0, m4, m30)), rd(a1, q6Group(q6ql(w0, 0, 1, 0), q6qh(w0, 0, 1), 0, 0, m4, m30)), l0, 0));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 0, 0, 0), q6qh(w1, 0, 0), 0, 0, m4, m30)), rd(a1, q6Group(q6ql(w1, 0, 1, 0), q6qh(w1, 0, 1), 0, 0, m4, m30)), l1, 0));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 32), a1 = v128.load(q, 48);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 0, 0, 1), q6qh(w0, 0, 0), 0, 1, m4, m30)), rd(a1, q6Group(q6ql(w0, 0, 1, 1), q6qh(w0, 0, 1), 0, 1, m4, m30)), l0, 1));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 0, 0, 1), q6qh(w1, 0, 0), 0, 1, m4, m30)), rd(a1, q6Group(q6ql(w1, 0, 1, 1), q6qh(w1, 0, 1), 0, 1, m4, m30)), l1, 1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 64), a1 = v128.load(q, 80);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 0, 0, 0), q6qh(w0, 0, 0), 1, 0, m4, m30)), rd(a1, q6Group(q6ql(w0, 0, 1, 0), q6qh(w0, 0, 1), 1, 0, m4, m30)), l0, 2));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 0, 0, 0), q6qh(w1, 0, 0), 1, 0, m4, m30)), rd(a1, q6Group(q6ql(w1, 0, 1, 0), q6qh(w1, 0, 1), 1, 0, m4, m30)), l1, 2));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 96), a1 = v128.load(q, 112);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 0, 0, 1), q6qh(w0, 0, 0), 1, 1, m4, m30)), rd(a1, q6Group(q6ql(w0, 0, 1, 1), q6qh(w0, 0, 1), 1, 1, m4, m30)), l0, 3));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 0, 0, 1), q6qh(w1, 0, 0), 1, 1, m4, m30)), rd(a1, q6Group(q6ql(w1, 0, 1, 1), q6qh(w1, 0, 1), 1, 1, m4, m30)), l1, 3));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    {
      const l0 = i16x8.extend_high_i8x16_s(c0), l1 = i16x8.extend_high_i8x16_s(c1);     // scales 8..15 (i16)
      {
        const a0 = v128.load(q, 128), a1 = v128.load(q, 144);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 1, 0, 0), q6qh(w0, 1, 0), 0, 0, m4, m30)), rd(a1, q6Group(q6ql(w0, 1, 1, 0), q6qh(w0, 1, 1), 0, 0, m4, m30)), l0, 0));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 1, 0, 0), q6qh(w1, 1, 0), 0, 0, m4, m30)), rd(a1, q6Group(q6ql(w1, 1, 1, 0), q6qh(w1, 1, 1), 0, 0, m4, m30)), l1, 0));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 160), a1 = v128.load(q, 176);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 1, 0, 1), q6qh(w0, 1, 0), 0, 1, m4, m30)), rd(a1, q6Group(q6ql(w0, 1, 1, 1), q6qh(w0, 1, 1), 0, 1, m4, m30)), l0, 1));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 1, 0, 1), q6qh(w1, 1, 0), 0, 1, m4, m30)), rd(a1, q6Group(q6ql(w1, 1, 1, 1), q6qh(w1, 1, 1), 0, 1, m4, m30)), l1, 1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 192), a1 = v128.load(q, 208);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 1, 0, 0), q6qh(w0, 1, 0), 1, 0, m4, m30)), rd(a1, q6Group(q6ql(w0, 1, 1, 0), q6qh(w0, 1, 1), 1, 0, m4, m30)), l0, 2));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 1, 0, 0), q6qh(w1, 1, 0), 1, 0, m4, m30)), rd(a1, q6Group(q6ql(w1, 1, 1, 0), q6qh(w1, 1, 1), 1, 0, m4, m30)), l1, 2));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 224), a1 = v128.load(q, 240);
        si0 = i32x4.add(si0, scale2R(rd(a0, q6Group(q6ql(w0, 1, 0, 1), q6qh(w0, 1, 0), 1, 1, m4, m30)), rd(a1, q6Group(q6ql(w0, 1, 1, 1), q6qh(w0, 1, 1), 1, 1, m4, m30)), l0, 3));
        si1 = i32x4.add(si1, scale2R(rd(a0, q6Group(q6ql(w1, 1, 0, 1), q6qh(w1, 1, 0), 1, 1, m4, m30)), rd(a1, q6Group(q6ql(w1, 1, 1, 1), q6qh(w1, 1, 1), 1, 1, m4, m30)), l1, 3));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    si0 = i32x4.sub(si0, q6Corr(c0, bs));
    si1 = i32x4.sub(si1, q6Corr(c1, bs));
    const p = f64x2.mul(hsum2(si0, si1), f64x2.mul(h2f2(halves2(w0 + 208, w1 + 208)), f64x2.splat(<f64>load<f32>(d))));
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

// k4Q6K with i8 act
function k4Q6KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m30 = v128.load(KC, KC_M30);
  for (let s = 0; s < ns; s++) {
    const c = v128.load(w, 192);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    {
      const l = i16x8.extend_low_i8x16_s(c);     // scales 0..7 (i16)
      {
        const qh = q6qh(w, 0, 0);
        const g0 = q6Group(q6ql(w, 0, 0, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 0, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 0), sb = scSplat(l, 2);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 0), v128.load(q0, 32), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 0), v128.load(q1, 32), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 0), v128.load(q2, 32), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 0), v128.load(q3, 32), yp);
      }
      {
        const qh = q6qh(w, 0, 1);
        const g0 = q6Group(q6ql(w, 0, 1, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 1, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 1), sb = scSplat(l, 3);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 16), v128.load(q0, 48), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 16), v128.load(q1, 48), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 16), v128.load(q2, 48), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 16), v128.load(q3, 48), yp);
      }
      {
        const qh = q6qh(w, 0, 0);
        const g0 = q6Group(q6ql(w, 0, 0, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 0, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 4), sb = scSplat(l, 6);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 64), v128.load(q0, 96), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 64), v128.load(q1, 96), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 64), v128.load(q2, 96), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 64), v128.load(q3, 96), yp);
      }
      {
        const qh = q6qh(w, 0, 1);
        const g0 = q6Group(q6ql(w, 0, 1, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 0, 1, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 5), sb = scSplat(l, 7);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 80), v128.load(q0, 112), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 80), v128.load(q1, 112), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 80), v128.load(q2, 112), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 80), v128.load(q3, 112), yp);
      }
    }
    {
      const l = i16x8.extend_high_i8x16_s(c);     // scales 8..15 (i16)
      {
        const qh = q6qh(w, 1, 0);
        const g0 = q6Group(q6ql(w, 1, 0, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 0, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 0), sb = scSplat(l, 2);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 128), v128.load(q0, 160), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 128), v128.load(q1, 160), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 128), v128.load(q2, 160), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 128), v128.load(q3, 160), yp);
      }
      {
        const qh = q6qh(w, 1, 1);
        const g0 = q6Group(q6ql(w, 1, 1, 0), qh, 0, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 1, 1), qh, 0, 1, m4, m30);
        const sa = scSplat(l, 1), sb = scSplat(l, 3);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 144), v128.load(q0, 176), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 144), v128.load(q1, 176), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 144), v128.load(q2, 176), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 144), v128.load(q3, 176), yp);
      }
      {
        const qh = q6qh(w, 1, 0);
        const g0 = q6Group(q6ql(w, 1, 0, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 0, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 4), sb = scSplat(l, 6);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 192), v128.load(q0, 224), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 192), v128.load(q1, 224), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 192), v128.load(q2, 224), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 192), v128.load(q3, 224), yp);
      }
      {
        const qh = q6qh(w, 1, 1);
        const g0 = q6Group(q6ql(w, 1, 1, 0), qh, 1, 0, m4, m30), g1 = q6Group(q6ql(w, 1, 1, 1), qh, 1, 1, m4, m30);
        const sa = scSplat(l, 5), sb = scSplat(l, 7);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 208), v128.load(q0, 240), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 208), v128.load(q1, 240), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 208), v128.load(q2, 240), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3, 208), v128.load(q3, 240), yp);
      }
    }
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

// One token, two rows: see k1Q45
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
    let si0 = i32x4.splat(0), si1 = i32x4.splat(0);
    {
      const l0 = q23Lo(q3, c0), l1 = q23Lo(q3, c1);     // scales 0..7 (i16)
      {
        const a0 = v128.load(q, 0), a1 = v128.load(q, 16), a2 = v128.load(q, 32), a3 = v128.load(q, 48);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 0, 0, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 0, 0, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 64), a1 = v128.load(q, 80), a2 = v128.load(q, 96), a3 = v128.load(q, 112);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 0, 1, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 0, 1, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 128), a1 = v128.load(q, 144), a2 = v128.load(q, 160), a3 = v128.load(q, 176);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 0, 2, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 0, 2, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 192), a1 = v128.load(q, 208), a2 = v128.load(q, 224), a3 = v128.load(q, 240);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 0, 3, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 0, 3, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
    }
    {
      const l0 = q23Hi(q3, c0), l1 = q23Hi(q3, c1);     // scales 8..15 (i16)
      {
        const a0 = v128.load(q, 256), a1 = v128.load(q, 272), a2 = v128.load(q, 288), a3 = v128.load(q, 304);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 1, 0, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 1, 0, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 320), a1 = v128.load(q, 336), a2 = v128.load(q, 352), a3 = v128.load(q, 368);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 1, 1, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 1, 1, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 384), a1 = v128.load(q, 400), a2 = v128.load(q, 416), a3 = v128.load(q, 432);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 1, 2, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 1, 2, m3, m04, a0, a1, a2, a3, l1));
        fence(y0, si0);
        fence(y1, si1);
      }
      {
        const a0 = v128.load(q, 448), a1 = v128.load(q, 464), a2 = v128.load(q, 480), a3 = v128.load(q, 496);
        si0 = i32x4.add(si0, q23Pair(q3, w0, 1, 3, m3, m04, a0, a1, a2, a3, l0));
        si1 = i32x4.add(si1, q23Pair(q3, w1, 1, 3, m3, m04, a0, a1, a2, a3, l1));
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

// Four tokens: see k4Q45
// @ts-ignore: decorator
@inline function k4Q23(q3: bool, w: usize, q0: usize, q1: usize, q2: usize, q3p: usize, d0: usize, d1: usize, d2: usize,
                       d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m3 = v128.load(KC, KC_M3), m04 = v128.load(KC, KC_M04);
  for (let s = 0; s < ns; s++) {
    const c = q23Scales(q3, w, m4);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    {
      const l = q23Lo(q3, c);     // scales 0..7 (i16)
      {
        const g0 = q23Quants(q3, w, 0, 0, 0, m3, m04), g1 = q23Quants(q3, w, 0, 0, 1, m3, m04);
        const sa = scSplat(l, 0), sb = scSplat(l, 1);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 0), v128.load(q0, 16), v128.load(q0, 32), v128.load(q0, 48), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 0), v128.load(q1, 16), v128.load(q1, 32), v128.load(q1, 48), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 0), v128.load(q2, 16), v128.load(q2, 32), v128.load(q2, 48), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 0), v128.load(q3p, 16), v128.load(q3p, 32), v128.load(q3p, 48), yp);
      }
      {
        const g0 = q23Quants(q3, w, 0, 1, 0, m3, m04), g1 = q23Quants(q3, w, 0, 1, 1, m3, m04);
        const sa = scSplat(l, 2), sb = scSplat(l, 3);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 64), v128.load(q0, 80), v128.load(q0, 96), v128.load(q0, 112), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 64), v128.load(q1, 80), v128.load(q1, 96), v128.load(q1, 112), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 64), v128.load(q2, 80), v128.load(q2, 96), v128.load(q2, 112), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 64), v128.load(q3p, 80), v128.load(q3p, 96), v128.load(q3p, 112), yp);
      }
      {
        const g0 = q23Quants(q3, w, 0, 2, 0, m3, m04), g1 = q23Quants(q3, w, 0, 2, 1, m3, m04);
        const sa = scSplat(l, 4), sb = scSplat(l, 5);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 128), v128.load(q0, 144), v128.load(q0, 160), v128.load(q0, 176), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 128), v128.load(q1, 144), v128.load(q1, 160), v128.load(q1, 176), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 128), v128.load(q2, 144), v128.load(q2, 160), v128.load(q2, 176), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 128), v128.load(q3p, 144), v128.load(q3p, 160), v128.load(q3p, 176), yp);
      }
      {
        const g0 = q23Quants(q3, w, 0, 3, 0, m3, m04), g1 = q23Quants(q3, w, 0, 3, 1, m3, m04);
        const sa = scSplat(l, 6), sb = scSplat(l, 7);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 192), v128.load(q0, 208), v128.load(q0, 224), v128.load(q0, 240), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 192), v128.load(q1, 208), v128.load(q1, 224), v128.load(q1, 240), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 192), v128.load(q2, 208), v128.load(q2, 224), v128.load(q2, 240), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 192), v128.load(q3p, 208), v128.load(q3p, 224), v128.load(q3p, 240), yp);
      }
    }
    {
      const l = q23Hi(q3, c);     // scales 8..15 (i16)
      {
        const g0 = q23Quants(q3, w, 1, 0, 0, m3, m04), g1 = q23Quants(q3, w, 1, 0, 1, m3, m04);
        const sa = scSplat(l, 0), sb = scSplat(l, 1);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 256), v128.load(q0, 272), v128.load(q0, 288), v128.load(q0, 304), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 256), v128.load(q1, 272), v128.load(q1, 288), v128.load(q1, 304), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 256), v128.load(q2, 272), v128.load(q2, 288), v128.load(q2, 304), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 256), v128.load(q3p, 272), v128.load(q3p, 288), v128.load(q3p, 304), yp);
      }
      {
        const g0 = q23Quants(q3, w, 1, 1, 0, m3, m04), g1 = q23Quants(q3, w, 1, 1, 1, m3, m04);
        const sa = scSplat(l, 2), sb = scSplat(l, 3);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 320), v128.load(q0, 336), v128.load(q0, 352), v128.load(q0, 368), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 320), v128.load(q1, 336), v128.load(q1, 352), v128.load(q1, 368), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 320), v128.load(q2, 336), v128.load(q2, 352), v128.load(q2, 368), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 320), v128.load(q3p, 336), v128.load(q3p, 352), v128.load(q3p, 368), yp);
      }
      {
        const g0 = q23Quants(q3, w, 1, 2, 0, m3, m04), g1 = q23Quants(q3, w, 1, 2, 1, m3, m04);
        const sa = scSplat(l, 4), sb = scSplat(l, 5);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 384), v128.load(q0, 400), v128.load(q0, 416), v128.load(q0, 432), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 384), v128.load(q1, 400), v128.load(q1, 416), v128.load(q1, 432), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 384), v128.load(q2, 400), v128.load(q2, 416), v128.load(q2, 432), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 384), v128.load(q3p, 400), v128.load(q3p, 416), v128.load(q3p, 432), yp);
      }
      {
        const g0 = q23Quants(q3, w, 1, 3, 0, m3, m04), g1 = q23Quants(q3, w, 1, 3, 1, m3, m04);
        const sa = scSplat(l, 6), sb = scSplat(l, 7);
        const u0 = uLo(g0, sa), u1 = uHi(g0, sa), u2 = uLo(g1, sb), u3 = uHi(g1, sb);
        s0 = tok32(s0, u0, u1, u2, u3, v128.load(q0, 448), v128.load(q0, 464), v128.load(q0, 480), v128.load(q0, 496), yp);
        s1 = tok32(s1, u0, u1, u2, u3, v128.load(q1, 448), v128.load(q1, 464), v128.load(q1, 480), v128.load(q1, 496), yp);
        s2 = tok32(s2, u0, u1, u2, u3, v128.load(q2, 448), v128.load(q2, 464), v128.load(q2, 480), v128.load(q2, 496), yp);
        s3 = tok32(s3, u0, u1, u2, u3, v128.load(q3p, 448), v128.load(q3p, 464), v128.load(q3p, 480), v128.load(q3p, 496), yp);
      }
    }
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

// k1Q23 with i8 act
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

// k4Q23 with i8 act
// @ts-ignore: decorator
@inline function k4Q23R(q3: bool, w: usize, q0: usize, q1: usize, q2: usize, q3p: usize, d0: usize, d1: usize, d2: usize,
                        d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  let accLo = f64x2.splat(0), accHi = f64x2.splat(0);
  const m4 = v128.load(KC, KC_M4), m3 = v128.load(KC, KC_M3), m04 = v128.load(KC, KC_M04);
  for (let s = 0; s < ns; s++) {
    const c = q23Scales(q3, w, m4);
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    {
      const l = q23Lo(q3, c);     // scales 0..7 (i16)
      {
        const g0 = q23Quants(q3, w, 0, 0, 0, m3, m04), g1 = q23Quants(q3, w, 0, 0, 1, m3, m04);
        const sa = scSplat(l, 0), sb = scSplat(l, 1);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 0), v128.load(q0, 16), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 0), v128.load(q1, 16), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 0), v128.load(q2, 16), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 0), v128.load(q3p, 16), yp);
      }
      {
        const g0 = q23Quants(q3, w, 0, 1, 0, m3, m04), g1 = q23Quants(q3, w, 0, 1, 1, m3, m04);
        const sa = scSplat(l, 2), sb = scSplat(l, 3);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 32), v128.load(q0, 48), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 32), v128.load(q1, 48), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 32), v128.load(q2, 48), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 32), v128.load(q3p, 48), yp);
      }
      {
        const g0 = q23Quants(q3, w, 0, 2, 0, m3, m04), g1 = q23Quants(q3, w, 0, 2, 1, m3, m04);
        const sa = scSplat(l, 4), sb = scSplat(l, 5);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 64), v128.load(q0, 80), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 64), v128.load(q1, 80), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 64), v128.load(q2, 80), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 64), v128.load(q3p, 80), yp);
      }
      {
        const g0 = q23Quants(q3, w, 0, 3, 0, m3, m04), g1 = q23Quants(q3, w, 0, 3, 1, m3, m04);
        const sa = scSplat(l, 6), sb = scSplat(l, 7);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 96), v128.load(q0, 112), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 96), v128.load(q1, 112), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 96), v128.load(q2, 112), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 96), v128.load(q3p, 112), yp);
      }
    }
    {
      const l = q23Hi(q3, c);     // scales 8..15 (i16)
      {
        const g0 = q23Quants(q3, w, 1, 0, 0, m3, m04), g1 = q23Quants(q3, w, 1, 0, 1, m3, m04);
        const sa = scSplat(l, 0), sb = scSplat(l, 1);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 128), v128.load(q0, 144), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 128), v128.load(q1, 144), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 128), v128.load(q2, 144), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 128), v128.load(q3p, 144), yp);
      }
      {
        const g0 = q23Quants(q3, w, 1, 1, 0, m3, m04), g1 = q23Quants(q3, w, 1, 1, 1, m3, m04);
        const sa = scSplat(l, 2), sb = scSplat(l, 3);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 160), v128.load(q0, 176), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 160), v128.load(q1, 176), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 160), v128.load(q2, 176), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 160), v128.load(q3p, 176), yp);
      }
      {
        const g0 = q23Quants(q3, w, 1, 2, 0, m3, m04), g1 = q23Quants(q3, w, 1, 2, 1, m3, m04);
        const sa = scSplat(l, 4), sb = scSplat(l, 5);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 192), v128.load(q0, 208), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 192), v128.load(q1, 208), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 192), v128.load(q2, 208), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 192), v128.load(q3p, 208), yp);
      }
      {
        const g0 = q23Quants(q3, w, 1, 3, 0, m3, m04), g1 = q23Quants(q3, w, 1, 3, 1, m3, m04);
        const sa = scSplat(l, 6), sb = scSplat(l, 7);
        s0 = tok16x2R(s0, g0, g1, sa, sb, v128.load(q0, 224), v128.load(q0, 240), yp);
        s1 = tok16x2R(s1, g0, g1, sa, sb, v128.load(q1, 224), v128.load(q1, 240), yp);
        s2 = tok16x2R(s2, g0, g1, sa, sb, v128.load(q2, 224), v128.load(q2, 240), yp);
        s3 = tok16x2R(s3, g0, g1, sa, sb, v128.load(q3p, 224), v128.load(q3p, 240), yp);
      }
    }
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

// ================================================================ kernels per type (the generic ones inlined)

function k1Q4K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q45(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q5K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q45(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q2K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q3K(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q4KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q45R(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q5KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q45R(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q2KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23R(false, w0, w1, q, d, bs, ns, y0, y1);
}
function k1Q3KR(w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  k1Q23R(true, w0, w1, q, d, bs, ns, y0, y1);
}
function k4Q4K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q45(false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q5K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q45(true, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q2K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q23(false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q3K(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
               b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q23(true, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q4KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q45R(false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q5KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q45R(true, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q2KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q23R(false, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}
function k4Q3KR(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  return k4Q23R(true, w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
}

// ================================================================ driver

// one token, rows w0 and w1 (w1 = w0, y1 = y0: one row)
// @ts-ignore: decorator
@inline function k1K(type: i32, w0: usize, w1: usize, q: usize, d: usize, bs: usize, ns: i32, y0: usize, y1: usize): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (type == GGML_Q4_K) k1Q4KR(w0, w1, q, d, bs, ns, y0, y1);
    else if (type == GGML_Q6_K) k1Q6KR(w0, w1, q, d, bs, ns, y0, y1);
    else if (type == GGML_Q5_K) k1Q5KR(w0, w1, q, d, bs, ns, y0, y1);
    else if (type == GGML_Q2_K) k1Q2KR(w0, w1, q, d, bs, ns, y0, y1);
    else k1Q3KR(w0, w1, q, d, bs, ns, y0, y1);
  } else {
    if (type == GGML_Q4_K) k1Q4K(w0, w1, q, d, bs, ns, y0, y1);
    else if (type == GGML_Q6_K) k1Q6K(w0, w1, q, d, bs, ns, y0, y1);
    else if (type == GGML_Q5_K) k1Q5K(w0, w1, q, d, bs, ns, y0, y1);
    else if (type == GGML_Q2_K) k1Q2K(w0, w1, q, d, bs, ns, y0, y1);
    else k1Q3K(w0, w1, q, d, bs, ns, y0, y1);
  }
}

// four tokens (lanes), one row; yp: the row's output for the first token (a fence target)
// @ts-ignore: decorator
@inline function k4K(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                     d3: usize, b0: usize, b1: usize, b2: usize, b3: usize, ns: i32, yp: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (type == GGML_Q4_K) return k4Q4KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
    if (type == GGML_Q6_K) return k4Q6KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
    if (type == GGML_Q5_K) return k4Q5KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
    if (type == GGML_Q2_K) return k4Q2KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
    return k4Q3KR(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
  }
  if (type == GGML_Q4_K) return k4Q4K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
  if (type == GGML_Q6_K) return k4Q6K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
  if (type == GGML_Q5_K) return k4Q5K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
  if (type == GGML_Q2_K) return k4Q2K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
  return k4Q3K(w, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yp);
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
        for (let o = o0; o < o1; o += 2) {
          const w0 = w + <usize>o * rb, y0 = yt + (<usize>o << 2);
          const two = o + 1 < o1;
          k1K(type, w0, two ? w0 + rb : w0, q0, d0, b0, ns, y0, two ? y0 + 4 : y0);
        }
      } else {
        const q1 = q0 + qb, d1 = d0 + db, b1 = b0 + bb;
        const q2 = nt > 2 ? q1 + qb : q1, d2 = nt > 2 ? d1 + db : d1, b2 = nt > 2 ? b1 + bb : b1;
        const q3 = nt > 3 ? q2 + qb : q2, d3 = nt > 3 ? d2 + db : d2, b3 = nt > 3 ? b2 + bb : b2;
        for (let o = o0; o < o1; o++) {
          const r = k4K(type, w + <usize>o * rb, q0, q1, q2, q3, d0, d1, d2, d3, b0, b1, b2, b3, ns, yt + (<usize>o << 2));
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
