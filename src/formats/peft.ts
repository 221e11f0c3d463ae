// A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) as llama.cpp's adapter
// GGUF (convert_lora_to_gguf.py): general.type "adapter", adapter.type "lora", adapter.lora.alpha, and
// for each adapted linear W the pair W.lora_a (ne [n_in, r], PEFT lora_A's bytes) and W.lora_b (ne
// [r, n_out], lora_B's rows, permuted for llama q/k as the base's rows are). rsLoRA (scale alpha/√r)
// is written as alpha·√r, so that the GGUF rule alpha/r gives it. The result goes through the same
// resolveAdapter and engine as an adapter GGUF.

import { GGML_F32 } from '../abi.js';
import { WasmlmError } from '../errors.js';
import type { GGUFHeader, GGUFMetaValue } from './gguf-types.js';
import { readJson, type HFFolder } from './hf-files.js';
import { f32, ggufLayerName, hfDataStream, openWeights, str, virtualHeader, type HFTensor } from './hf.js';
import type { ByteStream } from './source.js';

/** What the adapter needs to know of the model it is applied to. */
export interface PeftBase {
  /** general.architecture */
  arch: string;
  nHead: number;
  nHeadKv: number;
}

/** Read adapter_config.json and the safetensors header; the stream produces the tensors. */
export async function openPeftAdapter(folder: HFFolder, base: PeftBase): Promise<{ header: GGUFHeader; stream: ByteStream }> {
  const config = await readJson(folder, 'adapter_config.json');
  if (!config) throw new WasmlmError('IO_ERROR', `${folder.description}: no adapter_config.json (not a PEFT adapter folder)`);
  const { r, alpha } = checkConfig(config);
  const files = await openWeights(folder, 'adapter_model');
  try {
    const tensors: HFTensor[] = [];
    const seen = new Map<string, { a?: boolean; b?: boolean }>();
    for (const [key, piece] of files.tensors) {
      const m = /^base_model\.model\.(?:model\.)?layers\.(\d+)\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$/.exec(key);
      const module = m?.[2];
      const name = module !== undefined ? ggufLayerName(module, base.arch) : undefined;
      if (!m || !name || name.endsWith('norm')) {
        throw new WasmlmError('BAD_FORMAT', `adapter tensor '${key}' is not a LoRA pair of a layer's linear (q/k/v/o, gate/up/down): not supported`);
      }
      const leaf = module!.slice(module!.lastIndexOf('.') + 1);
      if (Array.isArray(config.target_modules) && !config.target_modules.includes(leaf)) {
        throw new WasmlmError('BAD_FORMAT', `adapter tensor '${key}' adapts '${leaf}', which adapter_config.json's target_modules ${JSON.stringify(config.target_modules)} does not name`);
      }
      const gguf = `blk.${m[1]}.${name}.weight`;
      const isA = m[3] === 'A';
      const t = piece.t;
      if (t.shape.length !== 2 || t.shape[isA ? 0 : 1] !== r) {
        throw new WasmlmError('BAD_SHAPE', `adapter tensor '${key}' has shape [${t.shape.join(', ')}]; with r ${r} expected ${isA ? `[${r}, n_in]` : `[n_out, ${r}]`}`);
      }
      const heads = base.arch === 'llama' && !isA && (name === 'attn_q' || name === 'attn_k') ? (name === 'attn_q' ? base.nHead : base.nHeadKv) : 0;
      tensors.push({
        name: `${gguf}.lora_${isA ? 'a' : 'b'}`, ne: [...t.shape].reverse(), type: GGML_F32, pieces: [piece], addOne: false, permuteHeads: heads,
      });
      const s = seen.get(gguf) ?? {};
      s[isA ? 'a' : 'b'] = true;
      seen.set(gguf, s);
    }
    for (const [name, s] of seen) {
      if (!s.a || !s.b) throw new WasmlmError('MISSING_TENSOR', `adapter for '${name}' has lora_${s.a ? 'A' : 'B'} but no lora_${s.a ? 'B' : 'A'}`);
    }
    const metadata = new Map<string, GGUFMetaValue>([
      ['general.architecture', str(base.arch)],
      ['general.type', str('adapter')],
      ['adapter.type', str('lora')],
      ['adapter.lora.alpha', f32(config.use_rslora === true ? alpha * Math.sqrt(r) : alpha)],
    ]);
    const header = virtualHeader(metadata, tensors, folder.description);
    return { header, stream: hfDataStream({ header, tensors, close: files.close }) };
  } catch (e) {
    await files.close();
    throw e;
  }
}

/** r and lora_alpha; every setting this runtime does not apply is an error naming it. */
function checkConfig(c: Record<string, unknown>): { r: number; alpha: number } {
  const bad = (what: string) => new WasmlmError('BAD_FORMAT', `adapter_config.json: ${what} is not supported`);
  if (c.peft_type !== 'LORA') throw bad(`peft_type ${JSON.stringify(c.peft_type)} (only LORA)`);
  if (c.use_dora === true) throw bad('DoRA (use_dora)');
  const toSave = c.modules_to_save;
  if (toSave !== null && toSave !== undefined && !(Array.isArray(toSave) && toSave.length === 0)) throw bad(`modules_to_save (${JSON.stringify(toSave)}: fully trained modules)`);
  if (c.bias !== undefined && c.bias !== 'none') throw bad(`bias training (bias ${JSON.stringify(c.bias)})`);
  if (c.lora_bias === true) throw bad('bias training (lora_bias)');
  if (c.fan_in_fan_out === true) throw bad('fan_in_fan_out (Conv1D layers)');
  for (const k of ['alpha_pattern', 'rank_pattern']) {
    const v = c[k];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v).length > 0)) throw bad(`${k} (a per-module ${k === 'alpha_pattern' ? 'alpha' : 'rank'})`);
  }
  if (c.target_parameters !== undefined && c.target_parameters !== null) throw bad('target_parameters (LoRA on parameters)');
  for (const k of ['use_qalora', 'use_bdlora']) if (c[k] === true) throw bad(k);
  if (c.trainable_token_indices !== undefined && c.trainable_token_indices !== null) throw bad('trainable_token_indices');
  const r = c.r;
  const alpha = c.lora_alpha;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) throw new WasmlmError('BAD_FORMAT', `adapter_config.json: r must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new WasmlmError('BAD_FORMAT', `adapter_config.json: lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  return { r, alpha };
}
