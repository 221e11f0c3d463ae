// Runs a plan: nOps ops of OP_WORDS i32 words each ([opcode, arg1, ...]; f32 args as bit patterns).
import * as abi from "../src/abi";
import { rmsnorm, layernorm } from "./ops/norm";
import { act_bytes, get_rows, matmul, prep_act, prep_act_part } from "./weights";
import { rope } from "./ops/rope";
import { attention, attention_part } from "./ops/attention";
import { add, silu_mul, add_row, mul_row, axpby, gelu, glu } from "./ops/activations";
import { copy_rows } from "./ops/copy";
import { moe } from "./ops/moe";
import { canWaitOf, failed, signal, waitEq } from "./threads";

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

// ================================================================ threads (the threads builds only)
// run_mt: the threads of a pool run the same plan together. Each op is cut into chunks of units (rows,
// tokens, (token, head) pairs, elements, bytes); threads take chunks from a counter in the op's sync line
// (first come, first served) and count them done; each unit is computed by exactly one thread with the
// same kernel code as `run` uses, so results do not depend on the thread count or on who took what.
// Before taking chunks of an op, a thread waits until the earlier ops it depends on (reads what they
// write, writes what they read or write: `depends`) are complete; an op that does not depend on the one
// before may run beside it. A thread that is descheduled between chunks holds nobody up (the others take
// its share); only one descheduled in the middle of a chunk does, for the rest of that chunk.
//
// Ops too small to be worth splitting (ctl[CTL_MIN_SPLIT] = m floats: elementwise and row ops from m
// floats, matmuls from 16·m multiply-adds), and ops whose output overlaps an input other than element for
// element, are one chunk (one thread runs them whole).

/** matmul rows are cut in multiples of this */
const ROW_ALIGN: i32 = 16;

// How an op is shared: SERIAL (one chunk), SPLIT (chunks of `units`, a multiple of `align` each).
const SERIAL = 0;
const SPLIT = 1;

// @ts-ignore: decorator
@inline function overlaps(a: usize, aBytes: usize, b: usize, bBytes: usize): bool {
  return a < b + bBytes && b < a + aBytes;
}

/** An output region that overlaps an input region, other than the same bytes element for element. */
// @ts-ignore: decorator
@inline function aliasing(out: usize, outBytes: usize, inp: usize, inBytes: usize, sameLayout: bool): bool {
  return overlaps(out, outBytes, inp, inBytes) && !(out == inp && sameLayout);
}

