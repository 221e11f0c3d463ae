/**
 * Kernels for BF16, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights:
 *   - get_rows equals src/formats/quantize.ts `dequantize` (bit-exact with gguf-py) exactly;
 *   - prep_act equals prep_act_ref byte for byte, and both equal this file's emulation of the reference
 *     engine's activation quantization (Q8_0 / Q8_1 / Q8_K / bf16);
 *   - matmul (SIMD) equals matmul_ref (scalar twin) bit for bit for the quantized types (they do the same
 *     integer sums and the same f32 steps), and both are within f32 rounding of an independent float64
 *     reference built from `dequantize`d weights and the emulated activations;
 *   - a token's result does not depend on how many tokens share the call (bit for bit).
 * Weights: the reference quantizers (Q4_1/Q5_0/Q5_1), random bytes with finite fp16 scales (K-quants), and
 * real K-quant tensors from the fixtures. Runs on build/wasmlm.wasm, and on build/wasmlm.relaxed.wasm when
 * this runtime has relaxed SIMD (Node ≥ 22, Deno, browsers).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import * as abi from '../src/abi.js';
import { relaxedSimdSupported, selectKernelModule, selfTestKernels, type SelfTestExports } from '../src/engine/wasm.js';
import { readGGUF } from '../src/formats/gguf.js';
import { bf16ToF32, dequantize, f16ToF32, f32ToBF16, f32ToF16, quantizeTensor } from '../src/formats/quantize.js';
import { fixture } from './helpers/fixtures.js';
import { type Heap, type Kernels, loadKernels, RELAXED_WASM_PATH, WASM_PATH } from './helpers/wasm.js';
import { rng, randF32, roundHalfEven, expectClose, expectBitsEqual, fr } from './helpers/numeric.js';

// ------------------------------------------------------------------ helpers

const f16round = (x: number) => f16ToF32(f32ToF16(x));

const T = abi;
const NAME: Record<number, string> = {
  [T.GGML_BF16]: 'BF16', [T.GGML_Q4_1]: 'Q4_1', [T.GGML_Q5_0]: 'Q5_0', [T.GGML_Q5_1]: 'Q5_1',
  [T.GGML_Q2_K]: 'Q2_K', [T.GGML_Q3_K]: 'Q3_K', [T.GGML_Q4_K]: 'Q4_K', [T.GGML_Q5_K]: 'Q5_K', [T.GGML_Q6_K]: 'Q6_K',
};
const LEGACY = [T.GGML_Q4_1, T.GGML_Q5_0, T.GGML_Q5_1];
const KQUANTS = [T.GGML_Q2_K, T.GGML_Q3_K, T.GGML_Q4_K, T.GGML_Q5_K, T.GGML_Q6_K];
const TYPES = [T.GGML_BF16, ...LEGACY, ...KQUANTS];
const BLOCK: Record<number, [number, number]> = { // [values, bytes] per block
  [T.GGML_BF16]: [1, 2], [T.GGML_Q4_1]: [32, 20], [T.GGML_Q5_0]: [32, 22], [T.GGML_Q5_1]: [32, 24],
  [T.GGML_Q2_K]: [256, 84], [T.GGML_Q3_K]: [256, 110], [T.GGML_Q4_K]: [256, 144], [T.GGML_Q5_K]: [256, 176],
  [T.GGML_Q6_K]: [256, 210],
};
// byte offsets of the fp16 scale fields: d (the per-quant scale) and m/dmin (the offset), -1 if none
const D_FIELDS: Record<number, { d: number; m: number }> = {
  [T.GGML_Q4_1]: { d: 0, m: 2 }, [T.GGML_Q5_0]: { d: 0, m: -1 }, [T.GGML_Q5_1]: { d: 0, m: 2 },
  [T.GGML_Q2_K]: { d: 80, m: 82 }, [T.GGML_Q3_K]: { d: 108, m: -1 }, [T.GGML_Q4_K]: { d: 0, m: 2 },
  [T.GGML_Q5_K]: { d: 0, m: 2 }, [T.GGML_Q6_K]: { d: 208, m: -1 },
};
const isQuant = (type: number) => type !== T.GGML_BF16;
const actKind = (type: number) => type === T.GGML_BF16 ? 'bf16'
  : type === T.GGML_Q5_0 ? 'q8_0' : LEGACY.includes(type) ? 'q8_1' : 'q8_k';
const rowBytes = (type: number, n: number) => (n / BLOCK[type]![0]) * BLOCK[type]![1];

/** a copy of quantized bytes with one fp16 field of every block set to zero */
function zeroField(type: number, bytes: Uint8Array, field: 'd' | 'm'): Uint8Array {
  const out = bytes.slice();
  const off = D_FIELDS[type]![field];
  const bs = BLOCK[type]![1];
  if (off >= 0) for (let b = 0; b < out.length / bs; b++) { out[b * bs + off] = 0; out[b * bs + off + 1] = 0; }
  return out;
}

