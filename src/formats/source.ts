// Byte sources: a file path, a URL, bytes in memory, a Blob, a ReadableStream or a Node Readable (any
// async iterable of bytes), all read
// sequentially through one ByteStream interface. The whole file is never held in one JS
// buffer (except when the caller passed it that way): files are read in chunks with a
// FileHandle, URLs and Blobs are streamed.
//
// Errors: opening names the source (IO_ERROR for a path, FETCH_FAILED for a URL, with the
// path/URL and HTTP status). Errors while reading (TRUNCATED, ABORTED, IO_ERROR, FETCH_FAILED)
// do not repeat it: the caller that knows the source prefixes them (readGGUF does).
//
// Runtime note: nothing here imports `node:*` statically. The path branch loads
// `node:fs/promises` (Node, Deno) with a dynamic import, so browsers and workerd never see it.

import { WasmlmError } from '../errors.js';
import {
  errText, fetchPuller, filePuller, importNode, isArrayBufferLike, iterablePuller, memoryPuller, streamPuller, type Puller,
} from './pullers.js';

export type ModelSource =
  | string /* file path (Node, Deno) or http(s) URL string */
  | URL
  | ArrayBuffer
  | Uint8Array
  | Blob
  | ReadableStream<Uint8Array>
  /** a Node Readable (e.g. fs.createReadStream(path)) or any async iterable of byte chunks */
  | AsyncIterable<Uint8Array>;

export interface OpenOptions {
  signal?: AbortSignal;
  /**
   * Called after each chunk the stream delivers: `loaded` = bytes consumed so far (the
   * stream's high-water position, including skipped bytes), `total` = the size when known.
   */
  onProgress?: (p: { loaded: number; total: number | undefined }) => void;
  /** Read size for files' large reads, and the unit of progress reports for large reads (default 4 MiB). */
  chunkSize?: number;
  /** The size of a ReadableStream source when it is known elsewhere (a cached response's length). */
  size?: number;
}

export interface ByteStream {
  /** total bytes when known */
  readonly size: number | undefined;
  /** bytes consumed so far */
  readonly position: number;
  /** what the bytes come from, for error messages (see describeSource) */
  readonly description?: string;
  /**
   * Exactly n bytes (WasmlmError TRUNCATED if the source ends first). The result may be a
   * view into the stream's (or the caller's) memory, valid until the next call.
   */
  read(n: number): Promise<Uint8Array>;
  /** Fill dest exactly, copying straight into it chunk by chunk (dest may be a view into wasm memory). */
  readInto(dest: Uint8Array): Promise<void>;
  skip(n: number): Promise<void>;
  close(): Promise<void>;
  /**
   * Between 1 and max bytes, whatever is cheapest (an empty array only at the end). The
   * stream never reuses the memory it returns here, so the caller may keep the view.
   * Lets parsers buffer ahead without knowing how far the format goes.
   */
  readSome?(max: number): Promise<Uint8Array>;
  /**
   * Give back the last bytes read (the tail of what was consumed; the caller may pass a copy):
   * the position moves back by bytes.length and the next reads return them again.
   */
  unread?(bytes: Uint8Array): void;
}

const DEFAULT_CHUNK = 4 << 20;

/** A short description of a source for error messages. */
export function describeSource(source: ModelSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  if (isBlob(source)) {
    const name = (source as { name?: unknown }).name;
    return typeof name === 'string' && name !== ''
      ? `File "${name}" (${source.size} bytes)`
      : `Blob (${source.size} bytes)`;
  }
  if (isReadableStream(source)) return 'ReadableStream';
  if (isAsyncIterable(source)) {
    const path = (source as { path?: unknown }).path; // fs.ReadStream
    return typeof path === 'string' ? `Readable stream of ${path}` : 'Readable stream';
  }
  if (ArrayBuffer.isView(source)) return `${source.constructor?.name ?? 'Uint8Array'} (${source.byteLength} bytes)`;
  if (isArrayBufferLike(source)) return `${source.constructor?.name ?? 'ArrayBuffer'} (${source.byteLength} bytes)`;
  return String(source);
}

