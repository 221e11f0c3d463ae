// A wasmlm worker thread (see pool.ts). Plain JavaScript with no imports of the package's own code, so
// the same file runs from src/ (tests) and from dist/ (rollup copies it there as an entry): the first
// message brings { module, memory, ctl, tid }; the worker instantiates the threads build over the
// shared memory, says 'ready', then runs jobs inside wasm (worker_loop) until the pool quits or a
// thread fails. Node and Deno: worker_threads (parentPort); browsers: a module Worker (self).

async function start(data, post) {
  const { module, memory, ctl, tid } = data;
  let exports;
  try {
    let view;
    // synchronous: an awaited instantiate can leave the worker's event loop idle (see wasm.ts, newInstance)
    const instance = new WebAssembly.Instance(module, {
      env: {
        memory,
        abort() { throw new Error('kernel aborted'); },
        // Atomics.wait for the kernels' sleeps (see assembly/threads.ts; the same as wasm.ts's kernelImports)
        wait32(addr, expected) {
          const buffer = memory.buffer;
          if (!view || view.buffer !== buffer) view = new Int32Array(buffer);
          Atomics.wait(view, addr >>> 2, expected);
        },
      },
    });
    exports = instance.exports;
  } catch (e) {
    post({ type: 'error', message: `cannot instantiate the kernels in a worker: ${e && e.message ? e.message : e}` });
    return;
  }
  post({ type: 'ready' });
  try {
    exports.worker_loop(ctl, tid);
  } catch (e) {
    // wake the other threads, who would otherwise wait for this one forever
    exports.thread_fail(ctl);
    post({ type: 'error', message: `worker ${tid}: ${e && e.message ? e.message : e}` });
  }
}

// A Web Worker (browsers; Deno's `new Worker`) has a WorkerGlobalScope; a worker_threads worker (Node,
// and Deno's node:worker_threads, where `self` is undefined) has none. No top-level await: bundlers may
// build this file as a classic (IIFE) worker script.
const web = typeof globalThis.WorkerGlobalScope === 'function' && globalThis instanceof globalThis.WorkerGlobalScope;
// (a computed specifier, so that bundlers building this file for a browser leave it alone)
const WORKER_THREADS = 'node:worker_threads';

if (web) {
  self.onmessage = (e) => {
    self.onmessage = null;
    start(e.data, (m) => self.postMessage(m)).then(() => self.close());
  };
} else {
  // messages that arrive before the listener wait in the port
  import(/* @vite-ignore */ /* webpackIgnore: true */ WORKER_THREADS).then(({ parentPort }) => {
    parentPort.once('message', (data) => {
      start(data, (m) => parentPort.postMessage(m));
    });
  });
}
