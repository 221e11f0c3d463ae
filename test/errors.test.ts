/** Bad input gives a WasmlmError naming the problem, never a crash; a loaded model stays usable. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, WasmlmError, type Model } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const llamaBytes = () => new Uint8Array(readFileSync(fixture('models/llama.gguf')));

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp): Promise<WasmlmError> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(error, `expected a WasmlmError ${code}`).toBeInstanceOf(WasmlmError);
  const w = error as WasmlmError;
  expect(w.code, w.message).toBe(code);
  if (message) expect(w.message).toMatch(message);
  return w;
}

function indexOf(bytes: Uint8Array, text: string, from = 0): number {
  const needle = new TextEncoder().encode(text);
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Byte offset of a tensor's type field in the tensor index (name, n_dims u32, ne u64 × n, type u32). */
function tensorTypeOffset(bytes: Uint8Array, name: string): number {
  const at = indexOf(bytes, name);
  // the tensor index entry is the occurrence preceded by its u64 length
  let pos = at;
  while (pos >= 0) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + pos - 8, 8).getBigUint64(0, true);
    if (len === BigInt(name.length)) break;
    pos = indexOf(bytes, name, pos + 1);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const nDims = dv.getUint32(pos + name.length, true);
  return pos + name.length + 4 + 8 * nDims;
}

describe('bad model files', () => {
  it('wrong magic', async () => {
    const b = llamaBytes();
    b[0] = 0x58;
    await expectCode(loadModel(b), 'BAD_MAGIC', /GGUF/);
  });

  it('not a file at all', async () => {
    await expectCode(loadModel('/nonexistent/model.gguf'), 'IO_ERROR', /nonexistent/);
  });

  it('truncated inside the header', async () => {
    await expectCode(loadModel(llamaBytes().slice(0, 2000)), 'TRUNCATED');
  });

  it('truncated inside the tensor data', async () => {
    const b = llamaBytes();
    const e = await loadModel(b.slice(0, b.length - 1000)).catch((x) => x);
    expect(e).toBeInstanceOf(WasmlmError);
    expect(['TRUNCATED', 'BAD_FORMAT']).toContain((e as WasmlmError).code);
    expect((e as WasmlmError).message).toMatch(/past the end|truncated|ends/i);
  });

  it('unknown architecture', async () => {
    const b = llamaBytes();
    const key = indexOf(b, 'general.architecture');
    const value = indexOf(b, 'llama', key + 20);
    b.set(new TextEncoder().encode('zzzzz'), value);
    await expectCode(loadModel(b), 'UNKNOWN_ARCHITECTURE', /zzzzz/);
  });

  it('unsupported tensor type', async () => {
    const b = llamaBytes();
    const at = tensorTypeOffset(b, 'blk.0.attn_q.weight');
    const dv = new DataView(b.buffer);
    expect(dv.getUint32(at, true)).toBe(0); // F32
    dv.setUint32(at, 26, true); // I32: same size, not a weight type
    await expectCode(loadModel(b), 'UNSUPPORTED_TYPE', /blk\.0\.attn_q\.weight/);
  });

  it('tensors that do not fit the metadata: named, before any weights are read', async () => {
    const { readGGUF } = await import('../src/formats/gguf.js');
    const { encodeGGUF } = await import('../src/formats/gguf-writer.js');
    const rewrite = async (file: string, edit: (t: { name: string; ne: number[]; type: number; data: Uint8Array }[], m: Map<string, any>) => void) => {
      const b = new Uint8Array(readFileSync(fixture(file)));
      const h = await readGGUF(b);
      const tensors = h.tensors.map((t) => ({ name: t.name, ne: [...t.ne], type: t.type, data: b.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
      const m = new Map<string, any>(h.metadata);
      edit(tensors, m);
      return encodeGGUF(m, tensors);
    };
    const missing = await rewrite('models/llama.gguf', (t) => { t.splice(t.findIndex((x) => x.name === 'blk.1.ffn_up.weight'), 1); });
    await expectCode(loadModel(missing), 'MISSING_TENSOR', /blk\.1\.ffn_up\.weight.*\[64, 128\]/);
    const wrongShape = await rewrite('models/llama.gguf', (t) => {
      const q = t.find((x) => x.name === 'blk.0.attn_q.weight')!;
      q.ne = [32, 128];
    });
    await expectCode(loadModel(wrongShape), 'BAD_SHAPE', /blk\.0\.attn_q\.weight.*\[32, 128\].*\[64, 64\]/);
    const experts = await rewrite('models/llama_moe.gguf', (_t, m) => { m.set('llama.expert_count', { type: 4, value: 8 }); });
    await expectCode(loadModel(experts), 'BAD_SHAPE', /ffn_gate_inp\.weight.*\[64, 8\]/);
  });

  it('contextLength above the model\'s', async () => {
    await expectCode(loadModel(fixture('models/llama.gguf'), { contextLength: 4096 }), 'CONTEXT_TOO_LONG', /128/);
  });
});

describe('bad calls on a loaded model', () => {
  let model: Model;
  beforeAll(async () => { model = await loadModel(fixture('models/stories260K.gguf')); });

  it('token id out of range', async () => {
    await expectCode(model.logits([1, 512]), 'TOKEN_OUT_OF_RANGE', /512/);
    await expectCode(() => model.generate([1, -1]), 'TOKEN_OUT_OF_RANGE');
    await expectCode(model.complete([1, 2.5]), 'TOKEN_OUT_OF_RANGE');
  });

  it('empty prompt', async () => {
    await expectCode(() => model.generate(''), 'EMPTY_PROMPT');
    await expectCode(model.logits([]), 'EMPTY_PROMPT');
    await expectCode(model.complete([]), 'EMPTY_PROMPT');
  });

  it('a prompt longer than the context', async () => {
    await expectCode(model.logits(new Array(600).fill(5)), 'CONTEXT_FULL');
  });

  it('bad sampling options', async () => {
    await expectCode(model.complete('Once', { temperature: -1 }), 'BAD_ARGUMENT', /temperature/);
    await expectCode(model.complete('Once', { topP: 2 }), 'BAD_ARGUMENT', /topP/);
    await expectCode(model.complete('Once', { maxTokens: 1.5 }), 'BAD_ARGUMENT', /maxTokens/);
  });

  it('stays usable after every error above', async () => {
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 8 });
    const ref = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.ids.txt'), 'utf8')
      .trim().split(/\s+/).map(Number).slice(4, 12);
    expect(r.tokens).toEqual(ref);
  });

  it('decode of an id out of range', async () => {
    await expectCode(() => model.tokenizer.decode([1, 99999]), 'TOKEN_OUT_OF_RANGE');
  });

  it('disposed', async () => {
    const m = await loadModel(fixture('models/llama.gguf'));
    m.dispose();
    await expectCode(() => m.generate('x'), 'DISPOSED');
  });
});
