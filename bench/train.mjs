#!/usr/bin/env node
// npm run bench -- --train: LoRA training speed (issue 15 item 4). Training tokens/s — forward, backward and
// the AdamW update of a batch of sequences (trainer.step) — beside the same model's prefill tokens/s (the
// `wasmlm bench` of npm run bench, a prompt of --seq tokens), and their ratio (goal ≥ 0.3: a step is about
// three forward passes' work), for random-weight models of the stories110m and tinyllama shapes
// (bench/make-model.mjs, made once into bench/models/) at 1 and 2 threads. Each measurement is its own process;
// rounds alternate the order of training and prefill, and the ratio is the median of the per-round ratios.
//
//   npm run bench -- --train [--shapes stories110m,tinyllama --types q8_0,q4_0 --threads 1,2 --rounds 3
//                             --seq 256 --batch 2 --steps 2 --rank 8 --targets attn_q,attn_k,attn_v,attn_output
//                             --quiet-wait 60 --out results.json]
//
// One measurement alone (what the rounds run; also the memory check of item 4: peak RSS against the file
// size + 512 MiB, fine-tuning TinyLlama Q4_0 at rank 8 on q, k, v, o over sequences of 256 tokens):
//
//   node bench/train.mjs --one bench/models/tinyllama-q4_0.gguf [--threads 1 --seq 256 --batch 1 --steps 1
//                        --profile --cold]
//
// prints one JSON line: train_tps (the median over --steps steps, each timed alone, after a warm-up pass of 8
// tokens as the prefill bench has; --cold: without it), step_ms, peak_rss_mb (process.resourceUsage),
// file_mb, wasm_mb (the engine's memory), the losses; step_cpu_ms: the median step's CPU time (every thread of the
// process: on a busy machine, the work beside the wall time). --profile: the time per op kind of the training plans
// (every op run on its own through the engine's runPlan hook; the totals are a little above a plain run).
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureModel, f1, f2, mark, median, table, waitQuiet } from './common.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const list = (name, fallback) => get(name, fallback).split(',').map((s) => s.trim()).filter(Boolean);
const dist = process.env.WASMLM_DIST ? resolve(process.env.WASMLM_DIST) : join(root, 'dist');
const seq = Number(get('seq', '256'));
const rank = Number(get('rank', '8'));
const targets = list('targets', 'attn_q,attn_k,attn_v,attn_output');

/** deterministic token ids in [3, V) */
function tokensOf(V, n, seed) {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return 3 + (s % (V - 3)); });
}

async function one(file) {
  const { loadModel } = await import(join(dist, 'index.js'));
  const threads = Number(get('threads', '1'));
  const batch = Number(get('batch', '1'));
  const steps = Number(get('steps', '1'));
  const profile = args.includes('--profile') ? new Map() : undefined;
  const runPlan = profile && ((plan, run) => {
    plan.read().forEach((op, i) => {
      const a = op.args;
      const key = op.name + (a.nIn !== undefined && a.nOut !== undefined ? ` ${a.nIn}x${a.nOut}${a.type !== undefined ? ` type ${a.type}` : ''}` : '');
      const t = performance.now();
      run(i, 1);
      const e = profile.get(key) ?? profile.set(key, { ms: 0, n: 0 }).get(key);
      e.ms += performance.now() - t;
      e.n++;
    });
  });
  const model = await loadModel(file, { threads, contextLength: 512, runPlan });
  const adapter = model.createAdapter({ rank, alpha: 2 * rank, targets, seed: 1 });
  const trainer = model.trainer(adapter, { learningRate: 1e-4 });
  const V = model.info.vocabSize;
  const tokens = Array.from({ length: batch }, (_, b) => tokensOf(V, seq, b + 1));
  // one short warm-up pass (forward and backward of 8 tokens, no update), as the prefill bench warms up with a
  // short completion: V8 runs wasm first with its baseline compiler (Liftoff) and optimizes hot functions in the
  // background, but a call already running stays in baseline code (the first step's output-head backward alone
  // ran ~3× slower); --cold skips it (what a first step costs)
  if (!args.includes('--cold')) await trainer.gradients({ tokens: [tokensOf(V, 8, 99)] });
  profile?.clear();
  const times = [], cpuTimes = [], losses = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    losses.push((await trainer.step({ tokens })).loss);
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
  }
  const ms = median(times);
  const engine = model.engine;
  const result = {
    file: file.split('/').pop(), threads: engine?.threads ?? threads, seq, batch, rank, targets: targets.join(','),
    train_tps: (batch * seq) / (ms / 1000), step_ms: ms, step_times_ms: times, step_cpu_ms: median(cpuTimes), losses,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024, file_mb: statSync(file).size / 2 ** 20,
    wasm_mb: (engine?.memoryBytes ?? NaN) / 2 ** 20,
  };
  model.dispose();
  if (profile) {
    const total = [...profile.values()].reduce((a, e) => a + e.ms, 0);
    process.stderr.write(`profile: ${total.toFixed(0)} ms in ops\n`);
    for (const [k, e] of [...profile.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
      process.stderr.write(`  ${k.padEnd(40)} ${e.ms.toFixed(0).padStart(8)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ${e.n} calls\n`);
    }
  }
  console.log(JSON.stringify(result));
}

