// The SIMD128 roofline of the prefill matmuls: the best integer multiply-add rate one core reaches with
// i32x4.dot_i16x8_s (and i32x4.relaxed_dot_i8x16_i7x16_add_s where the runtime has relaxed SIMD: Node 22,
// Chromium), on data in L1, without and with each weight type's unpacking (bench/roofline/kernels.ts), and
// the GFLOP/s each matmul kernel reaches at prefill (bench/kernels.mjs, 32 tokens) as a share of it.
//
//   node bench/roofline.mjs [--rounds 3] [--types Q8_0,Q4_0,Q4_K] [--shapes 2048x2048,2048x5632]
//   /path/to/node22 bench/roofline.mjs       (adds the relaxed-dot row and the relaxed build's kernels)
//
// One multiply-add = 2 operations, as the kernels' GFLOP/s count them (2·nIn·nOut·nTok per matmul). Times
// are this process's CPU time (process.cpuUsage: waiting for a core on a busy machine is not counted);
// the roofline is measured in rounds before and after the kernels (alternating), medians over rounds.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { median, table, f1 } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const rounds = Number(opt('--rounds', '3'));
const types = opt('--types', 'Q8_0,Q4_0,Q4_K');
const shapes = opt('--shapes', '2048x2048,2048x5632');

/** @returns {Promise<Uint8Array<ArrayBuffer>>} */
async function compile(enable) {
  const source = readFileSync(fileURLToPath(new URL('./roofline/kernels.ts', import.meta.url)), 'utf8');
  const { binary, error, stderr } = await asc.compileString(source, {
    optimizeLevel: 3, shrinkLevel: 0, noAssert: true, runtime: 'stub', importMemory: true, enable,
  });
  if (error || !binary) throw new Error(`roofline kernels: ${error?.message}\n${stderr}`);
  return /** @type {Uint8Array<ArrayBuffer>} */ (binary);
}

const memory = new WebAssembly.Memory({ initial: 4 });
const binary = await compile(['simd', 'relaxed-simd']);
let k;
let relaxed = false;
try {
  k = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory, abort() { throw new Error('abort'); } } }).exports;
  relaxed = true;
} catch {
  // no relaxed SIMD in this runtime: the plain kernels only
  k = new WebAssembly.Instance(new WebAssembly.Module(await compile(['simd'])), { env: { memory, abort() { throw new Error('abort'); } } }).exports;
}

// 16 blocks of 32 weights (1 KiB) and their 4-token act tile (16 KiB at most): L1-resident
const N_BLOCKS = 16;
const W = 1024, A = W + N_BLOCKS * 64;
const u8 = new Uint8Array(memory.buffer);
for (let i = 0; i < W + N_BLOCKS * 256; i++) u8[1024 + i] = (i * 37 + 11) & 0x3f; // small positive values: i7 for the relaxed dot
const KINDS = [['dot (i16 weights)', 'run_dot'], ['+ Q8_0 unpack', 'run_q8_0'], ['+ Q4_0 unpack', 'run_q4_0'], ['+ Q4_K unpack', 'run_q4_k'],
  ['relaxed dot (i8)', 'run_relaxed']];

/** multiply-adds per CPU-second of one microkernel (reps sized for ~50 ms) */
function rate(fn) {
  const reps = 20000;
  const call = () => k[fn](W, A, N_BLOCKS, reps);
  call(); // warm (tier-up)
  const t0 = process.cpuUsage();
  call();
  const t = process.cpuUsage(t0);
  return (reps * N_BLOCKS * 32 * 4) / ((t.user + t.system) / 1e6);
}

const roof = new Map();
const measureRoof = () => {
  for (const [name, fn] of KINDS) if (relaxed || fn !== 'run_relaxed') (roof.get(name) ?? roof.set(name, []).get(name)).push(rate(fn));
};
for (let r = 0; r < rounds; r++) measureRoof();

// the kernels, once per build (plain; relaxed where the runtime has it), between rounds of the roofline
const kernelRows = [];
for (const build of relaxed ? ['plain', 'relaxed'] : ['plain']) {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('./kernels.mjs', import.meta.url)), '--types', types,
    '--shapes', shapes, '--rounds', String(rounds), ...(build === 'relaxed' ? ['--relaxed'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = out.split('\n').filter((l) => l.startsWith('| '));
  const cols = lines[0].slice(2, -2).split(' | ');
  for (const l of lines.slice(1)) {
    const cells = l.slice(2, -2).split(' | ');
    const row = Object.fromEntries(cols.map((c, i) => [c, cells[i]]));
    kernelRows.push({ build, type: row.type, shape: row.shape, gflops: Number(row['prefill GFLOP/s new']) });
  }
  for (let r = 0; r < rounds; r++) measureRoof();
}

const gops = (name) => (2 * median(roof.get(name))) / 1e9;
console.log(`SIMD128 roofline, one core, node ${process.version}${relaxed ? ' (relaxed SIMD)' : ''}; ${rounds * (kernelRows.length ? 2 : 1)}+ rounds\n`);
console.log(table([...roof.keys()].map((name) => ({ microkernel: name, 'GOP/s (2 per multiply-add)': f1(gops(name)) }))));
const unpackOf = { Q8_0: '+ Q8_0 unpack', Q4_0: '+ Q4_0 unpack', Q4_K: '+ Q4_K unpack' };
console.log('\nprefill matmul kernels (bench/kernels.mjs, 32 tokens) against the roofline of their unpacking:\n');
console.log(table(kernelRows.map((r) => {
  const ceiling = r.build === 'relaxed' && roof.has('relaxed dot (i8)') && r.type !== 'Q8_0' ? 'relaxed dot (i8)' : (unpackOf[r.type] ?? 'dot (i16 weights)');
  return {
    build: r.build, type: r.type, shape: r.shape, 'GFLOP/s': f1(r.gflops), roofline: ceiling, 'roofline GOP/s': f1(gops(ceiling)),
    'share': `${Math.round((100 * r.gflops) / gops(ceiling))}%`,
  };
})));
