/**
 * The page's side of a model that lives in a Web Worker: the same API as Model, each call a message.
 *
 * - `info` comes with the load; `tokenizer` is built on the page (on first use) from the vocabulary
 *   the worker read from the same file, so encode/decode stay synchronous as on a Model.
 * - `generate` / `chatStream` stream pieces as the worker makes them; an AbortSignal, or leaving the
 *   `for await` loop early, stops the worker's generation between two tokens.
 * - `dispose()` ends the worker (after a call in progress).
 */
import { checkSignal, kindOf, WasmlmError } from '../errors.js';
import { isSourceList, type GGUFSources } from '../formats/gguf-split.js';
import { isFileMap, openFolder, type HFFileMap } from '../formats/hf-files.js';
import { describeSource, type ModelSource } from '../formats/source.js';
import { tokenIdList } from '../token-ids.js';
import type { CompleteResult, GenerateOptions } from '../generate/generator.js';
import type { ChatMessage, ChatTemplateOptions } from '../generate/chat.js';
import { objectGenerateOptions, streamObject, type DeepPartial, type ObjectOptions } from '../generate/object.js';
import type { ChatOptions, ChatResult } from '../generate/tools.js';
import type { Adapter, EmbedOptions, Model, ModelInfo, Prompt } from '../model.js';
import type { Session, SessionInfo, SessionOptions } from '../session.js';
import { createOpenAI, type OpenAILike } from '../openai/client.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { resolveUrl } from './cache.js';
import { pageTokenizer, type PageTokenizer } from './load.js';
import { fromWireError, toWireError, type FromWorker, type ToWorker, type WireSource } from './protocol.js';
import { finetunedFromWire, type FinetunedAdapter, type FinetuneExample, type FinetuneOptions, type FinetuneProgress, type WireFinetuned } from '../train/finetune.js';

/** Everything public on a Session: what createSession / restoreSession give in every runtime. */
export type SessionLike = { [K in keyof Session]: Session[K] };

/**
 * Everything public on a Model: what loadModel returns in every runtime. Low-level training (createAdapter,
 * trainer) runs where the model is; the proxy offers finetune (in the worker, steps and abort across).
 */
export type ModelLike = {
  [K in Exclude<keyof Model, 'createSession' | 'restoreSession' | 'createAdapter' | 'trainer' | 'loadAdapter'>]: Model[K]
} & {
  /** Model's loadAdapter; a PEFT folder may also be the Files picked from it */
  loadAdapter(source: ModelSource | HFFileMap | FolderFiles, options?: { scale?: number; signal?: AbortSignal }): Promise<Adapter>;
  createSession(options?: SessionOptions): SessionLike;
  restoreSession(bytes: Uint8Array, options?: SessionOptions): Promise<SessionLike>;
};

type Handler = (m: FromWorker) => void;
type Request = ToWorker extends infer T ? T extends { id: number } ? Omit<T, 'id'> : never : never;

/** One worker and the requests in flight to it. @internal */
export class WorkerPort {
  private next = 1;
  private readonly handlers = new Map<number, Handler>();
  private readonly readers = new Map<number, ReadableStreamDefaultReader<Uint8Array>>();
  private dead: Error | undefined;
  private onDisposed: (() => void) | undefined;

  private constructor(private readonly worker: Worker) {
    worker.addEventListener('message', (ev: MessageEvent) => this.receive(ev.data as FromWorker));
    worker.addEventListener('error', (ev: Event) => {
      const msg = (ev as ErrorEvent).message;
      this.fail(new WasmlmError('WASM_FAILED', `the model's worker stopped${msg ? `: ${msg}` : ''}`));
    });
    worker.addEventListener('messageerror', () => {
      this.fail(new WasmlmError('WASM_FAILED', "a message from the model's worker could not be read"));
    });
  }