// ------------------------------------------------------------------ weights

/** a random finite fp16 in ±[lo, hi) */
function randHalf(r: () => number, lo: number, hi: number, signed = false): number {
  const v = lo * (hi / lo) ** r();
  return f32ToF16(signed && r() < 0.5 ? -v : v);
}

/** random K-quant blocks: every bit of scales and quants random, d/dmin finite fp16 in realistic ranges;
 *  block 1 of each row has d = 0, block 2 a subnormal d */
function randomKBlocks(type: number, nBlocks: number, seed: number): Uint8Array {
  const r = rng(seed);
  const bs = BLOCK[type]![1];
  const out = new Uint8Array(nBlocks * bs);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
  const dv = new DataView(out.buffer);
  const f = D_FIELDS[type]!;
  for (let b = 0; b < nBlocks; b++) {
    dv.setUint16(b * bs + f.d, randHalf(r, 1e-4, 3e-2, type === T.GGML_Q6_K || type === T.GGML_Q3_K), true);
    if (f.m >= 0) dv.setUint16(b * bs + f.m, randHalf(r, 1e-4, 3e-2), true);
    if (b % 7 === 1) dv.setUint16(b * bs + f.d, 0, true);
    if (b % 7 === 2) dv.setUint16(b * bs + f.d, 0x0003, true); // subnormal half
  }
  return out;
}

function makeWeights(type: number, nIn: number, nOut: number, seed: number): Uint8Array {
  if (KQUANTS.includes(type)) return randomKBlocks(type, (nIn / 256) * nOut, seed);
  const src = randF32(nIn * nOut, seed, -1, 1);
  if (type === T.GGML_BF16) {
    // some bf16 subnormals, zeros and large values among the weights
    for (let i = 3; i < src.length; i += 53) src[i] = (i & 1 ? -1 : 1) * 2 ** -130 * (1 + (i % 7));
    for (let i = 11; i < src.length; i += 97) src[i] = 0;
    for (let i = 29; i < src.length; i += 89) src[i] = (i & 1 ? -3e5 : 3e5);
    return quantizeTensor(type, src);
  }
  // special blocks: all zero (d = 0), tiny (subnormal fp16 d), one large value
  if (src.length >= 128) { src.fill(0, 32, 64); for (let j = 64; j < 96; j++) src[j] *= 1e-5; src[100] = 40; }
  return quantizeTensor(type, src);
}

// real K-quant tensors from the fixtures (read once)
const REAL: Map<number, { bytes: Uint8Array; nIn: number; nOut: number }> = new Map();
async function realTensor(type: number): Promise<{ bytes: Uint8Array; nIn: number; nOut: number }> {
  const hit = REAL.get(type);
  if (hit) return hit;
  const file = { [T.GGML_Q2_K]: 'q2_k', [T.GGML_Q3_K]: 'q3_k', [T.GGML_Q4_K]: 'q4_k', [T.GGML_Q5_K]: 'q5_k',
    [T.GGML_Q6_K]: 'q6_k' }[type]!;
  const path = fixture(`models/llama256_${file}.gguf`);
  const h = await readGGUF(path);
  const t = h.tensors.find((x) => x.name === 'blk.0.ffn_up.weight')!;
  expect(t.type).toBe(type);
  const all = readFileSync(path);
  const v = { bytes: new Uint8Array(all.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes)), nIn: t.ne[0]!, nOut: t.ne[1]! };
  REAL.set(type, v);
  return v;
}

// ------------------------------------------------------------------ the reference's activation quantization

interface Act { q: number[]; d: number[]; s?: number[]; bsums?: number[] }

function emulateAct(kind: string, x: Float32Array): Act {
  if (kind === 'q8_0' || kind === 'q8_1') {
    const a: Act = { q: [], d: [], s: kind === 'q8_1' ? [] : undefined };
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      const d = fr(amax / 127);
      const id = amax ? fr(127 / amax) : 0;
      a.d.push(f16round(d));
      let sum = 0;
      for (let j = 0; j < 32; j++) { const q = roundHalfEven(fr(x[b * 32 + j]! * id)); a.q.push(q); sum += q; }
      a.s?.push(f16round(fr(d * sum)));
    }
    return a;
  }
  // q8_k: quantize_row_q8_K_ref
  const a: Act = { q: [], d: [], bsums: [] };
  for (let b = 0; b < x.length / 256; b++) {
    let amax = 0, max = 0;
    for (let j = 0; j < 256; j++) { const v = x[b * 256 + j]!; if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; } }
    if (!amax) { a.d.push(0); for (let j = 0; j < 256; j++) a.q.push(0); for (let g = 0; g < 16; g++) a.bsums!.push(0); continue; }
    const iscale = fr(-127 / max);
    for (let j = 0; j < 256; j++) a.q.push(Math.min(127, roundHalfEven(fr(iscale * x[b * 256 + j]!))));
    for (let g = 0; g < 16; g++) { let s = 0; for (let j = 0; j < 16; j++) s += a.q[b * 256 + g * 16 + j]!; a.bsums!.push(s); }
    a.d.push(fr(1 / iscale));
  }
  return a;
}

