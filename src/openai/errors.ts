/** Errors in OpenAI's shape: what each WasmlmError code becomes (an HTTP status and `{ error: {...} }`). */
import { WasmlmError, type WasmlmErrorCode } from '../errors.js';
import type { ErrorObject } from './types.js';

/**
 * A WasmlmError with OpenAI's fields (those of the `openai` package's APIError): `status`, `error`
 * (the response body's `error` object), `type`, `param` (the request parameter at fault, or null).
 */
export class OpenAIError extends WasmlmError {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  constructor(code: WasmlmErrorCode, status: number, type: string, message: string, param: string | null = null, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
    this.type = type;
    this.param = param;
  }

  /** OpenAI's `code`: a snake_case name (the WasmlmError code in lower case where OpenAI has none of its own). */
  get openaiCode(): string {
    return this.code === 'CONTEXT_FULL' ? 'context_length_exceeded' : this.code.toLowerCase();
  }

  get error(): ErrorObject {
    return { message: this.message, type: this.type, param: this.param, code: this.openaiCode };
  }
}

/** A bad request parameter: 400 invalid_request_error naming `param`. */
export function badParam(param: string, message: string): OpenAIError {
  return new OpenAIError('BAD_ARGUMENT', 400, 'invalid_request_error', `${param}: ${message}`, param);
}

/** Codes that are the request's fault (400); the rest are the server's (500), but DISPOSED (503) and ABORTED. */
const CLIENT_CODES = new Set<WasmlmErrorCode>(['BAD_ARGUMENT', 'BAD_SCHEMA', 'BAD_GRAMMAR', 'EMPTY_PROMPT', 'TOKEN_OUT_OF_RANGE', 'TEMPLATE_LIMIT', 'CONTEXT_FULL', 'CONTEXT_TOO_LONG']);

/** The sampler's and generator's option names, and the request parameters they come from. */
const PARAM_OF: Record<string, string> = {
  temperature: 'temperature', topP: 'top_p', seed: 'seed', maxTokens: 'max_tokens', stop: 'stop',
  frequencyPenalty: 'frequency_penalty', presencePenalty: 'presence_penalty', logitBias: 'logit_bias',
};

/** Any error as an OpenAIError (a WasmlmError keeps its code and message; anything else is a 500). */
export function toOpenAIError(e: unknown): OpenAIError {
  if (e instanceof OpenAIError) return e;
  if (e instanceof WasmlmError) {
    if (e.code === 'ABORTED') return new OpenAIError(e.code, 499, 'invalid_request_error', e.message, null, { cause: e });
    if (e.code === 'DISPOSED') return new OpenAIError(e.code, 503, 'server_error', e.message, null, { cause: e });
    if (CLIENT_CODES.has(e.code)) {
      const name = /^(\w+)\b/.exec(e.message)?.[1];
      const param = name !== undefined && Object.hasOwn(PARAM_OF, name) ? PARAM_OF[name]! : null;
      return new OpenAIError(e.code, 400, 'invalid_request_error', e.message, param, { cause: e });
    }
    return new OpenAIError(e.code, 500, 'server_error', e.message, null, { cause: e });
  }
  return new OpenAIError('INTERNAL', 500, 'server_error', `internal error: ${e instanceof Error ? e.message : String(e)}`, null, { cause: e });
}
