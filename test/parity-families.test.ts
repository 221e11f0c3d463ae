/** Every model family, DeepNorm and LayerScale against the reference logits (../shared/fixtures/models). */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { expectGreedy, expectLogitsClose, expected, fixture, toleranceFor } from './helpers/fixtures.js';

const MODELS: Array<[name: string, family: string]> = [
  ['llama_moe', 'llama'], ['qwen2', 'qwen2'], ['phi2', 'phi2'], ['phi3', 'phi3'], ['phi3_swa', 'phi3'],
  ['falcon', 'falcon'], ['bloom', 'bloom'], ['bloom_6head', 'bloom'], ['gpt2', 'gpt2'], ['gemma', 'gemma'],
  ['stablelm', 'stablelm'], ['deepnorm', 'llama'], ['layerscale', 'llama'],
];

describe.each(MODELS)('%s', (name, family) => {
  const file = fixture(`models/${name}.gguf`);
  const exp = expected(name);
  const tol = toleranceFor(name);

  it(`is read as family ${family}`, async () => {
    const model = await loadModel(file);
    expect(model.info.family).toBe(family);
  });

  it('logits at every prompt position (one batch)', async () => {
    const model = await loadModel(file);
    expectLogitsClose(await model.logits(exp.tokens), exp, tol);
  });

  it('greedy ids through the KV cache (model.generate)', async () => {
    const model = await loadModel(file);
    const ids: number[] = [];
    const it = model.generate(exp.tokens, { temperature: 0, maxTokens: exp.greedy.length, ignoreEos: true });
    let step = await it.next();
    while (!step.done) step = await it.next();
    ids.push(...step.value.tokens);
    expectGreedy(ids, exp, tol);
  });

  it('one token at a time agrees with the batch', async () => {
    const batch = await (await loadModel(file)).logits(exp.tokens);
    const single = await (await loadModel(file, { batchSize: 1 })).logits(exp.tokens);
    let worst = 0;
    for (let p = 0; p < batch.length; p++) {
      for (let i = 0; i < batch[p]!.length; i++) worst = Math.max(worst, Math.abs(batch[p]![i]! - single[p]![i]!));
    }
    expect(worst).toBeLessThanOrEqual(1.1e-4);
  });
});

describe('model.info', () => {
  it('says what the file is', async () => {
    const phi2 = await loadModel(fixture('models/phi2.gguf'));
    expect(phi2.info).toMatchObject({
      family: 'phi2', layers: 2, heads: 4, kvHeads: 4, headSize: 16, contextLength: 128, residual: 'parallel',
      positions: { kind: 'rope', nRot: 6, mode: 'neox', base: 10000 },
    });
    expect(phi2.info.weightTypes.F32!.share).toBe(1);
    const gemma = await loadModel(fixture('models/gemma.gguf'));
    expect(gemma.info).toMatchObject({ headSize: 32, kvHeads: 1, tiedOutput: true });
    const bloom = await loadModel(fixture('models/bloom.gguf'));
    expect(bloom.info.positions).toEqual({ kind: 'alibi', maxBias: 8 });
    const moe = await loadModel(fixture('models/llama_moe.gguf'));
    expect(moe.info.experts).toEqual({ count: 4, used: 2 });
    const q4km = await loadModel(fixture('models/llama256_q4_k_m.gguf')).catch(() => undefined);
    if (q4km) {
      const shares = Object.values(q4km.info.weightTypes).reduce((a, t) => a + t.share, 0);
      expect(shares).toBeCloseTo(1, 10);
    }
  });
});
