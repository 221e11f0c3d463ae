// Q8_0 and Q4_0 weights (blocks of 32 weights, one fp16 scale each): one kernel family, generic over the
// weight type's marker Q (u16: Q8_0, u8: Q4_0), which differ only in how a block's quants are unpacked.
// Here: the repack at load, the matmul kernels (1 token × 2 rows, 1 × 1, 4 tokens × 1 row), row
// dequantization (get_rows) and the scalar twin.
//
// repack: Q8_0 and Q4_0 tensors change layout in place once, right after they are loaded, to the one
// their matmul kernels read fastest. The size does not change and no copy of the GGUF layout stays.
//
// GGUF rows are blocks of 32 weights, each [fp16 d][quants]. Repacked, a row is two planes:
//   quant plane: nb blocks of quants (32 bytes for Q8_0, 16 for Q4_0), 16-byte aligned when the row is
//   scale plane: nb fp16 d, in block order (kernels load 4 at once and convert them together)
// Q8_0 quants are unchanged (i8). Q4_0 nibbles: in the plain build they are reordered and biased so that,
// read as 8 i16 lanes, lane k holds the four 4-bit values of weights k, 8+k, 16+k, 24+k at bits 0, 4, 8 and
// 12, each stored as q ^ 8: as a signed 4-bit number that is q − 8, the weight's value. A shift and a mask
// per nibble (one of them for the lowest and the top one) then give 4096 × the weights as i16 in element
// order (wq and q4Scaled below). The
// relaxed-SIMD build keeps GGUF's bytes (byte j: weight j, and weight 16 + j in the high nibble) in the order
// act.ts q8sPos gives (within each 16: the i16 pairs of 0-7 and 8-15 interleaved): its dot takes the unsigned
// nibbles as they are, and its i32 lanes then sum the weights the plain build's lanes sum.
import { GGML_Q8_0, GGML_Q4_0, REPACKED, WASMLM_Q4_0R } from "../../src/abi";
import { h2f } from "../ops/f16";
import { actQaRow, actQ8Row, actQ81D, actQ8Scales, actFormat, dotAddFast, q8sPos, ACT_Q8_0S } from "./act";
import { KC, KC_M4, KC_MF000, KC_H2F, KC_P112, fence, hsum4, hsum4x4, store8 } from "./common";

// ---------------------------------------------------------------- Q8_0 / Q4_0, repacked (repack below)
// act: the Q8_0 format (act.ts): i16 quants + f32 scale per block; for Q4_0 in the relaxed-SIMD build the
// Q8_0C format: i8 quants, f32 scales and c = 8·Σq per block. Rows in the repacked layout: a quant plane,
// then nb fp16 scales. Per token and row, every kernel of a build does the same steps in the same order:
//   for each group of 4 blocks: s = (4 weight scales) · (4 act scales), one f32x4 multiply;
//     for each block j of the group: acc += f32(the block's i32x4 partial sums) · s[j]
//   blocks past the last whole group: s[j] = dw · da as a scalar f32 multiply (the same value);
//   y = the horizontal sum of acc (plain Q4_0: times 2^-12, see q4Scaled).
// So a token's result does not depend on nTok, nor on whether its row went through a 1- or 2-row kernel.
// Q is the weight type's marker: u16 for Q8_0, u8 for Q4_0; in the relaxed build where dotAddFast (act.ts)
// also u32 for Q8_0 (act Q8_0S: 4 i32x4.relaxed_dot_i8x16_i7x16_add_s per block, the i8 weights against the
// act's 7-bit halves a⁺ and a⁻, no unpacking) and u64 for Q4_0 (2 of them instead of 2 i16 relaxed dots and
// an extadd). The forms give the same i32 sums, so the same floats.
// Per block and token the 4-token tile's floor in this scheme is 4 i32x4.dot_i16x8_s + 3 adds for the
// integer sums and 3 f32 steps (convert, multiply, add) + the scale's lane broadcast; the unpacking is
// shared by the tokens. Groups are written out so that the lane is a constant (no rotating of s), and each
// token's step ends with a fence (V8 hoisted a whole group's loads and spilled them; a fence every second
// token measured 0.82x, broadcast loads of s from memory instead of shuffles 1.00x).

