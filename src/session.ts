/**
 * Sessions: conversations over one model, each with its own KV cache (a region of the model's wasm
 * memory) and token history. The model's own methods are its default session's. Calls on one model
 * take turns (one lock); while several generations run, their next tokens go through one forward pass
 * together (DecodeQueue).
 */
import type { Engine, KvCache } from './engine/engine.js';
import { kindOf, WasmlmError } from './errors.js';
import { chatIds, renderChat, type ChatMessage, type ChatTemplateOptions } from './generate/chat.js';
import {
  checkContextShift, generateText, type CompleteResult, type ContextShift, type GenerateOptions, type Sequence,
} from './generate/generator.js';
import { checkKvType, KV_TYPES, type KvType } from './engine/options.js';
import { objectGenerateOptions, streamObject, type DeepPartial, type ObjectOptions } from './generate/object.js';
import { chatStream, type ChatOptions, type ChatResult } from './generate/tools.js';
import { decodeSession, encodeSession } from './session-format.js';
import { tokenIdList } from './token-ids.js';
import type { Tokenizer } from './tokenizer/types.js';

export type Prompt = string | number[];

export interface SessionOptions {
  /** the default of every call's `contextShift` option (default false: a full context ends generation) */
  contextShift?: ContextShift;
  /**
   * the element type of this session's KV cache (default: the model's, loadModel's `kvType`); restoreSession:
   * the type the saved session must have (SESSION_MISMATCH otherwise)
   */
  kvType?: KvType;
}

export interface SessionInfo {
  /** tokens this session's cache holds */
  contextLength: number;
  /** tokens in the cache now */
  cachedTokens: number;
  /** the element type of its KV cache */
  kvType: KvType;
  /** bytes of this session's KV cache */
  kvCacheBytes: number;
}

/**
 * What the sessions of one model share: the engine, the tokenizer, the lock calls take turns on, the
 * decode queue, the fingerprint saved sessions carry. (Not exported from the package.)
 */
export class ModelCore {
  disposed = false;
  /** generations running now (more than one: decoding goes through the queue) */
  generating = 0;
  readonly decodeQueue = new DecodeQueue(this);
  private queue: Promise<unknown> = Promise.resolve();

  constructor(public engineRef: Engine | undefined, readonly tokenizer: Tokenizer, readonly vocabSize: number,
    readonly fingerprint: Uint8Array) {}

  get engine(): Engine {
    if (!this.engineRef) throw new WasmlmError('DISPOSED', 'this model was disposed');
    return this.engineRef;
  }

  alive(): void {
    if (this.disposed) throw new WasmlmError('DISPOSED', 'this model was disposed');
  }

  /** Calls that use a KV cache take turns. */
  lock(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => { release = resolve; });
    const before = this.queue;
    this.queue = before.then(() => turn);
    return before.then(() => release);
  }

  /** Run `f` with the engine in this call's turn (DISPOSED if the model was disposed meanwhile). */
  async withEngine<T>(f: (engine: Engine) => T): Promise<T> {
    const release = await this.lock();
    try {
      this.alive();
      return f(this.engine);
    } finally {
      release();
    }
  }

  promptIds(prompt: Prompt): number[] {
    this.alive();
    if (typeof prompt === 'string') {
      if (prompt.length === 0) throw new WasmlmError('EMPTY_PROMPT', 'the prompt is empty');
      return this.checkIds(this.tokenizer.encode(prompt, { addSpecial: true }));
    }
    return this.checkIds(prompt);
  }

  checkIds(ids: unknown): number[] {
    this.alive();
    const list = tokenIdList(ids, this.vocabSize);
    if (!this.engine.unbounded && list.length > this.engine.contextLength) {
      throw new WasmlmError('CONTEXT_FULL', `${list.length} tokens do not fit in the context of ${this.engine.contextLength}`);
    }
    return list;
  }
}

/** How long `a` and `b` agree from the start, at most `max`. */
export function commonPrefix(a: readonly number[], b: readonly number[], max = Infinity): number {
  let n = 0;
  while (n < a.length && n < b.length && n < max && a[n] === b[n]) n++;
  return n;
}

