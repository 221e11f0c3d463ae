// OP_PREP_ACT: converts f32 activation rows to the format the weights of a type multiply (int8 blocks for
// the quantized types; the formats are in assembly/weights/).
import * as abi from "../../src/abi";
import { act_bytes, prep_act_part } from "../weights";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, ptr, region, rowsBytes } from "./entry";

// ---- entry for the scheduler (see entry.ts): units are rows (tokens)

export function prep_act_info(q: i32, op: usize): i64 {
  const nIn = arg(op, abi.PREP_ACT_N_IN), nTok = arg(op, abi.PREP_ACT_N_TOK);
  if (q == UNITS) return nTok;
  if (q == WORK) return <i64>nTok * <i64>nIn;
  if (q == WRITES) return region(ptr(op, abi.PREP_ACT_ACT), <usize>act_bytes(arg(op, abi.PREP_ACT_TYPE), nIn, nTok));
  if (q == READS) return region(ptr(op, abi.PREP_ACT_X), rowsBytes(nIn, nTok));
  return q == ALIGN ? 1 : 0;
}

export function prep_act_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  prep_act_part(arg(op, abi.PREP_ACT_TYPE), ptr(op, abi.PREP_ACT_X), ptr(op, abi.PREP_ACT_ACT), arg(op, abi.PREP_ACT_N_IN),
                arg(op, abi.PREP_ACT_N_TOK), lo, hi);
}
