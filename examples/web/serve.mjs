// Serves the app as it would be deployed, for trying it out: node examples/web/serve.mjs [port]
// (after `npm run build`), then open http://127.0.0.1:8080/.
//
//   /           examples/web/   the pages (index.html, teach.html), their scripts, style.css, sw.js
//   /wasmlm/    dist/           the package's bundle (browser.js, model-worker.js, chunks, .wasm)
//   /models/    models/         the embedded model, which the bundle fetches from ../models/
//
// Deploying is copying those three folders into that layout on any static host. The service worker
// sits at the root so that its scope covers the model's worker (/wasmlm/model-worker.js) too. This
// server also sends the headers that make the page cross-origin isolated, so that the model may use
// threads; without them it runs on one thread and says why.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const mounts = [['/wasmlm/', here('../../dist/')], ['/models/', here('../../models/')], ['/', here('./')]];
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };
const port = Number(process.argv[2] ?? 8080);

createServer((req, res) => {
  try {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, dir] = /** @type {string[]} */ (mounts.find(([p]) => path.startsWith(p))); // '/' matches any path
    let file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir.endsWith(sep) ? dir : dir + sep) && file + sep !== dir) throw new Error('outside');
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    res.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404).end('not found');
  }
}).listen(port, '127.0.0.1', () => console.log(`wasmlm web app: http://127.0.0.1:${port}/`));