/**
 * Evaluates what of `context` the cache lacks (at least its last token): the cache keeps its longest
 * prefix in common with `context`. A failed evaluation leaves the cache empty (its state unknown).
 */
function feed(engine: Engine, cache: KvCache, context: number[], out: Float32Array): { logits: Float32Array; reused: number } {
  const common = commonPrefix(cache.cached, context, context.length - 1);
  engine.truncate(common, cache);
  try {
    out.set(engine.evaluate(context.slice(common), 'last', undefined, cache));
    return { logits: out, reused: common };
  } catch (e) {
    engine.truncate(0, cache);
    throw e;
  }
}

/**
 * Whether `context` is one decode step for the cache: it holds all of it but the last token (or all of it:
 * a prompt read before, whose last token's logits are computed again).
 */
function oneStep(cache: KvCache, context: number[]): boolean {
  const n = context.length - 1;
  return n >= 0 && cache.cached.length >= n && cache.cached.length <= n + 1 && commonPrefix(cache.cached, context, n) === n;
}

/** Run `f` after the event loop's pending work (the other generations' next steps), without timer clamping. */
const nextMacrotask: (f: () => void) => void = (() => {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (typeof g.setImmediate === 'function') return (f) => g.setImmediate!(f);
  if (typeof MessageChannel === 'function') {
    return (f) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { ch.port1.close(); f(); };
      ch.port2.postMessage(0);
    };
  }
  return (f) => { setTimeout(f, 0); };
})();

interface DecodeRequest {
  cache: KvCache;
  context: number[];
  /** throws (DISPOSED) when the session is gone: its cache may be another session's by now */
  alive(): void;
  /** where the logits go (the generation's own buffer, see Session.sequence) */
  out: Float32Array;
  resolve(logits: Float32Array): void;
  reject(e: unknown): void;
}

/**
 * The decode queue: collects the sessions waiting for one next token in the same macrotask and runs
 * them as one batch (one forward pass, the weights read once; attention over each one's own cache).
 */
export class DecodeQueue {
  private pending: DecodeRequest[] = [];
  private scheduled = false;
  /** batches run and sequences they held (for the bench and the tests) */
  readonly stats = { batches: 0, sequences: 0 };

  constructor(private readonly core: ModelCore) {}

  decode(cache: KvCache, context: number[], alive: () => void, out: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ cache, context, alive, out, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        nextMacrotask(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const requests = this.pending.splice(0);
    let release: (() => void) | undefined;
    try {
      release = await this.core.lock();
      this.core.alive();
      const engine = this.core.engine;
      // one step each, one request per cache; the rest (a cache another call changed meanwhile) alone
      const batch: DecodeRequest[] = [];
      const alone: DecodeRequest[] = [];
      for (const r of requests) {
        try {
          r.alive();
        } catch (e) {
          r.reject(e);
          continue;
        }
        if (oneStep(r.cache, r.context) && !engine.isFull(r.cache) && !batch.some((b) => b.cache === r.cache)) batch.push(r);
        else alone.push(r);
      }
      for (let i = 0; i < batch.length; i += engine.maxDecodeBatch) {
        const part = batch.slice(i, i + engine.maxDecodeBatch);
        try {
          for (const r of part) engine.truncate(r.context.length - 1, r.cache);
          const rows = engine.decode(part.map((r) => r.cache), part.map((r) => r.context[r.context.length - 1]!));
          this.stats.batches++;
          this.stats.sequences += part.length;
          part.forEach((r, j) => { r.out.set(rows[j]!); r.resolve(r.out); });
        } catch (e) {
          for (const r of part) { engine.truncate(0, r.cache); r.reject(e); }
        }
      }
      for (const r of alone) {
        try {
          r.resolve(feed(engine, r.cache, r.context, r.out).logits);
        } catch (e) {
          r.reject(e);
        }
      }
    } catch (e) {
      for (const r of requests) r.reject(e); // (a settled promise ignores it)
    } finally {
      release?.();
    }
  }
}

/**
 * A conversation over the model: its own KV cache and token history, the model's calling surface.
 * Every call reuses the longest cached prefix of its prompt (`timings.cachedTokens`).
 */
export class Session {
  private disposed = false;
  private readonly contextShift: ContextShift;

