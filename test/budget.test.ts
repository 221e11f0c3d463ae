/**
 * The memory budget (src/engine/budget.ts): the estimate from the header against the wasm memory the engine
 * really allocates, on every fixture (so the estimate cannot drift from the layout), at each KV type, with
 * threads and a given context; loadModel's maxMemory check (OUT_OF_MEMORY by part, with what would fit, before
 * any allocation); the suggestions (largest context, q8_0, a smaller quantization) checked by loading them.
 * Needs build/ and dist/ (npm run build).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import { readGGUF } from '../src/formats/gguf.js';
import { resolveSpec } from '../src/models/index.js';
import { resolveAdapter } from '../src/models/lora.js';
import { kernelModule, sizingKernels } from '../src/engine/wasm.js';
import {
  checkBudget, estimateMemory, largestContext, memoryLimit, nodeMemory, quantizedSizes, type MemoryLimit,
} from '../src/engine/budget.js';
import type { KvType } from '../src/engine/options.js';
import { fixture } from './helpers/fixtures.js';

const PAGE = 65536;
const FILES = [
  ...readdirSync(fixture('models')).filter((f) => f.endsWith('.gguf') && !f.includes('.lora')).map((f) => 'models/' + f),
  ...readdirSync(fixture('set3')).filter((f) => f.endsWith('.gguf')).map((f) => 'set3/' + f),
];

async function header(rel: string) {
  const h = await readGGUF(new Uint8Array(readFileSync(fixture(rel))));
  return { h, ...resolveSpec(h) };
}
/** the engine's wasm memory now (it grows for adapters) */
const liveMemory = (model: unknown) => (model as { engine: { memoryBytes: number } }).engine.memoryBytes;
const sizing = async (threads = false) => sizingKernels(await kernelModule(undefined, threads));

