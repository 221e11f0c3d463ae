/**
 * Decoders and post-processors (HF tokenizers' `decoder` and `post_processor` sections).
 *
 * A decoder becomes a DecoderPlan: the bytes each model token contributes on its own, whether
 * one leading space is removed at the start of the text, and an optional whole-text fix-up for
 * decode() (WordPiece's cleanup). Per-token bytes are what the streaming decoder needs: a
 * byte-level or <0xNN> token may carry part of a UTF-8 character, and the stream holds it until
 * the character is complete. Added tokens do not pass through the decoder: they render as their
 * text (as llama.cpp does).
 *
 * A post-processor becomes the ids put before and after the text when special tokens are added.
 */
import { WasmlmError } from '../errors.js';
import { CHAR_TO_BYTE, checkNesting, describe, parseByteToken, utf8Encoder } from './common.js';
import { replacePattern } from './normalize.js';

export interface DecoderPlan {
  /** The bytes of one model token (its vocabulary text). */
  tokenBytes(text: string): Uint8Array;
  /** One leading space is removed at the start of the text (Metaspace, SentencePiece's Strip). */
  stripStart: boolean;
  /** decode() only: a fix-up of the whole text. */
  finish: ((s: string) => string) | null;
  /** CTC: repeated ids count once. */
  dedupe: boolean;
}

type Json = Record<string, unknown>;
type TokenStep = (t: string) => string | Uint8Array;

const bad = (msg: string): never => {
  throw new WasmlmError('BAD_TOKENIZER', msg);
};

/** HF's WordPiece / CTC cleanup of tokenization spaces. */
export function cleanupSpaces(s: string): string {
  return s.replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!').replaceAll(' ,', ',')
    .replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

export function buildDecoder(d: unknown): DecoderPlan {
  const steps: TokenStep[] = [];
  const finish: ((s: string) => string)[] = [];
  const state = { fused: false, stripStart: false, dedupe: false };
  addDecoder(d, steps, finish, state);
  return {
    tokenBytes: (text) => {
      let t: string | Uint8Array = text;
      for (const step of steps) {
        if (typeof t !== 'string') break;
        t = step(t);
      }
      return typeof t === 'string' ? utf8Encoder.encode(t) : t;
    },
    stripStart: state.stripStart,
    finish: finish.length === 0 ? null : (s) => finish.reduce((acc, f) => f(acc), s),
    dedupe: state.dedupe,
  };
}

function addDecoder(
  d: unknown,
  steps: TokenStep[],
  finish: ((s: string) => string)[],
  state: { fused: boolean; stripStart: boolean; dedupe: boolean },
  depth = 0,
): void {
  if (d === null || d === undefined) return;
  checkNesting(depth, 'decoder');
  if (typeof d !== 'object') bad(`decoder must be an object, got ${describe(d)}`);
  const j = d as Json;
  switch (j.type) {
    case 'Sequence': {
      const list = j.decoders;
      if (!Array.isArray(list)) bad('decoder Sequence has no decoders list');
      for (const x of list as unknown[]) addDecoder(x, steps, finish, state, depth + 1);
      return;
    }
    case 'ByteLevel':
      steps.push(byteLevelBytes);
      return;
    case 'ByteFallback':
      steps.push((t) => {
        const b = parseByteToken(t);
        return b >= 0 ? Uint8Array.of(b) : t;
      });
      return;
    case 'Fuse':
      state.fused = true;
      return;
    case 'Replace': {
      const { re, content } = replacePattern(j, 'decoder Replace');
      steps.push((t) => t.replace(re, () => content));
      return;
    }
    case 'Strip': {
      // HF: content is one character, start / stop are counts (usize)
      const content = j.content ?? ' ';
      if (typeof content !== 'string' || [...content].length !== 1) bad(`decoder Strip.content must be one character, got ${describe(content)}`);
      const c = content as string;
      const count = (v: unknown, what: string): number => {
        if (v === undefined || v === null) return 0;
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`decoder Strip.${what} must be a non-negative integer, got ${describe(v)}`);
        return v as number;
      };
      const start = count(j.start, 'start');
      const stop = count(j.stop, 'stop');
      if (state.fused && c === ' ' && stop === 0) {
        // after Fuse the tokens are one text: strip its start
        if (start > 0) state.stripStart = true;
        return;
      }
      steps.push((t) => {
        let a = 0;
        let b = t.length;
        for (let k = 0; k < start && t.startsWith(c, a); k++) a += c.length;
        for (let k = 0; k < stop && b - c.length >= a && t.startsWith(c, b - c.length); k++) b -= c.length;
        return t.slice(a, b);
      });
      return;
    }
    case 'Metaspace': {
      const rep = typeof j.replacement === 'string' && j.replacement.length > 0 ? j.replacement : '\u2581';
      const scheme = typeof j.prepend_scheme === 'string' ? j.prepend_scheme : j.add_prefix_space === false ? 'never' : 'always';
      steps.push((t) => t.replaceAll(rep, ' '));
      if (scheme !== 'never') state.stripStart = true;
      return;
    }
    case 'WordPiece': {
      const prefix = typeof j.prefix === 'string' ? j.prefix : '##';
      steps.push((t) => (t.startsWith(prefix) ? t.slice(prefix.length) : ' ' + t));
      state.stripStart = true;
      if (j.cleanup !== false) finish.push(cleanupSpaces);
      return;
    }
    case 'BPEDecoder': {
      const suffix = typeof j.suffix === 'string' ? j.suffix : '</w>';
      steps.push((t) => t.replaceAll(suffix, ' '));
      finish.push((s) => (s.endsWith(' ') ? s.slice(0, -1) : s));
      return;
    }
    case 'CTC': {
      const pad = typeof j.pad_token === 'string' ? j.pad_token : '<pad>';
      const delim = typeof j.word_delimiter_token === 'string' ? j.word_delimiter_token : '|';
      steps.push((t) => (t === pad ? '' : t.replaceAll(delim, ' ')));
      state.dedupe = true;
      if (j.cleanup !== false) finish.push(cleanupSpaces);
      return;
    }
    default:
      bad(`decoder type ${describe(j.type)} is not supported`);
  }
}

