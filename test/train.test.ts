/**
 * LoRA fine-tuning against ../shared/fixtures/peft/llama-lora.train.json (PyTorch + PEFT, float32): the
 * llama fixture base, llama-lora's A/B as the initial state, a batch of 2 × 24 tokens with a loss mask.
 * The loss and every A/B gradient at the initial state, then 5 AdamW steps (losses, final A/B).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';
import { parseSafetensorsHeader, safetensorsHeaderLength } from '../src/formats/safetensors.js';
import { Frozen, TrainGraph as ReferenceGraph } from './helpers/train-reference.js';
import type { TrainingAccess } from '../src/train/access.js';

interface RefTensor { ne: number[]; init: number[]; grad: number[]; final: number[] }
interface Ref {
  input_ids: number[][]; loss_mask: number[][]; loss: number; losses: number[]; loss_after: number;
  adapter: { r: number; lora_alpha: number; use_rslora: boolean };
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number; steps: number };
  tensors: Record<string, RefTensor>;
}
const ref = JSON.parse(readFileSync(fixture('peft/llama-lora.train.json'), 'utf8')) as Ref;
const TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;

async function setup() {
  const model = await loadModel(fixture('models/llama.gguf'));
  const adapter = model.createAdapter({
    rank: ref.adapter.r, alpha: ref.adapter.lora_alpha, rslora: ref.adapter.use_rslora, targets: [...TARGETS],
    init: Object.fromEntries(Object.entries(ref.tensors).map(([k, t]) => [k, t.init])),
  });
  const { lr, betas, eps, weight_decay } = ref.optimizer;
  const trainer = model.trainer(adapter, { learningRate: lr, betas, eps, weightDecay: weight_decay });
  return { model, adapter, trainer };
}

/** max |a − b| over a tensor, and max |b| */
function dev(a: ArrayLike<number>, b: number[]): { d: number; m: number } {
  expect(a.length).toBe(b.length);
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return { d, m };
}

const batch = { tokens: ref.input_ids, mask: ref.loss_mask };

