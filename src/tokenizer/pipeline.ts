/**
 * The tokenizer pipeline of HF tokenizers, used for every model except GGUF SentencePiece
 * (spm.ts): byte-level BPE and WordPiece from GGUF, and everything from tokenizer.json.
 *
 *   encode: added tokens split off the raw text (special ones only with parseSpecial) ->
 *   per fragment: normalizer -> added tokens marked `normalized` split off -> pre-tokenizer
 *   steps -> model per piece -> post-processor ids around the whole (addSpecial).
 *
 *   decode: per id, an added token renders as its text (control ones skipped with skipSpecial),
 *   a model token as the decoder's bytes for it; one leading space may be removed at the start;
 *   UTF-8 decoded (invalid bytes become U+FFFD); a whole-text fix-up where the decoder has one.
 *
 * A GGUF vocabulary and the tokenizer.json of the same model describe the same pipeline
 * (llamacpp.ts and hf.ts build it), so they give the same ids.
 */
import { checkIdArray } from '../token-ids.js';
import {
  ByteBuffer,
  checkText,
  checkTokenId,
  EMPTY_BYTES,
  SpecialMatcher,
  toWellFormed,
  utf8Encoder,
  Utf8StreamDecoder,
  type WordModel,
} from './common.js';
import type { DecoderPlan, PostPlan } from './decode.js';
import type { Normalizer } from './normalize.js';
import { chainSteps, type Emit, type PreTokenizer } from './pretokenize.js';
import {
  TokenType,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokens,
  type StreamDecoder,
  type Tokenizer,
} from './types.js';

/** A token matched in the text before the model sees it (HF AddedToken; GGUF control / user-defined). */
export interface AddedToken {
  id: number;
  content: string;
  /** Matched only with parseSpecial; skipped by decode with skipSpecial. */
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  singleWord?: boolean;
  /** Matched in the normalized text rather than the raw text. */
  normalized?: boolean;
}

export interface PipelineSpec {
  model: string;
  /** vocabulary text by id ('' where a tokenizer.json has no entry) */
  tokens: string[];
  /** TokenType by id */
  types: Uint8Array;
  added: AddedToken[];
  normalizer: Normalizer | null;
  pre: PreTokenizer;
  word: WordModel;
  post: PostPlan;
  decoder: DecoderPlan;
  special: SpecialTokens;
  eog: ReadonlySet<number>;
  chatTemplate?: string;
}

export class PipelineTokenizer implements Tokenizer {
  readonly model: string;
  readonly vocabSize: number;
  readonly special: SpecialTokens;
  readonly chatTemplate?: string;

  private readonly tokens: string[];
  private readonly types: Uint8Array;
  private readonly isAdded: Uint8Array;
  private readonly normalizer: Normalizer | null;
  private readonly word: WordModel;
  private readonly post: PostPlan;
  private readonly decoder: DecoderPlan;
  private readonly eog: ReadonlySet<number>;
  private readonly pieceBytes: (Uint8Array | undefined)[];
  /** [raw, normalized] matchers: with and without the special tokens */
  private readonly matchAll: [SpecialMatcher | null, SpecialMatcher | null];
  private readonly matchPlain: [SpecialMatcher | null, SpecialMatcher | null];
  private readonly run: Emit;
  private out: number[] = [];
  private allPieces: Map<string, number> | null = null;

  constructor(s: PipelineSpec) {
    this.model = s.model;
    this.tokens = s.tokens;
    this.vocabSize = s.tokens.length;
    this.types = s.types;
    this.special = Object.freeze({ ...s.special });
    if (s.chatTemplate !== undefined) this.chatTemplate = s.chatTemplate;
    this.normalizer = s.normalizer;
    this.word = s.word;
    this.post = s.post;
    this.decoder = s.decoder;
    this.eog = s.eog;
    this.pieceBytes = new Array<Uint8Array | undefined>(this.vocabSize);
    this.isAdded = new Uint8Array(this.vocabSize);
    const m = (normalized: boolean, withSpecial: boolean) =>
      SpecialMatcher.create(
        s.added
          .filter((a) => (a.normalized === true) === normalized && (withSpecial || !a.special))
          .map((a) => ({ text: a.content, id: a.id, lstrip: a.lstrip, rstrip: a.rstrip, singleWord: a.singleWord })),
      );
    this.matchAll = [m(false, true), m(true, true)];
    this.matchPlain = [m(false, false), m(true, false)];
    for (const a of s.added) this.isAdded[a.id] = 1;
    const word = this.word;
    this.run = chainSteps(s.pre.steps, (piece) => word.encodeWord(piece, this.out));
  }

