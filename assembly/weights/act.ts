// Activation formats: the preparation for OP_MATMUL (OP_PREP_ACT): each weight type reads its input rows in the
// format llama.cpp's CPU backend quantizes them to for that type (the integer dot products then match
// the reference's exactly).
//
// Act layouts (act_bytes gives the size; t = token, nb = nIn/32, ns = nIn/256):
//   F32  : f32 [nTok][nIn] (a copy of x; matmul reads x directly when act == x)
//   F16  : f32 [nTok][nIn], every value rounded to the nearest half (ties to even)
//   BF16 : f32 [nTok][nIn], every value rounded to the nearest bfloat16 (ties to even)
//   Q8_0 for Q8_0, Q4_0, Q5_0 weights: blocks of 32 like llama.cpp's x86 quantize_row_q8_0, two planes:
//     q plane : i16 [nTok][nIn] at act            (the i8 quants, stored widened to i16 so the dot
//                                                  kernels load them ready for i32x4.dot_i16x8_s)
//     d plane : f32 [nTok][nb] at act + nTok·nIn·2  (block scale d = amax/127 rounded to fp16, as f32)
//   Q8_1 for Q4_1, Q5_1 weights: Q8_0 plus s = fp16(d·Σq) per block (d = amax/127 before fp16 rounding),
//   three planes:
//     q plane : QA [nTok][nIn] at act
//     d plane : f32 [nTok][nb] after the q plane
//     s plane : f32 [nTok][nb] after the d plane
//   Q8_0C for repacked Q4_0 weights in the relaxed-SIMD build (Q8_0 there): the Q8_0 quants and scales, each
//   block's quants in q8sPos's order (below: the order of the relaxed build's repacked Q4_0 nibbles), and
//   c = 8·Σq per lane of the kernels' i32 sums (lane k: quants 2k, 2k+1, 8+2k, 9+2k and the same + 16; the
//   Q4_0 kernel that dots the unsigned nibbles q_w with the act subtracts it: Σ(q_w − 8)·q_a = Σq_w·q_a −
//   8·Σq_a, lane by lane, so its lanes hold the plain build's sums and its floats are the plain build's):
//     q plane : i8 [nTok][nIn] at act
//     d plane : f32 [nTok][nb] after the q plane
//     c plane : i32 [nTok][nb][4] after the d plane
//   Q8_0S for repacked Q8_0 weights in the relaxed-SIMD build where i32x4.relaxed_dot_i8x16_i7x16_add_s is
//   a fused 16-MAC dot (dotAddFast: x86 VNNI's vpdpbusd): the Q8_0 planes and sizes, each block's 64 q-plane
//   bytes holding the quants split into two 7-bit halves, a = a⁺ − a⁻ (a⁺ = max(a, 0), a⁻ = max(−a, 0)):
//   32 i8 a⁺ then 32 i8 a⁻ (the dot's 7-bit operand; the weights, any i8 including −128, are the other), each
//   32 in the order q8sPos gives (the one the Q8_0 kernel shuffles its weights to, q8_0_q4_0.ts wq)
//   Q8_K for Q2_K..Q6_K weights: blocks of 256 like quantize_row_q8_K_ref: max = the signed value of the
//   first largest |x|, iscale = −127/max, q = min(127, nearest(iscale·x)), d = 1/iscale (f32), bsums =
//   Σq per 16; three planes:
//     q plane     : QA [nTok][nIn] at act
//     d plane     : f32 [nTok][ns] after the q plane
//     bsums plane : i16 [nTok][nIn/16] after the d plane
//   QA is the q element: i16 in the plain SIMD build (for i32x4.dot_i16x8_s), i8 in the relaxed-SIMD
//   build (for i32x4.relaxed_dot_i8x16_i7x16_add_s); the scalar twins read whichever the build writes.
//   Host: align act to 16 bytes or more (64 is best); nIn is a multiple of the block size (32 or 256).
import {
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q5_0, GGML_Q4_1, GGML_Q5_1,
  GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, REPACKED, WASMLM_Q4_0R, WASMLM_Q8_0R,
} from "../../src/abi";
import { f2h, h2f, roundF16, roundF16x4, roundBF16, roundBF16x4 } from "../ops/f16";
import { absMax8, isum4, q8x4 } from "./common";

