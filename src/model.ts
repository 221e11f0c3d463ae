/** loadModel and the Model object: the public face of the engine, tokenizer and generator. */
import { Engine, type EngineOptions } from './engine/engine.js';
import { checkLoadOptions } from './engine/options.js';
import { WasmlmError } from './errors.js';
import { typeName } from './formats/ggml-types.js';
import { readGGUFHeader, type GGUFHeader } from './formats/gguf.js';
import { describeSource, openSource, type ModelSource } from './formats/source.js';
import { resolveSpec } from './models/index.js';
import { resolveAdapter, type AdapterPlan } from './models/lora.js';
import type { ModelSpec } from './models/spec.js';
import { generateText, type CompleteResult, type GenerateOptions } from './generate/generator.js';
import type { ChatMessage, ChatTemplateOptions } from './generate/chat.js';
import { objectGenerateOptions, streamObject, type DeepPartial, type ObjectOptions } from './generate/object.js';
import { chatStream, type ChatOptions, type ChatResult } from './generate/tools.js';
import { tokenIdList } from './token-ids.js';
import { tokenizerFromGGUF } from './tokenizer/gguf.js';
import type { Tokenizer } from './tokenizer/types.js';

/**
 * The embedded default model (stories260K, MIT), shipped in the package: its URL, next to this module.
 * Throws a WasmlmError where modules have no import.meta.url (workerd's default module registry,
 * wrangler), so only when the default model is asked for: there, pass the model as a source.
 */
export function defaultModelUrl(): URL {
  try {
    return new URL('../models/stories260K.gguf', import.meta.url);
  } catch (e) {
    throw new WasmlmError('BAD_ARGUMENT',
      'no model source given, and the embedded model cannot be located: this runtime gives wasmlm\'s module ' +
      'no import.meta.url (e.g. workerd without the new_module_registry compatibility flag); pass the model ' +
      'to loadModel as a source (an ArrayBuffer, Uint8Array, Blob, ReadableStream or URL)', { cause: e });
  }
}

/**
 * The embedded default model's URL (what loadModel() loads when given no source). Undefined, rather
 * than an exception when the package loads, where modules have no import.meta.url (workerd's default
 * module registry): the embedded model cannot be located there (loadModel() says so), pass a source.
 */
export const DEFAULT_MODEL_URL: URL | undefined = (() => {
  try {
    return defaultModelUrl();
  } catch {
    return undefined;
  }
})();

export interface LoadOptions extends EngineOptions {
  /**
   * threads that compute (a worker pool over one shared memory); default: the cores available, except
   * for tiny models (under 0.5 MiB of weights per layer: threads cost them more than they save). Where
   * threads are not possible (no SharedArrayBuffer, a page that is not cross-origin isolated, no
   * Worker as in workerd) the model runs on one thread and `model.info.threadsNote` says why.
   */
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (progress: { loaded: number; total: number | undefined }) => void;
}

export interface ModelInfo {
  family: string;
  architecture: string;
  name: string | undefined;
  parameters: number;
  vocabSize: number;
  embeddingLength: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headSize: number;
  feedForwardLength: number;
  /** the context length this model object holds in its KV cache */
  contextLength: number;
  /** the context length the model was trained with */
  trainContextLength: number;
  /** how positions are encoded: RoPE (with its settings), ALiBi or learned */
  positions: ModelInfo_Positions;
  residual: ModelSpec['residual'];
  /** sliding attention window (0 = none) */
  slidingWindow: number;
  experts: { count: number; used: number } | undefined;
  tiedOutput: boolean;
  /** bytes of weights per tensor type and their share of all weight bytes, e.g. { Q8_0: { bytes, share } } */
  weightTypes: Record<string, { bytes: number; share: number }>;
  weightBytes: number;
  /** bytes of the KV cache (keys and values of every layer, f32) */
  kvCacheBytes: number;
  /** bytes of the wasm memory: weights, KV cache, scratch */
  memoryBytes: number;
  /** threads that compute: this one plus threads − 1 workers */
  threads: number;
  /** how `threads` was chosen, or why it is 1 */
  threadsNote: string;
  /** the kernel build in use: 'simd', or 'relaxed-simd' where the runtime has it and passes a self-test */
  kernels: string;
  /**
   * whether the file carries a chat template (tokenizer.chat_template); without one, chat() renders
   * ChatML, which a base model (or one trained on another format) answers poorly
   */
  chatTemplate: boolean;
  loadMs: number;
}

