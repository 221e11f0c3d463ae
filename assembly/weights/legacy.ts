// The other 32-weight block types: Q4_1, Q5_0, Q5_1 (Q8_0 and Q4_0: q8_0_q4_0.ts), with their matmul kernels,
// row dequantization (get_rows) and scalar twin. Block layouts:
//   Q4_1 20 B: d, m, qs[16]               x[j] = d·(qs[j]&15) + m,  x[j+16] = d·(qs[j]>>4) + m
//   Q5_0 22 B: d, qh (u32), qs[16]        5-bit q = nibble | (bit j (or j+16) of qh) << 4, x = d·(q − 16)
//   Q5_1 24 B: d, m, qh (u32), qs[16]     x = d·q + m
// Q5_0 reads the Q8_0 act: per block acc += f32(Σ q_w·q_a) · (d_w·d_a) (f32x4 lanes of partial sums, as
// the Q8_0/Q4_0 kernels). Q4_1/Q5_1 read the Q8_1 act: y = Σ_b d_w·d_a·Σq_w·q_a + m_w·s_a, a near-cancellation
// (m ≈ −7.5·d) that amplifies f32 rounding, so it is accumulated in f64 where both products are exact
// (i32 · fp16 · fp16 and fp16 · fp16): per block term = f64(Σq_w·q_a)·(f64(d_w)·f64(d_a)) + f64(m_w)·f64(s_a),
// even blocks summed into acc0, odd blocks into acc1, y = f32(acc0 + acc1). The 1- and 4-token kernels
// and the scalar twin do the same steps per token, so they agree bit for bit.
import { GGML_Q4_1, GGML_Q5_0, GGML_Q5_1 } from "../../src/abi";
import { h2f, h2fFast } from "../ops/f16";
import { QA_SHIFT, loadQa, actQ8Row, actQ8Scales, actQaRow, actQ81D, actQ81S } from "./act";
import { hsum4, hsum4x4, isum4, isum4x4, load4f } from "./common";

/** Bytes per block of 32 (0: not one of these types). */
// @ts-ignore: decorator
@inline export function legacyBlockBytes(type: i32): usize {
  if (type == GGML_Q4_1) return 20;
  if (type == GGML_Q5_0) return 22;
  if (type == GGML_Q5_1) return 24;
  return 0;
}

// i32x4 partial sums of one 32-weight block: lo, hi = weights 0..15 and 16..31 as i8x16, a = 32 i16 quants
// @ts-ignore: decorator
@inline function blockDot(lo: v128, hi: v128, a: usize): v128 {
  const s0 = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), v128.load(a, 0)),
                       i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), v128.load(a, 16)));
  const s1 = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), v128.load(a, 32)),
                       i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), v128.load(a, 48)));
  return i32x4.add(s0, s1);
}

// the same with the weights already widened (shared by the 4 tokens of a tile)
// @ts-ignore: decorator
@inline function blockDotW(w0: v128, w1: v128, w2: v128, w3: v128, a: usize): v128 {
  const s0 = i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a, 0)), i32x4.dot_i16x8_s(w1, v128.load(a, 16)));
  const s1 = i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48)));
  return i32x4.add(s0, s1);
}

// relaxed build (QA = i8): Σ q_w·q_a of a Q4_1/Q5_1 block as i32x4 partials; the quants are in [0, 31], valid
// 7-bit operands of i16x8.relaxed_dot_i8x16_i7x16_s (exact pair sums, |pair| ≤ 2·127·31)
// @ts-ignore: decorator
@inline function blockDotR(lo: v128, hi: v128, a: usize): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 0), lo),
                                                 i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 16), hi)));
}

// Σ q_w·q_a of the Q4_1/Q5_1 block at w against act quants at a (QA layout of the build)
// @ts-ignore: decorator
@inline function blockSumQA(type: i32, w: usize, a: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return blockDotR(wlo(type, w), whi(type, w), a);
  return blockDot(wlo(type, w), whi(type, w), a);
}

