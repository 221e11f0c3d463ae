// GGUF reader: header, metadata and tensor index (not the tensor data).
//
// Format (v2, v3; little-endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count,
// kv_count × (string key, u32 value type, value), tensor_count × (string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset), zero padding to `general.alignment`, then the
// data section; tensor offsets are relative to it. A string is u64 length + UTF-8 bytes; an
// array is u32 item type, u64 count, items.
//
// Values as read:
// - integer and float scalars: number; u64/i64 scalars: number when it is a safe integer,
//   else bigint; bool: boolean; string: string.
// - numeric arrays: typed arrays (Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array,
//   Int32Array, Float32Array, Float64Array, BigUint64Array, BigInt64Array); bool arrays:
//   boolean[]; string arrays: string[]; arrays of arrays: GGUFMetaValue[] (each { type: ARRAY }).
// - strings are decoded as UTF-8 with a leading BOM kept (a token may be "\uFEFF"). A string
//   that is not valid UTF-8 is decoded with U+FFFD replacements AND its exact bytes are kept in
//   `raw` (scalar) or `rawItems` (array index → bytes), so the tokenizer can look at them and the
//   writer round-trips the file exactly. Valid UTF-8 (all strings in our fixtures) never has a raw copy.
//
// Errors (all WasmlmError): BAD_MAGIC, UNSUPPORTED_VERSION (v1, big-endian, unknown),
// TRUNCATED (the bytes end first, or a length/count/offset points past the known end of the
// file), BAD_FORMAT (an impossible field: absurd length or count, unknown value or tensor
// type, bad alignment, dims, unaligned or overlapping tensor data, duplicate key or name).
// Error messages name the key or tensor; readGGUF prefixes them with the source.

import { WasmlmError } from '../errors.js';
import { requireGGMLType, tensorBytes, tensorElements } from './ggml-types.js';
import { describeSource, openSource, type ByteStream, type ModelSource, type OpenOptions } from './source.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueType = (typeof GGUFValueType)[keyof typeof GGUFValueType];

const VALUE_TYPE_NAMES = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'];
export function ggufValueTypeName(t: number): string {
  return VALUE_TYPE_NAMES[t] ?? `type ${t}`;
}

/** Byte size of a fixed-size value type (0 for STRING and ARRAY). */
export const GGUF_VALUE_SIZE: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

export type GGUFScalar = number | bigint | boolean | string;
export type GGUFArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GGUFMetaValue[];

export interface GGUFMetaValue {
  type: GGUFValueType;
  value: GGUFScalar | GGUFArray;
  /** item type of an ARRAY */
  itemType?: GGUFValueType;
  /** STRING: the exact bytes, present only when they are not valid UTF-8 */
  raw?: Uint8Array;
  /** ARRAY of STRING: exact bytes of the items that are not valid UTF-8, by index */
  rawItems?: Map<number, Uint8Array>;
}

export interface GGUFTensorInfo {
  name: string;
  /** dims, ne[0] fastest */
  ne: number[];
  /** ggml type id */
  type: number;
  typeName: string;
  /** relative to the data section */
  offset: number;
  nBytes: number;
  nElements: number;
}

export interface GGUFHeader {
  version: number;
  alignment: number;
  metadata: Map<string, GGUFMetaValue>;
  tensors: GGUFTensorInfo[];
  /** absolute byte offset of the data section */
  dataOffset: number;
  fileSize: number | undefined;
  /** what the bytes came from (the stream's description), for error messages */
  source?: string;
}

/** Limits on fields before anything is allocated for them. */
const MAX_STRING = 0x7fffffff; // bytes
const MAX_ARRAY_BYTES = 0x7fffffff;
const MAX_ARRAY_COUNT = 0x7fffffff;
const MAX_KV = 1 << 24;
const MAX_TENSORS = 1 << 24;
const MAX_DEPTH = 16;
const MAX_DIMS = 4;
const READ_AHEAD = 256 << 10;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------

/** Open a source, read its GGUF header, close it. Errors name the source. */
export async function readGGUF(source: ModelSource, options?: OpenOptions): Promise<GGUFHeader> {
  const stream = await openSource(source, options);
  try {
    return await readGGUFHeader(stream);
  } catch (e) {
    throw withSource(e, source);
  } finally {
    await stream.close();
  }
}

/**
 * Open a source and read its header; the stream is left at the start of the data section for
 * the caller to read tensors from (in offset order) and close.
 */