export type ModelInfo_Positions =
  | { kind: 'rope'; nRot: number; base: number; freqScale: number; mode: 'normal' | 'neox'; scaling: 'none' | 'linear' | 'yarn' | 'freq-factors' }
  | { kind: 'alibi'; maxBias: number }
  | { kind: 'learned' };

export type Prompt = string | number[];

export interface EmbedOptions {
  /** 'mean' over every position (BOS included) or the 'last' position; default 'mean' */
  pooling?: 'mean' | 'last';
  /** L2-normalise the result; default false */
  normalize?: boolean;
}

/** A LoRA adapter applied to a model at run time (never merged into its weights). */
export interface Adapter {
  readonly scale: number;
  /** takes effect from the next call; after remove() (or the model's dispose()) throws DISPOSED */
  setScale(scale: number): void;
  /** takes effect from the next call; a second remove() throws DISPOSED */
  remove(): void;
}

export class Model {
  readonly info: ModelInfo;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private engineRef: Engine | undefined;

  /** @internal */
  constructor(engine: Engine, readonly tokenizer: Tokenizer, info: ModelInfo) {
    this.engineRef = engine;
    this.info = info;
  }

  private get engine(): Engine {
    if (!this.engineRef) throw new WasmlmError('DISPOSED', 'this model was disposed');
    return this.engineRef;
  }

  /** Logits at every position of `tokenIds` (a fresh context: earlier calls do not matter). */
  async logits(tokenIds: number[]): Promise<Float32Array[]> {
    const ids = this.checkIds(tokenIds);
    const release = await this.lock();
    try {
      this.alive();
      const out: Float32Array[] = [];
      this.engine.truncate(0);
      try {
        this.engine.evaluate(ids, 'all', (_first, rows) => { for (const r of rows) out.push(r.slice()); });
      } finally {
        this.engine.truncate(0);
      }
      return out;
    } finally {
      release();
    }
  }

  /**
   * An embedding: the final hidden state (after the output norm, before the output projection),
   * pooled over the positions of `input` (text gets BOS as the model wants).
   */
  async embed(input: Prompt, options: EmbedOptions = {}): Promise<Float32Array> {
    const pooling = options.pooling ?? 'mean';
    if (pooling !== 'mean' && pooling !== 'last') throw new WasmlmError('BAD_ARGUMENT', `pooling must be 'mean' or 'last', got '${String(pooling)}'`);
    const ids = this.promptIds(input);
    const release = await this.lock();
    try {
      this.alive();
      const E = this.info.embeddingLength;
      const sum = new Float64Array(E);
      this.engine.truncate(0);
      try {
        this.engine.evaluate(ids, 'hidden', (first, rows) => {
          rows.forEach((row, r) => {
            if (pooling === 'mean' || first + r === ids.length - 1) for (let i = 0; i < E; i++) sum[i] += row[i]!;
          });
        });
      } finally {
        this.engine.truncate(0);
      }
      const out = new Float32Array(E);
      const div = pooling === 'mean' ? ids.length : 1;
      let norm = 0;
      for (let i = 0; i < E; i++) { out[i] = sum[i]! / div; norm += out[i]! * out[i]!; }
      if (options.normalize) {
        const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
        for (let i = 0; i < E; i++) out[i] = out[i]! * inv;
      }
      return out;
    } finally {
      release();
    }
  }

