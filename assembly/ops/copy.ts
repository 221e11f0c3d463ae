// OP_COPY (bytes) and OP_COPY_ROWS (strided row copies: split fused qkv rows, gather views).
import * as abi from "../../src/abi";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, ptr, region, stridedBytes } from "./entry";

/** dst[r·dstStride + i] = src[r·srcStride + i] for r < nRows, i < n (strides in floats).
 *  Each row is a memmove and rows go in increasing r: in-place compaction (dst ≤ src, dstStride ≤ srcStride) is safe. */
export function copy_rows(src: usize, srcStride: i32, dst: usize, dstStride: i32, n: i32, nRows: i32): void {
  const nb = <usize>n << 2;
  const sb = <usize>srcStride << 2, db = <usize>dstStride << 2;
  for (let r = 0; r < nRows; r++) memory.copy(dst + <usize>r * db, src + <usize>r * sb, nb);
}

// ---- entries for the scheduler (see entry.ts)

// OP_COPY: units are bytes, in 64-byte pieces
export function copy_info(q: i32, op: usize): i64 {
  const nBytes = ptr(op, abi.COPY_N_BYTES);
  if (q == UNITS) return <i64>nBytes;
  if (q == ALIGN) return 64;
  if (q == WORK) return <i64>(nBytes >> 2);
  if (q == WRITES) return region(ptr(op, abi.COPY_DST), nBytes);
  if (q == READS) return region(ptr(op, abi.COPY_SRC), nBytes);
  return 0;
}

export function copy_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  memory.copy(ptr(op, abi.COPY_DST) + <usize>lo, ptr(op, abi.COPY_SRC) + <usize>lo, <usize>(hi - lo));
}

// OP_COPY_ROWS: units are rows
export function copy_rows_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.COPY_ROWS_N), nRows = arg(op, abi.COPY_ROWS_N_ROWS);
  if (q == UNITS) return nRows;
  if (q == WORK) return <i64>nRows * <i64>n;
  if (q == WRITES) return region(ptr(op, abi.COPY_ROWS_DST), stridedBytes(n, nRows, arg(op, abi.COPY_ROWS_DST_STRIDE)));
  if (q == READS) return region(ptr(op, abi.COPY_ROWS_SRC), stridedBytes(n, nRows, arg(op, abi.COPY_ROWS_SRC_STRIDE)));
  return q == ALIGN ? 1 : 0;
}

export function copy_rows_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  const srcStride = arg(op, abi.COPY_ROWS_SRC_STRIDE), dstStride = arg(op, abi.COPY_ROWS_DST_STRIDE);
  copy_rows(ptr(op, abi.COPY_ROWS_SRC) + (<usize>lo * <usize>srcStride << 2), srcStride,
            ptr(op, abi.COPY_ROWS_DST) + (<usize>lo * <usize>dstStride << 2), dstStride, arg(op, abi.COPY_ROWS_N), hi - lo);
}
