// Backward ops of training beyond the llama family (src/train/plan.ts), beside backward.ts:
// OP_LAYERNORM_BACK (LayerNorm with gain; the bias has no gradient to pass), OP_GELU_MUL and OP_GELU_MUL_BACK (the
// training forward's smooth tanh GELU, plain or gated, and its gradient), OP_SOFTCAP_BACK (Gemma 2's final soft-cap).
// Each with its scalar twin (<op>_ref): the same f32 steps one element at a time, bit-identical.
import * as abi from "../../src/abi";
import { tanhf, tanhf4 } from "./activations";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, argf, floatsInfo, ptr, region, rowsBytes } from "./entry";

// ---------------------------------------------------------------- LayerNorm backward
// y = x̂·w + b with x̂ = (x − μ)·r, r = 1/√(var + eps) (population variance, as norm.ts: μ and var in f64, rounded
// to f32). With g = dy⊙w: dx += r·(g − mean(g) − x̂·mean(g⊙x̂)). The row statistics are sums in f64, one element
// at a time (both forms), the element-wise pass in f32.

/** μ, r, mean(g), mean(g⊙x̂) of one row, packed as the four lanes of a v128 */
// @ts-ignore: decorator
@inline function lnStats(x: usize, w: usize, dy: usize, n: i32, eps: f32): v128 {
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) sum += <f64>load<f32>(x + (<usize>i << 2));
  const mean: f32 = <f32>sum / <f32>n;
  let sum2: f64 = 0;
  for (let i = 0; i < n; i++) {
    const d = load<f32>(x + (<usize>i << 2)) - mean;
    sum2 += <f64>(d * d);
  }
  const r: f32 = <f32>1.0 / Mathf.sqrt(<f32>(sum2 / <f64>n) + eps);
  let sg: f64 = 0, sgx: f64 = 0;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const g = w != 0 ? load<f32>(dy + off) * load<f32>(w + off) : load<f32>(dy + off);
    sg += <f64>g;
    sgx += <f64>(g * ((load<f32>(x + off) - mean) * r));
  }
  return f32x4(mean, r, <f32>(sg / <f64>n), <f32>(sgx / <f64>n));
}

export function layernorm_back(x: usize, w: usize, dy: usize, dx: usize, n: i32, t0: i32, t1: i32, eps: f32): void {
  for (let t = t0; t < t1; t++) {
    const o = <usize>t * <usize>n << 2;
    const st = lnStats(x + o, w, dy + o, n, eps);
    const mean = f32x4.extract_lane(st, 0), r = f32x4.extract_lane(st, 1), mg = f32x4.extract_lane(st, 2), mgx = f32x4.extract_lane(st, 3);
    const mv = f32x4.splat(mean), rv = f32x4.splat(r), mgv = f32x4.splat(mg), mgxv = f32x4.splat(mgx);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      let g = v128.load(dy + o + off);
      if (w != 0) g = f32x4.mul(g, v128.load(w + off));
      const xh = f32x4.mul(f32x4.sub(v128.load(x + o + off), mv), rv);
      const d = f32x4.mul(rv, f32x4.sub(f32x4.sub(g, mgv), f32x4.mul(xh, mgxv)));
      v128.store(dx + o + off, f32x4.add(v128.load(dx + o + off), d));
    }
    for (; i < n; i++) lnBack1(x + o, w, dy + o, dx + o, i, mean, r, mg, mgx);
  }
}

// @ts-ignore: decorator
@inline function lnBack1(x: usize, w: usize, dy: usize, dx: usize, i: i32, mean: f32, r: f32, mg: f32, mgx: f32): void {
  const off = <usize>i << 2;
  const g = w != 0 ? load<f32>(dy + off) * load<f32>(w + off) : load<f32>(dy + off);
  const xh = (load<f32>(x + off) - mean) * r;
  store<f32>(dx + off, load<f32>(dx + off) + r * ((g - mg) - xh * mgx));
}

/** The scalar twin. */
export function layernorm_back_ref(x: usize, w: usize, dy: usize, dx: usize, n: i32, t0: i32, t1: i32, eps: f32): void {
  for (let t = t0; t < t1; t++) {
    const o = <usize>t * <usize>n << 2;
    const st = lnStats(x + o, w, dy + o, n, eps);
    const mean = f32x4.extract_lane(st, 0), r = f32x4.extract_lane(st, 1), mg = f32x4.extract_lane(st, 2), mgx = f32x4.extract_lane(st, 3);
    for (let i = 0; i < n; i++) lnBack1(x + o, w, dy + o, dx + o, i, mean, r, mg, mgx);
  }
}

