// Runs a plan: nOps ops of OP_WORDS i32 words each (src/abi.ts), alone (`run`) or with the other threads
// of a pool (`run_mt`). What each op is (its units, what it reads and writes, how to run a range of its
// units) comes from its entry in the op table (assembly/ops/table.ts, entry.ts); this file only schedules.
import * as abi from "../src/abi";
import { ALIGN, MAX_READS, READS, UNEVEN, UNITS, WORK, WRITES, regionAt, regionBytes } from "./ops/entry";
import { opInfo, opRun } from "./ops/table";
import { canWaitOf, failed, signal, waitEq } from "./threads";

// @ts-ignore: decorator
@inline function opAt(plan: usize, k: i32): usize { return plan + (<usize>k * abi.OP_WORDS << 2); }

// @ts-ignore: decorator
@inline function units(op: usize): i32 { return <i32>opInfo(UNITS, op); }

export function run(plan: usize, nOps: i32): void {
  for (let k = 0; k < nOps; k++) {
    const op = opAt(plan, k);
    opRun(op, 0, units(op), 0);
  }
}

// ================================================================ threads (the threads builds only)
// run_mt: the threads of a pool run the same plan together. Each op is cut into chunks of units; threads
// take chunks from a counter in the op's sync line (first come, first served) and count them done; each
// unit is computed by exactly one thread with the same kernel code as `run` uses, so results do not depend
// on the thread count or on who took what. Before taking chunks of an op, a thread waits until the earlier
// ops it depends on (reads what they write, writes what they read or write: `depends`) are complete; an op
// that does not depend on the one before may run beside it. A thread that is descheduled between chunks
// holds nobody up (the others take its share); only one descheduled in the middle of a chunk does, for the
// rest of that chunk.
//
// An op runs whole (one chunk, one thread) when it has no more units than its ALIGN, when its WORK is below
// ctl[CTL_MIN_SPLIT] (too small to be worth splitting), or when its output overlaps an input other than the
// same bytes element for element.

// [at, at + bytes) of two regions share a byte (empty regions share none)
// @ts-ignore: decorator
@inline function meets(a: i64, b: i64): bool {
  const p = regionAt(a), n = regionBytes(a), q = regionAt(b), m = regionBytes(b);
  return n != 0 && m != 0 && p < q + m && q < p + n;
}

/** Whether op is cut into chunks (else one thread runs it whole). */
function splits(op: usize, minSplit: i32): bool {
  if (opInfo(UNITS, op) <= opInfo(ALIGN, op) || opInfo(WORK, op) < <i64>minSplit) return false;
  const w = opInfo(WRITES, op);
  for (let i = 0; i < MAX_READS; i++) {
    const r = opInfo(READS + i, op);
    if (r != w && meets(w, r)) return false;
  }
  return true;
}

/**
 * Units per chunk of an op run by nThreads threads (≥ units: one chunk): about `perThread` chunks per
 * thread (ctl[CTL_CHUNKS]; twice as many for ops whose units differ in cost), a multiple of its ALIGN.
 */
function chunkUnits(op: usize, minSplit: i32, perThread: i32, nThreads: i32): i32 {
  const n = units(op);
  if (n <= 0) return 1;
  if (!splits(op, minSplit)) return n;
  const align = <i32>opInfo(ALIGN, op);
  const pieces = nThreads * (opInfo(UNEVEN, op) != 0 ? 2 * perThread : perThread);
  return ((n + pieces - 1) / pieces + align - 1) / align * align;
}

/** Whether op b (later) must wait for op a: b reads what a writes, or writes what a reads or writes. */
function depends(a: usize, b: usize): bool {
  const wa = opInfo(WRITES, a), wb = opInfo(WRITES, b);
  if (meets(wa, wb)) return true;
  for (let i = 0; i < MAX_READS; i++) {
    if (meets(wa, opInfo(READS + i, b)) || meets(opInfo(READS + i, a), wb)) return true;
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
 * Runs plan ops with the other threads of the pool (see above and abi.ts, "threads"); ctl: the control
 * block. Thread 0 returns once every op is complete; the others once no op has a chunk left. 1, or 0 if a
 * thread failed.
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
    const op = opAt(plan, k);
    const line = syncOf(sync, k);
    const n = units(op);
    const size = chunkUnits(op, minSplit, perThread, nThreads);
    const nChunks = n <= 0 ? 1 : (n + size - 1) / size;
    if (atomic.load<i32>(line) >= nChunks) continue; // taken: nothing to do here
    // wait for what this op depends on
    while (since < k && complete(syncOf(sync, since))) since++;
    while (k - since > MAX_WINDOW) {
      if (!waitEq(ctl, syncOf(sync, since) + (abi.SYNC_COMPLETE << 2), 1, canWait)) return 0;
      since++;
    }
    for (let j = since; j < k; j++) {
      const before = syncOf(sync, j);
      if (!complete(before) && depends(opAt(plan, j), op) &&
          !waitEq(ctl, before + (abi.SYNC_COMPLETE << 2), 1, canWait)) return 0;
    }
    // take chunks until none is left
    for (;;) {
      const c = atomic.add<i32>(line, 1);
      if (c >= nChunks) break;
      const lo = c * size;
      if (jitter > 0) seed = delay(seed, jitter, ctl);
      opRun(op, lo, min<i32>(lo + size, n), scratch);
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