// Act formats
export const ACT_NONE = 0;
export const ACT_F32 = 1;
export const ACT_F16 = 2;
export const ACT_BF16 = 3;
export const ACT_Q8_0 = 4;
export const ACT_Q8_1 = 5;
export const ACT_Q8_K = 6;
export const ACT_Q8_0C = 7;
export const ACT_Q8_0S = 8;

// The relaxed build's dot forms. i32x4.relaxed_dot_i8x16_i7x16_add_s is 16 multiply-adds in one instruction
// where the engine lowers it to x86 VNNI (vpdpbusd: Chromium 156, Deno 2.9's V8 15 measured 2.3x
// i32x4.dot_i16x8_s); elsewhere it is 3 instructions (Node 22's V8 12.4: pmaddubsw, pmaddwd, paddd; 0.8x), where
// i16x8.relaxed_dot_i8x16_i7x16_s + extadd is the faster form (1.5x). Which lowering runs is told by the
// result on an operand the spec leaves implementation-defined (the 7-bit one with its top bit set):
// vpdpbusd takes it unsigned and sums in i32: 4·127·255; pmaddubsw saturates its i16 pair sums: 2·32767;
// a signed lowering (Arm sdot): 4·127·(−1). Only the dot forms' speed depends on it: the kernels of both
// forms give the same integer sums (they never feed the dot an operand out of range).
const DOT_PROBE: usize = memory.data<u8>([127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255], 16);
/** Whether i32x4.relaxed_dot_i8x16_i7x16_add_s is one fused instruction here (false in the plain build). */
// @ts-ignore: decorator
@inline export function dotAddFast(): bool {
  if (!ASC_FEATURE_RELAXED_SIMD) return false;
  const r = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(DOT_PROBE), v128.load(DOT_PROBE, 16), i32x4.splat(0));
  return i32x4.extract_lane(r, 0) == 4 * 127 * 255;
}
/** The byte of quant j (0..31) in a Q8_0S half-block: within each 16, i16 pairs 0-7 and 8-15 interleaved
 *  (j = 8h + 2k + r -> 4k + 2h + r). */
// @ts-ignore: decorator
@inline export function q8sPos(j: i32): i32 { return (j & 16) | ((j & 6) << 1) | ((j >> 2) & 2) | (j & 1); }

/** dotAddFast as an export (0 or 1): the benches say which form ran. */
export function dot_add_fast(): i32 { return dotAddFast() ? 1 : 0; }

/** The act format weights of `type` read (GGUF or repacked layout; ACT_NONE for unsupported types). */
// @ts-ignore: decorator
@inline export function actFormat(type: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && type == WASMLM_Q4_0R) return ACT_Q8_0C;
  if (ASC_FEATURE_RELAXED_SIMD && type == WASMLM_Q8_0R && dotAddFast()) return ACT_Q8_0S;
  type &= ~REPACKED;
  if (type == GGML_F32) return ACT_F32;
  if (type == GGML_F16) return ACT_F16;
  if (type == GGML_BF16) return ACT_BF16;
  if (type == GGML_Q8_0 || type == GGML_Q4_0 || type == GGML_Q5_0) return ACT_Q8_0;
  if (type == GGML_Q4_1 || type == GGML_Q5_1) return ACT_Q8_1;
  if (type == GGML_Q2_K || type == GGML_Q3_K || type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q6_K) return ACT_Q8_K;
  return ACT_NONE;
}

/** log2 of the byte size of a QA element (Q8_1 and Q8_K q planes): 1 (i16) or 0 (i8, relaxed build). */
// @ts-ignore: decorator
@inline export const QA_SHIFT: i32 = ASC_FEATURE_RELAXED_SIMD ? 0 : 1;

/** The act format (ACT_*) that weights of `type` read: weights whose formats agree share one prep. */
export function act_format(type: i32): i32 { return actFormat(type); }

