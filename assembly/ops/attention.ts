// Causal multi-head attention over an f32 KV cache (sliding window, ring cache, ALiBi), and softmax.
import { expf, expf4, exp64 } from "./activations";

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

/** x[0..n) = softmax(x): subtract the max, exp, normalise. */
export function softmax(x: usize, n: i32): void {
  if (n <= 0) return;
  // max
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  let m = hmax4(mv);
  for (; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  // exp and sum
  const msp = f32x4.splat(m);
  let sv = f32x4.splat(0);
  i = 0;
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
  const inv: f32 = <f32>1.0 / sum;
  const iv = f32x4.splat(inv);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    v128.store(p, f32x4.mul(v128.load(p), iv));
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * inv);
  }
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

// dot product of n floats (any n)
// @ts-ignore: decorator
@inline function dotF32(a: usize, b: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const off = <usize>i << 2;
    const pa = a + off, pb = b + off;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(pa, 0), v128.load(pb, 0)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(pa, 16), v128.load(pb, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(pa, 32), v128.load(pb, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(pa, 48), v128.load(pb, 48)));
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  let s = hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < n; i++) {
    const off = <usize>i << 2;
    s += load<f32>(a + off) * load<f32>(b + off);
  }
  return s;
}

// op[d] (+)= Σ_{j < cnt} pr[j] · V[j][d] for d < headDim, V rows kvRow bytes apart from vbase; j inner,
// 16 dims at a time. init: start from 0, else continue the sums already in op (the same f32 additions
// in the same order as one pass over all rows: a ring's two segments give the linear cache's bits).
function weightedSum(op: usize, vbase: usize, kvRow: usize, pr: usize, cnt: i32, headDim: i32, init: bool): void {
  let d = 0;
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
 * scratch: at least min(pos0+nTok, window or ∞) floats. out rows like q (out may equal q).
 */
export function attention(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                          nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32,
                          maxBias: f32, ring: i32): void {
  attention_part(q, kc, vc, out, nTok, pos0, nHead, nKvHead, headDim, scale, scratch, window, maxBias, ring, 0, nTok * nHead);
}

/**
 * attention for the units u0 <= u < u1 only (of nTok·nHead), unit u being query token u / nHead, head
 * u % nHead: threads take ranges of units; each (token, head) is computed whole by one thread, with the
 * same operations whatever the split. A unit reads its q slice before writing its out slice, so out may
 * equal q.
 */
export function attention_part(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                               nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32,
                               maxBias: f32, ring: i32, u0: i32, u1: i32): void {
  const group = nHead / nKvHead;
  const headBytes = <usize>headDim << 2;
  const qRow = <usize>nHead * headBytes;
  const kvRow = <usize>nKvHead * headBytes;
  const alibi = maxBias > 0;
  const end = min<i32>(u1, nTok * nHead);
  for (let u = u0; u < end; u++) {
    const t = u / nHead;
    const h = u - t * nHead;
    const p = pos0 + t;
    let j0 = 0;
    if (window > 0 && p - window + 1 > 0) j0 = p - window + 1;
    const len = p - j0 + 1;
    const row0 = ring > 0 ? j0 % ring : j0;
    const kvOff = <usize>(h / group) * headBytes;
    const qp = q + <usize>t * qRow + <usize>h * headBytes;
    // scores, over contiguous runs of cache rows (one run without a ring)
    let j = 0, row = row0;
    while (j < len) {
      const cnt = ring > 0 ? min<i32>(len - j, ring - row) : len;
      let kp = kc + <usize>row * kvRow + kvOff;
      for (let i = 0; i < cnt; i++) {
        store<f32>(scratch + (<usize>(j + i) << 2), dotF32(qp, kp, headDim) * scale);
        kp += kvRow;
      }
      j += cnt;
      row = 0;
    }
    if (alibi) {
      const slope = alibi_slope(h, nHead, maxBias);
      for (let i = 0; i < len; i++) {
        const sp = scratch + (<usize>i << 2);
        store<f32>(sp, load<f32>(sp) + slope * <f32>(j0 + i - p));
      }
    }
    softmax(scratch, len);
    // out = Σ p_j v_j
    const op = out + <usize>t * qRow + <usize>h * headBytes;
    j = 0;
    row = row0;
    while (j < len) {
      const cnt = ring > 0 ? min<i32>(len - j, ring - row) : len;
      weightedSum(op, vc + <usize>row * kvRow + kvOff, kvRow, scratch + (<usize>j << 2), cnt, headDim, j == 0);
      j += cnt;
      row = 0;
    }
  }
}

export function attention_ref(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                              nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32,
                              maxBias: f32, ring: i32): void {
  const group = nHead / nKvHead;
  const qRow = nHead * headDim;
  const kvRow = nKvHead * headDim;
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
        const kp = kc + (<usize>(r * kvRow + kh * headDim) << 2);
        let s: f32 = 0;
        for (let d = 0; d < headDim; d++) s += load<f32>(qp + (<usize>d << 2)) * load<f32>(kp + (<usize>d << 2));
        s *= scale;
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
          a += load<f32>(scratch + (<usize>j << 2)) * load<f32>(vc + (<usize>(r * kvRow + kh * headDim + d) << 2));
        }
        store<f32>(op + (<usize>d << 2), a);
      }
    }
  }
}
