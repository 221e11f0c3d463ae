/**
 * Sentence and word segmentation on Intl.Segmenter (Unicode UAX #29 plus ICU's dictionaries, so
 * Chinese, Japanese and Thai, written without spaces, split into words too).
 *
 *   segmentSentences('my name is Barry. I am a good boy.')  -> ['my name is Barry', 'I am a good boy']
 *   segmentWords(same) -> [['my','name','is','Barry'], ['I','am','a','good','boy']]
 *
 * By default punctuation is dropped: a sentence is trimmed and loses its trailing run of
 * terminal punctuation (. ! ? … 。 ！ ？ and the like), words are the word-like segments.
 * keepPunctuation keeps the sentence as written (trimmed) and adds every punctuation or symbol
 * segment to the words as an entry of its own. Whitespace inside a sentence is kept as written;
 * a line break ends a sentence (as in UAX #29). Sentences with no words are left out.
 */
import { kindOf, WasmlmError } from '../errors.js';

export interface SegmentOptions {
  /** BCP 47 tag passed to Intl.Segmenter (default: the runtime's locale). */
  locale?: string | string[];
  /** Keep punctuation (default false). */
  keepPunctuation?: boolean;
}

/** Trailing sentence punctuation removed when keepPunctuation is false. */
const TRAILING_PUNCTUATION = /[\s\p{Sentence_Terminal}\p{Terminal_Punctuation}\u2026\u22EF\u2E2E]+$/u;
/** A segment with something in it besides spaces. */
const NOT_SPACE = /\S/u;
/** A segment containing a letter or digit (used where Intl gives no isWordLike). */
const WORDISH = /[\p{L}\p{N}]/u;

export function segmentSentences(text: string, opts?: SegmentOptions): string[] {
  const keep = checkArgs(text, opts);
  const out: string[] = [];
  for (const raw of rawSentences(text, opts?.locale)) {
    let s = raw.trim();
    if (!keep) s = s.replace(TRAILING_PUNCTUATION, '');
    if (s.length > 0) out.push(s);
  }
  return out;
}

export function segmentWords(text: string, opts?: SegmentOptions): string[][] {
  const keep = checkArgs(text, opts);
  const out: string[][] = [];
  const words = makeSegmenter(opts?.locale, 'word');
  for (const raw of rawSentences(text, opts?.locale)) {
    const list: string[] = [];
    let hasWord = false;
    if (words === null) {
      for (const m of raw.matchAll(/[\p{L}\p{N}\p{M}]+(?:['’.][\p{L}\p{N}\p{M}]+)*|[^\s\p{L}\p{N}\p{M}]/gu)) {
        const w = WORDISH.test(m[0]);
        if (w || keep) list.push(m[0]);
        hasWord ||= w;
      }
    } else {
      for (const seg of words.segment(raw)) {
        if (seg.isWordLike) {
          list.push(seg.segment);
          hasWord = true;
        } else if (keep && NOT_SPACE.test(seg.segment)) {
          list.push(seg.segment.trim());
        }
      }
    }
    if (hasWord || (keep && list.length > 0)) out.push(list);
  }
  return out;
}

function checkArgs(text: unknown, opts: SegmentOptions | undefined): boolean {
  if (typeof text !== 'string') {
    throw new WasmlmError('BAD_ARGUMENT', `text to segment must be a string, got ${kindOf(text)}`);
  }
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
    throw new WasmlmError('BAD_ARGUMENT', 'segmentation options must be an object');
  }
  return opts?.keepPunctuation === true;
}

function* rawSentences(text: string, locale: string | string[] | undefined): Generator<string> {
  const sentences = makeSegmenter(locale, 'sentence');
  if (sentences === null) {
    // no Intl.Segmenter: cut after terminal punctuation followed by space, and at line breaks
    for (const m of text.matchAll(/[^\n]*?(?:[.!?…]+["'”’)\]]*(?=\s|$)|[。！？]+[”’」』）)\]]*|\n|$)\s*/gu)) {
      if (m[0].length > 0) yield m[0];
    }
    return;
  }
  for (const seg of sentences.segment(text)) yield seg.segment;
}

const segmenters = new Map<string, Intl.Segmenter>();

function makeSegmenter(locale: string | string[] | undefined, granularity: 'sentence' | 'word'): Intl.Segmenter | null {
  const Segmenter = (Intl as { Segmenter?: typeof Intl.Segmenter }).Segmenter;
  if (typeof Segmenter !== 'function') return null;
  const key = `${granularity}\u0000${Array.isArray(locale) ? locale.join(',') : locale ?? ''}`;
  let s = segmenters.get(key);
  if (s === undefined) {
    try {
      s = new Segmenter(locale, { granularity });
    } catch (e) {
      throw new WasmlmError('BAD_ARGUMENT', `invalid locale ${JSON.stringify(locale)}: ${(e as Error).message}`, { cause: e });
    }
    if (segmenters.size > 64) segmenters.clear();
    segmenters.set(key, s);
  }
  return s;
}
