#!/usr/bin/env node
// Writes a random-weight LLaMA-shaped GGUF with wasmlm's own writer and quantizer.
//   node bench/make-model.mjs --shape stories110m|tinyllama|llama8b --type f32|f16|q8_0|q4_0|q4_k_m [--out FILE]
//     [--blocks quantize|random]
// One tensor at a time: each is generated, written and dropped, so memory stays at about one tensor
// (the 32000-row embedding in f32: 98 MB for stories110m, 262 MB for tinyllama) even where the whole
// model would not fit (tinyllama f32 is 4.4 GB).
// --blocks quantize (the default for stories110m and tinyllama): f32 weights through wasmlm's quantizer
// (ggml's reference search: tinyllama q4_k_m takes ~8 min). --blocks random (the default for llama8b:
// ~4.9 GB at q4_k_m, written in about a minute): random valid blocks written directly — random quants,
// per-block scales drawn around the value that gives the quantizer path's weight spread
// (std ≈ 1/sqrt(n_in)), so activations stay finite.
// q4_k_m is llama.cpp's mix as `wasmlm quantize --type q4_k_m` writes it (src/formats/quantize.ts,
// planQuantization; not in the public API, so the llama-shape rule is repeated in q4kmType below).
import { fileURLToPath } from 'node:url';
import { writeGGUFFile, quantizeTensor, GGUFValueType } from '../dist/index.js';

export const SHAPES = {
  stories110m: { nEmbd: 768, nLayer: 12, nHead: 12, nHeadKv: 12, nFf: 2048, nVocab: 32000, ctx: 1024 },
  tinyllama: { nEmbd: 2048, nLayer: 22, nHead: 32, nHeadKv: 4, nFf: 5632, nVocab: 32000, ctx: 2048 },
  // Llama 3 8B's shape (rope theta 500000, context 8192)
  llama8b: { nEmbd: 4096, nLayer: 32, nHead: 32, nHeadKv: 8, nFf: 14336, nVocab: 128256, ctx: 8192, ropeBase: 500000 },
};
/** the default --blocks of each shape: the quantizer's search is far too slow in plain JS for 8B */
const RANDOM_BLOCKS = new Set(['llama8b']);
// ggml tensor type of the 2-D weights; general.file_type (llama_ftype)
const TYPES = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_k_m: 12 };
const FILE_TYPES = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k_m: 15 };
const Q4_0 = 2, Q8_0 = 8, Q4_K = 12, Q6_K = 14;

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

/** IEEE half bits of a positive normal x (truncated: the scales only need to be near their target) */
function halfBits(x) {
  const e = Math.floor(Math.log2(x));
  if (e < -14 || e > 15) throw new Error(`scale ${x} is outside half's normal range`);
  return ((e + 15) << 10) | Math.floor((x / 2 ** e - 1) * 1024);
}

/**
 * Random valid blocks of ggml type `t` for an n_in × n_out matrix whose values spread as the quantizer
 * path's (uniform in ±1.7/sqrt(n_in): std ≈ 0.98/sqrt(n_in)). The quants are random bytes; each block's
 * scale is a half near the one giving that std (mantissa ±25%), written over the random bytes.
 * Layouts (ggml-common.h): Q4_0 {d, qs[16]}; Q8_0 {d, qs[32]}; Q4_K {d, dmin, scales[12], qs[128]},
 * weight = d·sc·q − dmin·m; Q6_K {ql[128], qh[64], scales[16] int8, d}, weight = d·sc·(q − 32).
 */