  /** @internal (options checked by checkSessionOptions) */
  constructor(private readonly core: ModelCore, private readonly cache: KvCache, options: SessionOptions = {},
    private readonly isDefault = false) {
    this.contextShift = options.contextShift ?? false;
    if (!isDefault) freeOnCollect.register(this, { core, cache }, this);
  }

  get info(): SessionInfo {
    this.alive();
    const engine = this.core.engine;
    return {
      contextLength: engine.contextLength, cachedTokens: this.cache.cached.length, kvType: this.cache.type, kvCacheBytes: this.cache.bytes,
    };
  }

  /**
   * Stream generated text. The prompt is text (BOS added as the model wants) or token ids; the cache
   * keeps what it shares with the previous call. See Model.generate.
   */
  generate(prompt: Prompt, options: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
    this.alive();
    return this.run(this.core.promptIds(prompt), options);
  }

  /**
   * Chat: the messages rendered with the model's chat template, then the assistant's reply, streamed
   * (with `tools`: the reply's toolCalls in the result). See Model.chatStream.
   */
  chatStream(messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<string, ChatResult> {
    this.alive();
    const tk = this.core.tokenizer;
    return chatStream((ids, opts) => {
      // a context shift keeps the rendered system prompt unless told
      let keep: number | undefined;
      const shift = opts.contextShift ?? this.contextShift;
      if (messages[0]?.role === 'system' && shift) {
        keep = commonPrefix(chatIds(tk, renderChat(tk, [messages[0]], { ...opts, addGenerationPrompt: false })), ids);
      }
      return this.run(this.core.checkIds(ids), opts, keep);
    }, tk, messages, options);
  }

  /** Chat to the end of the assistant's reply. */
  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return drain(this.chatStream(messages, options));
  }

  /** A JSON value generated under `options.schema`, streamed as it grows (see Model.generateObject). */
  generateObject<T = unknown>(prompt: Prompt, options: ObjectOptions): AsyncGenerator<DeepPartial<T>, T> {
    return streamObject<T>(this.generate(prompt, objectGenerateOptions(options)));
  }

  /** generateObject for a chat (see Model.chatObject). */
  chatObject<T = unknown>(messages: ChatMessage[], options: ObjectOptions & ChatTemplateOptions): AsyncGenerator<DeepPartial<T>, T> {
    return streamObject<T>(this.chatStream(messages, objectGenerateOptions(options)) as AsyncGenerator<string, CompleteResult>);
  }

  /** Generate to the end and return the whole result. */
  async complete(prompt: Prompt, options: GenerateOptions = {}): Promise<CompleteResult> {
    return drain(this.generate(prompt, options));
  }

  /**
   * Logits at every position of `tokenIds`, in a fresh context (earlier calls do not matter); the
   * session's cache is empty afterwards.
   */
  async logits(tokenIds: number[]): Promise<Float32Array[]> {
    this.alive();
    const ids = this.core.checkIds(tokenIds);
    return this.core.withEngine((engine) => {
      this.alive();
      const out: Float32Array[] = [];
      engine.truncate(0, this.cache);
      try {
        engine.evaluate(ids, 'all', (_first, rows) => { for (const r of rows) out.push(r.slice()); }, this.cache);
      } finally {
        engine.truncate(0, this.cache);
      }
      return out;
    });
  }

  /**
   * The session as bytes (the format: ARCHITECTURE.md, "Saved sessions"): the tokens and the KV rows
   * they use. `model.restoreSession(bytes)` — in this runtime or another — continues from here.
   */
  async save(): Promise<Uint8Array> {
    this.alive();
    return this.core.withEngine((engine) => {
      this.alive();
      const { tokens, layers } = engine.readRows(this.cache);
      const rowBytes = engine.rowBytes(this.cache.type);
      return encodeSession({
        fingerprint: this.core.fingerprint, kvType: KV_TYPES[this.cache.type], rowBytes, tokens,
        layers: layers.map((data) => ({ rows: data.length / 2 / rowBytes, data })),
      });
    });
  }

