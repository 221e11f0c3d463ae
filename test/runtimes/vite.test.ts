/**
 * examples/vite-app built by Vite 7 against the package as npm would install it (`npm pack` of this
 * repository), then run in Chromium: Vite resolves the "browser" entry, bundles the model's worker and
 * emits the .wasm kernels and the embedded model as assets, all found through new URL(..., import.meta.url).
 * Vite is installed at test time into .tmp/vite-app (not the project: a second vite would change vitest's).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, skipBrowser, type Browser } from '../helpers/chromium.js';
import { fixture } from '../helpers/fixtures.js';
import { installInto, npm, npmEnv, TMP } from '../helpers/install.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from '../helpers/server.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8').replace(/\n$/, '');
const APP = join(PROJECT_ROOT, 'examples/vite-app');

describe.skipIf(skipBrowser)('a Vite 7 app importing wasmlm', () => {
  let dir: string;
  let assets: string[];
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    // the package as `npm i wasmlm` gets it (prepare already ran: npm test builds first)
    const packDir = join(TMP, 'vite-pack');
    rmSync(packDir, { recursive: true, force: true });
    mkdirSync(packDir, { recursive: true });
    const tgz = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], PROJECT_ROOT))[0].filename as string;
    const tarball = join(packDir, tgz);
    const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 16);
    const app = JSON.parse(readFileSync(join(APP, 'package.json'), 'utf8'));
    dir = installInto('vite-app', { ...app, dependencies: { wasmlm: `file:${tarball}` }, wasmlmTarball: sha });
    for (const f of ['index.html', 'main.js']) copyFileSync(join(APP, f), join(dir, f));
    rmSync(join(dir, 'dist'), { recursive: true, force: true });
    execFileSync(join(dir, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], { cwd: dir, env: npmEnv(), stdio: 'pipe', timeout: 300_000 });
    assets = readdirSync(join(dir, 'dist/assets'));
    server = await serveStatic({ mounts: { '/': join(dir, 'dist') } });
    browser = await launchChromium();
  }, 900_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('Vite bundles the model worker and emits the .wasm kernels and the embedded model as assets', () => {
    expect(assets.some((f) => /^model-worker-.*\.js$/.test(f)), assets.join(', ')).toBe(true);
    expect(assets.some((f) => /^wasmlm-.*\.wasm$/.test(f)), assets.join(', ')).toBe(true);
    expect(assets.some((f) => /^wasmlm\.relaxed-.*\.wasm$/.test(f)), assets.join(', ')).toBe(true);
    expect(assets.some((f) => /^stories260K-.*\.gguf$/.test(f)), assets.join(', ')).toBe(true);
  });

  it('the built app runs in Chromium: the embedded model in a Web Worker, greedy text as llama2.c', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/`);
    await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, undefined, { timeout: 60_000 });
    const r = await page.evaluate(() => (window as unknown as { __result: { text?: string; error?: string; info?: { name: string } } }).__result);
    expect(r.error, browser.logs.join('\n')).toBeUndefined();
    expect('Once upon a time' + r.text).toBe(reference);
    expect(r.info?.name).toBe('stories260K');
    expect(server.requests.some((p) => /\/assets\/model-worker-.*\.js$/.test(p))).toBe(true);
    expect(server.requests.some((p) => /\/assets\/wasmlm.*\.wasm$/.test(p))).toBe(true);
    expect(server.requests.some((p) => /\/assets\/stories260K-.*\.gguf$/.test(p))).toBe(true);
    await page.close();
  });
});
