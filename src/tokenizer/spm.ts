/**
 * SentencePiece tokenizer (GGUF tokenizer.ggml.model = 'llama'), behaving as llama.cpp's
 * llm_tokenizer_spm / sentencepiece's BPE model:
 *
 *   encode: split off special-token text -> per text fragment: ' ' prefix (add_space_prefix,
 *   at the start and after a special token), ' ' -> '▁', one symbol per code point, then
 *   repeatedly merge the adjacent pair whose concatenation is the vocabulary piece with the
 *   highest score (ties: leftmost), and map symbols to ids; a code point that is no piece
 *   falls back to its UTF-8 bytes as <0xNN> tokens (or unk when the vocabulary has none).
 *
 *   decode: '▁' -> ' ', <0xNN> -> that byte, control tokens -> '' (unless rendered),
 *   the leading space at the start and after BOS removed, UTF-8 decoded from the bytes.
 *
 * The helpers it shares with the other models (special-token matcher, UTF-8 stream decoder,
 * well-formed strings, the merge heap) are in common.ts.
 */
import { checkIdArray } from '../token-ids.js';
import { WasmlmError } from '../errors.js';
import {
  checkText,
  checkTokenId,
  codePointBefore,
  codePointLength,
  EMPTY_BYTES as EMPTY,
  PairHeap,
  parseByteToken,
  SpecialMatcher,
  toWellFormed,
  utf8Decoder as utf8,
  utf8Encoder,
  Utf8StreamDecoder,
} from './common.js';
import {
  TokenType,
  type DecodeOptions,
  type EncodeOptions,
  type ResolvedVocab,
  type SpecialTokens,
  type StreamDecoder,
  type Tokenizer,
} from './types.js';

const MARK = '\u2581'; // ▁, sentencepiece's escaped space
const MARK_CODE = 0x2581;
/** Chunks up to this many UTF-16 units have their ids cached; the cache holds CACHE_MAX chunks. */
const CACHE_CHUNK_MAX = 64;
const CACHE_MAX = 1 << 16;
/** Work arrays larger than this are not kept between calls. */
const SCRATCH_KEEP_MAX = 1 << 16;

export class SpmTokenizer implements Tokenizer {
  readonly model: string;
  readonly vocabSize: number;
  readonly special: SpecialTokens;
  readonly chatTemplate?: string;

  private readonly tokens: string[];
  private readonly types: Uint8Array;
  private readonly scores: Float32Array;
  private readonly addBos: boolean;
  private readonly addEos: boolean;
  private readonly addSpacePrefix: boolean;
  private readonly eog: ReadonlySet<number>;
  /** Pieces that text can merge into: normal, user-defined and unused tokens (as sentencepiece). */
  private readonly pieces = new Map<string, number>();
  /** Integer form of the merge rules, built on the first encode (see MergeTable). */
  private merges: MergeTable | null = null;
  /** <0xNN> token per byte, -1 when missing. */
  private readonly byteTokens = new Int32Array(256).fill(-1);
  private readonly hasUnused: boolean;
  /**
   * Code points X such that some piece contains X followed by '▁' (X ≠ '▁'). Text is cut into
   * independent chunks before each '▁' whose preceding code point is not in this set: no merge
   * can cross such a cut, so the result is exactly that of merging the whole text at once.
   */
  private readonly noCutBeforeMark: Set<number> | null;
  /** User-defined tokens (always matched) and all special tokens (parseSpecial). */
  private readonly userMatcher: SpecialMatcher | null;
  private readonly specialMatcher: SpecialMatcher | null;
  private readonly cache = new Map<string, number[]>();
  private readonly pieceBytes: (Uint8Array | undefined)[];
  private allPieces: Map<string, number> | null = null;
  private scratch: Scratch | null = null;

