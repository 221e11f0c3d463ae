/**
 * createTokenizer: validate a vocabulary, apply the tokenizer model's defaults (as llama.cpp
 * does when a GGUF key is absent) and build the tokenizer for its model. A new model (byte-level
 * BPE 'gpt2', WordPiece 'bert', ...) is one entry in MODELS plus its own file beside spm.ts.
 */
import { WasmlmError } from '../errors.js';
import { SpmTokenizer } from './spm.js';
import { TokenType, type ResolvedVocab, type SpecialTokens, type Tokenizer, type VocabData } from './types.js';

export * from './types.js';
export { segmentSentences, segmentWords, type SegmentOptions } from './segment.js';

interface ModelDefaults {
  /** Special ids llama.cpp assumes when the file has no key; used only if that token looks right. */
  special: { [K in keyof SpecialTokens]?: { id: number; text: string } };
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  build(v: ResolvedVocab): Tokenizer;
}

const MODELS: Record<string, ModelDefaults> = {
  llama: {
    special: { unk: { id: 0, text: '<unk>' }, bos: { id: 1, text: '<s>' }, eos: { id: 2, text: '</s>' } },
    addBos: true,
    addEos: false,
    addSpacePrefix: true,
    build: (v) => new SpmTokenizer(v),
  },
};

/** Token texts llama.cpp takes as end-of-turn (first found, in this order, becomes `eot`). */
const EOT_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>',
  '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>', '<end_of_utterance>',
];
/** ... and these also end generation. */
const EOG_TEXTS = [...EOT_TEXTS, '<|eom_id|>', '<|return|>', '<|call|>'];

const SPECIAL_KEYS = ['bos', 'eos', 'unk', 'pad', 'eot'] as const;

export function createTokenizer(vocab: VocabData): Tokenizer {
  if (vocab === null || typeof vocab !== 'object') {
    throw new WasmlmError('BAD_TOKENIZER', `vocabulary must be an object, got ${vocab === null ? 'null' : typeof vocab}`);
  }
  if (typeof vocab.model !== 'string' || vocab.model.length === 0) {
    throw new WasmlmError('BAD_TOKENIZER', 'vocabulary has no tokenizer model (tokenizer.ggml.model)');
  }
  const defaults = MODELS[vocab.model];
  if (defaults === undefined) {
    throw new WasmlmError('BAD_TOKENIZER', `tokenizer model '${vocab.model}' is not supported yet`);
  }
  return defaults.build(resolveVocab(vocab, defaults));
}

function resolveVocab(vocab: VocabData, defaults: ModelDefaults): ResolvedVocab {
  const bad = (msg: string): never => {
    throw new WasmlmError('BAD_TOKENIZER', msg);
  };
  const { tokens } = vocab;
  if (!Array.isArray(tokens)) bad('vocabulary has no token list (tokenizer.ggml.tokens)');
  const n = tokens.length;
  if (n === 0) bad('vocabulary has no tokens (tokenizer.ggml.tokens is empty)');
  for (let i = 0; i < n; i++) {
    if (typeof tokens[i] !== 'string') bad(`token ${i} is not a string (${typeof tokens[i]})`);
  }

  let scores: Float32Array;
  if (vocab.scores === undefined || vocab.scores === null) scores = new Float32Array(n);
  else {
    if (typeof (vocab.scores as ArrayLike<number>).length !== 'number') bad('tokenizer.ggml.scores is not an array');
    if (vocab.scores.length !== n) bad(`tokenizer.ggml.scores has ${vocab.scores.length} entries for ${n} tokens`);
    scores = vocab.scores instanceof Float32Array ? vocab.scores : Float32Array.from(vocab.scores as ArrayLike<number>);
  }

  // special ids: given ones must be in range; absent ones take the model default if it fits
  const special: SpecialTokens = {};
  for (const key of SPECIAL_KEYS) {
    const id = vocab[key];
    if (id === undefined || id === null) continue;
    if (!Number.isInteger(id) || id < 0 || id >= n) {
      bad(`${key} token id ${String(id)} is out of range for a vocabulary of ${n} tokens`);
    }
    special[key] = id;
  }

  let types: Uint8Array;
  if (vocab.tokenTypes === undefined || vocab.tokenTypes === null) {
    types = new Uint8Array(n).fill(TokenType.NORMAL);
    for (let i = 0; i < n; i++) if (/^<0x[0-9A-Fa-f]{2}>$/.test(tokens[i]!)) types[i] = TokenType.BYTE;
  } else {
    const tt = vocab.tokenTypes;
    if (typeof (tt as ArrayLike<number>).length !== 'number') bad('tokenizer.ggml.token_type is not an array');
    if (tt.length !== n) bad(`tokenizer.ggml.token_type has ${tt.length} entries for ${n} tokens`);
    types = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = tt[i]!;
      if (!Number.isInteger(t) || t < TokenType.UNDEFINED || t > TokenType.BYTE) {
        bad(`token ${i} (${JSON.stringify(tokens[i]!.slice(0, 40))}) has type ${String(t)}; token types are 0..6`);
      }
      types[i] = t;
    }
  }
  const typesGiven = vocab.tokenTypes !== undefined && vocab.tokenTypes !== null;

  for (const key of SPECIAL_KEYS) {
    const d = defaults.special[key];
    if (special[key] !== undefined || d === undefined || d.id >= n) continue;
    const expected = key === 'unk' ? TokenType.UNKNOWN : TokenType.CONTROL;
    if (typesGiven ? types[d.id] === expected || types[d.id] === TokenType.CONTROL : tokens[d.id] === d.text) {
      special[key] = d.id;
    }
  }
  if (!typesGiven) {
    // without types, the special ids are the control tokens
    for (const key of SPECIAL_KEYS) {
      const id = special[key];
      if (id !== undefined) types[id] = key === 'unk' ? TokenType.UNKNOWN : TokenType.CONTROL;
    }
  }

  // end of generation: eos, eot, and the end-of-turn texts llama.cpp recognises
  const byText = new Map<string, number>();
  for (const t of EOG_TEXTS) byText.set(t, -1);
  for (let i = 0; i < n; i++) if (byText.get(tokens[i]!) === -1) byText.set(tokens[i]!, i);
  if (special.eot === undefined) {
    for (const t of EOT_TEXTS) {
      const id = byText.get(t)!;
      if (id >= 0 && id !== special.eos) {
        special.eot = id;
        break;
      }
    }
  }
  const eog = new Set<number>();
  if (special.eos !== undefined) eog.add(special.eos);
  if (special.eot !== undefined) eog.add(special.eot);
  for (const id of byText.values()) if (id >= 0) eog.add(id);

  const flag = (value: unknown, name: string, dflt: boolean): boolean => {
    if (value === undefined || value === null) return dflt;
    if (typeof value !== 'boolean') bad(`${name} must be a boolean, got ${typeof value}`);
    return value as boolean;
  };

  return {
    model: vocab.model,
    pre: vocab.pre,
    tokens,
    scores,
    types,
    merges: vocab.merges,
    special,
    addBos: flag(vocab.addBos, 'tokenizer.ggml.add_bos_token', defaults.addBos),
    addEos: flag(vocab.addEos, 'tokenizer.ggml.add_eos_token', defaults.addEos),
    addSpacePrefix: flag(vocab.addSpacePrefix, 'tokenizer.ggml.add_space_prefix', defaults.addSpacePrefix),
    eog,
  };
}