  /** Start a worker and wait until it is ready. */
  static async start(workerUrl: string | URL | undefined): Promise<WorkerPort> {
    let worker: Worker;
    const where = workerUrl === undefined ? 'model-worker.js beside the wasmlm bundle' : String(workerUrl);
    try {
      // the literal `new Worker(new URL('./model-worker.js', import.meta.url), ...)` lets bundlers find the worker
      worker = workerUrl !== undefined
        ? new Worker(workerUrl, { type: 'module', name: 'wasmlm' })
        : new Worker(new URL('./model-worker.js', import.meta.url), { type: 'module', name: 'wasmlm' });
    } catch (e) {
      throw new WasmlmError('WASM_FAILED', `could not start the model's worker (${where}): ${(e as Error)?.message ?? e}`, { cause: e });
    }
    await new Promise<void>((resolve, reject) => {
      const onMessage = (ev: MessageEvent) => {
        if ((ev.data as FromWorker)?.type === 'ready') done(resolve);
      };
      const onError = (ev: Event) => {
        const msg = (ev as ErrorEvent).message;
        done(() => reject(new WasmlmError('WASM_FAILED',
          `could not start the model's worker (${where})${msg ? `: ${msg}` : ': the script failed to load or run'}`)));
      };
      const done = (then: () => void) => {
        worker.removeEventListener('message', onMessage);
        worker.removeEventListener('error', onError);
        then();
      };
      worker.addEventListener('message', onMessage);
      worker.addEventListener('error', onError);
    }).catch((e: unknown) => {
      worker.terminate();
      throw e;
    });
    return new WorkerPort(worker);
  }

  /** Send a request; `handler` gets every message for it until `close(id)`. */
  open(request: Request, handler: Handler, transfer: Transferable[] = [], signal?: AbortSignal): number {
    const id = this.next++;
    if (this.dead) {
      const error = toWireError(this.dead);
      queueMicrotask(() => handler({ type: 'error', id, error }));
      return id;
    }
    let h = handler;
    if (signal) {
      const onAbort = () => this.post({ type: 'abort', id });
      signal.addEventListener('abort', onAbort, { once: true });
      h = (m) => {
        if (m.type === 'error' || m.type === 'result' || m.type === 'done' || m.type === 'loaded') signal.removeEventListener('abort', onAbort);
        handler(m);
      };
    }
    this.handlers.set(id, h);
    this.post({ ...request, id } as ToWorker, transfer);
    if (signal?.aborted) this.post({ type: 'abort', id });
    return id;
  }

  close(id: number): void {
    this.handlers.delete(id);
  }

