/**
 * loadModel as the browser entry runs it wherever the model lives (in the model's worker, or in the
 * calling thread): URLs go through the model cache, `threads` is checked against cross-origin
 * isolation, and errors name the source the caller gave.
 */
import { WasmlmError } from '../errors.js';
import { isSourceList, type GGUFSources, type ShardOpener } from '../formats/gguf-split.js';
import { isFileMap, isFolderSource, type HFFileMap } from '../formats/hf-files.js';
import { describeSource, openSource, type ModelSource } from '../formats/source.js';
import { DEFAULT_MODEL_URL, defaultModelUrl, loadModelWith, type LoadOptions, type Model } from '../model.js';
import { tokenizerFromJson } from '../tokenizer/hf.js';
import { createTokenizer } from '../tokenizer/index.js';
import { vocabFromGGUF } from '../tokenizer/gguf.js';
import type { Tokenizer, VocabData } from '../tokenizer/types.js';
import { isCacheableUrl, modelCacheAvailable, openCachedUrl, resolveUrl } from './cache.js';

export interface CacheOptions {
  /** keep models fetched from http(s) URLs in the Cache API (default true); a string names the cache */
  cache?: boolean | string;
}

/**
 * What the page builds its tokenizer from: a GGUF's vocabulary, or a Hugging Face folder's
 * tokenizer.json and tokenizer_config.json (parsed), as the model in the worker built its own.
 */
export type PageTokenizer = { kind: 'gguf'; vocab: VocabData } | { kind: 'json'; json: unknown; config: unknown };

export function pageTokenizer(t: PageTokenizer): Tokenizer {
  return t.kind === 'gguf' ? createTokenizer(t.vocab) : tokenizerFromJson(t.json, t.config);
}

/** A source ready for the core loader, and what to do with the download once the load is over. */
interface Opened {
  source: ModelSource;
  /** how the caller's source is named in error messages */
  description: string;
  size: number | undefined;
  finish(ok: boolean): Promise<void>;
}

/** A URL through the model cache (when there is one); other sources as they are. */
async function open(source: ModelSource, options: CacheOptions & { signal?: AbortSignal }): Promise<Opened> {
  let src = pageUrl(source);
  const description = describeSource(src);
  let size: number | undefined;
  let finish = async (_ok: boolean) => {};
  const href = typeof src === 'string' ? src : src instanceof URL ? src.href : undefined;
  if (href !== undefined && isCacheableUrl(href) && options.cache !== false && modelCacheAvailable()) {
    const d = await openCachedUrl(href, { signal: options.signal, cacheName: typeof options.cache === 'string' ? options.cache : undefined });
    src = d.stream;
    size = d.size;
    finish = async (ok) => { if (ok) await d.commit(); else d.discard(); };
  }
  return { source: src, description, size, finish };
}

/**
 * The core loadModel with the cache and the isolation check. `wantVocab`: also return what the page
 * builds its tokenizer from (the worker sends it to the page). Each file the core opens (the model, or
 * each shard of a split one) goes through the model cache when it is a URL. A Hugging Face folder (a
 * URL ending in '/', a map of its files) is read where it is, by ranges, and not cached: the model
 * cache keeps whole downloads, and a folder's safetensors are read at the offsets of their tensors.
 */
export async function loadInPlace(
  source: GGUFSources | HFFileMap | undefined,
  options: LoadOptions & CacheOptions & { wantVocab?: boolean },
): Promise<{ model: Model; vocab: PageTokenizer | undefined }> {
  const { cache, wantVocab, ...rest } = options;
  const plan = threadPlan(options.threads);
  const given = source ?? DEFAULT_MODEL_URL ?? defaultModelUrl();
  const src = isFileMap(given) ? given : isSourceList(given) ? given.map(pageUrl) : pageUrl(given);
  /** the downloads of this load, by URL: stored once the model has loaded, dropped if it fails */
  const downloads = new Map<string, Opened>();
  const openShard: ShardOpener = async (s, o) => {
    const href = typeof s === 'string' ? s : s instanceof URL ? s.href : undefined;
    // a file opened again (its header was read, its data is due) is a new download
    if (href !== undefined) await downloads.get(href)?.finish(false);
    const opened = await open(s, { cache, signal: options.signal });
    if (href !== undefined) downloads.set(href, opened);
    return openSource(opened.source, { ...o, size: opened.size });
  };
  let vocab: PageTokenizer | undefined;
  try {
    const model = await loadModelWith(src, rest, {
      openShard,
      onHeader: wantVocab
        ? (h, files) => { vocab = files ? { kind: 'json', ...files } : { kind: 'gguf', vocab: vocabFromGGUF(h) }; }
        : undefined,
    });
    for (const d of downloads.values()) await d.finish(true);
    if (plan.note) {
      model.info.threads = 1;
      model.info.threadsNote = plan.note;
    }
    return { model, vocab };
  } catch (e) {
    for (const d of downloads.values()) await d.finish(false);
    throw e;
  }
}

/** A URL string as the page means it (relative to the page: there are no file paths here). */
function pageUrl(src: ModelSource): ModelSource {
  return typeof src === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(src) === false && hasLocation() ? resolveUrl(src) : src;
}

/** Load an adapter the same way (through the cache for a GGUF's URL; a PEFT folder where it is). */
export async function adapterInPlace(
  model: Model,
  source: ModelSource | HFFileMap,
  options: CacheOptions & { scale?: number; signal?: AbortSignal },
) {
  if (isFileMap(source) || await isFolderSource(pageUrl(source))) {
    return model.loadAdapter(isFileMap(source) ? source : pageUrl(source), { scale: options.scale, signal: options.signal });
  }
  const opened = await open(source, { cache: options.cache, signal: options.signal });
  try {
    const adapter = await model.loadAdapter(opened.source, { scale: options.scale, signal: options.signal });
    await opened.finish(true);
    return adapter;
  } catch (e) {
    await opened.finish(false);
    throw renamed(e, describeSource(opened.source), opened.description);
  }
}

/**
 * Threads need SharedArrayBuffer, which a browser gives only to cross-origin isolated pages (and
 * their workers). Elsewhere ask for one thread and say why.
 */
export function threadPlan(requested: number | undefined): { threads: number | undefined; note?: string } {
  if (requested === undefined || !Number.isInteger(requested) || requested <= 1) return { threads: requested };
  const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown };
  if (g.crossOriginIsolated === false || typeof g.SharedArrayBuffer !== 'function') {
    return {
      threads: 1,
      note: `asked for ${requested} threads, running on 1: this page is not cross-origin isolated ` +
        '(crossOriginIsolated is false, so there is no SharedArrayBuffer for threads to share); serve it with ' +
        '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" to use threads',
    };
  }
  return { threads: requested };
}

function hasLocation(): boolean {
  return typeof (globalThis as { location?: unknown }).location === 'object';
}

/** The core names the stream it was given; the caller gave a URL (or bytes of another kind). */
function renamed(e: unknown, given: string, wanted: string): unknown {
  if (!(e instanceof WasmlmError) || given === wanted || !e.message.startsWith(`${given}: `)) return e;
  return new WasmlmError(e.code, `${wanted}: ${e.message.slice(given.length + 2)}`, { cause: e.cause });
}
