// Causal multi-head attention over an f32, f16 or q8_0 KV cache (sliding window, ring cache, ALiBi, score soft-capping),
// and softmax.
import { expf, expf4, exp64, tanhf } from "./activations";
import { softcap } from "./softcap";
import * as abi from "../../src/abi";
import { GGML_F32 } from "../../src/abi";
import { dequantHeads, kvAt, kvHeadBytes, kv_row_bytes, touchRows } from "./kv";
import { ALIGN, ALWAYS_SPLIT, READS, UNEVEN, UNITS, WORK, WRITES, arg, argf, ptr, region, rowsBytes } from "./entry";

// ---- softmax (in place) ----

// @ts-ignore: decorator
@inline function hmax4(v: v128): f32 {
  const m = f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
}

// @ts-ignore: decorator
@inline function hsum4(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

// max of x[0..n), n ≥ 1
// @ts-ignore: decorator
@inline function maxOf(x: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  let m = hmax4(mv);
  for (; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  return m;
}

// x[i] = exp(x[i] − m) for i < n; returns their sum
// @ts-ignore: decorator
@inline function expSum(x: usize, n: i32, m: f32): f32 {
  const msp = f32x4.splat(m);
  let sv = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    const e = expf4(f32x4.sub(v128.load(p), msp));
    v128.store(p, e);
    sv = f32x4.add(sv, e);
  }
  let sum = hsum4(sv);
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    const e = expf(load<f32>(p) - m);
    store<f32>(p, e);
    sum += e;
  }
  return sum;
}

// x[0..n) *= c
// @ts-ignore: decorator
@inline function scaleBy(x: usize, n: i32, c: f32): void {
  const cv = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    v128.store(p, f32x4.mul(v128.load(p), cv));
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * c);
  }
}

/** x[0..n) = softmax(x): subtract the max, exp, normalise. */
export function softmax(x: usize, n: i32): void {
  if (n <= 0) return;
  const m = maxOf(x, n);
  const sum = expSum(x, n, m);
  scaleBy(x, n, <f32>1.0 / sum);
}

export function softmax_ref(x: usize, n: i32): void {
  if (n <= 0) return;
  let m = load<f32>(x);
  for (let i = 1; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  let sum: f32 = 0;
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    const e = expf(load<f32>(p) - m);
    store<f32>(p, e);
    sum += e;
  }
  const inv: f32 = <f32>1.0 / sum;
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * inv);
  }
}

// ---- ALiBi slopes (ggml's series; f32 values as the reference computes them with powf) ----

/** n2 = 2^floor(log2 nHead) */
// @ts-ignore: decorator
@inline function alibiN2(nHead: i32): i32 { return 1 << (31 - clz<i32>(nHead)); }

/** f32(2^y), y an f32: the reference's powf(2.0f, y) */
// @ts-ignore: decorator
@inline function exp2f(y: f32): f32 { return <f32>exp64(<f64>y * 0.69314718055994530942); }

/** f32(m^k) for an f32 m and k ≥ 1 (f64 product: k·2^-53 relative error before the f32 rounding) */
// @ts-ignore: decorator
@inline function powInt(m: f32, k: i32): f32 {
  let r: f64 = 1;
  const m64 = <f64>m;
  for (let i = 0; i < k; i++) r *= m64;
  return <f32>r;
}

/**
 * ALiBi slope of head h for nHead heads and maxBias (> 0): n2 = 2^floor(log2 nHead), m0 = 2^(−maxBias/n2),
 * m1 = 2^(−maxBias/2/n2); h < n2: m0^(h+1), else m1^(2(h−n2)+1).
 */
export function alibi_slope(h: i32, nHead: i32, maxBias: f32): f32 {
  const n2 = alibiN2(nHead);
  if (h < n2) return powInt(exp2f(-maxBias / <f32>n2), h + 1);
  return powInt(exp2f(-(maxBias / <f32>2.0) / <f32>n2), 2 * (h - n2) + 1);
}

// ---- attention ----

// The score of one key: q·k over n floats (four sums of every fourth 4-float chunk, then the n % 4 last
// floats) times scale; the per-head path's, with the bits of earlier versions.
// @ts-ignore: decorator
@inline function score1(q: usize, k: usize, n: i32, scale: f32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const off = <usize>i << 2;
    const pa = q + off, pb = k + off;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(pa, 0), v128.load(pb, 0)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(pa, 16), v128.load(pb, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(pa, 32), v128.load(pb, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(pa, 48), v128.load(pb, 48)));
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(q + off), v128.load(k + off)));
  }
  let s = hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < n; i++) {
    const off = <usize>i << 2;
    s += load<f32>(q + off) * load<f32>(k + off);
  }
  return s * scale;
}

// dst[i] = score1 of the key at k + i·kvRow, i < cnt
function scoreRun(q: usize, k: usize, kvRow: usize, cnt: i32, n: i32, scale: f32, dst: usize): void {
  for (let i = 0; i < cnt; i++) {
    store<f32>(dst + (<usize>i << 2), score1(q, k, n, scale));
    k += kvRow;
  }
}

