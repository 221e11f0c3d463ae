// GGUF v3 writer. Layout (the same as llama.cpp's and gguf-py's writers): header, metadata in
// the given order, tensor index in the given order, zero padding to the alignment, then each
// tensor's data at the next aligned offset, each followed by zero padding to the alignment.
// A file with no tensors ends right after the tensor index, without padding (as llama.cpp's
// vocab-only files do).
//
// splitGGUF / writeGGUFFiles: the shards of a split GGUF, as llama.cpp's gguf-split writes them.
//
// Metadata values use the reader's representation (GGUFMetaValue), so a header read with
// readGGUF writes back byte for byte. For convenience numeric arrays may also be plain
// number[] (or bigint[] for 64-bit items), and the `meta` helpers build values.

import { WasmlmError } from '../errors.js';
import { tensorBytes } from './ggml-types.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_SIZE,
  GGUFValueType,
  ggufValueTypeName,
  type GGUFMetaValue,
} from './gguf.js';
import { SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT, splitPath } from './gguf-split.js';

export type GGUFTensorData = Uint8Array | (() => Uint8Array | Promise<Uint8Array>);

export interface GGUFWriteTensor {
  name: string;
  /** dims, ne[0] fastest */
  ne: readonly number[];
  /** ggml type id */
  type: number;
  /** the bytes, or a function producing them when the writer gets to this tensor */
  data: GGUFTensorData;
}

/** A metadata entry: a key plus a value in the reader's representation. */
export type GGUFMetaEntry = { key: string } & GGUFMetaValue;

/** An ordered Map (as readGGUF returns) or a list of entries. */
export type GGUFMetadataInput = ReadonlyMap<string, GGUFMetaValue> | Iterable<GGUFMetaEntry>;

export interface GGUFWriteOptions {
  /** defaults to general.alignment in the metadata, else 32 */
  alignment?: number;
}

/** Value builders: meta.u32(5), meta.str('llama'), meta.f32Array(scores), ... */
export const meta = {
  u8: (value: number): GGUFMetaValue => ({ type: GGUFValueType.UINT8, value }),
  i8: (value: number): GGUFMetaValue => ({ type: GGUFValueType.INT8, value }),
  u16: (value: number): GGUFMetaValue => ({ type: GGUFValueType.UINT16, value }),
  i16: (value: number): GGUFMetaValue => ({ type: GGUFValueType.INT16, value }),
  u32: (value: number): GGUFMetaValue => ({ type: GGUFValueType.UINT32, value }),
  i32: (value: number): GGUFMetaValue => ({ type: GGUFValueType.INT32, value }),
  f32: (value: number): GGUFMetaValue => ({ type: GGUFValueType.FLOAT32, value }),
  bool: (value: boolean): GGUFMetaValue => ({ type: GGUFValueType.BOOL, value }),
  str: (value: string): GGUFMetaValue => ({ type: GGUFValueType.STRING, value }),
  u64: (value: number | bigint): GGUFMetaValue => ({ type: GGUFValueType.UINT64, value }),
  i64: (value: number | bigint): GGUFMetaValue => ({ type: GGUFValueType.INT64, value }),
  f64: (value: number): GGUFMetaValue => ({ type: GGUFValueType.FLOAT64, value }),
  strArray: (value: string[]): GGUFMetaValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value }),
  f32Array: (value: Float32Array | number[]): GGUFMetaValue => ({
    type: GGUFValueType.ARRAY, itemType: GGUFValueType.FLOAT32, value: value instanceof Float32Array ? value : Float32Array.from(value),
  }),
  i32Array: (value: Int32Array | number[]): GGUFMetaValue => ({
    type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value: value instanceof Int32Array ? value : Int32Array.from(value),
  }),
  u32Array: (value: Uint32Array | number[]): GGUFMetaValue => ({
    type: GGUFValueType.ARRAY, itemType: GGUFValueType.UINT32, value: value instanceof Uint32Array ? value : Uint32Array.from(value),
  }),
};

// ---------------------------------------------------------------------------------------------

export interface GGUFPlan {
  header: Uint8Array; // up to and including the padding before the data section
  offsets: number[]; // relative to the data section
  sizes: number[];
  alignment: number;
  totalSize: number;
}

