/**
 * model.finetune(): LoRA fine-tuning from examples, over the trainer's public API (createAdapter, trainer,
 * step). Examples become token sequences with a loss mask (what is learned), are cut to maxLength, shuffled
 * (seeded) into batches, trained for some epochs; the adapter is then applied to the model.
 *
 * What is learned: a string, all its tokens; `{ prompt, completion }`, the completion's tokens and EOS;
 * `{ messages }`, the assistant turns as the chat template renders them (their content and the template's
 * end of turn), found by rendering the conversation up to each turn (not by searching the text).
 */
import { WasmlmError, checkSignal, kindOf } from '../errors.js';
import { chatIds, renderChat, type ChatMessage } from '../generate/chat.js';
import { mulberry32 } from '../generate/sampler.js';
import { commonPrefix } from '../session.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { LORA_TARGETS, TrainableAdapter, type CreateAdapterOptions, type LoraTarget } from './adapter.js';
import type { Trainer, TrainerOptions } from './trainer.js';

export type FinetuneExample = string | { prompt: string; completion: string } | { messages: ChatMessage[] };

/** What onStep is told after each step. */
export interface FinetuneProgress {
  /** steps done (1-based) and in all (epochs × batches per epoch) */
  step: number;
  steps: number;
  /** the epoch of this step (1-based) and the epochs in all */
  epoch: number;
  epochs: number;
  /** the batch's mean masked cross-entropy before this step's update */
  loss: number;
  /** tokens of the batch (every position forward and backward) per second of this step */
  tokensPerSecond: number;
}

export interface FinetuneOptions extends Partial<TrainerOptions> {
  /** LoRA rank (default 8) */
  rank?: number;
  /** LoRA alpha (default 2 × rank): the scale is alpha / rank (rsLoRA: alpha / √rank) */
  alpha?: number;
  rslora?: boolean;
  /** the weights adapted (default attn_q, attn_k, attn_v, attn_output) */
  targets?: LoraTarget[];
  /** passes over the examples (default 3) */
  epochs?: number;
  /** AdamW's learning rate (default 1e-4); betas, eps, weightDecay, gradClip as model.trainer() */
  learningRate?: number;
  /** examples per step (default 4; the last batch of an epoch may be smaller) */
  batchSize?: number;
  /** longer sequences are cut to their first maxLength tokens (default: the model's context length) */
  maxLength?: number;
  /** seeds the A initialisation and the shuffling (default 0) */
  seed?: number;
  /** a template for `{ messages }` examples in place of the model's (as chat()'s chatTemplate) */
  chatTemplate?: string;
  /** checked between steps: training stops and the adapter as trained so far is applied and returned */
  signal?: AbortSignal;
  /** after each step */
  onStep?: (progress: FinetuneProgress) => void;
}

/** A model.finetune() result: the adapter (save, weights) applied to the model, and how training went. */
export interface FinetunedAdapter extends TrainableAdapter {
  /** the adapter as applied to the model (setScale, remove) */
  readonly applied: { readonly scale: number; setScale(scale: number): void; remove(): void };
  /** steps taken */
  readonly steps: number;
  /** the signal stopped training before its last step */
  readonly aborted: boolean;
  /** each step's loss */
  readonly losses: number[];
}

/** One training sequence: its tokens and mask[p] = 1 where row p learns tokens[p + 1]. */
export interface TrainSequence {
  tokens: number[];
  mask: number[];
}

/** What finetune needs of a model (Model passes its own; the lock is its calls' turn). */
export interface FinetuneHost {
  tokenizer: Tokenizer;
  contextLength: number;
  createAdapter(options: CreateAdapterOptions): TrainableAdapter;
  trainer(adapter: TrainableAdapter, options: TrainerOptions): Trainer;
  lock(): Promise<() => void>;
  /** apply the adapter's GGUF bytes (model.loadAdapter) */
  apply(gguf: Uint8Array): Promise<FinetunedAdapter['applied']>;
}

const DEFAULT_TARGETS: LoraTarget[] = ['attn_q', 'attn_k', 'attn_v', 'attn_output'];

function bad(message: string): WasmlmError {
  return new WasmlmError('BAD_ARGUMENT', `finetune: ${message}`);
}

