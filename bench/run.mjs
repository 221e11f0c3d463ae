#!/usr/bin/env node
// npm run bench: wasmlm against native llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binary) on the
// same random-weight GGUF files, side by side in one run, alternating engine by engine and round by round,
// each measurement in its own process. Prints tok/s, the ratios wasmlm / native (median of the per-round
// ratios) against the targets of issue 5, and the size of the runtime's own wasm + JS (gzip).
//
//   npm run bench [-- --shapes stories110m,tinyllama --types q8_0,q4_0,q4_k_m --threads 1,2 --rounds 3
//                     --prompt 128 --gen 64 --engines wasmlm,native --decode-context 1983 --quiet-wait 60
//                     --out results.json] [-- --sessions 1,2,4,8]
//   npm run bench -- --grammar [...]: the per-token cost of a JSON-schema constraint (bench/grammar.mjs)
//   npm run bench -- --train [...]: LoRA training tokens/s beside prefill tokens/s (bench/train.mjs)
//
// Models are made once with bench/make-model.mjs into bench/models/ (tinyllama q4_k_m takes ~10 min).
// The peers are bench/package.json's dependencies, installed into bench/node_modules when missing
// (`npm install --prefix bench`; no install script is needed: node-llama-cpp's prebuilt binaries come as
// optional packages). The native measurement is ../shared/tools/native-bench.mjs, copied next to
// bench/node_modules so that it resolves node-llama-cpp there (WASMLM_PEER_TOOLS overrides the folder).
// --sessions 1,2,4,8 (issue 11 item 5): instead, the aggregate decode tok/s of that many concurrent sessions of
// one model (bench/sessions.mjs, one process each), against 1 session; --gen tokens each. Also per CPU-second
// of the process (a shared machine's waits for a core not counted; with threads, all threads' time).
// --decode-context N (issue 5 item 9): also runs wasmlm with `--context-fill N` and reports the time per
// decoded token after N tokens of context against the one after --prompt tokens.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ensureModel, f1, f2, mark, median, table, waitQuiet } from './common.mjs';

// --grammar: the structured-output bench instead (bench/grammar.mjs)
if (process.argv.includes('--grammar')) { await import('./grammar.mjs'); process.exit(0); }
// --train: LoRA training tokens/s against prefill instead (bench/train.mjs)
if (process.argv.includes('--train')) { await import('./train.mjs'); process.exit(0); }

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = join(root, 'bench');
const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const list = (name, fallback) => get(name, fallback).split(',').map((s) => s.trim()).filter(Boolean);
const shapes = list('shapes', get('shape', 'stories110m,tinyllama'));
const types = list('types', 'q8_0,q4_0,q4_k_m');
const threadList = list('threads', '1,2').map(Number);
const engines = list('engines', 'wasmlm,native');
const rounds = Number(get('rounds', '3'));
const prompt = get('prompt', '128');
const gen = get('gen', '64');
const decodeContext = get('decode-context');
const outFile = get('out');
const TIMEOUT_MS = 1000 * Number(process.env.BENCH_TIMEOUT_S ?? 1200);
// WASMLM_DIST: a copy of dist/ to measure (so that a rebuild of dist/ during a long run changes nothing)
const dist = process.env.WASMLM_DIST ? resolve(process.env.WASMLM_DIST) : join(root, 'dist');

