// Causal multi-head attention over an f32 KV cache, and softmax.
import { expf, expf4 } from "./activations";

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

/**
 * q rows [nTok][nHead·headDim]; kc/vc [ctxPos][nKvHead·headDim] holding positions 0 .. pos0+nTok−1.
 * Query t (position p = pos0+t), head h uses kv head h / (nHead/nKvHead); keys j ≤ p, and j > p − window
 * when window > 0. scratch: at least pos0+nTok floats. out rows like q (out may equal q).
 */
export function attention(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                          nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32): void {
  const group = nHead / nKvHead;
  const headBytes = <usize>headDim << 2;
  const qRow = <usize>nHead * headBytes;
  const kvRow = <usize>nKvHead * headBytes;
  for (let t = 0; t < nTok; t++) {
    const p = pos0 + t;
    let j0 = 0;
    if (window > 0 && p - window + 1 > 0) j0 = p - window + 1;
    const len = p - j0 + 1;
    for (let h = 0; h < nHead; h++) {
      const kvOff = <usize>(h / group) * headBytes;
      const qp = q + <usize>t * qRow + <usize>h * headBytes;
      // scores
      let kp = kc + <usize>j0 * kvRow + kvOff;
      for (let j = 0; j < len; j++) {
        store<f32>(scratch + (<usize>j << 2), dotF32(qp, kp, headDim) * scale);
        kp += kvRow;
      }
      softmax(scratch, len);
      // out = Σ p_j v_j, 16 dims at a time with j inner
      const op = out + <usize>t * qRow + <usize>h * headBytes;
      const vbase = vc + <usize>j0 * kvRow + kvOff;
      let d = 0;
      for (; d + 16 <= headDim; d += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let vp = vbase + (<usize>d << 2);
        for (let j = 0; j < len; j++) {
          const pj = v128.load32_splat(scratch + (<usize>j << 2));
          a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(vp, 0)));
          a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(vp, 16)));
          a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(vp, 32)));
          a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(vp, 48)));
          vp += kvRow;
        }
        const o = op + (<usize>d << 2);
        v128.store(o, a0, 0);
        v128.store(o, a1, 16);
        v128.store(o, a2, 32);
        v128.store(o, a3, 48);
      }
      for (; d + 4 <= headDim; d += 4) {
        let a0 = f32x4.splat(0);
        let vp = vbase + (<usize>d << 2);
        for (let j = 0; j < len; j++) {
          a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(scratch + (<usize>j << 2)), v128.load(vp)));
          vp += kvRow;
        }
        v128.store(op + (<usize>d << 2), a0);
      }
      for (; d < headDim; d++) {
        let a: f32 = 0;
        let vp = vbase + (<usize>d << 2);
        for (let j = 0; j < len; j++) {
          a += load<f32>(scratch + (<usize>j << 2)) * load<f32>(vp);
          vp += kvRow;
        }
        store<f32>(op + (<usize>d << 2), a);
      }
    }
  }
}

export function attention_ref(q: usize, kc: usize, vc: usize, out: usize, nTok: i32, pos0: i32, nHead: i32,
                              nKvHead: i32, headDim: i32, scale: f32, scratch: usize, window: i32): void {
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
      const qp = q + (<usize>(t * qRow + h * headDim) << 2);
      for (let j = 0; j < len; j++) {
        const kp = kc + (<usize>((j0 + j) * kvRow + kh * headDim) << 2);
        let s: f32 = 0;
        for (let d = 0; d < headDim; d++) s += load<f32>(qp + (<usize>d << 2)) * load<f32>(kp + (<usize>d << 2));
        store<f32>(scratch + (<usize>j << 2), s * scale);
      }
      softmax_ref(scratch, len);
      const op = out + (<usize>(t * qRow + h * headDim) << 2);
      for (let d = 0; d < headDim; d++) {
        let a: f32 = 0;
        for (let j = 0; j < len; j++) {
          a += load<f32>(scratch + (<usize>j << 2)) * load<f32>(vc + (<usize>((j0 + j) * kvRow + kh * headDim + d) << 2));
        }
        store<f32>(op + (<usize>d << 2), a);
      }
    }
  }
}
