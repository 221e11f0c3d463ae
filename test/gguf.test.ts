import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmlmError } from '../src/errors.js';
import { GGML_F16, GGML_F32, GGML_Q4_0, GGML_Q8_0, GGML_TYPES, ggmlTypeByName, ggmlTypeName, tensorBytes } from '../src/formats/ggml-types.js';
import {
  GGUFValueType as T,
  findTensor,
  openGGUF,
  readGGUF,
  readGGUFHeader,
  tensorsInFileOrder,
  type GGUFHeader,
  type GGUFMetaValue,
} from '../src/formats/gguf.js';
import { GGUFMetadata } from '../src/formats/gguf-metadata.js';
import { encodeGGUF, ggufChunks, meta, planGGUF, writeGGUFFile, type GGUFWriteTensor } from '../src/formats/gguf-writer.js';
import { openSource } from '../src/formats/source.js';

const FIX = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const MODELS = join(FIX, 'models');
const TOKENIZERS = join(FIX, 'tokenizers');
const MANIFEST = JSON.parse(readFileSync(join(MODELS, 'MANIFEST.json'), 'utf8')) as Record<string, {
  bytes: number;
  metadata: Record<string, unknown>;
  tensors: { name: string; ne: number[]; type: string; n_bytes: number; data_offset: number }[];
}>;
const MODEL_FILES = readdirSync(MODELS).filter((f) => f.endsWith('.gguf')).sort();
const VOCAB_FILES = readdirSync(TOKENIZERS).filter((f) => f.endsWith('.gguf')).sort();

async function rejects(p: Promise<unknown>): Promise<WasmlmError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected a WasmlmError').toBeInstanceOf(WasmlmError);
  return e as WasmlmError;
}
async function expectCode(p: Promise<unknown>, code: string, msg?: RegExp): Promise<WasmlmError> {
  const e = await rejects(p);
  expect(e.code, e.message).toBe(code);
  if (msg) expect(e.message).toMatch(msg);
  return e;
}

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream({
    pull(c) {
      if (pos >= bytes.length) return c.close();
      c.enqueue(bytes.slice(pos, pos + size));
      pos += size;
    },
  });
}

function tensorData(bytes: Uint8Array, h: GGUFHeader): GGUFWriteTensor[] {
  return h.tensors.map((t) => ({
    name: t.name, ne: t.ne, type: t.type,
    data: bytes.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes),
  }));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// ---------------------------------------------------------------------------------------------

