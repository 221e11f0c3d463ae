/**
 * The sharded engine (issue 17): a model split by layers over several wasm memories (forced on the fixtures
 * with a small `maxShardBytes`) computes exactly what the unsharded engine computes: every fixture's logits
 * of every position, and its greedy tokens, bit for bit, batched and token by token, on 1 and 2 threads;
 * sessions saved by one restore in the other; context shift, KV types, LoRA adapters, MoE and sliding windows
 * sharded; the errors (a layer alone over the limit, a bad maxShardBytes, training a sharded model).
 */
import { createReadStream, readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Engine, KvCache } from '../src/engine/engine.js';
import { loadModel, WasmlmError, type LoadOptions, type Model } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const engineOf = (m: Model) => (m as unknown as { core: { engine: Engine } }).core.engine;
const cacheOf = (s: object) => (s as { cache: KvCache }).cache;

const FILES = [
  ...readdirSync(fixture('models')).filter((f) => f.endsWith('.gguf') && !f.includes('.lora')).map((f) => 'models/' + f),
  ...readdirSync(fixture('set3')).filter((f) => f.endsWith('.gguf')).map((f) => 'set3/' + f),
];
const CONFIGS: [string, LoadOptions][] = [
  ['batch, 1 thread', { threads: 1 }],
  ['token by token, 1 thread', { threads: 1, batchSize: 1 }],
  ['batch, 2 threads', { threads: 2, threadTuning: { oversubscribe: true, minSplit: 0 } }],
  ['batches of 3, 2 threads', { threads: 2, batchSize: 3, threadTuning: { oversubscribe: true, minSplit: 0 } }],
];

const tokens = (n: number, vocab: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % (vocab - 3) + 3);

const bits = (rows: Float32Array[]) => {
  const out = new Uint8Array(rows.reduce((n, r) => n + r.byteLength, 0));
  let at = 0;
  for (const r of rows) { out.set(new Uint8Array(r.buffer, r.byteOffset, r.byteLength), at); at += r.byteLength; }
  return out;
};

const codeOf = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(WasmlmError);
    return (e as WasmlmError).code;
  }
  return 'no error';
};

/**
 * The model loaded sharded: the smallest `maxShardBytes` of a few fractions of the unsharded memory (most
 * shards) that loads; at least 2 shards.
 */
async function sharded(file: string, options: LoadOptions, unshardedBytes: number): Promise<Model> {
  for (const f of [0.35, 0.5, 0.65, 0.8]) {
    try {
      const m = await loadModel(file, { ...options, maxShardBytes: Math.ceil(unshardedBytes * f) });
      expect(m.info.shards).toBeGreaterThanOrEqual(2);
      return m;
    } catch (e) {
      if ((e as WasmlmError).code !== 'TOO_LARGE') throw e;
    }
  }
  throw new Error(`${file}: no maxShardBytes below its memory loads it sharded`);
}

/** Logits of every position of `toks`, and 6 greedy tokens after them. */
async function run(m: Model, toks: number[]) {
  const logits = bits(await m.logits(toks));
  const r = await m.complete(toks, { temperature: 0, maxTokens: 6, ignoreEos: true });
  return { logits, tokens: r.tokens };
}

describe('sharded == unsharded, bit for bit', () => {
  it.each(FILES)('%s', async (rel) => {
    for (const [name, options] of CONFIGS) {
      const one = await loadModel(fixture(rel), options);
      const many = await sharded(fixture(rel), options, one.info.memoryBytes);
      try {
        expect(one.info.shards).toBe(1);
        expect(many.info.threads).toBe(one.info.threads);
        const toks = tokens(11, one.info.vocabSize);
        const [a, b] = [await run(one, toks), await run(many, toks)];
        expect(b.tokens, `${rel}, ${name}, ${many.info.shards} shards`).toEqual(a.tokens);
        expect(Buffer.compare(Buffer.from(b.logits), Buffer.from(a.logits)), `${rel}, ${name}, ${many.info.shards} shards`).toBe(0);
      } finally {
        one.dispose();
        many.dispose();
      }
    }
  }, 120_000);
});

