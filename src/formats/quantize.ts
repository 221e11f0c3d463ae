// Reference quantizers and dequantizers in plain JS, bit-exact with ggml's `*_ref` C
// functions (used offline by tools, benchmarks and tests; not the inference hot path), and the
// per-tensor policy of `wasmlm quantize`. One file per type group, like the kernels:
//
//   quantize/float.ts   F32, F16, BF16 and the f16/bf16 conversions
//   quantize/q8_0.ts    Q8_0 (and the activation types Q8_1, Q8_K: dequantize only)
//   quantize/q4_0.ts    Q4_0
//   quantize/legacy.ts  Q4_1, Q5_0, Q5_1
//   quantize/k_q23.ts   Q2_K, Q3_K
//   quantize/k_q45.ts   Q4_K, Q5_K
//   quantize/k_q6.ts    Q6_K
//   quantize/common.ts  rounding and the K-quants' scale searches they share
//
// Each group exports a BlockCodec per type (its quantizer and dequantizer); CODECS below maps
// ggml type ids to them. Quantizers follow ggml's f32 arithmetic: every intermediate is rounded
// to f32 (Math.fround) exactly where C would. The K-quantizers are ggml's imatrix-free `_ref`
// ones (what llama-quantize runs without --imatrix), f32 arithmetic without FMA contraction.

import { kindOf, WasmlmError } from '../errors.js';
import {
  GGML_BF16,
  GGML_F16,
  GGML_F32,
  GGML_Q2_K,
  GGML_Q3_K,
  GGML_Q4_0,
  GGML_Q4_1,
  GGML_Q4_K,
  GGML_Q5_0,
  GGML_Q5_1,
  GGML_Q5_K,
  GGML_Q6_K,
  GGML_Q8_0,
  GGML_Q8_1,
  GGML_Q8_K,
  ggmlTypeInfo,
  ggmlTypeName,
} from './ggml-types.js';
import type { BlockCodec } from './quantize/common.js';
import { BF16, F16, F32, f16Table } from './quantize/float.js';
import { Q2_K, Q3_K } from './quantize/k_q23.js';
import { Q4_K, Q5_K } from './quantize/k_q45.js';
import { Q6_K } from './quantize/k_q6.js';
import { Q4_1, Q5_0, Q5_1 } from './quantize/legacy.js';
import { Q4_0 } from './quantize/q4_0.js';
import { Q8_0, Q8_1, Q8_K } from './quantize/q8_0.js';

export { bf16ToF32, f16ToF32, f32ToBF16, f32ToF16, quantizeBF16, quantizeF16 } from './quantize/float.js';
export { quantizeQ2_K, quantizeQ3_K } from './quantize/k_q23.js';
export { quantizeQ4_K, quantizeQ5_K } from './quantize/k_q45.js';
export { quantizeQ6_K } from './quantize/k_q6.js';
export { quantizeQ4_1, quantizeQ5_0, quantizeQ5_1 } from './quantize/legacy.js';
export { quantizeQ4_0 } from './quantize/q4_0.js';
export { quantizeQ8_0 } from './quantize/q8_0.js';

/** ggml type id → its codec (a Map: only these ids) */
const CODECS = new Map<number, BlockCodec>([
  [GGML_F32, F32], [GGML_F16, F16], [GGML_BF16, BF16],
  [GGML_Q8_0, Q8_0], [GGML_Q8_1, Q8_1], [GGML_Q8_K, Q8_K], [GGML_Q4_0, Q4_0],
  [GGML_Q4_1, Q4_1], [GGML_Q5_0, Q5_0], [GGML_Q5_1, Q5_1],
  [GGML_Q2_K, Q2_K], [GGML_Q3_K, Q3_K], [GGML_Q4_K, Q4_K], [GGML_Q5_K, Q5_K], [GGML_Q6_K, Q6_K],
]);

/**
 * Quantize f32 values (a whole tensor, rows along ne[0] laid end to end; the row length must
 * be a multiple of the block size, which holds when src.length is) to `type`:
 * F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, and (rows a multiple of 256) Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K.
 */
export function quantizeTensor(type: number, src: Float32Array): Uint8Array {
  if (!(src instanceof Float32Array)) throw new WasmlmError('BAD_ARGUMENT', `quantizeTensor: the values must be a Float32Array, got ${describe(src)}`);
  const quantize = CODECS.get(type)?.quantize;
  if (!quantize) throw new WasmlmError('UNSUPPORTED_TYPE', `no reference quantizer for ${ggmlTypeName(type)}`);
  return quantize(src);
}

