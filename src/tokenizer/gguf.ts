/** A tokenizer from the vocabulary a GGUF file carries (tokenizer.ggml.*). */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader } from '../formats/gguf.js';
import { createTokenizer } from './index.js';
import type { Tokenizer, VocabData } from './types.js';

export function vocabFromGGUF(h: GGUFHeader): VocabData {
  const get = (key: string) => h.metadata.get(`tokenizer.ggml.${key}`)?.value as unknown;
  const model = get('model');
  const tokens = get('tokens');
  if (typeof model !== 'string' || !Array.isArray(tokens)) {
    throw new WasmlmError('BAD_TOKENIZER', 'this GGUF file has no vocabulary (tokenizer.ggml.model / tokenizer.ggml.tokens)');
  }
  const id = (key: string) => { const v = get(key); return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined; };
  const flag = (key: string) => { const v = get(key); return typeof v === 'boolean' ? v : undefined; };
  const scores = get('scores');
  const types = get('token_type');
  const merges = get('merges');
  return {
    model,
    pre: typeof get('pre') === 'string' ? (get('pre') as string) : undefined,
    tokens: tokens as string[],
    scores: scores instanceof Float32Array ? scores : undefined,
    tokenTypes: types instanceof Int32Array ? types : undefined,
    merges: Array.isArray(merges) ? (merges as string[]) : undefined,
    bos: id('bos_token_id'),
    eos: id('eos_token_id'),
    unk: id('unknown_token_id'),
    pad: id('padding_token_id'),
    eot: id('eot_token_id'),
    sep: id('seperator_token_id'),
    cls: id('cls_token_id'),
    addBos: flag('add_bos_token'),
    addEos: flag('add_eos_token'),
    addSep: flag('add_sep_token'),
    addSpacePrefix: flag('add_space_prefix'),
    chatTemplate: typeof h.metadata.get('tokenizer.chat_template')?.value === 'string'
      ? (h.metadata.get('tokenizer.chat_template')!.value as string)
      : undefined,
  };
}

export function tokenizerFromGGUF(h: GGUFHeader): Tokenizer {
  return createTokenizer(vocabFromGGUF(h));
}