// 4 fp16 at p -> f32x4, exact for normal, subnormal and zero halves: the sign, exponent and mantissa
// moved to f32 positions make the half's value times 2^-112 (an f32 subnormal for a subnormal half).
// (hm, p112: the constants KC_H2F and KC_P112, loaded once per kernel: V8 rebuilds a v128.const at every
// use in a loop)
// @ts-ignore: decorator
@inline function h2f4At(p: usize, hm: v128, p112: v128): v128 {
  const h = v128.load16x4_s(p);
  return f32x4.mul(v128.and(i32x4.shl(h, 13), hm), p112);
}

// lane j (a constant) of v in every lane
// @ts-ignore: decorator
@inline function lane(v: v128, j: i32): v128 {
  if (j == 0) return v128.shuffle<f32>(v, v, 0, 0, 0, 0);
  if (j == 1) return v128.shuffle<f32>(v, v, 1, 1, 1, 1);
  if (j == 2) return v128.shuffle<f32>(v, v, 2, 2, 2, 2);
  return v128.shuffle<f32>(v, v, 3, 3, 3, 3);
}

/** Q4_0 (u8, u64) */
// @ts-ignore: decorator
@inline function isQ4<Q>(): bool { return sizeof<Q>() == 1 || sizeof<Q>() == 8; }
/** Q4_0 in the relaxed build: unsigned nibbles against i8 act quants with a relaxed dot. */
// @ts-ignore: decorator
@inline function relaxedQ4<Q>(): bool { return ASC_FEATURE_RELAXED_SIMD && isQ4<Q>(); }
/** the fused i32 relaxed dot form (u32: Q8_0 against Q8_0S act; u64: Q4_0) */
// @ts-ignore: decorator
@inline function fused<Q>(): bool { return ASC_FEATURE_RELAXED_SIMD && (sizeof<Q>() == 4 || sizeof<Q>() == 8); }
/** quant bytes per block of weights, and of act */
// @ts-ignore: decorator
@inline function wStep<Q>(): usize { return isQ4<Q>() ? 16 : 32; }
// @ts-ignore: decorator
@inline function aStep<Q>(): usize { return relaxedQ4<Q>() ? 32 : 64; }
/** bytes of the Q8_0C c plane per block (read by the relaxed Q4_0 dot only) */
// @ts-ignore: decorator
@inline function cStep<Q>(): usize { return relaxedQ4<Q>() ? 16 : 0; }

// The plain build's Q4_0 weights enter the dot as 4096·w (each nibble moved to the top 4 bits of its i16 lane
// and masked: 3 shifts and 3 ands instead of 7 shifts). The block's i32 sums are then 4096 times the true ones
// (|Σ| ≤ 4096·32·8·127 < 2^31), still exact in f32 (at most 15 significant bits), and every f32 step scales
// by 4096 exactly: the scales are products of two fp16 values (weight and act: act.ts rounds its block
// scale to fp16), so no term, partial or total sum is subnormal unless it is 0, and none can overflow that
// the unscaled one does not (≤ 2^12 · nIn · 127 · 8 · 65504²). The result times 2^-12 is the unscaled
// result, bit for bit (the scalar twin computes the unscaled one).
// @ts-ignore: decorator
@inline function q4Scaled<Q>(): bool { return !ASC_FEATURE_RELAXED_SIMD && sizeof<Q>() == 1; }

