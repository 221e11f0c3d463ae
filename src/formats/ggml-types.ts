// The ggml tensor types that can appear in a GGUF file: id, name, block size (elements per
// block) and type size (bytes per block). Sizes follow ggml's block structs (ggml-common.h).
//
// `supported` says whether wasmlm's kernels are meant to compute with a type as a weight
// (the set listed in DESIGN.md: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0 and the
// k-quants q2_k..q6_k). Everything else is known (so a file that uses it still parses and
// its tensors can be skipped or copied) but a model that needs it gets UNSUPPORTED_TYPE.

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
} from '../abi.js';
import { WasmlmError } from '../errors.js';

export {
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
};

// Types the kernel ABI does not name (yet). Ids as in ggml.h.
export const GGML_IQ2_XXS = 16;
export const GGML_IQ2_XS = 17;
export const GGML_IQ3_XXS = 18;
export const GGML_IQ1_S = 19;
export const GGML_IQ4_NL = 20;
export const GGML_IQ3_S = 21;
export const GGML_IQ2_S = 22;
export const GGML_IQ4_XS = 23;
export const GGML_I8 = 24;
export const GGML_I16 = 25;
export const GGML_I32 = 26;
export const GGML_I64 = 27;
export const GGML_F64 = 28;
export const GGML_IQ1_M = 29;
export const GGML_TQ1_0 = 34;
export const GGML_TQ2_0 = 35;
export const GGML_MXFP4 = 39;

/** K-quant super-block size. */
export const QK_K = 256;

export interface GGMLTypeInfo {
  readonly id: number;
  readonly name: string;
  /** elements per block (1 for plain float/int types) */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
  /** a block-quantized type (as opposed to a plain element type) */
  readonly quantized: boolean;
  /** wasmlm's kernels are meant to compute with it as a weight type */
  readonly supported: boolean;
}

const TABLE: GGMLTypeInfo[] = [];
function def(id: number, name: string, blockSize: number, typeSize: number, supported: boolean): void {
  TABLE.push({ id, name, blockSize, typeSize, quantized: blockSize > 1, supported });
}
def(GGML_F32, 'F32', 1, 4, true);
def(GGML_F16, 'F16', 1, 2, true);
def(GGML_Q4_0, 'Q4_0', 32, 18, true); // d:f16, qs[16]
def(GGML_Q4_1, 'Q4_1', 32, 20, true); // d, m:f16, qs[16]
def(GGML_Q5_0, 'Q5_0', 32, 22, true); // d, qh[4], qs[16]
def(GGML_Q5_1, 'Q5_1', 32, 24, true); // d, m, qh[4], qs[16]
def(GGML_Q8_0, 'Q8_0', 32, 34, true); // d, qs[32]
def(GGML_Q8_1, 'Q8_1', 32, 36, false); // d, s:f16, qs[32] (activation type)
def(GGML_Q2_K, 'Q2_K', QK_K, 84, true); // scales[16], qs[64], d, dmin
def(GGML_Q3_K, 'Q3_K', QK_K, 110, true); // hmask[32], qs[64], scales[12], d
def(GGML_Q4_K, 'Q4_K', QK_K, 144, true); // d, dmin, scales[12], qs[128]
def(GGML_Q5_K, 'Q5_K', QK_K, 176, true); // d, dmin, scales[12], qh[32], qs[128]
def(GGML_Q6_K, 'Q6_K', QK_K, 210, true); // ql[128], qh[64], scales[16], d
def(GGML_Q8_K, 'Q8_K', QK_K, 292, false); // d:f32, qs[256], bsums:i16[16] (activation type)
def(GGML_IQ2_XXS, 'IQ2_XXS', QK_K, 66, false);
def(GGML_IQ2_XS, 'IQ2_XS', QK_K, 74, false);
def(GGML_IQ3_XXS, 'IQ3_XXS', QK_K, 98, false);
def(GGML_IQ1_S, 'IQ1_S', QK_K, 50, false);
def(GGML_IQ4_NL, 'IQ4_NL', 32, 18, false);
def(GGML_IQ3_S, 'IQ3_S', QK_K, 110, false);
def(GGML_IQ2_S, 'IQ2_S', QK_K, 82, false);
def(GGML_IQ4_XS, 'IQ4_XS', QK_K, 136, false);
def(GGML_I8, 'I8', 1, 1, false);
def(GGML_I16, 'I16', 1, 2, false);
def(GGML_I32, 'I32', 1, 4, false);
def(GGML_I64, 'I64', 1, 8, false);
def(GGML_F64, 'F64', 1, 8, false);
def(GGML_IQ1_M, 'IQ1_M', QK_K, 56, false);
def(GGML_BF16, 'BF16', 1, 2, true);
def(GGML_TQ1_0, 'TQ1_0', QK_K, 54, false);
def(GGML_TQ2_0, 'TQ2_0', QK_K, 66, false);
def(GGML_MXFP4, 'MXFP4', 32, 17, false);

