/** loadModel and the Model object: the public face of the engine, tokenizer and generator. */
import { Engine, type EngineOptions } from './engine/engine.js';
import { checkLoadOptions, type KvType } from './engine/options.js';
import { checkLoadBudget } from './engine/budget.js';
import { kindOf, WasmlmError } from './errors.js';
import { typeName } from './formats/ggml-types.js';
import { namingSource, readGGUFHeader, type GGUFHeader } from './formats/gguf.js';
import { openGGUFModel, type GGUFSources, type ShardOpener } from './formats/gguf-split.js';
import { describeSource, openSource, type ByteStream, type ModelSource } from './formats/source.js';
import { isFileMap, isFolderSource, openFolder, type HFFileMap } from './formats/hf-files.js';
import { openPeftAdapter } from './formats/peft.js';
import { hfDataStream, LOAD_QUANT_TYPES, openHFModel } from './formats/hf.js';
import { tokenizerFromJson } from './tokenizer/hf.js';
import { resolveSpec } from './models/index.js';
import { resolveAdapter, type AdapterPlan } from './models/lora.js';
import type { ModelSpec } from './models/spec.js';
import type { CompleteResult, GenerateOptions } from './generate/generator.js';
import type { ChatMessage, ChatTemplateOptions } from './generate/chat.js';
import { createOpenAI, type OpenAILike } from './openai/client.js';
import { checkSessionOptions, ModelCore, restoreSession, Session, type Prompt, type SessionOptions } from './session.js';
import { FingerprintInput } from './session-format.js';
import type { DeepPartial, ObjectOptions } from './generate/object.js';
import type { ChatOptions, ChatResult } from './generate/tools.js';
import { createAdapter, TrainableAdapter, type CreateAdapterOptions } from './train/adapter.js';
import { Trainer, type TrainerOptions } from './train/trainer.js';
import { finetune, type FinetuneExample, type FinetuneOptions, type FinetunedAdapter } from './train/finetune.js';
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
  /**
   * Hugging Face folders: quantize the weights while they load (llama-quantize's choice of tensors: 1-D
   * tensors and routers stay F32; a row that is not a whole number of blocks falls back as it does).
   * No full-precision copy of the model is kept: each group of rows is quantized as it is read.
   */
  quantize?: 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';
  /**
   * bytes the model may take (weights, KV cache, buffers: estimated from the header before anything is
   * allocated; more is OUT_OF_MEMORY, saying what would fit). Default: what the runtime allows (Node:
   * os.freemem(), Deno: available memory, workerd: 128 MiB, browsers: navigator.deviceMemory; see
   * src/engine/budget.ts memoryLimit). Infinity: no check.
   */
  maxMemory?: number;
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
  /** the block options beyond the basics */
  block: ModelInfo_Block;
  experts: { count: number; used: number } | undefined;
  tiedOutput: boolean;
  /** bytes of weights per tensor type and their share of all weight bytes, e.g. { Q8_0: { bytes, share } } */
  weightTypes: Record<string, { bytes: number; share: number }>;
  weightBytes: number;
  /** the KV cache's element type (loadModel's `kvType`, or its default for the model's weights; a session may choose its own) */
  kvType: KvType;
  /** bytes of the KV cache (keys and values of every layer, of kvType) of the model's own session; each session of that type has one as large */
  kvCacheBytes: number;
  /** bytes of the wasm memory: weights, KV cache, scratch (every shard's) */
  memoryBytes: number;
  /** wasm memories the model is split over by layers: 1 unless it does not fit one (4 GiB, or loadModel's maxShardBytes) */
  shards: number;
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
  | { kind: 'rope'; nRot: number; base: number; freqScale: number; mode: 'normal' | 'neox'; scaling: 'none' | 'linear' | 'yarn' | 'freq-factors' | 'longrope' }
  | { kind: 'alibi'; maxBias: number }
  | { kind: 'learned' };