export function layernorm_back_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.LAYERNORM_BACK_N), nTok = arg(op, abi.LAYERNORM_BACK_N_TOK);
  if (q == UNITS) return nTok;
  if (q == WORK) return <i64>nTok * <i64>n * 4;
  if (q == WRITES) return region(ptr(op, abi.LAYERNORM_BACK_DX), rowsBytes(n, nTok));
  if (q == READS) return region(ptr(op, abi.LAYERNORM_BACK_X), rowsBytes(n, nTok));
  if (q == READS + 1) return region(ptr(op, abi.LAYERNORM_BACK_DY), rowsBytes(n, nTok));
  if (q == READS + 2) return region(ptr(op, abi.LAYERNORM_BACK_DX), rowsBytes(n, nTok));
  return q == ALIGN ? 1 : 0;
}

export function layernorm_back_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  layernorm_back(ptr(op, abi.LAYERNORM_BACK_X), ptr(op, abi.LAYERNORM_BACK_W), ptr(op, abi.LAYERNORM_BACK_DY),
                 ptr(op, abi.LAYERNORM_BACK_DX), arg(op, abi.LAYERNORM_BACK_N), lo, hi, argf(op, abi.LAYERNORM_BACK_EPS));
}

// ---------------------------------------------------------------- GELU (smooth tanh form) and its gradient
// gelu(g) = ½·g·(1 + t), t = tanh(z), z = K·g·(1 + A·g²) (the form the forward's fp16 table tabulates, without
// the fp16 steps); gelu'(g) = ½·(1 + t) + ½·g·(1 − t²)·K·(1 + 3A·g²).

const A: f32 = 0.044715;
const K: f32 = 0.79788456080286535587989211986876;

// @ts-ignore: decorator
@inline function tanhZ(g: f32): f32 { return tanhf((K * g) * (<f32>1.0 + (A * g) * g)); }
// @ts-ignore: decorator
@inline function tanhZ4(g: v128): v128 {
  return tanhf4(f32x4.mul(f32x4.mul(f32x4.splat(K), g), f32x4.add(f32x4.splat(1.0), f32x4.mul(f32x4.mul(f32x4.splat(A), g), g))));
}
// @ts-ignore: decorator
@inline function geluOf(g: f32, t: f32): f32 { return (<f32>0.5 * g) * (<f32>1.0 + t); }
// @ts-ignore: decorator
@inline function geluOf4(g: v128, t: v128): v128 { return f32x4.mul(f32x4.mul(f32x4.splat(0.5), g), f32x4.add(f32x4.splat(1.0), t)); }
// @ts-ignore: decorator
@inline function geluDer(g: f32, t: f32): f32 {
  return <f32>0.5 * (<f32>1.0 + t) + ((<f32>0.5 * g) * (<f32>1.0 - t * t)) * (K * (<f32>1.0 + ((<f32>3.0 * A) * g) * g));
}
// @ts-ignore: decorator
@inline function geluDer4(g: v128, t: v128): v128 {
  const one = f32x4.splat(1.0), half = f32x4.splat(0.5);
  const a = f32x4.mul(half, f32x4.add(one, t));
  const b = f32x4.mul(f32x4.mul(half, g), f32x4.sub(one, f32x4.mul(t, t)));
  const c = f32x4.mul(f32x4.splat(K), f32x4.add(one, f32x4.mul(f32x4.mul(f32x4.splat(<f32>3.0 * A), g), g)));
  return f32x4.add(a, f32x4.mul(b, c));
}

/** out[i] = gelu(gate[i])·up[i] for i in [i0, i1) (up = 0: gelu(gate[i])); out may equal gate or up. */
export function gelu_mul(gate: usize, up: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    const g = v128.load(gate + off);
    let y = geluOf4(g, tanhZ4(g));
    if (up != 0) y = f32x4.mul(y, v128.load(up + off));
    v128.store(out + off, y);
  }
  gelu_mul_ref(gate, up, out, i, i1);
}

/** The scalar twin. */
export function gelu_mul_ref(gate: usize, up: usize, out: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const off = <usize>i << 2;
    const g = load<f32>(gate + off);
    let y = geluOf(g, tanhZ(g));
    if (up != 0) y *= load<f32>(up + off);
    store<f32>(out + off, y);
  }
}

