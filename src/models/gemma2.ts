/**
 * Gemma 2: the Gemma block with sandwich norms (each branch's output normalised before the residual add),
 * soft-capped attention scores and final logits, and a sliding window on every other layer (0, 2, ...).
 */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import type { AttentionSpec, ModelSpec } from './spec.js';

export function gemma2(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  const window = slidingWindow(m);
  return m.spec('gemma2', {
    ...gemmaBlocks(m, 46, (i) => m.attention(i, isSliding(i, 2) ? window : 0)),
    // llama.cpp's defaults when the keys are absent
    attnSoftcap: m.above('gemma2.attn_logit_softcapping', 0, 50),
    finalSoftcap: m.above('gemma2.final_logit_softcapping', 0, 30),
  });
}

/** `<arch>.attention.sliding_window`, 0 when absent or when it spans the whole context. */
export function slidingWindow(m: SpecBuilder): number {
  const window = m.meta.optionalU32(`${m.arch}.attention.sliding_window`) ?? 0;
  return window < m.count(`${m.arch}.context_length`) ? window : 0;
}

/** llama.cpp's swa pattern n: of every n layers the first n − 1 are sliding, the last global. */
export function isSliding(layer: number, pattern: number): boolean {
  return layer % pattern < pattern - 1;
}

/**
 * What Gemma 2 and 3 share: embeddings × √n_embd, neox RoPE, sandwich norms around attention and a
 * GELU-gated FFN, tied output. Scores are scaled by 1/√head_dim, except in the largest model
 * (`bigLayers` blocks: Gemma 2 27B, Gemma 3 27B) by 1/√(n_embd/n_head), as llama.cpp does (the HF configs'
 * query_pre_attn_scalar say the same).
 */
export function gemmaBlocks(m: SpecBuilder, bigLayers: number, attention: (i: number) => AttentionSpec) {
  return {
    positions: m.rope('neox'),
    embdScale: Math.fround(Math.sqrt(m.nEmbd)),
    kqScale: 1 / Math.sqrt(m.nLayer === bigLayers ? m.nEmbd / m.nHead : m.headDim),
    outputNorm: m.norm('output_norm', 'rms'),
    layers: m.layers((i) => ({
      attnNorm: m.norm(`blk.${i}.attn_norm`, 'rms'),
      attn: attention(i),
      attnPostNorm: m.norm(`blk.${i}.post_attention_norm`, 'rms'),
      ffnNorm: m.norm(`blk.${i}.ffn_norm`, 'rms'),
      ffn: m.ffn(i, 'glu', 'gelu'),
      ffnPostNorm: m.norm(`blk.${i}.post_ffw_norm`, 'rms'),
    })),
  };
}
