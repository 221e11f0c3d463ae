/**
 * The Hugging Face folder as the GGUF path sees it, against the F32 GGUF llama.cpp's converter wrote from the
 * same folder (../shared/fixtures/set3): the same model metadata, the same tensor names and shapes, and every
 * tensor's bytes identical (Q/K row permutation for llama, gemma norms + 1, stacked qwen3moe experts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readGGUF } from '../src/formats/gguf.js';
import { openFolder } from '../src/formats/hf-files.js';
import { hfDataStream, openHFModel } from '../src/formats/hf.js';
import { fixture } from './helpers/fixtures.js';

const SET3 = ['llama', 'qwen3', 'qwen3moe', 'gemma2', 'gemma3'];

describe.each(SET3)('set3 %s folder', (name) => {
  it('has the converter GGUF\'s model metadata and tensors, byte for byte', async () => {
    const bytes = new Uint8Array(readFileSync(fixture(`set3/${name}.gguf`)));
    const ref = await readGGUF(bytes);
    const model = await openHFModel(openFolder(fixture(`set3/${name}`)));
    const h = model.header;
    // every model key the converter wrote (not the tokenizer's, not general.name / size_label) is there, equal
    const skip = (k: string) => k.startsWith('tokenizer.') || k === 'general.name' || k === 'general.size_label';
    const refKeys = [...ref.metadata.keys()].filter((k) => !skip(k));
    expect([...h.metadata.keys()].filter((k) => !skip(k)).sort()).toEqual(refKeys.sort());
    for (const k of refKeys) expect(h.metadata.get(k), k).toEqual(ref.metadata.get(k));
    expect(h.tensors.map((t) => t.name).sort()).toEqual(ref.tensors.map((t) => t.name).sort());
    const stream = hfDataStream(model);
    try {
      for (const t of [...h.tensors].sort((a, b) => a.offset - b.offset)) {
        const r = ref.tensors.find((x) => x.name === t.name)!;
        expect(t.ne, t.name).toEqual(r.ne);
        expect(t.type, t.name).toBe(r.type);
        await stream.skip(t.offset - stream.position);
        const got = new Uint8Array(t.nBytes);
        await stream.readInto(got);
        const want = bytes.subarray(ref.dataOffset + r.offset, ref.dataOffset + r.offset + r.nBytes);
        expect(Buffer.compare(got, want), t.name).toBe(0);
      }
    } finally {
      await stream.close();
    }
  });
});