export async function openGGUF(
  source: ModelSource,
  options?: OpenOptions,
): Promise<{ header: GGUFHeader; stream: ByteStream }> {
  const stream = await openSource(source, options);
  try {
    return { header: await readGGUFHeader(stream), stream };
  } catch (e) {
    await stream.close();
    throw withSource(e, source);
  }
}

function withSource(e: unknown, source: ModelSource): unknown {
  return namingSource(e, describeSource(source));
}

/** A WasmlmError with `source: ` in front of its message (once); other errors as they are. */
export function namingSource(e: unknown, source: string | undefined): unknown {
  if (e instanceof WasmlmError && e.code !== 'ABORTED' && source && !e.message.startsWith(`${source}: `)) {
    return new WasmlmError(e.code, `${source}: ${e.message}`, { cause: e });
  }
  return e;
}

/** Run f, naming the header's source in any WasmlmError it throws (for checks after the header is read). */
export function inSource<T>(h: GGUFHeader, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw namingSource(e, h.source);
  }
}

/**
 * Read a GGUF header from a stream positioned at the start of the file. Consumes the stream
 * up to dataOffset exactly (with no tensors, up to the end of the file if the padding is absent).
 */
export async function readGGUFHeader(stream: ByteStream): Promise<GGUFHeader> {
  const r = new Reader(stream);
  try {
    return await parse(r, stream);
  } finally {
    r.release();
  }
}

async function parse(r: Reader, stream: ByteStream): Promise<GGUFHeader> {
  const size = stream.size;
  const start = r.offset;

  // --- fixed header
  await r.need(4, 'the file header');
  const magic = r.buf.subarray(r.p, r.p + 4);
  if (!(magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46)) {
    throw badMagic(magic);
  }
  r.p += 4;
  await r.need(4, 'the file header');
  const version = r.u32();
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    if ((version & 0xffff) === 0 && swapped >= 1 && swapped <= 3) {
      throw new WasmlmError('UNSUPPORTED_VERSION', `big-endian GGUF (version ${swapped}, byte-swapped) is not supported: convert it to little-endian`);
    }
    if (version === 1) throw new WasmlmError('UNSUPPORTED_VERSION', 'GGUF version 1 is not supported (only 2 and 3): re-convert the model with a current converter');
    throw new WasmlmError('UNSUPPORTED_VERSION', `GGUF version ${version} is not supported (only 2 and 3)`);
  }
  await r.need(16, 'the file header');
  const nTensors = r.count(MAX_TENSORS, 'tensor count');
  const nKv = r.count(MAX_KV, 'metadata count');
  if (size !== undefined) {
    // each kv takes at least 13 bytes (key length, type, 1-byte value), each tensor 32
    const min = nKv * 13 + nTensors * 32;
    if (r.offset + min > size) {
      throw new WasmlmError('TRUNCATED', `${nKv} metadata entries and ${nTensors} tensors cannot fit in a file of ${size} bytes`);
    }
  }

  // --- metadata
  const metadata = new Map<string, GGUFMetaValue>();
  for (let i = 0; i < nKv; i++) {
    const key = await readString(r, size, () => `metadata key #${i}`);
    await r.need(4, `metadata key '${key}'`);
    const type = r.u32();
    const v = await readValue(r, size, type, key, 0);
    if (metadata.has(key)) throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' appears twice`);
    metadata.set(key, v);
  }

  // --- alignment
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const a = typeof al.value === 'bigint' ? Number(al.value) : al.value;
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || a > 1 << 30 || (a & (a - 1)) !== 0) {
      throw new WasmlmError('BAD_FORMAT', `metadata key 'general.alignment' must be a power of two, got ${String(al.value)}`);
    }
    alignment = a;
  }

  // --- tensor index
  const tensors: GGUFTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await readString(r, size, () => `tensor #${i} name`);
    const what = `tensor '${name}'`;
    await r.need(4, what);
    const nDims = r.u32();
    if (nDims < 1 || nDims > MAX_DIMS) {
      throw new WasmlmError('BAD_FORMAT', `${what} has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
    }
    await r.need(nDims * 8 + 12, what);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = r.u64safe();
      if (v < 0) throw new WasmlmError('BAD_FORMAT', `${what}: dimension ne[${d}] is too large`);
      ne.push(v);
    }
    const type = r.u32();
    const offset = r.u64safe();
    if (offset < 0) throw new WasmlmError('BAD_FORMAT', `${what}: data offset is too large`);
    const info = requireGGMLType(type, what);
    const nElements = tensorElements(ne, what);
    const nBytes = tensorBytes(type, ne, what);
    if (offset % alignment !== 0) {
      throw new WasmlmError('BAD_FORMAT', `${what}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
    }
    if (names.has(name)) throw new WasmlmError('BAD_FORMAT', `tensor name '${name}' appears twice`);
    names.add(name);
    tensors.push({ name, ne, type, typeName: info.name, offset, nBytes, nElements });
  }

  // --- data section
  const headerEnd = r.offset;
  const dataOffset = start + alignUp(headerEnd - start, alignment);
  if (size !== undefined) {
    for (const t of tensors) {
      if (dataOffset + t.offset + t.nBytes > size) {
        throw new WasmlmError(
          'TRUNCATED',
          `tensor '${t.name}' (${t.nBytes} bytes at data offset ${t.offset}) runs past the end of the file (${size} bytes, data section at ${dataOffset})`,
        );
      }
    }
  }
  checkOverlaps(tensors);

  // consume the padding (vocab-only files with no tensors may end without it)
  let pad = dataOffset - headerEnd;
  if (tensors.length === 0 && size !== undefined) pad = Math.min(pad, Math.max(0, size - headerEnd));
  const inBuf = Math.min(pad, r.avail());
  r.p += inBuf;
  pad -= inBuf;
  if (pad > 0) {
    r.release();
    if (tensors.length > 0 || size !== undefined) {
      try {
        await stream.skip(pad);
      } catch (e) {
        if (e instanceof WasmlmError && e.code === 'TRUNCATED') {
          throw new WasmlmError('TRUNCATED', 'the file ends inside the padding before the tensor data', { cause: e });
        }
        throw e;
      }
    } else if (stream.readSome) {
      // unknown size, no tensors: skip whatever padding there is
      while (pad > 0) {
        const got = await stream.readSome(pad);
        if (got.length === 0) break;
        pad -= got.length;
      }
    }
  }

  const header: GGUFHeader = { version, alignment, metadata, tensors, dataOffset, fileSize: size };
  if (stream.description !== undefined) header.source = stream.description;
  return header;
}

