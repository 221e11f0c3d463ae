// Element-wise ops (add, silu·gate, GELU, GLU, row broadcasts, axpby) and the f32 exp they and softmax use.
//
// expf: Cephes-style (Cody–Waite reduction by ln2, degree-5 polynomial), about 1–2 ulp, no tables.
// The scalar form (expf) and the vector form (expf4) perform the same f32 operations in the
// same order, so they agree bit for bit. Range: exp(x) overflows to inf above ~88.72 and
// underflows gradually (subnormals) to 0 below ~-103.9; NaN stays NaN.
import * as abi from "../../src/abi";
import { roundF16, roundF16x4 } from "./f16";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, argf, ptr, region, rowsBytes, stridedBytes, rowsInfo, floatsInfo } from "./entry";

const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;        // ln2 high part (few bits: n*C1 is exact)
const C2: f32 = -2.12194440e-4;     // ln2 - C1
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

// @ts-ignore: decorator
@inline export function expf(x0: f32): f32 {
  const x = max<f32>(min<f32>(x0, 89.0), -104.0);
  const fx = nearest<f32>(x * LOG2E);
  let r = x - fx * C1;
  r = r - fx * C2;
  const z = r * r;
  let y = P0 * r + P1;
  y = y * r + P2;
  y = y * r + P3;
  y = y * r + P4;
  y = y * r + P5;
  y = y * z + r + <f32>1.0;
  // scale by 2^n as 2^n1 · 2^n2 (both factors normal for n in [-150, 129])
  const n = <i32>fx; // fx is integral and in range; NaN handled by y being NaN
  const n1 = n >> 1;
  const n2 = n - n1;
  return y * reinterpret<f32>((n1 + 127) << 23) * reinterpret<f32>((n2 + 127) << 23);
}

// @ts-ignore: decorator
@inline export function expf4(x0: v128): v128 {
  const x = f32x4.max(f32x4.min(x0, f32x4.splat(89.0)), f32x4.splat(-104.0));
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(C1)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(C2)));
  const z = f32x4.mul(r, r);
  let y = f32x4.add(f32x4.mul(f32x4.splat(P0), r), f32x4.splat(P1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P4));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P5));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), r), f32x4.splat(1.0));
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const bias = i32x4.splat(127);
  y = f32x4.mul(y, i32x4.shl(i32x4.add(n1, bias), 23));
  return f32x4.mul(y, i32x4.shl(i32x4.add(n2, bias), 23));
}

/** out = a + b (n floats). out may alias a or b. */
export function add(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const off = <usize>i << 2;
    const pa = a + off, pb = b + off, po = out + off;
    const x0 = f32x4.add(v128.load(pa, 0), v128.load(pb, 0));
    const x1 = f32x4.add(v128.load(pa, 16), v128.load(pb, 16));
    const x2 = f32x4.add(v128.load(pa, 32), v128.load(pb, 32));
    const x3 = f32x4.add(v128.load(pa, 48), v128.load(pb, 48));
    v128.store(po, x0, 0);
    v128.store(po, x1, 16);
    v128.store(po, x2, 32);
    v128.store(po, x3, 48);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}

export function add_ref(a: usize, b: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}

