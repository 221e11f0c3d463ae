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
import { Reader } from './gguf-reader.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_VALUE_SIZE, GGUFValueType, ggufValueTypeName, type GGUFHeader, type GGUFMetaValue, type GGUFTensorInfo } from './gguf-types.js';
import { describeSource, openSource, type ByteStream, type ModelSource, type OpenOptions } from './source.js';

export * from './gguf-types.js';

/** Limits on fields before anything is allocated for them. */
const MAX_STRING = 0x7fffffff; // bytes
const MAX_ARRAY_BYTES = 0x7fffffff;
const MAX_ARRAY_COUNT = 0x7fffffff;
const MAX_KV = 1 << 24;
const MAX_TENSORS = 1 << 24;
const MAX_DEPTH = 16;
const MAX_DIMS = 4;

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
 * Open a source (with `open`, openSource unless the caller routes it elsewhere) and read its header;
 * the stream is left at the start of the data section for the caller to read tensors from (in offset
 * order) and close.
 */
export async function openGGUF(
  source: ModelSource,
  options?: OpenOptions,
  open: typeof openSource = openSource,
): Promise<{ header: GGUFHeader; stream: ByteStream }> {
  const stream = await open(source, options);
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
