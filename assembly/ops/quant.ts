// Activation preparation for OP_MATMUL (OP_PREP_ACT).
//
// Act layouts (act_bytes gives the size):
//   F32  : f32 [nTok][nIn] (a copy of x; matmul reads x directly when act == x)
//   F16  : f32 [nTok][nIn], every value rounded to the nearest half (ties to even)
//   Q8_0 and Q4_0 weights: x quantized to Q8_0 blocks of 32 like llama.cpp's x86 path, in two planes:
//     q plane : i16 [nTok][nIn] at act            (the i8 quants, stored widened to i16 so the dot
//                                                  kernels load them ready for i32x4.dot_i16x8_s)
//     d plane : f32 [nTok][nIn/32] at act + nTok·nIn·2   (block scale d rounded to fp16, as f32)
//   Host: align act to 16 bytes or more (64 is best); nIn is a multiple of 32 for quantized types.
import { GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_0 } from "../../src/engine/abi";
import { f2h, h2f, roundF16, roundF16x4 } from "./f16";

/** Scratch bytes OP_PREP_ACT writes for weights of `type` (0 for unsupported types). */
export function act_bytes(type: i32, nIn: i32, nTok: i32): i32 {
  if (type == GGML_F32 || type == GGML_F16) return nIn * nTok * 4;
  if (type == GGML_Q8_0 || type == GGML_Q4_0) return nTok * nIn * 2 + nTok * (nIn >> 5) * 4;
  return 0;
}

// @ts-ignore: decorator
@inline export function actQ8Row(act: usize, nIn: i32, t: i32): usize {
  return act + (<usize>t * <usize>nIn << 1);
}

// @ts-ignore: decorator
@inline export function actQ8Scales(act: usize, nIn: i32, nTok: i32, t: i32): usize {
  return act + (<usize>nTok * <usize>nIn << 1) + (<usize>t * <usize>(nIn >> 5) << 2);
}

// @ts-ignore: decorator
@inline function q8Scale(amax: f32): f32 {
  return roundF16(amax / <f32>127.0);
}

function quantizeQ8(x: usize, act: usize, nIn: i32, nTok: i32): void {
  const nb = nIn >> 5;
  for (let t = 0; t < nTok; t++) {
    let xp = x + (<usize>t * <usize>nIn << 2);
    let qp = actQ8Row(act, nIn, t);
    let dp = actQ8Scales(act, nIn, nTok, t);
    for (let b = 0; b < nb; b++) {
      const v0 = v128.load(xp, 0), v1 = v128.load(xp, 16), v2 = v128.load(xp, 32), v3 = v128.load(xp, 48);
      const v4 = v128.load(xp, 64), v5 = v128.load(xp, 80), v6 = v128.load(xp, 96), v7 = v128.load(xp, 112);
      let m = f32x4.max(
        f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
      m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
      const amax = max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
      const id: f32 = amax != 0 ? <f32>127.0 / amax : <f32>0.0;
      store<f32>(dp, q8Scale(amax));
      const iv = f32x4.splat(id);
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, iv)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, iv)));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, iv)));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, iv)));
      const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, iv)));
      const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, iv)));
      const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, iv)));
      const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, iv)));
      v128.store(qp, i16x8.narrow_i32x4_s(q0, q1), 0);
      v128.store(qp, i16x8.narrow_i32x4_s(q2, q3), 16);
      v128.store(qp, i16x8.narrow_i32x4_s(q4, q5), 32);
      v128.store(qp, i16x8.narrow_i32x4_s(q6, q7), 48);
      xp += 128;
      qp += 64;
      dp += 4;
    }
  }
}

function quantizeQ8Ref(x: usize, act: usize, nIn: i32, nTok: i32): void {
  const nb = nIn >> 5;
  for (let t = 0; t < nTok; t++) {
    const xr = x + (<usize>t * <usize>nIn << 2);
    const qr = actQ8Row(act, nIn, t);
    const dr = actQ8Scales(act, nIn, nTok, t);
    for (let b = 0; b < nb; b++) {
      let amax: f32 = 0;
      for (let j = 0; j < 32; j++) amax = max<f32>(amax, Mathf.abs(load<f32>(xr + (<usize>(b * 32 + j) << 2))));
      const id: f32 = amax != 0 ? <f32>127.0 / amax : <f32>0.0;
      store<f32>(dr + (<usize>b << 2), q8Scale(amax));
      for (let j = 0; j < 32; j++) {
        const v = load<f32>(xr + (<usize>(b * 32 + j) << 2));
        store<i16>(qr + (<usize>(b * 32 + j) << 1), <i16><i32>nearest<f32>(v * id));
      }
    }
  }
}

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

/** Converts f32 rows x[nTok][nIn] into the activation format matmul needs for weights of `type`. */
export function prep_act(type: i32, x: usize, act: usize, nIn: i32, nTok: i32): void {
  if (type == GGML_F32) {
    if (act != x) memory.copy(act, x, <usize>nIn * <usize>nTok << 2);
  } else if (type == GGML_F16) {
    roundRowsF16(x, act, nIn * nTok);
  } else if (type == GGML_Q8_0 || type == GGML_Q4_0) {
    quantizeQ8(x, act, nIn, nTok);
  } else {
    unreachable();
  }
}

export function prep_act_ref(type: i32, x: usize, act: usize, nIn: i32, nTok: i32): void {
  if (type == GGML_F32) {
    if (act != x) {
      const n = nIn * nTok;
      for (let i = 0; i < n; i++) store<f32>(act + (<usize>i << 2), load<f32>(x + (<usize>i << 2)));
    }
  } else if (type == GGML_F16) {
    const n = nIn * nTok;
    for (let i = 0; i < n; i++) {
      const off = <usize>i << 2;
      store<f32>(act + off, h2f(f2h(load<f32>(x + off))));
    }
  } else if (type == GGML_Q8_0 || type == GGML_Q4_0) {
    quantizeQ8Ref(x, act, nIn, nTok);
  } else {
    unreachable();
  }
}
