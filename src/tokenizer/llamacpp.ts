/**
 * llama.cpp vocabularies other than SentencePiece, as pipelines (pipeline.ts):
 *
 *   gpt2: byte-level BPE with tokenizer.ggml.merges; tokenizer.ggml.pre names the model's
 *   pre-tokenizer. PRE below writes each one as the HF tokenizer.json of that model describes it
 *   (llama.cpp's llama-vocab.cpp lists the same regexes, adapted to its own regex engine), so a
 *   GGUF vocabulary and the model's tokenizer.json build the same pipeline.
 *
 *   bert: WordPiece. GGUF stores word-initial pieces as '▁the' and continuations as 'ing' (HF:
 *   'the' and '##ing'); BERT's normalizer (lower case, accents stripped, CJK split), BERT's
 *   pre-tokenizer, [CLS] text [SEP].
 *
 * Control and unknown-type tokens are matched in text only with parseSpecial, user-defined
 * ones always (llama.cpp and HF agree).
 */
import { WasmlmError } from '../errors.js';
import { BpeModel } from './bpe.js';
import { buildDecoder, cleanupSpaces, type PostPlan } from './decode.js';
import { buildNormalizer } from './normalize.js';
import type { AddedToken, PipelineSpec } from './pipeline.js';
import { buildPreTokenizer, GPT2_PATTERN } from './pretokenize.js';
import { TokenType, type ResolvedVocab } from './types.js';
import { WordPieceModel } from './wordpiece.js';

type Json = Record<string, unknown>;

const split = (regex: string): Json => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const seq = (...pretokenizers: Json[]): Json => ({ type: 'Sequence', pretokenizers });
const BYTE_LEVEL: Json = { type: 'ByteLevel', add_prefix_space: false, use_regex: true };
const BYTE_LEVEL_NO_REGEX: Json = { type: 'ByteLevel', add_prefix_space: false, use_regex: false };
const DIGITS: Json = { type: 'Digits', individual_digits: true };
const NFC: Json = { type: 'NFC' };

const CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN35 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const UPPER = '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]';
const LOWER = '[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]';
const TEKKEN = `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+|[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const O200K = `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+${CONTRACTIONS}?|[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*${CONTRACTIONS}?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const CJK = '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+';
const DEEPSEEK3_CJK = '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+';
const DEEPSEEK3 = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM = ' ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+';

interface Pre {
  pre: Json;
  normalizer?: Json;
  /** a piece that is a token as a whole is that token (HF ignore_merges) */
  ignoreMerges?: boolean;
  /** llama.cpp adds BOS by default */
  addBos?: boolean;
}

const GPT2_STYLE: Pre = { pre: BYTE_LEVEL };
const NEOX_STYLE: Pre = { pre: BYTE_LEVEL, normalizer: NFC };
const STARCODER_STYLE: Pre = { pre: seq(DIGITS, BYTE_LEVEL) };
const LLAMA3_STYLE: Pre = { pre: seq(split(LLAMA3), BYTE_LEVEL_NO_REGEX), ignoreMerges: true, addBos: true };
const QWEN2_STYLE: Pre = { pre: seq(split(QWEN2), BYTE_LEVEL_NO_REGEX), normalizer: NFC };

/** tokenizer.ggml.pre -> the model's pre-tokenizer (and normalizer), as its tokenizer.json has them. */
const PRE: Record<string, Pre> = {
  // no pre given: llama.cpp's own default split
  default: { pre: seq(split('[\\p{P}\\$\\+<=>\\^~\\|]+'), split(GPT2_PATTERN), split('\\p{N}+'), split('[0-9][0-9][0-9]'), BYTE_LEVEL_NO_REGEX) },
  'llama3': LLAMA3_STYLE, 'llama-v3': LLAMA3_STYLE, 'llama-bpe': LLAMA3_STYLE, 'falcon3': LLAMA3_STYLE,
  'falcon-h1': LLAMA3_STYLE, 'pixtral': LLAMA3_STYLE, 'midm-2.0': LLAMA3_STYLE, 'lfm2': LLAMA3_STYLE,
  'dbrx': { pre: seq(split(LLAMA3), BYTE_LEVEL_NO_REGEX) },
  'smaug-bpe': { pre: seq(split(LLAMA3), BYTE_LEVEL_NO_REGEX) },
  'chatglm-bpe': { pre: seq(split(LLAMA3), BYTE_LEVEL_NO_REGEX) },
  'glm4': { pre: seq(split(LLAMA3), BYTE_LEVEL_NO_REGEX) },
  'qwen2': QWEN2_STYLE, 'deepseek-r1-qwen': QWEN2_STYLE, 'megrez': QWEN2_STYLE, 'kormo': QWEN2_STYLE,
  'stablelm2': { pre: seq(split(QWEN2), BYTE_LEVEL_NO_REGEX) },
  'hunyuan': { pre: seq(split(QWEN2), BYTE_LEVEL_NO_REGEX) },
  'grok-2': { pre: seq(split(QWEN2), BYTE_LEVEL_NO_REGEX) },
  'qwen35': { pre: seq(split(QWEN35), BYTE_LEVEL_NO_REGEX), normalizer: NFC },
  'gpt-2': GPT2_STYLE, 'phi-2': GPT2_STYLE, 'jina-es': GPT2_STYLE, 'jina-de': GPT2_STYLE, 'gigachat': GPT2_STYLE,
  'jina-v2-es': GPT2_STYLE, 'jina-v2-de': GPT2_STYLE, 'a.x-4.0': GPT2_STYLE, 'mellum': GPT2_STYLE,
  'modern-bert': GPT2_STYLE, 'jais': GPT2_STYLE, 'trillion': GPT2_STYLE, 'granite-docling': GPT2_STYLE,
  'exaone4': GPT2_STYLE, 'roberta-bpe': GPT2_STYLE, 'jina-v1-en': GPT2_STYLE, 'jina-v2-code': GPT2_STYLE,
  // GPT-NeoX's tokenizer (also MPT's and OLMo's) normalizes to NFC
  'gpt-neox': NEOX_STYLE, 'mpt': NEOX_STYLE, 'olmo': NEOX_STYLE,
  'starcoder': STARCODER_STYLE, 'refact': STARCODER_STYLE, 'smollm': STARCODER_STYLE, 'codeshell': STARCODER_STYLE,
  'exaone': STARCODER_STYLE, 'minerva-7b': STARCODER_STYLE, 'mellum2': STARCODER_STYLE,
  'command-r': { pre: seq(DIGITS, BYTE_LEVEL), normalizer: NFC },
  'falcon': {
    pre: seq({ type: 'Punctuation', behavior: 'Contiguous' }, BYTE_LEVEL, { type: 'Digits', individual_digits: false }, split('[0-9][0-9][0-9]')),
  },
  'deepseek-coder': { pre: seq(split('[\\r\\n]'), split('\\s?\\p{L}+'), split('\\s?\\p{P}+'), split(CJK), DIGITS, BYTE_LEVEL_NO_REGEX) },
  'deepseek-llm': {
    pre: seq(
      split('[\\r\\n]'),
      split('\\s?[\\p{Lu}\\p{Ll}\\p{Lt}]+'), // DeepSeek writes out the cased letters (L&) as ranges
      split('\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+'),
      split('\\s+$'),
      split(CJK),
      DIGITS,
      BYTE_LEVEL_NO_REGEX,
    ),
  },
  'deepseek-v3': { pre: seq(split('\\p{N}{1,3}'), split(DEEPSEEK3_CJK), split(DEEPSEEK3), BYTE_LEVEL_NO_REGEX) },
  'hunyuan-dense': { pre: seq(split('\\p{N}{1,3}'), split(DEEPSEEK3_CJK), split(DEEPSEEK3), BYTE_LEVEL_NO_REGEX) },
  'tekken': { pre: seq(split(TEKKEN), BYTE_LEVEL_NO_REGEX), ignoreMerges: true, addBos: true },
  'gpt-4o': { pre: seq(split(O200K), BYTE_LEVEL_NO_REGEX) },
  'llama4': { pre: seq(split(O200K), BYTE_LEVEL_NO_REGEX) },
  'bloom': { pre: seq(split(BLOOM), BYTE_LEVEL_NO_REGEX) },
  'poro-chat': { pre: seq(split(BLOOM), BYTE_LEVEL_NO_REGEX) },
  'gpt3-finnish': { pre: seq(split(BLOOM), BYTE_LEVEL_NO_REGEX) },
  'viking': { pre: seq(split(BLOOM), split('\\p{N}'), BYTE_LEVEL_NO_REGEX) },
  'chameleon': {
    pre: seq(
      split('<sentinel:[0-9]+>'), split('(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z'), split('([\\t\\n]|    |  )'),
      split('\\p{N}'), split('[\\p{P}!-/:-@\\[-`{-~]'), split(GPT2_PATTERN), BYTE_LEVEL_NO_REGEX,
    ),
    addBos: true,
  },
  'seed-coder': { pre: seq(split(`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`), BYTE_LEVEL_NO_REGEX) },
  'bailingmoe': { pre: seq(split("'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"), BYTE_LEVEL_NO_REGEX) },
  'minicpm5': { pre: seq(split('\\p{N}{1,3}'), split(`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`), BYTE_LEVEL_NO_REGEX), ignoreMerges: true },
};
PRE['bailingmoe2'] = PRE['bailingmoe']!;
PRE['llada-moe'] = PRE['bailingmoe']!;
PRE['kanana2'] = PRE['gpt-4o']!;

function preOf(name: string | undefined): Pre {
  const p = Object.hasOwn(PRE, name ?? 'default') ? PRE[name ?? 'default'] : undefined;
  if (p === undefined) {
    throw new WasmlmError('BAD_TOKENIZER', `pre-tokenizer type '${name}' (tokenizer.ggml.pre) is not supported`);
  }
  return p;
}

/** The tokenizer.json sections a tokenizer.ggml.pre stands for. */
export function hfSectionsOf(pre: string | undefined): { pre_tokenizer: Json; normalizer: Json | null; ignore_merges: boolean } {
  const p = preOf(pre);
  return { pre_tokenizer: p.pre, normalizer: p.normalizer ?? null, ignore_merges: p.ignoreMerges === true };
}

/** Every tokenizer.ggml.pre this file knows, in its order (for finding the one a tokenizer.json's sections stand for). */
export function knownPreNames(): string[] {
  return Object.keys(PRE).filter((k) => k !== 'default');
}

/** llama.cpp's default add_bos for a byte-level BPE vocabulary with this pre-tokenizer. */
export function bpeAddsBos(pre: string | undefined): boolean {
  return Object.hasOwn(PRE, pre ?? 'default') && PRE[pre ?? 'default']!.addBos === true;
}

/** Control / unknown-type tokens (special) and user-defined ones (always matched). */
function addedTokens(v: ResolvedVocab): AddedToken[] {
  const out: AddedToken[] = [];
  for (let id = 0; id < v.tokens.length; id++) {
    const t = v.types[id];
    if (t === TokenType.CONTROL || t === TokenType.UNKNOWN) out.push({ id, content: v.tokens[id]!, special: true });
    else if (t === TokenType.USER_DEFINED) out.push({ id, content: v.tokens[id]!, special: false });
  }
  return out;
}

/** BOS / EOS (or, for BERT, SEP) around the text as the vocabulary's flags say. */
function specialsAround(v: ResolvedVocab, after?: number): PostPlan {
  const prefix = v.addBos && v.special.bos !== undefined ? [v.special.bos] : [];
  const suffix = after !== undefined ? [after] : v.addEos && v.special.eos !== undefined ? [v.special.eos] : [];
  return { prefix, suffix };
}

/** tokenizer.ggml.model = 'gpt2'. */
export function gpt2Pipeline(v: ResolvedVocab): PipelineSpec {
  const pre = preOf(v.pre);
  const merges = v.merges;
  if (merges === undefined) throw new WasmlmError('BAD_TOKENIZER', 'byte-level BPE vocabulary has no merges (tokenizer.ggml.merges)');
  const vocab = new Map<string, number>();
  for (let id = 0; id < v.tokens.length; id++) if (!vocab.has(v.tokens[id]!)) vocab.set(v.tokens[id]!, id);
  const preTok = buildPreTokenizer(pre.pre);
  const word = new BpeModel({
    vocab,
    merges: splitMerges(merges),
    ignoreMerges: pre.ignoreMerges === true,
    byteLevelInput: preTok.byteLevelOutput,
  });
  return {
    model: v.model,
    tokens: v.tokens,
    types: v.types,
    added: addedTokens(v),
    normalizer: buildNormalizer(pre.normalizer),
    pre: preTok,
    word,
    post: specialsAround(v),
    decoder: buildDecoder({ type: 'ByteLevel' }),
    special: v.special,
    eog: v.eog,
    chatTemplate: v.chatTemplate,
  };
}

/** 'left right' -> [left, right], split at the first space after the first character (llama.cpp). */
function* splitMerges(merges: readonly string[]): Generator<[string, string]> {
  for (const m of merges) {
    const k = m.indexOf(' ', 1);
    if (k < 0) yield ['', ''];
    else yield [m.slice(0, k), m.slice(k + 1)];
  }
}

/** tokenizer.ggml.model = 'bert'. */
export function bertPipeline(v: ResolvedVocab): PipelineSpec {
  const initial = new Map<string, number>();
  const continuation = new Map<string, number>();
  for (let id = 0; id < v.tokens.length; id++) {
    const t = v.tokens[id]!;
    if (t.startsWith('\u2581')) {
      if (!initial.has(t.slice(1))) initial.set(t.slice(1), id);
    } else if (t.startsWith('[') && t.endsWith(']')) {
      if (!initial.has(t)) initial.set(t, id);
    } else if (!continuation.has(t)) continuation.set(t, id);
  }
  const sep = v.special.sep ?? v.special.eos;
  return {
    model: v.model,
    tokens: v.tokens,
    types: v.types,
    added: addedTokens(v),
    normalizer: buildNormalizer({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: v.lowercase }),
    pre: buildPreTokenizer({ type: 'BertPreTokenizer' }),
    word: new WordPieceModel({ initial, continuation, unk: v.special.unk, maxInputCharsPerWord: 100 }),
    post: specialsAround(v, v.addSep ? sep : undefined),
    // GGUF pieces: '▁' marks a word start, so the decoder is Metaspace's; decode() cleans up
    // spaces before punctuation as HF's WordPiece decoder (and llama.cpp's clean_spaces) do
    decoder: { ...buildDecoder({ type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always' }), finish: cleanupSpaces },
    special: v.special,
    eog: v.eog,
    chatTemplate: v.chatTemplate,
  };
}
