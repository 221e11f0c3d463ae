/**
 * The model cache of the browser entry: models fetched from http(s) URLs are kept in the Cache API
 * (one cache, `wasmlm-models` unless named otherwise), keyed by URL, so that a reload loads them
 * with no network at all. A URL's model is taken to be immutable: a cached copy is used without
 * asking the server again (clearModelCache forgets it).
 *
 * Nothing is stored half: the download is written to the cache as it arrives, through a stream
 * that only ends once the model has loaded (commit); a failed or aborted load errors that stream
 * instead (discard), and the Cache API stores nothing for a put whose body errored. A 404 or any
 * other failed response is never written at all.
 */
import { WasmlmError } from '../errors.js';
import { openSource, type ByteStream } from '../formats/source.js';

export const DEFAULT_CACHE_NAME = 'wasmlm-models';

/** A model's bytes, from the cache or from the network on the way into it. */
export interface CachedDownload {
  /** the bytes; read it once */
  stream: ReadableStream<Uint8Array>;
  size: number | undefined;
  fromCache: boolean;
  /** After a successful load: read what is left of the download and store it whole. */
  commit(): Promise<void>;
  /** After a failed load: stop the download; nothing is stored. */
  discard(): void;
}

/** Whether this environment has a Cache API to keep models in (secure browser contexts). */
export function modelCacheAvailable(): boolean {
  const c = (globalThis as { caches?: CacheStorage }).caches;
  // workerd and Deno have a `caches` too, with other semantics: only pages and their workers here
  const g = globalThis as { document?: unknown; WorkerGlobalScope?: unknown };
  return typeof c === 'object' && c !== null && typeof c.open === 'function' &&
    (typeof g.document === 'object' || typeof g.WorkerGlobalScope === 'function');
}

export function isCacheableUrl(href: string): boolean {
  return /^https?:/i.test(href);
}

/**
 * Open `href` through the cache: a cached copy if there is one, else a download that is stored as
 * it streams by once `commit()` is called. Errors are those of loadModel for a URL (FETCH_FAILED
 * with the HTTP status, ABORTED).
 */
export async function openCachedUrl(href: string, options: { signal?: AbortSignal; cacheName?: string } = {}): Promise<CachedDownload> {
  let cache: Cache | undefined;
  try {
    cache = await caches.open(options.cacheName ?? DEFAULT_CACHE_NAME);
    const hit = await cache.match(href);
    if (hit?.body) {
      return {
        stream: hit.body as ReadableStream<Uint8Array>,
        size: contentLength(hit.headers),
        fromCache: true,
        commit: async () => {},
        discard: () => {},
      };
    }
  } catch {
    cache = undefined; // storage refused (private mode, disabled, quota): load without the cache
  }
  const download = await openSource(href, { signal: options.signal });
  if (!cache) {
    return { stream: readableFrom(download), size: download.size, fromCache: false, commit: async () => {}, discard: () => {} };
  }
  const reader = readableFrom(download).getReader();

  let toCache!: ReadableStreamDefaultController<Uint8Array>;
  const cacheBody = new ReadableStream<Uint8Array>({ start(c) { toCache = c; } });
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (download.size !== undefined) headers['content-length'] = String(download.size);
  const stored = cache.put(href, new Response(cacheBody, { headers }));
  stored.catch(() => {});
  let settled = false;
  let failure: unknown;
  const fail = (e: unknown) => {
    if (settled) return;
    settled = true;
    failure = e;
    try { toCache.error(e); } catch { /* already errored */ }
  };
  // Every chunk of the download goes to the cache, whoever read it (the loader or commit).
  const next = async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (e) {
      fail(e);
      throw e;
    }
    if (!r.done && !settled) {
      // the Cache API may have given up on the put (quota): the load goes on, commit says why
      try { toCache.enqueue(r.value); } catch (e) { fail(e); }
    }
    return r;
  };

  // The loader's view of the download. The loader may stop reading (cancel) while a read it asked for
  // is still on its way: that chunk then goes to the cache only (the stream it was for is closed).
  let loaderGone = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await next();
      } catch (e) {
        if (!loaderGone) c.error(e);
        return;
      }
      if (loaderGone) return;
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    // the loader stopped reading (it is done, or it failed): commit or discard decides
    cancel() {
      loaderGone = true;
    },
  }, { highWaterMark: 0 });

  return {
    stream,
    size: download.size,
    fromCache: false,
    async commit() {
      try {
        if (settled) throw failure;
        while (!(await next()).done) { /* the rest of the file, into the cache */ }
        settled = true;
        toCache.close();
        await stored;
      } catch (e) {
        fail(e);
        // the model loaded; only the copy for next time failed (the network after the model's last
        // byte, quota, storage off): say so, go on
        console.warn(`wasmlm: could not cache ${href}: ${(e as Error)?.message ?? e}`);
      }
    },
    discard() {
      fail(new WasmlmError('ABORTED', 'the load failed: not cached'));
      void reader.cancel().catch(() => {});
    },
  };
}

/** The URLs of the models in the cache. */
export async function cachedModels(cacheName = DEFAULT_CACHE_NAME): Promise<string[]> {
  if (!modelCacheAvailable()) return [];
  const cache = await caches.open(cacheName);
  return (await cache.keys()).map((r) => r.url);
}

/** Forget one cached model (by URL), or every cached model. True if anything was removed. */
export async function clearModelCache(url?: string | URL, cacheName = DEFAULT_CACHE_NAME): Promise<boolean> {
  if (!modelCacheAvailable()) return false;
  if (url === undefined) return caches.delete(cacheName);
  const cache = await caches.open(cacheName);
  return cache.delete(resolveUrl(String(url)));
}

/** A URL string as the page means it (relative to the document). */
export function resolveUrl(href: string): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  try {
    return new URL(href, base).href;
  } catch {
    return href;
  }
}

function contentLength(h: Headers): number | undefined {
  const v = h.get('content-length');
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

/** A ByteStream as a ReadableStream of the chunks it delivers (no copies). */
export function readableFrom(bytes: ByteStream): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const chunk = bytes.readSome ? await bytes.readSome(1 << 20) : await readUpTo(bytes, 1 << 20);
      if (chunk.length === 0) {
        await bytes.close();
        c.close();
      } else {
        c.enqueue(chunk);
      }
    },
    cancel() {
      return bytes.close();
    },
  }, { highWaterMark: 0 });
}

async function readUpTo(bytes: ByteStream, max: number): Promise<Uint8Array> {
  const left = bytes.size === undefined ? max : Math.min(max, bytes.size - bytes.position);
  return left > 0 ? (await bytes.read(left)).slice() : new Uint8Array(0);
}