  constructor(v: ResolvedVocab) {
    this.model = v.model;
    this.tokens = v.tokens;
    this.vocabSize = v.tokens.length;
    this.types = v.types;
    this.scores = v.scores;
    this.special = Object.freeze({ ...v.special });
    this.addBos = v.addBos;
    this.addEos = v.addEos;
    this.addSpacePrefix = v.addSpacePrefix;
    this.eog = v.eog;
    if (v.chatTemplate !== undefined) this.chatTemplate = v.chatTemplate;
    this.pieceBytes = new Array<Uint8Array | undefined>(this.vocabSize);

    const userTokens: [string, number][] = [];
    const specialTokens: [string, number][] = [];
    let hasUnused = false;
    let noCut: Set<number> | null = null;
    for (let id = 0; id < this.vocabSize; id++) {
      const text = this.tokens[id]!;
      const type = this.types[id]!;
      switch (type) {
        case TokenType.UNUSED:
          hasUnused = true;
        // fall through
        case TokenType.NORMAL:
        case TokenType.UNDEFINED:
        case TokenType.USER_DEFINED: {
          if (text.length === 0) break;
          this.pieces.set(text, id);
          let k = text.indexOf(MARK, 1);
          while (k > 0) {
            if (text.charCodeAt(k - 1) !== MARK_CODE) (noCut ??= new Set()).add(codePointBefore(text, k));
            k = text.indexOf(MARK, k + 1);
          }
          if (type === TokenType.USER_DEFINED) {
            userTokens.push([text, id]);
            specialTokens.push([text, id]);
          }
          break;
        }
        case TokenType.BYTE: {
          const b = parseByteToken(text);
          if (b >= 0) this.byteTokens[b] = id;
          else this.pieces.set(text, id); // a "byte" token that is not <0xNN>: treat as a piece
          break;
        }
        case TokenType.CONTROL:
        case TokenType.UNKNOWN:
          if (text.length > 0) specialTokens.push([text, id]);
          break;
      }
    }
    this.hasUnused = hasUnused;
    this.noCutBeforeMark = noCut;
    this.userMatcher = SpecialMatcher.create(userTokens);
    this.specialMatcher = SpecialMatcher.create(specialTokens);

    if (this.special.unk === undefined && this.byteTokens.indexOf(-1) >= 0) {
      throw new WasmlmError(
        'BAD_TOKENIZER',
        'SentencePiece vocabulary has neither all 256 byte tokens <0x00>..<0xFF> nor an unknown token, ' +
          'so text outside the vocabulary could not be encoded',
      );
    }
  }

  // ---------------------------------------------------------------- encode

  encode(text: string, opts?: EncodeOptions): number[] {
    checkText(text);
    const addSpecial = opts?.addSpecial ?? true;
    const parseSpecial = opts?.parseSpecial ?? false;
    const out: number[] = [];
    if (addSpecial && this.addBos && this.special.bos !== undefined) out.push(this.special.bos);
    if (text.length > 0) {
      text = toWellFormed(text);
      const matcher = parseSpecial ? this.specialMatcher : this.userMatcher;
      if (matcher === null) {
        this.encodeFragment(text, this.addSpacePrefix, out);
      } else {
        // llama.cpp: a text fragment gets the space prefix when it starts the text or follows
        // a special token.
        let prevSpecial = true;
        matcher.split(text, (fragment, id) => {
          if (id < 0) {
            this.encodeFragment(fragment, this.addSpacePrefix && prevSpecial, out);
            prevSpecial = false;
          } else {
            out.push(id);
            prevSpecial = true;
          }
        });
      }
    }
    if (addSpecial && this.addEos && this.special.eos !== undefined) out.push(this.special.eos);
    return out;
  }

  /**
   * One text fragment: cut into chunks that merge independently (see noCutBeforeMark), each
   * chunk's ids cached. The text is not escaped: ' ' and '▁' are the same symbol to the
   * MergeTable (a whole-text replaceAll would cost more than the merging).
   */
  private encodeFragment(fragment: string, spacePrefix: boolean, out: number[]): void {
    const s = spacePrefix ? ' ' + fragment : fragment;
    const noCut = this.noCutBeforeMark;
    const n = s.length;
    let start = 0;
    let prevMark = true; // no cut at 0
    for (let k = 0; k < n; k++) {
      const c = s.charCodeAt(k);
      const mark = c === 0x20 || c === MARK_CODE;
      if (mark && !prevMark && (noCut === null || !noCut.has(codePointBefore(s, k)))) {
        this.encodeChunk(s.slice(start, k), out);
        start = k;
      }
      prevMark = mark;
    }
    this.encodeChunk(start === 0 ? s : s.slice(start), out);
  }

