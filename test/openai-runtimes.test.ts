/**
 * The OpenAI suite (test/helpers/openai-suite.ts, the real `openai` client) against the same fetch handler
 * in workerd (examples/edge/worker.js, with an API key binding) and in Deno (examples/deno/server.ts).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe } from 'vitest';
import { openaiSuite } from './helpers/openai-suite.js';
import { freePort, start, waitForHttp } from './helpers/runtimes.js';
import { PROJECT_ROOT } from './helpers/server.js';

/** the workerd binary itself (node_modules/.bin/workerd is a Node wrapper that would outlive a kill) */
const WORKERD = (createRequire(import.meta.url)('workerd') as { default: string }).default;
const DENO = join(PROJECT_ROOT, 'node_modules/.bin/deno');

describe('workerd: examples/edge (the OpenAI API) + the openai client', () => {
  openaiSuite(async () => {
    const port = await freePort();
    const child = start(WORKERD, ['serve', 'test/helpers/workerd/openai.capnp', '--socket-addr', `http=127.0.0.1:${port}`], { cwd: PROJECT_ROOT });
    const origin = `http://127.0.0.1:${port}`;
    await waitForHttp(`${origin}/health`, child);
    return { origin, stop: () => child.stop() };
  }, { key: 'sk-test-key', parallel: 1 });
});

describe('Deno: examples/deno/server.ts (Deno.serve) + the openai client', () => {
  openaiSuite(async () => {
    const port = await freePort();
    const child = start(DENO, ['run', '--no-lock', '--allow-read', '--allow-net', '--config', 'examples/deno/deno.json',
      'examples/deno/server.ts', '', String(port)], { cwd: PROJECT_ROOT, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' } });
    const origin = `http://127.0.0.1:${port}`;
    await waitForHttp(`${origin}/health`, child);
    return { origin, stop: () => child.stop() };
  }, { parallel: 1 });
});