/** Scratch bytes OP_PREP_ACT writes for weights of `type` (0 for unsupported types). */
export function act_bytes(type: i32, nIn: i32, nTok: i32): i32 {
  const f = actFormat(type);
  if (f == ACT_F32 || f == ACT_F16 || f == ACT_BF16) return nIn * nTok * 4;
  if (f == ACT_Q8_0 || f == ACT_Q8_0S) return nTok * nIn * 2 + nTok * (nIn >> 5) * 4;
  if (f == ACT_Q8_1) return nTok * (nIn << QA_SHIFT) + nTok * (nIn >> 5) * 8;
  if (f == ACT_Q8_0C) return nTok * nIn + nTok * (nIn >> 5) * 20;
  if (f == ACT_Q8_K) return nTok * (nIn << QA_SHIFT) + nTok * (nIn >> 8) * 4 + nTok * (nIn >> 4) * 2;
  return 0;
}

// ---------------------------------------------------------------- plane addresses

// Q8_0: q plane (i16)
// @ts-ignore: decorator
@inline export function actQ8Row(act: usize, nIn: i32, t: i32): usize {
  return act + (<usize>t * <usize>nIn << 1);
}

// Q8_0: d plane
// @ts-ignore: decorator
@inline export function actQ8Scales(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + (<usize>nTok * <usize>nIn << 1) + (<usize>t * <usize>(nIn >> 5) << 2);
}

// Q8_1 / Q8_K: q plane (QA)
// @ts-ignore: decorator
@inline export function actQaRow(act: usize, nIn: i32, t: i32): usize {
  return act + (<usize>t * <usize>nIn << QA_SHIFT);
}

// Q8_1: d plane
// @ts-ignore: decorator
@inline export function actQ81D(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + (<usize>nTok * <usize>nIn << QA_SHIFT) + (<usize>t * <usize>(nIn >> 5) << 2);
}

// Q8_1: s plane
// @ts-ignore: decorator
@inline export function actQ81S(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + (<usize>nTok * <usize>nIn << QA_SHIFT) + (<usize>nTok * <usize>(nIn >> 5) << 2)
    + (<usize>t * <usize>(nIn >> 5) << 2);
}

// Q8_0C: c plane (the relaxed build: i8 q plane; 16 bytes per block)
// @ts-ignore: decorator
@inline export function actQ80C(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + <usize>nTok * <usize>nIn + (<usize>nTok * <usize>(nIn >> 5) << 2) + (<usize>t * <usize>(nIn >> 5) << 4);
}

// Q8_K: d plane
// @ts-ignore: decorator
@inline export function actQ8KD(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + (<usize>nTok * <usize>nIn << QA_SHIFT) + (<usize>t * <usize>(nIn >> 8) << 2);
}

// Q8_K: bsums plane
// @ts-ignore: decorator
@inline export function actQ8KSums(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + (<usize>nTok * <usize>nIn << QA_SHIFT) + (<usize>nTok * <usize>(nIn >> 8) << 2)
    + (<usize>t * <usize>(nIn >> 4) << 1);
}

// The planes of token t in act format f, as the matmul driver reads them (weights/index.ts): q = its quants
// (F32/F16/BF16: its f32 row), d = its scales, e = the third plane (Q8_1 s, Q8_0C c, Q8_K bsums); 0 where the
// format has none.
// @ts-ignore: decorator
@inline export function actQ(f: i32, act: usize, nIn: i32, t: i32): usize {
  if (f == ACT_F32 || f == ACT_F16 || f == ACT_BF16) return act + (<usize>t * <usize>nIn << 2);
  return f == ACT_Q8_0 || f == ACT_Q8_0S ? actQ8Row(act, nIn, t) : actQaRow(act, nIn, t);
}
// @ts-ignore: decorator
@inline export function actD(f: i32, act: usize, nIn: i32, nTok: i32, t: i32): usize {
  if (f == ACT_Q8_0 || f == ACT_Q8_0S) return actQ8Scales(act, nIn, nTok, t);
  if (f == ACT_Q8_1 || f == ACT_Q8_0C) return actQ81D(act, nIn, nTok, t);
  return f == ACT_Q8_K ? actQ8KD(act, nIn, nTok, t) : 0;
}
// @ts-ignore: decorator
@inline export function actE(f: i32, act: usize, nIn: i32, nTok: i32, t: i32): usize {
  if (f == ACT_Q8_1) return actQ81S(act, nIn, nTok, t);
  if (f == ACT_Q8_0C) return actQ80C(act, nIn, nTok, t);
  return f == ACT_Q8_K ? actQ8KSums(act, nIn, nTok, t) : 0;
}

