// Matmul kernel speed per weight type, for two kernel builds side by side (e.g. before and after a change to
// assembly/weights/): decode (nTok 1, weight GB/s) and prefill (nTok 32, GFLOP/s) at TinyLlama-like shapes.
//
//   node bench/kernels.mjs [--old DIR] [--new DIR] [--relaxed] [--rounds N] [--types Q4_K,Q6_K,...] [--shapes 2048x2048,768x768]
//
// DIR holds wasmlm.wasm (wasmlm.relaxed.wasm with --relaxed: run that with Node >= 22); --new defaults to
// build/, and without --old only --new is timed. The builds alternate call batch by call batch inside one
// process (the machine is shared: medians over rounds, and the ratio is the median of the per-round ratios);
// the time is this process's CPU time (process.cpuUsage), which waiting for a core on a busy machine does not
// count (the rates are per CPU-second).
// Weights are random bytes with finite fp16 scales (the kernels' speed does not depend on the values);
// Q8_0/Q4_0 go through `repack` as the engine does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, table, f1, f2 } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const root = fileURLToPath(new URL('..', import.meta.url));
const relaxed = args.includes('--relaxed');
const file = relaxed ? 'wasmlm.relaxed.wasm' : 'wasmlm.wasm';
const builds = [['new', opt('--new', join(root, 'build'))]];
if (opt('--old')) builds.unshift(['old', opt('--old')]);
const rounds = Number(opt('--rounds', '3'));

// type: [code, values per block, bytes per block, byte offsets of fp16 scale fields]
const TYPES = {
  F32: [0, 1, 4, []], F16: [1, 1, 2, null], BF16: [30, 1, 2, null],
  Q8_0: [8, 32, 34, [0]], Q4_0: [2, 32, 18, [0]], Q4_1: [3, 32, 20, [0, 2]], Q5_0: [6, 32, 22, [0]],
  Q5_1: [7, 32, 24, [0, 2]], Q2_K: [10, 256, 84, [80, 82]], Q3_K: [11, 256, 110, [108]],
  Q4_K: [12, 256, 144, [0, 2]], Q5_K: [13, 256, 176, [0, 2]], Q6_K: [14, 256, 210, [208]],
};
const names = opt('--types', Object.keys(TYPES).join(',')).split(',');
const SHAPES = (opt('--shapes', '2048x2048,2048x5632')).split(',').map((s) => s.split('x').map(Number));
const PREFILL = 32;

let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);

function weights(name, nIn, nOut) {
  const [, vals, bytes, fields] = TYPES[name];
  const n = nIn * nOut;
  if (name === 'F32') return new Uint8Array(Float32Array.from({ length: n }, () => rnd() - 0.5).buffer);
  const out = new Uint8Array((n / vals) * bytes);
  for (let i = 0; i < out.length; i++) out[i] = (rnd() * 256) | 0;
  const u16 = new DataView(out.buffer);
  if (fields === null) {   // F16 / BF16 values in ±[2^-8, 2^-1)
    for (let i = 0; i < n; i++) {
      const h = name === 'F16' ? 0x1c00 + ((rnd() * 0x1c00) | 0) : 0x3b80 + ((rnd() * 0x380) | 0);
      u16.setUint16(i * 2, h | (rnd() < 0.5 ? 0x8000 : 0), true);
    }
  } else {
    for (let b = 0; b < out.length; b += bytes) for (const f of fields) u16.setUint16(b + f, 0x2000 + ((rnd() * 0x400) | 0), true);
  }
  return out;
}

function instance(dir) {
  const memory = new WebAssembly.Memory({ initial: 4096, maximum: 65536 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(dir, file))), { env: { memory } });
  return { k: /** @type {any} */ (inst.exports), memory };
}

const inst = builds.map(([label, dir]) => ({ label, ...instance(dir) }));
const rows = [];
for (const name of names) {
  if (!TYPES[name]) throw new Error(`--types: unknown type ${name}`);
  for (const [nIn, nOut] of SHAPES) {
    const w = weights(name, nIn, nOut);
    const x = Float32Array.from({ length: nIn * PREFILL }, () => rnd() * 2 - 1);
    const setups = inst.map(({ k, memory }) => {
      const need = 65536 + w.length + x.byteLength * 4 + nOut * PREFILL * 4 + (1 << 20);
      if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
      const wp = 65536, xp = wp + ((w.length + 63) & ~63), yp = xp + x.byteLength;
      const ap = yp + nOut * PREFILL * 4, scratch = ap + ((k.act_bytes(TYPES[name][0] | 256, nIn, PREFILL) + 63) & ~63);
      new Uint8Array(memory.buffer, wp, w.length).set(w);
      new Float32Array(memory.buffer, xp, x.length).set(x);
      const type = k.repack(TYPES[name][0], wp, nOut, nIn, scratch);
      const time = (nTok, reps) => {
        k.prep_act(type, xp, ap, nIn, nTok);
        k.matmul(type, wp, ap, yp, nIn, nOut, nTok, 0, nOut);   // warm
        const t0 = process.cpuUsage();
        for (let r = 0; r < reps; r++) k.matmul(type, wp, ap, yp, nIn, nOut, nTok, 0, nOut);
        const t = process.cpuUsage(t0);
        return (t.user + t.system) / 1000 / reps;
      };
      return { time, y: () => new Float32Array(memory.buffer, yp, nOut * PREFILL).slice() };
    });
    const dec = setups.map(() => /** @type {number[]} */ ([])), pre = setups.map(() => /** @type {number[]} */ ([]));
    for (let r = -1; r < rounds; r++) {   // round -1: warm-up (tier-up to TurboFan), not counted
      if (r < 0) { setups.forEach((s) => { s.time(1, 20); s.time(PREFILL, 2); }); continue; }
      setups.forEach((s, i) => dec[i].push(s.time(1, 20)));
      setups.forEach((s, i) => pre[i].push(s.time(PREFILL, 2)));
    }
    if (setups.length === 2) {   // same weights, same act: the two builds must agree bit for bit
      const [a, b] = setups.map((s) => s.y());
      if (!a.every((v, i) => Object.is(v, b[i]))) throw new Error(`${name} ${nIn}x${nOut}: the builds' results differ`);
    }
    const row = { type: name, shape: `${nIn}x${nOut}` };
    setups.forEach((_, i) => {
      const l = inst[i].label;
      row[`decode GB/s ${l}`] = f1(w.length / 1e6 / median(dec[i]));
      row[`prefill GFLOP/s ${l}`] = f1((2 * nIn * nOut * PREFILL) / 1e6 / median(pre[i]));
    });
    if (setups.length === 2) {
      row['decode new/old'] = f2(median(dec[0].map((t, r) => t / dec[1][r])));
      row['prefill new/old'] = f2(median(pre[0].map((t, r) => t / pre[1][r])));
    }
    rows.push(row);
    process.stderr.write(`${name} ${nIn}x${nOut} done\n`);
  }
}
console.log(`${file}, ${rounds} rounds, node ${process.version}\n`);
console.log(table(rows));
