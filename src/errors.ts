/** Every error wasmlm throws on purpose is a WasmlmError with a stable `code`. */
export type WasmlmErrorCode =
  | 'BAD_MAGIC'            // not a GGUF / llama2.c file
  | 'UNSUPPORTED_VERSION'  // GGUF version we do not read
  | 'TRUNCATED'            // the bytes end before the format says they should
  | 'BAD_FORMAT'           // a size, offset, count or type field that cannot be right
  | 'UNKNOWN_ARCHITECTURE' // general.architecture we have no family for
  | 'UNSUPPORTED_TYPE'     // a tensor type we cannot compute with (yet)
  | 'MISSING_TENSOR'       // the family needs a tensor the file lacks
  | 'BAD_SHAPE'            // a tensor whose shape does not fit the metadata
  | 'MISSING_METADATA'     // a required metadata key is absent
  | 'TOO_LARGE'            // the model (plus KV cache) cannot fit in wasm memory
  | 'OUT_OF_MEMORY'        // the model needs more memory than maxMemory / the runtime allows (checked before loading)
  | 'CONTEXT_FULL'         // the KV cache has no room for more tokens
  | 'CONTEXT_TOO_LONG'     // contextLength above the model's
  | 'TOKEN_OUT_OF_RANGE'   // a token id outside the vocabulary
  | 'EMPTY_PROMPT'         // nothing to evaluate
  | 'BAD_ARGUMENT'         // an option or argument with an invalid value
  | 'BAD_TOKENIZER'        // a vocabulary that cannot build a tokenizer
  | 'ABORTED'              // an AbortSignal fired
  | 'FETCH_FAILED'         // a URL that could not be fetched
  | 'IO_ERROR'             // a file that could not be read or written
  | 'DISPOSED'             // the model was disposed
  | 'TEMPLATE_LIMIT'       // a chat template that ran too long or built too much
  | 'SESSION_MISMATCH'     // a saved session from another model (or KV type, batch size) than the one restoring it
  | 'BAD_SESSION'          // bytes that are not a saved session (corrupted, truncated, another format)
  | 'BAD_GRAMMAR'          // a GBNF grammar that cannot be parsed or compiled (line and column), or that no token can continue
  | 'BAD_SCHEMA'           // a JSON Schema (keyword) structured output does not support, named with its JSON pointer
  | 'BAD_OUTPUT'           // generated text that is not what was asked for (generateObject: not one complete JSON value)
  | 'WASM_FAILED'          // the wasm module could not be compiled or instantiated
  | 'NOT_SUPPORTED'        // an operation this model as loaded does not support (training a sharded model)
  // the OpenAI-compatible server (src/openai): HTTP 401, 404, 405, 413, 429, 503, 500
  | 'UNAUTHORIZED'         // a missing or wrong API key
  | 'NOT_FOUND'            // no such endpoint
  | 'METHOD_NOT_ALLOWED'   // an endpoint asked with the wrong method
  | 'BODY_TOO_LARGE'       // a request body over the limit
  | 'QUEUE_FULL'           // every slot busy and the queue full
  | 'UNAVAILABLE'          // the server is shutting down
  | 'INTERNAL';            // an error that is not a WasmlmError (a bug)

export class WasmlmError extends Error {
  readonly code: WasmlmErrorCode;
  constructor(code: WasmlmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WasmlmError';
    this.code = code;
  }
}

export function isWasmlmError(e: unknown): e is WasmlmError {
  return e instanceof WasmlmError;
}

/** What a wrong argument is, for a message: 'null' or its typeof. */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : typeof v;
}

/** A `signal` option: undefined, or an AbortSignal (anything with a boolean `aborted` and addEventListener). */
export function checkSignal(signal: unknown, what: string): void {
  const s = signal as { aborted?: unknown; addEventListener?: unknown } | null | undefined;
  if (s !== undefined && (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' ||
      typeof s.addEventListener !== 'function')) {
    throw new WasmlmError('BAD_ARGUMENT', `${what}: signal must be an AbortSignal, got ${kindOf(s)}`);
  }
}