function positiveInt(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** A sequence whose tokens from `from` to `to` (exclusive) are learned: rows from − 1 .. to − 2. */
function learnSpan(mask: number[], from: number, to: number): void {
  for (let p = Math.max(0, from - 1); p < to - 1; p++) mask[p] = 1;
}

/**
 * An example as a training sequence (before cutting). The learned spans are found on token ids: the ids
 * of the text up to the span's start are a prefix of the whole's (where a token crosses the boundary, it
 * is learned).
 */
export function exampleSequence(tk: Tokenizer, example: FinetuneExample, i: number, chatTemplate?: string): TrainSequence {
  const where = `examples[${i}]`;
  if (typeof example === 'string') {
    if (example.length === 0) throw bad(`${where} is an empty string`);
    const tokens = tk.encode(example, { addSpecial: true });
    const mask = tokens.map(() => 0);
    learnSpan(mask, 0, tokens.length);
    return { tokens, mask };
  }
  if (typeof example !== 'object' || example === null) throw bad(`${where} must be a string, { prompt, completion } or { messages }, got ${kindOf(example)}`);
  if ('messages' in example) {
    const { messages } = example;
    if (!Array.isArray(messages) || messages.length === 0) throw bad(`${where}.messages must be a non-empty array of messages`);
    const render = (upTo: number, addGenerationPrompt: boolean) =>
      chatIds(tk, renderChat(tk, messages.slice(0, upTo), { chatTemplate, addGenerationPrompt }));
    const tokens = render(messages.length, false);
    const mask = tokens.map(() => 0);
    let turns = 0;
    messages.forEach((m, j) => {
      if (m?.role !== 'assistant') return;
      if (j === 0) throw bad(`${where}.messages[0] is an assistant message: a conversation opens with a system or user message`);
      turns++;
      // the turn: from where the template opens the assistant's reply to where the conversation ends after it
      const from = commonPrefix(render(j, true), tokens);
      const to = commonPrefix(render(j + 1, false), tokens);
      learnSpan(mask, from, to);
    });
    if (turns === 0) throw bad(`${where}.messages has no assistant message: nothing to learn`);
    return { tokens, mask };
  }
  if ('prompt' in example || 'completion' in example) {
    const { prompt, completion } = example as { prompt: unknown; completion: unknown };
    if (typeof prompt !== 'string') throw bad(`${where}.prompt must be a string, got ${kindOf(prompt)}`);
    if (typeof completion !== 'string' || completion.length === 0) throw bad(`${where}.completion must be a non-empty string`);
    const tokens = tk.encode(prompt + completion, { addSpecial: true });
    const from = commonPrefix(tk.encode(prompt, { addSpecial: true }), tokens);
    if (tk.special.eos !== undefined && tokens[tokens.length - 1] !== tk.special.eos) tokens.push(tk.special.eos);
    const mask = tokens.map(() => 0);
    learnSpan(mask, from, tokens.length);
    return { tokens, mask };
  }
  throw bad(`${where} must be a string, { prompt, completion } or { messages }`);
}

/** The sequence cut to its first maxLength tokens (the last row learns nothing). */
function cut(s: TrainSequence, maxLength: number): TrainSequence {
  if (s.tokens.length <= maxLength) return s;
  const mask = s.mask.slice(0, maxLength);
  mask[maxLength - 1] = 0;
  return { tokens: s.tokens.slice(0, maxLength), mask };
}

function checkOptions(options: FinetuneOptions, contextLength: number) {
  if (typeof options !== 'object' || options === null) throw bad(`options must be an object, got ${kindOf(options)}`);
  const rank = options.rank ?? 8;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1) throw bad(`rank must be a positive integer, got ${String(rank)}`);
  const targets = options.targets ?? DEFAULT_TARGETS;
  if (!Array.isArray(targets) || targets.length === 0) throw bad(`targets must be a non-empty array of ${LORA_TARGETS.join(', ')}`);
  for (const t of targets) if (!(LORA_TARGETS as readonly string[]).includes(t)) throw bad(`target '${String(t)}' is not one of ${LORA_TARGETS.join(', ')}`);
  const maxLength = positiveInt(options.maxLength, 'maxLength', contextLength);
  if (maxLength < 2) throw bad(`maxLength must be at least 2, got ${maxLength}`);
  if (maxLength > contextLength) throw bad(`maxLength ${maxLength} is beyond the model's context length ${contextLength}`);
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw bad(`seed must be an integer, got ${String(seed)}`);
  if (options.onStep !== undefined && typeof options.onStep !== 'function') throw bad(`onStep must be a function, got ${kindOf(options.onStep)}`);
  checkSignal(options.signal, 'finetune');
  return {
    rank, targets, maxLength, seed,
    alpha: options.alpha ?? 2 * rank,
    epochs: positiveInt(options.epochs, 'epochs', 3),
    batchSize: positiveInt(options.batchSize, 'batchSize', 4),
  };
}