function checkOverlaps(tensors: GGUFTensorInfo[]): void {
  if (tensors.length < 2) return;
  const sorted = tensors.filter((t) => t.nBytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.offset < a.offset + a.nBytes) {
      throw new WasmlmError('BAD_FORMAT', `the data of tensors '${a.name}' and '${b.name}' overlap`);
    }
  }
}

function badMagic(m: Uint8Array): WasmlmError {
  const hex = Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = String.fromCharCode(...Array.from(m, (b) => (b >= 0x20 && b < 0x7f ? b : 0x2e)));
  let hint = '';
  if (text === 'FUGG') hint = ' (a big-endian GGUF file? only little-endian is supported)';
  else if (text === 'lmgg' || text === 'fmgg' || text === 'tjgg' || text === 'algg') {
    hint = ' (an old GGML/GGJT file: convert it to GGUF)';
  } else if (m[0] === 0x50 && m[1] === 0x4b) hint = ' (a zip archive, e.g. a PyTorch checkpoint)';
  else if (m[0] === 0x3c || m[0] === 0x7b) hint = ' (text: an HTML page or JSON, not a model file?)';
  return new WasmlmError('BAD_MAGIC', `not a GGUF file: magic is ${hex} ("${text}")${hint}`);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

// --- values ----------------------------------------------------------------------------------

async function readString(r: Reader, size: number | undefined, ctx: () => string): Promise<string> {
  if (r.avail() < 8) await r.need(8, ctx());
  const len = r.len(MAX_STRING, size, ctx);
  if (r.avail() < len) await r.need(len, ctx());
  const s = r.str(len);
  return s;
}

async function readValue(
  r: Reader,
  size: number | undefined,
  type: number,
  key: string,
  depth: number,
): Promise<GGUFMetaValue> {
  const what = `metadata key '${key}'`;
  switch (type) {
    case GGUFValueType.UINT8: case GGUFValueType.INT8: case GGUFValueType.UINT16: case GGUFValueType.INT16:
    case GGUFValueType.UINT32: case GGUFValueType.INT32: case GGUFValueType.FLOAT32: case GGUFValueType.BOOL:
    case GGUFValueType.UINT64: case GGUFValueType.INT64: case GGUFValueType.FLOAT64: {
      await r.need(GGUF_VALUE_SIZE[type]!, what);
      return { type, value: r.scalar(type) };
    }
    case GGUFValueType.STRING: {
      if (r.avail() < 8) await r.need(8, what);
      const len = r.len(MAX_STRING, size, () => what);
      if (r.avail() < len) await r.need(len, what);
      const value = r.str(len);
      const v: GGUFMetaValue = { type, value };
      if (r.lastRaw) v.raw = r.lastRaw;
      return v;
    }
    case GGUFValueType.ARRAY: {
      if (depth >= MAX_DEPTH) throw new WasmlmError('BAD_FORMAT', `${what}: arrays nested more than ${MAX_DEPTH} deep`);
      await r.need(12, what);
      const itemType = r.u32();
      if (itemType > 12) {
        throw new WasmlmError('BAD_FORMAT', `${what}: unknown array item type ${itemType}`);
      }
      const count = r.len(MAX_ARRAY_COUNT, undefined, () => `${what} (array count)`);
      return readArray(r, size, itemType as GGUFValueType, count, key, depth);
    }
    default:
      throw new WasmlmError('BAD_FORMAT', `${what} has unknown value type ${type}`);
  }
}

async function readArray(
  r: Reader,
  size: number | undefined,
  itemType: GGUFValueType,
  count: number,
  key: string,
  depth: number,
): Promise<GGUFMetaValue> {
  const what = `metadata key '${key}'`;
  if (depth >= MAX_DEPTH) throw new WasmlmError('BAD_FORMAT', `${what}: arrays nested more than ${MAX_DEPTH} deep`);
  const type = GGUFValueType.ARRAY;
  const elem = GGUF_VALUE_SIZE[itemType]!;
  if (elem > 0) {
    const bytes = count * elem;
    if (bytes > MAX_ARRAY_BYTES) throw new WasmlmError('BAD_FORMAT', `${what}: array of ${count} items is too large`);
    if (size !== undefined && r.offset + bytes > size) {
      throw new WasmlmError('TRUNCATED', `${what}: array of ${count} ${ggufValueTypeName(itemType)} runs past the end of the file`);
    }
    if (r.avail() < bytes) await r.need(bytes, what);
    const value = r.typedArray(itemType, count);
    return { type, itemType, value };
  }
  // variable-size items: each takes at least 8 (string) or 12 (array) bytes
  const minItem = itemType === GGUFValueType.STRING ? 8 : 12;
  if (size !== undefined && r.offset + count * minItem > size) {
    throw new WasmlmError('TRUNCATED', `${what}: array of ${count} ${ggufValueTypeName(itemType)} runs past the end of the file`);
  }
  if (itemType === GGUFValueType.STRING) {
    const value: string[] = [];
    let rawItems: Map<number, Uint8Array> | undefined;
    for (let i = 0; i < count; i++) {
      if (r.avail() < 8) await r.need(8, what);
      const len = r.len(MAX_STRING, size, () => `${what} item ${i}`);
      if (r.avail() < len) await r.need(len, `${what} item ${i}`);
      value.push(r.str(len));
      if (r.lastRaw) (rawItems ??= new Map()).set(i, r.lastRaw);
    }
    const v: GGUFMetaValue = { type, itemType, value };
    if (rawItems) v.rawItems = rawItems;
    return v;
  }
  const value: GGUFMetaValue[] = [];
  for (let i = 0; i < count; i++) {
    await r.need(12, what);
    const sub = r.u32();
    if (sub > 12) throw new WasmlmError('BAD_FORMAT', `${what}: unknown array item type ${sub} in item ${i}`);
    const n = r.len(MAX_ARRAY_COUNT, undefined, () => `${what} item ${i} (array count)`);
    value.push(await readArray(r, size, sub as GGUFValueType, n, `${key}[${i}]`, depth + 1));
  }
  return { type, itemType, value };
}

// --- buffered reader -------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Reads ahead from the stream in big chunks (readSome), parses synchronously out of its buffer,
 * and gives back what it did not use (unread) so the stream stops exactly where the header ends.
 * Without readSome/unread it asks the stream for exactly the bytes it needs.
 */
class Reader {
  buf: Uint8Array = EMPTY;
  dv: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer);
  p = 0;
  /** absolute offset of buf[0] */
  private base: number;
  private released = false;
  /** set by str(): the exact bytes when they were not valid UTF-8 */
  lastRaw: Uint8Array | undefined;

  constructor(private readonly s: ByteStream) {
    this.base = s.position;
  }

  get offset(): number {
    return this.base + this.p;
  }
  avail(): number {
    return this.buf.length - this.p;
  }

  /** Make sure k bytes are buffered, else TRUNCATED naming `what`. */
  async need(k: number, what: string): Promise<void> {
    const have = this.buf.length - this.p;
    if (have >= k) return;
    const size = this.s.size;
    if (size !== undefined && this.offset + k > size) {
      throw new WasmlmError('TRUNCATED', `the file ends inside ${what} (${this.offset + k - size} bytes missing at byte ${size})`);
    }
    const parts: Uint8Array[] = [];
    let got = have;
    if (have > 0) parts.push(this.buf.subarray(this.p));
    try {
      if (this.s.readSome && this.s.unread) {
        while (got < k) {
          const c = await this.s.readSome(Math.max(READ_AHEAD, k - got));
          if (c.length === 0) {
            throw new WasmlmError('TRUNCATED', `the file ends inside ${what} (${k - got} bytes missing at byte ${this.base + this.p + got})`);
          }
          parts.push(c);
          got += c.length;
        }
      } else {
        if (have > 0) parts[0] = parts[0]!.slice(); // read() results are only valid until the next call
        parts.push((await this.s.read(k - got)).slice());
        got = k;
      }
    } catch (e) {
      if (e instanceof WasmlmError && e.code === 'TRUNCATED' && !e.message.startsWith('the file ends')) {
        throw new WasmlmError('TRUNCATED', `the file ends inside ${what}`, { cause: e });
      }
      throw e;
    }
    let buf: Uint8Array;
    if (parts.length === 1) buf = parts[0]!;
    else {
      buf = new Uint8Array(got);
      let o = 0;
      for (const c of parts) {
        buf.set(c, o);
        o += c.length;
      }
    }
    this.base += this.p;
    this.p = 0;
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Hand unread bytes back to the stream. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const rest = this.buf.subarray(this.p);
    if (rest.length > 0 && this.s.unread) this.s.unread(rest);
    this.buf = EMPTY;
    this.p = 0;
  }

  u32(): number {
    const v = this.dv.getUint32(this.p, true);
    this.p += 4;
    return v;
  }

  /** u64 as a number, or -1 when above 2^53 - 1. */
  u64safe(): number {
    const lo = this.dv.getUint32(this.p, true);
    const hi = this.dv.getUint32(this.p + 4, true);
    this.p += 8;
    return hi < 0x200000 ? hi * 0x100000000 + lo : -1;
  }

  /** A u64 count for the header: BAD_FORMAT above max. */
  count(max: number, what: string): number {
    const v = this.u64safe();
    if (v < 0 || v > max) throw new WasmlmError('BAD_FORMAT', `${what} ${v < 0 ? '≥ 2^53' : v} is absurd (limit ${max})`);
    return v;
  }

  /**
   * A u64 length: BAD_FORMAT above max; TRUNCATED when it runs past the known file size
   * (for strings; arrays are checked by the caller, who knows the item size).
   */
  len(max: number, size: number | undefined, ctx: () => string): number {
    const v = this.u64safe();
    if (v < 0 || v > max) {
      throw new WasmlmError('BAD_FORMAT', `${ctx()}: length ${v < 0 ? '≥ 2^53' : v} is absurd (limit ${max})`);
    }
    if (size !== undefined && this.offset + v > size) {
      throw new WasmlmError('TRUNCATED', `${ctx()}: length ${v} runs past the end of the file (${size} bytes)`);
    }
    return v;
  }

  scalar(type: number): GGUFScalar {
    const dv = this.dv;
    const p = this.p;
    this.p += GGUF_VALUE_SIZE[type]!;
    switch (type) {
      case GGUFValueType.UINT8: return dv.getUint8(p);
      case GGUFValueType.INT8: return dv.getInt8(p);
      case GGUFValueType.UINT16: return dv.getUint16(p, true);
      case GGUFValueType.INT16: return dv.getInt16(p, true);
      case GGUFValueType.UINT32: return dv.getUint32(p, true);
      case GGUFValueType.INT32: return dv.getInt32(p, true);
      case GGUFValueType.FLOAT32: return dv.getFloat32(p, true);
      case GGUFValueType.BOOL: return dv.getUint8(p) !== 0;
      case GGUFValueType.UINT64: return smallest(dv.getBigUint64(p, true));
      case GGUFValueType.INT64: return smallest(dv.getBigInt64(p, true));
      case GGUFValueType.FLOAT64: return dv.getFloat64(p, true);
    }
    throw new Error(`unreachable: scalar type ${type}`);
  }

  typedArray(itemType: number, count: number): GGUFArray {
    const elem = GGUF_VALUE_SIZE[itemType]!;
    const bytes = count * elem;
    const p = this.p;
    this.p += bytes;
    if (itemType === GGUFValueType.BOOL) {
      const out: boolean[] = new Array<boolean>(count);
      for (let i = 0; i < count; i++) out[i] = this.buf[p + i] !== 0;
      return out;
    }
    // a copy in a fresh, aligned buffer
    const ab = this.buf.slice(p, p + bytes).buffer;
    if (!HOST_LE && elem > 1) swapBytes(new Uint8Array(ab), elem);
    switch (itemType) {
      case GGUFValueType.UINT8: return new Uint8Array(ab);
      case GGUFValueType.INT8: return new Int8Array(ab);
      case GGUFValueType.UINT16: return new Uint16Array(ab);
      case GGUFValueType.INT16: return new Int16Array(ab);
      case GGUFValueType.UINT32: return new Uint32Array(ab);
      case GGUFValueType.INT32: return new Int32Array(ab);
      case GGUFValueType.FLOAT32: return new Float32Array(ab);
      case GGUFValueType.UINT64: return new BigUint64Array(ab);
      case GGUFValueType.INT64: return new BigInt64Array(ab);
      case GGUFValueType.FLOAT64: return new Float64Array(ab);
    }
    throw new Error(`unreachable: array type ${itemType}`);
  }

  /** Decode len buffered bytes as UTF-8 (sets lastRaw when they are not valid UTF-8). */
  str(len: number): string {
    const b = this.buf;
    const p = this.p;
    this.p += len;
    this.lastRaw = undefined;
    if (len <= SHORT_STRING) {
      // most tokens: decode in JS, no decoder call and no garbage
      const s = decodeShortUtf8(b, p, p + len);
      if (s !== null) return s;
    }
    const bytes = b.subarray(p, p + len);
    try {
      return utf8.decode(bytes);
    } catch {
      this.lastRaw = bytes.slice();
      return utf8Lossy.decode(bytes);
    }
  }
}