// Whether an op is cut into chunks (SPLIT) or run whole by one thread (SERIAL).
function opMode(op: usize, minSplit: i32): i32 {
  switch (arg(op, 0)) {
    case abi.OP_MATMUL: {
      const rows = arg(op, 9) - arg(op, 8);
      if (<i64>arg(op, 5) * <i64>rows * <i64>arg(op, 7) < (<i64>minSplit << 4)) return SERIAL;
      return rows > ROW_ALIGN ? SPLIT : SERIAL;
    }
    case abi.OP_ATTENTION: {
      const nTok = arg(op, 5), nHead = arg(op, 7);
      const rowBytes = <usize>nHead * <usize>arg(op, 9) << 2;
      if (aliasing(ptr(op, 4), <usize>nTok * rowBytes, ptr(op, 1), <usize>nTok * rowBytes, true)) return SERIAL;
      return nTok * nHead > 1 ? SPLIT : SERIAL;
    }
    case abi.OP_GET_ROWS:
      return tokensMode(minSplit, arg(op, 5), arg(op, 3));
    case abi.OP_RMSNORM: {
      const n = arg(op, 4), nTok = arg(op, 5);
      const bytes = <usize>n * <usize>nTok << 2;
      if (aliasing(ptr(op, 3), bytes, ptr(op, 1), bytes, true)) return SERIAL;
      return tokensMode(minSplit, nTok, n);
    }
    case abi.OP_LAYERNORM: {
      const n = arg(op, 5), nTok = arg(op, 6);
      const bytes = <usize>n * <usize>nTok << 2;
      if (aliasing(ptr(op, 4), bytes, ptr(op, 1), bytes, true)) return SERIAL;
      return tokensMode(minSplit, nTok, n);
    }
    case abi.OP_PREP_ACT: {
      const nIn = arg(op, 4), nTok = arg(op, 5);
      const x = ptr(op, 2), act = ptr(op, 3);
      if (act != x && overlaps(act, <usize>act_bytes(arg(op, 1), nIn, nTok), x, <usize>nIn * <usize>nTok << 2)) return SERIAL;
      return tokensMode(minSplit, nTok, nIn);
    }
    case abi.OP_ROPE:
      return tokensMode(minSplit, arg(op, 2), arg(op, 3) * arg(op, 4));
    case abi.OP_ADD:
    case abi.OP_SILU_MUL: {
      const n = arg(op, 4);
      const bytes = <usize>n << 2;
      if (aliasing(ptr(op, 3), bytes, ptr(op, 1), bytes, true) || aliasing(ptr(op, 3), bytes, ptr(op, 2), bytes, true)) return SERIAL;
      return n >= minSplit ? SPLIT : SERIAL;
    }
    case abi.OP_AXPBY: {
      const n = arg(op, 4);
      const bytes = <usize>n << 2;
      if (aliasing(ptr(op, 3), bytes, ptr(op, 1), bytes, true)) return SERIAL;
      if (argf(op, 6) != 0 && aliasing(ptr(op, 3), bytes, ptr(op, 2), bytes, true)) return SERIAL;
      return n >= minSplit ? SPLIT : SERIAL;
    }
    case abi.OP_GELU: {
      const n = arg(op, 3);
      const bytes = <usize>n << 2;
      if (aliasing(ptr(op, 2), bytes, ptr(op, 1), bytes, true)) return SERIAL;
      return n >= minSplit ? SPLIT : SERIAL;
    }
    case abi.OP_COPY: {
      const nBytes = <usize>load<u32>(op, 12);
      if (overlaps(ptr(op, 2), nBytes, ptr(op, 1), nBytes)) return SERIAL;
      return nBytes >= <usize>minSplit << 2 ? SPLIT : SERIAL;
    }
    case abi.OP_ADD_ROW:
    case abi.OP_MUL_ROW: {
      const n = arg(op, 4), nTok = arg(op, 5);
      const bytes = <usize>n * <usize>nTok << 2;
      if (aliasing(ptr(op, 3), bytes, ptr(op, 1), bytes, true)) return SERIAL;
      return tokensMode(minSplit, nTok, n);
    }
    case abi.OP_GLU: {
      const n = arg(op, 4), nTok = arg(op, 5), aStride = arg(op, 6), bStride = arg(op, 7);
      if (nTok <= 0) return SERIAL;
      const outBytes = <usize>n * <usize>nTok << 2;
      const aBytes = (<usize>(nTok - 1) * <usize>aStride + <usize>n) << 2;
      const bBytes = (<usize>(nTok - 1) * <usize>bStride + <usize>n) << 2;
      if (aliasing(ptr(op, 3), outBytes, ptr(op, 1), aBytes, aStride == n) ||
          aliasing(ptr(op, 3), outBytes, ptr(op, 2), bBytes, bStride == n)) return SERIAL;
      return tokensMode(minSplit, nTok, n);
    }
    case abi.OP_COPY_ROWS: {
      const srcStride = arg(op, 2), dstStride = arg(op, 4), n = arg(op, 5), nRows = arg(op, 6);
      if (nRows <= 0) return SERIAL;
      const srcBytes = (<usize>(nRows - 1) * <usize>srcStride + <usize>n) << 2;
      const dstBytes = (<usize>(nRows - 1) * <usize>dstStride + <usize>n) << 2;
      if (overlaps(ptr(op, 3), dstBytes, ptr(op, 1), srcBytes)) return SERIAL;
      return tokensMode(minSplit, nRows, n);
    }
    case abi.OP_MOE: {
      const nTok = arg(op, 4), nEmbd = arg(op, 7);
      const bytes = <usize>nTok * <usize>nEmbd << 2;
      if (aliasing(ptr(op, 3), bytes, ptr(op, 1), bytes, true)) return SERIAL;
      return nTok > 1 ? SPLIT : SERIAL;
    }
    default:
      return SERIAL;
  }
}