// The fused path's score of one key (its own order, free of the per-head path's: one sum of the 4-float
// chunks, hsum4, then the n % 4 last floats, times scale). tileScores4 computes four keys with exactly
// these operations per key, so a score's bits do not depend on which of the two computed it.
// @ts-ignore: decorator
@inline function tileScore1(q: usize, k: usize, n: i32, scale: f32): f32 {
  let a = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    a = f32x4.add(a, f32x4.mul(v128.load(q + off), v128.load(k + off)));
  }
  let s = hsum4(a);
  for (; i < n; i++) {
    const off = <usize>i << 2;
    s += load<f32>(q + off) * load<f32>(k + off);
  }
  return s * scale;
}

// dst[0..4) = the scores of the keys at k, k + kvRow, k + 2·kvRow, k + 3·kvRow (see tileScore1): four
// independent accumulators share each q load; one transpose-add gives the four horizontal sums.
// @ts-ignore: decorator
@inline function tileScores4(q: usize, k: usize, kvRow: usize, n: i32, scale: f32, dst: usize): void {
  const k1 = k + kvRow, k2 = k1 + kvRow, k3 = k2 + kvRow;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    const qv = v128.load(q + off);
    a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k + off)));
    a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + off)));
    a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + off)));
    a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + off)));
  }
  // lane r of s = (a_r[0] + a_r[2]) + (a_r[1] + a_r[3]): the same additions as hsum4(a_r)
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  let s = f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let kv = f32x4.splat(load<f32>(k + off));
    kv = f32x4.replace_lane(kv, 1, load<f32>(k1 + off));
    kv = f32x4.replace_lane(kv, 2, load<f32>(k2 + off));
    kv = f32x4.replace_lane(kv, 3, load<f32>(k3 + off));
    s = f32x4.add(s, f32x4.mul(v128.load32_splat(q + off), kv));
  }
  v128.store(dst, f32x4.mul(s, f32x4.splat(scale)));
}

// dst[i] = score of the key at k + i·kvRow, i < cnt
function tileScoreRun(q: usize, k: usize, kvRow: usize, cnt: i32, n: i32, scale: f32, dst: usize): void {
  let i = 0;
  const kvRow4 = kvRow << 2;
  for (; i + 4 <= cnt; i += 4) {
    tileScores4(q, k, kvRow, n, scale, dst + (<usize>i << 2));
    k += kvRow4;
  }
  for (; i < cnt; i++) {
    store<f32>(dst + (<usize>i << 2), tileScore1(q, k, n, scale));
    k += kvRow;
  }
}

// Two heads' scores over the same keys (dst0 / dst1 for q0 / q1; each key's bits are tileScore1's): four keys
// at a time, eight independent sums sharing each K load and each q load.
function tileScoreRun2(q0: usize, q1: usize, k: usize, kvRow: usize, cnt: i32, n: i32, scale: f32, dst0: usize, dst1: usize): void {
  let j = 0;
  const sc = f32x4.splat(scale);
  for (; j + 4 <= cnt; j += 4) {
    const k1 = k + kvRow, k2 = k1 + kvRow, k3 = k2 + kvRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      const qa = v128.load(q0 + off), qb = v128.load(q1 + off);
      let kv = v128.load(k + off);
      a0 = f32x4.add(a0, f32x4.mul(qa, kv));
      b0 = f32x4.add(b0, f32x4.mul(qb, kv));
      kv = v128.load(k1 + off);
      a1 = f32x4.add(a1, f32x4.mul(qa, kv));
      b1 = f32x4.add(b1, f32x4.mul(qb, kv));
      kv = v128.load(k2 + off);
      a2 = f32x4.add(a2, f32x4.mul(qa, kv));
      b2 = f32x4.add(b2, f32x4.mul(qb, kv));
      kv = v128.load(k3 + off);
      a3 = f32x4.add(a3, f32x4.mul(qa, kv));
      b3 = f32x4.add(b3, f32x4.mul(qb, kv));
    }
    // tileScores4's transpose-add, for each head
    let sa = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
    let t = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
    sa = f32x4.add(v128.shuffle<f32>(sa, t, 0, 1, 4, 5), v128.shuffle<f32>(sa, t, 2, 3, 6, 7));
    let sb = f32x4.add(v128.shuffle<f32>(b0, b1, 0, 4, 1, 5), v128.shuffle<f32>(b0, b1, 2, 6, 3, 7));
    t = f32x4.add(v128.shuffle<f32>(b2, b3, 0, 4, 1, 5), v128.shuffle<f32>(b2, b3, 2, 6, 3, 7));
    sb = f32x4.add(v128.shuffle<f32>(sb, t, 0, 1, 4, 5), v128.shuffle<f32>(sb, t, 2, 3, 6, 7));
    for (; i < n; i++) {
      const off = <usize>i << 2;
      let kv = f32x4.splat(load<f32>(k + off));
      kv = f32x4.replace_lane(kv, 1, load<f32>(k1 + off));
      kv = f32x4.replace_lane(kv, 2, load<f32>(k2 + off));
      kv = f32x4.replace_lane(kv, 3, load<f32>(k3 + off));
      sa = f32x4.add(sa, f32x4.mul(v128.load32_splat(q0 + off), kv));
      sb = f32x4.add(sb, f32x4.mul(v128.load32_splat(q1 + off), kv));
    }
    v128.store(dst0 + (<usize>j << 2), f32x4.mul(sa, sc));
    v128.store(dst1 + (<usize>j << 2), f32x4.mul(sb, sc));
    k = k3 + kvRow;
  }
  for (; j < cnt; j++) {
    store<f32>(dst0 + (<usize>j << 2), tileScore1(q0, k, n, scale));
    store<f32>(dst1 + (<usize>j << 2), tileScore1(q1, k, n, scale));
    k += kvRow;
  }
}

