/**
 * Helpers every tokenizer model shares: finding special / added token text, the incremental
 * UTF-8 detokenizer, lone-surrogate repair, id checks, GPT-2's byte-level alphabet and an indexed
 * heap for merge queues. Nothing here knows a tokenizer model.
 */
import { WasmlmError } from '../errors.js';
import type { StreamDecoder } from './types.js';

export const EMPTY_BYTES = new Uint8Array(0);
export const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
export const utf8Encoder = new TextEncoder();

// ------------------------------------------------------------------ added / special tokens

export interface MatchToken {
  text: string;
  id: number;
  /** Whitespace before the token is part of the match (HF AddedToken.lstrip). */
  lstrip?: boolean;
  /** Whitespace after the token is part of the match (HF AddedToken.rstrip). */
  rstrip?: boolean;
  /** Only matches when not touching a word character on either side (HF AddedToken.single_word). */
  singleWord?: boolean;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const WHITE = /\p{White_Space}/u;

/**
 * Finds token texts in a string: leftmost match first, the longest text at that position (HF
 * tokenizers' added-token matching; llama.cpp instead tries tokens longest first over the whole
 * text, which differs only when two special texts overlap). lstrip / rstrip / single_word as HF's
 * AddedToken options.
 */
export class SpecialMatcher {
  private constructor(
    private readonly re: RegExp,
    private readonly byText: Map<string, MatchToken>,
    private readonly plain: boolean,
  ) {}

  static create(tokens: (readonly [text: string, id: number] | MatchToken)[]): SpecialMatcher | null {
    const byText = new Map<string, MatchToken>();
    let plain = true;
    for (const t of tokens) {
      const m: MatchToken = Array.isArray(t) ? { text: t[0], id: t[1] } : (t as MatchToken);
      if (m.text.length === 0 || byText.has(m.text)) continue;
      byText.set(m.text, m);
      if (m.lstrip || m.rstrip || m.singleWord) plain = false;
    }
    if (byText.size === 0) return null;
    const texts = [...byText.keys()].sort((a, b) => b.length - a.length);
    const re = new RegExp(texts.map(escapeRegExp).join('|'), 'g');
    return new SpecialMatcher(re, byText, plain);
  }

  /**
   * Calls emit(fragment, -1) for plain text and emit(text, id) for each token found, in order
   * (text is what the token consumed, whitespace included when it strips).
   */
  split(text: string, emit: (fragment: string, id: number) => void): void {
    const re = this.re;
    re.lastIndex = 0;
    let last = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      let start = m.index;
      let end = start + m[0].length;
      if (!this.plain) {
        const t = this.byText.get(m[0])!;
        if (t.singleWord && (
          (start > 0 && WORD_CHAR.test(charBefore(text, start))) ||
          (end < text.length && WORD_CHAR.test(String.fromCodePoint(text.codePointAt(end)!)))
        )) {
          continue;
        }
        if (t.lstrip) while (start > last && WHITE.test(text[start - 1]!)) start--;
        if (t.rstrip) {
          while (end < text.length && WHITE.test(text[end]!)) end++;
          re.lastIndex = end;
        }
      }
      if (start > last) emit(text.slice(last, start), -1);
      emit(text.slice(start, end), this.byText.get(m[0])!.id);
      last = end;
    }
    if (last < text.length) emit(last === 0 ? text : text.slice(last), -1);
  }
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function charBefore(s: string, k: number): string {
  return String.fromCodePoint(codePointBefore(s, k));
}

// ------------------------------------------------------------------ decoding

/**
 * Incremental UTF-8 detokenizer over per-token bytes. TextDecoder's stream mode holds back an
 * incomplete sequence until the next bytes complete it; flush() ends the stream (an incomplete
 * tail becomes U+FFFD). The leading space is removed from the first visible piece at the start
 * (afterBos) and after each BOS that renders as nothing, when the vocabulary adds a space prefix.
 */
export class Utf8StreamDecoder implements StreamDecoder {
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private strip: boolean;

  constructor(
    private readonly bytesOf: (id: number) => Uint8Array,
    private readonly bos: number | undefined,
    private readonly spacePrefix: boolean,
    afterBos: boolean,
  ) {
    this.strip = spacePrefix && afterBos;
  }

  push(id: number): string {
    let b = this.bytesOf(id);
    if (b.length === 0) {
      if (id === this.bos) this.strip = this.spacePrefix;
      return '';
    }
    if (this.strip) {
      this.strip = false;
      if (b[0] === 0x20) {
        b = b.subarray(1);
        if (b.length === 0) return '';
      }
    }
    return this.decoder.decode(b, { stream: true });
  }

  flush(): string {
    return this.decoder.decode();
  }
}

/** A growable byte buffer for decode(). */
export class ByteBuffer {
  buf: Uint8Array;
  len = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }
  push(b: Uint8Array, from = 0): void {
    const m = b.length - from;
    if (m <= 0) return;
    if (this.len + m > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + m));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    const buf = this.buf;
    if (m <= 16) for (let k = from; k < b.length; k++) buf[this.len++] = b[k]!;
    else {
      buf.set(from === 0 ? b : b.subarray(from), this.len);
      this.len += m;
    }
  }
  text(): string {
    return utf8Decoder.decode(this.buf.subarray(0, this.len));
  }
}