// rows of rowLen floats: split by rows when there are several and enough floats in all
// @ts-ignore: decorator
@inline function tokensMode(minSplit: i32, nTok: i32, rowLen: i32): i32 {
  return nTok > 1 && <i64>nTok * <i64>rowLen >= <i64>minSplit ? SPLIT : SERIAL;
}

/** Units of an op (what SPLIT cuts into chunks). */
function opUnits(op: usize): i32 {
  switch (arg(op, 0)) {
    case abi.OP_MATMUL: return arg(op, 9) - arg(op, 8);
    case abi.OP_ATTENTION: return arg(op, 5) * arg(op, 7);
    case abi.OP_GET_ROWS: return arg(op, 5);
    case abi.OP_RMSNORM: return arg(op, 5);
    case abi.OP_LAYERNORM: return arg(op, 6);
    case abi.OP_PREP_ACT: return arg(op, 5);
    case abi.OP_ROPE: return arg(op, 2);
    case abi.OP_ADD: case abi.OP_SILU_MUL: case abi.OP_AXPBY: return arg(op, 4);
    case abi.OP_GELU: return arg(op, 3);
    case abi.OP_COPY: return arg(op, 3);
    case abi.OP_ADD_ROW: case abi.OP_MUL_ROW: return arg(op, 5);
    case abi.OP_GLU: return arg(op, 5);
    case abi.OP_COPY_ROWS: return arg(op, 6);
    case abi.OP_MOE: return arg(op, 4);
    default: return 1;
  }
}

// @ts-ignore: decorator
@inline function opAlign(code: i32): i32 {
  if (code == abi.OP_MATMUL) return ROW_ALIGN;
  if (code == abi.OP_ADD || code == abi.OP_SILU_MUL || code == abi.OP_AXPBY || code == abi.OP_GELU) return 16;
  if (code == abi.OP_COPY) return 64;
  if (code == abi.OP_MOE) return 32; // its token groups (moe.ts CHUNK): expert weights stream once per group
  return 1;
}

/**
 * Units per chunk of an op run by nThreads threads (≥ units: one chunk): about `perThread` chunks per
 * thread (ctl[CTL_CHUNKS]; attention twice as many: its units differ in cost).
 */
function chunkUnits(op: usize, minSplit: i32, perThread: i32, nThreads: i32): i32 {
  const units = opUnits(op);
  if (units <= 0) return 1;
  if (opMode(op, minSplit) == SERIAL) return units;
  const code = arg(op, 0);
  const align = opAlign(code);
  const pieces = nThreads * (code == abi.OP_ATTENTION ? 2 * perThread : perThread);
  return ((units + pieces - 1) / pieces + align - 1) / align * align;
}