/** out = gate / (1 + exp(-gate)) * up (n floats). out may alias gate or up. */
export function silu_mul(gate: usize, up: usize, out: usize, n: i32): void {
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    const g = v128.load(gate + off);
    const e = expf4(f32x4.neg(g));
    v128.store(out + off, f32x4.mul(f32x4.div(g, f32x4.add(one, e)), v128.load(up + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const g = load<f32>(gate + off);
    store<f32>(out + off, g / (<f32>1.0 + expf(-g)) * load<f32>(up + off));
  }
}

export function silu_mul_ref(gate: usize, up: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const g = load<f32>(gate + off);
    store<f32>(out + off, g / (<f32>1.0 + expf(-g)) * load<f32>(up + off));
  }
}

// ---------------------------------------------------------------- f64 exp helpers (no tables)
// expm1/exp in f64 by Cody–Waite reduction (k = nearest(z/ln2), |r| ≤ ln2/2) and a degree-13 Taylor
// polynomial (truncation < 1e-17 relative): a few f64 ulps, far below the f32 rounding the callers
// apply. Scalar and f64x2 forms perform the same operations in the same order (bit-identical).

const INV_LN2_64: f64 = 1.44269504088896338700e+00;
const LN2_HI_64: f64 = 6.93147180369123816490e-01; // trailing zeros: k·LN2_HI is exact
const LN2_LO_64: f64 = 1.90821492927058770002e-10;
const T2: f64 = 1.0 / 2.0;
const T3: f64 = 1.0 / 6.0;
const T4: f64 = 1.0 / 24.0;
const T5: f64 = 1.0 / 120.0;
const T6: f64 = 1.0 / 720.0;
const T7: f64 = 1.0 / 5040.0;
const T8: f64 = 1.0 / 40320.0;
const T9: f64 = 1.0 / 362880.0;
const T10: f64 = 1.0 / 3628800.0;
const T11: f64 = 1.0 / 39916800.0;
const T12: f64 = 1.0 / 479001600.0;
const T13: f64 = 1.0 / 6227020800.0;

// e^r − 1 for |r| ≤ ln2/2
// @ts-ignore: decorator
@inline function expm1Poly(r: f64): f64 {
  let p = T13 * r + T12;
  p = p * r + T11;
  p = p * r + T10;
  p = p * r + T9;
  p = p * r + T8;
  p = p * r + T7;
  p = p * r + T6;
  p = p * r + T5;
  p = p * r + T4;
  p = p * r + T3;
  p = p * r + T2;
  p = p * r + 1.0;
  return p * r;
}

// @ts-ignore: decorator
@inline function expm1Poly2(r: v128): v128 {
  let p = f64x2.add(f64x2.mul(f64x2.splat(T13), r), f64x2.splat(T12));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T11));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T10));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T9));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T8));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T7));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T6));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T5));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T4));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T3));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(T2));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  return f64x2.mul(p, r);
}

/** e^z in f64 for z in [−700, 700] (used for ALiBi slopes). */
export function exp64(z: f64): f64 {
  const k = nearest<f64>(z * INV_LN2_64);
  const r = (z - k * LN2_HI_64) - k * LN2_LO_64;
  const s = reinterpret<f64>((<i64>k + 1023) << 52);
  return s * expm1Poly(r) + s;
}

// tanh(a) for a ≥ 0 (a ≤ 10: tanh(10) rounds to 1 in f32 already): m = e^{2a} − 1, tanh = m / (m + 2).
// e^{2a} − 1 = 2^k·p + (2^k − 1): no cancellation (k = 0 for small a keeps full relative accuracy).
// @ts-ignore: decorator
@inline function tanhPos64(a0: f64): f64 {
  const v = min<f64>(a0, 10.0) * 2.0;
  const k = nearest<f64>(v * INV_LN2_64);
  const r = (v - k * LN2_HI_64) - k * LN2_LO_64;
  const s = reinterpret<f64>((<i64>k + 1023) << 52);
  const m = s * expm1Poly(r) + (s - 1.0);
  return m / (m + 2.0);
}

// @ts-ignore: decorator
@inline function tanhPos64x2(a0: v128): v128 {
  const v = f64x2.mul(f64x2.min(a0, f64x2.splat(10.0)), f64x2.splat(2.0));
  const k = f64x2.nearest(f64x2.mul(v, f64x2.splat(INV_LN2_64)));
  const r = f64x2.sub(f64x2.sub(v, f64x2.mul(k, f64x2.splat(LN2_HI_64))), f64x2.mul(k, f64x2.splat(LN2_LO_64)));
  const ki = i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(k));
  const s = i64x2.shl(i64x2.add(ki, i64x2.splat(1023)), 52);
  const m = f64x2.add(f64x2.mul(s, expm1Poly2(r)), f64x2.sub(s, f64x2.splat(1.0)));
  return f64x2.div(m, f64x2.add(m, f64x2.splat(2.0)));
}

/** tanhf, correctly rounded except in rare double-rounding cases (f64 evaluation, one rounding to f32). */
// @ts-ignore: decorator
@inline export function tanhf(x: f32): f32 {
  const t = <f32>tanhPos64(<f64>abs<f32>(x));
  return reinterpret<f32>(reinterpret<u32>(t) | (reinterpret<u32>(x) & 0x80000000));
}

