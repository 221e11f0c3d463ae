#!/usr/bin/env node
// The decode-time attention kernel alone (issue 5 item 9, issue 16 item 6): one query token against a KV cache
// of N positions, every layer of a model shape, one thread; prints ms per token at each context length, the
// extra time of the longest over the shortest, and the multiply-adds per second at the longest (scores and
// weighted sums: 2 · heads · N · head dim a layer). A quick check of assembly/ops/attention.ts without a
// 2000-token prefill (npm run bench -- --decode-context N measures the whole decode). Several --wasm files
// (comma-separated) alternate round by round in one process (an A/B of two builds).
//
//   node bench/attention.mjs [--wasm build/wasmlm.wasm[,other.wasm]] [--contexts 128,512,2048] [--rounds 5]
//                            [--kv f32|f16|q8_0] [--heads 32 --kv-heads 4 --head-dim 64 --layers 22]  (tinyllama's shape)
// It also measures the ceiling: the f32x4 mul + add rate of one core (8 independent sums of f32x4 products
// of registers, no loads: SIMD128 without relaxed SIMD has no fused multiply-add) and that of a weighted sum's
// inner loop on data in L1 (per key: one splat load, eight row loads, eight products added to eight sums).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const get = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const wasmPaths = get('wasm', fileURLToPath(new URL('../build/wasmlm.wasm', import.meta.url))).split(',');
const contexts = get('contexts', '128,512,2048').split(',').map(Number);
const rounds = Number(get('rounds', '5'));
const nHead = Number(get('heads', '32'));
const nKv = Number(get('kv-heads', '4'));
const hd = Number(get('head-dim', '64'));
const layers = Number(get('layers', '22'));
const kvName = get('kv', 'f32');
const KV_TYPES = { f32: 0, f16: 1, q8_0: 8 }; // GGML type ids (src/abi.ts)
const kvType = KV_TYPES[kvName];
if (kvType === undefined) throw new Error(`--kv: one of ${Object.keys(KV_TYPES).join(', ')}`);
const maxCtx = Math.max(...contexts);

/** One instance of a build with its own memory: a cache of every layer filled (random values), q, out, scratch. */
function setup(wasmPath) {
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  const k = /** @type {any} */ (new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('abort'); }, wait32() {} } }).exports);
  const kvRowBytes = k.kv_row_bytes(kvType, nKv, hd);
  const cacheBytes = maxCtx * kvRowBytes; // one layer's K (or V)
  const qBytes = nHead * hd * 4;
  // the engine's scratch (src/engine/state.ts, attentionScratchBytes)
  const fuseLen = Math.max(512, 8 * (hd + 64 + 2));
  const scratchBytes = Math.max(maxCtx, 8 * fuseLen) * 4 + 16 + 2 * 64 * hd * 4 + 64;
  const f32Tmp = maxCtx * nKv * hd * 4;
  const need = 65536 + layers * 2 * cacheBytes + 2 * qBytes + scratchBytes + f32Tmp + 4096;
  memory.grow(Math.ceil(need / 65536));
  let p = 65536;
  const alloc = (n) => { const at = p; p += (n + 63) & ~63; return at; };
  let s = 12345;
  const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
  const tmp = alloc(f32Tmp);
  const kc = [], vc = [];
  for (let l = 0; l < layers; l++) {
    kc.push(alloc(cacheBytes));
    vc.push(alloc(cacheBytes));
    for (const at of [kc[l], vc[l]]) {
      const f = new Float32Array(memory.buffer, tmp, f32Tmp / 4);
      for (let i = 0; i < f.length; i++) f[i] = rnd();
      k.kv_convert(tmp, 0, at, kvType, hd, nKv, maxCtx);
    }
  }
  const q = alloc(qBytes), out = alloc(qBytes), scratch = alloc(scratchBytes);
  { const f = new Float32Array(memory.buffer, q, qBytes / 4); for (let i = 0; i < f.length; i++) f[i] = rnd() * 4; }
  const scale = Math.fround(1 / Math.sqrt(hd));
  const step = (n) => { for (let l = 0; l < layers; l++) k.attention(q, kc[l], vc[l], out, 1, n - 1, nHead, nKv, hd, scale, scratch, 0, 0, 0, kvType, 0); };
  const result = () => new Uint32Array(memory.buffer, out, qBytes / 4).slice();
  return { wasmPath, step, result };
}
const builds = wasmPaths.map(setup);

