/**
 * loadTokenizer: a tokenizer alone, from a GGUF file (vocab-only files too) or an HF
 * tokenizer.json (path, URL, bytes, Blob, stream, or the parsed object). The kind is told by
 * content: GGUF's magic, or a JSON object. For a tokenizer.json given by path or URL, the
 * tokenizer_config.json beside it is read too when it exists (bos / eos, chat template).
 */
import { kindOf, WasmlmError } from '../errors.js';
import { readGGUFHeader } from '../formats/gguf.js';
import { describeSource, openSource, type ByteStream, type ModelSource } from '../formats/source.js';
import { tokenizerFromGGUF } from './gguf.js';
import { isTokenizerJson, tokenizerFromJson } from './hf.js';
import type { Tokenizer } from './types.js';

/** A GGUF or tokenizer.json source, or a parsed tokenizer.json object. */
export type TokenizerSource = ModelSource | Record<string, unknown>;

export interface LoadTokenizerOptions {
  signal?: AbortSignal;
  /**
   * tokenizer_config.json for a tokenizer.json: the parsed object or a source. Default: the
   * file beside a tokenizer.json path or URL, when there is one; null: none.
   */
  config?: TokenizerSource | null;
}

/** tokenizer.json files are tens of MB; more than this is not one. */
const MAX_JSON_BYTES = 512 << 20;

export async function loadTokenizer(source: TokenizerSource, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  if (options === null || typeof options !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `loadTokenizer options must be an object, got ${kindOf(options)}`);
  }
  if (isParsedJson(source)) {
    return tokenizerFromJson(source, await loadConfig(options, undefined));
  }
  const desc = describeSource(source as ModelSource);
  try {
    const stream = await openSource(source as ModelSource, { signal: options.signal });
    let json: unknown;
    try {
      const head = await stream.readSome!(4);
      if (head.length === 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) {
        stream.unread!(head);
        return tokenizerFromGGUF(await readGGUFHeader(stream));
      }
      json = parseJson(await readRest(stream, head));
    } finally {
      await stream.close();
    }
    if (!isTokenizerJson(json)) {
      throw new WasmlmError('BAD_TOKENIZER', 'a JSON file but not a tokenizer.json (no "model" with a vocabulary)');
    }
    return tokenizerFromJson(json, await loadConfig(options, source as ModelSource));
  } catch (e) {
    if (e instanceof WasmlmError && e.code !== 'ABORTED' && !e.message.includes(desc)) {
      throw new WasmlmError(e.code, `${desc}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

function isParsedJson(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || x instanceof URL || ArrayBuffer.isView(x) || x instanceof ArrayBuffer) return false;
  if (typeof Blob !== 'undefined' && x instanceof Blob) return false;
  if (typeof (x as { getReader?: unknown }).getReader === 'function') return false; // ReadableStream
  if (typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function') return false; // Node Readable
  return true;
}

async function readRest(stream: ByteStream, head: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [head.slice()];
  let total = head.length;
  for (;;) {
    const c = await stream.readSome!(4 << 20);
    if (c.length === 0) break;
    total += c.length;
    if (total > MAX_JSON_BYTES) {
      throw new WasmlmError('TOO_LARGE', `not a GGUF file, and more than ${MAX_JSON_BYTES >> 20} MiB for a tokenizer.json`);
    }
    chunks.push(c);
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return all;
}

function parseJson(bytes: Uint8Array): unknown {
  const text = new TextDecoder('utf-8').decode(bytes); // drops a BOM
  const start = text.search(/\S/);
  if (start < 0 || text[start] !== '{') {
    throw new WasmlmError('BAD_TOKENIZER', 'neither a GGUF file (no GGUF magic) nor a tokenizer.json (no JSON object)');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new WasmlmError('BAD_TOKENIZER', `tokenizer.json is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** tokenizer_config.json: given, or beside a tokenizer.json path / URL, or none. */
async function loadConfig(options: LoadTokenizerOptions, source: ModelSource | undefined): Promise<unknown> {
  const c = options.config;
  if (c === null) return undefined;
  if (c !== undefined) {
    if (isParsedJson(c)) return c;
    const desc = describeSource(c as ModelSource);
    const stream = await openSource(c as ModelSource, { signal: options.signal });
    try {
      return parseConfig(await readRest(stream, new Uint8Array(0)), desc);
    } finally {
      await stream.close();
    }
  }
  const sibling = siblingConfig(source);
  if (sibling === undefined) return undefined;
  let stream: ByteStream;
  try {
    stream = await openSource(sibling, { signal: options.signal });
  } catch (e) {
    if (e instanceof WasmlmError && e.code === 'ABORTED') throw e;
    return undefined; // no tokenizer_config.json there
  }
  try {
    return parseConfig(await readRest(stream, new Uint8Array(0)), describeSource(sibling));
  } finally {
    await stream.close();
  }
}

function parseConfig(bytes: Uint8Array, desc: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8').decode(bytes));
  } catch (e) {
    throw new WasmlmError('BAD_TOKENIZER', `${desc}: tokenizer_config.json is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** '…/tokenizer.json' -> '…/tokenizer_config.json' for paths and URLs. */
function siblingConfig(source: ModelSource | undefined): string | URL | undefined {
  if (source instanceof URL) {
    if (!/(^|\/)tokenizer\.json$/.test(source.pathname)) return undefined;
    const u = new URL(source.href);
    u.pathname = u.pathname.replace(/tokenizer\.json$/, 'tokenizer_config.json');
    return u;
  }
  if (typeof source !== 'string') return undefined;
  const m = /^(.*?)tokenizer\.json([?#].*)?$/.exec(source);
  if (m === null || !(m[1] === '' || /[\\/]$/.test(m[1]!))) return undefined;
  return `${m[1]}tokenizer_config.json${m[2] ?? ''}`;
}
