/**
 * Picking the next token from logits: logit bias, repetition penalties (llama.cpp's multiplicative one,
 * OpenAI's additive frequency / presence ones), then greedy (temperature 0) or
 * top-k → top-p → min-p → temperature → a draw from a seeded generator (llama.cpp's order).
 */
import { kindOf, WasmlmError } from '../errors.js';

export interface SamplingOptions {
  /** 0 = greedy; default 0.8 */
  temperature?: number;
  /** keep the k most likely tokens (0 = all); default 40 */
  topK?: number;
  /** keep the smallest set whose probability reaches p (1 = all); default 0.95 */
  topP?: number;
  /** drop tokens less likely than minP × the most likely one (0 = off); default 0.05 */
  minP?: number;
  /** divide positive logits (multiply negative ones) of recently seen tokens; > 0; 1 = off (default) */
  repeatPenalty?: number;
  /** how many recent tokens the penalties (repeat, frequency, presence) look at; default 64 */
  repeatLastN?: number;
  /**
   * OpenAI's frequency_penalty: subtract this × (how often a token occurs among the last repeatLastN
   * tokens) from its logit; 0 = off (default); negative values favour repeats
   */
  frequencyPenalty?: number;
  /** OpenAI's presence_penalty: subtract this from the logit of every token among the last repeatLastN; 0 = off (default) */
  presencePenalty?: number;
  /** added to the logits of these token ids before anything else (OpenAI's logit_bias: -100 about bans a token) */
  logitBias?: Record<number, number>;
  /**
   * called after each choice with the token chosen and the logits it was chosen from (bias and penalties
   * applied, before temperature): what OpenAI's logprobs report. The array is reused: copy what you keep.
   */
  onSample?: (id: number, logits: Float32Array) => void;
  /** the same seed gives the same text; any safe integer (every bit counts); default: random */
  seed?: number;
}

/** mulberry32: a small, fast generator of 32-bit words. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * A seedable generator of numbers in [0, 1) that takes all of a safe integer: the low 32 bits seed
 * mulberry32, and the bits above (when any) a second one whose words are mixed in, so that e.g. 1 and
 * 2^32 + 1 are different seeds. (A seed in [0, 2^32) draws what it drew before seeds took 53 bits.)
 */
export function rng(seed: number): () => number {
  const low = mulberry32(seed >>> 0);
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  if (hi === 0) return () => low() / 4294967296;
  const high = mulberry32(hi ^ 0x9e3779b9);
  return () => ((low() ^ high()) >>> 0) / 4294967296;
}

/**
 * A constraint on the next token (grammar/tokens.ts's TokenConstraint): `allows` checks one token,
 * `allowed` lists the allowed ids (ascending). With `lazy`, the sampler draws first and draws again among
 * the allowed tokens only when the draw is disallowed: a draw from p restricted to the allowed set either
 * way, since an allowed first draw has probability p(t) and a rejection then p(t) / p(allowed) — exactly
 * so without truncation (top-k / top-p / min-p pick their candidates among all tokens on the first draw,
 * among the allowed ones on the second; greedy is exact).
 */
export interface TokenFilter {
  allows(id: number): boolean;
  allowed(): Int32Array;
  readonly lazy: boolean;
}

