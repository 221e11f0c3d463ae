/** Phi-3: RMSNorm, fused qkv, fused [gate; up], neox RoPE, optional sliding window. */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function phi3(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  const window = m.meta.optionalU32('phi3.attention.sliding_window') ?? 0;
  const ctx = m.count('phi3.context_length');
  return m.spec('phi3', {
    positions: m.rope('neox'),
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
      // a window as long as the context masks nothing
      attn: m.attention(i, window < ctx ? window : 0),
      ffn: m.ffn(i, 'glu', 'silu'),
    })),
  });
}
