// The weight types, one place each (float.ts: F32/F16/BF16; q8_0_q4_0.ts: Q8_0/Q4_0, repacked at load;
// legacy.ts: Q4_1/Q5_0/Q5_1; k_q45.ts, k_q6.ts, k_q23.ts: the K-quants), and here the dispatch by type:
// the matmul tiling driver (one for every type), get_rows, matmul_ref, repack; the activation formats the
// kernels read are act.ts (prep_act).
//
// OP_MATMUL: y[t·nOut + o] = Σ_i W[o, i]·x[t, i] for o in [r0, r1), t < nTok. W is a GGUF tensor (ne =
// [nIn, nOut]): row o is contiguous in its type's block layout (Q8_0/Q4_0: repacked).
// Tiling: rows are processed in blocks of ~64 KiB of weights; within a block, tokens go in tiles of 4 (BF16:
// 2): one weight row × the tile's tokens, so every weight load and unpack is shared by the tokens (a
// short tile repeats its last token's pointers and drops the extra lanes). A lone token (decode) goes
// through the 1-token kernels two rows at a time (the K-quant and Q8_0/Q4_0 kernels share each act load
// between the two rows; F32/F16/BF16 run one row after the other; Q4_1/Q5_0/Q5_1 one row per call). Every type's 1-token and tile kernels do
// the same per-token operations in the same order, so a token's result does not depend on nTok.
import {
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
  GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, WASMLM_Q8_0R, WASMLM_Q4_0R,
} from "../../src/abi";
import { actFormat, actQ, actD, actE, actQaRow, actQ8KD, actQ8KSums, QA_SHIFT } from "./act";
import { PREFETCH_ROWS, store4, touch } from "./common";
import { floatDec, floatTile, floatRef, floatRow } from "./float";
import { q32Dec, q32Tile, q32Ref, q32Row, q32Repack } from "./q8_0_q4_0";
import { legacyDec, legacyTile, legacyRef, legacyRow } from "./legacy";
import { kBlockBytes } from "./k_common";
import { q45Dec, q45Tile, q45RefBlock, q45Row } from "./k_q45";
import { q6Dec, q6Tile, q6RefBlock, q6Row } from "./k_q6";
import { q23Dec, q23Tile, q23RefBlock, q23Row } from "./k_q23";

export { act_format, act_bytes, prep_act, prep_act_part, prep_act_ref } from "./act";

// ---------------------------------------------------------------- type groups

// @ts-ignore: decorator
@inline function isFloat(type: i32): bool { return type == GGML_F32 || type == GGML_F16 || type == GGML_BF16; }
// @ts-ignore: decorator
@inline function isQ32(type: i32): bool { return type == WASMLM_Q8_0R || type == WASMLM_Q4_0R; }
// @ts-ignore: decorator
@inline function isLegacy(type: i32): bool { return type == GGML_Q4_1 || type == GGML_Q5_0 || type == GGML_Q5_1; }
// @ts-ignore: decorator
@inline function isQ45(type: i32): bool { return type == GGML_Q4_K || type == GGML_Q5_K; }
// @ts-ignore: decorator
@inline function isQ23(type: i32): bool { return type == GGML_Q2_K || type == GGML_Q3_K; }
// @ts-ignore: decorator
@inline function isK(type: i32): bool { return isQ45(type) || isQ23(type) || type == GGML_Q6_K; }

/** Bytes of one row of rowLen values of `type` (GGUF block layout, or repacked: the same size; 0 if unsupported). */
// @ts-ignore: decorator
@inline export function rowBytesOf(type: i32, rowLen: i32): usize {
  if (type == GGML_F32) return <usize>rowLen << 2;
  if (type == GGML_F16 || type == GGML_BF16) return <usize>rowLen << 1;
  if (type == GGML_Q8_0 || type == WASMLM_Q8_0R) return <usize>(rowLen >> 5) * 34;
  if (type == GGML_Q4_0 || type == WASMLM_Q4_0R) return <usize>(rowLen >> 5) * 18;
  if (type == GGML_Q4_1) return <usize>(rowLen >> 5) * 20;
  if (type == GGML_Q5_0) return <usize>(rowLen >> 5) * 22;
  if (type == GGML_Q5_1) return <usize>(rowLen >> 5) * 24;
  return <usize>(rowLen >> 8) * kBlockBytes(type);
}

// ---------------------------------------------------------------- matmul

const BLOCK_BYTES: usize = 65536;