/** ByteLevel decoder: alphabet characters to their bytes; a token with other characters as its UTF-8. */
export function byteLevelBytes(t: string): Uint8Array {
  const out = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const b = c < 0x144 ? CHAR_TO_BYTE[c]! : -1;
    if (b < 0) return utf8Encoder.encode(t);
    out[i] = b;
  }
  return out;
}

// ------------------------------------------------------------------ post-processors

export interface PostPlan {
  prefix: number[];
  suffix: number[];
}

/**
 * The ids a post-processor adds around a single text. lookup resolves a token text to its id
 * (for BertProcessing / RobertaProcessing written as [text, id] pairs the id is taken as is);
 * every id must be one of the vocabulary's vocabSize ids.
 */
export function buildPostProcessor(p: unknown, lookup: (text: string) => number | undefined, vocabSize: number): PostPlan {
  const plan: PostPlan = { prefix: [], suffix: [] };
  addPost(p, plan, lookup, vocabSize, 0);
  return plan;
}

function addPost(p: unknown, plan: PostPlan, lookup: (text: string) => number | undefined, vocabSize: number, depth: number): void {
  if (p === null || p === undefined) return;
  checkNesting(depth, 'post_processor');
  if (typeof p !== 'object') bad(`post_processor must be an object, got ${describe(p)}`);
  const j = p as Json;
  const checkId = (id: unknown, what: string): number => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      bad(`post_processor ${describe(j.type)} ${what} has id ${describe(id)}, not a token id of a vocabulary of ${vocabSize}`);
    }
    return id as number;
  };
  const pairId = (v: unknown, what: string): number => {
    if (Array.isArray(v) && v.length === 2 && typeof v[1] === 'number') return checkId(v[1], `${what} ${describe(v[0])}`);
    return bad(`post_processor ${j.type}.${what} must be [text, id], got ${describe(v)}`);
  };
  switch (j.type) {
    case 'Sequence': {
      const list = j.processors;
      if (!Array.isArray(list)) bad('post_processor Sequence has no processors list');
      for (const x of list as unknown[]) addPost(x, plan, lookup, vocabSize, depth + 1);
      return;
    }
    case 'ByteLevel':
      return;
    case 'BertProcessing':
    case 'RobertaProcessing':
      plan.prefix.push(pairId(j.cls, 'cls'));
      plan.suffix.push(pairId(j.sep, 'sep'));
      return;
    case 'TemplateProcessing': {
      const single = j.single;
      if (!Array.isArray(single)) bad('TemplateProcessing has no single template');
      const specials = (j.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
      let seenSequence = false;
      const prefix: number[] = [];
      const suffix: number[] = [];
      for (const item of single as Json[]) {
        if (item && typeof item === 'object' && 'Sequence' in item) {
          seenSequence = true;
          continue;
        }
        const st = item && typeof item === 'object' ? (item.SpecialToken as Json | undefined) : undefined;
        if (!st || typeof st.id !== 'string') bad(`TemplateProcessing item ${describe(item)} is neither SpecialToken nor Sequence`);
        const name = st!.id as string;
        let ids: number[];
        const entry = specials[name];
        if (entry && Array.isArray(entry.ids) && entry.ids.length > 0) {
          // Array.from visits holes (a parsed object may have them) as undefined: an error, not an id
          ids = Array.from(entry.ids as unknown[], (id) => checkId(id, `special token ${JSON.stringify(name)}`));
        }
        else {
          const id = lookup(name);
          if (id === undefined) bad(`TemplateProcessing special token ${JSON.stringify(name)} is not in the vocabulary`);
          ids = [id!];
        }
        (seenSequence ? suffix : prefix).push(...ids);
      }
      plan.prefix.push(...prefix);
      plan.suffix.push(...suffix);
      return;
    }
    default:
      bad(`post-processor type ${describe(j.type)} is not supported`);
  }
}
