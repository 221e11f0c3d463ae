/**
 * A static file server on 127.0.0.1 for browser and runtime tests: the project root (dist/, models/,
 * examples/, test/helpers/), or folders mounted at URL prefixes, with the right MIME types, no HTTP caching (so that whatever works offline
 * works through a service worker or the Cache API, not the browser's HTTP cache), and optionally the
 * headers that make a page cross-origin isolated (COOP/COEP).
 *
 * Extra routes:
 *   /__blank                 an empty HTML page (a place to run page.evaluate), with importModule(url)
 *   /__stall/<path>?bytes=N  the file's first N bytes with the whole file's content-length, then nothing
 *   anything missing         404
 * `requests` logs every request path, so that a test can tell that nothing reached the network.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  readonly origin: string;
  readonly port: number;
  /** paths (with their query) requested, in order */
  readonly requests: string[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** URL path prefixes → folders, longest first wins (default { '/': the project root }) */
  mounts?: Record<string, string>;
  /** send COOP/COEP/CORP so that pages are cross-origin isolated */
  isolated?: boolean;
  port?: number;
}

export async function serveStatic(options: ServeOptions = {}): Promise<StaticServer> {
  const mounts = Object.entries(options.mounts ?? { '/': PROJECT_ROOT })
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', normalize(dir)] as const)
    .sort((a, b) => b[0].length - a[0].length);
  const resolve = (pathname: string) => {
    const m = mounts.find(([prefix]) => pathname.startsWith(prefix) || pathname + '/' === prefix);
    return m ? resolveFile(m[1], pathname.slice(m[0].length - 1)) : undefined;
  };
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url.pathname + url.search);
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (options.isolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
      headers['cross-origin-resource-policy'] = 'same-origin';
    }
    if (url.pathname === '/__blank') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      // importModule: a dynamic import that vitest's transform leaves alone inside page.evaluate
      res.end('<!doctype html><meta charset="utf-8"><title>wasmlm test</title>' +
        '<script>window.importModule = (u) => import(u);</script><body></body>');
      return;
    }
    if (url.pathname.startsWith('/__stall/')) {
      const file = resolve(url.pathname.slice('/__stall'.length));
      if (!file) return notFound(res, headers);
      const size = statSync(file).size;
      const n = Math.min(size - 1, Number(url.searchParams.get('bytes') ?? size >> 1));
      res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(size) });
      createReadStream(file, { start: 0, end: n - 1 }).on('data', (c) => res.write(c));
      return; // and never end: the client has to give up
    }
    const file = resolve(url.pathname);
    if (!file) return notFound(res, headers);
    send(req, res, file, headers);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function resolveFile(root: string, pathname: string): string | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  let file = normalize(join(root, rel));
  if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
  try {
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    return statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

function notFound(res: ServerResponse, headers: Record<string, string>): void {
  res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
  res.end('not found');
}

function send(req: IncomingMessage, res: ServerResponse, file: string, headers: Record<string, string>): void {
  const size = statSync(file).size;
  const type = MIME[extname(file)] ?? 'application/octet-stream';
  // one range (bytes=a-b), as Hugging Face folders are read
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range && Number(range[1]) <= Number(range[2]) && Number(range[1]) < size) {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), size - 1);
    res.writeHead(206, { ...headers, 'content-type': type, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}` });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file, { start, end }).pipe(res);
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': type, 'content-length': String(size) });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
}
