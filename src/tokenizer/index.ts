/**
 * createTokenizer: validate a vocabulary, apply the tokenizer model's defaults (as llama.cpp
 * does when a GGUF key is absent) and build the tokenizer for its model: SentencePiece
 * ('llama', spm.ts), byte-level BPE ('gpt2') and WordPiece ('bert') as pipelines (llamacpp.ts,
 * the same pipeline a tokenizer.json builds). A new model is one entry in MODELS.
 */
import { kindOf, WasmlmError } from '../errors.js';
import { endOfGeneration } from './common.js';
import { bertPipeline, bpeAddsBos, gpt2Pipeline } from './llamacpp.js';
import { PipelineTokenizer } from './pipeline.js';
import { SpmTokenizer } from './spm.js';
import { TokenType, type ResolvedVocab, type SpecialTokens, type Tokenizer, type VocabData } from './types.js';

export * from './types.js';
export { segmentSentences, segmentWords, type SegmentOptions } from './segment.js';

interface ModelDefaults {
  /** Special ids llama.cpp assumes when the file has no key; used only if that token looks right. */
  special: { [K in keyof SpecialTokens]?: { id: number; text: string } };
  addBos: boolean | ((v: VocabData) => boolean);
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
  gpt2: {
    special: { bos: { id: 11, text: '<|endoftext|>' }, eos: { id: 11, text: '<|endoftext|>' } },
    addBos: (v) => bpeAddsBos(v.pre),
    addEos: false,
    addSpacePrefix: false,
    build: (v) => new PipelineTokenizer(gpt2Pipeline(v)),
  },
  bert: {
    special: {
      pad: { id: 0, text: '[PAD]' }, unk: { id: 100, text: '[UNK]' }, bos: { id: 101, text: '[CLS]' }, sep: { id: 102, text: '[SEP]' },
    },
    addBos: true,
    addEos: false,
    addSpacePrefix: false,
    build: (v) => new PipelineTokenizer(bertPipeline(v)),
  },
};

const SPECIAL_KEYS = ['bos', 'eos', 'unk', 'pad', 'eot', 'sep'] as const;

export function createTokenizer(vocab: VocabData): Tokenizer {
  if (vocab === null || typeof vocab !== 'object') {
    throw new WasmlmError('BAD_TOKENIZER', `vocabulary must be an object, got ${kindOf(vocab)}`);
  }
  if (typeof vocab.model !== 'string' || vocab.model.length === 0) {
    throw new WasmlmError('BAD_TOKENIZER', 'vocabulary has no tokenizer model (tokenizer.ggml.model)');
  }
  const defaults = Object.hasOwn(MODELS, vocab.model) ? MODELS[vocab.model] : undefined;
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
  const given: VocabData = { ...vocab };
  if (given.bos === undefined && given.cls !== undefined && vocab.model === 'bert') given.bos = given.cls;
  for (const key of SPECIAL_KEYS) {
    const id = given[key];
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
  const { eot, eog } = endOfGeneration(tokens, special);
  if (eot !== undefined) special.eot = eot;

  const flag = (value: unknown, name: string, dflt: boolean): boolean => {
    if (value === undefined || value === null) return dflt;
    if (typeof value !== 'boolean') bad(`${name} must be a boolean, got ${typeof value}`);
    return value as boolean;
  };

  if (vocab.merges !== undefined && vocab.merges !== null) {
    if (!Array.isArray(vocab.merges)) bad('tokenizer.ggml.merges is not an array');
    for (let i = 0; i < vocab.merges.length; i++) {
      if (typeof vocab.merges[i] !== 'string') bad(`merge ${i} is not a string (${typeof vocab.merges[i]})`);
    }
  }
  if (vocab.chatTemplate !== undefined && vocab.chatTemplate !== null && typeof vocab.chatTemplate !== 'string') {
    bad('tokenizer.chat_template is not a string');
  }

  const resolved: ResolvedVocab = {
    model: vocab.model,
    pre: vocab.pre,
    tokens,
    scores,
    types,
    merges: vocab.merges,
    special,
    addBos: flag(vocab.addBos, 'tokenizer.ggml.add_bos_token', typeof defaults.addBos === 'function' ? defaults.addBos(vocab) : defaults.addBos),
    addEos: flag(vocab.addEos, 'tokenizer.ggml.add_eos_token', defaults.addEos),
    addSpacePrefix: flag(vocab.addSpacePrefix, 'tokenizer.ggml.add_space_prefix', defaults.addSpacePrefix),
    addSep: flag(vocab.addSep, 'tokenizer.ggml.add_sep_token', vocab.model === 'bert'),
    lowercase: flag(vocab.lowercase, 'tokenizer.ggml.normalizer.lowercase', true),
    eog,
  };
  if (typeof vocab.chatTemplate === 'string') resolved.chatTemplate = vocab.chatTemplate;
  return resolved;
}
