/**
 * LoRA training beyond llama: for each family fixture, the gradient of every A and B against central finite
 * differences of the loss (directional: the whole tensor moved along a seeded ±1 direction, so every entry
 * counts), the training forward's loss against inference's (the adapter saved and loaded), steps that lower the
 * loss, and the families whose backward is missing refused by name.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import type { Model } from '../src/model.js';
import { LORA_TARGETS, type LoraTarget } from '../src/train/adapter.js';
import type { TrainingAccess } from '../src/train/access.js';
import { trainMemory } from '../src/train/plan.js';
import { fixture } from './helpers/fixtures.js';
import { Forward64, type Pair64 } from './helpers/forward-f64.js';

const accessOf = (model: object) => (model as { engine: { trainingAccess(): TrainingAccess } }).engine.trainingAccess();

/** deterministic values in [−amp, amp) */
function rand(n: number, seed: number, amp = 0.1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * amp;
  });
}

/** The targets the model has as separate weights (blk.N.<target>.weight). */
function targetsOf(model: Model): LoraTarget[] {
  const l = accessOf(model).spec.layers[0]!;
  const names = [l.attn.q, l.attn.k, l.attn.v, l.attn.output, l.ffn?.gate, l.ffn?.up, l.ffn?.down].map((x) => x?.weight.name);
  return LORA_TARGETS.filter((t) => names.includes(`blk.0.${t}.weight`));
}

/** Two sequences (lengths 14 and 9) of ids in the vocabulary, the first 3 positions of each not learned. */
function batchFor(V: number) {
  const tokens = [Array.from({ length: 14 }, (_, i) => (i * 37 + 11) % V), Array.from({ length: 9 }, (_, i) => (i * 53 + 5) % V)];
  const mask = tokens.map((s) => s.map((_, p) => (p >= 3 && p + 1 < s.length ? 1 : 0)));
  return { tokens, mask };
}

/** The masked mean cross-entropy of the batch from inference's logits (float64). */
async function inferenceLoss(model: Model, batch: { tokens: number[][]; mask: number[][] }): Promise<number> {
  let sum = 0, n = 0;
  for (const [b, seq] of batch.tokens.entries()) {
    const logits = await model.logits(seq);
    seq.forEach((_, p) => {
      if (!batch.mask[b]![p]) return;
      const row = logits[p]!;
      const mx = Math.max(...row);
      sum += mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0)) - row[seq[p + 1]!]!;
      n++;
    });
  }
  return sum / n;
}

// file, and what it exercises of the backward; `models/phi2.gguf+ffn_norm`: phi2 with its FFN norm made a separate
// norm of the same weights (the same model: Falcon-40B's two-norm parallel blocks have no fixture)
const FAMILIES: Array<[string, string]> = [
  ['models/phi2.gguf+ffn_norm', 'a parallel block with its own FFN norm'],
  ['models/llama.gguf', 'the llama path (control)'],
  ['models/qwen2.gguf', 'q/k/v biases, neox RoPE, tied output'],
  ['models/stablelm.gguf', 'LayerNorm with bias, partial neox RoPE, biases'],
  ['models/phi2.gguf', 'LayerNorm, fused qkv, partial RoPE, parallel residual with one norm, plain GELU, output bias'],
  ['models/falcon.gguf', 'MQA, fused qkv, parallel residual, plain GELU'],
  ['models/gpt2.gguf', 'learned positions, fused qkv with biases, plain GELU'],
  ['models/bloom.gguf', 'ALiBi, LayerNorm on the embeddings'],
  ['models/bloom_6head.gguf', 'ALiBi with a non-power-of-two head count'],
  ['models/gemma.gguf', 'embedding scale, GeGLU, head_dim ≠ n_embd / n_head'],
  ['models/phi3_swa.gguf', 'sliding window 4, fused qkv, fused gate-up'],
  ['models/layerscale.gguf', 'LayerScale'],
  ['set3/qwen3.gguf', 'per-head q/k RMSNorm'],
  ['set3/gemma2.gguf', 'attention and final soft-caps, sandwich norms, sliding window'],
  ['set3/gemma3.gguf', 'q/k norms, sandwich norms, local RoPE base, sliding window'],
];

