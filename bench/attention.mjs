#!/usr/bin/env node
// The decode-time attention kernel alone (issue 5 item 9): one query token against a KV cache of N
// positions, every layer of a model shape, one thread; prints ms per token at each context length and
// the extra time of the longest over the shortest. A quick check of assembly/ops/attention.ts without a
// 2000-token prefill (npm run bench -- --decode-context N measures the whole decode).
//
//   node bench/attention.mjs [--wasm build/wasmlm.wasm] [--contexts 128,512,2048] [--rounds 5]
//                            [--heads 32 --kv-heads 4 --head-dim 64 --layers 22]   (tinyllama's shape)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const wasmPath = get('wasm', fileURLToPath(new URL('../build/wasmlm.wasm', import.meta.url)));
const contexts = get('contexts', '128,512,2048').split(',').map(Number);
const rounds = Number(get('rounds', '5'));
const nHead = Number(get('heads', '32'));
const nKv = Number(get('kv-heads', '4'));
const hd = Number(get('head-dim', '64'));
const layers = Number(get('layers', '22'));
const maxCtx = Math.max(...contexts);

const kvRowBytes = nKv * hd * 4;
const cacheBytes = maxCtx * kvRowBytes; // one layer's K (or V)
const qBytes = nHead * hd * 4;
const base = 65536;
const need = base + layers * 2 * cacheBytes + 2 * qBytes + (maxCtx + 128) * 4 + 4096;
const memory = new WebAssembly.Memory({ initial: Math.ceil(need / 65536), maximum: 65536 });
const module = new WebAssembly.Module(readFileSync(wasmPath));
const instance = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('abort'); }, wait32() {} } });
const k = /** @type {{ attention: (...args: number[]) => void }} */ (/** @type {unknown} */ (instance.exports));

let p = base;
const alloc = (n) => { const at = p; p += (n + 63) & ~63; return at; };
const kc = [], vc = [];
let s = 12345;
const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
for (let l = 0; l < layers; l++) {
  kc.push(alloc(cacheBytes));
  vc.push(alloc(cacheBytes));
  for (const at of [kc[l], vc[l]]) { const f = new Float32Array(memory.buffer, at, cacheBytes / 4); for (let i = 0; i < f.length; i++) f[i] = rnd(); }
}
const q = alloc(qBytes), out = alloc(qBytes), scratch = alloc((maxCtx + 128) * 4);
{ const f = new Float32Array(memory.buffer, q, qBytes / 4); for (let i = 0; i < f.length; i++) f[i] = rnd() * 4; }
const scale = 1 / Math.sqrt(hd);

// CPU time of this process (user + system), not wall time: on a shared machine the wall clock also
// counts the time other processes hold the core
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/** ms of CPU for one decoded token (every layer) at context n: the fastest of `rounds` */
function time(n) {
  const step = () => { for (let l = 0; l < layers; l++) k.attention(q, kc[l], vc[l], out, 1, n - 1, nHead, nKv, hd, scale, scratch, 0, 0, 0); };
  step(); // warm-up
  let best = Infinity;
  const reps = Math.max(1, Math.round(4096 / n));
  for (let r = 0; r < rounds; r++) {
    const t0 = cpuMs();
    for (let i = 0; i < reps; i++) step();
    best = Math.min(best, (cpuMs() - t0) / reps);
  }
  return best;
}

const res = contexts.map((n) => ({ context: n, ms: time(n) }));
for (const r of res) console.log(`context ${String(r.context).padStart(5)}: attention ${r.ms.toFixed(2).padStart(7)} ms/token (${layers} layers, ${nHead} heads, ${nKv} KV heads, head dim ${hd})`);
const a = res[0], b = res[res.length - 1];
console.log(`extra attention time per token from ${a.context} to ${b.context}: ${(b.ms - a.ms).toFixed(2)} ms (${wasmPath})`);