/** Element i of a QA plane row. */
// @ts-ignore: decorator
@inline export function loadQa(row: usize, i: i32): i32 {
  return QA_SHIFT ? <i32>load<i16>(row + (<usize>i << 1)) : <i32>load<i8>(row + <usize>i);
}

// @ts-ignore: decorator
@inline function storeQa(row: usize, i: i32, q: i32): void {
  if (QA_SHIFT) store<i16>(row + (<usize>i << 1), <i16>q);
  else store<i8>(row + <usize>i, <i8>q);
}

// ---------------------------------------------------------------- Q8_0 / Q8_1 (blocks of 32)

// @ts-ignore: decorator
@inline function q8Scale(amax: f32): f32 {
  return roundF16(amax / <f32>127.0);
}

// f = ACT_Q8_0 (i16 q plane, d plane), ACT_Q8_0S (its a⁺/a⁻ q plane, d plane), ACT_Q8_1 (QA q plane, d and s
// planes) or ACT_Q8_0C (QA q plane, d and c planes) (tokens t0 <= t < t1 of nTok)
function quantizeQ8(f: i32, x: usize, act: usize, nIn: i32, nTok: i32, t0: i32, t1: i32): void {
  const nb = nIn >> 5;
  const q81 = f != ACT_Q8_0 && f != ACT_Q8_0S;   // the Q8_1 plane layout (Q8_0C has it too)
  const wide = !q81 || QA_SHIFT == 1;
  const zero = i8x16.splat(0);
  for (let t = t0; t < t1; t++) {
    let xp = x + (<usize>t * <usize>nIn << 2);
    let qp = q81 ? actQaRow(act, nIn, t) : actQ8Row(act, nIn, t);
    let dp = q81 ? actQ81D(act, nIn, nTok, t) : actQ8Scales(act, nIn, nTok, t);
    let sp = f == ACT_Q8_0C ? actQ80C(act, nIn, nTok, t) : q81 ? actQ81S(act, nIn, nTok, t) : 0;
    for (let b = 0; b < nb; b++) {
      const v0 = v128.load(xp, 0), v1 = v128.load(xp, 16), v2 = v128.load(xp, 32), v3 = v128.load(xp, 48);
      const v4 = v128.load(xp, 64), v5 = v128.load(xp, 80), v6 = v128.load(xp, 96), v7 = v128.load(xp, 112);
      const amax = absMax8(v0, v1, v2, v3, v4, v5, v6, v7);
      const id: f32 = amax != 0 ? <f32>127.0 / amax : <f32>0.0;
      const d: f32 = amax / <f32>127.0;
      store<f32>(dp, roundF16(d));
      const iv = f32x4.splat(id);
      const q0 = q8x4(v0, iv);
      const q1 = q8x4(v1, iv);
      const q2 = q8x4(v2, iv);
      const q3 = q8x4(v3, iv);
      const q4 = q8x4(v4, iv);
      const q5 = q8x4(v5, iv);
      const q6 = q8x4(v6, iv);
      const q7 = q8x4(v7, iv);
      const w0 = i16x8.narrow_i32x4_s(q0, q1), w1 = i16x8.narrow_i32x4_s(q2, q3);
      const w2 = i16x8.narrow_i32x4_s(q4, q5), w3 = i16x8.narrow_i32x4_s(q6, q7);
      if (ASC_FEATURE_RELAXED_SIMD && (f == ACT_Q8_0S || f == ACT_Q8_0C)) {
        // (q8sPos's order: the i32 lanes of w0 and w1 interleaved, and of w2 and w3)
        const lo = i8x16.narrow_i16x8_s(v128.shuffle<u32>(w0, w1, 0, 4, 1, 5), v128.shuffle<u32>(w0, w1, 2, 6, 3, 7));
        const hi = i8x16.narrow_i16x8_s(v128.shuffle<u32>(w2, w3, 0, 4, 1, 5), v128.shuffle<u32>(w2, w3, 2, 6, 3, 7));
        if (f == ACT_Q8_0C) {
          v128.store(qp, lo, 0);
          v128.store(qp, hi, 16);
          // lane k: 8·Σ of quants 2k, 2k+1 of w0..w3 (i16 sums ≤ 4·127)
          v128.store(sp, i32x4.shl(i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.add(w0, w1), i16x8.add(w2, w3))), 3));
          sp += 16;
          qp += 32;
        } else {
          v128.store(qp, i8x16.max_s(lo, zero), 0);
          v128.store(qp, i8x16.max_s(hi, zero), 16);
          v128.store(qp, i8x16.max_s(i8x16.neg(lo), zero), 32);
          v128.store(qp, i8x16.max_s(i8x16.neg(hi), zero), 48);
          qp += 64;
        }
      } else if (wide) {
        v128.store(qp, w0, 0);
        v128.store(qp, w1, 16);
        v128.store(qp, w2, 32);
        v128.store(qp, w3, 48);
        qp += 64;
      } else {
        v128.store(qp, i8x16.narrow_i16x8_s(w0, w1), 0);
        v128.store(qp, i8x16.narrow_i16x8_s(w2, w3), 16);
        qp += 32;
      }
      if (q81 && f != ACT_Q8_0C) {
        const sum = isum4(i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)),
                                    i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7))));
        store<f32>(sp, roundF16(d * <f32>sum));
        sp += 4;
      }
      xp += 128;
      dp += 4;
    }
  }
}

