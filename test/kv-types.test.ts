/**
 * KV cache types (loadModel's `kvType`: 'f32' | 'f16' | 'q8_0'): the store (OP_KV_CONVERT, assembly/ops/kv.ts)
 * against its scalar twin and a reference written here (ggml's half rounding and x86 quantize_row_q8_0),
 * attention over a typed cache (equal, bit for bit, to attention over the dequantized values: both paths, ring
 * caches), withF32Rows (the context shift's way to rotate typed rows), parity with the reference engine's
 * logits for every fixture model at f16 and q8_0, the default policy, the cache's bytes and the context cap,
 * and errors. Needs build/wasmlm.wasm and dist/ (npm run build).
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as abi from '../src/abi.js';
import { loadModel, WasmlmError } from '../src/index.js';
import { Views } from '../src/engine/memory.js';
import {
  chooseContextLength, chooseKvType, checkLoadOptions, DEFAULT_KV_BUDGET, KV_TYPES, kvRowBytes, type KvType,
} from '../src/engine/options.js';
import { Plan, readPlan } from '../src/engine/plan.js';
import { attentionScratchBytes, F32_ROWS_CHUNK, withF32Rows, type LayerCache } from '../src/engine/state.js';
import type { ModelSpec } from '../src/models/spec.js';
import { expected, fixture, top2, type Expected } from './helpers/fixtures.js';
import { LlamaReference } from './helpers/reference.js';
import { loadKernels } from './helpers/wasm.js';
import { expectBitsEqual, expectClose, fr, randF32, roundHalfEven } from './helpers/numeric.js';

const { k: kernels, heap } = loadKernels(1024);
beforeEach(() => heap.reset());

type Attention = (q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
  headDim: number, scale: number, scratch: number, window: number, maxBias: number, ring: number, kvType: number) => void;
type Convert = (src: number, srcType: number, dst: number, dstType: number, headDim: number, nHead: number, nRows: number) => void;
const k = kernels as unknown as typeof kernels & {
  attention: Attention; attention_ref: Attention; kv_convert: Convert; kv_convert_ref: Convert;
  kv_row_bytes(type: number, nHead: number, headDim: number): number;
};

/** The reference store: ggml's fp32 -> fp16 (round to nearest even), and its x86 quantize_row_q8_0 per head
 *  (d = fp16(amax / 127), q = nearest-even(x · 127/amax)), a head's last block short when 32 ∤ headDim. */
function storeRef(type: KvType, x: Float32Array, headDim: number): Uint8Array {
  const nHeads = x.length / headDim;
  const headBytes = kvRowBytes(type, 1, headDim);
  const out = new Uint8Array(nHeads * headBytes);
  const dv = new DataView(out.buffer);
  for (let h = 0; h < nHeads; h++) {
    const base = h * headBytes;
    for (let b = 0; b * 32 < headDim; b++) {
      const n = Math.min(32, headDim - b * 32);
      if (type === 'f16') {
        for (let j = 0; j < n; j++) dv.setUint16(base + (b * 32 + j) * 2, k.f32_to_f16(x[h * headDim + b * 32 + j]!), true);
        continue;
      }
      let amax = 0;
      for (let j = 0; j < n; j++) amax = Math.max(amax, Math.abs(x[h * headDim + b * 32 + j]!));
      const id = amax ? fr(127 / amax) : 0;
      dv.setUint16(base + b * 34, k.f32_to_f16(fr(amax / 127)), true);
      for (let j = 0; j < n; j++) dv.setInt8(base + b * 34 + 2 + j, roundHalfEven(fr(x[h * headDim + b * 32 + j]! * id)));
    }
  }
  return out;
}

/** The values of typed rows (a head's value i: fp16 → f32; q8_0 q · d in f32). */
function loadRef(type: KvType, bytes: Uint8Array, headDim: number): Float32Array {
  const headBytes = kvRowBytes(type, 1, headDim);
  const nHeads = bytes.length / headBytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(nHeads * headDim);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < headDim; i++) {
      const b = h * headBytes;
      out[h * headDim + i] = type === 'f16' ? k.f16_to_f32(dv.getUint16(b + i * 2, true))
        : fr(dv.getInt8(b + (i >> 5) * 34 + 2 + (i & 31)) * k.f16_to_f32(dv.getUint16(b + (i >> 5) * 34, true)));
    }
  }
  return out;
}