// one token (act planes q, d, e), rows w0 and w1 (w1 = w0, y1 = y0: one row) -> y0, y1; Q4_1/Q5_0/Q5_1: one
// row (w0 -> y0), see rowsPerCall
// @ts-ignore: decorator
@inline function dec(type: i32, w0: usize, w1: usize, q: usize, d: usize, e: usize, nIn: i32, y0: usize, y1: usize): void {
  if (isFloat(type)) floatDec(type, w0, w1, q, nIn, y0, y1);
  else if (isQ32(type)) q32Dec(type, w0, w1, q, d, e, nIn, y0, y1);
  else if (isLegacy(type)) legacyDec(type, w0, q, d, e, nIn, y0);
  else if (isQ45(type)) q45Dec(type, w0, w1, q, d, e, nIn, y0, y1);
  else if (isQ23(type)) q23Dec(type, w0, w1, q, d, e, nIn, y0, y1);
  else q6Dec(type, w0, w1, q, d, e, nIn, y0, y1);
}

// one row, the tile's tokens (act planes q0..q3, d0..d3, e0..e3) -> [y(t0), .., y(t3)]; yp: the row's output
// for the first token
// @ts-ignore: decorator
@inline function tile(type: i32, w: usize, q0: usize, q1: usize, q2: usize, q3: usize, d0: usize, d1: usize, d2: usize,
                      d3: usize, e0: usize, e1: usize, e2: usize, e3: usize, nIn: i32, yp: usize, nt: i32): v128 {
  if (isFloat(type)) return floatTile(type, w, q0, q1, q2, q3, nIn);
  if (isQ32(type)) return q32Tile(type, w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
  if (isLegacy(type)) return legacyTile(type, w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn);
  if (isQ45(type)) return q45Tile(type, w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
  if (isQ23(type)) return q23Tile(type, w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp);
  return q6Tile(type, w, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt);
}

// Rows per 1-token kernel call: 2 (the K-quant and Q8_0/Q4_0 kernels share each act load between the rows;
// F32/F16/BF16 run the rows one after the other in one call), Q4_1/Q5_0/Q5_1 1.
// @ts-ignore: decorator
@inline function rowsPerCall(type: i32): i32 { return isLegacy(type) ? 1 : 2; }

// Rows touched at once by the tiles: Q8_0 2 (a 4-token pass of TinyLlama Q8_0, 1 thread: 327 -> 295 ms
// against 1), the others 1 (Q4_0: 2 was slower, 250 -> 270 ms; Q4_K: no change).
// @ts-ignore: decorator
@inline function tileTouch(type: i32): i32 { return type == WASMLM_Q8_0R ? 2 : 1; }

// The tiling driver, inlined once per type (`type` a constant there). Q8_0/Q4_0 decode (two rows every two
// rows) and the first token tile of Q8_0/Q4_0 and Q4_K/Q5_K (tileTouch rows every tileTouch rows) touch the
// weights PREFETCH_ROWS rows ahead (common.ts; the other kernels do more arithmetic per byte and gain nothing).
// @ts-ignore: decorator
@inline function mm(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const f = actFormat(type);
  const rb = rowBytesOf(type, nIn);
  const yb = <usize>nOut << 2;
  const tileTok = type == GGML_BF16 ? 2 : 4;
  const wEnd = w + <usize>r1 * rb;
  const rowsPerBlock = max<i32>(2, <i32>(BLOCK_BYTES / rb)) & ~1;
  for (let o0 = r0; o0 < r1; o0 += rowsPerBlock) {
    const o1 = min<i32>(o0 + rowsPerBlock, r1);
    for (let t = 0; t < nTok; t += tileTok) {
      const nt = min<i32>(tileTok, nTok - t);
      const q0 = actQ(f, act, nIn, t), d0 = actD(f, act, nIn, nTok, t), e0 = actE(f, act, nIn, nTok, t);
      const yt = y + <usize>t * yb;
      if (nt == 1) {
        for (let o = o0; o < o1; o += rowsPerCall(type)) {
          const w0 = w + <usize>o * rb, y0 = yt + (<usize>o << 2);
          const two = rowsPerCall(type) == 2 && o + 1 < o1;
          // (y0 is overwritten with the row's result)
          if (isQ32(type) && two) store<u32>(y0, touch(w0 + <usize>PREFETCH_ROWS * rb, w0 + <usize>(PREFETCH_ROWS + 2) * rb, wEnd));
          dec(type, w0, two ? w0 + rb : w0, q0, d0, e0, nIn, y0, two ? y0 + 4 : y0);
        }
      } else {
        const t1 = t + 1, t2 = nt > 2 ? t + 2 : t1, t3 = nt > 3 ? t + 3 : t2;
        const q1 = actQ(f, act, nIn, t1), d1 = actD(f, act, nIn, nTok, t1), e1 = actE(f, act, nIn, nTok, t1);
        const q2 = actQ(f, act, nIn, t2), d2 = actD(f, act, nIn, nTok, t2), e2 = actE(f, act, nIn, nTok, t2);
        const q3 = actQ(f, act, nIn, t3), d3 = actD(f, act, nIn, nTok, t3), e3 = actE(f, act, nIn, nTok, t3);
        for (let o = o0; o < o1; o++) {
          const yp = yt + (<usize>o << 2);
          if ((isQ32(type) || isQ45(type)) && t == 0 && (o - o0) % tileTouch(type) == 0) {
            store<u32>(yp, touch(w + <usize>(o + PREFETCH_ROWS) * rb, w + <usize>(o + PREFETCH_ROWS + tileTouch(type)) * rb, wEnd));
          }
          store4(yp, yb, tile(type, w + <usize>o * rb, q0, q1, q2, q3, d0, d1, d2, d3, e0, e1, e2, e3, nIn, yp, nt), nt);
        }
      }
    }
  }
}

/** y[t·nOut + o] = W[o]·x[t] for o in [r0, r1), t < nTok; act as written by prep_act for `type`. */
export function matmul(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  if (type == GGML_F32) mm(GGML_F32, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_F16) mm(GGML_F16, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_BF16) mm(GGML_BF16, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == WASMLM_Q8_0R) mm(WASMLM_Q8_0R, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == WASMLM_Q4_0R) mm(WASMLM_Q4_0R, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q4_1) mm(GGML_Q4_1, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q5_0) mm(GGML_Q5_0, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q5_1) mm(GGML_Q5_1, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q4_K) mm(GGML_Q4_K, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q5_K) mm(GGML_Q5_K, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q6_K) mm(GGML_Q6_K, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q2_K) mm(GGML_Q2_K, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (type == GGML_Q3_K) mm(GGML_Q3_K, w, act, y, nIn, nOut, nTok, r0, r1);
  else unreachable();   // GGUF-layout Q8_0 / Q4_0: repack first
}

// ---------------------------------------------------------------- scalar twin

/** K-quants: per token and row, the super-blocks' terms added in f64 as the kernels do. */
function kRef(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  const ns = nIn >> 8;
  const bsz = kBlockBytes(type);
  for (let t = 0; t < nTok; t++) {
    const qa = actQaRow(act, nIn, t), dr = actQ8KD(act, nIn, nTok, t), br = actQ8KSums(act, nIn, nTok, t);
    for (let o = r0; o < r1; o++) {
      let acc: f64 = 0;
      for (let s = 0; s < ns; s++) {
        const b = w + (<usize>o * <usize>ns + <usize>s) * bsz;
        const qs = qa + (<usize>(s * 256) << QA_SHIFT), bs = br + (<usize>(s * 16) << 1);
        const da = load<f32>(dr + (<usize>s << 2));
        if (isQ45(type)) acc = q45RefBlock(type, b, qs, bs, da, acc);
        else if (type == GGML_Q6_K) acc = q6RefBlock(b, qs, da, acc);
        else acc = q23RefBlock(type, b, qs, bs, da, acc);
      }
      store<f32>(y + (<usize>t * <usize>nOut + <usize>o << 2), <f32>acc);
    }
  }
}

export function matmul_ref(type: i32, w: usize, act: usize, y: usize, nIn: i32, nOut: i32, nTok: i32, r0: i32, r1: i32): void {
  if (isFloat(type)) floatRef(type, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (isQ32(type)) q32Ref(type, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (isLegacy(type)) legacyRef(type, w, act, y, nIn, nOut, nTok, r0, r1);
  else if (isK(type)) kRef(type, w, act, y, nIn, nOut, nTok, r0, r1);
  else unreachable();   // GGUF-layout Q8_0 / Q4_0: repack first
}

// ---------------------------------------------------------------- get_rows, repack

/**
 * out[t·rowLen ..] = dequantized row ids[t] of table (rows of rowLen values; Q8_0/Q4_0 repacked), with the
 * reference dequantizer's f32 steps (bit-exact with ggml's dequantize_row_* and gguf-py).
 */
export function get_rows(type: i32, table: usize, rowLen: i32, ids: usize, nTok: i32, out: usize): void {
  const rb = rowBytesOf(type, rowLen);
  const ob = <usize>rowLen << 2;
  for (let t = 0; t < nTok; t++) {
    const src = table + <usize>load<u32>(ids + (<usize>t << 2)) * rb;
    const dst = out + <usize>t * ob;
    if (isFloat(type)) floatRow(type, src, dst, rowLen);
    else if (isQ32(type)) q32Row(type, src, dst, rowLen);
    else if (isLegacy(type)) legacyRow(type, src, dst, rowLen);
    else if (isQ45(type)) q45Row(type, src, dst, rowLen);
    else if (type == GGML_Q6_K) q6Row(src, dst, rowLen);
    else if (isQ23(type)) q23Row(type, src, dst, rowLen);
    else unreachable();
  }
}

/**
 * Repacks nRows rows of nIn weights of `type` at w in place (scratch: room for one row) and returns the
 * layout code the kernels take from then on: type | REPACKED (Q8_0, Q4_0: q8_0_q4_0.ts), or `type` when it
 * needs no repacking.
 */
export function repack(type: i32, w: usize, nRows: i32, nIn: i32, scratch: usize): i32 {
  if (type == GGML_Q8_0 || type == GGML_Q4_0) return q32Repack(type, w, nRows, nIn, scratch);
  return type;
}
