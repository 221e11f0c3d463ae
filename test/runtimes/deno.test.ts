/**
 * Deno (from the npm package `deno`), started for real: examples/deno prints the llama2.c greedy text, and
 * every conformance check passes on the built package (path, file URL, bytes, Blob, stream, http URL with
 * progress, abort, errors).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.js';
import { run } from '../helpers/runtimes.js';
import { expectRestoresInNode, nodeSession } from '../helpers/sessions.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from '../helpers/server.js';

const REFERENCE_FILE = fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt');
const reference = readFileSync(REFERENCE_FILE, 'utf8').replace(/\n$/, '');
const DENO = join(PROJECT_ROOT, 'node_modules/.bin/deno');
const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };

interface Result { name: string; ok: boolean; detail?: string }

describe('Deno', () => {
  let server: StaticServer;
  beforeAll(async () => { server = await serveStatic(); });
  afterAll(async () => { await server?.close(); });

  it('examples/deno streams the greedy text of llama2.c', () => {
    const out = execFileSync(DENO, ['run', '--no-lock', '--allow-read', '--config', 'examples/deno/deno.json',
      'examples/deno/main.ts', 'Once upon a time', '196'], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 120_000 });
    expect(out).toBe(reference);
  });

  it('every conformance check on the built package', async () => {
    const args = {
      entry: new URL('dist/index.js', `file://${PROJECT_ROOT}`).href,
      modelPath: join(PROJECT_ROOT, 'models/stories260K.gguf'),
      reference: REFERENCE_FILE,
      modelUrl: `${server.origin}/models/stories260K.gguf`,
      missingUrl: `${server.origin}/models/missing.gguf`,
      stallUrl: `${server.origin}/__stall/models/stories260K.gguf?bytes=300000`,
      session: await nodeSession(),
    };
    // (not execFileSync: this process serves the model's URL while Deno fetches it)
    const r = await run(DENO, ['run', '--no-lock', '--allow-read', '--allow-net=127.0.0.1', 'test/helpers/run-conformance.mjs',
      JSON.stringify(args)], { cwd: PROJECT_ROOT, env, timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const { runtime, results } = JSON.parse(r.stdout) as { runtime: string; results: Result[] };
    expect(runtime).toMatch(/^deno 2\./);
    const failed = results.filter((r) => !r.ok);
    expect(failed, failed.map((r) => `${r.name}: ${r.detail}`).join('\n')).toEqual([]);
    expect(results.map((r) => r.name)).toContain('file path');
    expect(results.length).toBeGreaterThanOrEqual(17);
    // a session saved in Node continued in Deno (a conformance check), and Deno's restored here
    await expectRestoresInNode(results, args.session);
  });
});
