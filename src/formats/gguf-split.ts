// Split GGUF: a model in shards, as llama.cpp's gguf-split writes them (and llama.cpp loads them).
//
// Facts (llama.cpp: tools/gguf-split, llama_split_path / llama_split_prefix, llama_model_loader):
// - shard i of n (i from 0) is named `PREFIX-%05d-of-%05d.gguf` with i + 1 and n;
// - every shard carries `split.no` (u16, i), `split.count` (u16, n) and `split.tensors.count` (i32,
//   the tensors of all shards together); the first shard carries all the other metadata as well;
// - each shard is a whole GGUF file: its own header, tensor index and data section; a tensor lives in
//   one shard; the model is loaded from the first shard's name, the others are found by name.
//
// openGGUFModel opens one file or the shards of one as a single header (the first shard's metadata,
// every shard's tensors at offsets in one virtual data section: shard k's data section follows shard
// k − 1's) and one ByteStream over that virtual data section. The stream goes through the shards in
// order, each read chunk by chunk like a single file: no shard is ever held whole in memory. Every
// shard's header is read before any data (the model needs all the tensors to be planned); a source
// that can be opened twice (a path, URL, Blob, bytes) is closed after its header and opened again when
// its data is due (the first shard stays open: its data comes next), a stream is kept open.

import { WasmlmError } from '../errors.js';
import { inSource, namingSource, openGGUF } from './gguf.js';
import { GGUFMetadata } from './gguf-metadata.js';
import type { GGUFHeader, GGUFTensorInfo } from './gguf-types.js';
import { describeSource, openSource, type ByteStream, type ModelSource, type OpenOptions } from './source.js';

export const SPLIT_NO = 'split.no';
export const SPLIT_COUNT = 'split.count';
export const SPLIT_TENSORS_COUNT = 'split.tensors.count';

/** One GGUF file, or the shards of a split one (in order, or in any order: `split.no` decides). */
export type GGUFSources = ModelSource | readonly ModelSource[];

/** The name of shard i (from 0) of n: `${prefix}-${i + 1}-of-${n}.gguf`, five digits each (llama_split_path). */
export function splitPath(prefix: string, i: number, n: number): string {
  return `${prefix}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.gguf`;
}

/** The prefix of `name` if it is the name of shard i of n, else undefined (llama_split_prefix). */
export function splitPrefix(name: string, i: number, n: number): string | undefined {
  const tail = splitPath('', i, n);
  return name.length > tail.length && name.endsWith(tail) ? name.slice(0, -tail.length) : undefined;
}

/** Opens one shard; the browser entry routes URLs through its model cache. */
export type ShardOpener = typeof openSource;

/**
 * Open a GGUF model, one file or all its shards, as one header and one stream positioned at the start
 * of its (virtual) data section, for the caller to read the tensors from (in offset order) and close.
 * Errors are WasmlmErrors naming the shard they concern.
 */
export async function openGGUFModel(
  sources: GGUFSources,
  options: OpenOptions = {},
  open: ShardOpener = openSource,
): Promise<{ header: GGUFHeader; stream: ByteStream }> {
  const list = isSourceList(sources) ? [...sources] : [sources];
  if (list.length === 0) throw new WasmlmError('BAD_ARGUMENT', 'an empty list of model sources: give a GGUF file or its shards');
  const progress = new Progress(options.onProgress);
  const shards: Shard[] = [];
  // a shard's index: in the list while the headers are read, then in split.no order
  const index = (src: ModelSource) => progress.sizes ? shards.findIndex((s) => s.source === src) : list.indexOf(src);
  const opts = (src: ModelSource): OpenOptions => ({ ...options, onProgress: (p) => progress.report(index(src), p) });
  const first = await openGGUF(list[0]!, opts(list[0]!), open);
  try {
    const n = splitCount(first.header);
    if (n === undefined && list.length === 1) return first; // one plain file, as it is
    shards.push(shardOf(list[0]!, first));
    const named = first.header.source ?? describeSource(list[0]!);
    if (n === undefined) {
      throw new WasmlmError('BAD_FORMAT', `${named}: ${list.length} sources were given as the shards of a split GGUF, but this one is not a shard (no ${SPLIT_COUNT} above 1)`);
    }
    let rest: ModelSource[];
    if (list.length > 1) {
      if (list.length !== n) {
        throw new WasmlmError('BAD_ARGUMENT', `${list.length} sources were given as the shards of a split GGUF, but ${named} says ${SPLIT_COUNT} = ${n}`);
      }
      rest = list.slice(1);
    } else {
      const no = shards[0]!.no;
      if (no !== 0) {
        const given = nameOf(list[0]!);
        const prefix = given !== undefined ? splitPrefix(given, no, n) : undefined;
        throw new WasmlmError('BAD_ARGUMENT', `${named} is shard ${no + 1} of ${n} of a split GGUF: load the first shard` +
          (prefix !== undefined ? `, ${splitPath(prefix, 0, n)}` : '') + ' (or give all of them as an array)');
      }
      rest = siblings(list[0]!, n);
    }
    for (let k = 0; k < rest.length; k++) {
      const src = rest[k]!;
      let opened: Opened;
      try {
        opened = await openGGUF(src, opts(src), open);
      } catch (e) {
        if (e instanceof WasmlmError && (e.code === 'IO_ERROR' || e.code === 'FETCH_FAILED')) {
          throw new WasmlmError(e.code, `split GGUF ${named}: shard ${k + 2} of ${n} is missing or unreadable: ${e.message}`, { cause: e });
        }
        throw e;
      }
      shards.push(shardOf(src, opened));
      if (reopenable(src)) await shards[shards.length - 1]!.close(); // opened again when its data is due
    }
    const header = merge(shards, n);
    progress.sizes = shards.map((s) => s.size);
    return { header, stream: new ShardStream(shards, (src) => open(src, opts(src))) };
  } catch (e) {
    for (const s of shards) await s.close();
    if (shards.length === 0) await first.stream.close();
    throw e;
  }
}