describe('LoRA gradients of every family against finite differences', () => {
  it.each(FAMILIES)('%s (%s)', async (file) => {
    const model = await loadModel(fixture(file.replace(/\+.*/, '')));
    if (file.endsWith('+ffn_norm')) for (const l of accessOf(model).spec.layers) l.ffnNorm = { ...l.attnNorm };
    const targets = targetsOf(model);
    expect(targets.length).toBeGreaterThan(0);
    const adapter = model.createAdapter({ rank: 2, alpha: 4, targets, seed: 5 });
    // B non-zero, so that every gradient is
    let seed = 1;
    for (const [k, v] of adapter.tensors()) if (k.endsWith('.lora_b')) v.set(rand(v.length, seed++));
    const batch = batchFor(model.info.vocabSize);
    const trainer = model.trainer(adapter, { learningRate: 1e-3 });
    const { loss, gradients } = await trainer.gradients(batch);
    // every layer's activations kept (the default on these small models: a kept layer owns some, the rest are
    // redone before its backward) or every layer recomputed, the output head over all learned rows at once or 3
    // at a time: the same gradients, bit for bit
    const saved = { ...trainMemory };
    Object.assign(trainMemory, { keepActivationBytes: 0, headRows: 3 });
    const recomputed = await trainer.gradients(batch).finally(() => Object.assign(trainMemory, saved));
    expect(recomputed.loss).toBe(loss);
    for (const [k, g] of gradients) expect(Buffer.from(recomputed.gradients.get(k)!.buffer).equals(Buffer.from(g.buffer)), k).toBe(true);

    // the training forward pass computes what inference computes (GELU: smooth there, fp16 steps here)
    const applied = await model.loadAdapter(adapter.save({ format: 'gguf' }));
    const inf = await inferenceLoss(model, batch);
    applied.remove();
    const gelu = accessOf(model).spec.layers.some((l) => l.ffn?.act === 'gelu');
    expect(Math.abs(loss - inf) / inf, `loss ${loss} vs inference ${inf}`).toBeLessThan(gelu ? 1e-4 : 2e-5);

    // the float64 loss: equal to the training forward's, and differentiated by central differences along a
    // seeded ±1 direction per tensor (every entry counts)
    const f64 = new Forward64(accessOf(model).spec, accessOf(model));
    const pairs = new Map<string, Pair64>();
    for (const [name, p] of adapter.pairs) pairs.set(name, { a: Float64Array.from(p.a), b: Float64Array.from(p.b), r: adapter.rank });
    const N = batch.mask.flat().reduce((x: number, y) => x + y, 0);
    const lossF64 = () => batch.tokens.reduce((acc, seq, b) => acc + f64.loss(seq, batch.mask[b]!, pairs, adapter.scale), 0) / N;
    const ref = lossF64();
    expect(Math.abs(loss - ref) / ref, `loss ${loss} vs float64 ${ref}`).toBeLessThan(1e-5);
    let worst = 0;
    for (const [name, p] of pairs) {
      for (const part of ['a', 'b'] as const) {
        const key = `${name}.lora_${part}`, w = p[part], g = gradients.get(key)!;
        const dir = rand(w.length, seed++).map((x) => (x >= 0 ? 1 : -1));
        let analytic = 0, gmax = 0;
        for (let i = 0; i < w.length; i++) { analytic += g[i]! * dir[i]!; gmax = Math.max(gmax, Math.abs(g[i]!)); }
        const w0 = w.slice(), h = 1e-4;
        const at = (sign: number) => {
          for (let i = 0; i < w.length; i++) w[i] = w0[i]! + sign * h * dir[i]!;
          return lossF64();
        };
        const fd = (at(1) - at(-1)) / (2 * h);
        w.set(w0);
        const err = Math.abs(fd - analytic) / Math.abs(fd);
        worst = Math.max(worst, err);
        expect(gmax, `${key}: a zero gradient checks nothing`).toBeGreaterThan(0);
        expect(err, `${key}: finite difference ${fd} vs gradient·direction ${analytic}`).toBeLessThan(3e-4);
      }
    }
    console.log(`${file}: ${targets.join(',')}; loss ${loss.toFixed(6)} (float64 ${ref.toFixed(6)}, inference ${inf.toFixed(6)}); directional derivatives max rel err ${worst.toExponential(2)}`);
    model.dispose();
  });
});

describe('training lowers the loss', () => {
  it.each(['models/phi2.gguf', 'models/gpt2.gguf', 'set3/gemma2.gguf'])('%s: 12 AdamW steps on one batch', async (file) => {
    const model = await loadModel(fixture(file));
    const adapter = model.createAdapter({ rank: 4, alpha: 8, targets: targetsOf(model), seed: 2 });
    const trainer = model.trainer(adapter, { learningRate: 1e-2 });
    const batch = batchFor(model.info.vocabSize);
    const losses: number[] = [];
    for (let s = 0; s < 12; s++) losses.push((await trainer.step(batch)).loss);
    console.log(`${file}: loss ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    model.dispose();
  });
});

describe('what training does not support yet is refused by name', () => {
  it.each([['models/llama_moe.gguf', /family 'llama'.*mixture-of-experts/], ['models/deepnorm.gguf', /DeepNorm/], ['set3/qwen3moe.gguf', /qwen3moe.*mixture-of-experts/]] as const)(
    '%s', async (file, what) => {
      const model = await loadModel(fixture(file));
      const adapter = model.createAdapter({ rank: 2, alpha: 4, targets: ['attn_q'] });
      let err: unknown;
      try {
        model.trainer(adapter, { learningRate: 1e-3 });
      } catch (e) { err = e; }
      expect(err).toBeInstanceOf(WasmlmError);
      expect((err as WasmlmError).code).toBe('UNSUPPORTED_TYPE');
      expect((err as WasmlmError).message).toMatch(what);
      model.dispose();
    });
});
