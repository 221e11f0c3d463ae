#!/usr/bin/env node
// npm run bench -- --grammar: the per-token cost of a JSON-schema constraint over unconstrained decoding
// (issue 12 item 3), on random-weight models of the stories110m shape with real vocabularies: llama's
// SentencePiece 32k (ggml-vocab-llama-spm.gguf), llama 3's byte-level BPE 128k and Qwen's 151k
// (tokenizer.json fixtures, converted to GGUF tokenizer keys as llama.cpp's converter writes them).
//
//   npm run bench -- --grammar [--vocabs spm32k,llama3,qwen --type q8_0 --gen 48 --skip 4 --rounds 5 --threads N]
//
// Time per token after the first `skip` tokens: (generateMs of a gen-token run − generateMs of a
// skip-token run with the same seed, so the same first tokens) ÷ the tokens in between. One process per
// vocabulary loads the model once; each round runs the three modes (order alternating round by round),
// each constrained run with a schema no earlier run compiled (cold grammar states and masks), and the
// overhead is the median of the per-round ratios (the machine's load changes between rounds). Modes:
// none (unconstrained, ignoreEos) and the schema (sampling is lazy: draw, and draw again among the allowed
// tokens only when the draw is disallowed); eager (mask before every draw) is timed in the replay only. A random model writes noise, so nearly every
// draw is disallowed: the worst case for lazy sampling. On a loaded machine the decode times swing by
// more than the constraint costs, so each round also times the constraint alone (CPU only, in the same
// process: Sampler.sample with and without it on the same noise logits; needs build/tsc from npm run
// build), reported as a share of the unconstrained decode time. Models are made once into bench/models/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { f1, f2, median, table } from './common.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, '../shared/fixtures/tokenizers');
const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };

// the schema: a list of records, long enough that a noisy model writes `gen` tokens inside it
export const SCHEMA = {
  type: 'object',
  properties: {
    items: {
      type: 'array', minItems: 20, maxItems: 40,
      items: {
        type: 'object',
        properties: { title: { type: 'string', maxLength: 60 }, score: { type: 'integer', minimum: 0, maximum: 100 }, tags: { type: 'array', items: { type: 'string' }, maxItems: 3 } },
        required: ['title', 'score', 'tags'],
      },
    },
  },
  required: ['items'],
};

const VOCABS = {
  spm32k: { label: 'llama SentencePiece 32k', load: spmVocab },
  llama3: { label: 'llama 3 byte-level BPE 128k', load: () => hfVocab('llama3', 'llama-bpe', '<|begin_of_text|>', '<|end_of_text|>', true) },
  qwen: { label: 'Qwen byte-level BPE 151k', load: () => hfVocab('qwen3', 'qwen2', undefined, '<|im_end|>', false) },
};

async function spmVocab() {
  const { readGGUF } = await import(join(root, 'dist/index.js'));
  const h = await readGGUF(new Uint8Array(readFileSync(join(fixtures, 'ggml-vocab-llama-spm.gguf'))));
  const m = (k) => h.metadata.get(k)?.value;
  return {
    model: 'llama', tokens: m('tokenizer.ggml.tokens'), types: Int32Array.from(m('tokenizer.ggml.token_type')),
    scores: Float32Array.from(m('tokenizer.ggml.scores')), bos: m('tokenizer.ggml.bos_token_id'), eos: m('tokenizer.ggml.eos_token_id'), addBos: true,
  };
}

/** tokenizer.json → GGUF tokenizer keys: tokens by id, added special tokens as control (3), merges "a b". */
function hfVocab(dir, pre, bos, eos, addBos) {
  const j = JSON.parse(readFileSync(join(fixtures, 'hf', dir, 'tokenizer.json'), 'utf8'));
  const tokens = [];
  for (const [t, id] of Object.entries(j.model.vocab)) tokens[id] = t;
  const types = [];
  for (const a of j.added_tokens) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  for (let i = 0; i < tokens.length; i++) { if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; types[i] = 5; } types[i] ??= 1; }
  const merges = j.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const id = (t) => (t === undefined ? undefined : tokens.indexOf(t));
  return { model: 'gpt2', pre, tokens, types: Int32Array.from(types), merges, bos: id(bos), eos: id(eos), addBos };
}

async function ensureVocabModel(name, type) {
  const file = join(root, 'bench/models', `stories110m-${type}-${name}.gguf`);
  if (!existsSync(file)) {
    mkdirSync(join(root, 'bench/models'), { recursive: true });
    process.stderr.write(`making ${file} ...\n`);
    const { makeModel } = await import('./make-model.mjs');
    await makeModel({ shape: 'stories110m', type, out: file + '.part', vocabulary: await VOCABS[name].load() });
    renameSync(file + '.part', file);
  }
  return file;
}

/**
 * The constraint's own cost per token (after `skip`): Sampler.sample with the constraint (+ accept) minus
 * Sampler.sample alone, on the same seeded noise logits, with a schema not compiled before. Uses the
 * tsc build (build/tsc) for the internals.
 */
