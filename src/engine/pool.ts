/**
 * The thread pool: n − 1 workers over the engine's shared WebAssembly.Memory, each with its own instance
 * of the threads build. The calling thread is thread 0: `run` publishes a plan in the control block and
 * runs it with the workers, returning when every op is complete (kernels' run_job; how the threads share
 * the ops: abi.ts, "threads"). The workers never return to JavaScript between jobs: they wait inside
 * wasm (worker_loop: a bounded spin on the control block, then a sleep in Atomics.wait), so a job starts
 * without any message.
 *
 * Node, Bun and Deno: worker_threads, unref'd once started, so they never keep the process alive (Deno's
 * own Workers would: a Deno script that never calls dispose() would not exit). Browsers: module Workers;
 * a browser shares memory with workers only when the page is cross-origin isolated (COOP: same-origin +
 * COEP: require-corp). Where threads are not possible (no SharedArrayBuffer, not isolated, no Worker as
 * in workerd) threadSupport() says why, and the engine runs on one thread.
 */
import { WasmlmError } from '../errors.js';
import {
  CTL_BYTES, CTL_CHUNKS, CTL_EXIT, CTL_JITTER, CTL_MIN_SPLIT, CTL_NTHREADS, CTL_SCRATCH_STRIDE, CTL_SPIN, CTL_SYNC, CTL_SYNC_OPS, CTL_WAIT0,
} from '../abi.js';
import type { ThreadKernelExports } from './wasm.js';

/** Spin iterations (about 1–3 ns each) before a waiting thread sleeps: 2^17 ≈ 0.1–0.4 ms. */
export const DEFAULT_SPIN = 1 << 17;

/** Ops smaller than this many floats are not split: one thread runs each whole (see abi.ts, CTL_MIN_SPLIT). */
export const DEFAULT_MIN_SPLIT = 4096;

/** Chunks per thread an op is cut into (see abi.ts, CTL_CHUNKS). */
export const DEFAULT_CHUNKS = 4;

export interface PoolTuning {
  /** ctl[CTL_CHUNKS] (default DEFAULT_CHUNKS; tests: many small chunks interleave the threads finely) */
  chunks?: number;
  /** spin iterations before sleeping (default DEFAULT_SPIN) */
  spin?: number;
  /** ctl[CTL_MIN_SPLIT] (default DEFAULT_MIN_SPLIT; 0: split every op) */
  minSplit?: number;
  /** ctl[CTL_JITTER] (tests: shake the timing; default 0) */
  jitter?: number;
  /** tests: start the threads asked for even beyond the cores available (see capThreads) */
  oversubscribe?: boolean;
}

/** How long workers may take to start before the engine gives up on threads. */
const START_TIMEOUT_MS = 30_000;

type Kind = 'node' | 'web';

export type ThreadSupport = { ok: true; kind: Kind; cores: number } | { ok: false; reason: string; cores: number };

interface NodeWorker {
  postMessage(message: unknown): void;
  on(event: string, listener: (...args: any[]) => void): void;
  off(event: string, listener: (...args: any[]) => void): void;
  unref(): void;
  terminate(): unknown;
}

type AnyWorker = { kind: 'node'; w: NodeWorker } | { kind: 'web'; w: Worker };

const g = globalThis as unknown as {
  Deno?: unknown;
  process?: { versions?: { node?: string }; execArgv?: string[] };
  navigator?: { hardwareConcurrency?: number; userAgent?: string };
  crossOriginIsolated?: boolean;
  Worker?: unknown;
  SharedArrayBuffer?: unknown;
};

function isNode(): boolean {
  return g.Deno === undefined && typeof g.process?.versions?.node === 'string';
}

/** Cores this process may use: os.availableParallelism() in Node, navigator.hardwareConcurrency elsewhere. */
export async function availableCores(): Promise<number> {
  try {
    if (isNode() || g.Deno !== undefined) {
      const os = await import('node:os');
      return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
    }
  } catch {
    // fall through
  }
  const n = g.navigator?.hardwareConcurrency;
  return typeof n === 'number' && n >= 1 ? Math.floor(n) : 1;
}

/**
 * At most one thread per core: more only slow every thread down (they spin and wait on each other) and
 * cost a worker each (e.g. 256 asked on 2 cores: 255 workers, 2.2 GB, 5 s for 8 tokens). `choice`: the
 * threads chosen (n, and the note saying why); returns it, or its cap at the cores available with a
 * note that says so. The engine calls it on what it chose, before it starts any worker.
 */
export async function capThreads<T extends { n: number; note: string }>(choice: T, tuning?: PoolTuning): Promise<T> {
  if (choice.n <= 1 || tuning?.oversubscribe) return choice;
  const cores = await availableCores();
  if (choice.n <= cores) return choice;
  if (cores === 1) return { ...choice, n: 1, note: `one thread: ${choice.n} asked, capped at the one core available` };
  return {
    ...choice,
    n: cores,
    note: `${cores} threads: this thread and ${cores - 1} workers (${choice.n} asked, capped at the ${cores} cores available)`,
  };
}