/** Bytes of the whole file for small models (lazy data must be synchronous here). */
export function encodeGGUF(
  metadata: GGUFMetadataInput,
  tensors: readonly GGUFWriteTensor[],
  options: GGUFWriteOptions = {},
): Uint8Array {
  const plan = planGGUF(metadata, tensors, options);
  const out = new Uint8Array(plan.totalSize);
  out.set(plan.header, 0);
  const base = plan.header.length;
  tensors.forEach((t, i) => {
    let data = t.data;
    if (typeof data === 'function') {
      const d = data();
      if (!(d instanceof Uint8Array)) {
        throw new WasmlmError('BAD_ARGUMENT', `tensor '${t.name}': encodeGGUF needs synchronous data (use writeGGUFFile or ggufChunks for async data)`);
      }
      data = d;
    }
    checkData(t, data, plan.sizes[i]!);
    out.set(data, base + plan.offsets[i]!);
  });
  return out;
}

/**
 * The file as a sequence of chunks (header, then each tensor's data and padding), resolving
 * lazy data one tensor at a time. Works in any runtime (e.g. feed a WritableStream).
 */
export async function* ggufChunks(
  metadata: GGUFMetadataInput,
  tensors: readonly GGUFWriteTensor[],
  options: GGUFWriteOptions = {},
): AsyncGenerator<Uint8Array> {
  const plan = planGGUF(metadata, tensors, options);
  yield plan.header;
  let pos = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const data = typeof t.data === 'function' ? await t.data() : t.data;
    checkData(t, data, plan.sizes[i]!);
    yield data;
    pos += data.length;
    const pad = alignUp(pos, plan.alignment) - pos;
    if (pad > 0) yield new Uint8Array(pad);
    pos += pad;
  }
}

/** Stream a GGUF file to disk (Node, Deno), one tensor at a time. Returns the bytes written. */
export async function writeGGUFFile(
  path: string,
  metadata: GGUFMetadataInput,
  tensors: readonly GGUFWriteTensor[],
  options: GGUFWriteOptions = {},
): Promise<number> {
  // plan first so that bad input fails before the file is created
  planGGUF(metadata, tensors, options);
  const fs = await import('node:fs/promises');
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await fs.open(path, 'w');
  } catch (e) {
    throw new WasmlmError('IO_ERROR', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
  }
  let written = 0;
  try {
    for await (const chunk of ggufChunks(metadata, tensors, options)) {
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
        off += bytesWritten;
      }
      written += chunk.length;
    }
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.rm(path, { force: true }).catch(() => {}); // no half-written model left behind
    if (e instanceof WasmlmError) throw e;
    throw new WasmlmError('IO_ERROR', `writing ${path} failed: ${(e as Error).message}`, { cause: e });
  }
  await fh.close();
  return written;
}

export interface GGUFSplitOptions {
  /** most bytes of tensor data per shard (each tensor counted padded to the alignment, as gguf-split does) */
  maxBytes?: number;
  /** most tensors per shard */
  maxTensors?: number;
}

/** One shard of a split GGUF: its metadata and tensors. */
export interface GGUFShard {
  metadata: Map<string, GGUFMetaValue>;
  tensors: GGUFWriteTensor[];
}

/**
 * The shards of a split GGUF, as llama.cpp's gguf-split makes them: tensors in order, a new shard when the
 * next tensor would take the current one past `maxBytes` or `maxTensors` (a tensor larger than maxBytes
 * gets a shard of its own); the first shard carries all the metadata, every shard `split.no`,
 * `split.count` and `split.tensors.count` (and `general.alignment` when the metadata sets it).
 */
export function splitGGUF(
  metadata: GGUFMetadataInput,
  tensors: readonly GGUFWriteTensor[],
  options: GGUFSplitOptions & GGUFWriteOptions,
): GGUFShard[] {
  const { maxBytes = Infinity, maxTensors = Infinity } = options;
  for (const [name, v] of [['maxBytes', maxBytes], ['maxTensors', maxTensors]] as const) {
    if (v !== Infinity && (!Number.isSafeInteger(v) || v < 1)) throw new WasmlmError('BAD_ARGUMENT', `split ${name} must be a positive integer, got ${String(v)}`);
  }
  const plan = planGGUF(metadata, tensors, options); // validates everything, and gives the alignment
  const groups: GGUFWriteTensor[][] = [[]];
  let bytes = 0;
  tensors.forEach((t, i) => {
    const n = alignUp(plan.sizes[i]!, plan.alignment);
    const cur = groups[groups.length - 1]!;
    if (cur.length > 0 && (bytes + n > maxBytes || cur.length >= maxTensors)) {
      groups.push([t]);
      bytes = n;
    } else {
      cur.push(t);
      bytes += n;
    }
  });
  if (groups.length > 99999) throw new WasmlmError('BAD_ARGUMENT', `the split gives ${groups.length} shards (at most 99999)`);
  const entries = metadataEntries(metadata).filter(([k]) => !k.startsWith('split.'));
  const alignment = entries.find(([k]) => k === 'general.alignment');
  return groups.map((g, i) => {
    const m = new Map<string, GGUFMetaValue>(i === 0 ? entries : alignment ? [alignment] : []);
    m.set(SPLIT_NO, { type: GGUFValueType.UINT16, value: i });
    m.set(SPLIT_COUNT, { type: GGUFValueType.UINT16, value: groups.length });
    m.set(SPLIT_TENSORS_COUNT, { type: GGUFValueType.INT32, value: tensors.length });
    return { metadata: m, tensors: g };
  });
}

