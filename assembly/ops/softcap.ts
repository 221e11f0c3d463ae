// OP_SOFTCAP: logit soft-capping, out = cap · tanh(x / cap) element-wise (Gemma 2 caps its final logits at 30):
// x / cap and the product in f32, tanh evaluated in f64 and rounded once (activations.ts tanhf).
import * as abi from "../../src/abi";
import { tanhf, tanhf4 } from "./activations";
import { arg, argf, floatsInfo, ptr } from "./entry";

/** out[i] = cap · tanh(x[i] / cap), i < n; out may equal x. */
export function softcap(x: usize, out: usize, n: i32, cap: f32): void {
  const c = f32x4.splat(cap);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(tanhf4(f32x4.div(v128.load(x + off), c)), c));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, tanhf(load<f32>(x + off) / cap) * cap);
  }
}

/** The scalar twin: the same f32 steps one element at a time. */
export function softcap_ref(x: usize, out: usize, n: i32, cap: f32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, tanhf(load<f32>(x + off) / cap) * cap);
  }
}

// ---- entry for the scheduler (see entry.ts): units are floats, 16 at a time

export function softcap_info(q: i32, op: usize): i64 {
  return floatsInfo(q, ptr(op, abi.SOFTCAP_X), 0, ptr(op, abi.SOFTCAP_OUT), arg(op, abi.SOFTCAP_N));
}

export function softcap_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const off = <usize>lo << 2;
  softcap(ptr(op, abi.SOFTCAP_X) + off, ptr(op, abi.SOFTCAP_OUT) + off, hi - lo, argf(op, abi.SOFTCAP_CAP));
}
