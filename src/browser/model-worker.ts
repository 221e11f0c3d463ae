/**
 * The model's Web Worker: one model per worker, driven by the page's proxy (proxy.ts) through the
 * messages of protocol.ts. The page never computes; this thread does, and lets queued messages (an
 * abort, a cancel) in between two tokens.
 */
import { WasmlmError } from '../errors.js';
import type { HFFileMap } from '../formats/hf-files.js';
import type { ModelSource } from '../formats/source.js';
import type { Adapter, Model } from '../model.js';
import type { Session, SessionOptions } from '../session.js';
import { finetunedToWire, type FinetuneExample } from '../train/finetune.js';
import { adapterInPlace, loadInPlace } from './load.js';
import {
  fromWireError, toWireError, transferables, yieldToEventLoop,
  type FromWorker, type ToWorker, type WireFinetuneOptions, type WireSource,
} from './protocol.js';

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

let model: Model | undefined;
let loading = false;
let disposing = false;
const controllers = new Map<number, AbortController>();
const adapters = new Map<number, Adapter>();
/** the sessions, by the id of the request that made them */
const sessions = new Map<number, Session>();
const pumps = new Map<number, (m: Extract<ToWorker, { type: 'chunk' }>) => void>();
let busy = 0;

function post(m: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(m, transfer);
}

scope.addEventListener('message', (ev: MessageEvent) => {
  const m = ev.data as ToWorker;
  switch (m.type) {
    case 'load': void task(m.id, (signal) => load(m.id, m.source, m.options, signal)); break;
    case 'call': void task(m.id, (signal) => call(m.id, m.method, m.args, signal, m.session)); break;
    case 'stream': void task(m.id, (signal) => stream(m.id, m.method, m.args, signal, m.session)); break;
    case 'adapter': void task(m.id, (signal) => adapter(m.id, m.source, m.scale, signal)); break;
    case 'finetune': void task(m.id, (signal) => finetune(m.id, m.examples, m.options, signal)); break;
    case 'adapterScale': try { adapters.get(m.adapterId)?.setScale(m.scale); } catch { /* checked on the page */ } break;
    case 'adapterRemove': adapters.get(m.adapterId)?.remove(); adapters.delete(m.adapterId); break;
    case 'createSession': void task(m.id, async () => made(m.id, live().createSession(m.options as SessionOptions))); break;
    case 'restoreSession': void task(m.id, async () => made(m.id, await live().restoreSession(m.bytes, m.options as SessionOptions))); break;
    case 'saveSession': void task(m.id, async () => {
      const bytes = await (target(m.session) as Session).save();
      post({ type: 'result', id: m.id, value: bytes }, transferables([bytes]));
    }); break;
    case 'disposeSession': sessions.get(m.session)?.dispose(); sessions.delete(m.session); break;
    case 'abort': controllers.get(m.id)?.abort(new WasmlmError('ABORTED', 'aborted')); break;
    case 'chunk': pumps.get(m.streamId)?.(m); break;
    case 'dispose':
      disposing = true;
      model?.dispose();
      model = undefined;
      closeIfIdle();
      break;
  }
});
post({ type: 'ready' });

/** Run one request with its own AbortController; errors go back to the page. */
async function task(id: number, run: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  controllers.set(id, ac);
  busy++;
  try {
    await run(ac.signal);
  } catch (e) {
    post({ type: 'error', id, error: toWireError(e) });
  } finally {
    controllers.delete(id);
    busy--;
    closeIfIdle();
  }
}

function closeIfIdle(): void {
  if (disposing && busy === 0) {
    post({ type: 'disposed' });
    scope.close();
  }
}

function live(): Model {
  if (!model) throw new WasmlmError('DISPOSED', disposing ? 'this model was disposed' : 'no model is loaded in this worker');
  return model;
}

/** What a call runs on: a session, or the model (its own session). */
function target(session: number | undefined): Model | Session {
  const mdl = live();
  if (session === undefined) return mdl;
  const s = sessions.get(session);
  if (!s) throw new WasmlmError('DISPOSED', 'this session was disposed');
  return s;
}

function made(id: number, s: Session): void {
  sessions.set(id, s);
  post({ type: 'result', id, value: id, info: s.info });
}

/** A session's info after its call (the page's `session.info`). */
const infoOf = (t: Model | Session) => (t === model ? undefined : (t as Session).info);

