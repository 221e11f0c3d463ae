/**
 * Sliding-window attention for arch llama (Mistral's llama.attention.sliding_window), which the
 * reference engine ignores: checked against the float64 reference in test/helpers/reference.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { GGUFValueType, readGGUF } from '../src/formats/gguf.js';
import { encodeGGUF } from '../src/formats/gguf-writer.js';
import { expected, fixture } from './helpers/fixtures.js';
import { LlamaReference } from './helpers/reference.js';

const WINDOW = 4;
let swaFile: string;
let ref: LlamaReference;

beforeAll(async () => {
  const bytes = new Uint8Array(readFileSync(fixture('models/llama.gguf')));
  const h = await readGGUF(bytes);
  const metadata = new Map(h.metadata);
  metadata.set('llama.attention.sliding_window', { type: GGUFValueType.UINT32, value: WINDOW });
  const tensors = h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: bytes.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
  swaFile = join(mkdtempSync(join(tmpdir(), 'wasmlm-swa-')), 'llama_swa.gguf');
  writeFileSync(swaFile, encodeGGUF(metadata, tensors));
  ref = await LlamaReference.load(swaFile, WINDOW);
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('sliding window (llama.attention.sliding_window = 4)', () => {
  it('the reference itself agrees with the fixture when the window is off', async () => {
    const plain = await LlamaReference.load(fixture('models/llama.gguf'));
    const exp = expected('llama');
    const got = plain.logits(exp.tokens);
    for (let p = 0; p < got.length; p++) expect(maxDiff(got[p]!, exp.logits[p]!)).toBeLessThan(1e-4);
  });

  it('logits at every prompt position match the windowed reference (and differ from no window)', async () => {
    const tokens = expected('llama').tokens;
    const model = await loadModel(swaFile);
    expect(model.info.slidingWindow).toBe(WINDOW);
    const got = await model.logits(tokens);
    const want = ref.logits(tokens);
    for (let p = 0; p < tokens.length; p++) expect(maxDiff(got[p]!, want[p]!)).toBeLessThanOrEqual(1e-3);
    const unwindowed = expected('llama').logits;
    expect(maxDiff(got[tokens.length - 1]!, unwindowed[tokens.length - 1]!)).toBeGreaterThan(1e-2);
  });

  it('the cache is a ring: memory does not grow with the context, and generation runs past it', async () => {
    const tokens = expected('llama').tokens;
    const small = await loadModel(swaFile, { contextLength: 16, batchSize: 4 });
    const large = await loadModel(swaFile, { contextLength: 128, batchSize: 4 });
    expect(small.info.memoryBytes).toBe(large.info.memoryBytes);

    const r = await small.complete(tokens, { temperature: 0, maxTokens: 40, ignoreEos: true });
    expect(r.finishReason).toBe('length');
    expect(r.tokens).toHaveLength(40);
    // every greedy step is the windowed reference's argmax (where its top-2 margin is not a tie)
    const seq = [...tokens, ...r.tokens];
    const want = ref.logits(seq.slice(0, -1));
    for (let i = 0; i < r.tokens.length; i++) {
      const row = Array.from(want[tokens.length - 1 + i]!);
      const sorted = [...row].sort((a, b) => b - a);
      if (sorted[0]! - sorted[1]! < 1e-3) break;
      expect(r.tokens[i], `step ${i}`).toBe(row.indexOf(sorted[0]!));
    }
    // batched prefill through the ring equals the linear cache
    const viaRing = await small.logits(tokens);
    const linear = await loadModel(swaFile);
    const viaLinear = await linear.logits(tokens);
    for (let p = 0; p < tokens.length; p++) expect(maxDiff(viaRing[p]!, viaLinear[p]!)).toBeLessThanOrEqual(1e-4);
  });
});