// acc + f32(sums) · (dw · da)
// @ts-ignore: decorator
@inline function scaleAcc(acc: v128, sums: v128, dw: f32, dp: usize): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sums), f32x4.splat(dw * load<f32>(dp))));
}

// 5th bits of a Q5 block: qh (u32) -> 0x10 in byte j of the result where bit j (lo) / bit 16 + j (hi) is set
// @ts-ignore: decorator
@inline function q5hLo(qh: u32): v128 {
  const b = i8x16.swizzle(i32x4.splat(qh), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const m = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(b, m), m), i8x16.splat(0x10));
}

// @ts-ignore: decorator
@inline function q5hHi(qh: u32): v128 {
  const b = i8x16.swizzle(i32x4.splat(qh), i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const m = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(b, m), m), i8x16.splat(0x10));
}

// weights 0..15 / 16..31 of a block at w (type known at compile time after inlining) as i8x16
// @ts-ignore: decorator
@inline function wlo(type: i32, w: usize): v128 {
  const m4 = i8x16.splat(0x0f);
  if (type == GGML_Q4_1) return v128.and(v128.load(w, 4), m4);
  if (type == GGML_Q5_1) return v128.or(v128.and(v128.load(w, 8), m4), q5hLo(load<u32>(w, 4)));
  return i8x16.sub(v128.or(v128.and(v128.load(w, 6), m4), q5hLo(load<u32>(w, 2))), i8x16.splat(16));
}

// @ts-ignore: decorator
@inline function whi(type: i32, w: usize): v128 {
  if (type == GGML_Q4_1) return i8x16.shr_u(v128.load(w, 4), 4);
  if (type == GGML_Q5_1) return v128.or(i8x16.shr_u(v128.load(w, 8), 4), q5hHi(load<u32>(w, 4)));
  return i8x16.sub(v128.or(i8x16.shr_u(v128.load(w, 6), 4), q5hHi(load<u32>(w, 2))), i8x16.splat(16));
}

// ---------------------------------------------------------------- kernels (QA = i16 layout)

// Q5_0 against the Q8_0 act (f32 lanes)
// @ts-ignore: decorator
@inline function k1L0(w: usize, aq: usize, ad: usize, nb: i32): f32 {
  let acc0 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const dw = h2fFast(<i32>load<u16>(w));
    acc0 = scaleAcc(acc0, blockDot(wlo(GGML_Q5_0, w), whi(GGML_Q5_0, w), aq), dw, ad);
    w += 22;
    aq += 64;
    ad += 4;
  }
  return hsum4(acc0);
}

// @ts-ignore: decorator
@inline function k4L0(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                      d3: usize, nb: i32): v128 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const dw = h2fFast(<i32>load<u16>(w));
    const lo = wlo(GGML_Q5_0, w), hi = whi(GGML_Q5_0, w);
    const w0 = i16x8.extend_low_i8x16_s(lo), w1 = i16x8.extend_high_i8x16_s(lo);
    const w2 = i16x8.extend_low_i8x16_s(hi), w3 = i16x8.extend_high_i8x16_s(hi);
    const qo = <usize>b << 6, dof = <usize>b << 2;
    acc0 = scaleAcc(acc0, blockDotW(w0, w1, w2, w3, q0 + qo), dw, d0 + dof);
    acc1 = scaleAcc(acc1, blockDotW(w0, w1, w2, w3, q1 + qo), dw, d1 + dof);
    acc2 = scaleAcc(acc2, blockDotW(w0, w1, w2, w3, q2 + qo), dw, d2 + dof);
    acc3 = scaleAcc(acc3, blockDotW(w0, w1, w2, w3, q3 + qo), dw, d3 + dof);
    w += 22;
  }
  return hsum4x4(acc0, acc1, acc2, acc3);
}