function quantizeQ8Ref(f: i32, x: usize, act: usize, nIn: i32, nTok: i32): void {
  const nb = nIn >> 5;
  const q81 = f != ACT_Q8_0 && f != ACT_Q8_0S;
  for (let t = 0; t < nTok; t++) {
    const xr = x + (<usize>t * <usize>nIn << 2);
    const qr = q81 ? actQaRow(act, nIn, t) : actQ8Row(act, nIn, t);
    const dr = q81 ? actQ81D(act, nIn, nTok, t) : actQ8Scales(act, nIn, nTok, t);
    for (let b = 0; b < nb; b++) {
      let amax: f32 = 0;
      for (let j = 0; j < 32; j++) amax = max<f32>(amax, Mathf.abs(load<f32>(xr + (<usize>(b * 32 + j) << 2))));
      const id: f32 = amax != 0 ? <f32>127.0 / amax : <f32>0.0;
      const d: f32 = amax / <f32>127.0;
      store<f32>(dr + (<usize>b << 2), h2f(f2h(d)));
      let sum = 0;
      const cp = f == ACT_Q8_0C ? actQ80C(act, nIn, nTok, t) + (<usize>b << 4) : 0;
      if (f == ACT_Q8_0C) memory.fill(cp, 0, 16);
      for (let j = 0; j < 32; j++) {
        const v = load<f32>(xr + (<usize>(b * 32 + j) << 2));
        const q = <i32>nearest<f32>(v * id);
        sum += q;
        if (f == ACT_Q8_0C) {
          store<i8>(qr + <usize>(b * 32 + q8sPos(j)), q);
          const lane = cp + (<usize>((j >> 1) & 3) << 2);
          store<i32>(lane, load<i32>(lane) + (q << 3));
        } else if (q81) storeQa(qr, b * 32 + j, q);
        else if (f == ACT_Q8_0S) {
          store<u8>(qr + <usize>(b * 64 + q8sPos(j)), max<i32>(q, 0));
          store<u8>(qr + <usize>(b * 64 + 32 + q8sPos(j)), max<i32>(-q, 0));
        } else store<i16>(qr + (<usize>(b * 32 + j) << 1), <i16>q);
      }
      if (q81 && f != ACT_Q8_0C) store<f32>(actQ81S(act, nIn, nTok, t) + (<usize>b << 2), h2f(f2h(d * <f32>sum)));
    }
  }
}

