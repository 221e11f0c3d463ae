/**
 * The Hugging Face architectures that set3 has no folder of (Qwen2, Phi-3, Gemma, Mixtral), each as a folder made
 * here from a GGUF fixture (../shared/fixtures/models) by the inverse of llama.cpp's converter: HF names, q/k rows
 * un-permuted for llama, gemma norms − 1, experts unstacked, config.json from the metadata. Loading the folder must
 * give the GGUF's logits and the expected ones.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { GGUFValueType, readGGUF, type GGUFHeader } from '../src/formats/gguf.js';
import { encodeGGUF } from '../src/formats/gguf-writer.js';
import { GGUFMetadata } from '../src/formats/gguf-metadata.js';
import { openFolder } from '../src/formats/hf-files.js';
import { hfDataStream, openHFModel } from '../src/formats/hf.js';
import { encodeSafetensors, type SafetensorsWriteTensor } from '../src/formats/safetensors.js';
import { expectLogitsClose, expected, fixture, toleranceFor } from './helpers/fixtures.js';

/** GGUF (blk.N.) names -> HF module names per architecture */
const NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj', attn_qkv: 'self_attn.qkv_proj', ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
};

/** GGUF row h·d + 2i + c <- HF row h·d + c·d/2 + i; this is the inverse: HF rows from GGUF rows */
function unpermute(f: Float32Array, rows: number, rowLen: number, heads: number): Float32Array<ArrayBuffer> {
  const d = rows / heads, out = new Float32Array(f.length);
  for (let h = 0; h < heads; h++) for (let i = 0; i < d / 2; i++) for (let c = 0; c < 2; c++) {
    out.set(f.subarray((h * d + 2 * i + c) * rowLen, (h * d + 2 * i + c + 1) * rowLen), (h * d + c * d / 2 + i) * rowLen);
  }
  return out;
}

function toFolder(h: GGUFHeader, bytes: Uint8Array, cls: string, modelType: string): Record<string, Uint8Array> {
  const m = new GGUFMetadata(h);
  const a = m.string('general.architecture');
  const get = (k: string) => m.optionalNumber(`${a}.${k}`);
  const nHead = get('attention.head_count')!, nKv = get('attention.head_count_kv') ?? nHead;
  const nEmbd = get('embedding_length')!;
  const headDim = get('attention.key_length') ?? nEmbd / nHead;
  const tensors: SafetensorsWriteTensor[] = [];
  const f32 = (name: string) => {
    const t = h.tensors.find((x) => x.name === name)!;
    return { t, f: new Float32Array(bytes.slice(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes).buffer) };
  };
  const push = (name: string, shape: number[], f: Float32Array) => tensors.push({ name, dtype: 'F32', shape, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) });
  for (const t of h.tensors) {
    let f: Float32Array = f32(t.name).f;
    const shape = [...t.ne].reverse();
    if (a === 'gemma' && t.name.endsWith('norm.weight')) f = f.map((x) => x - 1);
    if (t.name === 'token_embd.weight') push('model.embed_tokens.weight', shape, f);
    else if (t.name === 'output_norm.weight') push('model.norm.weight', shape, f);
    else if (t.name === 'output.weight') push('lm_head.weight', shape, f);
    else {
      const [, layer, base, kind] = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(t.name)!;
      const exps = /^ffn_(gate|up|down)_exps$/.exec(base!);
      if (exps) {
        const w = { gate: 'w1', down: 'w2', up: 'w3' }[exps[1] as 'gate']!;
        const per = t.ne[0]! * t.ne[1]!;
        for (let e = 0; e < t.ne[2]!; e++) push(`model.layers.${layer}.block_sparse_moe.experts.${e}.${w}.weight`, [t.ne[1]!, t.ne[0]!], f.slice(e * per, (e + 1) * per));
        continue;
      }
      if (base === 'ffn_gate_inp') { push(`model.layers.${layer}.block_sparse_moe.gate.weight`, shape, f); continue; }
      if (a === 'llama' && (base === 'attn_q' || base === 'attn_k')) f = unpermute(f, shape[0]!, kind === 'bias' ? 1 : shape[1]!, base === 'attn_q' ? nHead : nKv);
      push(`model.layers.${layer}.${NAMES[base!]!}.${kind}`, shape, f);
    }
  }
  const config: Record<string, unknown> = {
    architectures: [cls], model_type: modelType, hidden_size: nEmbd, num_hidden_layers: get('block_count'),
    intermediate_size: get('feed_forward_length'), num_attention_heads: nHead, num_key_value_heads: nKv,
    max_position_embeddings: get('context_length'), rms_norm_eps: get('attention.layer_norm_rms_epsilon'),
    rope_theta: get('rope.freq_base') ?? 10000, vocab_size: h.tensors.find((t) => t.name === 'token_embd.weight')!.ne[1],
    tie_word_embeddings: !h.tensors.some((t) => t.name === 'output.weight'),
  };
  if (get('attention.key_length') !== undefined) config.head_dim = headDim;
  if (get('expert_count') !== undefined) Object.assign(config, { num_local_experts: get('expert_count'), num_experts_per_tok: get('expert_used_count') });
  if (get('attention.sliding_window') !== undefined) config.sliding_window = get('attention.sliding_window');
  const files: Record<string, Uint8Array> = {
    'config.json': new TextEncoder().encode(JSON.stringify(config)),
    'model.safetensors': encodeSafetensors(tensors, { format: 'pt' }),
  };
  // any tokenizer.json: these tests feed token ids
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) files[f] = new Uint8Array(readFileSync(fixture(`set3/llama/${f}`)));
  return files;
}

