/**
 * LoRA adapters in llama.cpp's adapter GGUF: general.type = "adapter", adapter.type = "lora",
 * adapter.lora.alpha; for a base weight W [n_in, n_out] the pair W.lora_a [n_in, r] and
 * W.lora_b [r, n_out]. Every pair is checked against the model before anything is loaded.
 */
import { WasmlmError } from '../errors.js';
import { findTensor, type GGUFHeader, type GGUFTensorInfo } from '../formats/gguf.js';
import { GGUFMetadata } from '../formats/gguf-metadata.js';
import { typeName } from '../formats/ggml-types.js';
import { MATMUL_TYPES } from './index.js';
import { specWeights, type ModelSpec } from './spec.js';

export interface AdapterPlan {
  alpha: number;
  pairs: Map<string, { a: GGUFTensorInfo; b: GGUFTensorInfo }>;
}

export function resolveAdapter(h: GGUFHeader, spec: ModelSpec): AdapterPlan {
  const meta = new GGUFMetadata(h);
  const generalType = meta.optionalString('general.type');
  const adapterType = meta.optionalString('adapter.type');
  if (generalType !== 'adapter' || adapterType !== 'lora') {
    throw new WasmlmError('BAD_FORMAT', `not a LoRA adapter (general.type '${String(generalType)}', adapter.type '${String(adapterType)}')`);
  }
  const arch = meta.string('general.architecture');
  if (arch !== spec.arch) {
    throw new WasmlmError('BAD_ARGUMENT', `the adapter is for architecture '${arch}', the model is '${spec.arch}'`);
  }
  // absent: 0, which the engine reads as "scale by 1" (alpha = rank)
  const alpha = meta.optionalNumber('adapter.lora.alpha') ?? 0;
  const base = new Map(specWeights(spec).filter((w) => w.ne.length === 2).map((w) => [w.name, w] as const));
  const pairs = new Map<string, { a: GGUFTensorInfo; b: GGUFTensorInfo }>();
  for (const t of h.tensors) {
    const m = /^(.*)\.lora_a$/.exec(t.name);
    if (!m) {
      if (!t.name.endsWith('.lora_b')) throw new WasmlmError('BAD_FORMAT', `adapter tensor '${t.name}' is neither a lora_a nor a lora_b`);
      if (!findTensor(h, t.name.replace(/\.lora_b$/, '.lora_a'))) throw new WasmlmError('MISSING_TENSOR', `adapter tensor '${t.name}' has no lora_a`);
      continue;
    }
    const name = m[1]!;
    const a = t;
    const b = findTensor(h, `${name}.lora_b`);
    if (!b) throw new WasmlmError('MISSING_TENSOR', `adapter tensor '${name}.lora_a' has no '${name}.lora_b'`);
    const w = base.get(name);
    if (!w) throw new WasmlmError('BAD_SHAPE', `adapter tensor '${a.name}' adapts '${name}', which the model has no matrix for`);
    const [nIn, nOut] = w.ne as [number, number];
    const r = b.ne[0]!;
    if (a.ne.length !== 2 || a.ne[0] !== nIn || a.ne[1] !== r) {
      throw new WasmlmError('BAD_SHAPE', `adapter tensor '${a.name}' has shape [${a.ne.join(', ')}], expected [${nIn}, ${r}]`);
    }
    if (b.ne.length !== 2 || b.ne[1] !== nOut) {
      throw new WasmlmError('BAD_SHAPE', `adapter tensor '${b.name}' has shape [${b.ne.join(', ')}], expected [${r}, ${nOut}]`);
    }
    for (const x of [a, b]) {
      if (!MATMUL_TYPES.has(x.type)) throw new WasmlmError('UNSUPPORTED_TYPE', `adapter tensor '${x.name}' has type ${typeName(x.type)}, which is not supported`);
    }
    pairs.set(name, { a, b });
  }
  if (pairs.size === 0) throw new WasmlmError('BAD_FORMAT', 'the adapter has no lora_a / lora_b pairs');
  return { alpha, pairs };
}
