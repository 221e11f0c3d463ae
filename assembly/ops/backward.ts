// Backward ops of training (src/train).
// OP_MATMUL_T: dx[t] += Wᵀ·dy[t] for a frozen weight W [nOut rows of nIn] of any type: MATMUL_T_ROWS rows at a
// time are dequantized by the type's row dequantizer (get_rows, assembly/weights/), 4 rows at a time, into the
// thread's scratch, and packed there as panels of 8 columns; then each token's dx row takes them in one pass:
// dx[t][i] += dy[t][o]·W[o][i], o in order (no fused multiply-add, so the scalar twin gives the same bits).
// OP_OUTER_ACC: c[m][j] += alpha · Σ_t x[t][m]·y[t][j] (the LoRA A/B gradients: dB += s·dyᵀ·u, dA += duᵀ·x).
import * as abi from "../../src/abi";
import { get_rows } from "../weights";
import { expf, expf4, tanhf } from "./activations";
import { alibi_slope } from "./attention";
import { ALIGN, READS, UNITS, WORK, WRITES, arg, argf, ptr, region, rowsBytes } from "./entry";

/** rows of W dequantized (and packed) at a time: the dx / x rows stream once per MATMUL_T_ROWS rows of W */
export const MATMUL_T_ROWS = 32;
/** scratch layout: row ids, a 4-token tile of dy (MATMUL_T_ROWS floats a token), 4 dequantized rows, the packed chunk */
const SCR_IDS: usize = 0, SCR_DY: usize = 256, SCR_ROWS: usize = 768;
/** bytes of scratch matmul_t and matmul_dq need per thread for rows of nIn */
export function matmul_t_scratch_bytes(nIn: i32): i32 { return <i32>SCR_ROWS + (4 + MATMUL_T_ROWS) * nIn * 4; }

/** Dequantizes rows o0..o0+n of w into rows (ids: n i32 of scratch). */
// @ts-ignore: decorator
@inline function dequantRows(type: i32, w: usize, nIn: i32, o0: i32, n: i32, ids: usize, rows: usize): void {
  for (let k = 0; k < n; k++) store<i32>(ids + (<usize>k << 2), o0 + k);
  get_rows(type, w, nIn, ids, n, rows);
}

/**
 * Rows o0..o0+n of w (n ≤ MATMUL_T_ROWS) into the scratch's pack as panels of 8 columns: the panel of columns
 * 8b..8b+7 at pack + b·n·32, row k's 8 floats at + k·32 (the last panel: nIn % 8 columns of each 32 bytes).
 */
// @ts-ignore: decorator
@inline function packPanels(type: i32, w: usize, nIn: i32, o0: i32, n: i32, scratch: usize): void {
  const rows = scratch + SCR_ROWS, pack = rows + (<usize>nIn << 4), inB = <usize>nIn << 2;
  const nIn8 = nIn & ~7, panelB = <usize>n << 5;
  for (let k0 = 0; k0 < n; k0 += 4) {
    const m = min(4, n - k0);
    dequantRows(type, w, nIn, o0 + k0, m, scratch + SCR_IDS, rows);
    for (let r = 0; r < m; r++) {
      const src = rows + <usize>r * inB;
      let dst = pack + (<usize>(k0 + r) << 5);
      let i = 0;
      for (; i < nIn8; i += 8) {
        v128.store(dst, v128.load(src + (<usize>i << 2)));
        v128.store(dst, v128.load(src + (<usize>i << 2), 16), 16);
        dst += panelB;
      }
      for (let c = 0; i < nIn; i++, c++) store<f32>(dst + (<usize>c << 2), load<f32>(src + (<usize>i << 2)));
    }
  }
}

/**
 * dx[t] += Wᵀ·dy[t] for tokens t in [t0, t1); scratch: matmul_t_scratch_bytes(nIn) bytes. Per chunk of rows:
 * tiles of 4 tokens × 8 floats of dx (8 accumulators over the chunk's rows: per row of W 2 loads of its panel,
 * 4 splats of dy from the tile's copy), then 1 token × 8 floats, then the last nIn % 8 columns one at a time;
 * every dx element takes its rows in order, as the twin does.
 */
export function matmul_t(type: i32, w: usize, dy: usize, dx: usize, nIn: i32, nOut: i32, t0: i32, t1: i32, scratch: usize): void {
  const tile = scratch + SCR_DY, pack = scratch + SCR_ROWS + (<usize>nIn << 4);
  const inB = <usize>nIn << 2, outB = <usize>nOut << 2;
  const nIn8 = nIn & ~7;
  for (let o0 = 0; o0 < nOut; o0 += MATMUL_T_ROWS) {
    const n = min(MATMUL_T_ROWS, nOut - o0);
    const panelB = <usize>n << 5, nB = <usize>n << 2;
    packPanels(type, w, nIn, o0, n, scratch);
    let t = t0;
    for (; t + 4 <= t1; t += 4) {
      // dy of the 4 tokens over the chunk, MATMUL_T_ROWS floats apart (128 bytes: constant offsets below)
      const g = dy + <usize>t * outB + (<usize>o0 << 2);
      for (let j = 0; j < 4; j++) memory.copy(tile + (<usize>j << 7), g + <usize>j * outB, nB);
      const d0 = dx + <usize>t * inB, d1 = d0 + inB, d2 = d1 + inB, d3 = d2 + inB;
      let p = pack;
      for (let off: usize = 0; off < (<usize>nIn8 << 2); off += 32) {
        let a0 = v128.load(d0 + off), b0 = v128.load(d0 + off, 16);
        let a1 = v128.load(d1 + off), b1 = v128.load(d1 + off, 16);
        let a2 = v128.load(d2 + off), b2 = v128.load(d2 + off, 16);
        let a3 = v128.load(d3 + off), b3 = v128.load(d3 + off, 16);
        let gk = tile;
        const end = p + panelB;
        for (; p < end; p += 32, gk += 4) {
          const ra = v128.load(p), rb = v128.load(p, 16);
          const g0 = v128.load32_splat(gk), g1 = v128.load32_splat(gk, 128);
          const g2 = v128.load32_splat(gk, 256), g3 = v128.load32_splat(gk, 384);
          a0 = f32x4.add(a0, f32x4.mul(g0, ra)); b0 = f32x4.add(b0, f32x4.mul(g0, rb));
          a1 = f32x4.add(a1, f32x4.mul(g1, ra)); b1 = f32x4.add(b1, f32x4.mul(g1, rb));
          a2 = f32x4.add(a2, f32x4.mul(g2, ra)); b2 = f32x4.add(b2, f32x4.mul(g2, rb));
          a3 = f32x4.add(a3, f32x4.mul(g3, ra)); b3 = f32x4.add(b3, f32x4.mul(g3, rb));
        }
        v128.store(d0 + off, a0); v128.store(d0 + off, b0, 16);
        v128.store(d1 + off, a1); v128.store(d1 + off, b1, 16);
        v128.store(d2 + off, a2); v128.store(d2 + off, b2, 16);
        v128.store(d3 + off, a3); v128.store(d3 + off, b3, 16);
      }
      if (nIn8 < nIn) for (let j = 0; j < 4; j++) matmulTTail(tile + (<usize>j << 7), d0 + <usize>j * inB, p, nIn8, nIn, n);
    }
    for (; t < t1; t++) {
      const g = dy + <usize>t * outB + (<usize>o0 << 2), d = dx + <usize>t * inB;
      let p = pack;
      for (let off: usize = 0; off < (<usize>nIn8 << 2); off += 32) {
        let a = v128.load(d + off), b = v128.load(d + off, 16);
        let gk = g;
        const end = p + panelB;
        for (; p < end; p += 32, gk += 4) {
          const gv = v128.load32_splat(gk);
          a = f32x4.add(a, f32x4.mul(gv, v128.load(p)));
          b = f32x4.add(b, f32x4.mul(gv, v128.load(p, 16)));
        }
        v128.store(d + off, a); v128.store(d + off, b, 16);
      }
      if (nIn8 < nIn) matmulTTail(g, d, p, nIn8, nIn, n);
    }
  }
}