/**
 * Write a model to `path`, or with `maxBytes` / `maxTensors` to the shards of a split GGUF named after it
 * (`out.gguf` → `out-00001-of-0000N.gguf`, …: llama.cpp's names), each streamed to disk one tensor at a
 * time. Returns the files written and their sizes; on an error none of them is left behind.
 */
export async function writeGGUFFiles(
  path: string,
  metadata: GGUFMetadataInput,
  tensors: readonly GGUFWriteTensor[],
  options: GGUFSplitOptions & GGUFWriteOptions = {},
): Promise<{ path: string; bytes: number }[]> {
  if (options.maxBytes === undefined && options.maxTensors === undefined) {
    // one file: without the split keys a split input carried (they would send a loader looking for shards)
    const unsplit = new Map(metadataEntries(metadata).filter(([k]) => !k.startsWith('split.')));
    return [{ path, bytes: await writeGGUFFile(path, unsplit, tensors, { alignment: options.alignment }) }];
  }
  const shards = splitGGUF(metadata, tensors, options);
  const prefix = path.replace(/\.gguf$/i, '');
  const written: { path: string; bytes: number }[] = [];
  try {
    for (let i = 0; i < shards.length; i++) {
      const p = splitPath(prefix, i, shards.length);
      written.push({ path: p, bytes: await writeGGUFFile(p, shards[i]!.metadata, shards[i]!.tensors, { alignment: options.alignment }) });
    }
  } catch (e) {
    const fs = await import('node:fs/promises');
    for (const w of written) await fs.rm(w.path, { force: true }).catch(() => {});
    throw e;
  }
  return written;
}

function checkData(t: GGUFWriteTensor, data: unknown, size: number): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new WasmlmError('BAD_ARGUMENT', `tensor '${t.name}': data must be a Uint8Array`);
  }
  if (data.length !== size) {
    throw new WasmlmError('BAD_ARGUMENT', `tensor '${t.name}': data has ${data.length} bytes, its shape and type need ${size}`);
  }
}

/** Header bytes and tensor offsets, validating everything but the data. */
export function planGGUF(
  metadata: GGUFMetadataInput,
  tensors: readonly GGUFWriteTensor[],
  options: GGUFWriteOptions = {},
): GGUFPlan {
  const entries = metadataEntries(metadata);

  let alignment = options.alignment;
  const al = entries.find(([k]) => k === 'general.alignment');
  if (al) {
    const v = Number(al[1].value);
    if (!(al[1].type in INT_RANGE) && al[1].type !== GGUFValueType.UINT64 && al[1].type !== GGUFValueType.INT64) {
      throw new WasmlmError('BAD_ARGUMENT', `general.alignment must be an integer (UINT32), got ${ggufValueTypeName(al[1].type)}`);
    }
    if (alignment !== undefined && alignment !== v) {
      throw new WasmlmError('BAD_ARGUMENT', `alignment option ${alignment} disagrees with general.alignment ${v}`);
    }
    alignment = v;
  }
  alignment ??= GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment > 1 << 30 || (alignment & (alignment - 1)) !== 0) {
    throw new WasmlmError('BAD_ARGUMENT', `alignment must be a power of two, got ${String(alignment)}`);
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(tensors.length);
  w.u64(entries.length);
  const keys = new Set<string>();
  for (const [key, v] of entries) {
    if (keys.has(key)) throw new WasmlmError('BAD_ARGUMENT', `metadata key '${key}' given twice`);
    keys.add(key);
    w.str(key);
    w.u32(v.type);
    writeValue(w, v, key, 0);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  const names = new Set<string>();
  let off = 0;
  for (const t of tensors) {
    const what = `tensor '${t.name}'`;
    if (typeof t.name !== 'string') throw new WasmlmError('BAD_ARGUMENT', 'a tensor without a name');
    if (names.has(t.name)) throw new WasmlmError('BAD_ARGUMENT', `tensor name '${t.name}' given twice`);
    names.add(t.name);
    if (t.ne.length < 1 || t.ne.length > 4) throw new WasmlmError('BAD_ARGUMENT', `${what} has ${t.ne.length} dimensions (1 to 4 allowed)`);
    let nBytes: number;
    try {
      nBytes = tensorBytes(t.type, t.ne, what);
    } catch (e) {
      throw new WasmlmError('BAD_ARGUMENT', (e as Error).message, { cause: e });
    }
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.type);
    w.u64(off);
    offsets.push(off);
    sizes.push(nBytes);
    off = alignUp(off + nBytes, alignment);
  }
  if (tensors.length > 0) w.pad(alignment);
  const header = w.finish();
  return { header, offsets, sizes, alignment, totalSize: header.length + off };
}