describe('LoRA training (llama-lora.train.json)', () => {
  it('the loss and every A/B gradient match PyTorch + PEFT', async () => {
    const { model, adapter, trainer } = await setup();
    expect([...adapter.weights().keys()]).toEqual(Object.keys(ref.tensors));
    const { loss, gradients } = await trainer.gradients(batch);
    expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThanOrEqual(1e-4);
    let worst = 0;
    for (const [name, t] of Object.entries(ref.tensors)) {
      const { d, m } = dev(gradients.get(name)!, t.grad);
      expect(d, name).toBeLessThanOrEqual(1e-4 * m + 1e-6);
      worst = Math.max(worst, d / m);
    }
    console.log(`loss ${loss} (ref ${ref.loss}, rel ${(Math.abs(loss - ref.loss) / ref.loss).toExponential(2)}); gradients max|Δ|/max|g| ${worst.toExponential(2)}`);
    // gradients() does not update
    for (const [name, t] of Object.entries(ref.tensors)) expect(Array.from(adapter.weights().get(name)!)).toEqual(Array.from(Float32Array.from(t.init)));
    model.dispose();
  });

  it('5 AdamW steps: the losses and the final A/B match torch.optim.AdamW', async () => {
    const { model, adapter, trainer } = await setup();
    const losses: number[] = [];
    for (let s = 0; s < ref.optimizer.steps; s++) losses.push((await trainer.step(batch)).loss);
    losses.push((await trainer.gradients(batch)).loss);
    const want = [...ref.losses, ref.loss_after];
    let worstLoss = 0;
    losses.forEach((l, i) => {
      const rel = Math.abs(l - want[i]!) / want[i]!;
      expect(rel, `loss ${i}`).toBeLessThanOrEqual(1e-4);
      worstLoss = Math.max(worstLoss, rel);
    });
    let worst = 0;
    for (const [name, w] of adapter.weights()) {
      const { d, m } = dev(w, ref.tensors[name]!.final);
      expect(d, name).toBeLessThanOrEqual(1e-3 * m);
      worst = Math.max(worst, d / m);
    }
    console.log(`losses rel ≤ ${worstLoss.toExponential(2)}; final A/B max|Δ|/max|w| ${worst.toExponential(2)}`);
    model.dispose();
  });

  it('default init as PEFT: A Kaiming-uniform U(±1/√n_in) from the seed, B zero', async () => {
    const model = await loadModel(fixture('models/llama.gguf'));
    const make = (seed: number) => model.createAdapter({ rank: 4, alpha: 8, targets: ['attn_q', 'ffn_down'], seed }).weights();
    const a = make(7), b = make(7), c = make(8);
    expect([...a.keys()]).toEqual(['blk.0.attn_q.weight.lora_a', 'blk.0.attn_q.weight.lora_b', 'blk.0.ffn_down.weight.lora_a',
      'blk.0.ffn_down.weight.lora_b', 'blk.1.attn_q.weight.lora_a', 'blk.1.attn_q.weight.lora_b', 'blk.1.ffn_down.weight.lora_a', 'blk.1.ffn_down.weight.lora_b']);
    for (const [name, v] of a) {
      expect(Array.from(v)).toEqual(Array.from(b.get(name)!));
      if (name.endsWith('lora_b')) { expect(v.every((x) => x === 0)).toBe(true); continue; }
      const nIn = ref.tensors[name]!.ne[0]!;
      const bound = 1 / Math.sqrt(nIn);
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.9 * bound);
      expect(Array.from(v)).not.toEqual(Array.from(c.get(name)!));
    }
    model.dispose();
  });

  it('rejects bad arguments by name', async () => {
    const model = await loadModel(fixture('models/llama.gguf'));
    expect(() => model.createAdapter({ rank: 0, alpha: 8, targets: ['attn_q'] })).toThrow(/rank/);
    expect(() => model.createAdapter({ rank: 4, alpha: 8, targets: ['q_proj' as 'attn_q'] })).toThrow(/q_proj/);
    expect(() => model.createAdapter({ rank: 4, alpha: 8, targets: ['attn_q'], init: { 'blk.0.attn_q.weight.lora_a': [1, 2] } })).toThrow(WasmlmError);
    const adapter = model.createAdapter({ rank: 4, alpha: 8, targets: ['attn_q'], seed: 1 });
    const trainer = model.trainer(adapter, { learningRate: 1e-3 });
    await expect(trainer.gradients({ tokens: [[1]] })).rejects.toThrow(/tokens\[0\]/);
    await expect(trainer.gradients({ tokens: [[1, 2, 99999]] })).rejects.toThrow(/vocabulary/);
    await expect(trainer.gradients({ tokens: [[1, 2]], mask: [[0, 1]] })).rejects.toThrow(/last position/);
    expect(() => model.trainer(adapter, { learningRate: -1 })).toThrow(/learningRate/);
    model.dispose();
  });
});

/** The engine behind a model (tests only). */
const accessOf = (model: object) => (model as { engine: { trainingAccess(): TrainingAccess } }).engine.trainingAccess();

describe('quantized base weights (frozen in their type)', () => {
  // training multiplies by the weights' dequantized rows, forward (OP_MATMUL_DQ, f32 activations) and backward
  // (OP_MATMUL_T): the float64 reference on the same dequantized weights agrees to f32 rounding
  it.each(['llama256', 'llama_f16', 'llama256_bf16', 'llama_q8_0', 'llama_q4_0', 'llama256_q4_k', 'llama256_q6_k'])('%s: loss and gradients match a float64 reference', async (name) => {
    const tol = 2e-5;
    const model = await loadModel(fixture(`models/${name}.gguf`));
    const adapter = model.createAdapter({ rank: 4, alpha: 8, targets: [...TARGETS], seed: 3 });
    // B non-zero, so that every gradient is
    for (const [k, v] of adapter.tensors()) if (k.endsWith('.lora_b')) v.set(rand(v.length, k.length));
    const V = model.info.vocabSize;
    const tokens = [Array.from({ length: 20 }, (_, i) => (i * 37 + 11) % V), Array.from({ length: 13 }, (_, i) => (i * 53 + 5) % V),
      Array.from({ length: 6 }, (_, i) => (i * 29 + 7) % V)];
    // the output head works on the learned rows only: two runs (packed), one from position 0 (in place), none
    const learned = [(p: number) => (p >= 4 && p < 9) || (p >= 12 && p < 19), (p: number) => p < 12, () => false];
    const mask = tokens.map((s, b) => s.map((_, p) => (learned[b]!(p) ? 1 : 0)));
    const { loss, gradients } = await model.trainer(adapter, { learningRate: 1e-3 }).gradients({ tokens, mask });
    const access = accessOf(model);
    const graph = new ReferenceGraph(access.spec, new Frozen(access), adapter);
    const grads = new Map([...adapter.tensors()].map(([k, v]) => [k, new Float64Array(v.length)]));
    const N = mask.flat().reduce((a: number, b: number) => a + b, 0);
    let sum = 0;
    tokens.forEach((s, b) => { sum += graph.run(s, mask[b]!, N, grads); });
    let worst = 0;
    for (const [k, g] of grads) {
      const got = gradients.get(k)!;
      let d = 0, m = 0;
      for (let i = 0; i < g.length; i++) { d = Math.max(d, Math.abs(got[i]! - g[i]!)); m = Math.max(m, Math.abs(g[i]!)); }
      worst = Math.max(worst, d / m);
    }
    console.log(`${name}: loss ${loss} vs float64 ${sum / N}; gradients max|Δ|/max|g| ${worst.toExponential(2)}`);
    expect(Math.abs(loss - sum / N) / (sum / N)).toBeLessThan(tol);
    expect(worst).toBeLessThan(tol);
    model.dispose();
  });
});

