// OP_GET_ROWS: embedding lookups, out[t] = dequantized row ids[t] of a table (the row dequantization of
// each weight type is in assembly/weights/).
import * as abi from "../../src/abi";
import { get_rows } from "../weights";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, ptr, region, rowsBytes } from "./entry";

// ---- entry for the scheduler (see entry.ts): units are tokens

export function get_rows_info(q: i32, op: usize): i64 {
  const rowLen = arg(op, abi.GET_ROWS_ROW_LEN), nTok = arg(op, abi.GET_ROWS_N_TOK);
  if (q == UNITS) return nTok;
  if (q == WORK) return <i64>nTok * <i64>rowLen;
  if (q == WRITES) return region(ptr(op, abi.GET_ROWS_OUT), rowsBytes(rowLen, nTok));
  if (q == READS) return region(ptr(op, abi.GET_ROWS_IDS), rowsBytes(1, nTok));
  return q == ALIGN ? 1 : 0;
}

export function get_rows_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const rowLen = arg(op, abi.GET_ROWS_ROW_LEN);
  get_rows(arg(op, abi.GET_ROWS_TYPE), ptr(op, abi.GET_ROWS_TABLE), rowLen, ptr(op, abi.GET_ROWS_IDS) + (<usize>lo << 2),
           hi - lo, ptr(op, abi.GET_ROWS_OUT) + (<usize>lo * <usize>rowLen << 2));
}
