/** RoPE scaling as real files carry it: linear, LLaMA 3.1 freq factors (rope_freqs), YaRN. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { GGUFValueType, readGGUF } from '../src/formats/gguf.js';
import { encodeGGUF, type GGUFWriteTensor } from '../src/formats/gguf-writer.js';
import { expected, fixture } from './helpers/fixtures.js';
import { LlamaReference } from './helpers/reference.js';
import { loadKernels } from './helpers/wasm.js';

const dir = mkdtempSync(join(tmpdir(), 'wasmlm-rope-'));

/** The llama fixture with extra metadata and tensors. */
async function variant(name: string, meta: Record<string, [number, unknown]>, extra: Array<{ name: string; data: Float32Array }> = []) {
  const bytes = new Uint8Array(readFileSync(fixture('models/llama.gguf')));
  const h = await readGGUF(bytes);
  const metadata = new Map(h.metadata);
  for (const [k, [type, value]] of Object.entries(meta)) metadata.set(k, { type: type as never, value: value as never });
  const tensors: GGUFWriteTensor[] = h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: bytes.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
  for (const e of extra) tensors.push({ name: e.name, ne: [e.data.length], type: 0, data: new Uint8Array(e.data.buffer) });
  const file = join(dir, name);
  writeFileSync(file, encodeGGUF(metadata, tensors));
  return file;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('RoPE scaling', () => {
  const tokens = expected('llama').tokens;

  it('linear (rope.scaling.type linear, factor 4) matches the float64 reference with positions / 4', async () => {
    const file = await variant('linear.gguf', {
      'llama.rope.scaling.type': [GGUFValueType.STRING, 'linear'],
      'llama.rope.scaling.factor': [GGUFValueType.FLOAT32, 4],
    });
    const model = await loadModel(file);
    expect(model.info.positions).toMatchObject({ kind: 'rope', scaling: 'linear', freqScale: 0.25 });
    const got = await model.logits(tokens);
    const want = (await LlamaReference.load(file, 0, 0.25)).logits(tokens);
    for (let p = 0; p < tokens.length; p++) expect(maxDiff(got[p]!, want[p]!)).toBeLessThanOrEqual(1e-3);
    expect(maxDiff(got[11]!, expected('llama').logits[11]!)).toBeGreaterThan(1e-2);
  });

  it('rope_freqs (LLaMA 3.1) all equal to 4 is the same as linear factor 4', async () => {
    const linear = await loadModel(await variant('linear2.gguf', {
      'llama.rope.scaling.type': [GGUFValueType.STRING, 'linear'],
      'llama.rope.scaling.factor': [GGUFValueType.FLOAT32, 4],
    }));
    const factors = await loadModel(await variant('freqs.gguf', {}, [{ name: 'rope_freqs.weight', data: new Float32Array(8).fill(4) }]));
    expect(factors.info.positions).toMatchObject({ scaling: 'freq-factors' });
    const a = await linear.logits(tokens);
    const b = await factors.logits(tokens);
    for (let p = 0; p < tokens.length; p++) expect(maxDiff(a[p]!, b[p]!)).toBeLessThanOrEqual(1e-5);
  });

  it('YaRN: the kernel computes ggml\'s rope_yarn', () => {
    const { k, heap } = loadKernels();
    const nHead = 2, headDim = 16, nRot = 16, nTok = 3, pos0 = 37, base = 10000, freqScale = 0.125;
    const ext = 1, attn = 1, low = 2, high = 6;
    const factors = Float32Array.from({ length: nRot / 2 }, (_, i) => 1 + i * 0.5);
    for (const mode of [0, 2]) {
      const x = Float32Array.from({ length: nTok * nHead * headDim }, (_, i) => Math.sin(i * 1.3));
      const px = heap.put(x);
      const pf = heap.put(factors);
      (k as unknown as { rope: (...a: number[]) => void }).rope(px, nTok, nHead, headDim, nRot, pos0, base, freqScale, mode, pf, ext, attn, low, high);
      const got = heap.f32(px, x.length);
      const mscale = attn * (1 + 0.1 * Math.log(1 / freqScale));
      const want = Float64Array.from(x);
      for (let t = 0; t < nTok; t++) {
        for (let i = 0; i < nRot / 2; i++) {
          const extrap = (pos0 + t) * Math.pow(base, (-2 * i) / nRot) / factors[i]!;
          const interp = freqScale * extrap;
          const y = (i - low) / Math.max(0.001, high - low);
          const mix = (1 - Math.min(1, Math.max(0, y))) * ext;
          const th = interp * (1 - mix) + extrap * mix;
          const c = Math.cos(th) * mscale, s = Math.sin(th) * mscale;
          for (let h = 0; h < nHead; h++) {
            const b0 = t * nHead * headDim + h * headDim;
            const [i0, i1] = mode === 2 ? [i, i + nRot / 2] : [2 * i, 2 * i + 1];
            const x0 = x[b0 + i0]!, x1 = x[b0 + i1]!;
            want[b0 + i0] = x0 * c - x1 * s;
            want[b0 + i1] = x0 * s + x1 * c;
          }
        }
      }
      expect(maxDiff(got, want)).toBeLessThan(2e-5);
      heap.reset();
    }
  });

  it('a YaRN file loads with its corr dims and attn scale', async () => {
    const file = await variant('yarn.gguf', {
      'llama.rope.scaling.type': [GGUFValueType.STRING, 'yarn'],
      'llama.rope.scaling.factor': [GGUFValueType.FLOAT32, 4],
      'llama.rope.scaling.original_context_length': [GGUFValueType.UINT32, 32],
    });
    const model = await loadModel(file);
    expect(model.info.positions).toMatchObject({ kind: 'rope', scaling: 'yarn', freqScale: 0.25 });
    const got = await model.logits(tokens);
    expect(got.every((row) => row.every(Number.isFinite))).toBe(true);
    expect(maxDiff(got[11]!, expected('llama').logits[11]!)).toBeGreaterThan(1e-3);
  });
});
