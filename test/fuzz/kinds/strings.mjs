/**
 * Adversarial strings x tokenizers: the fixture vocabularies (GGUF vocab files, the LLaMA 3 and
 * Qwen 3 tokenizer.json, the seeds of tokenizer-seeds.mjs) with generated text: long runs, every
 * kind of whitespace, lone surrogates, combining marks, emoji sequences, special-token and
 * byte-token text, normalization expanders, random code points from every plane.
 *
 * Accepted but wrong: ids outside the vocabulary; a decode that rejects encode's ids; for the
 * byte-level BPE vocabularies without a normalizer that have a token for each of the 256 bytes,
 * decode(encode(s)) !== s (lone surrogates as U+FFFD). (StarCoder's vocabulary lacks some byte
 * tokens, e.g. 0xF1: those bytes are dropped, as HF tokenizers drop them.)
 */
import { join } from 'node:path';
import { buildSeeds, GPT2_BYTES } from '../tokenizer-seeds.mjs';
import { exercise } from './tokenizer-json.mjs';

const GGUF_VOCABS = ['bert-bge', 'deepseek-coder', 'falcon', 'gpt-2', 'llama-spm', 'phi-3', 'starcoder', 'baichuan', 'gpt-neox'];
/** Byte-level BPE without a normalizer: decode(encode(s)) gives s back when every byte has a token. */
const LOSSLESS = new Set(['gguf:gpt-2', 'gguf:starcoder', 'json:llama3']);
const TOKENIZERS = [...GGUF_VOCABS.map((v) => `gguf:${v}`), 'json:llama3', 'json:qwen3', 'model:stories260K', 'seed:llama3-mini', 'seed:spm-bpe', 'seed:unigram', 'seed:wordpiece', 'seed:wordlevel'];

const PIECES = [
  'a', ' ', '\n', '\t', '\r\n', '1', '!', '.', "'s", '▁', 'Ġ', '##', '<s>', '</s>', '<unk>', '<|endoftext|>', '<|begin_of_text|>', '<|im_start|>', '[CLS]', '[UNK]',
  '<0x41>', '<0xFF>', '<|', '|>', '\u0000', '\u001b', '\u0085', '\u00a0', '\u1680', '\u2028', '\u2029', '\u3000', '\ufeff', '\u200b', '\u200d', '\u2060',
  '\ud800', '\udfff', '\udbff\udfff', '\uffff', '\ufffd', '\ufdfa', 'ﬃ', 'ẞ', 'İ', 'Σ', 'ς', 'ǅ', '\u0301', '\u0308\u0301\u0327', 'é', 'e\u0301',
  '日本語', '한국어', 'العربية', 'עברית', 'हिन्दी', 'ไทย', '😀', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇺🇳', '\u{10ffff}', '\u{e0001}', '\u{1d11e}', '𝔘𝔫𝔦',
  'https://example.com/a?b=c&d=e', '    def f(x):\n        return x\n', '1234567890', '3.14159', 'ÀÁÂÃÄÅ', 'naïve café', "don't", 'A'.repeat(3),
];

export function adversarialString(rng) {
  const mode = rng.weighted([[5, 'mix'], [2, 'run'], [2, 'random'], [1, 'long-word'], [1, 'empty']]);
  switch (mode) {
    case 'empty': return rng.pick(['', ' ', '\n', '\u0000', '\ud800']);
    case 'run': return rng.pick(PIECES).repeat(rng.len(20000)) + (rng.chance(0.5) ? rng.pick(PIECES) : '');
    case 'long-word': return Array.from({ length: rng.len(3000) }, () => String.fromCharCode(rng.int(0x61, 0x7a))).join('');
    case 'random': {
      let s = '';
      const n = rng.len(2000);
      for (let i = 0; i < n; i++) {
        const cp = rng.weighted([[4, () => rng.int(0x20, 0x7e)], [1, () => rng.int(0, 0x1f)], [2, () => rng.int(0x80, 0x7ff)], [2, () => rng.int(0x800, 0xffff)], [1, () => rng.int(0x10000, 0x10ffff)]])();
        s += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
      }
      return s;
    }
    default: {
      let s = '';
      const n = rng.len(200);
      for (let i = 0; i < n; i++) s += rng.chance(0.2) ? rng.pick(PIECES).repeat(rng.len(50)) : rng.pick(PIECES);
      return s;
    }
  }
}

async function load(ctx, name) {
  const [kind, id] = name.split(':');
  const { loadTokenizer } = ctx.pkg;
  if (kind === 'gguf') return loadTokenizer(join(ctx.fixtures, 'tokenizers', `ggml-vocab-${id}.gguf`));
  if (kind === 'json') return loadTokenizer(join(ctx.fixtures, 'tokenizers', 'hf', id, 'tokenizer.json'));
  if (kind === 'model') return loadTokenizer(join(ctx.fixtures, 'models', `${id}.gguf`));
  const seeds = await ctx.cached('tokenizer-seeds', () => buildSeeds(ctx.pkg, ctx.fixtures));
  return loadTokenizer(seeds[id], { config: null });
}

const show = (s) => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s) + (s.length > 60 ? ` (${s.length} chars)` : '');

export const strings = {
  name: 'strings',
  about: 'adversarial strings through encode / decode / stream decode of the fixture tokenizers',

  generate(rng) {
    const tokenizer = rng.pick(TOKENIZERS);
    const list = Array.from({ length: rng.int(1, 3) }, () => adversarialString(rng));
    return { desc: `${tokenizer}: ${list.map(show).join(', ')}`, input: { tokenizer, list } };
  },

  async setup(input, ctx) {
    await ctx.cached(`tok:${input.tokenizer}`, () => load(ctx, input.tokenizer));
  },

  async run(input, ctx) {
    const tk = await ctx.cached(`tok:${input.tokenizer}`, () => load(ctx, input.tokenizer));
    const r = exercise(tk, input.list);
    if (r.status !== 'accepted' || !LOSSLESS.has(input.tokenizer)) return r;
    if (!ctx.cached(`all-bytes:${input.tokenizer}`, () => GPT2_BYTES.every((c) => tk.pieceToId(c) !== undefined))) return r;
    for (const s of input.list) {
      const back = tk.decode(tk.encode(s, { addSpecial: false }), { skipSpecial: false });
      const want = s.toWellFormed();
      if (back !== want) {
        let k = 0;
        while (k < want.length && back[k] === want[k]) k++;
        return { status: 'wrong', wrong: `decode(encode(s)) differs from s at ${k}: ${show(want.slice(k, k + 20))} became ${show(back.slice(k, k + 20))}` };
      }
    }
    return r;
  },
};
