/**
 * Split GGUF (llama.cpp's gguf-split layout): shards made here from the fixtures with the project's writer,
 * loaded by the first shard's path or URL, or as an array of sources; logits identical to the unsplit file;
 * missing and mismatched shards; the CLI's --split-max-size / --split-max-tensors.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import { readGGUF, GGUFValueType, type GGUFHeader } from '../src/formats/gguf.js';
import { splitPath, splitPrefix, readGGUFModel, type GGUFSources } from '../src/formats/gguf-split.js';
import { splitGGUF, writeGGUFFile, writeGGUFFiles, type GGUFWriteTensor } from '../src/formats/gguf-writer.js';
import type { ModelSource } from '../src/formats/source.js';
import { fixture, loadGGUF, tensorData } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'wasmlm-split-'));
const PROMPT = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

/** The fixture's metadata and tensors (views into its bytes), for the writer. */
async function parts(name: string): Promise<{ h: GGUFHeader; tensors: GGUFWriteTensor[] }> {
  const l = await loadGGUF(name);
  return { h: l.h, tensors: l.h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: tensorData(l, t) })) };
}

/** The fixture written as shards of at most `maxTensors` tensors under dir/sub/<name>; their paths. */
async function shardsOf(name: string, sub: string, maxTensors: number): Promise<string[]> {
  const { h, tensors } = await parts(name);
  const d = join(dir, sub);
  mkdirSync(d, { recursive: true });
  const files = await writeGGUFFiles(join(d, name), h.metadata, tensors, { maxTensors });
  return files.map((f) => f.path);
}

async function logitsOf(source: GGUFSources): Promise<Float32Array[]> {
  const model = await loadModel(source, { threads: 1 });
  try {
    return await model.logits(PROMPT);
  } finally {
    model.dispose();
  }
}

const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as WasmlmError);

let server: Server;
let base: string;
const served: string[] = [];