/** Runs units [lo, hi) of an op; `scratch`: bytes to add to the op's scratch pointer (this thread's copy). */
function runPart(op: usize, lo: i32, hi: i32, scratch: usize): void {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: {
      const rowLen = arg(op, 3);
      get_rows(arg(op, 1), ptr(op, 2), rowLen, ptr(op, 4) + (<usize>lo << 2), hi - lo,
               ptr(op, 6) + (<usize>lo * <usize>rowLen << 2));
      break;
    }
    case abi.OP_RMSNORM: {
      const off = <usize>lo * <usize>arg(op, 4) << 2;
      rmsnorm(ptr(op, 1) + off, ptr(op, 2), ptr(op, 3) + off, arg(op, 4), hi - lo, argf(op, 6));
      break;
    }
    case abi.OP_PREP_ACT:
      prep_act_part(arg(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), arg(op, 5), lo, hi);
      break;
    case abi.OP_MATMUL: {
      const r0 = arg(op, 8);
      matmul(arg(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), arg(op, 6), arg(op, 7), r0 + lo, r0 + hi);
      break;
    }
    case abi.OP_ROPE: {
      const off = <usize>lo * <usize>arg(op, 3) * <usize>arg(op, 4) << 2;
      rope(ptr(op, 1) + off, hi - lo, arg(op, 3), arg(op, 4), arg(op, 5), arg(op, 6) + lo, argf(op, 7), argf(op, 8), arg(op, 9),
           ptr(op, 10), argf(op, 11), argf(op, 12), argf(op, 13), argf(op, 14));
      break;
    }
    case abi.OP_ATTENTION:
      attention_part(ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), arg(op, 6), arg(op, 7), arg(op, 8),
                     arg(op, 9), argf(op, 10), ptr(op, 11) + scratch, arg(op, 12), argf(op, 13), arg(op, 14), lo, hi);
      break;
    case abi.OP_ADD: {
      const off = <usize>lo << 2;
      add(ptr(op, 1) + off, ptr(op, 2) + off, ptr(op, 3) + off, hi - lo);
      break;
    }
    case abi.OP_SILU_MUL: {
      const off = <usize>lo << 2;
      silu_mul(ptr(op, 1) + off, ptr(op, 2) + off, ptr(op, 3) + off, hi - lo);
      break;
    }
    case abi.OP_COPY:
      memory.copy(ptr(op, 2) + <usize>lo, ptr(op, 1) + <usize>lo, <usize>(hi - lo));
      break;
    case abi.OP_LAYERNORM: {
      const off = <usize>lo * <usize>arg(op, 5) << 2;
      layernorm(ptr(op, 1) + off, ptr(op, 2), ptr(op, 3), ptr(op, 4) + off, arg(op, 5), hi - lo, argf(op, 7));
      break;
    }
    case abi.OP_ADD_ROW: {
      const off = <usize>lo * <usize>arg(op, 4) << 2;
      add_row(ptr(op, 1) + off, ptr(op, 2), ptr(op, 3) + off, arg(op, 4), hi - lo);
      break;
    }
    case abi.OP_MUL_ROW: {
      const off = <usize>lo * <usize>arg(op, 4) << 2;
      mul_row(ptr(op, 1) + off, ptr(op, 2), ptr(op, 3) + off, arg(op, 4), hi - lo);
      break;
    }
    case abi.OP_AXPBY: {
      const off = <usize>lo << 2;
      const b = ptr(op, 2);
      axpby(ptr(op, 1) + off, b != 0 ? b + off : 0, ptr(op, 3) + off, hi - lo, argf(op, 5), argf(op, 6));
      break;
    }
    case abi.OP_GELU: {
      const off = <usize>lo << 2;
      gelu(ptr(op, 1) + off, ptr(op, 2) + off, hi - lo);
      break;
    }
    case abi.OP_GLU: {
      const n = arg(op, 4);
      const aStride = arg(op, 6), bStride = arg(op, 7);
      glu(ptr(op, 1) + (<usize>lo * <usize>aStride << 2), ptr(op, 2) + (<usize>lo * <usize>bStride << 2),
          ptr(op, 3) + (<usize>lo * <usize>n << 2), n, hi - lo, aStride, bStride, arg(op, 8));
      break;
    }
    case abi.OP_COPY_ROWS: {
      const srcStride = arg(op, 2), dstStride = arg(op, 4);
      copy_rows(ptr(op, 1) + (<usize>lo * <usize>srcStride << 2), srcStride,
                ptr(op, 3) + (<usize>lo * <usize>dstStride << 2), dstStride, arg(op, 5), hi - lo);
      break;
    }
    case abi.OP_MOE: {
      const nExpert = arg(op, 5), nEmbd = arg(op, 7);
      const xo = <usize>lo * <usize>nEmbd << 2;
      moe(ptr(op, 1) + xo, ptr(op, 2) + (<usize>lo * <usize>nExpert << 2), ptr(op, 3) + xo, hi - lo, nExpert, arg(op, 6),
          nEmbd, arg(op, 8), ptr(op, 9), ptr(op, 10), ptr(op, 11), arg(op, 12), arg(op, 13), arg(op, 14), ptr(op, 15) + scratch);
      break;
    }
    default:
      unreachable();
  }
}