/** Whether this runtime can run a worker pool over a shared memory, and if not, why. */
export async function threadSupport(): Promise<ThreadSupport> {
  const cores = await availableCores();
  if (typeof g.SharedArrayBuffer !== 'function') {
    const reason = g.crossOriginIsolated === false
      ? 'SharedArrayBuffer is unavailable because the page is not cross-origin isolated ' +
        '(serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)'
      : 'this runtime has no SharedArrayBuffer';
    return { ok: false, reason, cores };
  }
  if (g.crossOriginIsolated === false) {
    return {
      ok: false, cores,
      reason: 'the page is not cross-origin isolated, so it cannot share memory with workers ' +
        '(serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    };
  }
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    if (!(m.buffer instanceof (g.SharedArrayBuffer as typeof SharedArrayBuffer))) throw new Error('not shared');
  } catch {
    return { ok: false, reason: 'this runtime cannot create a shared WebAssembly.Memory', cores };
  }
  if (isNode() || g.Deno !== undefined) {
    try {
      const wt = await import('node:worker_threads');
      if (typeof wt.Worker === 'function') return { ok: true, kind: 'node', cores };
    } catch {
      // Deno without node: modules: its own Workers
    }
    if (isNode()) return { ok: false, reason: 'node:worker_threads is unavailable', cores };
  }
  if (typeof g.Worker !== 'function') {
    const workerd = g.navigator?.userAgent === 'Cloudflare-Workers';
    return { ok: false, reason: workerd ? 'workerd (Cloudflare Workers) has no Worker threads' : 'this runtime has no Worker', cores };
  }
  return { ok: true, kind: 'web', cores };
}

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A job's own scratch and sync layout (training plans): `scratchStride` bytes between the per-thread scratch
 * copies its ops use, `sync` a sync area of SYNC_BYTES per op for plans of up to `syncOps` ops.
 */
export interface JobLayout { scratchStride: number; sync: number; syncOps: number }

export class ThreadPool {
  private failure: string | undefined;
  private closed = false;
  /** the layout of the engine's plans (start, setSync), restored after a job with its own */
  private layout: JobLayout;

  private constructor(
    private readonly kernels: ThreadKernelExports,
    private readonly memory: WebAssembly.Memory,
    /** byte offset of the control block */
    readonly ctl: number,
    readonly nThreads: number,
    private readonly workers: AnyWorker[],
    readonly kind: Kind,
    layout: JobLayout,
  ) {
    this.layout = layout;
  }

