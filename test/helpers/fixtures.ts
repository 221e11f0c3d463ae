/** Reading ../shared/fixtures and comparing against them with the tolerances of its README. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { GGML_F32 } from '../../src/formats/ggml-types.js';
import { readGGUF, type GGUFHeader, type GGUFTensorInfo } from '../../src/formats/gguf.js';

export const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
export const fixture = (rel: string) => FIXTURES + rel;

/** A model fixture's bytes and header. */
export interface LoadedGGUF { bytes: Uint8Array; h: GGUFHeader }
const loaded = new Map<string, Promise<LoadedGGUF>>();

/** models/<name>, read once per test file. */
export function loadGGUF(name: string): Promise<LoadedGGUF> {
  let l = loaded.get(name);
  if (!l) {
    const bytes = new Uint8Array(readFileSync(fixture(`models/${name}`)));
    l = readGGUF(bytes).then((h) => ({ bytes, h }));
    loaded.set(name, l);
  }
  return l;
}

/** The bytes of tensor t. */
export function tensorData(l: LoadedGGUF, t: GGUFTensorInfo): Uint8Array {
  return l.bytes.subarray(l.h.dataOffset + t.offset, l.h.dataOffset + t.offset + t.nBytes);
}

/** The values of the F32 tensor `name`. */
export function f32Tensor(l: LoadedGGUF, name: string): Float32Array {
  const t = l.h.tensors.find((x) => x.name === name)!;
  expect(t.type).toBe(GGML_F32);
  return new Float32Array(tensorData(l, t).slice().buffer);
}

export interface Expected {
  tokens: number[];
  logits: number[][];
  greedy: number[];
  greedy_top2_margin: number[];
  greedy_text: string;
  token_pieces: string[];
}

export function expected(name: string): Expected {
  return JSON.parse(readFileSync(fixture(`models/${name}.expected.json`), 'utf8')) as Expected;
}

export type Tolerance = { kind: 'abs'; max: number } | { kind: 'quant'; relToMax: number };

/** The README's tolerance for a model file's weights. */
export function toleranceFor(name: string): Tolerance {
  if (/_(q\d|bf16)/.test(name)) return { kind: 'quant', relToMax: 2e-2 };
  if (/_f16/.test(name)) return { kind: 'abs', max: 5e-3 };
  if (/^(phi2|falcon|bloom|gpt2|gemma)/.test(name)) return { kind: 'abs', max: 3e-3 };
  return { kind: 'abs', max: 1e-3 };
}

/** The argmax of a row of logits and its margin over the second largest. */
export function top2(row: ArrayLike<number>): { top: number; margin: number } {
  let a = -Infinity, b = -Infinity, top = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v > a) { b = a; a = v; top = i; } else if (v > b) b = v;
  }
  return { top, margin: a - b };
}

/** Every prompt position: max |Δlogit| within tolerance; for quantized files, top-1 where the margin is ≥ 0.01. */
export function expectLogitsClose(got: ArrayLike<number>[], exp: Expected, tol: Tolerance): number {
  expect(got.length).toBe(exp.logits.length);
  let worst = 0;
  let maxAbs = 0;
  for (let p = 0; p < got.length; p++) {
    const g = got[p]!, e = exp.logits[p]!;
    expect(g.length).toBe(e.length);
    for (let i = 0; i < e.length; i++) {
      worst = Math.max(worst, Math.abs(g[i]! - e[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(e[i]!));
    }
    const ref = top2(e);
    if (tol.kind === 'quant' && ref.margin >= 0.01) expect(top2(g).top, `top-1 at prompt position ${p}`).toBe(ref.top);
  }
  const limit = tol.kind === 'abs' ? tol.max : tol.relToMax * maxAbs;
  expect(worst, `max |Δlogit| (limit ${limit})`).toBeLessThanOrEqual(limit);
  return worst;
}

/** Greedy ids identical; for quantized files, up to the first step whose reference margin is < 0.01. */
export function expectGreedy(got: number[], exp: Expected, tol: Tolerance): void {
  if (tol.kind === 'abs') {
    expect(got).toEqual(exp.greedy);
    return;
  }
  for (let i = 0; i < exp.greedy.length; i++) {
    if (got[i] !== exp.greedy[i]) {
      expect(exp.greedy_top2_margin[i], `greedy step ${i}: ${got[i]} vs ${exp.greedy[i]}`).toBeLessThan(0.01);
      return;
    }
  }
}
