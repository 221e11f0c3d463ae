// Q4_1 (20 B per 32: d, m, qs[16]), Q5_0 (22 B: d, qh u32, qs[16]) and Q5_1 (24 B: d, m, qh u32, qs[16]):
// ggml's quantize_row_*_ref, one block at a time (x: 32 f32, y: the block).
import { f2h } from "../ops/f16";
import { signedAbsMax } from "./common";

/** The head of a Q4_1/Q5_1 block: d = (max − min) / nmax and m = min as halves at y, y + 2. Returns 1/d (0 when
 *  d is 0). */
// @ts-ignore: decorator
@inline function minScale(x: usize, nmax: f32, y: usize): f32 {
  let mn = Infinity as f32;
  let mx = -Infinity as f32;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const d = (mx - mn) / nmax;
  store<u16>(y, <u16>f2h(d));
  store<u16>(y + 2, <u16>f2h(mn));
  return d != 0 ? <f32>1 / d : 0;
}

// @ts-ignore: decorator
@inline function minOf(x: usize): f32 {
  let mn = Infinity as f32;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (v < mn) mn = v;
  }
  return mn;
}

export function quantizeQ4_1(x: usize, y: usize): void {
  const id = minScale(x, 15, y);
  const mn = minOf(x);
  for (let j = 0; j < 16; j++) {
    const a = (load<f32>(x + (<usize>j << 2)) - mn) * id;
    const c = (load<f32>(x + (<usize>(16 + j) << 2)) - mn) * id;
    const q0 = min<i32>(15, <i32>(a + <f32>0.5));
    const q1 = min<i32>(15, <i32>(c + <f32>0.5));
    store<u8>(y + 4 + j, <u8>(q0 | (q1 << 4)));
  }
}

export function quantizeQ5_0(x: usize, y: usize): void {
  const mx = signedAbsMax(x, 32);
  const d: f32 = mx / <f32>-16;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(y, <u16>f2h(d));
  let qh: u32 = 0;
  for (let j = 0; j < 16; j++) {
    const a = load<f32>(x + (<usize>j << 2)) * id;
    const c = load<f32>(x + (<usize>(16 + j) << 2)) * id;
    const q0 = min<i32>(31, <i32>(a + <f32>16.5));
    const q1 = min<i32>(31, <i32>(c + <f32>16.5));
    store<u8>(y + 6 + j, <u8>((q0 & 15) | ((q1 & 15) << 4)));
    qh |= <u32>((q0 & 0x10) >>> 4) << j;
    qh |= <u32>((q1 & 0x10) >>> 4) << (j + 16);
  }
  store<u32>(y + 2, qh);
}

export function quantizeQ5_1(x: usize, y: usize): void {
  const id = minScale(x, 31, y);
  const mn = minOf(x);
  let qh: u32 = 0;
  for (let j = 0; j < 16; j++) {
    const a = (load<f32>(x + (<usize>j << 2)) - mn) * id;
    const c = (load<f32>(x + (<usize>(16 + j) << 2)) - mn) * id;
    const q0 = <i32>(a + <f32>0.5) & 0xff;
    const q1 = <i32>(c + <f32>0.5) & 0xff;
    store<u8>(y + 8 + j, <u8>((q0 & 15) | ((q1 & 15) << 4)));
    qh |= <u32>((q0 & 0x10) >>> 4) << j;
    qh |= <u32>((q1 & 0x10) >>> 4) << (j + 16);
  }
  store<u32>(y + 4, qh);
}