describe('fixtures', () => {
  for (const f of MODEL_FILES) {
    it(`${f}: header matches MANIFEST.json`, async () => {
      const m = MANIFEST[f]!;
      const h = await readGGUF(join(MODELS, f));
      expect(h.version).toBe(m.metadata['GGUF.version']);
      expect(h.fileSize).toBe(m.bytes);
      expect(h.alignment).toBe(32);
      expect(h.tensors.length).toBe(m.metadata['GGUF.tensor_count']);
      expect(h.metadata.size).toBe(m.metadata['GGUF.kv_count']);
      for (const [k, v] of Object.entries(m.metadata)) {
        if (k.startsWith('GGUF.')) continue;
        const got = h.metadata.get(k);
        expect(got, k).toBeDefined();
        const arr = typeof v === 'string' ? /^<array\[(\d+)\] of (\w+)>$/.exec(v) : null;
        if (arr) {
          expect(got!.type).toBe(T.ARRAY);
          expect((got!.value as ArrayLike<unknown>).length).toBe(Number(arr[1]));
          expect(T[arr[2] as keyof typeof T]).toBe(got!.itemType);
        } else {
          expect(got!.value, k).toBe(v);
        }
      }
      m.tensors.forEach((mt, i) => {
        const t = h.tensors[i]!;
        expect(t.name).toBe(mt.name);
        expect(t.ne).toEqual(mt.ne);
        expect(t.typeName).toBe(mt.type);
        expect(ggmlTypeName(t.type)).toBe(mt.type);
        expect(t.nBytes).toBe(mt.n_bytes);
        expect(h.dataOffset + t.offset).toBe(mt.data_offset);
        expect(t.nElements).toBe(mt.ne.reduce((a, b) => a * b, 1));
      });
    });
  }

  it('vocabularies decode to the right JS types (strings, Float32Array, Int32Array)', async () => {
    const h = await readGGUF(join(MODELS, 'stories260K.gguf'));
    const tokens = new GGUFMetadata(h).stringArray('tokenizer.ggml.tokens');
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tokens[259]).toBe('\u2581t');
    expect(new GGUFMetadata(h).numberArray('tokenizer.ggml.scores')).toBeInstanceOf(Float32Array);
    expect(new GGUFMetadata(h).numberArray('tokenizer.ggml.token_type')).toBeInstanceOf(Int32Array);
    expect(h.metadata.get('tokenizer.ggml.tokens')!.rawItems).toBeUndefined();

    const spm = await readGGUF(join(TOKENIZERS, 'ggml-vocab-llama-spm.gguf'));
    // a token that starts with a BOM keeps it (TextDecoder would strip it by default)
    expect(new GGUFMetadata(spm).stringArray('tokenizer.ggml.tokens').some((t) => t.startsWith('\uFEFF'))).toBe(true);
    const gpt2 = await readGGUF(join(TOKENIZERS, 'ggml-vocab-gpt-2.gguf'));
    expect(new GGUFMetadata(gpt2).stringArray('tokenizer.ggml.merges').length).toBeGreaterThan(40000);
    expect(new GGUFMetadata(gpt2).stringArray('tokenizer.ggml.tokens')).toContain('Ġthe');
  });

  for (const f of VOCAB_FILES) {
    it(`${f}: vocab-only file (no tensors, no padding at the end) reads from a stream`, async () => {
      const bytes = new Uint8Array(readFileSync(join(TOKENIZERS, f)));
      const a = await readGGUF(bytes);
      expect(a.tensors.length).toBe(0);
      const s = await openSource(chunked(bytes, 4099));
      const b = await readGGUFHeader(s);
      expect(s.position).toBe(bytes.length);
      await s.close();
      expect([...b.metadata.keys()]).toEqual([...a.metadata.keys()]);
      expect(new GGUFMetadata(b).stringArray('tokenizer.ggml.tokens')).toEqual(new GGUFMetadata(a).stringArray('tokenizer.ggml.tokens'));
    });
  }

  it('the stream is left exactly at dataOffset, whatever the source', async () => {
    const path = join(MODELS, 'llama_q4_0.gguf');
    const bytes = new Uint8Array(readFileSync(path));
    for (const src of [path, bytes, bytes.buffer, new Blob([bytes]), chunked(bytes, 777)]) {
      const { header, stream } = await openGGUF(src);
      try {
        expect(stream.position).toBe(header.dataOffset);
        const first = tensorsInFileOrder(header)[0]!;
        expect(first.offset).toBe(0);
        const data = await stream.read(first.nBytes);
        expect(sameBytes(data, bytes.subarray(header.dataOffset, header.dataOffset + first.nBytes))).toBe(true);
      } finally {
        await stream.close();
      }
    }
    // and without readSome/unread (a minimal ByteStream): exact reads only
    const inner = await openSource(bytes);
    const minimal = {
      get size() { return inner.size; },
      get position() { return inner.position; },
      read: (n: number) => inner.read(n),
      readInto: (d: Uint8Array) => inner.readInto(d),
      skip: (n: number) => inner.skip(n),
      close: () => inner.close(),
    };
    const h = await readGGUFHeader(minimal);
    expect(minimal.position).toBe(h.dataOffset);
    expect(h.tensors.length).toBe(21);
  });

  it('errors from readGGUF name the source', async () => {
    const e = await expectCode(readGGUF(join(FIX, 'stories260K', 'tok512.bin')), 'BAD_MAGIC', /not a GGUF file/);
    expect(e.message).toContain('tok512.bin');
  });
});

