/**
 * Pre-tokenizers (HF tokenizers' `pre_tokenizer` section): split a normalized text fragment into
 * the pieces the model encodes one at a time. A pre-tokenizer is a list of steps; each step takes
 * a piece and emits sub-pieces in order (empty pieces are never emitted). `first` is true for the
 * piece that starts at offset 0 of the input text (Metaspace's prepend_scheme "first").
 *
 * The last step is often ByteLevel's mapping of a piece's UTF-8 bytes to GPT-2's alphabet. It is
 * then left to the model (byteLevelOutput), whose cache is keyed on the raw piece, so a piece
 * seen before costs one Map lookup.
 */
import { WasmlmError } from '../errors.js';
import { checkNesting, describe, toByteLevel } from './common.js';
import { translateRegex } from './regex.js';

export type Emit = (piece: string, first: boolean) => void;
export type PreStep = (piece: string, first: boolean, emit: Emit) => void;

export interface PreTokenizer {
  steps: PreStep[];
  /** The pieces still need GPT-2's byte-level mapping (the model does it). */
  byteLevelOutput: boolean;
}

type Json = Record<string, unknown>;
type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

const bad = (msg: string): never => {
  throw new WasmlmError('BAD_TOKENIZER', msg);
};

/** GPT-2's pre-tokenizer pattern (ByteLevel with use_regex). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const MAP_BYTES: PreStep = (piece, first, emit) => emit(toByteLevel(piece), first);

export function buildPreTokenizer(p: unknown): PreTokenizer {
  const steps: PreStep[] = [];
  addSteps(p, steps);
  let byteLevelOutput = false;
  if (steps.length > 0 && steps[steps.length - 1] === MAP_BYTES) {
    steps.pop();
    byteLevelOutput = true;
  }
  return { steps, byteLevelOutput };
}

function addSteps(p: unknown, steps: PreStep[], depth = 0): void {
  if (p === null || p === undefined) return;
  checkNesting(depth, 'pre_tokenizer');
  if (typeof p !== 'object') bad(`pre_tokenizer must be an object, got ${describe(p)}`);
  const j = p as Json;
  switch (j.type) {
    case 'Sequence': {
      const list = j.pretokenizers;
      if (!Array.isArray(list)) bad('pre_tokenizer Sequence has no pretokenizers list');
      for (const q of list as unknown[]) addSteps(q, steps, depth + 1);
      return;
    }
    case 'ByteLevel':
      if (j.add_prefix_space === true) steps.push((piece, first, emit) => emit(piece.startsWith(' ') ? piece : ' ' + piece, first));
      if (j.use_regex !== false) steps.push(regexSplit(translateRegex(GPT2_PATTERN), 'Isolated', false));
      steps.push(MAP_BYTES);
      return;
    case 'Split': {
      const pat = j.pattern as Json | undefined;
      const behavior = behaviorOf(j.behavior);
      const invert = j.invert === true;
      if (pat && typeof pat.Regex === 'string') steps.push(regexSplit(translateRegex(pat.Regex, 'pre_tokenizer Split'), behavior, invert));
      else if (pat && typeof pat.String === 'string') {
        if (pat.String.length === 0) bad('pre_tokenizer Split has an empty String pattern');
        const re = new RegExp(pat.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
        steps.push(regexSplit(re, behavior, invert));
      } else bad('pre_tokenizer Split has no pattern (String or Regex)');
      return;
    }
    case 'Whitespace':
      steps.push(regexSplit(/[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu, 'Removed', true));
      return;
    case 'WhitespaceSplit':
      steps.push(regexSplit(/\p{White_Space}/gu, 'Removed', false));
      return;
    case 'BertPreTokenizer':
      steps.push(regexSplit(/\p{White_Space}/gu, 'Removed', false));
      steps.push(regexSplit(PUNCT, 'Isolated', false));
      return;
    case 'Punctuation':
      steps.push(regexSplit(PUNCT, behaviorOf(j.behavior ?? 'Isolated'), false));
      return;
    case 'Digits':
      steps.push(regexSplit(/\p{N}/gu, j.individual_digits === true ? 'Isolated' : 'Contiguous', false));
      return;
    case 'CharDelimiterSplit': {
      const d = j.delimiter;
      if (typeof d !== 'string' || [...d].length !== 1) bad(`CharDelimiterSplit.delimiter must be one character, got ${describe(d)}`);
      steps.push(regexSplit(new RegExp((d as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu'), 'Removed', false));
      return;
    }
    case 'Metaspace':
      steps.push(metaspace(j));
      return;
    case 'FixedLength': {
      const n = j.length ?? 5;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) bad(`FixedLength.length must be a positive integer, got ${describe(n)}`);
      steps.push(fixedLength(n as number));
      return;
    }
    default:
      bad(`pre-tokenizer type ${describe(j.type)} is not supported`);
  }
}

/** FixedLength: pieces of n characters (code points), the last one shorter. */
function fixedLength(n: number): PreStep {
  return (piece, first, emit) => {
    let start = 0;
    let count = 0;
    for (let i = 0; i < piece.length; ) {
      i += piece.codePointAt(i)! > 0xffff ? 2 : 1;
      if (++count === n) {
        emit(piece.slice(start, i), first && start === 0);
        start = i;
        count = 0;
      }
    }
    if (start < piece.length) emit(start === 0 ? piece : piece.slice(start), first && start === 0);
  };
}