export interface ModelInfo_Block {
  /** per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3) */
  qkNorm: boolean;
  /** sandwich norms: each branch's output normalised before the residual add (Gemma 2 / 3) */
  postNorms: boolean;
  /** attention scores are q·k times this */
  attentionScale: number;
  /** c·tanh(x/c) soft-capping of the attention scores and of the final logits (0 = none) */
  attentionSoftcap: number;
  finalSoftcap: number;
  /** the layers with a sliding window (slidingWindow) */
  slidingLayers: number[];
  /** the RoPE base of layers with their own (Gemma 3's sliding layers; undefined: none) */
  localRopeBase: number | undefined;
}

export type { Prompt } from './session.js';

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
  private readonly core: ModelCore;
  /** the model's own session: its methods are this session's */
  private readonly session: Session;

  /** @internal */
  constructor(engine: Engine, readonly tokenizer: Tokenizer, info: ModelInfo, fingerprint: Uint8Array) {
    this.core = new ModelCore(engine, tokenizer, info.vocabSize, fingerprint);
    this.session = new Session(this.core, engine.defaultCache, {}, true);
    this.info = info;
  }

  private get engine(): Engine {
    return this.core.engine;
  }

  private get engineRef(): Engine | undefined {
    return this.core.engineRef;
  }

  /**
   * A new session: a conversation with its own KV cache (`info.kvCacheBytes` of wasm memory, grown for
   * it; a disposed session's is reused) and the model's calling surface. Sessions are independent; while
   * several generate, their next tokens are computed in one forward pass.
   */
  createSession(options?: SessionOptions): Session {
    this.alive();
    const checked = checkSessionOptions(options, this.engine.contextLength);
    return new Session(this.core, this.engine.createCache(checked.kvType), checked);
  }

  /**
   * A session from `session.save()`'s bytes (saved in any runtime, by this model: SESSION_MISMATCH
   * otherwise; BAD_SESSION for bytes that are not a saved session). Its next call continues as the
   * saved session's would have.
   */
  async restoreSession(bytes: Uint8Array, options?: SessionOptions): Promise<Session> {
    this.alive();
    return restoreSession(this.core, bytes, options);
  }

  /** Logits at every position of `tokenIds` (a fresh context: earlier calls do not matter). */
  async logits(tokenIds: number[]): Promise<Float32Array[]> {
    return this.session.logits(tokenIds);
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
   * A trainable LoRA adapter on this model's weights (src/train/adapter.ts): targets by GGUF tensor name
   * ('attn_q', ..., 'ffn_down'), initial A/B from `init` by adapter tensor name, else as PEFT (A
   * Kaiming-uniform from `seed`, B zero).
   */
  createAdapter(options: CreateAdapterOptions): TrainableAdapter {
    return createAdapter(this.engine.spec, options);
  }

  /** A trainer (AdamW) for an adapter made by createAdapter: `gradients(batch)`, `step(batch)`. */
  trainer(adapter: TrainableAdapter, options: TrainerOptions): Trainer {
    if (!(adapter instanceof TrainableAdapter)) throw new WasmlmError('BAD_ARGUMENT', 'trainer: adapter must come from model.createAdapter()');
    return new Trainer(this.engine.trainingAccess(), adapter, options);
  }

  /**
   * Fine-tune a LoRA adapter on `examples` (src/train/finetune.ts): strings (every token learned),
   * `{ prompt, completion }` (the completion and EOS learned) or `{ messages }` (the assistant turns, as
   * the chat template renders them). Returns the adapter, applied to this model (`applied`: setScale,
   * remove); `signal` stops between steps with the adapter as trained so far (`aborted: true`).
   */
  async finetune(examples: FinetuneExample[], options: FinetuneOptions = {}): Promise<FinetunedAdapter> {
    this.alive();
    return finetune({
      tokenizer: this.tokenizer,
      contextLength: this.engine.contextLength,
      createAdapter: (o) => this.createAdapter(o),
      trainer: (a, o) => this.trainer(a, o),
      lock: async () => {
        const release = await this.lock();
        try { this.alive(); } catch (e) { release(); throw e; }
        return release;
      },
      apply: (gguf) => this.loadAdapter(gguf),
    }, examples, options);
  }

  /**
   * Apply a LoRA adapter at run time: y = W·x + s·B·(A·x) with s = scale · alpha / rank (rsLoRA:
   * alpha / √rank). The adapter is llama.cpp's adapter GGUF (any ModelSource), or a PEFT folder
   * (adapter_config.json + adapter_model.safetensors: a directory path, a URL ending in '/', or a map
   * of its file names to sources). Several adapters may be active at once.
   */
  async loadAdapter(source: ModelSource | HFFileMap, options: { scale?: number; signal?: AbortSignal } = {}): Promise<Adapter> {
    const checkScale = (v: number) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new WasmlmError('BAD_ARGUMENT', `adapter scale must be a finite number, got ${String(v)}`);
      return v;
    };
    let scale = checkScale(options.scale ?? 1);
    this.alive();
    const where = isFileMap(source) ? openFolder(source).description : describeSource(source as ModelSource);
    const opened = await openAdapter(source, this.engine.spec, options.signal);
    const { stream } = opened;
    try {
      let header: GGUFHeader;
      let plan: AdapterPlan;
      try {
        header = opened.header ?? await readGGUFHeader(stream);
        plan = resolveAdapter(header, this.engine.spec);
      } catch (e) {
        throw namingSource(e, where);
      }
      const release = await this.lock();
      try {
        this.alive();
        const engine = this.engine;
        const weights = await engine.addAdapter(header, stream, plan.pairs, plan.alpha, scale);
        engine.forgetAll(); // every session's cached keys and values were computed without it
        const self = this;
        let removed = false;
        const usable = (call: string) => {
          if (removed) throw new WasmlmError('DISPOSED', `adapter ${where}: ${call} after remove()`);
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
              self.engineRef?.forgetAll();
              done();
            });
          },
          remove() {
            usable('remove()');
            removed = true;
            void self.lock().then((done) => {
              self.engineRef?.removeAdapter(weights);
              self.engineRef?.forgetAll();
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
    return this.session.generate(prompt, options);
  }

  /**
   * Chat: the messages rendered with the model's chat template (ChatML when the file has none:
   * `info.chatTemplate` says which), then generation of the assistant's reply, streamed. Rendering is
   * bounded in time and size (see ChatTemplateOptions: TEMPLATE_LIMIT past them). With `tools`, the
   * result carries the reply's `toolCalls` (see tools.ts and the README's tool-calling section).
   */
  chatStream(messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<string, ChatResult> {
    return this.session.chatStream(messages, options);
  }

  /** Chat to the end of the assistant's reply. */
  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return this.session.chat(messages, options);
  }

  /**
   * A JSON value generated under `options.schema` (a JSON Schema), streamed as it grows: yields a
   * partial value each time a property or element starts, a string grows or a value completes (every
   * completed value as it ends up, strings still growing are prefixes, arrays grow); returns the final
   * value, which validates against the schema. The other options are generate()'s. A value cut off by
   * maxTokens or a full context is a BAD_OUTPUT error.
   */
  generateObject<T = unknown>(prompt: Prompt, options: ObjectOptions): AsyncGenerator<DeepPartial<T>, T> {
    return this.session.generateObject<T>(prompt, options);
  }

  /** generateObject for a chat: the messages rendered as chat() does, the reply a JSON value under `options.schema`. */
  chatObject<T = unknown>(messages: ChatMessage[], options: ObjectOptions & ChatTemplateOptions): AsyncGenerator<DeepPartial<T>, T> {
    return this.session.chatObject<T>(messages, options);
  }

  /** Generate to the end and return the whole result. */
  async complete(prompt: Prompt, options: GenerateOptions = {}): Promise<CompleteResult> {
    return this.session.complete(prompt, options);
  }

  /**
   * The `openai` package's client surface over this model, in-process: `chat.completions.create`,
   * `completions.create`, `embeddings.create`, `models.list` (see createOpenAI).
   */
  openai(): OpenAILike {
    return createOpenAI(this);
  }

  /**
   * Release the model's memory (weights and KV cache); any later call throws DISPOSED, and so does the
   * next step of a generation in progress. The memory goes once the call computing now (if any) ends.
   * Calling it again does nothing.
   */
  dispose(): void {
    if (this.core.disposed) return;
    this.core.disposed = true;
    // a call in progress keeps its own reference; the memory goes when it ends
    void this.core.lock().then((release) => {
      this.core.engineRef?.dispose(); // stops the worker threads
      this.core.engineRef = undefined;
      release();
    });
  }

  private promptIds(prompt: Prompt): number[] {
    return this.core.promptIds(prompt);
  }

  private alive(): void {
    this.core.alive();
  }

  private lock(): Promise<() => void> {
    return this.core.lock();
  }
}

/**
 * Load a model: a GGUF file (a path, URL, Blob, ArrayBuffer/Uint8Array or stream), a split GGUF (its first
 * shard's path or URL — the others are found by name — or all its shards as an array), or a Hugging Face
 * folder (a directory path, a URL ending in '/', or a map of its file names to sources); none = the
 * embedded model.
 */
export async function loadModel(source?: GGUFSources | HFFileMap, opts?: LoadOptions): Promise<Model> {
  return loadModelWith(source, opts);
}

/**
 * @internal loadModel with each file (or shard) opened by `openShard` (the browser entry: through its model
 * cache), and the model's header passed to `onHeader` (the browser worker sends the page its vocabulary)
 */
export async function loadModelWith(source: GGUFSources | HFFileMap | undefined, opts: LoadOptions | undefined,
  hooks: { openShard?: ShardOpener; onHeader?: (h: GGUFHeader, tokenizerFiles?: TokenizerFiles) => void } = {}): Promise<Model> {
  const t0 = performance.now();
  const options = checkLoadOptions(opts);
  const quantize = checkQuantizeOption(options.quantize);
  const src = source ?? DEFAULT_MODEL_URL ?? defaultModelUrl();
  const folder = await isFolderSource(src);
  if (!folder && quantize !== undefined) {
    throw new WasmlmError('BAD_ARGUMENT', `quantize: applies to Hugging Face folders; for a GGUF file use \`wasmlm quantize\``);
  }
  // what loading keeps of the header; the header itself is let go before the weights stream (openModel)
  const { spec, tensors, tok, fingerprint, dataOffset, stream } = await openModel(src, folder, quantize, options, hooks);
  try {
    await checkLoadBudget(spec, tensors, options);
    const engine = await Engine.load(spec, tensors, { dataOffset }, stream, options);
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
        scaling: p.yarn ? 'yarn' : p.longrope ? 'longrope' : p.freqFactors ? 'freq-factors' : p.freqScale !== 1 ? 'linear' : 'none',
      },
      residual: spec.residual,
      slidingWindow: Math.max(0, ...spec.layers.map((l) => l.attn.slidingWindow)),
      block: {
        qkNorm: spec.layers.some((l) => l.attn.qNorm),
        postNorms: spec.layers.some((l) => l.attnPostNorm || l.ffnPostNorm),
        attentionScale: spec.kqScale,
        attentionSoftcap: spec.attnSoftcap,
        finalSoftcap: spec.finalSoftcap,
        slidingLayers: spec.layers.flatMap((l, i) => (l.attn.slidingWindow > 0 ? [i] : [])),
        localRopeBase: spec.layers.find((l) => l.attn.rope)?.attn.rope?.base,
      },
      experts: spec.layers[0]?.moe ? { count: spec.layers[0].moe.nExpert, used: spec.layers[0].moe.nUsed } : undefined,
      tiedOutput: spec.tiedOutput,
      weightTypes,
      weightBytes,
      kvType: engine.kvType,
      kvCacheBytes: engine.kvCacheBytes,
      memoryBytes: engine.memoryBytes,
      shards: engine.shardCount,
      threads: engine.threads,
      threadsNote: engine.threadsNote,
      kernels: engine.kernelVariant,
      chatTemplate: typeof tok.chatTemplate === 'string',
      loadMs: performance.now() - t0,
    };
    return new Model(engine, tok, info, await fingerprint.digest(engine.weightSample()));
  } finally {
    await stream.close();
  }
}