// ------------------------------------------------------------------ strings and ids

/** Lone surrogates become U+FFFD, as TextEncoder would encode them. */
export function toWellFormed(s: string): string {
  const f = (s as { toWellFormed?: () => string }).toWellFormed;
  if (typeof f === 'function') return f.call(s);
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** 0..255 for '<0xNN>', else -1. */
export function parseByteToken(text: string): number {
  if (text.length !== 6 || !text.startsWith('<0x') || text[5] !== '>') return -1;
  const hex = text.slice(3, 5);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
}

export function codePointBefore(s: string, k: number): number {
  const c = s.charCodeAt(k - 1);
  if (c >= 0xdc00 && c <= 0xdfff && k >= 2) {
    const h = s.charCodeAt(k - 2);
    if (h >= 0xd800 && h <= 0xdbff) return ((h - 0xd800) << 10) + (c - 0xdc00) + 0x10000;
  }
  return c;
}

export function codePointLength(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/** A value for an error message. */
export function describe(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? x.slice(0, 40) + '…' : x);
  if (typeof x === 'number' || typeof x === 'bigint' || typeof x === 'boolean') return String(x);
  return x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x;
}

/**
 * How deep Sequence components may nest (normalizers, pre-tokenizers, decoders, post-processors):
 * real files nest one or two levels; a deeper one (or a parsed object whose Sequence contains
 * itself) is rejected before recursion can exhaust the stack.
 */
export const MAX_NESTING = 32;

export function checkNesting(depth: number, what: string): void {
  if (depth > MAX_NESTING) {
    throw new WasmlmError('BAD_TOKENIZER', `${what}: Sequences nested more than ${MAX_NESTING} deep (or a Sequence that contains itself)`);
  }
}

export function checkTokenId(id: number, vocabSize: number, position?: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    const at = position === undefined ? '' : ` at position ${position}`;
    throw new WasmlmError(
      'TOKEN_OUT_OF_RANGE',
      `token id ${describe(id)}${at} is out of range for a vocabulary of ${vocabSize} tokens`,
    );
  }
}

export function checkText(text: unknown): asserts text is string {
  if (typeof text !== 'string') {
    throw new WasmlmError('BAD_ARGUMENT', `encode expects a string, got ${describe(text)}`);
  }
}

// ------------------------------------------------------------------ GPT-2 byte-level alphabet

/**
 * GPT-2's reversible map of the 256 byte values to printable characters: bytes that are
 * printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 take
 * U+0100.. in order (space -> 'Ġ', '\n' -> 'Ċ').
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return out;
})();

/** char code -> byte, -1 for characters outside the alphabet (all codes < 0x144). */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return t;
})();

/** The byte-level form of a text: its UTF-8 bytes as alphabet characters. */
export function toByteLevel(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) out += BYTE_TO_CHAR[c];
    else {
      let cp = c;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          i++;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      if (cp < 0x800) out += BYTE_TO_CHAR[0xc0 | (cp >> 6)]! + BYTE_TO_CHAR[0x80 | (cp & 63)]!;
      else if (cp < 0x10000) {
        out += BYTE_TO_CHAR[0xe0 | (cp >> 12)]! + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 63)]! + BYTE_TO_CHAR[0x80 | (cp & 63)]!;
      } else {
        out += BYTE_TO_CHAR[0xf0 | (cp >> 18)]! + BYTE_TO_CHAR[0x80 | ((cp >> 12) & 63)]! +
          BYTE_TO_CHAR[0x80 | ((cp >> 6) & 63)]! + BYTE_TO_CHAR[0x80 | (cp & 63)]!;
      }
    }
  }
  return out;
}

