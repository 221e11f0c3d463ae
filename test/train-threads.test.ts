/**
 * Training on the engine's threads and in bounded memory: the plans of test/train.test.ts run on 2 and 3
 * threads (every op split, timing shaken), and their gradients equal one thread's bit for bit (each unit of
 * every op is computed by one thread with the same code: the splits are over output rows, never over a
 * reduction); the PyTorch + PEFT parity holds there too. Memory: the engine's one training workspace,
 * reused by every step and every trainer.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, type LoadOptions } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';
import { trainMemory } from '../src/train/plan.js';

interface Ref {
  input_ids: number[][]; loss_mask: number[][]; loss: number;
  adapter: { r: number; lora_alpha: number; use_rslora: boolean };
  tensors: Record<string, { init: number[]; grad: number[] }>;
}
const ref = JSON.parse(readFileSync(fixture('peft/llama-lora.train.json'), 'utf8')) as Ref;
const TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
const batch = { tokens: ref.input_ids, mask: ref.loss_mask };
/** every op split into many chunks, the threads' timing shaken (see test/threads.test.ts) */
const SPLIT_ALL = { minSplit: 0, chunks: 16, jitter: 20000, oversubscribe: true };

/** deterministic values in [−0.1, 0.1) */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * 0.1;
  });
}

const engineOf = (model: object) => (model as { engine: { threads: number; memoryBytes: number } }).engine;

/** loss and gradients of a seeded adapter (B non-zero) over a fixed batch of 2 sequences */
async function gradientsOf(name: string, options: LoadOptions) {
  const model = await loadModel(fixture(`models/${name}.gguf`), options);
  const adapter = model.createAdapter({ rank: 4, alpha: 8, targets: [...TARGETS], seed: 3 });
  for (const [k, v] of adapter.tensors()) if (k.endsWith('.lora_b')) v.set(rand(v.length, k.length));
  const V = model.info.vocabSize;
  const tokens = [Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % V), Array.from({ length: 23 }, (_, i) => (i * 53 + 5) % V)];
  const mask = tokens.map((s) => s.map((_, p) => (p >= 4 && p + 1 < s.length ? 1 : 0)));
  const out = await model.trainer(adapter, { learningRate: 1e-3 }).gradients({ tokens, mask });
  const threads = engineOf(model).threads;
  model.dispose();
  return { ...out, threads };
}

describe('training on threads', () => {
  it('llama-lora at 2 threads: the loss and every gradient match PyTorch + PEFT and equal 1 thread bit for bit', async () => {
    const run = async (threads: number) => {
      const model = await loadModel(fixture('models/llama.gguf'), { threads, threadTuning: SPLIT_ALL });
      expect(engineOf(model).threads).toBe(threads);
      const adapter = model.createAdapter({
        rank: ref.adapter.r, alpha: ref.adapter.lora_alpha, rslora: ref.adapter.use_rslora, targets: [...TARGETS],
        init: Object.fromEntries(Object.entries(ref.tensors).map(([k, t]) => [k, t.init])),
      });
      const out = await model.trainer(adapter, { learningRate: 1e-3 }).gradients(batch);
      model.dispose();
      return out;
    };
    const one = await run(1), two = await run(2);
    expect(Math.abs(two.loss - ref.loss) / ref.loss).toBeLessThanOrEqual(1e-4);
    for (const [name, t] of Object.entries(ref.tensors)) {
      const g = two.gradients.get(name)!;
      let d = 0, m = 0;
      t.grad.forEach((x, i) => { d = Math.max(d, Math.abs(g[i]! - x)); m = Math.max(m, Math.abs(x)); });
      expect(d, name).toBeLessThanOrEqual(1e-4 * m + 1e-6);
      expect(Buffer.from(g.buffer).equals(Buffer.from(one.gradients.get(name)!.buffer)), name).toBe(true);
    }
    expect(two.loss).toBe(one.loss);
  });

  // quantized weights: OP_MATMUL_DQ / OP_MATMUL_T dequantize rows into each thread's own scratch
  it.each(['llama_q4_0', 'llama256_q4_k', 'llama256'])('%s: gradients at 2 and 3 threads equal 1 thread bit for bit', async (name) => {
    const one = await gradientsOf(name, { threads: 1 });
    for (const threads of [2, 3]) {
      const many = await gradientsOf(name, { threads, threadTuning: SPLIT_ALL });
      expect(many.threads).toBe(threads);
      expect(many.loss).toBe(one.loss);
      for (const [k, g] of one.gradients) expect(Buffer.from(many.gradients.get(k)!.buffer).equals(Buffer.from(g.buffer)), `${k} at ${threads} threads`).toBe(true);
    }
  });
});

describe('training memory', () => {
  it('20 steps and new trainers reuse one workspace: the engine memory does not grow, and trainers sharing it do not disturb each other', async () => {
    const model = await loadModel(fixture('models/llama.gguf'), { threads: 2, threadTuning: SPLIT_ALL });
    const make = (seed: number) => model.createAdapter({ rank: 4, alpha: 8, targets: [...TARGETS], seed });
    const trainer = model.trainer(make(1), { learningRate: 1e-3 });
    await trainer.step(batch);
    const bytes = engineOf(model).memoryBytes;
    const losses: number[] = [];
    for (let s = 0; s < 20; s++) losses.push((await trainer.step(batch)).loss);
    expect(engineOf(model).memoryBytes).toBe(bytes);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    // another trainer (another adapter, other targets) in between: no growth, and the first's gradients unchanged
    const before = await trainer.gradients(batch);
    const other = model.trainer(model.createAdapter({ rank: 8, alpha: 8, targets: ['attn_q', 'ffn_down'], seed: 2 }), { learningRate: 1e-3 });
    for (let s = 0; s < 3; s++) await other.step({ tokens: [ref.input_ids[0]!.slice(0, 10)] });
    const after = await trainer.gradients(batch);
    expect(after.loss).toBe(before.loss);
    for (const [k, g] of before.gradients) expect(Array.from(after.gradients.get(k)!), k).toEqual(Array.from(g));
    expect(engineOf(model).memoryBytes).toBe(bytes);
    model.dispose();
  });
});

describe('activations kept or recomputed (checkpointing)', () => {
  it('the same gradients, bit for bit, whether every layer, some or none is recomputed before its backward', async () => {
    const saved = trainMemory.keepActivationBytes;
    try {
      const results = [];
      // none kept (both layers recomputed), one layer's worth (llama_q4_0 at 40 tokens: ~87 kB a kept layer; the last kept), all
      for (const bytes of [0, 100_000, 1 << 30]) {
        trainMemory.keepActivationBytes = bytes;
        results.push(await gradientsOf('llama_q4_0', { threads: 2, threadTuning: SPLIT_ALL }));
      }
      for (const r of results.slice(1)) {
        expect(r.loss).toBe(results[0]!.loss);
        for (const [k, g] of results[0]!.gradients) expect(Buffer.from(r.gradients.get(k)!.buffer).equals(Buffer.from(g.buffer)), k).toBe(true);
      }
    } finally {
      trainMemory.keepActivationBytes = saved;
    }
  });
});