/** Rows of f32 values (nHead heads of headDim) stored as `type` by the kernel (or its twin). */
function store(type: KvType, x: Float32Array, headDim: number, nHead: number, ref = false): Uint8Array {
  const nRows = x.length / (headDim * nHead);
  const src = heap.put(x), dst = heap.alloc(nRows * kvRowBytes(type, nHead, headDim));
  (ref ? k.kv_convert_ref : k.kv_convert)(src, abi.GGML_F32, dst, KV_TYPES[type], headDim, nHead, nRows);
  return heap.bytes(dst, nRows * kvRowBytes(type, nHead, headDim));
}

/** Typed rows back to f32 by the kernel (or its twin). */
function load(type: KvType, bytes: Uint8Array, headDim: number, nHead: number, ref = false): Float32Array {
  const nRows = bytes.length / kvRowBytes(type, nHead, headDim);
  const src = heap.put(bytes), dst = heap.alloc(nRows * nHead * headDim * 4);
  (ref ? k.kv_convert_ref : k.kv_convert)(src, KV_TYPES[type], dst, abi.GGML_F32, headDim, nHead, nRows);
  return heap.f32(dst, nRows * nHead * headDim).slice();
}

describe('the store and load of typed rows (OP_KV_CONVERT)', () => {
  const SPECIALS = [0, -0, 1e-6, -6e-8, 2 ** -25, 3 * 2 ** -25, 65504, -65519, 65520, 1e6, Infinity, -Infinity, NaN, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
  for (const type of ['f16', 'q8_0'] as const) {
    for (const hd of [8, 16, 17, 32, 40, 64, 128]) {
      it(`${type}, head size ${hd}: SIMD == scalar twin == the reference, both ways`, () => {
        const nHead = 3, nRows = 5;
        const x = randF32(nRows * nHead * hd, hd + 7, -3, 3);
        if (type === 'f16') SPECIALS.forEach((v, i) => { x[(i * 7) % x.length] = v; });
        else {
          x.fill(0, 0, Math.min(hd, 32));                                  // a block of zeros: d = 0, q = 0
          x[hd + 1] = 1e5;                                                  // one large value in a block
          for (let i = 2 * hd; i < 2 * hd + Math.min(hd, 32); i++) x[i] = fr((i % 5 - 2) * 0.5 * (1 / 127) * 3); // ties
        }
        const simd = store(type, x, hd, nHead), twin = store(type, x, hd, nHead, true);
        expect(simd.length).toBe(nRows * nHead * (type === 'f16' ? hd * 2 : Math.floor(hd / 32) * 34 + (hd % 32 ? hd % 32 + 2 : 0)));
        expect(Buffer.from(simd).equals(Buffer.from(twin)), 'SIMD == twin').toBe(true);
        expect(Buffer.from(simd).equals(Buffer.from(storeRef(type, x, hd))), 'kernel == reference').toBe(true);
        const back = load(type, simd, hd, nHead), backTwin = load(type, simd, hd, nHead, true);
        expectBitsEqual(back, backTwin, 'load: SIMD == twin');
        expectBitsEqual(back, loadRef(type, simd, hd), 'load: kernel == reference');
        if (type === 'q8_0') {
          // the error of a value: half a step d of its block, plus |q| ≤ 127 times d's fp16 rounding (≤ d·2^-11)
          for (let i = 0; i < x.length; i++) {
            const b = Math.floor(i / hd) * hd + Math.floor((i % hd) / 32) * 32;
            let amax = 0;
            for (let j = b; j < Math.min(b + 32, Math.floor(i / hd) * hd + hd); j++) amax = Math.max(amax, Math.abs(x[j]!));
            expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(amax / 254 + amax / 2048 + 1e-7);
          }
        }
      });
    }
  }

  it('f32 rows are copied; the row sizes agree with src/engine/options.ts', () => {
    const x = randF32(3 * 2 * 16, 5);
    const src = heap.put(x), dst = heap.alloc(x.byteLength);
    k.kv_convert(src, abi.GGML_F32, dst, abi.GGML_F32, 16, 2, 3);
    expectBitsEqual(heap.f32(dst, x.length), x, 'copy');
    for (const [type, code] of [['f32', abi.GGML_F32], ['f16', abi.GGML_F16], ['q8_0', abi.GGML_Q8_0]] as const) {
      for (const hd of [8, 16, 17, 32, 40, 64, 80, 128, 256]) expect(k.kv_row_bytes(code, 3, hd), `${type} ${hd}`).toBe(kvRowBytes(type, 3, hd));
    }
    expect(kvRowBytes('q8_0', 8, 128) / kvRowBytes('f32', 8, 128)).toBe(34 / 128);
    expect(kvRowBytes('f16', 8, 128) / kvRowBytes('f32', 8, 128)).toBe(0.5);
  });
});

describe('attention over a typed cache', () => {
  // nTok, pos0, nHead, nKvHead, headDim, window, maxBias, ring
  const cases: [number, number, number, number, number, number, number, number][] = [
    [3, 20, 4, 2, 16, 0, 0, 0],
    [2, 100, 8, 4, 17, 0, 8, 0],      // ALiBi, a head size with a short block and scalar tails
    [4, 40, 4, 2, 32, 8, 0, 16],      // sliding window in a ring
    [1, 200, 6, 3, 40, 0, 0, 0],      // tiles of 64 keys: 201 = 3·64 + 9
    [2, 150, 4, 4, 32, 0, 0, 0],      // no shared KV heads: one head at a time
    [3, 60, 20, 2, 16, 0, 4, 0],      // group 10: blocks of 8 and 2 heads share each tile
    [1, 1100, 8, 2, 64, 0, 0, 0],     // the fused path (group 4)
    [2, 900, 8, 1, 32, 0, 0, 0],      // the fused path, MQA
    [2, 1000, 8, 2, 16, 600, 0, 700], // the fused path in a ring that wraps
  ];
  for (const type of ['f16', 'q8_0'] as const) {
    for (const [nTok, pos0, nHead, nKv, hd, window, maxBias, ring] of cases) {
      it(`${type}: nTok=${nTok} pos0=${pos0} heads ${nHead}/${nKv} headDim=${hd} window=${window} maxBias=${maxBias} ring=${ring}`, () => {
        const rows = ring || pos0 + nTok;
        const q = randF32(nTok * nHead * hd, hd + nTok, -2, 2);
        const kc = store(type, randF32(rows * nKv * hd, hd + 1, -2, 2), hd, nKv);
        const vc = store(type, randF32(rows * nKv * hd, hd + 2, -1, 1), hd, nKv);
        const kf = load(type, kc, hd, nKv), vf = load(type, vc, hd, nKv);
        const scale = fr(1 / Math.sqrt(hd));
        const n = nTok * nHead * hd;
        const scratch = heap.alloc(attentionScratchBytes({ headDim: hd } as ModelSpec, rows, nTok));
        const run = (f: Attention, kp: number, vp: number, t: number) => {
          const o = heap.alloc(n * 4);
          f(heap.put(q), kp, vp, o, nTok, pos0, nHead, nKv, hd, scale, scratch, window, maxBias, ring, t);
          return heap.f32(o, n).slice();
        };
        const kp = heap.put(kc), vp = heap.put(vc), kfp = heap.put(kf), vfp = heap.put(vf);
        const typed = run(k.attention, kp, vp, KV_TYPES[type]);
        expectBitsEqual(typed, run(k.attention, kfp, vfp, abi.GGML_F32), 'typed == f32 over the dequantized cache');
        const twin = run(k.attention_ref, kp, vp, KV_TYPES[type]);
        expectBitsEqual(twin, run(k.attention_ref, kfp, vfp, abi.GGML_F32), 'the twins: typed == f32 over the dequantized cache');
        expectClose(typed, twin, (i) => 2e-6 + 1e-5 * Math.abs(twin[i]!), 'kernel vs twin');
        expect(typed.some((v) => v !== 0)).toBe(true);
      });
    }
  }
});

describe('withF32Rows (rotating typed cache rows: the context shift)', () => {
  const spec = { nHeadKv: 2, headDim: 40 } as ModelSpec;
  const kvDim = 80;
  for (const type of ['f32', 'f16', 'q8_0'] as const) {
    it(`${type}: the rows come back as f(dequantized rows), requantized; ${type === 'f32' ? 'in place' : 'in chunks'}`, () => {
      const nRows = F32_ROWS_CHUNK + 300, row0 = 7;
      const total = row0 + nRows + 5;
      const x = randF32(total * kvDim, 11, -2, 2);
      const before = type === 'f32' ? new Uint8Array(x.buffer) : store(type, x, spec.headDim, spec.nHeadKv);
      const cache = heap.put(before);
      const tmp = heap.alloc(F32_ROWS_CHUNK * kvDim * 4);
      const P = new Plan(new Views(heap.memory), heap.alloc(16 * abi.OP_WORDS * 4), 16, k).reset();
      const c = { type, k: cache, v: 0, rows: total, ring: 0, window: 0 } satisfies LayerCache;
      const calls: number[] = [];
      withF32Rows(P, spec, c, cache, row0, nRows, tmp, (rows, n) => {
        calls.push(n);
        P.axpby({ a: rows, b: 0, out: rows, n: n * kvDim, alpha: -0.5, beta: 0 });
      });
      expect(calls).toEqual(type === 'f32' ? [nRows] : [F32_ROWS_CHUNK, 300]);
      expect(readPlan(heap.i32(0, heap.memory.buffer.byteLength / 4), P.ptr, P.length).map((o) => o.name))
        .toEqual(type === 'f32' ? ['axpby'] : ['kv_convert', 'axpby', 'kv_convert', 'kv_convert', 'axpby', 'kv_convert']);
      k.run(P.ptr, P.length);
      const rb = kvRowBytes(type, spec.nHeadKv, spec.headDim);
      const after = heap.bytes(cache, before.length);
      // rows outside the range are untouched; inside: store(-0.5 · load(row))
      expect(Buffer.from(after.subarray(0, row0 * rb)).equals(Buffer.from(before.subarray(0, row0 * rb)))).toBe(true);
      expect(Buffer.from(after.subarray((row0 + nRows) * rb)).equals(Buffer.from(before.subarray((row0 + nRows) * rb)))).toBe(true);
      const inside = before.slice(row0 * rb, (row0 + nRows) * rb);
      const vals = type === 'f32' ? new Float32Array(inside.buffer) : load(type, inside, spec.headDim, spec.nHeadKv);
      const want = vals.map((v) => fr(v * -0.5));
      const wantBytes = type === 'f32' ? new Uint8Array(want.buffer) : storeRef(type, want, spec.headDim);
      expect(Buffer.from(after.subarray(row0 * rb, (row0 + nRows) * rb)).equals(Buffer.from(wantBytes))).toBe(true);
    });
  }
});

// ---- through the public API

const MODELS = readdirSync(fixture('models')).filter((f) => /^[A-Za-z0-9_]+\.expected\.json$/.test(f)).map((f) => f.replace('.expected.json', ''));

/** max |Δlogit| over every prompt position, max |logit|, and the positions whose top-1 differs where the
 *  reference margin is ≥ 0.01 */
function compare(got: Float32Array[], exp: Expected): { worst: number; maxAbs: number; flips: number[] } {
  let worst = 0, maxAbs = 0;
  const flips: number[] = [];
  got.forEach((g, p) => {
    const e = exp.logits[p]!;
    for (let i = 0; i < e.length; i++) {
      worst = Math.max(worst, Math.abs(g[i]! - e[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(e[i]!));
    }
    const ref = top2(e);
    if (ref.margin >= 0.01 && top2(g).top !== ref.top) flips.push(p);
  });
  return { worst, maxAbs, flips };
}

const report: string[] = [];

/**
 * The F32-weight fixtures whose logits move more than the q8_0 tolerance (2e-2·max|logit|) with a q8_0
 * cache, as a share of max|logit| (measured: llama256 2.7e-2, llama_moe 5.8e-2, phi3 2.06e-2): random weights
 * whose attention is sharper than the others'. llama256's is confirmed by the float64 pass above (within 5e-4
 * of it when its cache is rounded the same way); their top-1 and greedy ids stay identical.
 */
const SENSITIVE: Record<string, Partial<Record<KvType, number>>> = {
  llama256: { q8_0: 3.5e-2 },
  llama_moe: { q8_0: 7e-2 },
  phi3: { q8_0: 2.5e-2 },
};

/** A quantized or BF16 fixture: its F32 twin and its noise (max |dequant_f64 − reference|). */
function quantizedTwin(name: string): { twin: string; noise: number } | undefined {
  const file = fixture(`models/${name}.dequant_f64.json`);
  if (!/_(q\d|bf16)/.test(name) || !existsSync(file)) return undefined;
  const f64 = JSON.parse(readFileSync(file, 'utf8')) as Expected;
  const exp = expected(name);
  let noise = 0;
  f64.logits.forEach((r, p) => r.forEach((v, i) => { noise = Math.max(noise, Math.abs(v - exp.logits[p]![i]!)); }));
  return { twin: name.replace(/_(q\d.*|bf16)$/, ''), noise };
}

const twinErrors = new Map<string, Promise<number>>();
/** max |Δlogit| of the F32 fixture `name` with a cache of `type` against its reference. */
function twinError(name: string, type: KvType): Promise<number> {
  const key = `${name} ${type}`;
  let e = twinErrors.get(key);
  if (!e) {
    e = (async () => {
      const model = await loadModel(fixture(`models/${name}.gguf`), { kvType: type, threads: 1 });
      const exp = expected(name);
      const { worst } = compare(await model.logits(exp.tokens), exp);
      model.dispose();
      return worst;
    })();
    twinErrors.set(key, e);
  }
  return e;
}
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log('max |Δlogit| vs the reference (f32 cache, f16 cache, q8_0 cache as a share of max|logit|):\n' + report.join('\n'));
});

describe('the typed cache against an independent float64 forward pass that rounds its cache the same way', () => {
  // test/helpers/reference.ts (LLaMA, F32 weights): keys and values rounded by storeRef/loadRef above
  for (const name of ['llama', 'llama256']) {
    for (const type of ['f16', 'q8_0'] as const) {
      it(`${name}, ${type}`, async () => {
        const exp = expected(name);
        const model = await loadModel(fixture(`models/${name}.gguf`), { kvType: type, threads: 1 });
        const hd = model.info.headSize;
        const round = (row: Float64Array) => Float64Array.from(loadRef(type, storeRef(type, Float32Array.from(row), hd), hd));
        const want = (await LlamaReference.load(fixture(`models/${name}.gguf`), 0, 1, round)).logits(exp.tokens);
        const got = await model.logits(exp.tokens);
        model.dispose();
        let worst = 0, vsF32 = 0;
        got.forEach((g, p) => g.forEach((v, i) => {
          worst = Math.max(worst, Math.abs(v - want[p]![i]!));
          vsF32 = Math.max(vsF32, Math.abs(v - exp.logits[p]![i]!));
        }));
        report.push(`${name.padEnd(18)} ${type.padEnd(5)} vs the f64 pass with the same cache ${worst.toExponential(2)}, vs the f32-cache reference ${vsF32.toExponential(2)}`);
        expect(worst).toBeLessThanOrEqual(5e-4);
      });
    }
  }
});

describe('parity with the reference engine at every KV cache type', () => {
  it('finds the fixture models', () => expect(MODELS.length).toBeGreaterThanOrEqual(25));
  for (const name of MODELS) {
    it(name, async () => {
      const exp = expected(name);
      const row: string[] = [name.padEnd(18)];
      // quantized and BF16 weights multiply activations rounded to int8 blocks (bf16) as the reference does: a
      // cache type moves those roundings, so their logits move by up to the weights' own noise (the distance
      // of exact math on the dequantized weights from the reference: <name>.dequant_f64.json) on top of what
      // the cache type moves the F32 model's logits (measured here on the F32 twin)
      const f64 = quantizedTwin(name);
      for (const type of ['f32', 'f16', 'q8_0'] as const) {
        const model = await loadModel(fixture(`models/${name}.gguf`), { kvType: type, threads: 1 });
        try {
          expect(model.info.kvType).toBe(type);
          const { worst, maxAbs, flips } = compare(await model.logits(exp.tokens), exp);
          row.push(type === 'q8_0' ? `${(worst / maxAbs).toExponential(2)}·max` : worst.toExponential(2));
          const r = await model.complete(exp.tokens, { temperature: 0, maxTokens: exp.greedy.length, ignoreEos: true });
          const diverged = exp.greedy.findIndex((t, i) => r.tokens[i] !== t);
          if (type === 'f32') continue; // the weights' own parity: parity-*.test.ts
          if (f64) {
            const twin = await twinError(f64.twin, type);
            expect(worst, `${type}: max |Δlogit| (the F32 twin's ${twin.toExponential(2)} + the weights' noise ${f64.noise.toExponential(2)})`)
              .toBeLessThanOrEqual(twin + f64.noise);
            continue;
          }
          // f16: 5e-3, in proportion for logits larger than the tiny models' (~1.6): stories260K's reach 18.9
          const limit = type === 'f16' ? Math.max(5e-3, 3e-3 * maxAbs) : 2e-2 * maxAbs;
          const known = SENSITIVE[name]?.[type];
          expect(worst, `${type}: max |Δlogit|`).toBeLessThanOrEqual(known ? known * maxAbs : limit);
          expect(flips, `${type}: top-1 at the prompt positions whose reference margin is ≥ 0.01`).toEqual([]);
          if (diverged >= 0) expect(exp.greedy_top2_margin[diverged], `${type}: greedy step ${diverged}`).toBeLessThan(0.01);
        } finally {
          model.dispose();
        }
      }
      report.push(row.join('  '));
    });
  }

  it('a typed cache gives the same bits with 2 threads as with 1, batched or one token at a time', async () => {
    const exp = expected('llama256_q4_k');
    for (const kvType of ['f16', 'q8_0'] as const) {
      const runs: Float32Array[][] = [];
      for (const o of [{ threads: 1 }, { threads: 2 }, { threads: 2, batchSize: 3 }]) {
        const model = await loadModel(fixture('models/llama256_q4_k.gguf'), { ...o, kvType });
        runs.push(await model.logits(exp.tokens));
        model.dispose();
      }
      for (const r of runs.slice(1)) r.forEach((row, p) => expectBitsEqual(row, runs[0]![p]!, `${kvType} position ${p}`));
    }
  });
});

describe('the default type, the cache bytes, the context cap, errors', () => {
  it("defaults to 'f32' for all-F32 weights and 'f16' for F16, BF16 and quantized weights", async () => {
    const want: Record<string, KvType> = {
      'stories260K.gguf': 'f32', 'llama.gguf': 'f32', 'gemma.gguf': 'f32', 'llama_f16.gguf': 'f16',
      'llama256_bf16.gguf': 'f16', 'llama_q8_0.gguf': 'f16', 'llama256_q4_k_m.gguf': 'f16',
    };
    for (const [file, type] of Object.entries(want)) {
      const model = await loadModel(fixture(`models/${file}`), { threads: 1 });
      expect(model.info.kvType, file).toBe(type);
      model.dispose();
    }
    const embedded = await loadModel(undefined, { threads: 1 });
    expect(embedded.info.kvType).toBe('f32');
    embedded.dispose();
    expect(chooseKvType(undefined, [abi.GGML_F32, abi.GGML_F32])).toBe('f32');
    expect(chooseKvType(undefined, [abi.GGML_F32, abi.GGML_Q4_K])).toBe('f16');
    expect(chooseKvType('q8_0', [abi.GGML_F32])).toBe('q8_0');
  });

  it('model.info.kvCacheBytes: f16 half of f32, q8_0 34/128 of it (head size 64)', async () => {
    const bytes: Record<string, number> = {};
    for (const kvType of ['f32', 'f16', 'q8_0'] as const) {
      const model = await loadModel(fixture('models/llama256.gguf'), { kvType, threads: 1 });
      const i = model.info;
      expect(i.headSize).toBe(64);
      bytes[kvType] = i.kvCacheBytes;
      expect(i.kvCacheBytes).toBe(2 * i.layers * i.contextLength * kvRowBytes(kvType, i.kvHeads, i.headSize));
      model.dispose();
    }
    expect(bytes.f16! / bytes.f32!).toBe(0.5);
    expect(bytes.q8_0! / bytes.f32!).toBe(34 / 128);
  });

  it('the default context cap fits the cache of the chosen type in DEFAULT_KV_BUDGET', () => {
    // a Llama-3-8B shape: 32 layers, 8 KV heads of 128, trained for 131072 tokens
    const spec = { nLayer: 32, nHeadKv: 8, headDim: 128, contextLength: 131072 } as ModelSpec;
    expect(chooseContextLength(spec, undefined, 'f32')).toBe(4096);
    expect(chooseContextLength(spec, undefined, 'f16')).toBe(8192);
    expect(chooseContextLength(spec, undefined, 'q8_0')).toBe(Math.floor(DEFAULT_KV_BUDGET / (2 * 32 * 8 * 4 * 34)));
    expect(chooseContextLength(spec, 1000, 'q8_0')).toBe(1000);
  });

  it('an unknown kvType is a WasmlmError naming the option', async () => {
    for (const bad of ['q4_0', 'F16', 16, null, {}]) {
      const e = await loadModel(undefined, { kvType: bad as KvType }).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(WasmlmError);
      expect((e as WasmlmError).code).toBe('BAD_ARGUMENT');
      expect((e as WasmlmError).message).toMatch(/^kvType must be one of 'f32', 'f16', 'q8_0', got /);
      expect(() => checkLoadOptions({ kvType: bad })).toThrow(/kvType/);
    }
    expect(() => checkLoadOptions({ kvType: 'q8_0' })).not.toThrow();
  });
});
