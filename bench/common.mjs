// What bench/run.mjs and bench/browser.mjs share: the models they make, waiting for a quiet machine, and
// the figures and tables they print.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));

/**
 * bench/models/SHAPE-TYPE.gguf, made once with bench/make-model.mjs when missing (WASMLM_BENCH_MODELS: another
 * folder of such files, used when it has the one asked for).
 */
export function ensureModel(shape, type) {
  const elsewhere = process.env.WASMLM_BENCH_MODELS && join(process.env.WASMLM_BENCH_MODELS, `${shape}-${type}.gguf`);
  if (elsewhere && existsSync(elsewhere)) return elsewhere;
  const file = join(benchDir, 'models', `${shape}-${type}.gguf`);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    process.stderr.write(`making ${file} (node bench/make-model.mjs) ...\n`);
    execFileSync(process.execPath, [join(benchDir, 'make-model.mjs'), '--shape', shape, '--type', type, '--out', file + '.part'],
      { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(file + '.part', file);
  }
  return file;
}

function cpuTimes() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  } catch { return undefined; }
}
const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * --quiet-wait S: waits (up to S seconds) until the CPUs have been at least 85% idle for a second
 * (/proc/stat), since other work on the machine skews the 2-thread runs most; returns the idle share
 * seen (NaN where /proc/stat is missing), which the benches keep with each result.
 */
export async function waitQuiet(seconds) {
  const t0 = Date.now();
  let idle = NaN;
  do {
    const a = cpuTimes();
    await sleepMs(1000);
    const b = cpuTimes();
    if (!a || !b) return NaN;
    idle = (b.idle - a.idle) / Math.max(1, b.total - a.total);
  } while (idle < 0.85 && Date.now() - t0 < seconds * 1000);
  return idle;
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
/** ' ✓' when x ≥ target, ' ✗' below, nothing when x is not a number */
export const mark = (x, target) => (Number.isFinite(x) ? (x >= target ? ' ✓' : ' ✗') : '');

/** rows (objects with the same keys) as a markdown table */
export function table(rows) {
  const cols = Object.keys(rows[0]);
  return ['| ' + cols.join(' | ') + ' |', '|' + cols.map(() => '---').join('|') + '|',
    ...rows.map((r) => '| ' + cols.map((c) => r[c]).join(' | ') + ' |')].join('\n');
}
