// One hash over the logits of every fixture model: batch, one token per pass, 1 and 2 threads, greedy
// decoding through the KV cache, and LoRA at two scales. For refactors that must not change a bit:
// run before and after, compare the last line. Usage: node bench/logits-hash.mjs [--verbose] [--kv f32|f16|q8_0]
// (--kv: every model with that KV cache type; default: each model's default type)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../dist/index.js';

const FIX = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const verbose = process.argv.includes('--verbose');
const kvAt = process.argv.indexOf('--kv');
const kvType = kvAt > 0 ? process.argv[kvAt + 1] : undefined;
const total = createHash('sha256');
const files = [
  ...readdirSync(FIX + 'models').filter((f) => f.endsWith('.gguf') && !f.includes('.lora')).map((f) => 'models/' + f),
  ...readdirSync(FIX + 'set3').filter((f) => f.endsWith('.gguf')).map((f) => 'set3/' + f),
];

function tokensFor(rel) {
  const exp = FIX + rel.replace(/\.gguf$/, '.expected.json');
  if (existsSync(exp)) {
    const j = JSON.parse(readFileSync(exp, 'utf8'));
    if (Array.isArray(j.tokens)) return j.tokens;
    if (Array.isArray(j.prompt_tokens)) return j.prompt_tokens;
  }
  return [1, 2, 3, 4, 5, 6, 7];
}

function feed(h, rows) {
  for (const r of rows) h.update(new Uint8Array(r.buffer, r.byteOffset, r.byteLength));
}

async function one(rel, opts, adapter) {
  const h = createHash('sha256');
  const model = await loadModel(FIX + rel, kvType ? { ...opts, kvType } : opts);
  try {
    if (adapter) await model.loadAdapter(FIX + adapter.file, { scale: adapter.scale });
    const toks = tokensFor(rel);
    feed(h, await model.logits(toks));
    const r = await model.complete(toks, { temperature: 0, maxTokens: 8, ignoreEos: true });
    h.update(JSON.stringify(r.tokens));
    const r2 = await model.complete(toks, { temperature: 0.8, seed: 7, maxTokens: 8, ignoreEos: true });
    h.update(JSON.stringify(r2.tokens));
  } finally {
    model.dispose();
  }
  return h.digest('hex');
}

const CONFIGS = [
  ['b32t1', { threads: 1 }],
  ['b1t1', { threads: 1, batchSize: 1 }],
  ['b32t2', { threads: 2 }],
  ['b3t2', { threads: 2, batchSize: 3 }],
];

for (const rel of files) {
  for (const [name, opts] of CONFIGS) {
    let d;
    try { d = await one(rel, opts); } catch (e) { d = 'error ' + (e.code ?? e.message); }
    total.update(`${rel} ${name} ${d}\n`);
    if (verbose) console.log(rel, name, d);
  }
}
for (const [base, adapter] of [
  ['models/llama.gguf', 'models/llama.lora.gguf'],
  ['models/llama.gguf', 'peft/llama-lora.gguf'],
]) {
  for (const scale of [0.5, 1]) {
    let d;
    try { d = await one(base, { threads: 1 }, { file: adapter, scale }); } catch (e) { d = 'error ' + (e.code ?? e.message); }
    total.update(`${base}+${adapter}@${scale} ${d}\n`);
    if (verbose) console.log(base, adapter, scale, d);
  }
}
console.log('logits hash', total.digest('hex'));
