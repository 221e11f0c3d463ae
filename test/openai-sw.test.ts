/**
 * createHandler in a browser's service worker (Chromium): a page's fetch('/v1/...') answered by the
 * worker, as JSON and as server-sent events, with the llama2.c greedy text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, launchChromium, skipBrowser, type Browser } from './helpers/chromium.js';
import { fixture } from './helpers/fixtures.js';
import { PROJECT_ROOT, serveStatic, type StaticServer } from './helpers/server.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8').replace(/\n$/, '');

describe.skipIf(skipBrowser)(browserSuite('a service worker (Chromium) serving the OpenAI API'), () => {
  let browser: Browser;
  let server: StaticServer;
  beforeAll(async () => {
    // the worker's scope is /sw/ (test/helpers/); the package from the project root
    server = await serveStatic({ mounts: { '/sw/': join(PROJECT_ROOT, 'test/helpers/'), '/': PROJECT_ROOT } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('answers completions (JSON) and chat (SSE) for its page; nothing reaches the network', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/sw/openai-sw.html`);
    await page.evaluate(() => (window as unknown as { ready: Promise<unknown> }).ready);
    const before = server.requests.length;
    const out = await page.evaluate(async () => {
      const post = (path: string, body: unknown) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const completion = await (await post('v1/completions', { prompt: 'Once upon a time', max_tokens: 196, temperature: 0 })).json();
      const messages = [{ role: 'user', content: 'Once upon a time' }];
      const chat = await (await post('v1/chat/completions', { messages, max_tokens: 30, temperature: 0 })).json();
      const res = await post('v1/chat/completions', { messages, max_tokens: 30, temperature: 0, stream: true });
      const sse = await res.text();
      const streamed = sse.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)).choices[0]?.delta.content ?? '').join('');
      const bad = await post('v1/chat/completions', { messages, temperature: -1 });
      const health = await (await fetch('health')).json();
      return { completion, chat, streamed, sse, contentType: res.headers.get('content-type'), bad: { status: bad.status, body: await bad.json() }, health };
    });
    expect('Once upon a time' + out.completion.choices[0].text).toBe(reference);
    expect(out.contentType).toBe('text/event-stream; charset=utf-8');
    expect(out.sse.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(out.streamed).toBe(out.chat.choices[0].message.content);
    expect(out.bad).toMatchObject({ status: 400, body: { error: { param: 'temperature' } } });
    expect(out.health.status).toBe('ok');
    // the worker answered: the only requests that reached the server are the package's own files
    expect(server.requests.slice(before).filter((p) => p.includes('/v1/') || p.endsWith('/health'))).toEqual([]);
    await page.close();
  });
});
