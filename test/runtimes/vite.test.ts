/**
 * wasmlm in Vite apps, installed as npm installs it (`npm pack` of this repository), run in Chromium in
 * both of Vite's modes: `vite` (the dev server, which pre-bundles dependencies into node_modules/.vite)
 * and `vite build` + `vite preview`.
 *
 * - a fresh app: `npm create vite` (create-vite's vanilla template, its own files and Vite 8) with a
 *   src/main.js that loads the embedded model: no configuration;
 * - examples/vite-app as it is: no configuration;
 * - a Vite 7 app: dev needs the one line the README gives (`optimizeDeps: { exclude: ['wasmlm'] }`: Vite 7
 *   pre-bundles dependencies with esbuild, which leaves `new URL('./model-worker.js', import.meta.url)`
 *   pointing into its own folder, where the worker is not; Vite 8 rebases such URLs).
 *
 * In every case: the worker, the .wasm kernels and the embedded model are found through
 * new URL(..., import.meta.url), greedy text is llama2.c's, the model download lands in the Cache API with
 * no warning, and a reload loads it from there.
 * Vite and create-vite are installed at test time into .tmp/ (not the project: a second vite would change
 * vitest's).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, launchChromium, skipBrowser, type Browser } from '../helpers/chromium.js';
import { fixture } from '../helpers/fixtures.js';
import { installInto, npm, npmEnv, packProject, TMP } from '../helpers/install.js';
import { freePort, start, waitForHttp, type Child } from '../helpers/runtimes.js';
import { PROJECT_ROOT } from '../helpers/server.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8').replace(/\n$/, '');
const EXAMPLE = join(PROJECT_ROOT, 'examples/vite-app');
const CREATE_VITE = '9.3.0';
const VITE8 = '8.4.1';
const VITE7 = '7.3.8';
const GGUF = /\/stories260K(-[\w-]+)?\.gguf$/;

/** What a user of the fresh template writes into src/main.js: the embedded model, a greedy story. */
const FRESH_MAIN = `import { loadModel } from 'wasmlm';

const app = document.querySelector('#app');
try {
  const model = await loadModel();
  let text = '';
  for await (const piece of model.generate('Once upon a time', { temperature: 0, maxTokens: 196 })) text += piece;
  app.textContent = 'Once upon a time' + text;
  window.__result = { text, info: { name: model.info.name } };
} catch (e) {
  app.textContent = \`\${e.code ?? e.name}: \${e.message}\`;
  window.__result = { error: app.textContent };
}
`;

/** The packed package, as `npm i wasmlm` gets it, and its hash (a new tarball reinstalls the apps). */
function packTarball(): { tarball: string; sha: string } {
  const tarball = packProject('vite-pack');
  return { tarball, sha: createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 16) };
}

/** create-vite's vanilla template, scaffolded by create-vite itself: its package.json, and a folder of its files. */
function scaffoldVanilla(): { packageJson: Record<string, unknown>; files: string } {
  const tool = installInto('create-vite', { private: true, dependencies: { 'create-vite': CREATE_VITE } });
  const files = join(TMP, 'vite-template');
  rmSync(files, { recursive: true, force: true });
  execFileSync(process.execPath, [join(tool, 'node_modules/create-vite/index.js'), 'vite-template', '--template', 'vanilla', '--no-interactive', '--no-immediate'],
    { cwd: TMP, env: npmEnv(), stdio: 'pipe', timeout: 60_000 });
  const packageJson = JSON.parse(readFileSync(join(files, 'package.json'), 'utf8')) as Record<string, unknown>;
  rmSync(join(files, 'package.json'));
  return { packageJson, files };
}

interface App {
  dir: string;
  vite(args: string[]): Child;
}

/** Install `packageJson` (+ wasmlm from the tarball) into .tmp/<name>, then lay `files` (a folder) over it. */
function makeApp(name: string, packageJson: Record<string, unknown>, files: string, tgz: { tarball: string; sha: string }): App {
  const dir = installInto(name, {
    ...packageJson,
    dependencies: { ...(packageJson.dependencies as object | undefined), wasmlm: `file:${tgz.tarball}` },
    wasmlmTarball: tgz.sha,
  });
  for (const f of readdirSync(files)) {
    if (!['package.json', 'package-lock.json', 'node_modules', 'dist', 'README.md'].includes(f)) cpSync(join(files, f), join(dir, f), { recursive: true });
  }
  // a fresh start: no pre-bundled dependencies, no earlier build
  for (const d of ['node_modules/.vite', 'dist']) rmSync(join(dir, d), { recursive: true, force: true });
  return { dir, vite: (args) => start(join(dir, 'node_modules/.bin/vite'), args, { cwd: dir, env: npmEnv() }) };
}

async function serve(app: App, mode: 'dev' | 'preview'): Promise<{ origin: string; child: Child }> {
  const port = await freePort();
  const child = app.vite([...(mode === 'preview' ? ['preview'] : []), '--host', '127.0.0.1', '--port', String(port), '--strictPort']);
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(`${origin}/`, child);
  return { origin, child };
}

interface Run {
  result: { text?: string; error?: string; info?: { name: string } };
  /** every URL the page and its workers asked for */
  requests: string[];
  logs: string[];
  /** the URLs in wasmlm's model cache afterwards */
  cached: string[];
}

