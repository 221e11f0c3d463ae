/**
 * Gemma 3 (text): the Gemma 2 block without soft-capping, with per-head q/k norms, 5 sliding-window
 * layers to 1 global one, and the sliding layers' own RoPE (base rope.freq_base_swa, 10000 when absent;
 * no position scaling: a file's linear scaling is for the global layers).
 */
import type { GGUFHeader } from '../formats/gguf.js';
import { SpecBuilder } from './builder.js';
import { gemmaBlocks, isSliding, slidingWindow } from './gemma2.js';
import type { ModelSpec } from './spec.js';

export function gemma3(h: GGUFHeader): ModelSpec {
  const m = new SpecBuilder(h);
  const swa = (m.meta.optionalU32('gemma3.attention.sliding_window') ?? 0) > 0;
  const window = slidingWindow(m);
  const local = { base: m.above('gemma3.rope.freq_base_swa', 1, 10000), freqScale: 1 };
  return m.spec('gemma3', gemmaBlocks(m, 62, (i) => {
    const sliding = swa && isSliding(i, 6);
    return { ...m.attention(i, sliding ? window : 0), ...m.headNorms(i), ...(sliding ? { rope: local } : {}) };
  }));
}