/**
 * Open the model and read its header into what loading keeps: the spec, the tensor index, the tokenizer (a
 * GGUF's from its vocabulary, a folder's from tokenizer.json) and the fingerprint's bytes. The header goes
 * no further (it is a local here): once the tokenizer is built, its vocabulary arrays that nothing keeps (a
 * BPE vocabulary's merges, the token types) can be collected before the weights fill the wasm memories.
 */
async function openModel(src: GGUFSources | HFFileMap, folder: boolean, quantize: string | undefined, options: LoadOptions,
  hooks: { openShard?: ShardOpener; onHeader?: (h: GGUFHeader, tokenizerFiles?: TokenizerFiles) => void }) {
  let header: GGUFHeader;
  let stream: ByteStream;
  let tokenizer: Tokenizer | undefined; // a GGUF's: from its header, below (its errors name the file)
  let tokenizerFiles: TokenizerFiles | undefined;
  if (folder) {
    ({ header, stream, tokenizer, tokenizerFiles } = await openHFFolder(src as string | URL | HFFileMap, quantize, options));
  } else {
    ({ header, stream } = await openGGUFModel(src as GGUFSources, { signal: options.signal, onProgress: options.onProgress }, hooks.openShard));
  }
  try {
    const { spec, tensors } = resolveSpec(header);
    const tok = tokenizer ?? tokenizerFromGGUF(header);
    hooks.onHeader?.(header, tokenizerFiles);
    const fingerprint = new FingerprintInput(header, Engine.weightSampleBytes(spec));
    return { spec, tensors, tok, fingerprint, dataOffset: header.dataOffset, stream };
  } catch (e) {
    await stream.close();
    throw e;
  }
}