/** Open any ModelSource as a sequential ByteStream. */
export async function openSource(source: ModelSource, options: OpenOptions = {}): Promise<ByteStream> {
  const signal = options.signal;
  const desc = describeSource(source);
  throwIfAborted(signal, desc);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new WasmlmError('BAD_ARGUMENT', `chunkSize must be a positive integer, got ${String(chunkSize)}`);
  }
  let puller: Puller;
  if (typeof source === 'string' || source instanceof URL) {
    const href = typeof source === 'string' ? source : source.href;
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(href)?.[1]?.toLowerCase();
    if (scheme === 'http' || scheme === 'https' || scheme === 'blob' || scheme === 'data') {
      puller = await fetchPuller(href, signal);
    } else if (scheme === 'file') {
      const { fileURLToPath } = await importNode(() => import('node:url'), 'node:url', href);
      let path: string;
      try {
        path = fileURLToPath(href);
      } catch (e) {
        throw new WasmlmError('BAD_ARGUMENT', `not a valid file URL: ${href}`, { cause: e });
      }
      puller = await filePuller(path, chunkSize);
    } else if (source instanceof URL) {
      throw new WasmlmError('BAD_ARGUMENT', `unsupported URL scheme "${scheme}:" in ${href}`);
    } else {
      // A plain path. (Windows drive letters like C:\ also land here: one-letter "scheme".)
      puller = await filePuller(source as string, chunkSize);
    }
  } else if (isBlob(source)) {
    puller = streamPuller(source.stream() as ReadableStream<Uint8Array>, source.size, 'IO_ERROR');
  } else if (isReadableStream(source)) {
    if (source.locked) throw new WasmlmError('BAD_ARGUMENT', 'the ReadableStream is locked (already being read)');
    puller = streamPuller(source, options.size, 'IO_ERROR');
  } else if (isAsyncIterable(source)) {
    if ((source as { readableFlowing?: unknown }).readableFlowing === true) {
      throw new WasmlmError('BAD_ARGUMENT', `${desc} is already flowing (being read by another consumer)`);
    }
    puller = iterablePuller(source, 'IO_ERROR');
  } else if (ArrayBuffer.isView(source)) {
    puller = memoryPuller(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
  } else if (isArrayBufferLike(source)) {
    puller = memoryPuller(new Uint8Array(source as ArrayBuffer));
  } else {
    throw new WasmlmError('BAD_ARGUMENT', `cannot read a model from ${desc}: expected a path, URL, ArrayBuffer, Uint8Array, Blob, ReadableStream or Node Readable`);
  }
  return new SourceStream(puller, desc, chunkSize, signal, options.onProgress);
}

// ---------------------------------------------------------------------------------------------

/** What each kind of source provides; SourceStream adds buffering, bounds, abort and progress. */
class SourceStream implements ByteStream {
  readonly description: string;
  private pos = 0;
  private reported = 0;
  /** remaining bytes already pulled, in order; queue[qi] is the head */
  private queue: Uint8Array[] = [];
  private qi = 0;
  private ended = false;
  private closed = false;
  private abortCleanup: (() => void) | undefined;

