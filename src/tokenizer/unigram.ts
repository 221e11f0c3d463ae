/**
 * Unigram model (sentencepiece unigram; HF Unigram): the segmentation of a piece into vocabulary
 * entries with the highest total score (Viterbi). A character no entry covers costs the lowest
 * score minus 10 and becomes the unknown token (consecutive ones fused), or its <0xNN> byte
 * tokens with byte_fallback. Ties keep the first path found (shorter entries are tried first),
 * as HF's encode_optimized.
 */
import { byteTokenText, utf8Bytes, type WordModel } from './common.js';

export interface UnigramConfig {
  /** [piece, score] by id */
  pieces: readonly (readonly [string, number])[];
  unk?: number;
  byteFallback?: boolean;
}

const CACHE_MAX = 1 << 16;
const UNK_PENALTY = 10;

export class UnigramModel implements WordModel {
  private readonly byText = new Map<string, number>();
  private readonly scores: Float64Array;
  private readonly maxLen: number;
  private readonly unkScore: number;
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly c: UnigramConfig) {
    const n = c.pieces.length;
    this.scores = new Float64Array(n);
    let maxLen = 1;
    let min = Infinity;
    for (let id = 0; id < n; id++) {
      const [text, score] = c.pieces[id]!;
      this.scores[id] = score;
      if (score < min) min = score;
      if (text.length === 0 || this.byText.has(text)) continue;
      this.byText.set(text, id);
      if (text.length > maxLen) maxLen = text.length;
    }
    this.maxLen = maxLen;
    this.unkScore = (Number.isFinite(min) ? min : 0) - UNK_PENALTY;
  }

  encodeWord(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.viterbi(piece);
      if (piece.length <= 64) {
        if (this.cache.size >= CACHE_MAX) this.cache.clear();
        this.cache.set(piece, ids);
      }
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
  }

  private viterbi(s: string): number[] {
    const n = s.length;
    if (n === 0) return [];
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const tok = new Int32Array(n + 1).fill(-1); // -2: unknown
    best[0] = 0;
    for (let i = 0; i < n; ) {
      const charLen = s.codePointAt(i)! > 0xffff ? 2 : 1;
      if (from[i] < 0 && i > 0) { i += charLen; continue; }
      const base = best[i]!;
      let single = false;
      const maxEnd = Math.min(n, i + this.maxLen);
      for (let end = i + 1; end <= maxEnd; end++) {
        const last = s.charCodeAt(end - 1);
        if (last >= 0xd800 && last <= 0xdbff && end < n) continue;
        const id = this.byText.get(s.slice(i, end));
        if (id === undefined) continue;
        const score = base + this.scores[id]!;
        if (from[end]! < 0 || score > best[end]!) {
          best[end] = score;
          from[end] = i;
          tok[end] = id;
        }
        if (end - i === charLen) single = true;
      }
      if (!single) {
        const end = i + charLen;
        const score = base + this.unkScore;
        if (from[end]! < 0 || score > best[end]!) {
          best[end] = score;
          from[end] = i;
          tok[end] = -2;
        }
      }
      i += charLen;
    }
    // back from the end; consecutive unknown characters become one token
    const rev: (number | string)[] = [];
    let unkText = '';
    for (let end = n; end > 0; ) {
      const start = from[end]!;
      if (tok[end] === -2) unkText = s.slice(start, end) + unkText;
      else {
        if (unkText !== '') { rev.push(unkText); unkText = ''; }
        rev.push(tok[end]!);
      }
      end = start;
    }
    if (unkText !== '') rev.push(unkText);
    const out: number[] = [];
    for (let k = rev.length - 1; k >= 0; k--) {
      const t = rev[k]!;
      if (typeof t === 'number') out.push(t);
      else this.unknown(t, out);
    }
    return out;
  }

  private unknown(text: string, out: number[]): void {
    if (this.c.byteFallback) {
      const ids: number[] = [];
      for (const b of utf8Bytes(text)) {
        const id = this.byText.get(byteTokenText(b));
        if (id === undefined) { ids.length = 0; break; }
        ids.push(id);
      }
      if (ids.length > 0) {
        for (const id of ids) out.push(id);
        return;
      }
    }
    if (this.c.unk !== undefined) out.push(this.c.unk);
  }
}