// ---------------------------------------------------------------- Q8_K (blocks of 256)

// @ts-ignore: decorator
@inline function fmax4(v: v128): f32 {
  const m = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
}

// @ts-ignore: decorator
@inline function fmin4(v: v128): f32 {
  const m = f32x4.pmin(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return min<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
}

// (tokens t0 <= t < t1 of nTok)
function quantizeQ8K(x: usize, act: usize, nIn: i32, nTok: i32, t0: i32, t1: i32): void {
  const ns = nIn >> 8;
  for (let t = t0; t < t1; t++) {
    let xp = x + (<usize>t * <usize>nIn << 2);
    let qp = actQaRow(act, nIn, t);
    let dp = actQ8KD(act, nIn, nTok, t);
    let bp = actQ8KSums(act, nIn, nTok, t);
    for (let s = 0; s < ns; s++) {
      // largest and smallest value (a NaN x is skipped, as the reference's `|x| > amax` test skips it)
      let hi = f32x4.splat(0), lo = f32x4.splat(0);
      for (let i: usize = 0; i < 1024; i += 64) {
        const v0 = v128.load(xp + i, 0), v1 = v128.load(xp + i, 16), v2 = v128.load(xp + i, 32), v3 = v128.load(xp + i, 48);
        hi = f32x4.pmax(f32x4.pmax(hi, v0), f32x4.pmax(v1, f32x4.pmax(v2, v3)));
        lo = f32x4.pmin(f32x4.pmin(lo, v0), f32x4.pmin(v1, f32x4.pmin(v2, v3)));
      }
      const mx = fmax4(hi), mn = fmin4(lo);
      let vmax: f32 = mx > -mn ? mx : mn;
      if (mx == -mn && mx != 0) {
        // +a and −a are both present: the first one wins
        for (let i: usize = 0; i < 1024; i += 4) {
          const v = load<f32>(xp + i);
          if (v == mx || v == mn) { vmax = v; break; }
        }
      }
      if (vmax == 0) {
        store<f32>(dp, 0);
        memory.fill(qp, 0, <usize>256 << QA_SHIFT);
        memory.fill(bp, 0, 32);
      } else {
        const iscale: f32 = <f32>-127.0 / vmax;
        const iv = f32x4.splat(iscale);
        const top = i32x4.splat(127);
        for (let g = 0; g < 16; g++) {
          const v0 = v128.load(xp, 0), v1 = v128.load(xp, 16), v2 = v128.load(xp, 32), v3 = v128.load(xp, 48);
          const q0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, iv))), top);
          const q1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, iv))), top);
          const q2 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, iv))), top);
          const q3 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, iv))), top);
          const w0 = i16x8.narrow_i32x4_s(q0, q1), w1 = i16x8.narrow_i32x4_s(q2, q3);
          if (QA_SHIFT) {
            v128.store(qp, w0, 0);
            v128.store(qp, w1, 16);
          } else {
            v128.store(qp, i8x16.narrow_i16x8_s(w0, w1));
          }
          store<i16>(bp, <i16>isum4(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3))));
          xp += 64;
          qp += 16 << QA_SHIFT;
          bp += 2;
        }
        store<f32>(dp, <f32>1.0 / iscale);
        dp += 4;
        continue;
      }
      xp += 1024;
      qp += 256 << QA_SHIFT;
      bp += 32;
      dp += 4;
    }
  }
}