const CEILING_SOURCE = `
export function regs(n: i32): f32 {
  const c = f32x4.splat(1.0000001);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(1), a2 = f32x4.splat(2), a3 = f32x4.splat(3);
  let a4 = f32x4.splat(4), a5 = f32x4.splat(5), a6 = f32x4.splat(6), a7 = f32x4.splat(7);
  const b0 = f32x4.splat(<f32>n), b1 = f32x4.add(b0, c), b2 = f32x4.add(b1, c), b3 = f32x4.add(b2, c);
  for (let i = 0; i < n; i++) {
    a0 = f32x4.add(a0, f32x4.mul(b0, c)); a1 = f32x4.add(a1, f32x4.mul(b1, c)); a2 = f32x4.add(a2, f32x4.mul(b2, c));
    a3 = f32x4.add(a3, f32x4.mul(b3, c)); a4 = f32x4.add(a4, f32x4.mul(b0, c)); a5 = f32x4.add(a5, f32x4.mul(b1, c));
    a6 = f32x4.add(a6, f32x4.mul(b2, c)); a7 = f32x4.add(a7, f32x4.mul(b3, c));
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0);
}
export function rows(p: usize, v: usize, n: i32, reps: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  for (let r = 0; r < reps; r++) {
    let vp = v;
    for (let j = 0; j < n; j++) {
      const pj = v128.load32_splat(p + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(vp, 0))); a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(vp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(vp, 32))); a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(vp, 48)));
      a4 = f32x4.add(a4, f32x4.mul(pj, v128.load(vp, 64))); a5 = f32x4.add(a5, f32x4.mul(pj, v128.load(vp, 80)));
      a6 = f32x4.add(a6, f32x4.mul(pj, v128.load(vp, 96))); a7 = f32x4.add(a7, f32x4.mul(pj, v128.load(vp, 112)));
      vp += 256;
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0);
}`;

/** The ceiling kernels, compiled, with a function that times them: GMAC/s of each (best of `rounds`). */
async function ceilingKernels() {
  // asc reads this process's argv when it loads (its own --wasm option): load it without ours
  const argv = process.argv;
  process.argv = argv.slice(0, 2);
  const { default: asc } = await import('assemblyscript/asc');
  process.argv = argv;
  const { binary, error, stderr } = await asc.compileString(CEILING_SOURCE, {
    optimizeLevel: 3, shrinkLevel: 0, noAssert: true, runtime: 'stub', importMemory: true, enable: ['simd'],
  });
  if (error || !binary) throw new Error(`ceiling kernels: ${error?.message}\n${stderr}`);
  const memory = new WebAssembly.Memory({ initial: 2 });
  const c = /** @type {any} */ (new WebAssembly.Instance(new WebAssembly.Module(/** @type {Uint8Array<ArrayBuffer>} */ (binary)), { env: { memory, abort() {} } }).exports);
  new Float32Array(memory.buffer).fill(0.5);
  // many short calls: V8 runs a wasm function's first calls in its baseline compiler and optimises it in the
  // background (a call already running keeps its code): warmed up here, timed after the attention
  const n = 64, reps = 16, calls = 3000, iters = 1000; // rows: a tile of 64 V rows of 256 bytes (16 KiB), p at 0
  for (let i = 0; i < calls; i++) { c.regs(iters); c.rows(0, 1024, n, reps); }
  return () => {
    let regs = Infinity, rows = Infinity;
    for (let r = 0; r < rounds; r++) {
      let t0 = cpuMs();
      for (let i = 0; i < calls; i++) c.regs(iters);
      regs = Math.min(regs, cpuMs() - t0);
      t0 = cpuMs();
      for (let i = 0; i < calls; i++) c.rows(0, 1024, n, reps);
      rows = Math.min(rows, cpuMs() - t0);
    }
    return { regs: (calls * iters * 32) / (regs * 1e6), rows: (calls * n * reps * 32) / (rows * 1e6) };
  };
}

// CPU time of this process (user + system), not wall time: on a shared machine the wall clock also
// counts the time other processes hold the core
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

const timeCeiling = await ceilingKernels();
const best = builds.map(() => contexts.map(() => Infinity));
for (let r = 0; r < 3; r++) for (const b of builds) for (const n of contexts) b.step(n); // warm-up
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...builds.keys()].reverse() : [...builds.keys()];
  for (const bi of order) {
    contexts.forEach((n, ci) => {
      const reps = Math.max(1, Math.round(4096 / n));
      const t0 = cpuMs();
      for (let i = 0; i < reps; i++) builds[bi].step(n);
      best[bi][ci] = Math.min(best[bi][ci], (cpuMs() - t0) / reps);
    });
  }
}
const ceil = timeCeiling();
console.log(`ceiling: f32x4 mul + add ${ceil.regs.toFixed(2)} GMAC/s from registers, ${ceil.rows.toFixed(2)} GMAC/s in a weighted sum over rows in L1`);
builds.forEach((b, bi) => {
  console.log(`${b.wasmPath} (kv ${kvName}, ${layers} layers, ${nHead} heads, ${nKv} KV heads, head dim ${hd}, best of ${rounds}):`);
  contexts.forEach((n, ci) => {
    const gmac = (2 * nHead * n * hd * layers) / (best[bi][ci] * 1e6);
    console.log(`  context ${String(n).padStart(5)}: attention ${best[bi][ci].toFixed(2).padStart(7)} ms/token, ${gmac.toFixed(2)} GMAC/s`);
  });
  console.log(`  extra attention time per token from ${contexts[0]} to ${contexts.at(-1)}: ${(best[bi].at(-1) - best[bi][0]).toFixed(2)} ms`);
});
if (builds.length > 1) {
  // the builds' outputs at the longest context (the last step run): bit-identical or not
  for (const b of builds) b.step(maxCtx);
  const a = builds[0].result();
  builds.slice(1).forEach((b) => {
    const o = b.result();
    console.log(`${b.wasmPath}: output at ${maxCtx} ${o.every((x, i) => x === a[i]) ? 'bit-identical to' : 'DIFFERS from'} ${builds[0].wasmPath}'s`);
  });
}
