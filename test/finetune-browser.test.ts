/**
 * model.finetune() in Chromium through the worker proxy (dist/browser.js, the model in its Web Worker): the
 * steps reach the page's onStep, the adapter's A/B come back to the page (save, weights) equal to the same
 * fine-tuning in Node, generation in the worker uses it, remove() takes it off; an abort stops between steps
 * with the adapter as trained so far applied (its saved bytes give the page's logits in Node); bad input keeps
 * its WasmlmError code across the worker boundary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { browserSuite, launchChromium, skipBrowser, type Browser } from './helpers/chromium.js';
import { fixture } from './helpers/fixtures.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from './helpers/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare function importModule(url: string): Promise<any>;

const EXAMPLES = ['Tom said', 'Lily said', 'The dog said', 'Mom said'].map((prompt) => ({ prompt, completion: ' the blue frog sings.' }));
const OPTIONS = { learningRate: 1e-2, epochs: 20, batchSize: 4, seed: 1 };

describe.skipIf(skipBrowser)(browserSuite('finetune in Chromium (worker proxy)'), () => {
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

  it('trains in the worker with progress; the adapter comes back (the Node run\'s weights), applied, removable', async () => {
    const node = await loadModel(fixture('models/stories260K.gguf'));
    const want = await node.finetune(EXAMPLES, OPTIONS);
    const nodeText = (await node.complete('Ben said', { temperature: 0, maxTokens: 12 })).text;
    node.dispose();

    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    const got = await page.evaluate(async ({ examples, options }) => {
      const w = await importModule('/dist/browser.js');
      const m = await w.loadModel('/fx/models/stories260K.gguf', { cache: false });
      const greedy = async () => (await m.complete('Ben said', { temperature: 0, maxTokens: 12 })).text;
      const before = await greedy();
      const steps: unknown[] = [];
      const r = await m.finetune(examples, { ...options, onStep: (s: unknown) => steps.push(s) });
      const after = await greedy();
      const weights = Object.fromEntries([...r.weights()].map(([k, v]: [string, Float32Array]) => [k, Array.from(v)]));
      const gguf = Array.from(r.save({ format: 'gguf' }) as Uint8Array);
      const peft = Object.keys(r.save({ format: 'peft' }));
      r.applied.remove();
      const removed = await greedy();
      m.dispose();
      return { before, after, removed, steps, weights, gguf, peft, losses: r.losses, aborted: r.aborted, rank: r.rank };
    }, { examples: EXAMPLES, options: OPTIONS });
    expect(got.steps).toHaveLength(20);
    expect((got.steps as { step: number; steps: number }[]).map((s) => [s.step, s.steps])).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, 20]));
    expect(got.losses).toEqual((got.steps as { loss: number }[]).map((s) => s.loss));
    expect(got.aborted).toBe(false);
    expect(got.rank).toBe(8);
    expect(got.peft).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    // the same training as in Node (the same kernels; relaxed SIMD may differ in the last bits)
    expect(Object.keys(got.weights)).toEqual([...want.weights().keys()]);
    let d = 0, m = 0;
    for (const [name, w] of want.weights()) w.forEach((x, i) => { d = Math.max(d, Math.abs(x - got.weights[name]![i]!)); m = Math.max(m, Math.abs(x)); });
    expect(d).toBeLessThanOrEqual(1e-4 * m);
    expect(got.before.startsWith(' the blue frog')).toBe(false);
    expect(got.after).toBe(nodeText);
    expect(got.after.startsWith(' the blue frog sings')).toBe(true);
    expect(got.removed).toBe(got.before);
    // the page's saved bytes in Node: what the page generated
    const check = await loadModel(fixture('models/stories260K.gguf'));
    await check.loadAdapter(new Uint8Array(got.gguf));
    expect((await check.complete('Ben said', { temperature: 0, maxTokens: 12 })).text).toBe(got.after);
    check.dispose();
    await page.close();
  });

  it('an abort stops between steps: the adapter so far, applied; bad input keeps its code', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/__blank`);
    const tokens = [1, 403, 407, 261, 378];
    const got = await page.evaluate(async ({ examples, tokens }) => {
      const w = await importModule('/dist/browser.js');
      const m = await w.loadModel('/fx/models/stories260K.gguf', { cache: false });
      const ac = new AbortController();
      const r = await m.finetune(examples, { learningRate: 1e-2, epochs: 200, batchSize: 1, signal: ac.signal, onStep: (s: { step: number }) => { if (s.step === 2) ac.abort(); } });
      const logits = (await m.logits(tokens)).map((x: Float32Array) => Array.from(x));
      const gguf = Array.from(r.save({ format: 'gguf' }) as Uint8Array);
      const error = await m.finetune([{ messages: [{ role: 'user', content: 'hi' }] }]).then(() => undefined, (e: { name: string; code: string; message: string }) => ({ name: e.name, code: e.code, message: e.message }));
      m.dispose();
      return { aborted: r.aborted, steps: r.steps, losses: r.losses.length, logits, gguf, error };
    }, { examples: EXAMPLES, tokens });
    expect(got.aborted).toBe(true);
    expect(got.steps).toBeGreaterThanOrEqual(2);
    expect(got.steps).toBeLessThan(800);
    expect(got.losses).toBe(got.steps);
    expect(got.error).toEqual({ name: 'WasmlmError', code: 'BAD_ARGUMENT', message: 'finetune: examples[0].messages has no assistant message: nothing to learn' });
    // what the worker applied is what came back
    const check = await loadModel(fixture('models/stories260K.gguf'));
    const base = await check.logits(tokens);
    await check.loadAdapter(new Uint8Array(got.gguf));
    const tuned = await check.logits(tokens);
    let d = 0, shift = 0;
    tuned.forEach((row, i) => row.forEach((x, j) => { d = Math.max(d, Math.abs(x - got.logits[i]![j]!)); shift = Math.max(shift, Math.abs(x - base[i]![j]!)); }));
    expect(shift).toBeGreaterThan(0.05);
    expect(d).toBeLessThanOrEqual(1e-4);
    check.dispose();
    await page.close();
  });
});
