// The SIMD128 roofline of the prefill matmuls: the best integer multiply-add rate one core reaches with
// i32x4.dot_i16x8_s (and i32x4.relaxed_dot_i8x16_i7x16_add_s where the runtime has relaxed SIMD: Node 22,
// Chromium), on data in L1, without and with each weight type's unpacking (bench/roofline/kernels.ts), and
// the GFLOP/s each matmul kernel reaches at prefill (bench/kernels.mjs, 32 tokens) as a share of it.
//
//   node bench/roofline.mjs [--rounds 3] [--types Q8_0,Q4_0,Q4_K] [--shapes 2048x2048,2048x5632]
//   /path/to/node22 bench/roofline.mjs       (adds the relaxed-dot rows and the relaxed build's kernels)
//   node bench/roofline.mjs --micro          (the microkernels only)
//   node bench/roofline.mjs --browser        (the microkernels in headless Chromium: wall time)
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

const KINDS = [['dot (i16 weights)', 'run_dot'], ['+ Q8_0 unpack', 'run_q8_0'], ['+ Q4_0 unpack', 'run_q4_0'], ['+ Q4_K unpack', 'run_q4_k'],
  ['relaxed dot (i8)', 'run_relaxed'], ['relaxed i16 dot + extadd', 'run_relaxed16'],
  ['relaxed Q8_0: act a⁺/a⁻', 'run_q8split'], ['relaxed Q8_0: sign on w', 'run_q8sign']];

/**
 * One round of the microkernels in this runtime (Node, or a page: it is self-contained so that page.evaluate
 * can take it): multiply-adds per second of each kind (Node: CPU time; a page: wall time), keyed by name;
 * the relaxed kinds only where `relaxed` (the relaxed binary) instantiates.
 */
async function microRound({ plain, relaxed, kinds }) {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const imports = { env: { memory, abort() { throw new Error('abort'); } } };
  /** @type {any} */
  let k;
  let hasRelaxed = true;
  try { k = (await WebAssembly.instantiate(await WebAssembly.compile(new Uint8Array(relaxed)), imports)).exports; } catch {
    hasRelaxed = false;   // no relaxed SIMD in this runtime: the plain kernels only
    k = (await WebAssembly.instantiate(await WebAssembly.compile(new Uint8Array(plain)), imports)).exports;
  }
  // (before the data below overwrites the probe's constants: the module's static data starts at 1024)
  const fused = hasRelaxed && k.dot_probe() === 4 * 127 * 255;
  // 16 blocks of 32 weights (1 KiB) and their 4-token act tile (4 KiB): L1-resident
  const N_BLOCKS = 16, W = 1024, A = W + N_BLOCKS * 64;
  const u8 = new Uint8Array(memory.buffer);
  for (let i = 0; i < W + N_BLOCKS * 256; i++) u8[1024 + i] = (i * 37 + 11) & 0x3f; // small positive values: i7 for the relaxed dots
  const now = typeof process !== 'undefined' && process.cpuUsage
    ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; } : () => performance.now();
  const out = {};
  for (const [name, fn] of kinds) {
    if (!hasRelaxed && /relaxed/.test(name)) continue;
    const reps = 400000;   // 10-40 ms
    for (let i = 0; i < 3; i++) k[fn](W, A, N_BLOCKS, reps); // warm (tier-up: Chromium's optimising compile runs in the background)
    const t0 = now();
    k[fn](W, A, N_BLOCKS, reps);
    out[name] = (reps * N_BLOCKS * 32 * 4) / ((now() - t0) / 1e3);
  }
  return { hasRelaxed, fused, rates: out };
}

const plainBin = [...await compile(['simd'])], relaxedBin = [...await compile(['simd', 'relaxed-simd'])];
const roof = new Map();
let relaxed = false, fused = false;
const addRound = ({ hasRelaxed, fused: f, rates }) => {
  relaxed = hasRelaxed; fused = f;
  for (const [name, r] of Object.entries(rates)) (roof.get(name) ?? roof.set(name, []).get(name)).push(r);
};

if (args.includes('--browser')) {
  // headless Chromium (playwright-core from bench/node_modules, as bench/browser.mjs): the microkernels only
  const { chromium } = await import(fileURLToPath(new URL('./node_modules/playwright-core/index.mjs', import.meta.url)));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  for (let r = 0; r < rounds; r++) addRound(await page.evaluate(microRound, { plain: plainBin, relaxed: relaxedBin, kinds: KINDS }));
  const version = browser.version();
  await browser.close();
  console.log(`SIMD128 roofline microkernels, one core, headless Chromium ${version}${relaxed ? ` (relaxed SIMD; i32 relaxed dot ${fused ? 'fused (VNNI)' : 'not fused'})` : ''}, wall time; ${rounds} rounds\n`);
  printRoof();
  process.exit(0);
}
const measureRoof = async () => addRound(await microRound({ plain: plainBin, relaxed: relaxedBin, kinds: KINDS }));
for (let r = 0; r < rounds; r++) await measureRoof();
if (args.includes('--micro')) {
  console.log(`SIMD128 roofline microkernels, one core, node ${process.version}${relaxed ? ` (relaxed SIMD; i32 relaxed dot ${fused ? 'fused (VNNI)' : 'not fused'})` : ''}; ${rounds} rounds\n`);
  printRoof();
  process.exit(0);
}

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
  for (let r = 0; r < rounds; r++) await measureRoof();
}

function gops(name) { return (2 * median(roof.get(name))) / 1e9; }
function printRoof() {
  const base = gops('dot (i16 weights)');
  console.log(table([...roof.keys()].map((name) => ({ microkernel: name, 'GOP/s (2 per multiply-add)': f1(gops(name)), 'vs dot (i16)': (gops(name) / base).toFixed(2) }))));
}
console.log(`SIMD128 roofline, one core, node ${process.version}${relaxed ? ` (relaxed SIMD; i32 relaxed dot ${fused ? 'fused (VNNI)' : 'not fused'})` : ''}; ${rounds * (kernelRows.length ? 2 : 1)}+ rounds\n`);
printRoof();
const unpackOf = { Q8_0: '+ Q8_0 unpack', Q4_0: '+ Q4_0 unpack', Q4_K: '+ Q4_K unpack' };
console.log('\nprefill matmul kernels (bench/kernels.mjs, 32 tokens) against the roofline of their unpacking:\n');
console.log(table(kernelRows.map((r) => {
  // the relaxed build's form (weights/act.ts dotAddFast): the fused i32 dot where it is one instruction
  const relaxedOf = fused ? { Q8_0: 'relaxed Q8_0: act a⁺/a⁻', other: 'relaxed dot (i8)' } : { Q8_0: '+ Q8_0 unpack', other: 'relaxed i16 dot + extadd' };
  const ceiling = r.build === 'relaxed' && relaxed ? (relaxedOf[r.type] ?? relaxedOf.other) : (unpackOf[r.type] ?? 'dot (i16 weights)');
  return {
    build: r.build, type: r.type, shape: r.shape, 'GFLOP/s': f1(r.gflops), roofline: ceiling, 'roofline GOP/s': f1(gops(ceiling)),
    'share': `${Math.round((100 * r.gflops) / gops(ceiling))}%`,
  };
})));
