// Element-wise ops (add, silu·gate) and the f32 exp they and softmax use.
//
// expf: Cephes-style (Cody–Waite reduction by ln2, degree-5 polynomial), about 1–2 ulp, no tables.
// The scalar form (expf) and the vector form (expf4) perform the same f32 operations in the
// same order, so they agree bit for bit. Range: exp(x) overflows to inf above ~88.72 and
// underflows gradually (subnormals) to 0 below ~-103.9; NaN stays NaN.

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
