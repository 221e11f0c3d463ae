/**
 * The OpenAI API checked with the real `openai` client against a server started by `start` (wasmlm serve
 * on Node, examples/edge in workerd, examples/deno/server.ts in Deno: one suite, the same handler).
 * Texts are checked against llama2.c's greedy reference and the in-process model.
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.js';
import { fixture } from './fixtures.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8');
export const messages = [{ role: 'user' as const, content: 'Once upon a time' }];
/** end-of-text (id 2 in stories260K's vocabulary) banned: a reply that goes on until the context is full */
export const endless = { logit_bias: { 2: -100 }, max_tokens: 100000 };

export interface Server { origin: string; stop(): Promise<void> }

/** Polls `check` until it holds (the server's state after an event it reports on its own time). */
export async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

/**
 * The suite, inside a describe(): `start` gives a server of the embedded model with API key `key` (or none)
 * and `parallel` slots.
 */
export function openaiSuite(start: () => Promise<Server>, opts: { key?: string; parallel: number }): { server: () => Server } {
  let server: Server;
  let client: OpenAI;
  let model: Model;
  beforeAll(async () => {
    [server, model] = await Promise.all([start(), loadModel()]);
    client = new OpenAI({ baseURL: `${server.origin}/v1`, apiKey: opts.key ?? 'unused', maxRetries: 0 });
  });
  afterAll(async () => { await server?.stop(); model?.dispose(); });
  // on a connection of its own (node:http, no agent): not queued behind the client's pooled connections
  const health = () => new Promise<{ status: string; slots: { active: number; queued: number } }>((resolve, reject) => {
    get(`${server.origin}/health`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; }).on('end', () => resolve(JSON.parse(body))).on('error', reject);
    }).on('error', reject);
  });

  it('chat: non-streamed and streamed give the same text at temperature 0, with usage', async () => {
    const direct = await model.chat(messages, { temperature: 0, maxTokens: 50 });
    const r = await client.chat.completions.create({ model: 'stories260K', messages, temperature: 0, max_tokens: 50 });
    expect(r.choices[0]!.message.content).toBe(direct.text);
    expect(r.usage).toMatchObject({ prompt_tokens: direct.timings.promptTokens, completion_tokens: direct.tokens.length });
    const stream = await client.chat.completions.create({ model: 'stories260K', messages, temperature: 0, max_tokens: 50, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(direct.text);
    expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: direct.tokens.length });
  });

  it('completions: the llama2.c text; logprobs', async () => {
    const r = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, logprobs: 2 });
    expect(reference.startsWith('Once upon a time' + r.choices[0]!.text)).toBe(true);
    expect(r.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });
    expect(r.choices[0]!.logprobs!.tokens!.join('')).toBe(r.choices[0]!.text);
    expect(r.choices[0]!.logprobs!.token_logprobs!.every((l) => l <= 0)).toBe(true);
    const chat = await client.chat.completions.create({ model: 'x', messages, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
    expect(chat.choices[0]!.logprobs!.content!.map((t) => t.token).join('')).toBe(chat.choices[0]!.message.content);
    expect(chat.choices[0]!.logprobs!.content![0]!.top_logprobs).toHaveLength(3);
  });

  it('embeddings (the client asks for base64 and decodes it) equal the model\'s; models', async () => {
    const r = await client.embeddings.create({ model: 'x', input: ['Once upon a time', 'a cat'] });
    const want = await model.embed('a cat', { normalize: true });
    expect(r.data[1]!.embedding).toEqual(Array.from(want));
    expect(r.usage.prompt_tokens).toBeGreaterThan(5);
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['stories260K']);
  });

  it('errors: a bad parameter (400 naming it), a wrong key (401), bad JSON, a missing endpoint, a body too large', async () => {
    const bad = await client.chat.completions.create({ model: 'x', messages, temperature: 9 }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad).toMatchObject({ status: 400, param: 'temperature', type: 'invalid_request_error' });
    if (opts.key) {
      const wrong = await new OpenAI({ baseURL: `${server.origin}/v1`, apiKey: 'nope', maxRetries: 0 }).models.list().catch((e) => e);
      expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    }
    const post = (path: string, body: string) => fetch(`${server.origin}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}) }, body,
    });
    const notJson = await post('/v1/chat/completions', '{"messages": [');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { type: string; message: string } }).error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/not valid JSON/) });
    expect((await post('/v1/nothing', '{}')).status).toBe(404);
    const big = await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(2 << 20) }));
    expect(big.status).toBe(413);
    expect((await fetch(`${server.origin}/health`)).status).toBe(200); // no key needed
  });

  it('a client that aborts its stream stops the generation and frees its slot', async () => {
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'x', messages, ...endless, stream: true }, { signal: controller.signal });
    let n = 0;
    // (the client's stream ends quietly on its own abort)
    await (async () => { for await (const _ of stream) if (++n === 5) controller.abort(); })();
    expect(n).toBeLessThan(100);
    await eventually(async () => (await health()).slots.active === 0);
  });

  it('32 concurrent streaming requests all complete with the right text; /health answers meanwhile', async () => {
    const prompts = Array.from({ length: 32 }, (_, i) => [{ role: 'user' as const, content: `Once upon a time ${i % 4}` }]);
    const want = await Promise.all(prompts.slice(0, 4).map((m) => model.chat(m, { temperature: 0, maxTokens: 48 })));
    // (that /health answers while every slot is busy and requests wait is shown without sockets, where an
    // unread stream deterministically keeps its slot: test/openai-handler.test.ts; over a socket the server
    // may write a whole short reply into the socket's buffers, so a held stream can end on its own)
    const all = Promise.all(prompts.map(async (m) => {
      const stream = await client.chat.completions.create({ model: 'x', messages: m, temperature: 0, max_tokens: 48, stream: true });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      return text;
    }));
    let done = false;
    void all.finally(() => { done = true; });
    // /health, polled while the requests run: never more active than the slots
    while (!done) {
      expect((await health()).slots.active).toBeLessThanOrEqual(opts.parallel);
      await new Promise((r) => setTimeout(r, 5));
    }
    const texts = await all;
    texts.forEach((t, i) => expect(t, `request ${i}`).toBe(want[i % 4]!.text));
    expect((await health()).slots).toMatchObject({ active: 0, queued: 0 });
  });

  return { server: () => server };
}