/** One token's dx[i] for the last columns i in [nIn8, nIn) from their panel (row k's floats 32 bytes apart). */
// @ts-ignore: decorator
@inline function matmulTTail(g: usize, d: usize, panel: usize, nIn8: i32, nIn: i32, n: i32): void {
  for (let i = nIn8; i < nIn; i++) {
    const at = d + (<usize>i << 2), col = panel + (<usize>(i - nIn8) << 2);
    let acc = load<f32>(at);
    for (let k = 0; k < n; k++) acc += load<f32>(g + (<usize>k << 2)) * load<f32>(col + (<usize>k << 5));
    store<f32>(at, acc);
  }
}

/** The scalar twin: the same f32 steps one element at a time. */
export function matmul_t_ref(type: i32, w: usize, dy: usize, dx: usize, nIn: i32, nOut: i32, t0: i32, t1: i32, scratch: usize): void {
  const ids = scratch + SCR_IDS, rows = scratch + SCR_ROWS;
  for (let o0 = 0; o0 < nOut; o0 += MATMUL_T_ROWS) {
    const n = min(MATMUL_T_ROWS, nOut - o0);
    dequantRows(type, w, nIn, o0, n, ids, rows);
    for (let t = t0; t < t1; t++) {
      for (let i = 0; i < nIn; i++) {
        const at = dx + ((<usize>t * <usize>nIn + <usize>i) << 2);
        let acc = load<f32>(at);
        for (let k = 0; k < n; k++) {
          acc += load<f32>(dy + ((<usize>t * <usize>nOut + <usize>(o0 + k)) << 2)) * load<f32>(rows + ((<usize>k * <usize>nIn + <usize>i) << 2));
        }
        store<f32>(at, acc);
      }
    }
  }
}

/** c[m][j] += alpha · Σ_t x[t][m]·y[t][j] for rows m in [m0, m1) (x: [nTok][M], y: [nTok][N], c: [M][N]). */
export function outer_acc(x: usize, y: usize, c: usize, M: i32, N: i32, nTok: i32, alpha: f32, m0: i32, m1: i32): void {
  const a = f32x4.splat(alpha);
  for (let m = m0; m < m1; m++) {
    const row = c + (<usize>m * <usize>N << 2);
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      let acc = f32x4.splat(0);
      for (let t = 0; t < nTok; t++) {
        acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(x + ((<usize>t * <usize>M + <usize>m) << 2))), v128.load(y + ((<usize>t * <usize>N + <usize>j) << 2))));
      }
      v128.store(row + (<usize>j << 2), f32x4.add(v128.load(row + (<usize>j << 2)), f32x4.mul(acc, a)));
    }
    for (; j < N; j++) {
      let acc: f32 = 0;
      for (let t = 0; t < nTok; t++) acc += load<f32>(x + ((<usize>t * <usize>M + <usize>m) << 2)) * load<f32>(y + ((<usize>t * <usize>N + <usize>j) << 2));
      store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) + acc * alpha);
    }
  }
}

/** The scalar twin. */
export function outer_acc_ref(x: usize, y: usize, c: usize, M: i32, N: i32, nTok: i32, alpha: f32, m0: i32, m1: i32): void {
  for (let m = m0; m < m1; m++) {
    for (let j = 0; j < N; j++) {
      let acc: f32 = 0;
      for (let t = 0; t < nTok; t++) acc += load<f32>(x + ((<usize>t * <usize>M + <usize>m) << 2)) * load<f32>(y + ((<usize>t * <usize>N + <usize>j) << 2));
      const at = c + ((<usize>m * <usize>N + <usize>j) << 2);
      store<f32>(at, load<f32>(at) + acc * alpha);
    }
  }
}

// ---- entries for the scheduler (see entry.ts)

// matmul_t: units are tokens (each chunk dequantizes W once)
export function matmul_t_info(q: i32, op: usize): i64 {
  const nIn = arg(op, abi.MATMUL_T_N_IN), nOut = arg(op, abi.MATMUL_T_N_OUT), nTok = arg(op, abi.MATMUL_T_N_TOK);
  if (q == UNITS) return nTok;
  if (q == WORK) return <i64>nIn * <i64>nOut * <i64>nTok >> 4;
  if (q == WRITES) return region(ptr(op, abi.MATMUL_T_DX), rowsBytes(nIn, nTok));
  if (q == READS) return region(ptr(op, abi.MATMUL_T_DY), rowsBytes(nOut, nTok));
  if (q == READS + 1) return region(ptr(op, abi.MATMUL_T_DX), rowsBytes(nIn, nTok));
  return q == ALIGN ? 1 : 0;
}