/** Read the header of one file or of all the shards of one (as openGGUFModel merges them), then close. */
export async function readGGUFModel(sources: GGUFSources, options: OpenOptions = {}): Promise<GGUFHeader> {
  const { header, stream } = await openGGUFModel(sources, options);
  await stream.close();
  return header;
}

/**
 * Where a tensor of a header from openGGUFModel / readGGUFModel is stored: the shard's source
 * (undefined: the one file the header was read from) and the byte offset in that file.
 */
export function tensorLocation(h: GGUFHeader, t: GGUFTensorInfo): { source: ModelSource | undefined; offset: number } {
  const shards = layouts.get(h);
  if (!shards) return { source: undefined, offset: h.dataOffset + t.offset };
  const s = shards.find((x) => t.offset >= x.base && t.offset < x.base + x.extent) ?? shards.find((x) => t.offset === x.base)!;
  return { source: s.source, offset: s.dataOffset + t.offset - s.base };
}

const layouts = new WeakMap<GGUFHeader, { source: ModelSource; dataOffset: number; base: number; extent: number }[]>();

// ---------------------------------------------------------------------------------------------

interface Opened {
  header: GGUFHeader;
  stream: ByteStream;
}

interface Shard {
  source: ModelSource;
  header: GGUFHeader;
  /** split.no */
  no: number;
  size: number | undefined;
  /** the open stream (positioned at or in the data section), or undefined once closed */
  stream: ByteStream | undefined;
  /** where its data section starts in the virtual data section, and how far its tensors reach */
  base: number;
  extent: number;
  close(): Promise<void>;
}

/** A shard of its header (its stream closed if split.no is not a number). */
function shardOf(source: ModelSource, o: Opened): Shard {
  let no: number | undefined;
  try {
    no = inSource(o.header, () => new GGUFMetadata(o.header).optionalNumber(SPLIT_NO));
  } catch (e) {
    void o.stream.close();
    throw e;
  }
  let extent = 0;
  for (const t of o.header.tensors) extent = Math.max(extent, t.offset + t.nBytes);
  const shard: Shard = {
    source, header: o.header, no: no ?? -1, size: o.stream.size, stream: o.stream, base: 0, extent,
    async close() {
      const s = shard.stream;
      shard.stream = undefined;
      await s?.close();
    },
  };
  return shard;
}

/** split.count, when the file is a shard of more than one */
function splitCount(h: GGUFHeader): number | undefined {
  const n = inSource(h, () => new GGUFMetadata(h).optionalNumber(SPLIT_COUNT));
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 99999) {
    throw new WasmlmError('BAD_FORMAT', `${h.source ?? 'GGUF'}: metadata key '${SPLIT_COUNT}' must be an integer in 1 .. 99999, got ${n}`);
  }
  return n > 1 ? n : undefined;
}

