/**
 * A tokenizer from HF tokenizer.json (+ tokenizer_config.json): the same pipeline a GGUF
 * vocabulary builds (pipeline.ts), with the model, normalizer, pre-tokenizer, post-processor and
 * decoder the file describes.
 *
 * tokenizer_config.json adds what transformers takes from it: bos / eos / unk / pad token
 * texts, the chat template, added tokens missing from tokenizer.json, and for the classes that
 * rebuild their post-processor from add_bos_token / add_eos_token (LlamaTokenizer[Fast],
 * CodeLlama, Gemma, Cohere) those flags; otherwise the file's post-processor decides which
 * special tokens encode adds.
 */
import { WasmlmError } from '../errors.js';
import { BpeModel } from './bpe.js';
import { describe, endOfGeneration, parseByteToken, toByteLevel as toByteLevelPiece, type WordModel } from './common.js';
import { buildDecoder, buildPostProcessor } from './decode.js';
import { buildNormalizer } from './normalize.js';
import { PipelineTokenizer, type AddedToken } from './pipeline.js';
import { buildPreTokenizer } from './pretokenize.js';
import { TokenType, type SpecialTokens, type Tokenizer } from './types.js';
import { UnigramModel } from './unigram.js';
import { WordLevelModel, WordPieceModel } from './wordpiece.js';

type Json = Record<string, unknown>;

const bad = (msg: string): never => {
  throw new WasmlmError('BAD_TOKENIZER', `tokenizer.json: ${msg}`);
};

const isObject = (x: unknown): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x);

/** Whether a parsed JSON value looks like a tokenizer.json (has a model with a vocabulary). */
export function isTokenizerJson(x: unknown): boolean {
  return isObject(x) && isObject(x.model) && ('vocab' in x.model || 'type' in x.model);
}

/** The text of a tokenizer_config.json token entry: "text" or { content: "text" }. */
function tokenText(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (isObject(x) && typeof x.content === 'string') return x.content;
  return undefined;
}

/**
 * How far token ids may go beyond the number of entries the file has: ids are dense in real
 * files (a few gaps at most), and the tables are sized by the largest id, so an id of 15,999,999
 * in a file of 500 entries must not allocate 16 million slots.
 */
const ID_SLACK = 1 << 16;