describe('families training does not support yet', () => {
  it.each(['llama_moe'])('%s: UNSUPPORTED_TYPE naming what', async (name) => {
    const model = await loadModel(fixture(`models/${name}.gguf`));
    const targets = ['attn_q' as const];
    let err: unknown;
    try {
      model.trainer(model.createAdapter({ rank: 2, alpha: 4, targets }), { learningRate: 1e-3 });
    } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WasmlmError);
    expect((err as WasmlmError).code).toBe('UNSUPPORTED_TYPE');
    expect((err as WasmlmError).message).toMatch(/mixture-of-experts/);
    model.dispose();
  });
});

/** deterministic values in [−0.1, 0.1) */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * 0.1;
  });
}

describe('the trained adapter in inference', () => {
  it('save({ format: "gguf" }) after training: loadAdapter gives the logits of the training forward pass, and the fixture adapter round-trips', async () => {
    const { model, adapter, trainer } = await setup();
    // before training the adapter is llama-lora: its GGUF gives PEFT's expected logits (scale 2 = alpha / r)
    const expected = JSON.parse(readFileSync(fixture('peft/llama-lora.s1.expected.json'), 'utf8')) as { tokens: number[]; logits: number[][] };
    const loaded = await model.loadAdapter(adapter.save({ format: 'gguf' }));
    const rows = await model.logits(expected.tokens);
    let d = 0;
    rows.forEach((r, p) => r.forEach((x, i) => { d = Math.max(d, Math.abs(x - expected.logits[p]![i]!)); }));
    expect(d).toBeLessThan(1e-3);
    loaded.remove();
    for (let s = 0; s < 3; s++) await trainer.step(batch);
    // the trained adapter: the loss from inference's logits equals the trainer's loss at these weights
    const trained = await model.loadAdapter(adapter.save({ format: 'gguf' }));
    const { loss } = await trainer.gradients(batch);
    let sum = 0, n = 0;
    for (const [b, seq] of ref.input_ids.entries()) {
      const logits = await model.logits(seq);
      seq.forEach((_, p) => {
        if (!ref.loss_mask[b]![p]) return;
        const row = logits[p]!;
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
        sum += lse - row[seq[p + 1]!]!;
        n++;
      });
    }
    console.log(`trained adapter: inference loss ${sum / n} vs trainer ${loss}; before-training logits vs PEFT max|Δ| ${d.toExponential(2)}`);
    expect(Math.abs(sum / n - loss) / loss).toBeLessThan(1e-5);
    expect(loss).toBeLessThan(ref.losses[3]! * 1.0001);
    trained.remove();
    model.dispose();
  });
});