/** For h = gelu(gate)·up (n floats), i in [i0, i1): out[i] = dh·gelu'(gate)·up; up ≠ 0: out[n + i] = dh·gelu(gate). */
export function gelu_mul_back(gate: usize, up: usize, dh: usize, out: usize, n: i32, i0: i32, i1: i32): void {
  const du = out + (<usize>n << 2);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    const g = v128.load(gate + off), d = v128.load(dh + off);
    const t = tanhZ4(g);
    if (up != 0) {
      v128.store(out + off, f32x4.mul(f32x4.mul(d, v128.load(up + off)), geluDer4(g, t)));
      v128.store(du + off, f32x4.mul(d, geluOf4(g, t)));
    } else {
      v128.store(out + off, f32x4.mul(d, geluDer4(g, t)));
    }
  }
  gelu_mul_back_ref(gate, up, dh, out, n, i, i1);
}

/** The scalar twin. */
export function gelu_mul_back_ref(gate: usize, up: usize, dh: usize, out: usize, n: i32, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const off = <usize>i << 2;
    const g = load<f32>(gate + off), d = load<f32>(dh + off);
    const t = tanhZ(g);
    if (up != 0) {
      store<f32>(out + off, d * load<f32>(up + off) * geluDer(g, t));
      store<f32>(out + (<usize>n << 2) + off, d * geluOf(g, t));
    } else {
      store<f32>(out + off, d * geluDer(g, t));
    }
  }
}

export function gelu_mul_info(q: i32, op: usize): i64 {
  return floatsInfo(q, ptr(op, abi.GELU_MUL_GATE), ptr(op, abi.GELU_MUL_UP), ptr(op, abi.GELU_MUL_OUT), arg(op, abi.GELU_MUL_N));
}

export function gelu_mul_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  gelu_mul(ptr(op, abi.GELU_MUL_GATE), ptr(op, abi.GELU_MUL_UP), ptr(op, abi.GELU_MUL_OUT), lo, hi);
}

export function gelu_mul_back_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.GELU_MUL_BACK_N), up = ptr(op, abi.GELU_MUL_BACK_UP);
  if (q == UNITS || q == WORK) return n;
  if (q == ALIGN) return 16;
  if (q == WRITES) return region(ptr(op, abi.GELU_MUL_BACK_OUT), rowsBytes(n, up != 0 ? 2 : 1));
  if (q == READS) return region(ptr(op, abi.GELU_MUL_BACK_GATE), rowsBytes(n, 1));
  if (q == READS + 1) return region(up, rowsBytes(n, up != 0 ? 1 : 0));
  if (q == READS + 2) return region(ptr(op, abi.GELU_MUL_BACK_DH), rowsBytes(n, 1));
  return 0;
}

export function gelu_mul_back_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  gelu_mul_back(ptr(op, abi.GELU_MUL_BACK_GATE), ptr(op, abi.GELU_MUL_BACK_UP), ptr(op, abi.GELU_MUL_BACK_DH),
                ptr(op, abi.GELU_MUL_BACK_OUT), arg(op, abi.GELU_MUL_BACK_N), lo, hi);
}

// ---------------------------------------------------------------- soft-cap backward
// y = c·tanh(x/c) (softcap.ts): dx = dy·(1 − t²), t = tanh(x/c) with the forward's f32 x/c.

export function softcap_back(x: usize, dy: usize, out: usize, n: i32, cap: f32, i0: i32, i1: i32): void {
  const c = f32x4.splat(cap), one = f32x4.splat(1.0);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    const t = tanhf4(f32x4.div(v128.load(x + off), c));
    v128.store(out + off, f32x4.mul(v128.load(dy + off), f32x4.sub(one, f32x4.mul(t, t))));
  }
  softcap_back_ref(x, dy, out, n, cap, i, i1);
}

/** The scalar twin. */
export function softcap_back_ref(x: usize, dy: usize, out: usize, n: i32, cap: f32, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const off = <usize>i << 2;
    const t = tanhf(load<f32>(x + off) / cap);
    store<f32>(out + off, load<f32>(dy + off) * (<f32>1.0 - t * t));
  }
}

export function softcap_back_info(q: i32, op: usize): i64 {
  return floatsInfo(q, ptr(op, abi.SOFTCAP_BACK_X), ptr(op, abi.SOFTCAP_BACK_DY), ptr(op, abi.SOFTCAP_BACK_OUT), arg(op, abi.SOFTCAP_BACK_N));
}

export function softcap_back_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  softcap_back(ptr(op, abi.SOFTCAP_BACK_X), ptr(op, abi.SOFTCAP_BACK_DY), ptr(op, abi.SOFTCAP_BACK_OUT),
               arg(op, abi.SOFTCAP_BACK_N), argf(op, abi.SOFTCAP_BACK_CAP), lo, hi);
}