// ---- dependencies: which bytes an op reads and writes (weights and per-thread scratch left out: no op
// writes them, or only its own thread does). Read ranges i = 0..2 (empty when unused), one write range.

// @ts-ignore: decorator
@inline function rowsBytes(n: i32, nTok: i32): usize { return <usize>n * <usize>max<i32>(nTok, 0) << 2; }

// strided rows: nRows rows of n floats, stride floats apart
// @ts-ignore: decorator
@inline function stridedBytes(n: i32, nRows: i32, stride: i32): usize {
  return nRows <= 0 ? 0 : (<usize>(nRows - 1) * <usize>stride + <usize>n) << 2;
}

function writeAt(op: usize): usize {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: return ptr(op, 6);
    case abi.OP_RMSNORM: return ptr(op, 3);
    case abi.OP_PREP_ACT: return ptr(op, 3);
    case abi.OP_MATMUL: return ptr(op, 4);
    case abi.OP_ROPE: return ptr(op, 1);
    case abi.OP_ATTENTION: return ptr(op, 4);
    case abi.OP_ADD: case abi.OP_SILU_MUL: case abi.OP_ADD_ROW: case abi.OP_MUL_ROW: case abi.OP_AXPBY: return ptr(op, 3);
    case abi.OP_COPY: return ptr(op, 2);
    case abi.OP_LAYERNORM: return ptr(op, 4);
    case abi.OP_GELU: return ptr(op, 2);
    case abi.OP_GLU: return ptr(op, 3);
    case abi.OP_COPY_ROWS: return ptr(op, 3);
    case abi.OP_MOE: return ptr(op, 3);
    default: return 0;
  }
}

function writeBytes(op: usize): usize {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: return rowsBytes(arg(op, 3), arg(op, 5));
    case abi.OP_RMSNORM: return rowsBytes(arg(op, 4), arg(op, 5));
    case abi.OP_PREP_ACT: return <usize>act_bytes(arg(op, 1), arg(op, 4), arg(op, 5));
    case abi.OP_MATMUL: return rowsBytes(arg(op, 6), arg(op, 7));
    case abi.OP_ROPE: return rowsBytes(arg(op, 3) * arg(op, 4), arg(op, 2));
    case abi.OP_ATTENTION: return rowsBytes(arg(op, 7) * arg(op, 9), arg(op, 5));
    case abi.OP_ADD: case abi.OP_SILU_MUL: case abi.OP_AXPBY: return rowsBytes(arg(op, 4), 1);
    case abi.OP_ADD_ROW: case abi.OP_MUL_ROW: return rowsBytes(arg(op, 4), arg(op, 5));
    case abi.OP_COPY: return <usize>load<u32>(op, 12);
    case abi.OP_LAYERNORM: return rowsBytes(arg(op, 5), arg(op, 6));
    case abi.OP_GELU: return rowsBytes(arg(op, 3), 1);
    case abi.OP_GLU: return rowsBytes(arg(op, 4), arg(op, 5));
    case abi.OP_COPY_ROWS: return stridedBytes(arg(op, 5), arg(op, 6), arg(op, 4));
    case abi.OP_MOE: return rowsBytes(arg(op, 7), arg(op, 4));
    default: return 0;
  }
}

function readAt(op: usize, i: i32): usize {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: return i == 0 ? ptr(op, 4) : 0;
    case abi.OP_RMSNORM: case abi.OP_LAYERNORM: case abi.OP_ROPE: case abi.OP_GELU: case abi.OP_COPY:
    case abi.OP_ADD_ROW: case abi.OP_MUL_ROW: case abi.OP_COPY_ROWS:
      return i == 0 ? ptr(op, 1) : 0;
    case abi.OP_PREP_ACT: return i == 0 ? ptr(op, 2) : 0;
    case abi.OP_MATMUL: return i == 0 ? ptr(op, 3) : 0;
    case abi.OP_ATTENTION: return i < 3 ? ptr(op, 1 + i) : 0;
    case abi.OP_ADD: case abi.OP_SILU_MUL: case abi.OP_GLU: case abi.OP_MOE: return i < 2 ? ptr(op, 1 + i) : 0;
    case abi.OP_AXPBY: return i == 0 ? ptr(op, 1) : i == 1 && argf(op, 6) != 0 ? ptr(op, 2) : 0;
    default: return 0;
  }
}