// --- peers ------------------------------------------------------------------------------------
function ensurePeers() {
  if (!engines.includes('native')) return undefined;
  if (!existsSync(join(benchDir, 'node_modules/node-llama-cpp/package.json'))) {
    process.stderr.write('installing the peers into bench/node_modules (npm install --prefix bench) ...\n');
    execFileSync('npm', ['install', '--prefix', benchDir, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const tools = process.env.WASMLM_PEER_TOOLS ?? join(root, '../shared/tools');
  const script = join(benchDir, '.peer-native-bench.mjs');
  copyFileSync(join(tools, 'native-bench.mjs'), script);
  return script;
}


// --- one measurement = one process, one JSON line ----------------------------------------------
function measure(engine, file, threads, extra = []) {
  const argv = engine === 'wasmlm'
    ? [join(dist, 'cli.js'), 'bench', file, '--threads', String(threads), '--gen', gen, '--json', ...(extra.length ? extra : ['--prompt', prompt])]
    : [nativeScript, file, String(threads), prompt, gen];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ');
    process.stderr.write(`  ${engine} ${file.split('/').pop()} ${threads}T failed: ${why}\n`);
    return undefined;
  }
  return JSON.parse(line);
}

// --- runtime size (issue 5 item 10) -------------------------------------------------------------
/** dist/index.js and every file it reaches: static and dynamic imports of ./chunks, new URL('./x', import.meta.url) assets. */
function runtimeSize() {
  const seen = new Map();
  const visit = (name) => {
    if (seen.has(name) || !existsSync(join(dist, name))) return;
    const bytes = readFileSync(join(dist, name));
    seen.set(name, { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
    if (!name.endsWith('.js')) return;
    const code = bytes.toString('utf8');
    const refs = [
      // (minified: `from"./x.js"`, `import"./x.js"`, `import("./x.js")`)
      ...code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]\.\/([^'"]+)['"]/g),
      ...code.matchAll(/new URL\(\s*['"]\.\/([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g),
    ];
    for (const m of refs) visit(m[1]);
  };
  visit('index.js');
  const files = [...seen.entries()].map(([name, s]) => ({ name, ...s })).filter((f) => !f.name.endsWith('.gguf'));
  const sum = (fs) => fs.reduce((a, f) => ({ raw: a.raw + f.raw, gzip: a.gzip + f.gzip }), { raw: 0, gzip: 0 });
  const js = files.filter((f) => f.name.endsWith('.js'));
  const wasm = files.filter((f) => f.name.endsWith('.wasm'));
  const oneWasm = wasm.filter((f) => f.name === 'wasmlm.wasm');
  return { files, js: sum(js), wasm: sum(wasm), total: sum(files), minimal: sum([...js, ...oneWasm]) };
}

// --- --sessions 1,2,4,8: batched decoding of concurrent sessions (issue 11 item 5) ---------------
/** Aggregate decode tok/s of N concurrent sessions, per model and thread count, against 1 session. */
async function sessionsBench(counts) {
  if (!counts.includes(1)) counts.unshift(1);
  const models = [];
  for (const shape of shapes) for (const type of types) models.push({ shape, type, file: ensureModel(shape, type) });
  const results = new Map();
  for (let r = 0; r < rounds; r++) {
    for (const m of models) {
      for (const t of threadList) {
        // alternate the order of the counts, round by round
        for (const n of r % 2 === 0 ? counts : [...counts].reverse()) {
          if (quietWait > 0) await waitQuiet(quietWait);
          const p = spawnSync(process.execPath, [join(benchDir, 'sessions.mjs'), m.file, '--sessions', String(n), '--threads', String(t),
            '--gen', gen, '--prompt', get('prompt', '16')], { encoding: 'utf8', timeout: TIMEOUT_MS, env: { ...process.env, WASMLM_DIST: dist } });
          const line = (p.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
          const res = p.status === 0 && line ? JSON.parse(line) : undefined;
          if (!res) process.stderr.write(`  ${m.shape} ${m.type} ${t}T ×${n} failed: ${(p.stderr || '').trim().split('\n').slice(-2).join(' | ')}\n`);
          const k = `${m.shape} ${m.type} ${t} ${n}`;
          (results.get(k) ?? results.set(k, []).get(k)).push(res);
          log.push({ round: r, shape: m.shape, type: m.type, threads: t, sessions: n, ...res });
          process.stderr.write(`  round ${r + 1}/${rounds} ${m.shape} ${m.type} ${t}T ${n} sessions: ` +
            (res ? `${f1(res.aggregate_tps)} tok/s aggregate (${f1(res.cpu_tps)} per CPU-s), ${f1(res.per_batch)} per pass` : 'failed') + '\n');
        }
      }
    }
  }
  const rows = [];
  for (const m of models) {
    for (const t of threadList) {
      const one = results.get(`${m.shape} ${m.type} ${t} 1`);
      for (const n of counts) {
        const xs = results.get(`${m.shape} ${m.type} ${t} ${n}`);
        const speedup = median(xs.map((x, i) => (x && one[i] ? x.aggregate_tps / one[i].aggregate_tps : NaN)));
        const cpuSpeedup = median(xs.map((x, i) => (x && one[i] ? x.cpu_tps / one[i].cpu_tps : NaN)));
        rows.push({
          model: `${m.shape} ${m.type.toUpperCase()}`, threads: String(t), sessions: String(n),
          'aggregate decode tok/s': f1(median(xs.map((x) => x?.aggregate_tps))),
          'per session tok/s': f1(median(xs.map((x) => x?.aggregate_tps / n))),
          'sessions per pass': f1(median(xs.map((x) => x?.per_batch))),
          '× 1 session': f2(speedup) + (n === 4 ? mark(speedup, 2.5) + ' (goal ≥ 2.5)' : ''),
          'tok per CPU-s': f1(median(xs.map((x) => x?.cpu_tps))),
          '× 1 session (CPU)': f2(cpuSpeedup),
        });
      }
    }
  }
  console.log(`\nwasmlm: batched decoding of concurrent sessions, generate ${gen} each; medians of ${rounds} rounds; ` +
    `Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim()})`);
  console.log(table(rows));
  if (outFile) writeFileSync(outFile, JSON.stringify({ args, rows, runs: log }, null, 1));
}

// --- main ---------------------------------------------------------------------------------------
// --quiet-wait S: before each measurement wait up to S seconds for a quiet machine (common.mjs)
const quietWait = Number(get('quiet-wait', '0'));

if (!existsSync(join(dist, 'cli.js'))) { console.error(`${dist}/cli.js is missing: run \`npm run build\` first`); process.exit(1); }
const log = [];
if (get('sessions')) {
  await sessionsBench(list('sessions', '1,2,4,8').map(Number));
  process.exit(0);
}
const nativeScript = ensurePeers();
const models = [];
for (const shape of shapes) for (const type of types) models.push({ shape, type, file: ensureModel(shape, type) });

const cells = new Map(); // key → { wasmlm: [], native: [], long: [], short: [] }
const key = (m, t) => `${m.shape} ${m.type} ${t}`;
process.stderr.write(`bench: ${models.length} models × threads ${threadList.join(',')} × ${engines.join(' + ')}, ${rounds} rounds; ` +
  `${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
for (let r = 0; r < rounds; r++) {
  for (const m of models) {
    for (const t of threadList) {
      const c = cells.get(key(m, t)) ?? cells.set(key(m, t), { wasmlm: [], native: [], short: [], long: [] }).get(key(m, t));
      // alternate who goes first, round by round
      const order = r % 2 === 0 ? engines : [...engines].reverse();
      for (const engine of order) {
        const idle = quietWait > 0 ? await waitQuiet(quietWait) : NaN;
        const res = measure(engine, m.file, t);
        if (res) res.idle_before = idle;
        c[engine].push(res);
        log.push({ round: r, shape: m.shape, type: m.type, threads: t, engine, ...res });
        process.stderr.write(`  round ${r + 1}/${rounds} ${key(m, t)}T ${engine.padEnd(6)} ` +
          (res ? `prefill ${f1(res.prefill_tps)} decode ${f1(res.decode_tps)} tok/s` : 'failed') +
          ` (load avg ${loadavg()[0].toFixed(2)}${Number.isFinite(idle) ? `, idle before ${(100 * idle).toFixed(0)}%` : ''})\n`);
      }
      if (decodeContext && engines.includes('wasmlm')) {
        if (quietWait > 0) await waitQuiet(quietWait);
        const long = measure('wasmlm', m.file, t, ['--context-fill', decodeContext]);
        c.long.push(long);
        c.short.push(c.wasmlm[c.wasmlm.length - 1]);
        log.push({ round: r, shape: m.shape, type: m.type, threads: t, engine: 'wasmlm', context: Number(decodeContext), ...long });
        process.stderr.write(`  round ${r + 1}/${rounds} ${key(m, t)}T wasmlm decode after ${decodeContext} tokens: ${long ? f2(long.decode_tps) : 'failed'} tok/s\n`);
      }
    }
  }
}

const ratio = (a, b, field) => median(a.map((x, i) => (x && b[i] ? x[field] / b[i][field] : NaN)));
const rows = [];
for (const m of models) {
  for (const t of threadList) {
    const c = cells.get(key(m, t));
    const w = c.wasmlm, n = c.native;
    const wt = median(w.map((x) => x?.threads));
    rows.push({
      model: `${m.shape} ${m.type.toUpperCase()}`,
      'MiB': (statSync(m.file).size / 2 ** 20).toFixed(0),
      threads: Number.isFinite(wt) && wt !== t ? `${t} (wasmlm ran ${wt})` : String(t),
      'wasmlm prefill': f1(median(w.map((x) => x?.prefill_tps))),
      'native prefill': f1(median(n.map((x) => x?.prefill_tps))),
      'prefill ratio (≥ 0.5)': f2(ratio(w, n, 'prefill_tps')) + mark(ratio(w, n, 'prefill_tps'), 0.5),
      'wasmlm decode': f1(median(w.map((x) => x?.decode_tps))),
      'native decode': f1(median(n.map((x) => x?.decode_tps))),
      'decode ratio (≥ 0.8)': f2(ratio(w, n, 'decode_tps')) + mark(ratio(w, n, 'decode_tps'), 0.8),
      'wasmlm load ms': f1(median(w.map((x) => x?.load_ms))).replace(/\.\d$/, ''),
      // issue 5 item 5: peak RSS ≤ file + KV cache + 64 MiB (issue 17: + the extra shards' scratch, 0 for one memory)
      'wasmlm peak RSS MiB (≤ file + KV + 64)': (() => {
        const rss = median(w.map((x) => x?.peak_rss_mb));
        const budget = median(w.map((x) => (x ? x.bound_mb : NaN)));
        return `${rss.toFixed(0)} (≤ ${budget.toFixed(0)})${mark(budget / rss, 1)}`;
      })(),
      ...(decodeContext ? {
        [`ms/token at ${decodeContext} ÷ at ${prompt} (≤ 1.5)`]: (() => {
          const v = median(c.long.map((x, i) => (x && c.short[i] ? c.short[i].decode_tps / x.decode_tps : NaN)));
          return f2(v) + mark(1.5 / v, 1);
        })(),
      } : {}),
    });
  }
}

const size = runtimeSize();
const kb = (b) => (b / 1024).toFixed(1);
console.log(`\nwasmlm vs native llama.cpp (node-llama-cpp 3.21.1), tok/s, prompt ${prompt}, generate ${gen}; ` +
  `medians of ${rounds} rounds (ratios: median of per-round ratios); Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim()})`);
console.log(table(rows));
console.log(`\nruntime size (${dist === join(root, 'dist') ? 'dist' : dist}/index.js and what it loads: ${size.files.map((f) => f.name).join(', ')}; no model): ` +
  `JS ${kb(size.js.gzip)} KB + wasm ${kb(size.wasm.gzip)} KB = ${kb(size.total.gzip)} KB gzip (${kb(size.total.raw)} KB raw); ` +
  `JS + one wasm build (wasmlm.wasm) ${kb(size.minimal.gzip)} KB gzip — target ≤ 150 KB${size.minimal.gzip <= 150 * 1024 ? ' ✓' : ' ✗'}`);
if (outFile) writeFileSync(outFile, JSON.stringify({ args, rows, size, runs: log }, null, 1));
