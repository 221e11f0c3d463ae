/**
 * Tokenizer types. A tokenizer is built from a plain vocabulary object (what a GGUF file's
 * `tokenizer.ggml.*` keys hold), so this layer never depends on a file reader.
 */

/** Values of `tokenizer.ggml.token_type` (llama.cpp's llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type TokenTypeValue = (typeof TokenType)[keyof typeof TokenType];

export interface VocabData {
  model: string;                 // tokenizer.ggml.model: 'llama' (SentencePiece), 'gpt2' (byte-level BPE), 'bert' (WordPiece)
  pre?: string;                  // tokenizer.ggml.pre: the pre-tokenizer of a 'gpt2' vocabulary ('llama-bpe', 'qwen2', ...)
  tokens: string[];              // tokenizer.ggml.tokens
  scores?: Float32Array;         // tokenizer.ggml.scores
  tokenTypes?: Int32Array;       // tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  merges?: string[];
  bos?: number; eos?: number; unk?: number; pad?: number; eot?: number;
  sep?: number; cls?: number;    // tokenizer.ggml.seperator_token_id (sic), cls_token_id (BERT: cls is the bos)
  addBos?: boolean; addEos?: boolean; addSpacePrefix?: boolean;   // tokenizer.ggml.add_bos_token, add_eos_token, add_space_prefix
  addSep?: boolean;              // tokenizer.ggml.add_sep_token
  lowercase?: boolean;           // tokenizer.ggml.normalizer.lowercase (WordPiece; default true)
  chatTemplate?: string;         // tokenizer.chat_template
}

export interface EncodeOptions {
  /**
   * Default true: add BOS / EOS as the vocabulary's addBos / addEos flags say (BERT: [CLS] and
   * [SEP]; tokenizer.json: its post-processor, or tokenizer_config.json's add_bos_token /
   * add_eos_token for the classes transformers rebuilds from them).
   */
  addSpecial?: boolean;
  /**
   * Default false: recognise the text of control (and unknown-type) tokens such as `<s>` or
   * `<|user|>` and emit their ids (tokenizer.json: the added tokens marked special). User-defined
   * tokens (tokenizer.json: added tokens not marked special) are matched always, as llama.cpp
   * and HF tokenizers do (they are part of the vocabulary's ordinary text).
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /**
   * Default true: control and unknown-type tokens (BOS, EOS, `<|end|>`, `<unk>`, ...) render
   * as nothing, as llama.cpp's CLI/server and run.c show generated text. false renders them
   * as their vocabulary text (HF `decode(ids)`'s default). User-defined tokens always render.
   */
  skipSpecial?: boolean;
}

export interface SpecialTokens { bos?: number; eos?: number; unk?: number; pad?: number; eot?: number; sep?: number }

export interface Tokenizer {
  /**
   * The tokenizer model. From GGUF: tokenizer.ggml.model ('llama' = SentencePiece, 'gpt2' =
   * byte-level BPE, 'bert' = WordPiece); from tokenizer.json: the HF model type in lower case
   * ('bpe', 'wordpiece', 'unigram', 'wordlevel').
   */
  readonly model: string;
  readonly vocabSize: number;
  readonly special: SpecialTokens;
  /** The chat template (Jinja) the file carries: tokenizer.chat_template / tokenizer_config.json. */
  readonly chatTemplate?: string;
  /** Text to ids. Lone surrogates are encoded as U+FFFD (what TextEncoder does). */
  encode(text: string, opts?: EncodeOptions): number[];
  /**
   * Ids to text, treating `ids` as a whole text: the space the encoder prepends
   * (SentencePiece's add_space_prefix, a Metaspace / Prepend normalizer) is removed at the start
   * and after every BOS, invalid UTF-8 becomes U+FFFD, and a decoder's whole-text clean-up
   * (WordPiece: no space before punctuation) applies. Added / special tokens render as their text.
   * Throws WasmlmError TOKEN_OUT_OF_RANGE for an id outside the vocabulary.
   */
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** The vocabulary entry for an id, as stored: '▁Once', '<0x0A>', '<s>', 'Ġworld', '##ing' (sentencepiece IdToPiece). */
  idToPiece(id: number): string;
  /**
   * The bytes one token contributes to decoded text, with no leading-space removal:
   * ' Once' for '▁Once', one byte for '<0xE4>', nothing for a skipped control token.
   * A byte token's output alone need not be valid UTF-8.
   */
  idToBytes(id: number, opts?: DecodeOptions): Uint8Array;
  /** The id of a vocabulary entry with exactly this text (any token type), or undefined. */
  pieceToId(piece: string): number | undefined;
  /** End of generation: eos, eot and the end-of-turn tokens llama.cpp recognises by text. */
  isEog(id: number): boolean;
  /**
   * An incremental decoder for generated ids. afterBos (default false): the first piece is the
   * start of the text (a BOS was just evaluated), so its leading space is removed. Pieces are
   * the per-token bytes of decode() without its whole-text clean-up.
   */
  createDecoder(opts?: DecodeOptions & { afterBos?: boolean }): StreamDecoder;
}

/**
 * Incremental detokenizer: push(id) returns the text completed by that token, never half a
 * UTF-8 character (an incomplete tail is held until later tokens complete it); flush() returns
 * what is held, an incomplete sequence as U+FFFD, and resets the UTF-8 state.
 */
export interface StreamDecoder { push(id: number): string; flush(): string }

/**
 * A validated vocabulary with the model's defaults applied (built by createTokenizer in
 * index.ts, consumed by each tokenizer model: spm.ts, and llamacpp.ts for gpt2 / bert).
 */
export interface ResolvedVocab {
  model: string;
  pre?: string;
  tokens: string[];
  /** Zeros when the vocabulary has no scores. */
  scores: Float32Array;
  /** One TokenType per token; inferred (byte / control / unknown / normal) when absent. */
  types: Uint8Array;
  merges?: string[];
  special: SpecialTokens;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  addSep: boolean;
  lowercase: boolean;
  /** Ids that end generation. */
  eog: ReadonlySet<number>;
  chatTemplate?: string;
}
