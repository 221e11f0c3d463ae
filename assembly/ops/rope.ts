// Rotary position embedding. θ_i = p · freqScale · base^(−2i/nRot), computed in f64; cos/sin in f64
// (table-free fdlibm algorithms below, so the module has no data segments), rounded to f32 once per
// (token, i) and shared by all heads. The rotation itself is f32: (x0·c − x1·s, x0·s + x1·c).
import { ROPE_NEOX } from "../../src/abi";
import * as abi from "../../src/abi";
import { arg, argf, ptr, rowsInfo } from "./entry";

// ---- f64 helpers (fdlibm / musl, public domain / MIT) ----

// log(x) for finite x > 0 (normal)
function logF64(x: f64): f64 {
  const ln2_hi: f64 = 6.93147180369123816490e-01;
  const ln2_lo: f64 = 1.90821492927058770002e-10;
  const Lg1: f64 = 6.666666666666735130e-01;
  const Lg2: f64 = 3.999999999940941908e-01;
  const Lg3: f64 = 2.857142874366239149e-01;
  const Lg4: f64 = 2.222219843214978396e-01;
  const Lg5: f64 = 1.818357216161805012e-01;
  const Lg6: f64 = 1.531383769920937332e-01;
  const Lg7: f64 = 1.479819860511658591e-01;
  let u = reinterpret<u64>(x);
  let hx = <u32>(u >> 32);
  // reduce x into [sqrt(2)/2, sqrt(2)]
  hx += 0x3ff00000 - 0x3fe6a09e;
  const k = <i32>(hx >> 20) - 0x3ff;
  hx = (hx & 0x000fffff) + 0x3fe6a09e;
  u = (<u64>hx << 32) | (u & 0xffffffff);
  const f = reinterpret<f64>(u) - 1.0;
  const hfsq = 0.5 * f * f;
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const R = t2 + t1;
  const dk = <f64>k;
  return s * (hfsq + R) + dk * ln2_lo - hfsq + f + dk * ln2_hi;
}

// exp(x) for |x| < 700
function expF64(x: f64): f64 {
  const ln2hi: f64 = 6.93147180369123816490e-01;
  const ln2lo: f64 = 1.90821492927058770002e-10;
  const invln2: f64 = 1.44269504088896338700e+00;
  const P1: f64 = 1.66666666666666019037e-01;
  const P2: f64 = -2.77777777770155933842e-03;
  const P3: f64 = 6.61375632143793436117e-05;
  const P4: f64 = -1.65339022054652515390e-06;
  const P5: f64 = 4.13813679705723846039e-08;
  const kf = nearest<f64>(x * invln2);
  const hi = x - kf * ln2hi;
  const lo = kf * ln2lo;
  const r = hi - lo;
  const rr = r * r;
  const c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
  const y = 1.0 + (r * c / (2.0 - c) - lo + hi);
  const k = <i64>kf;
  return y * reinterpret<f64>(<u64>(k + 1023) << 52);
}