// @ts-ignore: decorator
@inline export function tanhf4(x: v128): v128 {
  const a = f32x4.abs(x);
  const lo = tanhPos64x2(f64x2.promote_low_f32x4(a));
  const hi = tanhPos64x2(f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 2, 3)));
  const t = v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
  return v128.or(t, v128.and(x, i32x4.splat(0x80000000)));
}

// ---------------------------------------------------------------- GELU (the reference's fp16 table)
// The reference engine tabulates, for every fp16 input h, fp16(gelu_f32(f32(h))) with
//   gelu_f32(x) = 0.5f*x*(1.0f + tanhf(SQRT_2_OVER_PI*x*(1.0f + GELU_COEF_A*x*x)))   (f32, this order)
// and evaluates x ≤ −10 → 0, x ≥ 10 → x, else table[fp16(x)]. We compute the table entry on the fly
// with the same f32 operations and a correctly rounded tanhf.

const GELU_COEF_A: f32 = 0.044715;
const SQRT_2_OVER_PI: f32 = 0.79788456080286535587989211986876;

// @ts-ignore: decorator
@inline function geluTable(x: f32): f32 {
  const v = roundF16(x);
  const c = <f32>1.0 + (GELU_COEF_A * v) * v;
  const th = tanhf((SQRT_2_OVER_PI * v) * c);
  return roundF16((<f32>0.5 * v) * (<f32>1.0 + th));
}

/** GELU of one value as the reference computes it (scalar). */
// @ts-ignore: decorator
@inline export function geluF(x: f32): f32 {
  if (x <= <f32>-10.0) return 0;
  if (x >= <f32>10.0) return x;
  return geluTable(x);
}

/** GELU of four values (same operations as geluF, lane by lane). */
// @ts-ignore: decorator
@inline export function gelu4(x: v128): v128 {
  const v = roundF16x4(x);
  const c = f32x4.add(f32x4.splat(1.0), f32x4.mul(f32x4.mul(f32x4.splat(GELU_COEF_A), v), v));
  const th = tanhf4(f32x4.mul(f32x4.mul(f32x4.splat(SQRT_2_OVER_PI), v), c));
  let y = roundF16x4(f32x4.mul(f32x4.mul(f32x4.splat(0.5), v), f32x4.add(f32x4.splat(1.0), th)));
  y = v128.bitselect(x, y, f32x4.ge(x, f32x4.splat(10.0)));
  return v128.andnot(y, f32x4.le(x, f32x4.splat(-10.0)));
}

/** out = gelu(x) (n floats), the reference's fp16-table GELU. out may alias x. */
export function gelu(x: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, gelu4(v128.load(x + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, geluF(load<f32>(x + off)));
  }
}

export function gelu_ref(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, geluF(load<f32>(x + off)));
  }
}

// ---------------------------------------------------------------- GLU

// out = gelu(a) * b; a ≤ −10 gives 0 (not 0·b), as the reference's fused GEGLU does
function geluMulRow(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    const av = v128.load(a + off);
    const y = f32x4.mul(gelu4(av), v128.load(b + off));
    v128.store(out + off, v128.andnot(y, f32x4.le(av, f32x4.splat(-10.0))));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const av = load<f32>(a + off);
    store<f32>(out + off, av <= <f32>-10.0 ? <f32>0.0 : geluF(av) * load<f32>(b + off));
  }
}

function geluMulRowRef(a: usize, b: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const av = load<f32>(a + off);
    store<f32>(out + off, av <= <f32>-10.0 ? <f32>0.0 : geluF(av) * load<f32>(b + off));
  }
}

/**
 * out[t·n + i] = act(a[t·aStride + i]) · b[t·bStride + i] for t < nTok, i < n; act GLU_SILU (as silu_mul)
 * or GLU_GELU (as gelu). Rows go in increasing t, elements in increasing i, so out may equal a or b
 * (also for fused [gate; up] rows: out row t never overlaps inputs of rows > t).
 */
export function glu(a: usize, b: usize, out: usize, n: i32, nTok: i32, aStride: i32, bStride: i32, act: i32): void {
  for (let t = 0; t < nTok; t++) {
    const pa = a + (<usize>t * <usize>aStride << 2);
    const pb = b + (<usize>t * <usize>bStride << 2);
    const po = out + (<usize>t * <usize>n << 2);
    if (act == abi.GLU_GELU) geluMulRow(pa, pb, po, n);
    else silu_mul(pa, pb, po, n);
  }
}

