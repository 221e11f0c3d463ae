// Q6_K (210 B per 256: ql[128], qh[64], scales[16] int8, d): ggml's quantize_row_q6_K_ref, one block at a time
// (x: 256 f32, y: the block, s: the thread's scratch).
import { f2h, h2f } from "../ops/f16";
import { GROUP_MAX_EPS, S_L, S_SCALES, makeQxQuants4, nearestInt } from "./common";

export function quantizeQ6_K(x: usize, y: usize, s: usize): void {
  const L = s + S_L;
  const scales = s + S_SCALES;
  memory.fill(y, 0, 210);
  let maxScale: f32 = 0;
  let maxAbsScale: f32 = 0;
  // the sixteen groups' fits, four at a time
  for (let ib = 0; ib < 16; ib += 4) makeQxQuants4(16, 32, x + (<usize>(16 * ib) << 2), L + 16 * ib, scales + (<usize>ib << 2), s);
  for (let ib = 0; ib < 16; ib++) {
    const scale = load<f32>(scales + (<usize>ib << 2));
    const a = Mathf.abs(scale);
    if (a > maxAbsScale) {
      maxAbsScale = a;
      maxScale = scale;
    }
  }
  if (maxAbsScale < GROUP_MAX_EPS) return; // all zero, d = 0
  const iscale: f32 = <f32>-128 / maxScale;
  store<u16>(y + 208, <u16>f2h(<f32>1 / iscale));
  for (let ib = 0; ib < 16; ib++) store<i8>(y + 192 + ib, <i8>min<i32>(127, nearestInt(iscale * load<f32>(scales + (<usize>ib << 2)))));
  const dAll = h2f(load<u16>(y + 208));
  for (let j = 0; j < 16; j++) {
    const d = dAll * <f32>load<i8>(y + 192 + j);
    if (d == 0) continue;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(load<f32>(x + (<usize>(16 * j + ii) << 2)) / d);
      store<u8>(L + 16 * j + ii, <u8>(max<i32>(-32, min<i32>(31, l)) + 32));
    }
  }
  let ql = y;
  let qh = y + 128;
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      const q1 = load<u8>(L + j + l), q2 = load<u8>(L + j + l + 32), q3 = load<u8>(L + j + l + 64), q4 = load<u8>(L + j + l + 96);
      store<u8>(ql + l, (q1 & 0xf) | ((q3 & 0xf) << 4));
      store<u8>(ql + l + 32, (q2 & 0xf) | ((q4 & 0xf) << 4));
      store<u8>(qh + l, (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}
