/**
 * Normalizers (HF tokenizers' `normalizer` section): a function from text to text, applied to
 * each fragment between added tokens before pre-tokenization. Built from the tokenizer.json
 * description; GGUF vocabularies describe theirs the same way (see gguf.ts).
 */
import { WasmlmError } from '../errors.js';
import { checkNesting, describe } from './common.js';
import { translateRegex } from './regex.js';

export type Normalizer = (s: string) => string;

type Json = Record<string, unknown>;

const bad = (msg: string): never => {
  throw new WasmlmError('BAD_TOKENIZER', msg);
};

export function buildNormalizer(n: unknown, depth = 0): Normalizer | null {
  if (n === null || n === undefined) return null;
  checkNesting(depth, 'normalizer');
  if (typeof n !== 'object') bad(`normalizer must be an object, got ${describe(n)}`);
  const j = n as Json;
  switch (j.type) {
    case 'Sequence': {
      const list = j.normalizers;
      if (!Array.isArray(list)) bad('normalizer Sequence has no normalizers list');
      const steps = (list as unknown[]).map((x) => buildNormalizer(x, depth + 1)).filter((f): f is Normalizer => f !== null);
      if (steps.length === 0) return null;
      if (steps.length === 1) return steps[0]!;
      return (s) => {
        for (const f of steps) s = f(s);
        return s;
      };
    }
    case 'NFC': return (s) => s.normalize('NFC');
    case 'NFD': return (s) => s.normalize('NFD');
    case 'NFKC': return (s) => s.normalize('NFKC');
    case 'NFKD': return (s) => s.normalize('NFKD');
    case 'Lowercase': return lowercase;
    case 'StripAccents': return stripAccents;
    case 'Strip': {
      const left = j.strip_left !== false;
      const right = j.strip_right !== false;
      return (s) => (left && right ? s.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '')
        : left ? s.replace(/^\p{White_Space}+/u, '') : right ? s.replace(/\p{White_Space}+$/u, '') : s);
    }
    case 'Prepend': {
      const p = str(j.prepend, 'Prepend.prepend');
      return (s) => (s.length > 0 ? p + s : s);
    }
    case 'Replace': {
      const { re, content } = replacePattern(j, 'normalizer Replace');
      return (s) => s.replace(re, () => content);
    }
    case 'BertNormalizer': return bertNormalizer(j);
    case 'Precompiled': {
      const map = j.precompiled_charsmap;
      if (map === null || map === undefined || map === '') return null;
      return precompiled(str(map, 'Precompiled.precompiled_charsmap'));
    }
    case 'ByteLevel': return null; // the byte mapping happens in the ByteLevel pre-tokenizer step
    default:
      return bad(`normalizer type ${describe(j.type)} is not supported`);
  }
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} must be a string, got ${describe(v)}`);
  return v as string;
}

/** HF Replace (normalizer or decoder): { pattern: { String } | { Regex }, content }. */
export function replacePattern(j: Json, what: string): { re: RegExp; content: string } {
  const content = str(j.content, `${what}.content`);
  const pat = j.pattern as Json | undefined;
  if (pat && typeof pat.String === 'string') {
    return { re: new RegExp(pat.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu'), content };
  }
  if (pat && typeof pat.Regex === 'string') return { re: translateRegex(pat.Regex, what), content };
  return bad(`${what} has no pattern (String or Regex)`);
}

/** Per character, as Rust's char::to_lowercase (JS maps a final 'Σ' to 'ς'; HF does not). */
export function lowercase(s: string): string {
  const low = s.toLowerCase();
  return s.includes('\u03a3') ? s.replaceAll('\u03a3', '\u03c3').toLowerCase() : low;
}

/** HF StripAccents: remove nonspacing combining marks (Mn). */
function stripAccents(s: string): string {
  return s.replace(/\p{Mn}/gu, '');
}

/** Chinese / CJK ideographs as BERT's tokenizer pads them (ranges from its reference code). */
export function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

const CONTROL = /\p{C}/u;
const WHITESPACE = /\p{White_Space}/u;

/**
 * BertNormalizer: clean_text drops NUL, U+FFFD and control characters (other than \t \n \r)
 * and turns whitespace into ' '; handle_chinese_chars puts spaces around CJK ideographs;
 * strip_accents (default: as lowercase) removes accents after NFD; lowercase.
 */
export function bertNormalizer(j: Json): Normalizer {
  const clean = j.clean_text !== false;
  const chinese = j.handle_chinese_chars !== false;
  const lower = j.lowercase !== false;
  const strip = j.strip_accents === null || j.strip_accents === undefined ? lower : j.strip_accents === true;
  return (s) => {
    if (clean || chinese) {
      let out = '';
      let plainFrom = 0;
      let i = 0;
      const n = s.length;
      while (i < n) {
        const c = s.charCodeAt(i);
        if (c >= 0x21 && c < 0x7f) { i++; continue; } // printable ASCII: unchanged
        const cp = s.codePointAt(i)!;
        const len = cp > 0xffff ? 2 : 1;
        let rep: string | null = null;
        if (clean) {
          // HF: drop NUL, U+FFFD and "other" characters (C*) but \t \n \r, then whitespace -> ' '
          const ch = String.fromCodePoint(cp);
          if (cp === 0 || cp === 0xfffd) rep = '';
          else if (cp === 9 || cp === 10 || cp === 13) rep = ' ';
          else if (CONTROL.test(ch)) rep = '';
          else if (cp !== 0x20 && WHITESPACE.test(ch)) rep = ' ';
        }
        if (rep === null && chinese && isChineseChar(cp)) rep = ' ' + String.fromCodePoint(cp) + ' ';
        if (rep !== null) {
          out += s.slice(plainFrom, i) + rep;
          plainFrom = i + len;
        }
        i += len;
      }
      s = plainFrom === 0 ? s : out + s.slice(plainFrom);
    }
    if (strip) s = stripAccents(s.normalize('NFD'));
    if (lower) s = lowercase(s);
    return s;
  };
}

// ------------------------------------------------------------------ sentencepiece charsmap

/**
 * SentencePiece's precompiled normalization map (base64 in tokenizer.json): a 4-byte length, a
 * double-array trie (XOR-compressed units) over UTF-8 strings, then NUL-terminated replacement
 * strings. As HF's Precompiled normalizer: per grapheme cluster shorter than 6 UTF-8 bytes, the
 * first (shortest) trie prefix of the cluster replaces it whole; otherwise each character is
 * looked up alone and replaced, or kept.
 */
function precompiled(base64: string): Normalizer {
  let bytes: Uint8Array;
  try {
    bytes = base64Decode(base64);
  } catch {
    return bad('Precompiled.precompiled_charsmap is not valid base64');
  }
  if (bytes.length < 4) bad('Precompiled.precompiled_charsmap is too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trieSize = view.getUint32(0, true);
  if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length) bad('Precompiled.precompiled_charsmap has a bad trie size');
  const units = new Uint32Array(trieSize / 4);
  for (let k = 0; k < units.length; k++) units[k] = view.getUint32(4 + 4 * k, true);
  const strings = bytes.subarray(4 + trieSize);
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8');

  const offset = (u: number) => (u >>> 10) << ((u & (1 << 9)) >>> 6);
  const label = (u: number) => u & ((1 << 31) | 0xff);
  const hasLeaf = (u: number) => ((u >>> 8) & 1) === 1;
  const value = (u: number) => u & 0x7fffffff;

  /** The replacement for the shortest trie prefix of `text`, or null. */
  const transform = (text: string): string | null => {
    if (units.length === 0) return null;
    const b = enc.encode(text);
    let node = offset(units[0]!);
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c === 0) break;
      node ^= c;
      if (node >= units.length) return null;
      const unit = units[node]!;
      if (label(unit) !== c) return null;
      node ^= offset(unit);
      if (hasLeaf(unit)) {
        if (node >= units.length) return null;
        const v = value(units[node]!);
        if (v >= strings.length) return null;
        let end = v;
        while (end < strings.length && strings[end] !== 0) end++;
        return dec.decode(strings.subarray(v, end));
      }
    }
    return null;
  };

  // ASCII characters are single graphemes (except \r\n): a table
  const ascii: (string | null)[] = [];
  for (let c = 0; c < 128; c++) ascii.push(transform(String.fromCharCode(c)));
  const segmenter = typeof Intl !== 'undefined' && typeof Intl.Segmenter === 'function'
    ? new Intl.Segmenter(undefined, { granularity: 'grapheme' })
    : null;

  return (s) => {
    if (/^[\x00-\x7f]*$/.test(s) && !s.includes('\r\n')) {
      let out = '';
      for (let i = 0; i < s.length; i++) out += ascii[s.charCodeAt(i)] ?? s[i];
      return out;
    }
    let out = '';
    const graphemes: Iterable<{ segment: string }> = segmenter !== null
      ? segmenter.segment(s)
      : Array.from(s, (segment) => ({ segment }));
    for (const { segment: g } of graphemes) {
      if (utf8Length(g) < 6) {
        const r = transform(g);
        if (r !== null) {
          out += r;
          continue;
        }
      }
      for (const ch of g) out += transform(ch) ?? ch;
    }
    return out;
  };
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
  }
  return n;
}

function base64Decode(s: string): Uint8Array {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const clean = s.replace(/[\s=]/g, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = A.indexOf(clean[i]!);
    if (v < 0) throw new Error('bad base64');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}
