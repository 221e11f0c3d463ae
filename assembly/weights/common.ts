// What the weight types' kernels share: lane constants, horizontal sums, the 4-token result store and the
// decode prefetch. Every helper is @inline (the kernels are the functions).

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
  0xf000f000, 0xf000f000, 0xf000f000, 0xf000f000,   // KC_MF000: the top 4 bits of each i16
], 16);
// @ts-ignore: decorator
@inline export const KC_M4: usize = 0;
// @ts-ignore: decorator
@inline export const KC_M30: usize = 16;
// @ts-ignore: decorator
@inline export const KC_M10: usize = 32;
// @ts-ignore: decorator
@inline export const KC_M3: usize = 48;
// @ts-ignore: decorator
@inline export const KC_M04: usize = 64;
// @ts-ignore: decorator
@inline export const KC_B32: usize = 80;
// @ts-ignore: decorator
@inline export const KC_K4LO: usize = 96;
// @ts-ignore: decorator
@inline export const KC_K4HI: usize = 112;
// @ts-ignore: decorator
@inline export const KC_H2F: usize = 128;
// @ts-ignore: decorator
@inline export const KC_E31: usize = 144;
// @ts-ignore: decorator
@inline export const KC_INF: usize = 160;
// @ts-ignore: decorator
@inline export const KC_P112: usize = 176;
// @ts-ignore: decorator
@inline export const KC_MF000: usize = 192;

// [Σa0, Σa1, Σa2, Σa3] (f32)
// @ts-ignore: decorator
@inline export function hsum4x4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
}

// Σ lanes of v (f32): (v0 + v2) + (v1 + v3)
// @ts-ignore: decorator
@inline export function hsum4(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

// Σ lanes of v (i32)
// @ts-ignore: decorator
@inline export function isum4(v: v128): i32 {
  const s = i32x4.add(v, v128.shuffle<i32>(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

// [Σa0, Σa1, Σa2, Σa3] (i32)
// @ts-ignore: decorator
@inline export function isum4x4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = i32x4.add(v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), v128.shuffle<i32>(a0, a1, 2, 6, 3, 7));
  const s23 = i32x4.add(v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), v128.shuffle<i32>(a2, a3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(s01, s23, 0, 1, 4, 5), v128.shuffle<i32>(s01, s23, 2, 3, 6, 7));
}

// [x0, x1, x2, x3]: the f32 at 4 addresses
// @ts-ignore: decorator
@inline export function load4f(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(p0)), 1, load<f32>(p1)), 2,
    load<f32>(p2)), 3, load<f32>(p3));
}

// stores lanes 0..nt-1 of r (nt >= 2) to yp, yp + yb, yp + 2·yb, yp + 3·yb
// @ts-ignore: decorator
@inline export function store4(yp: usize, yb: usize, r: v128, nt: i32): void {
  store<f32>(yp, f32x4.extract_lane(r, 0));
  store<f32>(yp + yb, f32x4.extract_lane(r, 1));
  if (nt > 2) store<f32>(yp + 2 * yb, f32x4.extract_lane(r, 2));
  if (nt > 3) store<f32>(yp + 3 * yb, f32x4.extract_lane(r, 3));
}

// V8 schedules every load of a basic block ahead of the arithmetic on them: a super-block unrolled into
// straight-line code (40+ loads) spills most of them to the stack. A store makes the loads after it wait,
// and waits for its own value: storing a lane of a running sum to the output (which the result overwrites at
// the end) between two groups of loads keeps each group's loads in registers.
// @ts-ignore: decorator
@inline export function fence(yp: usize, v: v128): void { v128.store32_lane(yp, v, 0); }

// Decode streams every weight once per token, so it is bound by memory as soon as the weights do not fit
// in cache. Wasm has no prefetch instruction; touching one word per 64-byte line of the weight rows a few
// rows ahead makes those lines' cache misses overlap with the arithmetic on the current rows (measured on
// a 112 MiB Q8_0 matrix set: 1.2x; Q4_0, more arithmetic per byte: 1.08x; the K-quant kernels, whose
// arithmetic per byte is higher still, got slower with it (0.9x) and do not use it).

/** How far ahead of the rows being computed the decode kernels touch the weights. */
// @ts-ignore: decorator
@inline export const PREFETCH_ROWS = 8;

/**
 * Loads one u32 per 64 bytes of [from, min(to, end)) and returns them or-ed: a meaningless value, which
 * the caller stores where its own result overwrites it (so that the loads are not optimized away).
 */
// @ts-ignore: decorator
@inline export function touch(from: usize, to: usize, end: usize): u32 {
  let touched: u32 = 0;
  const stop = min<usize>(to, end);
  for (let p = from; p < stop; p += 64) touched |= load<u32>(p);
  return touched;
}

// ---- q8_0 blocks: 32 f32 values as 8 vectors (the activations' and the q8_0 KV cache's quantizers) ----

/** max |x| over the 32 values of v0..v7 */
// @ts-ignore: decorator
@inline export function absMax8(v0: v128, v1: v128, v2: v128, v3: v128, v4: v128, v5: v128, v6: v128, v7: v128): f32 {
  let m = f32x4.max(
    f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
    f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
  m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
}

/** v · iv rounded to the nearest integer (ties to even), as i32x4 (saturated) */
// @ts-ignore: decorator
@inline export function q8x4(v: v128, iv: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, iv)));
}

/** 32 values as 4 × 8 i16 (in order), times d, stored as f32 at dst */
// @ts-ignore: decorator
@inline export function store8(dst: usize, w0: v128, w1: v128, w2: v128, w3: v128, d: v128): void {
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0)), d), 0);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0)), d), 16);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1)), d), 32);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1)), d), 48);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w2)), d), 64);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w2)), d), 80);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w3)), d), 96);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w3)), d), 112);
}