// sin/cos kernels on [-π/4, π/4], x + y the reduced argument (y the tail)
// @ts-ignore: decorator
@inline function kSin(x: f64, y: f64): f64 {
  const S1: f64 = -1.66666666666666324348e-01;
  const S2: f64 = 8.33333333332248946124e-03;
  const S3: f64 = -1.98412698298579493134e-04;
  const S4: f64 = 2.75573137070700676789e-06;
  const S5: f64 = -2.50507602534068634195e-08;
  const S6: f64 = 1.58969099521155010221e-10;
  const z = x * x;
  const v = z * x;
  const r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

// @ts-ignore: decorator
@inline function kCos(x: f64, y: f64): f64 {
  const C1: f64 = 4.16666666666666019037e-02;
  const C2: f64 = -1.38888888888741095749e-03;
  const C3: f64 = 2.48015872894767294178e-05;
  const C4: f64 = -2.75573143513906633035e-07;
  const C5: f64 = 2.08757232129817482790e-09;
  const C6: f64 = -1.13596475577881948265e-11;
  const z = x * x;
  let w = z * z;
  const r = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
  const hz = 0.5 * z;
  w = 1.0 - hz;
  return w + (((1.0 - w) - hz) + (z * r - x * y));
}

/**
 * cos(θ) and sin(θ) rounded to f32, packed: low 32 bits = cos, high 32 bits = sin.
 * Cody–Waite reduction by π/2 in three steps (fdlibm's medium case): accurate for |θ| < 2^20·π/2
 * (positions up to ~1.6M at freqScale 1), degrading slowly beyond.
 */
export function cosSinF32(theta: f64): u64 {
  const invpio2: f64 = 6.36619772367581382433e-01;
  const pio2_1: f64 = 1.57079632673412561417e+00;
  const pio2_1t: f64 = 6.07710050650619224932e-11;
  const pio2_2: f64 = 6.07710050630396597660e-11;
  const pio2_2t: f64 = 2.02226624879595063154e-21;
  const pio2_3: f64 = 2.02226624871116645580e-21;
  const pio2_3t: f64 = 8.47842766036889956997e-32;
  const fn = nearest<f64>(theta * invpio2);
  let r = theta - fn * pio2_1;
  let w = fn * pio2_1t;
  let y0 = r - w;
  const j = <i32>(reinterpret<u64>(theta) >> 52) & 0x7ff;
  let i = j - (<i32>(reinterpret<u64>(y0) >> 52) & 0x7ff);
  if (i > 16) {
    let t = r;
    w = fn * pio2_2;
    r = t - w;
    w = fn * pio2_2t - ((t - r) - w);
    y0 = r - w;
    i = j - (<i32>(reinterpret<u64>(y0) >> 52) & 0x7ff);
    if (i > 49) {
      t = r;
      w = fn * pio2_3;
      r = t - w;
      w = fn * pio2_3t - ((t - r) - w);
      y0 = r - w;
    }
  }
  const y1 = (r - y0) - w;
  const n = <i32>(<i64>fn) & 3;
  const s = kSin(y0, y1);
  const c = kCos(y0, y1);
  let cs: f64 = c, sn: f64 = s;
  if (n == 1) { cs = -s; sn = c; }
  else if (n == 2) { cs = -c; sn = -s; }
  else if (n == 3) { cs = s; sn = -c; }
  return <u64>reinterpret<u32>(<f32>cs) | (<u64>reinterpret<u32>(<f32>sn) << 32);
}

/** base^(-2/nRot) in f64 */
// @ts-ignore: decorator
@inline function thetaScaleOf(base: f32, nRot: i32): f64 {
  return expF64(-2.0 / <f64>nRot * logF64(<f64>base));
}

// ---- RoPE ----

// @ts-ignore: decorator
@inline function isScaled(freqFactors: usize, extFactor: f32, attnFactor: f32): bool {
  return freqFactors != 0 || (extFactor != 0 && extFactor == extFactor) || (attnFactor > 0 && attnFactor != 1);
}

/**
 * In place on rows x[t] (nHead·headDim floats each), position p = pos0 + t. Only the first nRot dims
 * of each head rotate. mode ROPE_NORMAL: pairs (2i, 2i+1); ROPE_NEOX: pairs (i, i + nRot/2).
 */
export function rope(x: usize, nTok: i32, nHead: i32, headDim: i32, nRot: i32, pos0: i32,
                     base: f32, freqScale: f32, mode: i32,
                     freqFactors: usize, extFactor: f32, attnFactor: f32, corrLow: f32, corrHigh: f32): void {
  // (the scaling arguments may be missing in a direct call from JS: 0 / NaN mean "none")
  if (isScaled(freqFactors, extFactor, attnFactor)) {
    rope_scaled(x, nTok, nHead, headDim, nRot, pos0, base, freqScale, mode, freqFactors, extFactor, attnFactor, corrLow, corrHigh);
    return;
  }
  const half = nRot >> 1;
  const thetaScale = thetaScaleOf(base, nRot);
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  const neox = mode == ROPE_NEOX;
  for (let t = 0; t < nTok; t++) {
    const row = x + <usize>t * rowBytes;
    let theta: f64 = <f64>(pos0 + t) * <f64>freqScale;
    let i = 0;
    if (neox) {
      const hiOff = <usize>half << 2;
      for (; i + 4 <= half; i += 4) {
        const cs0 = cosSinF32(theta); theta *= thetaScale;
        const cs1 = cosSinF32(theta); theta *= thetaScale;
        const cs2 = cosSinF32(theta); theta *= thetaScale;
        const cs3 = cosSinF32(theta); theta *= thetaScale;
        const c = i64x2.replace_lane(i64x2.splat(<i64>(cs0 & 0xffffffff) | <i64>(cs1 << 32)), 1,
                                     <i64>(cs2 & 0xffffffff) | <i64>(cs3 << 32));
        const s = i64x2.replace_lane(i64x2.splat(<i64>(cs0 >> 32) | <i64>(cs1 & 0xffffffff00000000)), 1,
                                     <i64>(cs2 >> 32) | <i64>(cs3 & 0xffffffff00000000));
        let p = row + (<usize>i << 2);
        for (let h = 0; h < nHead; h++) {
          const lo = v128.load(p);
          const hi = v128.load(p + hiOff);
          v128.store(p, f32x4.sub(f32x4.mul(lo, c), f32x4.mul(hi, s)));
          v128.store(p + hiOff, f32x4.add(f32x4.mul(lo, s), f32x4.mul(hi, c)));
          p += headBytes;
        }
      }
      for (; i < half; i++) {
        const cs = cosSinF32(theta); theta *= thetaScale;
        const c = reinterpret<f32>(<u32>cs), s = reinterpret<f32>(<u32>(cs >> 32));
        let p = row + (<usize>i << 2);
        for (let h = 0; h < nHead; h++) {
          const x0 = load<f32>(p), x1 = load<f32>(p + hiOff);
          store<f32>(p, x0 * c - x1 * s);
          store<f32>(p + hiOff, x0 * s + x1 * c);
          p += headBytes;
        }
      }
    } else {
      for (; i + 2 <= half; i += 2) {
        const cs0 = cosSinF32(theta); theta *= thetaScale;
        const cs1 = cosSinF32(theta); theta *= thetaScale;
        const c0 = reinterpret<f32>(<u32>cs0), s0 = reinterpret<f32>(<u32>(cs0 >> 32));
        const c1 = reinterpret<f32>(<u32>cs1), s1 = reinterpret<f32>(<u32>(cs1 >> 32));
        const c = f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(c0), 2, c1), 3, c1);
        // lanes: [-s0, s0, -s1, s1]
        const s = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(-s0), 1, s0), 2, -s1), 3, s1);
        let p = row + (<usize>i << 3);
        for (let h = 0; h < nHead; h++) {
          const v = v128.load(p);
          const sw = v128.shuffle<f32>(v, v, 1, 0, 3, 2);
          v128.store(p, f32x4.add(f32x4.mul(v, c), f32x4.mul(sw, s)));
          p += headBytes;
        }
      }
      for (; i < half; i++) {
        const cs = cosSinF32(theta); theta *= thetaScale;
        const c = reinterpret<f32>(<u32>cs), s = reinterpret<f32>(<u32>(cs >> 32));
        let p = row + (<usize>i << 3);
        for (let h = 0; h < nHead; h++) {
          const x0 = load<f32>(p), x1 = load<f32>(p, 4);
          store<f32>(p, x0 * c - x1 * s);
          store<f32>(p, x0 * s + x1 * c, 4);
          p += headBytes;
        }
      }
    }
  }
}

