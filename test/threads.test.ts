/**
 * Threads: a worker pool over one shared memory computes the same bits as one thread.
 *
 * Every comparison here is bit for bit (Object.is on every logit). The pool is started with
 * `threadTuning: { minSplit: 0 }`, so that even the tiny fixture models have every op split between
 * the threads (by default ops under 4096 floats run on thread 0 alone, and these models would barely
 * exercise the split).
 *
 * Node: worker_threads (counted through a mock of node:worker_threads that wraps the real one); Deno
 * and Chromium (a cross-origin isolated page, the model on the page's thread, which may not block):
 * the built dist/ in a child process or a browser page. The exit test also runs dist/ (npm test
 * builds it first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadModel, type Model } from '../src/index.js';
import { launchChromium, skipBrowser, type Browser } from './helpers/chromium.js';
import { FIXTURES, fixture } from './helpers/fixtures.js';
import { serveStatic, type StaticServer } from './helpers/server.js';

const workers = vi.hoisted(() => ({ created: 0 }));
vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  class CountedWorker extends real.Worker {
    constructor(...args: ConstructorParameters<typeof real.Worker>) {
      super(...args);
      workers.created++;
    }
  }
  return { ...real, Worker: CountedWorker, default: { ...real, Worker: CountedWorker } };
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = `${ROOT}dist/index.js`;
const DENO = `${ROOT}node_modules/.bin/deno`;
const PROMPT = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];
const SPLIT_ALL = { minSplit: 0, chunks: 16, jitter: 20000, oversubscribe: true }; // (oversubscribe: 3 threads on a 2-core machine too)

/** Indices (position, vocab index) where two sets of logit rows differ in any bit; at most 5. */
function differences(a: Float32Array[], b: Float32Array[]): string[] {
  const out: string[] = [];
  expect(b.length).toBe(a.length);
  for (let p = 0; p < a.length; p++) {
    const x = a[p]!, y = b[p]!;
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length && out.length < 5; i++) {
      if (!Object.is(x[i], y[i])) out.push(`[${p}][${i}]: ${x[i]} vs ${y[i]}`);
    }
  }
  return out;
}