// weightedSum for two heads over the same rows (op0 with pr0, op1 with pr1): 16 dims of both at a time, each
// V load shared; every dim's sum the same operations in the same order as weightedSum's (the dims past the last
// 16 by weightedSum itself).
function weightedSum2(op0: usize, op1: usize, vbase: usize, kvRow: usize, pr0: usize, pr1: usize, cnt: i32, headDim: i32, init: bool): void {
  let d = 0;
  for (; d + 16 <= headDim; d += 16) {
    const o0 = op0 + (<usize>d << 2), o1 = op1 + (<usize>d << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    if (!init) {
      a0 = v128.load(o0, 0);
      a1 = v128.load(o0, 16);
      a2 = v128.load(o0, 32);
      a3 = v128.load(o0, 48);
      b0 = v128.load(o1, 0);
      b1 = v128.load(o1, 16);
      b2 = v128.load(o1, 32);
      b3 = v128.load(o1, 48);
    }
    let vp = vbase + (<usize>d << 2);
    for (let j = 0; j < cnt; j++) {
      const pa = v128.load32_splat(pr0 + (<usize>j << 2)), pb = v128.load32_splat(pr1 + (<usize>j << 2));
      let v = v128.load(vp, 0);
      a0 = f32x4.add(a0, f32x4.mul(pa, v));
      b0 = f32x4.add(b0, f32x4.mul(pb, v));
      v = v128.load(vp, 16);
      a1 = f32x4.add(a1, f32x4.mul(pa, v));
      b1 = f32x4.add(b1, f32x4.mul(pb, v));
      v = v128.load(vp, 32);
      a2 = f32x4.add(a2, f32x4.mul(pa, v));
      b2 = f32x4.add(b2, f32x4.mul(pb, v));
      v = v128.load(vp, 48);
      a3 = f32x4.add(a3, f32x4.mul(pa, v));
      b3 = f32x4.add(b3, f32x4.mul(pb, v));
      vp += kvRow;
    }
    v128.store(o0, a0, 0);
    v128.store(o0, a1, 16);
    v128.store(o0, a2, 32);
    v128.store(o0, a3, 48);
    v128.store(o1, b0, 0);
    v128.store(o1, b1, 16);
    v128.store(o1, b2, 32);
    v128.store(o1, b3, 48);
  }
  if (d < headDim) {
    const off = <usize>d << 2;
    weightedSum(op0 + off, vbase + off, kvRow, pr0, cnt, headDim - d, init);
    weightedSum(op1 + off, vbase + off, kvRow, pr1, cnt, headDim - d, init);
  }
}

// op[d] (+)= Σ_{j < cnt} pr[j] · V[j][d] for d < headDim, V rows kvRow bytes apart from vbase; every
// dim's sum in order of j, one f32 mul and add per term (32 dims at a time: eight independent sums
// hide the add latency). init: start from 0, else continue the sums already in op (the same f32
// additions in the same order as one pass over all rows: a ring's two segments give the linear cache's bits).
function weightedSum(op: usize, vbase: usize, kvRow: usize, pr: usize, cnt: i32, headDim: i32, init: bool): void {
  let d = 0;
  for (; d + 32 <= headDim; d += 32) {
    const o = op + (<usize>d << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
    if (!init) {
      a0 = v128.load(o, 0);
      a1 = v128.load(o, 16);
      a2 = v128.load(o, 32);
      a3 = v128.load(o, 48);
      a4 = v128.load(o, 64);
      a5 = v128.load(o, 80);
      a6 = v128.load(o, 96);
      a7 = v128.load(o, 112);
    }
    let vp = vbase + (<usize>d << 2);
    for (let j = 0; j < cnt; j++) {
      const pj = v128.load32_splat(pr + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(vp, 0)));
      a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(vp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(vp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(vp, 48)));
      a4 = f32x4.add(a4, f32x4.mul(pj, v128.load(vp, 64)));
      a5 = f32x4.add(a5, f32x4.mul(pj, v128.load(vp, 80)));
      a6 = f32x4.add(a6, f32x4.mul(pj, v128.load(vp, 96)));
      a7 = f32x4.add(a7, f32x4.mul(pj, v128.load(vp, 112)));
      vp += kvRow;
    }
    v128.store(o, a0, 0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
    v128.store(o, a4, 64);
    v128.store(o, a5, 80);
    v128.store(o, a6, 96);
    v128.store(o, a7, 112);
  }
  for (; d + 16 <= headDim; d += 16) {
    const o = op + (<usize>d << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    if (!init) {
      a0 = v128.load(o, 0);
      a1 = v128.load(o, 16);
      a2 = v128.load(o, 32);
      a3 = v128.load(o, 48);
    }
    let vp = vbase + (<usize>d << 2);
    for (let j = 0; j < cnt; j++) {
      const pj = v128.load32_splat(pr + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(vp, 0)));
      a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(vp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(vp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(vp, 48)));
      vp += kvRow;
    }
    v128.store(o, a0, 0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
  }
  for (; d + 4 <= headDim; d += 4) {
    const o = op + (<usize>d << 2);
    let a0 = init ? f32x4.splat(0) : v128.load(o);
    let vp = vbase + (<usize>d << 2);
    for (let j = 0; j < cnt; j++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(pr + (<usize>j << 2)), v128.load(vp)));
      vp += kvRow;
    }
    v128.store(o, a0);
  }
  for (; d < headDim; d++) {
    const o = op + (<usize>d << 2);
    let a: f32 = init ? <f32>0 : load<f32>(o);
    let vp = vbase + (<usize>d << 2);
    for (let j = 0; j < cnt; j++) {
      a += load<f32>(pr + (<usize>j << 2)) * load<f32>(vp);
      vp += kvRow;
    }
    store<f32>(o, a);
  }
}

/**
 * q rows [nTok][nHead·headDim]; kc/vc cache rows [nKvHead·headDim]. Query t (position p = pos0+t), head h
 * uses kv head h / (nHead/nKvHead) and keys j ≤ p, and j > p − window when window > 0 (masked keys are
 * not read). ring == 0: position j is in cache row j; ring > 0: in row j % ring (the caller keeps the
 * window within the ring). maxBias > 0: ALiBi, score_j += slope_h · (j − p) (a NaN or ≤ 0 maxBias is off).
 * cap > 0: each scaled score s becomes cap · tanh(s / cap) (OP_SOFTCAP's kernel) before ALiBi and softmax
 * (Gemma 2; 0 or NaN, as when a direct call from JS leaves it out, is off).
 * scratch: at least min(pos0+nTok, window or ∞) floats. out rows like q (out may equal q).
 * kvType: the cache's element type (GGML_F32, GGML_F16, GGML_Q8_0; rows as kv.ts stores them); a typed
 * cache is dequantized TILE rows of a KV head at a time into the scratch after the scores, once for the
 * heads that share it, and the f32 kernels run on those tiles: the result is the f32 cache's for the
 * dequantized values, bit for bit (the scratch it needs: src/abi.ts ATTENTION_KV_TYPE).
 */
export function attention(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                          nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32,
                          maxBias: f32, ring: i32, kvType: i32, cap: f32): void {
  attention_part(q, kc, vc, out, nTok, pos0, nHead, nKvHead, headDim, scale, scratch, window, maxBias, ring, kvType, cap, 0, nTok * nHead);
}

// The fused path (long contexts with grouped-query attention): the heads that share a KV head go over
// the cache together, a tile of TILE keys at a time, so that each K and V row comes from memory once per
// FUSE_HEADS heads instead of once per head (the tile stays in L1 between them); a one-pass softmax
// (running max and sum per head, the partial output rescaled when the max grows). It needs
// FUSE_HEADS·(headDim + TILE + 2) floats of scratch, below the len floats a unit is given once len is
// long enough; shorter contexts, whose cache the per-head path reads from cache anyway, keep it.
const TILE = abi.ATTN_TILE;
const FUSE_HEADS = abi.ATTN_FUSE_HEADS;
const FUSE_MIN_LEN = abi.ATTN_FUSE_MIN_LEN;

/** Queries that go over the cache together on the fused path (a query tile; fewer where the scratch is short). */
const QUERY_TILE = 4;

/**
 * attention for the units u0 <= u < u1 only (of nTok·nHead): threads take ranges of units. Units go by KV head,
 * then token, then head within the KV head's group: unit u is KV head g = u / (nTok·group), token t, head
 * g·group + i, so a range aligned to the group (ALIGN) holds whole groups of heads, token after token. Each
 * head's result comes from the same operations whatever the split: the path (per head, or fused) depends only
 * on the context length and the shapes, and a fused pass over fewer heads (a range that cuts a block of heads)
 * or fewer queries (a query tile cut short) does for each the same as over all. A unit reads its q slice
 * before writing its out slice, so out may equal q.
 */
export function attention_part(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                               nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32,
                               maxBias: f32, ring: i32, kvType: i32, cap: f32, u0: i32, u1: i32): void {
  const group = nHead / nKvHead;
  const headBytes = <usize>headDim << 2;
  const qRow = <usize>nHead * headBytes;
  const kvRow = kv_row_bytes(kvType, nKvHead, headDim);
  const typed = kvType != GGML_F32;
  const alibi = maxBias > 0;
  const end = min<i32>(u1, nTok * nHead);
  const fuse = min<i32>(group, FUSE_HEADS);
  const perHead = headDim + TILE + 2; // floats of scratch per (query, head) on the fused path
  const fuseLen = max<i32>(FUSE_MIN_LEN, fuse * perHead);
  const perKv = nTok * group;
  let u = u0;
  while (u < end) {
    const g = u / perKv;
    const r = u - g * perKv;
    const t = r / group;
    const inGroup = r - t * group;
    const h = g * group + inGroup;
    const p = pos0 + t;
    let j0 = 0;
    if (window > 0 && p - window + 1 > 0) j0 = p - window + 1;
    const len = p - j0 + 1;
    const row0 = ring > 0 ? j0 % ring : j0;
    const kvOff = <usize>g * kvHeadBytes(kvType, headDim);
    // this head's block: FUSE_HEADS heads from the start of its group, cut at the group's end and at u1 (the
    // heads that go over the cache together: the fused path, and the per-head path over a typed cache)
    const blockEnd = min<i32>(h - inGroup % fuse + fuse, h - inGroup + group);
    const nh = min<i32>(blockEnd - h, end - u);
    if (group > 1 && len >= fuseLen) {
      // a query tile: the next tokens' units of the same whole group follow (a group is one block), all from key 0
      // without a wrap, as many as the scratch holds
      let nq = 1;
      if (nh == group && j0 == 0) {
        const avail = typed ? max<i32>(len, FUSE_HEADS * fuseLen) : len;
        const most = min<i32>(QUERY_TILE, avail / (group * perHead));
        while (nq < most && t + nq < nTok && u + (nq + 1) * group <= end && (window <= 0 || p + nq - window + 1 <= 0) &&
               (ring <= 0 || p + nq < ring)) nq++;
      }
      if (nq > 1) {
        const lenLast = len + nq - 1;
        const tiles = typed ? scratch + ((<usize>max<i32>(lenLast, nq * group * perHead) << 2) + 15 & ~15) : 0;
        attendFusedQueries(q + <usize>t * qRow + <usize>h * headBytes, kc + kvOff, vc + kvOff, out + <usize>t * qRow + <usize>h * headBytes,
                           qRow, nq, h, nh, nHead, headDim, kvRow, scale, scratch, p, maxBias, kvType, tiles, cap);
        u += nq * group;
        continue;
      }
      // one token (decode): the next KV heads' whole groups follow; they go over the cache together, tile by
      // tile (each tile's rows of every KV head read one after the other), as many as the scratch holds
      let ng = 1;
      if (nh == group && nTok == 1) {
        const avail = typed ? max<i32>(len, FUSE_HEADS * fuseLen) : len;
        const most = avail / (group * perHead);
        while (ng < most && u + (ng + 1) * group <= end) ng++;
      }
      // a typed cache's dequantized tiles: after the scratch the fused path uses (16-byte aligned)
      const tiles = typed ? scratch + ((<usize>max<i32>(len, ng * nh * perHead) << 2) + 15 & ~15) : 0;
      attendFused(q + <usize>t * qRow + <usize>h * headBytes, kc + kvOff, vc + kvOff, out + <usize>t * qRow + <usize>h * headBytes,
                  h, nh, ng, nHead, headDim, kvRow, scale, scratch, j0, len, p, row0, ring, maxBias, kvType, tiles, cap);
      u += ng * nh;
      continue;
    }
    const qp = q + <usize>t * qRow + <usize>h * headBytes;
    const op = out + <usize>t * qRow + <usize>h * headBytes;
    if (typed) {
      // the block's nh·len scores, then the tiles
      const tiles = scratch + ((<usize>(nh * len) << 2) + 15 & ~15);
      attendTyped(qp, kc + kvOff, vc + kvOff, op, h, nh, nHead, headDim, kvRow, scale, scratch, j0, len, p, row0, ring, maxBias, kvType, tiles, cap);
      u += nh;
      continue;
    }
    // scores, over contiguous runs of cache rows (one run without a ring)
    let j = 0, row = row0;
    while (j < len) {
      const cnt = ring > 0 ? min<i32>(len - j, ring - row) : len;
      scoreRun(qp, kc + <usize>row * kvRow + kvOff, kvRow, cnt, headDim, scale, scratch + (<usize>j << 2));
      j += cnt;
      row = 0;
    }
    if (cap > 0) softcap(scratch, scratch, len, cap);
    if (alibi) addAlibi(scratch, len, alibi_slope(h, nHead, maxBias), j0 - p);
    softmax(scratch, len);
    // out = Σ p_j v_j
    j = 0;
    row = row0;
    while (j < len) {
      const cnt = ring > 0 ? min<i32>(len - j, ring - row) : len;
      weightedSum(op, vc + <usize>row * kvRow + kvOff, kvRow, scratch + (<usize>j << 2), cnt, headDim, j == 0);
      j += cnt;
      row = 0;
    }
    u++;
  }
}

/**
 * The per-head path over a typed cache, for heads h .. h+nh−1 of one query (one KV head, whose K and V start
 * at kh / vh; the heads' q and out slices follow each other from qh / oh) at position p over keys
 * j0 .. j0+len−1 from cache row row0: a tile of TILE rows of K dequantized at `tiles` once for all nh heads,
 * their scores (head i's at scratch + i·len floats); softmax per head; then tiles of V and each head's
 * weighted sums (continued from tile to tile: the same sums as one pass). Every head's result is the f32
 * per-head path's over the dequantized cache. All q slices are read before any out slice is written.
 */
function attendTyped(qh: usize, kh: usize, vh: usize, oh: usize, h: i32, nh: i32, nHead: i32, headDim: i32, kvRow: usize,
                     scale: f32, scratch: usize, j0: i32, len: i32, p: i32, row0: i32, ring: i32, maxBias: f32,
                     kvType: i32, tiles: usize, cap: f32): void {
  const headBytes = <usize>headDim << 2;
  const lenBytes = <usize>len << 2;
  for (let j = 0; j < len; j += TILE) {
    const n = min<i32>(TILE, len - j);
    dequantHeads(kvType, kh, kvRow, row0 + j, n, ring, headDim, tiles);
    for (let i = 0; i < nh; i++) {
      scoreRun(qh + <usize>i * headBytes, tiles, headBytes, n, headDim, scale, scratch + <usize>i * lenBytes + (<usize>j << 2));
    }
  }
  for (let i = 0; i < nh; i++) {
    const sp = scratch + <usize>i * lenBytes;
    if (cap > 0) softcap(sp, sp, len, cap);
    if (maxBias > 0) addAlibi(sp, len, alibi_slope(h + i, nHead, maxBias), j0 - p);
    softmax(sp, len);
  }
  for (let j = 0; j < len; j += TILE) {
    const n = min<i32>(TILE, len - j);
    dequantHeads(kvType, vh, kvRow, row0 + j, n, ring, headDim, tiles);
    for (let i = 0; i < nh; i++) {
      weightedSum(oh + <usize>i * headBytes, tiles, headBytes, scratch + <usize>i * lenBytes + (<usize>j << 2), n, headDim, j == 0);
    }
  }
}

// x[i] += slope · (d0 + i) for i < n (ALiBi: d0 + i = key position − query position)
function addAlibi(x: usize, n: i32, slope: f32, d0: i32): void {
  for (let i = 0; i < n; i++) {
    const sp = x + (<usize>i << 2);
    store<f32>(sp, load<f32>(sp) + slope * <f32>(d0 + i));
  }
}

/**
 * The fused path for heads h0 .. h0+ng·nh−1: ng KV heads (from the one whose K and V start at kh / vh; nh heads
 * each, whole groups when ng > 1) of one query at position p over keys j0 .. j0+len−1 (cache rows from row0,
 * wrapping at ring when ring > 0): tiles of TILE keys in order of position, for each KV head's tile, for each
 * of its heads: scores, running max m and sum l (the output so far rescaled by exp(m_old − m) when m grows),
 * then out += Σ exp(s − m) v; at the end out /= l. Each head's operations are the same whatever ng is (the
 * KV heads only take turns tile by tile, so that the cache is read row block after row block). qh/oh: the q
 * and out slices of head h0 (the heads follow each other). scratch: the q slices (copied first, as out may
 * equal q), then ng·nh tiles of scores, then (m, l) per head. A typed cache (kvType): each tile's K and V rows
 * of a KV head are dequantized once for its nh heads, at `tiles`.
 */
function attendFused(qh: usize, kh: usize, vh: usize, oh: usize, h0: i32, nh: i32, ng: i32, nHead: i32, headDim: i32,
                     kvRow: usize, scale: f32, scratch: usize, j0: i32, len: i32, p: i32, row0: i32, ring: i32,
                     maxBias: f32, kvType: i32, tiles: usize, cap: f32): void {
  const headBytes = <usize>headDim << 2;
  const kvHead = kvHeadBytes(kvType, headDim);
  const nAll = ng * nh;
  const qs = scratch;
  const ss = qs + <usize>nAll * headBytes;
  const ml = ss + (<usize>(nAll * TILE) << 2);
  memory.copy(qs, qh, <usize>nAll * headBytes);
  for (let jt = 0; jt < len; jt += TILE) {
    const n = min<i32>(TILE, len - jt);
    // the tile's rows: n1 from r0 on, then (a ring that wraps) n − n1 from row 0
    const r0 = ring > 0 ? (row0 + jt) % ring : row0 + jt;
    for (let g = 0; g < ng; g++) {
      const kg = kh + <usize>g * kvHead, vg = vh + <usize>g * kvHead;
      let n1 = ring > 0 ? min<i32>(n, ring - r0) : n;
      let kt = kg + <usize>r0 * kvRow, vt = vg + <usize>r0 * kvRow, tRow = kvRow;
      if (kvType == GGML_F32) {
        // the tile's lines requested all at once (as dequantHeads does for a typed cache), stored in a score written next
        const x = touchRows(kg, kvRow, r0, n, ring, headBytes) | touchRows(vg, kvRow, r0, n, ring, headBytes);
        store<u32>(ss + (<usize>(g * nh * TILE) << 2), x);
      } else {
        kt = tiles;
        vt = tiles + <usize>TILE * headBytes;
        tRow = headBytes;
        n1 = n;
        dequantHeads(kvType, kg, kvRow, r0, n, ring, headDim, kt);
        dequantHeads(kvType, vg, kvRow, r0, n, ring, headDim, vt);
      }
      // the heads two at a time (each K and V load serves both), the last alone when nh is odd
      for (let k = 0; k < nh; k += 2) {
        const i = g * nh + k;
        const two = k + 1 < nh;
        const qp = qs + <usize>i * headBytes;
        const sp = ss + (<usize>(i * TILE) << 2);
        const op = oh + <usize>i * headBytes;
        const mp = ml + (<usize>i << 3);
        if (two) {
          const sp1 = sp + (<usize>TILE << 2), op1 = op + headBytes;
          tileScoreRun2(qp, qp + headBytes, kt, tRow, n1, headDim, scale, sp, sp1);
          if (n1 < n) tileScoreRun2(qp, qp + headBytes, kg, kvRow, n - n1, headDim, scale, sp + (<usize>n1 << 2), sp1 + (<usize>n1 << 2));
          softmaxStep(sp, n, mp, op, headDim, jt, j0 + jt - p, h0 + i, nHead, maxBias, cap);
          softmaxStep(sp1, n, mp + 8, op1, headDim, jt, j0 + jt - p, h0 + i + 1, nHead, maxBias, cap);
          weightedSum2(op, op1, vt, tRow, sp, sp1, n1, headDim, jt == 0);
          if (n1 < n) weightedSum2(op, op1, vg, kvRow, sp + (<usize>n1 << 2), sp1 + (<usize>n1 << 2), n - n1, headDim, false);
        } else {
          tileScoreRun(qp, kt, tRow, n1, headDim, scale, sp);
          if (n1 < n) tileScoreRun(qp, kg, kvRow, n - n1, headDim, scale, sp + (<usize>n1 << 2));
          softmaxStep(sp, n, mp, op, headDim, jt, j0 + jt - p, h0 + i, nHead, maxBias, cap);
          weightedSum(op, vt, tRow, sp, n1, headDim, jt == 0);
          if (n1 < n) weightedSum(op, vg, kvRow, sp + (<usize>n1 << 2), n - n1, headDim, false);
        }
      }
    }
  }
  for (let i = 0; i < nAll; i++) scaleBy(oh + <usize>i * headBytes, headDim, <f32>1.0 / load<f32>(ml + (<usize>i << 3), 4));
}

// A head's tile of n scores at sp (keys from d0 = key position − query position on): soft-capping, ALiBi, then
// the online softmax's step (jt: the tile's first key, 0 for the first tile).
// @ts-ignore: decorator
@inline function softmaxStep(sp: usize, n: i32, mp: usize, op: usize, headDim: i32, jt: i32, d0: i32, h: i32, nHead: i32,
                             maxBias: f32, cap: f32): void {
  if (cap > 0) softcap(sp, sp, n, cap);
  if (maxBias > 0) addAlibi(sp, n, alibi_slope(h, nHead, maxBias), d0);
  onlineSoftmax(sp, n, mp, op, headDim, jt == 0);
}

/**
 * The online softmax's step for one tile of n scores at sp (exponentiated in place): the running max and sum
 * (m, l) at mp updated, the output row op (headDim floats) rescaled when the max grows; the caller then adds
 * the tile's weighted values. first: the first tile (m and l start here, op is not read).
 */
@inline function onlineSoftmax(sp: usize, n: i32, mp: usize, op: usize, headDim: i32, first: bool): void {
  const mt = maxOf(sp, n);
  const mOld = first ? mt : load<f32>(mp);
  const m = max<f32>(mOld, mt);
  const sum = expSum(sp, n, m);
  let l = sum;
  if (!first) {
    l = load<f32>(mp, 4);
    if (m > mOld) {
      const c = expf(mOld - m);
      scaleBy(op, headDim, c);
      l *= c;
    }
    l += sum;
  }
  store<f32>(mp, m);
  store<f32>(mp, l, 4);
}

/**
 * The fused path for nq consecutive queries (positions p, p+1, ..., all from key 0, rows not wrapping), each
 * with heads h0 .. h0+nh−1 of one KV head: every tile of K and V rows (dequantized once for all of them, for a
 * typed cache) serves nq·nh (query, head) pairs instead of nh. For each pair the operations are attendFused's
 * for that query alone (the same tiles of TILE keys from key 0; the last, shorter tiles cut at its own length),
 * so its bits are the single query's. qh/oh: the q and out slices of the first query's head h0 (the next
 * query's qRow bytes further). scratch: every pair's q slice (copied first: out may equal q), then nq·nh tiles
 * of scores, then (m, l) per pair.
 */
function attendFusedQueries(qh: usize, kh: usize, vh: usize, oh: usize, qRow: usize, nq: i32, h0: i32, nh: i32, nHead: i32,
                            headDim: i32, kvRow: usize, scale: f32, scratch: usize, p: i32, maxBias: f32, kvType: i32,
                            tiles: usize, cap: f32): void {
  const headBytes = <usize>headDim << 2;
  const np = nq * nh;
  const qs = scratch;
  const ss = qs + <usize>np * headBytes;
  const ml = ss + (<usize>(np * TILE) << 2);
  for (let k = 0; k < nq; k++) memory.copy(qs + <usize>(k * nh) * headBytes, qh + <usize>k * qRow, <usize>nh * headBytes);
  const lenLast = p + nq; // keys of the last query
  for (let jt = 0; jt < lenLast; jt += TILE) {
    const nAll = min<i32>(TILE, lenLast - jt);
    let kt = kh + <usize>jt * kvRow, vt = vh + <usize>jt * kvRow, tRow = kvRow;
    if (kvType != GGML_F32) {
      kt = tiles;
      vt = tiles + <usize>TILE * headBytes;
      tRow = headBytes;
      dequantHeads(kvType, kh, kvRow, jt, nAll, 0, headDim, kt);
      dequantHeads(kvType, vh, kvRow, jt, nAll, 0, headDim, vt);
    }
    for (let k = 0; k < nq; k++) {
      const n = min<i32>(TILE, p + k + 1 - jt); // this query's keys in the tile
      if (n <= 0) continue;
      const first = jt == 0;
      for (let i = 0; i < nh; i++) {
        const pair = k * nh + i;
        const sp = ss + (<usize>(pair * TILE) << 2);
        const op = oh + <usize>k * qRow + <usize>i * headBytes;
        const mp = ml + (<usize>pair << 3);
        tileScoreRun(qs + <usize>pair * headBytes, kt, tRow, n, headDim, scale, sp);
        if (cap > 0) softcap(sp, sp, n, cap);
        if (maxBias > 0) addAlibi(sp, n, alibi_slope(h0 + i, nHead, maxBias), jt - (p + k));
        onlineSoftmax(sp, n, mp, op, headDim, first);
        weightedSum(op, vt, tRow, sp, n, headDim, first);
      }
    }
  }
  for (let k = 0; k < nq; k++) {
    for (let i = 0; i < nh; i++) scaleBy(oh + <usize>k * qRow + <usize>i * headBytes, headDim, <f32>1.0 / load<f32>(ml + (<usize>(k * nh + i) << 3), 4));
  }
}

export function attention_ref(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                              nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32,
                              maxBias: f32, ring: i32, kvType: i32, cap: f32): void {
  const group = nHead / nKvHead;
  const qRow = nHead * headDim;
  const kvRow = kv_row_bytes(kvType, nKvHead, headDim), kvHead = kvHeadBytes(kvType, headDim);
  for (let t = 0; t < nTok; t++) {
    const p = pos0 + t;
    let j0 = 0;
    if (window > 0 && p - window + 1 > 0) j0 = p - window + 1;
    const len = p - j0 + 1;
    for (let h = 0; h < nHead; h++) {
      const kh = h / group;
      const slope: f32 = maxBias > 0 ? alibi_slope(h, nHead, maxBias) : 0;
      const qp = q + (<usize>(t * qRow + h * headDim) << 2);
      for (let j = 0; j < len; j++) {
        const pos = j0 + j;
        const r = ring > 0 ? pos % ring : pos;
        const kp = kc + <usize>r * kvRow + <usize>kh * kvHead;
        let s: f32 = 0;
        for (let d = 0; d < headDim; d++) s += load<f32>(qp + (<usize>d << 2)) * kvAt(kvType, kp, d);
        s *= scale;
        if (cap > 0) s = tanhf(s / cap) * cap;
        if (maxBias > 0) s += slope * <f32>(pos - p);
        store<f32>(scratch + (<usize>j << 2), s);
      }
      softmax_ref(scratch, len);
      const op = out + (<usize>(t * qRow + h * headDim) << 2);
      for (let d = 0; d < headDim; d++) {
        let a: f32 = 0;
        for (let j = 0; j < len; j++) {
          const pos = j0 + j;
          const r = ring > 0 ? pos % ring : pos;
          a += load<f32>(scratch + (<usize>j << 2)) * kvAt(kvType, vc + <usize>r * kvRow + <usize>kh * kvHead, d);
        }
        store<f32>(op + (<usize>d << 2), a);
      }
    }
  }
}

// ---- entry for the scheduler (see entry.ts): units are (KV head, token, head in its group), chunks a whole group;
// own copy of the scratch

export function attention_info(q: i32, op: usize): i64 {
  const nTok = arg(op, abi.ATTENTION_N_TOK), nHead = arg(op, abi.ATTENTION_N_HEAD);
  const headDim = arg(op, abi.ATTENTION_HEAD_DIM);
  if (q == UNITS) return nTok * nHead;
  if (q == WORK) return ALWAYS_SPLIT;
  if (q == UNEVEN) return 1;
  if (q == WRITES) return region(ptr(op, abi.ATTENTION_OUT), rowsBytes(nHead * headDim, nTok));
  if (q == READS) return region(ptr(op, abi.ATTENTION_Q), rowsBytes(nHead * headDim, nTok));
  if (q == READS + 1 || q == READS + 2) {
    // cache rows 0 .. pos0 + nTok (a ring: all of it)
    const ring = arg(op, abi.ATTENTION_RING);
    const rows = ring > 0 ? ring : arg(op, abi.ATTENTION_POS0) + nTok;
    const bytes = <usize>max<i32>(rows, 0) * kv_row_bytes(arg(op, abi.ATTENTION_KV_TYPE), arg(op, abi.ATTENTION_N_KV_HEAD), headDim);
    return region(ptr(op, q == READS + 1 ? abi.ATTENTION_KC : abi.ATTENTION_VC), bytes);
  }
  return q == ALIGN ? nHead / arg(op, abi.ATTENTION_N_KV_HEAD) : 0;
}

export function attention_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  attention_part(ptr(op, abi.ATTENTION_Q), ptr(op, abi.ATTENTION_KC), ptr(op, abi.ATTENTION_VC), ptr(op, abi.ATTENTION_OUT),
                 arg(op, abi.ATTENTION_N_TOK), arg(op, abi.ATTENTION_POS0), arg(op, abi.ATTENTION_N_HEAD),
                 arg(op, abi.ATTENTION_N_KV_HEAD), arg(op, abi.ATTENTION_HEAD_DIM), argf(op, abi.ATTENTION_SCALE),
                 ptr(op, abi.ATTENTION_SCRATCH) + scratch, arg(op, abi.ATTENTION_WINDOW), argf(op, abi.ATTENTION_MAX_BIAS),
                 arg(op, abi.ATTENTION_RING), arg(op, abi.ATTENTION_KV_TYPE), argf(op, abi.ATTENTION_SOFTCAP), lo, hi);
}
