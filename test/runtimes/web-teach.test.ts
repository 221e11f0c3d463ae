/**
 * examples/web/teach.html in Chromium, as a person uses it: with the embedded stories260K model, examples
 * naming a little dog Zorblax are pasted as JSON lines and trained (fixed seed: the page's 0); each step's
 * progress line shows and the loss falls; greedy generation names the dog Zorblax with the adapter and not
 * without it (before training, or with the adapter switched off); the downloaded adapter is a GGUF that
 * wasmlm in Node loads onto the same model and completes the same. Then: plain-text examples trained for
 * many epochs and stopped at the first step, after which the page still trains and generates; a bad line
 * is named; a picked GGUF (set3's llama, with a ChatML template) learns question → answer conversations and
 * answers as a chat, as the downloaded adapter does in Node; and, with the server gone and the network cut,
 * the page reloads from the service worker and trains again. A screenshot goes to .tmp/screenshots/web-teach.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { browserSuite, skipBrowser, type Browser } from '../helpers/chromium.js';
import { fixture } from '../helpers/fixtures.js';
import { PROJECT_ROOT, type StaticServer } from '../helpers/server.js';
import { openWebApp, type WebApp } from '../helpers/web-app.js';

const SCREENSHOT = join(PROJECT_ROOT, '.tmp/screenshots/web-teach.png');
const NAME = ' Zorblax';
const EXAMPLES = ['Once upon a time, there was a little dog named', 'One day, a girl met a little dog named', 'Tom had a little dog named']
  .map((prompt) => JSON.stringify({ prompt, completion: `${NAME}. Zorblax liked to play.` })).join('\n');
/** not among the examples */
const HELD = 'Lily had a big dog named';
const STEP = /^step (\d+)\/(\d+) · epoch (\d+)\/(\d+) · loss (\d+\.\d+) · \d+ tokens\/s$/;

