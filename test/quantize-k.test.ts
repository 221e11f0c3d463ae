/**
 * K-quantizers (Q2_K..Q6_K) and `wasmlm quantize` against the reference engine's quantized fixtures:
 * llama.cpp quantized the F32 fixtures with its imatrix-free `quantize_row_*_ref` functions, so our
 * quantizers must give the same bytes, and `wasmlm quantize` the same files, byte for byte (same
 * metadata order, tensor order, types and padding as llama-quantize writes).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GGML_F16, GGML_F32, GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_0, GGML_Q5_K, GGML_Q6_K, GGML_Q8_0, ggmlTypeName,
} from '../src/formats/ggml-types.js';
import { readGGUF } from '../src/formats/gguf.js';
import { dequantize, planQuantization, QUANT_TARGETS, quantizeTensor } from '../src/formats/quantize.js';
import { loadModel } from '../src/index.js';
import { expectGreedy, expectLogitsClose, expected, f32Tensor, fixture, loadGGUF, tensorData, toleranceFor } from './helpers/fixtures.js';

const MODELS = fixture('models/');

describe('K-quantizers are byte-identical to the reference engine (imatrix-free _ref quantizers)', () => {
  const cases: [string, number][] = [
    ['llama256_q2_k.gguf', GGML_Q2_K],
    ['llama256_q3_k.gguf', GGML_Q3_K],
    ['llama256_q4_k.gguf', GGML_Q4_K],
    ['llama256_q5_k.gguf', GGML_Q5_K],
    ['llama256_q6_k.gguf', GGML_Q6_K],
    ['llama256_q4_k_m.gguf', -1],
  ];
  for (const [file, type] of cases) {
    it(`llama256.gguf → ${file}`, async () => {
      const b = await loadGGUF('llama256.gguf');
      const q = await loadGGUF(file);
      let quantized = 0;
      for (const tq of q.h.tensors) {
        if (tq.type === GGML_F32) continue;
        if (type >= 0) expect(tq.type, tq.name).toBe(type);
        const src = f32Tensor(b, tq.name);
        const mine = quantizeTensor(tq.type, src);
        const ref = tensorData(q, tq);
        expect(mine.length, tq.name).toBe(ref.length);
        const firstDiff = mine.findIndex((x, i) => x !== ref[i]);
        expect(firstDiff, `${tq.name} (${ggmlTypeName(tq.type)}) differs at byte ${firstDiff}`).toBe(-1);
        quantized++;
      }
      expect(quantized).toBe(15);
    });
  }
});

describe('K-quant round trip', () => {
  it('dequantized error of our K-quants equals the fixtures\' (they are the same bytes), and shrinks with more bits', async () => {
    const b = await loadGGUF('llama256.gguf');
    const src = f32Tensor(b, 'blk.0.ffn_up.weight');
    const rms = Math.sqrt(src.reduce((a, v) => a + v * v, 0) / src.length);
    let last = Infinity;
    for (const type of [GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K]) {
      const y = dequantize(type, quantizeTensor(type, src), src.length);
      let err = 0;
      for (let i = 0; i < y.length; i++) err += (y[i]! - src[i]!) ** 2;
      const rel = Math.sqrt(err / y.length) / rms;
      expect(rel, ggmlTypeName(type)).toBeLessThan(last);
      last = rel;
    }
    expect(last).toBeLessThan(0.02); // Q6_K
  });

  it('zeros, constants and tiny values quantize without NaN', () => {
    for (const type of [GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K]) {
      for (const fill of [0, 1, -3e-9, 65504]) {
        const x = new Float32Array(512).fill(fill);
        const y = dequantize(type, quantizeTensor(type, x), x.length);
        for (const v of y) expect(Number.isFinite(v), `${ggmlTypeName(type)} of ${fill}`).toBe(true);
        if (fill === 0) expect(Array.from(y).every((v) => v === 0)).toBe(true);
      }
    }
  });
});

describe('planQuantization (llama-quantize\'s choice of type per tensor)', () => {
  // the tinyllama shape: 22 layers, untied output
  const tensors = [{ name: 'token_embd.weight', ne: [2048, 32000], type: GGML_F32 }, { name: 'output.weight', ne: [2048, 32000], type: GGML_F32 },
    { name: 'output_norm.weight', ne: [2048], type: GGML_F32 }];
  for (let l = 0; l < 22; l++) {
    for (const [n, ne] of [['attn_q', [2048, 2048]], ['attn_k', [2048, 256]], ['attn_v', [2048, 256]], ['attn_output', [2048, 2048]],
      ['ffn_gate', [2048, 5632]], ['ffn_up', [2048, 5632]], ['ffn_down', [5632, 2048]], ['attn_norm', [2048]], ['ffn_norm', [2048]]] as const) {
      tensors.push({ name: `blk.${l}.${n}.weight`, ne: [...ne], type: GGML_F32 });
    }
  }
  const types = (target: string) => new Map(planQuantization(QUANT_TARGETS[target]!, tensors, { nLayer: 22 }).map((p) => [p.name, p.outType]));

  it('q4_k_m: output Q6_K, token_embd Q4_K (not tied), attn_v and ffn_down Q6_K on layers 0,1,4,7,10,13,16,19,20,21', () => {
    const t = types('q4_k_m');
    expect(t.get('output.weight')).toBe(GGML_Q6_K);
    expect(t.get('token_embd.weight')).toBe(GGML_Q4_K);
    expect(t.get('output_norm.weight')).toBe(GGML_F32);
    const six = [0, 1, 4, 7, 10, 13, 16, 19, 20, 21];
    for (let l = 0; l < 22; l++) {
      for (const n of ['attn_v', 'ffn_down']) expect(t.get(`blk.${l}.${n}.weight`), `${l} ${n}`).toBe(six.includes(l) ? GGML_Q6_K : GGML_Q4_K);
      for (const n of ['attn_q', 'attn_k', 'attn_output', 'ffn_gate', 'ffn_up']) expect(t.get(`blk.${l}.${n}.weight`)).toBe(GGML_Q4_K);
      expect(t.get(`blk.${l}.attn_norm.weight`)).toBe(GGML_F32);
    }
  });

  it('bench/make-model.mjs --type q4_k_m writes the same mix (its own copy of the llama-shape rule)', async () => {
    // @ts-expect-error: a plain .mjs tool without types
    const { q4kmType, SHAPES } = await import('../bench/make-model.mjs');
    const t = types('q4_k_m');
    for (const [name, type] of t) if (type !== GGML_F32) expect(q4kmType(name, 22), name).toBe(type);
    expect(SHAPES.tinyllama.nLayer).toBe(22);
  });

  it('pure types, tied embeddings, and llama.cpp\'s fallbacks for rows that are not whole blocks', () => {
    expect([...types('q8_0').values()].filter((x) => x === GGML_Q8_0).length).toBe(2 + 22 * 7);
    const odd = [{ name: 'token_embd.weight', ne: [288, 100], type: GGML_F32 }, { name: 'blk.0.attn_q.weight', ne: [288, 288], type: GGML_F32 },
      { name: 'blk.0.ffn_down.weight', ne: [100, 288], type: GGML_F32 }, { name: 'blk.0.attn_v.weight', ne: [512, 96], type: GGML_F16 }];
    const p = new Map(planQuantization(QUANT_TARGETS.q4_k_m!, odd).map((e) => [e.name, e]));
    expect(p.get('token_embd.weight')!.outType).toBe(GGML_Q8_0); // tied output, rows not of 256
    expect(p.get('blk.0.attn_q.weight')!.outType).toBe(GGML_Q5_0); // Q4_K → Q5_0
    expect(p.get('blk.0.attn_q.weight')!.note).toMatch(/Q4_K → Q5_0/);
    expect(p.get('blk.0.ffn_down.weight')!.outType).toBe(GGML_F16); // Q6_K → Q8_0 → rows of 100: F16
    expect(p.get('blk.0.attn_v.weight')!.outType).toBe(GGML_Q6_K);
    expect(planQuantization(QUANT_TARGETS.q4_k_m!, odd).map((e) => e.name)).toEqual(
      ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.0.attn_v.weight', 'blk.0.ffn_down.weight']);
  });
});

describe('wasmlm quantize (dist/cli.js)', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const cli = join(root, 'dist/cli.js');
  const quantize = (from: string, to: string, type: string) =>
    execFileSync(process.execPath, [cli, 'quantize', from, to, '--type', type], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('reproduces every quantized fixture file byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmlm-quantize-'));
    try {
      const pairs = [...['q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m', 'q4_1', 'q5_0', 'q5_1', 'bf16'].map((t) => ['llama256', t]),
        ...['f16', 'q8_0', 'q4_0'].map((t) => ['llama', t]), ['llama_moe', 'q8_0']];
      for (const [base, type] of pairs) {
        const out = join(dir, `${base}_${type}.gguf`);
        quantize(join(MODELS, `${base}.gguf`), out, type!);
        const mine = readFileSync(out);
        const ref = readFileSync(join(MODELS, `${base}_${type}.gguf`));
        expect(mine.length, `${base}_${type}`).toBe(ref.length);
        expect(mine.equals(ref), `${base}_${type}.gguf differs at byte ${mine.findIndex((x, i) => x !== ref[i])}`).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('q4_k_m: the reference\'s tensor types, logits within the quantized tolerance, metadata kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmlm-quantize-'));
    try {
      const out = join(dir, 'q4km.gguf');
      quantize(join(MODELS, 'llama256.gguf'), out, 'q4_k_m');
      const h = await readGGUF(out);
      const ref = (await loadGGUF('llama256_q4_k_m.gguf')).h;
      expect(h.tensors.map((t) => [t.name, t.typeName])).toEqual(ref.tensors.map((t) => [t.name, t.typeName]));
      expect(h.metadata.get('general.file_type')!.value).toBe(15);
      const base = (await loadGGUF('llama256.gguf')).h;
      for (const [k, v] of base.metadata) if (k !== 'general.file_type') expect(h.metadata.get(k), k).toEqual(v);
      const exp = expected('llama256_q4_k_m');
      const tol = toleranceFor('llama256_q4_k_m');
      const model = await loadModel(out, { kvType: 'f32' }); // the reference's KV cache
      expectLogitsClose(await model.logits(exp.tokens), exp, tol);
      const r = await model.complete(exp.tokens, { temperature: 0, maxTokens: exp.greedy.length, ignoreEos: true });
      expectGreedy(r.tokens, exp, tol);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('re-quantizes an already quantized file (Q8_0 → Q4_0), and names bad arguments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmlm-quantize-'));
    try {
      const out = join(dir, 'q4.gguf');
      quantize(join(MODELS, 'llama_q8_0.gguf'), out, 'q4_0');
      const h = await readGGUF(out);
      expect(h.tensors.filter((t) => t.typeName === 'Q4_0').length).toBe(16);
      expect(h.metadata.get('general.file_type')!.value).toBe(2);
      const model = await loadModel(out);
      expect((await model.logits([1, 403, 407])).length).toBe(3);
      let err = '';
      try { quantize(join(MODELS, 'llama.gguf'), out, 'q9_9'); } catch (e) { err = String((e as { stderr?: string }).stderr); }
      expect(err).toMatch(/unknown type 'q9_9'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('wasmlm bench --context-fill (dist/cli.js)', () => {
  it('prefills N tokens, then times decode from there; WASMLM_PROFILE adds a per-op table on stderr', () => {
    const cli = join(fileURLToPath(new URL('..', import.meta.url)), 'dist/cli.js');
    const r = spawnSync(process.execPath, [cli, 'bench', join(MODELS, 'llama.gguf'), '--context-fill', '100', '--gen', '8', '--json'],
      { encoding: 'utf8', env: { ...process.env, WASMLM_PROFILE: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(j.context).toBe(100);
    expect(j.decode_tps).toBeGreaterThan(0);
    expect(j.prefill_tps).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/WASMLM_PROFILE: .* ms in ops/);
    expect(r.stderr).toMatch(/decode {2}matmul F32 64x/);
  });
});
