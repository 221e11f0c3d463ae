/**
 * A fine-tuned adapter's GGUF in llama.cpp: node-llama-cpp 3.21.1 (bench/node_modules: `npm install --prefix
 * bench`; skipped when absent) loads the base model with the adapter (test/helpers/llamacpp-lora.mjs, a child
 * process); its next-token log-probabilities at every prompt position and its greedy tokens are compared with
 * wasmlm's with the adapter applied. The adapter must move the base's log-probabilities far more than the
 * tolerance, so that an adapter llama.cpp ignored (or scaled otherwise) fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel, type FinetuneOptions } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const present = existsSync(join(root, 'bench/node_modules/node-llama-cpp/package.json'));
const dir = mkdtempSync(join(tmpdir(), 'wasmlm-finetune-'));

function llamaCpp(model: string, adapter: string, tokens: number[], nVocab: number, nGreedy: number): { probs: number[][]; greedy: number[] } {
  const out = execFileSync(process.execPath, [join(root, 'test/helpers/llamacpp-lora.mjs'), model, adapter, JSON.stringify(tokens), String(nVocab), String(nGreedy)],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop()!) as { probs: number[][]; greedy: number[] };
}

function logSoftmax(row: Float32Array): number[] {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let z = 0;
  for (const x of row) z += Math.exp(x - max);
  const lz = Math.log(z) + max;
  return Array.from(row, (x) => x - lz);
}

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.map((r, i) => Math.max(...r.map((x, j) => Math.abs(x - b[i]![j]!)))));

const cases: [string, FinetuneOptions, number][] = [
  // file, options, log-probability tolerance (F32: the two engines' f32 rounding; Q8_0: also their rounding of activations to 8 bits)
  ['models/llama.gguf', { rank: 4, alpha: 8, learningRate: 5e-2, epochs: 5, targets: ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] }, 1e-3],
  ['models/llama.gguf', { rank: 8, alpha: 16, rslora: true, learningRate: 5e-2, epochs: 5, targets: ['attn_q', 'attn_v'] }, 1e-3],
  ['models/llama_q8_0.gguf', { rank: 8, learningRate: 5e-2, epochs: 5 }, 2e-2],
];

describe.skipIf(!present)('a fine-tuned adapter in llama.cpp (node-llama-cpp 3.21.1)', () => {
  const prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

  it.each(cases)('%s %o', async (file, options, tol) => {
    const model = await loadModel(fixture(file));
    const base = (await model.logits(prompt)).map(logSoftmax);
    const r = await model.finetune(['Once upon a time there was a frog', 'The frog sang a song to the moon', 'The moon sang back', 'They were happy'],
      { ...options, seed: 7 });
    const ours = (await model.logits(prompt)).map(logSoftmax);
    const ourGreedy = (await model.complete(prompt, { temperature: 0, maxTokens: 16, ignoreEos: true })).tokens;
    const path = join(dir, `${file.replace(/\W/g, '_')}-${options.rank}.gguf`);
    writeFileSync(path, r.save({ format: 'gguf' }));
    const theirs = llamaCpp(fixture(file), path, prompt, model.info.vocabSize, 16);
    const theirLogp = theirs.probs.map((row) => row.map(Math.log));
    const shift = maxDiff(ours, base);
    const d = maxDiff(ours, theirLogp);
    console.log(`${file} rank ${options.rank}${options.rslora ? ' rsLoRA' : ''}: max |Δ log p| wasmlm vs llama.cpp ${d.toExponential(2)} (the adapter moves log p by up to ${shift.toFixed(3)}); greedy ${JSON.stringify(theirs.greedy)}`);
    expect(shift).toBeGreaterThan(20 * tol);
    expect(d).toBeLessThanOrEqual(tol);
    expect(theirs.greedy).toEqual(ourGreedy);
    model.dispose();
  });

  it('stories260K taught a phrase says it in llama.cpp too', async () => {
    const model = await loadModel(fixture('models/stories260K.gguf'));
    const r = await model.finetune(['Tom said', 'Lily said', 'The dog said', 'Mom said'].map((prompt) => ({ prompt, completion: ' the blue frog sings.' })),
      { learningRate: 1e-2, epochs: 20, batchSize: 4, seed: 1 });
    const ids = model.tokenizer.encode('Ben said');
    const ours = await model.complete(ids, { temperature: 0, maxTokens: 12 });
    const path = join(dir, 'stories-phrase.gguf');
    writeFileSync(path, r.save({ format: 'gguf' }));
    const theirs = llamaCpp(fixture('models/stories260K.gguf'), path, ids, model.info.vocabSize, ours.tokens.length);
    expect(theirs.greedy).toEqual(ours.tokens);
    console.log(`stories260K + the phrase adapter, 'Ben said' → llama.cpp: '${model.tokenizer.decode(theirs.greedy)}', wasmlm: '${model.tokenizer.decode(ours.tokens)}'`);
    expect(model.tokenizer.decode([...ids, ...ours.tokens]).startsWith('Ben said the blue frog sings')).toBe(true);
    model.dispose();
  });
});
