/**
 * Hostile GGUF files (issue 18): every one ends in a WasmlmError that names the input and the
 * field, found from the header and the tensor index before anything is allocated per layer.
 * First the findings one by one, then a seeded mutation sweep over the llama fixture: truncation
 * at every field of every section, huge counts, lengths, dims and offsets, unknown types, edited
 * metadata values and flipped bytes, each run through what loadModel does before the engine
 * (header, ModelSpec, tokenizer); the few mutants that pass that are loaded for real.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WasmlmError } from '../src/errors.js';
import { GGUFValueType as T, readGGUF, type GGUFMetaValue } from '../src/formats/gguf.js';
import { encodeGGUF, type GGUFWriteTensor } from '../src/formats/gguf-writer.js';
import { describeSource, type ModelSource } from '../src/formats/source.js';
import { loadModel } from '../src/index.js';
import { resolveSpec } from '../src/models/index.js';
import { tokenizerFromGGUF } from '../src/tokenizer/gguf.js';
import { fixture } from './helpers/fixtures.js';

const LLAMA = new Uint8Array(readFileSync(fixture('models/llama.gguf')));
/** A bound, not a measurement: each of these takes a second or two; block_count = 1e8 alone once took over a minute and 3.7 GB. */
const BOUND = { timeout: 30_000 };

/** What loadModel does with a file before the engine: header, spec (with its checks), tokenizer. */
async function resolve(bytes: Uint8Array): Promise<void> {
  const h = await readGGUF(bytes);
  resolveSpec(h);
  tokenizerFromGGUF(h);
}

/** The error of p, which must be a WasmlmError naming the input (and `code`/`field` when given). */
async function failure(p: Promise<unknown>, input: ModelSource, code?: string, field?: RegExp): Promise<WasmlmError | undefined> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (e === undefined && code === undefined) return undefined;
  expect(e, `expected a WasmlmError${code ? ' ' + code : ''}`).toBeInstanceOf(WasmlmError);
  const w = e as WasmlmError;
  if (code) expect(w.code, w.message).toBe(code);
  expect(w.message.startsWith(`${describeSource(input)}: `), w.message).toBe(true);
  if (field) expect(w.message).toMatch(field);
  return w;
}

/** The llama fixture re-encoded with edited metadata and tensors. */
async function rewrite(edit: (m: Map<string, GGUFMetaValue>, t: GGUFWriteTensor[]) => void): Promise<Uint8Array> {
  const h = await readGGUF(LLAMA);
  const tensors = h.tensors.map((t) => ({
    name: t.name, ne: [...t.ne], type: t.type,
    data: LLAMA.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes),
  }));
  const m = new Map(h.metadata);
  edit(m, tensors);
  return encodeGGUF(m, tensors);
}
const setMeta = (key: string, v: GGUFMetaValue) => rewrite((m) => { m.set(key, v); });

