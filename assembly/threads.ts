// Threads: how the threads of a pool meet, over a control block `ctl` and a sync area in the shared
// memory (layouts: CTL_* and SYNC_* in src/abi.ts). Compiled only into the threads builds
// (`--enable threads --sharedMemory`, entry assembly/index_mt.ts). No module globals: every thread has
// its own instance, so all shared state lives in memory and is reached through atomics (each of them
// sequentially consistent).
//
// Waiting: a thread spins on the condition it waits for, ctl[CTL_SPIN] times, then sleeps on one word,
// ctl[CTL_PROGRESS], which every event bumps (an op completed, a job published, a worker left a job, a
// failure, quit); sleepers count themselves in ctl[CTL_SLEEPERS] so that events notify only when someone
// sleeps. A woken thread re-checks its condition.
import * as abi from "../src/abi";
import { run_mt } from "./scheduler";

/**
 * The host's Atomics.wait(i32 view, addr / 4, expected): sleep until notified (or at once if the value
 * changed). Not the memory.atomic.wait32 instruction: V8 11.3 (Node 20) compiles it wrong in its baseline
 * tier (Liftoff), where it corrupts a local kept in a register across the wait (measured: a hoisted
 * address read back as 0 after the first wake-up, and the worker then slept on address 0 forever);
 * worker_loop never returns, so it never leaves Liftoff. A call to an import makes Liftoff spill every
 * local first.
 */
// @ts-ignore: decorator
@external("env", "wait32")
declare function hostWait32(addr: usize, expected: i32): void;

// @ts-ignore: decorator
@inline export function word(ctl: usize, i: i32): usize { return ctl + (<usize>i << 2); }

/** Whether a thread failed (the job is abandoned). */
// @ts-ignore: decorator
@inline export function failed(ctl: usize): bool { return atomic.load<i32>(word(ctl, abi.CTL_ERROR)) != 0; }

/** After changing something another thread may wait for: bump ctl[CTL_PROGRESS], wake sleepers. */
export function signal(ctl: usize): void {
  const progress = word(ctl, abi.CTL_PROGRESS);
  atomic.add<i32>(progress, 1);
  if (atomic.load<i32>(word(ctl, abi.CTL_SLEEPERS)) > 0) atomic.notify(progress, -1);
}

// conditions of waitFor: the i32 at addr is == value, or != value
const EQ = 0;
const NE = 1;

// @ts-ignore: decorator
@inline function holds(addr: usize, cond: i32, value: i32): bool {
  const v = atomic.load<i32>(addr);
  return cond == EQ ? v == value : v != value;
}

/**
 * Waits until the i32 at addr is == (cond EQ) or != (cond NE) value: spins ctl[CTL_SPIN] times, then
 * sleeps on ctl[CTL_PROGRESS] (only if `canWait`: a browser's main thread may not block, it spins on).
 * False if a thread failed meanwhile.
 */
export function waitFor(ctl: usize, addr: usize, cond: i32, value: i32, canWait: bool): bool {
  const spin = atomic.load<i32>(word(ctl, abi.CTL_SPIN));
  let i = 0;
  while (!holds(addr, cond, value)) {
    if (failed(ctl)) return false;
    if (++i >= spin && canWait) {
      const sleepers = word(ctl, abi.CTL_SLEEPERS);
      const progress = word(ctl, abi.CTL_PROGRESS);
      // count ourselves, then read PROGRESS, then re-check: an event after the check bumps PROGRESS
      // (the wait returns at once) and sees us counted (it notifies)
      atomic.add<i32>(sleepers, 1);
      const p = atomic.load<i32>(progress);
      if (!holds(addr, cond, value) && !failed(ctl)) {
        atomic.add<i32>(word(ctl, abi.CTL_SLEEPS), 1);
        hostWait32(progress, p);
      }
      atomic.sub<i32>(sleepers, 1);
      i = 0;
    }
  }
  return !failed(ctl);
}

