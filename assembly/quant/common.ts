// Shared by the weight quantizers (assembly/quant/, one file per type group like assembly/weights/): C
// rounding and the scale searches of ggml's K-quants (make_qx_quants, make_q3_quants, make_qkx2_quants). The
// searches of make_qx_quants and make_qkx2_quants run on 4 groups at once, one per SIMD lane: each lane does
// its group's operations in the scalar code's order, so the bits are the same.
// f32 arithmetic as ggml's `_ref` C code compiled without FMA contraction: wasm has no contraction, so
// each + − × ÷ √ here is the C code's, and the bytes equal llama-quantize's (no imatrix).
//
// The per-thread scratch (QUANTIZE_SCRATCH, quantize_scratch_bytes()) holds the levels and the searches'
// buffers; nothing is static (threads share the memory).

/** Byte offsets in a thread's scratch. */
export const S_L: usize = 0;        // 256 levels (u8, or i8 for Q3_K)
export const S_W: usize = 320;      // 2 f32: makeQ3Quants' sums
export const S_SCALES: usize = 576; // 16 f32
export const S_MINS: usize = 640;   // 16 f32
export const S_W8: usize = 704;     // 8 × 32 f32 weights (Q4_K / Q5_K's groups): 1024 bytes
// makeQkx2Quants4's vectors (4 groups in the lanes of each; n ≤ 32 of each): x, w, x − min, levels, candidates
export const S_VX: usize = 1728;
export const S_VW: usize = S_VX + 512;
export const S_VXM: usize = S_VW + 512;
export const S_VL: usize = S_VXM + 512;
export const S_VLAUX: usize = S_VL + 512;
export const SCRATCH_BYTES: i32 = <i32>S_VLAUX + 512;

export const GROUP_MAX_EPS: f32 = 1e-15;
export const F01: f32 = 0.1;

/** ggml nearest_int: x + 1.5·2^23 in f32 keeps the integer part, rounded half to even. */
// @ts-ignore: decorator
@inline export function nearestInt(x: f32): i32 {
  return <i32>(<f64>(x + <f32>12582912.0) - 12582912.0);
}

/** C roundf: half away from zero. */
// @ts-ignore: decorator
@inline export function roundf(x: f32): i32 {
  const a = Math.floor(<f64>Mathf.abs(x) + 0.5); // exact in f64
  return <i32>(x < 0 ? -a : a);
}

/** The value of largest magnitude among n f32 at x (the first of equals), sign kept, as ggml picks it. */
export function signedAbsMax(x: usize, n: i32): f32 {
  let amax: f32 = 0;
  let max: f32 = 0;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    const a = Mathf.abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
  }
  return max;
}

// @ts-ignore: decorator
@inline function clampI(l: i32, lo: i32, hi: i32): i32 { return max<i32>(lo, min<i32>(hi, l)); }

/**
 * The first pass of ggml's make_qx_quants / make_q3_quants at one inverse scale: each level
 * l = clamp(nearest_int(iscale·x), −nmax, nmax − 1) (to L[i] + offset when L != 0); returns Σ w·x·l in
 * sums[0] and Σ w·l² in sums[1] (f32 stores at `sums`), w = x².
 */
function levelSums(n: i32, nmax: i32, x: usize, iscale: f32, L: usize, offset: i32, sums: usize): void {
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    const l = clampI(nearestInt(iscale * xi), -nmax, nmax - 1);
    if (L) store<u8>(L + i, <u8>(l + offset));
    const w = xi * xi;
    const fl = <f32>l;
    sumlx = sumlx + (w * xi) * fl;
    suml2 = suml2 + (w * fl) * fl;
  }
  store<f32>(sums, sumlx);
  store<f32>(sums, suml2, 4);
}