/** @type {any} */
let internals;
async function loadInternals() {
  const g = await import(join(root, 'build/tsc/grammar/index.js'));
  const { Sampler } = await import(join(root, 'build/tsc/generate/sampler.js'));
  internals = { ...g, Sampler };
}
function replay(tokenizer, round, mode, gen, skip) {
  const { compileGrammar, schemaToGbnf, TokenConstraint, vocabTrie, Sampler } = internals;
  const schema = { ...SCHEMA, properties: { items: { ...SCHEMA.properties.items, maxItems: 100 + 2 * round + (mode === 'eager' ? 1 : 0) } } };
  const c = new TokenConstraint(compileGrammar(schemaToGbnf(schema)), tokenizer, vocabTrie(tokenizer));
  c.lazy = mode === 'lazy';
  let x = 12345 + round;
  const noise = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return (x / 2 ** 32) * 8; };
  const rows = Array.from({ length: gen }, () => Float32Array.from({ length: tokenizer.vocabSize }, noise));
  const time = (constrained) => {
    const sampler = new Sampler({ temperature: 1, seed: round + 1 });
    let total = 0, n = 0;
    for (let i = 0; i < gen && !(constrained && c.done); i++) {
      const logits = rows[i].slice();
      const t0 = performance.now();
      const id = sampler.sample(logits, [], constrained ? c : undefined);
      if (constrained) c.accept(id);
      if (i >= skip) { total += performance.now() - t0; n++; }
    }
    return total / Math.max(1, n);
  };
  const free = time(false);
  return time(true) - free;
}

// --- one vocabulary: one process, the model loaded once, modes alternating round by round ----------
if (args[0] === '--child') {
  const [, file, gen, skip, rounds, threads] = args;
  const { loadModel } = await import(join(root, 'dist/index.js'));
  const model = await loadModel(file, threads ? { threads: Number(threads) } : {});
  await loadInternals();
  internals.vocabTrie(model.tokenizer); // built once per tokenizer, before any timing
  const prompt = 'Here are the records as JSON:';
  const out = [];
  for (let r = 0; r < Number(rounds); r++) {
    const order = r % 2 === 0 ? ['none', 'lazy'] : ['lazy', 'none'];
    const res = {};
    for (const mode of order) {
      // a schema no earlier run compiled (maxItems differs), so the grammar's states and masks start cold
      const schema = { ...SCHEMA, properties: { items: { ...SCHEMA.properties.items, maxItems: 40 + r } } };
      const opts = { temperature: 1, seed: r + 1, ...(mode === 'none' ? { ignoreEos: true } : { responseFormat: { type: 'json_schema', schema } }) };
      // all `gen` tokens (cold), then the first `skip` again (warm, so if anything faster): the difference
      // is at least what tokens skip+1..gen cost
      const long = await model.complete(prompt, { ...opts, maxTokens: Number(gen) });
      const short = await model.complete(prompt, { ...opts, maxTokens: Number(skip) });
      res[mode] = { msPerToken: (long.timings.generateMs - short.timings.generateMs) / (long.tokens.length - short.tokens.length), tokens: long.tokens.length, finish: long.finishReason, text: long.text.slice(0, 70) };
    }
    // the constraint alone, CPU only: the same sampling on noise logits with and without it (lazy and
    // eager), cold grammar; robust to the machine's load, which the decode times above are not
    res.replay = { lazy: replay(model.tokenizer, r, 'lazy', Number(gen), Number(skip)), eager: replay(model.tokenizer, r, 'eager', Number(gen), Number(skip)) };
    out.push(res);
    process.stderr.write(`  round ${r + 1}/${rounds}: ${['none', 'lazy'].map((m) => `${m} ${f2(res[m].msPerToken)} ms/token (${res[m].tokens}, ${res[m].finish})`).join(', ')}; ` +
      `constraint alone: lazy ${f2(res.replay.lazy)}, eager ${f2(res.replay.eager)} ms/token ${JSON.stringify(res.lazy.text)}\n`);
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

const names = get('vocabs', 'spm32k,llama3,qwen').split(',');
const type = get('type', 'q8_0');
const gen = get('gen', '48'), skip = get('skip', '4'), rounds = get('rounds', '5'), threads = get('threads', '');
const rows = [];
for (const name of names) {
  const file = await ensureVocabModel(name, type);
  process.stderr.write(`${VOCABS[name].label}:\n`);
  const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file, gen, skip, rounds, threads], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const line = (p.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('[')).pop();
  if (p.status !== 0 || !line) { process.stderr.write(`  ${name} failed\n`); continue; }
  const runs = JSON.parse(line);
  const ms = (mode) => median(runs.map((x) => x[mode].msPerToken));
  // per-round ratios against the unconstrained run of the same round (the machine's load changes between rounds)
  const over = (mode) => median(runs.map((x) => x[mode].msPerToken / x.none.msPerToken - 1));
  const replayMs = (mode) => median(runs.map((x) => x.replay[mode]));
  rows.push({
    vocabulary: VOCABS[name].label,
    'unconstrained ms/token': f2(ms('none')),
    'constraint alone, lazy ms/token (% of decode)': `${f2(replayMs('lazy'))} (${f1(100 * replayMs('lazy') / ms('none'))}%)${replayMs('lazy') / ms('none') <= 0.1 ? ' ✓' : ' ✗'}`,
    'constraint alone, eager ms/token (%)': `${f2(replayMs('eager'))} (${f1(100 * replayMs('eager') / ms('none'))}%)`,
    'schema, lazy ms/token': f2(ms('lazy')),
    'lazy overhead (≤ 10%)': `${f1(100 * over('lazy'))}%${over('lazy') <= 0.1 ? ' ✓' : ' ✗'}`,
  });
}
console.log(`\nJSON-schema constraint vs unconstrained decoding, random stories110m-shaped ${type.toUpperCase()} models, ` +
  `time per token after the first ${skip} of ${gen}, temperature 1; medians of ${rounds} rounds (overheads: median of per-round ratios; Node ${process.version})`);
console.log(table(rows));
