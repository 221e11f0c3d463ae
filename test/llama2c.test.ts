import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmlmError } from '../src/errors.js';
import { GGUFValueType, readGGUF, type GGUFHeader } from '../src/formats/gguf.js';
import { GGUFMetadata } from '../src/formats/gguf-metadata.js';
import { convertLlama2c, readLlama2cConfig } from '../src/formats/llama2c.js';

const FIX = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const MODEL = new Uint8Array(readFileSync(join(FIX, 'stories260K', 'stories260K.bin')));
const TOK = new Uint8Array(readFileSync(join(FIX, 'stories260K', 'tok512.bin')));
const REF_BYTES = new Uint8Array(readFileSync(join(FIX, 'models', 'stories260K.gguf')));

function tensorBytes(bytes: Uint8Array, h: GGUFHeader): Map<string, Uint8Array> {
  return new Map(h.tensors.map((t) => [t.name, bytes.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes)]));
}

function convertError(model: Uint8Array, tok: Uint8Array = TOK): WasmlmError {
  try {
    convertLlama2c(model, tok);
  } catch (e) {
    expect(e).toBeInstanceOf(WasmlmError);
    return e as WasmlmError;
  }
  throw new Error('no error');
}

/** A copy of the checkpoint with header fields replaced. */
function withHeader(fields: Partial<Record<0 | 1 | 2 | 3 | 4 | 5 | 6, number>>, model = MODEL): Uint8Array {
  const m = model.slice();
  const dv = new DataView(m.buffer);
  for (const [i, v] of Object.entries(fields)) dv.setInt32(Number(i) * 4, v!, true);
  return m;
}

