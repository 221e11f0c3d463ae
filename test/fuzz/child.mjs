/**
 * A fuzz worker process: runs the cases the parent sends ({ kind, seed, index }) one at a time
 * against the built package and reports { start, desc } once the case is generated (and its
 * fixtures set up), then { done, outcome }. A case that
 * hangs or kills this process is caught by the parent (pool.mjs).
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Rng } from './rng.mjs';
import { KINDS } from './kinds/index.mjs';
import { selftest } from './kinds/selftest.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = await import(pathToFileURL(resolve(ROOT, 'dist/index.js')).href);
const cache = new Map();
const ctx = {
  pkg,
  root: ROOT,
  fixtures: process.env.WASMLM_FIXTURES ?? resolve(ROOT, '../shared/fixtures'),
  cached(key, make) {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key);
  },
  sourceName: undefined,
};

const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

export function sortError(e) {
  if (e instanceof pkg.WasmlmError) {
    const named = ctx.sourceName === undefined || e.message.includes(ctx.sourceName);
    return { status: 'typed', code: e.code, message: e.message, named };
  }
  const name = e?.constructor?.name ?? typeof e;
  return { status: 'other', error: name, message: String(e?.message ?? e), stack: String(e?.stack ?? '').split('\n').slice(0, 8).join('\n') };
}

/** @param {any} m */
const send = (m) => process.send?.(m);

process.on('message', async (/** @type {any} */ msg) => {
  if (msg.type !== 'run') return;
  const kind = msg.kind === 'selftest' ? selftest : KINDS[msg.kind];
  ctx.index = msg.index;
  const rng = new Rng(msg.seed, msg.kind, msg.index);
  ctx.sourceName = undefined;
  let outcome;
  let gen;
  try {
    gen = await kind.generate(rng, ctx);
    // fixtures the case needs (a tokenizer to load once per process): not part of the case's time
    if (kind.setup) await kind.setup(gen.input, ctx);
  } catch (e) {
    send({ type: 'done', outcome: { status: 'harness', message: `generate / setup failed: ${e?.stack ?? e}` } });
    return;
  }
  send({ type: 'start', desc: gen.desc });
  const rss0 = maxRssMiB();
  const t0 = performance.now();
  try {
    outcome = await kind.run(gen.input, ctx);
  } catch (e) {
    outcome = sortError(e);
  }
  outcome.ms = Math.round(performance.now() - t0);
  outcome.rssGrowthMiB = Math.round(maxRssMiB() - rss0);
  send({ type: 'done', outcome });
});
send({ type: 'ready' });
