/** Family registry: general.architecture → family file; checks the file's tensors against the spec. */
import {
  GGML_BF16, GGML_F16, GGML_F32, GGML_Q2_K, GGML_Q3_K, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, GGML_Q5_0, GGML_Q5_1,
  GGML_Q5_K, GGML_Q6_K, GGML_Q8_0,
} from '../abi.js';
import { WasmlmError } from '../errors.js';
import { findTensor, inSource, type GGUFHeader, type GGUFTensorInfo } from '../formats/gguf.js';
import { GGUFMetadata } from '../formats/gguf-metadata.js';
import { typeName } from '../formats/ggml-types.js';
import { bloom } from './bloom.js';
import { falcon } from './falcon.js';
import { gemma } from './gemma.js';
import { gemma2 } from './gemma2.js';
import { gemma3 } from './gemma3.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';
import { phi2 } from './phi2.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { qwen3moe } from './qwen3moe.js';
import { stablelm } from './stablelm.js';
import { specWeights, type ModelSpec } from './spec.js';

export type { ModelSpec } from './spec.js';

type Family = (h: GGUFHeader) => ModelSpec;

/** general.architecture → family (a Map: a name like '__proto__' or 'toString' is just not in it) */
const FAMILIES = new Map<string, Family>(Object.entries({
  llama, qwen2, qwen3, qwen3moe, phi2, phi3, falcon, bloom, gpt2, gemma, gemma2, gemma3, stablelm,
}));

/** Weight types the kernels compute with directly (matrix weights) */
export const MATMUL_TYPES = new Set([
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
  GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K,
]);

export function supportedArchitectures(): string[] {
  return [...FAMILIES.keys()];
}

/**
 * Build the ModelSpec for a GGUF header and check every weight it needs, and that it needs every
 * tensor the file has, before any data is read. Errors name the header's source.
 */
export function resolveSpec(h: GGUFHeader): { spec: ModelSpec; tensors: Map<string, GGUFTensorInfo> } {
  return inSource(h, () => {
    const arch = new GGUFMetadata(h).string('general.architecture');
    const family = FAMILIES.get(arch);
    if (!family) {
      throw new WasmlmError(
        'UNKNOWN_ARCHITECTURE',
        `metadata key 'general.architecture': architecture '${arch}' is not supported (supported: ${supportedArchitectures().join(', ')})`,
      );
    }
    const spec = family(h);
    checkDims(spec);
    const tensors = new Map<string, GGUFTensorInfo>();
    for (const w of specWeights(spec)) {
      const t = findTensor(h, w.name);
      if (!t) throw new WasmlmError('MISSING_TENSOR', `tensor '${w.name}' is missing (expected shape [${w.ne.join(', ')}])`);
      if (t.ne.length !== w.ne.length || t.ne.some((d, i) => d !== w.ne[i])) {
        throw new WasmlmError('BAD_SHAPE', `tensor '${w.name}' has shape [${t.ne.join(', ')}], expected [${w.ne.join(', ')}]`);
      }
      const isMatrix = w.ne.length >= 2;
      if (isMatrix ? !MATMUL_TYPES.has(t.type) : t.type !== GGML_F32) {
        throw new WasmlmError('UNSUPPORTED_TYPE', `tensor '${w.name}' has type ${typeName(t.type)}, which is not supported yet`);
      }
      tensors.set(w.name, t);
    }
    const unused = h.tensors.filter((t) => !tensors.has(t.name)).map((t) => `'${t.name}'`);
    if (unused.length > 0) {
      throw new WasmlmError('BAD_FORMAT', `${unused.length} tensor(s) not used by the ${spec.family} family with this metadata: ${unused.slice(0, 4).join(', ')}${unused.length > 4 ? ', ...' : ''}`);
    }
    return { spec, tensors };
  });
}

function checkDims(s: ModelSpec): void {
  const ints: Array<[string, number]> = [
    ['n_vocab', s.nVocab], ['n_embd', s.nEmbd], ['n_layer', s.nLayer], ['n_head', s.nHead],
    ['n_head_kv', s.nHeadKv], ['head_dim', s.headDim], ['n_ff', s.nFf], ['context_length', s.contextLength],
  ];
  for (const [k, v] of ints) {
    if (!Number.isInteger(v) || v <= 0) throw new WasmlmError('BAD_FORMAT', `${s.arch}: ${k} must be a positive integer, got ${v}`);
  }
  if (s.nHead % s.nHeadKv !== 0) {
    throw new WasmlmError('BAD_FORMAT', `metadata key '${s.arch}.attention.head_count' ${s.nHead} is not a multiple of '${s.arch}.attention.head_count_kv' ${s.nHeadKv}`);
  }
  const p = s.positions;
  if (p.kind === 'rope' && (p.nRot > s.headDim || p.nRot % 2 !== 0 || p.nRot < 0)) {
    throw new WasmlmError('BAD_FORMAT', `metadata key '${s.arch}.rope.dimension_count' ${p.nRot} must be even and at most the head size ${s.headDim}`);
  }
  if (s.layers.length !== s.nLayer) throw new WasmlmError('BAD_FORMAT', `${s.arch}: ${s.layers.length} layers built for ${s.nLayer}`);
}