// Sub-vector i (0..3, a constant) of the block whose quants are at w (v: its first 16 bytes, loaded once),
// unpacked for the dot:
//   Q8_0: 8 i16, weights 8i .. 8i+7 (sign-extended straight from memory).
//   Q4_0 (plain build): 4096 × weights 8i .. 8i+7 (lane k holds the nibbles of weights k, 8+k, 16+k, 24+k
//     at bits 0, 4, 8, 12, each q ^ 8, i.e. q − 8 as a signed 4-bit number; mf: 0xf000 in every i16 lane).
//   Q4_0 (relaxed build): weights 0-15 (i = 0) and 16-31 (i = 1) as unsigned nibbles q in i8 lanes (in
//     q8sPos's order; i = 2, 3 are not read).
//   Q8_0 against Q8_0S act (u32): weights 0-15 (i = 0) and 16-31 (i = 1) in the order act.ts q8sPos gives
//     (i = 2, 3 not read): the i16 pairs of 8i' .. 8i'+7 and 8i'+8 .. 8i'+15 interleaved, so that the fused
//     dot's lane k sums the same 8 weights as lane k of the i16 dots (weights 2k, 2k+1, 8+2k, 9+2k, and the
//     same + 16): the same i32 lanes, the same floats as the plain build. (m: Q8S_ORDER, a relaxed swizzle's
//     indices, loaded once per kernel: a constant shuffle costs V8 its constant's rebuild at every use.)
// @ts-ignore: decorator
@inline function wq<Q>(w: usize, v: v128, i: i32, m: v128): v128 {
  if (relaxedQ4<Q>()) return i == 0 ? v128.and(v, m) : v128.and(i16x8.shr_u(v, 4), m);
  if (fused<Q>() && sizeof<Q>() == 4) return i8x16.relaxed_swizzle(i == 0 ? v128.load(w, 0) : v128.load(w, 16), m);
  if (sizeof<Q>() == 2) {
    if (i == 0) return v128.load8x8_s(w, 0);
    if (i == 1) return v128.load8x8_s(w, 8);
    if (i == 2) return v128.load8x8_s(w, 16);
    return v128.load8x8_s(w, 24);
  }
  if (i == 0) return i16x8.shl(v, 12);
  if (i == 1) return v128.and(i16x8.shl(v, 8), m);
  if (i == 2) return v128.and(i16x8.shl(v, 4), m);
  return v128.and(v, m);
}
// bytes 0,1 8,9 2,3 10,11 4,5 12,13 6,7 14,15 (act.ts q8sPos's order: wq's Q8_0 order for Q8_0S act; the relaxed
// build's repacked Q4_0 bytes) and its inverse
const Q8S_ORDER: usize = memory.data<u8>([0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15], 16);
const Q8S_INVERSE: usize = memory.data<u8>([0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15], 16);
// the mask wq takes: Q4_0 relaxed 0x0f per byte, plain 0xf000 per i16; Q8_0 against Q8_0S: Q8S_ORDER (Q8_0: unused)
// @ts-ignore: decorator
@inline function wMask<Q>(): v128 {
  if (sizeof<Q>() == 4) return v128.load(Q8S_ORDER);
  return relaxedQ4<Q>() ? v128.load(KC, KC_M4) : v128.load(KC, KC_MF000);
}
// the first 16 quant bytes of a Q4_0 block (Q8_0's are loaded by wq)
// @ts-ignore: decorator
@inline function wLoad<Q>(w: usize): v128 { return isQ4<Q>() ? v128.load(w) : v128.splat<i32>(0); }

// i32x4 partial sums of one block: unpacked weights w0..w3 against the act block at a (c: the block's
// 8·Σq_a per lane, read by the relaxed Q4_0 dot only)
// @ts-ignore: decorator
@inline function dotU<Q>(w0: v128, w1: v128, w2: v128, w3: v128, a: usize, c: usize): v128 {
  if (fused<Q>()) {
    const z = i32x4.splat(0);
    if (sizeof<Q>() == 8) {   // Q4_0: nibbles (the 7-bit operand) · act; minus 8·Σq_a
      const p = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a, 0), w0, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a, 16), w1, z));
      return i32x4.sub(p, v128.load(c));
    }
    // Q8_0: Σw·a⁺ − Σw·a⁻ (act.ts Q8_0S: a⁺ at a, a⁻ at a + 32)
    const p = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, v128.load(a, 0), i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, v128.load(a, 16), z));
    const n = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, v128.load(a, 32), i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, v128.load(a, 48), z));
    return i32x4.sub(p, n);
  }
  if (relaxedQ4<Q>()) {
    // pairs of nibble · act products in i16 (|Σ| ≤ 4·15·127), then pairs of those in i32; minus 8·Σq_a
    const p = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 0), w0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 16), w1));
    return i32x4.sub(i32x4.extadd_pairwise_i16x8_s(p), v128.load(c));
  }
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a, 0)), i32x4.dot_i16x8_s(w1, v128.load(a, 16))),
                   i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48))));
}

