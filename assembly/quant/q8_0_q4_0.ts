// Q8_0 (34 B per 32: d, qs[32] int8) and Q4_0 (18 B per 32: d, qs[16]): ggml's quantize_row_q8_0_ref and
// quantize_row_q4_0_ref, one block at a time (x: 32 f32, y: the block).
import { f2h } from "../ops/f16";
import { roundf, signedAbsMax } from "./common";

export function quantizeQ8_0(x: usize, y: usize): void {
  let amax: f32 = 0;
  for (let j = 0; j < 32; j++) amax = max<f32>(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
  const d: f32 = amax / <f32>127;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(y, <u16>f2h(d));
  for (let j = 0; j < 32; j++) store<i8>(y + 2 + j, <i8>roundf(load<f32>(x + (<usize>j << 2)) * id));
}

export function quantizeQ4_0(x: usize, y: usize): void {
  const mx = signedAbsMax(x, 32);
  const d: f32 = mx / <f32>-8;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(y, <u16>f2h(d));
  for (let j = 0; j < 16; j++) {
    const a = load<f32>(x + (<usize>j << 2)) * id;
    const c = load<f32>(x + (<usize>(16 + j) << 2)) * id;
    const q0 = min<i32>(15, <i32>(a + <f32>8.5));
    const q1 = min<i32>(15, <i32>(c + <f32>8.5));
    store<u8>(y + 2 + j, <u8>(q0 | (q1 << 4)));
  }
}