const BY_ID: (GGMLTypeInfo | undefined)[] = [];
const BY_NAME = new Map<string, GGMLTypeInfo>();
for (const t of TABLE) {
  BY_ID[t.id] = t;
  BY_NAME.set(t.name, t);
}

/** Ids that ggml used once and removed; files using them cannot be read by current ggml either. */
const REMOVED: Record<number, string> = {
  4: 'Q4_2', 5: 'Q4_3', 31: 'Q4_0_4_4', 32: 'Q4_0_4_8', 33: 'Q4_0_8_8',
  36: 'IQ4_NL_4_4', 37: 'IQ4_NL_4_8', 38: 'IQ4_NL_8_8',
};

/** Every known type, in id order. */
export const GGML_TYPES: readonly GGMLTypeInfo[] = [...TABLE].sort((a, b) => a.id - b.id);

export function ggmlTypeInfo(type: number): GGMLTypeInfo | undefined {
  return Number.isInteger(type) && type >= 0 ? BY_ID[type] : undefined;
}

/** Like ggmlTypeInfo but throws BAD_FORMAT for an id that is not a known ggml type. */
export function requireGGMLType(type: number, what = 'tensor'): GGMLTypeInfo {
  const info = ggmlTypeInfo(type);
  if (info) return info;
  const removed = REMOVED[type];
  if (removed) {
    throw new WasmlmError('BAD_FORMAT', `${what} has ggml type ${type} (${removed}), a type ggml has removed`);
  }
  throw new WasmlmError('BAD_FORMAT', `${what} has unknown ggml type id ${type}`);
}

/** "Q4_0" etc.; "type N" for an unknown id. */
export function ggmlTypeName(type: number): string {
  return ggmlTypeInfo(type)?.name ?? REMOVED[type] ?? `type ${String(type)}`;
}

/** Alias of ggmlTypeName. */
export const typeName = ggmlTypeName;

/** Look a type up by its name ("Q8_0", case-insensitive). */
export function ggmlTypeByName(name: string): GGMLTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Number of elements of a tensor shape, checked: integer dims ≥ 0, product ≤ 2^53. */
export function tensorElements(ne: readonly number[], what = 'tensor'): number {
  let n = 1;
  for (let i = 0; i < ne.length; i++) {
    const d = ne[i]!;
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new WasmlmError('BAD_FORMAT', `${what}: dimension ne[${i}] = ${d} is not a non-negative integer`);
    }
    if (d !== 0 && n > Number.MAX_SAFE_INTEGER / d) {
      throw new WasmlmError('BAD_FORMAT', `${what}: shape [${ne.join(', ')}] has too many elements`);
    }
    n *= d;
  }
  return n;
}

/**
 * Bytes of a tensor of `type` with shape `ne` (ne[0] fastest). Rows are whole blocks:
 * ne[0] must be a multiple of the type's block size (BAD_FORMAT otherwise).
 */
export function tensorBytes(type: number, ne: readonly number[], what = 'tensor'): number {
  const info = requireGGMLType(type, what);
  const n = tensorElements(ne, what);
  const ne0 = ne.length > 0 ? ne[0]! : 1;
  if (ne0 % info.blockSize !== 0) {
    throw new WasmlmError(
      'BAD_FORMAT',
      `${what}: ne[0] = ${ne0} is not a multiple of the ${info.name} block size ${info.blockSize}`,
    );
  }
  const blocks = n / info.blockSize;
  if (blocks > Number.MAX_SAFE_INTEGER / info.typeSize) {
    throw new WasmlmError('BAD_FORMAT', `${what}: shape [${ne.join(', ')}] is too large`);
  }
  return blocks * info.typeSize;
}

/** Bytes of one row of `n` elements (n a multiple of the block size). */
export function rowBytes(type: number, n: number): number {
  return tensorBytes(type, [n]);
}