/** Check that the shards belong together; order them by split.no; the header of them all. */
function merge(shards: Shard[], n: number): GGUFHeader {
  const name = (s: Shard) => s.header.source ?? describeSource(s.source);
  const byNo = new Map<number, Shard>();
  for (const s of shards) {
    if (!Number.isInteger(s.no) || s.no < 0 || s.no >= n) {
      throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(shards[0]!)}: ${name(s)} has ${SPLIT_NO} = ${s.no < 0 ? '(none)' : s.no}, expected 0 .. ${n - 1}`);
    }
    const other = byNo.get(s.no);
    if (other) throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(shards[0]!)}: ${name(other)} and ${name(s)} are both shard ${s.no + 1} of ${n} (${SPLIT_NO} = ${s.no})`);
    byNo.set(s.no, s);
  }
  shards.sort((a, b) => a.no - b.no); // the order of split.no (an array may list them in any order)
  const first = shards[0]!;
  const meta0 = new GGUFMetadata(first.header);
  const total = inSource(first.header, () => meta0.optionalNumber(SPLIT_TENSORS_COUNT));
  const arch = inSource(first.header, () => meta0.optionalString('general.architecture'));
  for (const s of shards) {
    const meta = new GGUFMetadata(s.header);
    const count = inSource(s.header, () => meta.optionalNumber(SPLIT_COUNT));
    if (count !== n) {
      throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(first)}: ${name(s)} has ${SPLIT_COUNT} = ${count ?? '(none)'}, ${name(first)} has ${n}: not shards of one model`);
    }
    const t = inSource(s.header, () => meta.optionalNumber(SPLIT_TENSORS_COUNT));
    if (t !== total) {
      throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(first)}: ${name(s)} has ${SPLIT_TENSORS_COUNT} = ${t ?? '(none)'}, ${name(first)} has ${total ?? '(none)'}: not shards of one model`);
    }
    const a = inSource(s.header, () => meta.optionalString('general.architecture'));
    if (a !== undefined && a !== arch) {
      throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(first)}: ${name(s)} is a '${a}' model, ${name(first)} a '${arch ?? '(none)'}' one: not shards of one model`);
    }
  }
  const tensors: GGUFTensorInfo[] = [];
  const where = new Map<string, Shard>();
  let base = 0;
  for (const s of shards) {
    s.base = base;
    for (const t of s.header.tensors) {
      const dup = where.get(t.name);
      if (dup) throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(first)}: tensor '${t.name}' is in both ${name(dup)} and ${name(s)}`);
      where.set(t.name, s);
      tensors.push({ ...t, offset: base + t.offset });
    }
    base += s.extent;
  }
  if (total !== undefined && tensors.length !== total) {
    throw new WasmlmError('BAD_FORMAT', `split GGUF ${name(first)}: the ${n} shards hold ${tensors.length} tensors, ${SPLIT_TENSORS_COUNT} says ${total}`);
  }
  const sizes = shards.map((s) => s.size);
  const header: GGUFHeader = {
    version: first.header.version,
    alignment: first.header.alignment,
    metadata: first.header.metadata,
    tensors,
    dataOffset: 0,
    fileSize: sizes.every((x) => x !== undefined) ? sizes.reduce((x, y) => x! + y!, 0) : undefined,
  };
  header.source = name(first);
  layouts.set(header, shards.map((s) => ({ source: s.source, dataOffset: s.header.dataOffset, base: s.base, extent: s.extent })));
  return header;
}

/** The shards' names from the first one's (a path or URL named as llama.cpp names shards). */
function siblings(source: ModelSource, n: number): ModelSource[] {
  const hint = `give the shards as an array (loadModel([shard1, shard2, ...]))`;
  const href = typeof source === 'string' ? source : source instanceof URL ? source.href : undefined;
  if (href === undefined) {
    throw new WasmlmError('BAD_ARGUMENT', `${describeSource(source)} is the first shard of ${n} of a split GGUF: the others cannot be found from it; ${hint}`);
  }
  const url = isUrl(href) ? new URL(href) : undefined;
  const name = url ? url.pathname : href;
  const prefix = splitPrefix(name, 0, n);
  if (prefix === undefined) {
    throw new WasmlmError('BAD_ARGUMENT', `${href} is the first shard of ${n} of a split GGUF, but is not named like one (…${splitPath('', 0, n)}): the others cannot be found; ${hint}`);
  }
  const out: ModelSource[] = [];
  for (let i = 1; i < n; i++) {
    if (!url) {
      out.push(splitPath(prefix, i, n));
      continue;
    }
    const u = new URL(url.href);
    u.pathname = splitPath(prefix, i, n);
    out.push(typeof source === 'string' ? u.href : u);
  }
  return out;
}

function isUrl(href: string): boolean {
  return /^(https?|file|blob|data):/i.test(href);
}

/** A path or URL's text (a File's name says nothing about where its siblings are). */
function nameOf(source: ModelSource): string | undefined {
  return typeof source === 'string' ? source : source instanceof URL ? source.pathname : undefined;
}

