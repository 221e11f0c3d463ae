// K-quants (super-blocks of 256 weights): what the kernels of Q4_K/Q5_K (k_q45.ts), Q6_K (k_q6.ts) and
// Q2_K/Q3_K (k_q23.ts) share. Per type file:
//   - rows: dequantization of one row (get_rows), the reference's f32 formulas step by step
//   - matmul against the Q8_K act (act.ts): integer dot products, then per super-block and token, in f64
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
// Kernels, one per family and shape for both builds (plain SIMD: act quants i16, i32x4.dot_i16x8_s; relaxed
// SIMD: act quants i8, i16x8.relaxed_dot_i8x16_i7x16_s; the helpers below choose by ASC_FEATURE_RELAXED_SIMD):
//   - 1 token (decode): two rows per call (the driver in index.ts pairs them up), so each act load serves two
//     rows; a group helper per family (q45Rows, q6Rows, q23Rows) returns both rows' partial sums in one vector
//     (rows2), and the super-block is one `step` per group.
//   - 4 tokens (prefill): one row; each sub-block of weights is unpacked (and scaled) once for the 4 tokens
//     (prepK), then one tokK per token. (The four per-token sums stay four variables: a helper cannot return
//     them, and reducing them per sub-block or unpacking per token costs speed.)
//   - Weights are unpacked at byte level (16 per op) and zero-extended to i16 (plain) or fed as unsigned
//     bytes (relaxed): the quants are used unsigned, and the Q3_K/Q6_K offsets (−4, −32) are taken out with
//     the act's bsums: Σ sc·Σ(q − o)·a = Σ sc·Σq·a − o·Σ sc·bsum.
//   - Nibbles and bit fields are cut with i16 shifts and byte masks (wasm's i8x16 shifts are emulated: 3 to 5
//     instructions on x64); each use states why the bits a shift moves across a byte boundary are masked.
// V8 (TurboFan, Node 20) shapes the code as much as the arithmetic does, see KC (common.ts) and fence.
import { GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K } from "../../src/abi";
import { QA_SHIFT } from "./act";
import { KC, KC_H2F, KC_E31, KC_INF, KC_P112, fence } from "./common";

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
@inline export const QS: usize = <usize>256 << QA_SHIFT;

// ---------------------------------------------------------------- shared helpers

// f32(h2f(h_i)) for the halves in i16 lanes 0..3 of v, exactly: a half's sign, exponent and mantissa moved to
// their f32 positions make its value times 2^-112 (an f32 subnormal for a subnormal half), so one multiply by
// 2^112 converts normal, subnormal and zero halves; exponent 31 (inf, NaN) gets 255.
// @ts-ignore: decorator
@inline export function h2f4(v: v128): v128 {
  const e = v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), v128.load(KC, KC_H2F));
  const e31 = v128.load(KC, KC_E31);
  const inf = v128.and(i32x4.eq(v128.and(e, e31), e31), v128.load(KC, KC_INF));
  return v128.or(f32x4.mul(e, v128.load(KC, KC_P112)), inf);
}

// [f64(h2f(h0)), f64(h2f(h1))] for the halves in i16 lanes 0 and 1 of v
// @ts-ignore: decorator
@inline export function h2f2(v: v128): v128 { return f64x2.promote_low_f32x4(h2f4(v)); }

// the halves at a and b in i16 lanes 0 and 1
// @ts-ignore: decorator
@inline export function halves2(a: usize, b: usize): v128 {
  return v128.load16_lane(b, v128.load16_splat(a), 1);
}

// [a0 + a2, b0 + b2, a1 + a3, b1 + b3] (i32): twice gives the four sums of pairSum(pairSum(a, b), pairSum(c, d))
// in the order a, c, b, d
// @ts-ignore: decorator
@inline export function pairSum(a: v128, b: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
}

// [f64(Σ lanes of a), f64(Σ lanes of b)]
// @ts-ignore: decorator
@inline export function hsum2(a: v128, b: v128): v128 {
  const t = pairSum(a, b);
  return f64x2.convert_low_i32x4_s(i32x4.add(t, v128.shuffle<i32>(t, t, 2, 3, 0, 1)));
}