const TIMEOUT_MS = 1000 * Number(process.env.BENCH_TIMEOUT_S ?? 3600);

/** one process, one JSON line (undefined if it failed) */
function spawnJson(argv, what) {
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 1 << 24, env: { ...process.env, WASMLM_DIST: dist } });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    process.stderr.write(`  ${what} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ')}\n`);
    return undefined;
  }
  return JSON.parse(line);
}

async function driver() {
  const shapes = list('shapes', 'stories110m,tinyllama');
  const types = list('types', 'q8_0,q4_0');
  const threadList = list('threads', '1,2').map(Number);
  const rounds = Number(get('rounds', '3'));
  const quietWait = Number(get('quiet-wait', '0'));
  const pass = ['seq', 'batch', 'steps', 'rank', 'targets'].flatMap((k) => (get(k) ? [`--${k}`, get(k)] : []));
  const models = [];
  for (const shape of shapes) for (const type of types) models.push({ shape, type, file: ensureModel(shape, type) });
  process.stderr.write(`bench --train: ${models.length} models × threads ${threadList.join(',')}, ${rounds} rounds, sequences of ${seq}; ` +
    `${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const cells = new Map();
  const log = [];
  for (let r = 0; r < rounds; r++) {
    for (const m of models) {
      for (const t of threadList) {
        const k = `${m.shape} ${m.type} ${t}`;
        const c = cells.get(k) ?? cells.set(k, { train: [], prefill: [] }).get(k);
        const kinds = r % 2 === 0 ? ['train', 'prefill'] : ['prefill', 'train'];
        for (const kind of kinds) {
          if (quietWait > 0) await waitQuiet(quietWait);
          const res = kind === 'train'
            ? spawnJson([fileURLToPath(import.meta.url), '--one', m.file, '--threads', String(t), ...pass], `${k}T train`)
            : spawnJson([join(dist, 'cli.js'), 'bench', m.file, '--threads', String(t), '--prompt', String(seq), '--gen', '1', '--json'], `${k}T prefill`);
          c[kind].push(res);
          log.push({ round: r, shape: m.shape, type: m.type, threads: t, kind, ...res });
          process.stderr.write(`  round ${r + 1}/${rounds} ${k}T ${kind.padEnd(7)} ` + (res
            ? (kind === 'train' ? `${f1(res.train_tps)} tok/s (step ${f1(res.step_ms / 1000)} s, peak RSS ${res.peak_rss_mb.toFixed(0)} MiB)` : `${f1(res.prefill_tps)} tok/s`)
            : 'failed') + ` (load avg ${loadavg()[0].toFixed(2)})\n`);
        }
      }
    }
  }
  const rows = [];
  for (const m of models) {
    for (const t of threadList) {
      const c = cells.get(`${m.shape} ${m.type} ${t}`);
      const ratio = median(c.train.map((x, i) => (x && c.prefill[i] ? x.train_tps / c.prefill[i].prefill_tps : NaN)));
      const rss = median(c.train.map((x) => x?.peak_rss_mb));
      const fileMb = statSync(m.file).size / 2 ** 20;
      rows.push({
        model: `${m.shape} ${m.type.toUpperCase()}`, MiB: fileMb.toFixed(0), threads: String(t),
        'train tok/s': f1(median(c.train.map((x) => x?.train_tps))),
        'prefill tok/s': f1(median(c.prefill.map((x) => x?.prefill_tps))),
        'train ÷ prefill (≥ 0.3)': f2(ratio) + mark(ratio, 0.3),
        'peak RSS MiB (≤ file + 512)': `${rss.toFixed(0)} (≤ ${(fileMb + 512).toFixed(0)})${mark((fileMb + 512) / rss, 1)}`,
      });
    }
  }
  const b = Number(get('batch', '1'));
  console.log(`\nwasmlm LoRA training (rank ${rank} on ${targets.join(', ')}; trainer.step over ${b} × ${seq} tokens: forward, backward, AdamW) ` +
    `vs prefill of ${seq} tokens; medians of ${rounds} rounds (ratio: median of per-round ratios); Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim()})`);
  console.log(table(rows));
  if (get('out')) writeFileSync(get('out'), JSON.stringify({ args, rows, runs: log }, null, 1));
}

if (get('one')) await one(resolve(get('one')));
else await driver();