/** The `quantize` load option: undefined or one of LOAD_QUANT_TYPES. */
function checkQuantizeOption(q: unknown): string | undefined {
  if (q === undefined) return undefined;
  if (typeof q !== 'string' || !(LOAD_QUANT_TYPES as readonly string[]).includes(q)) {
    throw new WasmlmError('BAD_ARGUMENT', `quantize must be one of ${LOAD_QUANT_TYPES.map((t) => `'${t}'`).join(', ')}, got ${typeof q === 'string' ? `'${q}'` : kindOf(q)}`);
  }
  return q;
}

/** @internal A folder's tokenizer.json and tokenizer_config.json, parsed (what tokenizerFromJson takes). */
export interface TokenizerFiles { json: unknown; config: unknown }

/** A Hugging Face folder: its GGUF-like header, the stream producing its tensors, its tokenizer.json's tokenizer. */
async function openHFFolder(src: string | URL | HFFileMap, quantize: string | undefined, options: LoadOptions):
  Promise<{ header: GGUFHeader; stream: ByteStream; tokenizer: Tokenizer; tokenizerFiles: TokenizerFiles }> {
  const folder = openFolder(src, options.signal);
  const hf = await openHFModel(folder, { type: quantize }).catch((e: unknown) => { throw namingSource(e, folder.description); });
  try {
    if (!hf.tokenizerJson) throw new WasmlmError('IO_ERROR', `${folder.description}: no tokenizer.json`);
    const tokenizer = tokenizerFromJson(hf.tokenizerJson, hf.tokenizerConfig);
    return { header: hf.header, stream: hfDataStream(hf, options), tokenizer, tokenizerFiles: { json: hf.tokenizerJson, config: hf.tokenizerConfig } };
  } catch (e) {
    await hf.close();
    throw namingSource(e, folder.description);
  }
}

/** An adapter source: a PEFT folder (its header built here) or a GGUF stream (the header still to read). */
async function openAdapter(source: ModelSource | HFFileMap, spec: ModelSpec, signal: AbortSignal | undefined):
  Promise<{ header: GGUFHeader | undefined; stream: ByteStream }> {
  if (await isFolderSource(source)) {
    const folder = openFolder(source as string | URL | HFFileMap, signal);
    try {
      return await openPeftAdapter(folder, { arch: spec.arch, nHead: spec.nHead, nHeadKv: spec.nHeadKv });
    } catch (e) {
      throw namingSource(e, folder.description);
    }
  }
  return { header: undefined, stream: await openSource(source as ModelSource, { signal }) };
}
