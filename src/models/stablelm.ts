/** StableLM: LayerNorm with bias, q/k/v biases, partial neox RoPE, SwiGLU. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function stablelm(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  // StableLM 2 12B has no ffn_norm: its attention and FFN run in parallel from one norm
  const parallel = !m.hasTensor('blk.0.ffn_norm.weight');
  return m.spec('stablelm', {
    positions: m.rope('neox'),
    residual: parallel ? 'parallel' : 'sequential',
    outputNorm: m.norm('output_norm', 'layer'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'layer'),
      ffnNorm: parallel ? undefined : m.norm(`blk.${i}.ffn_norm`, 'layer'),
      attn: m.attention(i),
      ffn: m.ffn(i, 'glu', 'silu'),
    })),
  });
}