function readBytes(op: usize, i: i32): usize {
  switch (arg(op, 0)) {
    case abi.OP_GET_ROWS: return i == 0 ? rowsBytes(1, arg(op, 5)) : 0;
    case abi.OP_RMSNORM: return i == 0 ? rowsBytes(arg(op, 4), arg(op, 5)) : 0;
    case abi.OP_LAYERNORM: return i == 0 ? rowsBytes(arg(op, 5), arg(op, 6)) : 0;
    case abi.OP_ROPE: return i == 0 ? rowsBytes(arg(op, 3) * arg(op, 4), arg(op, 2)) : 0;
    case abi.OP_GELU: return i == 0 ? rowsBytes(arg(op, 3), 1) : 0;
    case abi.OP_COPY: return i == 0 ? <usize>load<u32>(op, 12) : 0;
    case abi.OP_ADD_ROW: case abi.OP_MUL_ROW: return i == 0 ? rowsBytes(arg(op, 4), arg(op, 5)) : 0;
    case abi.OP_COPY_ROWS: return i == 0 ? stridedBytes(arg(op, 5), arg(op, 6), arg(op, 2)) : 0;
    case abi.OP_PREP_ACT: return i == 0 ? rowsBytes(arg(op, 4), arg(op, 5)) : 0;
    case abi.OP_MATMUL: return i == 0 ? <usize>act_bytes(arg(op, 1), arg(op, 5), arg(op, 7)) : 0;
    case abi.OP_ATTENTION: {
      if (i == 0) return rowsBytes(arg(op, 7) * arg(op, 9), arg(op, 5));
      if (i > 2) return 0;
      // cache rows 0 .. pos0 + nTok (a ring: all of it)
      const ring = arg(op, 14);
      return rowsBytes(arg(op, 8) * arg(op, 9), ring > 0 ? ring : arg(op, 6) + arg(op, 5));
    }
    case abi.OP_ADD: case abi.OP_SILU_MUL: return i < 2 ? rowsBytes(arg(op, 4), 1) : 0;
    case abi.OP_AXPBY: return i == 0 || (i == 1 && argf(op, 6) != 0) ? rowsBytes(arg(op, 4), 1) : 0;
    case abi.OP_GLU:
      return i == 0 ? stridedBytes(arg(op, 4), arg(op, 5), arg(op, 6)) : i == 1 ? stridedBytes(arg(op, 4), arg(op, 5), arg(op, 7)) : 0;
    case abi.OP_MOE: return i == 0 ? rowsBytes(arg(op, 7), arg(op, 4)) : i == 1 ? rowsBytes(arg(op, 5), arg(op, 4)) : 0;
    default: return 0;
  }
}

// [p, p + n) and [q, q + m) share a byte (empty ranges share none)
// @ts-ignore: decorator
@inline function meets(p: usize, n: usize, q: usize, m: usize): bool {
  return n != 0 && m != 0 && p < q + m && q < p + n;
}

/** Whether op b (later) must wait for op a: b reads what a writes, or writes what a reads or writes. */
function depends(a: usize, b: usize): bool {
  const wa = writeAt(a), wan = writeBytes(a);
  const wb = writeAt(b), wbn = writeBytes(b);
  if (meets(wa, wan, wb, wbn)) return true;
  for (let i = 0; i < 3; i++) {
    if (meets(wa, wan, readAt(b, i), readBytes(b, i))) return true;
    if (meets(readAt(a, i), readBytes(a, i), wb, wbn)) return true;
  }
  return false;
}

