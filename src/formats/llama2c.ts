// llama2.c checkpoint (legacy "version 0" export) + tokenizer.bin → GGUF (arch llama).
//
// Checkpoint: 7 × int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; a negative vocab_size means the classifier is not shared with the embedding), then
// float32 tensors: token_embedding_table[vocab][dim], rms_att[L][dim], wq[L][dim][dim],
// wk[L][kv_dim][dim], wv[L][kv_dim][dim], wo[L][dim][dim], rms_ffn[L][dim],
// w1[L][hidden][dim], w2[L][dim][hidden], w3[L][hidden][dim], rms_final[dim],
// freq_cis_real[seq_len][head_size/2], freq_cis_imag[same], then wcls[vocab][dim] when unshared.
// Row-major [out][in] is exactly ggml's ne = [in, out], so weights are copied as they are; wq/wk
// are not permuted (llama2.c's RoPE rotates adjacent pairs, like llama.cpp's normal mode).
//
// tokenizer.bin: int32 max_token_length, then per token: f32 score, int32 length, bytes.
// Token texts follow llama.cpp's convert-llama2c-to-ggml: ids 0, 1, 2 become <unk>, <s>, </s>
// (llama2.c stores "\n<s>\n" and "\n</s>\n"), spaces become U+2581 '▁'; types: id 0 UNKNOWN (2),
// ids 1, 2 and empty pieces CONTROL (3), <0xNN> BYTE (6), the rest NORMAL (1).
//
// The output matches /work/shared/fixtures/models/stories260K.gguf byte for byte (same keys,
// value types, key order and tensor order).

import { WasmlmError } from '../errors.js';
import { GGML_F32 } from './ggml-types.js';
import { GGUFValueType, type GGUFMetaValue } from './gguf.js';
import { encodeGGUF, meta, type GGUFWriteTensor } from './gguf-writer.js';

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** the classifier (output) is the embedding table (vocab_size > 0 in the header) */
  sharedClassifier: boolean;
}

export interface Llama2cOptions {
  /** general.name (default "llama2.c") */
  name?: string;
}

const HEADER_BYTES = 28;
const MAX_DIM = 1 << 20;

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Parse and check the 28-byte checkpoint header. */
export function readLlama2cConfig(model: Uint8Array): Llama2cConfig {
  if (model.length < HEADER_BYTES) {
    throw new WasmlmError('TRUNCATED', `llama2.c checkpoint: ${model.length} bytes is shorter than the 28-byte header`);
  }
  const magic = String.fromCharCode(model[0]!, model[1]!, model[2]!, model[3]!);
  if (magic === 'GGUF') throw new WasmlmError('BAD_MAGIC', 'this is a GGUF file already, not a llama2.c checkpoint');
  const dv = new DataView(model.buffer, model.byteOffset, model.byteLength);
  if (dv.getUint32(0, true) === 0x616b3432) {
    throw new WasmlmError(
      'UNSUPPORTED_VERSION',
      `llama2.c checkpoint: export format version ${dv.getInt32(4, true)} ("ak42" header) is not supported; export with --version 0 (legacy)`,
    );
  }
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h as [number, number, number, number, number, number, number];
  const fields: [string, number][] = [
    ['dim', dim], ['hidden_dim', hiddenDim], ['n_layers', nLayers], ['n_heads', nHeads],
    ['n_kv_heads', nKvHeads], ['|vocab_size|', Math.abs(vocabRaw)], ['seq_len', seqLen],
  ];
  for (const [k, v] of fields) {
    if (!(v > 0 && v <= MAX_DIM)) {
      throw new WasmlmError('BAD_FORMAT', `llama2.c checkpoint: header field ${k} = ${v} is not a plausible size (header: ${h.join(', ')})`);
    }
  }
  if (Math.abs(vocabRaw) < 3) {
    throw new WasmlmError('BAD_FORMAT', `llama2.c checkpoint: vocab_size ${vocabRaw} is too small (ids 0-2 are <unk>, <s>, </s>)`);
  }
  if (dim % nHeads !== 0) {
    throw new WasmlmError('BAD_FORMAT', `llama2.c checkpoint: dim ${dim} is not a multiple of n_heads ${nHeads}`);
  }
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw new WasmlmError('BAD_FORMAT', `llama2.c checkpoint: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  }
  if ((dim / nHeads) % 2 !== 0) {
    throw new WasmlmError('BAD_FORMAT', `llama2.c checkpoint: head size ${dim / nHeads} is odd (RoPE needs pairs)`);
  }
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), seqLen, sharedClassifier: vocabRaw > 0 };
}

export interface Llama2cPiece {
  text: string;
  raw?: Uint8Array;
  score: number;
  type: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/** Parse tokenizer.bin for a vocabulary of nVocab tokens. */
export function readLlama2cTokenizer(tokenizer: Uint8Array, nVocab: number): Llama2cPiece[] {
  const dv = new DataView(tokenizer.buffer, tokenizer.byteOffset, tokenizer.byteLength);
  const n = tokenizer.length;
  if (n < 4) throw new WasmlmError('TRUNCATED', `llama2.c tokenizer: ${n} bytes is too short`);
  const maxLen = dv.getInt32(0, true);
  if (!(maxLen > 0 && maxLen <= 1 << 16)) {
    throw new WasmlmError('BAD_FORMAT', `llama2.c tokenizer: max_token_length ${maxLen} is not plausible`);
  }
  const pieces: Llama2cPiece[] = [];
  let p = 4;
  for (let id = 0; id < nVocab; id++) {
    if (p + 8 > n) {
      throw new WasmlmError('TRUNCATED', `llama2.c tokenizer: ends at token ${id} of ${nVocab} (the model's vocab_size)`);
    }
    const score = dv.getFloat32(p, true);
    const len = dv.getInt32(p + 4, true);
    p += 8;
    if (len < 0 || len > maxLen) {
      throw new WasmlmError('BAD_FORMAT', `llama2.c tokenizer: token ${id} has length ${len} (max_token_length ${maxLen})`);
    }
    if (p + len > n) throw new WasmlmError('TRUNCATED', `llama2.c tokenizer: token ${id} runs past the end of the file`);
    let bytes = tokenizer.subarray(p, p + len);
    p += len;

    let type: number = TOKEN_TYPE.NORMAL;
    let fixed: string | undefined;
    if (id === 0) {
      fixed = '<unk>';
      type = TOKEN_TYPE.UNKNOWN;
    } else if (id === 1) {
      fixed = '<s>';
      type = TOKEN_TYPE.CONTROL;
    } else if (id === 2) {
      fixed = '</s>';
      type = TOKEN_TYPE.CONTROL;
    } else if (len === 0) {
      type = TOKEN_TYPE.CONTROL;
    } else if (isBytePiece(bytes)) {
      type = TOKEN_TYPE.BYTE;
    }
    if (fixed !== undefined) {
      pieces.push({ text: fixed, score, type });
      continue;
    }
    bytes = escapeSpaces(bytes);
    try {
      pieces.push({ text: utf8.decode(bytes), score, type });
    } catch {
      pieces.push({ text: utf8Lossy.decode(bytes), raw: bytes.slice(), score, type });
    }
  }
  if (p !== n) {
    throw new WasmlmError(
      'BAD_FORMAT',
      `llama2.c tokenizer: ${n - p} bytes left after ${nVocab} tokens: it has more tokens than the model's vocab_size (a tokenizer for another model?)`,
    );
  }
  return pieces;
}