  /**
   * Apply a LoRA adapter (llama.cpp's adapter GGUF) at run time: y = W·x + s·B·(A·x) with
   * s = scale · alpha / rank. Several adapters may be active at once.
   */
  async loadAdapter(source: ModelSource, options: { scale?: number; signal?: AbortSignal } = {}): Promise<Adapter> {
    const checkScale = (v: number) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new WasmlmError('BAD_ARGUMENT', `adapter scale must be a finite number, got ${String(v)}`);
      return v;
    };
    let scale = checkScale(options.scale ?? 1);
    this.alive();
    const stream = await openSource(source, { signal: options.signal });
    try {
      let header: GGUFHeader;
      let plan: AdapterPlan;
      try {
        header = await readGGUFHeader(stream);
        plan = resolveAdapter(header, this.engine.spec);
      } catch (e) {
        if (e instanceof WasmlmError) throw new WasmlmError(e.code, `${describeSource(source)}: ${e.message}`, { cause: e });
        throw e;
      }
      const release = await this.lock();
      try {
        this.alive();
        const engine = this.engine;
        const weights = await engine.addAdapter(header, stream, plan.pairs, plan.alpha, scale);
        engine.truncate(0);
        const self = this;
        let removed = false;
        const usable = (call: string) => {
          if (removed) throw new WasmlmError('DISPOSED', `adapter ${describeSource(source)}: ${call} after remove()`);
          self.alive();
        };
        return {
          get scale() { return scale; },
          setScale(s: number) {
            usable('setScale()');
            scale = checkScale(s);
            // applied between calls: keys and values cached with the old scale are dropped
            void self.lock().then((done) => {
              weights.userScale = scale;
              self.engineRef?.truncate(0);
              done();
            });
          },
          remove() {
            usable('remove()');
            removed = true;
            void self.lock().then((done) => {
              self.engineRef?.removeAdapter(weights);
              self.engineRef?.truncate(0);
              done();
            });
          },
        };
      } finally {
        release();
      }
    } finally {
      await stream.close();
    }
  }

  /**
   * Stream generated text. The prompt is text (BOS added as the model wants) or token ids.
   *
   * Calls on one model take turns (they queue). A generator holds the model only while it computes a
   * token, not while it waits for you to ask for the next piece: several generators (and other calls)
   * may be driven in any order, and one that is neither drained nor return()ed blocks nothing. A
   * generator resumed after another call used the model reads its context (prompt and text so far)
   * into the cache again. After dispose() its next step throws DISPOSED.
   */
  generate(prompt: Prompt, options: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
    const ids = this.promptIds(prompt);
    return generateText(() => this.turn(), this.tokenizer, ids, options);
  }

  /**
   * Chat: the messages rendered with the model's chat template (ChatML when the file has none:
   * `info.chatTemplate` says which), then generation of the assistant's reply, streamed. Rendering is
   * bounded in time and size (see ChatTemplateOptions: TEMPLATE_LIMIT past them). With `tools`, the
   * result carries the reply's `toolCalls` (see tools.ts and the README's tool-calling section).
   */
  chatStream(messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<string, ChatResult> {
    return chatStream((ids, o) => this.generate(ids, o), this.tokenizer, messages, options);
  }

  /** Chat to the end of the assistant's reply. */
  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return this.drain(this.chatStream(messages, options));
  }

  /**
   * A JSON value generated under `options.schema` (a JSON Schema), streamed as it grows: yields a
   * partial value each time a property or element starts, a string grows or a value completes (every
   * completed value as it ends up, strings still growing are prefixes, arrays grow); returns the final
   * value, which validates against the schema. The other options are generate()'s. A value cut off by
   * maxTokens or a full context is a BAD_OUTPUT error.
   */
  generateObject<T = unknown>(prompt: Prompt, options: ObjectOptions): AsyncGenerator<DeepPartial<T>, T> {
    return streamObject<T>(this.generate(prompt, objectGenerateOptions(options)));
  }

  /** generateObject for a chat: the messages rendered as chat() does, the reply a JSON value under `options.schema`. */
  chatObject<T = unknown>(messages: ChatMessage[], options: ObjectOptions & ChatTemplateOptions): AsyncGenerator<DeepPartial<T>, T> {
    return streamObject<T>(this.chatStream(messages, objectGenerateOptions(options)) as AsyncGenerator<string, CompleteResult>);
  }

  /** Generate to the end and return the whole result. */
  async complete(prompt: Prompt, options: GenerateOptions = {}): Promise<CompleteResult> {
    return this.drain(this.generate(prompt, options));
  }

  private async drain<R>(it: AsyncGenerator<string, R>): Promise<R> {
    for (;;) {
      const step = await it.next();
      if (step.done) return step.value;
    }
  }

  /**
   * Release the model's memory (weights and KV cache); any later call throws DISPOSED, and so does the
   * next step of a generation in progress. The memory goes once the call computing now (if any) ends.
   * Calling it again does nothing.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // a call in progress keeps its own reference; the memory goes when it ends
    void this.lock().then((release) => {
      this.engineRef?.dispose(); // stops the worker threads
      this.engineRef = undefined;
      release();
    });
  }

  private promptIds(prompt: Prompt): number[] {
    this.alive();
    if (typeof prompt === 'string') {
      if (prompt.length === 0) throw new WasmlmError('EMPTY_PROMPT', 'the prompt is empty');
      return this.checkIds(this.tokenizer.encode(prompt, { addSpecial: true }));
    }
    return this.checkIds(prompt);
  }

  private checkIds(ids: unknown): number[] {
    this.alive();
    const list = tokenIdList(ids, this.info.vocabSize);
    if (!this.engine.unbounded && list.length > this.engine.contextLength) {
      throw new WasmlmError('CONTEXT_FULL', `${list.length} tokens do not fit in the context of ${this.engine.contextLength}`);
    }
    return list;
  }

  private alive(): void {
    if (this.disposed) throw new WasmlmError('DISPOSED', 'this model was disposed');
  }

  /** The engine, once no other call uses it (DISPOSED if the model was disposed meanwhile). */
  private async turn(): Promise<{ engine: Engine; release: () => void }> {
    const release = await this.lock();
    try {
      this.alive();
      return { engine: this.engine, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Calls that use the KV cache take turns. */
  private lock(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => { release = resolve; });
    const before = this.queue;
    this.queue = before.then(() => turn);
    return before.then(() => release);
  }
}

/** Load a GGUF model: a path, URL, Blob, ArrayBuffer/Uint8Array or stream; none = the embedded model. */
export async function loadModel(source?: ModelSource, opts?: LoadOptions): Promise<Model> {
  const t0 = performance.now();
  const options = checkLoadOptions(opts);
  const src = source ?? DEFAULT_MODEL_URL ?? defaultModelUrl();
  const stream = await openSource(src, { signal: options.signal, onProgress: options.onProgress });
  try {
    let header: GGUFHeader;
    try {
      header = await readGGUFHeader(stream);
    } catch (e) {
      if (e instanceof WasmlmError) {
        throw new WasmlmError(e.code, `${describeSource(src)}: ${e.message}`, { cause: e });
      }
      throw e;
    }
    const { spec, tensors } = resolveSpec(header);
    const tokenizer = tokenizerFromGGUF(header);
    const engine = await Engine.load(spec, tensors, header, stream, options);
    const weightTypes: Record<string, { bytes: number; share: number }> = {};
    let weightBytes = 0;
    let parameters = 0;
    for (const t of tensors.values()) {
      (weightTypes[typeName(t.type)] ??= { bytes: 0, share: 0 }).bytes += t.nBytes;
      weightBytes += t.nBytes;
      parameters += t.nElements;
    }
    for (const e of Object.values(weightTypes)) e.share = e.bytes / weightBytes;
    const p = spec.positions;
    const info: ModelInfo = {
      family: spec.family,
      architecture: spec.arch,
      name: spec.name || undefined,
      parameters,
      vocabSize: spec.nVocab,
      embeddingLength: spec.nEmbd,
      layers: spec.nLayer,
      heads: spec.nHead,
      kvHeads: spec.nHeadKv,
      headSize: spec.headDim,
      feedForwardLength: spec.nFf,
      contextLength: engine.contextLength,
      trainContextLength: spec.contextLength,
      positions: p.kind === 'learned' ? { kind: 'learned' } : p.kind === 'alibi' ? p : {
        kind: 'rope', nRot: p.nRot, base: p.base, freqScale: p.freqScale, mode: p.mode,
        scaling: p.yarn ? 'yarn' : p.freqFactors ? 'freq-factors' : p.freqScale !== 1 ? 'linear' : 'none',
      },
      residual: spec.residual,
      slidingWindow: Math.max(0, ...spec.layers.map((l) => l.attn.slidingWindow)),
      experts: spec.layers[0]?.moe ? { count: spec.layers[0].moe.nExpert, used: spec.layers[0].moe.nUsed } : undefined,
      tiedOutput: spec.tiedOutput,
      weightTypes,
      weightBytes,
      kvCacheBytes: engine.kvCacheBytes,
      memoryBytes: engine.memoryBytes,
      threads: engine.threads,
      threadsNote: engine.threadsNote,
      kernels: engine.kernelVariant,
      chatTemplate: typeof tokenizer.chatTemplate === 'string',
      loadMs: performance.now() - t0,
    };
    return new Model(engine, tokenizer, info);
  } finally {
    await stream.close();
  }
}
