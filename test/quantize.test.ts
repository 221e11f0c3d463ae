import { describe, expect, it } from 'vitest';
import { WasmlmError } from '../src/errors.js';
import { GGML_BF16, GGML_F16, GGML_F32, GGML_Q4_0, GGML_Q8_0, GGML_IQ2_XXS, ggmlTypeByName } from '../src/formats/ggml-types.js';
import {
  bf16ToF32,
  dequantize,
  f16ToF32,
  f32ToBF16,
  f32ToF16,
  quantizeQ4_0,
  quantizeQ8_0,
  quantizeTensor,
} from '../src/formats/quantize.js';
import { f32Tensor, loadGGUF, tensorData } from './helpers/fixtures.js';

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193) >>> 0;
  return h;
}

describe('f16 and bf16 conversions', () => {
  it('every half round-trips through f32 (NaNs become the quiet NaN 0x7e00)', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = f16ToF32(h);
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const back = f32ToF16(x);
      if (isNaN ? (back & 0x7fff) !== 0x7e00 : back !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds to nearest, ties to even, including subnormals and overflow', () => {
    const bad: number[] = [];
    const probe = new Float32Array(1);
    const bits = new Uint32Array(probe.buffer);
    for (let h = 0; h < 0x7bff; h++) {
      const a = f16ToF32(h);
      const b = f16ToF32(h + 1);
      const mid = (a + b) / 2; // exact in f32 (one more bit than a half)
      const even = h % 2 === 0 ? h : h + 1;
      if (Math.fround(mid) !== mid || f32ToF16(mid) !== even || f32ToF16(-mid) !== (even | 0x8000)) bad.push(h);
      // just either side of the midpoint goes to the nearer one
      probe[0] = mid;
      bits[0]! -= 1;
      if (f32ToF16(probe[0]!) !== h) bad.push(h);
      bits[0]! += 2;
      if (f32ToF16(probe[0]!) !== h + 1) bad.push(h);
    }
    expect(bad).toEqual([]);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // the tie above the max rounds to inf
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(NaN) & 0x7fff).toBe(0x7e00);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(2 ** -24)).toBe(1);
    expect(f32ToF16(2 ** -25)).toBe(0); // tie → even (0)
    expect(f32ToF16(2 ** -25 * 1.0001)).toBe(1);
    expect(f32ToF16(3 * 2 ** -25)).toBe(2); // 1.5 ulp → even (2)
    expect(f32ToF16(2 ** -26)).toBe(0);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
  });

  it('bf16: round to nearest even, NaN kept quiet', () => {
    expect(f32ToBF16(1)).toBe(0x3f80);
    expect(bf16ToF32(0x3f80)).toBe(1);
    // 1 + 2^-8 is exactly between bf16 1 and 1 + 2^-7: ties to even (1)
    expect(f32ToBF16(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBF16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBF16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBF16(NaN) & 0x7fc0).toBe(0x7fc0);
    expect(f32ToBF16(-Infinity)).toBe(0xff80);
    for (let b = 0; b < 65536; b += 7) {
      const x = bf16ToF32(b);
      if (!Number.isNaN(x)) expect(f32ToBF16(x)).toBe(b);
    }
  });
});

describe('quantizers are byte-identical to the reference engine', () => {
  // Each quantized fixture is the F32 fixture run through llama.cpp's quantizer: quantizing
  // the F32 weights ourselves must give the same bytes, tensor by tensor (matched by name;
  // the files list tensors in different orders).
  const cases: [string, string][] = [
    ['llama.gguf', 'llama_f16.gguf'],
    ['llama.gguf', 'llama_q8_0.gguf'],
    ['llama.gguf', 'llama_q4_0.gguf'],
    ['llama_moe.gguf', 'llama_moe_q8_0.gguf'],
    ['llama256.gguf', 'llama256_bf16.gguf'],
    ['llama256.gguf', 'llama256_q4_1.gguf'],
    ['llama256.gguf', 'llama256_q5_0.gguf'],
    ['llama256.gguf', 'llama256_q5_1.gguf'],
  ];
  for (const [base, quant] of cases) {
    it(`${base} → ${quant}`, async () => {
      const b = await loadGGUF(base);
      const q = await loadGGUF(quant);
      expect(q.h.tensors.length).toBe(b.h.tensors.length);
      let quantized = 0;
      for (const tq of q.h.tensors) {
        const src = f32Tensor(b, tq.name);
        const mine = quantizeTensor(tq.type, src);
        const ref = tensorData(q, tq);
        expect(mine.length, tq.name).toBe(ref.length);
        const firstDiff = mine.findIndex((x, i) => x !== ref[i]);
        expect(firstDiff, `${tq.name} (${tq.typeName}) differs at byte ${firstDiff}`).toBe(-1);
        if (tq.type !== GGML_F32) quantized++;
      }
      expect(quantized).toBeGreaterThan(0);
    });
  }

  it('quantizeQ8_0 / quantizeQ4_0 directly, and zero blocks', () => {
    const x = new Float32Array(64);
    expect(Array.from(quantizeQ8_0(x))).toEqual(new Array(68).fill(0));
    // Q4_0 of zeros: d = 0, every q = trunc(0 + 8.5) = 8
    const q4 = quantizeQ4_0(x);
    expect(q4[0]).toBe(0);
    expect(q4[2]).toBe(0x88);
    // rounding half away from zero: x = 127 * k + 0.5 steps
    const y = new Float32Array(32);
    y[0] = 127;
    y[1] = 0.5;
    y[2] = -0.5;
    y[3] = 1.5;
    const q8 = quantizeQ8_0(y);
    expect(f16ToF32(q8[0]! | (q8[1]! << 8))).toBe(1);
    expect(new Int8Array(q8.buffer, 2, 4)).toEqual(new Int8Array([127, 1, -1, 2]));
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(WasmlmError);
  });
});

