/** GPT-2: learned absolute positions, LayerNorm + biases, fused qkv, GELU FFN. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function gpt2(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('gpt2', {
    positions: { kind: 'learned', weight: m.w('position_embd.weight', m.nEmbd, m.count('gpt2.context_length')) },
    outputNorm: m.norm('output_norm', 'layer'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'layer'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'layer'),
      attn: m.attention(i),
      ffn: m.ffn(i, 'plain', 'gelu'),
    })),
  });
}