  /** A request answered by one `result` (or `loaded`) message; `onInfo` gets a session's info that comes with it. */
  call<T>(request: Request, transfer: Transferable[] = [], signal?: AbortSignal, onOther?: Handler, onInfo?: (info: unknown) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.open(request, (m) => {
        if (m.type === 'result' || m.type === 'loaded') {
          this.close(id);
          if (m.type === 'result' && m.info !== undefined) onInfo?.(m.info);
          resolve((m.type === 'result' ? m.value : m) as T);
        } else if (m.type === 'error') {
          this.close(id);
          reject(fromWireError(m.error));
        } else {
          onOther?.(m);
        }
      }, transfer, signal);
    });
  }

  /** A request answered by pieces of text, then the result. */
  stream(method: 'generate' | 'chatStream', args: unknown[], signal: AbortSignal | undefined,
    session?: number, onInfo?: (info: unknown) => void): AsyncGenerator<string, CompleteResult> {
    const port = this;
    return (async function* () {
      const queue: FromWorker[] = [];
      let wake: (() => void) | undefined;
      const id = port.open({ type: 'stream', method, args, session }, (m) => {
        queue.push(m);
        wake?.();
      }, [], signal);
      let finished = false;
      try {
        for (;;) {
          while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
          wake = undefined;
          const m = queue.shift()!;
          if (m.type === 'piece') {
            yield m.text;
          } else if (m.type === 'done') {
            finished = true;
            if (m.info !== undefined) onInfo?.(m.info);
            return m.value as CompleteResult;
          } else if (m.type === 'error') {
            finished = true;
            throw fromWireError(m.error);
          }
        }
      } finally {
        port.close(id);
        // the caller left the loop early: stop the worker's generation (it ends as 'abort')
        if (!finished) port.post({ type: 'abort', id });
      }
    })();
  }

  post(m: ToWorker, transfer: Transferable[] = []): void {
    if (!this.dead) this.worker.postMessage(m, transfer);
  }

  /** A model source as it crosses to the worker (a stream is pumped on the worker's pulls). */
  wire(source: GGUFSources | HFFileMap | undefined): { wire: WireSource; transfer: Transferable[] } {
    if (source === undefined) return { wire: { kind: 'default' }, transfer: [] };
    if (isFileMap(source)) {
      const entries = Object.entries(source).map(([name, s]) => [name, this.wire(s)] as const);
      return {
        wire: { kind: 'files', files: Object.fromEntries(entries.map(([name, x]) => [name, x.wire])) },
        transfer: entries.flatMap(([, x]) => x.transfer),
      };
    }
    if (isSourceList(source)) {
      const items = source.map((x) => this.wire(x));
      return { wire: { kind: 'shards', items: items.map((x) => x.wire) }, transfer: items.flatMap((x) => x.transfer) };
    }
    if (typeof source === 'string') return { wire: { kind: 'url', href: resolveUrl(source) }, transfer: [] };
    if (source instanceof URL) return { wire: { kind: 'url', href: source.href }, transfer: [] };
    if (typeof Blob === 'function' && source instanceof Blob) return { wire: { kind: 'blob', blob: source }, transfer: [] };
    if (source instanceof ArrayBuffer) return { wire: { kind: 'bytes', bytes: source }, transfer: [] };
    if (ArrayBuffer.isView(source)) {
      const whole = source.byteOffset === 0 && source.byteLength === source.buffer.byteLength && source instanceof Uint8Array;
      // (cloning a view copies its whole buffer: copy just the view's bytes instead)
      const bytes = whole ? source : new Uint8Array(source.buffer, source.byteOffset, source.byteLength).slice();
      return { wire: { kind: 'bytes', bytes }, transfer: [] };
    }
    if (typeof ReadableStream === 'function' && source instanceof ReadableStream) {
      if (source.locked) throw new WasmlmError('BAD_ARGUMENT', 'the ReadableStream is locked (already being read)');
      const streamId = this.next++;
      this.readers.set(streamId, source.getReader());
      return { wire: { kind: 'stream', streamId }, transfer: [] };
    }
    throw new WasmlmError('BAD_ARGUMENT',
      `cannot read a model from ${describeSource(source)}: expected a URL, ArrayBuffer, Uint8Array, Blob or ReadableStream`);
  }

  /** End the worker once the calls in progress are over. */
  dispose(): void {
    if (this.dead) return;
    this.onDisposed = () => this.terminate();
    this.post({ type: 'dispose' });
  }

  terminate(): void {
    this.worker.terminate();
    this.fail(new WasmlmError('DISPOSED', 'this model was disposed'));
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    const error = toWireError(e);
    for (const [id, h] of [...this.handlers]) h({ type: 'error', id, error });
    this.handlers.clear();
    for (const r of this.readers.values()) void r.cancel().catch(() => {});
    this.readers.clear();
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'pull': void this.pump(m.streamId); return;
      case 'cancelStream': {
        const r = this.readers.get(m.streamId);
        this.readers.delete(m.streamId);
        void r?.cancel().catch(() => {});
        return;
      }
      case 'disposed': this.onDisposed?.(); return;
      case 'ready': return;
      default: this.handlers.get(m.id)?.(m);
    }
  }

  private async pump(streamId: number): Promise<void> {
    const reader = this.readers.get(streamId);
    if (!reader) return;
    try {
      const r = await reader.read();
      if (r.done) {
        this.readers.delete(streamId);
        this.post({ type: 'chunk', streamId, done: true });
        return;
      }
      const v: unknown = r.value;
      if (!ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer)) {
        throw new WasmlmError('BAD_ARGUMENT', `the stream produced a chunk that is not bytes (${Object.prototype.toString.call(v)})`);
      }
      // a copy the worker owns (the caller may still use its chunk's memory)
      const chunk = v instanceof ArrayBuffer ? new Uint8Array(v.slice(0)) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
      this.post({ type: 'chunk', streamId, chunk }, [chunk.buffer]);
    } catch (e) {
      this.readers.delete(streamId);
      this.post({ type: 'chunk', streamId, error: toWireError(e) });
    }
  }
}

