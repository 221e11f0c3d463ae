/** Gemma: embeddings × sqrt(n_embd), head size from key_length, MQA, GELU-gated FFN, neox RoPE, tied output. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function gemma(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  return m.spec('gemma', {
    positions: m.rope('neox'),
    embdScale: Math.fround(Math.sqrt(m.nEmbd)),
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
      attn: m.attention(i),
      ffn: m.ffn(i, 'glu', 'gelu'),
    })),
  });
}