export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repeatPenalty: number;
  readonly repeatLastN: number;
  readonly frequencyPenalty: number;
  readonly presencePenalty: number;
  private readonly biasIds: number[] = [];
  private readonly biasValues: number[] = [];
  private readonly onSample: SamplingOptions['onSample'];
  private readonly random: () => number;
  private idx = new Int32Array(0);
  private prob = new Float64Array(0);

  constructor(opts: SamplingOptions = {}) {
    this.temperature = check('temperature', opts.temperature ?? 0.8, 0, Infinity);
    this.topK = check('topK', opts.topK ?? 40, 0, Infinity, true);
    this.topP = check('topP', opts.topP ?? 0.95, 0, 1);
    this.minP = check('minP', opts.minP ?? 0.05, 0, 1);
    this.repeatPenalty = check('repeatPenalty', opts.repeatPenalty ?? 1, 0, Infinity);
    if (this.repeatPenalty === 0) throw new WasmlmError('BAD_ARGUMENT', 'repeatPenalty must be a number above 0 (1 = off), got 0');
    this.repeatLastN = check('repeatLastN', opts.repeatLastN ?? 64, 0, Infinity, true);
    this.frequencyPenalty = finite('frequencyPenalty', opts.frequencyPenalty ?? 0);
    this.presencePenalty = finite('presencePenalty', opts.presencePenalty ?? 0);
    if (opts.logitBias !== undefined) {
      if (opts.logitBias === null || typeof opts.logitBias !== 'object') {
        throw new WasmlmError('BAD_ARGUMENT', `logitBias must be an object of token id → bias, got ${kindOf(opts.logitBias)}`);
      }
      for (const [key, bias] of Object.entries(opts.logitBias)) {
        const id = Number(key);
        if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) throw new WasmlmError('BAD_ARGUMENT', `logitBias: '${key}' is not a token id`);
        this.biasIds.push(id);
        this.biasValues.push(finite(`logitBias[${key}]`, bias));
      }
    }
    if (opts.onSample !== undefined && typeof opts.onSample !== 'function') {
      throw new WasmlmError('BAD_ARGUMENT', `onSample must be a function, got ${kindOf(opts.onSample)}`);
    }
    this.onSample = opts.onSample;
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
      throw new WasmlmError('BAD_ARGUMENT', `seed must be a safe integer (|seed| < 2^53), got ${String(seed)}`);
    }
    this.random = rng(seed);
  }

  /**
   * Choose a token. `logits` may be modified (penalties are applied in place); `history` is every
   * token seen so far (prompt and generated).
   */
  sample(logits: Float32Array, history: ArrayLike<number>, filter?: TokenFilter): number {
    for (let i = 0; i < this.biasIds.length; i++) {
      const id = this.biasIds[i]!;
      if (id >= logits.length) throw new WasmlmError('TOKEN_OUT_OF_RANGE', `logitBias: token ${id} is outside the vocabulary of ${logits.length}`);
      logits[id] = logits[id]! + this.biasValues[i]!;
    }
    if ((this.repeatPenalty !== 1 || this.frequencyPenalty !== 0 || this.presencePenalty !== 0) && this.repeatLastN > 0) {
      this.penalize(logits, history);
    }
    const id = this.constrained(logits, filter);
    this.onSample?.(id, logits);
    return id;
  }

  /** A pick, lazily checked against the grammar's filter (a rejected token: a pick among the allowed ones). */
  private constrained(logits: Float32Array, filter: TokenFilter | undefined): number {
    if (filter === undefined) return this.pick(logits);
    if (filter.lazy) {
      const id = this.pick(logits);
      if (filter.allows(id)) return id;
    }
    return this.pick(logits, filter.allowed());
  }

  /** Greedy, or the filters and a draw, among `ids` (ascending; default all). */
  private pick(logits: Float32Array, ids = this.everyId(logits.length)): number {
    if (this.temperature === 0) return argmax(logits, ids);

    const n = this.candidates(logits, ids);
    const idx = this.idx;
    const p = this.prob;
    // probabilities at temperature 1 for the filters
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, logits[idx[i]!]!);
    let sum = 0;
    for (let i = 0; i < n; i++) { p[i] = Math.exp(logits[idx[i]!]! - max); sum += p[i]!; }
    // candidates are sorted by logit, descending
    let keep = n;
    if (this.topP < 1) {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += p[i]! / sum;
        if (acc >= this.topP) { keep = i + 1; break; }
      }
    }
    if (this.minP > 0) {
      const floor = this.minP * p[0]!;
      let k = 1;
      while (k < keep && p[k]! >= floor) k++;
      keep = k;
    }
    // temperature, then a draw
    const t = this.temperature;
    let total = 0;
    for (let i = 0; i < keep; i++) { p[i] = Math.exp((logits[idx[i]!]! - max) / t); total += p[i]!; }
    let r = this.random() * total;
    for (let i = 0; i < keep; i++) {
      r -= p[i]!;
      if (r < 0) return idx[i]!;
    }
    return idx[keep - 1]!;
  }

  private penalize(logits: Float32Array, history: ArrayLike<number>): void {
    const counts = new Map<number, number>();
    for (let i = Math.max(0, history.length - this.repeatLastN); i < history.length; i++) {
      counts.set(history[i]!, (counts.get(history[i]!) ?? 0) + 1);
    }
    const rp = this.repeatPenalty;
    for (const [id, count] of counts) {
      let l = logits[id]!;
      if (rp !== 1) l = l > 0 ? l / rp : l * rp;
      if (this.frequencyPenalty !== 0 || this.presencePenalty !== 0) l -= count * this.frequencyPenalty + this.presencePenalty;
      logits[id] = l;
    }
  }

  private all = new Int32Array(0);
  /** 0 .. n-1 */
  private everyId(n: number): Int32Array {
    if (this.all.length !== n) this.all = Int32Array.from({ length: n }, (_, i) => i);
    return this.all;
  }

  /** Fill idx with candidate ids (of `ids`) sorted by logit (descending): the top k, or all. */
  private candidates(logits: Float32Array, ids: Int32Array): number {
    const V = ids.length;
    const k = this.topK > 0 ? Math.min(this.topK, V) : V;
    if (this.idx.length < k) { this.idx = new Int32Array(k); this.prob = new Float64Array(k); }
    const idx = this.idx;
    if (k === V) {
      // all tokens, less those whose probability is negligible (< e^-40 of the best) or, when no
      // top-p follows, below minP
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[ids[j]!]! > max) max = logits[ids[j]!]!;
      const floor = max + (this.topP >= 1 && this.minP > 0 ? Math.max(-40, Math.log(this.minP)) : -40);
      let n = 0;
      for (let j = 0; j < V; j++) if (logits[ids[j]!]! >= floor) idx[n++] = ids[j]!;
      idx.subarray(0, n).sort((a, b) => logits[b]! - logits[a]! || a - b);
      return n;
    }
    // a min-heap of the k best so far (heap[0] is the weakest kept)
    let size = 0;
    const less = (a: number, b: number) => logits[a]! < logits[b]! || (logits[a] === logits[b] && a > b);
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < size && less(idx[l]!, idx[m]!)) m = l;
        if (r < size && less(idx[r]!, idx[m]!)) m = r;
        if (m === i) return;
        const t = idx[i]!; idx[i] = idx[m]!; idx[m] = t; i = m;
      }
    };
    for (let j = 0; j < V; j++) {
      const id = ids[j]!;
      if (size < k) {
        let i = size++;
        idx[i] = id;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (!less(idx[i]!, idx[parent]!)) break;
          const t = idx[i]!; idx[i] = idx[parent]!; idx[parent] = t; i = parent;
        }
      } else if (logits[id]! >= logits[idx[0]!]! && less(idx[0]!, id)) { // (the first test skips most tokens cheaply)
        idx[0] = id;
        down(0);
      }
    }
    idx.subarray(0, k).sort((a, b) => logits[b]! - logits[a]! || a - b);
    return k;
  }
}

/** Index of the largest logit (the first one on ties), among `ids` (ascending) if given. */
export function argmax(logits: ArrayLike<number>, ids?: ArrayLike<number>): number {
  const n = ids ? ids.length : logits.length;
  let best = ids && n > 0 ? ids[0]! : 0;
  let bestValue = -Infinity;
  for (let j = 0; j < n; j++) {
    const i = ids ? ids[j]! : j;
    if (logits[i]! > bestValue) { bestValue = logits[i]!; best = i; }
  }
  return best;
}

function finite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WasmlmError('BAD_ARGUMENT', `${name} must be a finite number, got ${String(v)}`);
  return v;
}

function check(name: string, v: number, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new WasmlmError('BAD_ARGUMENT', `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}
