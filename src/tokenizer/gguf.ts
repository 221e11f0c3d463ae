/** A tokenizer from the vocabulary a GGUF file carries (tokenizer.ggml.*). */
import { WasmlmError } from '../errors.js';
import { inSource, type GGUFHeader } from '../formats/gguf.js';
import { GGUFMetadata } from '../formats/gguf-metadata.js';
import { createTokenizer } from './index.js';
import type { Tokenizer, VocabData } from './types.js';

/** The tokenizer.ggml.* keys; a key of the wrong type is a BAD_FORMAT naming it, never dropped. Errors name the source. */
export function vocabFromGGUF(h: GGUFHeader): VocabData {
  return inSource(h, () => {
    const meta = new GGUFMetadata(h);
    const key = (k: string) => `tokenizer.ggml.${k}`;
    if (!meta.has(key('model')) || !meta.has(key('tokens'))) {
      throw new WasmlmError('BAD_TOKENIZER', 'this GGUF file has no vocabulary (tokenizer.ggml.model / tokenizer.ggml.tokens)');
    }
    const id = (k: string) => meta.optionalU32(key(k));
    const flag = (k: string) => meta.optionalBool(key(k));
    const scores = meta.optionalNumberArray(key('scores'));
    const types = meta.optionalNumberArray(key('token_type'));
    return {
      model: meta.string(key('model')),
      pre: meta.optionalString(key('pre')),
      tokens: meta.stringArray(key('tokens')),
      scores: scores && (scores instanceof Float32Array ? scores : Float32Array.from(scores)),
      tokenTypes: types && (types instanceof Int32Array ? types : Int32Array.from(types)),
      merges: meta.optionalStringArray(key('merges')),
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
      chatTemplate: meta.optionalString('tokenizer.chat_template'),
    };
  });
}

export function tokenizerFromGGUF(h: GGUFHeader): Tokenizer {
  return inSource(h, () => createTokenizer(vocabFromGGUF(h)));
}
