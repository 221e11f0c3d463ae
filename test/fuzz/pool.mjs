/**
 * The parent side: a pool of child processes (child.mjs) that run cases. Each case has
 * timeoutMs (default 10 s) from the moment the child starts running it (generating the case and
 * loading its fixtures, once per process, have SETUP_MS); a child that overruns is killed (SIGKILL:
 * a thread blocked in Atomics.wait ignores SIGTERM) and the case is a hang; a child that exits
 * during a case is a crash. Either way a fresh child takes the next case. Children are also
 * recycled every `recycle` cases, so no case sees more than that many predecessors' state.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const TAIL = 4000;
const SETUP_MS = 120_000;

/**
 * Runs every { kind, index } job with `jobs` children; onResult(result) per case as it ends.
 * A result: { kind, index, desc, status: typed | other | accepted | wrong | crash | hang | harness, ... }.
 */
export async function runPool({ seed, jobs, list, timeoutMs = 10_000, recycle = 200, onResult = (/** @type {any} */ _result) => {}, execArgv = [] }) {
  const results = [];
  let next = 0;

  const worker = async () => {
    let child = null;
    let used = 0;
    let output = '';
    const start = () =>
      new Promise((resolveReady, rejectReady) => {
        output = '';
        const c = fork(CHILD, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv });
        const keep = (d) => { output = (output + d).slice(-TAIL); };
        c.stdout?.on('data', keep);
        c.stderr?.on('data', keep);
        const onMsg = (m) => { if (m.type === 'ready') { c.off('message', onMsg); c.off('exit', onExit); resolveReady(c); } };
        const onExit = (code, sig) => rejectReady(new Error(`fuzz child exited before it was ready (${code ?? sig}): ${output}`));
        c.on('message', onMsg);
        c.once('exit', onExit);
      });
    const stop = () => {
      if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child = null;
    };
    try {
      while (next < list.length) {
        const job = list[next++];
        if (child === null || used >= recycle) {
          stop();
          child = await start();
          used = 0;
        }
        used++;
        const c = child;
        const result = await new Promise((resolveCase) => {
          let desc;
          const finish = (r) => {
            clearTimeout(timer);
            c.off('message', onMsg);
            c.off('exit', onExit);
            resolveCase({ kind: job.kind, index: job.index, desc, ...r });
          };
          const hang = (ms, what) => setTimeout(() => finish({ status: 'hang', message: `no result after ${ms} ms ${what}` }), ms);
          let timer = hang(SETUP_MS, '(generating the case and setting up its fixtures)');
          const onMsg = (m) => {
            if (m.type === 'start') {
              desc = m.desc;
              clearTimeout(timer);
              timer = hang(timeoutMs, '');
            } else if (m.type === 'done') finish(m.outcome);
          };
          const onExit = (code, sig) => finish({ status: 'crash', message: `child exited (${sig ?? `code ${code}`}); output: ${output.trim().slice(-1500)}` });
          c.on('message', onMsg);
          c.once('exit', onExit);
          c.send({ type: 'run', kind: job.kind, seed, index: job.index });
        });
        if (result.status === 'crash' || result.status === 'hang') stop();
        results.push(result);
        onResult(result);
      }
    } finally {
      stop();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  return results;
}

export const STATUSES = ['typed', 'other', 'crash', 'hang', 'accepted', 'wrong'];

/** Counts per kind: { kind: { tried, typed, other, crash, hang, accepted, wrong, harness, unnamed, slow, big } }. */
export function tally(results) {
  const t = {};
  for (const r of results) {
    const row = (t[r.kind] ??= { tried: 0, typed: 0, other: 0, crash: 0, hang: 0, accepted: 0, wrong: 0, harness: 0, unnamed: 0, slow: 0, big: 0 });
    row.tried++;
    row[r.status]++;
    if (r.status === 'typed' && r.named === false) row.unnamed++;
    if (r.ms > 2000) row.slow++;
    if (r.rssGrowthMiB > 256) row.big++;
  }
  return t;
}

export function formatTable(t) {
  const cols = ['tried', 'typed', 'other', 'crash', 'hang', 'accepted', 'wrong', 'slow', 'big', 'unnamed'];
  const head = ['input', 'tried', 'typed WasmlmError', 'other exception', 'crash', 'hang', 'accepted', 'accepted but wrong', 'slow > 2 s', 'RSS +256 MiB', 'typed, message without the input'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [k, row] of Object.entries(t)) lines.push(`| ${k} | ${cols.map((c) => row[c]).join(' | ')} |`);
  return lines.join('\n');
}
