#!/usr/bin/env node
// Time per decoded token at several context lengths, without prefilling them (issue 5 item 9, quickly):
// the engine's KV cache is filled with random rows (their values do not change what attention costs, but
// rows never written would all read the OS's one zero page, and cost nothing) and declared to hold
// N − gen − 1 tokens, then `gen` tokens are decoded one at a time, the last at position N − 1 (as
// `wasmlm bench --context-fill N−gen−1 --gen gen`). Contexts alternate
// round by round in one process, and each is timed in CPU time of this process as well as wall time,
// so that other work on the machine skews the ratio less. `wasmlm bench --context-fill N` (npm run
// bench -- --decode-context N) is the real measurement, with a prefill of N tokens.
//
//   node bench/decode-context.mjs MODEL.gguf [--dist dist] [--contexts 128,2048] [--gen 16] [--rounds 3]
//                                            [--threads 1] [--kv f32,f16,q8_0] [--prefill]
// --kv: one model per KV cache type (default: the model's default type), alternating with the contexts.
// --prefill: time the prefill of a prompt of each length instead (random tokens, from an empty cache, in
// the engine's batches): tokens/s of CPU time, and the ratio to the first length's (issue 16 item 6: a
// 2,048-token prompt at ≥ 0.8× the tokens/s of a 128-token one).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const file = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!file) { console.error('usage: node bench/decode-context.mjs MODEL.gguf [--dist dist] [--contexts 128,2048] [--gen 16] [--rounds 3] [--threads 1] [--kv f32,f16,q8_0]'); process.exit(1); }
const dist = resolve(get('dist', new URL('../dist', import.meta.url).pathname));
const contexts = get('contexts', '128,2048').split(',').map(Number);
const gen = Number(get('gen', '16'));
const rounds = Number(get('rounds', '3'));
const threads = Number(get('threads', '1'));
const kvTypes = get('kv', '').split(',').filter(Boolean);
const prefill = args.includes('--prefill');

const { loadModel } = await import(pathToFileURL(`${dist}/index.js`).href);
const maxCtx = Math.max(...contexts);
let seed = 12345;
const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 31 - 1; };

/** A model with a cache of kvType (undefined: its default), every cache row filled with random values. */
async function load(kvType) {
  const model = await loadModel(file, { threads, contextLength: maxCtx, ...(kvType ? { kvType } : {}) });
  const engine = model.engineRef ?? model.engine;
  if (!engine?.cached || typeof engine.evaluate !== 'function') throw new Error('engine internals not found');
  // the KV cache of each layer (src/engine/state.ts, LayerCache), in the memory of its shard (shards.ts)
  const shards = engine.shards;
  if (!shards?.length || !shards[0].state?.layers || !shards[0].views?.memory) throw new Error('engine internals (shards[].state.layers, .views.memory) not found');
  const kvDim = model.info.kvHeads * model.info.headSize;
  for (const { state: { layers }, views: { memory } } of shards) {
    for (const l of layers) {
      for (const at of [l.k, l.v]) {
        const type = l.type ?? 'f32';
        if (type === 'f32') {
          const f = new Float32Array(memory.buffer, at, l.rows * kvDim);
          for (let i = 0; i < f.length; i++) f[i] = rand();
        } else if (type === 'f16') {
          // halves of magnitude 0.5 .. 1 with random signs and mantissas
          const h = new Uint16Array(memory.buffer, at, l.rows * kvDim);
          for (let i = 0; i < h.length; i++) h[i] = ((rand() * 65536) & 0x83ff) | 0x3800;
        } else {
          // q8_0 blocks of 34 bytes (head sizes that are multiples of 32): a scale of 1/127, random quants
          const u = new Uint8Array(memory.buffer, at, l.rows * kvDim / 32 * 34);
          for (let b = 0; b < u.length; b += 34) {
            u[b] = 0x08; u[b + 1] = 0x20; // fp16 0x2008 ≈ 0.0079
            for (let j = 2; j < 34; j++) u[b + j] = (rand() * 256) & 0xff;
          }
        }
      }
    }
  }
  return { model, engine, name: model.info.kvType ?? 'f32' };
}
const runs = [];
for (const kv of kvTypes.length ? kvTypes : [undefined]) runs.push(await load(kv));

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
/** ms per token (cpu, wall) decoding `gen` tokens after n − gen − 1 cached ones */
function decodeAt(engine, n) {
  engine.truncate(0);
  for (let i = 0; i < n - gen - 2; i++) engine.cached.push(1);
  engine.evaluate([1]); // warm-up
  const c0 = cpuMs(), w0 = performance.now();
  for (let i = 0; i < gen; i++) engine.evaluate([(i * 7919) % 1000 + 2]);
  return { cpu: (cpuMs() - c0) / gen, wall: (performance.now() - w0) / gen };
}

/** ms per token (cpu, wall) prefilling a prompt of n tokens */
function prefillOf(engine, n) {
  engine.truncate(0);
  const tokens = Array.from({ length: n }, (_, i) => (i * 7919) % 1000 + 2);
  const c0 = cpuMs(), w0 = performance.now();
  engine.evaluate(tokens);
  return { cpu: (cpuMs() - c0) / n, wall: (performance.now() - w0) / n };
}

const key = (r, n) => `${r.name} ${n}`;
const best = new Map(runs.flatMap((r) => contexts.map((n) => [key(r, n), { cpu: Infinity, wall: Infinity }])));
for (let round = 0; round < rounds; round++) {
  for (const n of round % 2 ? [...contexts].reverse() : contexts) {
    for (const r of round % 2 ? [...runs].reverse() : runs) {
      const t = prefill ? prefillOf(r.engine, n) : decodeAt(r.engine, n);
      const b = best.get(key(r, n));
      b.cpu = Math.min(b.cpu, t.cpu);
      b.wall = Math.min(b.wall, t.wall);
      process.stderr.write(`  round ${round + 1}/${rounds} kv ${r.name} context ${n}: ${t.cpu.toFixed(1)} ms/token cpu, ${t.wall.toFixed(1)} wall\n`);
    }
  }
}
for (const r of runs) {
  const base = best.get(key(runs[0], contexts[0]));
  for (const n of contexts) {
    const b = best.get(key(r, n));
    console.log(`kv ${r.name.padEnd(4)} ${prefill ? 'prompt ' : 'context'} ${String(n).padStart(5)}: ${b.cpu.toFixed(1).padStart(6)} ms/token cpu (${(b.cpu / base.cpu).toFixed(2)}×), ` +
      `${b.wall.toFixed(1).padStart(6)} wall (${(b.wall / base.wall).toFixed(2)}×), ${(1000 / b.cpu).toFixed(1)} tok/s cpu   ` +
      `[best of ${rounds}, ${threads} thread(s), ${r.model.info.kernels}, cache ${(r.model.info.kvCacheBytes / 2 ** 20).toFixed(0)} MiB]`);
  }
}
for (const r of runs) r.model.dispose();