// Q4_1/Q5_1 against the Q8_1 act (exact terms, f64 sums): per block term = f64(Σq_w·q_a)·(f64(d_w)·f64(d_a))
// + f64(m_w)·f64(s_a); even blocks sum into acc0, odd blocks into acc1; y = f32(acc0 + acc1)
// @ts-ignore: decorator
@inline function k1L1(type: i32, w: usize, aq: usize, ad: usize, as: usize, nb: i32): f32 {
  const bsz = legacyBlockBytes(type);
  const qstep: usize = 64 << QA_SHIFT >> 1;
  let acc0: f64 = 0, acc1: f64 = 0;
  let b = 0;
  for (; b + 2 <= nb; b += 2) {
    const s0 = isum4(blockSumQA(type, w, aq));
    acc0 = acc0 + (<f64>s0 * (<f64>h2fFast(<i32>load<u16>(w)) * <f64>load<f32>(ad)) +
                   <f64>h2fFast(<i32>load<u16>(w, 2)) * <f64>load<f32>(as));
    const w1 = w + bsz;
    const s1 = isum4(blockSumQA(type, w1, aq + qstep));
    acc1 = acc1 + (<f64>s1 * (<f64>h2fFast(<i32>load<u16>(w1)) * <f64>load<f32>(ad, 4)) +
                   <f64>h2fFast(<i32>load<u16>(w1, 2)) * <f64>load<f32>(as, 4));
    w += bsz << 1;
    aq += qstep << 1;
    ad += 8;
    as += 8;
  }
  if (b < nb) {
    const s0 = isum4(blockSumQA(type, w, aq));
    acc0 = acc0 + (<f64>s0 * (<f64>h2fFast(<i32>load<u16>(w)) * <f64>load<f32>(ad)) +
                   <f64>h2fFast(<i32>load<u16>(w, 2)) * <f64>load<f32>(as));
  }
  return <f32>(acc0 + acc1);
}

// @ts-ignore: decorator
@inline function k4L1(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                      d3: usize, s0: usize, s1: usize, s2: usize, s3: usize, nb: i32): v128 {
  const bsz = legacyBlockBytes(type);
  // tokens 0,1 (Lo) and 2,3 (Hi); even (E) and odd (O) blocks
  let eLo = f64x2.splat(0), eHi = f64x2.splat(0), oLo = f64x2.splat(0), oHi = f64x2.splat(0);
  const qstep: usize = 64 << QA_SHIFT >> 1;
  for (let b = 0; b < nb; b++) {
    const lo = wlo(type, w), hi = whi(type, w);
    const qo = <usize>b * qstep, dof = <usize>b << 2;
    let si: v128;
    if (ASC_FEATURE_RELAXED_SIMD) {
      si = isum4x4(blockDotR(lo, hi, q0 + qo), blockDotR(lo, hi, q1 + qo), blockDotR(lo, hi, q2 + qo), blockDotR(lo, hi, q3 + qo));
    } else {
      const w0 = i16x8.extend_low_i8x16_s(lo), w1 = i16x8.extend_high_i8x16_s(lo);
      const w2 = i16x8.extend_low_i8x16_s(hi), w3 = i16x8.extend_high_i8x16_s(hi);
      si = isum4x4(blockDotW(w0, w1, w2, w3, q0 + qo), blockDotW(w0, w1, w2, w3, q1 + qo),
                   blockDotW(w0, w1, w2, w3, q2 + qo), blockDotW(w0, w1, w2, w3, q3 + qo));
    }
    const dw = f64x2.splat(<f64>h2fFast(<i32>load<u16>(w)));
    const mw = f64x2.splat(<f64>h2fFast(<i32>load<u16>(w, 2)));
    const da = load4f(d0 + dof, d1 + dof, d2 + dof, d3 + dof);
    const sa = load4f(s0 + dof, s1 + dof, s2 + dof, s3 + dof);
    const daHi = v128.shuffle<f32>(da, da, 2, 3, 2, 3), saHi = v128.shuffle<f32>(sa, sa, 2, 3, 2, 3);
    const siHi = v128.shuffle<i32>(si, si, 2, 3, 2, 3);
    const tLo = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(si), f64x2.mul(dw, f64x2.promote_low_f32x4(da))),
                          f64x2.mul(mw, f64x2.promote_low_f32x4(sa)));
    const tHi = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(siHi), f64x2.mul(dw, f64x2.promote_low_f32x4(daHi))),
                          f64x2.mul(mw, f64x2.promote_low_f32x4(saHi)));
    if (b & 1) {
      oLo = f64x2.add(oLo, tLo);
      oHi = f64x2.add(oHi, tHi);
    } else {
      eLo = f64x2.add(eLo, tLo);
      eHi = f64x2.add(eHi, tHi);
    }
    w += bsz;
  }
  const rLo = f32x4.demote_f64x2_zero(f64x2.add(eLo, oLo)), rHi = f32x4.demote_f64x2_zero(f64x2.add(eHi, oHi));
  return v128.shuffle<f32>(rLo, rHi, 0, 1, 4, 5);
}