/** reads the act planes written by prep_act (layout of src: assembly/weights/act.ts) */
function readAct(k: Kernels, heap: Heap, kind: string, type: number, p: number, nIn: number, nTok: number, t: number): Act {
  const wideQ = kind === 'q8_0' || k.act_bytes(type, nIn, 1) > nIn + (kind === 'q8_1' ? (nIn / 32) * 8 : (nIn / 256) * 4 + (nIn / 16) * 2);
  const qsz = wideQ ? 2 : 1;
  const q = wideQ ? new Int16Array(heap.memory.buffer, p + t * nIn * 2, nIn) : new Int8Array(heap.memory.buffer, p + t * nIn, nIn);
  const base = p + nTok * nIn * qsz;
  if (kind === 'q8_0' || kind === 'q8_1') {
    const nb = nIn / 32;
    const a: Act = { q: Array.from(q), d: Array.from(heap.f32(base + t * nb * 4, nb)) };
    if (kind === 'q8_1') a.s = Array.from(heap.f32(base + nTok * nb * 4 + t * nb * 4, nb));
    return a;
  }
  const ns = nIn / 256;
  return {
    q: Array.from(q), d: Array.from(heap.f32(base + t * ns * 4, ns)),
    bsums: Array.from(new Int16Array(heap.memory.buffer, base + nTok * ns * 4 + t * (nIn / 16) * 2, nIn / 16)),
  };
}

/** float64 y = W·act and Σ|terms| per output, from dequantized weights and the emulated act */
function reference(type: number, w: Uint8Array, x: Float32Array, nIn: number, nOut: number, nTok: number): { y: number[]; mag: number[] } {
  const rb = rowBytes(type, nIn);
  const kind = actKind(type);
  const y: number[] = [], mag: number[] = [];
  const hasM = isQuant(type) && D_FIELDS[type]!.m >= 0;
  const wAll = dequantize(type, w, nIn * nOut);
  const wD = isQuant(type) ? dequantize(type, zeroField(type, w, 'm'), nIn * nOut) : wAll;  // d·q part
  const wM = hasM ? dequantize(type, zeroField(type, w, 'd'), nIn * nOut) : null;          // the offset part
  for (let t = 0; t < nTok; t++) {
    const xt = x.subarray(t * nIn, (t + 1) * nIn);
    const a = kind === 'bf16' ? null : emulateAct(kind, xt);
    const av = (i: number) => a ? a.d[kind === 'q8_k' ? i >> 8 : i >> 5]! * a.q[i]! : bf16ToF32(f32ToBF16(xt[i]!));
    for (let o = 0; o < nOut; o++) {
      let s = 0, m = 0;
      for (let i = 0; i < nIn; i++) {
        const wi = wAll[o * nIn + i]!, ai = av(i);
        s += wi * ai;
        m += (Math.abs(wD[o * nIn + i]!) + (wM ? Math.abs(wM[o * nIn + i]!) : 0)) * Math.abs(ai);
      }
      if (kind === 'q8_1') {
        // the reference uses m·s with s = fp16(d·Σq) instead of m·d_a·Σq
        for (let b = 0; b < nIn / 32; b++) {
          const mb = wM![o * nIn + b * 32]!;
          let sq = 0;
          for (let j = 0; j < 32; j++) sq += a!.q[b * 32 + j]!;
          s += mb * a!.s![b]! - mb * a!.d[b]! * sq;
          m += Math.abs(mb * a!.s![b]!);
        }
      }
      y.push(s);
      mag.push(m);
    }
  }
  void rb;
  return { y, mag };
}

const SENTINEL = 7777.5;

// ------------------------------------------------------------------ the suite, for one build