function quantizeQ8KRef(x: usize, act: usize, nIn: i32, nTok: i32): void {
  const ns = nIn >> 8;
  for (let t = 0; t < nTok; t++) {
    const xr = x + (<usize>t * <usize>nIn << 2);
    const qr = actQaRow(act, nIn, t);
    const dr = actQ8KD(act, nIn, nTok, t);
    const br = actQ8KSums(act, nIn, nTok, t);
    for (let s = 0; s < ns; s++) {
      let amax: f32 = 0, vmax: f32 = 0;
      for (let j = 0; j < 256; j++) {
        const v = load<f32>(xr + (<usize>(s * 256 + j) << 2));
        const a = Mathf.abs(v);
        if (a > amax) { amax = a; vmax = v; }
      }
      if (amax == 0) {
        store<f32>(dr + (<usize>s << 2), 0);
        for (let j = 0; j < 256; j++) storeQa(qr, s * 256 + j, 0);
        for (let g = 0; g < 16; g++) store<i16>(br + (<usize>(s * 16 + g) << 1), 0);
        continue;
      }
      const iscale: f32 = <f32>-127.0 / vmax;
      for (let g = 0; g < 16; g++) {
        let sum = 0;
        for (let j = 0; j < 16; j++) {
          const i = s * 256 + g * 16 + j;
          const q = min<i32>(127, <i32>nearest<f32>(iscale * load<f32>(xr + (<usize>i << 2))));
          storeQa(qr, i, q);
          sum += q;
        }
        store<i16>(br + (<usize>(s * 16 + g) << 1), <i16>sum);
      }
      store<f32>(dr + (<usize>s << 2), <f32>1.0 / iscale);
    }
  }
}

// ---------------------------------------------------------------- F16 / BF16 rounding

function roundRowsF16(x: usize, act: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(act + off, roundF16x4(v128.load(x + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(act + off, roundF16(load<f32>(x + off)));
  }
}

function roundRowsBF16(x: usize, act: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(act + off, roundBF16x4(v128.load(x + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(act + off, roundBF16(load<f32>(x + off)));
  }
}

/** Converts f32 rows x[nTok][nIn] into the activation format matmul needs for weights of `type`. */
export function prep_act(type: i32, x: usize, act: usize, nIn: i32, nTok: i32): void {
  prep_act_part(type, x, act, nIn, nTok, 0, nTok);
}

/** prep_act for the rows t0 <= t < t1 of nTok only (each row is converted on its own: threads split rows). */
export function prep_act_part(type: i32, x: usize, act: usize, nIn: i32, nTok: i32, t0: i32, t1: i32): void {
  const f = actFormat(type);
  if (t1 <= t0) return;
  const off = <usize>t0 * <usize>nIn << 2;
  const n = (t1 - t0) * nIn;
  if (f == ACT_F32) {
    if (act != x) memory.copy(act + off, x + off, <usize>n << 2);
  } else if (f == ACT_F16) {
    roundRowsF16(x + off, act + off, n);
  } else if (f == ACT_BF16) {
    roundRowsBF16(x + off, act + off, n);
  } else if (f == ACT_Q8_0 || f == ACT_Q8_0S || f == ACT_Q8_1 || f == ACT_Q8_0C) {
    quantizeQ8(f, x, act, nIn, nTok, t0, t1);
  } else if (f == ACT_Q8_K) {
    quantizeQ8K(x, act, nIn, nTok, t0, t1);
  } else {
    unreachable();
  }
}

export function prep_act_ref(type: i32, x: usize, act: usize, nIn: i32, nTok: i32): void {
  const f = actFormat(type);
  if (f == ACT_F32) {
    if (act != x) {
      const n = nIn * nTok;
      for (let i = 0; i < n; i++) store<f32>(act + (<usize>i << 2), load<f32>(x + (<usize>i << 2)));
    }
  } else if (f == ACT_F16 || f == ACT_BF16) {
    const n = nIn * nTok;
    for (let i = 0; i < n; i++) {
      const off = <usize>i << 2;
      const v = load<f32>(x + off);
      store<f32>(act + off, f == ACT_F16 ? h2f(f2h(v)) : roundBF16(v));
    }
  } else if (f == ACT_Q8_0 || f == ACT_Q8_0S || f == ACT_Q8_1 || f == ACT_Q8_0C) {
    quantizeQ8Ref(f, x, act, nIn, nTok);
  } else if (f == ACT_Q8_K) {
    quantizeQ8KRef(x, act, nIn, nTok);
  } else {
    unreachable();
  }
}
