// wasmlm kernels: the module's exports (the ABI; see src/engine/abi.ts for the plan format).
// No allocation, no data, no mutable globals: every instance may share one memory with others.

export { run } from "./plan";
export { act_bytes, prep_act, prep_act_ref } from "./ops/quant";
export { get_rows } from "./ops/rows";
export { rmsnorm, rmsnorm_ref } from "./ops/norm";
export { matmul, matmul_ref } from "./ops/matmul";
export { rope, rope_ref } from "./ops/rope";
export { attention, attention_ref, softmax, softmax_ref } from "./ops/attention";
export { add, add_ref, silu_mul, silu_mul_ref } from "./ops/activations";

import { f2h, h2f } from "./ops/f16";

/** f32 -> IEEE half bits (round to nearest even). */
export function f32_to_f16(x: f32): i32 { return f2h(x); }

/** IEEE half bits (low 16 bits) -> f32. */
export function f16_to_f32(h: i32): f32 { return h2f(h & 0xffff); }

export function abort(msg: usize, file: usize, line: u32, col: u32): void { unreachable(); }
