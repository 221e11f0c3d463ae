/** loadModel from every kind of source gives the same model; progress, abort, context sizing. */
import { createReadStream, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, WasmlmError, type ModelSource } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const file = fixture('models/stories260K.gguf');
const bytes = new Uint8Array(readFileSync(file));
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/model.gguf') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
      createReadStream(file, { highWaterMark: 8192 }).pipe(res);
    } else {
      res.writeHead(404).end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function firstTokens(source: ModelSource): Promise<number[]> {
  const model = await loadModel(source);
  return (await model.complete('Once upon a time', { temperature: 0, maxTokens: 12 })).tokens;
}

describe('sources', () => {
  it('path, file URL, Uint8Array, ArrayBuffer, Blob, ReadableStream and http URL agree', async () => {
    const expected = await firstTokens(file);
    expect(expected).toHaveLength(12);
    const sources: ModelSource[] = [
      new URL(`file://${file}`),
      bytes,
      bytes.slice().buffer,
      new Blob([bytes]),
      Readable.toWeb(createReadStream(file, { highWaterMark: 777 })) as ReadableStream<Uint8Array>,
      `${base}/model.gguf`,
    ];
    for (const s of sources) expect(await firstTokens(s)).toEqual(expected);
  });

  it('onProgress reports loaded/total while fetching a URL', async () => {
    const seen: Array<{ loaded: number; total: number | undefined }> = [];
    await loadModel(`${base}/model.gguf`, { onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every((p) => p.total === bytes.length)).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.loaded).toBeGreaterThanOrEqual(seen[i - 1]!.loaded);
    expect(seen[seen.length - 1]!.loaded).toBeGreaterThan(bytes.length * 0.9);
  });

  it('a URL that 404s', async () => {
    const e = await loadModel(`${base}/missing.gguf`).catch((x) => x);
    expect(e).toBeInstanceOf(WasmlmError);
    expect(e.code).toBe('FETCH_FAILED');
    expect(e.message).toMatch(/404/);
  });

  it('an abort while loading', async () => {
    const ac = new AbortController();
    const p = loadModel(`${base}/model.gguf`, {
      signal: ac.signal,
      onProgress: ({ loaded }) => { if (loaded > 100000) ac.abort(); },
    });
    const e = await p.catch((x) => x);
    expect(e).toBeInstanceOf(WasmlmError);
    expect(e.code).toBe('ABORTED');
  });
});

describe('context length', () => {
  it('defaults to the model\'s, and can be smaller', async () => {
    expect((await loadModel(file)).info.contextLength).toBe(512);
    const small = await loadModel(file, { contextLength: 16 });
    expect(small.info.contextLength).toBe(16);
    expect(small.info.memoryBytes).toBeLessThan((await loadModel(file)).info.memoryBytes);
  });

  it('a full context ends generation with finishReason context, and a longer prompt is an error', async () => {
    const model = await loadModel(file, { contextLength: 16 });
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100, ignoreEos: true });
    expect(r.finishReason).toBe('context');
    expect(r.tokens.length).toBe(16 - 5 + 1);
    const e = await model.logits(new Array(17).fill(5)).catch((x) => x);
    expect(e.code).toBe('CONTEXT_FULL');
    // still usable
    expect((await model.complete('Once upon a time', { temperature: 0, maxTokens: 3 })).tokens).toEqual(r.tokens.slice(0, 3));
  });

  it('reuses the cached prefix of the previous prompt', async () => {
    const model = await loadModel(file);
    const a = await model.complete('Once upon a time', { temperature: 0, maxTokens: 20 });
    const b = await model.complete('Once upon a time', { temperature: 0, maxTokens: 20 });
    expect(b.tokens).toEqual(a.tokens);
    expect(b.timings.cachedTokens).toBe(4);
    const logits = await model.logits([1, 403]);
    const again = await model.complete('Once upon a time', { temperature: 0, maxTokens: 20 });
    expect(again.tokens).toEqual(a.tokens);
    expect(logits).toHaveLength(2);
  });
});