export function matmul_t_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  matmul_t(arg(op, abi.MATMUL_T_TYPE), ptr(op, abi.MATMUL_T_W), ptr(op, abi.MATMUL_T_DY), ptr(op, abi.MATMUL_T_DX),
           arg(op, abi.MATMUL_T_N_IN), arg(op, abi.MATMUL_T_N_OUT), lo, hi, ptr(op, abi.MATMUL_T_SCRATCH) + scratch);
}

// outer_acc: units are rows of c
export function outer_acc_info(q: i32, op: usize): i64 {
  const M = arg(op, abi.OUTER_ACC_M), N = arg(op, abi.OUTER_ACC_N), nTok = arg(op, abi.OUTER_ACC_N_TOK);
  if (q == UNITS) return M;
  if (q == WORK) return <i64>M * <i64>N * <i64>nTok >> 4;
  if (q == WRITES) return region(ptr(op, abi.OUTER_ACC_C), rowsBytes(N, M));
  if (q == READS) return region(ptr(op, abi.OUTER_ACC_X), rowsBytes(M, nTok));
  if (q == READS + 1) return region(ptr(op, abi.OUTER_ACC_Y), rowsBytes(N, nTok));
  if (q == READS + 2) return region(ptr(op, abi.OUTER_ACC_C), rowsBytes(N, M));
  return q == ALIGN ? 1 : 0;
}

export function outer_acc_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  outer_acc(ptr(op, abi.OUTER_ACC_X), ptr(op, abi.OUTER_ACC_Y), ptr(op, abi.OUTER_ACC_C), arg(op, abi.OUTER_ACC_M),
            arg(op, abi.OUTER_ACC_N), arg(op, abi.OUTER_ACC_N_TOK), argf(op, abi.OUTER_ACC_ALPHA), lo, hi);
}

// ---------------------------------------------------------------- RMSNorm backward
// OP_RMSNORM_BACK: for y = x·r·w, r = 1/√(mean x² + eps) (recomputed as norm.ts does): dx[t] += r·w⊙dy −
// x·r³·(Σ dy⊙w⊙x)/n. Sums in f64.

// @ts-ignore: decorator
@inline function rmsScale(x: usize, n: i32, eps: f32): f32 {
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    sum += <f64>(v * v);
  }
  return <f32>1.0 / Mathf.sqrt(<f32>(sum / <f64>n) + eps);
}

// @ts-ignore: decorator
@inline function rmsDot(x: usize, w: usize, dy: usize, n: i32): f64 {
  let dot: f64 = 0;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    dot += <f64>(load<f32>(dy + off) * load<f32>(w + off)) * <f64>load<f32>(x + off);
  }
  return dot;
}

export function rmsnorm_back(x: usize, w: usize, dy: usize, dx: usize, n: i32, t0: i32, t1: i32, eps: f32): void {
  for (let t = t0; t < t1; t++) {
    const o = <usize>t * <usize>n << 2;
    const r = rmsScale(x + o, n, eps);
    const c = <f32>(<f64>r * <f64>r * <f64>r * rmsDot(x + o, w, dy + o, n) / <f64>n);
    const rv = f32x4.splat(r), cv = f32x4.splat(c);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      const g = f32x4.mul(f32x4.mul(v128.load(dy + o + off), v128.load(w + off)), rv);
      v128.store(dx + o + off, f32x4.add(v128.load(dx + o + off), f32x4.sub(g, f32x4.mul(v128.load(x + o + off), cv))));
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      const g = load<f32>(dy + o + off) * load<f32>(w + off) * r;
      store<f32>(dx + o + off, load<f32>(dx + o + off) + (g - load<f32>(x + o + off) * c));
    }
  }
}

export function rmsnorm_back_ref(x: usize, w: usize, dy: usize, dx: usize, n: i32, t0: i32, t1: i32, eps: f32): void {
  for (let t = t0; t < t1; t++) {
    const o = <usize>t * <usize>n << 2;
    const r = rmsScale(x + o, n, eps);
    const c = <f32>(<f64>r * <f64>r * <f64>r * rmsDot(x + o, w, dy + o, n) / <f64>n);
    for (let i = 0; i < n; i++) {
      const off = <usize>i << 2;
      const g = load<f32>(dy + o + off) * load<f32>(w + off) * r;
      store<f32>(dx + o + off, load<f32>(dx + o + off) + (g - load<f32>(x + o + off) * c));
    }
  }
}

export function rmsnorm_back_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.RMSNORM_BACK_N), nTok = arg(op, abi.RMSNORM_BACK_N_TOK);
  if (q == UNITS) return nTok;
  if (q == WORK) return <i64>nTok * <i64>n * 3;
  if (q == WRITES) return region(ptr(op, abi.RMSNORM_BACK_DX), rowsBytes(n, nTok));
  if (q == READS) return region(ptr(op, abi.RMSNORM_BACK_X), rowsBytes(n, nTok));
  if (q == READS + 1) return region(ptr(op, abi.RMSNORM_BACK_DY), rowsBytes(n, nTok));
  if (q == READS + 2) return region(ptr(op, abi.RMSNORM_BACK_DX), rowsBytes(n, nTok));
  return q == ALIGN ? 1 : 0;
}

export function rmsnorm_back_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  rmsnorm_back(ptr(op, abi.RMSNORM_BACK_X), ptr(op, abi.RMSNORM_BACK_W), ptr(op, abi.RMSNORM_BACK_DY), ptr(op, abi.RMSNORM_BACK_DX),
               arg(op, abi.RMSNORM_BACK_N), lo, hi, argf(op, abi.RMSNORM_BACK_EPS));
}

// ---------------------------------------------------------------- SwiGLU backward
// OP_SILU_MUL_BACK: for h = silu(g)·u: out[i] = dh·u·σ(g)·(1 + g·(1 − σ(g))) (d gate), out[n + i] = dh·g·σ(g) (d up).

export function silu_mul_back(gate: usize, up: usize, dh: usize, out: usize, n: i32, i0: i32, i1: i32): void {
  const one = f32x4.splat(1.0);
  const du = out + (<usize>n << 2);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    const g = v128.load(gate + off), d = v128.load(dh + off);
    const sg = f32x4.div(one, f32x4.add(one, expf4(f32x4.neg(g))));
    v128.store(out + off, f32x4.mul(f32x4.mul(d, v128.load(up + off)), f32x4.mul(sg, f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sg))))));
    v128.store(du + off, f32x4.mul(d, f32x4.mul(g, sg)));
  }
  silu_mul_back_ref(gate, up, dh, out, n, i, i1);
}