// i32x4 partial sums of block j (a constant) of the group at w against the act at a (block j's: a + j·aStep)
// @ts-ignore: decorator
@inline function blockDot<Q>(w: usize, a: usize, c: usize, m: v128): v128 {
  const v = wLoad<Q>(w);
  return dotU<Q>(wq<Q>(w, v, 0, m), wq<Q>(w, v, 1, m), wq<Q>(w, v, 2, m), wq<Q>(w, v, 3, m), a, c);
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

// y (the sum of acc's lanes, or 4 of them) without the plain Q4_0 dot's factor 4096 (q4Scaled)
// @ts-ignore: decorator
@inline function unscale<Q>(y: v128): v128 { return q4Scaled<Q>() ? f32x4.mul(y, f32x4.splat(<f32>0.000244140625)) : y; }

// acc + f32(the sums of the block at w against the act at a) · lane j of sc, then a fence (common.ts)
// @ts-ignore: decorator
@inline function rowStep<Q>(acc: v128, w: usize, a: usize, c: usize, m: v128, sc: v128, j: i32, yp: usize): v128 {
  acc = scaleAcc(acc, blockDot<Q>(w, a, c, m), lane(sc, j));
  fence(yp, acc);
  return acc;
}

// Two rows (w0, w1: their quant planes; s0, s1: their scale planes) × one token (act quants aq, scales ad,
// Q8_0C sums ac): [y0, y1, -, -]. Groups of 4 blocks written out (the scale of block j: lane j).
function k2Q<Q>(w0: usize, s0: usize, w1: usize, s1: usize, aq: usize, ad: usize, ac: usize, nb: i32, yp: usize): v128 {
  const hm = v128.load(KC, KC_H2F), p112 = v128.load(KC, KC_P112), m = wMask<Q>();
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let b = 0;
  const W = wStep<Q>(), A = aStep<Q>(), C = cStep<Q>();
  for (; b + 4 <= nb; b += 4) {
    const da = v128.load(ad);
    const sc0 = f32x4.mul(h2f4At(s0, hm, p112), da), sc1 = f32x4.mul(h2f4At(s1, hm, p112), da);
    acc0 = rowStep<Q>(acc0, w0, aq, ac, m, sc0, 0, yp);
    acc1 = rowStep<Q>(acc1, w1, aq, ac, m, sc1, 0, yp);
    acc0 = rowStep<Q>(acc0, w0 + W, aq + A, ac + C, m, sc0, 1, yp);
    acc1 = rowStep<Q>(acc1, w1 + W, aq + A, ac + C, m, sc1, 1, yp);
    acc0 = rowStep<Q>(acc0, w0 + 2 * W, aq + 2 * A, ac + 2 * C, m, sc0, 2, yp);
    acc1 = rowStep<Q>(acc1, w1 + 2 * W, aq + 2 * A, ac + 2 * C, m, sc1, 2, yp);
    acc0 = rowStep<Q>(acc0, w0 + 3 * W, aq + 3 * A, ac + 3 * C, m, sc0, 3, yp);
    acc1 = rowStep<Q>(acc1, w1 + 3 * W, aq + 3 * A, ac + 3 * C, m, sc1, 3, yp);
    w0 += 4 * W; w1 += 4 * W; aq += 4 * A; ac += 4 * C; s0 += 8; s1 += 8; ad += 16;
  }
  for (; b < nb; b++) {
    acc0 = scaleAcc(acc0, blockDot<Q>(w0, aq, ac, m), tailScale(s0, ad));
    acc1 = scaleAcc(acc1, blockDot<Q>(w1, aq, ac, m), tailScale(s1, ad));
    w0 += W; w1 += W; aq += A; ac += C; s0 += 2; s1 += 2; ad += 4;
  }
  return unscale<Q>(hsum4x4(acc0, acc1, acc0, acc1));
}

// One row × one token (the same steps as k2Q for each of its rows)
function k1Q<Q>(w: usize, s: usize, aq: usize, ad: usize, ac: usize, nb: i32, yp: usize): f32 {
  const hm = v128.load(KC, KC_H2F), p112 = v128.load(KC, KC_P112), m = wMask<Q>();
  let acc = f32x4.splat(0);
  let b = 0;
  const W = wStep<Q>(), A = aStep<Q>(), C = cStep<Q>();
  for (; b + 4 <= nb; b += 4) {
    const sc = f32x4.mul(h2f4At(s, hm, p112), v128.load(ad));
    acc = rowStep<Q>(acc, w, aq, ac, m, sc, 0, yp);
    acc = rowStep<Q>(acc, w + W, aq + A, ac + C, m, sc, 1, yp);
    acc = rowStep<Q>(acc, w + 2 * W, aq + 2 * A, ac + 2 * C, m, sc, 2, yp);
    acc = rowStep<Q>(acc, w + 3 * W, aq + 3 * A, ac + 3 * C, m, sc, 3, yp);
    w += 4 * W; aq += 4 * A; ac += 4 * C; s += 8; ad += 16;
  }
  for (; b < nb; b++) {
    acc = scaleAcc(acc, blockDot<Q>(w, aq, ac, m), tailScale(s, ad));
    w += W; aq += A; ac += C; s += 2; ad += 4;
  }
  return q4Scaled<Q>() ? hsum4(acc) * <f32>0.000244140625 : hsum4(acc);
}

// acc + f32(block sums of w0..w3 against the act at a) · lane j of sc, then a fence (common.ts) so that V8
// keeps the next token's act loads after this token's arithmetic instead of hoisting them all
// @ts-ignore: decorator
@inline function tokStep<Q>(acc: v128, w0: v128, w1: v128, w2: v128, w3: v128, a: usize, c: usize, sc: v128, j: i32, yp: usize): v128 {
  acc = scaleAcc(acc, dotU<Q>(w0, w1, w2, w3, a, c), lane(sc, j));
  fence(yp, acc);
  return acc;
}

// One row × N tokens (N: the marker T's size, 2 or 4; act rows q0..q3, scale rows d0..d3, Q8_0C sum rows
// c0..c3): [y(t0), .., y(t3)] (lanes past N: 0). Each block's weights are unpacked once for the tokens; groups
// of 4 blocks are written out (block j's scales: lane j of sc0..sc3). yp: a fence target (overwritten later).
function k4Q<Q, T>(w: usize, s: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                   d3: usize, c0: usize, c1: usize, c2: usize, c3: usize, nb: i32, yp: usize): v128 {
  const hm = v128.load(KC, KC_H2F), p112 = v128.load(KC, KC_P112), m = wMask<Q>();
  const four = sizeof<T>() == 4;
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let v: v128, w0: v128, w1: v128, w2: v128, w3: v128;
  let b = 0;
  const W = wStep<Q>(), A = aStep<Q>(), C = cStep<Q>();
  for (; b + 4 <= nb; b += 4) {
    const dw = h2f4At(s, hm, p112);
    const sc0 = f32x4.mul(dw, v128.load(d0)), sc1 = f32x4.mul(dw, v128.load(d1));
    const sc2 = four ? f32x4.mul(dw, v128.load(d2)) : dw, sc3 = four ? f32x4.mul(dw, v128.load(d3)) : dw;
    v = wLoad<Q>(w); w0 = wq<Q>(w, v, 0, m); w1 = wq<Q>(w, v, 1, m); w2 = wq<Q>(w, v, 2, m); w3 = wq<Q>(w, v, 3, m);
    acc0 = tokStep<Q>(acc0, w0, w1, w2, w3, q0, c0, sc0, 0, yp);
    acc1 = tokStep<Q>(acc1, w0, w1, w2, w3, q1, c1, sc1, 0, yp);
    if (four) acc2 = tokStep<Q>(acc2, w0, w1, w2, w3, q2, c2, sc2, 0, yp);
    if (four) acc3 = tokStep<Q>(acc3, w0, w1, w2, w3, q3, c3, sc3, 0, yp);
    v = wLoad<Q>(w + W); w0 = wq<Q>(w + W, v, 0, m); w1 = wq<Q>(w + W, v, 1, m); w2 = wq<Q>(w + W, v, 2, m); w3 = wq<Q>(w + W, v, 3, m);
    acc0 = tokStep<Q>(acc0, w0, w1, w2, w3, q0 + A, c0 + C, sc0, 1, yp);
    acc1 = tokStep<Q>(acc1, w0, w1, w2, w3, q1 + A, c1 + C, sc1, 1, yp);
    if (four) acc2 = tokStep<Q>(acc2, w0, w1, w2, w3, q2 + A, c2 + C, sc2, 1, yp);
    if (four) acc3 = tokStep<Q>(acc3, w0, w1, w2, w3, q3 + A, c3 + C, sc3, 1, yp);
    v = wLoad<Q>(w + 2 * W); w0 = wq<Q>(w + 2 * W, v, 0, m); w1 = wq<Q>(w + 2 * W, v, 1, m); w2 = wq<Q>(w + 2 * W, v, 2, m); w3 = wq<Q>(w + 2 * W, v, 3, m);
    acc0 = tokStep<Q>(acc0, w0, w1, w2, w3, q0 + 2 * A, c0 + 2 * C, sc0, 2, yp);
    acc1 = tokStep<Q>(acc1, w0, w1, w2, w3, q1 + 2 * A, c1 + 2 * C, sc1, 2, yp);
    if (four) acc2 = tokStep<Q>(acc2, w0, w1, w2, w3, q2 + 2 * A, c2 + 2 * C, sc2, 2, yp);
    if (four) acc3 = tokStep<Q>(acc3, w0, w1, w2, w3, q3 + 2 * A, c3 + 2 * C, sc3, 2, yp);
    v = wLoad<Q>(w + 3 * W); w0 = wq<Q>(w + 3 * W, v, 0, m); w1 = wq<Q>(w + 3 * W, v, 1, m); w2 = wq<Q>(w + 3 * W, v, 2, m); w3 = wq<Q>(w + 3 * W, v, 3, m);
    acc0 = tokStep<Q>(acc0, w0, w1, w2, w3, q0 + 3 * A, c0 + 3 * C, sc0, 3, yp);
    acc1 = tokStep<Q>(acc1, w0, w1, w2, w3, q1 + 3 * A, c1 + 3 * C, sc1, 3, yp);
    if (four) acc2 = tokStep<Q>(acc2, w0, w1, w2, w3, q2 + 3 * A, c2 + 3 * C, sc2, 3, yp);
    if (four) acc3 = tokStep<Q>(acc3, w0, w1, w2, w3, q3 + 3 * A, c3 + 3 * C, sc3, 3, yp);
    w += 4 * W; s += 8;
    q0 += 4 * A; q1 += 4 * A; q2 += 4 * A; q3 += 4 * A; c0 += 4 * C; c1 += 4 * C; c2 += 4 * C; c3 += 4 * C;
    d0 += 16; d1 += 16; d2 += 16; d3 += 16;
  }
  for (; b < nb; b++) {
    v = wLoad<Q>(w); w0 = wq<Q>(w, v, 0, m); w1 = wq<Q>(w, v, 1, m); w2 = wq<Q>(w, v, 2, m); w3 = wq<Q>(w, v, 3, m);
    acc0 = scaleAcc(acc0, dotU<Q>(w0, w1, w2, w3, q0, c0), tailScale(s, d0));
    acc1 = scaleAcc(acc1, dotU<Q>(w0, w1, w2, w3, q1, c1), tailScale(s, d1));
    if (four) {
      acc2 = scaleAcc(acc2, dotU<Q>(w0, w1, w2, w3, q2, c2), tailScale(s, d2));
      acc3 = scaleAcc(acc3, dotU<Q>(w0, w1, w2, w3, q3, c3), tailScale(s, d3));
    }
    w += W; s += 2;
    q0 += A; q1 += A; q2 += A; q3 += A; c0 += C; c1 += C; c2 += C; c3 += C;
    d0 += 4; d1 += 4; d2 += 4; d3 += 4;
  }
  return unscale<Q>(hsum4x4(acc0, acc1, acc2, acc3));
}

// ---------------------------------------------------------------- entries for weights/index.ts

// one token (act planes q, d; Q8_0C sums e), rows w0 and w1 (w1 = w0: one row) -> y0, y1
// @ts-ignore: decorator
@inline export function q32Dec(type: i32, w0: usize, w1: usize, q: usize, d: usize, e: usize, nIn: i32, y0: usize, y1: usize): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (dotAddFast()) {
      if (type == WASMLM_Q4_0R) q32DecQ<u64>(w0, w1, q, d, e, nIn, y0, y1);
      else q32DecQ<u32>(w0, w1, q, d, e, nIn, y0, y1);
      return;
    }
  }
  if (type == WASMLM_Q4_0R) q32DecQ<u8>(w0, w1, q, d, e, nIn, y0, y1);
  else q32DecQ<u16>(w0, w1, q, d, e, nIn, y0, y1);
}
// @ts-ignore: decorator
@inline function q32DecQ<Q>(w0: usize, w1: usize, q: usize, d: usize, e: usize, nIn: i32, y0: usize, y1: usize): void {
  const nb = nIn >> 5, qb = <usize>nb * wStep<Q>();
  if (w1 != w0) {
    const r = k2Q<Q>(w0, w0 + qb, w1, w1 + qb, q, d, e, nb, y0);
    store<f32>(y0, f32x4.extract_lane(r, 0));
    store<f32>(y1, f32x4.extract_lane(r, 1));
  } else {
    store<f32>(y0, k1Q<Q>(w0, w0 + qb, q, d, e, nb, y0));
  }
}

