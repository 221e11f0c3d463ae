/** Embeddings and LoRA adapters against the reference engine. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import { encodeGGUF } from '../src/formats/gguf-writer.js';
import { readGGUF } from '../src/formats/gguf.js';
import { expectGreedy, expectLogitsClose, expected, fixture, toleranceFor } from './helpers/fixtures.js';

interface EmbdExpected { tokens: number[]; embeddings: Array<{ pooling: 'mean' | 'last'; normalized: boolean; embedding: number[] }> }

describe.each(['llama', 'qwen2'])('%s embeddings', (name) => {
  const exp = JSON.parse(readFileSync(fixture(`models/${name}.embd.expected.json`), 'utf8')) as EmbdExpected;
  for (const e of exp.embeddings) {
    it(`${e.pooling} pooling, ${e.normalized ? 'L2-normalised' : 'raw'}`, async () => {
      const model = await loadModel(fixture(`models/${name}.gguf`));
      const got = await model.embed(exp.tokens, { pooling: e.pooling, normalize: e.normalized });
      expect(got).toHaveLength(e.embedding.length);
      const worst = Math.max(...e.embedding.map((v, i) => Math.abs(v - got[i]!)));
      expect(worst).toBeLessThanOrEqual(e.normalized ? 1e-5 : 1e-4);
    });
  }

  it('text input adds BOS and gives the same as ids', async () => {
    const model = await loadModel(fixture(`models/${name}.gguf`));
    const ids = model.tokenizer.encode('Once upon a time');
    expect(Array.from(await model.embed('Once upon a time'))).toEqual(Array.from(await model.embed(ids)));
  });
});

describe('LoRA adapters', () => {
  const base = fixture('models/llama.gguf');
  const lora = fixture('models/llama.lora.gguf');

  it('scale 1 matches llama.lora.s1, then setScale(0.5) matches .s0_5, then remove() restores the base', async () => {
    const model = await loadModel(base);
    const plain = expected('llama');
    const s1 = expected('llama.lora.s1');
    const s05 = expected('llama.lora.s0_5');
    const adapter = await model.loadAdapter(lora, { scale: 1 });
    expect(adapter.scale).toBe(1);
    expectLogitsClose(await model.logits(s1.tokens), s1, toleranceFor('llama'));
    const g1 = await model.complete(s1.tokens, { temperature: 0, maxTokens: 16, ignoreEos: true });
    expectGreedy(g1.tokens, s1, toleranceFor('llama'));

    adapter.setScale(0.5);
    expectLogitsClose(await model.logits(s05.tokens), s05, toleranceFor('llama'));
    const g05 = await model.complete(s05.tokens, { temperature: 0, maxTokens: 16, ignoreEos: true });
    expectGreedy(g05.tokens, s05, toleranceFor('llama'));

    adapter.remove();
    expectLogitsClose(await model.logits(plain.tokens), plain, toleranceFor('llama'));
  });

  it('calls on a removed adapter, or after the model is disposed, throw DISPOSED naming the adapter', async () => {
    const model = await loadModel(base);
    const adapter = await model.loadAdapter(lora, { scale: 1 });
    adapter.remove();
    expect(() => adapter.setScale(0.5)).toThrow(expect.objectContaining({ code: 'DISPOSED', message: expect.stringMatching(/llama\.lora\.gguf: setScale\(\) after remove\(\)/) }));
    expect(() => adapter.remove()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    expect(adapter.scale).toBe(1);
    const other = await model.loadAdapter(lora, { scale: 1 });
    model.dispose();
    expect(() => other.setScale(2)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });

  it('two adapters at once add up (two at 0.5 = one at 1)', async () => {
    const model = await loadModel(base);
    await model.loadAdapter(lora, { scale: 0.5 });
    await model.loadAdapter(lora, { scale: 0.5 });
    const s1 = expected('llama.lora.s1');
    expectLogitsClose(await model.logits(s1.tokens), s1, toleranceFor('llama'));
  });

  it('an adapter for another architecture, or with shapes that do not fit, is refused', async () => {
    const bytes = new Uint8Array(readFileSync(lora));
    const h = await readGGUF(bytes);
    const tensors = h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: bytes.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
    const model = await loadModel(base);

    const otherArch = new Map(h.metadata);
    otherArch.set('general.architecture', { type: 8, value: 'qwen2' });
    const e1 = await model.loadAdapter(encodeGGUF(otherArch, tensors)).catch((x) => x);
    expect(e1).toBeInstanceOf(WasmlmError);
    expect(e1.message).toMatch(/qwen2/);

    // the adapter of another model: qwen2 shapes differ from llama's
    const misfit = tensors.map((t) => t.name === 'blk.0.attn_k.weight.lora_b' ? { ...t, name: 'blk.0.attn_q.weight.lora_b' } : t.name === 'blk.0.attn_q.weight.lora_b' ? { ...t, name: 'blk.0.attn_k.weight.lora_b' } : t);
    const e2 = await model.loadAdapter(encodeGGUF(h.metadata, misfit)).catch((x) => x);
    expect(e2).toBeInstanceOf(WasmlmError);
    expect(e2.code).toBe('BAD_SHAPE');
    expect(e2.message).toMatch(/attn_(q|k)\.weight\.lora_b/);

    const e3 = await model.loadAdapter(base).catch((x) => x);
    expect(e3.message).toMatch(/not a LoRA adapter/);
    // the model is untouched
    expectLogitsClose(await model.logits(expected('llama').tokens), expected('llama'), toleranceFor('llama'));
  });
});
