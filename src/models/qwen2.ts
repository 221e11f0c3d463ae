/** Qwen2 / Qwen2.5: the LLaMA block with q/k/v biases, RoPE in neox mode (base 1e6), usually tied output. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function qwen2(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  const window = m.meta.optionalU32('qwen2.attention.sliding_window') ?? 0;
  return m.spec('qwen2', {
    positions: m.rope('neox'),
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
      attn: m.attention(i, window),
      ffn: m.ffn(i, 'glu', 'silu'),
    })),
  });
}
