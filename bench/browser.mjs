#!/usr/bin/env node
// npm run bench:browser: wasmlm (dist/ browser entry) and @wllama/wllama (llama.cpp in wasm) on the same
// GGUF files in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core), 1 thread on a
// plain page and 2 threads on a cross-origin isolated page (COOP/COEP). Engines alternate run by run,
// each run in a fresh browser profile; prints tok/s and the ratios wasmlm / wllama (median of the
// per-round ratios) against issue 5's targets (decode ≥ 5×, prefill ≥ 10×).
//
//   npm run bench:browser [-- --shapes stories110m,tinyllama --types q8_0,q4_0,q4_k_m --threads 1,2 --rounds 2
//                             --prompt 128 --gen 64 --engines wasmlm,wllama --quiet-wait 60 --out results.json]
//
// The page is bench/browser/index.html + page.mjs; models come from bench/models (made by run.mjs's
// make-model step when missing); the peers from bench/node_modules (installed when missing).
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureModel, f1, mark, median, table, waitQuiet } from './common.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = join(root, 'bench');
const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const list = (name, fallback) => get(name, fallback).split(',').map((s) => s.trim()).filter(Boolean);
const shapes = list('shapes', 'stories110m,tinyllama');
const types = list('types', 'q8_0,q4_0,q4_k_m');
const threadList = list('threads', '1,2').map(Number);
const engines = list('engines', 'wasmlm,wllama');
const rounds = Number(get('rounds', '2'));
const nPrompt = Number(get('prompt', '128'));
const nGen = Number(get('gen', '64'));
const outFile = get('out');
const TIMEOUT_MS = 1000 * Number(process.env.BENCH_TIMEOUT_S ?? 900);

if (!existsSync(join(benchDir, 'node_modules/@wllama/wllama/package.json')) || !existsSync(join(benchDir, 'node_modules/playwright-core/package.json'))) {
  process.stderr.write('installing the peers into bench/node_modules (npm install --prefix bench) ...\n');
  execFileSync('npm', ['install', '--prefix', benchDir, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] });
}
if (!existsSync('/usr/bin/chromium')) {
  console.error('needs Debian\'s Chromium: apt-get update && apt-get install -y chromium');
  process.exit(1);
}
if (!existsSync(join(root, 'dist/index.js'))) { console.error('dist/ is missing: run `npm run build` first'); process.exit(1); }
const { chromium } = await import(join(benchDir, 'node_modules/playwright-core/index.mjs'));

// --- models ---------------------------------------------------------------------------------------
const models = [];
for (const shape of shapes) {
  for (const type of types) {
    const file = ensureModel(shape, type);
    models.push({ shape, type, file, name: `${shape}-${type}.gguf` });
  }
}

// --- two servers: plain (1 thread) and cross-origin isolated (COOP/COEP: SharedArrayBuffer, threads) ---
const MOUNTS = [
  ['/bench/browser/', join(benchDir, 'browser')],
  // WASMLM_DIST: a copy of dist/ to measure (a rebuild of dist/ during a long run then changes nothing)
  ['/dist/', process.env.WASMLM_DIST ? resolve(process.env.WASMLM_DIST) : join(root, 'dist')],
  ['/wllama/', join(benchDir, 'node_modules/@wllama/wllama/esm')],
  ['/models/', join(benchDir, 'models')],
];
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
function server(isolated) {
  return http.createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers = { 'Cache-Control': 'no-store', 'Cross-Origin-Resource-Policy': 'same-origin' };
    if (isolated) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    let target;
    for (const [prefix, dir] of MOUNTS) {
      if (!pathname.startsWith(prefix)) continue;
      const p = resolve(dir, decodeURIComponent(pathname.slice(prefix.length)));
      if (p.startsWith(dir + sep)) target = p;
    }
    const st = target ? statSync(target, { throwIfNoEntry: false }) : undefined;
    if (!target || !st?.isFile()) { res.writeHead(404, headers).end(); return; }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(target)] ?? 'application/octet-stream', 'Content-Length': st.size });
    if (req.method === 'HEAD') res.end(); else createReadStream(target).pipe(res);
  });
}
const listen = (s) => new Promise((ok, ko) => s.once('error', ko).listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${s.address().port}`)));
const plain = server(false), isolated = server(true);
const origins = { plain: await listen(plain), isolated: await listen(isolated) };

// --- one measurement: a fresh browser profile, one page, one engine ---------------------------------
async function measure(engine, m, threads) {
  const userDir = mkdtempSync(join(tmpdir(), 'wasmlm-bench-'));
  let context;
  const logTail = [];
  try {
    context = await chromium.launchPersistentContext(userDir, {
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.on('console', (msg) => { logTail.push(msg.text().slice(0, 300)); if (logTail.length > 20) logTail.shift(); });
    page.on('pageerror', (e) => logTail.push(`pageerror: ${e.message}`));
    await page.goto(`${threads > 1 ? origins.isolated : origins.plain}/bench/browser/index.html`);
    const opts = { engine, model: `/models/${m.name}`, threads, nPrompt, nGen };
    const timeout = new Promise((_, ko) => setTimeout(() => ko(new Error(`timed out after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS));
    // @ts-expect-error: a URL on the bench's own server, not a path for TypeScript
    const r = await Promise.race([page.evaluate(async (o) => (await import('/bench/browser/page.mjs')).run(o), opts), timeout]);
    if (threads > 1 && engine === 'wllama' && !(r.multithread && r.threads === threads)) throw new Error(`wllama did not run ${threads} threads: ${JSON.stringify(r)}`);
    return r;
  } catch (e) {
    process.stderr.write(`  ${engine} ${m.name} ${threads}T failed: ${String(e.message).split('\n')[0]}\n${logTail.slice(-5).map((l) => `    | ${l}\n`).join('')}`);
    return undefined;
  } finally {
    await context?.close().catch(() => {});
    try { // a Chromium singleton-socket dir can be left in /tmp
      const d = dirname(readlinkSync(join(userDir, 'SingletonSocket')));
      if (/org\.chromium\.Chromium\./.test(d)) rmSync(d, { recursive: true, force: true });
    } catch {}
    rmSync(userDir, { recursive: true, force: true });
  }
}