/** The scalar twin (the same f32 steps; expf4 and expf agree bit for bit). */
export function silu_mul_back_ref(gate: usize, up: usize, dh: usize, out: usize, n: i32, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const off = <usize>i << 2;
    const g = load<f32>(gate + off), d = load<f32>(dh + off);
    const sg: f32 = <f32>1.0 / (<f32>1.0 + expf(-g));
    store<f32>(out + off, d * load<f32>(up + off) * (sg * (<f32>1.0 + g * (<f32>1.0 - sg))));
    store<f32>(out + (<usize>n << 2) + off, d * (g * sg));
  }
}

export function silu_mul_back_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.SILU_MUL_BACK_N);
  if (q == UNITS || q == WORK) return n;
  if (q == ALIGN) return 16;
  if (q == WRITES) return region(ptr(op, abi.SILU_MUL_BACK_OUT), rowsBytes(n, 2));
  if (q == READS) return region(ptr(op, abi.SILU_MUL_BACK_GATE), rowsBytes(n, 1));
  if (q == READS + 1) return region(ptr(op, abi.SILU_MUL_BACK_UP), rowsBytes(n, 1));
  if (q == READS + 2) return region(ptr(op, abi.SILU_MUL_BACK_DH), rowsBytes(n, 1));
  return 0;
}

export function silu_mul_back_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  silu_mul_back(ptr(op, abi.SILU_MUL_BACK_GATE), ptr(op, abi.SILU_MUL_BACK_UP), ptr(op, abi.SILU_MUL_BACK_DH),
                ptr(op, abi.SILU_MUL_BACK_OUT), arg(op, abi.SILU_MUL_BACK_N), lo, hi);
}

// ---------------------------------------------------------------- causal attention backward
// OP_ATTENTION_BACK: q [nTok][nHead·hd], k, v [nTok][nKv·hd] (after RoPE; positions 0..nTok−1, causal), dout
// [nTok][nHead·hd] → out = [dq | dk | dv] (dq [nTok][nHead·hd], then dk, dv [nTok][nKv·hd]), overwritten. The
// probabilities are recomputed (scores in f32, softmax with f32 exp, sum in f64). Units: KV heads (each with
// the query heads it serves); scratch: attention_back_scratch_bytes(nTok) per thread. As OP_ATTENTION: cap > 0
// soft-caps the scaled scores (z → cap·tanh(z/cap), whose slope 1 − tanh² is kept per key), maxBias > 0 adds
// ALiBi's slope·(j − t), window > 0 masks keys j ≤ t − window. Queries go in tiles of ATT_TILE rows: a key's
// row is loaded once for the tile's scores, and dk[j], dv[j] take the tile's rows in one pass (in row order,
// as one row at a time would).

/** query rows at a time */
const ATT_TILE = 4;
/** bytes of scratch attention_back needs per thread: per row of a tile, its probabilities, dp (then ds) and the
 *  soft-cap slopes, nTok floats each */
export function attention_back_scratch_bytes(nTok: i32): i32 { return 3 * ATT_TILE * nTok * 4; }

/** a·b over n floats: 4 lane sums (SIMD, or the same sums one at a time), combined (s0 + s1) + (s2 + s3), then
 *  the tail. */
// @ts-ignore: decorator
@inline function dotf(a: usize, b: usize, n: i32, simd: bool): f32 {
  let i = 0, s: f32 = 0;
  if (simd) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2))));
    s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  } else {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (; i + 4 <= n; i += 4) {
      const p = a + (<usize>i << 2), r = b + (<usize>i << 2);
      s0 += load<f32>(p) * load<f32>(r);
      s1 += load<f32>(p, 4) * load<f32>(r, 4);
      s2 += load<f32>(p, 8) * load<f32>(r, 8);
      s3 += load<f32>(p, 12) * load<f32>(r, 12);
    }
    s = (s0 + s1) + (s2 + s3);
  }
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/** out[r] = a_r·b for the 4 rows a_r = a + r·stride (stride in bytes): dotf's sums, the 4 at once (SIMD). */
// @ts-ignore: decorator
@inline function dotf4(a: usize, stride: usize, b: usize, n: i32, out: usize, outStride: usize, simd: bool): void {
  if (!simd) {
    for (let r: usize = 0; r < 4; r++) store<f32>(out + r * outStride, dotf(a + r * stride, b, n, false));
    return;
  }
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2, bv = v128.load(b + off);
    c0 = f32x4.add(c0, f32x4.mul(v128.load(a + off), bv));
    c1 = f32x4.add(c1, f32x4.mul(v128.load(a + stride + off), bv));
    c2 = f32x4.add(c2, f32x4.mul(v128.load(a + 2 * stride + off), bv));
    c3 = f32x4.add(c3, f32x4.mul(v128.load(a + 3 * stride + off), bv));
  }
  let s0 = sum4(c0), s1 = sum4(c1), s2 = sum4(c2), s3 = sum4(c3);
  for (; i < n; i++) {
    const off = <usize>i << 2, bx = load<f32>(b + off);
    s0 += load<f32>(a + off) * bx; s1 += load<f32>(a + stride + off) * bx;
    s2 += load<f32>(a + 2 * stride + off) * bx; s3 += load<f32>(a + 3 * stride + off) * bx;
  }
  store<f32>(out, s0); store<f32>(out + outStride, s1); store<f32>(out + 2 * outStride, s2); store<f32>(out + 3 * outStride, s3);
}

/** y[i] += a·x[i], i < n */
// @ts-ignore: decorator
@inline function axpy(y: usize, a: f32, x: usize, n: i32, simd: bool): void {
  let i = 0;
  if (simd) {
    const av = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(y + off, f32x4.add(v128.load(y + off), f32x4.mul(av, v128.load(x + off))));
    }
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) + a * load<f32>(x + (<usize>i << 2)));
}

/** y[i] += c[0]·x_0[i], then += c[1]·x_1[i], … (4 rows x_r = x + r·stride; c floats cStride bytes apart): four
 *  axpys in one pass over y (SIMD). */
