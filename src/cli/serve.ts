/** `wasmlm serve`: the OpenAI-compatible fetch handler (src/openai/handler.ts) on node:http. */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ParseArgsConfig } from 'node:util';
import { WasmlmError } from '../errors.js';
import { loadModel } from '../model.js';
import { createHandler, type OpenAIHandler } from '../openai/handler.js';
import { intFlag, type Flags } from './flags.js';

/** node:http → fetch handler: the request as a web Request (its signal aborts when the client goes), the Response streamed back. */
export function nodeListener(handler: (request: Request) => Promise<Response>) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const gone = new AbortController();
    res.once('close', () => { if (!res.writableFinished) gone.abort(new WasmlmError('ABORTED', 'the client closed the connection')); });
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      signal: gone.signal,
      ...(hasBody ? { duplex: 'half' } : {}),
    } as RequestInit);
    const response = await handler(request);
    // a body left unread (an early 413, 401, ...): the connection cannot carry another request
    if (hasBody && !req.complete) res.setHeader('connection', 'close');
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) { res.end(); return; }
    const reader = response.body.getReader();
    gone.signal.addEventListener('abort', () => { void reader.cancel().catch(() => undefined); }, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!res.write(value)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
    } catch { /* cancelled: the client went away */ }
    res.end();
  };
}

export const SERVE = {
  usage: `wasmlm serve [MODEL]           serve the OpenAI API (/v1/chat/completions, /v1/completions,
                                 /v1/embeddings, /v1/models, /health); MODEL: a GGUF file or URL
                                 (default: the embedded stories260K)
    --port N                     default 8080 (0: any free port; the address is printed)
    --host HOST                  default 127.0.0.1 (0.0.0.0: every interface)
    --api-key KEY                require Authorization: Bearer KEY (default: $WASMLM_API_KEY, or none)
    --parallel N                 requests that generate at once (default 1)
    --max-queue N                requests that may wait for a slot (default 64; past it: 429)
    --ctx N                      context length (KV cache size)
    --threads N                  threads that compute
    --cors                       allow cross-origin requests (any origin)
    --chat-template FILE         the chat template (Jinja) of chat requests, in place of the model's`,
  options: {
    model: { type: 'string', short: 'm' },
    port: { type: 'string' },
    host: { type: 'string' },
    'api-key': { type: 'string' },
    parallel: { type: 'string' },
    'max-queue': { type: 'string' },
    ctx: { type: 'string' },
    threads: { type: 'string' },
    cors: { type: 'boolean' },
    'chat-template': { type: 'string' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  run: serve,
};

async function serve(positional: string[], flags: Flags): Promise<void> {
  if (positional.length > 1 || (positional.length === 1 && flags.model !== undefined)) {
    throw new WasmlmError('BAD_ARGUMENT', `wasmlm serve takes one model, got ${[...positional, flags.model].filter(Boolean).join(', ')}`);
  }
  const port = intFlag(flags, 'port', 0, 65535) ?? 8080;
  const host = (flags.host as string | undefined) ?? '127.0.0.1';
  const parallel = intFlag(flags, 'parallel', 1, 1024);
  const maxQueue = intFlag(flags, 'max-queue', 0);
  const apiKey = (flags['api-key'] as string | undefined) ?? (process.env.WASMLM_API_KEY || undefined);
  const source = positional[0] ?? (flags.model as string | undefined);
  const templateFile = flags['chat-template'] as string | undefined;
  const chatTemplate = templateFile === undefined ? undefined : readFileSync(templateFile, 'utf8');
  const model = await loadModel(source, { contextLength: intFlag(flags, 'ctx', 1), threads: intFlag(flags, 'threads', 1) });
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  let handler: OpenAIHandler;
  try {
    handler = createHandler(model, {
      apiKey, parallel, maxQueue, cors: flags.cors === true, chatTemplate,
      onRequest: (e) => log(`${e.method} ${e.path} ${e.status} ${e.tokens} tokens ${e.ms} ms${e.error ? ` (${e.error})` : ''}`),
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
  const server = createServer(nodeListener(handler));
  server.listen(port, host);
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => { throw e; })]);
  } catch (e) {
    model.dispose();
    throw new WasmlmError('IO_ERROR', `cannot listen on ${host}:${port}: ${(e as Error).message}`, { cause: e });
  }
  const address = server.address() as { address: string; port: number };
  const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
  log(`wasmlm serve: ${model.info.name ?? model.info.architecture} (${model.info.contextLength} context, ${model.info.threads} threads, ` +
    `${parallel ?? 1} slot(s)) on http://${shown}:${address.port}/v1${apiKey ? ' (API key required)' : ''}`);

  // SIGINT / SIGTERM: no new requests; the running ones are aborted (streams end with an error event); then exit
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log(`${signal}: shutting down`);
  handler.close();
  const closed = once(server, 'close');
  server.close();
  server.closeIdleConnections();
  // what is still open after a moment is a client that does not read: cut it
  const timer = setTimeout(() => server.closeAllConnections(), 2000);
  await closed;
  clearTimeout(timer);
  model.dispose();
  log('stopped');
}
