#!/usr/bin/env node
// Before / after: two builds of wasmlm (two dist/ folders) on the bench models, alternating build by build,
// cell by cell and round by round (who goes first alternates too), each measurement in its own process
// (`wasmlm bench --json`). Prints tok/s of each and the ratio after / before (median of the per-round ratios).
// For changes that must not cost speed (refactors); `npm run bench` compares against the peers.
//
//   node bench/ab.mjs --before ../old/dist --after dist [--shapes stories110m,tinyllama --types q8_0,q4_0,q4_k_m
//                     --threads 1,2 --rounds 3 --prompt 128 --gen 64 --quiet-wait 30 --out ab.json]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureModel, f1, f2, median, table, waitQuiet } from './common.mjs';

const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const list = (name, fallback) => get(name, fallback).split(',').map((s) => s.trim()).filter(Boolean);
const builds = { before: get('before'), after: get('after', 'dist') };
if (!builds.before) { console.error('--before DIST is required (a dist/ folder of the build to compare against)'); process.exit(2); }
const shapes = list('shapes', 'stories110m,tinyllama');
const types = list('types', 'q8_0,q4_0,q4_k_m');
const threadList = list('threads', '1,2').map(Number);
const rounds = Number(get('rounds', '3'));
const prompt = get('prompt', '128');
const gen = get('gen', '64');
const quietWait = Number(get('quiet-wait', '0'));

function measure(dist, file, threads) {
  const r = spawnSync(process.execPath, [join(resolve(dist), 'cli.js'), 'bench', file, '--threads', String(threads), '--prompt', prompt,
    '--gen', gen, '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) throw new Error(`${dist} ${file} ${threads}T: ${(r.stderr || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(line);
}

/** @type {{ shape: string, type: string, threads: number, file: string, before: any[], after: any[] }[]} */
const cells = [];
for (const shape of shapes) for (const type of types) for (const threads of threadList) {
  cells.push({ shape, type, threads, file: ensureModel(shape, type), before: [], after: [] });
}
const names = /** @type {const} */ (['before', 'after']);
for (let r = 0; r < rounds; r++) {
  for (const c of cells) {
    for (const name of r % 2 === 0 ? names : [...names].reverse()) {
      if (quietWait > 0) await waitQuiet(quietWait);
      c[name].push(measure(builds[name], c.file, c.threads));
    }
    const [b, a] = [c.before[r], c.after[r]];
    process.stderr.write(`round ${r + 1} ${c.shape} ${c.type} ${c.threads}T: prefill ${f1(b.prefill_tps)} → ${f1(a.prefill_tps)}, ` +
      `decode ${f2(b.decode_tps)} → ${f2(a.decode_tps)} tok/s\n`);
  }
}
const ratio = (c, k) => median(c.after.map((a, i) => a[k] / c.before[i][k]));
const rows = cells.map((c) => ({
  model: `${c.shape} ${c.type}`, threads: c.threads,
  'prefill before': f1(median(c.before.map((x) => x.prefill_tps))), 'prefill after': f1(median(c.after.map((x) => x.prefill_tps))),
  'prefill ratio': f2(ratio(c, 'prefill_tps')),
  'decode before': f2(median(c.before.map((x) => x.decode_tps))), 'decode after': f2(median(c.after.map((x) => x.decode_tps))),
  'decode ratio': f2(ratio(c, 'decode_tps')),
}));
console.log(`before: ${builds.before}, after: ${builds.after}; ${rounds} rounds, prompt ${prompt}, generate ${gen} (tok/s, medians; ratio = median of per-round after/before)\n`);
console.log(table(rows));
const out = get('out');
if (out) writeFileSync(out, JSON.stringify({ args, cells }, null, 1));
