// wasmlm kernels: the module's exports (the ABI; see src/abi.ts for the plan format).
// No allocation, no mutable globals, no data but constant tables (weights/common.ts KC, below the 64 KiB the host
// reserves): every instance may share one memory with others (re-instantiating rewrites the same bytes).

export { run } from "./scheduler";
export { act_bytes, act_format, prep_act, prep_act_ref, get_rows, repack, matmul, matmul_ref } from "./weights";
export { dot_add_fast } from "./weights/act";
export { rmsnorm, rmsnorm_ref, layernorm, layernorm_ref } from "./ops/norm";
export { rope, rope_ref } from "./ops/rope";
export { attention, attention_ref, softmax, softmax_ref, alibi_slope } from "./ops/attention";
export { add, add_ref, silu_mul, silu_mul_ref } from "./ops/activations";
export { gelu, gelu_ref, glu, glu_ref, add_row, add_row_ref, mul_row, mul_row_ref, axpby, axpby_ref } from "./ops/activations";
export { copy_rows } from "./ops/copy";
export { moe, moe_ref, moe_scratch_bytes } from "./ops/moe";
export { softcap, softcap_ref } from "./ops/softcap";
export { kv_convert, kv_convert_ref, kv_row_bytes } from "./ops/kv";
export { quantize, quantize_scratch_bytes, quant_block_size, quant_block_bytes } from "./quant";
export {
  matmul_t, matmul_t_ref, matmul_t_scratch_bytes, outer_acc, outer_acc_ref, rmsnorm_back, rmsnorm_back_ref, silu_mul_back,
  silu_mul_back_ref, attention_back, attention_back_ref, attention_back_scratch_bytes, cross_entropy, cross_entropy_ref, matmul_dq, matmul_dq_ref,
} from "./ops/backward";
export {
  layernorm_back, layernorm_back_ref, gelu_mul, gelu_mul_ref, gelu_mul_back, gelu_mul_back_ref, softcap_back, softcap_back_ref,
} from "./ops/backward_ext";

import { f2h, h2f } from "./ops/f16";

/** f32 -> IEEE half bits (round to nearest even). */
export function f32_to_f16(x: f32): i32 { return f2h(x); }

/** IEEE half bits (low 16 bits) -> f32. */
export function f16_to_f32(h: i32): f32 { return h2f(h & 0xffff); }

/** Which build this is: 0 = plain SIMD, 1 = relaxed SIMD (same source, `--enable simd,relaxed-simd`). */
export function kernel_variant(): i32 { return ASC_FEATURE_RELAXED_SIMD ? 1 : 0; }

export function abort(msg: usize, file: usize, line: u32, col: u32): void { unreachable(); }

import { opInfo } from "./ops/table";
import { WRITES, regionAt, regionBytes } from "./ops/entry";

/** Where the op at `op` (its words in memory) writes, and how many bytes: what its entry says (the plan
 *  builder keeps its activation cache on it, so the scheduler and the builder share one description). */
export function op_writes_at(op: usize): usize { return regionAt(opInfo(WRITES, op)); }
export function op_writes_bytes(op: usize): usize { return regionBytes(opInfo(WRITES, op)); }