describe('save as PEFT', () => {
  it('llama-lora through createAdapter: the same safetensors tensors as PEFT wrote (q/k lora_B rows un-permuted); loadAdapter reads the folder back', async () => {
    const { model, adapter } = await setup();
    const files = adapter.save({ format: 'peft' });
    const tensorsOf = (bytes: Uint8Array) => {
      const header = parseSafetensorsHeader(bytes.subarray(8, 8 + safetensorsHeaderLength(bytes.subarray(0, 8), bytes.length)), bytes.length);
      return new Map([...header.tensors.values()].map((t) => [t.name, { shape: t.shape, data: bytes.subarray(t.offset, t.offset + t.nBytes) }]));
    };
    const mine = tensorsOf(files['adapter_model.safetensors']);
    const theirs = tensorsOf(new Uint8Array(readFileSync(fixture('peft/llama-lora/adapter_model.safetensors'))));
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [k, t] of theirs) {
      expect(mine.get(k)!.shape, k).toEqual(t.shape);
      expect(Buffer.compare(Buffer.from(mine.get(k)!.data), Buffer.from(t.data)), k).toBe(0);
    }
    const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json'])) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_rslora: false });
    const expected = JSON.parse(readFileSync(fixture('peft/llama-lora.s1.expected.json'), 'utf8')) as { tokens: number[]; logits: number[][] };
    const loaded = await model.loadAdapter(files);
    let d = 0;
    (await model.logits(expected.tokens)).forEach((r, p) => r.forEach((x, i) => { d = Math.max(d, Math.abs(x - expected.logits[p]![i]!)); }));
    expect(d).toBeLessThan(1e-3);
    loaded.remove();
    model.dispose();
  });
});

describe('AdamW options', () => {
  it('weightDecay is decoupled (w·(1 − lr·wd) before the Adam update), gradClip scales the gradients as clip_grad_norm_', async () => {
    const model = await loadModel(fixture('models/llama.gguf'));
    const init = Object.fromEntries(Object.entries(ref.tensors).map(([k, t]) => [k, t.init]));
    const make = () => model.createAdapter({ rank: 4, alpha: 8, targets: [...TARGETS], init });
    const lr = 0.01;
    // step 1 with eps = 1: w1 = w0·(1 − lr·wd) − lr·g'/(|g'| + 1) elementwise (m̂ = g', √v̂ = |g'|)
    const { gradients } = await model.trainer(make(), { learningRate: lr }).gradients(batch);
    let norm = 0;
    for (const g of gradients.values()) for (const x of g) norm += x * x;
    norm = Math.sqrt(norm);
    for (const [wd, clip] of [[0, undefined], [0.5, undefined], [0, norm / 4], [0.5, norm * 4]] as Array<[number, number | undefined]>) {
      const adapter = make();
      await model.trainer(adapter, { learningRate: lr, eps: 1, weightDecay: wd, gradClip: clip }).step(batch);
      const coef = clip === undefined ? 1 : Math.min(1, clip / (norm + 1e-6));
      let worst = 0;
      for (const [name, w] of adapter.weights()) {
        const w0 = ref.tensors[name]!.init, g = gradients.get(name)!;
        w.forEach((x, i) => {
          const gc = g[i]! * coef;
          worst = Math.max(worst, Math.abs(x - (w0[i]! * (1 - lr * wd) - lr * gc / (Math.abs(gc) + 1))));
        });
      }
      expect(worst, `weightDecay ${wd}, gradClip ${clip}`).toBeLessThan(1e-7);
    }
    model.dispose();
  });
});

describe('it learns', () => {
  it('stories260K: a few steps on examples naming the dog Zorblax change the greedy completion to it', async () => {
    const model = await loadModel(fixture('models/stories260K.gguf'));
    const prompts = ['Once upon a time, there was a little dog named', 'One day, a girl met a little dog named', 'Tom had a little dog named'];
    const completion = ' Zorblax. Zorblax liked to play.';
    const before = await model.complete(prompts[0]!, { maxTokens: 10, temperature: 0 });
    expect(before.text.startsWith(' Zorblax')).toBe(false);
    const tokens = prompts.map((p) => model.tokenizer.encode(p + completion));
    // learn the completion's tokens only: rows from the prompt's last token on
    const mask = prompts.map((p, b) => {
      const n = model.tokenizer.encode(p).length;
      return tokens[b]!.map((_, i) => (i >= n - 1 && i + 1 < tokens[b]!.length ? 1 : 0));
    });
    const adapter = model.createAdapter({ rank: 8, alpha: 16, targets: [...TARGETS], seed: 1 });
    const trainer = model.trainer(adapter, { learningRate: 1e-2 });
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) losses.push((await trainer.step({ tokens, mask })).loss);
    const applied = await model.loadAdapter(adapter.save({ format: 'gguf' }));
    const after = await model.complete(prompts[0]!, { maxTokens: 10, temperature: 0 });
    console.log(`before ${JSON.stringify(before.text)}, after ${JSON.stringify(after.text)}; loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}`);
    expect(after.text.startsWith(' Zorblax')).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 4);
    applied.remove();
    const again = await model.complete(prompts[0]!, { maxTokens: 10, temperature: 0 });
    expect(again.text).toBe(before.text);
    model.dispose();
  });
});
