/**
 * examples/web in Chromium, as a person uses it: the page loads the embedded model, generates greedily
 * from "Once upon a time" (the llama2.c reference text), stops a generation mid-way, loads a GGUF file
 * picked from disk, and after the server is gone and the network cut, reloads and generates again (the
 * service worker serves the app, wasmlm's cache the model). A screenshot goes to .tmp/screenshots/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, skipBrowser, type Browser } from '../helpers/chromium.js';
import { fixture } from '../helpers/fixtures.js';
import { PROJECT_ROOT, type StaticServer } from '../helpers/server.js';
import { openWebApp, type WebApp } from '../helpers/web-app.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8').replace(/\n$/, '');
const SCREENSHOT = join(PROJECT_ROOT, '.tmp/screenshots/web-app.png');

describe.skipIf(skipBrowser)(browserSuite('examples/web, the offline web app'), () => {
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
  async function generate(prompt: string, maxTokens: number): Promise<void> {
    await page.fill('#prompt', prompt);
    await page.fill('#max-tokens', String(maxTokens));
    await page.fill('#temperature', '0');
    await page.click('#generate');
  }
  const outputText = () => page.locator('#output-text').textContent().then((t) => t ?? '');

  it('loads the embedded model on the first visit and reproduces llama2.c greedily, with tokens/s', async () => {
    await page.goto(`${server.origin}/`);
    await until('ready', 'error');
    expect(await page.locator('#status').textContent()).toMatch(/Ready \(works offline\)/);
    expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    await expect.poll(() => page.locator('#model-info').textContent()).toMatch(/stories260K: .* layers/);
    await generate('Once upon a time', 196);
    await until('done', 'error');
    expect('Once upon a time' + await outputText()).toBe(reference);
    expect(await page.locator('#stats').textContent()).toMatch(/^196 tokens · \d+ tokens\/s .* finished: length$/);
  });

  it('the stop button stops a generation mid-way', async () => {
    // press stop as soon as the first piece shows (inside the page, so no round trip to the test)
    await page.evaluate(() => {
      const out = document.getElementById('output-text')!;
      const obs = new MutationObserver(() => {
        if (out.textContent) { obs.disconnect(); document.getElementById('stop')!.click(); }
      });
      obs.observe(out, { childList: true, characterData: true, subtree: true });
    });
    await generate('Once upon a time', 1000);
    await until('stopped', 'done', 'error');
    expect(await state()).toBe('stopped');
    const text = await outputText();
    expect(text.length).toBeGreaterThan(0);
    expect(reference.startsWith('Once upon a time' + text)).toBe(true);
    expect(await page.locator('#stats').textContent()).toMatch(/finished: abort$/);
    expect(await page.locator('#stop').isDisabled()).toBe(true);
  });

  it('loads a GGUF file the user picks', async () => {
    await page.setInputFiles('#file', join(PROJECT_ROOT, 'models/stories260K.gguf'));
    await page.click('#load');
    await until('loading');
    await until('ready', 'error');
    expect(await page.locator('#status').textContent()).toMatch(/^Ready/);
    expect(await page.locator('#model-info').textContent()).toMatch(/^stories260K: /);
    await generate('Once upon a time', 196);
    await until('done', 'error');
    expect('Once upon a time' + await outputText()).toBe(reference);
  });

  it('after the server is gone and the network cut, a reload works and generates the same text', async () => {
    await server.close();
    await browser.context.setOffline(true);
    try {
      await page.reload();
      await until('ready', 'error');
      expect(await page.locator('#status').textContent()).toMatch(/^Ready \(works offline\)/);
      expect(await page.evaluate(() => navigator.onLine)).toBe(false);
      await generate('Once upon a time', 196);
      await until('done', 'error');
      expect('Once upon a time' + await outputText()).toBe(reference);
      mkdirSync(join(PROJECT_ROOT, '.tmp/screenshots'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await browser.context.setOffline(false);
    }
  });
});
