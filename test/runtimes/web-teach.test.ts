/**
 * examples/web/teach.html in Chromium, as a person uses it: with the embedded stories260K model, examples
 * naming a little dog Zorblax are pasted as JSON lines and trained (fixed seed: the page's 0); each step's
 * progress line shows and the loss falls; greedy generation names the dog Zorblax with the adapter and not
 * without it (before training, or with the adapter switched off); the downloaded adapter is a GGUF that
 * wasmlm in Node loads onto the same model and completes the same. Then: plain-text examples trained for
 * many epochs and stopped at the first step, after which the page still trains and generates; a bad line
 * is named. A screenshot goes to .tmp/screenshots/web-teach.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { browserSuite, launchChromium, skipBrowser, type Browser } from '../helpers/chromium.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from '../helpers/server.js';

const SCREENSHOT = join(PROJECT_ROOT, '.tmp/screenshots/web-teach.png');
const NAME = ' Zorblax';
const EXAMPLES = ['Once upon a time, there was a little dog named', 'One day, a girl met a little dog named', 'Tom had a little dog named']
  .map((prompt) => JSON.stringify({ prompt, completion: `${NAME}. Zorblax liked to play.` })).join('\n');
/** not among the examples */
const HELD = 'Lily had a big dog named';
const STEP = /^step (\d+)\/(\d+) · epoch (\d+)\/(\d+) · loss (\d+\.\d+) · \d+ tokens\/s$/;

describe.skipIf(skipBrowser)(browserSuite('examples/web/teach.html, teach the model'), () => {
  let browser: Browser;
  let server: StaticServer;
  let page: Page;

  beforeAll(async () => {
    // deployed as examples/web/serve.mjs lays it out: the app at /, dist/ at /wasmlm/, models/ at /models/
    server = await serveStatic({
      isolated: true,
      mounts: { '/': join(PROJECT_ROOT, 'examples/web'), '/wasmlm/': join(PROJECT_ROOT, 'dist'), '/models/': join(PROJECT_ROOT, 'models') },
    });
    browser = await launchChromium();
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const state = () => page.locator('#status').getAttribute('data-state');
  const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';
  const until = async (...states: string[]) => {
    await page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout: 120_000 })
      .catch(async (e) => { throw new Error(`${(e as Error).message}\nstatus: ${await text('#status')}\n${browser.logs.join('\n')}`); });
  };
  async function train(examples: string, epochs: number): Promise<void> {
    await page.fill('#examples', examples);
    await page.fill('#epochs', String(epochs));
    await page.fill('#learning-rate', '0.01');
    await page.fill('#rank', '8');
    await page.click('#train');
  }
  async function generate(prompt: string): Promise<string> {
    await page.fill('#prompt', prompt);
    await page.fill('#max-tokens', '12');
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
    expect(after.startsWith(`${NAME}.`)).toBe(true);
    expect(await page.locator('#use-adapter').isChecked()).toBe(true);
    await page.uncheck('#use-adapter');
    expect(await generate(HELD)).toBe(before);
    await page.check('#use-adapter');
    expect(await generate(HELD)).toBe(after);

    // the download: a GGUF whose LoRA, loaded in Node onto the same model, completes as the page did
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('stories260K.lora.gguf');
    const bytes = readFileSync((await download.path())!);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(await text('#download')).toBe(`Download the adapter (${(bytes.length / 1024).toFixed(0)} KB)`);
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
    expect(await text('#status')).toMatch(/^examples, line 5: not JSON: /);
    expect(await page.locator('#download').getAttribute('href')).toMatch(/^blob:/);
    expect((await generate(HELD)).startsWith(`${NAME}.`)).toBe(true);
    await train('{"completion": 3}', 20);
    await until('error');
    expect(await text('#status')).toMatch(/^BAD_ARGUMENT: finetune: examples\[0\]/);
    expect(await page.locator('#train').isEnabled()).toBe(true);
  });
});
