/**
 * BPE model (HF tokenizers' BPE, llama.cpp's llm_tokenizer_bpe): a piece becomes one symbol
 * per character (GPT-2 byte-level: per UTF-8 byte, as alphabet characters), then the adjacent
 * pair with the lowest merge rank is merged, leftmost first on ties, until no pair has a rank.
 *
 * Characters outside the vocabulary become <0xNN> byte tokens (byte_fallback), else the unknown
 * token (consecutive ones fused with fuse_unk), else nothing. ignore_merges: a piece that is a
 * vocabulary entry as a whole is that token (LLaMA 3). continuing_subword_prefix /
 * end_of_word_suffix mark non-initial / final characters as HF does.
 *
 * Merges are integers: an open-addressing table from (left id, right id) to (rank, merged id),
 * and an indexed heap holds one candidate per symbol, so a piece of n characters costs
 * O(n log n) whatever its length. Results are cached per piece.
 */
import { WasmlmError } from '../errors.js';
import { BYTE_TO_CHAR, byteTokenText, codePointBefore, PairHeap, toByteLevel, utf8Bytes, type WordModel } from './common.js';

export interface BpeConfig {
  /** text -> id of every entry the model can produce */
  vocab: Map<string, number>;
  /** merge rules in rank order: [left, right] */
  merges: Iterable<readonly [string, string]>;
  unk?: number;
  byteFallback?: boolean;
  fuseUnk?: boolean;
  ignoreMerges?: boolean;
  continuingSubwordPrefix?: string;
  endOfWordSuffix?: string;
  /** Pieces arrive as raw text and are mapped to the byte-level alphabet here. */
  byteLevelInput?: boolean;
}

const CACHE_PIECE_MAX = 128;
const MARK = '\u2581';
const MARK_CODE = 0x2581;
const CACHE_MAX = 1 << 16;
const SCRATCH_KEEP_MAX = 1 << 16;

export class BpeModel implements WordModel {
  private readonly vocab: Map<string, number>;
  private readonly unk: number | undefined;
  private readonly byteFallback: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly byteLevel: boolean;
  /** id of the alphabet character for each byte (byte-level input), -1 when missing */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** id of <0xNN> per byte (byte_fallback), -1 when missing */
  private readonly fallbackIds = new Int32Array(256).fill(-1);
  private readonly table: MergeTable;
  /**
   * SentencePiece-style BPE ('▁' for spaces, no pre-tokenizer): code points X such that a merge
   * joins a symbol ending in X with one starting with '▁'. A long piece is cut into independent
   * chunks before every other '▁' (no merge can cross such a cut: the ids are those of the whole
   * piece) and each chunk is cached. null when not applicable.
   */
  private readonly noCutBeforeMark: Set<number> | null;
  private readonly cache = new Map<string, number[]>();
  private scratch: Scratch | null = null;
  /** Merge rules skipped because a token is missing from the vocabulary. */
  readonly skippedMerges: number;

  constructor(c: BpeConfig) {
    this.vocab = c.vocab;
    this.unk = c.unk;
    this.byteFallback = c.byteFallback === true;
    this.fuseUnk = c.fuseUnk === true;
    this.ignoreMerges = c.ignoreMerges === true;
    this.prefix = c.continuingSubwordPrefix ?? '';
    this.suffix = c.endOfWordSuffix ?? '';
    this.byteLevel = c.byteLevelInput === true;
    for (let b = 0; b < 256; b++) {
      this.byteIds[b] = this.vocab.get(BYTE_TO_CHAR[b]!) ?? -1;
      this.fallbackIds[b] = this.vocab.get(byteTokenText(b)) ?? -1;
    }
    const chunkable = !this.byteLevel && !this.ignoreMerges && this.prefix === '' && this.suffix === '' && this.vocab.has(MARK);
    const noCut = chunkable ? new Set<number>() : null;
    const { table, skipped } = MergeTable.build(c.merges, this.vocab, this.prefix.length, (a, b) => {
      if (noCut !== null && b.startsWith(MARK) && a.length > 0) noCut.add(codePointBefore(a, a.length));
    });
    this.table = table;
    this.skippedMerges = skipped;
    this.noCutBeforeMark = noCut;
  }

  encodeWord(piece: string, out: number[]): void {
    if (piece.length > CACHE_PIECE_MAX) {
      if (this.noCutBeforeMark !== null && piece.includes(MARK, 1)) this.encodeChunks(piece, out);
      else this.encodeUncached(piece, out);
      return;
    }
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = [];
      this.encodeUncached(piece, ids);
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
  }