export function rope_ref(x: usize, nTok: i32, nHead: i32, headDim: i32, nRot: i32, pos0: i32,
                         base: f32, freqScale: f32, mode: i32,
                         freqFactors: usize, extFactor: f32, attnFactor: f32, corrLow: f32, corrHigh: f32): void {
  // (the scaling arguments may be missing in a direct call from JS: 0 / NaN mean "none")
  if (isScaled(freqFactors, extFactor, attnFactor)) {
    rope_scaled(x, nTok, nHead, headDim, nRot, pos0, base, freqScale, mode, freqFactors, extFactor, attnFactor, corrLow, corrHigh);
    return;
  }
  const half = nRot >> 1;
  const thetaScale = thetaScaleOf(base, nRot);
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  for (let t = 0; t < nTok; t++) {
    const row = x + <usize>t * rowBytes;
    let theta: f64 = <f64>(pos0 + t) * <f64>freqScale;
    for (let i = 0; i < half; i++) {
      const cs = cosSinF32(theta); theta *= thetaScale;
      const c = reinterpret<f32>(<u32>cs), s = reinterpret<f32>(<u32>(cs >> 32));
      for (let h = 0; h < nHead; h++) {
        const hp = row + <usize>h * headBytes;
        let i0: i32, i1: i32;
        if (mode == ROPE_NEOX) { i0 = i; i1 = i + half; } else { i0 = 2 * i; i1 = 2 * i + 1; }
        const p0 = hp + (<usize>i0 << 2), p1 = hp + (<usize>i1 << 2);
        const x0 = load<f32>(p0), x1 = load<f32>(p1);
        store<f32>(p0, x0 * c - x1 * s);
        store<f32>(p1, x0 * s + x1 * c);
      }
    }
  }
}

