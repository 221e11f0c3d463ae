// Q2_K (84 B per 256: scales[16] (scale | min << 4), qs[64], d, dmin) and Q3_K (110 B: hmask[32], qs[64],
// scales[12] (16 × 6 bits, offset 32), d): ggml's quantize_row_q2_K_ref / q3_K_ref, one block at a time
// (x: 256 f32, y: the block, s: the thread's scratch).
import { f2h, h2f } from "../ops/f16";
import { F01, S_L, S_MINS, S_SCALES, S_W, S_W8, makeQ3Quants, makeQkx2Quants4, nearestInt } from "./common";

export function quantizeQ2_K(x: usize, y: usize, s: usize): void {
  const L = s + S_L;
  const w = s + S_W8;
  const scales = s + S_SCALES;
  const mins = s + S_MINS;
  memory.fill(y, 0, 84);
  for (let i = 0; i < 256; i++) store<f32>(w + (<usize>i << 2), Mathf.abs(load<f32>(x + (<usize>i << 2))));
  // the sixteen groups' fits, four at a time
  for (let j = 0; j < 16; j += 4) {
    const o = <usize>(16 * j);
    makeQkx2Quants4(16, 3, x + (o << 2), w + (o << 2), L + o, -0.5, F01, 15, true, scales + (<usize>j << 2), mins + (<usize>j << 2), s);
  }
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < 16; j++) {
    const sc = load<f32>(scales + (<usize>j << 2));
    const mn = load<f32>(mins + (<usize>j << 2));
    if (sc > maxScale) maxScale = sc;
    if (mn > maxMin) maxMin = mn;
  }
  if (maxScale > 0) {
    const iscale: f32 = <f32>15 / maxScale;
    for (let j = 0; j < 16; j++) store<u8>(y + j, <u8>nearestInt(iscale * load<f32>(scales + (<usize>j << 2))));
    store<u16>(y + 80, <u16>f2h(maxScale / <f32>15));
  }
  if (maxMin > 0) {
    const iscale: f32 = <f32>15 / maxMin;
    for (let j = 0; j < 16; j++) {
      store<u8>(y + j, load<u8>(y + j) | <u8>(nearestInt(iscale * load<f32>(mins + (<usize>j << 2))) << 4));
    }
    store<u16>(y + 82, <u16>f2h(maxMin / <f32>15));
  }
  const dAll = h2f(load<u16>(y + 80));
  const mAll = h2f(load<u16>(y + 82));
  for (let j = 0; j < 16; j++) {
    const sm = load<u8>(y + j);
    const d = dAll * <f32>(sm & 0xf);
    if (d == 0) continue;
    const dm = mAll * <f32>(sm >> 4);
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt((load<f32>(x + (<usize>(16 * j + ii) << 2)) + dm) / d);
      store<u8>(L + 16 * j + ii, <u8>max<i32>(0, min<i32>(3, l)));
    }
  }
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      store<u8>(y + 16 + (j >> 2) + l, load<u8>(L + j + l) | (load<u8>(L + j + l + 32) << 2) |
        (load<u8>(L + j + l + 64) << 4) | (load<u8>(L + j + l + 96) << 6));
    }
  }
}

export function quantizeQ3_K(x: usize, y: usize, s: usize): void {
  const L = s + S_L;
  const scales = s + S_SCALES;
  const sc = y + 96;
  memory.fill(y, 0, 110);
  let maxScale: f32 = 0;
  let amax: f32 = 0;
  for (let j = 0; j < 16; j++) {
    const v = makeQ3Quants(16, 4, x + (<usize>(16 * j) << 2), L + 16 * j, s + S_W);
    store<f32>(scales + (<usize>j << 2), v);
    const a = Mathf.abs(v);
    if (a > amax) {
      amax = a;
      maxScale = v;
    }
  }
  if (maxScale != 0) {
    const iscale: f32 = <f32>-32 / maxScale;
    for (let j = 0; j < 16; j++) {
      let l = <i32><i8>nearestInt(iscale * load<f32>(scales + (<usize>j << 2))); // int8_t
      l = max<i32>(-32, min<i32>(31, l)) + 32;
      if (j < 8) store<u8>(sc + j, <u8>(l & 0xf));
      else store<u8>(sc + j - 8, load<u8>(sc + j - 8) | <u8>((l & 0xf) << 4));
      l >>= 4;
      store<u8>(sc + (j & 3) + 8, load<u8>(sc + (j & 3) + 8) | <u8>(l << (2 * (j >> 2))));
    }
    store<u16>(y + 108, <u16>f2h(<f32>1 / iscale));
  }
  const dAll = h2f(load<u16>(y + 108));
  for (let j = 0; j < 16; j++) {
    let v = j < 8 ? <i32>load<u8>(sc + j) & 0xf : <i32>load<u8>(sc + j - 8) >> 4;
    v = (v | (((<i32>load<u8>(sc + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
    const d = dAll * <f32>v;
    if (d == 0) continue;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(load<f32>(x + (<usize>(16 * j + ii) << 2)) / d);
      store<i8>(L + 16 * j + ii, <i8>(max<i32>(-4, min<i32>(3, l)) + 4));
    }
  }
  let m = 0;
  let hm: u8 = 1;
  for (let j = 0; j < 256; j++) {
    const l = load<u8>(L + j);
    if (l > 3) {
      store<u8>(y + m, load<u8>(y + m) | hm);
      store<u8>(L + j, l - 4);
    }
    if (++m == 32) {
      m = 0;
      hm <<= 1;
    }
  }
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      store<u8>(y + 32 + (j >> 2) + l, load<u8>(L + j + l) | (load<u8>(L + j + l + 32) << 2) |
        (load<u8>(L + j + l + 64) << 4) | (load<u8>(L + j + l + 96) << 6));
    }
  }
}