  /** A chunk of text (' ' stands for '▁'). */
  private encodeChunk(chunk: string, out: number[]): void {
    if (chunk.length > CACHE_CHUNK_MAX) {
      this.mergeChunk(chunk, out);
      return;
    }
    let ids = this.cache.get(chunk);
    if (ids === undefined) {
      ids = [];
      this.mergeChunk(chunk, ids);
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(chunk, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  /**
   * The bigram merge over one chunk (' ' and '▁' both mean '▁'). Symbols are identified by the
   * UTF-16 offset where they start; next[i] is where the following symbol starts (= where symbol
   * i ends). sym[i] is the symbol's id in the MergeTable: a piece id, or for a code point that is
   * no piece an id >= vocabSize (or -1 when no piece contains it). An indexed heap holds at most
   * one candidate per symbol (its merge with its right neighbour), keyed by (score desc, offset asc).
   */
  private mergeChunk(s: string, out: number[]): void {
    const n = s.length;
    if (n === 0) return;
    const mt = (this.merges ??= new MergeTable(this.pieces, this.vocabSize));
    const w = this.workArrays(n);
    const { next, prev, sym, pairTok, heap } = w;
    const scores = this.scores;
    const bmp = mt.bmp;

    // one symbol per code point
    let last = -1;
    for (let i = 0; i < n; ) {
      const c = s.charCodeAt(i);
      let len = 1;
      let id: number;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        len = 2;
        id = mt.astral.get(s.codePointAt(i)!) ?? -1;
      } else id = bmp[c]!;
      prev[i] = last;
      next[i] = i + len;
      sym[i] = id;
      last = i;
      i += len;
    }

    // candidate merges of neighbours
    heap.reset();
    for (let i = 0; next[i]! < n; i = next[i]!) {
      const a = sym[i]!;
      const b = sym[next[i]!]!;
      if (a < 0 || b < 0) continue;
      const id = mt.get(a, b);
      if (id >= 0) {
        pairTok[i] = id;
        heap.append(i, scores[id]!);
      }
    }
    heap.heapify();

    let revMerge: Map<string, number> | null = null;
    while (heap.size > 0) {
      const i = heap.pop();
      const j = next[i]!;           // right symbol, merged into i
      heap.remove(j);
      const k = next[j]!;           // the symbol after the merged one
      next[i] = k;
      if (k < n) prev[k] = i;
      const id = pairTok[i]!;
      sym[i] = id;
      if (this.hasUnused && this.types[id] === TokenType.UNUSED) {
        (revMerge ??= new Map()).set(s.slice(i, k).replaceAll(' ', MARK), j - i);
      }
      if (k < n) {
        const b = sym[k]!;
        const right = b < 0 ? -1 : mt.get(id, b);
        if (right >= 0) {
          pairTok[i] = right;
          heap.insert(i, scores[right]!);
        }
      }
      const p = prev[i]!;
      if (p >= 0) {
        const a = sym[p]!;
        const left = a < 0 ? -1 : mt.get(a, id);
        if (left >= 0) {
          pairTok[p] = left;
          heap.upsert(p, scores[left]!);
        } else {
          heap.remove(p);
        }
      }
    }

    const V = this.vocabSize;
    for (let i = 0; i < n; i = next[i]!) {
      const id = sym[i]!;
      if (id < 0 || id >= V) this.byteFallback(s, i, next[i]!, out);
      else if (revMerge !== null && this.types[id] === TokenType.UNUSED) {
        this.resegment(s.slice(i, next[i]!).replaceAll(' ', MARK), revMerge, out);
      } else out.push(id);
    }
    if (n > SCRATCH_KEEP_MAX) this.scratch = null;
  }

  /** sentencepiece: an unused piece is split back into the pieces it was merged from. */
  private resegment(text: string, revMerge: Map<string, number>, out: number[]): void {
    const id = this.pieces.get(text);
    const split = id !== undefined && this.types[id] === TokenType.UNUSED ? revMerge.get(text) : undefined;
    if (split !== undefined) {
      this.resegment(text.slice(0, split), revMerge, out);
      this.resegment(text.slice(split), revMerge, out);
    } else if (id !== undefined) {
      out.push(id);
    } else {
      for (let i = 0; i < text.length; ) {
        const len = codePointLength(text, i);
        this.byteFallback(text, i, i + len, out);
        i += len;
      }
    }
  }

  /** A code point that is no piece: its UTF-8 bytes as <0xNN> tokens, else one unk. */
  private byteFallback(s: string, start: number, end: number, out: number[]): void {
    let cp = end - start === 2 ? s.codePointAt(start)! : s.charCodeAt(start);
    if (cp === 0x20) cp = MARK_CODE;
    const bt = this.byteTokens;
    let b0: number, b1 = -1, b2 = -1, b3 = -1;
    if (cp < 0x80) b0 = cp;
    else if (cp < 0x800) { b0 = 0xc0 | (cp >> 6); b1 = 0x80 | (cp & 63); }
    else if (cp < 0x10000) { b0 = 0xe0 | (cp >> 12); b1 = 0x80 | ((cp >> 6) & 63); b2 = 0x80 | (cp & 63); }
    else { b0 = 0xf0 | (cp >> 18); b1 = 0x80 | ((cp >> 12) & 63); b2 = 0x80 | ((cp >> 6) & 63); b3 = 0x80 | (cp & 63); }
    if (bt[b0]! >= 0 && (b1 < 0 || bt[b1]! >= 0) && (b2 < 0 || bt[b2]! >= 0) && (b3 < 0 || bt[b3]! >= 0)) {
      out.push(bt[b0]!);
      if (b1 >= 0) out.push(bt[b1]!);
      if (b2 >= 0) out.push(bt[b2]!);
      if (b3 >= 0) out.push(bt[b3]!);
    } else {
      out.push(this.special.unk!); // the constructor checked that unk exists when bytes are missing
    }
  }

  private workArrays(n: number): Scratch {
    if (this.scratch !== null && this.scratch.capacity >= n) return this.scratch;
    const capacity = n > SCRATCH_KEEP_MAX ? n : Math.min(SCRATCH_KEEP_MAX, Math.max(n, 256, (this.scratch?.capacity ?? 0) * 2));
    const w: Scratch = {
      capacity,
      next: new Int32Array(capacity),
      prev: new Int32Array(capacity),
      sym: new Int32Array(capacity),
      pairTok: new Int32Array(capacity),
      heap: new PairHeap(capacity),
    };
    this.scratch = w;
    return w;
  }

  // ---------------------------------------------------------------- decode

  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string {
    checkIdArray(ids, 'token ids to decode');
    const skip = opts?.skipSpecial ?? true;
    const n = ids.length;
    let buf = new Uint8Array(Math.max(16, n * 4));
    let len = 0;
    let strip = this.addSpacePrefix;
    const bos = this.special.bos;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      this.checkId(id, i);
      const b = this.bytesOf(id, skip);
      let from = 0;
      const m = b.length;
      if (m === 0) {
        if (id === bos) strip = this.addSpacePrefix;
        continue;
      }
      if (strip) {
        strip = false;
        if (b[0] === 0x20) from = 1;
      }
      if (len + m > buf.length) {
        const bigger = new Uint8Array(Math.max(buf.length * 2, len + m));
        bigger.set(buf.subarray(0, len));
        buf = bigger;
      }
      if (m - from <= 16) for (let k = from; k < m; k++) buf[len++] = b[k]!;
      else {
        buf.set(from === 0 ? b : b.subarray(from), len);
        len += m - from;
      }
    }
    return utf8.decode(buf.subarray(0, len));
  }

  createDecoder(opts?: DecodeOptions & { afterBos?: boolean }): StreamDecoder {
    return new Utf8StreamDecoder(
      (id) => {
        this.checkId(id);
        return this.bytesOf(id, opts?.skipSpecial ?? true);
      },
      this.special.bos,
      this.addSpacePrefix,
      opts?.afterBos ?? false,
    );
  }

  idToPiece(id: number): string {
    this.checkId(id);
    return this.tokens[id]!;
  }

  idToBytes(id: number, opts?: DecodeOptions): Uint8Array {
    this.checkId(id);
    return this.bytesOf(id, opts?.skipSpecial ?? true).slice();
  }

  pieceToId(piece: string): number | undefined {
    if (this.allPieces === null) {
      const m = new Map<string, number>();
      for (let id = 0; id < this.vocabSize; id++) m.set(this.tokens[id]!, id);
      this.allPieces = m;
    }
    return this.allPieces.get(piece);
  }

  isEog(id: number): boolean {
    return this.eog.has(id);
  }

  private bytesOf(id: number, skipSpecial: boolean): Uint8Array {
    const type = this.types[id]!;
    if (skipSpecial && (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.UNUSED)) {
      return EMPTY;
    }
    let b = this.pieceBytes[id];
    if (b === undefined) {
      const text = this.tokens[id]!;
      const byte = type === TokenType.BYTE ? parseByteToken(text) : -1;
      if (byte >= 0) b = Uint8Array.of(byte);
      else if (type === TokenType.NORMAL || type === TokenType.UNDEFINED || type === TokenType.BYTE) {
        b = utf8Encoder.encode(text.replaceAll(MARK, ' '));
      } else b = utf8Encoder.encode(text); // control, unknown, user-defined, unused: as written (llama.cpp)
      this.pieceBytes[id] = b;
    }
    return b;
  }

  private checkId(id: number, position?: number): void {
    checkTokenId(id, this.vocabSize, position);
  }
}

interface Scratch {
  capacity: number;
  next: Int32Array;
  prev: Int32Array;
  sym: Int32Array;
  pairTok: Int32Array;
  heap: PairHeap;
}

/**
 * The merge rules as integers. A symbol during merging is a piece or a single code point; each
 * gets an id (the piece id, or vocabSize + k for a code point that only occurs inside pieces).
 * get(a, b) is the piece whose text is symbol a's text followed by symbol b's, or -1: an
 * open-addressing hash table filled from every split of every piece into two symbols. ' '
 * has the id of '▁' (the text is never escaped). Built once per tokenizer, on the first encode.
 */
class MergeTable {
  /** Symbol id per BMP code point, -1 when no piece contains it. */
  readonly bmp = new Int32Array(0x10000).fill(-1);
  readonly astral = new Map<number, number>();
  private readonly keyA: Int32Array;
  private readonly keyB: Int32Array;
  private readonly value: Int32Array;
  private readonly mask: number;

