/**
 * The wasm quantizers (assembly/quant/, run by src/formats/quantize-wasm.ts) write the same bytes as the JS
 * ones (src/formats/quantize.ts, byte-identical to llama.cpp's `_ref` quantizers: quantize*.test.ts), for
 * every type, on one thread and on a pool of two, over values that reach the quantizers' edge cases: zero
 * blocks, constant blocks, one outlier, all positive, all negative, tiny and huge magnitudes, ties.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GGML_BF16, GGML_F16, GGML_F32, GGML_Q2_K, GGML_Q3_K, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, GGML_Q5_0, GGML_Q5_1, GGML_Q5_K,
  GGML_Q6_K, GGML_Q8_0, ggmlTypeName,
} from '../src/formats/ggml-types.js';
import { quantizeTensor } from '../src/formats/quantize.js';
import { Quantizer } from '../src/formats/quantize-wasm.js';
import { WasmlmError } from '../src/errors.js';
import { f32Tensor, loadGGUF } from './helpers/fixtures.js';
import { mulberry32 } from '../src/generate/sampler.js';

const TYPES = [GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K];

/** uniform in [0, 1) from a seed */
function rng(seed: number): () => number {
  const words = mulberry32(seed);
  return () => words() / 4294967296;
}

/** 256-value blocks of different kinds, `blocks` of them, from a seed. */
function values(blocks: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(blocks * 256);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  for (let b = 0; b < blocks; b++) {
    const kind = b % 9;
    const scale = [0.02, 1, 1e-6, 3e4, 0.1, 1, 0.05, 1, 2][kind]!;
    for (let i = 0; i < 256; i++) {
      let v: number;
      switch (kind) {
        case 0: v = gauss(); break;
        case 1: v = r() < 0.5 ? 0 : gauss(); break;                  // half zeros
        case 2: v = gauss(); break;                                    // tiny
        case 3: v = gauss(); break;                                    // huge
        case 4: v = r(); break;                                        // all positive
        case 5: v = -r(); break;                                       // all negative
        case 6: v = i === 77 ? 40 : gauss(); break;                    // one outlier
        case 7: v = i < 128 ? 0 : 0.25; break;                         // zero and constant groups
        default: v = Math.round(gauss() * 8) / 8;                      // ties on a grid
      }
      x[b * 256 + i] = v * scale;
    }
  }
  return x;
}

function expectSame(mine: Uint8Array, ref: Uint8Array, what: string): void {
  expect(mine.length, what).toBe(ref.length);
  const at = mine.findIndex((v, i) => v !== ref[i]);
  expect(at, `${what}: differs at byte ${at}`).toBe(-1);
}

describe('wasm quantizers == the JS quantizers, byte for byte', () => {
  let one: Quantizer;
  let two: Quantizer;
  beforeAll(async () => {
    one = await Quantizer.create({ threads: 1 });
    two = await Quantizer.create({ threads: 2 });
  });
  afterAll(() => { one?.dispose(); two?.dispose(); });

  it('a pool of two threads runs', () => {
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
  });

  for (const type of TYPES) {
    it(`${ggmlTypeName(type)}: 90 blocks of nine kinds, one thread and two`, () => {
      const x = values(90, 1000 + type);
      const ref = quantizeTensor(type, x);
      expectSame(one.quantize(type, x), ref, `${ggmlTypeName(type)}, 1 thread`);
      expectSame(two.quantize(type, x), ref, `${ggmlTypeName(type)}, 2 threads`);
    });
  }

  it('the fixtures\' weights, every type (two threads), and progress by slices', async () => {
    const b = await loadGGUF('llama256.gguf');
    const src = f32Tensor(b, 'blk.0.ffn_up.weight');
    for (const type of TYPES) expectSame(two.quantize(type, src), quantizeTensor(type, src), `ffn_up as ${ggmlTypeName(type)}`);
    const big = values(4200, 7); // more than one slice of 2^20 values
    const seen: number[] = [];
    expectSame(two.quantize(GGML_Q4_K, big, (n) => seen.push(n)), quantizeTensor(GGML_Q4_K, big), 'Q4_K over two slices');
    expect(seen).toEqual([1 << 20, big.length]);
  });

  it('the float types are the JS conversions; wrong sizes and types are errors', () => {
    const x = values(1, 3);
    for (const type of [GGML_F32, GGML_F16, GGML_BF16]) expectSame(one.quantize(type, x), quantizeTensor(type, x), ggmlTypeName(type));
    expect(() => one.quantize(GGML_Q4_K, new Float32Array(288))).toThrow(/Q4_K: 288 values is not a multiple of the block size 256/);
    let e: unknown;
    try { one.quantize(16 /* IQ2_XXS */, new Float32Array(256)); } catch (err) { e = err; }
    expect(e).toBeInstanceOf(WasmlmError);
    expect((e as WasmlmError).code).toBe('UNSUPPORTED_TYPE');
  });
});