/** Tests (ctl[CTL_JITTER] > 0): spin a pseudo-random 0..jitter−1 reads before a chunk, to shake the timing. */
function delay(seed: u32, jitter: i32, ctl: usize): u32 {
  seed = seed * 1664525 + 1013904223;
  const n = <i32>((seed >>> 8) % <u32>jitter);
  for (let i = 0; i < n; i++) atomic.load<i32>(ctl + (<usize>abi.CTL_ERROR << 2));
  return seed;
}

/** Ops looked back at for dependencies: a thread first waits until all but this many earlier ops are complete. */
const MAX_WINDOW: i32 = 16;

// the sync line of op k (SYNC_* words: chunks taken, chunks done, complete)
// @ts-ignore: decorator
@inline function syncOf(sync: usize, k: i32): usize { return sync + <usize>k * abi.SYNC_BYTES; }

// @ts-ignore: decorator
@inline function complete(line: usize): bool { return atomic.load<i32>(line + (abi.SYNC_COMPLETE << 2)) != 0; }

/**
 * Runs plan ops with the other threads of the pool (see the threads section above and abi.ts); ctl: the
 * control block. Thread 0 returns once every op is complete; the others once no op has a chunk left.
 * 1, or 0 if a thread failed.
 */
export function run_mt(plan: usize, nOps: i32, tid: i32, nThreads: i32, ctl: usize): i32 {
  if (nThreads <= 1) {
    run(plan, nOps);
    return 1;
  }
  const canWait = canWaitOf(ctl, tid);
  const scratch = <usize>tid * <usize>load<u32>(ctl + (<usize>abi.CTL_SCRATCH_STRIDE << 2));
  const minSplit = load<i32>(ctl + (<usize>abi.CTL_MIN_SPLIT << 2));
  const perThread = max<i32>(1, load<i32>(ctl + (<usize>abi.CTL_CHUNKS << 2)));
  const jitter = load<i32>(ctl + (<usize>abi.CTL_JITTER << 2));
  let seed = <u32>(tid * 0x9e3779b9) ^ <u32>atomic.load<i32>(ctl + (<usize>abi.CTL_JOB << 2));
  const sync = <usize>load<u32>(ctl + (<usize>abi.CTL_SYNC << 2));
  let since = 0; // every op before this one is complete
  for (let k = 0; k < nOps; k++) {
    const op = plan + (<usize>k * abi.OP_WORDS << 2);
    const line = syncOf(sync, k);
    const units = opUnits(op);
    const size = chunkUnits(op, minSplit, perThread, nThreads);
    const nChunks = units <= 0 ? 1 : (units + size - 1) / size;
    if (atomic.load<i32>(line) >= nChunks) continue; // taken: nothing to do here
    // wait for what this op depends on
    while (since < k && complete(syncOf(sync, since))) since++;
    while (k - since > MAX_WINDOW) {
      if (!waitEq(ctl, syncOf(sync, since) + (abi.SYNC_COMPLETE << 2), 1, canWait)) return 0;
      since++;
    }
    for (let j = since; j < k; j++) {
      const before = syncOf(sync, j);
      if (!complete(before) && depends(plan + (<usize>j * abi.OP_WORDS << 2), op) &&
          !waitEq(ctl, before + (abi.SYNC_COMPLETE << 2), 1, canWait)) return 0;
    }
    // take chunks until none is left
    for (;;) {
      const c = atomic.add<i32>(line, 1);
      if (c >= nChunks) break;
      const lo = c * size;
      if (jitter > 0) seed = delay(seed, jitter, ctl);
      runPart(op, lo, min<i32>(lo + size, units), scratch);
      if (atomic.add<i32>(line + (abi.SYNC_DONE << 2), 1) == nChunks - 1) {
        atomic.store<i32>(line + (abi.SYNC_COMPLETE << 2), 1);
        signal(ctl);
      }
    }
  }
  if (tid == 0) {
    for (let j = since; j < nOps; j++) {
      if (!waitEq(ctl, syncOf(sync, j) + (abi.SYNC_COMPLETE << 2), 1, canWait)) return 0;
    }
  }
  return failed(ctl) ? 0 : 1;
}
