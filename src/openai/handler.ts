/**
 * The OpenAI-compatible HTTP API as one fetch handler, `(request: Request) => Promise<Response>`: what
 * workerd / Cloudflare Workers, `Deno.serve`, a service worker and `wasmlm serve` (through node:http) run.
 *
 *   POST /v1/chat/completions   JSON, or server-sent events with "stream": true
 *   POST /v1/completions        the same
 *   POST /v1/embeddings
 *   GET  /v1/models, /v1/models/{id}
 *   GET  /health                no key needed
 *
 * Requests run in `parallel` slots; up to `maxQueue` more wait for one (past that: 429). A client that
 * goes away (request.signal, or a cancelled response stream) aborts its generation and frees its slot.
 */
import { WasmlmError, type WasmlmErrorCode } from '../errors.js';
import { OpenAIError, toOpenAIError } from './errors.js';
import { chatRequest, completionRequest, embeddingRequest, requestBody } from './params.js';
import { OpenAIService, type OpenAIModel, type OpenAIServiceOptions, type Slot } from './service.js';

export interface HandlerOptions extends OpenAIServiceOptions {
  /** require `Authorization: Bearer <apiKey>` on /v1/ (401 without it) */
  apiKey?: string;
  /** answer cross-origin requests: true = any origin (`*`), or the one origin allowed; default off */
  cors?: boolean | string;
  /** the largest request body, in bytes (413 past it); default 1 MiB */
  maxBodyBytes?: number;
  /** requests that generate at once; default 1 */
  parallel?: number;
  /** requests that may wait for a slot (429 past it); default 64 */
  maxQueue?: number;
  /** called once per request when its response has ended (streams: at their end) */
  onRequest?: (entry: RequestLogEntry) => void;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  /** tokens generated (completion tokens) */
  tokens: number;
  ms: number;
  /** the error that ended it, if any (also for a stream that ended with an error event) */
  error?: string;
}

export interface OpenAIHandler {
  (request: Request): Promise<Response>;
  /** stop: requests in progress are aborted (streams end with an error event), new ones get 503 */
  close(): void;
  /** requests generating now, and waiting */
  readonly active: number;
  readonly queued: number;
}

const STATUS: Partial<Record<WasmlmErrorCode, [number, string]>> = {
  UNAUTHORIZED: [401, 'invalid_request_error'],
  NOT_FOUND: [404, 'invalid_request_error'],
  METHOD_NOT_ALLOWED: [405, 'invalid_request_error'],
  BODY_TOO_LARGE: [413, 'invalid_request_error'],
  QUEUE_FULL: [429, 'rate_limit_error'],
  UNAVAILABLE: [503, 'server_error'],
};

function httpError(code: WasmlmErrorCode, message: string, param: string | null = null): OpenAIError {
  const [status, type] = STATUS[code] ?? [400, 'invalid_request_error'];
  return new OpenAIError(code, status, type, message, param);
}

const GONE = 'the client went away';

/** A slot of the queue, and the function that frees it (once). */
interface Lease { slot: Slot; release(): void }

/**
 * `parallel` slots, made when first needed and kept (so a slot's cache keeps the prompt prefix of its
 * last request), and the requests waiting for one.
 */
class Slots {
  private busy = 0;
  private readonly idle: Slot[] = [];
  private readonly waiting: Array<{ grant: (lease: Lease) => void }> = [];

  constructor(private readonly newSlot: () => Slot, readonly parallel: number, private readonly maxQueue: number) {}

  get active(): number { return this.busy; }
  get queued(): number { return this.waiting.length; }

