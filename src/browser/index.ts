/**
 * The browser entry (package condition "browser", or `wasmlm/browser`): the whole public API, with a
 * loadModel that, on a page, runs the model in a Web Worker behind a proxy with Model's API, so the
 * page never blocks. In a worker (or with `worker: false`) the model runs in the calling thread.
 * Either way models fetched from http(s) URLs are kept in the Cache API, and `threads` above 1 on a
 * page that is not cross-origin isolated runs on one thread, with `model.info.threadsNote` saying why.
 */
import { WasmlmError } from '../errors.js';
import { checkLoadOptions } from '../engine/options.js';
import type { GGUFSources } from '../formats/gguf-split.js';
import type { HFFileMap } from '../formats/hf-files.js';
import type { LoadOptions, ModelInfo } from '../model.js';
import { loadInPlace, type CacheOptions, type PageTokenizer } from './load.js';
import { pickedFiles, WorkerModel, WorkerPort, type FolderFiles, type ModelLike } from './proxy.js';

export * from '../index.js';

export interface BrowserLoadOptions extends LoadOptions, CacheOptions {
  /**
   * Run the model in a Web Worker (the page stays responsive while it loads and computes). Default:
   * true on a page's main thread, false inside a worker (the model then runs in that worker).
   */
  worker?: boolean;
  /** Where the worker script is (default: model-worker.js beside this module, which bundlers pick up). */
  workerUrl?: string | URL;
}

/**
 * Load a GGUF model: a URL (relative ones are relative to the page), Blob/File, ArrayBuffer,
 * Uint8Array or ReadableStream; none = the embedded model, fetched beside the bundle. A split GGUF: its
 * first shard's URL (each shard is fetched and cached), or its shards as an array (e.g. the Files picked).
 * A Hugging Face folder: its URL ending in '/' (read with range requests, not cached), a map of its
 * file names to Files / Blobs / URLs, or the Files picked from it (the FileList of `<input type=file
 * webkitdirectory>`; any other FileList is a GGUF's file or a split GGUF's shards).
 */
export async function loadModel(given?: GGUFSources | HFFileMap | FolderFiles, opts?: BrowserLoadOptions): Promise<ModelLike> {
  const source = pickedFiles(given) ?? given as GGUFSources | HFFileMap | undefined;
  const options = checkLoadOptions(opts);
  if (options.signal?.aborted) throw new WasmlmError('ABORTED', 'aborted', { cause: options.signal.reason });
  const { worker, workerUrl, ...rest } = options;
  if (!(worker ?? onPageMainThread())) return (await loadInPlace(source, rest)).model;
  if (typeof Worker !== 'function') throw new WasmlmError('BAD_ARGUMENT', 'worker: true, but this runtime has no Web Workers');

  const port = await WorkerPort.start(workerUrl);
  try {
    const { wire, transfer } = port.wire(source);
    const { info, vocab } = await port.call<{ info: ModelInfo; vocab: PageTokenizer }>(
      {
        type: 'load',
        source: wire,
        options: {
          threads: rest.threads,
          contextLength: rest.contextLength,
          batchSize: rest.batchSize,
          kvType: rest.kvType,
          wasmModule: rest.wasmModule,
          cache: rest.cache,
          progress: rest.onProgress !== undefined,
        },
      },
      transfer,
      rest.signal,
      (m) => { if (m.type === 'progress') rest.onProgress?.({ loaded: m.loaded, total: m.total }); },
    );
    return new WorkerModel(port, info, vocab);
  } catch (e) {
    port.terminate();
    throw e;
  }
}

function onPageMainThread(): boolean {
  const g = globalThis as { document?: unknown; Worker?: unknown };
  return typeof g.document === 'object' && g.document !== null && typeof g.Worker === 'function';
}
