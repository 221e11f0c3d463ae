/**
 * The memory budget inside workerd (the runtime of Cloudflare Workers, started for real): a model over
 * workerd's 128 MiB per isolate is refused up front with OUT_OF_MEMORY naming that limit — by default and
 * even under a larger maxMemory — before its weights are read (the harness streams the header, then zeros
 * on demand); the same model fits in Node. Needs dist/ (npm run build).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ggufChunks } from '../src/formats/gguf-writer.js';
import { GGUFValueType, readGGUF } from '../src/formats/gguf.js';
import { resolveSpec } from '../src/models/index.js';
import { estimateMemory, loadSizing } from '../src/engine/budget.js';
import { fixture } from './helpers/fixtures.js';
import { freePort, portIsFree, start, waitForHttp, type Child } from './helpers/runtimes.js';
import { PROJECT_ROOT } from './helpers/server.js';

const WORKERD = (createRequire(import.meta.url)('workerd') as { default: string }).default;

/**
 * The header of a one-layer llama of ~210 MB (F32, n_embd 2048, n_ff 5632) with stories260K's 512-token
 * vocabulary: no data (the refusal comes before any is read).
 */
async function bigHeader(): Promise<Uint8Array> {
  const voc = await readGGUF(new Uint8Array(readFileSync(fixture('models/stories260K.gguf'))));
  const T = GGUFValueType;
  const E = 2048, F = 5632, V = 512;
  const metadata = [
    { key: 'general.architecture', type: T.STRING, value: 'llama' },
    { key: 'llama.context_length', type: T.UINT32, value: 2048 },
    { key: 'llama.embedding_length', type: T.UINT32, value: E },
    { key: 'llama.block_count', type: T.UINT32, value: 1 },
    { key: 'llama.feed_forward_length', type: T.UINT32, value: F },
    { key: 'llama.attention.head_count', type: T.UINT32, value: 16 },
    { key: 'llama.attention.layer_norm_rms_epsilon', type: T.FLOAT32, value: 1e-5 },
    ...[...voc.metadata].filter(([k]) => k.startsWith('tokenizer.')).map(([key, v]) => ({ key, ...v })),
  ];
  const mat = (name: string, nIn: number, nOut: number) => ({ name, ne: [nIn, nOut], type: 0, data: () => new Uint8Array(nIn * nOut * 4) });
  const vec = (name: string) => ({ name, ne: [E], type: 0, data: () => new Uint8Array(E * 4) });
  const tensors = [mat('token_embd.weight', E, V), vec('blk.0.attn_norm.weight'), mat('blk.0.attn_q.weight', E, E),
    mat('blk.0.attn_k.weight', E, E), mat('blk.0.attn_v.weight', E, E), mat('blk.0.attn_output.weight', E, E),
    vec('blk.0.ffn_norm.weight'), mat('blk.0.ffn_gate.weight', E, F), mat('blk.0.ffn_down.weight', F, E),
    mat('blk.0.ffn_up.weight', E, F), vec('output_norm.weight'), mat('output.weight', E, V)];
  const chunks = ggufChunks(metadata as Parameters<typeof ggufChunks>[0], tensors);
  return (await chunks.next()).value as Uint8Array; // the header (with its padding), no tensor data
}

describe('workerd: the memory budget', () => {
  const children: Child[] = [];
  afterAll(async () => { await Promise.all(children.map((c) => c.stop())); });

  it('a model over 128 MiB is refused up front with OUT_OF_MEMORY naming workerd\'s limit, even with a larger maxMemory', async () => {
    const header = await bigHeader();
    // what it needs, as Node estimates it: over 128 MiB, and Node (20+ GiB free here) would take it
    const h = await readGGUF(new ReadableStream<Uint8Array>({ start(c) { c.enqueue(header); c.close(); } })); // no size: no check of the data's end
    const { spec, tensors } = resolveSpec(h);
    const { sizing } = await loadSizing(spec, tensors, { threads: 1 });
    const need = estimateMemory(spec, tensors, sizing, { threads: 1 }).total;
    expect(need).toBeGreaterThan(128 * 2 ** 20);
    expect(need).toBeLessThan(300 * 2 ** 20);

    const port = (await portIsFree(8789)) ? 8789 : await freePort();
    const child = start(WORKERD, ['serve', 'test/helpers/workerd/budget.capnp', ...(port === 8789 ? [] : ['--socket-addr', `http=127.0.0.1:${port}`])], { cwd: PROJECT_ROOT });
    children.push(child);
    const origin = `http://127.0.0.1:${port}`;
    await waitForHttp(origin, child);
    for (const query of ['', '?maxMemory=1099511627776']) {
      const res = await fetch(`${origin}/${query}`, { method: 'POST', body: new Uint8Array(header) });
      const r = await res.json() as { code: string; message: string; pulled: number };
      expect(r.code, r.message).toBe('OUT_OF_MEMORY');
      expect(r.message).toContain(`needs ${(need / 2 ** 20).toFixed(1)} MiB`);
      expect(r.message).toContain('but 128.0 MiB available (workerd allows 128 MiB per isolate)');
      expect(r.message).toMatch(/what would fit: .*the model quantized to q8_0/);
      expect(r.pulled).toBeLessThanOrEqual(header.length + (2 << 20)); // the weights were never read
    }
  });
});
