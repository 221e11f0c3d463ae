/**
 * examples/web in Chromium, served as examples/web/serve.mjs lays it out (the app at /, dist/ at /wasmlm/,
 * models/ at /models/, cross-origin isolated), for the tests that drive its pages (runtimes/web-app,
 * runtimes/web-teach). The pages' footer status (`#status`, its data-state) says what they are doing.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from './chromium.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from './server.js';

export interface WebApp {
  browser: Browser;
  server: StaticServer;
  page: Page;
  /** wait until the status's state is one of `states` (a failure says the status and the page's logs) */
  until(...states: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function openWebApp(): Promise<WebApp> {
  const server = await serveStatic({
    isolated: true,
    mounts: { '/': join(PROJECT_ROOT, 'examples/web'), '/wasmlm/': join(PROJECT_ROOT, 'dist'), '/models/': join(PROJECT_ROOT, 'models') },
  });
  const browser = await launchChromium();
  const page = await browser.newPage();
  return {
    browser, server, page,
    async until(...states) {
      await page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout: 60_000 })
        .catch(async (e) => { throw new Error(`${(e as Error).message}\nstatus: ${await page.locator('#status').textContent()}\n${browser.logs.join('\n')}`); });
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