// @ts-ignore: decorator
@inline function axpy4(y: usize, c: usize, cStride: usize, x: usize, stride: usize, n: i32, simd: bool): void {
  const a0 = load<f32>(c), a1 = load<f32>(c + cStride), a2 = load<f32>(c + 2 * cStride), a3 = load<f32>(c + 3 * cStride);
  if (!simd) {
    axpy(y, a0, x, n, false); axpy(y, a1, x + stride, n, false); axpy(y, a2, x + 2 * stride, n, false); axpy(y, a3, x + 3 * stride, n, false);
    return;
  }
  const v0 = f32x4.splat(a0), v1 = f32x4.splat(a1), v2 = f32x4.splat(a2), v3 = f32x4.splat(a3);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    let acc = v128.load(y + off);
    acc = f32x4.add(acc, f32x4.mul(v0, v128.load(x + off)));
    acc = f32x4.add(acc, f32x4.mul(v1, v128.load(x + stride + off)));
    acc = f32x4.add(acc, f32x4.mul(v2, v128.load(x + 2 * stride + off)));
    acc = f32x4.add(acc, f32x4.mul(v3, v128.load(x + 3 * stride + off)));
    v128.store(y + off, acc);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let acc = load<f32>(y + off);
    acc += a0 * load<f32>(x + off); acc += a1 * load<f32>(x + stride + off);
    acc += a2 * load<f32>(x + 2 * stride + off); acc += a3 * load<f32>(x + 3 * stride + off);
    store<f32>(y + off, acc);
  }
}

/** y = Σ_j c[j]·x_j for j in [j0, j1) in order, from 0 (x_j = x + j·stride; n floats): what zeroing y and one
 *  axpy per j give, with 16 floats of y at a time held in registers (SIMD). */
// @ts-ignore: decorator
@inline function combine(y: usize, c: usize, x: usize, stride: usize, j0: i32, j1: i32, n: i32, simd: bool): void {
  let i = 0;
  if (simd) {
    for (; i + 16 <= n; i += 16) {
      const off = <usize>i << 2;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let j = j0; j < j1; j++) {
        const cj = v128.load32_splat(c + (<usize>j << 2)), xj = x + <usize>j * stride + off;
        a0 = f32x4.add(a0, f32x4.mul(cj, v128.load(xj))); a1 = f32x4.add(a1, f32x4.mul(cj, v128.load(xj, 16)));
        a2 = f32x4.add(a2, f32x4.mul(cj, v128.load(xj, 32))); a3 = f32x4.add(a3, f32x4.mul(cj, v128.load(xj, 48)));
      }
      v128.store(y + off, a0); v128.store(y + off, a1, 16); v128.store(y + off, a2, 32); v128.store(y + off, a3, 48);
    }
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      let a = f32x4.splat(0);
      for (let j = j0; j < j1; j++) a = f32x4.add(a, f32x4.mul(v128.load32_splat(c + (<usize>j << 2)), v128.load(x + <usize>j * stride + off)));
      v128.store(y + off, a);
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let a: f32 = 0;
    for (let j = j0; j < j1; j++) a += load<f32>(c + (<usize>j << 2)) * load<f32>(x + <usize>j * stride + off);
    store<f32>(y + off, a);
  }
}

export function attention_back(q: usize, k: usize, v: usize, dout: usize, out: usize, nTok: i32, nHead: i32, nKv: i32,
  hd: i32, scale: f32, kh0: i32, kh1: i32, scratch: usize, cap: f32, maxBias: f32, window: i32): void {
  attnBack(q, k, v, dout, out, nTok, nHead, nKv, hd, scale, kh0, kh1, scratch, cap, maxBias, window, true);
}

/** The scalar twin (bit-identical). */
export function attention_back_ref(q: usize, k: usize, v: usize, dout: usize, out: usize, nTok: i32, nHead: i32, nKv: i32,
  hd: i32, scale: f32, kh0: i32, kh1: i32, scratch: usize, cap: f32, maxBias: f32, window: i32): void {
  attnBack(q, k, v, dout, out, nTok, nHead, nKv, hd, scale, kh0, kh1, scratch, cap, maxBias, window, false);
}