  acquire(signal: AbortSignal): Promise<Lease> {
    if (this.busy < this.parallel) { this.busy++; return Promise.resolve(this.lease(this.idle.pop() ?? this.newSlot())); }
    if (this.waiting.length >= this.maxQueue) {
      return Promise.reject(httpError('QUEUE_FULL', `all ${this.parallel} slots are busy and ${this.waiting.length} requests wait: try again later`));
    }
    return new Promise((resolve, reject) => {
      const entry = { grant: (lease: Lease) => { signal.removeEventListener('abort', onAbort); resolve(lease); } };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new WasmlmError('ABORTED', 'the request was aborted while it waited for a slot'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private lease(slot: Slot): Lease {
    let done = false;
    return {
      slot,
      release: () => {
        if (done) return;
        done = true;
        const next = this.waiting.shift();
        // handed over in a macrotask: between requests the runtime takes in new ones (/health) even when
        // every request is short enough never to yield on its own
        if (next) setTimeout(() => next.grant(this.lease(slot)), 0);
        else { this.idle.push(slot); this.busy--; }
      },
    };
  }
}

/** The request body, read up to `limit` bytes (413 past it). */
async function readBody(request: Request, limit: number): Promise<string> {
  const tooLarge = () => httpError('BODY_TOO_LARGE', `the request body is over the limit of ${limit} bytes`);
  const length = Number(request.headers.get('content-length') ?? NaN);
  if (length > limit) throw tooLarge();
  if (!request.body) return '';
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) { await reader.cancel(); throw tooLarge(); }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.byteLength; }
  return new TextDecoder().decode(all);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new OpenAIError('BAD_ARGUMENT', 400, 'invalid_request_error',
      `the request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, null);
  }
}

/** The token count of a finished request, for the log. */
function completionTokens(results: unknown): number {
  return Array.isArray(results) ? results.reduce((s: number, r: { tokens?: unknown[] }) => s + (r?.tokens?.length ?? 0), 0) : 0;
}

/** Serve `model` with OpenAI's HTTP API (see the top of this file). */
export function createHandler(model: OpenAIModel, options: HandlerOptions = {}): OpenAIHandler {
  const positive = (name: string, v: number | undefined, fallback: number, min = 1) => {
    const n = v ?? fallback;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw new WasmlmError('BAD_ARGUMENT', `createHandler: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
    return n;
  };
  const maxBody = positive('maxBodyBytes', options.maxBodyBytes, 1 << 20);
  // every slot is a session of the model (its own KV cache, kept between its requests: their common prefix
  // is reused); concurrent sessions' tokens are decoded in one batch. A model without sessions serves itself.
  const sessions: Array<{ dispose(): void }> = [];
  const newSlot = (): Slot => {
    if (!model.createSession) return model;
    const session = model.createSession();
    sessions.push(session);
    return session;
  };
  const slots = new Slots(newSlot, positive('parallel', options.parallel, 1), positive('maxQueue', options.maxQueue, 64, 0));
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '')) {
    throw new WasmlmError('BAD_ARGUMENT', 'createHandler: apiKey must be a non-empty string');
  }
  const service = new OpenAIService(model, { chatTemplate: options.chatTemplate });
  const running = new Set<AbortController>();
  let closed = false;
  const cors: Record<string, string> = !options.cors ? {} : {
    'access-control-allow-origin': options.cors === true ? '*' : options.cors,
    'access-control-allow-headers': 'authorization, content-type',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
  };
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...cors } });
  const vocab = model.info.vocabSize;

  async function handle(request: Request, log: { tokens: number; error?: string; streamEnd?: Promise<void> }): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (request.method === 'OPTIONS' && options.cors) return new Response(null, { status: 204, headers: cors });
    if (path === '/health' && (request.method === 'GET' || request.method === 'HEAD')) {
      return json({ status: closed ? 'closing' : 'ok', slots: { parallel: slots.parallel, active: slots.active, queued: slots.queued } }, closed ? 503 : 200);
    }
    if (options.apiKey !== undefined && request.headers.get('authorization') !== `Bearer ${options.apiKey}`) {
      throw httpError('UNAUTHORIZED', request.headers.has('authorization') ? 'the API key is not valid' : 'an API key is needed: Authorization: Bearer <key>');
    }
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (request.method !== 'GET') throw httpError('METHOD_NOT_ALLOWED', `${request.method} ${path}: use GET`);
      const list = service.models();
      if (path === '/v1/models') return json(list);
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      const found = list.data.find((m) => m.id === id);
      if (!found) throw httpError('NOT_FOUND', `the model '${id}' does not exist (GET /v1/models lists them)`, 'model');
      return json(found);
    }
    const endpoint = path === '/v1/chat/completions' ? 'chat' : path === '/v1/completions' ? 'completions' : path === '/v1/embeddings' ? 'embeddings' : undefined;
    if (!endpoint) throw httpError('NOT_FOUND', `no endpoint ${request.method} ${path}`);
    if (request.method !== 'POST') throw httpError('METHOD_NOT_ALLOWED', `${request.method} ${path}: use POST`);
    const body = requestBody(parseJson(await readBody(request, maxBody)));
    // checked before the request takes a slot
    const req = endpoint === 'chat' ? chatRequest(body, vocab) : endpoint === 'completions' ? completionRequest(body, vocab) : undefined;
    const embedReq = endpoint === 'embeddings' ? embeddingRequest(body, vocab, model.info.embeddingLength) : undefined;
    if (closed) throw httpError('UNAVAILABLE', 'the server is shutting down');

    const controller = new AbortController();
    const abort = () => controller.abort(request.signal.reason);
    if (request.signal.aborted) abort();
    request.signal.addEventListener('abort', abort, { once: true });
    running.add(controller);
    const lease = await slots.acquire(controller.signal).catch((e) => { running.delete(controller); throw e; });
    let streaming = false;
    const done = () => {
      running.delete(controller);
      request.signal.removeEventListener('abort', abort);
      lease.release();
    };
    try {
      if (embedReq) return json(await service.embeddings(embedReq, controller.signal));
      if (!req!.stream) {
        const result = endpoint === 'chat'
          ? await service.chat(req as ReturnType<typeof chatRequest>, lease.slot, controller.signal)
          : await service.completion(req as ReturnType<typeof completionRequest>, lease.slot, controller.signal);
        log.tokens = result.usage?.completion_tokens ?? 0;
        return json(result);
      }
      const it: AsyncGenerator<unknown, unknown> = endpoint === 'chat'
        ? service.chatChunks(req as ReturnType<typeof chatRequest>, lease.slot, controller.signal)
        : service.completionChunks(req as ReturnType<typeof completionRequest>, lease.slot, controller.signal);
      // the first chunk before the headers: an error there is still a status
      const first = await it.next();
      streaming = true;
      const encoder = new TextEncoder();
      const event = (data: unknown) => encoder.encode(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
      let ended!: () => void;
      log.streamEnd = new Promise((resolve) => { ended = resolve; });
      let pendingFirst: IteratorResult<unknown, unknown> | undefined = first;
      const finish = (tokens: number) => { log.tokens = tokens; done(); ended(); };
      const stream = new ReadableStream<Uint8Array>({
        async pull(out) {
          try {
            const step = pendingFirst ?? await it.next();
            pendingFirst = undefined;
            if (step.done) {
              out.enqueue(event('[DONE]'));
              out.close();
              finish(completionTokens(step.value));
            } else {
              out.enqueue(event(step.value));
            }
          } catch (e) {
            const err = controller.signal.aborted && closed ? httpError('UNAVAILABLE', 'the server is shutting down') : toOpenAIError(e);
            log.error = request.signal.aborted ? GONE : err.message;
            try {
              out.enqueue(event({ error: err.error }));
              out.close();
            } catch { /* the client is gone */ }
            finish(0);
          }
        },
        async cancel() {
          // the client went away
          log.error = GONE;
          controller.abort();
          await it.return(undefined).catch(() => undefined);
          finish(0);
        },
      }, { highWaterMark: 0 });
      return new Response(stream, {
        status: 200,
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...cors },
      });
    } finally {
      if (!streaming) done();
    }
  }

  const handler = (async (request: Request): Promise<Response> => {
    const t0 = Date.now();
    const log: { tokens: number; error?: string; streamEnd?: Promise<void> } = { tokens: 0 };
    let response: Response;
    try {
      response = await handle(request, log);
    } catch (e) {
      // a request aborted by close() is told the server is going; one whose client went away gets nothing
      // (the log says 499, as nginx does)
      const err = closed && e instanceof WasmlmError && (e.code === 'ABORTED' || e.code === 'DISPOSED') ? httpError('UNAVAILABLE', 'the server is shutting down') : toOpenAIError(e);
      log.error = err.message;
      response = json({ error: err.error }, err.status);
    }
    if (options.onRequest) {
      const report = () => options.onRequest!({
        method: request.method, path: new URL(request.url).pathname, status: response.status, tokens: log.tokens, ms: Date.now() - t0,
        ...(log.error !== undefined ? { error: log.error } : {}),
      });
      if (log.streamEnd) void log.streamEnd.then(report); else report();
    }
    return response;
  }) as OpenAIHandler;
  handler.close = () => {
    closed = true;
    for (const c of running) c.abort();
    // their caches go once the calls in progress see the abort (a disposed session's next step is DISPOSED)
    for (const s of sessions.splice(0)) s.dispose();
  };
  Object.defineProperty(handler, 'active', { get: () => slots.active });
  Object.defineProperty(handler, 'queued', { get: () => slots.queued });
  return handler;
}
