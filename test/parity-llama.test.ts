/** The LLaMA family against the reference engine's logits (../shared/fixtures/models). */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { expectGreedy, expectLogitsClose, expected, fixture, toleranceFor } from './helpers/fixtures.js';

const MODELS = ['llama', 'llama_f16', 'llama_q8_0', 'llama_q4_0', 'llama256', 'stories260K', 'stories260K.noprompt'];

describe.each(MODELS)('%s', (name) => {
  const file = fixture(`models/${name.replace('.noprompt', '')}.gguf`);
  const exp = expected(name);
  const tol = toleranceFor(name);

  it('logits at every prompt position (one batch)', async () => {
    const model = await loadModel(file);
    expectLogitsClose(await model.logits(exp.tokens), exp, tol);
  });

  it('logits at every prompt position, projected a few rows at a time (a logits buffer smaller than the batch)', async () => {
    const model = await loadModel(file, { logitRows: 3 });
    const got = await model.logits(exp.tokens);
    expect(got.length).toBe(exp.tokens.length);
    expectLogitsClose(got, exp, tol);
    // the same bits as one projection of the whole batch
    const whole = await (await loadModel(file)).logits(exp.tokens);
    for (let p = 0; p < whole.length; p++) expect(got[p], `position ${p}`).toEqual(whole[p]);
  });

  it('greedy ids through the KV cache', async () => {
    const model = await loadModel(file);
    const r = await model.complete(exp.tokens, { temperature: 0, maxTokens: exp.greedy.length, ignoreEos: true });
    expectGreedy(r.tokens, exp, tol);
    expect(r.finishReason).toBe('length');
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