function metadataEntries(metadata: GGUFMetadataInput): [string, GGUFMetaValue][] {
  return isMap(metadata) ? [...metadata.entries()] : [...metadata].map((e) => [e.key, e] as [string, GGUFMetaValue]);
}

function isMap(x: GGUFMetadataInput): x is ReadonlyMap<string, GGUFMetaValue> {
  return x instanceof Map || (typeof (x as Map<string, unknown>).get === 'function' && typeof (x as Map<string, unknown>).entries === 'function');
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

const INT_RANGE: Record<number, [number, number]> = {
  [GGUFValueType.UINT8]: [0, 0xff],
  [GGUFValueType.INT8]: [-0x80, 0x7f],
  [GGUFValueType.UINT16]: [0, 0xffff],
  [GGUFValueType.INT16]: [-0x8000, 0x7fff],
  [GGUFValueType.UINT32]: [0, 0xffffffff],
  [GGUFValueType.INT32]: [-0x80000000, 0x7fffffff],
};

function writeValue(w: ByteWriter, v: GGUFMetaValue, key: string, depth: number): void {
  const bad = (why: string) => new WasmlmError('BAD_ARGUMENT', `metadata key '${key}': ${why}`);
  const x = v.value;
  switch (v.type) {
    case GGUFValueType.UINT8: case GGUFValueType.INT8: case GGUFValueType.UINT16:
    case GGUFValueType.INT16: case GGUFValueType.UINT32: case GGUFValueType.INT32: {
      const [lo, hi] = INT_RANGE[v.type]!;
      if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi) {
        throw bad(`${String(x)} is not a ${ggufValueTypeName(v.type)}`);
      }
      w.scalar(v.type, x);
      return;
    }
    case GGUFValueType.FLOAT32: case GGUFValueType.FLOAT64:
      if (typeof x !== 'number') throw bad(`${String(x)} is not a number`);
      w.scalar(v.type, x);
      return;
    case GGUFValueType.UINT64: case GGUFValueType.INT64: {
      const b = toBigInt(x);
      const ok = b !== undefined && (v.type === GGUFValueType.UINT64 ? b >= 0n && b < 1n << 64n : b >= -(1n << 63n) && b < 1n << 63n);
      if (!ok) throw bad(`${String(x)} is not a ${ggufValueTypeName(v.type)}`);
      w.scalar(v.type, b!);
      return;
    }
    case GGUFValueType.BOOL:
      if (typeof x !== 'boolean') throw bad(`${String(x)} is not a bool`);
      w.scalar(v.type, x ? 1 : 0);
      return;
    case GGUFValueType.STRING:
      if (v.raw) w.bytes(v.raw);
      else if (typeof x === 'string') w.str(x);
      else throw bad(`${String(x)} is not a string`);
      return;
    case GGUFValueType.ARRAY:
      writeArray(w, v, key, depth);
      return;
    default:
      throw bad(`unknown value type ${String(v.type)}`);
  }
}

