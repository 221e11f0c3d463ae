/**
 * The frozen base weights as training reads them: rows dequantized by each weight type's row dequantizer
 * (the get_rows kernel, assembly/weights/*) a chunk at a time into a scratch region, never an f32 copy of
 * the base. y = W·x and dx += Wᵀ·dy both walk W's rows once per call.
 */
import type { TrainingAccess } from './access.js';
import type { WeightRef } from '../models/spec.js';

/** rows dequantized per chunk (bounded by CHUNK_FLOATS floats) */
const CHUNK_FLOATS = 1 << 18;

export class Frozen {
  /** scratch regions by use, kept and grown (never shrunk) */
  private readonly regions = new Map<string, { at: number; bytes: number }>();
  constructor(private readonly access: TrainingAccess) {}

  private region(use: string, bytes: number): number {
    let r = this.regions.get(use);
    if (!r || r.bytes < bytes) this.regions.set(use, r = { at: this.access.scratch(bytes), bytes });
    return r.at;
  }

  /** f(rows, o0, count): rows o0..o0+count of `ref` (count · nIn floats, a view valid during the call). */
  forRows(ref: WeightRef, f: (rows: Float32Array, o0: number, count: number) => void): void {
    const [nIn, nOut] = ref.ne as [number, number];
    const per = Math.max(1, Math.min(nOut, Math.floor(CHUNK_FLOATS / nIn)));
    const w = this.access.weights.get(ref);
    const ids = this.region('rows', (per * nIn + per) * 4) >>> 2;
    const out = ids + per;
    for (let o0 = 0; o0 < nOut; o0 += per) {
      const count = Math.min(per, nOut - o0);
      const i32 = this.access.views.i32;
      for (let k = 0; k < count; k++) i32[ids + k] = o0 + k;
      this.access.kernels.get_rows(w.type, w.ptr, nIn, ids * 4, count, out * 4);
      f(this.access.views.f32.subarray(out, out + count * nIn), o0, count);
    }
  }

  /** Rows `ids` of `ref` (an embedding table) as floats, [ids.length][nIn]. */
  lookup(ref: WeightRef, ids: number[]): Float32Array {
    const nIn = ref.ne[0]!;
    const n = ids.length;
    const at = this.region('lookup', (n + n * nIn) * 4);
    this.access.views.i32.set(ids, at >>> 2);
    const w = this.access.weights.get(ref);
    this.access.kernels.get_rows(w.type, w.ptr, nIn, at, n, at + n * 4);
    return this.access.views.f32.slice((at >>> 2) + n, (at >>> 2) + n + n * nIn);
  }

  /** A 1-D weight (a norm's gain) as floats. */
  vector(ref: WeightRef): Float32Array {
    const n = ref.ne[0]!;
    let v: Float32Array | undefined;
    this.forRows({ name: ref.name, ne: [n, 1] }, (rows) => { v = rows.slice(); });
    return v!;
  }

  /** y[t] = W·x[t] for T rows (x: [T][nIn], y: [T][nOut]); y is overwritten. */
  matmul(ref: WeightRef, x: Float64Array, y: Float64Array, T: number): void {
    const [nIn, nOut] = ref.ne as [number, number];
    this.forRows(ref, (rows, o0, count) => {
      for (let t = 0; t < T; t++) {
        const xo = t * nIn;
        for (let k = 0; k < count; k++) {
          const wo = k * nIn;
          let s = 0;
          for (let i = 0; i < nIn; i++) s += rows[wo + i]! * x[xo + i]!;
          y[t * nOut + o0 + k] = s;
        }
      }
    });
  }

  /** dx[t] += Wᵀ·dy[t] for T rows (dy: [T][nOut], dx: [T][nIn]). */
  matmulT(ref: WeightRef, dy: Float64Array, dx: Float64Array, T: number): void {
    const [nIn, nOut] = ref.ne as [number, number];
    this.forRows(ref, (rows, o0, count) => {
      for (let t = 0; t < T; t++) {
        const xo = t * nIn;
        for (let k = 0; k < count; k++) {
          const g = dy[t * nOut + o0 + k]!;
          if (g === 0) continue;
          const wo = k * nIn;
          for (let i = 0; i < nIn; i++) dx[xo + i] += rows[wo + i]! * g;
        }
      }
    });
  }
}
