// An op's entry for the scheduler (assembly/scheduler.ts). Each op file has, beside its kernel and the
// kernel's scalar twin, two functions the op table (assembly/ops/table.ts) calls:
//   <op>_info(q, op): i64   what the scheduler asks about op (one of the questions below)
//   <op>_run(op, lo, hi, scratch)   run units [lo, hi) of op; scratch: bytes to add to the op's scratch
//                                   pointer (this thread's copy, see abi.ts CTL_SCRATCH_STRIDE)
// `op` points at the op's words; arguments are read by their names in src/abi.ts (<OP>_<ARG>).
// Running units [0, UNITS) is the whole op; any split into ranges gives bit-identical results.

/** how many units the op has (rows, tokens, (token, head) pairs, floats, bytes) */
export const UNITS = 0;
/** threads take units in chunks of a multiple of this */
export const ALIGN = 1;
/** the op's size (floats touched; matmuls: multiply-adds / 16): below ctl[CTL_MIN_SPLIT] it runs whole */
export const WORK = 2;
/** the bytes it writes, as region(at, bytes) */
export const WRITES = 3;
/** READS + i (i = 0..2): the bytes of its i-th input, as region(at, bytes); 0 bytes: none. Weights and
 *  per-thread scratch are left out (no op writes them, or only its own thread does). */
export const READS = 4;
export const MAX_READS = 3;
/** nonzero: the units differ in cost (threads cut the op into twice as many chunks) */
export const UNEVEN = 7;

/** A work measure that never keeps an op whole. */
export const ALWAYS_SPLIT: i64 = i64.MAX_VALUE;

// @ts-ignore: decorator
@inline export function arg(op: usize, slot: i32): i32 { return load<i32>(op + (<usize>slot << 2)); }
// @ts-ignore: decorator
@inline export function ptr(op: usize, slot: i32): usize { return <usize>load<u32>(op + (<usize>slot << 2)); }
// @ts-ignore: decorator
@inline export function argf(op: usize, slot: i32): f32 { return load<f32>(op + (<usize>slot << 2)); }

/** A byte range [at, at + bytes) packed in an i64 (wasm32: both fit 32 bits). */
// @ts-ignore: decorator
@inline export function region(at: usize, bytes: usize): i64 { return <i64>(<u64>at << 32 | <u64>bytes); }
// @ts-ignore: decorator
@inline export function regionAt(r: i64): usize { return <usize>(<u64>r >>> 32); }
// @ts-ignore: decorator
@inline export function regionBytes(r: i64): usize { return <usize>(<u64>r & 0xffffffff); }

/** nRows rows of n floats, back to back */
// @ts-ignore: decorator
@inline export function rowsBytes(n: i32, nRows: i32): usize { return <usize>n * <usize>max<i32>(nRows, 0) << 2; }

/** nRows rows of n floats, `stride` floats apart */
// @ts-ignore: decorator
@inline export function stridedBytes(n: i32, nRows: i32, stride: i32): usize {
  return nRows <= 0 ? 0 : (<usize>(nRows - 1) * <usize>stride + <usize>n) << 2;
}

/** The entry (info) of an op on nRows rows of n floats, x → out (out may be x): units are rows. */
// @ts-ignore: decorator
@inline export function rowsInfo(q: i32, x: usize, out: usize, n: i32, nRows: i32): i64 {
  if (q == UNITS) return nRows;
  if (q == WORK) return <i64>nRows * <i64>n;
  if (q == WRITES) return region(out, rowsBytes(n, nRows));
  if (q == READS) return region(x, rowsBytes(n, nRows));
  return q == ALIGN ? 1 : 0;
}

/** The entry (info) of an element-wise op on n floats, a (and b, unless 0) → out: units are floats, 16 at
 *  a time. */
// @ts-ignore: decorator
@inline export function floatsInfo(q: i32, a: usize, b: usize, out: usize, n: i32): i64 {
  if (q == UNITS || q == WORK) return n;
  if (q == ALIGN) return 16;
  if (q == WRITES) return region(out, rowsBytes(n, 1));
  if (q == READS) return region(a, rowsBytes(n, 1));
  if (q == READS + 1 && b != 0) return region(b, rowsBytes(n, 1));
  return 0;
}