// --quiet-wait S: before each measurement wait up to S seconds for a quiet machine (common.mjs)
const quietWait = Number(get('quiet-wait', '0'));

const cells = new Map();
const runs = [];
process.stderr.write(`bench:browser: ${models.length} models × threads ${threadList.join(',')} × ${engines.join(' + ')}, ${rounds} rounds; ` +
  `load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
try {
  for (let r = 0; r < rounds; r++) {
    for (const m of models) {
      for (const t of threadList) {
        const k = `${m.name} ${t}`;
        const c = cells.get(k) ?? cells.set(k, { wasmlm: [], wllama: [] }).get(k);
        for (const engine of r % 2 === 0 ? engines : [...engines].reverse()) {
          const idle = quietWait > 0 ? await waitQuiet(quietWait) : NaN;
          const res = await measure(engine, m, t);
          if (res) res.idle_before = idle;
          c[engine].push(res);
          runs.push({ round: r, model: m.name, threads_asked: t, engine, ...res });
          process.stderr.write(`  round ${r + 1}/${rounds} ${m.name} ${t}T ${engine.padEnd(6)} ` +
            (res ? `prefill ${f1(res.prefill_tps)} decode ${f1(res.decode_tps)} tok/s (threads ${res.threads}${res.kernels ? `, ${res.kernels}` : ''})` : 'failed') +
            ` (load avg ${loadavg()[0].toFixed(2)}${Number.isFinite(idle) ? `, idle before ${(100 * idle).toFixed(0)}%` : ''})\n`);
        }
      }
    }
  }
} finally {
  plain.close();
  isolated.close();
}

const ratio = (a, b, f) => median(a.map((x, i) => (x && b[i] ? x[f] / b[i][f] : NaN)));
const rows = [];
for (const m of models) {
  for (const t of threadList) {
    const { wasmlm: w, wllama: l } = cells.get(`${m.name} ${t}`);
    const wt = median(w.map((x) => x?.threads));
    const pr = ratio(w, l, 'prefill_tps'), dr = ratio(w, l, 'decode_tps');
    rows.push({
      model: `${m.shape} ${m.type.toUpperCase()}`,
      threads: Number.isFinite(wt) && wt !== t ? `${t} (wasmlm ran ${wt})` : String(t),
      'wasmlm prefill': f1(median(w.map((x) => x?.prefill_tps))),
      'wllama prefill': f1(median(l.map((x) => x?.prefill_tps))),
      'prefill ratio (≥ 10)': f1(pr) + mark(pr, 10),
      'wasmlm decode': f1(median(w.map((x) => x?.decode_tps))),
      'wllama decode': f1(median(l.map((x) => x?.decode_tps))),
      'decode ratio (≥ 5)': f1(dr) + mark(dr, 5),
    });
  }
}
const chromiumVersion = (() => { try { return execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return 'chromium'; } })();
console.log(`\nwasmlm vs @wllama/wllama 3.8.1 in headless ${chromiumVersion}, tok/s, prompt ${nPrompt}, generate ${nGen}; ` +
  `1 thread: plain page; 2 threads: COOP/COEP page; medians of ${rounds} rounds (ratios: median of per-round ratios); ${cpus().length} cores`);
console.log(table(rows));
const notes = new Set(runs.filter((x) => x.engine === 'wasmlm' && x.threadsNote && x.threads < x.threads_asked).map((x) => x.threadsNote));
if (notes.size) console.log(`wasmlm threads notes: ${[...notes].join('; ')}`);
if (outFile) writeFileSync(outFile, JSON.stringify({ args, rows, runs }, null, 1));
process.exit(0);