/**
 * Scaled RoPE, as ggml's rope_yarn computes it (scalar; RoPE is cheap next to the matmuls):
 * θ_extrap = p · base^(−2i/nRot) / freqFactors[i] (LLaMA 3 files carry rope_freqs), θ_interp =
 * freqScale · θ_extrap; with extFactor ≠ 0 (YaRN) θ = θ_interp·(1−mix) + θ_extrap·mix where
 * mix = ramp(i) · extFactor and the magnitude scale grows by 1 + 0.1·ln(1/freqScale);
 * cos and sin are multiplied by attnFactor (the magnitude scale).
 */
export function rope_scaled(x: usize, nTok: i32, nHead: i32, headDim: i32, nRot: i32, pos0: i32,
                            base: f32, freqScale: f32, mode: i32, freqFactors: usize,
                            extFactor: f32, attnFactor: f32, corrLow: f32, corrHigh: f32): void {
  const half = nRot >> 1;
  const thetaScale = thetaScaleOf(base, nRot);
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  if (!(extFactor == extFactor)) extFactor = 0;
  let mscale: f32 = attnFactor > 0 ? attnFactor : 1;
  if (extFactor != 0) mscale *= <f32>(1.0 + 0.1 * logF64(1.0 / <f64>freqScale));
  for (let t = 0; t < nTok; t++) {
    const row = x + <usize>t * rowBytes;
    let thetaExtrap: f64 = <f64>(pos0 + t);
    for (let i = 0; i < half; i++) {
      let extrap = thetaExtrap;
      if (freqFactors != 0) extrap /= <f64>load<f32>(freqFactors + (<usize>i << 2));
      const interp = <f64>freqScale * extrap;
      let theta = interp;
      if (extFactor != 0) {
        let y = (<f32>i - corrLow) / max<f32>(0.001, corrHigh - corrLow);
        const ramp: f32 = 1 - min<f32>(1, max<f32>(0, y));
        const mix = <f64>(ramp * extFactor);
        theta = interp * (1 - mix) + extrap * mix;
      }
      thetaExtrap *= thetaScale;
      const cs = cosSinF32(theta);
      const c = reinterpret<f32>(<u32>cs) * mscale, s = reinterpret<f32>(<u32>(cs >> 32)) * mscale;
      for (let h = 0; h < nHead; h++) {
        const hp = row + <usize>h * headBytes;
        let i0: i32, i1: i32;
        if (mode == ROPE_NEOX) { i0 = i; i1 = i + half; } else { i0 = 2 * i; i1 = 2 * i + 1; }
        const p0 = hp + (<usize>i0 << 2), p1 = hp + (<usize>i1 << 2);
        const x0 = load<f32>(p0), x1 = load<f32>(p1);
        store<f32>(p0, x0 * c - x1 * s);
        store<f32>(p1, x0 * s + x1 * c);
      }
    }
  }
}

// ---- entry for the scheduler (see entry.ts): units are rows (tokens), rotated in place

export function rope_info(q: i32, op: usize): i64 {
  const x = ptr(op, abi.ROPE_X);
  return rowsInfo(q, x, x, arg(op, abi.ROPE_N_HEAD) * arg(op, abi.ROPE_HEAD_DIM), arg(op, abi.ROPE_N_TOK));
}

export function rope_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const nHead = arg(op, abi.ROPE_N_HEAD), headDim = arg(op, abi.ROPE_HEAD_DIM);
  const off = <usize>lo * <usize>nHead * <usize>headDim << 2;
  rope(ptr(op, abi.ROPE_X) + off, hi - lo, nHead, headDim, arg(op, abi.ROPE_N_ROT), arg(op, abi.ROPE_POS0) + lo,
       argf(op, abi.ROPE_BASE), argf(op, abi.ROPE_FREQ_SCALE), arg(op, abi.ROPE_MODE), ptr(op, abi.ROPE_FREQ_FACTORS),
       argf(op, abi.ROPE_EXT_FACTOR), argf(op, abi.ROPE_ATTN_FACTOR), argf(op, abi.ROPE_CORR_LOW), argf(op, abi.ROPE_CORR_HIGH));
}
