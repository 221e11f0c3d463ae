// RMSNorm and LayerNorm. RMSNorm as the reference engine computes it: squares in f32 summed in f64,
// mean = f32(sum / n), scale = 1 / sqrtf(mean + eps) in f32, out = (x * scale) * w.
import * as abi from "../../src/abi";
import { arg, argf, ptr, rowsInfo } from "./entry";

/** out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, rows of n floats; w == 0: no gain. out may equal x. */
export function rmsnorm(x: usize, w: usize, out: usize, n: i32, nTok: i32, eps: f32): void {
  const rowBytes = <usize>n << 2;
  for (let t = 0; t < nTok; t++) {
    const xr = x + <usize>t * rowBytes;
    const orow = out + <usize>t * rowBytes;
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const p = xr + (<usize>i << 2);
      const a = v128.load(p, 0);
      const b = v128.load(p, 16);
      const qa = f32x4.mul(a, a);
      const qb = f32x4.mul(b, b);
      s0 = f64x2.add(s0, f64x2.promote_low_f32x4(qa));
      s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<f32>(qa, qa, 2, 3, 2, 3)));
      s2 = f64x2.add(s2, f64x2.promote_low_f32x4(qb));
      s3 = f64x2.add(s3, f64x2.promote_low_f32x4(v128.shuffle<f32>(qb, qb, 2, 3, 2, 3)));
    }
    const sv = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
    let sum = f64x2.extract_lane(sv, 0) + f64x2.extract_lane(sv, 1);
    for (; i < n; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>n);
    const scale: f32 = <f32>1.0 / Mathf.sqrt(mean + eps);
    const sc = f32x4.splat(scale);
    i = 0;
    if (w != 0) {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(orow + off, f32x4.mul(f32x4.mul(v128.load(xr + off), sc), v128.load(w + off)));
      }
      for (; i < n; i++) {
        const off = <usize>i << 2;
        store<f32>(orow + off, load<f32>(xr + off) * scale * load<f32>(w + off));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(orow + off, f32x4.mul(v128.load(xr + off), sc));
      }
      for (; i < n; i++) {
        const off = <usize>i << 2;
        store<f32>(orow + off, load<f32>(xr + off) * scale);
      }
    }
  }
}

export function rmsnorm_ref(x: usize, w: usize, out: usize, n: i32, nTok: i32, eps: f32): void {
  const rowBytes = <usize>n << 2;
  for (let t = 0; t < nTok; t++) {
    const xr = x + <usize>t * rowBytes;
    const orow = out + <usize>t * rowBytes;
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>n);
    const scale: f32 = <f32>1.0 / Mathf.sqrt(mean + eps);
    for (let i = 0; i < n; i++) {
      const off = <usize>i << 2;
      let v = load<f32>(xr + off) * scale;
      if (w != 0) v *= load<f32>(w + off);
      store<f32>(orow + off, v);
    }
  }
}

// ---------------------------------------------------------------- LayerNorm
// As the reference engine computes it: sum of x in f64, mean = f32(sum) / n in f32; d = x − mean in f32;
// Σ d² of the f32 squares in f64 (the reference adds 8-wide f32 partials in f64), variance = f32(Σ / n);
// scale = 1 / sqrtf(variance + eps); out = (d · scale) · w + b, each step rounded to f32.

// Σ x[i] in f64 (SIMD: 4 f64x2 accumulators)
// @ts-ignore: decorator
@inline function sumF64(xr: usize, n: i32): f64 {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = xr + (<usize>i << 2);
    const a = v128.load(p, 0);
    const b = v128.load(p, 16);
    s0 = f64x2.add(s0, f64x2.promote_low_f32x4(a));
    s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 2, 3)));
    s2 = f64x2.add(s2, f64x2.promote_low_f32x4(b));
    s3 = f64x2.add(s3, f64x2.promote_low_f32x4(v128.shuffle<f32>(b, b, 2, 3, 2, 3)));
  }
  const sv = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let sum = f64x2.extract_lane(sv, 0) + f64x2.extract_lane(sv, 1);
  for (; i < n; i++) sum += <f64>load<f32>(xr + (<usize>i << 2));
  return sum;
}

// Σ (x[i] − mean)² in f64, each square an f32
// @ts-ignore: decorator
@inline function cvarF64(xr: usize, n: i32, mean: f32): f64 {
  const mv = f32x4.splat(mean);
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = xr + (<usize>i << 2);
    const a = f32x4.sub(v128.load(p, 0), mv);
    const b = f32x4.sub(v128.load(p, 16), mv);
    const qa = f32x4.mul(a, a);
    const qb = f32x4.mul(b, b);
    s0 = f64x2.add(s0, f64x2.promote_low_f32x4(qa));
    s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<f32>(qa, qa, 2, 3, 2, 3)));
    s2 = f64x2.add(s2, f64x2.promote_low_f32x4(qb));
    s3 = f64x2.add(s3, f64x2.promote_low_f32x4(v128.shuffle<f32>(qb, qb, 2, 3, 2, 3)));
  }
  const sv = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let sum = f64x2.extract_lane(sv, 0) + f64x2.extract_lane(sv, 1);
  for (; i < n; i++) {
    const d = load<f32>(xr + (<usize>i << 2)) - mean;
    sum += <f64>(d * d);
  }
  return sum;
}

