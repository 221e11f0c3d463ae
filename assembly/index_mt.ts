// The threads build's exports: every export of index.ts, plus the thread pool's entry points (see
// src/abi.ts, "threads"). Built with `--enable threads --sharedMemory` (asconfig targets
// "threads" and "relaxed-threads"): the memory import is shared.
export * from "./index";
export { run_mt } from "./scheduler";
export { run_job, worker_loop, thread_fail, threads_quit } from "./threads";