function randomBlocks(t, nIn, nOut, next) {
  const std = 0.98 / Math.sqrt(nIn);
  const { bytes, block } = BLOCKS[t];
  const nBlocks = (nIn / block) * nOut;
  const out = new Uint8Array(nBlocks * bytes);
  const u32 = new Uint32Array(out.buffer, 0, out.length >>> 2);
  for (let i = 0; i < u32.length; i++) u32[i] = next();
  const dv = new DataView(out.buffer);
  // the scale that gives `std`, as half bits; each block's is moved by up to ±256 of its 1024 mantissa steps
  const jitter = (h) => h + ((next() >>> 23) - 256);
  if (t === Q4_0) { // q − 8, q uniform in 0..15: std 4.61
    const h = halfBits(std / 4.61);
    for (let b = 0; b < nBlocks; b++) dv.setUint16(b * bytes, jitter(h), true);
  } else if (t === Q8_0) { // int8 uniform: std 73.9
    const h = halfBits(std / 73.9);
    for (let b = 0; b < nBlocks; b++) dv.setUint16(b * bytes, jitter(h), true);
  } else if (t === Q4_K) {
    // 6-bit sub-block scales sc = m in 8..15 (mean 11.5); dmin = 7.5·d centres q in 0..15: std 4.61·d·sc
    const d = std / (4.61 * 11.5);
    const h = halfBits(d), hm = halfBits(7.5 * d);
    for (let b = 0; b < nBlocks; b++) {
      const o = b * bytes;
      const j = next() >>> 23;
      dv.setUint16(o, h + j - 256, true);
      dv.setUint16(o + 2, hm + j - 256, true); // about the same relative move: the block stays near centred
      // packing of ggml's get_scale_min_k4 for values < 16: scales[0..3] = sc, [4..7] = m, [8..11] = sc | m << 4
      const r = next();
      for (let k = 0; k < 4; k++) {
        const sc = 8 + ((r >>> (4 * k)) & 7), sc2 = 8 + ((r >>> (4 * k + 16)) & 7);
        out[o + 4 + k] = sc; out[o + 8 + k] = sc;
        out[o + 12 + k] = sc2 | (sc2 << 4);
      }
    }
  } else if (t === Q6_K) { // int8 sub-block scales in 4..7 (mean 5.5, keeping d a normal half); q − 32, q uniform in 0..63: std 18.5
    const h = halfBits(std / (18.5 * 5.5));
    for (let b = 0; b < nBlocks; b++) {
      const o = b * bytes;
      for (let k = 0; k < 16; k += 4) {
        const r = next();
        for (let i = 0; i < 4; i++) out[o + 192 + k + i] = 4 + ((r >>> (8 * i)) & 3);
      }
      dv.setUint16(o + 208, jitter(h), true);
    }
  } else {
    throw new Error(`--blocks random: no random block writer for ggml type ${t}`);
  }
  return out;
}
const BLOCKS = { [Q4_0]: { bytes: 18, block: 32 }, [Q8_0]: { bytes: 34, block: 32 }, [Q4_K]: { bytes: 144, block: 256 }, [Q6_K]: { bytes: 210, block: 256 } };

/** xorshift128: 32 random bits per call, seeded */
function rng32(seed) {
  let x = seed >>> 0 || 1, y = 362436069, z = 521288629, w = 88675123;
  return () => {
    const t = x ^ (x << 11);
    x = y; y = z; z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w;
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
 * blocks: 'quantize' (f32 weights through the quantizer) or 'random' (random valid blocks); default by shape.
 * @param {{ shape: string, type: string, out: string, seed?: number, blocks?: 'quantize' | 'random', progress?: (name: string, type: number) => void,
 *   vocabulary?: { model: string, pre?: string, tokens: string[], types: Int32Array, scores?: Float32Array, merges?: string[],
 *   bos?: number, eos?: number, addBos: boolean } }} opts
 */
export async function makeModel({ shape, type, out, seed = 1234, progress, vocabulary, blocks = RANDOM_BLOCKS.has(shape) ? 'random' : 'quantize' }) {
  const s = vocabulary ? { ...SHAPES[shape], nVocab: vocabulary.tokens.length } : SHAPES[shape];
  if (!s) throw new Error(`unknown shape ${shape} (${Object.keys(SHAPES).join(', ')})`);
  const ggmlType = TYPES[type];
  if (ggmlType === undefined) throw new Error(`unknown type ${type} (${Object.keys(TYPES).join(', ')})`);
  if (blocks !== 'random' && blocks !== 'quantize') throw new Error(`unknown --blocks ${blocks} (quantize, random)`);
  const random = rng(seed);
  const next = rng32(seed);
  const headDim = s.nEmbd / s.nHead;
  const kvDim = s.nHeadKv * headDim;
  const tensors = [];
  const mat = (name, nIn, nOut) => {
    const t = type === 'q4_k_m' ? q4kmType(name, s.nLayer) : ggmlType;
    tensors.push({
      name, ne: [nIn, nOut], type: t,
      data: () => {
        if (blocks === 'random' && t !== 0 && t !== 1) {
          const q = randomBlocks(t, nIn, nOut, next);
          if (progress) progress(name, t);
          return q;
        }
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
    ['llama.rope.freq_base', T.FLOAT32, s.ropeBase ?? 10000],
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
  const shape = get('shape', 'stories110m'), type = get('type', 'q8_0');
  const out = get('out', fileURLToPath(new URL(`models/${shape}-${type}.gguf`, import.meta.url)));
  if (!SHAPES[shape]) { console.error(`usage: node bench/make-model.mjs --shape ${Object.keys(SHAPES).join('|')} --type ${Object.keys(TYPES).join('|')} [--out FILE (bench/models/SHAPE-TYPE.gguf)] [--blocks quantize|random]`); process.exit(2); }
  const t0 = performance.now();
  let n = 0;
  const progress = process.stderr.isTTY || process.env.MAKE_MODEL_PROGRESS
    ? (name) => process.stderr.write(`\r${++n} tensors, ${((performance.now() - t0) / 1000).toFixed(0)} s: ${name}        `) : undefined;
  await makeModel({ shape, type, out, seed: Number(get('seed', '1234')), progress, blocks: get('blocks') });
  console.error(`${progress ? '\n' : ''}wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