describe('sharded models', () => {
  const file = fixture('models/llama.gguf');

  it('split as asked: 4 memories for 2 layers (embeddings, each layer, the head), in info and memoryBytes', async () => {
    const one = await loadModel(file, { threads: 1 });
    const m = await loadModel(file, { threads: 1, maxShardBytes: Math.ceil(one.info.memoryBytes / 2) });
    try {
      expect(m.info.shards).toBe(4);
      expect(m.info.memoryBytes).toBeGreaterThan(one.info.memoryBytes);
      const limit = Math.ceil(one.info.memoryBytes / 2);
      // every memory within the limit at load
      const mems = (engineOf(m) as unknown as { shards: { views: { memory: WebAssembly.Memory } }[] }).shards;
      for (const s of mems) expect(s.views.memory.buffer.byteLength).toBeLessThanOrEqual(Math.ceil(limit / 65536) * 65536);
    } finally {
      one.dispose();
      m.dispose();
    }
  });

  it('sessions saved sharded restore unsharded and back: the same bytes, the same continuation', async () => {
    for (const [rel, kvType] of [['models/llama.gguf', 'q8_0'], ['models/phi3_swa.gguf', 'f16'], ['set3/gemma2.gguf', 'f32']] as const) {
      const one = await loadModel(fixture(rel), { threads: 1, kvType });
      const many = await sharded(fixture(rel), { threads: 1, kvType }, one.info.memoryBytes);
      try {
        const toks = tokens(9, one.info.vocabSize);
        const [sa, sb] = [one.createSession(), many.createSession()];
        await sa.logits(toks);
        await sb.logits(toks);
        const [bytesA, bytesB] = [await sa.save(), await sb.save()];
        expect(Buffer.compare(Buffer.from(bytesB), Buffer.from(bytesA)), rel).toBe(0);
        // crossed: restored in the other engine, the next logits equal the saving engine's own
        const [ra, rb] = [await one.restoreSession(bytesB), await many.restoreSession(bytesA)];
        const next = [5, 9];
        const want = bits(await sa.logits([...toks, ...next]));
        expect(Buffer.compare(Buffer.from(bits(await ra.logits([...toks, ...next]))), Buffer.from(want)), rel).toBe(0);
        expect(Buffer.compare(Buffer.from(bits(await rb.logits([...toks, ...next]))), Buffer.from(want)), rel).toBe(0);
        for (const s of [sa, sb, ra, rb]) s.dispose();
      } finally {
        one.dispose();
        many.dispose();
      }
    }
  });

  it('context shift over the shards equals the unsharded shift (f32 and q8_0 caches)', async () => {
    for (const kvType of ['f32', 'q8_0'] as const) {
      const one = await loadModel(file, { threads: 1, kvType });
      const many = await sharded(file, { threads: 1, kvType }, one.info.memoryBytes);
      try {
        const toks = tokens(30, one.info.vocabSize);
        const out = [one, many].map((m) => {
          const e = engineOf(m);
          const s = m.createSession();
          const c = cacheOf(s);
          e.evaluate(toks, 'last', undefined, c);
          expect(e.shift(c, 4, 17)).toEqual([...toks.slice(0, 4), ...toks.slice(21)]);
          const r = bits([e.evaluate([7, 8], 'last', undefined, c).slice()]);
          const saved = e.readRows(c);
          s.dispose();
          return { r, saved };
        });
        expect(Buffer.compare(Buffer.from(out[1]!.r), Buffer.from(out[0]!.r)), kvType).toBe(0);
        out[0]!.saved.layers.forEach((l, i) => expect(Buffer.compare(Buffer.from(out[1]!.saved.layers[i]!), Buffer.from(l))).toBe(0));
      } finally {
        one.dispose();
        many.dispose();
      }
    }
  });

  it('batched decoding of several sessions, sharded, equals their solo runs unsharded (mixed cache types)', async () => {
    const one = await loadModel(file, { threads: 1 });
    const many = await sharded(file, { threads: 1 }, one.info.memoryBytes);
    try {
      const prompts = [tokens(5, one.info.vocabSize), tokens(8, one.info.vocabSize).reverse(), [3, 4, 5]];
      const types = ['f32', 'f16', 'q8_0'] as const;
      const solo: number[][] = [];
      for (const [i, p] of prompts.entries()) {
        const s = one.createSession({ kvType: types[i] });
        solo.push((await s.complete(p, { temperature: 0, maxTokens: 6, ignoreEos: true })).tokens);
        s.dispose();
      }
      const sessions = prompts.map((_, i) => many.createSession({ kvType: types[i] }));
      const together = await Promise.all(sessions.map((s, i) => s.complete(prompts[i]!, { temperature: 0, maxTokens: 6, ignoreEos: true })));
      expect(together.map((r) => r.tokens)).toEqual(solo);
      for (const s of sessions) s.dispose();
    } finally {
      one.dispose();
      many.dispose();
    }
  });

  it('LoRA adapters (GGUF and PEFT), each pair in its layer\'s shard: the same logits; scale and remove', async () => {
    for (const adapter of ['models/llama.lora.gguf', 'peft/llama-lora.gguf']) {
      const one = await loadModel(file, { threads: 1 });
      const many = await sharded(file, { threads: 1 }, one.info.memoryBytes);
      try {
        const toks = tokens(7, one.info.vocabSize);
        const base = bits(await one.logits(toks));
        const [aa, ab] = [await one.loadAdapter(fixture(adapter), { scale: 0.5 }), await many.loadAdapter(fixture(adapter), { scale: 0.5 })];
        const la = bits(await one.logits(toks));
        expect(Buffer.compare(Buffer.from(la), Buffer.from(base))).not.toBe(0);
        expect(Buffer.compare(Buffer.from(bits(await many.logits(toks))), Buffer.from(la)), adapter).toBe(0);
        aa.setScale(1);
        ab.setScale(1);
        expect(Buffer.compare(Buffer.from(bits(await many.logits(toks))), Buffer.from(bits(await one.logits(toks)))), adapter).toBe(0);
        ab.remove();
        expect(Buffer.compare(Buffer.from(bits(await many.logits(toks))), Buffer.from(base)), adapter).toBe(0);
      } finally {
        one.dispose();
        many.dispose();
      }
    }
  });

  it('streams: loaded sharded from a Node stream and a web stream, the same logits', async () => {
    const one = await loadModel(file, { threads: 1 });
    try {
      const toks = tokens(6, one.info.vocabSize);
      const want = bits(await one.logits(toks));
      const maxShardBytes = Math.ceil(one.info.memoryBytes / 2);
      for (const source of [createReadStream(file, { highWaterMark: 4096 }), Readable.toWeb(createReadStream(file))]) {
        const m = await loadModel(source as never, { threads: 1, maxShardBytes });
        expect(m.info.shards).toBe(4);
        expect(Buffer.compare(Buffer.from(bits(await m.logits(toks))), Buffer.from(want))).toBe(0);
        m.dispose();
      }
    } finally {
      one.dispose();
    }
  });

  it('errors: a layer alone over maxShardBytes, a bad maxShardBytes, training a sharded model', async () => {
    const one = await loadModel(file, { threads: 1 });
    const mem = one.info.memoryBytes;
    try {
      const e = await loadModel(file, { threads: 1, maxShardBytes: Math.ceil(mem / 4) }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(WasmlmError);
      expect((e as WasmlmError).code).toBe('TOO_LARGE');
      expect((e as WasmlmError).message).toMatch(/layer 0 alone needs [\d.]+ MiB .* more than maxShardBytes/);
      for (const bad of [0, -1, 1.5, 2 ** 32 + 1, '1000' as unknown as number]) {
        expect(await codeOf(() => loadModel(file, { threads: 1, maxShardBytes: bad }))).toBe('BAD_ARGUMENT');
      }
      const m = await loadModel(file, { threads: 1, maxShardBytes: Math.ceil(mem / 2) });
      try {
        const adapter = m.createAdapter({ rank: 2, alpha: 4, targets: ['attn_q'] });
        expect(await codeOf(() => m.trainer(adapter, { learningRate: 1e-3 }))).toBe('NOT_SUPPORTED');
      } finally {
        m.dispose();
      }
    } finally {
      one.dispose();
    }
  });
});