// one row, 4 tokens (act planes q0..q3, d0..d3, e0..e3) -> [y(t0), .., y(t3)]
// @ts-ignore: decorator
@inline export function q32Tile(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize,
                                d2: usize, d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32, yp: usize, nt: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (dotAddFast()) {
      if (type == WASMLM_Q4_0R) return q32TileQ<u64>(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
      return q32TileQ<u32>(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
    }
  }
  if (type == WASMLM_Q4_0R) return q32TileQ<u8>(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
  return q32TileQ<u16>(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
}
// @ts-ignore: decorator
@inline function q32TileQ<Q>(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize,
                             d2: usize, d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32, yp: usize, nt: i32): v128 {
  const nb = nIn >> 5, s = w + <usize>nb * wStep<Q>();
  if (nt == 2) return k4Q<Q, u16>(w, s, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nb, yp);
  return k4Q<Q, u32>(w, s, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nb, yp);
}

/** matmul_ref for repacked Q8_0 and Q4_0 weights (act: Q8_0, or in the relaxed build Q8_0C for Q4_0 and Q8_0S for
 *  Q8_0 where dotAddFast). */
export function q32Ref(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const nb = nIn >> 5;
  const q4 = type == WASMLM_Q4_0R;
  const qa = ASC_FEATURE_RELAXED_SIMD && q4;   // Q8_0C act (QA quants)
  const split = !q4 && actFormat(type) == ACT_Q8_0S;   // Q8_0S act (a⁺, a⁻)
  const rb: usize = <usize>nb * (q4 ? 18 : 34);
  for (let t = 0; t < nTok; t++) {
    const aq = qa ? actQaRow(act, nIn, t) : actQ8Row(act, nIn, t);
    const ad = qa ? actQ81D(act, nIn, nTok, t) : actQ8Scales(act, nIn, nTok, t);
    for (let o = r0; o < r1; o++) {
      const wr = w + <usize>o * rb;
      const scales = wr + <usize>nb * (q4 ? 16 : 32);
      let s: f32 = 0;
      for (let b = 0; b < nb; b++) {
        let sumi: i32 = 0;
        for (let j = 0; j < 32; j++) {
          let q: i32;
          if (q4 && ASC_FEATURE_RELAXED_SIMD) {   // byte q8sPos(j & 15): weight j (j < 16: low nibble, else high)
            q = ((<i32>load<u8>(wr + (<usize>b << 4) + q8sPos(j & 15)) >> ((j >> 4) << 2)) & 15) - 8;
          } else if (q4) {   // byte 2k = weights k, 8+k; byte 2k+1 = weights 16+k, 24+k; nibbles q ^ 8
            const k = j & 7, g = j >> 3;
            const nib = (<i32>load<u8>(wr + (<usize>b << 4) + (k << 1) + (g >> 1)) >> ((g & 1) << 2)) & 15;
            q = (nib ^ 8) - 8;
          } else {
            q = <i32>load<i8>(wr + (<usize>b << 5) + j);
          }
          let a: i32;
          if (qa) a = <i32>load<i8>(aq + <usize>(b * 32 + q8sPos(j)));
          else if (split) a = <i32>load<u8>(aq + <usize>(b * 64 + q8sPos(j))) - <i32>load<u8>(aq + <usize>(b * 64 + 32 + q8sPos(j)));
          else a = <i32>load<i16>(aq + (<usize>(b * 32 + j) << 1));
          sumi += q * a;
        }
        s += <f32>sumi * (h2f(<i32>load<u16>(scales + (<usize>b << 1))) * load<f32>(ad + (<usize>b << 2)));
      }
      store<f32>(y + (<usize>t * <usize>nOut + <usize>o << 2), s);
    }
  }
}

// ---------------------------------------------------------------- rows (get_rows)

/** Dequantizes row src (n values, repacked Q8_0 or Q4_0) to f32 at dst. */
export function q32Row(type: i32, src: usize, dst: usize, n: i32): void {
  if (type == WASMLM_Q4_0R) rowQ4_0R(src, dst, n);
  else rowQ8_0R(src, dst, n);
}

// Repacked Q8_0 (repack below): quants[nb][32] then nb fp16 scales
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

// Repacked Q4_0 (repack below): quants[nb][16] (plain build: i16 lane k = weights k, 8+k, 16+k, 24+k, nibbles
// q ^ 8; relaxed build: GGUF's bytes in q8sPos's order), then nb fp16 scales
function rowQ4_0R(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  const scales = src + (<usize>nb << 4);
  for (let b = 0; b < nb; b++) {
    const d = f32x4.splat(h2f(<i32>load<u16>(scales + (<usize>b << 1))));
    const v = v128.load(src);
    if (ASC_FEATURE_RELAXED_SIMD) {   // the relaxed build's order (repack): GGUF's bytes in q8sPos's order
      const g = i8x16.swizzle(v, v128.load(Q8S_INVERSE));   // GGUF's: byte j = weights j, 16 + j
      const lo = i8x16.sub(v128.and(g, i8x16.splat(15)), i8x16.splat(8)), hi = i8x16.sub(i8x16.shr_u(g, 4), i8x16.splat(8));
      store8(dst, i16x8.extend_low_i8x16_s(lo), i16x8.extend_high_i8x16_s(lo), i16x8.extend_low_i8x16_s(hi), i16x8.extend_high_i8x16_s(hi), d);
    } else {
      store8(dst, i16x8.shr_s(i16x8.shl(v, 12), 12), i16x8.shr_s(i16x8.shl(v, 8), 12), i16x8.shr_s(i16x8.shl(v, 4), 12), i16x8.shr_s(v, 12), d);
    }
    src += 16;
    dst += 128;
  }
}

// ---------------------------------------------------------------- repack

/**
 * Repacks nRows rows of nIn weights of `type` at w in place (scratch: room for one row) and returns the
 * layout code the kernels take from then on: type | REPACKED, or `type` when it needs no repacking.
 */
export function q32Repack(type: i32, w: usize, nRows: i32, nIn: i32, scratch: usize): i32 {
  if ((type != GGML_Q8_0 && type != GGML_Q4_0) || (nIn & 31) != 0) return type;
  const q4 = type == GGML_Q4_0;
  const nb = nIn >> 5;
  const bs: usize = q4 ? 18 : 34;
  const qs: usize = q4 ? 16 : 32;
  const rb = <usize>nb * bs;
  for (let r = 0; r < nRows; r++) {
    const row = w + <usize>r * rb;
    memory.copy(scratch, row, rb);
    const scales = row + <usize>nb * qs;
    for (let b = 0; b < nb; b++) {
      const src = scratch + <usize>b * bs;
      store<u16>(scales + (<usize>b << 1), load<u16>(src));
      if (q4) {
        const q = v128.load(src, 2);
        v128.store(row + (<usize>b << 4), ASC_FEATURE_RELAXED_SIMD ? i8x16.swizzle(q, v128.load(Q8S_ORDER)) : q4Reorder(q));
      } else {
        v128.store(row + (<usize>b << 5), v128.load(src, 2), 0);
        v128.store(row + (<usize>b << 5), v128.load(src, 18), 16);
      }
    }
  }
  return type | REPACKED;
}

// GGUF Q4_0 quants (byte j: weight j in the low nibble, weight 16+j in the high one) -> the repacked order
// (byte 2k: weights k, 8+k; byte 2k+1: weights 16+k, 24+k; every nibble xor 8)
// @ts-ignore: decorator
@inline function q4Reorder(raw: v128): v128 {
  const lo = v128.xor(v128.and(raw, i8x16.splat(0x0f)), i8x16.splat(8));    // weights 0..15
  const hi = v128.xor(i8x16.shr_u(raw, 4), i8x16.splat(8));                  // weights 16..31
  const a = v128.or(lo, i8x16.shl(v128.shuffle<u8>(lo, lo, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15), 4));
  const b = v128.or(hi, i8x16.shl(v128.shuffle<u8>(hi, hi, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15), 4));
  return v128.shuffle<u8>(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
