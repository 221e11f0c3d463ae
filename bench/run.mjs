#!/usr/bin/env node
// npm run bench: random-weight models of the stories110M shape in F32, F16, Q8_0, Q4_0 through
// wasmlm, one thread: prefill tok/s (128 tokens), decode tok/s (64 tokens), load time, peak RSS.
// Each measurement runs in its own process (`wasmlm bench --json`) so peak RSS is its own.
//   npm run bench [-- --shape stories110m --types f32,q8_0 --rounds 2]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeModel } from './make-model.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const shape = get('shape', 'stories110m');
const types = get('types', 'f32,f16,q8_0,q4_0').split(',');
const rounds = Number(get('rounds', '2'));
const prompt = get('prompt', '128');
const gen = get('gen', '64');

mkdirSync(`${root}bench/models`, { recursive: true });
const files = {};
for (const type of types) {
  const file = `${root}bench/models/${shape}-${type}.gguf`;
  if (!existsSync(file)) {
    process.stderr.write(`making ${file} ...\n`);
    await makeModel({ shape, type, out: file });
  }
  files[type] = file;
}

const results = Object.fromEntries(types.map((t) => [t, []]));
for (let r = 0; r < rounds; r++) {
  for (const type of types) {
    const out = execFileSync(process.execPath, [`${root}dist/cli.js`, 'bench', files[type], '--threads', '1',
      '--prompt', prompt, '--gen', gen, '--json'], { encoding: 'utf8' });
    results[type].push(JSON.parse(out.trim().split('\n').pop()));
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const rows = types.map((type) => {
  const rs = results[type];
  return {
    type,
    'file MiB': (statSync(files[type]).size / 2 ** 20).toFixed(0),
    'prefill tok/s': median(rs.map((x) => x.prefill_tps)).toFixed(1),
    'decode tok/s': median(rs.map((x) => x.decode_tps)).toFixed(2),
    'load ms': median(rs.map((x) => x.load_ms)).toFixed(0),
    'peak RSS MiB': median(rs.map((x) => x.peak_rss_mb)).toFixed(0),
  };
});
console.log(`wasmlm ${shape}, 1 thread, prompt ${prompt}, generate ${gen}, median of ${rounds} runs, Node ${process.version}`);
const cols = Object.keys(rows[0]);
console.log('| ' + cols.join(' | ') + ' |');
console.log('|' + cols.map(() => '---').join('|') + '|');
for (const row of rows) console.log('| ' + cols.map((c) => row[c]).join(' | ') + ' |');
