import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WasmlmError } from '../src/errors.js';
import { describeSource, openSource, type ByteStream, type ModelSource, type OpenOptions } from '../src/formats/source.js';

const FIXTURE = fileURLToPath(new URL('../../shared/fixtures/models/llama_q4_0.gguf', import.meta.url));
const BYTES = new Uint8Array(readFileSync(FIXTURE));

/** A ReadableStream of `bytes` split into chunks of the given sizes (cycled). */
function chunkedStream(bytes: Uint8Array, sizes: number[], opts: { delayMs?: number } = {}): ReadableStream<Uint8Array> {
  let pos = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      if (pos >= bytes.length) {
        ctrl.close();
        return;
      }
      const n = sizes[i++ % sizes.length]!;
      ctrl.enqueue(bytes.slice(pos, pos + n));
      pos += n;
    },
  });
}

/** Read the whole stream with a mix of read, readInto, skip and readSome of odd sizes. */
async function readAll(s: ByteStream, total: number): Promise<Uint8Array> {
  const out = new Uint8Array(total);
  const steps = [1, 7, 3, 1000, 4, 65536, 13, 250_000, 2];
  let k = 0;
  while (s.position < total) {
    const n = Math.min(steps[k % steps.length]!, total - s.position);
    const at = s.position;
    let adv = n;
    switch (k % 4) {
      case 0: out.set(await s.read(n), at); break;
      case 1: await s.readInto(out.subarray(at, at + n)); break;
      case 2: {
        const got = await s.readSome!(n);
        expect(got.length).toBeGreaterThan(0);
        expect(got.length).toBeLessThanOrEqual(n);
        out.set(got, at);
        adv = got.length;
        break;
      }
      case 3: {
        // skip, then step back with unread of what we peeked
        const peek = await s.read(n);
        out.set(peek, at);
        s.unread!(peek.slice());
        expect(s.position).toBe(at);
        await s.skip(n);
        break;
      }
    }
    expect(s.position).toBe(at + adv);
    k++;
  }
  return out;
}