/** A picked File (typed without the DOM library: the package's types need none). */
export interface PickedFile extends Blob {
  readonly name: string;
  /** its path from the picked folder on (the folder's own name first), '' when no folder was picked */
  readonly webkitRelativePath: string;
}

/** Files picked from a folder: what `<input type=file webkitdirectory>` gives (a FileList), or an array of Files. */
export type FolderFiles = ArrayLike<PickedFile>;

/**
 * Files picked as what they are: from a Hugging Face (or PEFT) folder, the map of their names in it
 * (webkitRelativePath without the picked folder's own name, else the file's name) — Files are a folder
 * when one of them is its config.json or adapter_config.json; other picked Files (a FileList) as an array
 * (a GGUF, or a split GGUF's shards). Undefined for anything else.
 */
export function pickedFiles(x: unknown): HFFileMap | PickedFile[] | undefined {
  const files: PickedFile[] | undefined = typeof FileList === 'function' && x instanceof FileList ? Array.from(x)
    : Array.isArray(x) && x.length > 0 && x.every((f) => typeof File === 'function' && f instanceof File) ? x as File[]
    : undefined;
  if (!files) return undefined;
  const map: HFFileMap = {};
  for (const f of files) {
    const rel = f.webkitRelativePath ? f.webkitRelativePath.split('/').slice(1).join('/') : '';
    map[rel || f.name] = f;
  }
  return 'config.json' in map || 'adapter_config.json' in map ? map : files;
}

/** A model running in a Web Worker, with the API of Model. */
export class WorkerModel implements ModelLike {
  readonly info: ModelInfo;
  #tokenizer: Tokenizer | undefined;
  #disposed = false;
  /** the model's own session */
  readonly #session: WorkerSession;

  /** @internal */
  constructor(private readonly port: WorkerPort, info: ModelInfo, private readonly vocab: PageTokenizer) {
    this.info = info;
    this.#session = new WorkerSession(port, info, () => this.alive());
  }

  /** Built on the page from the model file's vocabulary (a folder's tokenizer.json), the first time it is used. */
  get tokenizer(): Tokenizer {
    this.#tokenizer ??= pageTokenizer(this.vocab);
    return this.#tokenizer;
  }

  async logits(tokenIds: number[]): Promise<Float32Array[]> {
    return this.#session.logits(tokenIds);
  }

  createSession(options?: SessionOptions): SessionLike {
    this.alive();
    const s = new WorkerSession(this.port, this.info, () => this.alive());
    s.ready = this.port.call<number>({ type: 'createSession', options }, [], undefined, undefined, (info) => s.update(info));
    return s;
  }

  async restoreSession(bytes: Uint8Array, options?: SessionOptions): Promise<SessionLike> {
    this.alive();
    if (!(bytes instanceof Uint8Array)) {
      throw new WasmlmError('BAD_ARGUMENT', `restoreSession: bytes must be a Uint8Array (what session.save() gives), got ${bytes === null ? 'null' : typeof bytes}`);
    }
    const s = new WorkerSession(this.port, this.info, () => this.alive());
    // (the bytes are cloned once into the worker; the caller keeps its own)
    s.ready = this.port.call<number>({ type: 'restoreSession', bytes, options }, [], undefined, undefined, (info) => s.update(info));
    await s.ready;
    return s;
  }

  async embed(input: Prompt, options: EmbedOptions = {}): Promise<Float32Array> {
    this.checkPrompt(input);
    return this.port.call<Float32Array>({ type: 'call', method: 'embed', args: [input, options] });
  }

  async loadAdapter(given: ModelSource | HFFileMap | FolderFiles, options: { scale?: number; signal?: AbortSignal } = {}): Promise<Adapter> {
    let scale = checkScale(options.scale ?? 1);
    this.alive();
    const port = this.port;
    const picked = pickedFiles(given);
    // (an adapter GGUF is one file: one picked File is that file)
    const source = (Array.isArray(picked) ? (picked.length === 1 ? picked[0] : given) : picked ?? given) as ModelSource | HFFileMap;
    const { wire, transfer } = port.wire(source);
    let adapterId = 0;
    scale = await new Promise<number>((resolve, reject) => {
      adapterId = port.open({ type: 'adapter', source: wire, scale }, (m) => {
        if (m.type === 'result') { port.close(adapterId); resolve(m.value as number); }
        if (m.type === 'error') { port.close(adapterId); reject(fromWireError(m.error)); }
      }, transfer, options.signal);
    });
    const where = isFileMap(source) ? openFolder(source).description : describeSource(source);
    return this.applied(adapterId, scale, `adapter ${where}`);
  }