beforeAll(async () => {
  // serves dir/<path> (any query string ignored); records each path asked for
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    served.push(path);
    const file = join(dir, path);
    if (!path.includes('..') && existsSync(file) && statSync(file).isFile()) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(statSync(file).size) });
      createReadStream(file, { highWaterMark: 4096 }).pipe(res);
    } else {
      res.writeHead(404).end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('split GGUF names', () => {
  it('are llama.cpp\'s PREFIX-%05d-of-%05d.gguf', () => {
    expect(splitPath('/m/x', 0, 3)).toBe('/m/x-00001-of-00003.gguf');
    expect(splitPath('x', 11, 12)).toBe('x-00012-of-00012.gguf');
    expect(splitPrefix('/m/x-00002-of-00003.gguf', 1, 3)).toBe('/m/x');
    expect(splitPrefix('/m/x-00002-of-00003.gguf', 0, 3)).toBeUndefined();
    expect(splitPrefix('-00001-of-00003.gguf', 0, 3)).toBeUndefined(); // an empty prefix, as llama_split_prefix
  });
});

describe('writing shards (splitGGUF)', () => {
  it('puts every tensor in order into shards of the limits, metadata in the first, split keys in each', async () => {
    const { h, tensors } = await parts('llama.gguf');
    const shards = splitGGUF(h.metadata, tensors, { maxTensors: 4 });
    expect(shards.length).toBe(Math.ceil(tensors.length / 4));
    expect(shards.flatMap((s) => s.tensors.map((t) => t.name))).toEqual(tensors.map((t) => t.name));
    shards.forEach((s, i) => {
      expect(s.tensors.length).toBeLessThanOrEqual(4);
      expect(s.metadata.get('split.no')).toEqual({ type: GGUFValueType.UINT16, value: i });
      expect(s.metadata.get('split.count')).toEqual({ type: GGUFValueType.UINT16, value: shards.length });
      expect(s.metadata.get('split.tensors.count')).toEqual({ type: GGUFValueType.INT32, value: tensors.length });
      expect(s.metadata.size).toBe(i === 0 ? h.metadata.size + 3 : 3);
    });
    // the first shard: all the metadata in its order, then the split keys (as gguf-split writes it)
    expect([...shards[0]!.metadata.keys()]).toEqual([...h.metadata.keys(), 'split.no', 'split.count', 'split.tensors.count']);

    // by size: tensor bytes padded to the alignment, a shard never past the limit unless one tensor is
    const max = 20_000;
    const bySize = splitGGUF(h.metadata, tensors, { maxBytes: max });
    const padded = (t: GGUFWriteTensor) => Math.ceil((t.data as Uint8Array).length / 32) * 32;
    for (const s of bySize) {
      const bytes = s.tensors.reduce((a, t) => a + padded(t), 0);
      expect(bytes <= max || s.tensors.length === 1).toBe(true);
    }
    // greedy: the next shard's first tensor did not fit in the one before
    for (let i = 1; i < bySize.length; i++) {
      const before = bySize[i - 1]!.tensors.reduce((a, t) => a + padded(t), 0);
      expect(before + padded(bySize[i]!.tensors[0]!)).toBeGreaterThan(max);
    }
    expect(bySize.length).toBeGreaterThan(2);
    expect(() => splitGGUF(h.metadata, tensors, { maxBytes: 0 })).toThrow(WasmlmError);
    expect(() => splitGGUF(h.metadata, tensors, { maxTensors: 1.5 })).toThrow(/maxTensors/);
  });
});

describe('loading a split GGUF', () => {
  let paths: string[];
  let expected: Float32Array[];

  beforeAll(async () => {
    paths = await shardsOf('llama.gguf', 'a', 5);
    expected = await logitsOf(fixture('models/llama.gguf'));
  });

  it('by the first shard\'s path: every shard streamed, logits identical to the unsplit file', async () => {
    expect(paths.length).toBeGreaterThan(2);
    expect(paths[0]).toBe(join(dir, 'a', `llama-00001-of-${String(paths.length).padStart(5, '0')}.gguf`));
    // each shard is a GGUF of its own with its share of the tensors
    const counts = await Promise.all(paths.map(async (p) => (await readGGUF(p)).tensors.length));
    expect(counts.reduce((a, b) => a + b)).toBe((await loadGGUF('llama.gguf')).h.tensors.length);
    expect(await logitsOf(paths[0]!)).toEqual(expected);
  });

  it('other fixtures (quantized, MoE) the same', async () => {
    for (const name of ['llama256_q4_k_m.gguf', 'llama_moe_q8_0.gguf']) {
      const p = await shardsOf(name, `b-${name}`, 3);
      expect(await logitsOf(p[0]!)).toEqual(await logitsOf(fixture(`models/${name}`)));
    }
  });

  it('a first shard with metadata only (gguf-split --no-tensor-first-split)', async () => {
    const { h, tensors } = await parts('llama.gguf');
    const shards = splitGGUF(h.metadata, tensors, { maxTensors: 8 });
    const n = shards.length + 1;
    const d = join(dir, 'no-tensor-first');
    mkdirSync(d);
    const ps: string[] = [];
    const meta = (m: Map<string, unknown>, i: number) => {
      m.set('split.no', { type: GGUFValueType.UINT16, value: i });
      m.set('split.count', { type: GGUFValueType.UINT16, value: n });
    };
    for (let i = 0; i < n; i++) {
      const s = i === 0 ? { metadata: new Map(shards[0]!.metadata), tensors: [] } : shards[i - 1]!;
      if (i === 1) for (const k of [...s.metadata.keys()]) if (!k.startsWith('split.')) s.metadata.delete(k);
      meta(s.metadata, i);
      ps.push(join(d, splitPath('llama', i, n).split('/').pop()!));
      await writeGGUFFile(ps[i]!, s.metadata, s.tensors);
    }
    expect((await readGGUF(ps[0]!)).tensors).toEqual([]);
    expect(await logitsOf(ps[0]!)).toEqual(expected);
  });

  it('as an array: paths (in any order), bytes, Blobs, web streams and Node streams', async () => {
    const shuffled = [paths[1]!, ...paths.slice(2), paths[0]!];
    const bytes = paths.map((p) => new Uint8Array(readFileSync(p)));
    const sources: ModelSource[][] = [
      paths,
      shuffled,
      bytes,
      bytes.map((b) => new Blob([b])),
      paths.map((p) => Readable.toWeb(createReadStream(p, { highWaterMark: 999 })) as ReadableStream<Uint8Array>),
      paths.map((p) => createReadStream(p, { highWaterMark: 1234 })),
    ];
    for (const s of sources) expect(await logitsOf(s)).toEqual(expected);
  });

  it('by URL: the first shard\'s URL finds the others (query string kept), or an array of URLs', async () => {
    served.length = 0;
    expect(await logitsOf(`${base}/a/${paths[0]!.split('/').pop()}?download=true`)).toEqual(expected);
    for (const p of paths) expect(served).toContain(`/a/${p.split('/').pop()}`);
    expect(await logitsOf(new URL(`${base}/a/${paths[0]!.split('/').pop()}`))).toEqual(expected);
    expect(await logitsOf(paths.map((p) => `${base}/a/${p.split('/').pop()}`))).toEqual(expected);
  });

  it('reports progress over all the shards', async () => {
    const seen: { loaded: number; total: number | undefined }[] = [];
    const model = await loadModel(`${base}/a/${paths[0]!.split('/').pop()}`, { threads: 1, onProgress: (p) => seen.push(p) });
    model.dispose();
    const total = paths.reduce((a, p) => a + statSync(p).size, 0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.loaded).toBeGreaterThan(seen[i - 1]!.loaded);
    const last = seen[seen.length - 1]!;
    expect(last.total).toBe(total);
    // every tensor byte was read: at most the last shard's tail padding is left
    expect(total - last.loaded).toBeLessThan(32);
  });

  it('an abort in a later shard stops the load (ABORTED)', async () => {
    const first = statSync(paths[0]!).size;
    const ac = new AbortController();
    const e = await errorOf(loadModel(`${base}/a/${paths[0]!.split('/').pop()}`, {
      threads: 1, signal: ac.signal, onProgress: (p) => { if (p.loaded > first) ac.abort(); },
    }));
    expect(e).toBeInstanceOf(WasmlmError);
    expect(e!.code).toBe('ABORTED');
  });

  it('info and quantize read every shard (readGGUFModel)', async () => {
    const h = await readGGUFModel(paths[0]!);
    const plain = (await loadGGUF('llama.gguf')).h;
    expect(h.tensors.map((t) => [t.name, t.ne, t.type])).toEqual(plain.tensors.map((t) => [t.name, t.ne, t.type]));
    expect(h.metadata.get('general.architecture')?.value).toBe('llama');
  });
});

describe('missing and mismatched shards', () => {
  let paths: string[];
  beforeAll(async () => {
    paths = await shardsOf('llama.gguf', 'm', 5);
  });
  const code = async (p: Promise<unknown>) => {
    const e = await errorOf(p);
    expect(e).toBeInstanceOf(WasmlmError);
    return e!;
  };

  it('a missing shard names it (path and URL)', async () => {
    const gone = paths[2]!;
    const moved = `${gone}.away`;
    renameSync(gone, moved);
    try {
      const e = await code(loadModel(paths[0]!));
      expect(e.code).toBe('IO_ERROR');
      expect(e.message).toContain(`shard 3 of ${paths.length} is missing`);
      expect(e.message).toContain(gone);
      const u = await code(loadModel(`${base}/m/${paths[0]!.split('/').pop()}`));
      expect(u.code).toBe('FETCH_FAILED');
      expect(u.message).toContain(`${base}/m/${gone.split('/').pop()}`);
      expect(u.message).toContain('404');
      // an array short of a shard
      const a = await code(loadModel([paths[0]!, paths[1]!]));
      expect(a.message).toMatch(new RegExp(`2 sources were given .* split.count = ${paths.length}`));
    } finally {
      renameSync(moved, gone);
    }
  });

  it('a later shard given as the model names the first', async () => {
    const e = await code(loadModel(paths[1]!));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toContain(`is shard 2 of ${paths.length}`);
    expect(e.message).toContain(paths[0]!);
  });

  it('a first shard that cannot lead to the others (not named as a shard; a Blob)', async () => {
    const odd = join(dir, 'm', 'renamed.gguf');
    execFileSync('cp', [paths[0]!, odd]);
    const e = await code(loadModel(odd));
    expect(e.message).toMatch(/not named like one .*-00001-of-0000\d\.gguf.*as an array/);
    const b = await code(loadModel(new Blob([readFileSync(paths[0]!)])));
    expect(b.message).toMatch(/first shard .* cannot be found from it; give the shards as an array/);
  });

  it('shards of another split, a wrong tensor total, another architecture, a shard twice, not a shard', async () => {
    const other = await shardsOf('llama.gguf', 'o', 4); // another shard count
    const mixed = [paths[0]!, other[1]!, ...paths.slice(2)];
    let e = await code(loadModel(mixed));
    expect(e.code).toBe('BAD_FORMAT');
    expect(e.message).toContain(`${other[1]} has split.count = ${other.length}`);

    // shard 2 rewritten with a lying split.tensors.count, then with another architecture
    const h2 = await readGGUF(paths[1]!);
    const bytes2 = new Uint8Array(readFileSync(paths[1]!));
    const tensors2 = h2.tensors.map((t) => ({ ...t, data: bytes2.subarray(h2.dataOffset + t.offset, h2.dataOffset + t.offset + t.nBytes) }));
    const lying = join(dir, 'm', 'lying.gguf');
    const m = new Map(h2.metadata);
    m.set('split.tensors.count', { type: GGUFValueType.INT32, value: 99 });
    await writeGGUFFile(lying, m, tensors2);
    e = await code(loadModel([paths[0]!, lying, ...paths.slice(2)]));
    expect(e.message).toContain(`${lying} has split.tensors.count = 99`);

    const qwen = join(dir, 'm', 'qwen.gguf');
    const m2 = new Map(h2.metadata);
    m2.set('general.architecture', { type: GGUFValueType.STRING, value: 'qwen2' });
    await writeGGUFFile(qwen, m2, tensors2);
    e = await code(loadModel([paths[0]!, qwen, ...paths.slice(2)]));
    expect(e.message).toMatch(/is a 'qwen2' model, .* a 'llama' one/);

    e = await code(loadModel([paths[0]!, paths[0]!, ...paths.slice(2)]));
    expect(e.message).toContain('are both shard 1');

    e = await code(loadModel([fixture('models/llama.gguf'), ...paths.slice(1)]));
    expect(e.message).toContain('is not a shard');

    // all the tensors there, but split.tensors.count says otherwise in every shard
    const t = await parts('llama.gguf');
    const meta = new Map(t.h.metadata);
    const shards = splitGGUF(meta, t.tensors, { maxTensors: 20 });
    const fewer = shards.map((s, i) => {
      const p = join(dir, 'm', `fewer-${i}.gguf`);
      s.metadata.set('split.tensors.count', { type: GGUFValueType.INT32, value: t.tensors.length + 1 });
      return writeGGUFFile(p, s.metadata, s.tensors).then(() => p);
    });
    e = await code(loadModel(await Promise.all(fewer)));
    expect(e.message).toContain(`hold ${t.tensors.length} tensors, split.tensors.count says ${t.tensors.length + 1}`);
  });

  it('a tensor in two shards', async () => {
    const t = await parts('llama.gguf');
    const shards = splitGGUF(t.h.metadata, t.tensors, { maxTensors: 20 });
    shards[1]!.tensors.push(shards[0]!.tensors[0]!);
    shards.forEach((s) => s.metadata.set('split.tensors.count', { type: GGUFValueType.INT32, value: t.tensors.length + 1 }));
    const ps = await Promise.all(shards.map(async (s, i) => {
      const p = join(dir, 'm', `dup-${i}.gguf`);
      await writeGGUFFile(p, s.metadata, s.tensors);
      return p;
    }));
    const e = await code(loadModel(ps));
    expect(e.message).toContain(`tensor '${t.tensors[0]!.name}' is in both`);
  });
});

describe('wasmlm quantize / convert --split-max-size', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const cli = join(root, 'dist/cli.js');
  const wasmlm = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  it('quantize writes shards that load to the same logits as the unsplit output, and reads shards back', async () => {
    const d = join(dir, 'cli');
    mkdirSync(d, { recursive: true });
    const one = wasmlm('quantize', fixture('models/llama256.gguf'), join(d, 'one.gguf'), '--type', 'q8_0');
    expect(one.status, one.stderr).toBe(0);
    const r = wasmlm('quantize', fixture('models/llama256.gguf'), join(d, 'q8.gguf'), '--type', 'q8_0', '--split-max-size', '0.1M');
    expect(r.status, r.stderr).toBe(0);
    const shards = readdirSync(d).filter((f) => f.startsWith('q8-')).sort();
    expect(shards.length).toBeGreaterThan(2);
    expect(shards[0]).toBe(`q8-00001-of-${String(shards.length).padStart(5, '0')}.gguf`);
    expect(r.stderr).toContain(`${shards.length} shards`);
    for (const s of shards) {
      const h = await readGGUF(join(d, s));
      const bytes = h.tensors.reduce((a, t) => a + Math.ceil(t.nBytes / 32) * 32, 0);
      expect(bytes <= 100_000 || h.tensors.length === 1).toBe(true);
    }
    expect(await logitsOf(join(d, shards[0]!))).toEqual(await logitsOf(join(d, 'one.gguf')));

    // the shards as input: the same file as from the unsplit model
    const again = wasmlm('quantize', join(d, shards[0]!), join(d, 'again.gguf'), '--type', 'q8_0');
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(d, 'again.gguf')).equals(readFileSync(join(d, 'one.gguf')))).toBe(true);

    const info = JSON.parse(wasmlm('info', join(d, shards[0]!), '--json').stdout);
    expect(info.tensors).toBe((await readGGUF(join(d, 'one.gguf'))).tensors.length);
  });

  it('convert --split-max-tensors writes shards of the converted model', async () => {
    const d = join(dir, 'conv');
    mkdirSync(d, { recursive: true });
    const r = wasmlm('convert', fixture('stories260K/stories260K.bin'), fixture('stories260K/tok512.bin'), join(d, 's.gguf'), '--split-max-tensors', '10');
    expect(r.status, r.stderr).toBe(0);
    const shards = readdirSync(d).sort();
    const n = shards.length;
    expect(n).toBe(Math.ceil((await readGGUF(fixture('models/stories260K.gguf'))).tensors.length / 10));
    const model = await loadModel(join(d, shards[0]!), { threads: 1 });
    const plain = await loadModel(fixture('models/stories260K.gguf'), { threads: 1 });
    expect(await model.logits([1, 403, 407, 261, 378])).toEqual(await plain.logits([1, 403, 407, 261, 378]));
    model.dispose();
    plain.dispose();
  });

  it('bad sizes are errors naming the flag', () => {
    for (const bad of ['0', '2X', '-1G', 'G']) {
      const r = wasmlm('quantize', fixture('models/llama.gguf'), join(dir, 'never.gguf'), '--type', 'q8_0', '--split-max-size', bad);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('--split-max-size');
    }
    expect(existsSync(join(dir, 'never.gguf'))).toBe(false);
  });
});
