/**
 * Hugging Face folders in Chromium (dist/browser.js, the model in its Web Worker): a set3 folder by its
 * URL ending in '/' (read by the worker with range requests) and as Files (a map of names, and the array
 * of Files a folder picker gives), each with the logits and greedy ids of the same folder loaded in Node
 * and the page's tokenizer built from its tokenizer.json; a PEFT adapter folder as Files and by URL with
 * the logits of the same adapter in Node (and the PEFT reference); a folder without config.json (or
 * adapter_config.json) a WasmlmError that keeps its code across the worker boundary.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { browserSuite, launchChromium, skipBrowser, type Browser } from './helpers/chromium.js';
import { fixture } from './helpers/fixtures.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from './helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare function importModule(url: string): Promise<any>;

interface Expected { tokens: number[]; prompt_text: string; greedy: number[]; logits: number[][] }
const expected = (rel: string) => JSON.parse(readFileSync(fixture(rel), 'utf8')) as Expected;

/** What the page gives back for one loaded model (and adapter). */
interface Run { logits: number[][]; greedy: number[]; encoded?: number[] }

async function nodeRun(model: Awaited<ReturnType<typeof loadModel>>, tokens: number[]): Promise<Run> {
  const logits = (await model.logits(tokens)).map((r) => Array.from(r));
  const greedy = (await model.complete(tokens, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
  return { logits, greedy };
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i]!.length);
    row.forEach((v, j) => { m = Math.max(m, Math.abs(v - b[i]![j]!)); });
  });
  return m;
}

