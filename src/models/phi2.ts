/** Phi-2: LayerNorm with bias, fused qkv, partial neox RoPE, attention and a GELU FFN in parallel from one norm. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function phi2(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('phi2', {
    positions: m.rope('neox'),
    residual: 'parallel',
    outputNorm: m.norm('output_norm', 'layer'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'layer'),
      attn: m.attention(i),
      ffn: m.ffn(i, 'plain', 'gelu'),
    })),
  });
}