function suite(label: string, path: string): void {
  const { k, heap } = loadKernels(2048, path); // 128 MiB

  function runMatmul(type: number, w: Uint8Array, x: Float32Array, nIn: number, nOut: number, nTok: number, r0: number, r1: number) {
    heap.reset();
    const wp = heap.put(w, 1); // odd address: unaligned weight loads
    const xp = heap.put(x);
    const n = k.act_bytes(type, nIn, nTok);
    const act = heap.alloc(n), actRef = heap.alloc(n);
    k.prep_act(type, xp, act, nIn, nTok);
    k.prep_act_ref(type, xp, actRef, nIn, nTok);
    const ys = heap.alloc(nOut * nTok * 4), yr = heap.alloc(nOut * nTok * 4);
    heap.f32(ys, nOut * nTok).fill(SENTINEL);
    heap.f32(yr, nOut * nTok).fill(SENTINEL);
    k.matmul(type, wp, act, ys, nIn, nOut, nTok, r0, r1);
    k.matmul_ref(type, wp, actRef, yr, nIn, nOut, nTok, r0, r1);
    return {
      act: heap.bytes(act, n), actRef: heap.bytes(actRef, n),
      ySimd: heap.f32(ys, nOut * nTok).slice(), yRef: heap.f32(yr, nOut * nTok).slice(),
    };
  }

  function checkMatmul(type: number, w: Uint8Array, x: Float32Array, nIn: number, nOut: number, nTok: number, r0: number, r1: number): void {
    const res = runMatmul(type, w, x, nIn, nOut, nTok, r0, r1);
    expect(res.act, 'prep_act == prep_act_ref').toEqual(res.actRef);
    const inRange = (i: number) => { const o = i % nOut; return o >= r0 && o < r1; };
    for (let i = 0; i < nOut * nTok; i++) {
      if (!inRange(i)) {
        expect(res.ySimd[i], `SIMD wrote row ${i % nOut} outside [r0, r1)`).toBe(SENTINEL);
        expect(res.yRef[i], `scalar wrote row ${i % nOut} outside [r0, r1)`).toBe(SENTINEL);
      }
    }
    const { y, mag } = reference(type, w, x, nIn, nOut, nTok);
    const sel = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => inRange(i));
    const magSel = sel(mag);
    if (isQuant(type)) {
      // same integer sums and the same f32 steps in the same order
      expectBitsEqual(new Float32Array(sel(res.ySimd)), new Float32Array(sel(res.yRef)), 'SIMD vs scalar');
    } else {
      expectClose(sel(res.ySimd), sel(res.yRef), (i) => 1e-6 * magSel[i]! + 1e-30, 'SIMD vs scalar');
    }
    const blocks = isQuant(type) ? nIn / BLOCK[type]![0] : nIn;
    const tol = (i: number) => 2e-6 * Math.sqrt(blocks + 1) * magSel[i]! + 1e-30;
    expectClose(sel(res.yRef), sel(y), tol, 'scalar vs float64 reference');
    expectClose(sel(res.ySimd), sel(y), tol, 'SIMD vs float64 reference');
  }

  describe(`${label}: get_rows`, () => {
    for (const type of TYPES) {
      it(`${NAME[type]}: equals dequantize exactly`, async () => {
        heap.reset();
        const rowLen = KQUANTS.includes(type) ? 768 : type === T.GGML_BF16 ? 100 : 96;
        const nRows = 9;
        const bytes = makeWeights(type, rowLen, nRows, 5 + type);
        const table = heap.put(bytes, 3);
        const idList = [3, 0, 8, 3, 7, 1, 2];
        const ids = heap.put(new Int32Array(idList));
        const out = heap.alloc(idList.length * rowLen * 4);
        k.get_rows(type, table, rowLen, ids, idList.length, out);
        const want = dequantize(type, bytes, rowLen * nRows);
        const got = heap.f32(out, idList.length * rowLen).slice();
        const exp = new Float32Array(idList.flatMap((id) => Array.from(want.subarray(id * rowLen, (id + 1) * rowLen))));
        expectBitsEqual(got, exp, `${NAME[type]} get_rows`);
        if (KQUANTS.includes(type)) {
          const real = await realTensor(type);
          heap.reset();
          const tp = heap.put(real.bytes, 1);
          const ids2 = heap.put(new Int32Array([0, 17, real.nOut - 1]));
          const o2 = heap.alloc(3 * real.nIn * 4);
          k.get_rows(type, tp, real.nIn, ids2, 3, o2);
          const all = dequantize(type, real.bytes, real.nIn * real.nOut);
          const e2 = new Float32Array([0, 17, real.nOut - 1].flatMap((id) => Array.from(all.subarray(id * real.nIn, (id + 1) * real.nIn))));
          expectBitsEqual(heap.f32(o2, 3 * real.nIn).slice(), e2, `${NAME[type]} get_rows (fixture tensor)`);
        }
      });
    }
  });

  describe(`${label}: prep_act`, () => {
    it('act_bytes', () => {
      const qa = k.act_bytes(T.GGML_Q4_K, 256, 1) === 256 * 2 + 4 + 32 ? 2 : 1;
      expect(k.act_bytes(T.GGML_Q4_K, 256, 1)).toBe(256 * qa + 4 + 32);
      expect(k.act_bytes(T.GGML_BF16, 100, 3)).toBe(1200);
      expect(k.act_bytes(T.GGML_Q5_0, 96, 3)).toBe(k.act_bytes(T.GGML_Q8_0, 96, 3));
      expect(k.act_bytes(T.GGML_Q4_1, 96, 3)).toBe(3 * 96 * qa + 3 * 3 * 8);
      expect(k.act_bytes(T.GGML_Q5_1, 96, 3)).toBe(k.act_bytes(T.GGML_Q4_1, 96, 3));
      for (const type of KQUANTS) expect(k.act_bytes(type, 768, 5)).toBe(5 * (768 * qa + 3 * 4 + 48 * 2));
      expect(k.act_bytes(T.GGML_Q8_K, 256, 1)).toBe(0);
      expect(k.act_bytes(T.GGML_Q8_1, 32, 1)).toBe(0);
    });

    for (const type of [T.GGML_BF16, T.GGML_Q4_1, T.GGML_Q5_0, T.GGML_Q4_K]) {
      const kind = actKind(type);
      it(`${kind}: equals the emulated reference exactly (edge blocks: zero, ±max ties, halves, tiny)`, () => {
        heap.reset();
        const nIn = kind === 'q8_k' ? 768 : 96, nTok = 5;
        const x = randF32(nIn * nTok, 11 + type, -4, 4);
        if (kind === 'q8_k') {
          x.fill(0, 0, 256);                                           // token 0 block 0: all zero
          for (let j = 256; j < 512; j++) x[j]! *= 0.5;
          x[256 + 10] = -3; x[256 + 200] = 3;                          // block 1: ±max tie, the first (−3) wins
          for (let j = 0; j < 256; j++) x[512 + j] = (j - 128) * 0.5;  // block 2: exact halves
          x[512 + 5] = -127;                                           // iscale = 1
          x[nIn + 7] = 1e-30;
          x[2 * nIn + 300] = 7; x[2 * nIn + 301] = -7;                 // token 2: tie, + first
          x[3 * nIn + 3] = NaN;                                        // token 3: a NaN is skipped by the max
        } else if (kind !== 'bf16') {
          for (let j = 0; j < 32; j++) { x[j] = 0; x[32 + j] = j === 7 ? -100 : j * 1e-3; x[64 + j] = (j - 16) * 0.5; }
          x[64 + 31] = 127;
          x[nIn + 5] = 1e-30;
        } else {
          const special = [0, -0, 2 ** -130, -(2 ** -133), 3.4e38, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, Infinity, -Infinity];
          special.forEach((v, i) => { x[i * 7] = v; });
        }
        const xp = heap.put(x);
        const n = k.act_bytes(type, nIn, nTok);
        const a = heap.alloc(n), b = heap.alloc(n), inPlace = kind === 'bf16' ? heap.put(x) : 0;
        k.prep_act(type, xp, a, nIn, nTok);
        k.prep_act_ref(type, xp, b, nIn, nTok);
        expect(heap.bytes(a, n)).toEqual(heap.bytes(b, n));
        if (kind === 'bf16') {
          k.prep_act(type, inPlace, inPlace, nIn, nTok);
          expect(heap.bytes(inPlace, n)).toEqual(heap.bytes(b, n));
          const got = heap.f32(b, nIn * nTok);
          for (let i = 0; i < nIn * nTok; i++) {
            const want = bf16ToF32(f32ToBF16(x[i]!));
            if (!Object.is(got[i], want)) expect.fail(`bf16 round of ${x[i]}: ${got[i]}, want ${want}`);
          }
          return;
        }
        for (let t = 0; t < nTok; t++) {
          if (kind === 'q8_k' && t === 3) continue; // NaN row: only SIMD == scalar is meaningful
          const e = emulateAct(kind, x.subarray(t * nIn, (t + 1) * nIn));
          const g = readAct(k, heap, kind, type, b, nIn, nTok, t);
          expect(g.q, `q t=${t}`).toEqual(e.q);
          expect(g.d, `d t=${t}`).toEqual(e.d);
          if (e.s) expect(g.s, `s t=${t}`).toEqual(e.s);
          if (e.bsums) expect(g.bsums, `bsums t=${t}`).toEqual(e.bsums);
        }
        if (kind === 'q8_k') {
          const g0 = readAct(k, heap, kind, type, b, nIn, nTok, 0);
          expect(g0.d[1]).toBe(fr(1 / fr(-127 / -3)));  // the tie: max = −3 (first)
          expect(g0.q[256 + 10]).toBe(-127);
          expect(g0.q[256 + 200]).toBe(127);
          expect(g0.q[512 + 5]).toBe(-127);
          expect(g0.q.slice(512 + 126, 512 + 134)).toEqual([-1, 0, 0, 0, 1, 2, 2, 2]); // (j−128)/2, ties to even
          const g2 = readAct(k, heap, kind, type, b, nIn, nTok, 2);
          expect(g2.d[1]).toBe(fr(1 / fr(-127 / 7)));
        }
      });
    }
  });

  describe(`${label}: matmul`, () => {
    interface Case { type: number; nIn: number; nOut: number; nTok: number; r0: number; r1: number }
    const cases: Case[] = [];
    for (const type of TYPES) {
      const sizes = KQUANTS.includes(type) ? [256, 768] : type === T.GGML_BF16 ? [7, 100, 256] : [32, 96];
      for (const nIn of sizes) {
        for (const nTok of [1, 3, 5]) {
          cases.push({ type, nIn, nOut: 13, nTok, r0: 0, r1: 13 });
          cases.push({ type, nIn, nOut: 13, nTok, r0: 3, r1: 10 });
        }
      }
      // long rows and more rows than one row block of the tiled driver
      const big = KQUANTS.includes(type) ? 4096 : 4096 + 32 * 3;
      cases.push({ type, nIn: big, nOut: 41, nTok: 1, r0: 0, r1: 41 });
      cases.push({ type, nIn: big, nOut: 41, nTok: 6, r0: 2, r1: 39 });
    }
    for (const c of cases) {
      it(`${NAME[c.type]} nIn=${c.nIn} nOut=${c.nOut} nTok=${c.nTok} rows [${c.r0}, ${c.r1})`, () => {
        const seed = c.type * 1000 + c.nIn * 7 + c.nTok * 3 + c.r0;
        const w = makeWeights(c.type, c.nIn, c.nOut, seed);
        const x = randF32(c.nIn * c.nTok, seed + 1000, -3, 3);
        checkMatmul(c.type, w, x, c.nIn, c.nOut, c.nTok, c.r0, c.r1);
      });
    }

    for (const type of KQUANTS) {
      it(`${NAME[type]}: a real tensor from the fixtures (blk.0.ffn_up), 5 tokens`, async () => {
        const t = await realTensor(type);
        const x = randF32(t.nIn * 5, 77 + type, -2, 2);
        checkMatmul(type, t.bytes, x, t.nIn, t.nOut, 5, 0, t.nOut);
      });
    }

    // nTok 6 and 7: tiles of 4 tokens, then a tile of 2 (its own kernels) or of 3; 224 = 7 blocks of 32 (a group
    // of 4 and a tail of 3 in the Q8_0/Q4_0 kernels)
    for (const type of TYPES) for (const nTok of [6, 7]) {
      it(`${NAME[type]}: a token's result does not depend on nTok (batch of ${nTok} vs one token at a time)`, () => {
        heap.reset();
        const nIn = KQUANTS.includes(type) ? 512 : type === T.GGML_BF16 ? 101 : 224;
        const nOut = 11;
        const w = makeWeights(type, nIn, nOut, 21);
        const x = randF32(nIn * nTok, 22, -3, 3);
        const wp = heap.put(w, 1), xp = heap.put(x);
        const act = heap.alloc(k.act_bytes(type, nIn, nTok));
        k.prep_act(type, xp, act, nIn, nTok);
        const yb = heap.alloc(nOut * nTok * 4);
        k.matmul(type, wp, act, yb, nIn, nOut, nTok, 0, nOut);
        const batch = heap.f32(yb, nOut * nTok).slice();
        const single = new Float32Array(nOut * nTok);
        const act1 = heap.alloc(k.act_bytes(type, nIn, 1)), y1 = heap.alloc(nOut * 4);
        for (let t = 0; t < nTok; t++) {
          k.prep_act(type, xp + t * nIn * 4, act1, nIn, 1);
          k.matmul(type, wp, act1, y1, nIn, nOut, 1, 0, nOut);
          single.set(heap.f32(y1, nOut), t * nOut);
        }
        expectBitsEqual(single, batch, NAME[type]!);
      });
    }

    it('the tolerances can fail: plain f32 math on dequantized weights is rejected', () => {
      for (const type of [T.GGML_Q4_1, T.GGML_Q4_K, T.GGML_Q6_K]) {
        const nIn = type === T.GGML_Q4_1 ? 96 : 512, nOut = 13, nTok = 3;
        const w = makeWeights(type, nIn, nOut, 99);
        const x = randF32(nIn * nTok, 98, -3, 3);
        const res = runMatmul(type, w, x, nIn, nOut, nTok, 0, nOut);
        const { mag } = reference(type, w, x, nIn, nOut, nTok);
        const wf = dequantize(type, w, nIn * nOut);
        let excess = -Infinity;
        for (let t = 0; t < nTok; t++) {
          for (let o = 0; o < nOut; o++) {
            let s = 0;
            for (let i = 0; i < nIn; i++) s += wf[o * nIn + i]! * x[t * nIn + i]!;
            const i = t * nOut + o;
            excess = Math.max(excess, Math.abs(res.yRef[i]! - s) - 2e-6 * Math.sqrt(nIn / 32 + 1) * mag[i]!);
          }
        }
        expect(excess, NAME[type]).toBeGreaterThan(0);
      }
    });
  });

  it(`${label}: unsupported weight types trap`, () => {
    heap.reset();
    const p = heap.alloc(4096);
    for (const type of [T.GGML_Q8_1, T.GGML_Q8_K, 16, 20, 23]) {
      expect(() => k.matmul(type, p, p, p, 256, 1, 1, 0, 1)).toThrow(WebAssembly.RuntimeError);
      expect(() => k.matmul_ref(type, p, p, p, 256, 1, 1, 0, 1)).toThrow(WebAssembly.RuntimeError);
      expect(() => k.prep_act(type, p, p, 256, 1)).toThrow(WebAssembly.RuntimeError);
      expect(() => k.get_rows(type, p, 256, p, 1, p)).toThrow(WebAssembly.RuntimeError);
      expect(k.act_bytes(type, 256, 1)).toBe(0);
    }
  });
}