async function expectCode(p: Promise<unknown>, code: string, msg?: RegExp): Promise<WasmlmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected WasmlmError ${code}`).toBeInstanceOf(WasmlmError);
  expect((e as WasmlmError).code).toBe(code);
  if (msg) expect((e as WasmlmError).message).toMatch(msg);
  return e as WasmlmError;
}

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/model.gguf') {
      res.writeHead(200, { 'content-length': String(BYTES.length), 'content-type': 'application/octet-stream' });
      res.end(Buffer.from(BYTES));
    } else if (url === '/chunked.gguf') {
      // no content-length: size unknown
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let pos = 0;
      const step = () => {
        if (pos >= BYTES.length) return void res.end();
        res.write(Buffer.from(BYTES.subarray(pos, pos + 10_000)), step);
        pos += 10_000;
      };
      step();
    } else if (url === '/slow.gguf') {
      res.writeHead(200, { 'content-length': String(BYTES.length) });
      res.write(Buffer.from(BYTES.subarray(0, 1000))); // then nothing: the client must abort
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  server.closeAllConnections?.();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('openSource gives the same bytes from every kind of source', () => {
  const cases: [string, () => ModelSource, OpenOptions?][] = [
    ['path', () => FIXTURE],
    ['path, small chunks', () => FIXTURE, { chunkSize: 999 }],
    ['file URL', () => pathToFileURL(FIXTURE)],
    ['file URL string', () => pathToFileURL(FIXTURE).href],
    ['Uint8Array', () => BYTES.slice()],
    ['Uint8Array view with an offset', () => {
      const big = new Uint8Array(BYTES.length + 100);
      big.set(BYTES, 37);
      return big.subarray(37, 37 + BYTES.length);
    }],
    ['ArrayBuffer', () => BYTES.slice().buffer],
    ['Blob', () => new Blob([BYTES])],
    ['ReadableStream in odd chunks', () => chunkedStream(BYTES, [1, 7, 4093, 3, 65537, 11])],
    ['Node Readable (fs.createReadStream), small chunks', () => createReadStream(FIXTURE, { highWaterMark: 4093 })],
    ['Node Readable.from an array of chunks', () => Readable.from([BYTES.subarray(0, 5000), BYTES.subarray(5000)])],
    ['ReadableStream of Node Buffers (views into one bigger buffer)', () => {
      const file = readFileSync(FIXTURE);
      return new ReadableStream({ start(c) { c.enqueue(file.subarray(0, 777)); c.enqueue(file.subarray(777)); c.close(); } });
    }],
    ['http URL', () => `${base}/model.gguf`],
    ['http URL object', () => new URL(`${base}/model.gguf`)],
    ['http URL without content-length', () => `${base}/chunked.gguf`],
  ];
  for (const [name, make, opts] of cases) {
    it(name, async () => {
      const progress: { loaded: number; total: number | undefined }[] = [];
      const s = await openSource(make(), { ...opts, onProgress: (p) => progress.push(p) });
      try {
        const known = !name.includes('ReadableStream') && !name.includes('Readable') && !name.includes('without content-length');
        expect(s.size).toBe(known ? BYTES.length : undefined);
        const got = await readAll(s, BYTES.length);
        expect(Buffer.from(got).equals(Buffer.from(BYTES))).toBe(true);
        // at the end: reads fail with TRUNCATED, readSome gives nothing
        expect((await s.readSome!(10)).length).toBe(0);
        await expectCode(s.read(1), 'TRUNCATED');
        // progress: increasing, ends at the size, total as known
        expect(progress.length).toBeGreaterThan(3);
        for (let i = 1; i < progress.length; i++) expect(progress[i]!.loaded).toBeGreaterThan(progress[i - 1]!.loaded);
        expect(progress.at(-1)!.loaded).toBe(BYTES.length);
        expect(progress.at(-1)!.total).toBe(known ? BYTES.length : undefined);
      } finally {
        await s.close();
      }
    });
  }
});

describe('stream behaviour', () => {
  it('readInto a big buffer copies chunk by chunk, with progress per chunk', async () => {
    const progress: number[] = [];
    const s = await openSource(FIXTURE, { chunkSize: 8192, onProgress: (p) => progress.push(p.loaded) });
    const dest = new Uint8Array(BYTES.length);
    await s.readInto(dest);
    expect(Buffer.from(dest).equals(Buffer.from(BYTES))).toBe(true);
    expect(progress.length).toBeGreaterThanOrEqual(Math.floor(BYTES.length / 8192));
    await s.close();
  });

  it('memory sources return views, not copies', async () => {
    const s = await openSource(BYTES);
    const v = await s.read(16);
    expect(v.buffer).toBe(BYTES.buffer);
    await s.close();
  });

  it('reading past the end is TRUNCATED before anything is consumed (known size)', async () => {
    const s = await openSource(BYTES.subarray(0, 100));
    await s.skip(90);
    await expectCode(s.read(11), 'TRUNCATED', /11|1 more/);
    expect(s.position).toBe(90);
    expect((await s.read(10)).length).toBe(10);
    await expectCode(s.skip(1), 'TRUNCATED');
    await s.close();
  });

  it('reading past the end of a stream of unknown size is TRUNCATED', async () => {
    const s = await openSource(chunkedStream(BYTES.subarray(0, 100), [33]));
    await expectCode(s.readInto(new Uint8Array(101)), 'TRUNCATED');
    await s.close();
    const s2 = await openSource(chunkedStream(BYTES.subarray(0, 100), [33]));
    await expectCode(s2.skip(101), 'TRUNCATED');
    await s2.close();
  });

  it('skip on a file does not read, and zero-length operations are no-ops', async () => {
    const s = await openSource(FIXTURE, { chunkSize: 4096 });
    await s.skip(0);
    expect((await s.read(0)).length).toBe(0);
    await s.skip(BYTES.length - 4);
    expect(Array.from(await s.read(4))).toEqual(Array.from(BYTES.subarray(-4)));
    await s.close();
  });

  it('operations on a closed stream fail; close is idempotent', async () => {
    const s = await openSource(FIXTURE);
    await s.close();
    await s.close();
    await expectCode(s.read(1), 'IO_ERROR');
  });

  it('bad arguments', async () => {
    const s = await openSource(BYTES);
    await expectCode(s.read(-1), 'BAD_ARGUMENT');
    await expectCode(s.read(1.5), 'BAD_ARGUMENT');
    await s.close();
    await expectCode(openSource(42 as unknown as ModelSource), 'BAD_ARGUMENT');
    await expectCode(openSource(new URL('ftp://example.com/x.gguf')), 'BAD_ARGUMENT');
    await expectCode(openSource(BYTES, { chunkSize: 0 }), 'BAD_ARGUMENT');
    const rs = chunkedStream(BYTES, [10]);
    rs.getReader(); // locks it
    await expectCode(openSource(rs), 'BAD_ARGUMENT', /locked/);
    const notBytes = new ReadableStream({ start(c) { c.enqueue('text' as unknown as Uint8Array); c.close(); } });
    const s2 = await openSource(notBytes as ReadableStream<Uint8Array>);
    await expectCode(s2.read(1), 'BAD_ARGUMENT');
    await s2.close();
  });
});

describe('errors', () => {
  it('a missing file is IO_ERROR naming the path', async () => {
    const p = join(tmpdir(), 'wasmlm-no-such-file.gguf');
    await expectCode(openSource(p), 'IO_ERROR', new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await expectCode(openSource(pathToFileURL(p)), 'IO_ERROR', /no such file/);
  });

  it('a directory is IO_ERROR', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wasmlm-src-'));
    try {
      await expectCode(openSource(dir), 'IO_ERROR', /directory/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('HTTP 404 is FETCH_FAILED naming the URL and status', async () => {
    const url = `${base}/missing.gguf`;
    const e = await expectCode(openSource(url), 'FETCH_FAILED', /404/);
    expect(e.message).toContain(url);
  });

  it('a refused connection is FETCH_FAILED', async () => {
    // a port nothing listens on: bind one, close it, use it
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
    const port = (tmp.address() as { port: number }).port;
    await new Promise<void>((r) => tmp.close(() => r()));
    await expectCode(openSource(`http://127.0.0.1:${port}/x.gguf`), 'FETCH_FAILED', new RegExp(`127.0.0.1:${port}`));
  });
});