describe('estimateMemory against the engine', () => {
  // the engine's memory is the layout's size rounded up to whole 64 KiB pages: the estimate is that size
  // (the same placement, planned in numbers) give or take the 64-byte alignment of each part
  it.each(FILES)('%s: the estimate is the allocated wasm memory (within one page), at f32, f16, q8_0', async (rel) => {
    const { spec, tensors } = await header(rel);
    for (const kvType of ['f32', 'f16', 'q8_0'] as KvType[]) {
      const model = await loadModel(fixture(rel), { kvType, threads: 1, maxMemory: Infinity });
      try {
        const est = estimateMemory(spec, tensors, await sizing(), { kvType, threads: 1 });
        expect(est.contextLength).toBe(model.info.contextLength);
        expect(est.kvCache).toBe(model.info.kvCacheBytes);
        expect(est.shards).toBe(1);
        const actual = model.info.memoryBytes;
        expect(est.total, `${rel} ${kvType}`).toBeLessThanOrEqual(actual);
        expect(est.total, `${rel} ${kvType}`).toBeGreaterThan(actual - PAGE);
      } finally {
        model.dispose();
      }
    }
  });

  it('with 2 threads, a given context and batch size (the per-thread scratch and the plan\'s sync lines)', async () => {
    for (const rel of ['models/llama.gguf', 'models/llama_moe.gguf', 'set3/gemma2.gguf']) {
      const { spec, tensors } = await header(rel);
      const model = await loadModel(fixture(rel), { threads: 2, contextLength: 100, batchSize: 7, maxMemory: Infinity });
      try {
        expect(model.info.threads).toBe(2);
        const est = estimateMemory(spec, tensors, await sizing(true), { threads: 2, contextLength: 100, batchSize: 7 });
        const one = estimateMemory(spec, tensors, await sizing(true), { threads: 1, contextLength: 100, batchSize: 7 });
        expect(est.threadScratch).toBe(2 * one.threadScratch);
        expect(est.total).toBeLessThanOrEqual(model.info.memoryBytes);
        expect(est.total).toBeGreaterThan(model.info.memoryBytes - PAGE);
      } finally {
        model.dispose();
      }
    }
  });

  it('LoRA adapters: the estimate with them is the memory after loadAdapter (one, then two; 1 and 2 threads)', async () => {
    const { spec, tensors } = await header('models/llama.gguf');
    const plans = await Promise.all(['models/llama.lora.gguf', 'peft/llama-lora.gguf'].map(async (f) =>
      resolveAdapter(await readGGUF(new Uint8Array(readFileSync(fixture(f)))), spec).pairs));
    for (const threads of [1, 2]) {
      const model = await loadModel(fixture('models/llama.gguf'), { threads, maxMemory: Infinity });
      try {
        const s = await sizing(threads > 1);
        const base = estimateMemory(spec, tensors, s, { threads });
        expect(base.adapters).toBe(0);
        for (let n = 1; n <= 2; n++) {
          await model.loadAdapter(fixture(n === 1 ? 'models/llama.lora.gguf' : 'peft/llama-lora.gguf'));
          const est = estimateMemory(spec, tensors, s, { threads, adapters: plans.slice(0, n) });
          expect(est.adapters).toBeGreaterThan(0);
          expect(est.total - est.adapters).toBe(base.total);
          const actual = liveMemory(model); // (model.info.memoryBytes is the size at load)
          expect(est.total, `${n} adapters, ${threads} threads`).toBeLessThanOrEqual(actual);
          expect(est.total, `${n} adapters, ${threads} threads`).toBeGreaterThan(actual - PAGE);
        }
      } finally {
        model.dispose();
      }
    }
  });

  it('a model over one memory is split by layers: shards and their buffers counted', async () => {
    const { spec, tensors } = await header('models/llama256_q4_k_m.gguf');
    const s = await sizing();
    const whole = estimateMemory(spec, tensors, s, { contextLength: 64 });
    expect(whole.shards).toBe(1);
    // a memory one byte short of the whole model: two, each with its buffers
    const fixed = whole.buffers + whole.threadScratch;
    expect(estimateMemory(spec, tensors, s, { contextLength: 64, maxShardBytes: whole.total }).shards).toBe(1);
    const est = estimateMemory(spec, tensors, s, { contextLength: 64, maxShardBytes: whole.total - 1 });
    expect(est.shards).toBe(2);
    expect(est.shardOverhead).toBe((est.shards - 1) * (whole.buffers + whole.threadScratch));
    expect(est.total).toBe(whole.total + est.shardOverhead);
    // the engine's own split: as many shards as loading makes, and its error for a part no memory holds
    for (const maxShardBytes of [whole.total - 1, Math.floor(whole.total * 0.7)]) {
      const model = await loadModel(fixture('models/llama256_q4_k_m.gguf'), { contextLength: 64, maxShardBytes, maxMemory: Infinity });
      try {
        expect(estimateMemory(spec, tensors, s, { contextLength: 64, maxShardBytes }).shards).toBe(model.info.shards);
      } finally {
        model.dispose();
      }
    }
    expect(() => estimateMemory(spec, tensors, s, { contextLength: 64, maxShardBytes: fixed + 4096 })).toThrow(/layer 0 alone needs [\d.]+ MiB/);
  });
});

