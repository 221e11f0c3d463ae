/** The generation loop: prompt → logits → sampler → incremental detokenizer → stop strings → text. */
import type { Engine } from '../engine/engine.js';
import { WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import { StopMatcher } from './stop.js';

export interface GenerateOptions extends SamplingOptions {
  /** most tokens to generate; default: until end of generation or a full context */
  maxTokens?: number;
  /** generation ends before the first occurrence of any of these (not included in the text) */
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
 * Generate from `prompt` (token ids, BOS included as wanted). Yields text pieces; returns the
 * whole result. The caller holds the engine for the duration.
 */
export async function* generateText(engine: Engine, tokenizer: Tokenizer, prompt: number[],
  opts: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
  const maxTokens = opts.maxTokens ?? Infinity;
  if (maxTokens !== Infinity && (!Number.isInteger(maxTokens) || maxTokens < 0)) {
    throw new WasmlmError('BAD_ARGUMENT', `maxTokens must be a non-negative integer, got ${maxTokens}`);
  }
  if (opts.stop !== undefined && (!Array.isArray(opts.stop) || opts.stop.some((s) => typeof s !== 'string' || s === ''))) {
    throw new WasmlmError('BAD_ARGUMENT', 'stop must be an array of non-empty strings');
  }
  const sampler = new Sampler(opts);
  const signal = opts.signal;
  const aborted = () => signal?.aborted === true;
  if (!engine.unbounded && prompt.length > engine.contextLength) {
    throw new WasmlmError('CONTEXT_FULL', `the prompt has ${prompt.length} tokens; the context holds ${engine.contextLength}`);
  }

  // Reuse the cached prefix the prompt shares with the previous call; evaluate at least one token.
  let common = 0;
  const cached = engine.cached;
  while (common < cached.length && common < prompt.length - 1 && cached[common] === prompt[common]) common++;
  engine.truncate(common);

  const t0 = now();
  let lastYield = t0;
  let logits = engine.evaluate(prompt.slice(common));
  const t1 = now();

  const history = prompt.slice();
  const tokens: number[] = [];
  // after a prompt that ends in BOS the first piece starts the text: no leading space (as run.c prints)
  const decoder = tokenizer.createDecoder({ afterBos: prompt[prompt.length - 1] === tokenizer.special.bos });
  const stops = new StopMatcher(opts.stop ?? []);
  let text = '';
  let finishReason: FinishReason = 'length';

  while (true) {
    if (tokens.length >= maxTokens) { finishReason = 'length'; break; }
    if (aborted()) { finishReason = 'abort'; break; }
    const id = sampler.sample(logits, history);
    if (!opts.ignoreEos && tokenizer.isEog(id)) { finishReason = 'eos'; break; }
    tokens.push(id);
    history.push(id);
    const out = stops.push(decoder.push(id));
    if (out.text) { text += out.text; yield out.text; }
    if (out.stopped) { finishReason = 'stop'; break; }
    if (tokens.length >= maxTokens) { finishReason = 'length'; break; }
    if (engine.full) { finishReason = 'context'; break; }
    if (now() - lastYield > YIELD_EVERY_MS) { await macrotask(); lastYield = now(); }
    if (aborted()) { finishReason = 'abort'; break; }
    logits = engine.evaluate([id]);
  }
  if (finishReason !== 'stop') {
    const rest = stops.push(decoder.flush()).text + stops.flush();
    if (rest) { text += rest; yield rest; }
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
}