// @ts-ignore: decorator
@inline function attnBack(q: usize, k: usize, v: usize, dout: usize, out: usize, nTok: i32, nHead: i32, nKv: i32,
  hd: i32, scale: f32, kh0: i32, kh1: i32, scratch: usize, cap: f32, maxBias: f32, window: i32, simd: bool): void {
  const qRow = <usize>(nHead * hd) << 2, kRow = <usize>(nKv * hd) << 2;
  const dq = out, dk = out + <usize>nTok * qRow, dv = dk + <usize>nTok * kRow;
  const group = nHead / nKv;
  // per row r of a tile: p at scratch + r·rowB, dp (then ds) ATT_TILE rows on, the soft-cap slopes 2·ATT_TILE rows on
  const rowB = <usize>nTok << 2;
  const P = scratch, DP = scratch + <usize>ATT_TILE * rowB, DC = DP + <usize>ATT_TILE * rowB;
  for (let kh = kh0; kh < kh1; kh++) {
    const kOff = <usize>(kh * hd) << 2;
    for (let j = 0; j < nTok; j++) {
      memory.fill(dk + <usize>j * kRow + kOff, 0, <usize>hd << 2);
      memory.fill(dv + <usize>j * kRow + kOff, 0, <usize>hd << 2);
    }
    for (let h = kh * group; h < (kh + 1) * group; h++) {
      const qOff = <usize>(h * hd) << 2;
      const slope: f32 = maxBias > 0 ? alibi_slope(h, nHead, maxBias) : 0;
      for (let t0 = 0; t0 < nTok; t0 += ATT_TILE) {
        const nr = min(ATT_TILE, nTok - t0);
        const q0 = q + <usize>t0 * qRow + qOff, do0 = dout + <usize>t0 * qRow + qOff;
        // the keys every row of a full tile sees: [jAll0, t0]; row r's own: [j0(r), t0 + r]
        const jAll0 = window > 0 && t0 + nr - window > 0 ? t0 + nr - window : 0;
        const jLo = window > 0 && t0 - window + 1 > 0 ? t0 - window + 1 : 0;
        // raw scores q·k and dp = dout·v (4 rows at once where all see the key)
        for (let j = jLo; j < t0 + nr; j++) {
          const kj = k + <usize>j * kRow + kOff, vj = v + <usize>j * kRow + kOff, jb = <usize>j << 2;
          if (nr == ATT_TILE && j >= jAll0 && j <= t0) {
            dotf4(q0, qRow, kj, hd, P + jb, rowB, simd);
            dotf4(do0, qRow, vj, hd, DP + jb, rowB, simd);
          } else {
            for (let r = 0; r < nr; r++) {
              const t = t0 + r;
              if (j > t || (window > 0 && j <= t - window)) continue;
              store<f32>(P + <usize>r * rowB + jb, dotf(q0 + <usize>r * qRow, kj, hd, simd));
              store<f32>(DP + <usize>r * rowB + jb, dotf(do0 + <usize>r * qRow, vj, hd, simd));
            }
          }
        }
        // per row: softmax of the scaled (capped, biased) scores, pd = Σ p·dp, then ds = p·(dp − pd)(·slope)·scale in DP
        for (let r = 0; r < nr; r++) {
          const t = t0 + r, p = P + <usize>r * rowB, dp = DP + <usize>r * rowB, dc = DC + <usize>r * rowB;
          const j0 = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
          let max: f32 = -Infinity;
          for (let j = j0; j <= t; j++) {
            let s = load<f32>(p + (<usize>j << 2)) * scale;
            if (cap > 0) {
              const th = tanhf(s / cap);
              s = th * cap;
              store<f32>(dc + (<usize>j << 2), <f32>1.0 - th * th);
            }
            if (maxBias > 0) s += slope * <f32>(j - t);
            store<f32>(p + (<usize>j << 2), s);
            max = Mathf.max(max, s);
          }
          let sum: f64 = 0;
          for (let j = j0; j <= t; j++) {
            const e = expf(load<f32>(p + (<usize>j << 2)) - max);
            store<f32>(p + (<usize>j << 2), e);
            sum += <f64>e;
          }
          const inv = <f32>(1.0 / sum);
          let pd: f64 = 0;
          for (let j = j0; j <= t; j++) {
            const pj = load<f32>(p + (<usize>j << 2)) * inv;
            store<f32>(p + (<usize>j << 2), pj);
            pd += <f64>(pj * load<f32>(dp + (<usize>j << 2)));
          }
          const pdf = <f32>pd;
          for (let j = j0; j <= t; j++) {
            let ds = load<f32>(p + (<usize>j << 2)) * (load<f32>(dp + (<usize>j << 2)) - pdf);
            if (cap > 0) ds *= load<f32>(dc + (<usize>j << 2));
            store<f32>(dp + (<usize>j << 2), ds * scale);
          }
          // dq[t] = Σ_j ds·k[j], j in order
          combine(dq + <usize>t * qRow + qOff, dp, k + kOff, kRow, j0, t + 1, hd, simd);
        }
        // dv[j] += Σ_r p·dout[r], dk[j] += Σ_r ds·q[r], rows in order
        for (let j = jLo; j < t0 + nr; j++) {
          const dvj = dv + <usize>j * kRow + kOff, dkj = dk + <usize>j * kRow + kOff, jb = <usize>j << 2;
          if (nr == ATT_TILE && j >= jAll0 && j <= t0) {
            axpy4(dvj, P + jb, rowB, do0, qRow, hd, simd);
            axpy4(dkj, DP + jb, rowB, q0, qRow, hd, simd);
          } else {
            for (let r = 0; r < nr; r++) {
              const t = t0 + r;
              if (j > t || (window > 0 && j <= t - window)) continue;
              axpy(dvj, load<f32>(P + <usize>r * rowB + jb), do0 + <usize>r * qRow, hd, simd);
              axpy(dkj, load<f32>(DP + <usize>r * rowB + jb), q0 + <usize>r * qRow, hd, simd);
            }
          }
        }
      }
    }
  }
}

export function attention_back_info(q: i32, op: usize): i64 {
  const nTok = arg(op, abi.ATTENTION_BACK_N_TOK), nHead = arg(op, abi.ATTENTION_BACK_N_HEAD);
  const nKv = arg(op, abi.ATTENTION_BACK_N_KV_HEAD), hd = arg(op, abi.ATTENTION_BACK_HEAD_DIM);
  if (q == UNITS) return nKv;
  if (q == WORK) return <i64>nTok * <i64>nTok * <i64>nHead * <i64>hd * 2;
  if (q == WRITES) return region(ptr(op, abi.ATTENTION_BACK_OUT), rowsBytes((nHead + 2 * nKv) * hd, nTok));
  if (q == READS) return region(ptr(op, abi.ATTENTION_BACK_Q), rowsBytes(nHead * hd, nTok));
  if (q == READS + 1) return region(ptr(op, abi.ATTENTION_BACK_K), rowsBytes(nKv * hd, nTok));
  if (q == READS + 2) return region(ptr(op, abi.ATTENTION_BACK_DOUT), rowsBytes(nHead * hd, nTok));
  return q == ALIGN ? 1 : 0;
}

export function attention_back_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  attention_back(ptr(op, abi.ATTENTION_BACK_Q), ptr(op, abi.ATTENTION_BACK_K), ptr(op, abi.ATTENTION_BACK_V),
    ptr(op, abi.ATTENTION_BACK_DOUT), ptr(op, abi.ATTENTION_BACK_OUT), arg(op, abi.ATTENTION_BACK_N_TOK),
    arg(op, abi.ATTENTION_BACK_N_HEAD), arg(op, abi.ATTENTION_BACK_N_KV_HEAD), arg(op, abi.ATTENTION_BACK_HEAD_DIM),
    argf(op, abi.ATTENTION_BACK_SCALE), lo, hi, ptr(op, abi.ATTENTION_BACK_SCRATCH) + scratch,
    argf(op, abi.ATTENTION_BACK_SOFTCAP), argf(op, abi.ATTENTION_BACK_MAX_BIAS), arg(op, abi.ATTENTION_BACK_WINDOW));
}

// ---------------------------------------------------------------- cross-entropy
// OP_CROSS_ENTROPY: rows of n logits, targets (i32; < 0: the row is not learned): loss[r] = logsumexp − logit[target]
// (f64, stored as f32; 0 for a row not learned), and the row replaced by its gradient (softmax − one-hot)·scale
// (zeros for a row not learned). e[i] = exp(logit[i] − max) in f32 (expf; arguments below −87 taken as −87, so
// that no subnormal arises), summed in f64 as 4 lane sums ((s0 + s1) + (s2 + s3), then the tail); softmax·scale =
// e·(scale / sum) with e < 2⁻⁶⁰ (a share of the row below f32's resolution) as 0: no subnormal gradient reaches
// the output head's backward (subnormal products run ~100× slower).

/** below this, e = exp(logit − max) counts as 0 in the gradient */
const CE_FLUSH: f32 = 8.673617379884035e-19; // 2^-60