/** A macrotask: lets an abort (a timer, a worker message) in between two steps. */
const between = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export async function finetune(host: FinetuneHost, examples: FinetuneExample[], options: FinetuneOptions = {}): Promise<FinetunedAdapter> {
  const o = checkOptions(options, host.contextLength);
  if (!Array.isArray(examples) || examples.length === 0) throw bad('examples must be a non-empty array');
  const sequences = examples.map((e, i) => {
    const s = cut(exampleSequence(host.tokenizer, e, i, options.chatTemplate), o.maxLength);
    if (!s.mask.includes(1)) throw bad(`examples[${i}] has nothing to learn within maxLength ${o.maxLength} (${s.tokens.length} tokens)`);
    return s;
  });
  const adapter = host.createAdapter({ rank: o.rank, alpha: o.alpha, targets: o.targets, rslora: options.rslora, seed: o.seed });
  const { betas, eps, weightDecay, gradClip } = options;
  const trainer = host.trainer(adapter, { learningRate: options.learningRate ?? 1e-4, betas, eps, weightDecay, gradClip });
  const random = mulberry32(o.seed ^ 0x5eed);
  const order = sequences.map((_, i) => i);
  const perEpoch = Math.ceil(sequences.length / o.batchSize);
  const steps = o.epochs * perEpoch;
  const losses: number[] = [];
  let aborted = false;
  training: for (let epoch = 1; epoch <= o.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = random() % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let b = 0; b < perEpoch; b++) {
      await between();
      if (options.signal?.aborted) { aborted = true; break training; }
      const batch = order.slice(b * o.batchSize, (b + 1) * o.batchSize).map((k) => sequences[k]!);
      const release = await host.lock();
      let loss: number;
      const t0 = performance.now();
      try {
        ({ loss } = await trainer.step({ tokens: batch.map((s) => s.tokens), mask: batch.map((s) => s.mask) }));
      } finally {
        release();
      }
      const seconds = (performance.now() - t0) / 1000;
      losses.push(loss);
      const tokens = batch.reduce((n, s) => n + s.tokens.length, 0);
      options.onStep?.({ step: losses.length, steps, epoch, epochs: o.epochs, loss, tokensPerSecond: seconds > 0 ? tokens / seconds : Infinity });
    }
  }
  const applied = await host.apply(adapter.save({ format: 'gguf' }));
  return Object.assign(adapter, { applied, steps: losses.length, aborted, losses });
}

/** A finetune() result as it crosses from a worker to the page (structured-clonable; A/B transferable). */
export interface WireFinetuned {
  /** the id of the applied adapter in the worker */
  adapterId: number;
  rank: number; alpha: number; rslora: boolean; targets: LoraTarget[]; arch: string; heads: { q: number; k: number };
  pairs: { name: string; nIn: number; nOut: number; a: Float32Array; b: Float32Array }[];
  steps: number; aborted: boolean; losses: number[];
}

export function finetunedToWire(r: FinetunedAdapter, adapterId: number): WireFinetuned {
  return {
    adapterId, rank: r.rank, alpha: r.alpha, rslora: r.rslora, targets: [...r.targets], arch: r.arch, heads: r.heads,
    pairs: [...r.pairs.values()].map((p) => ({ name: p.base.name, nIn: p.nIn, nOut: p.nOut, a: p.a.slice(), b: p.b.slice() })),
    steps: r.steps, aborted: r.aborted, losses: r.losses,
  };
}

/** The page's copy of a worker's finetune() result: the same adapter (save, weights), applied in the worker. */
export function finetunedFromWire(w: WireFinetuned, applied: FinetunedAdapter['applied']): FinetunedAdapter {
  const adapter = new TrainableAdapter(w.rank, w.alpha, w.rslora, w.targets, w.arch, w.heads);
  for (const p of w.pairs) adapter.pairs.set(p.name, { base: { name: p.name, ne: [p.nIn, p.nOut] }, nIn: p.nIn, nOut: p.nOut, a: p.a, b: p.b });
  return Object.assign(adapter, { applied, steps: w.steps, aborted: w.aborted, losses: w.losses });
}