/** The bytes a byte-level string stands for, or null when a character is outside the alphabet. */
export function fromByteLevel(s: string): Uint8Array | null {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 0x144 ? CHAR_TO_BYTE[c]! : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

// ------------------------------------------------------------------ merge queue

/**
 * Indexed 4-ary max-heap of symbol offsets, ordered by key (higher first) then offset (lower
 * first): sentencepiece's and llama.cpp's bigram order with key = score, and BPE's (lowest rank,
 * leftmost) with key = -rank. The key is stored in heap order beside the offset; pos[i] is offset
 * i's slot or -1, so an entry can be updated or removed in O(log n): the heap never holds stale
 * entries and never more than one per symbol.
 */
export class PairHeap {
  size = 0;
  private readonly item: Int32Array;
  private readonly key: Float64Array;
  private readonly pos: Int32Array;

  constructor(capacity: number) {
    this.item = new Int32Array(capacity);
    this.key = new Float64Array(capacity);
    this.pos = new Int32Array(capacity).fill(-1);
  }

  /** Clears entries left by a previous run (only the slots that were used). */
  reset(): void {
    for (let k = 0; k < this.size; k++) this.pos[this.item[k]!] = -1;
    this.size = 0;
  }

  /** Adds without ordering; call heapify() after a series of appends. */
  append(i: number, key: number): void {
    const k = this.size++;
    this.item[k] = i;
    this.key[k] = key;
    this.pos[i] = k;
  }

  heapify(): void {
    for (let k = (this.size - 2) >> 2; k >= 0; k--) this.down(k, this.item[k]!, this.key[k]!);
  }

  insert(i: number, key: number): void {
    this.up(this.size++, i, key);
  }

  /** Inserts i or changes its key. */
  upsert(i: number, key: number): void {
    const k = this.pos[i]!;
    if (k < 0) this.insert(i, key);
    else this.place(k, i, key);
  }

  pop(): number {
    const top = this.item[0]!;
    this.removeSlot(0);
    return top;
  }

  remove(i: number): void {
    const k = this.pos[i]!;
    if (k >= 0) this.removeSlot(k);
  }

  private removeSlot(k: number): void {
    this.pos[this.item[k]!] = -1;
    const last = --this.size;
    if (k < last) this.place(k, this.item[last]!, this.key[last]!);
  }

  /** Puts (i, key) at slot k, then moves it up or down to where it belongs. */
  private place(k: number, i: number, key: number): void {
    if (k > 0) {
      const parent = (k - 1) >> 2;
      const pk = this.key[parent]!;
      if (key > pk || (key === pk && i < this.item[parent]!)) {
        this.up(k, i, key);
        return;
      }
    }
    this.down(k, i, key);
  }

  private up(k: number, i: number, key: number): void {
    const { item, key: keys, pos } = this;
    while (k > 0) {
      const parent = (k - 1) >> 2;
      const pk = keys[parent]!;
      const pi = item[parent]!;
      if (!(key > pk || (key === pk && i < pi))) break;
      item[k] = pi;
      keys[k] = pk;
      pos[pi] = k;
      k = parent;
    }
    item[k] = i;
    keys[k] = key;
    pos[i] = k;
  }

  private down(k: number, i: number, key: number): void {
    const { item, key: keys, pos } = this;
    const size = this.size;
    for (;;) {
      const first = 4 * k + 1;
      if (first >= size) break;
      // the best of up to four children
      let c = first;
      let ck = keys[c]!;
      let ci = item[c]!;
      const end = Math.min(first + 4, size);
      for (let d = first + 1; d < end; d++) {
        const dk = keys[d]!;
        if (dk > ck || (dk === ck && item[d]! < ci)) {
          c = d;
          ck = dk;
          ci = item[d]!;
        }
      }
      if (!(ck > key || (ck === key && ci < i))) break;
      item[k] = ci;
      keys[k] = ck;
      pos[ci] = k;
      k = c;
    }
    item[k] = i;
    keys[k] = key;
    pos[i] = k;
  }
}

// ------------------------------------------------------------------ models

/** A tokenizer model (BPE, WordPiece, Unigram, WordLevel): one pre-tokenized piece to ids. */
export interface WordModel {
  encodeWord(piece: string, out: number[]): void;
}

/** The UTF-8 bytes of one code point (given as its string). */
export function utf8Bytes(ch: string): number[] {
  return Array.from(utf8Encoder.encode(ch));
}

const HEX = '0123456789ABCDEF';
/** '<0xNN>' for a byte (sentencepiece / HF byte_fallback token text). */
export function byteTokenText(b: number): string {
  return `<0x${HEX[b >> 4]}${HEX[b & 15]}>`;
}

// ------------------------------------------------------------------ end of generation

/** Token texts llama.cpp takes as end-of-turn (first found, in this order, becomes `eot`). */
export const EOT_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>',
  '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>', '<end_of_utterance>',
];
/** ... and these also end generation. */
export const EOG_TEXTS = [...EOT_TEXTS, '<|eom_id|>', '<|return|>', '<|call|>'];

/**
 * The end-of-turn token (when not given) and the set of ids that end generation: eos, eot and
 * the tokens whose text llama.cpp recognises.
 */
export function endOfGeneration(
  tokens: readonly string[],
  special: { eos?: number; eot?: number },
): { eot: number | undefined; eog: Set<number> } {
  const byText = new Map<string, number>();
  for (const t of EOG_TEXTS) byText.set(t, -1);
  for (let i = 0; i < tokens.length; i++) if (byText.get(tokens[i]!) === -1) byText.set(tokens[i]!, i);
  let eot = special.eot;
  if (eot === undefined) {
    for (const t of EOT_TEXTS) {
      const id = byText.get(t)!;
      if (id >= 0 && id !== special.eos) {
        eot = id;
        break;
      }
    }
  }
  const eog = new Set<number>();
  if (special.eos !== undefined) eog.add(special.eos);
  if (eot !== undefined) eog.add(eot);
  for (const id of byText.values()) if (id >= 0) eog.add(id);
  return { eot, eog };
}