function k1Q4_1(w: usize, aq: usize, ad: usize, as: usize, nb: i32): f32 { return k1L1(GGML_Q4_1, w, aq, ad, as, nb); }
function k1Q5_0(w: usize, aq: usize, ad: usize, nb: i32): f32 { return k1L0(w, aq, ad, nb); }
function k1Q5_1(w: usize, aq: usize, ad: usize, as: usize, nb: i32): f32 { return k1L1(GGML_Q5_1, w, aq, ad, as, nb); }

function k4Q4_1(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                s0: usize, s1: usize, s2: usize, s3: usize, nb: i32): v128 {
  return k4L1(GGML_Q4_1, w, q0, q1, q2, q3, d0, d1, d2, d3, s0, s1, s2, s3, nb);
}
function k4Q5_0(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                nb: i32): v128 {
  return k4L0(w, q0, q1, q2, q3, d0, d1, d2, d3, nb);
}
function k4Q5_1(w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize, d3: usize,
                s0: usize, s1: usize, s2: usize, s3: usize, nb: i32): v128 {
  return k4L1(GGML_Q5_1, w, q0, q1, q2, q3, d0, d1, d2, d3, s0, s1, s2, s3, nb);
}

// ---------------------------------------------------------------- entries for weights/index.ts

// one token (act planes q, d, and s for Q4_1/Q5_1), one row w -> y (the driver calls it once per row: a
// second call site per kernel kept it out of line, and decode was 0.85x for Q5_0)
// @ts-ignore: decorator
@inline export function legacyDec(type: i32, w: usize, q: usize, d: usize, e: usize, nIn: i32, y: usize): void {
  const nb = nIn >> 5;
  if (type == GGML_Q4_1) store<f32>(y, k1Q4_1(w, q, d, e, nb));
  else if (type == GGML_Q5_1) store<f32>(y, k1Q5_1(w, q, d, e, nb));
  else store<f32>(y, k1Q5_0(w, q, d, nb));
}

// one row, 4 tokens -> [y(t0), .., y(t3)]
// @ts-ignore: decorator
@inline export function legacyTile(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize,
                                   d2: usize, d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32): v128 {
  const nb = nIn >> 5;
  if (type == GGML_Q4_1) return k4Q4_1(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nb);
  if (type == GGML_Q5_1) return k4Q5_1(w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nb);
  return k4Q5_0(w, q0, q1, q2, q3, d0, d1, d2, d3, nb);
}

// ---------------------------------------------------------------- scalar twin

