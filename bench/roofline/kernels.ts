// The SIMD128 roofline's microkernels (bench/roofline.mjs compiles this file): integer multiply-adds as the
// matmul kernels do them at prefill, on a block of weights and a tile of 4 tokens that stay in L1, so that
// nothing but the instructions limits them. Each call runs `reps` passes over nBlocks blocks of 32 weights
// and returns a checksum (kept so the work is not optimised away). Multiply-adds per call:
// reps · nBlocks · 32 · 4 (the tile's 4 tokens).
//   dot       weights already i16: 4 tokens × 4 i32x4.dot_i16x8_s per block (the ceiling of the plain build)
//   q8_0      + Q8_0's unpacking: 32 i8 weights -> 4 × i16x8 (extend low / high), once per block for the tile
//   q4_0      + the plain build's Q4_0 unpacking: 16 bytes -> 4 × i16x8 (shl, shr_s)
//   q4_k      + a K-quant's unsigned nibbles: 16 bytes -> 4 × i16x8 (and / shr_u, extend_u)
//   relaxed*, q8*: the relaxed-SIMD forms (below)

// @ts-ignore: decorator
@inline function acc4(acc: v128, w0: v128, w1: v128, w2: v128, w3: v128, a: usize): v128 {
  return i32x4.add(acc, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(a, 0)), i32x4.dot_i16x8_s(w1, v128.load(a, 16))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(a, 32)), i32x4.dot_i16x8_s(w3, v128.load(a, 48)))));
}

