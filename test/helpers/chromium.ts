/**
 * Debian's Chromium, headless, driven by playwright-core. One launch per test file; each launch gets a
 * fresh profile (so no service worker or cache survives from another run).
 *
 * When /usr/bin/chromium is missing the browser tests are skipped on a developer machine, but fail in CI
 * (CI=true): .ci/run installs it with apt-get, so a missing browser there is a broken CI, not a pass.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.WASMLM_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests are skipped: only off CI, and only when there is no Chromium ('' when they run). */
export const browserSkipReason = !existsSync(CHROMIUM) && process.env.CI !== 'true'
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set WASMLM_CHROMIUM; with CI=true a missing browser fails instead)`
  : '';
export const skipBrowser = browserSkipReason !== '';
if (skipBrowser) console.warn(`browser tests skipped: ${browserSkipReason}`);

/** A browser suite's name, which says why when the suite is skipped. */
export function browserSuite(name: string): string {
  return skipBrowser ? `${name} (skipped: ${browserSkipReason})` : name;
}

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  /** what pages printed (console, page errors), for failure messages */
  logs: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM} (CI=${process.env.CI ?? ''}): ` +
      'apt-get update && apt-get install -y chromium (.ci/run does this)');
  }
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'wasmlm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1000, height: 760 },
  });
  const logs: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    logs,
    async newPage() {
      return context.newPage();
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