  constructor(pieces: Map<string, number>, vocabSize: number) {
    let nextId = vocabSize;
    const single = (text: string): number => {
      const cp = text.codePointAt(0)!;
      return text.length === (cp > 0xffff ? 2 : 1) ? cp : -1;
    };
    for (const [text, id] of pieces) {
      const cp = single(text);
      if (cp < 0) continue;
      if (cp < 0x10000) this.bmp[cp] = id;
      else this.astral.set(cp, id);
    }
    // the symbol id of a piece text or a single code point (-1: cannot be one symbol)
    const symbolOf = (text: string): number => {
      const id = pieces.get(text);
      if (id !== undefined) return id;
      const cp = single(text);
      if (cp < 0) return -1;
      if (cp < 0x10000) return this.bmp[cp]! >= 0 ? this.bmp[cp]! : (this.bmp[cp] = nextId++);
      let a = this.astral.get(cp);
      if (a === undefined) this.astral.set(cp, (a = nextId++));
      return a;
    };
    const as: number[] = [];
    const bs: number[] = [];
    const vs: number[] = [];
    for (const [text, id] of pieces) {
      for (let k = 1; k < text.length; k++) {
        const c = text.charCodeAt(k);
        if (c >= 0xdc00 && c <= 0xdfff && (text.charCodeAt(k - 1) & 0xfc00) === 0xd800) continue; // inside a pair
        const a = symbolOf(text.slice(0, k));
        if (a < 0) continue;
        const b = symbolOf(text.slice(k));
        if (b < 0) continue;
        as.push(a);
        bs.push(b);
        vs.push(id);
      }
    }
    this.bmp[0x20] = this.bmp[MARK_CODE]!;
    let size = 16;
    while (size < as.length * 2) size *= 2;
    this.mask = size - 1;
    this.keyA = new Int32Array(size).fill(-1);
    this.keyB = new Int32Array(size);
    this.value = new Int32Array(size);
    for (let e = 0; e < as.length; e++) {
      let h = MergeTable.hash(as[e]!, bs[e]!) & this.mask;
      while (this.keyA[h] !== -1 && !(this.keyA[h] === as[e] && this.keyB[h] === bs[e])) h = (h + 1) & this.mask;
      this.keyA[h] = as[e]!;
      this.keyB[h] = bs[e]!;
      this.value[h] = vs[e]!;
    }
  }

  private static hash(a: number, b: number): number {
    const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
    return h ^ (h >>> 15);
  }

  get(a: number, b: number): number {
    const keyA = this.keyA;
    const mask = this.mask;
    let h = MergeTable.hash(a, b) & mask;
    for (;;) {
      const ka = keyA[h]!;
      if (ka === a && this.keyB[h] === b) return this.value[h]!;
      if (ka === -1) return -1;
      h = (h + 1) & mask;
    }
  }
}
