// Shared by the weight quantizers (assembly/quant/, one file per type group like assembly/weights/): C
// rounding and the scale searches of ggml's K-quants (make_qx_quants, make_q3_quants, make_qkx2_quants).
// f32 arithmetic as ggml's `_ref` C code compiled without FMA contraction: wasm has no contraction, so
// each + − × ÷ √ here is the C code's, and the bytes equal llama-quantize's (no imatrix).
//
// The per-thread scratch (QUANTIZE_SCRATCH, quantize_scratch_bytes()) holds the levels and the searches'
// buffers; nothing is static (threads share the memory).

/** Byte offsets in a thread's scratch. */
export const S_L: usize = 0;        // 256 levels (u8, or i8 for Q3_K)
export const S_LAUX: usize = 256;   // 32 candidate levels
export const S_PREV: usize = 288;   // 32 levels of the last rejected candidate
export const S_W: usize = 320;      // 32 f32 weights
export const S_XM: usize = 448;     // 32 f32: x − min
export const S_SCALES: usize = 576; // 16 f32
export const S_MINS: usize = 640;   // 16 f32
export const SCRATCH_BYTES: i32 = 1024;

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

/** ggml make_qx_quants with rmse_type 1 and no importance weights (w = x²): symmetric, L (u8) in [0, 2·nmax). */
export function makeQxQuants(n: i32, nmax: i32, x: usize, L: usize, sums: usize): f32 {
  const mx = signedAbsMax(x, n);
  if (Mathf.abs(mx) < GROUP_MAX_EPS) {
    memory.fill(L, 0, n);
    return 0;
  }
  let iscale: f32 = <f32>(-nmax) / mx;
  levelSums(n, nmax, x, iscale, L, nmax, sums);
  let sumlx = load<f32>(sums);
  let suml2 = load<f32>(sums, 4);
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : 0;
  let best = scale * sumlx;
  for (let is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -(<f32>nmax + F01 * <f32>is) / mx;
    levelSums(n, nmax, x, iscale, 0, 0, sums);
    sumlx = load<f32>(sums);
    suml2 = load<f32>(sums, 4);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(iscale * load<f32>(x + (<usize>i << 2)));
        store<u8>(L + i, <u8>(nmax + clampI(l, -nmax, nmax - 1)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
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

/**
 * ggml make_qkx2_quants: asymmetric (scale, min) fit of n ≤ 32 values at x to [0, nmax] minimising the
 * weighted error (weights at w) over nstep + 1 candidate scales; levels (u8) to L. Returns the scale; the
 * min (≥ 0, subtracted) is stored at `theMin`. `s`: the thread's scratch (S_LAUX, S_PREV, S_XM). One
 * shortcut that cannot change the result: a candidate whose levels equal those of the previous, rejected
 * candidate (same min) is rejected again unevaluated.
 */
export function makeQkx2Quants(n: i32, nmax: i32, x: usize, w: usize, L: usize, rmin: f32, rdelta: f32,
  nstep: i32, useMad: bool, theMin: usize, s: usize): f32 {
  const Laux = s + S_LAUX;
  const prev = s + S_PREV;
  const xm = s + S_XM;
  const fmax = <f32>nmax;
  let mn = load<f32>(x);
  let mx = mn;
  let sumW = load<f32>(w);
  let sumX = sumW * mn;
  for (let i = 1; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    if (xi < mn) mn = xi;
    if (xi > mx) mx = xi;
    const wi = load<f32>(w + (<usize>i << 2));
    sumW = sumW + wi;
    sumX = sumX + wi * xi;
  }
  if (mn > 0) mn = 0;
  if (mx == mn) {
    memory.fill(L, 0, n);
    store<f32>(theMin, -mn);
    return 0;
  }
  for (let i = 0; i < n; i++) store<f32>(xm + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) - mn);
  let iscale: f32 = fmax / (mx - mn);
  let scale: f32 = <f32>1 / iscale;
  let bestError: f32 = 0;
  for (let i = 0; i < n; i++) {
    const l = clampI(nearestInt(iscale * load<f32>(xm + (<usize>i << 2))), 0, nmax);
    store<u8>(L + i, <u8>l);
    let diff = (scale * <f32>l + mn) - load<f32>(x + (<usize>i << 2));
    diff = useMad ? Mathf.abs(diff) : diff * diff;
    bestError = bestError + load<f32>(w + (<usize>i << 2)) * diff;
  }
  let prevRejected = false;
  for (let is = 0; is <= nstep; is++) {
    iscale = ((rmin + rdelta * <f32>is) + fmax) / (mx - mn);
    let same = prevRejected;
    for (let i = 0; i < n; i++) {
      const l = clampI(nearestInt(iscale * load<f32>(xm + (<usize>i << 2))), 0, nmax);
      if (same && <i32>load<u8>(prev + i) != l) same = false;
      store<u8>(Laux + i, <u8>l);
    }
    if (same) continue;
    let sumL: f32 = 0;
    let sumL2: f32 = 0;
    let sumXL: f32 = 0;
    for (let i = 0; i < n; i++) {
      const l = <f32>load<u8>(Laux + i);
      const wl = load<f32>(w + (<usize>i << 2)) * l;
      sumL = sumL + wl;
      sumL2 = sumL2 + wl * l;
      sumXL = sumXL + wl * load<f32>(x + (<usize>i << 2));
    }
    const D = sumW * sumL2 - sumL * sumL;
    prevRejected = true;
    if (D > 0) {
      let thisScale = (sumW * sumXL - sumX * sumL) / D;
      let thisMin = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      let curError: f32 = 0;
      for (let i = 0; i < n; i++) {
        let diff = (thisScale * <f32>load<u8>(Laux + i) + thisMin) - load<f32>(x + (<usize>i << 2));
        diff = useMad ? Mathf.abs(diff) : diff * diff;
        curError = curError + load<f32>(w + (<usize>i << 2)) * diff;
      }
      if (curError < bestError) {
        memory.copy(L, Laux, n);
        bestError = curError;
        scale = thisScale;
        if (thisMin != mn) {
          mn = thisMin;
          for (let i = 0; i < n; i++) store<f32>(xm + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) - mn);
        }
        prevRejected = false;
      }
    }
    if (prevRejected) memory.copy(prev, Laux, n);
  }
  store<f32>(theMin, -mn);
  return scale;
}