  /** A long SentencePiece-style piece, cut before each '▁' that no merge can cross. */
  private encodeChunks(piece: string, out: number[]): void {
    const noCut = this.noCutBeforeMark!;
    let start = 0;
    for (let k = piece.indexOf(MARK, 1); k > 0; k = piece.indexOf(MARK, k + 1)) {
      const c = piece.charCodeAt(k - 1);
      if (c === MARK_CODE) continue; // a run of marks stays together (▁▁ may be a token)
      if (noCut.has(codePointBefore(piece, k))) continue;
      this.encodeWordCached(piece.slice(start, k), out);
      start = k;
    }
    this.encodeWordCached(start === 0 ? piece : piece.slice(start), out);
  }

  private encodeWordCached(chunk: string, out: number[]): void {
    if (chunk.length > CACHE_PIECE_MAX) this.encodeUncached(chunk, out);
    else this.encodeWord(chunk, out);
  }

  private encodeUncached(piece: string, out: number[]): void {
    if (piece.length === 0) return;
    if (this.byteLevel && this.prefix === '' && this.suffix === '') {
      if (this.ignoreMerges) {
        const whole = this.vocab.get(toByteLevel(piece));
        if (whole !== undefined) {
          out.push(whole);
          return;
        }
      }
      this.mergeBytes(piece, out);
      return;
    }
    const word = this.byteLevel ? toByteLevel(piece) : piece;
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    this.mergeChars(word, out);
  }

  /** Byte-level fast path: symbols are the piece's UTF-8 bytes. */
  private mergeBytes(piece: string, out: number[]): void {
    const w = this.work(piece.length * 3 + 1);
    const sym = w.sym;
    let n = 0;
    const byteIds = this.byteIds;
    let unkOpen = false;
    const unk = this.unk;
    const fuse = this.fuseUnk;
    const add = (b: number) => {
      const id = byteIds[b]!;
      if (id >= 0) {
        sym[n++] = id;
        unkOpen = false;
      } else if (unk !== undefined && !(fuse && unkOpen)) {
        // HF: a character with no token is the unknown token (fused), or dropped without one
        sym[n++] = unk;
        unkOpen = true;
      }
    };
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      if (c < 0x80) {
        const id = byteIds[c]!;
        if (id >= 0) { sym[n++] = id; unkOpen = false; } else add(c);
        continue;
      }
      let cp = c;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < piece.length) {
        const d = piece.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          i++;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      if (cp < 0x800) { add(0xc0 | (cp >> 6)); add(0x80 | (cp & 63)); }
      else if (cp < 0x10000) { add(0xe0 | (cp >> 12)); add(0x80 | ((cp >> 6) & 63)); add(0x80 | (cp & 63)); }
      else { add(0xf0 | (cp >> 18)); add(0x80 | ((cp >> 12) & 63)); add(0x80 | ((cp >> 6) & 63)); add(0x80 | (cp & 63)); }
    }
    this.merge(w, n, out);
  }

  /** General path: one symbol per character (prefix / suffix, byte fallback, unk). */
  private mergeChars(word: string, out: number[]): void {
    const chars = Array.from(word);
    const w = this.work(chars.length * 4 + 1);
    const sym = w.sym;
    let n = 0;
    let unkOpen = false;
    for (let k = 0; k < chars.length; k++) {
      let s = chars[k]!;
      if (k > 0 && this.prefix !== '') s = this.prefix + s;
      if (k === chars.length - 1 && this.suffix !== '') s += this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        sym[n++] = id;
        unkOpen = false;
        continue;
      }
      if (this.byteFallback) {
        const bytes = utf8Bytes(chars[k]!);
        if (bytes.every((b) => this.fallbackIds[b]! >= 0)) {
          for (const b of bytes) sym[n++] = this.fallbackIds[b]!;
          unkOpen = false;
          continue;
        }
      }
      if (this.unk !== undefined && !(this.fuseUnk && unkOpen)) {
        sym[n++] = this.unk;
        unkOpen = true;
      }
    }
    this.merge(w, n, out);
  }

  /** Merges sym[0..n) in place and appends the resulting ids. */
  private merge(w: Scratch, n: number, out: number[]): void {
    if (n === 0) return;
    const { sym, next, prev, newId, heap } = w;
    const table = this.table;
    if (n === 1) {
      out.push(sym[0]!);
      return;
    }
    heap.reset();
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    for (let i = 0; i + 1 < n; i++) {
      const slot = table.find(sym[i]!, sym[i + 1]!);
      if (slot >= 0) {
        newId[i] = table.newId[slot]!;
        heap.append(i, -table.rank[slot]!);
      }
    }
    heap.heapify();
    while (heap.size > 0) {
      const i = heap.pop();
      const j = next[i]!;
      heap.remove(j);
      const k = next[j]!;
      next[i] = k;
      if (k < n) prev[k] = i;
      const id = newId[i]!;
      sym[i] = id;
      if (k < n) {
        const slot = table.find(id, sym[k]!);
        if (slot >= 0) {
          newId[i] = table.newId[slot]!;
          heap.insert(i, -table.rank[slot]!);
        }
      }
      const p = prev[i]!;
      if (p >= 0) {
        const slot = table.find(sym[p]!, id);
        if (slot >= 0) {
          newId[p] = table.newId[slot]!;
          heap.upsert(p, -table.rank[slot]!);
        } else heap.remove(p);
      }
    }
    for (let i = 0; i < n; i = next[i]!) out.push(sym[i]!);
    if (n > SCRATCH_KEEP_MAX) this.scratch = null;
  }

  private work(n: number): Scratch {
    if (this.scratch !== null && this.scratch.capacity >= n) return this.scratch;
    const capacity = n > SCRATCH_KEEP_MAX ? n : Math.min(SCRATCH_KEEP_MAX, Math.max(n, 256, (this.scratch?.capacity ?? 0) * 2));
    const w: Scratch = {
      capacity,
      sym: new Int32Array(capacity),
      next: new Int32Array(capacity),
      prev: new Int32Array(capacity),
      newId: new Int32Array(capacity),
      heap: new PairHeap(capacity),
    };
    this.scratch = w;
    return w;
  }
}

