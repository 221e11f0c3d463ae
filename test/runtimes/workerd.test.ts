/**
 * workerd (the runtime of Cloudflare Workers, from the npm package `workerd`), started for real:
 * examples/edge/config.capnp serves the embedded model's OpenAI API on 127.0.0.1:8787 and answers
 * POST /v1/completions with the llama2.c greedy text; and the conformance checks run inside workerd with the kernels as a module that
 * workerd compiled (edge runtimes compile no wasm from bytes), the model as bytes, Blob, stream and URL.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.js';
import { expectRestoresInNode, nodeSession } from '../helpers/sessions.js';
import { freePort, portIsFree, start, waitForHttp, type Child } from '../helpers/runtimes.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from '../helpers/server.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8').replace(/\n$/, '');
/** the workerd binary itself (node_modules/.bin/workerd is a Node wrapper that would outlive a kill) */
const WORKERD = (createRequire(import.meta.url)('workerd') as { default: string }).default;

interface Result { name: string; ok: boolean; detail?: string }

describe('workerd', () => {
  const children: Child[] = [];
  let server: StaticServer;
  beforeAll(async () => { server = await serveStatic(); });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await server?.close();
  });

  async function serve(config: string, defaultPort: number): Promise<string> {
    // the config's own port when it is free, else another one given on the command line
    const port = (await portIsFree(defaultPort)) ? defaultPort : await freePort();
    const args = ['serve', config, ...(port === defaultPort ? [] : ['--socket-addr', `http=127.0.0.1:${port}`])];
    const child = start(WORKERD, args, { cwd: PROJECT_ROOT });
    children.push(child);
    const origin = `http://127.0.0.1:${port}`;
    await waitForHttp(origin, child);
    return origin;
  }
  const post = (url: string, body: unknown) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('examples/edge: `workerd serve examples/edge/config.capnp` serves the OpenAI API with the greedy text of llama2.c', async () => {
    // (the whole OpenAI suite runs against it in test/openai-runtimes.test.ts)
    const origin = await serve('examples/edge/config.capnp', 8787);
    const res = await post(`${origin}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 196, temperature: 0 });
    expect(res.status).toBe(200);
    const body = await res.json() as { choices: Array<{ text: string; finish_reason: string }> };
    expect('Once upon a time' + body.choices[0]!.text).toBe(reference);
    expect(body.choices[0]!.finish_reason).toBe('length');

    const models = await (await fetch(`${origin}/v1/models`)).json() as { data: Array<{ id: string }> };
    expect(models.data[0]!.id).toBe('stories260K');

    const notJson = await post(`${origin}/v1/completions`, 'Once upon a time');
    expect(notJson.status).toBe(400);
    const badTokens = await post(`${origin}/v1/completions`, { prompt: 'Hi', max_tokens: -1 });
    expect(((await badTokens.json()) as { error: { param: string } }).error.param).toBe('max_tokens');
  });

  it('every conformance check inside workerd (kernels as a precompiled module; bytes, Blob, stream, URL)', async () => {
    const origin = await serve(join('test/helpers/workerd/harness.capnp'), 8788);
    const session = await nodeSession();
    const res = await post(`${origin}/`, {
      session,
      reference,
      modelUrl: `${server.origin}/models/stories260K.gguf`,
      missingUrl: `${server.origin}/models/missing.gguf`,
      stallUrl: `${server.origin}/__stall/models/stories260K.gguf?bytes=300000`,
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const { results, withoutModule } = JSON.parse(text) as { results: Result[]; withoutModule: string };
    const failed = results.filter((r) => !r.ok);
    expect(failed, failed.map((r) => `${r.name}: ${r.detail}`).join('\n')).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(15);
    expect(results.map((r) => r.name)).toContain('URL string, with progress');
    // a session saved in Node continued in workerd (a conformance check), and workerd's restored here
    await expectRestoresInNode(results, session);
    // no precompiled module: a WasmlmError that says what is missing
    expect(withoutModule).toMatch(/^WASM_FAILED: cannot load the kernel module from file:\/\/\/bundle\/wasmlm\.wasm/);
  });
});
