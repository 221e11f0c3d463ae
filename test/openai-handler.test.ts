/**
 * createHandler in-process (web Requests in, Responses out): the queue (429), close() (503, streams end
 * with an error event), CORS, the exact SSE framing, routes and methods, the log callback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, loadModel, type Model, type RequestLogEntry } from '../src/index.js';

const messages = [{ role: 'user', content: 'Once upon a time' }];
/** end-of-text banned: a reply that runs until the context is full */
const endless = { messages, logit_bias: { 2: -100 }, stream: true };
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const get = (path: string, init: RequestInit = {}) => new Request(`http://localhost${path}`, init);

/** Reads a response body's first SSE event. */
async function firstEvent(res: Response): Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; event: string }> {
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  return { reader, event: new TextDecoder().decode(value) };
}

/** Waits until `check` holds (a state the handler reaches on its own time: a request in the queue). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

async function rest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += new TextDecoder().decode(value);
  }
}

describe('createHandler', () => {
  let model: Model;
  beforeAll(async () => { model = await loadModel(); });
  afterAll(() => model?.dispose());

  it('streams in OpenAI\'s SSE framing: data: {json}\\n\\n events, then data: [DONE]', async () => {
    const h = createHandler(model);
    const res = await h(post('/v1/chat/completions', { messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const body = await res.text();
    expect(body).toMatch(/^(data: \{[^\n]*\}\n\n)+data: \[DONE\]\n\n$/);
    const events = body.split('\n\n').filter(Boolean).slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    const text = events.map((e) => e.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe((await model.chat(messages, { temperature: 0, maxTokens: 10 })).text);
    expect(events.at(-1).usage.completion_tokens).toBe(10);
  });

  it('queues `parallel` requests, answers 429 when the queue is full, and a cancelled stream frees its slot', async () => {
    const h = createHandler(model, { parallel: 1, maxQueue: 1 });
    const a = await h(post('/v1/chat/completions', endless));
    const { reader } = await firstEvent(a);
    expect([h.active, h.queued]).toEqual([1, 0]);
    const b = h(post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 3, temperature: 0 }));
    await until(() => h.queued === 1);
    const c = await h(post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 3 }));
    expect(c.status).toBe(429);
    expect(await c.json()).toEqual({ error: { message: expect.stringMatching(/all 1 slots are busy/), type: 'rate_limit_error', param: null, code: 'queue_full' } });
    const health = await (await h(get('/health'))).json();
    expect(health).toEqual({ status: 'ok', slots: { parallel: 1, active: 1, queued: 1 } });
    await reader.cancel(); // the client goes away
    const done = await b;
    expect(done.status).toBe(200);
    expect(((await done.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(3);
    expect([h.active, h.queued]).toEqual([0, 0]);
  });

  it('32 streams over 4 session slots: /health answers while every slot is busy and 28 wait; all end with their solo text', async () => {
    const h = createHandler(model, { parallel: 4 });
    const prompts = Array.from({ length: 32 }, (_, i) => `Once upon a time ${i % 4}`);
    const want = await Promise.all(prompts.slice(0, 4).map((p) => model.chat([{ role: 'user', content: p }], { temperature: 0, maxTokens: 24 })));
    // each stream read to its first event only: an unread stream generates no further, so its slot stays busy
    const responses = prompts.map((p) => h(post('/v1/chat/completions', { messages: [{ role: 'user', content: p }], temperature: 0, max_tokens: 24, stream: true })));
    // the four that got a slot (whichever they are) answer; the rest wait in the queue
    const ready = new Map<number, Response>();
    responses.forEach((r, i) => void r.then((res) => ready.set(i, res)));
    await until(() => ready.size === 4 && h.queued === 28);
    const firsts = new Map(await Promise.all([...ready].map(async ([i, r]) => [i, await firstEvent(r)] as const)));
    const health = await (await h(get('/health'))).json();
    expect(health).toEqual({ status: 'ok', slots: { parallel: 4, active: 4, queued: 28 } });
    const texts = await Promise.all(responses.map(async (r, i) => {
      const { reader, event } = firsts.get(i) ?? await firstEvent(await r);
      const body = event + await rest(reader);
      return body.split('\n\n').filter((e) => e.startsWith('data: {'))
        .map((e) => (JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '').join('');
    }));
    texts.forEach((t, i) => expect(t, `request ${i}`).toBe(want[i % 4]!.text));
    expect([h.active, h.queued]).toEqual([0, 0]);
    h.close();
  });

  it('close(): a stream in flight ends with an error event, a waiting request and new ones get 503', async () => {
    const h = createHandler(model, { parallel: 1 });
    const { reader } = await firstEvent(await h(post('/v1/chat/completions', endless)));
    const waiting = h(post('/v1/completions', { prompt: 'x' }));
    await until(() => h.queued === 1);
    h.close();
    const tail = await rest(reader);
    expect(tail).toMatch(/data: \{"error":\{"message":"the server is shutting down","type":"server_error","param":null,"code":"unavailable"\}\}\n\n$/);
    expect((await waiting).status).toBe(503);
    expect((await h(post('/v1/completions', { prompt: 'x' }))).status).toBe(503);
    expect((await h(get('/health'))).status).toBe(503);
  });

  it('a request whose signal aborts while it waits leaves the queue', async () => {
    const h = createHandler(model, { parallel: 1 });
    const { reader } = await firstEvent(await h(post('/v1/chat/completions', endless)));
    const controller = new AbortController();
    const waiting = h(new Request('http://localhost/v1/completions', { method: 'POST', body: '{"prompt": "x"}', signal: controller.signal }));
    await until(() => h.queued === 1);
    controller.abort();
    expect((await waiting).status).toBe(499);
    expect(h.queued).toBe(0);
    await reader.cancel();
  });

  it('routes: models, a model by id, 404, 405, CORS preflight and headers, body limit, API key', async () => {
    const h = createHandler(model, { cors: true, maxBodyBytes: 100, apiKey: 'k' });
    const auth = { authorization: 'Bearer k' };
    expect((await (await h(get('/v1/models', { headers: auth }))).json())).toMatchObject({ object: 'list', data: [{ id: 'stories260K' }] });
    expect((await h(get('/v1/models/stories260K', { headers: auth }))).status).toBe(200);
    const missing = await h(get('/v1/models/gpt-9', { headers: auth }));
    expect([missing.status, ((await missing.json()) as { error: { param: string } }).error.param]).toEqual([404, 'model']);
    expect((await h(get('/v1/other', { headers: auth }))).status).toBe(404);
    expect((await h(get('/v1/chat/completions', { headers: auth }))).status).toBe(405);
    const pre = await h(get('/v1/chat/completions', { method: 'OPTIONS' }));
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const unauth = await h(get('/v1/models'));
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('access-control-allow-origin')).toBe('*');
    expect((await h(post('/v1/completions', { prompt: 'x'.repeat(200) }, auth))).status).toBe(413);
    expect((await h(get('/health'))).status).toBe(200);
  });

  it('bad input is a 400 naming the parameter, never a 500', async () => {
    const h = createHandler(model);
    const cases: Array<[string, unknown, string | null]> = [
      ['/v1/chat/completions', [], 'body'],
      ['/v1/chat/completions', { messages: 'hi' }, 'messages'],
      ['/v1/completions', { prompt: [1, 2, 99999] }, 'prompt[2]'],
      ['/v1/completions', { prompt: 'x', logprobs: 9 }, 'logprobs'],
      ['/v1/embeddings', { input: 'x', dimensions: 3 }, 'dimensions'],
      ['/v1/embeddings', { input: [] }, 'input'],
      ['/v1/embeddings', { input: 'x', encoding_format: 'hex' }, 'encoding_format'],
    ];
    for (const [path, body, param] of cases) {
      const res = await h(post(path, body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { param: string | null } }).error.param).toBe(param);
    }
  });

  it('onRequest: one entry per request, when it has ended', async () => {
    const entries: RequestLogEntry[] = [];
    const h = createHandler(model, { onRequest: (e) => entries.push(e) });
    await (await h(post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 4, temperature: 0 }))).json();
    const s = await h(post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true }));
    expect(entries).toHaveLength(1);
    await s.text();
    await until(() => entries.length === 2);
    expect(entries.map(({ method, path, status, tokens }) => ({ method, path, status, tokens }))).toEqual([
      { method: 'POST', path: '/v1/completions', status: 200, tokens: 4 },
      { method: 'POST', path: '/v1/completions', status: 200, tokens: 5 },
    ]);
  });

  it('options are checked', () => {
    expect(() => createHandler(model, { parallel: 0 })).toThrow(/parallel must be an integer ≥ 1/);
    expect(() => createHandler(model, { apiKey: '' })).toThrow(/apiKey must be a non-empty string/);
  });
});