describe.skipIf(skipBrowser)(browserSuite('Hugging Face folders in Chromium'), () => {
  let browser: Browser;
  let server: StaticServer;

  beforeAll(async () => {
    server = await serveStatic({ mounts: { '/': PROJECT_ROOT, '/fx/': fixture('') } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a set3 folder by URL, as a map of Files and as picked Files: the Node logits and greedy ids', async () => {
    const e = expected('set3/qwen3.expected.json');
    const node = await loadModel(fixture('set3/qwen3'));
    const want = await nodeRun(node, e.tokens);
    node.dispose();
    expect(want.greedy).toEqual(e.greedy);

    const names = readdirSync(fixture('set3/qwen3'));
    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    const before = server.requests.length;
    const got = await page.evaluate(async ({ base, names, tokens, text }) => {
      const w = await importModule('/dist/browser.js');
      const run = async (m: any) => {
        const logits = (await m.logits(tokens)).map((r: Float32Array) => Array.from(r));
        const greedy = (await m.complete(tokens, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
        const encoded = m.tokenizer.encode(text);
        m.dispose();
        return { logits, greedy, encoded };
      };
      const byUrl = await run(await w.loadModel(base));
      // Files as a folder picker gives them (made here from the fetched bytes)
      const files: File[] = await Promise.all(names.map(async (n: string) => new File([await (await fetch(base + n)).blob()], n)));
      const asMap = await run(await w.loadModel(Object.fromEntries(files.map((f) => [f.name, f]))));
      const asList = await run(await w.loadModel(files));
      const cached = await w.cachedModels();
      return { byUrl, asMap, asList, cached };
    }, { base: `${server.origin}/fx/set3/qwen3/`, names, tokens: e.tokens, text: e.prompt_text });
    for (const r of [got.byUrl, got.asMap, got.asList]) {
      expect(r.greedy).toEqual(want.greedy);
      expect(r.encoded).toEqual(e.tokens);
      expect(maxAbsDiff(r.logits, want.logits)).toBeLessThan(1e-4);
    }
    // the Files' loads read the same bytes, in the same worker code: the same logits
    expect(got.asMap.logits).toEqual(got.asList.logits);
    expect(got.asMap.logits).toEqual(got.byUrl.logits);
    // by URL: the safetensors read by ranges (more than the one whole download), nothing cached
    const weights = server.requests.slice(before).filter((p) => p === '/fx/set3/qwen3/model.safetensors');
    expect(weights.length).toBeGreaterThan(2); // the size probe, then the reads; then the Files' fetch
    expect(got.cached).toEqual([]);
    await page.close();
  });

  it('the FileList of <input webkitdirectory> (the set3 llama folder picked): keyed by the path in the folder; a picked GGUF', async () => {
    const e = expected('set3/llama.expected.json');
    const node = await loadModel(fixture('set3/llama'));
    const want = await nodeRun(node, e.tokens);
    node.dispose();
    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    await page.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.webkitdirectory = true;
      document.body.append(input);
    });
    await page.setInputFiles('input', fixture('set3/llama'));
    const got = await page.evaluate(async ({ tokens }) => {
      const w = await importModule('/dist/browser.js');
      const files = (document.querySelector('input') as HTMLInputElement).files!;
      const paths = Array.from(files).map((f) => f.webkitRelativePath).sort();
      const m = await w.loadModel(files);
      const logits = (await m.logits(tokens)).map((r: Float32Array) => Array.from(r));
      const greedy = (await m.complete(tokens, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      m.dispose();
      return { paths, logits, greedy };
    }, { tokens: e.tokens });
    expect(got.paths).toContain('llama/config.json'); // the picked folder's own name first
    expect(got.greedy).toEqual(want.greedy);
    expect(got.greedy).toEqual(e.greedy);
    expect(maxAbsDiff(got.logits, want.logits)).toBeLessThan(1e-4);

    // a FileList that is no folder (a GGUF file picked) stays a GGUF source
    await page.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.id = 'gguf';
      document.body.append(input);
    });
    await page.setInputFiles('#gguf', fixture('set3/llama.gguf'));
    const gguf = await page.evaluate(async ({ tokens }) => {
      const w = await importModule('/dist/browser.js');
      const m = await w.loadModel((document.querySelector('#gguf') as HTMLInputElement).files);
      const greedy = (await m.complete(tokens, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
      m.dispose();
      return greedy;
    }, { tokens: e.tokens });
    expect(gguf).toEqual(e.greedy);
    await page.close();
  });

  it('a PEFT adapter folder as Files and by URL: the Node logits; folders without their config: coded errors', async () => {
    const e = expected('peft/llama-lora.s1.expected.json');
    const node = await loadModel(fixture('models/llama.gguf'));
    await node.loadAdapter(fixture('peft/llama-lora'));
    const want = await nodeRun(node, e.tokens);
    node.dispose();
    expect(maxAbsDiff(want.logits, e.logits)).toBeLessThan(1e-3);

    const names = readdirSync(fixture('peft/llama-lora'));
    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    const got = await page.evaluate(async ({ origin, names, tokens }) => {
      const w = await importModule('/dist/browser.js');
      const base = `${origin}/fx/peft/llama-lora/`;
      const m = await w.loadModel(`${origin}/fx/models/llama.gguf`, { cache: false });
      const files: File[] = await Promise.all(names.map(async (n: string) => new File([await (await fetch(base + n)).blob()], n)));
      const run = async () => ({
        logits: (await m.logits(tokens)).map((r: Float32Array) => Array.from(r)),
        greedy: (await m.complete(tokens, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens,
      });
      const a = await m.loadAdapter(Object.fromEntries(files.map((f) => [f.name, f])));
      const asMap = await run();
      a.remove();
      const b = await m.loadAdapter(base);
      const byUrl = await run();
      b.remove();
      const caught = async (p: Promise<unknown>) => {
        try { await p; return 'no error'; } catch (x) { return `${(x as Error).name} ${(x as { code?: string }).code}: ${(x as Error).message}`; }
      };
      const noAdapterConfig = await caught(m.loadAdapter({ 'adapter_model.safetensors': files.find((f) => f.name === 'adapter_model.safetensors') }));
      m.dispose();
      const tok = new File([await (await fetch(`${origin}/fx/set3/qwen3/tokenizer.json`)).blob()], 'tokenizer.json');
      const noConfig = await caught(w.loadModel({ 'tokenizer.json': tok }));
      return { asMap, byUrl, noAdapterConfig, noConfig };
    }, { origin: server.origin, names, tokens: e.tokens });
    for (const r of [got.asMap, got.byUrl]) {
      expect(r.greedy).toEqual(want.greedy);
      expect(maxAbsDiff(r.logits, want.logits)).toBeLessThan(1e-4);
    }
    expect(got.noAdapterConfig).toMatch(/^WasmlmError IO_ERROR: .*adapter_config\.json/);
    expect(got.noConfig).toMatch(/^WasmlmError IO_ERROR: .*no config\.json/);
    await page.close();
  });
});