export function glu_ref(a: usize, b: usize, out: usize, n: i32, nTok: i32, aStride: i32, bStride: i32, act: i32): void {
  for (let t = 0; t < nTok; t++) {
    const pa = a + (<usize>t * <usize>aStride << 2);
    const pb = b + (<usize>t * <usize>bStride << 2);
    const po = out + (<usize>t * <usize>n << 2);
    if (act == abi.GLU_GELU) geluMulRowRef(pa, pb, po, n);
    else silu_mul_ref(pa, pb, po, n);
  }
}

// ---------------------------------------------------------------- row broadcasts, axpby

/** out[t·n + i] = x[t·n + i] + row[i] (nTok rows). out may alias x. */
export function add_row(x: usize, row: usize, out: usize, n: i32, nTok: i32): void {
  const rb = <usize>n << 2;
  for (let t = 0; t < nTok; t++) {
    const xr = x + <usize>t * rb, orow = out + <usize>t * rb;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(orow + off, f32x4.add(v128.load(xr + off), v128.load(row + off)));
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      store<f32>(orow + off, load<f32>(xr + off) + load<f32>(row + off));
    }
  }
}

export function add_row_ref(x: usize, row: usize, out: usize, n: i32, nTok: i32): void {
  for (let t = 0; t < nTok; t++) {
    for (let i = 0; i < n; i++) {
      const off = <usize>(t * n + i) << 2;
      store<f32>(out + off, load<f32>(x + off) + load<f32>(row + (<usize>i << 2)));
    }
  }
}

/** out[t·n + i] = x[t·n + i] · row[i] (nTok rows). out may alias x. */
export function mul_row(x: usize, row: usize, out: usize, n: i32, nTok: i32): void {
  const rb = <usize>n << 2;
  for (let t = 0; t < nTok; t++) {
    const xr = x + <usize>t * rb, orow = out + <usize>t * rb;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(orow + off, f32x4.mul(v128.load(xr + off), v128.load(row + off)));
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      store<f32>(orow + off, load<f32>(xr + off) * load<f32>(row + off));
    }
  }
}

export function mul_row_ref(x: usize, row: usize, out: usize, n: i32, nTok: i32): void {
  for (let t = 0; t < nTok; t++) {
    for (let i = 0; i < n; i++) {
      const off = <usize>(t * n + i) << 2;
      store<f32>(out + off, load<f32>(x + off) * load<f32>(row + (<usize>i << 2)));
    }
  }
}

/** out = alpha·a + beta·b (n floats); b is not read when beta == 0. out may alias a or b. */
export function axpby(a: usize, b: usize, out: usize, n: i32, alpha: f32, beta: f32): void {
  const av = f32x4.splat(alpha);
  let i = 0;
  if (beta == 0) {
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(out + off, f32x4.mul(av, v128.load(a + off)));
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      store<f32>(out + off, alpha * load<f32>(a + off));
    }
  } else {
    const bv = f32x4.splat(beta);
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(out + off, f32x4.add(f32x4.mul(av, v128.load(a + off)), f32x4.mul(bv, v128.load(b + off))));
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      store<f32>(out + off, alpha * load<f32>(a + off) + beta * load<f32>(b + off));
    }
  }
}

export function axpby_ref(a: usize, b: usize, out: usize, n: i32, alpha: f32, beta: f32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    let v = alpha * load<f32>(a + off);
    if (beta != 0) v += beta * load<f32>(b + off);
    store<f32>(out + off, v);
  }
}

// ---- entries for the scheduler (see entry.ts)

// OP_ADD, OP_SILU_MUL, OP_AXPBY, OP_GELU: units are floats, in pieces of 16
export function add_info(q: i32, op: usize): i64 {
  return floatsInfo(q, ptr(op, abi.ADD_A), ptr(op, abi.ADD_B), ptr(op, abi.ADD_OUT), arg(op, abi.ADD_N));
}

export function add_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const off = <usize>lo << 2;
  add(ptr(op, abi.ADD_A) + off, ptr(op, abi.ADD_B) + off, ptr(op, abi.ADD_OUT) + off, hi - lo);
}

