// Q4_K (144 B per 256: d, dmin, scales[12], qs[128]) and Q5_K (176 B: d, dmin, scales[12], qh[32], qs[128]):
// eight 32-value groups with 6-bit scales and mins; ggml's quantize_row_q4_K_ref / q5_K_ref, one block at a
// time (x: 256 f32, y: the block, s: the thread's scratch).
import { f2h, h2f } from "../ops/f16";
import { F01, S_L, S_MINS, S_SCALES, S_W8, makeQkx2Quants4, nearestInt } from "./common";

/** 6-bit scale (scaleK4) and min (minK4) number j of the 12-byte scale block at q. */
// @ts-ignore: decorator
@inline function scaleK4(j: i32, q: usize): i32 {
  return j < 4 ? load<u8>(q + j) & 63 : (load<u8>(q + j + 4) & 0xf) | ((load<u8>(q + j - 4) >> 6) << 4);
}
// @ts-ignore: decorator
@inline function minK4(j: i32, q: usize): i32 {
  return j < 4 ? load<u8>(q + j + 4) & 63 : (load<u8>(q + j + 4) >> 4) | ((load<u8>(q + j) >> 6) << 4);
}

/** The part Q4_K and Q5_K share: per-group fits, the packed scales, d and dmin, then the levels (0..nmax) at s + S_L. */
function quantizeBlockK4(x: usize, nmax: i32, rmin: f32, nstep: i32, y: usize, s: usize): void {
  const L = s + S_L;
  const w = s + S_W8;
  const scales = s + S_SCALES;
  const mins = s + S_MINS;
  for (let j = 0; j < 8; j++) {
    const xo = x + (<usize>(32 * j) << 2);
    const wo = w + (<usize>(32 * j) << 2);
    let sumX2: f32 = 0;
    for (let l = 0; l < 32; l++) {
      const v = load<f32>(xo + (<usize>l << 2));
      sumX2 = sumX2 + v * v;
    }
    const avX = Mathf.sqrt(sumX2 / <f32>32);
    for (let l = 0; l < 32; l++) store<f32>(wo + (<usize>l << 2), avX + Mathf.abs(load<f32>(xo + (<usize>l << 2))));
  }
  // the eight groups' fits, four at a time
  makeQkx2Quants4(32, nmax, x, w, L, rmin, F01, nstep, false, scales, mins, s);
  makeQkx2Quants4(32, nmax, x + 512, w + 512, L + 128, rmin, F01, nstep, false, scales + 16, mins + 16, s);
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < 8; j++) {
    const sc = load<f32>(scales + (<usize>j << 2));
    const mn = load<f32>(mins + (<usize>j << 2));
    if (sc > maxScale) maxScale = sc;
    if (mn > maxMin) maxMin = mn;
  }
  const invScale: f32 = maxScale > 0 ? <f32>63 / maxScale : 0;
  const invMin: f32 = maxMin > 0 ? <f32>63 / maxMin : 0;
  const q = y + 4;
  for (let j = 0; j < 8; j++) {
    const ls = min<i32>(63, nearestInt(invScale * load<f32>(scales + (<usize>j << 2))) & 0xff);
    const lm = min<i32>(63, nearestInt(invMin * load<f32>(mins + (<usize>j << 2))) & 0xff);
    if (j < 4) {
      store<u8>(q + j, <u8>ls);
      store<u8>(q + j + 4, <u8>lm);
    } else {
      store<u8>(q + j + 4, <u8>((ls & 0xf) | ((lm & 0xf) << 4)));
      store<u8>(q + j - 4, load<u8>(q + j - 4) | <u8>((ls >> 4) << 6));
      store<u8>(q + j, load<u8>(q + j) | <u8>((lm >> 4) << 6));
    }
  }
  store<u16>(y, <u16>f2h(maxScale / <f32>63));
  store<u16>(y + 2, <u16>f2h(maxMin / <f32>63));
  const dAll = h2f(load<u16>(y));
  const mAll = h2f(load<u16>(y + 2));
  for (let j = 0; j < 8; j++) {
    const d = dAll * <f32>scaleK4(j, q);
    if (d == 0) continue;
    const dm = mAll * <f32>minK4(j, q);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt((load<f32>(x + (<usize>(32 * j + ii) << 2)) + dm) / d);
      store<u8>(L + 32 * j + ii, <u8>max<i32>(0, min<i32>(nmax, l)));
    }
  }
}

export function quantizeQ4_K(x: usize, y: usize, s: usize): void {
  memory.fill(y, 0, 16);
  quantizeBlockK4(x, 15, -1, 20, y, s);
  const L = s + S_L;
  let q = y + 16;
  for (let j = 0; j < 256; j += 64) {
    for (let l = 0; l < 32; l++) store<u8>(q + l, load<u8>(L + j + l) | (load<u8>(L + j + l + 32) << 4));
    q += 32;
  }
}

export function quantizeQ5_K(x: usize, y: usize, s: usize): void {
  memory.fill(y, 0, 48);
  quantizeBlockK4(x, 31, -0.5, 15, y, s);
  const L = s + S_L;
  const qh = y + 16;
  let ql = y + 48;
  let m1: u8 = 1;
  let m2: u8 = 2;
  for (let n = 0; n < 256; n += 64) {
    for (let j = 0; j < 32; j++) {
      let l1 = load<u8>(L + n + j);
      if (l1 > 15) {
        l1 -= 16;
        store<u8>(qh + j, load<u8>(qh + j) | m1);
      }
      let l2 = load<u8>(L + n + j + 32);
      if (l2 > 15) {
        l2 -= 16;
        store<u8>(qh + j, load<u8>(qh + j) | m2);
      }
      store<u8>(ql + j, l1 | (l2 << 4));
    }
    m1 <<= 2;
    m2 <<= 2;
    ql += 32;
  }
}
