#!/usr/bin/env node
/**
 * npm run fuzz -- [--seed S] [--cases N] [--kinds gguf,tokenizer-json,strings,api] [--jobs J]
 *                 [--only I] [--timeout MS] [--json FILE]
 *
 * Runs N cases of each kind against dist/ (npm run build first) in J child processes, prints the
 * counts per kind and every failing case with the command that replays it alone. Exit code 1
 * when a case crashed, hung, threw anything but WasmlmError or was accepted with a wrong result
 * (the known classes of known.mjs excepted, and listed).
 */
import { parseArgs } from 'node:util';
import { appendFileSync, writeFileSync } from 'node:fs';
import { KINDS } from './kinds/index.mjs';
import { runPool, tally, formatTable } from './pool.mjs';
import { failures, isKnown } from './known.mjs';

const { values: a } = parseArgs({
  options: {
    seed: { type: 'string' },
    cases: { type: 'string', default: '200' },
    kinds: { type: 'string', default: Object.keys(KINDS).join(',') },
    jobs: { type: 'string', default: '1' },
    only: { type: 'string' },
    timeout: { type: 'string', default: '10000' },
    recycle: { type: 'string', default: '200' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (a.help) {
  console.log(`npm run fuzz -- [--seed S] [--cases N per kind] [--kinds ${Object.keys(KINDS).join(',')}] [--jobs J] [--only INDEX] [--timeout MS] [--json FILE]`);
  for (const k of Object.values(KINDS)) console.log(`  ${k.name}: ${k.about}`);
  process.exit(0);
}
const seed = a.seed ?? String(Math.floor(Math.random() * 2 ** 32));
const kinds = a.kinds.split(',').map((s) => s.trim()).filter(Boolean);
for (const k of kinds) if (!(k in KINDS)) { console.error(`unknown kind ${k}; kinds: ${Object.keys(KINDS).join(', ')}`); process.exit(2); }
const n = Number(a.cases);
const list = [];
if (a.only !== undefined) for (const k of kinds) list.push({ kind: k, index: Number(a.only) });
else for (let i = 0; i < n; i++) for (const k of kinds) list.push({ kind: k, index: i });

const replay = (r) => `npm run fuzz -- --seed ${seed} --kinds ${r.kind} --only ${r.index}`;
console.log(`fuzz: seed ${seed}, ${list.length} cases (${kinds.join(', ')}), ${a.jobs} child process(es), ${a.timeout} ms per case`);
const t0 = Date.now();
let done = 0;
const results = await runPool({
  seed, jobs: Number(a.jobs), list, timeoutMs: Number(a.timeout), recycle: Number(a.recycle),
  onResult(r) {
    done++;
    if (a.json) appendFileSync(`${a.json}l`, `${JSON.stringify(r)}\n`); // .jsonl as the run goes
    if (a.only !== undefined) console.log(JSON.stringify(r, null, 2));
    else if (['crash', 'hang', 'other', 'wrong', 'harness'].includes(r.status)) {
      console.log(`  ${isKnown(r) ? 'known ' : ''}${r.status.toUpperCase()} ${r.kind} #${r.index}: ${r.desc ?? ''}\n    ${String(r.message ?? r.wrong ?? '').split('\n')[0].slice(0, 300)}`);
    }
    if (process.stdout.isTTY && done % 50 === 0) process.stdout.write(`  ${done}/${list.length}\r`);
  },
});
const wall = (Date.now() - t0) / 1000;
results.sort((x, y) => (x.kind < y.kind ? -1 : x.kind > y.kind ? 1 : x.index - y.index));
console.log(`\n${formatTable(tally(results))}\n\nwall time ${wall.toFixed(1)} s, seed ${seed}`);
const slow = results.filter((r) => r.ms > 2000 || r.rssGrowthMiB > 256);
for (const r of slow) console.log(`  slow/big ${r.kind} #${r.index} (${r.ms} ms, +${r.rssGrowthMiB} MiB): ${r.desc}`);
const fail = failures(results);
const known = results.filter((r) => isKnown(r));
if (known.length > 0) console.log(`${known.length} known finding(s) fixed elsewhere (known.mjs)`);
for (const r of fail) console.log(`FAIL ${r.status} ${r.kind} #${r.index}: ${r.desc}\n  ${String(r.message ?? r.wrong).split('\n')[0].slice(0, 400)}\n  replay: ${replay(r)}`);
if (a.json) writeFileSync(a.json, JSON.stringify({ seed, wall, table: tally(results), results }, null, 1));
process.exit(fail.length > 0 ? 1 : 0);