  /**
   * Starts nThreads − 1 workers on `module` (a threads build) over `memory`, thread 0 being the caller
   * (`kernels`: its instance). `ctl`: CTL_BYTES bytes, 64-byte aligned; `scratchStride`: bytes between
   * the per-thread scratch copies; `sync`: the sync area (SYNC_BYTES per op, for plans of up to
   * `syncOps` ops). Rejects (after stopping any started worker) if a worker cannot start.
   */
  static async start(kind: Kind, module: WebAssembly.Module, memory: WebAssembly.Memory, kernels: ThreadKernelExports,
    ctl: number, nThreads: number, scratchStride: number, sync: number, syncOps: number, tuning: PoolTuning = {}): Promise<ThreadPool> {
    const words = new Int32Array(memory.buffer, ctl, CTL_BYTES >> 2);
    words.fill(0);
    words[CTL_EXIT] = nThreads - 1; // no job yet: every worker is out of one
    words[CTL_SYNC] = sync;
    words[CTL_SYNC_OPS] = syncOps;
    words[CTL_SPIN] = tuning.spin ?? DEFAULT_SPIN;
    words[CTL_MIN_SPLIT] = tuning.minSplit ?? DEFAULT_MIN_SPLIT;
    words[CTL_CHUNKS] = tuning.chunks ?? DEFAULT_CHUNKS;
    words[CTL_JITTER] = tuning.jitter ?? 0;
    words[CTL_SCRATCH_STRIDE] = scratchStride;
    words[CTL_NTHREADS] = nThreads;
    words[CTL_WAIT0] = canBlock() ? 1 : 0;
    const workers: AnyWorker[] = [];
    const started: Promise<void>[] = [];
    try {
      for (let tid = 1; tid < nThreads; tid++) {
        const w = await spawn(kind);
        workers.push(w);
        started.push(whenReady(w));
        post(w, { module, memory, ctl, tid });
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`workers did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      });
      try {
        await Promise.race([Promise.all(started), timeout]);
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      kernels.threads_quit(ctl);
      for (const w of workers) terminate(w);
      throw e;
    }
    const pool = new ThreadPool(kernels, memory, ctl, nThreads, workers, kind, { scratchStride, sync, syncOps });
    for (const w of workers) {
      if (w.kind === 'node') {
        // a worker that dies outside worker_loop (which reports its own traps) must not take the process down
        w.w.on('error', (e: Error) => { pool.failure ??= e.message; });
        w.w.unref();
      } else {
        w.w.addEventListener('error', (e) => { pool.failure ??= e.message; });
      }
    }
    return pool;
  }

  /** A new sync area for plans of up to `syncOps` ops (the engine's plan grew). Between jobs. */
  setSync(sync: number, syncOps: number): void {
    this.layout = { ...this.layout, sync, syncOps };
    this.setLayout(this.layout);
  }

  private setLayout(l: JobLayout): void {
    const words = new Int32Array(this.memory.buffer, this.ctl, CTL_BYTES >> 2);
    Atomics.store(words, CTL_SYNC, l.sync);
    Atomics.store(words, CTL_SYNC_OPS, l.syncOps);
    Atomics.store(words, CTL_SCRATCH_STRIDE, l.scratchStride);
  }

  /** Whether run() can be called (not disposed, no thread failed). */
  get alive(): boolean {
    return !this.closed && this.failure === undefined;
  }

  /**
   * Runs a plan on every thread; returns when all are done. Throws if a thread failed. `job`: the plan's own
   * scratch stride and sync area (between jobs the words are free to change: run_job returns once every
   * worker has left the job), the engine's restored after it.
   */
  run(plan: number, nOps: number, job?: JobLayout): void {
    let ok = 0;
    try {
      if (job) this.setLayout(job);
      try {
        ok = this.kernels.run_job(this.ctl, plan, nOps);
      } finally {
        if (job) this.setLayout(this.layout);
      }
    } catch (e) {
      // thread 0 trapped: release the others, who are waiting for it
      this.kernels.thread_fail(this.ctl);
      this.failure ??= (e as Error).message;
      this.terminate();
      throw new WasmlmError('WASM_FAILED', `kernel failed: ${(e as Error).message}`, { cause: e });
    }
    if (!ok) {
      this.failure ??= 'a worker thread failed';
      this.terminate();
      throw new WasmlmError('WASM_FAILED', `a worker thread failed while running the model${this.failure ? `: ${this.failure}` : ''}`);
    }
  }

  /** Stops the workers (they leave worker_loop, then are terminated). Idempotent. */
  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.kernels.threads_quit(this.ctl);
    } catch {
      // memory gone: terminate anyway
    }
    for (const w of this.workers) terminate(w);
  }
}

async function spawn(kind: Kind): Promise<AnyWorker> {
  if (kind === 'node') {
    const { Worker } = await import('node:worker_threads');
    const url = new URL('./worker.js', import.meta.url);
    // workers inherit the process's execArgv, and `node --input-type=module -e ...` would make the
    // worker fail ("--input-type can only be used with string input"): leave that flag out
    const execArgv = g.process?.execArgv;
    const at = execArgv?.findIndex((a) => /^--input-type(=|$)/.test(a)) ?? -1;
    if (execArgv && at >= 0) {
      const rest = execArgv.filter((_, i) => i !== at && !(i === at + 1 && execArgv[at] === '--input-type'));
      try {
        return { kind, w: new Worker(url, { execArgv: rest }) as unknown as NodeWorker };
      } catch {
        // a flag that workers refuse when given explicitly (e.g. --max-old-space-size)
        return { kind, w: new Worker(url, { execArgv: [] }) as unknown as NodeWorker };
      }
    }
    return { kind, w: new Worker(url) as unknown as NodeWorker };
  }
  return { kind, w: new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }) };
}

function post(w: AnyWorker, message: unknown): void {
  w.w.postMessage(message);
}

function terminate(w: AnyWorker): void {
  try {
    void w.w.terminate();
  } catch {
    // already gone
  }
}

/** Resolves on the worker's 'ready', rejects on its 'error' message, an error event or an exit. */
function whenReady(w: AnyWorker): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onMessage = (data: { type?: string; message?: string }) => {
      if (data?.type === 'ready') { done(); resolve(); }
      else if (data?.type === 'error') { done(); reject(new Error(data.message ?? 'worker failed')); }
    };
    const onError = (e: { message?: string }) => { done(); reject(new Error(e?.message || 'worker failed to start')); };
    const onExit = (code: number) => { done(); reject(new Error(`worker exited (code ${code}) before it started`)); };
    let done: () => void;
    if (w.kind === 'node') {
      w.w.on('message', onMessage);
      w.w.on('error', onError);
      w.w.on('exit', onExit);
      done = () => { w.w.off('message', onMessage); w.w.off('error', onError); w.w.off('exit', onExit); };
    } else {
      const m = (e: MessageEvent) => onMessage(e.data);
      const err = (e: ErrorEvent | Event) => {
        e.preventDefault?.();
        onError({ message: (e as ErrorEvent).message || 'worker script failed to load' });
      };
      const merr = () => onError({ message: 'the worker could not receive the module or memory (messageerror)' });
      w.w.addEventListener('message', m);
      w.w.addEventListener('error', err);
      w.w.addEventListener('messageerror', merr);
      done = () => {
        w.w.removeEventListener('message', m);
        w.w.removeEventListener('error', err);
        w.w.removeEventListener('messageerror', merr);
      };
    }
  });
}
