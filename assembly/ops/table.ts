// The op table: each opcode's entry (see entry.ts). Adding an op adds one line to each switch.
import * as abi from "../../src/abi";
import { get_rows_info, get_rows_run } from "./get_rows";
import { rmsnorm_info, rmsnorm_run, layernorm_info, layernorm_run } from "./norm";
import { prep_act_info, prep_act_run } from "./prep_act";
import { matmul_info, matmul_run } from "./matmul";
import { rope_info, rope_run } from "./rope";
import { attention_info, attention_run } from "./attention";
import {
  add_info, add_run, silu_mul_info, silu_mul_run, axpby_info, axpby_run, gelu_info, gelu_run, glu_info, glu_run,
  add_row_info, add_row_run, mul_row_info, mul_row_run,
} from "./activations";
import { copy_info, copy_run, copy_rows_info, copy_rows_run } from "./copy";
import { moe_info, moe_run } from "./moe";
import { softcap_info, softcap_run } from "./softcap";
import { kv_convert_info, kv_convert_run } from "./kv";
import {
  matmul_t_info, matmul_t_run, outer_acc_info, outer_acc_run, rmsnorm_back_info, rmsnorm_back_run, silu_mul_back_info,
  silu_mul_back_run, attention_back_info, attention_back_run, cross_entropy_info, cross_entropy_run, matmul_dq_info, matmul_dq_run,
} from "./backward";
import {
  layernorm_back_info, layernorm_back_run, gelu_mul_info, gelu_mul_run, gelu_mul_back_info, gelu_mul_back_run, softcap_back_info,
  softcap_back_run,
} from "./backward_ext";
import { quantize_info, quantize_run } from "../quant";
import { arg } from "./entry";

/** What the scheduler asks about op (entry.ts: UNITS, ALIGN, WORK, WRITES, READS + i). */
export function opInfo(q: i32, op: usize): i64 {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: return get_rows_info(q, op);
    case abi.OP_RMSNORM: return rmsnorm_info(q, op);
    case abi.OP_PREP_ACT: return prep_act_info(q, op);
    case abi.OP_MATMUL: return matmul_info(q, op);
    case abi.OP_ROPE: return rope_info(q, op);
    case abi.OP_ATTENTION: return attention_info(q, op);
    case abi.OP_ADD: return add_info(q, op);
    case abi.OP_SILU_MUL: return silu_mul_info(q, op);
    case abi.OP_COPY: return copy_info(q, op);
    case abi.OP_LAYERNORM: return layernorm_info(q, op);
    case abi.OP_ADD_ROW: return add_row_info(q, op);
    case abi.OP_MUL_ROW: return mul_row_info(q, op);
    case abi.OP_AXPBY: return axpby_info(q, op);
    case abi.OP_GELU: return gelu_info(q, op);
    case abi.OP_GLU: return glu_info(q, op);
    case abi.OP_COPY_ROWS: return copy_rows_info(q, op);
    case abi.OP_MOE: return moe_info(q, op);
    case abi.OP_SOFTCAP: return softcap_info(q, op);
    case abi.OP_KV_CONVERT: return kv_convert_info(q, op);
    case abi.OP_MATMUL_T: return matmul_t_info(q, op);
    case abi.OP_OUTER_ACC: return outer_acc_info(q, op);
    case abi.OP_RMSNORM_BACK: return rmsnorm_back_info(q, op);
    case abi.OP_SILU_MUL_BACK: return silu_mul_back_info(q, op);
    case abi.OP_ATTENTION_BACK: return attention_back_info(q, op);
    case abi.OP_CROSS_ENTROPY: return cross_entropy_info(q, op);
    case abi.OP_MATMUL_DQ: return matmul_dq_info(q, op);
    case abi.OP_LAYERNORM_BACK: return layernorm_back_info(q, op);
    case abi.OP_GELU_MUL: return gelu_mul_info(q, op);
    case abi.OP_GELU_MUL_BACK: return gelu_mul_back_info(q, op);
    case abi.OP_SOFTCAP_BACK: return softcap_back_info(q, op);
    case abi.OP_QUANTIZE: return quantize_info(q, op);
    default: return 1; // one unit, which opRun traps on
  }
}

/** Runs units [lo, hi) of op; scratch: bytes to add to the op's scratch pointer. */
export function opRun(op: usize, lo: i32, hi: i32, scratch: usize): void {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: get_rows_run(op, lo, hi, scratch); break;
    case abi.OP_RMSNORM: rmsnorm_run(op, lo, hi, scratch); break;
    case abi.OP_PREP_ACT: prep_act_run(op, lo, hi, scratch); break;
    case abi.OP_MATMUL: matmul_run(op, lo, hi, scratch); break;
    case abi.OP_ROPE: rope_run(op, lo, hi, scratch); break;
    case abi.OP_ATTENTION: attention_run(op, lo, hi, scratch); break;
    case abi.OP_ADD: add_run(op, lo, hi, scratch); break;
    case abi.OP_SILU_MUL: silu_mul_run(op, lo, hi, scratch); break;
    case abi.OP_COPY: copy_run(op, lo, hi, scratch); break;
    case abi.OP_LAYERNORM: layernorm_run(op, lo, hi, scratch); break;
    case abi.OP_ADD_ROW: add_row_run(op, lo, hi, scratch); break;
    case abi.OP_MUL_ROW: mul_row_run(op, lo, hi, scratch); break;
    case abi.OP_AXPBY: axpby_run(op, lo, hi, scratch); break;
    case abi.OP_GELU: gelu_run(op, lo, hi, scratch); break;
    case abi.OP_GLU: glu_run(op, lo, hi, scratch); break;
    case abi.OP_COPY_ROWS: copy_rows_run(op, lo, hi, scratch); break;
    case abi.OP_MOE: moe_run(op, lo, hi, scratch); break;
    case abi.OP_SOFTCAP: softcap_run(op, lo, hi, scratch); break;
    case abi.OP_KV_CONVERT: kv_convert_run(op, lo, hi, scratch); break;
    case abi.OP_MATMUL_T: matmul_t_run(op, lo, hi, scratch); break;
    case abi.OP_OUTER_ACC: outer_acc_run(op, lo, hi, scratch); break;
    case abi.OP_RMSNORM_BACK: rmsnorm_back_run(op, lo, hi, scratch); break;
    case abi.OP_SILU_MUL_BACK: silu_mul_back_run(op, lo, hi, scratch); break;
    case abi.OP_ATTENTION_BACK: attention_back_run(op, lo, hi, scratch); break;
    case abi.OP_CROSS_ENTROPY: cross_entropy_run(op, lo, hi, scratch); break;
    case abi.OP_MATMUL_DQ: matmul_dq_run(op, lo, hi, scratch); break;
    case abi.OP_LAYERNORM_BACK: layernorm_back_run(op, lo, hi, scratch); break;
    case abi.OP_GELU_MUL: gelu_mul_run(op, lo, hi, scratch); break;
    case abi.OP_GELU_MUL_BACK: gelu_mul_back_run(op, lo, hi, scratch); break;
    case abi.OP_SOFTCAP_BACK: softcap_back_run(op, lo, hi, scratch); break;
    case abi.OP_QUANTIZE: quantize_run(op, lo, hi, scratch); break;
    default: unreachable();
  }
}