export function tokenizerFromJson(json: unknown, config?: unknown): Tokenizer {
  try {
    return fromJson(json, config);
  } catch (e) {
    // every message names the file; those of the component builders do not yet
    if (e instanceof WasmlmError && !/^tokenizer(_config)?\.json/.test(e.message)) {
      throw new WasmlmError(e.code, `tokenizer.json: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

function fromJson(json: unknown, config?: unknown): Tokenizer {
  if (!isObject(json)) bad(`expected a JSON object, got ${describe(json)}`);
  const j = json as Json;
  if (config !== undefined && config !== null && !isObject(config)) {
    throw new WasmlmError('BAD_TOKENIZER', `tokenizer_config.json: expected a JSON object, got ${describe(config)}`);
  }
  const cfg = (config ?? {}) as Json;
  const model = j.model;
  if (!isObject(model)) bad('no "model" object');
  const m = model as Json;
  const type = modelType(m);

  // ---- vocabulary: id -> text
  const tokens: string[] = [];
  const vocab = new Map<string, number>();
  const entries = countOf(m.vocab) + countOf(j.added_tokens) + countOf(cfg.added_tokens_decoder);
  const maxId = 2 * entries + ID_SLACK;
  const put = (text: string, id: unknown, where: string) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      bad(`${where}: token ${describe(text)} has id ${describe(id)}, not a non-negative integer`);
    }
    const i = id as number;
    if (i >= maxId) {
      bad(`${where}: token ${describe(text)} has id ${i}, implausible for a file of ${entries} tokens (ids must be below ${maxId})`);
    }
    while (tokens.length <= i) tokens.push('');
    tokens[i] = text;
  };
  let unigramPieces: [string, number][] | null = null;
  if (type === 'Unigram') {
    const v = m.vocab;
    if (!Array.isArray(v)) bad('Unigram model.vocab must be an array of [piece, score]');
    // Array.from visits the holes of a sparse array (a parsed object may have them), map skips them
    unigramPieces = Array.from(v as unknown[], (e, i) => {
      const pair = e as unknown[];
      if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'number') bad(`model.vocab[${i}] is not [piece, score]`);
      return [pair[0] as string, pair[1] as number];
    });
    unigramPieces.forEach(([text], i) => {
      tokens.push(text);
      if (!vocab.has(text)) vocab.set(text, i);
    });
  } else {
    const v = m.vocab;
    if (!isObject(v)) bad(`${type} model.vocab must be an object {token: id}`);
    for (const [text, id] of Object.entries(v as Json)) {
      put(text, id, 'model.vocab');
      if (!vocab.has(text)) vocab.set(text, id as number);
    }
  }
  const modelSize = tokens.length;

  // ---- added tokens (tokenizer.json, then tokenizer_config.json's added_tokens_decoder)
  const added = new Map<number, AddedToken>();
  const addToken = (a: unknown, where: string, idOverride?: number) => {
    if (!isObject(a)) bad(`${where}: an added token is not an object`);
    const o = a as Json;
    const id = idOverride ?? o.id;
    if (typeof o.content !== 'string' || o.content.length === 0) bad(`${where}: added token ${describe(id)} has no content`);
    put(o.content as string, id, where);
    if (added.has(id as number)) return;
    added.set(id as number, {
      id: id as number,
      content: o.content as string,
      special: o.special === true,
      lstrip: o.lstrip === true,
      rstrip: o.rstrip === true,
      singleWord: o.single_word === true,
      normalized: o.normalized === undefined ? o.special !== true : o.normalized === true,
    });
  };
  if (j.added_tokens !== undefined && j.added_tokens !== null) {
    if (!Array.isArray(j.added_tokens)) bad('"added_tokens" is not an array');
    for (const a of j.added_tokens as unknown[]) addToken(a, 'added_tokens');
  }
  if (isObject(cfg.added_tokens_decoder)) {
    for (const [k, a] of Object.entries(cfg.added_tokens_decoder)) {
      if (/^\d+$/.test(k) && !added.has(Number(k))) addToken(a, 'tokenizer_config.json added_tokens_decoder', Number(k));
    }
  }
  if (tokens.length === 0) bad('the vocabulary is empty');

  const types = new Uint8Array(tokens.length).fill(TokenType.NORMAL);
  for (let id = 0; id < tokens.length; id++) {
    if (tokens[id] === '' && id >= modelSize) types[id] = TokenType.UNUSED;
  }
  const byteFallback = m.byte_fallback === true;
  if (byteFallback) for (const [text, id] of vocab) if (parseByteToken(text) >= 0) types[id] = TokenType.BYTE;
  for (const a of added.values()) types[a.id] = a.special ? TokenType.CONTROL : TokenType.USER_DEFINED;

  const idOf = (text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    for (const a of added.values()) if (a.content === text) return a.id;
    return vocab.get(text);
  };

  // ---- pipeline parts
  const normalizer = buildNormalizer(j.normalizer);
  const pre = buildPreTokenizer(j.pre_tokenizer);
  const unkText = typeof m.unk_token === 'string' ? m.unk_token : undefined;
  let unk: number | undefined;
  let word: WordModel;
  switch (type) {
    case 'BPE': {
      unk = unkText === undefined ? undefined : vocab.get(unkText);
      word = new BpeModel({
        vocab,
        merges: mergesOf(m.merges),
        unk,
        byteFallback,
        fuseUnk: m.fuse_unk === true,
        ignoreMerges: m.ignore_merges === true,
        continuingSubwordPrefix: typeof m.continuing_subword_prefix === 'string' ? m.continuing_subword_prefix : undefined,
        endOfWordSuffix: typeof m.end_of_word_suffix === 'string' ? m.end_of_word_suffix : undefined,
        byteLevelInput: pre.byteLevelOutput,
      });
      break;
    }
    case 'WordPiece': {
      unk = vocab.get(unkText ?? '[UNK]');
      const prefix = typeof m.continuing_subword_prefix === 'string' ? m.continuing_subword_prefix : '##';
      const continuation = new Map<string, number>();
      for (const [text, id] of vocab) if (prefix !== '' && text.startsWith(prefix)) continuation.set(text.slice(prefix.length), id);
      const max = m.max_input_chars_per_word ?? 100;
      if (typeof max !== 'number' || !(max >= 0) || !Number.isInteger(max) && max !== Infinity) {
        bad(`WordPiece model.max_input_chars_per_word must be a non-negative integer, got ${describe(max)}`);
      }
      word = new WordPieceModel({ initial: vocab, continuation, unk, maxInputCharsPerWord: max as number });
      break;
    }
    case 'WordLevel':
      unk = unkText === undefined ? undefined : vocab.get(unkText);
      word = new WordLevelModel(vocab, unk);
      break;
    case 'Unigram': {
      const u = m.unk_id;
      unk = typeof u === 'number' && Number.isInteger(u) && u >= 0 && u < modelSize ? u : undefined;
      word = new UnigramModel({ pieces: unigramPieces!, unk, byteFallback });
      break;
    }
  }
  if (pre.byteLevelOutput && type !== 'BPE') {
    // a byte-level pre-tokenizer before a model that does not map bytes itself: map here
    const inner = word;
    word = { encodeWord: (piece, out) => inner.encodeWord(toByteLevelPiece(piece), out) };
  }

  // ---- special tokens and post-processor
  const post = buildPostProcessor(j.post_processor, idOf, tokens.length);
  const special: SpecialTokens = {};
  const fromCfg = (key: string) => idOf(tokenText(cfg[key]));
  // without tokenizer_config.json: the post-processor's tokens, else the usual texts
  const byText = (texts: string[]) => texts.map(idOf).find((id) => id !== undefined);
  special.bos = fromCfg('bos_token') ??
    (cfg.bos_token === undefined ? post.prefix[0] ?? byText(['<|begin_of_text|>', '<s>', '<bos>', '<|startoftext|>']) : undefined);
  special.eos = fromCfg('eos_token') ??
    (cfg.eos_token === undefined ? post.suffix[post.suffix.length - 1] ?? byText(['<|end_of_text|>', '</s>', '<eos>', '<|endoftext|>']) : undefined);
  special.unk = fromCfg('unk_token') ?? unk;
  special.pad = fromCfg('pad_token') ?? (isObject(j.padding) && typeof j.padding.pad_id === 'number' ? j.padding.pad_id : undefined);
  const sep = fromCfg('sep_token');
  if (sep !== undefined) special.sep = sep;
  if (post.suffix.length > 0 && special.sep === undefined && /Bert|Roberta/.test(String((j.post_processor as Json | null)?.type))) {
    special.sep = post.suffix[post.suffix.length - 1];
  }
  const cls = typeof cfg.tokenizer_class === 'string' ? cfg.tokenizer_class : '';
  if (/^(Llama|CodeLlama|Gemma|Cohere)Tokenizer(Fast)?$/.test(cls)) {
    // transformers rebuilds these classes' post-processor from the flags
    post.prefix = cfg.add_bos_token !== false && special.bos !== undefined ? [special.bos] : [];
    post.suffix = cfg.add_eos_token === true && special.eos !== undefined ? [special.eos] : [];
  }
  for (const k of Object.keys(special) as (keyof SpecialTokens)[]) {
    const id = special[k];
    if (id === undefined || !Number.isInteger(id) || id < 0 || id >= tokens.length) delete special[k];
  }
  const { eot, eog } = endOfGeneration(tokens, special);
  if (eot !== undefined) special.eot = eot;

  let chatTemplate: string | undefined;
  const ct = cfg.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct)) {
    const entries = ct.filter((e): e is Json => isObject(e) && typeof e.template === 'string');
    chatTemplate = ((entries.find((e) => e.name === 'default') ?? entries[0])?.template as string | undefined);
  }

  return new PipelineTokenizer({
    model: type.toLowerCase(),
    tokens,
    types,
    added: [...added.values()],
    normalizer,
    pre,
    word,
    post,
    decoder: buildDecoder(j.decoder),
    special,
    eog,
    chatTemplate,
  });
}

/** Entries of a list or an object map (0 for anything else). */
function countOf(x: unknown): number {
  return Array.isArray(x) ? x.length : isObject(x) ? Object.keys(x).length : 0;
}

function modelType(m: Json): 'BPE' | 'WordPiece' | 'Unigram' | 'WordLevel' {
  const t = m.type;
  if (t === 'BPE' || t === 'WordPiece' || t === 'Unigram' || t === 'WordLevel') return t;
  if (t !== undefined) bad(`model type ${describe(t)} is not supported (BPE, WordPiece, Unigram, WordLevel)`);
  // files written before "type" existed
  if (Array.isArray(m.vocab)) return 'Unigram';
  if ('merges' in m) return 'BPE';
  if ('continuing_subword_prefix' in m || 'max_input_chars_per_word' in m) return 'WordPiece';
  if (isObject(m.vocab)) return 'WordLevel';
  return bad('model has no type and no vocab');
}

/** model.merges: ["a b", ...] or [["a", "b"], ...]. */
function* mergesOf(merges: unknown): Generator<[string, string]> {
  if (merges === undefined || merges === null) return;
  if (!Array.isArray(merges)) bad('BPE model.merges is not an array');
  const list = merges as unknown[];
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (typeof x === 'string') {
      const k = x.indexOf(' ', 1);
      if (k < 0) bad(`model.merges[${i}] ${describe(x)} is not "left right"`);
      yield [x.slice(0, k), x.slice(k + 1)];
    } else if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string') {
      yield [x[0], x[1]];
    } else bad(`model.merges[${i}] is neither "left right" nor [left, right]`);
  }
}