export function cross_entropy(logits: usize, targets: usize, loss: usize, n: i32, r0: i32, r1: i32, scale: f32): void {
  crossEntropy(logits, targets, loss, n, r0, r1, scale, true);
}

/** The scalar twin (bit-identical: the max is exact in any order, expf4 and expf agree bit for bit). */
export function cross_entropy_ref(logits: usize, targets: usize, loss: usize, n: i32, r0: i32, r1: i32, scale: f32): void {
  crossEntropy(logits, targets, loss, n, r0, r1, scale, false);
}

// @ts-ignore: decorator
@inline function crossEntropy(logits: usize, targets: usize, loss: usize, n: i32, r0: i32, r1: i32, scale: f32, simd: bool): void {
  for (let r = r0; r < r1; r++) {
    const row = logits + (<usize>r * <usize>n << 2);
    const target = load<i32>(targets + (<usize>r << 2));
    if (target < 0) {
      memory.fill(row, 0, <usize>n << 2);
      store<f32>(loss + (<usize>r << 2), 0);
      continue;
    }
    const xt = load<f32>(row + (<usize>target << 2));
    let max: f32 = -Infinity;
    let i = 0;
    if (simd) {
      let mv = f32x4.splat(-Infinity);
      for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(row + (<usize>i << 2)));
      max = Mathf.max(Mathf.max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), Mathf.max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    }
    for (; i < n; i++) max = Mathf.max(max, load<f32>(row + (<usize>i << 2)));
    // e in place, summed
    const n4 = n & ~3;
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
    if (simd) {
      const mv = f32x4.splat(max), lo87 = f32x4.splat(-87.0);
      let lo = f64x2.splat(0), hi = f64x2.splat(0);
      for (let j = 0; j < n4; j += 4) {
        const at = row + (<usize>j << 2);
        const e = expf4(f32x4.max(f32x4.sub(v128.load(at), mv), lo87));
        v128.store(at, e);
        lo = f64x2.add(lo, f64x2.promote_low_f32x4(e));
        hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1)));
      }
      s0 = f64x2.extract_lane(lo, 0); s1 = f64x2.extract_lane(lo, 1); s2 = f64x2.extract_lane(hi, 0); s3 = f64x2.extract_lane(hi, 1);
    } else {
      for (let j = 0; j < n4; j += 4) {
        const at = row + (<usize>j << 2);
        const e0 = expf(Mathf.max(load<f32>(at) - max, -87.0)), e1 = expf(Mathf.max(load<f32>(at, 4) - max, -87.0));
        const e2 = expf(Mathf.max(load<f32>(at, 8) - max, -87.0)), e3 = expf(Mathf.max(load<f32>(at, 12) - max, -87.0));
        store<f32>(at, e0); store<f32>(at, e1, 4); store<f32>(at, e2, 8); store<f32>(at, e3, 12);
        s0 += <f64>e0; s1 += <f64>e1; s2 += <f64>e2; s3 += <f64>e3;
      }
    }
    let sum = (s0 + s1) + (s2 + s3);
    for (let j = n4; j < n; j++) {
      const at = row + (<usize>j << 2);
      const e = expf(Mathf.max(load<f32>(at) - max, -87.0));
      store<f32>(at, e);
      sum += <f64>e;
    }
    store<f32>(loss + (<usize>r << 2), <f32>(<f64>max + Math.log(sum) - <f64>xt));
    // softmax·scale = e·c (e below CE_FLUSH: 0)
    const c = <f32>(<f64>scale / sum);
    let j = 0;
    if (simd) {
      const cv = f32x4.splat(c), fv = f32x4.splat(CE_FLUSH);
      for (; j < n4; j += 4) {
        const at = row + (<usize>j << 2);
        const e = v128.load(at);
        v128.store(at, f32x4.mul(v128.and(e, f32x4.ge(e, fv)), cv));
      }
    }
    for (; j < n; j++) {
      const at = row + (<usize>j << 2);
      const e = load<f32>(at);
      store<f32>(at, (e >= CE_FLUSH ? e : 0) * c);
    }
    store<f32>(row + (<usize>target << 2), load<f32>(row + (<usize>target << 2)) - scale);
  }
}

export function cross_entropy_info(q: i32, op: usize): i64 {
  const n = arg(op, abi.CROSS_ENTROPY_N), nRows = arg(op, abi.CROSS_ENTROPY_N_ROWS);
  if (q == UNITS) return nRows;
  if (q == WORK) return <i64>nRows * <i64>n * 4;
  // the logits are rewritten in place (row for row); the losses are a side output, read after the plan
  if (q == WRITES) return region(ptr(op, abi.CROSS_ENTROPY_LOGITS), rowsBytes(n, nRows));
  if (q == READS) return region(ptr(op, abi.CROSS_ENTROPY_LOGITS), rowsBytes(n, nRows));
  if (q == READS + 1) return region(ptr(op, abi.CROSS_ENTROPY_TARGETS), rowsBytes(1, nRows));
  return q == ALIGN ? 1 : 0;
}

export function cross_entropy_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  cross_entropy(ptr(op, abi.CROSS_ENTROPY_LOGITS), ptr(op, abi.CROSS_ENTROPY_TARGETS), ptr(op, abi.CROSS_ENTROPY_LOSS),
                arg(op, abi.CROSS_ENTROPY_N), lo, hi, argf(op, abi.CROSS_ENTROPY_SCALE));
}

// ---------------------------------------------------------------- the training forward matmul
// OP_MATMUL_DQ: y[t][o] = W[o]·x[t] with W's rows dequantized (MATMUL_T_ROWS at a time, into the thread's
// scratch: matmul_t_scratch_bytes) and x in f32: the product the backward pass differentiates (inference's
// OP_MATMUL rounds x to the weights' activation format instead). Dots: dotf's 4 lane sums.

/**
 * SIMD: rows dequantized 4 at a time and packed interleaved (4 floats of each of the 4 rows, then the next 4
 * columns) when nIn % 4 == 0; tiles of 2 tokens × 4 rows (dotf's sums, 8 at once), then 1 token × 4 rows;
 * a chunk's last n % 4 rows (and every row when nIn % 4 ≠ 0) by dotf.
 */
