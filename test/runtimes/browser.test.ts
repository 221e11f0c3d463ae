/**
 * The package in Chromium (Debian's, headless, through playwright-core), served from the built dist/:
 * the same conformance checks as every runtime (test/helpers/conformance.js) on a page (ESM, the model on
 * the page's thread), through the default Web Worker proxy, and inside a Web Worker; then what only a
 * browser has: the worker keeps every wasm call off the page, the model cache (offline reload, nothing
 * half-cached), threads and cross-origin isolation, a worker that cannot start.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, launchChromium, skipBrowser, type Browser } from '../helpers/chromium.js';
import { fixture } from '../helpers/fixtures.js';
import { expectRestoresInNode, nodeSession, type SavedSession } from '../helpers/sessions.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from '../helpers/server.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8').replace(/\n$/, '');
const MODEL = '/models/stories260K.gguf';

interface Result { name: string; ok: boolean; detail?: string }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare function importModule(url: string): Promise<any>;

describe.skipIf(skipBrowser)(browserSuite('Chromium'), () => {
  let browser: Browser;
  let plain: StaticServer;
  let isolated: StaticServer;
  /** a session saved in Node: each conformance run restores it, and its own is restored back here */
  let session: SavedSession;

  beforeAll(async () => {
    session = await nodeSession();
    [plain, isolated] = await Promise.all([serveStatic(), serveStatic({ isolated: true })]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all([plain?.close(), isolated?.close()]);
  });

  const env = (s: StaticServer) => ({
    reference,
    defaultModel: true,
    modelUrl: `${s.origin}${MODEL}`,
    missingUrl: `${s.origin}/models/missing.gguf`,
    stallUrl: `${s.origin}/__stall${MODEL}?bytes=300000`,
    session,
  });

  async function blankPage(s: StaticServer): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${s.origin}/__blank`);
    return page;
  }

  async function expectAllOk(results: Result[], where: string) {
    const failed = results.filter((r) => !r.ok);
    expect(failed, `${where}:\n${failed.map((r) => `${r.name}: ${r.detail}`).join('\n')}\n${browser.logs.slice(-20).join('\n')}`).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(15);
    // the session saved in Node continued there (a check), and the one saved there continues here
    await expectRestoresInNode(results, session);
  }

  it('ESM on a page (dist/index.js, the model on the page thread): every conformance check', async () => {
    const page = await blankPage(plain);
    const results = await page.evaluate(async (env) => {
      const wasmlm = await importModule('/dist/index.js');
      const { conformance } = await importModule('/test/helpers/conformance.js');
      const modelBytes = await (await fetch(env.modelUrl)).arrayBuffer();
      return conformance(wasmlm, { ...env, modelBytes }) as Promise<Result[]>;
    }, env(plain));
    await expectAllOk(results, 'page');
    await page.close();
  });

  it('the default (dist/browser.js): the model in a Web Worker behind a proxy, every check, no wasm on the page', async () => {
    const page = await blankPage(plain);
    const out = await page.evaluate(async (env) => {
      // count every wasm compile, instantiation and memory the page itself makes
      let wasmOnPage = 0;
      const W = WebAssembly as unknown as Record<string, unknown>;
      for (const k of ['compile', 'compileStreaming', 'instantiate', 'instantiateStreaming']) {
        const f = W[k] as (...a: unknown[]) => unknown;
        W[k] = (...a: unknown[]) => { wasmOnPage++; return f.apply(WebAssembly, a); };
      }
      for (const k of ['Module', 'Instance', 'Memory']) {
        W[k] = new Proxy(W[k] as object as new (...a: unknown[]) => object, {
          construct(t, a) { wasmOnPage++; return new t(...a); },
        });
      }
      // the page's own timer keeps running while the worker works: note the longest gap
      let last = performance.now(), maxGap = 0;
      const timer = setInterval(() => { const t = performance.now(); maxGap = Math.max(maxGap, t - last); last = t; }, 10);
      const wasmlm = await importModule('/dist/browser.js');
      const { conformance } = await importModule('/test/helpers/conformance.js');
      const modelBytes = await (await fetch(env.modelUrl)).arrayBuffer();
      const results = await conformance(wasmlm, { ...env, modelBytes }) as Result[];
      clearInterval(timer);
      const workers = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/dist/model-worker.js')).length;
      return { results, wasmOnPage, maxGap, workers };
    }, env(plain));
    await expectAllOk(out.results, 'worker proxy');
    expect(out.wasmOnPage, 'wasm compiled or instantiated on the page itself').toBe(0);
    expect(out.workers).toBeGreaterThan(0);
    console.log(`proxy: the page's 10 ms timer never waited more than ${out.maxGap.toFixed(0)} ms`);
    await page.close();
  });

  it('inside a Web Worker (dist/browser.js runs the model in that worker): every conformance check', async () => {
    const page = await blankPage(plain);
    const out = await page.evaluate((env) => new Promise<{ results?: Result[]; error?: string }>((resolve) => {
      const w = new Worker('/test/helpers/conformance-worker.js', { type: 'module' });
      w.onmessage = (ev) => { resolve(ev.data); w.terminate(); };
      w.onerror = (ev) => resolve({ error: ev.message || 'the worker failed to start' });
      w.postMessage({ entry: '/dist/browser.js', env });
    }), env(plain));
    expect(out.error).toBeUndefined();
    await expectAllOk(out.results!, 'Web Worker');
    await page.close();
  });

  it('a page that is not cross-origin isolated, asking for 4 threads: runs on 1, and model.info says why', async () => {
    const page = await blankPage(plain);
    const out = await page.evaluate(async () => {
      const { loadModel } = await importModule('/dist/browser.js');
      const model = await loadModel(undefined, { threads: 4 });
      const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 196 });
      model.dispose();
      return { isolated: crossOriginIsolated, threads: model.info.threads, note: model.info.threadsNote, text: r.text };
    });
    expect(out.isolated).toBe(false);
    expect(out.threads).toBe(1);
    expect(out.note).toMatch(/asked for 4 threads, running on 1: this page is not cross-origin isolated/);
    expect(out.note).toMatch(/Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
    expect('Once upon a time' + out.text).toBe(reference);
    await page.close();
  });

  it('a cross-origin isolated page passes `threads` through to the model (model.info reports what it got)', async () => {
    const page = await blankPage(isolated);
    const out = await page.evaluate(async () => {
      const { loadModel } = await importModule('/dist/browser.js');
      const model = await loadModel(undefined, { threads: 2 });
      const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 196 });
      model.dispose();
      return { isolated: crossOriginIsolated, sab: typeof SharedArrayBuffer, threads: model.info.threads, note: model.info.threadsNote, text: r.text };
    });
    expect(out.isolated).toBe(true);
    expect(out.sab).toBe('function');
    expect(out.note).not.toMatch(/not cross-origin isolated/);
    expect('Once upon a time' + out.text).toBe(reference);
    console.log(`isolated page, threads: 2 → model.info.threads ${out.threads}, threadsNote "${out.note}"`);
    await page.close();
  });

  it('the model cache: one download, then the Cache API, also offline; a 404, an aborted download and a non-GGUF file leave nothing cached', async () => {
    const page = await blankPage(plain);
    const url = `${plain.origin}${MODEL}?cache-test`;
    const before = plain.requests.length;
    const first = await page.evaluate(async ({ url, stall, missing, notGguf }) => {
      const w = await importModule('/dist/browser.js');
      await w.clearModelCache();
      const codes: Record<string, string> = {};
      const fail = async (name: string, p: Promise<unknown>) => {
        try { await p; codes[name] = 'loaded'; } catch (e) { codes[name] = `${(e as { code?: string }).code}: ${(e as Error).message}`; }
      };
      await fail('404', w.loadModel(missing));
      const ac = new AbortController();
      await fail('aborted', w.loadModel(stall, { signal: ac.signal, onProgress: () => setTimeout(() => ac.abort(), 100) }));
      await fail('not GGUF', w.loadModel(notGguf));
      const afterFailures = await w.cachedModels();
      const a = await w.loadModel(url);
      const text = (await a.complete('Once upon a time', { temperature: 0, maxTokens: 196 })).text;
      a.dispose();
      return { codes, afterFailures, cached: await w.cachedModels(), text };
    }, { url, stall: `${plain.origin}/__stall${MODEL}?bytes=300000`, missing: `${plain.origin}/models/missing.gguf`, notGguf: `${plain.origin}/models/README.md` });
    expect(first.codes['404']).toMatch(/^FETCH_FAILED: .*HTTP 404/);
    expect(first.codes['aborted']).toMatch(/^ABORTED/);
    expect(first.codes['not GGUF']).toMatch(/^BAD_MAGIC: http:\/\/127\.0\.0\.1:\d+\/models\/README\.md: not a GGUF file/);
    expect(first.afterFailures).toEqual([]);
    expect(first.cached).toEqual([url]);
    expect('Once upon a time' + first.text).toBe(reference);
    const downloads = () => plain.requests.slice(before).filter((p) => p === `${MODEL}?cache-test`).length;
    expect(downloads()).toBe(1);

    // after a reload: the same URL loads from the cache (in the model's worker), with no request
    await page.reload();
    const again = await page.evaluate(async (url) => {
      const w = await importModule('/dist/browser.js');
      const m = await w.loadModel(url);
      const text = (await m.complete('Once upon a time', { temperature: 0, maxTokens: 196 })).text;
      m.dispose();
      // warm this page's own kernel module for the offline load below (no wasm fetch then)
      (await w.loadModel(await (await fetch('/models/stories260K.gguf')).arrayBuffer(), { worker: false })).dispose();
      return text;
    }, url);
    expect('Once upon a time' + again).toBe(reference);
    expect(downloads()).toBe(1);

    // with the network cut: still from the cache (the app shell offline is the service worker's job: web-app.test.ts)
    await browser.context.setOffline(true);
    try {
      const offline = await page.evaluate(async (url) => {
        const w = await importModule('/dist/browser.js');
        const seen: number[] = [];
        const m = await w.loadModel(url, { worker: false, onProgress: (p: { loaded: number }) => seen.push(p.loaded) });
        const text = (await m.complete('Once upon a time', { temperature: 0, maxTokens: 196 })).text;
        m.dispose();
        const network = await fetch(url).then(() => 'reachable', () => 'unreachable');
        return { text, progress: seen.length, network };
      }, url);
      expect(offline.network).toBe('unreachable');
      expect('Once upon a time' + offline.text).toBe(reference);
      expect(offline.progress).toBeGreaterThan(0);
      expect(downloads()).toBe(1);
    } finally {
      await browser.context.setOffline(false);
    }
    await page.evaluate(async () => (await importModule('/dist/browser.js')).clearModelCache());
    await page.close();
  });

  it('a worker that cannot start is a WasmlmError naming the script, and the page goes on', async () => {
    const page = await blankPage(plain);
    const out = await page.evaluate(async () => {
      const w = await importModule('/dist/browser.js');
      const e = await w.loadModel(undefined, { workerUrl: '/dist/no-such-worker.js' }).catch((x: unknown) => x);
      const ok = await w.loadModel(undefined, { threads: 1 });
      const text = (await ok.complete('Once upon a time', { temperature: 0, maxTokens: 5 })).text;
      ok.dispose();
      return { isWasmlm: e instanceof w.WasmlmError, code: e.code, message: e.message, text };
    });
    expect(out.isWasmlm).toBe(true);
    expect(out.code).toBe('WASM_FAILED');
    expect(out.message).toMatch(/could not start the model's worker \(\/dist\/no-such-worker\.js\)/);
    expect(out.text.length).toBeGreaterThan(0);
    await page.close();
  });
});

describe('without Chromium', () => {
  /** vitest on a browser test file, with Chromium looked for where there is none */
  function runWithout(ci: boolean) {
    const env: NodeJS.ProcessEnv = { ...process.env, WASMLM_CHROMIUM: '/nonexistent/chromium', NO_COLOR: '1' };
    delete env.CI;
    if (ci) env.CI = 'true';
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'test/runtimes/web-app.test.ts'],
      { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it('off CI the browser tests are skipped, and the run says why', () => {
    const r = runWithout(false);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/browser tests skipped: no Chromium at \/nonexistent\/chromium/);
    expect(r.output).toMatch(/4 skipped/);
  });

  it('in CI (CI=true) a missing browser fails the run', () => {
    const r = runWithout(true);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/Chromium is not installed at \/nonexistent\/chromium/);
  });
});
