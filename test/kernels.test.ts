/**
 * Kernel tests: every SIMD kernel against its scalar twin (tight), and every scalar twin against an
 * independent float64 reference written here (weights quantized by a JS Q8_0/Q4_0 quantizer, the
 * activation quantization emulated in JS). Needs build/wasmlm.wasm (npm run build:wasm); the Q8_0 / Q4_0
 * matmuls also run on build/wasmlm.relaxed.wasm where this runtime has relaxed SIMD (Node ≥ 22).
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import * as abi from '../src/abi.js';
import { Views } from '../src/engine/memory.js';
import { OPS, Plan, readPlan } from '../src/engine/plan.js';
import { type Heap, type Kernels, loadKernels, RELAXED_WASM_PATH } from './helpers/wasm.js';
import { rng, randF32, roundHalfEven, worst, expectClose, expectBitsEqual, fr, bitsOf, fromBits } from './helpers/numeric.js';

const { k, heap } = loadKernels(2048); // 128 MiB
beforeEach(() => heap.reset());

// ------------------------------------------------------------------ helpers


/** IEEE half -> number (exact). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 0x3ff;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** IEEE half -> f32 bit pattern (exact, NaN payload kept). */
function halfToF32Bits(h: number): number {
  const s = (h & 0x8000) << 16;
  const e = (h >> 10) & 31;
  const m = h & 0x3ff;
  if (e === 31) return (s | 0x7f800000 | (m << 13)) >>> 0;
  if (e === 0) return (s | bitsOf(m * 2 ** -24)) >>> 0;
  return (s | ((e - 15 + 127) << 23) | (m << 13)) >>> 0;
}

/** number (an f32 value) -> IEEE half bits, round to nearest even, computed in exact f64 arithmetic. */
function floatToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | roundHalfEven(a / 2 ** -24); // 1024 = smallest normal, still right
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  let r = roundHalfEven(a / 2 ** (e - 10)); // [1024, 2048]
  if (r === 2048) { r = 1024; e++; }
  if (e > 15) return s | 0x7c00;
  return s | ((e + 15) << 10) | (r - 1024);
}

const f16round = (x: number) => halfToFloat(floatToHalf(x));

/** llama.cpp's reference Q8_0 quantizer (quantize_row_q8_0_ref): 34-byte blocks. */
function quantizeQ8_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    dv.setUint16(b * 34, floatToHalf(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.round(fr(x[b * 32 + j] * id)));
  }
  return out;
}