function writeArray(w: ByteWriter, v: GGUFMetaValue, key: string, depth: number): void {
  const bad = (why: string) => new WasmlmError('BAD_ARGUMENT', `metadata key '${key}': ${why}`);
  const it = v.itemType;
  const a = v.value as ArrayLike<unknown>;
  if (it === undefined || !Number.isInteger(it) || it < 0 || it > 12) throw bad(`array without a valid itemType`);
  if (depth > 16) throw bad('arrays nested too deep');
  if (typeof a !== 'object' || a === null || typeof a.length !== 'number') throw bad('value is not an array');
  w.u32(it);
  w.u64(a.length);
  const elem = GGUF_VALUE_SIZE[it]!;
  if (elem > 0) {
    // fast path: a typed array of exactly the item type is copied as bytes
    const ctor = TYPED[it];
    if (ctor && a instanceof ctor) {
      const tv = a as unknown as ArrayBufferView;
      const bytes = new Uint8Array(tv.buffer, tv.byteOffset, tv.byteLength);
      if (HOST_LE) w.raw(bytes);
      else {
        const c = bytes.slice();
        for (let i = 0; i < c.length; i += elem) c.subarray(i, i + elem).reverse();
        w.raw(c);
      }
      return;
    }
    w.reserve(a.length * elem);
    for (let i = 0; i < a.length; i++) {
      writeValue(w, { type: it as GGUFValueType, value: a[i] as number }, `${key}[${i}]`, depth + 1);
    }
    return;
  }
  if (it === GGUFValueType.STRING) {
    const raw = v.rawItems;
    for (let i = 0; i < a.length; i++) {
      const s = a[i];
      const r = raw?.get(i);
      if (r) w.bytes(r);
      else if (typeof s === 'string') w.str(s);
      else throw bad(`item ${i} is not a string`);
    }
    return;
  }
  for (let i = 0; i < a.length; i++) {
    const sub = a[i] as GGUFMetaValue;
    if (!sub || sub.type !== GGUFValueType.ARRAY) throw bad(`item ${i} of an array of arrays is not an array value`);
    writeArray(w, sub, `${key}[${i}]`, depth + 1);
  }
}

type TypedCtor = new (...args: never[]) => ArrayBufferView;
const TYPED: Record<number, TypedCtor | undefined> = {
  [GGUFValueType.UINT8]: Uint8Array,
  [GGUFValueType.INT8]: Int8Array,
  [GGUFValueType.UINT16]: Uint16Array,
  [GGUFValueType.INT16]: Int16Array,
  [GGUFValueType.UINT32]: Uint32Array,
  [GGUFValueType.INT32]: Int32Array,
  [GGUFValueType.FLOAT32]: Float32Array,
  [GGUFValueType.UINT64]: BigUint64Array,
  [GGUFValueType.INT64]: BigInt64Array,
  [GGUFValueType.FLOAT64]: Float64Array,
};

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toBigInt(x: unknown): bigint | undefined {
  if (typeof x === 'bigint') return x;
  if (typeof x === 'number' && Number.isSafeInteger(x)) return BigInt(x);
  return undefined;
}

const encoder = new TextEncoder();

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  private n = 0;

  reserve(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.n, v, true);
    this.n += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.dv.setBigUint64(this.n, BigInt(v), true);
    this.n += 8;
  }
  scalar(type: number, v: number | bigint): void {
    const size = GGUF_VALUE_SIZE[type]!;
    this.reserve(size);
    const dv = this.dv;
    const p = this.n;
    switch (type) {
      case GGUFValueType.UINT8: case GGUFValueType.BOOL: dv.setUint8(p, v as number); break;
      case GGUFValueType.INT8: dv.setInt8(p, v as number); break;
      case GGUFValueType.UINT16: dv.setUint16(p, v as number, true); break;
      case GGUFValueType.INT16: dv.setInt16(p, v as number, true); break;
      case GGUFValueType.UINT32: dv.setUint32(p, v as number, true); break;
      case GGUFValueType.INT32: dv.setInt32(p, v as number, true); break;
      case GGUFValueType.FLOAT32: dv.setFloat32(p, v as number, true); break;
      case GGUFValueType.UINT64: dv.setBigUint64(p, BigInt(v), true); break;
      case GGUFValueType.INT64: dv.setBigInt64(p, BigInt(v), true); break;
      case GGUFValueType.FLOAT64: dv.setFloat64(p, v as number, true); break;
    }
    this.n += size;
  }
  /** u64 length + bytes */
  bytes(b: Uint8Array): void {
    this.u64(b.length);
    this.raw(b);
  }
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  /** u64 length + UTF-8 */
  str(s: string): void {
    // ASCII fast path
    let ascii = s.length <= 256;
    if (ascii) {
      for (let i = 0; i < s.length; i++) {
        if (s.charCodeAt(i) >= 0x80) {
          ascii = false;
          break;
        }
      }
    }
    if (ascii) {
      this.u64(s.length);
      this.reserve(s.length);
      for (let i = 0; i < s.length; i++) this.buf[this.n + i] = s.charCodeAt(i);
      this.n += s.length;
      return;
    }
    this.bytes(encoder.encode(s));
  }
  pad(alignment: number): void {
    const k = alignUp(this.n, alignment) - this.n;
    this.reserve(k);
    this.buf.fill(0, this.n, this.n + k);
    this.n += k;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}