async function load(id: number, wire: WireSource, options: Extract<ToWorker, { type: 'load' }>['options'], signal: AbortSignal) {
  if (loading || model) throw new WasmlmError('BAD_ARGUMENT', 'this worker already holds a model');
  loading = true;
  // progress goes to the page at most every 50 ms (the latest report, and always the last one)
  let last = 0;
  let latest: { loaded: number; total: number | undefined } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    last = performance.now();
    if (latest) post({ type: 'progress', id, loaded: latest.loaded, total: latest.total });
    latest = undefined;
  };
  const { progress, ...rest } = options;
  let loaded;
  try {
    loaded = await loadInPlace(fromWire(wire), {
      ...rest,
      signal,
      wantVocab: true,
      onProgress: progress
        ? (p) => {
          latest = p;
          const wait = 50 - (performance.now() - last);
          if (wait <= 0 || p.loaded === p.total) flush();
          else timer ??= setTimeout(flush, wait);
        }
        : undefined,
    });
  } finally {
    if (latest) flush();
    clearTimeout(timer);
  }
  const { model: m, vocab } = loaded;
  if (disposing) {
    m.dispose();
    return;
  }
  model = m;
  post({ type: 'loaded', id, info: m.info, vocab });
}

async function call(id: number, method: Extract<ToWorker, { type: 'call' }>['method'], args: unknown[], signal: AbortSignal,
  session: number | undefined) {
  const t = target(session);
  switch (method) {
    case 'logits': {
      const rows = await t.logits(args[0] as number[]);
      post({ type: 'result', id, value: rows, info: infoOf(t) }, transferables(rows));
      return;
    }
    case 'embed': {
      const v = await live().embed(args[0] as never, args[1] as never);
      post({ type: 'result', id, value: v }, transferables([v]));
      return;
    }
    case 'complete':
      post({ type: 'result', id, value: await t.complete(args[0] as never, { ...(args[1] as object), signal }), info: infoOf(t) });
      return;
    case 'chat':
      post({ type: 'result', id, value: await t.chat(args[0] as never, { ...(args[1] as object), signal }), info: infoOf(t) });
      return;
  }
}

async function stream(id: number, method: 'generate' | 'chatStream', args: unknown[], signal: AbortSignal, session: number | undefined) {
  const t = target(session);
  const opts = { ...(args[1] as object), signal };
  const it = method === 'generate' ? t.generate(args[0] as never, opts) : t.chatStream(args[0] as never, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) {
      post({ type: 'done', id, value: r.value, info: infoOf(t) });
      return;
    }
    post({ type: 'piece', id, text: r.value });
    await yieldToEventLoop();
  }
}

async function adapter(id: number, wire: WireSource, scale: number, signal: AbortSignal) {
  const a = await adapterInPlace(live(), fromWire(wire) as ModelSource | HFFileMap, { scale, signal });
  adapters.set(id, a);
  post({ type: 'result', id, value: a.scale });
}

async function finetune(id: number, examples: unknown[], options: WireFinetuneOptions, signal: AbortSignal) {
  const { progress, ...rest } = options;
  const r = await live().finetune(examples as FinetuneExample[], {
    ...rest, signal, onStep: progress ? (p) => post({ type: 'step', id, progress: p }) : undefined,
  });
  adapters.set(id, r.applied);
  const wire = finetunedToWire(r, id);
  post({ type: 'result', id, value: wire }, transferables(wire.pairs.flatMap((p) => [p.a, p.b])));
}

function fromWire(w: WireSource): ModelSource | ModelSource[] | HFFileMap | undefined {
  switch (w.kind) {
    case 'default': return undefined;
    case 'url': return w.href;
    case 'blob': return w.blob;
    case 'bytes': return w.bytes;
    case 'stream': return pumped(w.streamId);
    case 'shards': return w.items.map(fromWire) as ModelSource[];
    case 'files': return Object.fromEntries(Object.entries(w.files).map(([name, f]) => [name, fromWire(f) as ModelSource]));
  }
}

/** The page's ReadableStream, one chunk per pull. */
function pumped(streamId: number): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(c) {
      return new Promise<void>((resolve) => {
        pumps.set(streamId, (m) => {
          pumps.delete(streamId);
          if (m.error) c.error(fromWireError(m.error));
          else if (m.done) c.close();
          else if (m.chunk) c.enqueue(m.chunk);
          resolve();
        });
        post({ type: 'pull', streamId });
      });
    },
    cancel() {
      pumps.delete(streamId);
      post({ type: 'cancelStream', streamId });
    },
  }, { highWaterMark: 0 });
}
