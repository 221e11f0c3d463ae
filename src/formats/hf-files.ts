// The files of a Hugging Face folder (a model or a PEFT adapter), read by name with random access:
// a folder path (Node, Deno), a URL ending in '/' (HTTP range requests), or a map of names to sources
// ({ 'config.json': File, ... }: files picked from a folder in a browser). Safetensors tensors are read
// where they are (an MoE stacks experts stored apart), so every file is opened for reads at an offset:
// a FileHandle, a Blob slice, an HTTP Range request, a view of bytes in memory. A stream in a map has
// no random access: it is read into memory once.

import { kindOf, WasmlmError } from '../errors.js';
import { errText, importNode, isArrayBufferLike } from './pullers.js';
import { describeSource, openSource, type ModelSource } from './source.js';

/** A file read at offsets. */
export interface RandomAccessFile {
  readonly size: number;
  readonly description: string;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface HFFolder {
  readonly description: string;
  /** The file, or undefined when the folder has no such file. */
  open(name: string): Promise<RandomAccessFile | undefined>;
}

/** A map of file names to sources: a plain object whose keys are file names (config.json, ...). */
export type HFFileMap = Record<string, ModelSource>;

/** Is `source` a folder: a URL ending in '/', a file map, or a path to a directory? */
export async function isFolderSource(source: unknown): Promise<boolean> {
  if (source instanceof URL) return source.pathname.endsWith('/');
  if (typeof source === 'string') {
    if (/^(https?|blob|data):/i.test(source)) return source.endsWith('/');
    if (/^file:/i.test(source)) return source.endsWith('/') || await isDirectory(await fileUrlPath(source));
    return isDirectory(source);
  }
  return isFileMap(source);
}

export function isFileMap(x: unknown): x is HFFileMap {
  if (x === null || typeof x !== 'object' || Array.isArray(x) || ArrayBuffer.isView(x) || isArrayBufferLike(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return (proto === Object.prototype || proto === null) && Object.keys(x).length > 0;
}

async function isDirectory(path: string): Promise<boolean> {
  if (typeof process === 'undefined' && typeof (globalThis as { Deno?: unknown }).Deno === 'undefined') return false;
  try {
    const fs = await import('node:fs/promises');
    return (await fs.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function fileUrlPath(href: string): Promise<string> {
  const { fileURLToPath } = await importNode(() => import('node:url'), 'node:url', href);
  return fileURLToPath(href);
}

/** The folder behind a folder source (see isFolderSource). */
export function openFolder(source: string | URL | HFFileMap, signal?: AbortSignal): HFFolder {
  if (isFileMap(source)) return mapFolder(source, signal);
  const href = source instanceof URL ? source.href : source;
  if (/^(https?|blob|data):/i.test(href)) {
    const base = href.endsWith('/') ? href : `${href}/`;
    return { description: base, open: (name) => urlFile(new URL(name, base).href, signal) };
  }
  return {
    description: href,
    async open(name) {
      const dir = /^file:/i.test(href) ? await fileUrlPath(href) : href;
      return pathFile(`${dir.replace(/[\\/]+$/, '')}/${name}`);
    },
  };
}

function mapFolder(map: HFFileMap, signal?: AbortSignal): HFFolder {
  const names = Object.keys(map);
  return {
    description: `files {${names.slice(0, 4).join(', ')}${names.length > 4 ? ', ...' : ''}}`,
    async open(name) {
      if (!Object.prototype.hasOwnProperty.call(map, name)) return undefined;
      return sourceFile(map[name]!, name, signal);
    },
  };
}

/** Random access to one ModelSource (a map's value). */
async function sourceFile(src: ModelSource, name: string, signal?: AbortSignal): Promise<RandomAccessFile> {
  if (src === null || src === undefined) throw new WasmlmError('BAD_ARGUMENT', `file '${name}': expected a source, got ${kindOf(src)}`);
  if (typeof src === 'string' || src instanceof URL) {
    const href = src instanceof URL ? src.href : src;
    if (/^(https?|blob|data):/i.test(href)) return (await urlFile(href, signal)) ?? missing(href);
    return (await pathFile(/^file:/i.test(href) ? await fileUrlPath(href) : href)) ?? missing(href);
  }
  if (ArrayBuffer.isView(src)) return memoryFile(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), `${name} (${src.byteLength} bytes)`);
  if (isArrayBufferLike(src)) return memoryFile(new Uint8Array(src as ArrayBuffer), `${name} (${(src as ArrayBuffer).byteLength} bytes)`);
  const blob = src as Blob;
  if (typeof blob.slice === 'function' && typeof blob.size === 'number' && typeof blob.arrayBuffer === 'function') {
    const description = `${name} (${describeSource(blob)})`;
    return {
      size: blob.size,
      description,
      async read(offset, length) {
        return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      },
      async close() {},
    };
  }
  // a stream: no random access, read it once
  const stream = await openSource(src, { signal });
  try {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const c = await stream.readSome!(4 << 20);
      if (c.length === 0) break;
      parts.push(c.slice());
      total += c.length;
    }
    const all = new Uint8Array(total);
    let p = 0;
    for (const c of parts) { all.set(c, p); p += c.length; }
    return memoryFile(all, `${name} (${describeSource(src)})`);
  } finally {
    await stream.close();
  }
}

function missing(what: string): never {
  throw new WasmlmError('IO_ERROR', `cannot open ${what}: no such file`);
}

function memoryFile(bytes: Uint8Array, description: string): RandomAccessFile {
  return {
    size: bytes.length,
    description,
    async read(offset, length) {
      checkRange(offset, length, bytes.length, description);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

function checkRange(offset: number, length: number, size: number, description: string): void {
  if (offset + length > size) throw new WasmlmError('TRUNCATED', `${description}: ${length} bytes at ${offset} run past the end (${size} bytes)`);
}

async function pathFile(path: string): Promise<RandomAccessFile | undefined> {
  const fs = await importNode(() => import('node:fs/promises'), 'node:fs/promises', path);
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw new WasmlmError('IO_ERROR', `cannot open ${path}: ${errText(e)}`, { cause: e });
  }
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    await fh.close().catch(() => {});
    throw new WasmlmError('IO_ERROR', `cannot read ${path}: ${errText(e)}`, { cause: e });
  }
  return {
    size,
    description: path,
    async read(offset, length) {
      checkRange(offset, length, size, path);
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        let n: number;
        try {
          n = (await fh.read(out, got, length - got, offset + got)).bytesRead;
        } catch (e) {
          throw new WasmlmError('IO_ERROR', `reading ${path} failed: ${errText(e)}`, { cause: e });
        }
        if (n === 0) throw new WasmlmError('TRUNCATED', `${path} ended at byte ${offset + got} (it shrank while being read?)`);
        got += n;
      }
      return out;
    },
    async close() {
      await fh.close().catch(() => {});
    },
  };
}

/** A URL read with Range requests; its size from the first response's Content-Range (or a HEAD). */
async function urlFile(url: string, signal?: AbortSignal): Promise<RandomAccessFile | undefined> {
  if (typeof fetch !== 'function') throw new WasmlmError('FETCH_FAILED', `cannot fetch ${url}: this runtime has no fetch()`);
  const get = async (headers: Record<string, string>, method = 'GET'): Promise<Response> => {
    try {
      return await fetch(url, { method, headers, ...(signal ? { signal } : {}) });
    } catch (e) {
      if (signal?.aborted) throw new WasmlmError('ABORTED', `fetching ${url} was aborted`, { cause: e });
      throw new WasmlmError('FETCH_FAILED', `could not fetch ${url}: ${errText(e)}`, { cause: e });
    }
  };
  // the first bytes tell whether the file exists, its size and whether ranges work
  const first = await get({ Range: 'bytes=0-0' });
  if (first.status === 404) { await first.body?.cancel().catch(() => {}); return undefined; }
  if (!first.ok) {
    await first.body?.cancel().catch(() => {});
    throw new WasmlmError('FETCH_FAILED', `could not fetch ${url}: HTTP ${first.status}`);
  }
  if (first.status !== 206) {
    // no range support: the whole body, once
    return memoryFile(new Uint8Array(await first.arrayBuffer()), url);
  }
  const total = /\/(\d+)\s*$/.exec(first.headers.get('content-range') ?? '')?.[1];
  await first.body?.cancel().catch(() => {});
  if (total === undefined) throw new WasmlmError('FETCH_FAILED', `${url}: the server answered a range request without the file size (Content-Range)`);
  const size = Number(total);
  return {
    size,
    description: url,
    async read(offset, length) {
      checkRange(offset, length, size, url);
      if (length === 0) return new Uint8Array(0);
      const res = await get({ Range: `bytes=${offset}-${offset + length - 1}` });
      if (res.status !== 206) {
        await res.body?.cancel().catch(() => {});
        throw new WasmlmError('FETCH_FAILED', `${url}: a range request got HTTP ${res.status}, not 206`);
      }
      const out = new Uint8Array(await res.arrayBuffer());
      if (out.length !== length) throw new WasmlmError('FETCH_FAILED', `${url}: asked for ${length} bytes at ${offset}, got ${out.length}`);
      return out;
    },
    async close() {},
  };
}

/** A whole (small) file as text; undefined when absent. */
export async function readText(folder: HFFolder, name: string, limit = 64 << 20): Promise<string | undefined> {
  const f = await folder.open(name);
  if (!f) return undefined;
  try {
    if (f.size > limit) throw new WasmlmError('BAD_FORMAT', `${f.description}: ${f.size} bytes is too large for ${name}`);
    return new TextDecoder().decode(await f.read(0, f.size));
  } finally {
    await f.close();
  }
}

/** A JSON file as a parsed object; undefined when absent; BAD_FORMAT naming it when not a JSON object. */
export async function readJson(folder: HFFolder, name: string, limit?: number): Promise<Record<string, unknown> | undefined> {
  const text = await readText(folder, name, limit);
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new WasmlmError('BAD_FORMAT', `${name}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new WasmlmError('BAD_FORMAT', `${name}: expected a JSON object`);
  return v as Record<string, unknown>;
}
