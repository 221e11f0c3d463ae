/**
 * A model file over 2 GB loads from a path and from a ReadableStream in chunks, never as one buffer of
 * the whole file.
 *
 * The file is a real 2.4 GB GGUF (llama: 3 layers of 4096 × 11008 in F32), written sparse: only the
 * header, the token embeddings (8 MB of random values) and the output norm (all ones, the last tensor,
 * past byte 2^31) are written; the layers are holes that read as zeros, so the disk holds ~9 MB. A fresh
 * Node process (the built package) loads it, computes the logits of one token and reports its peak
 * resident memory (VmHWM). What that proves:
 *  - the load works past 2 GiB: weights beyond byte 2^31 arrive where they belong, since the logits equal
 *    embedding · rmsnorm(embedding) · output norm computed here (zero layers leave the residual as the
 *    embedding, and a misplaced output norm would give zeros);
 *  - no whole-file buffer: the process grows by the wasm memory (weights, cache, scratch: ~2.4 GB) plus
 *    little; one ArrayBuffer of the file would add another 2.4 GB (and could not even be made in a
 *    browser, where ArrayBuffers stop at 2 GB).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/formats/gguf.js';
import { meta, planGGUF, type GGUFWriteTensor } from '../../src/formats/gguf-writer.js';
import { PROJECT_ROOT } from '../helpers/server.js';

const E = 4096, F = 11008, LAYERS = 3, VOCAB = 512, EPS = 1e-5;
const GB = 1e9;

let dir: string;
let file: string;
let embd: Float32Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasmlm-large-'));
  file = join(dir, 'large.gguf');
  const small = await readGGUF(join(PROJECT_ROOT, 'models/stories260K.gguf'));
  const metadata = new Map([
    ['general.architecture', meta.str('llama')],
    ['general.name', meta.str('sparse-2.4GB')],
    ['llama.context_length', meta.u32(256)],
    ['llama.embedding_length', meta.u32(E)],
    ['llama.block_count', meta.u32(LAYERS)],
    ['llama.feed_forward_length', meta.u32(F)],
    ['llama.attention.head_count', meta.u32(32)],
    ['llama.attention.head_count_kv', meta.u32(32)],
    ['llama.rope.dimension_count', meta.u32(128)],
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(EPS)],
    ...[...small.metadata].filter(([k]) => k.startsWith('tokenizer.')),
  ]);
  const t = (name: string, ne: number[]): GGUFWriteTensor => ({ name, ne, type: 0, data: () => new Uint8Array(0) });
  const tensors = [t('token_embd.weight', [E, VOCAB])];
  for (let l = 0; l < LAYERS; l++) {
    tensors.push(
      t(`blk.${l}.attn_norm.weight`, [E]), t(`blk.${l}.attn_q.weight`, [E, E]), t(`blk.${l}.attn_k.weight`, [E, E]),
      t(`blk.${l}.attn_v.weight`, [E, E]), t(`blk.${l}.attn_output.weight`, [E, E]), t(`blk.${l}.ffn_norm.weight`, [E]),
      t(`blk.${l}.ffn_gate.weight`, [E, F]), t(`blk.${l}.ffn_down.weight`, [F, E]), t(`blk.${l}.ffn_up.weight`, [E, F]),
    );
  }
  tensors.push(t('output_norm.weight', [E]));
  const plan = planGGUF(metadata, tensors);

  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  embd = Float32Array.from({ length: E * VOCAB }, rand);
  const ones = new Float32Array(E).fill(1);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, plan.header, 0, plan.header.length, 0);
    writeSync(fd, new Uint8Array(embd.buffer), 0, embd.byteLength, plan.header.length + plan.offsets[0]!);
    const last = plan.header.length + plan.offsets[tensors.length - 1]!;
    expect(last).toBeGreaterThan(2 ** 31);
    writeSync(fd, new Uint8Array(ones.buffer), 0, ones.byteLength, last);
    ftruncateSync(fd, plan.totalSize);
  } finally {
    closeSync(fd);
  }
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

interface Report { base: number; peak: number; memoryBytes: number; weightBytes: number; logits: number[] }

/** Load in a fresh Node process (the built package) and report memory and the logits of token 1. */
function loadInChild(kind: 'path' | 'stream'): Report {
  const script = `
    import { readFileSync, createReadStream } from 'node:fs';
    import { Readable } from 'node:stream';
    const [entry, file, kind] = process.argv.slice(1);
    const vm = () => Object.fromEntries(readFileSync('/proc/self/status', 'utf8').split('\\n')
      .filter((l) => /^Vm(RSS|HWM):/.test(l)).map((l) => [l.split(':')[0], parseInt(l.split(':')[1], 10) * 1024]));
    const { loadModel } = await import(entry);
    const base = vm().VmRSS;
    const source = kind === 'stream' ? Readable.toWeb(createReadStream(file, { highWaterMark: 1 << 20 })) : file;
    const model = await loadModel(source, { contextLength: 64 });
    const [row] = await model.logits([1]);
    process.stdout.write(JSON.stringify({ base, peak: vm().VmHWM, memoryBytes: model.info.memoryBytes,
      weightBytes: model.info.weightBytes, logits: Array.from(row.subarray(0, 16)) }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, join(PROJECT_ROOT, 'dist/index.js'), file, kind],
    { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 });
  return JSON.parse(out) as Report;
}

/** logits of token 1 with every layer zero: embedding · rmsnorm(embedding of 1) (output norm = 1, tied output) */
function expectedLogits(): number[] {
  const h = embd.subarray(E, 2 * E);
  let ss = 0;
  for (let i = 0; i < E; i++) ss += h[i]! * h[i]!;
  const inv = 1 / Math.sqrt(ss / E + EPS);
  return Array.from({ length: 16 }, (_, v) => {
    let s = 0;
    for (let i = 0; i < E; i++) s += embd[v * E + i]! * h[i]! * inv;
    return s;
  });
}

describe('a 2.4 GB model file', () => {
  it('is over 2 GiB and sparse on disk', () => {
    const st = statSync(file);
    expect(st.size).toBeGreaterThan(2 ** 31);
    expect(st.blocks * 512).toBeLessThan(64 << 20);
  });

  for (const kind of ['path', 'stream'] as const) {
    it(`loads from a ${kind === 'path' ? 'file path' : 'ReadableStream'} in chunks: right weights past 2 GiB, no whole-file buffer`, () => {
      const r = loadInChild(kind);
      const size = statSync(file).size;
      expect(r.weightBytes).toBeGreaterThan(2.4 * GB);
      const want = expectedLogits();
      r.logits.forEach((x, i) => expect(Math.abs(x - want[i]!), `logit ${i}: ${x} vs ${want[i]}`).toBeLessThan(1e-3 * (1 + Math.abs(want[i]!))));
      const grew = r.peak - r.base;
      console.log(`${kind}: file ${(size / GB).toFixed(2)} GB, wasm memory ${(r.memoryBytes / GB).toFixed(2)} GB, ` +
        `the process grew by ${(grew / GB).toFixed(2)} GB at its peak`);
      // the wasm memory and some slack, far below the wasm memory plus a second copy of the file
      expect(grew).toBeLessThan(r.memoryBytes + 0.25 * size);
    });
  }
});
