#!/usr/bin/env node
// Writes a random-weight LLaMA-shaped GGUF with wasmlm's own writer and quantizer.
//   node bench/make-model.mjs --shape stories110m|tinyllama --type f32|f16|q8_0|q4_0|q4_k_m --out FILE
// One tensor at a time: each is generated in f32, quantized, written and dropped, so memory stays at
// about one f32 tensor (the 32000-row embedding: 98 MB for stories110m, 262 MB for tinyllama) even
// where the whole f32 model would not fit (tinyllama f32 is 4.4 GB).
// q4_k_m is llama.cpp's mix as `wasmlm quantize --type q4_k_m` writes it (src/formats/quantize.ts,
// planQuantization; not in the public API, so the llama-shape rule is repeated in q4kmType below).
import { writeGGUFFile, quantizeTensor, GGUFValueType } from '../dist/index.js';

export const SHAPES = {
  stories110m: { nEmbd: 768, nLayer: 12, nHead: 12, nHeadKv: 12, nFf: 2048, nVocab: 32000, ctx: 1024 },
  tinyllama: { nEmbd: 2048, nLayer: 22, nHead: 32, nHeadKv: 4, nFf: 5632, nVocab: 32000, ctx: 2048 },
};
// ggml tensor type of the 2-D weights; general.file_type (llama_ftype)
const TYPES = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_k_m: 12 };
const FILE_TYPES = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k_m: 15 };
const Q4_K = 12, Q6_K = 14;

/**
 * llama.cpp's Q4_K_M for a llama-shaped model (untied output, rows of 256): output Q6_K; attn_v and
 * ffn_down Q6_K on "use_more_bits" layers (the first and last eighth, every third in between); the
 * rest, token_embd included, Q4_K.
 */
export function q4kmType(name, nLayer) {
  if (name === 'output.weight') return Q6_K;
  const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
  if (!m) return Q4_K;
  const i = Number(m[1]), e = Math.trunc(nLayer / 8);
  return i < e || i >= Math.trunc((7 * nLayer) / 8) || (i - e) % 3 === 2 ? Q6_K : Q4_K;
}

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A SentencePiece-style vocabulary: <unk>, <s>, </s>, 256 byte tokens, then synthetic pieces. */
function vocab(n) {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  for (let i = 0; tokens.length < n; i++) {
    let s = '', k = i;
    do { s += letters[k % 26]; k = Math.floor(k / 26); } while (k > 0);
    tokens.push(i % 2 ? '\u2581' + s : s);
    types.push(1);
  }
  const scores = new Float32Array(n).map((_, i) => (i < 259 ? 0 : -i));
  return { tokens, types: Int32Array.from(types), scores };
}

/**
 * vocabulary (optional): a real one instead of the synthetic SentencePiece one, as GGUF tokenizer keys:
 * { model, pre?, tokens, types, scores?, merges?, bos?, eos?, addBos } (n_vocab follows its size).
 * @param {{ shape: string, type: string, out: string, seed?: number, progress?: (name: string, type: number) => void,
 *   vocabulary?: { model: string, pre?: string, tokens: string[], types: Int32Array, scores?: Float32Array, merges?: string[],
 *   bos?: number, eos?: number, addBos: boolean } }} opts
 */