/**
 * n values of `type` from `bytes` (blocks laid end to end, n a multiple of the block size):
 * F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
 */
export function dequantize(type: number, bytes: Uint8Array, n: number): Float32Array {
  if (!(bytes instanceof Uint8Array)) throw new WasmlmError('BAD_ARGUMENT', `dequantize: the bytes must be a Uint8Array, got ${describe(bytes)}`);
  const info = ggmlTypeInfo(type);
  if (!info) throw new WasmlmError('BAD_ARGUMENT', `unknown ggml type ${String(type)}`);
  if (!Number.isSafeInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new WasmlmError('BAD_ARGUMENT', `dequantize ${info.name}: ${n} values is not a whole number of blocks of ${info.blockSize}`);
  }
  const nb = n / info.blockSize;
  const need = nb * info.typeSize;
  if (bytes.length < need) {
    throw new WasmlmError('BAD_ARGUMENT', `dequantize ${info.name}: ${n} values need ${need} bytes, got ${bytes.length}`);
  }
  const codec = CODECS.get(type);
  if (!codec) throw new WasmlmError('UNSUPPORTED_TYPE', `no reference dequantizer for ${info.name}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const y = new Float32Array(n);
  const h = f16Table();
  codec.dequantize(bytes, dv, nb, y, (o) => h[dv.getUint16(o, true)]!);
  return y;
}

// --- whole-model quantization: which type each tensor gets (llama-quantize's choices) ------------

/** A target of `wasmlm quantize --type`: the GGUF general.file_type it writes and its default tensor type. */
export interface QuantTarget {
  name: string;
  /** llama_ftype written to general.file_type */
  fileType: number;
  /** the type of most 2-D weights */
  type: number;
  /** llama.cpp's per-tensor mix (q4_k_m, q5_k_m); otherwise every quantizable weight is `type` (llama-quantize --pure) */
  mix: boolean;
}

export const QUANT_TARGETS: Readonly<Record<string, QuantTarget>> = Object.fromEntries(([
  ['f32', 0, GGML_F32, false], ['f16', 1, GGML_F16, false], ['bf16', 32, GGML_BF16, false],
  ['q8_0', 7, GGML_Q8_0, false], ['q4_0', 2, GGML_Q4_0, false], ['q4_1', 3, GGML_Q4_1, false],
  ['q5_0', 8, GGML_Q5_0, false], ['q5_1', 9, GGML_Q5_1, false],
  ['q2_k', 10, GGML_Q2_K, false], ['q3_k', 12, GGML_Q3_K, false], ['q4_k', 15, GGML_Q4_K, false],
  ['q5_k', 17, GGML_Q5_K, false], ['q6_k', 18, GGML_Q6_K, false],
  ['q4_k_m', 15, GGML_Q4_K, true], ['q5_k_m', 17, GGML_Q5_K, true],
] as const).map(([name, fileType, type, mix]) => [name, { name, fileType, type, mix }]));

export interface QuantPlanTensor {
  name: string;
  /** dims, ne[0] fastest */
  ne: readonly number[];
  /** the tensor's type now */
  type: number;
}

export interface QuantPlanOptions {
  /** general.architecture (falcon has its own rules) */
  arch?: string;
  /** block_count; default: 1 + the highest blk.N seen */
  nLayer?: number;
  /** expert_count (8-expert models keep attn_v/attn_k in Q8_0) */
  nExpert?: number;
}

export interface QuantPlanEntry extends QuantPlanTensor {
  /** the type it is written as */
  outType: number;
  /** why it is not `target.type` (fallback for its row size), for the log */
  note?: string;
}

/** llama.cpp's tensor order in a quantized file: non-layer tensors first, then by layer, by name within each. */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const layer = (n: string) => { const m = /^blk\.(\d+)\./.exec(n); return m ? Number(m[1]) : -1; };
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Would llama-quantize quantize this tensor at all (2-D+ weights but norms, routers, positions, ...)? */
function quantizable(t: QuantPlanTensor): boolean {
  let dims = t.ne.length;
  while (dims > 1 && t.ne[dims - 1] === 1) dims--;
  if (dims < 2) return false;
  const n = t.name;
  if (!n.endsWith('weight')) return false;
  return !['_norm.weight', 'ffn_gate_inp.weight', 'altup', 'laurel', 'per_layer_model_proj', 'ssm_conv1d',
    'shortconv.conv.weight', 'time_mix_', 'attn_rel_b.weight', '.position_embd', '.rel_pos', '.patch_embd']
    .some((s) => n.includes(s)) && n !== 'position_embd.weight' && n !== 'token_types.weight';
}

/** llama.cpp's fallback when a row (ne[0]) is not a whole number of blocks of `type`. */
function fallbackType(type: number, ne0: number): number {
  if (ne0 % ggmlTypeInfo(type)!.blockSize === 0) return type;
  let t: number;
  switch (type) {
    case GGML_Q2_K: case GGML_Q3_K: t = GGML_Q4_0; break;
    case GGML_Q4_K: t = GGML_Q5_0; break;
    case GGML_Q5_K: t = GGML_Q5_1; break;
    case GGML_Q6_K: t = GGML_Q8_0; break;
    default: t = GGML_F16; // llama.cpp has no fallback here (it stops); F16 keeps the tensor usable
  }
  return ne0 % ggmlTypeInfo(t)!.blockSize === 0 ? t : GGML_F16;
}

/**
 * The type of every tensor when a model is quantized to `target`, in llama.cpp's output order:
 * what llama-quantize (no imatrix) picks for the same file: 1-D tensors, norms and routers keep
 * their type; with `--pure`-like targets every other weight is target.type; q4_k_m / q5_k_m use
 * llama.cpp's mix (output, or token_embd when it doubles as the output, Q6_K; attn_v and
 * ffn_down Q6_K on the first and last eighth of the layers and every third in between); a row that
 * is not a whole number of blocks falls back as llama.cpp does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0).
 */
export function planQuantization(target: QuantTarget, tensors: readonly QuantPlanTensor[], options: QuantPlanOptions = {}): QuantPlanEntry[] {
  const ordered = llamaTensorOrder(tensors);
  const quantized = target.type !== GGML_F32 && target.type !== GGML_F16 && target.type !== GGML_BF16;
  const layerOf = (n: string) => { const m = /^blk\.(\d+)\./.exec(n); return m ? Number(m[1]) : -1; };
  const nLayer = options.nLayer ?? 1 + Math.max(-1, ...ordered.map((t) => layerOf(t.name)));
  const nExpert = Math.max(1, options.nExpert ?? 1);
  const falcon = options.arch === 'falcon';
  const isAttnV = (n: string) => n.includes('attn_v.weight') || n.includes('attn_qkv.weight') || n.includes('attn_kv_b.weight');
  const nAttnV = ordered.filter((t) => isAttnV(t.name)).length;
  const tied = !ordered.some((t) => t.name === 'output.weight');
  const moreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
  const q4km = target.name === 'q4_k_m';
  let iAttnV = 0;
  let iFfnDown = 0;
  return ordered.map((t): QuantPlanEntry => {
    if (!quantizable(t)) return { ...t, outType: t.type };
    let type = target.type;
    const n = t.name;
    if (quantized && target.mix) {
      if (n === 'output.weight' || (tied && n === 'token_embd.weight')) {
        if (falcon || t.ne[0]! % 256 !== 0) type = GGML_Q8_0;
        else if (type !== GGML_Q8_0) type = GGML_Q6_K;
      } else if (n === 'token_embd.weight') {
        // the default type
      } else if (isAttnV(n)) {
        if (moreBits(iAttnV, nAttnV)) type = GGML_Q6_K;
        if (nExpert === 8) type = GGML_Q8_0;
        iAttnV++;
      } else if (n.includes('attn_k.weight')) {
        if (nExpert === 8) type = GGML_Q8_0;
      } else if (n.includes('ffn_down')) {
        const i = nExpert > 1 ? layerOf(n) : iFfnDown;
        if (q4km) {
          if (falcon) type = i < Math.trunc(nLayer / 16) ? GGML_Q6_K : moreBits(i, nLayer) ? GGML_Q5_K : GGML_Q4_K;
          else if (moreBits(i, nLayer)) type = GGML_Q6_K;
        } else if (moreBits(i, nLayer)) {
          type = GGML_Q6_K; // q5_k_m
        }
        iFfnDown++;
      } else if (n.includes('attn_output.weight')) {
        if (!falcon && nExpert === 8 && q4km) type = GGML_Q5_K;
      }
    }
    const fb = quantized ? fallbackType(type, t.ne[0]!) : type;
    const entry: QuantPlanEntry = { ...t, outType: fb };
    if (fb !== type) entry.note = `ne[0] = ${t.ne[0]} is not a multiple of ${ggmlTypeInfo(type)!.blockSize}: ${ggmlTypeName(type)} → ${ggmlTypeName(fb)}`;
    return entry;
  });
}

/** What a wrong argument is, for a message (a Symbol cannot go into a template string). */
function describe(v: unknown): string {
  return typeof v === 'object' && v !== null ? (v.constructor?.name ?? 'an object') : kindOf(v);
}
