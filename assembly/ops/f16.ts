// IEEE half <-> f32 conversion (round to nearest even), scalar and f32x4 forms.
// The scalar and vector forms use the same integer/float steps, so they agree bit for bit.

// 2^-24, the value of the half-precision subnormal ulp.
const TWO_M24: f32 = 5.9604644775390625e-8;

/** Half bits (low 16 bits of h) -> f32. Exact for every half, NaN payloads kept. */
// @ts-ignore: decorator
@inline export function h2f(h: i32): f32 {
  const em = h & 0x7fff;
  const s = (h & 0x8000) << 16;
  let bits = (em << 13) + 0x38000000;                                    // normal numbers
  bits = select<i32>(reinterpret<i32>(<f32>em * TWO_M24), bits, em < 0x400); // zero / subnormal
  bits = select<i32>((em << 13) | 0x7f800000, bits, em >= 0x7c00);       // inf / NaN
  return reinterpret<f32>(bits | s);
}

/** f32 -> half bits, round to nearest even; overflow -> inf; NaN -> quiet NaN (top payload bits kept). */
// @ts-ignore: decorator
@inline export function f2h(x: f32): i32 {
  const b = reinterpret<u32>(x);
  const s = (b >> 16) & 0x8000;
  const a = b & 0x7fffffff;
  let o: u32;
  if (a >= 0x47800000) {            // |x| >= 65536, inf or NaN
    o = a > 0x7f800000 ? (0x7e00 | ((a >> 13) & 0x3ff)) : 0x7c00;
  } else if (a < 0x38800000) {      // |x| < 2^-14: half subnormal or zero
    // adding 0.5 (ulp 2^-24) rounds to a multiple of 2^-24 with the FPU's round-to-nearest-even
    o = reinterpret<u32>(reinterpret<f32>(a) + <f32>0.5) - 0x3f000000;
  } else {                          // normal: rebias, round the 13 dropped bits to nearest even
    const odd = (a >> 13) & 1;
    o = (a + 0xc8000fff + odd) >> 13; // 0xc8000000 = (15 - 127) << 23 (mod 2^32); carry into inf is correct
  }
  return <i32>(s | o);
}

/** Four halves (one per i32 lane, upper 16 bits zero) -> f32x4. Same steps as h2f. */
// @ts-ignore: decorator
@inline export function h2f4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const s = i32x4.shl(v128.xor(h, em), 16);
  let r = i32x4.add(i32x4.shl(em, 13), i32x4.splat(0x38000000));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(em), f32x4.splat(TWO_M24));
  r = v128.bitselect(sub, r, i32x4.lt_s(em, i32x4.splat(0x400)));
  // inf/NaN: (em << 13) + 0x38000000 has exponent bits 0x8f, OR-ing 0x7f800000 gives (em << 13) | 0x7f800000
  r = v128.or(r, v128.and(i32x4.gt_s(em, i32x4.splat(0x7bff)), i32x4.splat(0x7f800000)));
  return v128.or(r, s);
}

/** Rounds each f32 lane to the nearest half and back: equals h2f(f2h(x)) lane by lane. */
// @ts-ignore: decorator
@inline export function roundF16x4(v: v128): v128 {
  const s = v128.and(v, i32x4.splat(0x80000000));
  const a = v128.and(v, i32x4.splat(0x7fffffff));
  // normal range: round the low 13 mantissa bits to nearest even
  let r = v128.and(
    i32x4.add(i32x4.add(a, i32x4.splat(0xfff)), v128.and(i32x4.shr_u(a, 13), i32x4.splat(1))),
    i32x4.splat(0xffffe000));
  r = v128.bitselect(i32x4.splat(0x7f800000), r, i32x4.gt_s(r, i32x4.splat(0x477fe000))); // overflow -> inf
  const sub = f32x4.sub(f32x4.add(a, f32x4.splat(0.5)), f32x4.splat(0.5));             // |x| < 2^-14
  r = v128.bitselect(sub, r, i32x4.lt_s(a, i32x4.splat(0x38800000)));
  const nan = v128.or(v128.and(a, i32x4.splat(0xffffe000)), i32x4.splat(0x00400000));
  r = v128.bitselect(nan, r, i32x4.gt_s(a, i32x4.splat(0x7f800000)));
  return v128.or(r, s);
}

