/**
 * Qwen3-MoE (Qwen3-30B-A3B): the Qwen3 block with every FFN a mixture of SwiGLU experts (softmax router,
 * top-k renormalised, as llama.cpp always does for qwen3moe; no shared expert).
 */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function qwen3moe(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('qwen3moe', {
    positions: m.rope('neox'),
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => {
      const moe = m.moe(i);
      if (!moe) throw new WasmlmError('MISSING_METADATA', "metadata key 'qwen3moe.expert_count' is missing or 0: a qwen3moe model has experts");
      return {
        attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
        ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
        attn: { ...m.attention(i), ...m.headNorms(i) },
        moe,
      };
    }),
  });
}