const CASES: Array<[gguf: string, cls: string, modelType: string]> = [
  ['qwen2', 'Qwen2ForCausalLM', 'qwen2'], ['phi3', 'Phi3ForCausalLM', 'phi3'], ['gemma', 'GemmaForCausalLM', 'gemma'],
  ['llama_moe', 'MixtralForCausalLM', 'mixtral'], ['llama', 'LlamaForCausalLM', 'llama'],
];

describe.each(CASES)('%s as a %s folder', (name, cls, modelType) => {
  it('gives the GGUF\'s logits and the expected ones', async () => {
    const bytes = new Uint8Array(readFileSync(fixture(`models/${name}.gguf`)));
    const h = await readGGUF(bytes);
    const e = expected(name);
    const folder = await loadModel(toFolder(h, bytes, cls, modelType));
    const gguf = await loadModel(bytes);
    const [a, b] = [await folder.logits(e.tokens), await gguf.logits(e.tokens)];
    let worst = 0;
    for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) worst = Math.max(worst, Math.abs(a[p]![i]! - b[p]![i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
    expectLogitsClose(a, e, toleranceFor(name));
    expect(folder.info.family).toBe(gguf.info.family);
    expect(folder.info.experts).toEqual(gguf.info.experts);
    folder.dispose();
    gguf.dispose();
  });
});

/** The phi3 fixture as a Phi-3.5-style folder with LongRoPE (factors for its 16 rotated dims, original context 64). */
async function longropeFolder() {
  const bytes = new Uint8Array(readFileSync(fixture('models/phi3.gguf')));
  const files = toFolder(await readGGUF(bytes), bytes, 'Phi3ForCausalLM', 'phi3');
  const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as Record<string, unknown>;
  const long = Array.from({ length: 8 }, (_, i) => 1 + i * 1.75);
  const short = Array.from({ length: 8 }, (_, i) => 1 + i / 16);
  Object.assign(config, { original_max_position_embeddings: 64, rope_scaling: { type: 'longrope', long_factor: long, short_factor: short } });
  files['config.json'] = new TextEncoder().encode(JSON.stringify(config));
  return { files, long, short };
}

describe('Phi-3 LongRoPE config', () => {
  it('becomes the converter\'s rope_factors_long / _short tensors, attn_factor and original context', async () => {
    const { files, long, short } = await longropeFolder();
    const model = await openHFModel(openFolder(files));
    const m = new GGUFMetadata(model.header);
    expect(m.number('phi3.rope.scaling.attn_factor')).toBe(Math.fround(Math.sqrt(1 + Math.log(2) / Math.log(64))));
    expect(m.number('phi3.rope.scaling.original_context_length')).toBe(64);
    const stream = hfDataStream(model);
    for (const [name, want] of [['rope_factors_long.weight', long], ['rope_factors_short.weight', short]] as const) {
      const t = model.header.tensors.find((x) => x.name === name)!;
      expect(t.ne).toEqual([8]);
      await stream.skip(t.offset - stream.position);
      const got = new Uint8Array(t.nBytes);
      await stream.readInto(got);
      expect(Array.from(new Float32Array(got.buffer))).toEqual(want.map(Math.fround));
    }
    await stream.close();
  });

  it('loads as the phi3 GGUF with the same factor tensors and keys (long factors past the original context)', async () => {
    const { files, long, short } = await longropeFolder();
    const bytes = new Uint8Array(readFileSync(fixture('models/phi3.gguf')));
    const h = await readGGUF(bytes);
    const metadata = new Map(h.metadata);
    metadata.set('phi3.rope.scaling.attn_factor', { type: GGUFValueType.FLOAT32, value: Math.fround(Math.sqrt(1 + Math.log(2) / Math.log(64))) });
    metadata.set('phi3.rope.scaling.original_context_length', { type: GGUFValueType.UINT32, value: 64 });
    const tensors = h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: bytes.slice(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
    for (const [name, v] of [['rope_factors_long.weight', long], ['rope_factors_short.weight', short]] as const) {
      tensors.push({ name, ne: [8], type: 0, data: new Uint8Array(Float32Array.from(v).buffer) });
    }
    const e = expected('phi3');
    const ids = Array.from({ length: 80 }, (_, i) => e.tokens[i % e.tokens.length]!); // past the original context of 64
    const [folder, gguf] = [await loadModel(files), await loadModel(encodeGGUF(metadata, tensors))];
    const [a, b] = [await folder.logits(ids), await gguf.logits(ids)];
    const plain = await loadModel(bytes);
    const c = await plain.logits(ids);
    let worst = 0, shift = 0;
    for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) {
      worst = Math.max(worst, Math.abs(a[p]![i]! - b[p]![i]!));
      shift = Math.max(shift, Math.abs(a[p]![i]! - c[p]![i]!));
    }
    expect(worst).toBe(0);
    expect(shift).toBeGreaterThan(1e-3); // the factors do change the model
    for (const m of [folder, gguf, plain]) m.dispose();
  });

  it('factors of the wrong length are an error naming them', async () => {
    const { files } = await longropeFolder();
    const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as { rope_scaling: { long_factor: number[] } };
    config.rope_scaling.long_factor.pop();
    files['config.json'] = new TextEncoder().encode(JSON.stringify(config));
    await expect(openHFModel(openFolder(files))).rejects.toThrow(/long_factor must be 8 positive numbers/);
  });
});