// acc (f64x2, tokens 2h, 2h+1) ± f64(si)·(d·f64(da)) for lanes 2h, 2h+1 of si (i32x4) and da (f32x4)
// @ts-ignore: decorator
@inline function half(v: v128, h: i32): v128 { return h == 0 ? v : v128.shuffle<i32>(v, v, 2, 3, 2, 3); }
// @ts-ignore: decorator
@inline export function madd2(acc: v128, si: v128, d: f64, da: v128, h: i32): v128 {
  return f64x2.add(acc, f64x2.mul(f64x2.convert_low_i32x4_s(half(si, h)),
                                  f64x2.mul(f64x2.splat(d), f64x2.promote_low_f32x4(half(da, h)))));
}
// @ts-ignore: decorator
@inline export function msub2(acc: v128, si: v128, d: f64, da: v128, h: i32): v128 {
  return f64x2.sub(acc, f64x2.mul(f64x2.convert_low_i32x4_s(half(si, h)),
                                  f64x2.mul(f64x2.splat(d), f64x2.promote_low_f32x4(half(da, h)))));
}
// [f32(lo0), f32(lo1), f32(hi0), f32(hi1)]
// @ts-ignore: decorator
@inline export function demote4(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

// i32x4 partials of Σ m·bsum for 16 i16 factors (mLo: 0..7, mHi: 8..15) and the 16 bsums (i16) at bs
// @ts-ignore: decorator
@inline export function bsumDot(mLo: v128, mHi: v128, bs: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(mLo, v128.load(bs, 0)), i32x4.dot_i16x8_s(mHi, v128.load(bs, 16)));
}

// The same for 8 factors, one per 32 weights (Q4_K/Q5_K mins): each is paired with two 16-sums
// @ts-ignore: decorator
@inline export function bsumDot8(m16: v128, bs: usize): v128 {
  return bsumDot(v128.shuffle<i16>(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3), v128.shuffle<i16>(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7), bs);
}

// ---- plain SIMD (act quants i16)

// i32x4 partials of Σ v·a for 16 weights v (bytes, < 128) and their act a0 (weights 0..7), a1 (8..15)
// @ts-ignore: decorator
@inline export function dot16v(v: v128, a0: v128, a1: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v), a0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v), a1));
}

// sc_lo·Σ lo + sc_hi·Σ hi for two groups of weights with i32x4 partial sums lo and hi, scp = [sc_lo ×4,
// sc_hi ×4] (i16): when each lane of lo and hi is below 2^15 in magnitude (stated where used), the i16
// narrowing is exact and one i32x4.dot_i16x8_s scales both groups and adds lane pairs.
// @ts-ignore: decorator
@inline export function scale2(lo: v128, hi: v128, scp: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.narrow_i32x4_s(lo, hi), scp);
}

// [sc_{2p} ×4, sc_{2p+1} ×4] (i16) from sc16 = [sc0..sc7] (i16)
// @ts-ignore: decorator
@inline export function scPair(sc16: v128, p: i32): v128 {
  const s = p < 2 ? v128.shuffle<i16>(sc16, sc16, 0, 0, 1, 1, 2, 2, 3, 3) : v128.shuffle<i16>(sc16, sc16, 4, 4, 5, 5, 6, 6, 7, 7);
  return (p & 1) ? v128.shuffle<u32>(s, s, 2, 2, 3, 3) : v128.shuffle<u32>(s, s, 0, 0, 1, 1);
}

