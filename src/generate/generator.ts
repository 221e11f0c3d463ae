/** The generation loop: prompt → logits → sampler → incremental detokenizer → stop strings → text. */
import { checkSignal, kindOf, WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { createConstraint, type ConstraintOptions } from '../grammar/index.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import { StopMatcher } from './stop.js';

export interface GenerateOptions extends SamplingOptions, ConstraintOptions {
  /** most tokens to generate; default: until end of generation or a full context */
  maxTokens?: number;
  /**
   * generation ends before the first occurrence of any of these: the stop string is in neither `text`
   * nor `tokens` (nor is a token that holds part of it: `tokens` may end a token short of `text`
   * when one token holds both text before the stop string and the stop string)
   */
  stop?: string[];
  /** keep going past end-of-generation tokens */
  ignoreEos?: boolean;
  signal?: AbortSignal;
  /**
   * when the context is full: false (the default, unless the session sets one) ends generation with
   * finishReason 'context'; { keep } keeps the first `keep` tokens (default: the BOS, or in chat the
   * rendered system prompt), drops half of the rest and goes on
   */
  contextShift?: ContextShift;
}

export type ContextShift = { keep?: number } | false;

export type FinishReason = 'eos' | 'length' | 'stop' | 'abort' | 'context';

export interface Timings {
  promptTokens: number;
  /** prompt tokens taken from the cache of the previous call */
  cachedTokens: number;
  promptMs: number;
  generatedTokens: number;
  generateMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface CompleteResult {
  /** the generated text, without the prompt */
  text: string;
  /** the generated token ids, without the prompt */
  tokens: number[];
  finishReason: FinishReason;
  timings: Timings;
}

const now = () => performance.now();

/** Let timers and abort signals run during a long synchronous computation (at most every `ms`). */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
const YIELD_EVERY_MS = 50;

/** What a generation runs on: a sequence's KV cache (a session's), taken in turns with other calls. */
export interface Sequence {
  readonly contextLength: number;
  /** the cache never fills (every layer is a sliding-window ring) */
  readonly unbounded: boolean;
  /**
   * Evaluates what of `context` the cache lacks (at least its last token): the cache keeps its longest
   * prefix in common with `context`. Resolves with the last token's logits (one buffer of the sequence's,
   * valid until its next feed) and how many tokens were reused.
   */
  feed(context: number[]): Promise<{ logits: Float32Array; reused: number }>;
  /** Context shift of a full `context`: keep its first `keep` tokens, drop half of the rest; the new context. */
  shift(context: number[], keep: number): Promise<number[]>;
  /** the next one-token feed goes through the decode queue (several generations run) */
  readonly batching: boolean;
  /** A generation starts on this sequence (batched decoding while several run); call the result when it ends. */
  begin(): () => void;
}

/**
 * Generate from `prompt` (token ids, BOS included as wanted). Yields text pieces; returns the
 * whole result.
 *
 * The generator holds the engine only while it computes (seq.feed takes the model's turn): a caller
 * that does not drain it, or drives two generators of one model in turns, blocks nothing; when another
 * call used the sequence's cache in between, the context (prompt and tokens so far) is read into the
 * cache again before the next token. `defaultKeep`: what a context shift keeps unless told.
 */
export async function* generateText(seq: Sequence, tokenizer: Tokenizer, prompt: number[],
  opts: GenerateOptions = {}, defaultKeep = prompt[0] === tokenizer.special.bos ? 1 : 0): AsyncGenerator<string, CompleteResult> {
  if (opts === null || typeof opts !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `generate options must be an object, got ${kindOf(opts)}`);
  }
  const maxTokens = opts.maxTokens ?? Infinity;
  if (maxTokens !== Infinity && (!Number.isInteger(maxTokens) || maxTokens < 0)) {
    throw new WasmlmError('BAD_ARGUMENT', `maxTokens must be a non-negative integer, got ${String(maxTokens)}`);
  }
  if (opts.ignoreEos !== undefined && typeof opts.ignoreEos !== 'boolean') {
    throw new WasmlmError('BAD_ARGUMENT', `ignoreEos must be a boolean, got ${typeof opts.ignoreEos}`);
  }
  if (opts.stop !== undefined && (!Array.isArray(opts.stop) || opts.stop.some((s) => typeof s !== 'string' || s === ''))) {
    throw new WasmlmError('BAD_ARGUMENT', 'stop must be an array of non-empty strings');
  }
  checkSignal(opts.signal, 'generate');
  const keep = checkContextShift(opts.contextShift, seq.contextLength, defaultKeep);
  const sampler = new Sampler(opts);
  // grammar / responseFormat: compiled (and any error thrown) before the first token
  const constraint = createConstraint(tokenizer, opts, prompt[prompt.length - 1] === tokenizer.special.bos);
  const signal = opts.signal;
  const aborted = () => signal?.aborted === true;
  if (!seq.unbounded && prompt.length > seq.contextLength) {
    throw new WasmlmError('CONTEXT_FULL', `the prompt has ${prompt.length} tokens; the context holds ${seq.contextLength}`);
  }

  const end = seq.begin();
  try {
    // reuse the cached prefix the prompt shares with the previous call
    const t0 = now();
    let lastYield = t0;
    let { logits, reused: common } = await seq.feed(prompt);
    const t1 = now();
    let history = prompt.slice();
    const tokens: number[] = [];
    // after a prompt that ends in BOS the first piece starts the text: no leading space (as run.c prints)
    const decoder = tokenizer.createDecoder({ afterBos: prompt[prompt.length - 1] === tokenizer.special.bos });
    const stops = new StopMatcher(opts.stop ?? []);
    let text = '';
    let finishReason: FinishReason = 'length';
    // the length of the decoded text through each token (to drop a stop string's tokens)
    const ends: number[] = [];
    let decoded = 0;
    let stopped = false; // by a stop string

    while (true) {
      if (constraint?.done) { finishReason = 'stop'; break; } // (a grammar of the empty text only)
      if (tokens.length >= maxTokens) { finishReason = 'length'; break; }
      if (aborted()) { finishReason = 'abort'; break; }
      const id = sampler.sample(logits, history, constraint);
      if (!opts.ignoreEos && tokenizer.isEog(id)) { finishReason = constraint ? 'stop' : 'eos'; break; }
      constraint?.accept(id);
      tokens.push(id);
      history.push(id);
      const piece = decoder.push(id);
      decoded += piece.length;
      ends.push(decoded);
      const out = stops.push(piece);
      if (out.text) {
        text += out.text;
        yield out.text;
      }
      if (out.stopped) {
        // the tokens that hold any of the stop string go too: `tokens` is the text's tokens
        let keep = tokens.length;
        while (keep > 0 && ends[keep - 1]! > text.length) keep--;
        tokens.length = keep;
        finishReason = 'stop';
        stopped = true;
        break;
      }
      if (constraint?.done) { finishReason = 'stop'; break; } // the grammar's sentence is complete
      if (tokens.length >= maxTokens) { finishReason = 'length'; break; }
      if (!seq.unbounded && history.length > seq.contextLength) {
        // no room for the new token
        if (keep === undefined) { finishReason = 'context'; break; }
        history = await seq.shift(history, keep);
      }
      // (a batched step waits for a macrotask anyway: the other generations join the batch there)
      if (!seq.batching && now() - lastYield > YIELD_EVERY_MS) { await macrotask(); lastYield = now(); }
      if (aborted()) { finishReason = 'abort'; break; }
      logits = (await seq.feed(history)).logits; // (just the new token, unless another call used the cache)
    }
    if (!stopped) {
      const rest = stops.push(decoder.flush()).text + stops.flush();
      if (rest) {
        text += rest;
        yield rest;
      }
    }
    const t2 = now();
    const promptTokens = prompt.length - common;
    return {
      text,
      tokens,
      finishReason,
      timings: {
        promptTokens: prompt.length,
        cachedTokens: common,
        promptMs: t1 - t0,
        generatedTokens: tokens.length,
        generateMs: t2 - t1,
        prefillTokensPerSecond: promptTokens / Math.max(1e-9, (t1 - t0) / 1000),
        decodeTokensPerSecond: tokens.length / Math.max(1e-9, (t2 - t1) / 1000),
      },
    };
  } finally {
    end();
  }
}

/** The contextShift option: undefined (off), or the number of tokens to keep. */
export function checkContextShift(shift: unknown, contextLength: number, defaultKeep: number): number | undefined {
  if (shift === undefined || shift === false) return undefined;
  if (shift === null || typeof shift !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `contextShift must be { keep?: number } or false, got ${kindOf(shift)}`);
  }
  const keep = (shift as { keep?: unknown }).keep ?? Math.min(defaultKeep, contextLength - 2);
  // at least two tokens of the rest: one to drop, one to keep
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0 || keep > contextLength - 2) {
    throw new WasmlmError('BAD_ARGUMENT',
      `contextShift.keep must be an integer from 0 to ${contextLength - 2} (the context holds ${contextLength}), got ${String(keep)}`);
  }
  return keep;
}