/** ggml make_q3_quants with do_rmse: L (i8 stores, offset by nmax on return) in [0, 2·nmax). */
export function makeQ3Quants(n: i32, nmax: i32, x: usize, L: usize, sums: usize): f32 {
  const mx = signedAbsMax(x, n);
  if (Mathf.abs(mx) < GROUP_MAX_EPS) {
    memory.fill(L, 0, n);
    return 0;
  }
  levelSums(n, nmax, x, <f32>(-nmax) / mx, L, 0, sums);
  let sumlx = load<f32>(sums);
  let suml2 = load<f32>(sums, 4);
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      const w = xi * xi;
      const li = <i32>load<i8>(L + i);
      const fli = <f32>li;
      let slx = sumlx - (w * xi) * fli;
      if (slx > 0) {
        let sl2 = suml2 - (w * fli) * fli;
        const nl = clampI(nearestInt((xi * sl2) / slx), -nmax, nmax - 1);
        if (nl != li) {
          const fnl = <f32>nl;
          slx = slx + (w * xi) * fnl;
          sl2 = sl2 + (w * fnl) * fnl;
          if (sl2 > 0 && (slx * slx) * suml2 > (sumlx * sumlx) * sl2) {
            store<i8>(L + i, <i8>nl);
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed == 0) break;
  }
  for (let i = 0; i < n; i++) store<i8>(L + i, <i8>(<i32>load<i8>(L + i) + nmax));
  return suml2 > 0 ? sumlx / suml2 : 0;
}

/** 4 groups of n floats (n a multiple of 4, ≤ 32), one after another at src -> n vectors at dst, lane g = group g. */
// @ts-ignore: decorator
@inline function transpose4(src: usize, n: i32, dst: usize): void {
  const stride = <usize>n << 2;
  for (let i = 0; i < n; i += 4) {
    const p = src + (<usize>i << 2);
    const a = v128.load(p), b = v128.load(p + stride), c = v128.load(p + 2 * stride), d = v128.load(p + 3 * stride);
    const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
    const t2 = v128.shuffle<f32>(c, d, 0, 4, 1, 5), t3 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
    const o = dst + (<usize>i << 4);
    v128.store(o, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5), 0);
    v128.store(o, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
    v128.store(o, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
    v128.store(o, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
  }
}

// nearest_int of each lane, as f32 (|v| < 2^22: v + 1.5·2^23 keeps the integer part, the subtraction is exact),
// clamped to [0, nmax]
// @ts-ignore: decorator
@inline function levels4(v: v128, nmax: v128): v128 {
  const big = f32x4.splat(12582912.0);
  return f32x4.pmin(f32x4.pmax(f32x4.sub(f32x4.add(v, big), big), f32x4.splat(0)), nmax);
}

// |d| or d·d
// @ts-ignore: decorator
@inline function err4(d: v128, useMad: bool): v128 { return useMad ? f32x4.abs(d) : f32x4.mul(d, d); }

/**
 * ggml make_qkx2_quants for 4 groups at once, one per lane (each lane's sums in ggml's order: its bits are the
 * scalar code's): an asymmetric (scale, min) fit of n ≤ 32 values (n a multiple of 4) to [0, nmax] minimising
 * the weighted error over nstep + 1 candidate scales. x and w: the 4 groups' values and weights, n floats each,
 * one group after another; levels (u8) to L (n per group, one group after another); each group's scale to
 * scales[g], its min (≥ 0, subtracted) to mins[g] (f32). s: the thread's scratch (S_VX .. S_VLAUX).
 */
export function makeQkx2Quants4(n: i32, nmax: i32, x: usize, w: usize, L: usize, rmin: f32, rdelta: f32,
  nstep: i32, useMad: bool, scales: usize, mins: usize, s: usize): void {
  const vx = s + S_VX, vw = s + S_VW, vxm = s + S_VXM, vl = s + S_VL, vlaux = s + S_VLAUX;
  transpose4(x, n, vx);
  transpose4(w, n, vw);
  const fmax = f32x4.splat(<f32>nmax);
  const zero = f32x4.splat(0);
  let mn = v128.load(vx);
  let mx = mn;
  let sumW = v128.load(vw);
  let sumX = f32x4.mul(sumW, mn);
  for (let i = 1; i < n; i++) {
    const xi = v128.load(vx + (<usize>i << 4)), wi = v128.load(vw + (<usize>i << 4));
    mn = f32x4.pmin(mn, xi); // xi < mn ? xi : mn
    mx = f32x4.pmax(mx, xi); // mx < xi ? xi : mx
    sumW = f32x4.add(sumW, wi);
    sumX = f32x4.add(sumX, f32x4.mul(wi, xi));
  }
  mn = f32x4.pmin(mn, zero); // min > 0 ? 0 : min
  const flat = f32x4.eq(mx, mn); // such a group: levels 0, scale 0, min −min
  for (let i = 0; i < n; i++) v128.store(vxm + (<usize>i << 4), f32x4.sub(v128.load(vx + (<usize>i << 4)), mn));
  let iscale = f32x4.div(fmax, f32x4.sub(mx, mn));
  let scale = f32x4.div(f32x4.splat(1), iscale);
  let bestError = zero;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const l = levels4(f32x4.mul(iscale, v128.load(vxm + o)), fmax);
    v128.store(vl + o, l);
    const diff = f32x4.sub(f32x4.add(f32x4.mul(scale, l), mn), v128.load(vx + o));
    bestError = f32x4.add(bestError, f32x4.mul(v128.load(vw + o), err4(diff, useMad)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f32x4.div(f32x4.splat((rmin + rdelta * <f32>is) + <f32>nmax), f32x4.sub(mx, mn));
    let sumL = zero, sumL2 = zero, sumXL = zero;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 4;
      const l = levels4(f32x4.mul(iscale, v128.load(vxm + o)), fmax);
      v128.store(vlaux + o, l);
      const wl = f32x4.mul(v128.load(vw + o), l);
      sumL = f32x4.add(sumL, wl);
      sumL2 = f32x4.add(sumL2, f32x4.mul(wl, l));
      sumXL = f32x4.add(sumXL, f32x4.mul(wl, v128.load(vx + o)));
    }
    const D = f32x4.sub(f32x4.mul(sumW, sumL2), f32x4.mul(sumL, sumL));
    const ok = f32x4.gt(D, zero);
    if (!v128.any_true(ok)) continue;
    let thisScale = f32x4.div(f32x4.sub(f32x4.mul(sumW, sumXL), f32x4.mul(sumX, sumL)), D);
    let thisMin = f32x4.div(f32x4.sub(f32x4.mul(sumL2, sumX), f32x4.mul(sumL, sumXL)), D);
    const pos = f32x4.gt(thisMin, zero);
    thisScale = v128.bitselect(f32x4.div(sumXL, sumL2), thisScale, pos);
    thisMin = v128.bitselect(zero, thisMin, pos);
    let curError = zero;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 4;
      const diff = f32x4.sub(f32x4.add(f32x4.mul(thisScale, v128.load(vlaux + o)), thisMin), v128.load(vx + o));
      curError = f32x4.add(curError, f32x4.mul(v128.load(vw + o), err4(diff, useMad)));
    }
    const better = v128.and(ok, f32x4.lt(curError, bestError));
    if (!v128.any_true(better)) continue;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 4;
      v128.store(vl + o, v128.bitselect(v128.load(vlaux + o), v128.load(vl + o), better));
    }
    bestError = v128.bitselect(curError, bestError, better);
    scale = v128.bitselect(thisScale, scale, better);
    mn = v128.bitselect(thisMin, mn, better);
    for (let i = 0; i < n; i++) v128.store(vxm + (<usize>i << 4), f32x4.sub(v128.load(vx + (<usize>i << 4)), mn));
  }
  scale = v128.andnot(scale, flat);
  v128.store(scales, scale);
  v128.store(mins, f32x4.neg(mn));
  // the levels back to bytes, group by group (a flat group's are 0)
  for (let i = 0; i < n; i++) {
    const l = v128.andnot(i32x4.trunc_sat_f32x4_u(v128.load(vl + (<usize>i << 4))), flat);
    store<u8>(L + i, <u8>i32x4.extract_lane(l, 0));
    store<u8>(L + n + i, <u8>i32x4.extract_lane(l, 1));
    store<u8>(L + 2 * n + i, <u8>i32x4.extract_lane(l, 2));
    store<u8>(L + 3 * n + i, <u8>i32x4.extract_lane(l, 3));
  }
}

// nearest_int of each lane (as f32), clamped to [lo, hi]
// @ts-ignore: decorator
@inline function clampedLevels4(v: v128, lo: v128, hi: v128): v128 {
  const big = f32x4.splat(12582912.0);
  return f32x4.pmin(f32x4.pmax(f32x4.sub(f32x4.add(v, big), big), lo), hi);
}

/**
 * ggml make_qx_quants (rmse_type 1, w = x²) for 4 groups of n ≤ 32 values (n a multiple of 4) at once, one per
 * lane, each lane's bits the scalar code's: levels + nmax (u8) to L (n per group, one group after
 * another), each group's scale to scales[g] (f32). s: the thread's scratch (S_VX, S_VL).
 */
export function makeQxQuants4(n: i32, nmax: i32, x: usize, L: usize, scales: usize, s: usize): void {
  const vx = s + S_VX, vl = s + S_VL;
  transpose4(x, n, vx);
  const zero = f32x4.splat(0);
  const lo = f32x4.splat(<f32>-nmax), hi = f32x4.splat(<f32>(nmax - 1));
  // the signed value of largest magnitude (the first of equals)
  let amax = zero, mx = zero;
  for (let i = 0; i < n; i++) {
    const xi = v128.load(vx + (<usize>i << 4));
    const a = f32x4.abs(xi);
    const m = f32x4.gt(a, amax);
    amax = v128.bitselect(a, amax, m);
    mx = v128.bitselect(xi, mx, m);
  }
  const flat = f32x4.lt(f32x4.abs(mx), f32x4.splat(GROUP_MAX_EPS));
  let iscale = f32x4.div(lo, mx); // −nmax / max
  let sumlx = zero, suml2 = zero;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const xi = v128.load(vx + o);
    const l = clampedLevels4(f32x4.mul(iscale, xi), lo, hi);
    v128.store(vl + o, l);
    const w = f32x4.mul(xi, xi);
    sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, xi), l));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
  }
  let scale = v128.andnot(f32x4.div(sumlx, suml2), f32x4.eq(suml2, zero)); // suml2 != 0 ? sumlx / suml2 : 0
  let best = f32x4.mul(scale, sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = f32x4.div(f32x4.neg(f32x4.splat(<f32>nmax + F01 * <f32>is)), mx);
    sumlx = zero;
    suml2 = zero;
    for (let i = 0; i < n; i++) {
      const xi = v128.load(vx + (<usize>i << 4));
      const l = clampedLevels4(f32x4.mul(iscale, xi), lo, hi);
      const w = f32x4.mul(xi, xi);
      sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, xi), l));
      suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
    }
    const better = v128.and(f32x4.gt(suml2, zero), f32x4.gt(f32x4.mul(sumlx, sumlx), f32x4.mul(best, suml2)));
    if (!v128.any_true(better)) continue;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 4;
      const l = clampedLevels4(f32x4.mul(iscale, v128.load(vx + o)), lo, hi);
      v128.store(vl + o, v128.bitselect(l, v128.load(vl + o), better));
    }
    scale = v128.bitselect(f32x4.div(sumlx, suml2), scale, better);
    best = v128.bitselect(f32x4.mul(scale, sumlx), best, better);
  }
  v128.store(scales, v128.andnot(scale, flat));
  const off = f32x4.splat(<f32>nmax);
  for (let i = 0; i < n; i++) {
    const l = v128.andnot(i32x4.trunc_sat_f32x4_s(f32x4.add(v128.load(vl + (<usize>i << 4)), off)), flat);
    store<u8>(L + i, <u8>i32x4.extract_lane(l, 0));
    store<u8>(L + n + i, <u8>i32x4.extract_lane(l, 1));
    store<u8>(L + 2 * n + i, <u8>i32x4.extract_lane(l, 2));
    store<u8>(L + 3 * n + i, <u8>i32x4.extract_lane(l, 3));
  }
}