describe.skipIf(skipBrowser)(browserSuite('Vite apps importing the packed wasmlm, in Chromium'), () => {
  let browser: Browser;
  let tgz: { tarball: string; sha: string };

  beforeAll(async () => {
    tgz = packTarball();
    browser = await launchChromium();
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
  });

  /** Open the app, wait for its story; then reload and wait again (the model then comes from the cache). */
  async function visit(origin: string): Promise<{ first: Run; reload: Run }> {
    const page = await browser.newPage();
    let requests: string[] = [];
    let logs: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    // failed requests by URL (the browser's own console line does not name it); Chromium's automatic
    // /favicon.ico request is not the app's
    page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) logs.push(`[http ${r.status()}] ${r.url()}`); });
    const once = async (): Promise<Run> => {
      await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, undefined, { timeout: 90_000 });
      const result = await page.evaluate(() => (window as unknown as { __result: Run['result'] }).__result);
      const cached = await page.evaluate(async () => (await (await caches.open('wasmlm-models')).keys()).map((r) => r.url));
      const run = { result, requests, logs, cached };
      requests = [];
      logs = [];
      return run;
    };
    await page.goto(`${origin}/`);
    const first = await once();
    await page.reload();
    const reload = await once();
    await page.close();
    return { first, reload };
  }

  function expectStory(run: Run) {
    expect(run.result.error, run.logs.join('\n')).toBeUndefined();
    expect('Once upon a time' + run.result.text).toBe(reference);
    expect(run.result.info?.name).toBe('stories260K');
    expect(run.logs.filter((l) => /^\[(warning|pageerror|http \d+)\]/.test(l) || (/^\[error\]/.test(l) && !/Failed to load resource/.test(l)))).toEqual([]);
  }

  /** Both modes for one app: `vite` (dev) and `vite build && vite preview`. */
  function bothModes(title: string, setup: () => App) {
    describe(title, () => {
      let app: App;
      beforeAll(() => { app = setup(); }, 900_000);

      it('vite (dev server): the worker, kernels and model are served from the package; cached with no warning; a reload uses the cache', async () => {
        const { origin, child } = await serve(app, 'dev');
        try {
          const { first, reload } = await visit(origin);
          expectStory(first);
          expect(first.requests.some((u) => /\/node_modules\/wasmlm\/dist\/model-worker\.js\b/.test(u)), first.requests.join('\n')).toBe(true);
          expect(first.requests.some((u) => /\/node_modules\/wasmlm\/dist\/wasmlm[\w.]*\.wasm$/.test(u)), first.requests.join('\n')).toBe(true);
          const models = first.requests.filter((u) => /\/node_modules\/wasmlm\/models\/stories260K\.gguf$/.test(u));
          expect(models).toHaveLength(1);
          expect(first.cached).toEqual(models);
          expectStory(reload);
          expect(reload.requests.filter((u) => GGUF.test(u))).toEqual([]);
        } finally {
          await child.stop();
        }
      });

      it('vite build && vite preview: the worker, kernels and model are emitted as assets and found', async () => {
        execFileSync(join(app.dir, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], { cwd: app.dir, env: npmEnv(), stdio: 'pipe', timeout: 300_000 });
        const assets = readdirSync(join(app.dir, 'dist/assets'));
        for (const re of [/^model-worker-.*\.js$/, /^wasmlm-.*\.wasm$/, /^wasmlm\.relaxed-.*\.wasm$/, /^stories260K-.*\.gguf$/]) {
          expect(assets.some((f) => re.test(f)), `${re} in ${assets.join(', ')}`).toBe(true);
        }
        const { origin, child } = await serve(app, 'preview');
        try {
          const { first, reload } = await visit(origin);
          expectStory(first);
          expect(first.requests.some((u) => /\/assets\/model-worker-.*\.js$/.test(u))).toBe(true);
          expect(first.requests.some((u) => /\/assets\/wasmlm.*\.wasm$/.test(u))).toBe(true);
          expect(first.requests.filter((u) => /\/assets\/stories260K-.*\.gguf$/.test(u))).toHaveLength(1);
          expectStory(reload);
          expect(reload.requests.filter((u) => GGUF.test(u))).toEqual([]);
        } finally {
          await child.stop();
        }
      });
    });
  }

  bothModes(`a fresh app from npm create vite (create-vite ${CREATE_VITE}, vanilla, Vite ${VITE8}), no configuration`, () => {
    const { packageJson, files } = scaffoldVanilla();
    expect(packageJson.devDependencies).toMatchObject({ vite: expect.stringMatching(/^\^8\./) });
    writeFileSync(join(files, 'src/main.js'), FRESH_MAIN);
    // the template's own range, pinned to one version so that the test does not change under us
    return makeApp('vite-fresh', { ...packageJson, devDependencies: { vite: VITE8 } }, files, tgz);
  });

  bothModes('examples/vite-app as it is, no configuration', () => {
    const pkg = JSON.parse(readFileSync(join(EXAMPLE, 'package.json'), 'utf8')) as Record<string, unknown>;
    return makeApp('vite-app', pkg, EXAMPLE, tgz);
  });

  bothModes(`a Vite ${VITE7} app with the README's one line for Vite 7 (optimizeDeps.exclude)`, () => {
    const { packageJson, files } = scaffoldVanilla();
    writeFileSync(join(files, 'src/main.js'), FRESH_MAIN);
    writeFileSync(join(files, 'vite.config.js'), "export default { optimizeDeps: { exclude: ['wasmlm'] } };\n");
    return makeApp('vite7-app', { ...packageJson, devDependencies: { vite: VITE7 } }, files, tgz);
  });

  it('examples/vite-app installs the package as a copy (install-links), as from the registry, not as a symlink', () => {
    // a symlink puts the package outside the app's folder: Vite's dev server then refuses its files (403)
    expect(npm(['config', 'get', 'install-links'], EXAMPLE).trim()).toBe('true');
  });
});