/** "<0xNN>" */
function isBytePiece(b: Uint8Array): boolean {
  const hex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
  return b.length === 6 && b[0] === 0x3c && b[1] === 0x30 && b[2] === 0x78 && hex(b[3]!) && hex(b[4]!) && b[5] === 0x3e;
}

/** ' ' → U+2581 (E2 96 81) */
function escapeSpaces(b: Uint8Array): Uint8Array {
  let spaces = 0;
  for (const c of b) if (c === 0x20) spaces++;
  if (spaces === 0) return b;
  const out = new Uint8Array(b.length + spaces * 2);
  let o = 0;
  for (const c of b) {
    if (c === 0x20) {
      out[o++] = 0xe2;
      out[o++] = 0x96;
      out[o++] = 0x81;
    } else out[o++] = c;
  }
  return out;
}

/** Convert a llama2.c checkpoint and its tokenizer.bin to GGUF bytes. */
export function convertLlama2c(model: Uint8Array, tokenizer: Uint8Array, opts: Llama2cOptions = {}): Uint8Array {
  const c = readLlama2cConfig(model);
  const { dim, hiddenDim: hidden, nLayers: L, nHeads, nKvHeads, vocabSize: V, seqLen } = c;
  const headSize = dim / nHeads;
  const kvDim = headSize * nKvHeads;

  // float counts in file order
  const sizes = {
    embd: V * dim,
    rmsAtt: L * dim,
    wq: L * dim * dim,
    wk: L * dim * kvDim,
    wv: L * dim * kvDim,
    wo: L * dim * dim,
    rmsFfn: L * dim,
    w1: L * dim * hidden,
    w2: L * hidden * dim,
    w3: L * dim * hidden,
    rmsFinal: dim,
    freqCis: seqLen * headSize, // real and imaginary halves
    wcls: c.sharedClassifier ? 0 : V * dim,
  };
  let floats = 0;
  for (const v of Object.values(sizes)) floats += v;
  const expected = HEADER_BYTES + floats * 4;
  if (!Number.isSafeInteger(expected)) throw new WasmlmError('BAD_FORMAT', 'llama2.c checkpoint: header sizes overflow');
  if (model.length < expected) {
    throw new WasmlmError(
      'TRUNCATED',
      `llama2.c checkpoint: the header (dim ${dim}, hidden ${hidden}, ${L} layers, vocab ${V}${c.sharedClassifier ? '' : ', unshared classifier'}) needs ${expected} bytes, the file has ${model.length}`,
    );
  }
  if (model.length > expected) {
    throw new WasmlmError(
      'BAD_FORMAT',
      `llama2.c checkpoint: ${model.length - expected} bytes more than the header (dim ${dim}, hidden ${hidden}, ${L} layers, vocab ${V}${c.sharedClassifier ? '' : ', unshared classifier'}) accounts for`,
    );
  }

  const pieces = readLlama2cTokenizer(tokenizer, V);

  // offsets (bytes) of each section
  let off = HEADER_BYTES;
  const take = (nFloats: number): number => {
    const o = off;
    off += nFloats * 4;
    return o;
  };
  const at = {
    embd: take(sizes.embd),
    rmsAtt: take(sizes.rmsAtt),
    wq: take(sizes.wq),
    wk: take(sizes.wk),
    wv: take(sizes.wv),
    wo: take(sizes.wo),
    rmsFfn: take(sizes.rmsFfn),
    w1: take(sizes.w1),
    w2: take(sizes.w2),
    w3: take(sizes.w3),
    rmsFinal: take(sizes.rmsFinal),
    freqCis: take(sizes.freqCis),
    wcls: take(sizes.wcls),
  };
  const slice = (start: number, nFloats: number) => model.subarray(start, start + nFloats * 4);
  const layer = (base: number, l: number, per: number) => slice(base + l * per * 4, per);

  const tensors: GGUFWriteTensor[] = [];
  const add = (name: string, ne: number[], data: Uint8Array) => tensors.push({ name, ne, type: GGML_F32, data });
  add('token_embd.weight', [dim, V], slice(at.embd, sizes.embd));
  for (let l = 0; l < L; l++) {
    add(`blk.${l}.attn_norm.weight`, [dim], layer(at.rmsAtt, l, dim));
    add(`blk.${l}.attn_q.weight`, [dim, dim], layer(at.wq, l, dim * dim));
    add(`blk.${l}.attn_k.weight`, [dim, kvDim], layer(at.wk, l, dim * kvDim));
    add(`blk.${l}.attn_v.weight`, [dim, kvDim], layer(at.wv, l, dim * kvDim));
    add(`blk.${l}.attn_output.weight`, [dim, dim], layer(at.wo, l, dim * dim));
    add(`blk.${l}.ffn_norm.weight`, [dim], layer(at.rmsFfn, l, dim));
    add(`blk.${l}.ffn_gate.weight`, [dim, hidden], layer(at.w1, l, dim * hidden));
    add(`blk.${l}.ffn_down.weight`, [hidden, dim], layer(at.w2, l, hidden * dim));
    add(`blk.${l}.ffn_up.weight`, [dim, hidden], layer(at.w3, l, dim * hidden));
  }
  add('output_norm.weight', [dim], slice(at.rmsFinal, dim));
  if (!c.sharedClassifier) add('output.weight', [dim, V], slice(at.wcls, sizes.wcls));

  const tokens: GGUFMetaValue = meta.strArray(pieces.map((p) => p.text));
  const raw = new Map<number, Uint8Array>();
  pieces.forEach((p, i) => p.raw && raw.set(i, p.raw));
  if (raw.size > 0) tokens.rawItems = raw;

  const md = new Map<string, GGUFMetaValue>([
    ['general.architecture', meta.str('llama')],
    ['general.name', meta.str(opts.name ?? 'llama2.c')],
    ['general.file_type', meta.u32(0)], // all F32
    ['llama.context_length', meta.u32(seqLen)],
    ['llama.embedding_length', meta.u32(dim)],
    ['llama.block_count', meta.u32(L)],
    ['llama.feed_forward_length', meta.u32(hidden)],
    ['llama.attention.head_count', meta.u32(nHeads)],
    ['llama.attention.head_count_kv', meta.u32(nKvHeads)],
    ['llama.rope.dimension_count', meta.u32(headSize)],
    ['llama.rope.freq_base', meta.f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(1e-5)],
    ['tokenizer.ggml.model', meta.str('llama')],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.scores', meta.f32Array(Float32Array.from(pieces, (p) => p.score))],
    ['tokenizer.ggml.token_type', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value: Int32Array.from(pieces, (p) => p.type) }],
    ['tokenizer.ggml.bos_token_id', meta.u32(1)],
    ['tokenizer.ggml.eos_token_id', meta.u32(2)],
    ['tokenizer.ggml.unknown_token_id', meta.u32(0)],
    ['tokenizer.ggml.add_bos_token', meta.bool(true)],
    ['tokenizer.ggml.add_eos_token', meta.bool(false)],
  ]);
  return encodeGGUF(md, tensors);
}