describe('writer', () => {
  for (const f of [...MODEL_FILES.map((f) => join(MODELS, f)), ...VOCAB_FILES.map((f) => join(TOKENIZERS, f))]) {
    it(`${f.split('/').pop()}: read + write back is byte-identical`, async () => {
      const bytes = new Uint8Array(readFileSync(f));
      const h = await readGGUF(bytes);
      const out = encodeGGUF(h.metadata, tensorData(bytes, h));
      expect(out.length).toBe(bytes.length);
      expect(sameBytes(out, bytes)).toBe(true);
    });
  }

  it('writeGGUFFile streams lazy (sync and async) tensor data to disk', async () => {
    const src = join(MODELS, 'llama_q8_0.gguf');
    const bytes = new Uint8Array(readFileSync(src));
    const h = await readGGUF(bytes);
    const dir = await mkdtemp(join(tmpdir(), 'wasmlm-gguf-'));
    try {
      const calls: string[] = [];
      const tensors = tensorData(bytes, h).map((t, i) => ({
        ...t,
        data: i % 2
          ? () => { calls.push(t.name); return t.data as Uint8Array; }
          : async () => { calls.push(t.name); await new Promise((r) => setTimeout(r, 1)); return (t.data as Uint8Array).slice(); },
      }));
      const out = join(dir, 'out.gguf');
      const n = await writeGGUFFile(out, h.metadata, tensors);
      expect(n).toBe(bytes.length);
      expect(calls).toEqual(h.tensors.map((t) => t.name)); // one at a time, in order
      expect(sameBytes(new Uint8Array(await readFile(out)), bytes)).toBe(true);
      // ggufChunks gives the same bytes
      const parts: Uint8Array[] = [];
      for await (const c of ggufChunks(h.metadata, tensorData(bytes, h))) parts.push(c);
      expect(sameBytes(Buffer.concat(parts), bytes)).toBe(true);
      // a failing tensor leaves no half-written file; an unwritable path is IO_ERROR
      const failing = [...tensors.slice(0, 2), { ...tensors[2]!, data: () => { throw new WasmlmError('ABORTED', 'stop'); } }];
      await expectCode(writeGGUFFile(join(dir, 'partial.gguf'), h.metadata, failing), 'ABORTED');
      expect(readdirSync(dir)).toEqual(['out.gguf']);
      await expectCode(writeGGUFFile(join(dir, 'no', 'such', 'dir.gguf'), h.metadata, []), 'IO_ERROR', /cannot create/);
      // encodeGGUF refuses async data
      await expectCode(Promise.resolve().then(() => encodeGGUF(h.metadata, tensors)), 'BAD_ARGUMENT', /synchronous/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('every value type round-trips (entries list input, nested arrays, bigints, invalid UTF-8)', async () => {
    const invalid = new Uint8Array([0x61, 0xff, 0x62]); // 'a', a lone 0xFF, 'b'
    const md: ({ key: string } & GGUFMetaValue)[] = [
      { key: 'general.architecture', ...meta.str('llama') },
      { key: 't.u8', ...meta.u8(255) },
      { key: 't.i8', ...meta.i8(-128) },
      { key: 't.u16', ...meta.u16(65535) },
      { key: 't.i16', ...meta.i16(-32768) },
      { key: 't.u32', ...meta.u32(4294967295) },
      { key: 't.i32', ...meta.i32(-2147483648) },
      { key: 't.f32', ...meta.f32(0.1) },
      { key: 't.bool', ...meta.bool(true) },
      { key: 't.str', ...meta.str('héllo \uFEFF 😀') },
      { key: 't.u64.small', ...meta.u64(12345) },
      { key: 't.u64.big', ...meta.u64(18446744073709551615n) },
      { key: 't.i64', ...meta.i64(-9007199254740993n) },
      { key: 't.f64', ...meta.f64(Math.PI) },
      { key: 't.empty', ...meta.strArray([]) },
      { key: 't.bools', type: T.ARRAY, itemType: T.BOOL, value: [true, false, true] },
      { key: 't.u64s', type: T.ARRAY, itemType: T.UINT64, value: new BigUint64Array([1n, 2n ** 63n]) },
      { key: 't.i16s', type: T.ARRAY, itemType: T.INT16, value: [1, -2, 3] as unknown as Int16Array },
      { key: 't.f64s', type: T.ARRAY, itemType: T.FLOAT64, value: new Float64Array([1.5, -0]) },
      {
        key: 't.nested', type: T.ARRAY, itemType: T.ARRAY, value: [
          { type: T.ARRAY, itemType: T.INT32, value: new Int32Array([1, 2]) },
          { type: T.ARRAY, itemType: T.STRING, value: ['x', 'yz'] },
          { type: T.ARRAY, itemType: T.ARRAY, value: [{ type: T.ARRAY, itemType: T.UINT8, value: new Uint8Array([9]) }] },
        ],
      },
      { key: 't.raw', type: T.STRING, value: 'a\uFFFDb', raw: invalid },
      { key: 't.rawitems', type: T.ARRAY, itemType: T.STRING, value: ['ok', 'a\uFFFDb'], rawItems: new Map([[1, invalid]]) },
    ];
    const tensors: GGUFWriteTensor[] = [
      { name: 'w', ne: [32, 2], type: GGML_Q8_0, data: new Uint8Array(68).fill(7) },
      { name: 'n', ne: [3], type: GGML_F32, data: new Uint8Array(12).fill(1) },
    ];
    const bytes = encodeGGUF(md, tensors, { alignment: 64 });
    const h = await readGGUF(bytes);
    expect(h.alignment).toBe(32); // no general.alignment key: 64 was only used for layout...
    // ...so the reader (default 32) sees offsets that are multiples of 64, still aligned
    expect(h.tensors.map((t) => t.offset)).toEqual([0, 128]);
    const v = (k: string) => h.metadata.get(k)!.value;
    expect(v('t.u8')).toBe(255);
    expect(v('t.i8')).toBe(-128);
    expect(v('t.u16')).toBe(65535);
    expect(v('t.i16')).toBe(-32768);
    expect(v('t.u32')).toBe(4294967295);
    expect(v('t.i32')).toBe(-2147483648);
    expect(v('t.f32')).toBe(Math.fround(0.1));
    expect(v('t.bool')).toBe(true);
    expect(v('t.str')).toBe('héllo \uFEFF 😀');
    expect(v('t.u64.small')).toBe(12345);
    expect(v('t.u64.big')).toBe(18446744073709551615n);
    expect(v('t.i64')).toBe(-9007199254740993n);
    expect(v('t.f64')).toBe(Math.PI);
    expect(v('t.empty')).toEqual([]);
    expect(v('t.bools')).toEqual([true, false, true]);
    expect(v('t.u64s')).toEqual(new BigUint64Array([1n, 2n ** 63n]));
    expect(v('t.i16s')).toEqual(new Int16Array([1, -2, 3]));
    expect(Object.is((v('t.f64s') as Float64Array)[1], -0)).toBe(true);
    const nested = v('t.nested') as GGUFMetaValue[];
    expect(nested[0]!.value).toEqual(new Int32Array([1, 2]));
    expect(nested[1]!.value).toEqual(['x', 'yz']);
    expect((nested[2]!.value as GGUFMetaValue[])[0]!.value).toEqual(new Uint8Array([9]));
    expect(v('t.raw')).toBe('a\uFFFDb');
    expect(h.metadata.get('t.raw')!.raw).toEqual(invalid);
    expect(v('t.rawitems')).toEqual(['ok', 'a\uFFFDb']);
    expect(h.metadata.get('t.rawitems')!.rawItems!.get(1)).toEqual(invalid);
    // and back again, byte for byte (the Map from the reader, alignment given again)
    expect(sameBytes(encodeGGUF(h.metadata, tensorData(bytes, h), { alignment: 64 }), bytes)).toBe(true);
    // accessors
    expect(new GGUFMetadata(h).number('t.u64.small')).toBe(12345);
    await expectCode(Promise.resolve().then(() => new GGUFMetadata(h).number('t.u64.big')), 'BAD_FORMAT', /t\.u64\.big/);
    await expectCode(Promise.resolve().then(() => new GGUFMetadata(h).numberArray('t.u64s')), 'BAD_FORMAT', /t\.u64s.*item 1/);
    expect(Array.from(new GGUFMetadata(h).numberArray('t.i16s'))).toEqual([1, -2, 3]);
  });

  it('general.alignment in the metadata sets the layout', async () => {
    const md = new Map<string, GGUFMetaValue>([['general.alignment', meta.u32(256)]]);
    const bytes = encodeGGUF(md, [
      { name: 'a', ne: [3], type: GGML_F32, data: new Uint8Array(12) },
      { name: 'b', ne: [5], type: GGML_F16, data: new Uint8Array(10) },
    ]);
    const h = await readGGUF(bytes);
    expect(h.alignment).toBe(256);
    expect(h.dataOffset % 256).toBe(0);
    expect(h.tensors.map((t) => t.offset)).toEqual([0, 256]);
    expect(bytes.length).toBe(h.dataOffset + 512);
  });

  it('rejects bad input with BAD_ARGUMENT', () => {
    const t = (over: Partial<GGUFWriteTensor>): GGUFWriteTensor => ({ name: 'x', ne: [32], type: GGML_F32, data: new Uint8Array(128), ...over });
    const bad = (f: () => unknown, re: RegExp) => {
      let err: unknown;
      try { f(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(WasmlmError);
      expect((err as WasmlmError).code).toBe('BAD_ARGUMENT');
      expect((err as WasmlmError).message).toMatch(re);
    };
    bad(() => encodeGGUF([], [t({}), t({})]), /twice/);
    bad(() => encodeGGUF([], [t({ data: new Uint8Array(4) })]), /4 bytes.*128/);
    bad(() => encodeGGUF([], [t({ type: GGML_Q4_0, ne: [48] })]), /block size/);
    bad(() => encodeGGUF([], [t({ ne: [1, 1, 1, 1, 32] })]), /dimensions/);
    bad(() => encodeGGUF([], [t({ type: 99 })]), /unknown ggml type/);
    bad(() => encodeGGUF([{ key: 'k', ...meta.u8(256) }], []), /'k'.*UINT8/);
    bad(() => encodeGGUF([{ key: 'k', ...meta.u32(-1) }], []), /'k'/);
    bad(() => encodeGGUF([{ key: 'k', ...meta.u64(-1) }], []), /'k'/);
    bad(() => encodeGGUF([{ key: 'k', type: T.STRING, value: 5 }], []), /'k'/);
    bad(() => encodeGGUF([{ key: 'k', type: T.ARRAY, value: [1] as unknown as Uint8Array }], []), /itemType/);
    bad(() => encodeGGUF([{ key: 'k', ...meta.str('a') }, { key: 'k', ...meta.str('b') }], []), /twice/);
    bad(() => encodeGGUF([{ key: 'k', type: 77 as 0, value: 1 }], []), /unknown value type/);
    bad(() => encodeGGUF([], [], { alignment: 24 }), /power of two/);
    bad(() => encodeGGUF([{ key: 'general.alignment', ...meta.u32(64) }], [], { alignment: 32 }), /disagrees/);
    expect(planGGUF([], [t({})]).header.length % 32).toBe(0);
  });
});

// --- bad input ---------------------------------------------------------------------------------

/** A hand-built GGUF with every field under the test's control. */
class Raw {
  private b: number[] = [];
  u8(...v: number[]) { this.b.push(...v); return this; }
  u32(v: number) { const d = new DataView(new ArrayBuffer(4)); d.setUint32(0, v >>> 0, true); return this.u8(...new Uint8Array(d.buffer)); }
  u64(v: number | bigint) { const d = new DataView(new ArrayBuffer(8)); d.setBigUint64(0, BigInt(v), true); return this.u8(...new Uint8Array(d.buffer)); }
  str(s: string) { const e = new TextEncoder().encode(s); return this.u64(e.length).u8(...e); }
  pad(a = 32) { while (this.b.length % a) this.b.push(0); return this; }
  zeros(n: number) { for (let i = 0; i < n; i++) this.b.push(0); return this; }
  get length() { return this.b.length; }
  bytes() { return new Uint8Array(this.b); }
}

interface RawTensor { name: string; dims: (number | bigint)[]; type: number; offset: number | bigint; nDims?: number }
interface Spec {
  magic?: string; version?: number; nTensors?: number | bigint; nKv?: number | bigint;
  kv?: (w: Raw) => void;
  tensors?: RawTensor[];
  data?: number; // bytes of data after the padding
}

const DEFAULT_KV = (w: Raw) => {
  w.str('general.architecture').u32(T.STRING).str('llama');
  w.str('t.tokens').u32(T.ARRAY).u32(T.STRING).u64(3).str('a').str('bc').str('ü');
  w.str('t.scores').u32(T.ARRAY).u32(T.FLOAT32).u64(2).u32(0x3f800000).u32(0x40000000);
};
const DEFAULT_TENSORS: RawTensor[] = [
  { name: 'a', dims: [32], type: GGML_F32, offset: 0 },
  { name: 'b', dims: [32, 2], type: GGML_Q8_0, offset: 128 },
];

function build(spec: Spec = {}): Uint8Array {
  const w = new Raw();
  w.u8(...new TextEncoder().encode(spec.magic ?? 'GGUF'));
  w.u32(spec.version ?? 3);
  const tensors = spec.tensors ?? DEFAULT_TENSORS;
  w.u64(spec.nTensors ?? tensors.length);
  // a custom kv writer writes one entry unless the spec says otherwise
  w.u64(spec.nKv ?? (spec.kv ? 1 : 3));
  (spec.kv ?? DEFAULT_KV)(w);
  for (const t of tensors) {
    w.str(t.name).u32(t.nDims ?? t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type).u64(t.offset);
  }
  w.pad();
  w.zeros(spec.data ?? 128 + 68);
  return w.bytes();
}

describe('bad input', () => {
  it('the hand-built file is valid', async () => {
    const h = await readGGUF(build());
    expect(h.tensors.map((t) => [t.name, t.nBytes])).toEqual([['a', 128], ['b', 68]]);
    expect(new GGUFMetadata(h).stringArray('t.tokens')).toEqual(['a', 'bc', 'ü']);
    expect(Array.from(new GGUFMetadata(h).numberArray('t.scores'))).toEqual([1, 2]);
    expect(new GGUFMetadata(h).string('general.architecture')).toBe('llama');
  });

  it('wrong magic → BAD_MAGIC', async () => {
    await expectCode(readGGUF(build({ magic: 'GGML' })), 'BAD_MAGIC', /not a GGUF file: magic is 47 47 4d 4c/);
    await expectCode(readGGUF(build({ magic: 'tjgg' })), 'BAD_MAGIC', /GGJT/);
    await expectCode(readGGUF(new TextEncoder().encode('<!DOCTYPE html><html>')), 'BAD_MAGIC', /HTML/);
    await expectCode(readGGUF(readFileSync(join(FIX, 'stories260K', 'stories260K.bin'))), 'BAD_MAGIC');
    await expectCode(readGGUF(new TextEncoder().encode('hello')), 'BAD_MAGIC', /"hell"/);
    await expectCode(readGGUF(new Uint8Array(0)), 'TRUNCATED');
  });

  it('versions: 1, unknown and big-endian → UNSUPPORTED_VERSION', async () => {
    await expectCode(readGGUF(build({ version: 1 })), 'UNSUPPORTED_VERSION', /version 1/);
    await expectCode(readGGUF(build({ version: 4 })), 'UNSUPPORTED_VERSION', /version 4/);
    await expectCode(readGGUF(build({ version: 0x03000000 })), 'UNSUPPORTED_VERSION', /big-endian/);
    const v2 = await readGGUF(build({ version: 2 }));
    expect(v2.version).toBe(2);
  });

  it('truncated at every byte → TRUNCATED (known size and unknown size)', async () => {
    const full = build();
    const h = await readGGUF(full);
    const headerEnd = h.dataOffset - ((h.dataOffset - 0) % 32); // == dataOffset (aligned)
    expect(headerEnd).toBe(h.dataOffset);
    for (let cut = 0; cut < full.length; cut++) {
      const part = full.slice(0, cut);
      await expectCode(readGGUF(part), 'TRUNCATED');
      // a stream of unknown size: the header needs its bytes; tensor data is not read
      if (cut < h.dataOffset) {
        await expectCode(readGGUF(chunked(part, 5)), 'TRUNCATED');
      } else {
        expect((await readGGUF(chunked(part, 5))).tensors.length).toBe(2);
      }
    }
  });

  it('truncation messages say where: header, string, tensor index, tensor data', async () => {
    const full = build();
    await expectCode(readGGUF(full.slice(0, 6)), 'TRUNCATED', /file header/);
    // with a known size, the counts alone show that the file is too short
    await expectCode(readGGUF(full.slice(0, 40)), 'TRUNCATED', /3 metadata entries and 2 tensors cannot fit/);
    // a stream of unknown size finds out where it ends: inside the first key string
    await expectCode(readGGUF(chunked(full.slice(0, 24 + 8 + 5), 3)), 'TRUNCATED', /metadata key #0/);
    // inside the tokens array
    const at = indexOf(full, 'bc');
    await expectCode(readGGUF(chunked(full.slice(0, at + 1), 3)), 'TRUNCATED', /t\.tokens/);
    await expectCode(readGGUF(full.slice(0, at + 1)), 'TRUNCATED');
    // inside the tensor index
    const ti = indexOf(full, 'b', indexOf(full, 't.scores') + 30);
    await expectCode(readGGUF(chunked(full.slice(0, ti + 10), 3)), 'TRUNCATED', /tensor 'b'/);
    await expectCode(readGGUF(full.slice(0, ti + 10)), 'TRUNCATED', /tensor 'b'/);
    // tensor data
    await expectCode(readGGUF(full.slice(0, full.length - 1)), 'TRUNCATED', /tensor 'b'.*past the end/);
  });

  it('a string length past EOF → TRUNCATED; an absurd one → BAD_FORMAT', async () => {
    const kvLen = (len: number | bigint) => build({ kv: (w) => w.u64(len).u8(0x61, 0x62).u32(T.UINT8).u8(1) });
    await expectCode(readGGUF(kvLen(1000)), 'TRUNCATED', /length 1000 runs past the end/);
    await expectCode(readGGUF(chunked(kvLen(100000), 64)), 'TRUNCATED');
    await expectCode(readGGUF(kvLen(2n ** 40n)), 'BAD_FORMAT', /absurd/);
    await expectCode(readGGUF(kvLen(2n ** 63n)), 'BAD_FORMAT', /absurd/);
    // a string value
    await expectCode(readGGUF(build({ kv: (w) => w.str('k').u32(T.STRING).u64(999999) })), 'TRUNCATED', /'k'/);
    // a tensor name
    await expectCode(readGGUF(build({ tensors: [{ name: 'x', dims: [32], type: 0, offset: 0 }], data: 0 }).slice()), 'TRUNCATED');
  });

  it('absurd counts → BAD_FORMAT; counts the file cannot hold → TRUNCATED', async () => {
    await expectCode(readGGUF(build({ nKv: 2n ** 40n })), 'BAD_FORMAT', /metadata count/);
    await expectCode(readGGUF(build({ nTensors: 2n ** 62n })), 'BAD_FORMAT', /tensor count/);
    await expectCode(readGGUF(build({ nKv: 1_000_000 })), 'TRUNCATED');
    // (in a stream of unknown size the zero padding then reads as a tensor with 0 dimensions)
    await expectCode(readGGUF(chunked(build({ nTensors: 1_000_000 }), 100)), 'BAD_FORMAT', /0 dimensions/);
    // arrays
    const arr = (item: number, count: number | bigint) => build({ kv: (w) => w.str('k').u32(T.ARRAY).u32(item).u64(count) });
    await expectCode(readGGUF(arr(T.FLOAT32, 2n ** 40n)), 'BAD_FORMAT', /'k'/);
    await expectCode(readGGUF(arr(T.FLOAT32, 1_000_000)), 'TRUNCATED', /'k'/);
    await expectCode(readGGUF(arr(T.STRING, 1_000_000)), 'TRUNCATED', /'k'/);
    const arrAtEnd = (item: number, count: number) =>
      build({ kv: (w) => w.str('k').u32(T.ARRAY).u32(item).u64(count), tensors: [], data: 0 });
    await expectCode(readGGUF(chunked(arrAtEnd(T.STRING, 100_000_000), 64)), 'TRUNCATED', /'k'/);
    await expectCode(readGGUF(chunked(arr(T.UINT64, 100_000_000), 64)), 'TRUNCATED');
  });

  it('unknown value types → BAD_FORMAT naming the key', async () => {
    await expectCode(readGGUF(build({ kv: (w) => w.str('my.key').u32(13).u32(0) })), 'BAD_FORMAT', /'my\.key'.*value type 13/);
    await expectCode(readGGUF(build({ kv: (w) => w.str('my.key').u32(T.ARRAY).u32(42).u64(1) })), 'BAD_FORMAT', /'my\.key'.*item type 42/);
  });

  it('arrays nested too deep → BAD_FORMAT', async () => {
    const deep = (w: Raw) => {
      w.str('deep').u32(T.ARRAY);
      for (let i = 0; i < 40; i++) w.u32(T.ARRAY).u64(1);
      w.u32(T.UINT8).u64(0);
    };
    await expectCode(readGGUF(build({ kv: deep })), 'BAD_FORMAT', /nested/);
  });

  it('duplicate keys and tensor names → BAD_FORMAT', async () => {
    const dupKey = (w: Raw) => w.str('k').u32(T.UINT8).u8(1).str('k').u32(T.UINT8).u8(2);
    await expectCode(readGGUF(build({ kv: dupKey, nKv: 2 })), 'BAD_FORMAT', /'k' appears twice/);
    const tensors = [
      { name: 'w', dims: [32], type: GGML_F32, offset: 0 },
      { name: 'w', dims: [32], type: GGML_F32, offset: 128 },
    ];
    await expectCode(readGGUF(build({ tensors, data: 256 })), 'BAD_FORMAT', /'w' appears twice/);
  });

  it('bad tensor entries → BAD_FORMAT naming the tensor', async () => {
    const one = (t: Partial<RawTensor>, data = 256) =>
      readGGUF(build({ tensors: [{ name: 'tt', dims: [32], type: GGML_F32, offset: 0, ...t }], data }));
    await expectCode(one({ offset: 8 }), 'BAD_FORMAT', /'tt'.*offset 8 is not a multiple of the alignment 32/);
    await expectCode(one({ type: 99 }), 'BAD_FORMAT', /'tt'.*unknown ggml type id 99/);
    await expectCode(one({ type: 4 }), 'BAD_FORMAT', /'tt'.*Q4_2.*removed/);
    await expectCode(one({ type: GGML_Q4_0, dims: [48] }), 'BAD_FORMAT', /'tt'.*block size 32/);
    await expectCode(one({ dims: [], nDims: 0 }), 'BAD_FORMAT', /'tt' has 0 dimensions/);
    await expectCode(one({ dims: [1, 1, 1, 1, 1] }), 'BAD_FORMAT', /'tt' has 5 dimensions/);
    await expectCode(one({ dims: [2n ** 60n] }), 'BAD_FORMAT', /'tt'.*too large/);
    await expectCode(one({ dims: [2 ** 26, 2 ** 26, 2 ** 26] }), 'BAD_FORMAT', /'tt'.*too many elements/);
    await expectCode(one({ offset: 2n ** 60n }), 'BAD_FORMAT', /'tt'.*offset/);
    await expectCode(one({ dims: [1024] }), 'TRUNCATED', /'tt'.*past the end/);
    await expectCode(one({ offset: 256 }), 'TRUNCATED', /'tt'/);
    // a zero-element tensor is accepted (as ggml does)
    expect((await one({ dims: [32, 0] })).tensors[0]!.nBytes).toBe(0);
  });

  it('overlapping tensor data → BAD_FORMAT', async () => {
    const tensors = [
      { name: 'p', dims: [64], type: GGML_F32, offset: 0 },
      { name: 'q', dims: [32], type: GGML_F32, offset: 128 },
    ];
    await expectCode(readGGUF(build({ tensors, data: 512 })), 'BAD_FORMAT', /'p' and 'q' overlap/);
  });

  it('bad general.alignment → BAD_FORMAT', async () => {
    for (const a of [0, 24, 3]) {
      await expectCode(readGGUF(build({ kv: (w) => w.str('general.alignment').u32(T.UINT32).u32(a) })), 'BAD_FORMAT', /general\.alignment/);
    }
    await expectCode(readGGUF(build({ kv: (w) => w.str('general.alignment').u32(T.STRING).str('32') })), 'BAD_FORMAT', /general\.alignment/);
  });

  it('random corruption never crashes or hangs: always a header or a WasmlmError', async () => {
    const base = new Uint8Array(readFileSync(join(MODELS, 'llama.lora.gguf')));
    const h = await readGGUF(base);
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 1500; i++) {
      const b = base.slice(0, h.dataOffset + 64);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rnd() * h.dataOffset)] = Math.floor(rnd() * 256);
      const src = i % 3 === 0 ? chunked(b, 1 + Math.floor(rnd() * 300)) : b;
      try {
        await readGGUF(src);
        ok++;
      } catch (e) {
        expect(e).toBeInstanceOf(WasmlmError);
        failed++;
      }
    }
    expect(ok + failed).toBe(1500);
    expect(failed).toBeGreaterThan(100);
  });
});

function indexOf(hay: Uint8Array, s: string, from = 0): number {
  const n = new TextEncoder().encode(s);
  outer: for (let i = from; i <= hay.length - n.length; i++) {
    for (let j = 0; j < n.length; j++) if (hay[i + j] !== n[j]) continue outer;
    return i;
  }
  throw new Error(`${s} not found`);
}

describe('accessors', () => {
  it('typed getters, with MISSING_METADATA / BAD_FORMAT naming the key', async () => {
    const h = await readGGUF(join(MODELS, 'llama.gguf'));
    expect(new GGUFMetadata(h).string('general.architecture')).toBe('llama');
    expect(new GGUFMetadata(h).number('llama.block_count')).toBe(2);
    expect(new GGUFMetadata(h).number('llama.rope.freq_base')).toBe(10000);
    expect(new GGUFMetadata(h).optionalNumber('llama.nope')).toBeUndefined();
    expect(new GGUFMetadata(h).optionalString('general.nope')).toBeUndefined();
    expect(new GGUFMetadata(h).bool('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(new GGUFMetadata(h).numberArray('tokenizer.ggml.token_type')).toBeInstanceOf(Int32Array);
    expect(findTensor(h, 'output.weight')!.ne).toEqual([64, 512]);
    expect(findTensor(h, 'nope')).toBeUndefined();
    const err = (f: () => unknown) => { try { f(); } catch (e) { return e as WasmlmError; } throw new Error('no error'); };
    let e = err(() => new GGUFMetadata(h).number('llama.missing_key'));
    expect(e.code).toBe('MISSING_METADATA');
    expect(e.message).toContain('llama.missing_key');
    e = err(() => new GGUFMetadata(h).string('llama.block_count'));
    expect(e.code).toBe('BAD_FORMAT');
    expect(e.message).toMatch(/'llama\.block_count' should be a STRING, but it is UINT32/);
    e = err(() => new GGUFMetadata(h).number('general.architecture'));
    expect(e.code).toBe('BAD_FORMAT');
    e = err(() => new GGUFMetadata(h).stringArray('tokenizer.ggml.scores'));
    expect(e.message).toMatch(/array of FLOAT32/);
    e = err(() => new GGUFMetadata(h).bool('llama.block_count'));
    expect(e.code).toBe('BAD_FORMAT');
    e = err(() => new GGUFMetadata(h).numberArray('general.name'));
    expect(e.code).toBe('BAD_FORMAT');
  });
});

describe('ggml types', () => {
  it('table and tensorBytes', () => {
    const sizes = Object.fromEntries(GGML_TYPES.map((t) => [t.name, [t.id, t.blockSize, t.typeSize]]));
    expect(sizes).toMatchObject({
      F32: [0, 1, 4], F16: [1, 1, 2], Q4_0: [2, 32, 18], Q4_1: [3, 32, 20], Q5_0: [6, 32, 22], Q5_1: [7, 32, 24],
      Q8_0: [8, 32, 34], Q8_1: [9, 32, 36], Q2_K: [10, 256, 84], Q3_K: [11, 256, 110], Q4_K: [12, 256, 144],
      Q5_K: [13, 256, 176], Q6_K: [14, 256, 210], Q8_K: [15, 256, 292], IQ2_XXS: [16, 256, 66], IQ2_XS: [17, 256, 74],
      IQ3_XXS: [18, 256, 98], IQ1_S: [19, 256, 50], IQ4_NL: [20, 32, 18], IQ3_S: [21, 256, 110], IQ2_S: [22, 256, 82],
      IQ4_XS: [23, 256, 136], I8: [24, 1, 1], I16: [25, 1, 2], I32: [26, 1, 4], I64: [27, 1, 8], F64: [28, 1, 8],
      IQ1_M: [29, 256, 56], BF16: [30, 1, 2],
    });
    expect(GGML_TYPES.filter((t) => t.name.startsWith('IQ')).every((t) => !t.supported)).toBe(true);
    expect(ggmlTypeByName('q4_k')!.id).toBe(12);
    expect(tensorBytes(GGML_Q4_0, [64, 3])).toBe(2 * 3 * 18);
    expect(() => tensorBytes(GGML_Q4_0, [48, 3])).toThrow(WasmlmError);
    expect(ggmlTypeName(99)).toBe('type 99');
  });
});

describe('performance shape', () => {
  it('a 128k-token vocabulary with 280k merges parses quickly from memory, a file and a chunked stream', async () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzĠé中😀';
    const chars = [...alphabet];
    const word = () => Array.from({ length: 1 + rnd(10) }, () => chars[rnd(chars.length)]).join('');
    const tokens = Array.from({ length: 128_000 }, (_, i) => `${word()}${i}`);
    const merges = Array.from({ length: 280_000 }, () => `${word()} ${word()}`);
    const md = new Map<string, GGUFMetaValue>([
      ['general.architecture', meta.str('llama')],
      ['tokenizer.ggml.model', meta.str('gpt2')],
      ['tokenizer.ggml.tokens', meta.strArray(tokens)],
      ['tokenizer.ggml.token_type', meta.i32Array(new Int32Array(tokens.length).fill(1))],
      ['tokenizer.ggml.merges', meta.strArray(merges)],
    ]);
    const t0 = performance.now();
    const bytes = encodeGGUF(md, []);
    const t1 = performance.now();
    const dir = await mkdtemp(join(tmpdir(), 'wasmlm-vocab-'));
    try {
      const path = join(dir, 'vocab.gguf');
      await writeFile(path, bytes);
      const times: string[] = [`encode ${(t1 - t0).toFixed(0)} ms (${(bytes.length / 2 ** 20).toFixed(1)} MiB)`];
      for (const [name, src] of [['memory', bytes], ['file', path], ['stream 64 KiB', chunked(bytes, 65536)], ['stream 1 KiB', chunked(bytes, 1024)]] as const) {
        const s = performance.now();
        const h = await readGGUF(src);
        times.push(`${name} ${(performance.now() - s).toFixed(0)} ms`);
        const got = new GGUFMetadata(h).stringArray('tokenizer.ggml.tokens');
        expect(got.length).toBe(tokens.length);
        expect(got[12345]).toBe(tokens[12345]);
        expect(new GGUFMetadata(h).stringArray('tokenizer.ggml.merges')[279_999]).toBe(merges[279_999]);
      }
      console.log(`128k vocab: ${times.join(', ')}`);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