describe('loadModel maxMemory', () => {
  const rel = 'models/llama256_q4_k_m.gguf';

  it('over budget: OUT_OF_MEMORY by part, what is available, and suggestions that do fit when loaded', async () => {
    const { spec, tensors } = await header(rel);
    const s = await sizing();
    const full = estimateMemory(spec, tensors, s, { threads: 1 });
    const budget = full.total - 1;
    const err = await loadModel(fixture(rel), { threads: 1, maxMemory: budget }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WasmlmError);
    const e = err as WasmlmError;
    expect(e.code).toBe('OUT_OF_MEMORY');
    expect(e.message).toContain(`maxMemory is ${(budget / 2 ** 20).toFixed(1)} MiB`);
    for (const part of ['weights', 'KV cache', `${full.contextLength} tokens, f16`, 'buffers', 'thread scratch']) expect(e.message).toContain(part);
    // the largest context that fits, loaded with that budget, takes no more than it
    const n = Number(/contextLength (\d+) with kvType 'f16'/.exec(e.message)?.[1]);
    expect(n).toBe(largestContext(spec, tensors, s, budget, { threads: 1 }));
    expect(n).toBeLessThan(full.contextLength);
    const fits = await loadModel(fixture(rel), { threads: 1, contextLength: n, maxMemory: budget });
    expect(fits.info.memoryBytes - PAGE).toBeLessThan(budget);
    fits.dispose();
    await expect(loadModel(fixture(rel), { threads: 1, contextLength: n + 1, maxMemory: budget })).rejects.toMatchObject({ code: 'OUT_OF_MEMORY' });
    // q8_0 holds the whole context in this budget
    expect(e.message).toMatch(new RegExp(`contextLength ${full.contextLength} with kvType 'q8_0'`));
    const q8 = await loadModel(fixture(rel), { threads: 1, kvType: 'q8_0', maxMemory: budget });
    expect(q8.info.contextLength).toBe(full.contextLength);
    q8.dispose();
  });

  it('a smaller quantization is suggested with its size (planQuantization\'s choice of types)', async () => {
    const { spec, tensors } = await header('models/llama256.gguf'); // F32 weights
    const s = await sizing();
    const est = estimateMemory(spec, tensors, s, { threads: 1, contextLength: 128 });
    const sizes = quantizedSizes(tensors, spec.arch, est.weights);
    expect(sizes.map((x) => x.type)).toEqual(['q8_0', 'q6_k', 'q5_k_m', 'q4_k_m', 'q4_0', 'q3_k', 'q2_k']);
    // against the real quantized fixture of the same weights (llama256_q4_k_m: the same tensors, llama.cpp's mix)
    const q4 = await header('models/llama256_q4_k_m.gguf');
    const q4est = estimateMemory(q4.spec, q4.tensors, s, { threads: 1, contextLength: 128 });
    expect(sizes.find((x) => x.type === 'q4_k_m')!.bytes).toBe(q4est.weights);
    // a budget between q4_k_m and q5_k_m at full context: suggests q4_k_m
    const budget = est.total - est.weights + (sizes.find((x) => x.type === 'q4_k_m')!.bytes + sizes.find((x) => x.type === 'q5_k_m')!.bytes) / 2;
    const msg = await checkBudget(spec, tensors, s, { threads: 1, contextLength: 128, maxMemory: budget }).then(() => '', (e: Error) => e.message);
    expect(msg).toMatch(/the model quantized to q4_k_m \(weights ~/);
  });

  it('a runtime with a hard limit (workerd: 128 MiB) refuses past it even with a larger maxMemory, naming its rule', async () => {
    const { spec, tensors } = await header(rel);
    const s = await sizing();
    const est = estimateMemory(spec, tensors, s, { threads: 1 });
    const tight: MemoryLimit = { bytes: est.total - PAGE, runtime: 'workerd', rule: 'workerd allows 128 MiB per isolate', hard: true };
    await expect(checkBudget(spec, tensors, s, { threads: 1, maxMemory: 2 ** 40 }, tight)).rejects.toThrow(/available \(workerd allows 128 MiB per isolate\)/);
    await expect(checkBudget(spec, tensors, s, { threads: 1 }, { ...tight, bytes: est.total })).resolves.toMatchObject({ total: est.total });
  });

  it('the default is what the runtime allows (Node: os.freemem()); maxMemory is checked; Infinity skips the check', async () => {
    const limit = await memoryLimit();
    expect(limit.runtime).toBe('node');
    expect(limit.rule).toMatch(/os\.freemem\(\)|constrainedMemory/);
    expect(limit.bytes).toBeGreaterThan(0);
    const G = 2 ** 30;
    expect(nodeMemory({ platform: 'linux', free: 5 * G, total: 16 * G })).toMatchObject({ bytes: 5 * G, rule: 'os.freemem()' });
    expect(nodeMemory({ platform: 'win32', free: 5 * G, total: 16 * G, cgroup: 0 })).toMatchObject({ bytes: 5 * G });
    expect(nodeMemory({ platform: 'darwin', free: 0.3 * G, total: 16 * G })).toMatchObject({ bytes: 12 * G, rule: '3/4 of os.totalmem() (macOS)' });
    expect(nodeMemory({ platform: 'linux', free: 5 * G, total: 16 * G, cgroup: 2 * G })).toMatchObject({ bytes: 2 * G, rule: expect.stringContaining('cgroup') });
    for (const bad of [0, -1, '1G', NaN]) {
      await expect(loadModel(fixture(rel), { maxMemory: bad as number })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('maxMemory') });
    }
  });
});
