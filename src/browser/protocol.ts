/**
 * The messages between the page (src/browser/proxy.ts) and the model's Web Worker (src/browser/worker.ts).
 *
 * Every request carries an id; the worker answers with `result` or `error` for that id, or, for
 * streams (generate / chatStream), any number of `piece` messages and then `done` or `error`.
 * AbortSignals cannot cross a postMessage: the page sends `abort` with the request's id instead.
 * Byte sources cross as what they are (a Blob is passed by reference, bytes are copied, a URL is
 * resolved against the page first); a ReadableStream is pumped chunk by chunk on the worker's
 * `pull` requests, so at most one chunk is in flight.
 */
import { WasmlmError, type WasmlmErrorCode } from '../errors.js';
import type { KvType } from '../engine/options.js';
import type { FinetuneOptions, FinetuneProgress } from '../train/finetune.js';

/** A model source as it crosses to the worker. */
export type WireSource =
  | { kind: 'default' }
  | { kind: 'url'; href: string }
  | { kind: 'blob'; blob: Blob }
  | { kind: 'bytes'; bytes: ArrayBuffer | Uint8Array }
  | { kind: 'stream'; streamId: number }
  /** the shards of a split GGUF */
  | { kind: 'shards'; items: WireSource[] }
  /** a Hugging Face (or PEFT) folder's files by name (Files / Blobs cross by reference) */
  | { kind: 'files'; files: Record<string, WireSource> };

/** Options of loadModel that cross to the worker (no functions, no signal). */
export interface WireLoadOptions {
  threads?: number;
  contextLength?: number;
  batchSize?: number;
  kvType?: KvType;
  wasmModule?: WebAssembly.Module;
  /** false: no model cache; a string: the cache's name */
  cache?: boolean | string;
  /** whether the page listens to progress */
  progress: boolean;
}

/** Options of finetune that cross to the worker (no functions, no signal). */
export type WireFinetuneOptions = Omit<FinetuneOptions, 'signal' | 'onStep'> & {
  /** whether the page listens to the steps */
  progress: boolean;
};

export type ToWorker =
  | { type: 'load'; id: number; source: WireSource; options: WireLoadOptions }
  /** `session`: a session's id (from 'createSession' / 'restoreSession'); absent: the model's own */
  | { type: 'call'; id: number; method: 'logits' | 'embed' | 'complete' | 'chat'; args: unknown[]; session?: number }
  | { type: 'stream'; id: number; method: 'generate' | 'chatStream'; args: unknown[]; session?: number }
  /** answered with the new session's id and info */
  | { type: 'createSession'; id: number; options: unknown }
  | { type: 'restoreSession'; id: number; bytes: Uint8Array; options: unknown }
  /** answered with the bytes (transferred) */
  | { type: 'saveSession'; id: number; session: number }
  | { type: 'disposeSession'; session: number }
  | { type: 'adapter'; id: number; source: WireSource; scale: number }
  | { type: 'adapterScale'; adapterId: number; scale: number }
  | { type: 'adapterRemove'; adapterId: number }
  /**
   * model.finetune: `step` messages while it trains (when the page listens), then the adapter as a
   * WireFinetuned (its A/B transferred; applied in the worker under the request's id, as 'adapter')
   */
  | { type: 'finetune'; id: number; examples: unknown[]; options: WireFinetuneOptions }
  /** stop what request `id` is doing: its signal fired, or the page stopped reading its stream */
  | { type: 'abort'; id: number }
  | { type: 'chunk'; streamId: number; chunk?: Uint8Array; done?: boolean; error?: WireError }
  | { type: 'dispose' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: number; loaded: number; total: number | undefined }
  | { type: 'loaded'; id: number; info: unknown; vocab: unknown }
  /** `info`: after a session's call, its SessionInfo */
  | { type: 'result'; id: number; value: unknown; info?: unknown }
  | { type: 'piece'; id: number; text: string }
  | { type: 'step'; id: number; progress: FinetuneProgress }
  | { type: 'done'; id: number; value: unknown; info?: unknown }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'pull'; streamId: number }
  | { type: 'cancelStream'; streamId: number }
  | { type: 'disposed' };

export interface WireError {
  name: string;
  message: string;
  code?: WasmlmErrorCode;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof WasmlmError) return { name: e.name, message: e.message, code: e.code };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

export function fromWireError(w: WireError): Error {
  if (w.code) return new WasmlmError(w.code, w.message);
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/**
 * Let queued messages (an abort, a cancel) run between two tokens: a macrotask, but without
 * setTimeout's clamping (a MessageChannel round trip takes microseconds).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}

/** Buffers that can be transferred rather than copied (the arrays' own, whole buffers). */
export function transferables(arrays: ArrayBufferView[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const a of arrays) {
    const b = a.buffer;
    if (b instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === b.byteLength && !out.includes(b)) out.push(b);
  }
  return out;
}
