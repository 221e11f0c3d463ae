// Tokenizer speed: wasmlm beside @huggingface/tokenizers (the official JS implementation) on the
// same text and the same tokenizer.json. Runs against dist/ (npm run build first).
//
//   node bench/tokenizer.mjs [--tokenizer DIR_OR_FILE] [--text FILE] [--mb 1] [--runs 3] [--json]
//
// Default tokenizer: ../shared/fixtures/tokenizers/hf/llama3 (tokenizer.json + tokenizer_config.json).
// Default text: ~1 MB of English (the fixture README and the design notes, repeated). Prints load
// time, encode time cold (first call, empty caches) and warm (median of --runs), tokens, whether
// the ids agree, and the ratio.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, '..', 'shared', 'fixtures');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const json = args.includes('--json');
let tokPath = opt('tokenizer', join(fixtures, 'tokenizers', 'hf', 'llama3'));
if (existsSync(tokPath) && statSync(tokPath).isDirectory()) tokPath = join(tokPath, 'tokenizer.json');
const configPath = join(dirname(tokPath), 'tokenizer_config.json');
const mb = Number(opt('mb', '1'));
const runs = Math.max(1, Number(opt('runs', '3')));

const dist = join(root, 'dist', 'index.js');
if (!existsSync(dist)) {
  console.error('bench/tokenizer.mjs runs against dist/: run `npm run build` first');
  process.exit(1);
}
const { loadTokenizer } = await import(dist);

function corpus() {
  const file = opt('text', undefined);
  const base = file ? readFileSync(file, 'utf8') : readFileSync(join(fixtures, 'README.md'), 'utf8') + readFileSync(join(root, '..', 'shared', 'DESIGN.md'), 'utf8');
  let text = '';
  while (text.length < mb * 1_000_000) text += base;
  return text.slice(0, mb * 1_000_000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function time(fn) {
  const t0 = performance.now();
  const r = fn();
  return { ms: performance.now() - t0, r };
}

const text = corpus();
const tokJson = JSON.parse(readFileSync(tokPath, 'utf8'));
const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) : {};

// wasmlm: from the path (reads and parses the file itself)
let t0 = performance.now();
const ours = await loadTokenizer(tokPath);
const oursLoad = performance.now() - t0;
// @huggingface/tokenizers: from the parsed objects (its loading needs no file reading); add the parse time
t0 = performance.now();
JSON.parse(readFileSync(tokPath, 'utf8'));
const parseMs = performance.now() - t0;
t0 = performance.now();
const hf = new HFTokenizer(tokJson, config);
const hfLoad = performance.now() - t0 + parseMs;

const oursCold = time(() => ours.encode(text, { addSpecial: false }));
const hfCold = time(() => hf.encode(text, { add_special_tokens: false }).ids);
const oursWarm = [];
const hfWarm = [];
for (let i = 0; i < runs; i++) {
  oursWarm.push(time(() => ours.encode(text, { addSpecial: false })).ms);
  hfWarm.push(time(() => hf.encode(text, { add_special_tokens: false })).ms);
}
const same = oursCold.r.length === hfCold.r.length && oursCold.r.every((x, i) => x === hfCold.r[i]);

const result = {
  tokenizer: tokPath,
  textChars: text.length,
  wasmlm: { loadMs: oursLoad, encodeColdMs: oursCold.ms, encodeWarmMs: median(oursWarm), tokens: oursCold.r.length },
  hfTokenizers: { loadMs: hfLoad, encodeColdMs: hfCold.ms, encodeWarmMs: median(hfWarm), tokens: hfCold.r.length },
  sameIds: same,
  speedup: { cold: hfCold.ms / oursCold.ms, warm: median(hfWarm) / median(oursWarm) },
};

if (json) {
  console.log(JSON.stringify(result));
} else {
  const f = (x) => x.toFixed(0).padStart(8);
  console.log(`tokenizer: ${tokPath}`);
  console.log(`text: ${(text.length / 1e6).toFixed(2)} M characters; node ${process.version}\n`);
  console.log('                          load ms   encode ms (cold)   encode ms (warm)    tokens');
  console.log(`wasmlm                  ${f(oursLoad)}   ${f(oursCold.ms)}           ${f(median(oursWarm))}         ${oursCold.r.length}`);
  console.log(`@huggingface/tokenizers ${f(hfLoad)}   ${f(hfCold.ms)}           ${f(median(hfWarm))}         ${hfCold.r.length}`);
  console.log(`\nsame ids: ${same ? 'yes' : 'NO'}; wasmlm is ${result.speedup.cold.toFixed(1)}x faster cold, ${result.speedup.warm.toFixed(1)}x warm`);
}