/** Scalar twin of roundF16x4. */
// @ts-ignore: decorator
@inline export function roundF16(x: f32): f32 {
  return h2f(f2h(x));
}

// ---- fast paths for normal halves (the common case in weights), exact like h2f/h2f4 ----
// For a normal half h (exponent 1..30): f32 bits = sign | ((h & 0x7fff) << 13) + 0x38000000
// = ((sext16(h) << 13) & 0x8fffffff) + 0x38000000 (the sign copies land in bits 28..31; bits 28..30 are
// cleared and the add cannot carry into bit 31).

/** h2f with a branch: the cheap path for normal halves, h2f otherwise. */
// @ts-ignore: decorator
@inline export function h2fFast(h: i32): f32 {
  if (<u32>((h & 0x7fff) - 0x400) < 0x7800) {
    return reinterpret<f32>((((<i32><i16>h) << 13) & 0x8fffffff) + 0x38000000);
  }
  return h2f(h);
}

/** Per lane of the 8 halves in h: nonzero iff the half is normal (not zero, subnormal, inf or NaN). Few
 *  constants on purpose: V8 rematerialises vector constants inside loops. */
// @ts-ignore: decorator
@inline export function f16x8NormalLanes(h: v128): v128 {
  const e = i16x8.shr_s(i16x8.shl(h, 1), 11);               // exponent; 16..31 wrap to -16..-1
  return i16x8.shr_u(i16x8.sub(e, i16x8.splat(-1)), 1);     // lane is 0 iff exponent is 0 or 31
}

/** true if all 8 halves in h are normal (f16x8NormalLanes). */
// @ts-ignore: decorator
@inline export function f16x8AllNormal(h: v128): bool {
  return i16x8.all_true(f16x8NormalLanes(h));
}

/** halves 0..3 of h (all normal) -> f32x4 */
// @ts-ignore: decorator
@inline export function h2f4NormalLo(h: v128): v128 {
  return i32x4.add(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), i32x4.splat(0x8fffffff)), i32x4.splat(0x38000000));
}

/** halves 4..7 of h (all normal) -> f32x4 */
// @ts-ignore: decorator
@inline export function h2f4NormalHi(h: v128): v128 {
  return i32x4.add(v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(h), 13), i32x4.splat(0x8fffffff)), i32x4.splat(0x38000000));
}

// ---- bfloat16 (the top 16 bits of an f32) ----

/** Rounds an f32 to the nearest bfloat16 (ties to even; NaN made quiet, as ggml_compute_fp32_to_bf16)
 *  and returns it as an f32. */
// @ts-ignore: decorator
@inline export function roundBF16(x: f32): f32 {
  const u = reinterpret<u32>(x);
  if ((u & 0x7fffffff) > 0x7f800000) return reinterpret<f32>((u | 0x00400000) & 0xffff0000);
  return reinterpret<f32>((u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000);
}

/** roundBF16 lane by lane (same integer steps). */
// @ts-ignore: decorator
@inline export function roundBF16x4(v: v128): v128 {
  const r = v128.and(i32x4.add(i32x4.add(v, i32x4.splat(0x7fff)), v128.and(i32x4.shr_u(v, 16), i32x4.splat(1))),
    i32x4.splat(0xffff0000));
  const nan = v128.and(v128.or(v, i32x4.splat(0x00400000)), i32x4.splat(0xffff0000));
  return v128.bitselect(nan, r, i32x4.gt_s(v128.and(v, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000)));
}

/** bfloat16 bits (low 16 bits of b) -> f32 (exact). */
// @ts-ignore: decorator
@inline export function bf2f(b: i32): f32 {
  return reinterpret<f32>(b << 16);
}