// integer quant j (0..31) of the block at b, before scaling (Q5_0: already − 16)
// @ts-ignore: decorator
@inline function quantOf(type: i32, b: usize, j: i32): i32 {
  const qsOff: usize = type == GGML_Q4_1 ? 4 : type == GGML_Q5_0 ? 6 : 8;
  const byte = <i32>load<u8>(b + qsOff + <usize>(j & 15));
  let v = j < 16 ? byte & 15 : byte >> 4;
  if (type == GGML_Q4_1) return v;
  const qh = load<u32>(b + <usize>(type == GGML_Q5_0 ? 2 : 4));
  v |= <i32>((qh >> <u32>j) & 1) << 4;
  return type == GGML_Q5_0 ? v - 16 : v;
}

export function legacyRef(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const nb = nIn >> 5;
  const bsz = legacyBlockBytes(type);
  const rb: usize = <usize>nb * bsz;
  const q80 = type == GGML_Q5_0;
  for (let t = 0; t < nTok; t++) {
    const aq = q80 ? actQ8Row(act, nIn, t) : actQaRow(act, nIn, t);
    const ad = q80 ? actQ8Scales(act, nIn, nTok, t) : actQ81D(act, nIn, nTok, t);
    const as: usize = q80 ? 0 : actQ81S(act, nIn, nTok, t);
    for (let o = r0; o < r1; o++) {
      let res: f32;
      if (q80) {
        // f32 lanes as the SIMD kernel: lane k sums the products of elements with (j % 8) / 2 == k
        let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
        for (let b = 0; b < nb; b++) {
          const bp = w + <usize>o * rb + <usize>b * bsz;
          let i0 = 0, i1 = 0, i2 = 0, i3 = 0;
          for (let j = 0; j < 32; j++) {
            const p = quantOf(type, bp, j) * <i32>load<i16>(aq + (<usize>(b * 32 + j) << 1));
            const lane = (j & 7) >> 1;
            if (lane == 0) i0 += p; else if (lane == 1) i1 += p; else if (lane == 2) i2 += p; else i3 += p;
          }
          const sc: f32 = h2f(<i32>load<u16>(bp)) * load<f32>(ad + (<usize>b << 2));
          l0 = l0 + <f32>i0 * sc;
          l1 = l1 + <f32>i1 * sc;
          l2 = l2 + <f32>i2 * sc;
          l3 = l3 + <f32>i3 * sc;
        }
        res = (l0 + l2) + (l1 + l3);
      } else {
        let acc0: f64 = 0, acc1: f64 = 0;
        for (let b = 0; b < nb; b++) {
          const bp = w + <usize>o * rb + <usize>b * bsz;
          let sumi = 0;
          for (let j = 0; j < 32; j++) sumi += quantOf(type, bp, j) * loadQa(aq, b * 32 + j);
          const term = <f64>sumi * (<f64>h2f(<i32>load<u16>(bp)) * <f64>load<f32>(ad + (<usize>b << 2))) +
                       <f64>h2f(<i32>load<u16>(bp, 2)) * <f64>load<f32>(as + (<usize>b << 2));
          if (b & 1) acc1 = acc1 + term; else acc0 = acc0 + term;
        }
        const acc = acc0 + acc1;
        res = <f32>acc;
      }
      store<f32>(y + (<usize>t * <usize>nOut + <usize>o << 2), res);
    }
  }
}

// ---------------------------------------------------------------- rows (get_rows)

/** Dequantizes n values (a multiple of 32) of `type` at src into f32 at dst (the reference's f32 steps). */
export function legacyRow(type: i32, src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  const bsz = legacyBlockBytes(type);
  for (let b = 0; b < nb; b++) {
    const d = h2f(<i32>load<u16>(src));
    const m: f32 = type == GGML_Q5_0 ? 0 : h2f(<i32>load<u16>(src, 2));
    for (let j = 0; j < 32; j++) {
      const v = <f32>quantOf(type, src, j);
      store<f32>(dst + (<usize>j << 2), type == GGML_Q5_0 ? d * v : d * v + m);
    }
    src += bsz;
    dst += 128;
  }
}