  constructor(
    private readonly puller: Puller,
    desc: string,
    private readonly chunkSize: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onProgress: OpenOptions['onProgress'],
  ) {
    this.description = desc;
    if (signal) {
      // Stop the underlying source as soon as the signal fires (a pending read rejects too).
      const onAbort = () => {
        void this.puller.close().catch(() => {});
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.abortCleanup = () => signal.removeEventListener('abort', onAbort);
    }
  }

  get size(): number | undefined {
    return this.puller.size;
  }
  get position(): number {
    return this.pos;
  }

  async read(n: number): Promise<Uint8Array> {
    this.check(n, 'read');
    if (n === 0) return new Uint8Array(0);
    this.checkBounds(n);
    // with nothing buffered, pull a chunk first: memory sources then return a view
    if (!this.queue[this.qi] && (n <= this.chunkSize || !this.puller.readDirect)) await this.pullChunk();
    const head = this.queue[this.qi];
    if (head && head.length >= n) {
      const out = head.subarray(0, n);
      this.consumeHead(n);
      this.advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    await this.fill(out);
    return out;
  }

  async readInto(dest: Uint8Array): Promise<void> {
    this.check(dest.length, 'readInto');
    if (dest.length === 0) return;
    this.checkBounds(dest.length);
    await this.fill(dest);
  }

  async skip(n: number): Promise<void> {
    this.check(n, 'skip');
    if (n === 0) return;
    this.checkBounds(n);
    let left = n;
    while (left > 0) {
      const head = this.queue[this.qi];
      if (head) {
        const k = Math.min(head.length, left);
        this.consumeHead(k);
        this.advance(k);
        left -= k;
        continue;
      }
      throwIfAborted(this.signal, this.description);
      if (this.puller.skipDirect && !this.ended) {
        const k = await this.guard(this.puller.skipDirect(left));
        this.advance(k);
        left -= k;
        if (left > 0) this.truncated(left);
        return;
      }
      if (!(await this.pullChunk())) this.truncated(left);
    }
  }

  async readSome(max: number): Promise<Uint8Array> {
    this.check(max, 'readSome');
    if (max === 0) return new Uint8Array(0);
    if (!this.queue[this.qi] && !(await this.pullChunk())) return new Uint8Array(0);
    const head = this.queue[this.qi]!;
    const k = Math.min(head.length, max);
    const out = head.subarray(0, k);
    this.consumeHead(k);
    this.advance(k);
    return out;
  }

  unread(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n === 0) return;
    if (n > this.pos) throw new WasmlmError('BAD_ARGUMENT', `unread(${n}) at position ${this.pos}`);
    this.pos -= n;
    const head = this.queue[this.qi];
    if (head && head.buffer === bytes.buffer && bytes.byteOffset + n === head.byteOffset) {
      // the bytes directly precede the head in the same memory: just widen the view
      this.queue[this.qi] = new Uint8Array(head.buffer, bytes.byteOffset, n + head.length);
    } else if (this.qi > 0) {
      this.queue[--this.qi] = bytes.slice();
    } else {
      this.queue.unshift(bytes.slice());
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.qi = 0;
    this.abortCleanup?.();
    await this.puller.close().catch(() => {});
  }

  // ------------------------------------------------------------------------------------------

  private check(n: number, op: string): void {
    if (this.closed) throw new WasmlmError('IO_ERROR', `${op} on a closed stream`);
    if (!Number.isSafeInteger(n) || n < 0) throw new WasmlmError('BAD_ARGUMENT', `${op}: bad byte count ${n}`);
    throwIfAborted(this.signal, this.description);
  }

  private checkBounds(n: number): void {
    const size = this.puller.size;
    if (size !== undefined && this.pos + n > size) this.truncated(this.pos + n - size);
  }

  private truncated(missing: number): never {
    const size = this.puller.size;
    throw new WasmlmError(
      'TRUNCATED',
      `unexpected end of data (${missing} more bytes needed at byte ${this.pos}${size !== undefined ? ` of ${size}` : ''})`,
    );
  }

  private consumeHead(k: number): void {
    const head = this.queue[this.qi]!;
    if (k === head.length) {
      this.queue[this.qi++] = EMPTY;
      if (this.qi === this.queue.length) {
        this.queue.length = 0;
        this.qi = 0;
      }
    } else {
      this.queue[this.qi] = head.subarray(k);
    }
  }

  private advance(k: number): void {
    this.pos += k;
    if (this.pos > this.reported) {
      this.reported = this.pos;
      this.onProgress?.({ loaded: this.pos, total: this.puller.size });
    }
  }

  /** Pull the next non-empty chunk into the queue; false at the end of the source. */
  private async pullChunk(): Promise<boolean> {
    while (!this.ended) {
      throwIfAborted(this.signal, this.description);
      const c = await this.guard(this.puller.pull(this.chunkSize));
      if (c === null) {
        this.ended = true;
        break;
      }
      if (c.length > 0) {
        this.queue.push(c);
        return true;
      }
    }
    return false;
  }

  private async fill(dest: Uint8Array): Promise<void> {
    let off = 0;
    const n = dest.length;
    while (off < n) {
      const head = this.queue[this.qi];
      if (head) {
        // copy in pieces of at most chunkSize so that progress and abort work for big reads
        const k = Math.min(head.length, n - off, this.chunkSize);
        dest.set(k === head.length ? head : head.subarray(0, k), off);
        this.consumeHead(k);
        off += k;
        this.advance(k);
        if (off < n) throwIfAborted(this.signal, this.description);
        continue;
      }
      throwIfAborted(this.signal, this.description);
      if (this.puller.readDirect && !this.ended) {
        const want = Math.min(n - off, this.chunkSize);
        const k = await this.guard(this.puller.readDirect(dest.subarray(off, off + want)));
        off += k;
        this.advance(k);
        if (k < want) {
          this.ended = true;
          this.truncated(n - off);
        }
        continue;
      }
      if (!(await this.pullChunk())) this.truncated(n - off);
    }
  }

  /** Await a source operation: abort wins the race, foreign errors become WasmlmErrors. */
  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await raceAbort(p, this.signal, this.description);
    } catch (e) {
      if (e instanceof WasmlmError) throw e;
      if (this.signal?.aborted || (e as { name?: string })?.name === 'AbortError') {
        throw abortedError(this.description, e);
      }
      throw new WasmlmError(this.puller.errorCode, `read failed: ${errText(e)}`, { cause: e });
    }
  }
}

const EMPTY = new Uint8Array(0);

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, desc: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(abortedError(desc, signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => {});
      reject(abortedError(desc, signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortedError(_desc: string, cause?: unknown): WasmlmError {
  return new WasmlmError('ABORTED', 'aborted', { cause });
}

function throwIfAborted(signal: AbortSignal | undefined, desc: string): void {
  if (signal?.aborted) throw abortedError(desc, signal.reason);
}

function isBlob(x: unknown): x is Blob {
  return (
    typeof Blob !== 'undefined' && x instanceof Blob
  ) || (
    typeof x === 'object' && x !== null &&
    typeof (x as Blob).stream === 'function' && typeof (x as Blob).size === 'number' &&
    typeof (x as Blob).slice === 'function'
  );
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function isReadableStream(x: unknown): x is ReadableStream<Uint8Array> {
  return typeof x === 'object' && x !== null && typeof (x as ReadableStream).getReader === 'function';
}

