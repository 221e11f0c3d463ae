/**
 * The package as npm ships it (`npm pack` of the built repository): its declarations type-check in a
 * consumer without the DOM lib or @types/node (lib: ["ES2022"], types: [], skipLibCheck: false), with the
 * DOM lib, and with @types/node; publint and @arethetypeswrong/cli (profile esm-only) find no problems.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packProject, TMP } from './helpers/install.js';
import { PROJECT_ROOT } from './helpers/server.js';

const BIN = join(PROJECT_ROOT, 'node_modules/.bin');
const DIR = join(TMP, 'package-test');
const CONSUMER = join(DIR, 'consumer');
const PACKAGE = join(CONSUMER, 'node_modules/wasmlm');

/** A consumer of every typed entry point; the @ts-expect-error lines fail if the types were `any`. */
const CONSUMER_TS = `import { loadModel, WasmlmError, type ModelSource, type GenerateOptions } from 'wasmlm';
import { loadModel as loadInBrowser, clearModelCache, type BrowserLoadOptions } from 'wasmlm/browser';
import { loadModel as loadStandalone } from 'wasmlm/standalone';
import 'wasmlm/model-worker.js';

export async function story(source: ModelSource, options: GenerateOptions): Promise<string> {
  const model = await loadModel(source, { contextLength: 256 });
  try {
    const r = await model.complete('Once upon a time', { ...options, maxTokens: 20 });
    return r.text + model.info.name;
  } finally {
    model.dispose();
  }
}

export async function inBrowser(url: string, options: BrowserLoadOptions): Promise<number> {
  const model = await loadInBrowser(url, { ...options, worker: true });
  await clearModelCache(url);
  return model.tokenizer.encode('hi').length;
}

export function errorCode(e: unknown): string | undefined {
  return e instanceof WasmlmError ? e.code : undefined;
}

export const standalone: typeof loadModel = loadStandalone;

// @ts-expect-error maxTokens is a number
export const wrong: GenerateOptions = { maxTokens: 'many' };
// @ts-expect-error there is no such export
export { nothingHere } from 'wasmlm';
`;

function tsc(name: string, compilerOptions: Record<string, unknown>): { status: number | null; output: string } {
  const config = join(CONSUMER, `tsconfig.${name}.json`);
  writeFileSync(config, JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      skipLibCheck: false, types: [], ...compilerOptions,
    },
    files: ['consumer.ts'],
  }, null, 2));
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], { cwd: CONSUMER, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the packed package', () => {
  let tarball: string;

  beforeAll(() => {
    if (!existsSync(join(PROJECT_ROOT, 'dist/types/index.d.ts'))) throw new Error('dist/ is not built: npm run build');
    tarball = packProject('package-test');
    mkdirSync(PACKAGE, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', PACKAGE, '--strip-components=1']);
    writeFileSync(join(CONSUMER, 'package.json'), '{ "private": true, "type": "module" }\n');
    writeFileSync(join(CONSUMER, 'consumer.ts'), CONSUMER_TS);
  });

  it('type-checks with lib ES2022 only, no @types, skipLibCheck false (no DOM, no Node types)', () => {
    const r = tsc('es2022', { lib: ['ES2022'] });
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('type-checks with the DOM lib', () => {
    const r = tsc('dom', { lib: ['ES2022', 'DOM', 'DOM.Iterable'] });
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it("type-checks with @types/node (a Node program's setup)", () => {
    const r = tsc('node', { lib: ['ES2022'], types: ['node'], typeRoots: [join(PROJECT_ROOT, 'node_modules/@types')] });
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('the consumer check fails when the declarations are wrong (it is not vacuous)', () => {
    writeFileSync(join(CONSUMER, 'consumer.ts'), CONSUMER_TS + "export const n: number = loadModel;\n");
    try {
      const r = tsc('es2022', { lib: ['ES2022'] });
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/consumer\.ts.*error TS2322/);
    } finally {
      writeFileSync(join(CONSUMER, 'consumer.ts'), CONSUMER_TS);
    }
  });

  it('publint finds nothing (errors, warnings or suggestions)', () => {
    const out = execFileSync(join(BIN, 'publint'), [PACKAGE, '--pack', 'false', '--strict'], { encoding: 'utf8' });
    expect(out).toMatch(/All good!/);
  });

  it('@arethetypeswrong/cli (profile esm-only) finds no problems; the .wasm and model subpaths are assets, not modules', () => {
    // the tarball packed above (attw --pack would run `npm pack` with the prepare script: a full rebuild)
    const r = spawnSync(join(BIN, 'attw'), [tarball, '--profile', 'esm-only', '--exclude-entrypoints', './wasmlm.wasm', './wasmlm.relaxed.wasm', './models/*', '-f', 'json'], { encoding: 'utf8' });
    const report = JSON.parse(r.stdout) as { analysis: { entrypoints: Record<string, unknown> }; problems?: Record<string, { resolutionKind: string; entrypoint: string }[]> };
    // the esm-only profile ignores CommonJS and node10 resolution (the package is ESM only)
    const problems = Object.values(report.problems ?? {}).flat().filter((p) => !['node10', 'node16-cjs'].includes(p.resolutionKind));
    expect(problems).toEqual([]);
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(['.', './browser', './model-worker.js', './package.json', './standalone']);
    expect(r.status, r.stderr).toBe(0);
  });
});
