/**
 * WordPiece (BERT; HF WordPiece, llama.cpp's WPM) and WordLevel models.
 *
 * WordPiece: greedy longest match from the start of the piece; after the first sub-token the
 * candidates are the continuation entries ('##ing' in HF vocabularies, 'ing' in GGUF ones,
 * whose word-initial entries are '▁the' instead of 'the'). A piece with a character that no
 * entry covers, or longer than max_input_chars_per_word characters, is one unknown token.
 */
import type { WordModel } from './common.js';

export interface WordPieceConfig {
  /** entries that can start a word, by their text without marker */
  initial: Map<string, number>;
  /** entries that continue a word, by their text without marker */
  continuation: Map<string, number>;
  unk?: number;
  maxInputCharsPerWord?: number;
}

const CACHE_MAX = 1 << 16;

export class WordPieceModel implements WordModel {
  private readonly maxChars: number;
  private readonly maxLen: number;
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly c: WordPieceConfig) {
    this.maxChars = c.maxInputCharsPerWord ?? 100;
    let maxLen = 1;
    for (const t of c.initial.keys()) if (t.length > maxLen) maxLen = t.length;
    for (const t of c.continuation.keys()) if (t.length > maxLen) maxLen = t.length;
    this.maxLen = maxLen;
  }

  encodeWord(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.split(piece);
      if (piece.length <= 64) {
        if (this.cache.size >= CACHE_MAX) this.cache.clear();
        this.cache.set(piece, ids);
      }
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
  }

  private split(word: string): number[] {
    const unk = this.c.unk === undefined ? [] : [this.c.unk];
    let chars = 0;
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      if (c < 0xdc00 || c > 0xdfff) chars++;
    }
    if (chars > this.maxChars) return unk;
    const out: number[] = [];
    let start = 0;
    while (start < word.length) {
      const map = start === 0 ? this.c.initial : this.c.continuation;
      let end = Math.min(word.length, start + this.maxLen);
      let found = -1;
      while (end > start) {
        // never cut a surrogate pair
        const last = word.charCodeAt(end - 1);
        if (last >= 0xd800 && last <= 0xdbff && end < word.length) { end--; continue; }
        const id = map.get(word.slice(start, end));
        if (id !== undefined) { found = id; break; }
        end--;
      }
      if (found < 0) return unk;
      out.push(found);
      start = end;
    }
    return out;
  }
}

/** WordLevel: the piece is a vocabulary entry, or the unknown token (or nothing without one). */
export class WordLevelModel implements WordModel {
  constructor(private readonly vocab: Map<string, number>, private readonly unk: number | undefined) {}

  encodeWord(piece: string, out: number[]): void {
    const id = this.vocab.get(piece) ?? this.unk;
    if (id !== undefined) out.push(id);
  }
}
