// repack: Q8_0 and Q4_0 tensors change layout in place once, right after they are loaded, to the one
// their matmul kernels read fastest. The size does not change and no copy of the GGUF layout stays.
//
// GGUF rows are blocks of 32 weights, each [fp16 d][quants]. Repacked, a row is two planes:
//   quant plane: nb blocks of quants (32 bytes for Q8_0, 16 for Q4_0), 16-byte aligned when the row is
//   scale plane: nb fp16 d, in block order (kernels load 4 at once and convert them together)
// Q8_0 quants are unchanged (i8). Q4_0 nibbles: in the plain build they are reordered and biased so that,
// read as 8 i16 lanes, lane k holds the four 4-bit values of weights k, 8+k, 16+k, 24+k at bits 0, 4, 8 and
// 12, each stored as q ^ 8: as a signed 4-bit number that is q − 8, the weight's value. Two shifts per
// nibble (one for the top one) then give the weights as i16 in element order (wq0..wq3 in matmul.ts). The
// relaxed-SIMD build keeps GGUF's order (byte j: weight j, and weight 16 + j in the high nibble): its dot
// takes the unsigned nibbles as they are.
import { GGML_Q8_0, GGML_Q4_0, REPACKED } from "../../src/abi";

/**
 * Repacks nRows rows of nIn weights of `type` at w in place (scratch: room for one row) and returns the
 * layout code the kernels take from then on: type | REPACKED, or `type` when it needs no repacking.
 */
export function repack(type: i32, w: usize, nRows: i32, nIn: i32, scratch: usize): i32 {
  if ((type != GGML_Q8_0 && type != GGML_Q4_0) || (nIn & 31) != 0) return type;
  const q4 = type == GGML_Q4_0;
  const nb = nIn >> 5;
  const bs: usize = q4 ? 18 : 34;
  const qs: usize = q4 ? 16 : 32;
  const rb = <usize>nb * bs;
  for (let r = 0; r < nRows; r++) {
    const row = w + <usize>r * rb;
    memory.copy(scratch, row, rb);
    const scales = row + <usize>nb * qs;
    for (let b = 0; b < nb; b++) {
      const src = scratch + <usize>b * bs;
      store<u16>(scales + (<usize>b << 1), load<u16>(src));
      if (q4) {
        const q = v128.load(src, 2);
        v128.store(row + (<usize>b << 4), ASC_FEATURE_RELAXED_SIMD ? q : q4Reorder(q));
      } else {
        v128.store(row + (<usize>b << 5), v128.load(src, 2), 0);
        v128.store(row + (<usize>b << 5), v128.load(src, 18), 16);
      }
    }
  }
  return type | REPACKED;
}

// GGUF Q4_0 quants (byte j: weight j in the low nibble, weight 16+j in the high one) -> the repacked order
// (byte 2k: weights k, 8+k; byte 2k+1: weights 16+k, 24+k; every nibble xor 8)
// @ts-ignore: decorator
@inline function q4Reorder(raw: v128): v128 {
  const lo = v128.xor(v128.and(raw, i8x16.splat(0x0f)), i8x16.splat(8));    // weights 0..15
  const hi = v128.xor(i8x16.shr_u(raw, 4), i8x16.splat(8));                  // weights 16..31
  const a = v128.or(lo, i8x16.shl(v128.shuffle<u8>(lo, lo, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15), 4));
  const b = v128.or(hi, i8x16.shl(v128.shuffle<u8>(hi, hi, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15), 4));
  return v128.shuffle<u8>(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
