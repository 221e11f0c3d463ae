/** loadModel and the Model object: the public face of the engine, tokenizer and generator. */
import { Engine, type EngineOptions } from './engine/engine.js';
import { WasmlmError } from './errors.js';
import { typeName } from './formats/ggml-types.js';
import { readGGUFHeader, type GGUFHeader } from './formats/gguf.js';
import { describeSource, openSource, type ModelSource } from './formats/source.js';
import { resolveSpec } from './models/index.js';
import type { ModelSpec } from './models/spec.js';
import { generateText, type CompleteResult, type GenerateOptions } from './generate/generator.js';
import { tokenizerFromGGUF } from './tokenizer/gguf.js';
import type { Tokenizer } from './tokenizer/types.js';

/** The embedded default model (stories260K, MIT), shipped in the package. */
export const DEFAULT_MODEL_URL = new URL('../models/stories260K.gguf', import.meta.url);

export interface LoadOptions extends EngineOptions {
  /** worker threads; this version computes on one thread and says so in `model.info` */
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
  rope: ModelSpec['rope'];
  tiedOutput: boolean;
  /** bytes of weights per tensor type, e.g. { Q8_0: 123, F32: 456 } */
  weightTypes: Record<string, number>;
  weightBytes: number;
  memoryBytes: number;
  threads: number;
  threadsNote: string;
  loadMs: number;
}

export type Prompt = string | number[];

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
        this.engine.evaluate(ids, true, (_first, rows) => { for (const r of rows) out.push(r.slice()); });
      } finally {
        this.engine.truncate(0);
      }
      return out;
    } finally {
      release();
    }
  }

  /** Stream generated text. The prompt is text (BOS added as the model wants) or token ids. */
  generate(prompt: Prompt, options: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
    const ids = this.promptIds(prompt);
    const self = this;
    return (async function* () {
      const release = await self.lock();
      try {
        self.alive();
        return yield* generateText(self.engine, self.tokenizer, ids, options);
      } catch (e) {
        self.engine.truncate(0);
        throw e;
      } finally {
        release();
      }
    })();
  }

  /** Generate to the end and return the whole result. */
  async complete(prompt: Prompt, options: GenerateOptions = {}): Promise<CompleteResult> {
    const it = this.generate(prompt, options);
    for (;;) {
      const step = await it.next();
      if (step.done) return step.value;
    }
  }

  /** Release the model's memory (weights and KV cache); any later call throws DISPOSED. */
  dispose(): void {
    this.disposed = true;
    // a call in progress keeps its own reference; the memory goes when it ends
    void this.lock().then((release) => { this.engineRef = undefined; release(); });
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
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) {
      throw new WasmlmError('BAD_ARGUMENT', 'expected an array of token ids');
    }
    const list = Array.from(ids as ArrayLike<number>);
    if (list.length === 0) throw new WasmlmError('EMPTY_PROMPT', 'the prompt has no tokens');
    const V = this.info.vocabSize;
    list.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new WasmlmError('TOKEN_OUT_OF_RANGE', `token id ${id} at index ${i} is outside the vocabulary (0..${V - 1})`);
      }
    });
    if (list.length > this.engine.contextLength) {
      throw new WasmlmError('CONTEXT_FULL', `${list.length} tokens do not fit in the context of ${this.engine.contextLength}`);
    }
    return list;
  }

  private alive(): void {
    if (this.disposed) throw new WasmlmError('DISPOSED', 'this model was disposed');
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
export async function loadModel(source?: ModelSource, options: LoadOptions = {}): Promise<Model> {
  const t0 = performance.now();
  const src = source ?? DEFAULT_MODEL_URL;
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new WasmlmError('BAD_ARGUMENT', `threads must be a positive integer, got ${options.threads}`);
  }
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
    const weightTypes: Record<string, number> = {};
    let weightBytes = 0;
    let parameters = 0;
    for (const t of tensors.values()) {
      weightTypes[typeName(t.type)] = (weightTypes[typeName(t.type)] ?? 0) + t.nBytes;
      weightBytes += t.nBytes;
      parameters += t.nElements;
    }
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
      rope: spec.rope,
      tiedOutput: spec.tiedOutput,
      weightTypes,
      weightBytes,
      memoryBytes: engine.memoryBytes,
      threads: 1,
      threadsNote: (options.threads ?? 1) > 1
        ? `asked for ${options.threads} threads: this version computes on one thread`
        : 'one thread',
      loadMs: performance.now() - t0,
    };
    return new Model(engine, tokenizer, info);
  } finally {
    await stream.close();
  }
}
