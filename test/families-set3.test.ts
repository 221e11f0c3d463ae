/**
 * The 2025 families against ../shared/fixtures/set3 (tiny random-weight models as llama.cpp's converter writes
 * them; reference: transformers float32): qwen3 (per-head q/k RMSNorm, head size ≠ n_embd/n_head), qwen3moe
 * (softmax router, top-2 renormalised), gemma2 (sandwich norms, attention and final soft-caps, sliding window on
 * even layers), gemma3 (q/k norms, 5 local : 1 global layers, local RoPE base), and the set's llama file. The
 * tolerances are the set's README's; each fixture lists how far each feature moves the logits
 * (sensitivity_max_abs_logit), above the tolerance, so leaving one out fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../src/index.js';
import { expectGreedy, expectLogitsClose, fixture, type Expected } from './helpers/fixtures.js';

interface Set3Expected extends Expected {
  prompt_text: string;
  tolerance_max_abs_logit: number;
  sensitivity_max_abs_logit: Record<string, number>;
}

// name, family, the README's max |Δlogit|
const MODELS: Array<[name: string, family: string, tol: number]> = [
  ['qwen3', 'qwen3', 1e-3], ['qwen3moe', 'qwen3moe', 1e-3], ['gemma2', 'gemma2', 3e-3], ['gemma3', 'gemma3', 3e-3],
  ['llama', 'llama', 1e-3],
];

const file = (name: string) => fixture(`set3/${name}.gguf`);
const expectedOf = (name: string) => JSON.parse(readFileSync(fixture(`set3/${name}.expected.json`), 'utf8')) as Set3Expected;
// threads.test.ts's split: every op cut between the threads, even in these tiny models
const SPLIT_ALL = { minSplit: 0, chunks: 16, jitter: 20000, oversubscribe: true };

async function greedy(model: Model, tokens: number[], n: number): Promise<number[]> {
  return (await model.complete(tokens, { temperature: 0, maxTokens: n, ignoreEos: true })).tokens;
}

/** Whether two sets of logit rows are identical bit for bit. */
function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((row, p) => row.every((v, i) => Object.is(v, b[p]![i])));
}

describe.each(MODELS)('set3 %s', (name, family, tol) => {
  const exp = expectedOf(name);

  it(`is read as family ${family}, and its fixture's checks can fail`, async () => {
    const model = await loadModel(file(name));
    expect(model.info.family).toBe(family);
    expect(exp.tolerance_max_abs_logit).toBe(tol);
    // every feature the fixture lists moves the logits by more than the tolerance (the GELU table aside)
    for (const [feature, delta] of Object.entries(exp.sensitivity_max_abs_logit)) {
      if (feature !== 'llama_cpp_fp16_gelu_table') expect(delta, feature).toBeGreaterThan(tol);
    }
    model.dispose();
  });

  it('logits at every prompt position (one batch), within the README tolerance', async () => {
    const model = await loadModel(file(name));
    expectLogitsClose(await model.logits(exp.tokens), exp, { kind: 'abs', max: tol });
    model.dispose();
  });

  it('greedy ids through the KV cache identical; from the prompt text too (the file\'s tokenizer, no BOS)', async () => {
    const model = await loadModel(file(name));
    expectGreedy(await greedy(model, exp.tokens, exp.greedy.length), exp, { kind: 'abs', max: tol });
    const fromText = await model.complete(exp.prompt_text, { temperature: 0, maxTokens: exp.greedy.length, ignoreEos: true });
    expect(fromText.tokens).toEqual(exp.greedy);
    expect(fromText.text).toBe(exp.greedy_text);
    model.dispose();
  });

  it('one token at a time agrees with the batch; 2 threads give the bits of 1', async () => {
    const one = await loadModel(file(name), { threads: 1 });
    const single = await loadModel(file(name), { threads: 1, batchSize: 1 });
    const two = await loadModel(file(name), { threads: 2, threadTuning: SPLIT_ALL });
    const twoBatches3 = await loadModel(file(name), { threads: 2, batchSize: 3, threadTuning: SPLIT_ALL });
    const oneBatches3 = await loadModel(file(name), { threads: 1, batchSize: 3 });
    try {
      const batch = await one.logits(exp.tokens);
      const byToken = await single.logits(exp.tokens);
      let worst = 0;
      for (let p = 0; p < batch.length; p++) {
        for (let i = 0; i < batch[p]!.length; i++) worst = Math.max(worst, Math.abs(batch[p]![i]! - byToken[p]![i]!));
      }
      expect(worst).toBeLessThanOrEqual(1.1e-4);
      expect(two.info.threads).toBe(2);
      expect(sameBits(await two.logits(exp.tokens), batch)).toBe(true);
      expect(sameBits(await twoBatches3.logits(exp.tokens), await oneBatches3.logits(exp.tokens))).toBe(true);
      expect(await greedy(twoBatches3, exp.tokens, 8)).toEqual(exp.greedy.slice(0, 8));
    } finally {
      for (const m of [one, single, two, twoBatches3, oneBatches3]) m.dispose();
    }
  });
});

describe('model.info of the new block options', () => {
  it('qwen3: per-head q/k norm, head size 32 ≠ 64/4, no soft-caps or windows', async () => {
    const m = await loadModel(file('qwen3'));
    expect(m.info).toMatchObject({ headSize: 32, heads: 4, kvHeads: 2, tiedOutput: false, slidingWindow: 0,
      positions: { kind: 'rope', mode: 'neox', base: 1e6, nRot: 32, scaling: 'none' } });
    expect(m.info.block).toEqual({ qkNorm: true, postNorms: false, attentionScale: 1 / Math.sqrt(32), attentionSoftcap: 0,
      finalSoftcap: 0, slidingLayers: [], localRopeBase: undefined });
    m.dispose();
  });

  it('qwen3moe: 4 experts, 2 used', async () => {
    const m = await loadModel(file('qwen3moe'));
    expect(m.info.experts).toEqual({ count: 4, used: 2 });
    expect(m.info.block.qkNorm).toBe(true);
    m.dispose();
  });

  it('gemma2: sandwich norms, soft-caps 50 and 30, window 4 on layers 0 and 2, RoPE base 10000', async () => {
    const m = await loadModel(file('gemma2'));
    expect(m.info).toMatchObject({ tiedOutput: true, slidingWindow: 4, positions: { base: 10000, mode: 'neox' } });
    expect(m.info.block).toEqual({ qkNorm: false, postNorms: true, attentionScale: 1 / Math.sqrt(32), attentionSoftcap: 50,
      finalSoftcap: 30, slidingLayers: [0, 2], localRopeBase: undefined });
    m.dispose();
  });

  it('gemma3: q/k norms, layers 0-4 local with RoPE base 10000, layer 5 global with 1e6, no soft-caps', async () => {
    const m = await loadModel(file('gemma3'));
    expect(m.info).toMatchObject({ slidingWindow: 4, positions: { base: 1e6 } });
    expect(m.info.block).toEqual({ qkNorm: true, postNorms: true, attentionScale: 1 / Math.sqrt(32), attentionSoftcap: 0,
      finalSoftcap: 0, slidingLayers: [0, 1, 2, 3, 4], localRopeBase: 10000 });
    m.dispose();
  });
});