interface Scratch {
  capacity: number;
  sym: Int32Array;
  next: Int32Array;
  prev: Int32Array;
  newId: Int32Array;
  heap: PairHeap;
}

/** (left id, right id) -> (rank, merged id), open addressing. */
class MergeTable {
  private constructor(
    private readonly keyA: Int32Array,
    private readonly keyB: Int32Array,
    readonly rank: Int32Array,
    readonly newId: Int32Array,
    private readonly mask: number,
  ) {}

  static build(
    merges: Iterable<readonly [string, string]>,
    vocab: Map<string, number>,
    prefixLen: number,
    each: (a: string, b: string) => void,
  ): { table: MergeTable; skipped: number } {
    const as: number[] = [];
    const bs: number[] = [];
    const ids: number[] = [];
    let skipped = 0;
    for (const m of merges) {
      const [a, b] = m;
      each(a, b);
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const merged = vocab.get(a + (prefixLen > 0 ? b.slice(prefixLen) : b));
      if (ia === undefined || ib === undefined || merged === undefined) {
        skipped++;
        as.push(-1); bs.push(-1); ids.push(-1); // keeps the rank of later rules
        continue;
      }
      as.push(ia);
      bs.push(ib);
      ids.push(merged);
    }
    let size = 16;
    while (size < as.length * 2) size *= 2;
    const mask = size - 1;
    const keyA = new Int32Array(size).fill(-1);
    const keyB = new Int32Array(size);
    const rank = new Int32Array(size);
    const newId = new Int32Array(size);
    for (let r = 0; r < as.length; r++) {
      const a = as[r]!;
      if (a < 0) continue;
      const b = bs[r]!;
      let h = MergeTable.hash(a, b) & mask;
      while (keyA[h] !== -1 && !(keyA[h] === a && keyB[h] === b)) h = (h + 1) & mask;
      if (keyA[h] === a) continue; // a repeated rule: the first (lowest rank) wins
      keyA[h] = a;
      keyB[h] = b;
      rank[h] = r;
      newId[h] = ids[r]!;
    }
    if (as.length > 0x7fffffff) throw new WasmlmError('BAD_TOKENIZER', 'too many merge rules');
    return { table: new MergeTable(keyA, keyB, rank, newId, mask), skipped };
  }

  private static hash(a: number, b: number): number {
    const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
    return h ^ (h >>> 15);
  }

  /** The slot of (a, b), or -1. */
  find(a: number, b: number): number {
    const keyA = this.keyA;
    const mask = this.mask;
    let h = MergeTable.hash(a, b) & mask;
    for (;;) {
      const ka = keyA[h]!;
      if (ka === a && this.keyB[h] === b) return h;
      if (ka === -1) return -1;
      h = (h + 1) & mask;
    }
  }
}
