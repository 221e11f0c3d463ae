// OP_COPY_ROWS: strided row copies (split fused qkv rows, gather views).

/** dst[r·dstStride + i] = src[r·srcStride + i] for r < nRows, i < n (strides in floats).
 *  Each row is a memmove and rows go in increasing r: in-place compaction (dst ≤ src, dstStride ≤ srcStride) is safe. */
export function copy_rows(src: usize, srcStride: i32, dst: usize, dstStride: i32, n: i32, nRows: i32): void {
  const nb = <usize>n << 2;
  const sb = <usize>srcStride << 2, db = <usize>dstStride << 2;
  for (let r = 0; r < nRows; r++) memory.copy(dst + <usize>r * db, src + <usize>r * sb, nb);
}
