/** The generation loop: prompt → logits → sampler → incremental detokenizer → stop strings → text. */
import type { Engine } from '../engine/engine.js';
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
}

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

/**
 * The model's turn: resolves when no other call uses the engine, with the engine (or rejects, e.g. with
 * DISPOSED) and the function that ends the turn.
 */
export type Turn = () => Promise<{ engine: Engine; release: () => void }>;

/**
 * Evaluates what of `context` the cache lacks (at least its last token): the cache keeps its longest
 * prefix in common with `context`. Returns the last token's logits and how many tokens were reused.
 */
function feed(engine: Engine, context: number[]): { logits: Float32Array; reused: number } {
  let common = 0;
  const cached = engine.cached;
  while (common < cached.length && common < context.length - 1 && cached[common] === context[common]) common++;
  engine.truncate(common);
  return { logits: engine.evaluate(context.slice(common)), reused: common };
}

/**
 * Generate from `prompt` (token ids, BOS included as wanted). Yields text pieces; returns the
 * whole result.
 *
 * The generator holds the engine (`turn`) only while it computes: it ends its turn before each piece
 * it yields and takes a new one when resumed. So a caller that does not drain it, or drives two
 * generators of one model in turns, blocks nothing; when another call used the engine in between,
 * the context (prompt and tokens so far) is read into the cache again before the next token.
 */
export async function* generateText(turn: Turn, tokenizer: Tokenizer, prompt: number[],
  opts: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
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
  const sampler = new Sampler(opts);
  // grammar / responseFormat: compiled (and any error thrown) before the first token
  const constraint = createConstraint(tokenizer, opts, prompt[prompt.length - 1] === tokenizer.special.bos);
  const signal = opts.signal;
  const aborted = () => signal?.aborted === true;

  let { engine, release } = await turn();
  let held = true;
  try {
    if (!engine.unbounded && prompt.length > engine.contextLength) {
      throw new WasmlmError('CONTEXT_FULL', `the prompt has ${prompt.length} tokens; the context holds ${engine.contextLength}`);
    }
    // reuse the cached prefix the prompt shares with the previous call
    const t0 = now();
    let lastYield = t0;
    let { logits, reused: common } = feed(engine, prompt);
    const t1 = now();
    const history = prompt.slice();
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
        release();
        held = false;
        yield out.text;
        ({ engine, release } = await turn());
        held = true;
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
      if (engine.full) { finishReason = 'context'; break; }
      if (now() - lastYield > YIELD_EVERY_MS) { await macrotask(); lastYield = now(); }
      if (aborted()) { finishReason = 'abort'; break; }
      logits = feed(engine, history).logits; // (just the new token, unless another call used the engine)
    }
    if (!stopped) {
      const rest = stops.push(decoder.flush()).text + stops.flush();
      if (rest) {
        text += rest;
        release();
        held = false;
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
  } catch (e) {
    if (held) engine.truncate(0); // a failed evaluation leaves the cache unknown
    throw e;
  } finally {
    if (held) release();
  }
}
