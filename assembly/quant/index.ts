// The weight quantizers (f32 -> ggml blocks, byte for byte ggml's imatrix-free `_ref` quantizers: what
// llama-quantize writes without --imatrix): one file per type group, like assembly/weights/; here the
// dispatch by type and OP_QUANTIZE's entry (units are blocks: threads quantize ranges of blocks).
import * as abi from "../../src/abi";
import { ALIGN, ALWAYS_SPLIT, READS, UNEVEN, UNITS, WORK, WRITES, arg, ptr, region } from "../ops/entry";
import { SCRATCH_BYTES } from "./common";
import { quantizeQ4_0, quantizeQ8_0 } from "./q8_0_q4_0";
import { quantizeQ4_1, quantizeQ5_0, quantizeQ5_1 } from "./legacy";
import { quantizeQ2_K, quantizeQ3_K } from "./k_q23";
import { quantizeQ4_K, quantizeQ5_K } from "./k_q45";
import { quantizeQ6_K } from "./k_q6";

/** Values per block of a type the quantizers write (0: not one of them). */
export function quant_block_size(type: i32): i32 {
  switch (type) {
    case abi.GGML_Q8_0: case abi.GGML_Q4_0: case abi.GGML_Q4_1: case abi.GGML_Q5_0: case abi.GGML_Q5_1: return 32;
    case abi.GGML_Q2_K: case abi.GGML_Q3_K: case abi.GGML_Q4_K: case abi.GGML_Q5_K: case abi.GGML_Q6_K: return 256;
    default: return 0;
  }
}

/** Bytes per block of such a type. */
export function quant_block_bytes(type: i32): i32 {
  switch (type) {
    case abi.GGML_Q8_0: return 34;
    case abi.GGML_Q4_0: return 18;
    case abi.GGML_Q4_1: return 20;
    case abi.GGML_Q5_0: return 22;
    case abi.GGML_Q5_1: return 24;
    case abi.GGML_Q2_K: return 84;
    case abi.GGML_Q3_K: return 110;
    case abi.GGML_Q4_K: return 144;
    case abi.GGML_Q5_K: return 176;
    case abi.GGML_Q6_K: return 210;
    default: return 0;
  }
}

/** Scratch bytes per thread (QUANTIZE_SCRATCH). */
export function quantize_scratch_bytes(): i32 { return SCRATCH_BYTES; }

/** Blocks [lo, hi) of `type` from the f32 values at x (block b from x + b·blockSize floats) to out. */
export function quantize(type: i32, x: usize, out: usize, lo: i32, hi: i32, scratch: usize): void {
  const qk = <usize>quant_block_size(type) << 2;
  const bytes = <usize>quant_block_bytes(type);
  if (qk == 0) unreachable();
  for (let b = lo; b < hi; b++) {
    const xb = x + <usize>b * qk;
    const yb = out + <usize>b * bytes;
    switch (type) {
      case abi.GGML_Q8_0: quantizeQ8_0(xb, yb); break;
      case abi.GGML_Q4_0: quantizeQ4_0(xb, yb); break;
      case abi.GGML_Q4_1: quantizeQ4_1(xb, yb); break;
      case abi.GGML_Q5_0: quantizeQ5_0(xb, yb); break;
      case abi.GGML_Q5_1: quantizeQ5_1(xb, yb); break;
      case abi.GGML_Q2_K: quantizeQ2_K(xb, yb, scratch); break;
      case abi.GGML_Q3_K: quantizeQ3_K(xb, yb, scratch); break;
      case abi.GGML_Q4_K: quantizeQ4_K(xb, yb, scratch); break;
      case abi.GGML_Q5_K: quantizeQ5_K(xb, yb, scratch); break;
      default: quantizeQ6_K(xb, yb, scratch);
    }
  }
}

export function quantize_info(q: i32, op: usize): i64 {
  const type = arg(op, abi.QUANTIZE_TYPE);
  const n = arg(op, abi.QUANTIZE_N_BLOCKS);
  if (q == UNITS) return n;
  if (q == ALIGN) return 1;
  if (q == WORK) return ALWAYS_SPLIT;
  if (q == WRITES) return region(ptr(op, abi.QUANTIZE_OUT), <usize>n * <usize>quant_block_bytes(type));
  if (q == READS) return region(ptr(op, abi.QUANTIZE_X), <usize>n * <usize>quant_block_size(type) << 2);
  return q == UNEVEN ? 1 : 0;
}

export function quantize_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  quantize(arg(op, abi.QUANTIZE_TYPE), ptr(op, abi.QUANTIZE_X), ptr(op, abi.QUANTIZE_OUT), lo, hi,
    ptr(op, abi.QUANTIZE_SCRATCH) + scratch);
}