/**
 * LayerNorm over rows of n floats (population variance): out[t] = (x[t] − mean) / sqrt(var + eps) · w + b;
 * w == 0: no gain, b == 0: no bias. out may equal x.
 */
export function layernorm(x: usize, w: usize, b: usize, out: usize, n: i32, nTok: i32, eps: f32): void {
  const rowBytes = <usize>n << 2;
  for (let t = 0; t < nTok; t++) {
    const xr = x + <usize>t * rowBytes;
    const orow = out + <usize>t * rowBytes;
    const mean: f32 = <f32>sumF64(xr, n) / <f32>n;
    const variance = <f32>(cvarF64(xr, n, mean) / <f64>n);
    const scale: f32 = <f32>1.0 / Mathf.sqrt(variance + eps);
    const mv = f32x4.splat(mean), sc = f32x4.splat(scale);
    let i = 0;
    if (w != 0 && b != 0) {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        const y = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(xr + off), mv), sc), v128.load(w + off));
        v128.store(orow + off, f32x4.add(y, v128.load(b + off)));
      }
    } else if (w != 0) {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(orow + off, f32x4.mul(f32x4.mul(f32x4.sub(v128.load(xr + off), mv), sc), v128.load(w + off)));
      }
    } else if (b != 0) {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(orow + off, f32x4.add(f32x4.mul(f32x4.sub(v128.load(xr + off), mv), sc), v128.load(b + off)));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        v128.store(orow + off, f32x4.mul(f32x4.sub(v128.load(xr + off), mv), sc));
      }
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      let v = (load<f32>(xr + off) - mean) * scale;
      if (w != 0) v *= load<f32>(w + off);
      if (b != 0) v += load<f32>(b + off);
      store<f32>(orow + off, v);
    }
  }
}

export function layernorm_ref(x: usize, w: usize, b: usize, out: usize, n: i32, nTok: i32, eps: f32): void {
  const rowBytes = <usize>n << 2;
  for (let t = 0; t < nTok; t++) {
    const xr = x + <usize>t * rowBytes;
    const orow = out + <usize>t * rowBytes;
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) sum += <f64>load<f32>(xr + (<usize>i << 2));
    const mean: f32 = <f32>sum / <f32>n;
    let sum2: f64 = 0;
    for (let i = 0; i < n; i++) {
      const d = load<f32>(xr + (<usize>i << 2)) - mean;
      sum2 += <f64>(d * d);
    }
    const variance = <f32>(sum2 / <f64>n);
    const scale: f32 = <f32>1.0 / Mathf.sqrt(variance + eps);
    for (let i = 0; i < n; i++) {
      const off = <usize>i << 2;
      let v = (load<f32>(xr + off) - mean) * scale;
      if (w != 0) v *= load<f32>(w + off);
      if (b != 0) v += load<f32>(b + off);
      store<f32>(orow + off, v);
    }
  }
}

// ---- entries for the scheduler (see entry.ts): units are rows (tokens)

export function rmsnorm_info(q: i32, op: usize): i64 {
  return rowsInfo(q, ptr(op, abi.RMSNORM_X), ptr(op, abi.RMSNORM_OUT), arg(op, abi.RMSNORM_N), arg(op, abi.RMSNORM_N_TOK));
}

export function rmsnorm_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const n = arg(op, abi.RMSNORM_N);
  const off = <usize>lo * <usize>n << 2;
  rmsnorm(ptr(op, abi.RMSNORM_X) + off, ptr(op, abi.RMSNORM_W), ptr(op, abi.RMSNORM_OUT) + off, n, hi - lo,
          argf(op, abi.RMSNORM_EPS));
}

export function layernorm_info(q: i32, op: usize): i64 {
  return rowsInfo(q, ptr(op, abi.LAYERNORM_X), ptr(op, abi.LAYERNORM_OUT), arg(op, abi.LAYERNORM_N), arg(op, abi.LAYERNORM_N_TOK));
}

export function layernorm_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const n = arg(op, abi.LAYERNORM_N);
  const off = <usize>lo * <usize>n << 2;
  layernorm(ptr(op, abi.LAYERNORM_X) + off, ptr(op, abi.LAYERNORM_W), ptr(op, abi.LAYERNORM_B),
            ptr(op, abi.LAYERNORM_OUT) + off, n, hi - lo, argf(op, abi.LAYERNORM_EPS));
}
