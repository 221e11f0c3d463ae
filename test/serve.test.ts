/**
 * `wasmlm serve` for real (the built dist/cli.js in a child process on 127.0.0.1), talked to with the
 * `openai` npm client: the shared suite (test/helpers/openai-suite.ts), the log lines, SIGTERM.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endless, eventually, messages, openaiSuite } from './helpers/openai-suite.js';
import { COMPACT_HERMES_FILE, structuredSuite } from './helpers/openai-structured.js';
import { start, type Child } from './helpers/runtimes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
const KEY = 'sk-test-key';

/** Starts `wasmlm serve --port 0 ...` and resolves once it listens (the address it prints). */
async function startServer(args: string[]): Promise<{ child: Child; origin: string; stop(): Promise<void> }> {
  const child = start(process.execPath, [cli, 'serve', '--port', '0', ...args], { cwd: root });
  for (;;) {
    const m = /on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(child.output());
    if (m) return { child, origin: m[1]!, stop: () => child.stop() };
    if (child.proc.exitCode !== null) throw new Error(`wasmlm serve exited: ${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('wasmlm serve --parallel 4 + the openai client', () => {
  let child: Child;
  const suite = openaiSuite(async () => {
    const s = await startServer(['--api-key', KEY, '--parallel', '4']);
    child = s.child;
    return s;
  }, { key: KEY, parallel: 4 });

  it('logs one line per request: method, path, status, tokens, ms (and why a stream ended early)', async () => {
    const client = new OpenAI({ baseURL: `${suite.server().origin}/v1`, apiKey: KEY, maxRetries: 0 });
    await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 7 });
    await eventually(async () => /POST \/v1\/completions 200 7 tokens \d+ ms\n/.test(child.output()));
    // the aborted stream of the suite
    expect(child.output()).toMatch(/POST \/v1\/chat\/completions 200 0 tokens \d+ ms \(the client went away\)/);
    expect(child.output()).toMatch(/GET \/v1\/models 401 0 tokens \d+ ms \(the API key is not valid\)/);
  });
});

describe('wasmlm serve --chat-template: response_format and tools with the openai client', () => {
  let server: { origin: string; stop(): Promise<void> };
  beforeAll(async () => { server = await startServer(['--chat-template', COMPACT_HERMES_FILE]); });
  afterAll(() => server.stop());
  structuredSuite(() => new OpenAI({ baseURL: `${server.origin}/v1`, apiKey: 'unused', maxRetries: 0 }));
});

describe('wasmlm serve: shutting down', () => {
  it('SIGTERM ends a stream in flight with an error event and exits', async () => {
    const { child, origin } = await startServer([]);
    const client = new OpenAI({ baseURL: `${origin}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'x', messages, ...endless, stream: true });
    let n = 0;
    const read = (async () => { for await (const _ of stream) if (++n === 3) child.proc.kill('SIGTERM'); })();
    const e = await read.catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.APIError);
    expect(String(e.message)).toMatch(/shutting down/);
    const code = await new Promise((r) => child.proc.exitCode !== null ? r(child.proc.exitCode) : child.proc.once('exit', r));
    expect(code).toBe(0);
    expect(child.output()).toMatch(/SIGTERM: shutting down[\s\S]*stopped/);
  });

  it('flags are checked before the model loads', () => {
    return startServer(['--port', '99999']).then(() => { throw new Error('it started'); }, (e: Error) => {
      expect(e.message).toMatch(/--port expects an integer from 0 to 65535, got '99999'/);
    });
  });
});