// @ts-ignore: decorator
@inline export function waitEq(ctl: usize, addr: usize, value: i32, canWait: bool): bool {
  return waitFor(ctl, addr, EQ, value, canWait);
}

/** May this thread block? Workers may; thread 0 only if the host said so (not a browser's main thread). */
// @ts-ignore: decorator
@inline export function canWaitOf(ctl: usize, tid: i32): bool {
  return tid != 0 || atomic.load<i32>(word(ctl, abi.CTL_WAIT0)) != 0;
}

/**
 * Thread 0: wait until the workers have left the previous job, clear the sync area, publish the plan as
 * the next job, run it with them. 1 when the whole plan has run (its results are in memory), 0 if a
 * thread failed.
 */
export function run_job(ctl: usize, plan: usize, nOps: i32): i32 {
  if (failed(ctl)) return 0;
  const nThreads = atomic.load<i32>(word(ctl, abi.CTL_NTHREADS));
  if (nOps > atomic.load<i32>(word(ctl, abi.CTL_SYNC_OPS))) unreachable();
  const exited = word(ctl, abi.CTL_EXIT);
  if (!waitEq(ctl, exited, nThreads - 1, canWaitOf(ctl, 0))) return 0;
  atomic.store<i32>(exited, 0);
  memory.fill(<usize><u32>atomic.load<i32>(word(ctl, abi.CTL_SYNC)), 0, <usize>nOps * abi.SYNC_BYTES);
  atomic.store<i32>(word(ctl, abi.CTL_PLAN), <i32>plan);
  atomic.store<i32>(word(ctl, abi.CTL_NOPS), nOps);
  atomic.add<i32>(word(ctl, abi.CTL_JOB), 1);
  signal(ctl);
  if (run_mt(plan, nOps, 0, nThreads, ctl) == 0) return 0;
  // the workers leave the job before the host writes the next plan: one still scanning this plan's tail
  // must not read (and take chunks of) the next plan's ops under this job's sync lines
  return waitEq(ctl, exited, nThreads - 1, canWaitOf(ctl, 0)) ? 1 : 0;
}

/**
 * Worker tid (1..n−1): run each job as it is published, then say so (ctl[CTL_EXIT]); until ctl[CTL_QUIT]
 * is set or a thread fails. Jobs are numbered from 1 (the host zero-fills ctl before the workers start).
 */
export function worker_loop(ctl: usize, tid: i32): void {
  const job = word(ctl, abi.CTL_JOB);
  let seen = 0;
  for (;;) {
    if (!waitFor(ctl, job, NE, seen, true)) return;
    if (atomic.load<i32>(word(ctl, abi.CTL_QUIT)) != 0) return;
    seen = atomic.load<i32>(job);
    const plan = <usize><u32>atomic.load<i32>(word(ctl, abi.CTL_PLAN));
    const nOps = atomic.load<i32>(word(ctl, abi.CTL_NOPS));
    const ok = run_mt(plan, nOps, tid, atomic.load<i32>(word(ctl, abi.CTL_NTHREADS)), ctl);
    atomic.add<i32>(word(ctl, abi.CTL_EXIT), 1);
    signal(ctl);
    if (ok == 0) return;
  }
}

/** After a trap in some thread: mark the pool failed and wake everyone (they return 0 / leave their loop). */
export function thread_fail(ctl: usize): void {
  atomic.store<i32>(word(ctl, abi.CTL_ERROR), 1);
  atomic.add<i32>(word(ctl, abi.CTL_PROGRESS), 1);
  atomic.notify(word(ctl, abi.CTL_PROGRESS), -1);
}

/** Ask the workers to leave worker_loop (between jobs). */
export function threads_quit(ctl: usize): void {
  atomic.store<i32>(word(ctl, abi.CTL_QUIT), 1);
  atomic.add<i32>(word(ctl, abi.CTL_JOB), 1);
  atomic.add<i32>(word(ctl, abi.CTL_PROGRESS), 1);
  atomic.notify(word(ctl, abi.CTL_PROGRESS), -1);
}
