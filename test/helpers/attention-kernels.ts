/** The attention kernels' exports the attention tests call (assembly/ops/attention.ts, kv.ts), and their scratch. */
import * as abi from '../../src/abi.js';

export type Attention = (q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
  headDim: number, scale: number, scratch: number, window: number, maxBias: number, ring: number, kvType: number, cap: number) => void;

export interface AttentionKernels {
  attention: Attention;
  alibi_slope(h: number, nHead: number, maxBias: number): number;
  kv_convert(src: number, srcType: number, dst: number, dstType: number, headDim: number, nHead: number, nRows: number): void;
  kv_row_bytes(type: number, nHead: number, headDim: number): number;
}

/** floats of scratch for any query of a context of ctx keys (what the engine gives: src/engine/state.ts, attentionScratchBytes) */
export function scratchFloats(ctx: number, hd: number): number {
  const fuseLen = Math.max(abi.ATTN_FUSE_MIN_LEN, abi.ATTN_FUSE_HEADS * (hd + abi.ATTN_TILE + 2));
  return Math.max(ctx, abi.ATTN_FUSE_HEADS * fuseLen) + 4 + 2 * abi.ATTN_TILE * hd;
}
