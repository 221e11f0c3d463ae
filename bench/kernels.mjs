// Matmul kernel speed per weight type, for two kernel builds side by side (e.g. before and after a change to
// assembly/weights/): decode (nTok 1, weight GB/s) and prefill (nTok 32, GFLOP/s) at TinyLlama-like shapes.
//
//   node bench/kernels.mjs [--old DIR] [--new DIR] [--relaxed] [--rounds N] [--types Q4_K,Q6_K,...] [--shapes 2048x2048,768x768]
//                          [--differ-ok]   (the builds may differ in the results' last bits: the row says so)
//   node bench/kernels.mjs --model tinyllama|stories110m [--types Q8_0,Q4_0,Q4_K_M] [--batch 1,2,4,8] [--old DIR] ...
//
// --model SHAPE: one forward pass's matmuls of that model shape (bench/make-model.mjs's SHAPES: every layer's
// q, k, v, o, gate, down, up, then the output head; Q4_K_M is llama.cpp's mix) over weights that are each
// their own bytes in memory (tinyllama: larger than the last-level cache), so each pass streams every weight
// from memory once, as decoding does. Per pass size (--batch: tokens per pass; batched decoding of N sessions
// is one N-token pass): ms per pass, weight GB/s, and "× 1" = N · t(1) / t(N), the aggregate speedup of N
// sessions over one as far as the matmuls go (issue 11 item 5's goal: ≥ 2.5 at 4).
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
if (opt('--model')) await modelMode(opt('--model'));
for (const name of opt('--model') ? [] : names) {
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
    let differ = false;
    if (setups.length === 2) {   // same weights, same act: the two builds must agree bit for bit (--differ-ok: a
      // change that is meant to change the results' last bits; the row then says so)
      const [a, b] = setups.map((s) => s.y());
      if (!a.every((v, i) => Object.is(v, b[i]))) {
        if (!args.includes('--differ-ok')) throw new Error(`${name} ${nIn}x${nOut}: the builds' results differ (--differ-ok if meant)`);
        differ = true;
      }
    }
    const row = { type: differ ? `${name} (results differ)` : name, shape: `${nIn}x${nOut}` };
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

/** --model SHAPE: see the top */
async function modelMode(shape) {
  const { SHAPES, q4kmType } = await import('./make-model.mjs');
  const s = SHAPES[shape];
  if (!s) throw new Error(`--model: unknown shape ${shape} (${Object.keys(SHAPES).join(', ')})`);
  const batch = opt('--batch', '1,2,4,8').split(',').map(Number);
  const kvDim = (s.nEmbd / s.nHead) * s.nHeadKv;
  const code = Object.fromEntries(Object.entries(TYPES).map(([n, t]) => [t[0], n]));
  for (const mix of opt('--types', 'Q8_0,Q4_0,Q4_K_M').split(',')) {
    if (mix !== 'Q4_K_M' && !TYPES[mix]) throw new Error(`--types: unknown type ${mix}`);
    const typeOf = (name) => (mix === 'Q4_K_M' ? code[q4kmType(name, s.nLayer)] : mix);
    /** @type {{ name: string, type: string, nIn: number, nOut: number }[]} */
    const mats = [];
    for (let l = 0; l < s.nLayer; l++) {
      for (const [m, nIn, nOut] of [['attn_q', s.nEmbd, s.nEmbd], ['attn_k', s.nEmbd, kvDim], ['attn_v', s.nEmbd, kvDim],
        ['attn_output', s.nEmbd, s.nEmbd], ['ffn_gate', s.nEmbd, s.nFf], ['ffn_down', s.nFf, s.nEmbd], ['ffn_up', s.nEmbd, s.nFf]]) {
        const name = `blk.${l}.${m}.weight`;
        mats.push({ name, type: typeOf(name), nIn, nOut });
      }
    }
    mats.push({ name: 'output.weight', type: typeOf('output.weight'), nIn: s.nEmbd, nOut: s.nVocab });
    const bytesOf = (m) => (m.nIn / TYPES[m.type][1]) * TYPES[m.type][2] * m.nOut;
    const total = mats.reduce((a, m) => a + bytesOf(m), 0);
    const maxTok = Math.max(...batch);
    const nIns = [...new Set(mats.map((m) => m.nIn))];
    const maxOut = Math.max(...mats.map((m) => m.nOut));
    // one random matrix per (type, shape), copied to every layer's place (the bytes' values do not matter)
    const proto = new Map();
    for (const m of mats) {
      const key = `${m.type} ${m.nIn}x${m.nOut}`;
      if (!proto.has(key)) proto.set(key, weights(m.type, m.nIn, m.nOut));
    }
    const setups = inst.map(({ k, memory }) => {
      const actBytes = Math.max(...mats.map((m) => k.act_bytes(TYPES[m.type][0] | 256, m.nIn, maxTok)));
      const need = total + 64 * mats.length + nIns.length * 2 * (actBytes + 64) + maxOut * maxTok * 4 + (8 << 20);
      if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
      let p = 1 << 20;
      const scratch = p; p += 1 << 20;
      const yp = p; p += ((maxOut * maxTok * 4 + 63) & ~63);
      const xs = new Map(nIns.map((nIn) => {
        const xp = p; p += ((nIn * maxTok * 4 + 63) & ~63);
        new Float32Array(memory.buffer, xp, nIn * maxTok).set(Float32Array.from({ length: nIn * maxTok }, () => rnd() * 2 - 1));
        return [nIn, xp];
      }));
      const acts = new Map();   // `${type} ${nIn}` -> act pointer
      for (const m of mats) {
        const key = `${m.type} ${m.nIn}`;
        if (!acts.has(key)) { acts.set(key, p); p += (actBytes + 63) & ~63; }
      }
      const placed = mats.map((m) => {
        const wp = p; p += (bytesOf(m) + 63) & ~63;
        new Uint8Array(memory.buffer, wp, bytesOf(m)).set(proto.get(`${m.type} ${m.nIn}x${m.nOut}`));
        const type = k.repack(TYPES[m.type][0], wp, m.nOut, m.nIn, scratch);
        return { ...m, wp, type, act: acts.get(`${m.type} ${m.nIn}`) };
      });
      const pass = (nTok) => {
        for (const m of placed) k.matmul(m.type, m.wp, m.act, yp, m.nIn, m.nOut, nTok, 0, m.nOut);
      };
      const time = (nTok) => {
        for (const m of placed) k.prep_act(m.type, xs.get(m.nIn), m.act, m.nIn, nTok);
        pass(nTok);   // warm
        const t0 = process.cpuUsage();
        pass(nTok);
        pass(nTok);
        const t = process.cpuUsage(t0);
        return (t.user + t.system) / 1000 / 2;
      };
      return { time };
    });
    process.stderr.write(`${shape} ${mix}: ${(total / 2 ** 20).toFixed(0)} MiB of weights per pass\n`);
    const times = setups.map(() => batch.map(() => /** @type {number[]} */ ([])));
    for (let r = -1; r < rounds; r++) {
      setups.forEach((st, i) => batch.forEach((n, j) => { const t = st.time(n); if (r >= 0) times[i][j].push(t); }));
    }
    batch.forEach((n, j) => {
      const row = { model: `${shape} ${mix}`, tokens: n };
      setups.forEach((_, i) => {
        const l = inst[i].label;
        row[`ms/pass ${l}`] = f1(median(times[i][j]));
        row[`GB/s ${l}`] = f1(total / 1e6 / median(times[i][j]));
        row[`× 1 ${l}`] = f2(median(times[i][j].map((t, r) => (n * times[i][0][r]) / t)));
      });
      if (setups.length === 2) row['new/old'] = f2(median(times[0][j].map((t, r) => t / times[1][j][r])));
      rows.push(row);
    });
    proto.clear();
  }
}