  // ---------------------------------------------------------------- encode

  encode(text: string, opts?: EncodeOptions): number[] {
    checkText(text);
    const addSpecial = opts?.addSpecial ?? true;
    const [raw, norm] = opts?.parseSpecial === true ? this.matchAll : this.matchPlain;
    const out: number[] = addSpecial ? this.post.prefix.slice() : [];
    if (text.length > 0) {
      text = toWellFormed(text);
      this.out = out;
      try {
        if (raw === null) this.fragment(text, true, norm);
        else {
          let at = 0;
          raw.split(text, (frag, id) => {
            if (id >= 0) out.push(id);
            else this.fragment(frag, at === 0, norm);
            at += frag.length;
          });
        }
      } finally {
        this.out = [];
      }
    }
    if (addSpecial) for (const id of this.post.suffix) out.push(id);
    return out;
  }

  private fragment(text: string, first: boolean, norm: SpecialMatcher | null): void {
    const s = this.normalizer === null ? text : this.normalizer(text);
    if (norm === null) {
      this.run(s, first);
      return;
    }
    let at = 0;
    norm.split(s, (frag, id) => {
      if (id >= 0) this.out.push(id);
      else this.run(frag, first && at === 0);
      at += frag.length;
    });
  }

  // ---------------------------------------------------------------- decode

  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string {
    checkIdArray(ids, 'token ids to decode');
    const skip = opts?.skipSpecial ?? true;
    const n = ids.length;
    const buf = new ByteBuffer(n * 4);
    const stripStart = this.decoder.stripStart;
    const dedupe = this.decoder.dedupe;
    const bos = this.special.bos;
    let strip = stripStart;
    let prev = -1;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      checkTokenId(id, this.vocabSize, i);
      if (dedupe && id === prev) continue;
      prev = id;
      const b = this.bytesOf(id, skip);
      if (b.length === 0) {
        if (id === bos) strip = stripStart;
        continue;
      }
      let from = 0;
      if (strip) {
        strip = false;
        if (b[0] === 0x20) from = 1;
      }
      buf.push(b, from);
    }
    const text = buf.text();
    return this.decoder.finish === null ? text : this.decoder.finish(text);
  }

  createDecoder(opts?: DecodeOptions & { afterBos?: boolean }): StreamDecoder {
    const skip = opts?.skipSpecial ?? true;
    return new Utf8StreamDecoder(
      (id) => {
        checkTokenId(id, this.vocabSize);
        return this.bytesOf(id, skip);
      },
      this.special.bos,
      this.decoder.stripStart,
      opts?.afterBos ?? false,
    );
  }

  idToPiece(id: number): string {
    checkTokenId(id, this.vocabSize);
    return this.tokens[id]!;
  }

  idToBytes(id: number, opts?: DecodeOptions): Uint8Array {
    checkTokenId(id, this.vocabSize);
    return this.bytesOf(id, opts?.skipSpecial ?? true).slice();
  }

  pieceToId(piece: string): number | undefined {
    if (this.allPieces === null) {
      const m = new Map<string, number>();
      for (let id = 0; id < this.vocabSize; id++) {
        const t = this.tokens[id]!;
        if (!m.has(t)) m.set(t, id);
      }
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
      return EMPTY_BYTES;
    }
    let b = this.pieceBytes[id];
    if (b === undefined) {
      const text = this.tokens[id]!;
      b = this.isAdded[id] === 1 || type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.USER_DEFINED
        ? utf8Encoder.encode(text)
        : this.decoder.tokenBytes(text);
      this.pieceBytes[id] = b;
    }
    return b;
  }
}