export function silu_mul_info(q: i32, op: usize): i64 {
  return floatsInfo(q, ptr(op, abi.SILU_MUL_GATE), ptr(op, abi.SILU_MUL_UP), ptr(op, abi.SILU_MUL_OUT), arg(op, abi.SILU_MUL_N));
}

export function silu_mul_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const off = <usize>lo << 2;
  silu_mul(ptr(op, abi.SILU_MUL_GATE) + off, ptr(op, abi.SILU_MUL_UP) + off, ptr(op, abi.SILU_MUL_OUT) + off, hi - lo);
}

export function axpby_info(q: i32, op: usize): i64 {
  const b = argf(op, abi.AXPBY_BETA) != 0 ? ptr(op, abi.AXPBY_B) : 0; // b is read only when beta != 0
  return floatsInfo(q, ptr(op, abi.AXPBY_A), b, ptr(op, abi.AXPBY_OUT), arg(op, abi.AXPBY_N));
}

export function axpby_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const off = <usize>lo << 2;
  const b = ptr(op, abi.AXPBY_B);
  axpby(ptr(op, abi.AXPBY_A) + off, b != 0 ? b + off : 0, ptr(op, abi.AXPBY_OUT) + off, hi - lo,
        argf(op, abi.AXPBY_ALPHA), argf(op, abi.AXPBY_BETA));
}

export function gelu_info(q: i32, op: usize): i64 {
  return floatsInfo(q, ptr(op, abi.GELU_X), 0, ptr(op, abi.GELU_OUT), arg(op, abi.GELU_N));
}

export function gelu_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const off = <usize>lo << 2;
  gelu(ptr(op, abi.GELU_X) + off, ptr(op, abi.GELU_OUT) + off, hi - lo);
}

// OP_GLU: units are rows (tokens); a and b rows are strided
export function glu_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.GLU_N), nTok = arg(op, abi.GLU_N_TOK);
  if (q == UNITS) return nTok;
  if (q == WORK) return <i64>nTok * <i64>n;
  if (q == WRITES) return region(ptr(op, abi.GLU_OUT), rowsBytes(n, nTok));
  if (q == READS) return region(ptr(op, abi.GLU_A), stridedBytes(n, nTok, arg(op, abi.GLU_A_STRIDE)));
  if (q == READS + 1) return region(ptr(op, abi.GLU_B), stridedBytes(n, nTok, arg(op, abi.GLU_B_STRIDE)));
  return q == ALIGN ? 1 : 0;
}

export function glu_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const n = arg(op, abi.GLU_N), aStride = arg(op, abi.GLU_A_STRIDE), bStride = arg(op, abi.GLU_B_STRIDE);
  glu(ptr(op, abi.GLU_A) + (<usize>lo * <usize>aStride << 2), ptr(op, abi.GLU_B) + (<usize>lo * <usize>bStride << 2),
      ptr(op, abi.GLU_OUT) + (<usize>lo * <usize>n << 2), n, hi - lo, aStride, bStride, arg(op, abi.GLU_ACT));
}

// OP_ADD_ROW, OP_MUL_ROW: units are rows (tokens); the broadcast row is a weight
export function add_row_info(q: i32, op: usize): i64 {
  return rowsInfo(q, ptr(op, abi.ADD_ROW_X), ptr(op, abi.ADD_ROW_OUT), arg(op, abi.ADD_ROW_N), arg(op, abi.ADD_ROW_N_TOK));
}

export function add_row_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const n = arg(op, abi.ADD_ROW_N);
  const off = <usize>lo * <usize>n << 2;
  add_row(ptr(op, abi.ADD_ROW_X) + off, ptr(op, abi.ADD_ROW_ROW), ptr(op, abi.ADD_ROW_OUT) + off, n, hi - lo);
}

export function mul_row_info(q: i32, op: usize): i64 {
  return rowsInfo(q, ptr(op, abi.MUL_ROW_X), ptr(op, abi.MUL_ROW_OUT), arg(op, abi.MUL_ROW_N), arg(op, abi.MUL_ROW_N_TOK));
}

export function mul_row_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const n = arg(op, abi.MUL_ROW_N);
  const off = <usize>lo * <usize>n << 2;
  mul_row(ptr(op, abi.MUL_ROW_X) + off, ptr(op, abi.MUL_ROW_ROW), ptr(op, abi.MUL_ROW_OUT) + off, n, hi - lo);
}
