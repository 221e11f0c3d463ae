/**
 * The browser model cache (src/browser/cache.ts) in Node, with a Cache API stand-in that stores what a
 * put's body delivers: the orders of events that a browser produces by timing, made deterministic by a
 * server that holds the download's last byte until the test releases it.
 *
 * The case that made the offline reload test flaky (and Vite dev warn "could not cache … Cannot close an
 * errored readable stream"): the loader stops reading (it cancels its stream, e.g. both branches of the
 * worker's tee are done) while a read it started is still waiting on the network. When that read arrives,
 * the loader is gone; the chunk still belongs in the cache.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openCachedUrl } from '../src/browser/cache.js';

const BYTES = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);

/** A Cache API stand-in: put() reads the response body whole, and stores it only if the body ends. */
class MemoryCache {
  readonly stored = new Map<string, Uint8Array>();
  readonly failedPuts: string[] = [];
  /** the next put stops after its first chunk, as a browser does when the origin's quota runs out */
  quotaAfterOneChunk = false;
  async match(url: string): Promise<Response | undefined> {
    const b = this.stored.get(url);
    return b ? new Response(b.slice(), { headers: { 'content-length': String(b.length) } }) : undefined;
  }
  async put(url: string, res: Response): Promise<void> {
    if (this.quotaAfterOneChunk) {
      this.quotaAfterOneChunk = false;
      const reader = res.body!.getReader();
      await reader.read();
      const e = new Error('the quota is exceeded');
      this.failedPuts.push(String(e));
      await reader.cancel(e);
      throw e;
    }
    try {
      this.stored.set(url, new Uint8Array(await res.arrayBuffer()));
    } catch (e) {
      this.failedPuts.push(String(e));
      throw e;
    }
  }
}

describe('the browser model cache: what the Cache API gets', () => {
  let server: Server;
  let origin: string;
  let release: () => void = () => {};
  let cut: () => void = () => {};
  const cache = new MemoryCache();
  const warnings: string[] = [];

  beforeAll(async () => {
    // /held: every byte but the last at once, the last one when the test calls release();
    // /cut: every byte but the last, then the connection breaks when the test calls cut()
    server = createServer((req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BYTES.length) });
      if (req.url === '/held' || req.url === '/cut') {
        res.write(BYTES.subarray(0, BYTES.length - 1));
        release = () => res.end(BYTES.subarray(BYTES.length - 1));
        cut = () => res.destroy();
      } else {
        res.end(BYTES);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    vi.stubGlobal('caches', { open: async () => cache });
    vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => { warnings.push(a.join(' ')); });
  });
  afterAll(async () => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    cache.stored.clear();
    cache.failedPuts.length = 0;
    warnings.length = 0;
  });

  /** whether the cache holds exactly the file's bytes (a deep toEqual over 300,000 numbers is slow) */
  const storedWhole = (url: string) => {
    const b = cache.stored.get(url);
    return b !== undefined && Buffer.from(b).equals(BYTES);
  };

  async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
    let n = 0;
    for await (const c of stream as unknown as AsyncIterable<Uint8Array>) n += c.length;
    return n;
  }

  it('a load that reads everything: committed whole, the next open is a cache hit', async () => {
    const url = `${origin}/whole`;
    const d = await openCachedUrl(url);
    expect(d.fromCache).toBe(false);
    expect(await readAll(d.stream)).toBe(BYTES.length);
    await d.commit();
    expect(storedWhole(url)).toBe(true);
    const again = await openCachedUrl(url);
    expect(again.fromCache).toBe(true);
    expect(await readAll(again.stream)).toBe(BYTES.length);
    expect(warnings).toEqual([]);
  });

  it('the loader cancels while its read waits on the network: the late chunk is still cached, no warning', async () => {
    const url = `${origin}/held`;
    const d = await openCachedUrl(url);
    const reader = d.stream.getReader();
    let got = 0;
    while (got < BYTES.length - 1) {
      const r = await reader.read();
      if (r.done) throw new Error('ended early');
      got += r.value.length;
    }
    const pending = reader.read(); // waits for the held byte
    await new Promise((r) => setImmediate(r)); // the stream has started its pull for it
    await reader.cancel(); // the loader is done: it stops reading
    expect((await pending).done).toBe(true);
    release(); // the held byte arrives after the loader left
    await d.commit();
    expect(cache.failedPuts).toEqual([]);
    expect(warnings).toEqual([]);
    expect(storedWhole(url)).toBe(true);
  });

  it('the loader stops early (the load is over before the end of the file): commit reads the rest and stores it whole', async () => {
    const url = `${origin}/whole`;
    const d = await openCachedUrl(url);
    const reader = d.stream.getReader();
    await reader.read();
    await reader.cancel();
    await d.commit();
    expect(warnings).toEqual([]);
    expect(storedWhole(url)).toBe(true);
  });

  it('the download breaks after the loader is done: nothing is stored, and commit says why', async () => {
    const url = `${origin}/cut`;
    const d = await openCachedUrl(url);
    const reader = d.stream.getReader();
    await reader.read();
    await reader.cancel();
    cut();
    await d.commit();
    expect(cache.stored.has(url)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^wasmlm: could not cache ${url}: `));
  });

  it('the Cache API gives up on the put (quota): the load still gets every byte, commit says why', async () => {
    const url = `${origin}/whole`;
    cache.quotaAfterOneChunk = true;
    const d = await openCachedUrl(url);
    expect(await readAll(d.stream)).toBe(BYTES.length);
    await d.commit();
    expect(cache.stored.has(url)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^wasmlm: could not cache ${url}: `));
  });

  it('a failed load (discard) stores nothing', async () => {
    const url = `${origin}/whole`;
    const d = await openCachedUrl(url);
    await d.stream.getReader().read();
    d.discard();
    await new Promise((r) => setTimeout(r, 0));
    expect(cache.stored.has(url)).toBe(false);
    expect(warnings).toEqual([]);
  });
});