/** llama.cpp's reference Q4_0 quantizer (quantize_row_q4_0_ref): 18-byte blocks. */
function quantizeQ4_0(x: Float32Array): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j];
      if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    dv.setUint16(b * 18, floatToHalf(d), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(x[b * 32 + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[b * 32 + 16 + j] * id) + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** dequantized weights of a quantized row (exact): [scale per block, integer quant per weight] */
function quantParts(type: number, row: Uint8Array, nIn: number): { d: number[]; q: number[] } {
  const dv = new DataView(row.buffer, row.byteOffset, row.byteLength);
  const nb = nIn / 32;
  const d: number[] = [], q: number[] = [];
  const bs = type === abi.GGML_Q8_0 ? 34 : 18;
  for (let b = 0; b < nb; b++) {
    d.push(halfToFloat(dv.getUint16(b * bs, true)));
    if (type === abi.GGML_Q8_0) {
      for (let j = 0; j < 32; j++) q.push(dv.getInt8(b * bs + 2 + j));
    } else {
      const lo: number[] = [], hi: number[] = [];
      for (let j = 0; j < 16; j++) {
        const v = row[b * bs + 2 + j];
        lo.push((v & 15) - 8);
        hi.push((v >> 4) - 8);
      }
      q.push(...lo, ...hi);
    }
  }
  return { d, q };
}

/** The reference engine's activation quantization (llama.cpp x86 quantize_row_q8_0), emulated exactly. */
function emulateActQ8(x: Float32Array): { d: number[]; q: number[] } {
  const d: number[] = [], q: number[] = [];
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const id = amax ? fr(127 / amax) : 0;
    d.push(f16round(fr(amax / 127)));
    for (let j = 0; j < 32; j++) q.push(roundHalfEven(fr(x[b * 32 + j] * id)));
  }
  return { d, q };
}

/** Largest |a - e| - tol (≤ 0 means everything within tolerance), and where. */
const TYPE_NAME: Record<number, string> = { 0: 'F32', 1: 'F16', 8: 'Q8_0', 2: 'Q4_0' };

/**
 * Puts a GGUF tensor's bytes (nRows rows of nIn) into the heap the way the engine does: Q8_0 and Q4_0 are
 * repacked in place; returns where, and the layout code the kernels take (type | REPACKED for those two).
 */
function putWeights(type: number, bytes: Uint8Array, nRows: number, nIn: number, misalign = 0): { ptr: number; type: number } {
  const ptr = heap.put(bytes, misalign);
  const scratch = heap.alloc(bytes.length / nRows);
  return { ptr, type: k.repack(type, ptr, nRows, nIn, scratch) };
}

// ------------------------------------------------------------------ f16

describe('f16 conversion', () => {
  it('f16_to_f32 is exact for all 65536 halves', () => {
    for (let h = 0; h < 65536; h++) {
      const got = k.f16_to_f32(h);
      const want = halfToFloat(h);
      if (Number.isNaN(want)) { expect(Number.isNaN(got), `h=${h}`).toBe(true); continue; }
      if (!Object.is(got, want)) expect.fail(`f16_to_f32(0x${h.toString(16)}) = ${got}, want ${want}`);
    }
  });

  it('f32_to_f16(f16_to_f32(h)) == h for all 65536 halves (NaN stays NaN)', () => {
    for (let h = 0; h < 65536; h++) {
      const back = k.f32_to_f16(k.f16_to_f32(h));
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) {
        expect((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0, `NaN 0x${h.toString(16)}`).toBe(true);
        expect(back & 0x8000).toBe(h & 0x8000);
      } else if (back !== h) {
        expect.fail(`round trip 0x${h.toString(16)} -> 0x${back.toString(16)}`);
      }
    }
  });

  it('rounds to nearest, ties to even (normals, subnormals, overflow)', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -11 + 2 ** -20, 0x3c01],
      [-(1 + 2 ** -11), 0xbc00], [65504, 0x7bff], [65519.99609375, 0x7bff], [65520, 0x7c00], [1e10, 0x7c00],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [2 ** -25 + 2 ** -40, 0x0001], [3 * 2 ** -25, 0x0002],
      [5 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [2 ** -14 - 2 ** -25, 0x0400], [2 ** -14 - 3 * 2 ** -25, 0x03fe],
      [1e-30, 0x0000], [-1e-30, 0x8000], [0, 0x0000], [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00],
      [0.1, 0x2e66], [-2.5, 0xc100], [3.14159265, 0x4248],
    ];
    for (const [x, h] of cases) {
      expect(k.f32_to_f16(fr(x)), `f32_to_f16(${x})`).toBe(h);
      expect(floatToHalf(fr(x)), `JS reference f16(${x})`).toBe(h);
    }
    expect(k.f32_to_f16(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('matches the exact JS rounding on 300k random f32 bit patterns', () => {
    const r = rng(1);
    for (let i = 0; i < 300000; i++) {
      // bias the exponent toward the half range so most cases are not trivial overflow/underflow
      const bits = i % 2 ? Math.floor(r() * 2 ** 32) : ((r() < 0.5 ? 0x80000000 : 0) | ((0x60 + Math.floor(r() * 0x20)) << 23) | Math.floor(r() * 2 ** 23)) >>> 0;
      const x = fromBits(bits);
      if (Number.isNaN(x)) continue;
      const got = k.f32_to_f16(x), want = floatToHalf(x);
      if (got !== want) expect.fail(`f32_to_f16(${x} = 0x${bits.toString(16)}) = 0x${got.toString(16)}, want 0x${want.toString(16)}`);
    }
  });
});

// ------------------------------------------------------------------ get_rows

describe('get_rows', () => {
  it('F16: all 65536 halves dequantize bit-exactly (vector and scalar paths)', () => {
    const halves = new Uint16Array(65536 + 5);
    for (let h = 0; h < 65536; h++) halves[h] = h;
    for (let h = 65536; h < halves.length; h++) halves[h] = 0x3c01 + h; // a row length with a scalar tail
    const table = heap.put(halves, 2);
    const ids = heap.put(new Int32Array([0]));
    const out = heap.alloc(halves.length * 4);
    k.get_rows(abi.GGML_F16, table, halves.length, ids, 1, out);
    const got = heap.u32(out, halves.length);
    for (let i = 0; i < halves.length; i++) {
      const want = halfToF32Bits(halves[i]);
      if (got[i] !== want) expect.fail(`half 0x${halves[i].toString(16)} -> 0x${got[i].toString(16)}, want 0x${want.toString(16)}`);
    }
  });

  for (const type of [abi.GGML_F32, abi.GGML_F16, abi.GGML_Q8_0, abi.GGML_Q4_0]) {
    it(`${TYPE_NAME[type]}: gathers and dequantizes rows exactly`, () => {
      const rowLen = type === abi.GGML_F32 || type === abi.GGML_F16 ? 100 : 96;
      const nRows = 10;
      const src = randF32(rowLen * nRows, 7 + type, -2, 2);
      let bytes: Uint8Array;
      const expectRow: number[][] = [];
      if (type === abi.GGML_F32) {
        bytes = new Uint8Array(src.buffer.slice(0));
        for (let r = 0; r < nRows; r++) expectRow.push(Array.from(src.subarray(r * rowLen, (r + 1) * rowLen)));
      } else if (type === abi.GGML_F16) {
        const h = new Uint16Array(src.length);
        for (let i = 0; i < src.length; i++) h[i] = floatToHalf(src[i]);
        bytes = new Uint8Array(h.buffer);
        for (let r = 0; r < nRows; r++) expectRow.push(Array.from(h.subarray(r * rowLen, (r + 1) * rowLen), halfToFloat));
      } else {
        const rb = (rowLen / 32) * (type === abi.GGML_Q8_0 ? 34 : 18);
        bytes = new Uint8Array(rb * nRows);
        for (let r = 0; r < nRows; r++) {
          const qb = (type === abi.GGML_Q8_0 ? quantizeQ8_0 : quantizeQ4_0)(src.subarray(r * rowLen, (r + 1) * rowLen));
          bytes.set(qb, r * rb);
          const { d, q } = quantParts(type, qb, rowLen);
          expectRow.push(q.map((v, i) => fr(v * d[i >> 5])));
        }
      }
      const { ptr: table, type: mt } = putWeights(type, bytes, nRows, rowLen, 3);
      const idList = [3, 0, 9, 3, 7];
      const ids = heap.put(new Int32Array(idList));
      const out = heap.alloc(idList.length * rowLen * 4);
      k.get_rows(mt, table, rowLen, ids, idList.length, out);
      const got = heap.f32(out, idList.length * rowLen);
      const want = idList.flatMap((id) => expectRow[id]);
      expectClose(got, want, () => 0, `${TYPE_NAME[type]} get_rows`);
      if (type !== abi.GGML_F32) {
        // a dequantized row is close to the source row (sanity of the quantizer/dequantizer pair)
        const scale = type === abi.GGML_F16 ? 1e-3 : type === abi.GGML_Q8_0 ? 2e-2 : 0.3;
        expectClose(got.subarray(0, rowLen), src.subarray(3 * rowLen, 4 * rowLen), () => scale, 'dequant ~ source');
      }
    });
  }
});

// ------------------------------------------------------------------ prep_act + matmul

interface MatmulCase { type: number; nIn: number; nOut: number; nTok: number; r0: number; r1: number }

function weightsFor(type: number, nIn: number, nOut: number, seed: number): { bytes: Uint8Array; rows: number[][] } {
  const src = randF32(nIn * nOut, seed, -1, 1);
  const rows: number[][] = [];
  if (type === abi.GGML_F32) {
    for (let o = 0; o < nOut; o++) rows.push(Array.from(src.subarray(o * nIn, (o + 1) * nIn)));
    return { bytes: new Uint8Array(src.buffer), rows };
  }
  if (type === abi.GGML_F16) {
    const h = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) h[i] = floatToHalf(src[i]);
    // sprinkle some half subnormals and extreme values into the weights
    for (let i = 5; i < h.length; i += 97) h[i] = (i & 1 ? 0x8000 : 0) | (i % 0x3ff);
    for (let o = 0; o < nOut; o++) rows.push(Array.from(h.subarray(o * nIn, (o + 1) * nIn), halfToFloat));
    return { bytes: new Uint8Array(h.buffer), rows };
  }
  const q = type === abi.GGML_Q8_0 ? quantizeQ8_0 : quantizeQ4_0;
  // special block scales: an all-zero block (d = 0) and a tiny block (subnormal fp16 d)
  if (src.length >= 96) { src.fill(0, 32, 64); for (let j = 64; j < 96; j++) src[j] *= 1e-5; }
  const parts: Uint8Array[] = [];
  for (let o = 0; o < nOut; o++) {
    const qb = q(src.subarray(o * nIn, (o + 1) * nIn));
    parts.push(qb);
    rows.push([]); // quantized rows are handled through quantParts
  }
  const rb = parts[0].length;
  const bytes = new Uint8Array(rb * nOut);
  parts.forEach((p, o) => bytes.set(p, o * rb));
  return { bytes, rows };
}

/** Expected y (float64) and Σ|terms| for each output, from the test's own emulation of the act format. */
function expectedMatmul(c: MatmulCase, wbytes: Uint8Array, wrows: number[][], x: Float32Array): { y: number[]; mag: number[] } {
  const y: number[] = [], mag: number[] = [];
  const quant = c.type === abi.GGML_Q8_0 || c.type === abi.GGML_Q4_0;
  const rb = quant ? (c.nIn / 32) * (c.type === abi.GGML_Q8_0 ? 34 : 18) : 0;
  for (let t = 0; t < c.nTok; t++) {
    const xt = x.subarray(t * c.nIn, (t + 1) * c.nIn);
    const a = quant ? emulateActQ8(xt) : null;
    for (let o = 0; o < c.nOut; o++) {
      let s = 0, m = 0;
      if (a) {
        const { d, q } = quantParts(c.type, wbytes.subarray(o * rb, (o + 1) * rb), c.nIn);
        for (let b = 0; b < c.nIn / 32; b++) {
          let si = 0, mi = 0;
          for (let j = 0; j < 32; j++) { si += q[b * 32 + j] * a.q[b * 32 + j]; mi += Math.abs(q[b * 32 + j] * a.q[b * 32 + j]); }
          s += d[b] * a.d[b] * si;
          m += Math.abs(d[b] * a.d[b]) * mi;
        }
      } else {
        for (let i = 0; i < c.nIn; i++) {
          const xi = c.type === abi.GGML_F16 ? f16round(xt[i]) : xt[i];
          s += wrows[o][i] * xi;
          m += Math.abs(wrows[o][i] * xi);
        }
      }
      y.push(s);
      mag.push(m);
    }
  }
  return { y, mag };
}

const SENTINEL = 7777.5;

function runMatmul(c: MatmulCase, seed: number) {
  const { bytes, rows } = weightsFor(c.type, c.nIn, c.nOut, seed);
  const x = randF32(c.nIn * c.nTok, seed + 1000, -3, 3);
  const { ptr: w, type: mt } = putWeights(c.type, bytes, c.nOut, c.nIn, 1); // odd address: unaligned weight loads
  const xp = heap.put(x);
  const actN = k.act_bytes(c.type, c.nIn, c.nTok);
  const act = heap.alloc(actN);
  const actRef = heap.alloc(actN);
  k.prep_act(c.type, xp, act, c.nIn, c.nTok);
  k.prep_act_ref(c.type, xp, actRef, c.nIn, c.nTok);
  const ySimd = heap.alloc(c.nOut * c.nTok * 4);
  const yRef = heap.alloc(c.nOut * c.nTok * 4);
  heap.f32(ySimd, c.nOut * c.nTok).fill(SENTINEL);
  heap.f32(yRef, c.nOut * c.nTok).fill(SENTINEL);
  k.matmul(mt, w, act, ySimd, c.nIn, c.nOut, c.nTok, c.r0, c.r1);
  k.matmul_ref(mt, w, actRef, yRef, c.nIn, c.nOut, c.nTok, c.r0, c.r1);
  return {
    x, bytes, rows, act: heap.bytes(act, actN), actRef: heap.bytes(actRef, actN),
    ySimd: heap.f32(ySimd, c.nOut * c.nTok).slice(), yRef: heap.f32(yRef, c.nOut * c.nTok).slice(),
  };
}

describe('prep_act', () => {
  it('act_bytes', () => {
    expect(k.act_bytes(abi.GGML_F32, 100, 3)).toBe(1200);
    expect(k.act_bytes(abi.GGML_F16, 100, 3)).toBe(1200);
    expect(k.act_bytes(abi.GGML_Q8_0, 96, 3)).toBe(3 * 96 * 2 + 3 * 3 * 4);
    expect(k.act_bytes(abi.GGML_Q4_0, 96, 3)).toBe(3 * 96 * 2 + 3 * 3 * 4);
  });

  it('F16: rounds every value to the nearest half (ties, subnormals, overflow, inf, NaN), SIMD == scalar', () => {
    const r = rng(3);
    const n = 4099;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const kind = i % 6;
      if (kind === 0) x[i] = (r() - 0.5) * 8;
      else if (kind === 1) x[i] = fromBits(((r() < 0.5 ? 0x80000000 : 0) | ((0x60 + Math.floor(r() * 0x20)) << 23) | Math.floor(r() * 2 ** 23)) >>> 0);
      else if (kind === 2) x[i] = halfToFloat(Math.floor(r() * 0x7c00)) + (r() < 0.5 ? 1 : -1) * 2 ** -25; // tie-ish in subnormals
      else if (kind === 3) { const h = Math.floor(r() * 0x7bff); x[i] = (halfToFloat(h) + halfToFloat(h + 1)) / 2; } // exact ties
      else if (kind === 4) x[i] = fromBits(Math.floor(r() * 2 ** 32));
      else x[i] = [65504, 65519.99609375, 65520, 1e6, Infinity, -Infinity, NaN, 0, -0, 2 ** -26, -(2 ** -25)][i % 11];
    }
    const xp = heap.put(x);
    const a = heap.alloc(n * 4), b = heap.alloc(n * 4), inPlace = heap.put(x);
    k.prep_act(abi.GGML_F16, xp, a, n, 1);
    k.prep_act_ref(abi.GGML_F16, xp, b, n, 1);
    k.prep_act(abi.GGML_F16, inPlace, inPlace, n, 1);
    expectBitsEqual(heap.f32(a, n), heap.f32(b, n), 'F16 act SIMD vs scalar');
    expectBitsEqual(heap.f32(inPlace, n), heap.f32(b, n), 'F16 act in place');
    const got = heap.f32(b, n);
    for (let i = 0; i < n; i++) {
      const want = Number.isNaN(x[i]) ? NaN : f16round(x[i]);
      if (!(Object.is(got[i], want) || (Number.isNaN(want) && Number.isNaN(got[i])))) {
        expect.fail(`f16 round of ${x[i]}: ${got[i]}, want ${want}`);
      }
    }
  });

  it('F32: copies when act != x', () => {
    const x = randF32(37, 5);
    const xp = heap.put(x);
    const a = heap.alloc(37 * 4);
    k.prep_act(abi.GGML_F32, xp, a, 37, 1);
    expectBitsEqual(heap.f32(a, 37), x, 'copy');
  });

  for (const type of [abi.GGML_Q8_0, abi.GGML_Q4_0]) {
    it(`${TYPE_NAME[type]}: Q8_0 act quantization equals the emulated reference exactly`, () => {
      const nIn = 96, nTok = 5;
      const x = randF32(nIn * nTok, 11, -4, 4);
      // edge blocks: all zero, a single big value, exact .5 products, tiny values
      for (let j = 0; j < 32; j++) { x[j] = 0; x[32 + j] = j === 7 ? -100 : j * 1e-3; x[64 + j] = (j - 16) * 0.5; }
      x[64 + 31] = 127; // id = 1, so q = x exactly including halves (ties to even)
      x[nIn + 5] = 1e-30;
      const xp = heap.put(x);
      const n = k.act_bytes(type, nIn, nTok);
      const a = heap.alloc(n), b = heap.alloc(n);
      k.prep_act(type, xp, a, nIn, nTok);
      k.prep_act_ref(type, xp, b, nIn, nTok);
      expect(heap.bytes(a, n)).toEqual(heap.bytes(b, n));
      const q = heap.i16(b, nIn * nTok);
      const d = heap.f32(b + nIn * nTok * 2, (nIn / 32) * nTok);
      for (let t = 0; t < nTok; t++) {
        const e = emulateActQ8(x.subarray(t * nIn, (t + 1) * nIn));
        expect(Array.from(q.subarray(t * nIn, (t + 1) * nIn)), `q t=${t}`).toEqual(e.q);
        expect(Array.from(d.subarray(t * nIn / 32, (t + 1) * nIn / 32)), `d t=${t}`).toEqual(e.d);
      }
      // block 2 of token 0: amax 127 so id = 1 and q = nearest((j - 16) / 2), ties to even
      expect(Array.from(q.subarray(64, 96))).toEqual([-8, -8, -7, -6, -6, -6, -5, -4, -4, -4, -3, -2, -2, -2, -1, 0,
        0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5, 6, 6, 6, 7, 127]);
    });
  }
});

describe('matmul', () => {
  const cases: MatmulCase[] = [];
  for (const type of [abi.GGML_F32, abi.GGML_F16, abi.GGML_Q8_0, abi.GGML_Q4_0]) {
    // quantized: 1 or 3 blocks (past any group of 4), 7 (a group of 4 and 3 more)
    const sizes = type === abi.GGML_F32 || type === abi.GGML_F16 ? [32, 96, 100, 7, 1] : [32, 96, 224];
    for (const nIn of sizes) {
      for (const nTok of [1, 2, 3, 4, 5, 7]) {
        cases.push({ type, nIn, nOut: 13, nTok, r0: 0, r1: 13 });
        cases.push({ type, nIn, nOut: 13, nTok, r0: 3, r1: 10 });
      }
    }
    // large rows: several row blocks of the tiled driver, long accumulation
    const big = type === abi.GGML_F32 ? 4100 : type === abi.GGML_F16 ? 8200 : 8192;
    cases.push({ type, nIn: big, nOut: 19, nTok: 1, r0: 0, r1: 19 });
    cases.push({ type, nIn: big, nOut: 19, nTok: 6, r0: 2, r1: 17 });
  }

  for (const c of cases) {
    it(`${TYPE_NAME[c.type]} nIn=${c.nIn} nOut=${c.nOut} nTok=${c.nTok} rows [${c.r0}, ${c.r1})`, () => {
      const seed = c.type * 1000 + c.nIn * 7 + c.nTok * 3 + c.r0;
      const res = runMatmul(c, seed);
      expect(res.act, 'prep_act == prep_act_ref').toEqual(res.actRef);
      const { y, mag } = expectedMatmul(c, res.bytes, res.rows, res.x);
      const inRange = (i: number) => { const o = i % c.nOut; return o >= c.r0 && o < c.r1; };
      for (let i = 0; i < y.length; i++) {
        if (!inRange(i)) {
          expect(res.ySimd[i], `SIMD wrote row ${i % c.nOut} outside [r0, r1)`).toBe(SENTINEL);
          expect(res.yRef[i], `scalar wrote row ${i % c.nOut} outside [r0, r1)`).toBe(SENTINEL);
        }
      }
      const sel = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => inRange(i));
      const magSel = sel(mag);
      // f32 accumulation-order differences only: 1e-6·Σ|terms| (integer paths: block sums are exact)
      expectClose(sel(res.ySimd), sel(res.yRef), (i) => 1e-6 * magSel[i] + 1e-30, 'SIMD vs scalar');
      // scalar twin vs float64: f32 accumulation error only
      const tol = (i: number) => 2e-6 * Math.sqrt(c.nIn / 32 + 1) * magSel[i] + 1e-30;
      expectClose(sel(res.yRef), sel(y), tol, 'scalar vs float64 reference');
      expectClose(sel(res.ySimd), sel(y), tol, 'SIMD vs float64 reference');
    });
  }

  it('the tolerances can fail: exact math on dequantized weights (no act quantization) is rejected for Q8_0 and Q4_0', () => {
    for (const type of [abi.GGML_Q8_0, abi.GGML_Q4_0]) {
      const c: MatmulCase = { type, nIn: 96, nOut: 13, nTok: 5, r0: 0, r1: 13 };
      const res = runMatmul(c, 99);
      const { mag } = expectedMatmul(c, res.bytes, res.rows, res.x);
      const rb = (c.nIn / 32) * (type === abi.GGML_Q8_0 ? 34 : 18);
      const exact: number[] = [];
      for (let t = 0; t < c.nTok; t++) {
        for (let o = 0; o < c.nOut; o++) {
          const { d, q } = quantParts(type, res.bytes.subarray(o * rb, (o + 1) * rb), c.nIn);
          let s = 0;
          for (let i = 0; i < c.nIn; i++) s += d[i >> 5] * q[i] * res.x[t * c.nIn + i];
          exact.push(s);
        }
      }
      const w = worst(res.yRef, exact, (i) => 2e-6 * Math.sqrt(c.nIn / 32 + 1) * mag[i]);
      expect(w.excess, TYPE_NAME[type]).toBeGreaterThan(0);
      // and a one-element error of 1e-4 relative is caught too
      const bad = res.ySimd.slice();
      bad[17] += 1e-4 * mag[17];
      expect(worst(bad, res.yRef, (i) => 1e-6 * mag[i]).excess).toBeGreaterThan(0);
    }
  });

  for (const type of [abi.GGML_F32, abi.GGML_F16, abi.GGML_Q8_0, abi.GGML_Q4_0]) {
    it(`${TYPE_NAME[type]}: a token's result does not depend on nTok (batch vs one token at a time)`, () => {
      for (const nIn of type === abi.GGML_F32 || type === abi.GGML_F16 ? [96, 101] : [96, 224]) {
        const nOut = 11, nTok = 7;
        const { bytes } = weightsFor(type, nIn, nOut, 21);
        const x = randF32(nIn * nTok, 22, -3, 3);
        const { ptr: w, type: mt } = putWeights(type, bytes, nOut, nIn, 1);
        const xp = heap.put(x);
        const act = heap.alloc(k.act_bytes(type, nIn, nTok));
        k.prep_act(type, xp, act, nIn, nTok);
        const yb = heap.alloc(nOut * nTok * 4);
        k.matmul(mt, w, act, yb, nIn, nOut, nTok, 0, nOut);
        const batch = heap.f32(yb, nOut * nTok).slice();
        const single = new Float32Array(nOut * nTok);
        const act1 = heap.alloc(k.act_bytes(type, nIn, 1)), y1 = heap.alloc(nOut * 4);
        for (let t = 0; t < nTok; t++) {
          k.prep_act(type, xp + t * nIn * 4, act1, nIn, 1);
          k.matmul(mt, w, act1, y1, nIn, nOut, 1, 0, nOut);
          single.set(heap.f32(y1, nOut), t * nOut);
        }
        // every type performs the same per-token operations in both kernels: bit-identical, so a
        // batched prompt and token-by-token decoding give the next layer the same input
        expectBitsEqual(single, batch, `${TYPE_NAME[type]} nIn=${nIn}`);
      }
    });
  }

  it('F32 reads x directly when act == x', () => {
    const nIn = 100, nOut = 9, nTok = 5;
    const { bytes } = weightsFor(abi.GGML_F32, nIn, nOut, 5);
    const x = randF32(nIn * nTok, 6);
    const w = heap.put(bytes), xp = heap.put(x);
    k.prep_act(abi.GGML_F32, xp, xp, nIn, nTok);
    expectBitsEqual(heap.f32(xp, nIn * nTok), x, 'x untouched');
    const y1 = heap.alloc(nOut * nTok * 4), y2 = heap.alloc(nOut * nTok * 4);
    k.matmul(abi.GGML_F32, w, xp, y1, nIn, nOut, nTok, 0, nOut);
    k.matmul_ref(abi.GGML_F32, w, xp, y2, nIn, nOut, nTok, 0, nOut);
    expectClose(heap.f32(y1, nOut * nTok), heap.f32(y2, nOut * nTok), (i) => 1e-5 * (1 + Math.abs(heap.f32(y2, nOut * nTok)[i])), 'act == x');
  });

  it('unsupported weight types trap', () => {
    const p = heap.alloc(4096);
    expect(() => k.matmul(abi.GGML_Q8_K, p, p, p, 256, 1, 1, 0, 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => k.matmul_ref(abi.GGML_Q8_K, p, p, p, 256, 1, 1, 0, 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => k.prep_act(abi.GGML_Q8_1, p, p, 32, 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => k.get_rows(23 /* IQ4_XS */, p, 256, p, 1, p)).toThrow(WebAssembly.RuntimeError);
    // Q8_0 / Q4_0 only in the repacked layout: the GGUF one would be read wrong, so it traps
    for (const type of [abi.GGML_Q8_0, abi.GGML_Q4_0]) {
      expect(() => k.matmul(type, p, p, p, 32, 1, 1, 0, 1)).toThrow(WebAssembly.RuntimeError);
      expect(() => k.matmul_ref(type, p, p, p, 32, 1, 1, 0, 1)).toThrow(WebAssembly.RuntimeError);
      expect(() => k.get_rows(type, p, 32, p, 1, p)).toThrow(WebAssembly.RuntimeError);
    }
  });
});

// Q8_0 / Q4_0 in the relaxed-SIMD build (its own Q4_0 layout and act format, Q8_0C): the same checks
let relaxedHere = false;
try { relaxedHere = WebAssembly.validate(readFileSync(RELAXED_WASM_PATH)); } catch { /* not built */ }
describe.runIf(relaxedHere)('matmul, relaxed-SIMD build', () => {
  const r = relaxedHere ? loadKernels(1024, RELAXED_WASM_PATH) : undefined;
  for (const type of [abi.GGML_Q8_0, abi.GGML_Q4_0]) {
    for (const nIn of [96, 224, 1024]) {
      it(`${TYPE_NAME[type]} nIn=${nIn}: SIMD vs scalar vs float64, batch vs one token at a time`, () => {
        const { k: rk, heap: rh } = r!;
        rh.reset();
        const c: MatmulCase = { type, nIn, nOut: 13, nTok: 7, r0: 0, r1: 13 };
        const { bytes, rows } = weightsFor(type, nIn, c.nOut, 5 + nIn);
        const x = randF32(nIn * c.nTok, 6 + nIn, -3, 3);
        const w = rh.put(bytes, 1);
        const mt = rk.repack(type, w, c.nOut, nIn, rh.alloc(bytes.length / c.nOut));
        expect(mt).toBe(type | abi.REPACKED);
        const xp = rh.put(x);
        const actN = rk.act_bytes(mt, nIn, c.nTok);
        const act = rh.alloc(actN), actRef = rh.alloc(actN);
        rk.prep_act(mt, xp, act, nIn, c.nTok);
        rk.prep_act_ref(mt, xp, actRef, nIn, c.nTok);
        expect(rh.bytes(act, actN), 'prep_act == prep_act_ref').toEqual(rh.bytes(actRef, actN));
        const y = rh.alloc(c.nOut * c.nTok * 4), yRef = rh.alloc(c.nOut * c.nTok * 4);
        rk.matmul(mt, w, act, y, nIn, c.nOut, c.nTok, 0, c.nOut);
        rk.matmul_ref(mt, w, actRef, yRef, nIn, c.nOut, c.nTok, 0, c.nOut);
        const got = rh.f32(y, c.nOut * c.nTok).slice(), ref = rh.f32(yRef, c.nOut * c.nTok).slice();
        const { y: want, mag } = expectedMatmul(c, bytes, rows, x);
        expectClose(got, ref, (i) => 1e-6 * mag[i] + 1e-30, 'SIMD vs scalar');
        expectClose(got, want, (i) => 2e-6 * Math.sqrt(nIn / 32 + 1) * mag[i] + 1e-30, 'SIMD vs float64 reference');
        const act1 = rh.alloc(rk.act_bytes(mt, nIn, 1)), y1 = rh.alloc(c.nOut * 4);
        const single = new Float32Array(c.nOut * c.nTok);
        for (let t = 0; t < c.nTok; t++) {
          rk.prep_act(mt, xp + t * nIn * 4, act1, nIn, 1);
          rk.matmul(mt, w, act1, y1, nIn, c.nOut, 1, 0, c.nOut);
          single.set(rh.f32(y1, c.nOut), t * c.nOut);
        }
        expectBitsEqual(single, got, 'batch vs one token at a time');
      });
    }
  }
});

describe('repack', () => {
  for (const type of [abi.GGML_Q8_0, abi.GGML_Q4_0]) {
    it(`${TYPE_NAME[type]}: per row, the quants then the fp16 scales; same size, in place`, () => {
      const nIn = 96, nRows = 3, nb = nIn / 32, bs = type === abi.GGML_Q8_0 ? 34 : 18, qs = bs - 2;
      const { bytes } = weightsFor(type, nIn, nRows, 41);
      // the tensor with 64 guard bytes on each side
      const region = heap.alloc(bytes.length + 128, 1), ptr = region + 64;
      heap.u8(region, bytes.length + 128).fill(0xee);
      heap.u8(ptr, bytes.length).set(bytes);
      const mt = k.repack(type, ptr, nRows, nIn, heap.alloc(nb * bs));
      expect(mt).toBe(type | abi.REPACKED);
      const got = heap.bytes(ptr, bytes.length);
      for (let r = 0; r < nRows; r++) {
        const row = got.subarray(r * nb * bs, (r + 1) * nb * bs);
        for (let b = 0; b < nb; b++) {
          const src = bytes.subarray(r * nb * bs + b * bs, r * nb * bs + (b + 1) * bs);
          expect([row[nb * qs + 2 * b], row[nb * qs + 2 * b + 1]], `scale r${r} b${b}`).toEqual([src[0], src[1]]);
          const quants = row.subarray(b * qs, (b + 1) * qs);
          if (type === abi.GGML_Q8_0) {
            expect(Array.from(quants)).toEqual(Array.from(src.subarray(2)));
          } else {
            // weight j (GGUF: low nibble of byte j < 16, high nibble of byte j − 16) is at byte 2(j % 8) + (j ≥ 16),
            // nibble (j % 16 ≥ 8), xor 8
            for (let j = 0; j < 32; j++) {
              const q = j < 16 ? src[2 + j] & 15 : src[2 + j - 16] >> 4;
              const byte = quants[2 * (j % 8) + (j >= 16 ? 1 : 0)];
              const nib = (j % 16) >= 8 ? byte >> 4 : byte & 15;
              expect(nib ^ 8, `r${r} b${b} weight ${j}`).toBe(q);
            }
          }
        }
      }
      // nothing outside the tensor changed
      expect(heap.bytes(region, 64).every((v) => v === 0xee)).toBe(true);
      expect(heap.bytes(ptr + bytes.length, 64).every((v) => v === 0xee)).toBe(true);
    });
  }

  it('leaves every other type alone', () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    for (const type of [abi.GGML_F32, abi.GGML_F16, abi.GGML_Q4_K, abi.GGML_Q5_0]) {
      const { ptr, type: mt } = putWeights(type, bytes, 1, 64);
      expect(mt).toBe(type);
      expect(heap.bytes(ptr, 256)).toEqual(bytes);
    }
  });
});

// ------------------------------------------------------------------ rmsnorm

describe('rmsnorm', () => {
  for (const n of [1, 7, 8, 64, 100, 4097]) {
    for (const withW of [true, false]) {
      it(`n=${n} ${withW ? 'with' : 'without'} gain, 3 rows, and in place`, () => {
        const nTok = 3, eps = fr(1e-5);
        const x = randF32(n * nTok, n, -2, 2);
        const wv = randF32(n, n + 1, 0.5, 1.5);
        const xp = heap.put(x), w = withW ? heap.put(wv) : 0;
        const a = heap.alloc(n * nTok * 4), b = heap.alloc(n * nTok * 4), inPlace = heap.put(x);
        k.rmsnorm(xp, w, a, n, nTok, eps);
        k.rmsnorm_ref(xp, w, b, n, nTok, eps);
        k.rmsnorm(inPlace, w, inPlace, n, nTok, eps);
        const ga = heap.f32(a, n * nTok), gb = heap.f32(b, n * nTok);
        expectBitsEqual(heap.f32(inPlace, n * nTok), ga, 'in place');
        expectClose(ga, gb, (i) => 3e-7 * Math.abs(gb[i]), 'SIMD vs scalar');
        // the reference engine's formula, emulated exactly (f32 squares summed in f64)
        const want: number[] = [];
        for (let t = 0; t < nTok; t++) {
          let sum = 0;
          for (let i = 0; i < n; i++) sum += fr(x[t * n + i] * x[t * n + i]);
          const scale = fr(1 / fr(Math.sqrt(fr(fr(sum / n) + eps))));
          for (let i = 0; i < n; i++) want.push(withW ? fr(fr(x[t * n + i] * scale) * wv[i]) : fr(x[t * n + i] * scale));
        }
        expectClose(gb, want, () => 0, 'scalar vs emulated reference');
        // and the plain float64 definition
        for (let t = 0; t < nTok; t++) {
          let ss = 0;
          for (let i = 0; i < n; i++) ss += x[t * n + i] ** 2;
          const s = 1 / Math.sqrt(ss / n + eps);
          const row = Array.from({ length: n }, (_, i) => x[t * n + i] * s * (withW ? wv[i] : 1));
          expectClose(ga.subarray(t * n, (t + 1) * n), row, (i) => 1e-6 * Math.abs(row[i]) + 1e-7, 'vs float64');
        }
      });
    }
  }
});

// ------------------------------------------------------------------ rope

function ropeF64(x: Float32Array, nTok: number, nHead: number, headDim: number, nRot: number, pos0: number,
                 base: number, freqScale: number, mode: number): number[] {
  const out = Array.from(x);
  for (let t = 0; t < nTok; t++) {
    for (let i = 0; i < nRot / 2; i++) {
      const theta = (pos0 + t) * freqScale * Math.pow(base, (-2 * i) / nRot);
      const c = fr(Math.cos(theta)), s = fr(Math.sin(theta));
      for (let h = 0; h < nHead; h++) {
        const b = t * nHead * headDim + h * headDim;
        const [i0, i1] = mode === abi.ROPE_NEOX ? [i, i + nRot / 2] : [2 * i, 2 * i + 1];
        const x0 = x[b + i0], x1 = x[b + i1];
        out[b + i0] = x0 * c - x1 * s;
        out[b + i1] = x0 * s + x1 * c;
      }
    }
  }
  return out;
}

describe('rope', () => {
  const cases: [number, number, number, number, number, number, number, number][] = [
    // nTok, nHead, headDim, nRot, pos0, base, freqScale, mode
    [5, 4, 16, 16, 0, 10000, 1, abi.ROPE_NORMAL],
    [5, 4, 16, 16, 0, 10000, 1, abi.ROPE_NEOX],
    [1, 3, 64, 64, 37, 10000, 1, abi.ROPE_NORMAL],
    [7, 3, 64, 64, 37, 1e6, 1, abi.ROPE_NEOX],
    [3, 2, 16, 6, 5, 10000, 1, abi.ROPE_NEOX],     // phi2: partial, nRot/2 = 3 (scalar tail only)
    [3, 2, 16, 4, 5, 10000, 1, abi.ROPE_NEOX],     // stablelm
    [3, 2, 16, 10, 5, 10000, 1, abi.ROPE_NORMAL],  // odd pair count
    [2, 5, 128, 128, 4000, 500000, 0.25, abi.ROPE_NORMAL],
    [2, 5, 128, 96, 4000, 500000, 0.25, abi.ROPE_NEOX],
    [2, 2, 32, 32, 100000, 10000, 1, abi.ROPE_NORMAL],  // large angles: range reduction
    [2, 2, 32, 32, 1000000, 10000, 1, abi.ROPE_NEOX],
    [3, 2, 8, 8, 11, 10000, 1, abi.ROPE_NORMAL],
  ];
  for (const [nTok, nHead, headDim, nRot, pos0, base, fs, mode] of cases) {
    it(`nTok=${nTok} nHead=${nHead} headDim=${headDim} nRot=${nRot} pos0=${pos0} base=${base} fs=${fs} mode=${mode}`, () => {
      const n = nTok * nHead * headDim;
      const x = randF32(n, nRot + pos0 + mode, -2, 2);
      const a = heap.put(x), b = heap.put(x);
      k.rope(a, nTok, nHead, headDim, nRot, pos0, base, fs, mode);
      k.rope_ref(b, nTok, nHead, headDim, nRot, pos0, base, fs, mode);
      const ga = heap.f32(a, n), gb = heap.f32(b, n);
      expectBitsEqual(ga, gb, 'SIMD vs scalar (same f32 operations)');
      const want = ropeF64(x, nTok, nHead, headDim, nRot, pos0, fr(base), fr(fs), mode);
      expectClose(gb, want, () => 2e-6, 'vs float64');
      // dims past nRot are untouched
      for (let t = 0; t < nTok; t++) for (let h = 0; h < nHead; h++) for (let d = nRot; d < headDim; d++) {
        const i = (t * nHead + h) * headDim + d;
        expect(gb[i]).toBe(x[i]);
      }
    });
  }

  it('the float64 comparison can fail (wrong pairing is caught)', () => {
    const x = randF32(64, 1, -2, 2);
    const b = heap.put(x);
    k.rope_ref(b, 1, 4, 16, 16, 3, 10000, 1, abi.ROPE_NORMAL);
    const want = ropeF64(x, 1, 4, 16, 16, 3, 10000, 1, abi.ROPE_NEOX);
    expect(worst(heap.f32(b, 64), want, () => 2e-6).excess).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------ softmax, attention

function softmaxF64(x: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

describe('softmax', () => {
  for (const n of [1, 3, 4, 5, 17, 100, 1000]) {
    it(`n=${n}`, () => {
      const x = randF32(n, n, -30, 30);
      if (n > 4) { x[2] = -Infinity; x[n - 1] = 80; x[1] = -200; }
      const a = heap.put(x), b = heap.put(x);
      k.softmax(a, n);
      k.softmax_ref(b, n);
      const ga = heap.f32(a, n), gb = heap.f32(b, n);
      expectClose(ga, gb, (i) => 1e-6 * gb[i] + 1e-30, 'SIMD vs scalar');
      const want = softmaxF64(x);
      // f32 rounding of the argument x - max costs |x - max|·2^-24 relative (the reference has it too)
      const m = Math.max(...x);
      const tol = (i: number) => want[i] * (1e-6 + Math.abs(x[i] - m) * 2 ** -23) + 1e-37;
      expectClose(gb, want, tol, 'vs float64');
      expectClose(ga, want, tol, 'SIMD vs float64');
    });
  }
});

function attentionF64(q: Float32Array, kc: Float32Array, vc: Float32Array, nTok: number, pos0: number, nHead: number,
                      nKv: number, hd: number, scale: number, window: number): number[] {
  const out: number[] = new Array(nTok * nHead * hd).fill(0);
  for (let t = 0; t < nTok; t++) {
    const p = pos0 + t;
    for (let h = 0; h < nHead; h++) {
      const kh = Math.floor(h / (nHead / nKv));
      const js: number[] = [], sc: number[] = [];
      for (let j = 0; j <= p; j++) {
        if (window > 0 && p - j >= window) continue;
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[(t * nHead + h) * hd + d] * kc[(j * nKv + kh) * hd + d];
        js.push(j);
        sc.push(s * scale);
      }
      const pr = softmaxF64(sc);
      for (let d = 0; d < hd; d++) {
        let a = 0;
        js.forEach((j, n) => { a += pr[n] * vc[(j * nKv + kh) * hd + d]; });
        out[(t * nHead + h) * hd + d] = a;
      }
    }
  }
  return out;
}

describe('attention', () => {
  const cases: [number, number, number, number, number, number][] = [
    // nTok, pos0, nHead, nKvHead, headDim, window
    [5, 0, 4, 2, 16, 0],
    [1, 9, 4, 2, 16, 0],
    [5, 3, 4, 4, 8, 0],
    [7, 0, 4, 1, 32, 0],
    [3, 20, 2, 2, 64, 0],
    [2, 30, 4, 2, 128, 0],
    [5, 6, 4, 2, 12, 0],   // headDim % 16 != 0
    [5, 6, 3, 1, 6, 0],    // headDim % 4 != 0
    [4, 0, 6, 2, 17, 0],   // every path
    [8, 0, 4, 2, 16, 4],   // sliding window (phi3_swa)
    [3, 10, 4, 2, 16, 4],
    [3, 10, 4, 2, 16, 1],
  ];
  for (const [nTok, pos0, nHead, nKv, hd, window] of cases) {
    it(`nTok=${nTok} pos0=${pos0} heads ${nHead}/${nKv} headDim=${hd} window=${window}`, () => {
      const ctx = pos0 + nTok;
      const q = randF32(nTok * nHead * hd, hd + nTok, -2, 2);
      const kc = randF32(ctx * nKv * hd, hd + 1, -2, 2);
      const vc = randF32(ctx * nKv * hd, hd + 2, -1, 1);
      const scale = fr(1 / Math.sqrt(hd));
      const qp = heap.put(q), kp = heap.put(kc), vp = heap.put(vc);
      const n = nTok * nHead * hd;
      const a = heap.alloc(n * 4), b = heap.alloc(n * 4);
      const s1 = heap.alloc(ctx * 4), s2 = heap.alloc(ctx * 4);
      k.attention(qp, kp, vp, a, nTok, pos0, nHead, nKv, hd, scale, s1, window);
      k.attention_ref(qp, kp, vp, b, nTok, pos0, nHead, nKv, hd, scale, s2, window);
      const ga = heap.f32(a, n), gb = heap.f32(b, n);
      expectClose(ga, gb, () => 2e-6, 'SIMD vs scalar');
      const want = attentionF64(q, kc, vc, nTok, pos0, nHead, nKv, hd, scale, window);
      expectClose(gb, want, () => 4e-6, 'scalar vs float64');
      expectClose(ga, want, () => 4e-6, 'SIMD vs float64');
      // out may equal q
      const inPlace = heap.put(q);
      k.attention(inPlace, kp, vp, inPlace, nTok, pos0, nHead, nKv, hd, scale, s1, window);
      expectBitsEqual(heap.f32(inPlace, n), ga, 'out == q');
    });
  }

  it('the float64 comparison can fail (ignoring the window is caught)', () => {
    const nTok = 8, nHead = 2, hd = 16;
    const q = randF32(nTok * nHead * hd, 1, -2, 2), kc = randF32(nTok * nHead * hd, 2, -2, 2), vc = randF32(nTok * nHead * hd, 3);
    const b = heap.alloc(q.length * 4), s = heap.alloc(64);
    k.attention_ref(heap.put(q), heap.put(kc), heap.put(vc), b, nTok, 0, nHead, nHead, hd, 0.25, s, 4);
    const want = attentionF64(q, kc, vc, nTok, 0, nHead, nHead, hd, 0.25, 0);
    expect(worst(heap.f32(b, q.length), want, () => 4e-6).excess).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------ add, silu_mul

describe('element-wise', () => {
  for (const n of [1, 3, 4, 16, 37, 1000]) {
    it(`add n=${n}`, () => {
      const a = randF32(n, n, -5, 5), b = randF32(n, n + 1, -5, 5);
      const pa = heap.put(a), pb = heap.put(b), o1 = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
      k.add(pa, pb, o1, n);
      k.add_ref(pa, pb, o2, n);
      const want = Float32Array.from(a, (v, i) => fr(v + b[i]));
      expectBitsEqual(heap.f32(o1, n), want, 'add');
      expectBitsEqual(heap.f32(o2, n), want, 'add_ref');
      k.add(pa, pb, pa, n); // in place
      expectBitsEqual(heap.f32(pa, n), want, 'add in place');
    });

    it(`silu_mul n=${n}`, () => {
      const g = randF32(n, n + 2, -30, 30), u = randF32(n, n + 3, -3, 3);
      const specials = [0, -0, 100, -100, 88.5, -88.5, 89, -89, 104, -104, 1e-30, -1e-30, 20, -20, 0.5];
      for (let i = 0; i < Math.min(n, specials.length); i++) g[(i * 7) % n] = specials[i];
      const pg = heap.put(g), pu = heap.put(u), o1 = heap.alloc(n * 4), o2 = heap.alloc(n * 4);
      k.silu_mul(pg, pu, o1, n);
      k.silu_mul_ref(pg, pu, o2, n);
      expectBitsEqual(heap.f32(o1, n), heap.f32(o2, n), 'SIMD vs scalar (same f32 operations)');
      const want = Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]);
      // (exp(-g) overflows f32 for g < -88.72: silu is then 0 instead of ~1e-37)
      expectClose(heap.f32(o2, n), want, (i) => 1e-6 * Math.abs(want[i]) + 1e-35, 'vs float64');
    });
  }
});

describe('exp accuracy (through silu_mul)', () => {
  it('silu(g) is within 4 ulp of float64 for g in [-87, 30] (this is exp(-g) for g << 0)', () => {
    const n = 20000;
    const g = Float32Array.from({ length: n }, (_, i) => -87 + (117 * i) / (n - 1));
    const pg = heap.put(g), pu = heap.put(new Float32Array(n).fill(1)), o = heap.alloc(n * 4);
    k.silu_mul(pg, pu, o, n);
    const got = heap.f32(o, n);
    const want = Array.from(g, (v) => v / (1 + Math.exp(-v)));
    expectClose(got, want, (i) => 4 * 2 ** -24 * Math.abs(want[i]), 'silu');
  });
});

// ------------------------------------------------------------------ run (plans)

describe('run', () => {
  /** A layer-like sequence of ops on one set of buffers; direct calls or a plan. */
  function setup(h: Heap) {
    const dim = 64, nHead = 4, nKv = 2, hd = 16, nTok = 5, pos0 = 3, vocab = 20, hidden = 96;
    const ctx = pos0 + nTok;
    const tok = randF32(vocab * dim, 1, -1, 1);
    const tbytes = new Uint8Array(vocab * (dim / 32) * 34);
    for (let r = 0; r < vocab; r++) tbytes.set(quantizeQ8_0(tok.subarray(r * dim, (r + 1) * dim)), r * (dim / 32) * 34);
    const p = {
      dim, nHead, nKv, hd, nTok, pos0, vocab, hidden, ctx,
      table: putWeights(abi.GGML_Q8_0, tbytes, vocab, dim, 1).ptr,
      ids: h.put(new Int32Array([1, 7, 19, 0, 7])),
      hEmb: h.alloc(nTok * dim * 4),
      norm: h.put(randF32(dim, 2, 0.5, 1.5)),
      xn: h.alloc(nTok * dim * 4),
      act: h.alloc(k.act_bytes(abi.GGML_Q8_0, dim, nTok)),
      actF16: h.alloc(k.act_bytes(abi.GGML_F16, dim, nTok)),
      wq: putWeights(abi.GGML_Q8_0, weightsFor(abi.GGML_Q8_0, dim, dim, 3).bytes, dim, dim, 2).ptr,
      wk: putWeights(abi.GGML_Q4_0, weightsFor(abi.GGML_Q4_0, dim, nKv * hd, 4).bytes, nKv * hd, dim, 3).ptr,
      wup: h.put(weightsFor(abi.GGML_F16, dim, hidden, 5).bytes, 2),
      wgate: h.put(weightsFor(abi.GGML_F32, dim, hidden, 6).bytes),
      q: h.alloc(nTok * dim * 4),
      kc: h.put(randF32(ctx * nKv * hd, 7)),
      vc: h.put(randF32(ctx * nKv * hd, 8)),
      att: h.alloc(nTok * dim * 4),
      scratch: h.alloc(ctx * 4),
      sum: h.alloc(nTok * dim * 4),
      up: h.alloc(nTok * hidden * 4),
      gate: h.alloc(nTok * hidden * 4),
      ffn: h.alloc(nTok * hidden * 4),
      copy: h.alloc(nTok * hidden * 4),
      end: 0,
    };
    p.end = h.alloc(0);
    return p;
  }
  type P = ReturnType<typeof setup>;
  const scale = fr(0.25), eps = fr(1e-5), base = 10000;
  const kRow = (p: P) => p.kc + p.pos0 * p.nKv * p.hd * 4;

  function direct(p: P) {
    k.get_rows(abi.WASMLM_Q8_0R, p.table, p.dim, p.ids, p.nTok, p.hEmb);
    k.rmsnorm(p.hEmb, p.norm, p.xn, p.dim, p.nTok, eps);
    k.prep_act(abi.GGML_Q8_0, p.xn, p.act, p.dim, p.nTok);
    k.matmul(abi.WASMLM_Q8_0R, p.wq, p.act, p.q, p.dim, p.dim, p.nTok, 0, 40);
    k.matmul(abi.WASMLM_Q8_0R, p.wq, p.act, p.q, p.dim, p.dim, p.nTok, 40, p.dim);
    k.matmul(abi.WASMLM_Q4_0R, p.wk, p.act, kRow(p), p.dim, p.nKv * p.hd, p.nTok, 0, p.nKv * p.hd);
    k.rope(p.q, p.nTok, p.nHead, p.hd, p.hd, p.pos0, base, 1, abi.ROPE_NORMAL);
    k.rope(kRow(p), p.nTok, p.nKv, p.hd, p.hd, p.pos0, base, 1, abi.ROPE_NORMAL);
    k.attention(p.q, p.kc, p.vc, p.att, p.nTok, p.pos0, p.nHead, p.nKv, p.hd, scale, p.scratch, 0);
    k.add(p.att, p.hEmb, p.sum, p.nTok * p.dim);
    k.prep_act(abi.GGML_F16, p.sum, p.actF16, p.dim, p.nTok);
    k.matmul(abi.GGML_F16, p.wup, p.actF16, p.up, p.dim, p.hidden, p.nTok, 0, p.hidden);
    k.prep_act(abi.GGML_F32, p.sum, p.sum, p.dim, p.nTok);
    k.matmul(abi.GGML_F32, p.wgate, p.sum, p.gate, p.dim, p.hidden, p.nTok, 0, p.hidden);
    k.silu_mul(p.gate, p.up, p.ffn, p.nTok * p.hidden);
  }

  /** The same sequence written through the plan builder (every argument by its slot name). */
  function plan(p: P): Plan {
    const P = new Plan(new Views(heap.memory), heap.alloc(16 * abi.OP_WORDS * 4), 16, k).reset();
    const q8 = abi.WASMLM_Q8_0R, nKvDim = p.nKv * p.hd;
    P.getRows({ type: q8, table: p.table, rowLen: p.dim, ids: p.ids, nTok: p.nTok, out: p.hEmb });
    P.rmsnorm({ x: p.hEmb, w: p.norm, out: p.xn, n: p.dim, nTok: p.nTok, eps });
    P.prepAct({ type: abi.GGML_Q8_0, x: p.xn, act: p.act, nIn: p.dim, nTok: p.nTok });
    P.matmul({ type: q8, w: p.wq, act: p.act, y: p.q, nIn: p.dim, nOut: p.dim, nTok: p.nTok, r0: 0, r1: 40 });
    P.matmul({ type: q8, w: p.wq, act: p.act, y: p.q, nIn: p.dim, nOut: p.dim, nTok: p.nTok, r0: 40, r1: p.dim });
    P.matmul({ type: abi.WASMLM_Q4_0R, w: p.wk, act: p.act, y: kRow(p), nIn: p.dim, nOut: nKvDim, nTok: p.nTok });
    P.rope({ x: p.q, nTok: p.nTok, nHead: p.nHead, headDim: p.hd, nRot: p.hd, pos0: p.pos0, base, freqScale: 1, mode: abi.ROPE_NORMAL });
    P.rope({ x: kRow(p), nTok: p.nTok, nHead: p.nKv, headDim: p.hd, nRot: p.hd, pos0: p.pos0, base, freqScale: 1, mode: abi.ROPE_NORMAL });
    P.attention({ q: p.q, kc: p.kc, vc: p.vc, out: p.att, nTok: p.nTok, pos0: p.pos0, nHead: p.nHead, nKvHead: p.nKv, headDim: p.hd,
      scale, scratch: p.scratch });
    P.add({ a: p.att, b: p.hEmb, out: p.sum, n: p.nTok * p.dim });
    P.prepAct({ type: abi.GGML_F16, x: p.sum, act: p.actF16, nIn: p.dim, nTok: p.nTok });
    P.matmul({ type: abi.GGML_F16, w: p.wup, act: p.actF16, y: p.up, nIn: p.dim, nOut: p.hidden, nTok: p.nTok });
    P.prepAct({ type: abi.GGML_F32, x: p.sum, act: p.sum, nIn: p.dim, nTok: p.nTok });
    P.matmul({ type: abi.GGML_F32, w: p.wgate, act: p.sum, y: p.gate, nIn: p.dim, nOut: p.hidden, nTok: p.nTok });
    P.siluMul({ gate: p.gate, up: p.up, out: p.ffn, n: p.nTok * p.hidden });
    P.copy({ src: p.ffn, dst: p.copy, nBytes: p.nTok * p.hidden * 4 });
    return P;
  }

  it('a plan of several ops equals calling the kernels directly', () => {
    const a = setup(heap);
    const b = setup(heap);
    const span = a.end - a.table;
    expect(b.table - a.table).toBeGreaterThanOrEqual(span);
    direct(a);
    heap.u8(a.copy, a.nTok * a.hidden * 4).set(heap.u8(a.ffn, a.nTok * a.hidden * 4));
    const P = plan(b);
    expect(P.length).toBe(16);
    k.run(P.ptr, P.length);
    // every output buffer of the two sets matches byte for byte
    const outputs: [keyof P, number][] = [['hEmb', a.nTok * a.dim], ['xn', a.nTok * a.dim], ['q', a.nTok * a.dim],
      ['kc', a.ctx * a.nKv * a.hd], ['att', a.nTok * a.dim], ['sum', a.nTok * a.dim], ['actF16', a.nTok * a.dim],
      ['up', a.nTok * a.hidden], ['gate', a.nTok * a.hidden], ['ffn', a.nTok * a.hidden], ['copy', a.nTok * a.hidden]];
    for (const [name, n] of outputs) expect(heap.bytes(b[name], n * 4), name).toEqual(heap.bytes(a[name], n * 4));
    const actN = k.act_bytes(abi.GGML_Q8_0, a.dim, a.nTok);
    expect(heap.bytes(b.act, actN), 'act').toEqual(heap.bytes(a.act, actN));
    // and the results are not trivial
    const ffn = heap.f32(b.copy, b.nTok * b.hidden);
    expect(ffn.some((v) => v !== 0)).toBe(true);
    expect(ffn.every(Number.isFinite)).toBe(true);
  });

  it('an unknown opcode traps (and the reader rejects it); zero ops does nothing', () => {
    const P = new Plan(new Views(heap.memory), heap.alloc(abi.OP_WORDS * 4), 1, k).reset();
    P.copy({ src: heap.alloc(64), dst: heap.alloc(64), nBytes: 64 });
    heap.i32(P.ptr, 1)[0] = 99; // no builder writes an unknown op: corrupt the written one
    expect(() => k.run(P.ptr, 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => readPlan(heap.i32(0, heap.memory.buffer.byteLength / 4), P.ptr, 1)).toThrow(/unknown op code 99/);
    k.run(P.ptr, 0);
  });
});

// ------------------------------------------------------------------ the plan builder and reader

describe('plan builder (src/engine/plan.ts)', () => {
  const newPlan = (ops: number) => new Plan(new Views(heap.memory), heap.alloc(ops * abi.OP_WORDS * 4), ops, k).reset();
  const i32 = () => heap.i32(0, heap.memory.buffer.byteLength / 4);

  it("derives every op's slots from abi.ts's names: words 1..n, longer op names and argument values left out", () => {
    const slots = (code: number) => OPS.get(code)!.slots.map((s) => s.name);
    expect(slots(abi.OP_ADD)).toEqual(['a', 'b', 'out', 'n']);
    expect(slots(abi.OP_ADD_ROW)).toEqual(['x', 'row', 'out', 'n', 'nTok']);
    expect(slots(abi.OP_COPY)).toEqual(['src', 'dst', 'nBytes']);
    expect(slots(abi.OP_COPY_ROWS)).toEqual(['src', 'srcStride', 'dst', 'dstStride', 'n', 'nRows']);
    expect(slots(abi.OP_GLU)).toEqual(['a', 'b', 'out', 'n', 'nTok', 'aStride', 'bStride', 'act']);
    expect(slots(abi.OP_MATMUL)).toEqual(['type', 'w', 'act', 'y', 'nIn', 'nOut', 'nTok', 'r0', 'r1']);
    expect(OPS.get(abi.OP_ROPE)!.slots.filter((s) => s.f32).map((s) => s.name))
      .toEqual(['base', 'freqScale', 'extFactor', 'attnFactor', 'corrLow', 'corrHigh']);
    const codes = Object.entries(abi).filter(([n]) => n.startsWith('OP_') && n !== 'OP_WORDS').map(([, v]) => v);
    expect([...OPS.keys()].sort((a, b) => a - b)).toEqual(codes.sort((a, b) => a - b));
    for (const op of OPS.values()) {
      expect(op.slots.map((s) => s.word), op.name).toEqual(op.slots.map((_, i) => i + 1));
      expect(op.slots.length, op.name).toBeLessThan(abi.OP_WORDS);
    }
  });

  it('every op: what its Plan method writes into each slot, the reader gives back by the same name', () => {
    const P = newPlan(OPS.size);
    const written: Record<string, number>[] = [];
    for (const op of OPS.values()) {
      // distinct values per slot (f32 slots: fractions, exact in f32); weight types: a real type (act_bytes reads it)
      const args = Object.fromEntries(op.slots.map((s, i) => [s.name,
        /^type/.test(s.name) ? abi.GGML_Q8_0 : s.f32 ? i + 0.5 : 1000 * op.code + i]));
      (P as unknown as Record<string, (a: object) => void>)[op.method]!(args);
      written.push(args);
    }
    expect(P.read().map((o) => o.args)).toEqual(written);
    expect(P.read().map((o) => o.name)).toEqual([...OPS.values()].map((o) => o.name));
  });

  it('the reader gives back every argument by name (f32 slots as floats), unused words zero', () => {
    const P = newPlan(4);
    const heapWords = i32();
    heapWords.fill(0x7eadbeef, P.ptr >>> 2, (P.ptr >>> 2) + 4 * abi.OP_WORDS); // stale words are cleared
    const rope = { x: 64, nTok: 3, nHead: 4, headDim: 16, nRot: 8, pos0: 7, base: 10000, freqScale: 0.25, mode: abi.ROPE_NEOX,
      freqFactors: 128, extFactor: 1, attnFactor: fr(1.1), corrLow: 2, corrHigh: 5.5 };
    const attn = { q: 1, kc: 2, vc: 3, out: 4, nTok: 5, pos0: 6, nHead: 7, nKvHead: 8, headDim: 9, scale: 0.125, scratch: 11,
      window: 12, maxBias: 8, ring: 14, kvType: abi.GGML_Q8_0, softcap: 50 };
    P.rope(rope);
    P.attention(attn);
    P.matmul({ type: abi.WASMLM_Q4_0R, w: 0x80000000, act: 3, y: 4, nIn: 64, nOut: 32, nTok: 2 });
    P.add({ a: 1, b: 2, out: 3, n: 4 });
    const ops = P.read();
    expect(ops.map((o) => [o.code, o.name])).toEqual([[abi.OP_ROPE, 'rope'], [abi.OP_ATTENTION, 'attention'],
      [abi.OP_MATMUL, 'matmul'], [abi.OP_ADD, 'add']]);
    expect(ops[0]!.args).toEqual(rope);
    expect(ops[1]!.args).toEqual(attn);
    // defaults: all rows; pointers above 2 GiB come back as the i32 word
    expect(ops[2]!.args).toEqual({ type: abi.WASMLM_Q4_0R, w: 0x80000000 | 0, act: 3, y: 4, nIn: 64, nOut: 32, nTok: 2, r0: 0, r1: 32 });
    const words = heap.i32(P.opPtr(3), abi.OP_WORDS);
    expect(Array.from(words.subarray(5))).toEqual(new Array(abi.OP_WORDS - 5).fill(0));
    expect(readPlan(heapWords, P.ptr, 4)).toEqual(ops);
  });

  it('keeps a matmul input converted until an op writes over the input or the converted copy', () => {
    const nIn = 64, nTok = 2, rowBytes = nIn * 4;
    const x = heap.alloc(nTok * rowBytes), y = heap.alloc(nTok * rowBytes), act = heap.alloc(k.act_bytes(abi.GGML_Q8_0, nIn, nTok));
    const P = newPlan(32);
    const preps = () => P.read().filter((o) => o.name === 'prep_act').length;
    const use = (type: number, at = x, n = nTok) => P.activations(type, at, nIn, n, act);
    expect(use(abi.GGML_F32)).toBe(x); // f32 weights read x itself
    expect(preps()).toBe(0);
    expect(use(abi.WASMLM_Q8_0R)).toBe(act);
    expect(use(abi.WASMLM_Q4_0R)).toBe(act); // same activation format: converted once
    P.add({ a: y, b: y, out: y, n: nIn * nTok }); // elsewhere
    use(abi.WASMLM_Q8_0R);
    expect(preps()).toBe(1);
    P.add({ a: y, b: y, out: x + rowBytes, n: 1 }); // one float of x's second row
    use(abi.WASMLM_Q8_0R);
    expect(preps()).toBe(2);
    P.copy({ src: y, dst: act + 4, nBytes: 4 }); // over the converted copy
    use(abi.WASMLM_Q8_0R);
    expect(preps()).toBe(3);
    use(abi.GGML_F16); // another format
    expect(preps()).toBe(4);
    use(abi.GGML_F16, x, 1); // fewer rows
    use(abi.GGML_F16, y); // another input
    expect(preps()).toBe(6);
    P.add({ a: x, b: x, out: y - 64, n: 16 }); // the 64 bytes right before y
    use(abi.GGML_F16, y);
    expect(preps()).toBe(6);
    P.reset(); // a new plan starts with nothing converted
    use(abi.GGML_F16, y);
    expect(preps()).toBe(1);
  });

  it('refuses an op past its capacity', () => {
    const P = newPlan(1);
    P.add({ a: 0, b: 0, out: 0, n: 0 });
    expect(() => P.add({ a: 0, b: 0, out: 0, n: 0 })).toThrow(/plan overflow/);
  });
});
