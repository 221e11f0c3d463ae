/**
 * `wasmlm info` (the memory table) and `wasmlm fit` (the largest context per KV type), run as users run
 * them (dist/cli.js in a child process), checked against what loadModel really allocates and accepts.
 * Needs dist/ (npm run build).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import type { KvType } from '../src/engine/options.js';
import { fixture } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
const wasmlm = (...args: string[]) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const PAGE = 65536;
const MODEL = fixture('models/llama256_q4_k_m.gguf');

interface Estimate { contextLength: number; kvType: KvType; total: number; weights: number; kvCache: number; shards: number }

describe('wasmlm info / fit', () => {
  it('info: the table\'s estimates are the memory loadModel allocates for that context and KV type', async () => {
    const j = JSON.parse(wasmlm('info', MODEL, '--threads', '1', '--json')) as {
      parameters: number; memory: { threads: number; default: Estimate; table: { contextLength: number; bytes: Record<KvType, Estimate> }[] };
    };
    expect(j.parameters).toBeGreaterThan(0);
    expect(j.memory.threads).toBe(1);
    expect(j.memory.table.map((r) => r.contextLength)).toEqual([128]); // the model's (and the default): under 512
    for (const kvType of ['f32', 'f16', 'q8_0'] as KvType[]) {
      const e = j.memory.table[0]!.bytes[kvType];
      const model = await loadModel(MODEL, { threads: 1, kvType, contextLength: 128, maxMemory: Infinity });
      expect(e.total).toBeLessThanOrEqual(model.info.memoryBytes);
      expect(e.total).toBeGreaterThan(model.info.memoryBytes - PAGE);
      expect(e.kvCache).toBe(model.info.kvCacheBytes);
      model.dispose();
    }
    const text = wasmlm('info', MODEL, '--threads', '1', '--memory', '1G');
    expect(text).toMatch(/memory \(estimated from the header, as loadModel checks it; 1 thread\):/);
    expect(text).toMatch(/^\s+128\s+[\d.]+ MiB\s+[\d.]+ MiB\s+[\d.]+ MiB$/m);
    expect(text).toMatch(/largest context in 1\.00 GiB \(--memory\), 1 thread:\n {2}kvType f32 {3}contextLength 128 \(the model's\)/);
  });

  it('fit --memory: the context it names loads under that maxMemory, one more token does not', async () => {
    const est = JSON.parse(wasmlm('info', MODEL, '--threads', '1', '--json')).memory.table[0].bytes.f32 as Estimate;
    const memory = Math.floor((est.total - est.kvCache / 2) / 1024) * 1024; // room for about half the f32 cache
    const j = JSON.parse(wasmlm('fit', MODEL, '--threads', '1', '--memory', `${memory / 1024}K`, '--json')) as {
      memory: number; per: { kvType: KvType; contextLength: number; bytes: number }[];
    };
    expect(j.memory).toBe(memory);
    expect(j.per.map((p) => p.kvType)).toEqual(['f32', 'f16', 'q8_0']);
    const f32 = j.per[0]!;
    expect(f32.contextLength).toBeGreaterThan(30);
    expect(f32.contextLength).toBeLessThan(100);
    for (const p of j.per) {
      const ok = await loadModel(MODEL, { threads: 1, kvType: p.kvType, contextLength: p.contextLength, maxMemory: j.memory });
      expect(ok.info.contextLength).toBe(p.contextLength);
      ok.dispose();
      if (p.contextLength < 128) {
        await expect(loadModel(MODEL, { threads: 1, kvType: p.kvType, contextLength: p.contextLength + 1, maxMemory: j.memory }))
          .rejects.toMatchObject({ code: 'OUT_OF_MEMORY' });
      }
    }
    expect(j.per[2]!.contextLength).toBeGreaterThan(j.per[1]!.contextLength); // q8_0 rows are smaller than f16's
  });

  it('fit: too little memory for any context names the quantizations that fit; a bad --memory is refused', () => {
    const f32 = fixture('models/llama256.gguf'); // F32 weights
    const est = JSON.parse(wasmlm('info', f32, '--threads', '1', '--json')).memory.default as Estimate;
    const out = wasmlm('fit', f32, '--threads', '1', '--memory', `${Math.floor((est.total - est.weights / 2) / 1024)}K`);
    expect(out).toMatch(/kvType q8_0 {2}does not fit \(even 1 token\)/);
    expect(out).toMatch(/quantized, it would fit: q8_0 \(weights ~[\d.]+ MiB\), q6_k/);
    const bad = spawnSync(process.execPath, [cli, 'fit', f32, '--memory', '8X'], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(`--memory expects a size N[K|M|G|T] (binary: 8G = 8 GiB), got '8X'`);
  });
});