describe('hostile metadata (issue 18 findings)', BOUND, () => {
  it('block_count far above the tensor index fails at once, naming the key', async () => {
    for (const n of [3, 1e6, 1e8, 0xffffffff]) {
      const b = await setMeta('llama.block_count', { type: T.UINT32, value: n });
      await failure(resolve(b), b, 'MISSING_TENSOR', new RegExp(`'llama\\.block_count' is ${n}.*2 blocks`));
    }
  });

  it('block_count below the tensor index names the unused tensors', async () => {
    const b = await setMeta('llama.block_count', { type: T.UINT32, value: 1 });
    await failure(resolve(b), b, 'BAD_FORMAT', /'llama\.block_count' is 1.*'blk\.1\.attn_norm\.weight'/);
    // and a tensor no family reads is named too
    const extra = await rewrite((_m, t) => { t.push({ ...t.find((x) => x.name === 'output_norm.weight')!, name: 'stray.weight' }); });
    await failure(resolve(extra), extra, 'BAD_FORMAT', /'stray\.weight'/);
  });

  it('general.architecture naming an Object.prototype member is UNKNOWN_ARCHITECTURE', async () => {
    for (const arch of ['__proto__', 'hasOwnProperty', 'valueOf', 'constructor', 'toString', 'isPrototypeOf', '']) {
      const b = await setMeta('general.architecture', { type: T.STRING, value: arch });
      const e = await failure(resolve(b), b, 'UNKNOWN_ARCHITECTURE', /general\.architecture/);
      expect(e!.message).toContain(`'${arch}'`);
    }
  });

  it('rope.freq_base, norm epsilon and other numbers out of range or not finite name the key', async () => {
    const cases: [string, GGUFMetaValue, RegExp][] = [
      ['llama.rope.freq_base', { type: T.FLOAT32, value: 0 }, /'llama\.rope\.freq_base' should be a number above 1, got 0/],
      ['llama.rope.freq_base', { type: T.FLOAT32, value: Math.fround(1e-45) }, /'llama\.rope\.freq_base'/],
      ['llama.rope.freq_base', { type: T.FLOAT32, value: Infinity }, /'llama\.rope\.freq_base' should be a finite number/],
      ['llama.rope.freq_base', { type: T.FLOAT64, value: NaN }, /'llama\.rope\.freq_base'/],
      ['llama.attention.layer_norm_rms_epsilon', { type: T.FLOAT32, value: -1e-5 }, /'llama\.attention\.layer_norm_rms_epsilon'.*above 0/],
      ['llama.attention.layer_norm_rms_epsilon', { type: T.FLOAT32, value: 0 }, /layer_norm_rms_epsilon/],
      ['llama.attention.layer_norm_rms_epsilon', { type: T.FLOAT32, value: 2 }, /layer_norm_rms_epsilon' should be below 1/],
      ['llama.attention.layer_norm_rms_epsilon', { type: T.FLOAT32, value: NaN }, /layer_norm_rms_epsilon/],
      ['llama.context_length', { type: T.UINT32, value: 0 }, /'llama\.context_length' should be a positive integer/],
      ['llama.context_length', { type: T.FLOAT32, value: 1.5 }, /'llama\.context_length'/],
      ['llama.context_length', { type: T.INT32, value: -1 }, /'llama\.context_length'/],
      ['llama.context_length', { type: T.UINT64, value: 2n ** 63n }, /'llama\.context_length'.*too large/],
      ['llama.embedding_length', { type: T.STRING, value: '64' }, /'llama\.embedding_length' should be a number, but it is STRING/],
      ['llama.attention.head_count', { type: T.UINT32, value: 3 }, /'llama\.embedding_length' 64 is not a multiple of 'llama\.attention\.head_count' 3/],
      ['llama.rope.dimension_count', { type: T.UINT32, value: 7 }, /'llama\.rope\.dimension_count' 7/],
      ['llama.rope.dimension_count', { type: T.UINT32, value: 0 }, /'llama\.rope\.dimension_count' should be a positive integer/],
      ['llama.rope.scaling.type', { type: T.STRING, value: 'ntk' }, /'llama\.rope\.scaling\.type'/],
      ['general.architecture', { type: T.UINT32, value: 1 }, /'general\.architecture' should be a STRING, but it is UINT32/],
    ];
    for (const [key, v, field] of cases) {
      const b = await setMeta(key, v);
      await failure(resolve(b), b, 'BAD_FORMAT', field);
    }
  });

  it('a tokenizer key of the wrong type is an error naming it, never dropped', async () => {
    const cases: [string, GGUFMetaValue][] = [
      ['tokenizer.ggml.bos_token_id', { type: T.STRING, value: '1' }],
      ['tokenizer.ggml.bos_token_id', { type: T.INT32, value: -1 }],
      ['tokenizer.ggml.add_bos_token', { type: T.UINT8, value: 1 }],
      ['tokenizer.ggml.scores', { type: T.ARRAY, itemType: T.STRING, value: ['a'] }],
      ['tokenizer.ggml.tokens', { type: T.ARRAY, itemType: T.INT32, value: new Int32Array(512) }],
      ['tokenizer.chat_template', { type: T.BOOL, value: true }],
    ];
    for (const [key, v] of cases) {
      const b = await setMeta(key, v);
      await failure(resolve(b), b, 'BAD_FORMAT', new RegExp(`'${key.replace(/\./g, '\\.')}'`));
    }
  });

  it('loadModel reports the same errors with the input named, and still loads the fixture', async () => {
    const b = await setMeta('llama.block_count', { type: T.UINT32, value: 1e6 });
    await failure(loadModel(b), b, 'MISSING_TENSOR', /llama\.block_count/);
    const c = await setMeta('general.architecture', { type: T.STRING, value: '__proto__' });
    await failure(loadModel(c), c, 'UNKNOWN_ARCHITECTURE', /'__proto__'/);
    const m = await loadModel(LLAMA);
    expect(m.info.layers).toBe(2);
    m.dispose();
  });
});

// --- mutation sweep --------------------------------------------------------------------------

/** A field of the file: where it is, how wide, what it is. */
interface Field { at: number; size: 4 | 8; kind: 'count' | 'len' | 'type' | 'ndims' | 'dim' | 'offset' | 'u32value' | 'f32value' }

/** The fields of a GGUF file, by walking it (the file is known to be valid). */
function fields(b: Uint8Array): { fields: Field[]; headerEnd: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Field[] = [];
  let p = 8;
  const u64 = (kind: Field['kind']) => { out.push({ at: p, size: 8, kind }); const v = Number(dv.getBigUint64(p, true)); p += 8; return v; };
  const u32 = (kind: Field['kind']) => { out.push({ at: p, size: 4, kind }); const v = dv.getUint32(p, true); p += 4; return v; };
  const str = () => { const n = u64('len'); p += n; };
  const SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
  const value = (t: number): void => {
    if (t === T.STRING) return str();
    if (t === T.ARRAY) {
      const it = u32('type');
      const n = u64('count');
      if (it === T.STRING) for (let i = 0; i < n; i++) str();
      else p += n * SIZES[it]!;
      return;
    }
    if (t === T.UINT32) return void u32('u32value');
    if (t === T.FLOAT32) return void u32('f32value');
    p += SIZES[t]!;
  };
  const nTensors = u64('count');
  const nKv = u64('count');
  for (let i = 0; i < nKv; i++) { str(); value(u32('type')); }
  for (let i = 0; i < nTensors; i++) {
    str();
    const nd = u32('ndims');
    for (let d = 0; d < nd; d++) u64('dim');
    u32('type');
    u64('offset');
  }
  return { fields: out, headerEnd: p };
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}

/** A small seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('seeded mutation sweep over llama.gguf', BOUND, () => {
  const { fields: F, headerEnd } = fields(LLAMA);
  const random = rng(18);
  const survivors: Uint8Array[] = [];
  const outcomes = new Map<string, number>();

  /** Run one mutant: a WasmlmError naming the input, or success (kept for a real load). */
  async function run(b: Uint8Array): Promise<void> {
    const e = await failure(resolve(b), b);
    if (e) outcomes.set(e.code, (outcomes.get(e.code) ?? 0) + 1);
    else survivors.push(b);
  }

  it('truncated inside every field of the header and tensor index, and in the data', async () => {
    // string-array items are thousands of fields alike: every 37th of them is enough
    const cuts = new Set<number>([0, 3, 4, 7, headerEnd, LLAMA.length - 1]);
    F.forEach((f, i) => { if (f.kind !== 'len' || i % 37 === 0) { cuts.add(f.at); cuts.add(f.at + f.size - 1); } });
    for (const cut of cuts) {
      const b = LLAMA.slice(0, cut);
      await failure(resolve(b), b, 'TRUNCATED');
    }
  });

  it('from a stream of unknown size, a huge length or count ends with the bytes (nothing allocated for it)', async () => {
    const stream = (b: Uint8Array) => new ReadableStream<Uint8Array>({
      start(c) { for (let i = 0; i < b.length; i += 65536) c.enqueue(b.slice(i, i + 65536)); c.close(); },
    });
    for (const f of F.filter((x) => x.kind === 'len' || x.kind === 'count').filter((_x, i) => i % 97 === 0)) {
      const b = LLAMA.slice();
      new DataView(b.buffer).setBigUint64(f.at, f.kind === 'len' ? (1n << 31n) - 1n : 1n << 24n, true);
      const s = stream(b);
      const e = await failure(readGGUF(s).then(() => 'read'), s);
      expect(e, `${f.kind} at ${f.at}`).toBeInstanceOf(WasmlmError);
      if (f.kind === 'len') expect(e!.code).toBe('TRUNCATED');
    }
  });

  it('every metadata key missing in turn; a key or a tensor name twice', async () => {
    const h = await readGGUF(LLAMA);
    for (const key of h.metadata.keys()) await run(await rewrite((m) => { m.delete(key); }));
    // the writer refuses to write a name twice: rename in place to a name of the same length
    const renamed = (from: string, to: string) => {
      const b = LLAMA.slice();
      const enc = new TextEncoder();
      const at = indexOf(b, enc.encode(from));
      b.set(enc.encode(to), at);
      return b;
    };
    const twiceKey = renamed('tokenizer.ggml.eos_token_id', 'tokenizer.ggml.bos_token_id');
    await failure(resolve(twiceKey), twiceKey, 'BAD_FORMAT', /'tokenizer\.ggml\.bos_token_id' appears twice/);
    const twiceTensor = renamed('blk.0.attn_k.weight', 'blk.0.attn_q.weight');
    await failure(resolve(twiceTensor), twiceTensor, 'BAD_FORMAT', /'blk\.0\.attn_q\.weight' appears twice/);
  });

  it('huge, zero and odd counts, lengths, types, dims and offsets', async () => {
    const values: Record<Field['kind'], bigint[]> = {
      count: [0n, 1n << 24n, (1n << 53n) - 1n, (1n << 64n) - 1n],
      len: [0n, 1n << 32n, (1n << 53n) - 1n, (1n << 64n) - 1n],
      type: [13n, 0xffffffffn],
      ndims: [0n, 5n, 0xffffffffn],
      dim: [0n, 3n, 1n << 40n, (1n << 63n) + 1n],
      offset: [1n, 32n, (1n << 53n) - 32n, (1n << 64n) - 1n],
      u32value: [0n, 1n, 1000000n, 0xffffffffn],
      f32value: [0n, 0xbf800000n /* -1 */, 0x7f800000n /* inf */, 0x7fc00000n /* NaN */, 1n /* 1e-45 */],
    };
    for (let i = 0; i < F.length; i++) {
      const f = F[i]!;
      if (f.kind === 'len' && i % 37 !== 0) continue;
      for (const v of values[f.kind]) {
        const b = LLAMA.slice();
        const dv = new DataView(b.buffer);
        if (f.size === 8) dv.setBigUint64(f.at, v, true);
        else dv.setUint32(f.at, Number(v), true);
        await run(b);
      }
    }
  });

  it('flipped bytes (three quarters of them in the header)', async () => {
    for (let i = 0; i < 600; i++) {
      const b = LLAMA.slice();
      const n = 1 + Math.floor(random() * 3);
      for (let k = 0; k < n; k++) {
        const at = random() < 0.75 ? Math.floor(random() * headerEnd) : Math.floor(random() * b.length);
        b[at]! ^= 1 + Math.floor(random() * 255);
      }
      await run(b);
    }
  });

  it('the mutants that pass every check load and run (a sample), or fail with a WasmlmError', async () => {
    console.log(`mutation outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}, ${survivors.length} accepted`);
    expect(outcomes.size).toBeGreaterThan(3);
    for (let i = 0; i < survivors.length; i += Math.max(1, Math.floor(survivors.length / 8))) {
      const b = survivors[i]!;
      const m = await loadModel(b, { contextLength: 16 }).catch((e: unknown) => e);
      if (m instanceof WasmlmError) continue;
      expect(m, String(m)).toHaveProperty('dispose');
      const model = m as Awaited<ReturnType<typeof loadModel>>;
      try {
        await model.complete([1, 2], { maxTokens: 2, temperature: 0 }).catch((e: unknown) => {
          expect(e).toBeInstanceOf(WasmlmError);
        });
      } finally {
        model.dispose();
      }
    }
  });
});
