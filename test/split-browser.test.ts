/**
 * Split GGUF in Chromium (dist/browser.js, the model in its Web Worker): the first shard's URL finds the
 * others, each shard is fetched once and kept in the model cache (a reload loads them with no request),
 * the shards as Files (an array of Blobs crossing to the worker), and a missing shard named, nothing cached.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeGGUFFiles } from '../src/formats/gguf-writer.js';
import { browserSuite, launchChromium, skipBrowser, type Browser } from './helpers/chromium.js';
import { fixture, loadGGUF, tensorData } from './helpers/fixtures.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from './helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare function importModule(url: string): Promise<any>;

const PROMPT = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

describe.skipIf(skipBrowser)(browserSuite('split GGUF in Chromium'), () => {
  let browser: Browser;
  let server: StaticServer;
  const dir = mkdtempSync(join(tmpdir(), 'wasmlm-split-browser-'));
  let names: string[];
  let expected: number[];

  beforeAll(async () => {
    const l = await loadGGUF('llama.gguf');
    mkdirSync(join(dir, 'ok'));
    const tensors = l.h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: tensorData(l, t) }));
    names = (await writeGGUFFiles(join(dir, 'ok', 'llama.gguf'), l.h.metadata, tensors, { maxTensors: 6 })).map((f) => f.path.split('/').pop()!);
    // the same shards, one of them missing
    mkdirSync(join(dir, 'gap'));
    const gap = await writeGGUFFiles(join(dir, 'gap', 'llama.gguf'), l.h.metadata, tensors, { maxTensors: 6 });
    rmSync(gap[1]!.path);
    expected = (JSON.parse(readFileSync(fixture('models/llama.expected.json'), 'utf8')) as { greedy: number[] }).greedy;
    server = await serveStatic({ mounts: { '/': PROJECT_ROOT, '/shards/': dir } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('by the first shard\'s URL (each shard cached), then from the cache, then as Files; a missing shard named', async () => {
    expect(names.length).toBeGreaterThan(2);
    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    const base = `${server.origin}/shards/ok/`;
    const before = server.requests.length;
    const first = await page.evaluate(async ({ base, names, prompt, missing }) => {
      const w = await importModule('/dist/browser.js');
      await w.clearModelCache();
      let gap = '';
      try { await w.loadModel(missing); } catch (e) { gap = `${(e as { code?: string }).code}: ${(e as Error).message}`; }
      const afterGap = await w.cachedModels();
      const m = await w.loadModel(base + names[0]);
      const greedy = (await m.complete(prompt, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      m.dispose();
      return { gap, afterGap, greedy, cached: (await w.cachedModels()).sort() };
    }, { base, names, prompt: PROMPT, missing: `${server.origin}/shards/gap/${names[0]}` });
    expect(first.gap).toMatch(new RegExp(`^FETCH_FAILED: .*shard 2 of ${names.length} is missing.*/shards/gap/${names[1]}.*HTTP 404`));
    expect(first.afterGap).toEqual([]);
    expect(first.greedy).toEqual(expected);
    expect(first.cached).toEqual(names.map((n) => base + n).sort());
    const requested = () => server.requests.slice(before).filter((p) => p.startsWith('/shards/ok/'));
    // shard 1 once; every other shard twice: its header first, then (opened again) its data
    expect(requested().filter((p) => p.endsWith(names[0]!)).length).toBe(1);

    await page.reload();
    const n = requested().length;
    const again = await page.evaluate(async ({ base, names, prompt }) => {
      const w = await importModule('/dist/browser.js');
      const m = await w.loadModel(base + names[0]);
      const greedy = (await m.complete(prompt, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      m.dispose();
      // the shards as Files, in another order (as a file picker may give them)
      const files = await Promise.all(names.map(async (name: string) => new File([await (await fetch(base + name)).blob()], name)));
      const m2 = await w.loadModel([files[1], files[0], ...files.slice(2)]);
      const fromFiles = (await m2.complete(prompt, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      m2.dispose();
      await w.clearModelCache();
      return { greedy, fromFiles };
    }, { base, names, prompt: PROMPT });
    expect(again.greedy).toEqual(expected);
    expect(again.fromFiles).toEqual(expected);
    expect(requested().length - n).toBe(names.length); // only the fetches that made the Files
    await page.close();
  });
});