  /**
   * Model's finetune, run in the worker: onStep gets each step's progress from there, the signal stops it
   * between steps; the adapter's A/B come back to the page (save and weights work here), applied in the worker.
   */
  async finetune(examples: FinetuneExample[], options: FinetuneOptions = {}): Promise<FinetunedAdapter> {
    this.alive();
    if (typeof options !== 'object' || options === null) throw new WasmlmError('BAD_ARGUMENT', `finetune: options must be an object, got ${kindOf(options)}`);
    const { signal, onStep, ...rest } = options;
    checkSignal(signal, 'finetune');
    if (onStep !== undefined && typeof onStep !== 'function') throw new WasmlmError('BAD_ARGUMENT', `finetune: onStep must be a function, got ${kindOf(onStep)}`);
    const wire = await this.port.call<WireFinetuned>({ type: 'finetune', examples, options: { ...rest, progress: onStep !== undefined } }, [], signal,
      (m) => { if (m.type === 'step') onStep?.(m.progress as FinetuneProgress); });
    return finetunedFromWire(wire, this.applied(wire.adapterId, 1, 'the fine-tuned adapter'));
  }

  /** The page's handle on an adapter applied in the worker under `adapterId`. */
  private applied(adapterId: number, initial: number, what: string): Adapter {
    const port = this.port;
    let scale = initial;
    let removed = false;
    const usable = (call: string) => {
      if (removed) throw new WasmlmError('DISPOSED', `${what}: ${call} after remove()`);
      this.alive();
    };
    return {
      get scale() { return scale; },
      setScale(s: number) {
        usable('setScale()');
        scale = checkScale(s);
        port.post({ type: 'adapterScale', adapterId, scale });
      },
      remove() {
        usable('remove()');
        removed = true;
        port.post({ type: 'adapterRemove', adapterId });
      },
    };
  }

  generate(prompt: Prompt, options: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
    return this.#session.generate(prompt, options);
  }

  chatStream(messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<string, ChatResult> {
    return this.#session.chatStream(messages, options);
  }

  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return this.#session.chat(messages, options);
  }

  generateObject<T = unknown>(prompt: Prompt, options: ObjectOptions): AsyncGenerator<DeepPartial<T>, T> {
    return this.#session.generateObject<T>(prompt, options);
  }

  chatObject<T = unknown>(messages: ChatMessage[], options: ObjectOptions & ChatTemplateOptions): AsyncGenerator<DeepPartial<T>, T> {
    return this.#session.chatObject<T>(messages, options);
  }

  /** The generation's onSample hook cannot cross to the worker (so the OpenAI surface has no logprobs). */
  readonly sampleHook = false;

  /** The OpenAI client's surface over this model (logprobs are not available through the worker: a 400 naming `logprobs`). */
  openai(): OpenAILike {
    return createOpenAI(this);
  }

  async complete(prompt: Prompt, options: GenerateOptions = {}): Promise<CompleteResult> {
    return this.#session.complete(prompt, options);
  }

  /** Release the model: its worker ends once a call in progress is over; any later call throws DISPOSED. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.port.dispose();
  }

  private alive(): void {
    if (this.#disposed) throw new WasmlmError('DISPOSED', 'this model was disposed');
  }

  private checkPrompt(prompt: Prompt): void {
    this.alive();
    checkPrompt(prompt, this.info.vocabSize);
  }
}

/**
 * A session of a model in a Web Worker, with the API of Session: each call a message naming the session
 * (none: the model's own). `info` is the worker's, as of the session's last call.
 */
export class WorkerSession implements SessionLike {
  /** resolves with the worker's id for the session (0: the model's own) */
  ready: Promise<number> = Promise.resolve(0);
  #info: SessionInfo;
  #disposed = false;

