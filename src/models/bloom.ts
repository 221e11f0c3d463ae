/** BLOOM: ALiBi (no RoPE), LayerNorm on the embeddings, LayerNorm + biases everywhere, GELU FFN. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function bloom(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('bloom', {
    positions: { kind: 'alibi', maxBias: m.meta.optionalNumber('bloom.attention.max_alibi_bias') ?? 8 },
    embdNorm: m.norm('token_embd_norm', 'layer'),
    outputNorm: m.norm('output_norm', 'layer'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'layer'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'layer'),
      attn: m.attention(i),
      ffn: m.ffn(i, 'plain', 'gelu'),
    })),
  });
}
