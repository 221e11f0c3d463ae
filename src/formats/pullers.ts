// The pullers behind a ByteStream (source.ts): one per kind of source, each giving chunks of bytes
// (and, for files, direct reads and skips without a copy).

import { WasmlmError, type WasmlmErrorCode } from '../errors.js';

export interface Puller {
  readonly size: number | undefined;
  /** code for errors the underlying source throws */
  readonly errorCode: WasmlmErrorCode;
  /** The next chunk (≥ 1 byte, fresh memory) or null at the end. `hint` is a preferred size. */
  pull(hint: number): Promise<Uint8Array | null>;
  /** Read straight into dest; returns the bytes read (less than dest.length only at the end). */
  readDirect?(dest: Uint8Array): Promise<number>;
  /** Skip without reading; returns the bytes skipped (less than n only at the end). */
  skipDirect?(n: number): Promise<number>;
  close(): Promise<void>;
}

export function errText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

export function isArrayBufferLike(x: unknown): x is ArrayBufferLike {
  return (
    x instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer) ||
    Object.prototype.toString.call(x) === '[object ArrayBuffer]' ||
    Object.prototype.toString.call(x) === '[object SharedArrayBuffer]'
  );
}

export async function importNode<T>(load: () => Promise<T>, spec: string, forWhat: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    throw new WasmlmError(
      'IO_ERROR',
      `cannot read ${forWhat}: file paths need a runtime with ${spec} (Node or Deno); pass a URL, Blob, ArrayBuffer or ReadableStream instead`,
      { cause: e },
    );
  }
}

// --- pullers ---------------------------------------------------------------------------------

export function memoryPuller(bytes: Uint8Array): Puller {
  let given = false;
  return {
    size: bytes.length,
    errorCode: 'IO_ERROR',
    async pull() {
      if (given) return null;
      given = true;
      return bytes; // the whole buffer as one chunk: reads are views, no copies
    },
    async close() {},
  };
}

/**
 * The most bytes a file's pull() reads into a fresh buffer: what the stream's small reads (a GGUF header's
 * strings and arrays, small tensors) are served from; reads larger than what is buffered go straight into
 * their destination, chunkSize at a time. Below glibc's 128 KiB mmap threshold: a buffer of 4 MiB was an
 * mmap whose release raises malloc's thresholds for the rest of the process (measured on `wasmlm bench`:
 * 3–4 MiB more peak RSS, issue 16 item 4); a header is a few of these (11 for the 0.65 MiB of a 32k vocabulary's).
 */
const FILE_PULL_BYTES = 64 << 10;

export async function filePuller(path: string, chunkSize: number): Promise<Puller> {
  const fs = await importNode(() => import('node:fs/promises'), 'node:fs/promises', path);
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errText(e);
    throw new WasmlmError('IO_ERROR', `cannot open model file ${path}: ${why}`, { cause: e });
  }
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(st.isDirectory() ? 'it is a directory' : 'not a regular file');
    size = st.size;
  } catch (e) {
    await fh.close().catch(() => {});
    throw new WasmlmError('IO_ERROR', `cannot read model file ${path}: ${errText(e)}`, { cause: e });
  }
  let filePos = 0;
  let closed = false;
  const readAt = async (dest: Uint8Array): Promise<number> => {
    let got = 0;
    while (got < dest.length) {
      if (closed) throw new Error('file closed');
      const { bytesRead } = await fh.read(dest, got, dest.length - got, filePos);
      if (bytesRead === 0) break;
      got += bytesRead;
      filePos += bytesRead;
    }
    return got;
  };
  return {
    size,
    errorCode: 'IO_ERROR',
    async pull() {
      if (filePos >= size) return null;
      const buf = new Uint8Array(Math.min(chunkSize, FILE_PULL_BYTES, size - filePos));
      const n = await readAt(buf);
      return n === 0 ? null : buf.subarray(0, n);
    },
    readDirect: readAt,
    async skipDirect(n: number) {
      const k = Math.max(0, Math.min(n, size - filePos));
      filePos += k;
      return k;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

export async function fetchPuller(url: string, signal: AbortSignal | undefined): Promise<Puller> {
  if (typeof fetch !== 'function') {
    throw new WasmlmError('FETCH_FAILED', `cannot fetch ${url}: this runtime has no fetch()`);
  }
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (e) {
    if (signal?.aborted || (e as { name?: string })?.name === 'AbortError') {
      throw new WasmlmError('ABORTED', `fetching ${url} was aborted`, { cause: e });
    }
    const cause = (e as { cause?: unknown }).cause;
    throw new WasmlmError('FETCH_FAILED', `could not fetch ${url}: ${errText(e)}${cause ? ` (${errText(cause)})` : ''}`, { cause: e });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new WasmlmError('FETCH_FAILED', `could not fetch ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  let size: number | undefined;
  const len = res.headers.get('content-length');
  const enc = res.headers.get('content-encoding');
  // With a content-encoding, content-length counts the compressed bytes: the size is unknown.
  if (len !== null && /^\d+$/.test(len.trim()) && (!enc || enc.trim().toLowerCase() === 'identity')) {
    size = Number(len.trim());
  }
  if (!res.body) {
    return { size: size ?? 0, errorCode: 'FETCH_FAILED', pull: async () => null, close: async () => {} };
  }
  return streamPuller(res.body, size, 'FETCH_FAILED');
}

export function streamPuller(stream: ReadableStream<Uint8Array>, size: number | undefined, errorCode: WasmlmErrorCode): Puller {
  const reader = stream.getReader();
  return chunkPuller(() => reader.read(), () => reader.cancel(), size, errorCode);
}

/** A Node Readable (its async iterator: closing destroys the stream) or any async iterable of bytes. */
export function iterablePuller(source: AsyncIterable<unknown>, errorCode: WasmlmErrorCode): Puller {
  const it = source[Symbol.asyncIterator]();
  return chunkPuller(() => it.next(), async () => { await it.return?.(); }, undefined, errorCode);
}

function chunkPuller(next: () => Promise<IteratorResult<unknown>>, cancel: () => Promise<unknown>,
  size: number | undefined, errorCode: WasmlmErrorCode): Puller {
  let done = false;
  return {
    size,
    errorCode,
    async pull() {
      if (done) return null;
      const r = await next();
      if (r.done) {
        done = true;
        return null;
      }
      const v: unknown = r.value;
      // a plain Uint8Array view: a subclass's methods may differ (Node's Buffer.slice() is a view, not a copy)
      if (v instanceof Uint8Array && v.constructor === Uint8Array) return v;
      if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (isArrayBufferLike(v)) return new Uint8Array(v as ArrayBuffer);
      throw new WasmlmError('BAD_ARGUMENT', `the stream produced a chunk that is not bytes (${typeof v === 'string' ? 'a string: a Readable with an encoding set' : Object.prototype.toString.call(v)})`);
    },
    async close() {
      if (done) return;
      done = true;
      await cancel().catch(() => {});
    },
  };
}