export async function makeModel({ shape, type, out, seed = 1234, progress, vocabulary }) {
  const s = vocabulary ? { ...SHAPES[shape], nVocab: vocabulary.tokens.length } : SHAPES[shape];
  if (!s) throw new Error(`unknown shape ${shape} (${Object.keys(SHAPES).join(', ')})`);
  const ggmlType = TYPES[type];
  if (ggmlType === undefined) throw new Error(`unknown type ${type} (${Object.keys(TYPES).join(', ')})`);
  const random = rng(seed);
  const headDim = s.nEmbd / s.nHead;
  const kvDim = s.nHeadKv * headDim;
  const tensors = [];
  const mat = (name, nIn, nOut) => {
    const t = type === 'q4_k_m' ? q4kmType(name, s.nLayer) : ggmlType;
    tensors.push({
      name, ne: [nIn, nOut], type: t,
      data: () => {
        /** @type {Float32Array | undefined} */
        let w = new Float32Array(nIn * nOut);
        const scale = 1 / Math.sqrt(nIn);
        for (let i = 0; i < w.length; i++) w[i] = (random() * 2 - 1) * scale * 1.7;
        const q = quantizeTensor(t, w);
        w = undefined;
        if (progress) progress(name, t);
        return q;
      },
    });
  };
  const norm = (name, n) => tensors.push({
    name, ne: [n], type: 0,
    data: () => new Uint8Array(new Float32Array(n).fill(1).buffer),
  });
  mat('token_embd.weight', s.nEmbd, s.nVocab);
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    norm(b + 'attn_norm.weight', s.nEmbd);
    mat(b + 'attn_q.weight', s.nEmbd, s.nEmbd);
    mat(b + 'attn_k.weight', s.nEmbd, kvDim);
    mat(b + 'attn_v.weight', s.nEmbd, kvDim);
    mat(b + 'attn_output.weight', s.nEmbd, s.nEmbd);
    norm(b + 'ffn_norm.weight', s.nEmbd);
    mat(b + 'ffn_gate.weight', s.nEmbd, s.nFf);
    mat(b + 'ffn_down.weight', s.nFf, s.nEmbd);
    mat(b + 'ffn_up.weight', s.nEmbd, s.nFf);
  }
  norm('output_norm.weight', s.nEmbd);
  mat('output.weight', s.nEmbd, s.nVocab);
  const v = vocab(vocabulary ? 0 : s.nVocab);
  const T = GGUFValueType;
  const metadata = [
    ['general.architecture', T.STRING, 'llama'],
    ['general.name', T.STRING, `random ${shape} ${type}`],
    ['general.file_type', T.UINT32, FILE_TYPES[type]],
    ...(type === 'f32' || type === 'f16' ? [] : [['general.quantization_version', T.UINT32, 2]]),
    ['llama.context_length', T.UINT32, s.ctx],
    ['llama.embedding_length', T.UINT32, s.nEmbd],
    ['llama.block_count', T.UINT32, s.nLayer],
    ['llama.feed_forward_length', T.UINT32, s.nFf],
    ['llama.attention.head_count', T.UINT32, s.nHead],
    ['llama.attention.head_count_kv', T.UINT32, s.nHeadKv],
    ['llama.rope.dimension_count', T.UINT32, headDim],
    ['llama.rope.freq_base', T.FLOAT32, 10000],
    ['llama.attention.layer_norm_rms_epsilon', T.FLOAT32, 1e-5],
    ...(vocabulary ? [
      ['tokenizer.ggml.model', T.STRING, vocabulary.model],
      ...(vocabulary.pre ? [['tokenizer.ggml.pre', T.STRING, vocabulary.pre]] : []),
      ['tokenizer.ggml.tokens', T.ARRAY, vocabulary.tokens, T.STRING],
      ['tokenizer.ggml.token_type', T.ARRAY, vocabulary.types, T.INT32],
      ...(vocabulary.scores ? [['tokenizer.ggml.scores', T.ARRAY, vocabulary.scores, T.FLOAT32]] : []),
      ...(vocabulary.merges ? [['tokenizer.ggml.merges', T.ARRAY, vocabulary.merges, T.STRING]] : []),
      ...(vocabulary.bos !== undefined ? [['tokenizer.ggml.bos_token_id', T.UINT32, vocabulary.bos]] : []),
      ...(vocabulary.eos !== undefined ? [['tokenizer.ggml.eos_token_id', T.UINT32, vocabulary.eos]] : []),
      ['tokenizer.ggml.add_bos_token', T.BOOL, vocabulary.addBos],
    ] : [
      ['tokenizer.ggml.model', T.STRING, 'llama'],
      ['tokenizer.ggml.tokens', T.ARRAY, v.tokens, T.STRING],
      ['tokenizer.ggml.scores', T.ARRAY, v.scores, T.FLOAT32],
      ['tokenizer.ggml.token_type', T.ARRAY, v.types, T.INT32],
      ['tokenizer.ggml.bos_token_id', T.UINT32, 1],
      ['tokenizer.ggml.eos_token_id', T.UINT32, 2],
      ['tokenizer.ggml.unknown_token_id', T.UINT32, 0],
      ['tokenizer.ggml.add_bos_token', T.BOOL, true],
      ['tokenizer.ggml.add_eos_token', T.BOOL, false],
    ]),
  ].map(([key, type, value, itemType]) => ({ key, type, value, itemType }));
  await writeGGUFFile(out, metadata, tensors);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
  const out = get('out');
  if (!out) { console.error('usage: node bench/make-model.mjs --shape stories110m|tinyllama --type f32|f16|q8_0|q4_0|q4_k_m --out FILE'); process.exit(2); }
  const t0 = performance.now();
  let n = 0;
  const progress = process.stderr.isTTY || process.env.MAKE_MODEL_PROGRESS
    ? (name) => process.stderr.write(`\r${++n} tensors, ${((performance.now() - t0) / 1000).toFixed(0)} s: ${name}        `) : undefined;
  await makeModel({ shape: get('shape', 'stories110m'), type: get('type', 'q8_0'), out, seed: Number(get('seed', '1234')), progress });
  console.error(`${progress ? '\n' : ''}wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
