/** Qwen3: the Qwen2 block without q/k/v biases, with a per-head RMSNorm of q and k before RoPE; head size from key_length. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function qwen3(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('qwen3', {
    positions: m.rope('neox'),
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
      attn: { ...m.attention(i), ...m.headNorms(i) },
      ffn: m.ffn(i, 'glu', 'silu'),
    })),
  });
}