const SHORT_STRING = 128;
const units: number[] = [];

/** Strict UTF-8 → string for short inputs; null when the bytes are not valid UTF-8. */
function decodeShortUtf8(b: Uint8Array, p: number, end: number): string | null {
  let n = 0;
  while (p < end) {
    const c = b[p++]!;
    if (c < 0x80) {
      units[n++] = c;
    } else if (c < 0xc2) {
      return null; // continuation byte or overlong lead
    } else if (c < 0xe0) {
      if (p >= end) return null;
      const c1 = b[p++]!;
      if ((c1 & 0xc0) !== 0x80) return null;
      units[n++] = ((c & 0x1f) << 6) | (c1 & 0x3f);
    } else if (c < 0xf0) {
      if (p + 1 >= end) return null;
      const c1 = b[p]!;
      const c2 = b[p + 1]!;
      p += 2;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return null;
      const cp = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) return null; // overlong, surrogate
      units[n++] = cp;
    } else if (c < 0xf5) {
      if (p + 2 >= end) return null;
      const c1 = b[p]!;
      const c2 = b[p + 1]!;
      const c3 = b[p + 2]!;
      p += 3;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) return null;
      const cp = (((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f)) - 0x10000;
      if (cp < 0 || cp > 0xfffff) return null; // overlong, beyond U+10FFFF
      units[n++] = 0xd800 + (cp >> 10);
      units[n++] = 0xdc00 + (cp & 0x3ff);
    } else {
      return null;
    }
  }
  units.length = n;
  return String.fromCharCode.apply(null, units);
}

function smallest(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

function swapBytes(b: Uint8Array, elem: number): void {
  for (let i = 0; i < b.length; i += elem) b.subarray(i, i + elem).reverse();
}

// --- tensor lookups -------------------------------------------------------------------------

const tensorIndex = new WeakMap<GGUFHeader, Map<string, GGUFTensorInfo>>();

/** The tensor named `name`, or undefined. */
export function findTensor(h: GGUFHeader, name: string): GGUFTensorInfo | undefined {
  let m = tensorIndex.get(h);
  if (!m || m.size !== h.tensors.length) {
    m = new Map(h.tensors.map((t) => [t.name, t]));
    tensorIndex.set(h, m);
  }
  return m.get(name);
}

/** Tensors in the order their data appears in the file (for one sequential pass). */
export function tensorsInFileOrder(h: GGUFHeader): GGUFTensorInfo[] {
  return [...h.tensors].sort((a, b) => a.offset - b.offset);
}