export function matmul_dq(type: i32, w: usize, x: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32, scratch: usize): void {
  const rows = scratch + SCR_ROWS, pack = rows + (<usize>nIn << 4);
  const inB = <usize>nIn << 2, outB = <usize>nOut << 2;
  for (let o0 = r0; o0 < r1; o0 += MATMUL_T_ROWS) {
    const n = min(MATMUL_T_ROWS, r1 - o0);
    // groups of 4 rows packed (n4 rows), the rest dotf's from `rows` (one group of up to 4 at a time)
    const n4 = (nIn & 3) == 0 ? n & ~3 : 0;
    for (let k = 0; k < n4; k += 4) {
      dequantRows(type, w, nIn, o0 + k, 4, scratch + SCR_IDS, rows);
      let dst = pack + <usize>k * inB;
      for (let off: usize = 0; off < inB; off += 16, dst += 64) {
        v128.store(dst, v128.load(rows + off));
        v128.store(dst, v128.load(rows + inB + off), 16);
        v128.store(dst, v128.load(rows + 2 * inB + off), 32);
        v128.store(dst, v128.load(rows + 3 * inB + off), 48);
      }
    }
    let t = 0;
    for (; t + 2 <= nTok; t += 2) {
      const x0 = x + <usize>t * inB, x1 = x0 + inB, y0 = y + <usize>t * outB + (<usize>o0 << 2), y1 = y0 + outB;
      for (let k = 0; k < n4; k += 4) {
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        let p = pack + <usize>k * inB;
        for (let off: usize = 0; off < inB; off += 16, p += 64) {
          const u = v128.load(x0 + off), v = v128.load(x1 + off);
          const q0 = v128.load(p), q1 = v128.load(p, 16), q2 = v128.load(p, 32), q3 = v128.load(p, 48);
          a0 = f32x4.add(a0, f32x4.mul(q0, u)); b0 = f32x4.add(b0, f32x4.mul(q0, v));
          a1 = f32x4.add(a1, f32x4.mul(q1, u)); b1 = f32x4.add(b1, f32x4.mul(q1, v));
          a2 = f32x4.add(a2, f32x4.mul(q2, u)); b2 = f32x4.add(b2, f32x4.mul(q2, v));
          a3 = f32x4.add(a3, f32x4.mul(q3, u)); b3 = f32x4.add(b3, f32x4.mul(q3, v));
        }
        const kb = <usize>k << 2;
        store<f32>(y0 + kb, sum4(a0)); store<f32>(y0 + kb, sum4(a1), 4); store<f32>(y0 + kb, sum4(a2), 8); store<f32>(y0 + kb, sum4(a3), 12);
        store<f32>(y1 + kb, sum4(b0)); store<f32>(y1 + kb, sum4(b1), 4); store<f32>(y1 + kb, sum4(b2), 8); store<f32>(y1 + kb, sum4(b3), 12);
      }
    }
    if (t < nTok) {
      const x0 = x + <usize>t * inB, y0 = y + <usize>t * outB + (<usize>o0 << 2);
      for (let k = 0; k < n4; k += 4) {
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
        let p = pack + <usize>k * inB;
        for (let off: usize = 0; off < inB; off += 16, p += 64) {
          const u = v128.load(x0 + off);
          a0 = f32x4.add(a0, f32x4.mul(v128.load(p), u)); a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), u));
          a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), u)); a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), u));
        }
        const kb = <usize>k << 2;
        store<f32>(y0 + kb, sum4(a0)); store<f32>(y0 + kb, sum4(a1), 4); store<f32>(y0 + kb, sum4(a2), 8); store<f32>(y0 + kb, sum4(a3), 12);
      }
    }
    for (let k = n4; k < n; k += 4) {
      const m = min(4, n - k);
      dequantRows(type, w, nIn, o0 + k, m, scratch + SCR_IDS, rows);
      dqRows(rows, x, y + (<usize>(o0 + k) << 2), nIn, nOut, nTok, m, true);
    }
  }
}

/** y[t][k] = rows[k]·x[t] for m rows (y at row 0 of the m, nOut floats a token), by dotf. */
// @ts-ignore: decorator
@inline function dqRows(rows: usize, x: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, m: i32, simd: bool): void {
  const inB = <usize>nIn << 2, outB = <usize>nOut << 2;
  for (let t = 0; t < nTok; t++) {
    for (let k = 0; k < m; k++) store<f32>(y + <usize>t * outB + (<usize>k << 2), dotf(rows + <usize>k * inB, x + <usize>t * inB, nIn, simd));
  }
}

/** The scalar twin (bit-identical). */
export function matmul_dq_ref(type: i32, w: usize, x: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32, scratch: usize): void {
  const rows = scratch + SCR_ROWS;
  for (let o0 = r0; o0 < r1; o0 += MATMUL_T_ROWS) {
    const n = min(MATMUL_T_ROWS, r1 - o0);
    dequantRows(type, w, nIn, o0, n, scratch + SCR_IDS, rows);
    dqRows(rows, x, y + (<usize>o0 << 2), nIn, nOut, nTok, n, false);
  }
}

/** dotf's combination of 4 lane sums: (s0 + s1) + (s2 + s3) */
// @ts-ignore: decorator
@inline function sum4(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

export function matmul_dq_info(q: i32, op: usize): i64 {
  const nIn = arg(op, abi.MATMUL_DQ_N_IN), nOut = arg(op, abi.MATMUL_DQ_N_OUT), nTok = arg(op, abi.MATMUL_DQ_N_TOK);
  if (q == UNITS) return nOut;
  if (q == ALIGN) return MATMUL_T_ROWS;
  if (q == WORK) return <i64>nIn * <i64>nOut * <i64>nTok >> 4;
  if (q == WRITES) return region(ptr(op, abi.MATMUL_DQ_Y), rowsBytes(nOut, nTok));
  if (q == READS) return region(ptr(op, abi.MATMUL_DQ_X), rowsBytes(nIn, nTok));
  return 0;
}

export function matmul_dq_run(op: usize, lo: i32, hi: i32, scratch: usize): void {
  matmul_dq(arg(op, abi.MATMUL_DQ_TYPE), ptr(op, abi.MATMUL_DQ_W), ptr(op, abi.MATMUL_DQ_X), ptr(op, abi.MATMUL_DQ_Y),
            arg(op, abi.MATMUL_DQ_N_IN), arg(op, abi.MATMUL_DQ_N_OUT), arg(op, abi.MATMUL_DQ_N_TOK), lo, hi,
            ptr(op, abi.MATMUL_DQ_SCRATCH) + scratch);
}
