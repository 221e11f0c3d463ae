#!/usr/bin/env node
// One measurement of batched decoding (issue 11 item 5): N sessions of one model decode at the same time
// (concurrent generate loops: their next tokens go through one forward pass). Prints one JSON line:
// aggregate decode tok/s (all sessions' tokens over the wall time), the same over this process's CPU time (what
// waiting for a core on a shared machine does not count: with --threads 1 the work of one core, with more
// threads every thread's, spinning included), the forward passes and sessions per pass.
// --profile: each plan op is run on its own and timed; stderr gets the time per op kind and per forward pass
// for each pass size (tokens per pass), so a 1-token and an N-token pass can be compared op by op.
//   node bench/sessions.mjs FILE --sessions N [--threads T --gen G --prompt P --profile]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const file = args[0];
const n = Number(get('sessions', '1'));
const threads = Number(get('threads', '1'));
const gen = Number(get('gen', '32'));
const promptLen = Number(get('prompt', '16'));
const dist = resolve(process.env.WASMLM_DIST ?? new URL('../dist', import.meta.url).pathname);
const { loadModel } = await import(pathToFileURL(`${dist}/index.js`).href);

const profile = args.includes('--profile') ? new Map() : undefined;   // nTok -> { passes, ops: op kind -> ms }
let profiling = false;
const runPlan = profile && ((plan, run) => {
  const ops = plan.read();
  const nTok = Math.max(0, ...ops.filter((op) => op.name === 'matmul').map((op) => op.args.nTok));
  if (!profiling) return run(0, ops.length);
  const p = profile.get(nTok) ?? profile.set(nTok, { passes: 0, ops: new Map() }).get(nTok);
  p.passes++;
  ops.forEach((op, i) => {
    const key = op.name === 'matmul' ? `matmul ${op.args.nIn}x${op.args.nOut}` : op.name;
    const t = performance.now();
    run(i, 1);
    p.ops.set(key, (p.ops.get(key) ?? 0) + performance.now() - t);
  });
});

const model = await loadModel(file, { threads, contextLength: promptLen + gen + 8, runPlan });
const sessions = Array.from({ length: n }, () => model.createSession());
// distinct prompts (random-weight models: token ids), each read into its session's cache first
const prompts = sessions.map((_, s) => Array.from({ length: promptLen }, (_, i) => 1 + ((s * 7919 + i * 104729) % (model.info.vocabSize - 1))));
for (let s = 0; s < n; s++) await sessions[s].complete(prompts[s], { maxTokens: 0 });
const opts = { temperature: 0, maxTokens: gen, ignoreEos: true };
profiling = true;
const t0 = performance.now(), c0 = process.cpuUsage();
const runs = await Promise.all(sessions.map((s, i) => s.complete(prompts[i], opts)));
const ms = performance.now() - t0;
const cpu = process.cpuUsage(c0), cpuMs = (cpu.user + cpu.system) / 1000;
const tokens = runs.reduce((sum, r) => sum + r.tokens.length, 0);
const stats = model.core?.decodeQueue?.stats ?? {};
process.stdout.write(JSON.stringify({
  sessions: n, threads: model.info.threads, gen, tokens, ms, aggregate_tps: tokens / (ms / 1000),
  cpu_ms: cpuMs, cpu_tps: tokens / (cpuMs / 1000),
  batches: stats.batches, per_batch: stats.batches ? stats.sequences / stats.batches : 1,
}) + '\n');
if (profile) {
  for (const [nTok, p] of [...profile].sort((a, b) => a[0] - b[0])) {
    const total = [...p.ops.values()].reduce((a, b) => a + b, 0);
    process.stderr.write(`${nTok}-token passes: ${p.passes}, ${(total / p.passes).toFixed(2)} ms per pass in ops\n`);
    for (const [k, ms] of [...p.ops].sort((a, b) => b[1] - a[1])) process.stderr.write(`  ${k.padEnd(24)} ${(ms / p.passes).toFixed(2).padStart(8)} ms/pass\n`);
  }
}
model.dispose();