  /** @internal */
  constructor(private readonly port: WorkerPort, private readonly model: ModelInfo, private readonly modelAlive: () => void) {
    this.#info = { contextLength: model.contextLength, cachedTokens: 0, kvType: model.kvType, kvCacheBytes: model.kvCacheBytes };
    this.ready.catch(() => {});
  }

  /** @internal */
  update(info: unknown): void {
    this.#info = info as SessionInfo;
  }

  get info(): SessionInfo {
    this.alive();
    return { ...this.#info };
  }

  generate(prompt: Prompt, options: GenerateOptions = {}): AsyncGenerator<string, CompleteResult> {
    this.checkPrompt(prompt);
    return this.streamed('generate', prompt, options);
  }

  chatStream(messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<string, ChatResult> {
    this.alive();
    return this.streamed('chatStream', messages, options) as AsyncGenerator<string, ChatResult>;
  }

  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    this.alive();
    return this.called<ChatResult>('chat', messages, options);
  }

  generateObject<T = unknown>(prompt: Prompt, options: ObjectOptions): AsyncGenerator<DeepPartial<T>, T> {
    return streamObject<T>(this.generate(prompt, objectGenerateOptions(options)));
  }

  chatObject<T = unknown>(messages: ChatMessage[], options: ObjectOptions & ChatTemplateOptions): AsyncGenerator<DeepPartial<T>, T> {
    return streamObject<T>(this.chatStream(messages, objectGenerateOptions(options)) as AsyncGenerator<string, CompleteResult>);
  }

  async complete(prompt: Prompt, options: GenerateOptions = {}): Promise<CompleteResult> {
    this.checkPrompt(prompt);
    return this.called<CompleteResult>('complete', prompt, options);
  }

  async logits(tokenIds: number[]): Promise<Float32Array[]> {
    this.alive();
    const ids = tokenIdList(tokenIds, this.model.vocabSize);
    return this.called<Float32Array[]>('logits', ids);
  }

  /** The session as bytes (made in the worker, transferred to the page). */
  async save(): Promise<Uint8Array> {
    this.alive();
    const session = await this.ready;
    if (session === 0) throw new WasmlmError('BAD_ARGUMENT', 'save(): the model\'s own calls are not a session: use model.createSession()');
    return this.port.call<Uint8Array>({ type: 'saveSession', session });
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    void this.ready.then((session) => { if (session) this.port.post({ type: 'disposeSession', session }); }, () => {});
  }

  private async called<T>(method: 'chat' | 'complete' | 'logits', first: unknown, options?: GenerateOptions): Promise<T> {
    const session = (await this.ready) || undefined;
    const { signal, ...rest } = options ?? {};
    const args = options === undefined ? [first] : [first, rest];
    return this.port.call<T>({ type: 'call', method, args, session }, [], signal, undefined, (info) => this.update(info));
  }

  private streamed(method: 'generate' | 'chatStream', first: unknown, options: GenerateOptions): AsyncGenerator<string, CompleteResult> {
    const { signal, ...rest } = options ?? {};
    const self = this;
    return (async function* () {
      const session = (await self.ready) || undefined;
      return yield* self.port.stream(method, [first, rest], signal, session, (info) => self.update(info));
    })();
  }

  private alive(): void {
    if (this.#disposed) throw new WasmlmError('DISPOSED', 'this session was disposed');
    this.modelAlive();
  }

  private checkPrompt(prompt: Prompt): void {
    this.alive();
    checkPrompt(prompt, this.model.vocabSize);
  }
}

/** What Model checks of a prompt before it starts (the rest is checked in the worker). */
function checkPrompt(prompt: Prompt, vocabSize: number): void {
  if (typeof prompt === 'string') {
    if (prompt.length === 0) throw new WasmlmError('EMPTY_PROMPT', 'the prompt is empty');
  } else {
    tokenIdList(prompt, vocabSize);
  }
}

function checkScale(v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WasmlmError('BAD_ARGUMENT', `adapter scale must be a finite number, got ${String(v)}`);
  return v;
}