// K: 0 dot, 1 q8_0, 2 q4_0, 3 q4_k (one function each: no branch in the loop). w: weights (64 bytes per block:
// enough for every kind); a: 4 tokens × 64 bytes of i16 act per block (token t's at a + t·64, block stride 256)
// @ts-ignore: decorator
@inline function runK<K>(w: usize, a: usize, nBlocks: i32, reps: i32): i32 {
  let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
  const m4 = i8x16.splat(15);
  for (let r = 0; r < reps; r++) {
    let wp = w, ap = a;
    for (let b = 0; b < nBlocks; b++) {
      let w0: v128, w1: v128, w2: v128, w3: v128;
      if (sizeof<K>() == 1) {        // dot: i16 weights as they are
        w0 = v128.load(wp, 0); w1 = v128.load(wp, 16); w2 = v128.load(wp, 32); w3 = v128.load(wp, 48);
      } else if (sizeof<K>() == 2) { // Q8_0
        const v = v128.load(wp, 0), u = v128.load(wp, 16);
        w0 = i16x8.extend_low_i8x16_s(v); w1 = i16x8.extend_high_i8x16_s(v);
        w2 = i16x8.extend_low_i8x16_s(u); w3 = i16x8.extend_high_i8x16_s(u);
      } else if (sizeof<K>() == 4) { // Q4_0 (plain build's repacked nibbles)
        const v = v128.load(wp, 0);
        w0 = i16x8.shr_s(i16x8.shl(v, 12), 12); w1 = i16x8.shr_s(i16x8.shl(v, 8), 12);
        w2 = i16x8.shr_s(i16x8.shl(v, 4), 12); w3 = i16x8.shr_s(v, 12);
      } else {                       // Q4_K (unsigned nibbles)
        const v = v128.load(wp, 0);
        const lo = v128.and(v, m4), hi = v128.and(i16x8.shr_u(v, 4), m4);
        w0 = i16x8.extend_low_i8x16_u(lo); w1 = i16x8.extend_high_i8x16_u(lo);
        w2 = i16x8.extend_low_i8x16_u(hi); w3 = i16x8.extend_high_i8x16_u(hi);
      }
      s0 = acc4(s0, w0, w1, w2, w3, ap);
      s1 = acc4(s1, w0, w1, w2, w3, ap + 64);
      s2 = acc4(s2, w0, w1, w2, w3, ap + 128);
      s3 = acc4(s3, w0, w1, w2, w3, ap + 192);
      wp += 64; ap += 256;
    }
  }
  const s = i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

export function run_dot(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runK<u8>(w, a, nBlocks, reps); }
export function run_q8_0(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runK<u16>(w, a, nBlocks, reps); }
export function run_q4_0(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runK<u32>(w, a, nBlocks, reps); }
export function run_q4_k(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runK<u64>(w, a, nBlocks, reps); }

// The relaxed forms (relaxed build only; 0 elsewhere). i8 weights, 32 per block (block stride 32), against a
// 4-token tile of i8 act (32 bytes per token and block; token t's at a + t·64, block stride 256: the same
// bytes as the i16 tile, so the Q8_0 forms below find their second plane at +32):
//   relaxed    i32x4.relaxed_dot_i8x16_i7x16_add_s: 2 per block and token (16 multiply-adds each), 8 chains
//   relaxed16  i16x8.relaxed_dot_i8x16_i7x16_s ×2 + i16x8.add + i32x4.extadd_pairwise_i16x8_s + i32x4.add
//              per block and token (the Q4_0R / K-quant form)
//   q8split    a Q8_0 block: act split a = a⁺ − a⁻ (both 0..127, the 7-bit operand), 4 dot_add per block
//              and token into two accumulators (exact for any i8 weight, −128 included)
//   q8sign     a Q8_0 block: act |a| (7-bit) and its sign mask m; weights w' = (w ^ m) − m per token, then
//              2 dot_add (exact unless a weight is −128)
// @ts-ignore: decorator
@inline function runR<K>(w: usize, a: usize, nBlocks: i32, reps: i32): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
  let t0 = i32x4.splat(0), t1 = i32x4.splat(0), t2 = i32x4.splat(0), t3 = i32x4.splat(0);
  for (let r = 0; r < reps; r++) {
    let wp = w, ap = a;
    for (let b = 0; b < nBlocks; b++) {
      const v = v128.load(wp, 0), u = v128.load(wp, 16);
      if (sizeof<K>() == 1) {
        s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 0), s0); t0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 16), t0);
        s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 64), s1); t1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 80), t1);
        s2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 128), s2); t2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 144), t2);
        s3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 192), s3); t3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 208), t3);
      } else if (sizeof<K>() == 2) {
        s0 = i32x4.add(s0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load(ap, 0)), i16x8.relaxed_dot_i8x16_i7x16_s(u, v128.load(ap, 16)))));
        s1 = i32x4.add(s1, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load(ap, 64)), i16x8.relaxed_dot_i8x16_i7x16_s(u, v128.load(ap, 80)))));
        s2 = i32x4.add(s2, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load(ap, 128)), i16x8.relaxed_dot_i8x16_i7x16_s(u, v128.load(ap, 144)))));
        s3 = i32x4.add(s3, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load(ap, 192)), i16x8.relaxed_dot_i8x16_i7x16_s(u, v128.load(ap, 208)))));
      } else if (sizeof<K>() == 4) {
        s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 0), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 16), s0));
        t0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 32), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 48), t0));
        s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 64), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 80), s1));
        t1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 96), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 112), t1));
        s2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 128), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 144), s2));
        t2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 160), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 176), t2));
        s3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 192), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 208), s3));
        t3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load(ap, 224), i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.load(ap, 240), t3));
      } else {
        let m = v128.load(ap, 32), n = v128.load(ap, 48);
        s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(v, m), m), v128.load(ap, 0), s0);
        t0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(u, n), n), v128.load(ap, 16), t0);
        m = v128.load(ap, 96); n = v128.load(ap, 112);
        s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(v, m), m), v128.load(ap, 64), s1);
        t1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(u, n), n), v128.load(ap, 80), t1);
        m = v128.load(ap, 160); n = v128.load(ap, 176);
        s2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(v, m), m), v128.load(ap, 128), s2);
        t2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(u, n), n), v128.load(ap, 144), t2);
        m = v128.load(ap, 224); n = v128.load(ap, 240);
        s3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(v, m), m), v128.load(ap, 192), s3);
        t3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(u, n), n), v128.load(ap, 208), t3);
      }
      wp += 32; ap += 256;
    }
  }
  const s = i32x4.add(i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3)), i32x4.add(i32x4.add(t0, t1), i32x4.add(t2, t3)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

export function run_relaxed(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runR<u8>(w, a, nBlocks, reps); }
export function run_relaxed16(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runR<u16>(w, a, nBlocks, reps); }
export function run_q8split(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runR<u32>(w, a, nBlocks, reps); }
export function run_q8sign(w: usize, a: usize, nBlocks: i32, reps: i32): i32 { return runR<u64>(w, a, nBlocks, reps); }

// the lowering of i32x4.relaxed_dot_i8x16_i7x16_add_s (as assembly/weights/act.ts dotAddFast): 4·127·255 where
// it is x86 VNNI's vpdpbusd (the 7-bit operand's top bit set: taken unsigned, summed in i32)
const PROBE: usize = memory.data<u8>([127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255], 16);
export function dot_probe(): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  return i32x4.extract_lane(i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(PROBE), v128.load(PROBE, 16), i32x4.splat(0)), 0);
}
