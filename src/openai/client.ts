/**
 * The OpenAI client's surface in-process: `createOpenAI(model)` (or `model.openai()`) answers
 * `chat.completions.create`, `completions.create`, `embeddings.create` and `models.list` as the `openai`
 * package's client does, with no server: the same parameters, results, stream chunks and errors
 * (OpenAIError: a WasmlmError with `status`, `error`, `type`, `param`).
 */
import { toOpenAIError } from './errors.js';
import { chatRequest, completionRequest, embeddingRequest } from './params.js';
import { OpenAIService, type OpenAIModel, type OpenAIServiceOptions } from './service.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChunkStream, Completion, CompletionChunk,
  CompletionCreateParams, CreateEmbeddingResponse, EmbeddingCreateParams, ModelObject, RequestOptions,
} from './types.js';

type Streaming = { stream: true };
type NotStreaming = { stream?: false | null };

export interface OpenAILike {
  chat: {
    completions: {
      create(params: ChatCompletionCreateParams & Streaming, options?: RequestOptions): Promise<ChunkStream<ChatCompletionChunk>>;
      create(params: ChatCompletionCreateParams & NotStreaming, options?: RequestOptions): Promise<ChatCompletion>;
      create(params: ChatCompletionCreateParams, options?: RequestOptions): Promise<ChatCompletion | ChunkStream<ChatCompletionChunk>>;
    };
  };
  completions: {
    create(params: CompletionCreateParams & Streaming, options?: RequestOptions): Promise<ChunkStream<CompletionChunk>>;
    create(params: CompletionCreateParams & NotStreaming, options?: RequestOptions): Promise<Completion>;
    create(params: CompletionCreateParams, options?: RequestOptions): Promise<Completion | ChunkStream<CompletionChunk>>;
  };
  embeddings: { create(params: EmbeddingCreateParams, options?: RequestOptions): Promise<CreateEmbeddingResponse> };
  models: { list(): Promise<{ object: 'list'; data: ModelObject[] }> };
}

/** The signal the stream's controller aborts, following the caller's too. */
function streamSignal(options: RequestOptions | undefined): AbortController {
  const controller = new AbortController();
  const outer = options?.signal;
  if (outer) {
    if (outer.aborted) controller.abort(outer.reason);
    else outer.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
  }
  return controller;
}

/** A stream of chunks whose errors are OpenAIErrors; the first chunk is computed before it resolves (errors first). */
async function stream<T>(make: (signal: AbortSignal) => AsyncGenerator<T, unknown>, options: RequestOptions | undefined): Promise<ChunkStream<T>> {
  const controller = streamSignal(options);
  const it = make(controller.signal);
  let first: IteratorResult<T, unknown>;
  try {
    first = await it.next();
  } catch (e) {
    throw toOpenAIError(e);
  }
  let used = false;
  return {
    controller,
    async *[Symbol.asyncIterator]() {
      if (used) throw new TypeError('this stream was iterated already');
      used = true;
      try {
        if (first.done) return;
        yield first.value;
        for (;;) {
          const step = await it.next();
          if (step.done) return;
          yield step.value;
        }
      } catch (e) {
        throw toOpenAIError(e);
      } finally {
        await it.return(undefined);
      }
    },
  };
}

async function mapped<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toOpenAIError(e);
  }
}

/** The OpenAI client's surface over `model`, in-process. Requests take turns on the model. */
export function createOpenAI(model: OpenAIModel, options: OpenAIServiceOptions = {}): OpenAILike {
  const service = new OpenAIService(model, options);
  const vocab = () => model.info.vocabSize;
  const signal = (o: RequestOptions | undefined) => o?.signal ?? undefined;
  return {
    chat: {
      completions: {
        create: ((params: ChatCompletionCreateParams, options?: RequestOptions) => mapped(async () => {
          const req = chatRequest(params, vocab());
          if (req.stream) return stream((s) => service.chatChunks(req, model, s), options);
          return service.chat(req, model, signal(options));
        })) as OpenAILike['chat']['completions']['create'],
      },
    },
    completions: {
      create: ((params: CompletionCreateParams, options?: RequestOptions) => mapped(async () => {
        const req = completionRequest(params, vocab());
        if (req.stream) return stream((s) => service.completionChunks(req, model, s), options);
        return service.completion(req, model, signal(options));
      })) as OpenAILike['completions']['create'],
    },
    embeddings: {
      create: (params, options) => mapped(() => service.embeddings(embeddingRequest(params, vocab(), model.info.embeddingLength), signal(options))),
    },
    models: { list: async () => service.models() },
  };
}