// sc_j (i16 lane j of sc16) in every i16 lane
// @ts-ignore: decorator
@inline export function scSplat(sc16: v128, j: i32): v128 {
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


// ---- both builds

// [a0 + a2, a1 + a3, b0 + b2, b1 + b3]: the i32x4 partials of two rows folded into one vector (2 lanes each)
// @ts-ignore: decorator
@inline export function rows2(a: v128, b: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
}

// [f64(Σ row 0), f64(Σ row 1)] of a rows2 vector
// @ts-ignore: decorator
@inline export function hsumRows(v: v128): v128 {
  return f64x2.convert_low_i32x4_s(i32x4.add(v128.shuffle<i32>(v, v, 0, 2, 0, 2), v128.shuffle<i32>(v, v, 1, 3, 1, 3)));
}

// A sub-block's weights prepared for tokK from 16 weights g (bytes < 128) and their scale sc (i16 splat):
// plain build: g times sc in i16, weights 0..7 (half 0) and 8..15 (half 1); relaxed: g (half 0) and sc (half 1)
// @ts-ignore: decorator
@inline export function prepK(g: v128, sc: v128, half: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return half ? sc : g;
  return half ? uHi(g, sc) : uLo(g, sc);
}

// s + Σ sc·Σq·a of 32 weights prepared by prepK (p0, p1: the first 16 and their scale; p2, p3: the next 16)
// times one token's act: elements e0 .. e0 + 15 and e1 .. e1 + 15 of its q plane row q; then fence(yp). one:
// the 32 share a scale. The act offsets are constants: V8 does not fold "pointer + constant" into an address
// (the i32 sum could wrap), while a load's offset field costs nothing (binaryen moves the constant there).
// Relaxed: i16x8.relaxed_dot_i8x16_i7x16_s(act, w) with w the unsigned quants (< 128, valid 7-bit operands)
// gives exact pair sums (|pair| ≤ 2·127·63), which i32x4.dot_i16x8_s scales and widens.
// @ts-ignore: decorator
@inline export function tokK(s: v128, p0: v128, p1: v128, p2: v128, p3: v128, one: bool, q: usize, e0: i32, e1: i32,
                             yp: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const a0 = v128.load(q + <usize>e0), a1 = v128.load(q + <usize>e1);
    if (one) s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.add(rd(a0, p0), rd(a1, p2)), p1));
    else s = i32x4.add(s, i32x4.add(i32x4.dot_i16x8_s(rd(a0, p0), p1), i32x4.dot_i16x8_s(rd(a1, p2), p3)));
  } else {
    const o0 = e0 << 1, o1 = e1 << 1;
    s = i32x4.add(s, i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(p0, v128.load(q + <usize>o0)), i32x4.dot_i16x8_s(p1, v128.load(q + <usize>(o0 + 16)))),
      i32x4.add(i32x4.dot_i16x8_s(p2, v128.load(q + <usize>o1)), i32x4.dot_i16x8_s(p3, v128.load(q + <usize>(o1 + 16))))));
  }
  fence(yp, s);
  return s;
}

// s + v, then fence(yp)
// @ts-ignore: decorator
@inline export function step(s: v128, v: v128, yp: usize): v128 {
  s = i32x4.add(s, v);
  fence(yp, s);
  return s;
}

// ---- relaxed SIMD (act quants i8)
// i16x8.relaxed_dot_i8x16_i7x16_s(act, w) with w the unsigned quants (< 128, valid 7-bit operands) gives
// exact pair sums (|pair| ≤ 2·127·63, no saturation on any lowering); i32x4.dot_i16x8_s then scales and
// widens them. The integer sums are exact, so these kernels equal the plain ones bit for bit.

// pair sums (i16x8) of 16 weights v (bytes, < 128) times 16 act quants a (i8)
// @ts-ignore: decorator
@inline export function rd(a: v128, v: v128): v128 { return i16x8.relaxed_dot_i8x16_i7x16_s(a, v); }

// sc_{2p}·Σ lo + sc_{2p+1}·Σ hi (i32x4 partials) for the pair sums lo, hi (i16x8) of two groups and
// sc16 = [sc0..sc7] (i16): interleaved with the scales, one i32x4.dot_i16x8_s per 8 lanes does both groups
// @ts-ignore: decorator
@inline export function scale2R(lo: v128, hi: v128, sc16: v128, p: i32): v128 {
  const sc = p == 0 ? v128.shuffle<u32>(sc16, sc16, 0, 0, 0, 0) : p == 1 ? v128.shuffle<u32>(sc16, sc16, 1, 1, 1, 1)
    : p == 2 ? v128.shuffle<u32>(sc16, sc16, 2, 2, 2, 2) : v128.shuffle<u32>(sc16, sc16, 3, 3, 3, 3);
  return i32x4.add(i32x4.dot_i16x8_s(v128.shuffle<i16>(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11), sc),
                   i32x4.dot_i16x8_s(v128.shuffle<i16>(lo, hi, 4, 12, 5, 13, 6, 14, 7, 15), sc));
}


