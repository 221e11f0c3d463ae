/**
 * LongRoPE (Phi-3.5-mini, Phi-4-mini: 128k context): the file's rope_factors_long / rope_factors_short divide
 * θ, the long ones when the context is above rope.scaling.original_context_length (as llama.cpp picks them),
 * and cos and sin are multiplied by rope.scaling.attn_factor either way. No fixture has them: the phi3 fixture
 * is rewritten with the project's GGUF writer. A model with LongRoPE factors F and attention factor a computes
 * the same as the same model with rope_freqs F (LLaMA 3.1's divisors, their own path) and its Q and K rows
 * multiplied by a (RoPE is linear): that is what each context length is checked against.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { GGUFValueType, readGGUF } from '../src/formats/gguf.js';
import { encodeGGUF, type GGUFWriteTensor } from '../src/formats/gguf-writer.js';
import { expected, fixture } from './helpers/fixtures.js';
import { randF32 } from './helpers/numeric.js';

const dir = mkdtempSync(join(tmpdir(), 'wasmlm-longrope-'));
const tokens = expected('phi3').tokens;
const E = 64, HALF_ROT = 8; // the phi3 fixture: n_embd 64, 4 heads of 16 dims, all rotating
const LONG = randF32(HALF_ROT, 31, 1, 16);
const SHORT = randF32(HALF_ROT, 32, 1, 1.5);
const ATTN_FACTOR = 1.1902380714238083; // Phi-3.5-mini's: sqrt(1 + ln(32) / ln(4096))

/** The phi3 fixture with extra metadata and F32 tensors; qkScale multiplies the Q and K rows of attn_qkv. */
async function phi3Variant(name: string, meta: Record<string, [number, unknown]>, extra: Record<string, Float32Array>, qkScale = 1) {
  const bytes = new Uint8Array(readFileSync(fixture('models/phi3.gguf')));
  const h = await readGGUF(bytes);
  const metadata = new Map(h.metadata);
  for (const [key, [type, value]] of Object.entries(meta)) metadata.set(key, { type: type as never, value: value as never });
  const tensors: GGUFWriteTensor[] = h.tensors.map((t) => {
    let data = bytes.slice(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes);
    if (qkScale !== 1 && t.name.endsWith('attn_qkv.weight')) {
      const w = new Float32Array(data.buffer);
      for (let i = 0; i < 2 * E * E; i++) w[i]! *= qkScale; // rows [0, 64) Q, [64, 128) K of [64 in][192 out]
      data = new Uint8Array(w.buffer);
    }
    return { name: t.name, ne: t.ne, type: t.type, data };
  });
  for (const [tname, data] of Object.entries(extra)) tensors.push({ name: tname, ne: [data.length], type: 0, data: new Uint8Array(data.buffer) });
  const file = join(dir, name);
  writeFileSync(file, encodeGGUF(metadata, tensors));
  return file;
}

const LONGROPE_META: Record<string, [number, unknown]> = {
  'phi3.rope.scaling.original_context_length': [GGUFValueType.UINT32, 64],
  'phi3.rope.scaling.attn_factor': [GGUFValueType.FLOAT32, ATTN_FACTOR],
};

const maxDiff = (a: Float32Array[], b: Float32Array[]) => {
  let m = 0;
  for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) m = Math.max(m, Math.abs(a[p]![i]! - b[p]![i]!));
  return m;
};

describe('LongRoPE', () => {
  it('long factors above the original context, short ones up to it, the attention factor on both', async () => {
    const file = await phi3Variant('longrope.gguf', LONGROPE_META, { 'rope_factors_long.weight': LONG, 'rope_factors_short.weight': SHORT });
    const longRef = await phi3Variant('long-ref.gguf', {}, { 'rope_freqs.weight': LONG }, ATTN_FACTOR);
    const shortRef = await phi3Variant('short-ref.gguf', {}, { 'rope_freqs.weight': SHORT }, ATTN_FACTOR);

    const long = await loadModel(file, { contextLength: 128 });
    const short = await loadModel(file, { contextLength: 64 });
    expect(long.info.positions).toMatchObject({ kind: 'rope', scaling: 'longrope', nRot: 16 });
    const gotLong = await long.logits(tokens);
    const gotShort = await short.logits(tokens);
    expect(maxDiff(gotLong, await (await loadModel(longRef, { contextLength: 128 })).logits(tokens))).toBeLessThanOrEqual(2e-5);
    expect(maxDiff(gotShort, await (await loadModel(shortRef, { contextLength: 64 })).logits(tokens))).toBeLessThanOrEqual(2e-5);
    // the two factor sets and the attention factor each matter here
    expect(maxDiff(gotLong, gotShort)).toBeGreaterThan(1e-2);
    expect(maxDiff(gotShort, await (await loadModel(fixture('models/phi3.gguf'))).logits(tokens))).toBeGreaterThan(1e-2);
  });

  it('without rope.scaling.original_context_length the switch is at the training context (short factors)', async () => {
    const file = await phi3Variant('longrope-noorig.gguf', { 'phi3.rope.scaling.attn_factor': LONGROPE_META['phi3.rope.scaling.attn_factor']! },
      { 'rope_factors_long.weight': LONG, 'rope_factors_short.weight': SHORT });
    const shortRef = await phi3Variant('short-ref2.gguf', {}, { 'rope_freqs.weight': SHORT }, ATTN_FACTOR);
    const got = await (await loadModel(file, { contextLength: 128 })).logits(tokens);
    expect(maxDiff(got, await (await loadModel(shortRef)).logits(tokens))).toBeLessThanOrEqual(2e-5);
  });

  it('one factor tensor without the other is a MISSING_TENSOR naming it', async () => {
    const file = await phi3Variant('longrope-half.gguf', LONGROPE_META, { 'rope_factors_long.weight': LONG });
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'MISSING_TENSOR', message: expect.stringContaining("'rope_factors_short.weight'") });
  });

  it('factors of the wrong length are a BAD_SHAPE', async () => {
    const file = await phi3Variant('longrope-shape.gguf', LONGROPE_META,
      { 'rope_factors_long.weight': randF32(HALF_ROT + 1, 1, 1, 2), 'rope_factors_short.weight': SHORT });
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'BAD_SHAPE', message: expect.stringContaining('rope_factors_long.weight') });
  });
});