suite('simd', WASM_PATH);

let relaxedHere = false;
try { relaxedHere = WebAssembly.validate(readFileSync(RELAXED_WASM_PATH)); } catch { /* not built */ }
if (relaxedHere) suite('relaxed-simd', RELAXED_WASM_PATH);

// ------------------------------------------------------------------ which build loads

describe('kernel build selection (src/engine/wasm.ts)', () => {
  const plainBytes = readFileSync(WASM_PATH);
  const relaxedBytes = readFileSync(RELAXED_WASM_PATH);

  it('the relaxed build uses relaxed SIMD, the plain build does not; kernel_variant() says which', () => {
    expect(relaxedSimdSupported()).toBe(WebAssembly.validate(relaxedBytes));
    expect(WebAssembly.validate(plainBytes)).toBe(true);
    const { k } = loadKernels(16);
    expect(k.kernel_variant()).toBe(0);
  });

  it('the self-test passes on correct kernels and fails on wrong ones', () => {
    const { k, memory } = loadKernels(16);
    expect(selfTestKernels(k as unknown as SelfTestExports, memory)).toBe(true);
    // a kernel that is off by one in one output, or ignores its accumulator, is rejected
    const offByOne: SelfTestExports = {
      act_bytes: (...a) => k.act_bytes(...a),
      repack: (...a) => k.repack(...a),
      prep_act: (...a) => k.prep_act(...a),
      matmul: (type, w, act, y, nIn, nOut, nTok, r0, r1) => {
        k.matmul(type, w, act, y, nIn, nOut, nTok, r0, r1);
        if (type === T.GGML_Q4_1) new Float32Array(memory.buffer, y, nOut * nTok)[7]! += 1;
      },
    };
    expect(selfTestKernels(offByOne, memory)).toBe(false);
    const doubled: SelfTestExports = { ...offByOne, matmul: (type, w, act, y, nIn, nOut, nTok, r0, r1) => {
      k.matmul(type, w, act, y, nIn, nOut, nTok, r0, r1);
      const v = new Float32Array(memory.buffer, y, nOut * nTok);
      if (type === T.GGML_Q4_K) for (let i = 0; i < v.length; i++) v[i]! *= 2;
    } };
    expect(selfTestKernels(doubled, memory)).toBe(false);
    // Q8_0 and Q4_0 run repacked (the layout code the engine's loads give them), and a wrong one is rejected
    const types: number[] = [];
    const recorded: SelfTestExports = { ...offByOne, matmul: (type, ...rest) => { types.push(type); k.matmul(type, ...rest); } };
    expect(selfTestKernels(recorded, memory)).toBe(true);
    expect(types).toEqual([T.GGML_Q4_K, T.GGML_Q4_1, T.GGML_Q4_0 | abi.REPACKED, T.GGML_Q8_0 | abi.REPACKED]);
    for (const bad of [T.GGML_Q4_0, T.GGML_Q8_0]) {
      const wrong: SelfTestExports = { ...offByOne, matmul: (type, w, act, y, nIn, nOut, nTok, r0, r1) => {
        k.matmul(type, w, act, y, nIn, nOut, nTok, r0, r1);
        if (type === (bad | abi.REPACKED)) new Float32Array(memory.buffer, y, nOut * nTok)[14]! -= 1;
      } };
      expect(selfTestKernels(wrong, memory)).toBe(false);
    }
  });

  it('in this runtime: plain SIMD unless relaxed SIMD validates and passes the self-test', async () => {
    const loaded: string[] = [];
    const load = async (v: string) => { loaded.push(v); return WebAssembly.compile(v === 'simd' ? plainBytes : relaxedBytes); };
    const choice = await selectKernelModule({ load });
    if (!relaxedSimdSupported()) {
      // Node 20 without flags: the relaxed build is not even loaded
      expect(choice.variant).toBe('simd');
      expect(loaded).toEqual(['simd']);
    } else {
      expect(choice.variant).toBe('relaxed-simd');
    }
    // a failing self-test or a missing relaxed build falls back to plain SIMD
    expect((await selectKernelModule({ load, selfTest: async () => false })).variant).toBe('simd');
    const missing = await selectKernelModule({
      load: async (v) => { if (v !== 'simd') throw new Error('404'); return WebAssembly.compile(plainBytes); },
    });
    expect(missing.variant).toBe('simd');
  });

  // the real selection code in other engines / with engine flags, in child processes
  const dir = mkdtempSync(join(tmpdir(), 'wasmlm-select-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const src = fileURLToPath(new URL('../src/', import.meta.url));
  for (const f of ['engine/wasm.ts', 'abi.ts', 'errors.ts']) {
    const out = ts.transpileModule(readFileSync(join(src, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f.replace(/\.ts$/, '.js')), out);
  }
  const script = join(dir, 'select.mjs');
  writeFileSync(script, `
    const wasm = await import(${JSON.stringify('file://' + join(dir, 'engine/wasm.js'))});
    const read = (p) => typeof Deno !== 'undefined' ? Deno.readFileSync(p) : process.getBuiltinModule('node:fs').readFileSync(p);
    const paths = { simd: ${JSON.stringify(WASM_PATH)}, 'relaxed-simd': ${JSON.stringify(RELAXED_WASM_PATH)} };
    const loaded = [];
    const choice = await wasm.selectKernelModule({ load: async (v) => { loaded.push(v); return WebAssembly.compile(read(paths[v])); } });
    const supported = wasm.relaxedSimdSupported();
    const selfTest = supported ? await wasm.relaxedSelfTest(await WebAssembly.compile(read(paths['relaxed-simd']))) : null;
    // the chosen build computes what the plain one computes (K-quant matmuls are exact: bit for bit)
    async function run(module) {
      const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536 });
      const k = (await WebAssembly.instantiate(module, { env: { memory } })).exports;
      const nIn = 768, nOut = 37, nTok = 6, bytes = new Uint8Array(memory.buffer);
      let s = 12345; const r = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
      const W = 65536, X = W + 3 * 144 * nOut + 64, A = X + nIn * nTok * 4, Y = A + k.act_bytes(12, nIn, nTok);
      for (let i = 0; i < 3 * 144 * nOut; i++) bytes[W + i] = (r() * 256) | 0;
      for (let b = 0; b < 3 * nOut; b++) { bytes[W + b * 144 + 1] = 0x1c; bytes[W + b * 144 + 3] = 0x1c; } // finite d, dmin
      const x = new Float32Array(memory.buffer, X, nIn * nTok);
      for (let i = 0; i < x.length; i++) x[i] = r() * 4 - 2;
      k.prep_act(12, X, A, nIn, nTok);
      k.matmul(12, W, A, Y, nIn, nOut, nTok, 0, nOut);
      return { y: Array.from(new Uint32Array(memory.buffer, Y, nOut * nTok)), variant: k.kernel_variant() };
    }
    const chosen = await run(choice.module), plain = await run(await WebAssembly.compile(read(paths.simd)));
    const same = chosen.y.every((v, i) => v === plain.y[i]);
    console.log(JSON.stringify({ supported, selfTest, variant: choice.variant, moduleVariant: chosen.variant, loaded, same }));
  `);
  const runChild = (cmd: string, args: string[]) => {
    const out = execFileSync(cmd, [...args, script], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop()!;
    console.log(`${cmd.split('/').pop()} ${args.join(' ')}: ${out}`);
    return JSON.parse(out) as { supported: boolean; selfTest: boolean | null; variant: string; moduleVariant: number; loaded: string[]; same: boolean };
  };
  const check = (r: ReturnType<typeof runChild>) => {
    // plain SIMD, or relaxed only when the engine validates relaxed SIMD and the self-test passed
    expect(r.variant).toBe(r.supported && r.selfTest ? 'relaxed-simd' : 'simd');
    expect(r.moduleVariant).toBe(r.variant === 'relaxed-simd' ? 1 : 0);
    if (!r.supported) expect(r.loaded).toEqual(['simd']);
    expect(r.same, 'the chosen build computes the same K-quant matmul as the plain build').toBe(true);
  };

  it(`Node ${process.version} without flags: plain SIMD on Node 20, relaxed only if it validates and passes the self-test`, () => {
    const r = runChild(process.execPath, []);
    check(r);
    if (Number(process.versions.node.split('.')[0]) < 22) {
      expect(r.supported).toBe(false);
      expect(r.variant).toBe('simd');
    }
  });

  // --experimental-wasm-relaxed-simd is a Node 20 flag: Node ≥ 22 has relaxed SIMD on and rejects it
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  for (const flags of [['--experimental-wasm-relaxed-simd'], ['--experimental-wasm-relaxed-simd', '--liftoff-only'],
    ['--experimental-wasm-relaxed-simd', '--no-liftoff']]) {
    it.skipIf(nodeMajor >= 22)(`Node ${process.version} ${flags.join(' ')}: relaxed only if the self-test passes`, () => {
      check(runChild(process.execPath, flags));
    });
  }

  const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
  it.skipIf(!existsSync(deno))('Deno (V8 15, relaxed SIMD on by default) picks relaxed SIMD', () => {
    const r = runChild(deno, ['run', '--allow-read']);
    check(r);
    expect(r.supported).toBe(true);
    expect(r.selfTest).toBe(true);
    expect(r.variant).toBe('relaxed-simd');
  });

  const node22 = process.env.WASMLM_NODE22; // optional: a Node ≥ 22 binary (not installed into node_modules)
  it.skipIf(!node22)('Node ≥ 22 (WASMLM_NODE22) picks relaxed SIMD', () => {
    const r = runChild(node22!, []);
    check(r);
    expect(r.variant).toBe('relaxed-simd');
  });
});
