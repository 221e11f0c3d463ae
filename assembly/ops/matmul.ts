// OP_MATMUL: y[t·nOut + o] = W[o]·x[t] for the rows o in [r0, r1), x given in the activation format of the
// weights' type (OP_PREP_ACT). The kernels of each weight type and the tiling driver are in
// assembly/weights/.
import * as abi from "../../src/abi";
import { act_bytes, matmul } from "../weights";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, ptr, region, rowsBytes } from "./entry";

// ---- entry for the scheduler (see entry.ts): units are output rows, in multiples of 16

export function matmul_info(q: i32, op: usize): i64 {
  const rows = arg(op, abi.MATMUL_R1) - arg(op, abi.MATMUL_R0);
  const nIn = arg(op, abi.MATMUL_N_IN), nTok = arg(op, abi.MATMUL_N_TOK);
  if (q == UNITS) return rows;
  if (q == ALIGN) return 16;
  if (q == WORK) return <i64>nIn * <i64>rows * <i64>nTok >> 4;
  if (q == WRITES) return region(ptr(op, abi.MATMUL_Y), rowsBytes(arg(op, abi.MATMUL_N_OUT), nTok));
  if (q == READS) return region(ptr(op, abi.MATMUL_ACT), <usize>act_bytes(arg(op, abi.MATMUL_TYPE), nIn, nTok));
  return 0;
}

export function matmul_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const r0 = arg(op, abi.MATMUL_R0);
  matmul(arg(op, abi.MATMUL_TYPE), ptr(op, abi.MATMUL_W), ptr(op, abi.MATMUL_ACT), ptr(op, abi.MATMUL_Y),
         arg(op, abi.MATMUL_N_IN), arg(op, abi.MATMUL_N_OUT), arg(op, abi.MATMUL_N_TOK), r0 + lo, r0 + hi);
}
