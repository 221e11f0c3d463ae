// Runs a plan: nOps ops of OP_WORDS i32 words each ([opcode, arg1, ...]; f32 args as bit patterns).
import * as abi from "../src/engine/abi";
import { get_rows } from "./ops/rows";
import { rmsnorm, layernorm } from "./ops/norm";
import { prep_act } from "./ops/quant";
import { matmul } from "./ops/matmul";
import { rope } from "./ops/rope";
import { attention } from "./ops/attention";
import { add, silu_mul, add_row, mul_row, axpby, gelu, glu } from "./ops/activations";
import { copy_rows } from "./ops/copy";
import { moe } from "./ops/moe";

// @ts-ignore: decorator
@inline function arg(op: usize, i: i32): i32 { return load<i32>(op + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function ptr(op: usize, i: i32): usize { return <usize>load<u32>(op + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function argf(op: usize, i: i32): f32 { return load<f32>(op + (<usize>i << 2)); }

export function run(plan: usize, nOps: i32): void {
  for (let k = 0; k < nOps; k++) {
    const op = plan + (<usize>k * abi.OP_WORDS << 2);
    switch (arg(op, 0)) {
      case abi.OP_GET_ROWS:
        get_rows(arg(op, 1), ptr(op, 2), arg(op, 3), ptr(op, 4), arg(op, 5), ptr(op, 6));
        break;
      case abi.OP_RMSNORM:
        rmsnorm(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5), argf(op, 6));
        break;
      case abi.OP_PREP_ACT:
        prep_act(arg(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5));
        break;
      case abi.OP_MATMUL:
        matmul(arg(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), arg(op, 6), arg(op, 7), arg(op, 8), arg(op, 9));
        break;
      case abi.OP_ROPE:
        rope(ptr(op, 1), arg(op, 2), arg(op, 3), arg(op, 4), arg(op, 5), arg(op, 6), argf(op, 7), argf(op, 8), arg(op, 9),
             ptr(op, 10), argf(op, 11), argf(op, 12), argf(op, 13), argf(op, 14));
        break;
      case abi.OP_ATTENTION:
        attention(ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), arg(op, 6), arg(op, 7), arg(op, 8),
                  arg(op, 9), argf(op, 10), ptr(op, 11), arg(op, 12), argf(op, 13), arg(op, 14));
        break;
      case abi.OP_ADD:
        add(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4));
        break;
      case abi.OP_SILU_MUL:
        silu_mul(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4));
        break;
      case abi.OP_COPY:
        memory.copy(ptr(op, 2), ptr(op, 1), <usize>load<u32>(op, 12));
        break;
      case abi.OP_LAYERNORM:
        layernorm(ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), arg(op, 6), argf(op, 7));
        break;
      case abi.OP_ADD_ROW:
        add_row(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5));
        break;
      case abi.OP_MUL_ROW:
        mul_row(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5));
        break;
      case abi.OP_AXPBY:
        axpby(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), argf(op, 5), argf(op, 6));
        break;
      case abi.OP_GELU:
        gelu(ptr(op, 1), ptr(op, 2), arg(op, 3));
        break;
      case abi.OP_GLU:
        glu(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5), arg(op, 6), arg(op, 7), arg(op, 8));
        break;
      case abi.OP_COPY_ROWS:
        copy_rows(ptr(op, 1), arg(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5), arg(op, 6));
        break;
      case abi.OP_MOE:
        moe(ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5), arg(op, 6), arg(op, 7), arg(op, 8),
            ptr(op, 9), ptr(op, 10), ptr(op, 11), arg(op, 12), arg(op, 13), arg(op, 14), ptr(op, 15));
        break;
      default:
        unreachable();
    }
  }
}