export function isSourceList(x: GGUFSources): x is readonly ModelSource[] {
  return Array.isArray(x);
}

/** Sources that can be read again from the start: paths, URLs, Blobs, bytes. */
function reopenable(x: ModelSource): boolean {
  return typeof x === 'string' || x instanceof URL || ArrayBuffer.isView(x) || x instanceof ArrayBuffer ||
    (typeof Blob !== 'undefined' && x instanceof Blob);
}

/**
 * Progress over all shards: the bytes of the shards before this one plus this one's position. Until the
 * shards are known (`sizes`), the first file's progress as it comes (a plain file's is all there is).
 */
class Progress {
  sizes: (number | undefined)[] | undefined;
  private last = -1;
  constructor(private readonly onProgress: OpenOptions['onProgress']) {}

  report(k: number, p: { loaded: number; total: number | undefined }): void {
    if (!this.onProgress) return;
    const sizes = this.sizes;
    if (!sizes) {
      if (k === 0) this.onProgress(p);
      return;
    }
    let before = 0;
    for (let i = 0; i < k; i++) before += sizes[i] ?? 0;
    const total = sizes.every((s) => s !== undefined) ? sizes.reduce((a, b) => a! + b!, 0) : undefined;
    const at = before + p.loaded;
    if (at <= this.last) return;
    this.last = at;
    this.onProgress({ loaded: at, total });
  }
}

/** The shards' data sections as one stream (positions are those of the merged header's offsets). */
class ShardStream implements ByteStream {
  readonly description: string;
  private k = 0;
  private pos = 0;
  private closed = false;

  constructor(private readonly shards: Shard[], private readonly reopen: (src: ModelSource) => Promise<ByteStream>) {
    this.description = shards[0]!.header.source ?? describeSource(shards[0]!.source);
  }

  get size(): number | undefined {
    const last = this.shards[this.shards.length - 1]!;
    return last.base + last.extent;
  }
  get position(): number {
    return this.pos;
  }

  async read(n: number): Promise<Uint8Array> {
    const s = await this.at(n);
    const out = await this.named(s, s.stream!.read(n));
    this.pos += n;
    return out;
  }

  async readInto(dest: Uint8Array): Promise<void> {
    const s = await this.at(dest.length);
    await this.named(s, s.stream!.readInto(dest));
    this.pos += dest.length;
  }

  async skip(n: number): Promise<void> {
    if (this.closed) throw new WasmlmError('IO_ERROR', 'skip on a closed stream');
    const target = this.pos + n;
    while (this.k < this.shards.length - 1 && target >= this.shards[this.k]!.base + this.shards[this.k]!.extent) {
      await this.shards[this.k]!.close();
      this.k++;
      this.pos = this.shards[this.k]!.base;
    }
    const s = await this.current();
    const k = target - this.pos;
    if (k > 0) await this.named(s, s.stream!.skip(k));
    this.pos = target;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.shards) await s.close();
  }

  /** The shard a read of n bytes at the position falls in (reads never cross a shard: tensors do not). */
  private async at(n: number): Promise<Shard> {
    if (this.closed) throw new WasmlmError('IO_ERROR', 'read on a closed stream');
    let s = this.shards[this.k]!;
    if (n > 0 && this.pos >= s.base + s.extent && this.k < this.shards.length - 1) {
      await this.skip(0);
      s = this.shards[this.k]!;
    }
    if (this.pos + n > s.base + s.extent) {
      throw new WasmlmError('BAD_FORMAT', `internal: a read of ${n} bytes at ${this.pos} runs past the tensors of shard ${s.no + 1}`);
    }
    return this.current();
  }

  /** The current shard, its stream open and at the position. */
  private async current(): Promise<Shard> {
    const s = this.shards[this.k]!;
    if (!s.stream) {
      let stream: ByteStream;
      try {
        stream = await this.reopen(s.source);
      } catch (e) {
        throw namingSource(e, describeSource(s.source));
      }
      s.stream = stream;
      if (stream.size !== undefined && s.size !== undefined && stream.size !== s.size) {
        throw new WasmlmError('IO_ERROR', `${describeSource(s.source)}: the file changed while it was loading (${s.size} bytes, now ${stream.size})`);
      }
      await this.named(s, stream.skip(s.header.dataOffset));
    }
    const want = s.header.dataOffset + (this.pos - s.base);
    if (s.stream!.position !== want) await this.named(s, s.stream!.skip(want - s.stream!.position));
    return s;
  }

  private async named<T>(s: Shard, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      throw namingSource(e, describeSource(s.source));
    }
  }
}