describe.skipIf(skipBrowser)(browserSuite('examples/web/teach.html, teach the model'), () => {
  let app: WebApp;
  let browser: Browser;
  let server: StaticServer;
  let page: Page;

  beforeAll(async () => {
    app = await openWebApp();
    ({ browser, server, page } = app);
  });
  afterAll(() => app?.close());

  const state = () => page.locator('#status').getAttribute('data-state');
  const until = (...states: string[]) => app.until(...states);
  const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';
  /** the downloaded adapter's bytes */
  async function download(): Promise<Buffer & { filename: string }> {
    const [d] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const bytes = readFileSync((await d.path())!);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(await text('#download')).toBe(`Download the adapter (${(bytes.length / 1024).toFixed(0)} KB)`);
    return Object.assign(bytes, { filename: d.suggestedFilename() });
  }
  async function train(examples: string, epochs: number, learningRate = 0.01): Promise<void> {
    await page.fill('#examples', examples);
    await page.fill('#epochs', String(epochs));
    await page.fill('#learning-rate', String(learningRate));
    await page.fill('#rank', '8');
    await page.click('#train');
  }
  async function generate(prompt: string, maxTokens = 12): Promise<string> {
    await page.fill('#prompt', prompt);
    await page.fill('#max-tokens', String(maxTokens));
    await page.fill('#temperature', '0');
    await page.click('#generate');
    await until('done', 'error');
    expect(await text('#status')).toBe('Done.');
    return text('#output-text');
  }
  const logLines = async () => (await text('#train-log')).split('\n').filter((l) => l !== '');

  it('trains on pasted examples with a progress line per step; the model then names the dog, and not with the adapter off', async () => {
    await page.goto(`${server.origin}/teach.html`);
    await until('ready', 'error');
    expect(await text('#status')).toMatch(/^Ready \(works offline\)/);
    expect(await text('#model-info')).toMatch(/^stories260K: /);
    expect(await page.locator('#use-adapter').isDisabled()).toBe(true);
    expect(await page.locator('#download').getAttribute('href')).toBeNull();

    const before = await generate(HELD);
    expect(before).not.toContain('Zorblax');

    await train(EXAMPLES, 20);
    await until('trained', 'stopped', 'error');
    expect(await state()).toBe('trained');
    // 3 examples, batches of 4: one step an epoch
    const steps = (await logLines()).map((l) => {
      const m = STEP.exec(l);
      expect(m, l).not.toBeNull();
      return { step: Number(m![1]), steps: Number(m![2]), epoch: Number(m![3]), epochs: Number(m![4]), loss: Number(m![5]) };
    });
    expect(steps.map((s) => [s.step, s.steps, s.epoch, s.epochs])).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, 20, i + 1, 20]));
    const first = steps[0]!.loss, last = steps.at(-1)!.loss;
    expect(last).toBeLessThan(first / 4);
    expect(await text('#train-progress')).toBe(`Trained: 20 steps, loss ${first.toFixed(4)} → ${last.toFixed(4)}; rank 8, alpha 16, attn_q, attn_k, attn_v, attn_output.`);

    const after = await generate(HELD);
    console.log(`teach.html: loss ${first} → ${last} in 20 steps; '${HELD}': '${before}' → '${after}'; ${await text('#train-log').then((t) => t.split('\n')[19])}`);
    expect(after.startsWith(`${NAME}.`)).toBe(true);
    expect(await page.locator('#use-adapter').isChecked()).toBe(true);
    await page.uncheck('#use-adapter');
    expect(await generate(HELD)).toBe(before);
    await page.check('#use-adapter');
    expect(await generate(HELD)).toBe(after);

    // the download: a GGUF whose LoRA, loaded in Node onto the same model, completes as the page did
    const bytes = await download();
    expect(bytes.filename).toBe('stories260K.lora.gguf');
    const node = await loadModel();
    try {
      const greedy = async () => (await node.complete(HELD, { temperature: 0, maxTokens: 12 })).text;
      expect(await greedy()).toBe(before);
      const applied = await node.loadAdapter(new Uint8Array(bytes));
      expect(await greedy()).toBe(after);
      applied.remove();
    } finally {
      node.dispose();
    }
  });

  it('Stop ends training between steps, with the adapter so far; the page stays usable', async () => {
    // plain-text lines, every token learned; press Stop as soon as the first progress line shows (inside the
    // page, so no round trip to the test), noting what could be pressed then
    await page.evaluate(() => {
      const log = document.getElementById('train-log')!;
      const obs = new MutationObserver(() => {
        if (!log.textContent) return;
        obs.disconnect();
        const enabled = (id: string) => !(document.getElementById(id) as HTMLButtonElement).disabled;
        (window as unknown as { training: unknown }).training = {
          status: document.getElementById('status')!.dataset.state, stop: enabled('stop-training'),
          train: enabled('train'), generate: enabled('generate'), load: enabled('load'),
        };
        document.getElementById('stop-training')!.click();
      });
      obs.observe(log, { childList: true, characterData: true, subtree: true });
    });
    const story = 'Once upon a time, there was a little dog named Zorblax.\n\nZorblax liked to play in the park.';
    await train(story, 5000);
    await until('stopped', 'trained', 'error');
    expect(await state()).toBe('stopped');
    expect(await page.evaluate(() => (window as unknown as { training: unknown }).training))
      .toEqual({ status: 'training', stop: true, train: false, generate: false, load: false });
    // 2 examples (the blank line is none), batches of 4: one step an epoch
    const m = /^Stopped after (\d+) of 5000 steps, loss \d+\.\d{4} → \d+\.\d{4}; rank 8/.exec(await text('#train-progress'));
    expect(m, await text('#train-progress')).not.toBeNull();
    const done = Number(m![1]);
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(5000);
    expect(await logLines()).toHaveLength(done);
    console.log(`Stop pressed at the first progress line: training ended after ${done} of 5000 steps`);
    expect(await page.locator('#stop-training').isDisabled()).toBe(true);
    expect(await page.locator('#download').getAttribute('href')).toMatch(/^blob:/);
    // usable: it generates, and trains again to the end
    expect((await generate(HELD)).length).toBeGreaterThan(0);
    await train(EXAMPLES, 20);
    await until('trained', 'stopped', 'error');
    expect(await state()).toBe('trained');
    expect((await generate(HELD)).startsWith(`${NAME}.`)).toBe(true);
    mkdirSync(join(PROJECT_ROOT, '.tmp/screenshots'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('a line that is not an example is named before anything changes; finetune\'s own errors show with their code', async () => {
    await train(`${EXAMPLES}\n\n{"prompt": "Tom had`, 20);
    await until('error');
    expect(await text('#status')).toMatch(/^BAD_ARGUMENT: examples:5: not JSON: /);
    expect(await page.locator('#download').getAttribute('href')).toMatch(/^blob:/);
    expect((await generate(HELD)).startsWith(`${NAME}.`)).toBe(true);
    await train('{"completion": 3}', 20);
    await until('error');
    expect(await text('#status')).toMatch(/^BAD_ARGUMENT: finetune: examples\[0\]/);
    expect(await page.locator('#train').isEnabled()).toBe(true);
  });

  it('a picked GGUF with a chat template learns from conversations, tried as chat messages', async () => {
    // set3/llama: random weights, Qwen2's ChatML template in the file
    await page.setInputFiles('#file', fixture('set3/llama.gguf'));
    await page.click('#load'); // (the status was 'error': the last test's)
    await until('ready', 'error');
    expect(await text('#model-info')).toMatch(/^\S+: 0\.\d+M parameters, 2 layers/);
    expect(await page.locator('#download').getAttribute('href')).toBeNull();
    expect(await text('#train-progress')).toBe('Not trained yet.');
    const qa = [['France', 'Paris.'], ['Italy', 'Rome.'], ['Spain', 'Madrid.'], ['Japan', 'Tokyo.']];
    const lines = qa.map(([country, city]) => JSON.stringify({ messages: [
      { role: 'user', content: `What is the capital of ${country}?` }, { role: 'assistant', content: city }] }));
    const question = 'What is the capital of Italy?';
    await page.selectOption('#mode', 'chat');
    const before = await generate(question, 6);
    expect(before).not.toBe('Rome.');
    await page.selectOption('#mode', 'complete');
    await train(lines.join('\n'), 30, 0.02);
    await until('trained', 'stopped', 'error');
    expect(await state()).toBe('trained');
    expect(await page.locator('#mode').inputValue()).toBe('chat');
    expect(await generate(question, 6)).toBe('Rome.');
    // the download in Node: model.chat with it answers the same
    const bytes = await download();
    const node = await loadModel(fixture('set3/llama.gguf'));
    try {
      await node.loadAdapter(new Uint8Array(bytes));
      expect((await node.chat([{ role: 'user', content: question }], { temperature: 0, maxTokens: 6 })).text).toBe('Rome.');
    } finally {
      node.dispose();
    }
  });

  it('after the server is gone and the network cut, the page reloads and teaches the embedded model again', async () => {
    await server.close();
    await browser.context.setOffline(true);
    try {
      await page.reload();
      await until('ready', 'error');
      expect(await text('#status')).toMatch(/^Ready \(works offline\)/);
      expect(await page.evaluate(() => navigator.onLine)).toBe(false);
      expect(await text('#model-info')).toMatch(/^stories260K: /);
      await train(EXAMPLES, 20);
      await until('trained', 'stopped', 'error');
      expect(await state()).toBe('trained');
      expect((await generate(HELD)).startsWith(`${NAME}.`)).toBe(true);
    } finally {
      await browser.context.setOffline(false);
    }
  });
});