async function greedy(model: Model, ids: number[]): Promise<number[]> {
  return (await model.complete(ids, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
}

describe.each(['llama', 'llama_q4_0', 'llama256_q4_k_m', 'llama_moe', 'bloom', 'gpt2', 'phi3_swa'])('%s on 2 threads', (name) => {
  it('logits and greedy tokens bit-identical to 1 thread (whole prompt, and in batches of 5 over the cache)', async () => {
    const file = fixture(`models/${name}.gguf`);
    const one = await loadModel(file, { threads: 1 });
    const two = await loadModel(file, { threads: 2, threadTuning: SPLIT_ALL });
    const twoSmallBatches = await loadModel(file, { threads: 2, batchSize: 5, threadTuning: SPLIT_ALL });
    const oneSmallBatches = await loadModel(file, { threads: 1, batchSize: 5 });
    try {
      expect(one.info.threads).toBe(1);
      expect(two.info.threads).toBe(2);
      expect(two.info.threadsNote).toMatch(/^2 threads: this thread and 1 worker_threads/);
      const ref = await one.logits(PROMPT);
      expect(differences(ref, await two.logits(PROMPT))).toEqual([]);
      expect(differences(await oneSmallBatches.logits(PROMPT), await twoSmallBatches.logits(PROMPT))).toEqual([]);
      const g = await greedy(one, PROMPT);
      expect(g).toHaveLength(16);
      expect(await greedy(two, PROMPT)).toEqual(g);
      expect(await greedy(twoSmallBatches, PROMPT)).toEqual(await greedy(oneSmallBatches, PROMPT));
    } finally {
      for (const m of [one, two, twoSmallBatches, oneSmallBatches]) m.dispose();
    }
  });
});

describe('threads', () => {
  it('the default split (small ops on thread 0 alone) gives the same bits too', async () => {
    const file = fixture('models/llama256_q4_k_m.gguf');
    const one = await loadModel(file, { threads: 1 });
    const two = await loadModel(file, { threads: 2 });
    try {
      expect(two.info.threads).toBe(2);
      expect(differences(await one.logits(PROMPT), await two.logits(PROMPT))).toEqual([]);
      expect(await greedy(two, PROMPT)).toEqual(await greedy(one, PROMPT));
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it('threads: 1 starts no worker; threads: 3 starts 2', async () => {
    const before = workers.created;
    const one = await loadModel(fixture('models/llama.gguf'), { threads: 1 });
    await one.logits(PROMPT);
    expect(workers.created).toBe(before);
    expect(one.info.threads).toBe(1);
    expect(one.info.threadsNote).toBe('one thread (asked)');
    one.dispose();
    const three = await loadModel(fixture('models/llama.gguf'), { threads: 3, threadTuning: SPLIT_ALL });
    expect(workers.created).toBe(before + 2);
    expect(three.info.threads).toBe(3);
    const ref = await loadModel(fixture('models/llama.gguf'), { threads: 1 });
    expect(differences(await ref.logits(PROMPT), await three.logits(PROMPT))).toEqual([]);
    three.dispose();
    ref.dispose();
  });

  it('a LoRA adapter loaded after the workers started (the shared memory grows) gives the same bits', async () => {
    const file = fixture('models/llama.gguf');
    const lora = fixture('models/llama.lora.gguf');
    const one = await loadModel(file, { threads: 1 });
    const two = await loadModel(file, { threads: 2, threadTuning: SPLIT_ALL });
    try {
      await greedy(two, PROMPT); // the workers have run jobs before the memory grows
      const engine = (two as unknown as { engineRef: { memoryBytes: number } }).engineRef;
      const bytes = engine.memoryBytes;
      const a1 = await one.loadAdapter(lora, { scale: 1 });
      const a2 = await two.loadAdapter(lora, { scale: 1 });
      expect(engine.memoryBytes).toBeGreaterThan(bytes);
      expect(differences(await one.logits(PROMPT), await two.logits(PROMPT))).toEqual([]);
      expect(await greedy(two, PROMPT)).toEqual(await greedy(one, PROMPT));
      a1.setScale(0.5);
      a2.setScale(0.5);
      expect(differences(await one.logits(PROMPT), await two.logits(PROMPT))).toEqual([]);
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it('generation on threads can be aborted, and the model stays usable', async () => {
    const file = fixture('models/llama.gguf');
    const two = await loadModel(file, { threads: 2, threadTuning: SPLIT_ALL });
    const one = await loadModel(file, { threads: 1 });
    try {
      const controller = new AbortController();
      let pieces = 0;
      const it = two.generate(PROMPT, { temperature: 0, maxTokens: 100, ignoreEos: true, signal: controller.signal });
      for (;;) {
        const step = await it.next();
        if (step.done) {
          expect(step.value.finishReason).toBe('abort');
          expect(step.value.tokens.length).toBeLessThan(100);
          break;
        }
        if (++pieces === 3) controller.abort();
      }
      expect(differences(await one.logits(PROMPT), await two.logits(PROMPT))).toEqual([]);
      expect(await greedy(two, PROMPT)).toEqual(await greedy(one, PROMPT));
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it('dispose() stops the workers: a model used after it throws DISPOSED', async () => {
    const two = await loadModel(fixture('models/llama.gguf'), { threads: 2 });
    two.dispose();
    await expect(two.logits(PROMPT)).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  it('a failed thread: the call throws WASM_FAILED, later calls run on one thread with the same bits', async () => {
    const file = fixture('models/llama.gguf');
    const one = await loadModel(file, { threads: 1 });
    const two = await loadModel(file, { threads: 2, threadTuning: SPLIT_ALL });
    try {
      const ref = await one.logits(PROMPT);
      expect(differences(ref, await two.logits(PROMPT))).toEqual([]);
      // what a worker does when it traps (worker.js): mark the pool failed, wake everyone
      const pool = (two as unknown as { engineRef: { pool: { ctl: number; kernels: { thread_fail(ctl: number): void } } } }).engineRef.pool;
      pool.kernels.thread_fail(pool.ctl);
      await expect(two.logits(PROMPT)).rejects.toMatchObject({ code: 'WASM_FAILED' });
      expect(differences(ref, await two.logits(PROMPT))).toEqual([]);
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it('a precompiled module (wasmModule): the threads build runs on threads, the single-thread build on one', async () => {
    const file = fixture('models/llama.gguf');
    const compile = (name: string) => WebAssembly.compile(readFileSync(`${ROOT}build/${name}`));
    const mt = await loadModel(file, { threads: 2, wasmModule: await compile('wasmlm.mt.wasm'), threadTuning: SPLIT_ALL });
    const st = await loadModel(file, { threads: 2, wasmModule: await compile('wasmlm.wasm') });
    try {
      expect(mt.info.threads).toBe(2);
      expect(st.info.threads).toBe(1);
      expect(st.info.threadsNote).toMatch(/not a threads build/);
      // (both plain SIMD builds: the relaxed one may round f32 math differently)
      expect(differences(await st.logits(PROMPT), await mt.logits(PROMPT))).toEqual([]);
    } finally {
      mt.dispose();
      st.dispose();
    }
  });

  it('by default a tiny model runs on one thread and says why; asking for threads overrides that', async () => {
    const before = workers.created;
    const tiny = await loadModel(fixture('models/llama.gguf'));
    expect(tiny.info.threads).toBe(1);
    expect(tiny.info.threadsNote).toMatch(/^one thread: the model is too small for threads to pay \(0\.\d+ MiB of weights per layer/);
    expect(workers.created).toBe(before);
    tiny.dispose();
    const asked = await loadModel(fixture('models/llama.gguf'), { threads: 2 });
    expect(asked.info.threads).toBe(2);
    asked.dispose();
  });

  it('rejects a bad thread count, with the same check in the browser entry (before any worker starts)', async () => {
    const browser = await import('../src/browser/index.js');
    for (const threads of [0, 1.5, -2, NaN]) {
      const error = { code: 'BAD_ARGUMENT', message: `threads must be a positive integer, got ${threads}` };
      await expect(loadModel(fixture('models/llama.gguf'), { threads })).rejects.toMatchObject(error);
      await expect(browser.loadModel(fixture('models/llama.gguf'), { threads, worker: true })).rejects.toMatchObject(error);
    }
  });
});

describe.skipIf(!existsSync(DIST))('threads in child processes (dist/)', () => {
  const script = (dispose: boolean) => `
    import { loadModel } from ${JSON.stringify(DIST)};
    const model = await loadModel(${JSON.stringify(fixture('models/llama.gguf'))}, { threads: 2 });
    const r = await model.complete(${JSON.stringify(PROMPT)}, { temperature: 0, maxTokens: 8, ignoreEos: true });
    console.log(JSON.stringify({ threads: model.info.threads, tokens: r.tokens }));
    ${dispose ? 'model.dispose();' : '// no dispose: the unref\'d workers must not keep the process alive'}
  `;

  for (const dispose of [true, false]) {
    it(`Node exits by itself after generating on 2 threads (${dispose ? 'with' : 'without'} dispose)`, () => {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(dispose)], { encoding: 'utf8', timeout: 10_000 });
      expect(r.error, r.stderr).toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.threads).toBe(2);
      expect(out.tokens).toHaveLength(8);
      expect(performance.now() - t0).toBeLessThan(10_000);
    });
  }

  it.skipIf(!existsSync(DENO))('Deno: 2 threads give the same bits as 1, and the process exits without dispose', () => {
    const code = `
      import { loadModel } from ${JSON.stringify(DIST)};
      const file = ${JSON.stringify(fixture('models/llama_moe.gguf'))};
      const one = await loadModel(file, { threads: 1 });
      const two = await loadModel(file, { threads: 2, threadTuning: { minSplit: 0 } });
      const a = await one.logits(${JSON.stringify(PROMPT)}), b = await two.logits(${JSON.stringify(PROMPT)});
      let diffs = 0;
      for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p].length; i++) if (!Object.is(a[p][i], b[p][i])) diffs++;
      console.log(JSON.stringify({ threads: two.info.threads, note: two.info.threadsNote, diffs, rows: a.length }));
    `;
    const r = spawnSync(DENO, ['eval', '--ext=js', code], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
    expect(r.error, r.stderr).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out).toMatchObject({ threads: 2, diffs: 0, rows: PROMPT.length });
    expect(out.note).toMatch(/^2 threads/);
  });
});

describe.skipIf(skipBrowser || !existsSync(DIST))('threads in Chromium (dist/, cross-origin isolated page)', () => {
  let browser: Browser;
  let isolated: StaticServer;
  let plain: StaticServer;
  beforeAll(async () => {
    const mounts = { '/': ROOT, '/fixtures/': FIXTURES };
    [isolated, plain] = await Promise.all([serveStatic({ mounts, isolated: true }), serveStatic({ mounts })]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all([isolated?.close(), plain?.close()]);
  });

  async function run(server: StaticServer, name: string) {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    const out = await page.evaluate(async ({ name, prompt }) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const { loadModel } = await (globalThis as any).importModule('/dist/index.js');
      const url = `/fixtures/models/${name}.gguf`;
      const one = await loadModel(new URL(url, location.href), { threads: 1 });
      const two = await loadModel(new URL(url, location.href), { threads: 2, threadTuning: { minSplit: 0 } });
      const a = await one.logits(prompt), b = await two.logits(prompt);
      let diffs = 0;
      for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p].length; i++) if (!Object.is(a[p][i], b[p][i])) diffs++;
      const g1 = (await one.complete(prompt, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      const g2 = (await two.complete(prompt, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      one.dispose();
      two.dispose();
      return { isolated: crossOriginIsolated, threads: two.info.threads, note: two.info.threadsNote, diffs, same: g1.join() === g2.join() };
    }, { name, prompt: PROMPT });
    await page.close();
    return out;
  }

  it('on the page thread (which may not block: thread 0 only spins), 2 threads give the same bits', async () => {
    const out = await run(isolated, 'llama_q4_0');
    expect(out, browser.logs.slice(-10).join('\n')).toMatchObject({ isolated: true, threads: 2, diffs: 0, same: true });
    expect(out.note).toMatch(/^2 threads: this thread and 1 Web Workers/);
  });

  it('a page that is not cross-origin isolated runs on one thread and says why', async () => {
    const out = await run(plain, 'llama');
    expect(out).toMatchObject({ isolated: false, threads: 1, diffs: 0, same: true });
    expect(out.note).toMatch(/not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin/);
  });
});