describe('dequantize', () => {
  it('Q8_0 and Q4_0 of the fixtures are within half a step of the F32 weights', async () => {
    const b = await loadGGUF('llama.gguf');
    for (const [file, type] of [['llama_q8_0.gguf', GGML_Q8_0], ['llama_q4_0.gguf', GGML_Q4_0]] as const) {
      const q = await loadGGUF(file);
      for (const t of q.h.tensors.filter((t) => t.type === type)) {
        const src = f32Tensor(b, t.name);
        const bytes = tensorData(q, t);
        const y = dequantize(type, bytes, t.nElements);
        const bs = type === GGML_Q8_0 ? 34 : 18;
        for (let blk = 0; blk < t.nElements / 32; blk++) {
          const d = Math.abs(f16ToF32(bytes[blk * bs]! | (bytes[blk * bs + 1]! << 8)));
          for (let j = 0; j < 32; j++) {
            const i = blk * 32 + j;
            // half a step, plus the fp16 rounding of d (the quantizer used the f32 d) times the
            // largest |q|; Q4_0 clips the side opposite the max at q = 15: up to one step there
            const tol = type === GGML_Q8_0 ? (0.5 + 127 * 2 ** -11) * d * 1.001 : (1 + 8 * 2 ** -11) * d * 1.001;
            expect(Math.abs(y[i]! - src[i]!)).toBeLessThanOrEqual(tol);
          }
        }
      }
    }
  });

  it('F32, F16, BF16 round trips', async () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 10);
    expect(dequantize(GGML_F32, quantizeTensor(GGML_F32, x), 64)).toEqual(x);
    const h = dequantize(GGML_F16, quantizeTensor(GGML_F16, x), 64);
    h.forEach((v, i) => expect(Math.abs(v - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11));
    const bf = dequantize(GGML_BF16, quantizeTensor(GGML_BF16, x), 64);
    bf.forEach((v, i) => expect(Math.abs(v - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -8));
  });

  it('every quantized type of the fixtures dequantizes to the values gguf-py gives', async () => {
    // FNV-1a of the f32 bytes of blk.0.attn_q.weight dequantized by gguf-py's quants.dequantize
    // (numpy), plus the sum: computed once offline, so this checks the bit layouts exactly.
    const golden: Record<string, [number, number]> = {
      q2_k: [0x78727659, -32.79029083251953],
      q3_k: [0xd68ca5f8, -29.211442947387695],
      q4_k: [0x10a13a0e, -49.43080139160156],
      q5_k: [0x3df8c49f, -47.15577459335327],
      q6_k: [0x234e1974, -42.66461116075516],
      q4_1: [0x6cfe377b, -45.05546569824219],
      q5_0: [0x6d0a2761, -41.25505065917969],
      q5_1: [0x8b34a781, -43.11724853515625],
    };
    const base = await loadGGUF('llama256.gguf');
    const src = f32Tensor(base, 'blk.0.attn_q.weight');
    for (const [q, [hash, sum]] of Object.entries(golden)) {
      const l = await loadGGUF(`llama256_${q}.gguf`);
      const t = l.h.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!;
      expect(t.type).toBe(ggmlTypeByName(q)!.id);
      const y = dequantize(t.type, tensorData(l, t), t.nElements);
      let s = 0;
      let err = 0;
      for (let i = 0; i < y.length; i++) {
        s += y[i]!;
        err += (y[i]! - src[i]!) ** 2;
      }
      expect(s, q).toBeCloseTo(sum, 6);
      expect(fnv1a(new Uint8Array(y.buffer)), q).toBe(hash);
      // and it is an approximation of the F32 weights
      const rms = Math.sqrt(src.reduce((a, v) => a + v * v, 0) / src.length);
      expect(Math.sqrt(err / y.length) / rms, q).toBeLessThan(q === 'q2_k' ? 0.5 : 0.25);
    }
  });

  it('the Q4_K_M mix and the MoE experts dequantize', async () => {
    const l = await loadGGUF('llama256_q4_k_m.gguf');
    const base = await loadGGUF('llama256.gguf');
    for (const t of l.h.tensors) {
      const y = dequantize(t.type, tensorData(l, t), t.nElements);
      const src = f32Tensor(base, t.name);
      let err = 0;
      let ss = 0;
      for (let i = 0; i < y.length; i++) {
        err += (y[i]! - src[i]!) ** 2;
        ss += src[i]! ** 2;
      }
      expect(Math.sqrt(err / ss), t.name).toBeLessThan(0.1);
    }
  });

  it('bad arguments', () => {
    expect(() => dequantize(GGML_Q8_0, new Uint8Array(34), 31)).toThrow(/whole number of blocks/);
    expect(() => dequantize(GGML_Q8_0, new Uint8Array(33), 32)).toThrow(/need 34 bytes/);
    expect(() => dequantize(99, new Uint8Array(4), 1)).toThrow(WasmlmError);
    let e: unknown;
    try { dequantize(GGML_IQ2_XXS, new Uint8Array(66), 256); } catch (err) { e = err; }
    expect((e as WasmlmError).code).toBe('UNSUPPORTED_TYPE');
    e = undefined;
    try { quantizeTensor(GGML_IQ2_XXS, new Float32Array(256)); } catch (err) { e = err; }
    expect((e as WasmlmError).code).toBe('UNSUPPORTED_TYPE');
    // K-quants need whole super-blocks of 256
    expect(() => quantizeTensor(ggmlTypeByName('Q4_K')!.id, new Float32Array(288))).toThrow(/multiple of the block size 256/);
  });
});
