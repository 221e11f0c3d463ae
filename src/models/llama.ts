/**
 * LLaMA family (LLaMA 1/2/3, Mistral, Mixtral, llama2.c checkpoints): RMSNorm, RoPE (normal mode),
 * grouped-query attention, SwiGLU or a mixture of SwiGLU experts. Also honours
 * `llama.attention.sliding_window` (Mistral), `llama.deepnorm.alpha` (DeepNorm post-norm blocks)
 * and LayerScale gains (blk.N.attn_layerscale / ffn_layerscale).
 */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { ModelSpec } from './spec.js';

export function llama(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  const window = m.meta.optionalU32('llama.attention.sliding_window') ?? 0;
  const alpha = m.meta.optionalNumber('llama.deepnorm.alpha') ?? 0;
  return m.spec('llama', {
    positions: m.rope('normal'),
    residual: alpha > 0 ? 'deepnorm' : 'sequential',
    deepnormAlpha: alpha > 0 ? alpha : 1,
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => {
      const moe = m.moe(i);
      return {
        attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
        ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
        attn: m.attention(i, window),
        ...(moe ? { moe } : { ffn: m.ffn(i, 'glu', 'silu') }),
        ...m.layerScale(i),
      };
    }),
  });
}
