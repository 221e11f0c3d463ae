/**
 * LLaMA family (LLaMA 1/2/3, Mistral, llama2.c checkpoints): RMSNorm, RoPE (normal mode),
 * grouped-query attention, SwiGLU feed-forward, tied or untied output.
 */
import type { GGUFHeader } from '../formats/gguf.js';
import { MetadataReader } from './metadata.js';
import type { LayerSpec, ModelSpec, WeightRef } from './spec.js';

export function llama(h: GGUFHeader): ModelSpec {
  const m = new MetadataReader(h);
  const arch = m.arch;
  const nEmbd = m.num(`${arch}.embedding_length`);
  const nLayer = m.num(`${arch}.block_count`);
  const nHead = m.num(`${arch}.attention.head_count`);
  const nHeadKv = m.num(`${arch}.attention.head_count_kv`, nHead);
  const headDim = m.num(`${arch}.attention.key_length`, nEmbd / nHead);
  const nFf = m.num(`${arch}.feed_forward_length`);
  const nVocab = m.vocabSize();
  const qDim = nHead * headDim;
  const kvDim = nHeadKv * headDim;
  const w = (name: string, ...ne: number[]): WeightRef => ({ name, ne });

  const layers: LayerSpec[] = [];
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}.`;
    layers.push({
      attnNorm: { weight: w(b + 'attn_norm.weight', nEmbd) },
      attn: {
        wq: w(b + 'attn_q.weight', nEmbd, qDim),
        wk: w(b + 'attn_k.weight', nEmbd, kvDim),
        wv: w(b + 'attn_v.weight', nEmbd, kvDim),
        wo: w(b + 'attn_output.weight', qDim, nEmbd),
      },
      ffnNorm: { weight: w(b + 'ffn_norm.weight', nEmbd) },
      ffn: {
        gate: w(b + 'ffn_gate.weight', nEmbd, nFf),
        up: w(b + 'ffn_up.weight', nEmbd, nFf),
        down: w(b + 'ffn_down.weight', nFf, nEmbd),
      },
    });
  }
  const tokenEmbd = w('token_embd.weight', nEmbd, nVocab);
  const tiedOutput = !m.hasTensor('output.weight');
  return {
    family: 'llama',
    arch,
    name: m.str('general.name', ''),
    nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf,
    contextLength: m.num(`${arch}.context_length`),
    normEps: m.num(`${arch}.attention.layer_norm_rms_epsilon`, 1e-5),
    rope: {
      nRot: m.num(`${arch}.rope.dimension_count`, headDim),
      base: m.num(`${arch}.rope.freq_base`, 10000),
      freqScale: m.ropeFreqScale(),
      mode: 'normal',
    },
    tokenEmbd,
    outputNorm: { weight: w('output_norm.weight', nEmbd) },
    output: tiedOutput ? tokenEmbd : w('output.weight', nEmbd, nVocab),
    tiedOutput,
    layers,
  };
}
