/**
 * Falcon: LayerNorm, multi-query attention through a fused qkv, neox RoPE, attention and a GELU FFN
 * in parallel (7B: one norm; 40B: attn_norm_2 feeds the FFN).
 */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function falcon(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('falcon', {
    positions: m.rope('neox'),
    residual: 'parallel',
    outputNorm: m.norm('output_norm', 'layer'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'layer'),
      ffnNorm: m.hasTensor(`blk.${i}.attn_norm_2.weight`) ? m.norm(`blk.${i}.attn_norm_2`, 'layer') : undefined,
      attn: m.attention(i),
      ffn: m.ffn(i, 'plain', 'gelu'),
    })),
  });
}