describe('abort', () => {
  it('an already aborted signal fails at open', async () => {
    const ac = new AbortController();
    ac.abort();
    await expectCode(openSource(FIXTURE, { signal: ac.signal }), 'ABORTED');
    await expectCode(openSource(`${base}/model.gguf`, { signal: ac.signal }), 'ABORTED');
  });

  for (const [name, make] of [
    ['path', () => FIXTURE],
    ['Uint8Array', () => BYTES],
    ['Blob', () => new Blob([BYTES])],
    ['ReadableStream', () => chunkedStream(BYTES, [5000])],
    ['http', () => `${base}/model.gguf`],
  ] as [string, () => ModelSource][]) {
    it(`abort mid-way (${name}) → ABORTED`, async () => {
      const ac = new AbortController();
      const s = await openSource(make(), { signal: ac.signal, chunkSize: 4096 });
      await s.read(100);
      ac.abort();
      await expectCode(s.read(100_000), 'ABORTED');
      await expectCode(s.skip(10), 'ABORTED');
      await s.close();
    });
  }

  it('abort from onProgress stops a big readInto', async () => {
    const ac = new AbortController();
    let calls = 0;
    const s = await openSource(FIXTURE, {
      signal: ac.signal,
      chunkSize: 4096,
      onProgress: () => {
        if (++calls === 3) ac.abort();
      },
    });
    await expectCode(s.readInto(new Uint8Array(BYTES.length)), 'ABORTED');
    expect(s.position).toBeLessThan(BYTES.length);
    await s.close();
  });

  it('a read waiting on a stalled stream rejects at once when aborted (no hang)', async () => {
    const ac = new AbortController();
    const stalled = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(new Uint8Array(10)); } }); // never more
    const s = await openSource(stalled, { signal: ac.signal });
    const p = s.read(20);
    setTimeout(() => ac.abort(), 20);
    await expectCode(p, 'ABORTED');
    await s.close();
  });

  it('a stalled HTTP download rejects when aborted', async () => {
    const ac = new AbortController();
    const s = await openSource(`${base}/slow.gguf`, { signal: ac.signal });
    expect(s.size).toBe(BYTES.length);
    const p = s.read(5000);
    setTimeout(() => ac.abort(), 30);
    await expectCode(p, 'ABORTED');
    await s.close();
  });
});

describe('describeSource', () => {
  it('names each kind of source', () => {
    expect(describeSource('/models/x.gguf')).toBe('/models/x.gguf');
    expect(describeSource(new URL('https://example.com/m.gguf'))).toBe('https://example.com/m.gguf');
    expect(describeSource(new ArrayBuffer(12))).toBe('ArrayBuffer (12 bytes)');
    expect(describeSource(new Uint8Array(5))).toBe('Uint8Array (5 bytes)');
    expect(describeSource(new Blob([new Uint8Array(3)]))).toBe('Blob (3 bytes)');
    expect(describeSource(new File([new Uint8Array(3)], 'm.gguf'))).toBe('File "m.gguf" (3 bytes)');
    expect(describeSource(new ReadableStream())).toBe('ReadableStream');
  });
});

describe('Node Readable streams', () => {
  it('closing before the end destroys the stream; an encoding (string chunks) is refused; a flowing one too', async () => {
    const rs = createReadStream(FIXTURE, { highWaterMark: 1024 });
    const s = await openSource(rs);
    expect(s.description).toMatch(/^Readable stream of .*\.gguf$/);
    expect((await s.read(4)).length).toBe(4);
    await s.close();
    expect(rs.destroyed).toBe(true);
    const text = await openSource(createReadStream(FIXTURE, { encoding: 'latin1' }));
    await expectCode(text.read(4), 'BAD_ARGUMENT');
    await text.close();
    const flowing = createReadStream(FIXTURE);
    flowing.on('data', () => {});
    await expectCode(openSource(flowing), 'BAD_ARGUMENT');
    flowing.destroy();
  });

  it('loadModel takes one (Buffer chunks: the GGUF arrays are copies, not views of the whole chunk)', async () => {
    const { loadModel } = await import('../src/index.js');
    const model = await loadModel(createReadStream(FIXTURE));
    expect(model.info.architecture).toBe('llama');
    expect((await model.complete([1], { maxTokens: 3, temperature: 0 })).tokens).toHaveLength(3);
    model.dispose();
  });
});