  /**
   * Free the session's KV cache (reused by the next session); later calls throw DISPOSED. A call in
   * progress finishes first. The model's own session is freed with the model.
   */
  dispose(): void {
    if (this.disposed || this.isDefault) return;
    this.disposed = true;
    freeOnCollect.unregister(this);
    freeCache(this.core, this.cache);
  }

  private alive(): void {
    if (this.disposed) throw new WasmlmError('DISPOSED', 'this session was disposed');
    this.core.alive();
  }

  private run(prompt: number[], options: GenerateOptions, defaultKeep?: number): AsyncGenerator<string, CompleteResult> {
    const opts = options !== null && typeof options === 'object' && options.contextShift === undefined && this.contextShift
      ? { ...options, contextShift: this.contextShift } : options;
    return generateText(this.sequence(), this.core.tokenizer, prompt, opts, defaultKeep);
  }

  /** The session as the generator's Sequence. */
  private sequence(): Sequence {
    const core = this.core, cache = this.cache;
    const engine = core.engine;
    // the logits of each step, copied out of wasm memory into one buffer per generation (no garbage per token)
    const out = new Float32Array(engine.spec.nVocab);
    return {
      contextLength: engine.contextLength,
      unbounded: engine.unbounded,
      get batching() { return core.generating > 1; },
      feed: async (context) => {
        this.alive();
        // one step while other generations run: batched with theirs
        if (core.generating > 1 && oneStep(cache, context)) {
          return { logits: await core.decodeQueue.decode(cache, context, () => this.alive(), out), reused: context.length - 1 };
        }
        return core.withEngine((e) => { this.alive(); return feed(e, cache, context, out); });
      },
      shift: (context, keep) => core.withEngine((e) => {
        this.alive();
        // the cache holds the context but its last token (or is brought there)
        const n = context.length - 1;
        e.truncate(n, cache);
        if (!oneStep(cache, context)) {
          const common = commonPrefix(cache.cached, context, n);
          e.truncate(common, cache);
          if (common < n) e.evaluate(context.slice(common, n), 'last', undefined, cache);
        }
        const drop = Math.floor((n - keep) / 2);
        e.shift(cache, keep, drop);
        return [...context.slice(0, keep), ...context.slice(keep + drop)];
      }),
      begin: () => {
        core.generating++;
        let ended = false;
        return () => { if (!ended) { ended = true; core.generating--; } };
      },
    };
  }
}

/** Give a cache back once the call computing now (if any) ends. */
function freeCache(core: ModelCore, cache: KvCache): void {
  void core.lock().then((release) => {
    core.engineRef?.freeCache(cache);
    release();
  });
}

/** A session dropped without dispose() gives its cache back when it is collected. */
const freeOnCollect = new FinalizationRegistry<{ core: ModelCore; cache: KvCache }>(({ core, cache }) => freeCache(core, cache));

/** Session options, checked before a cache is taken for them. */
export function checkSessionOptions(options: unknown, contextLength: number): SessionOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `session options must be an object, got ${kindOf(options)}`);
  }
  checkContextShift((options as SessionOptions).contextShift, contextLength, 0);
  checkKvType((options as SessionOptions).kvType);
  return options as SessionOptions;
}

/** Restore a saved session into a new cache of `core`'s model (nothing changes when the bytes are refused). */
export async function restoreSession(core: ModelCore, bytes: Uint8Array, opts?: SessionOptions): Promise<Session> {
  const options = checkSessionOptions(opts, core.engine.contextLength);
  return core.withEngine((engine) => {
    const type = options.kvType ?? engine.kvType;
    const state = decodeSession(bytes, {
      fingerprint: core.fingerprint, kvType: KV_TYPES[type], rowBytes: engine.rowBytes(type), layers: engine.spec.nLayer,
      contextLength: engine.contextLength, unbounded: engine.unbounded, vocabSize: core.vocabSize,
      usedRows: (i, n) => engine.usedRows(i, n),
    });
    const cache = engine.createCache(type);
    engine.writeRows(cache, { tokens: state.tokens, layers: state.layers.map((l) => l.data) });
    return new Session(core, cache, options);
  });
}

export async function drain<R>(it: AsyncGenerator<string, R>): Promise<R> {
  for (;;) {
    const step = await it.next();
    if (step.done) return step.value;
  }
}