/** Unicode punctuation and ASCII punctuation (Rust's is_ascii_punctuation includes $+<=>^`|~). */
const PUNCT = /[\p{P}!-/:-@[-`{-~]/gu;

function behaviorOf(b: unknown): Behavior {
  const s = typeof b === 'string' ? b.toLowerCase() : '';
  switch (s) {
    case 'removed': return 'Removed';
    case 'isolated': return 'Isolated';
    case 'mergedwithprevious': return 'MergedWithPrevious';
    case 'mergedwithnext': return 'MergedWithNext';
    case 'contiguous': return 'Contiguous';
  }
  return bad(`split behavior ${describe(b)} is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous`);
}

/** Split on the matches of a global regex, as HF's NormalizedString::split. */
export function regexSplit(pattern: RegExp, behavior: Behavior, invert: boolean): PreStep {
  const re = new RegExp(pattern.source, pattern.flags); // this step's own lastIndex
  if (behavior === 'Isolated' && !invert) {
    // the common case: every match and every gap is a piece
    return (piece, first, emit) => {
      re.lastIndex = 0;
      let last = 0;
      for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
        const start = m.index;
        const len = m[0].length;
        if (len === 0) {
          re.lastIndex = start + (piece.codePointAt(start)! > 0xffff ? 2 : 1);
          continue;
        }
        if (start > last) emit(piece.slice(last, start), first && last === 0);
        emit(len === piece.length ? piece : piece.slice(start, start + len), first && start === 0);
        last = start + len;
      }
      if (last < piece.length) emit(last === 0 ? piece : piece.slice(last), first && last === 0);
    };
  }
  return (piece, first, emit) => {
    // spans: [start, end, isMatch] covering the piece
    const spans: number[] = [];
    re.lastIndex = 0;
    let last = 0;
    for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
      const start = m.index;
      const len = m[0].length;
      if (len === 0) {
        re.lastIndex = start + (piece.codePointAt(start)! > 0xffff ? 2 : 1);
        continue;
      }
      if (start > last) spans.push(last, start, 0);
      spans.push(start, start + len, 1);
      last = start + len;
    }
    if (last < piece.length) spans.push(last, piece.length, 0);
    if (invert) for (let k = 2; k < spans.length; k += 3) spans[k] = 1 - spans[k]!;
    const out = applyBehavior(spans, behavior);
    for (let k = 0; k < out.length; k += 2) {
      const s = out[k]!;
      const e = out[k + 1]!;
      if (e > s) emit(piece.slice(s, e), first && s === 0);
    }
  };
}

/** [start, end, isMatch]* -> [start, end]* of the pieces to keep. */
function applyBehavior(spans: number[], behavior: Behavior): number[] {
  const out: number[] = [];
  const n = spans.length;
  switch (behavior) {
    case 'Removed':
      for (let k = 0; k < n; k += 3) if (spans[k + 2] === 0) out.push(spans[k]!, spans[k + 1]!);
      return out;
    case 'Isolated':
      for (let k = 0; k < n; k += 3) out.push(spans[k]!, spans[k + 1]!);
      return out;
    case 'Contiguous': {
      let prevMatch = false;
      for (let k = 0; k < n; k += 3) {
        const match = spans[k + 2] === 1;
        if (match && prevMatch) out[out.length - 1] = spans[k + 1]!;
        else out.push(spans[k]!, spans[k + 1]!);
        prevMatch = match;
      }
      return out;
    }
    case 'MergedWithPrevious': {
      let prevMatch = false;
      for (let k = 0; k < n; k += 3) {
        const match = spans[k + 2] === 1;
        if (match && !prevMatch && out.length > 0) out[out.length - 1] = spans[k + 1]!;
        else out.push(spans[k]!, spans[k + 1]!);
        prevMatch = match;
      }
      return out;
    }
    case 'MergedWithNext': {
      // right to left: a match joins the piece after it (unless that piece is a match too)
      const rev: number[] = [];
      let prevMatch = false;
      for (let k = n - 3; k >= 0; k -= 3) {
        const match = spans[k + 2] === 1;
        if (match && !prevMatch && rev.length > 0) rev[rev.length - 2] = spans[k]!;
        else rev.push(spans[k]!, spans[k + 1]!);
        prevMatch = match;
      }
      for (let k = rev.length - 2; k >= 0; k -= 2) out.push(rev[k]!, rev[k + 1]!);
      return out;
    }
  }
}

/**
 * Metaspace: ' ' -> replacement ('▁'), the replacement prepended (prepend_scheme always, or
 * first: only to the piece at the start of the input; older files say add_prefix_space), then
 * split before each replacement character (MergedWithNext).
 */
function metaspace(j: Json): PreStep {
  const rep = typeof j.replacement === 'string' && j.replacement.length > 0 ? j.replacement : '\u2581';
  let scheme = typeof j.prepend_scheme === 'string' ? j.prepend_scheme : undefined;
  if (scheme === undefined) scheme = j.add_prefix_space === false ? 'never' : 'always';
  if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') bad(`Metaspace.prepend_scheme ${describe(scheme)} is not always, first or never`);
  const split = j.split !== false;
  const splitter = regexSplit(new RegExp(rep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu'), 'MergedWithNext', false);
  return (piece, first, emit) => {
    let s = piece.replaceAll(' ', rep);
    if ((scheme === 'always' || (scheme === 'first' && first)) && !s.startsWith(rep)) s = rep + s;
    if (split) splitter(s, first, emit);
    else emit(s, first);
  };
}

/** Runs the steps as a chain of callbacks ending in sink. */
export function chainSteps(steps: PreStep[], sink: Emit): Emit {
  let e = sink;
  for (let k = steps.length - 1; k >= 0; k--) {
    const step = steps[k]!;
    const next = e;
    e = (piece, first) => step(piece, first, next);
  }
  return e;
}
