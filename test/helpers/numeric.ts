/** Numeric helpers shared by the kernel tests: seeded random data, f32 bits, tolerant and exact comparisons. */
import { expect } from 'vitest';
import { rng } from '../../src/generate/sampler.js';

export { rng };

export const fr = Math.fround;

export function randF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
export const bitsOf = (x: number) => { f32buf[0] = x; return u32buf[0]!; };
export const fromBits = (b: number) => { u32buf[0] = b >>> 0; return f32buf[0]!; };

/** Round to the nearest integer, ties to even. */
export function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const diff = q - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The element that exceeds its tolerance most (NaN against NaN counts as equal). */
export function worst(a: ArrayLike<number>, e: ArrayLike<number>, tol: (i: number) => number): { excess: number; at: number } {
  let excess = -Infinity, at = -1;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i]! - e[i]!);
    const x = Number.isNaN(d) ? (Number.isNaN(a[i]!) && Number.isNaN(e[i]!) ? -Infinity : Infinity) : d - tol(i);
    if (x > excess) { excess = x; at = i; }
  }
  return { excess, at };
}

export function expectClose(a: ArrayLike<number>, e: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  expect(a.length, what).toBe(e.length);
  const w = worst(a, e, tol);
  expect(w.excess, `${what}: index ${w.at}: got ${a[w.at]}, want ${e[w.at]} (tol ${tol(w.at)})`).toBeLessThanOrEqual(0);
}

export function expectBitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) {
      expect.fail(`${what}: index ${i}: ${a[i]} (0x${ua[i]!.toString(16)}) vs ${b[i]} (0x${ub[i]!.toString(16)})`);
    }
  }
}