describe('convertLlama2c', () => {
  it('stories260K: tensors byte-identical by name and the same metadata as the fixture GGUF', async () => {
    const out = convertLlama2c(MODEL, TOK, { name: 'stories260K' });
    const h = await readGGUF(out);
    const ref = await readGGUF(REF_BYTES);
    // tensors: same names, shapes, types and bytes
    const mine = tensorBytes(out, h);
    const theirs = tensorBytes(REF_BYTES, ref);
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    expect(mine.has('output.weight')).toBe(false); // tied classifier
    for (const t of ref.tensors) {
      const m = h.tensors.find((x) => x.name === t.name)!;
      expect(m.ne, t.name).toEqual(t.ne);
      expect(m.type, t.name).toBe(t.type);
      expect(Buffer.from(mine.get(t.name)!).equals(Buffer.from(theirs.get(t.name)!)), t.name).toBe(true);
    }
    // metadata: same keys, same value types, same values
    expect([...h.metadata.keys()]).toEqual([...ref.metadata.keys()]);
    for (const [k, v] of ref.metadata) {
      const m = h.metadata.get(k)!;
      expect(m.type, k).toBe(v.type);
      expect(m.itemType, k).toBe(v.itemType);
      expect(m.value, k).toEqual(v.value);
    }
    // in fact the whole file is identical (same key order, tensor order and layout)
    expect(out.length).toBe(REF_BYTES.length);
    expect(Buffer.from(out).equals(Buffer.from(REF_BYTES))).toBe(true);
  });

  it('token texts and types follow llama.cpp: <unk>/<s>/</s>, ▁ for spaces, BYTE pieces', async () => {
    const h = await readGGUF(convertLlama2c(MODEL, TOK));
    const tokens = new GGUFMetadata(h).stringArray('tokenizer.ggml.tokens');
    const types = h.metadata.get('tokenizer.ggml.token_type')!.value as Int32Array;
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(Array.from(types.slice(0, 4))).toEqual([2, 3, 3, 6]);
    expect(tokens[261]).toBe('\u2581a');
    const count = (t: number) => types.filter((x) => x === t).length;
    expect([count(1), count(2), count(3), count(6)]).toEqual([253, 1, 2, 256]);
    expect(h.metadata.get('general.name')!.value).toBe('llama2.c');
    expect(h.metadata.get('llama.rope.dimension_count')!.value).toBe(8);
    expect(h.metadata.get('llama.context_length')!.value).toBe(512);
  });

  it('an unshared classifier (negative vocab_size) becomes output.weight', async () => {
    const c = readLlama2cConfig(MODEL);
    const wcls = new Uint8Array(c.vocabSize * c.dim * 4);
    for (let i = 0; i < wcls.length; i++) wcls[i] = (i * 7) & 0xff;
    const model = new Uint8Array(MODEL.length + wcls.length);
    model.set(withHeader({ 5: -c.vocabSize }));
    model.set(wcls, MODEL.length);
    const out = convertLlama2c(model, TOK);
    const h = await readGGUF(out);
    const t = h.tensors.find((x) => x.name === 'output.weight')!;
    expect(t.ne).toEqual([c.dim, c.vocabSize]);
    expect(h.tensors.at(-1)!.name).toBe('output.weight');
    const data = out.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes);
    expect(Buffer.from(data).equals(Buffer.from(wcls))).toBe(true);
  });

  it('a token that is not valid UTF-8 keeps its bytes', async () => {
    const tok = TOK.slice();
    // find a 2-byte NORMAL piece ("he" is token 260) and make it 0xFF 0x68
    let p = 4;
    for (let id = 0; id < 260; id++) p += 8 + new DataView(tok.buffer).getInt32(p + 4, true);
    expect(new TextDecoder().decode(tok.subarray(p + 8, p + 10))).toBe('he');
    tok[p + 8] = 0xff;
    const h = await readGGUF(convertLlama2c(MODEL, tok));
    const v = h.metadata.get('tokenizer.ggml.tokens')!;
    expect(v.type).toBe(GGUFValueType.ARRAY);
    expect((v.value as string[])[260]).toBe('\uFFFDe');
    expect(Array.from(v.rawItems!.get(260)!)).toEqual([0xff, 0x65]);
  });

  it('checks every size', () => {
    const c = readLlama2cConfig(MODEL);
    expect(c).toMatchObject({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    const cases: [Uint8Array, Uint8Array, string, RegExp][] = [
      [MODEL.slice(0, 20), TOK, 'TRUNCATED', /header/],
      [MODEL.slice(0, MODEL.length - 4), TOK, 'TRUNCATED', /needs 1056540 bytes/],
      [new Uint8Array([...MODEL, 0, 0, 0, 0]), TOK, 'BAD_FORMAT', /4 bytes more/],
      [withHeader({ 0: 0 }), TOK, 'BAD_FORMAT', /dim = 0/],
      [withHeader({ 1: -5 }), TOK, 'BAD_FORMAT', /hidden_dim = -5/],
      [withHeader({ 2: 1 << 30 }), TOK, 'BAD_FORMAT', /n_layers/],
      [withHeader({ 3: 7 }), TOK, 'BAD_FORMAT', /not a multiple of n_heads 7/],
      [withHeader({ 4: 3 }), TOK, 'BAD_FORMAT', /n_kv_heads 3/],
      [withHeader({ 4: 16 }), TOK, 'BAD_FORMAT', /n_kv_heads 16/],
      [withHeader({ 3: 64, 4: 64 }), TOK, 'BAD_FORMAT', /head size 1 is odd/],
      [withHeader({ 5: 2 }), TOK, 'BAD_FORMAT', /vocab_size 2/],
      [withHeader({ 5: -512 }), TOK, 'TRUNCATED', /unshared classifier/],
      [withHeader({ 6: 0 }), TOK, 'BAD_FORMAT', /seq_len/],
      [REF_BYTES, TOK, 'BAD_MAGIC', /GGUF/],
      [new Uint8Array([0x32, 0x34, 0x6b, 0x61, 1, 0, 0, 0, ...new Uint8Array(40)]), TOK, 'UNSUPPORTED_VERSION', /ak42/],
      // tokenizer
      [MODEL, TOK.slice(0, 2), 'TRUNCATED', /tokenizer/],
      [MODEL, TOK.slice(0, TOK.length - 3), 'TRUNCATED', /token 511/],
      [MODEL, new Uint8Array([...TOK, 0, 0, 0, 0, 1, 0, 0, 0, 0x41]), 'BAD_FORMAT', /more tokens than the model's vocab_size/],
      [MODEL, withHeader({ 0: 0 }, TOK), 'BAD_FORMAT', /max_token_length 0/],
      [MODEL, withHeader({ 0: 3 }, TOK), 'BAD_FORMAT', /length 5 \(max_token_length 3\)/],
      [MODEL, withHeader({ 2: -1 }, TOK), 'BAD_FORMAT', /token 0 has length -1/],
    ];
    for (const [model, tok, code, re] of cases) {
      const e = convertError(model, tok);
      expect(e.code, e.message).toBe(code);
      expect(e.message).toMatch(re);
    }
  });
});
