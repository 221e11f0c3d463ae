// A Hugging Face model folder (config.json + safetensors) as the GGUF path sees a file: the metadata and
// tensor index that llama.cpp's convert_hf_to_gguf.py writes for it (its key names, its tensor names,
// its Q/K row permutation for llama-family q/k, gemma norms + 1, experts stacked into one 3-D tensor),
// and a ByteStream that produces each tensor's bytes as that file would hold them. Data flows one way:
// folder -> (GGUFHeader, ByteStream) -> resolveSpec -> engine, so the family files are the same ones.
// Tensors are produced a group of rows at a time, read at their offsets in the safetensors files,
// converted (F16 / BF16 -> f32, permutation, + 1) and written in the output type (F32, F16, BF16, or
// quantized with the project's quantizers) straight into the destination (wasm memory when loading).

import { GGML_BF16, GGML_F16, GGML_F32 } from '../abi.js';
import { WasmlmError } from '../errors.js';
import { ggmlTypeName, tensorBytes } from './ggml-types.js';
import { GGUFValueType, type GGUFHeader, type GGUFMetaValue, type GGUFTensorInfo } from './gguf-types.js';
import { openSafetensors, type SafetensorsTensor } from './safetensors.js';
import { readJson, type HFFolder, type RandomAccessFile } from './hf-files.js';
import { bf16ToF32, f16ToF32, planQuantization, QUANT_TARGETS, quantizeTensor } from './quantize.js';
import type { ByteStream } from './source.js';

type Json = Record<string, unknown>;

/** Where a tensor's values come from: a safetensors tensor, or values computed here (rope_freqs). */
export type FilePiece = { file: RandomAccessFile; t: SafetensorsTensor };
type Piece = FilePiece | { values: Float32Array };

/** One tensor of the GGUF-like view. */
export interface HFTensor {
  name: string;
  /** GGUF dims, ne[0] fastest */
  ne: number[];
  /** the type it is produced in */
  type: number;
  /** concatenated in order (experts of a stacked tensor) */
  pieces: Piece[];
  /** gemma: the stored norm weight w becomes 1 + w */
  addOne: boolean;
  /** llama q/k: rows permuted within each of this many heads (0: none) */
  permuteHeads: number;
}

export interface HFModel {
  /** the GGUF-like header: dataOffset 0, tensors at aligned offsets of a virtual data section */
  header: GGUFHeader;
  tensors: HFTensor[];
  /** tokenizer.json, tokenizer_config.json (with a chat_template.jinja folded in), parsed; undefined when absent */
  tokenizerJson: Json | undefined;
  tokenizerConfig: Json | undefined;
  close(): Promise<void>;
}

/** The families read from a config.json: its architectures[0] (or model_type) -> how to convert. */
interface ArchDef {
  /** general.architecture */
  arch: string;
  /** llama.cpp permutes q/k rows (its RoPE pairs adjacent dims, HF's halves) */
  permuteQK: boolean;
  /** HF stores norm weights as w for x̂·(1 + w): the converter writes 1 + w */
  normPlusOne: boolean;
  /** HF post_attention_layernorm is the FFN's pre-norm (llama, qwen, phi3) or the attention's post-norm (gemma2/3) */
  sandwich: boolean;
}

const ARCHS: ReadonlyMap<string, ArchDef> = new Map(Object.entries({
  LlamaForCausalLM: { arch: 'llama', permuteQK: true, normPlusOne: false, sandwich: false },
  MistralForCausalLM: { arch: 'llama', permuteQK: true, normPlusOne: false, sandwich: false },
  MixtralForCausalLM: { arch: 'llama', permuteQK: true, normPlusOne: false, sandwich: false },
  Qwen2ForCausalLM: { arch: 'qwen2', permuteQK: false, normPlusOne: false, sandwich: false },
  Qwen3ForCausalLM: { arch: 'qwen3', permuteQK: false, normPlusOne: false, sandwich: false },
  Qwen3MoeForCausalLM: { arch: 'qwen3moe', permuteQK: false, normPlusOne: false, sandwich: false },
  Phi3ForCausalLM: { arch: 'phi3', permuteQK: false, normPlusOne: false, sandwich: false },
  GemmaForCausalLM: { arch: 'gemma', permuteQK: false, normPlusOne: true, sandwich: false },
  Gemma2ForCausalLM: { arch: 'gemma2', permuteQK: false, normPlusOne: true, sandwich: true },
  Gemma3ForCausalLM: { arch: 'gemma3', permuteQK: false, normPlusOne: true, sandwich: true },
}));
/** config.json model_type -> architecture class, for configs without `architectures` */
const MODEL_TYPES: ReadonlyMap<string, string> = new Map(Object.entries({
  llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', mixtral: 'MixtralForCausalLM', qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM', qwen3_moe: 'Qwen3MoeForCausalLM', phi3: 'Phi3ForCausalLM', gemma: 'GemmaForCausalLM',
  gemma2: 'Gemma2ForCausalLM', gemma3_text: 'Gemma3ForCausalLM',
}));

export function supportedHFArchitectures(): string[] {
  return [...ARCHS.keys()];
}

const ALIGN = 32;

/** The output types the `quantize` load option takes. */
export const LOAD_QUANT_TYPES = ['q8_0', 'q4_0', 'q4_k', 'q6_k'] as const;

export interface HFOpenOptions {
  /**
   * What 2-D+ weights become: a QUANT_TARGETS name (q8_0, q4_k_m, f16, ...: llama-quantize's choice per
   * tensor), or undefined: the folder's dtype (F32, F16, BF16). 1-D tensors are always F32.
   */
  type?: string;
}

/** Read config.json, the safetensors headers and the tokenizer files; no weight data yet. */
export async function openHFModel(folder: HFFolder, options: HFOpenOptions = {}): Promise<HFModel> {
  const config = await readJson(folder, 'config.json');
  if (!config) throw new WasmlmError('IO_ERROR', `${folder.description}: no config.json (not a Hugging Face model folder)`);
  const files = await openWeights(folder);
  try {
    const def = archOf(config);
    const c = new Config(config);
    const metadata = buildMetadata(def, c);
    const tensors = mapTensors(def, c, files.tensors, metadata);
    retype(tensors, def.arch, c, options.type);
    const tokenizerJson = await readJson(folder, 'tokenizer.json', 512 << 20);
    let tokenizerConfig = await readJson(folder, 'tokenizer_config.json');
    if (tokenizerConfig?.chat_template === undefined) {
      const jinja = await folder.open('chat_template.jinja');
      if (jinja) {
        try {
          tokenizerConfig = { ...(tokenizerConfig ?? {}), chat_template: new TextDecoder().decode(await jinja.read(0, jinja.size)) };
        } finally {
          await jinja.close();
        }
      }
    }
    const matrixTypes = new Set(tensors.filter((t) => t.ne.length >= 2).map((t) => t.type));
    metadata.set('general.file_type', u32(fileTypeOf(options.type, matrixTypes)));
    metadata.set('general.quantization_version', u32(2));
    const header = virtualHeader(metadata, tensors, folder.description);
    return { header, tensors, tokenizerJson, tokenizerConfig, close: files.close };
  } catch (e) {
    await files.close();
    throw e;
  }
}

/** A GGUF header for tensors produced here: dataOffset 0, each tensor at the next aligned offset. */
export function virtualHeader(metadata: Map<string, GGUFMetaValue>, tensors: readonly HFTensor[], source: string): GGUFHeader {
  const infos: GGUFTensorInfo[] = [];
  let offset = 0;
  for (const t of tensors) {
    const nElements = t.ne.reduce((a, b) => a * b, 1);
    const nBytes = tensorBytes(t.type, t.ne, `tensor '${t.name}'`);
    infos.push({ name: t.name, ne: t.ne, type: t.type, typeName: ggmlTypeName(t.type), offset, nBytes, nElements });
    offset += Math.ceil(nBytes / ALIGN) * ALIGN;
  }
  return { version: 3, alignment: ALIGN, metadata, tensors: infos, dataOffset: 0, fileSize: offset, source };
}

// --- files -----------------------------------------------------------------------------------

/** model.safetensors, or the shards model.safetensors.index.json names. */
export async function openWeights(folder: HFFolder, base = 'model'): Promise<{ tensors: Map<string, FilePiece>; close: () => Promise<void> }> {
  const opened: RandomAccessFile[] = [];
  const close = async () => { for (const f of opened) await f.close(); };
  try {
    const tensors = new Map<string, FilePiece>();
    const add = async (name: string, wanted?: Set<string>) => {
      const file = await folder.open(name);
      if (!file) throw new WasmlmError('IO_ERROR', `${folder.description}: ${name} is missing`);
      opened.push(file);
      const h = await named(file.description, () => openSafetensors(file));
      for (const t of h.tensors.values()) {
        if (wanted && !wanted.has(t.name)) continue;
        if (tensors.has(t.name)) throw new WasmlmError('BAD_FORMAT', `${file.description}: tensor '${t.name}' is also in another shard`);
        tensors.set(t.name, { file, t });
      }
      for (const w of wanted ?? []) {
        if (!h.tensors.has(w)) throw new WasmlmError('MISSING_TENSOR', `${file.description}: tensor '${w}' is missing (${base}.safetensors.index.json puts it there)`);
      }
    };
    const index = await readJson(folder, `${base}.safetensors.index.json`);
    if (index) {
      const map = index.weight_map;
      if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new WasmlmError('BAD_FORMAT', `${base}.safetensors.index.json: no "weight_map" object`);
      const shards = new Map<string, Set<string>>();
      for (const [tensor, file] of Object.entries(map as Json)) {
        if (typeof file !== 'string' || !/^[^/\\]+\.safetensors$/.test(file) || file.startsWith('.')) {
          throw new WasmlmError('BAD_FORMAT', `model.safetensors.index.json: tensor '${tensor}' is in ${JSON.stringify(file)}, not a .safetensors file of the folder`);
        }
        let s = shards.get(file);
        if (!s) shards.set(file, (s = new Set()));
        s.add(tensor);
      }
      for (const [file, names] of shards) await add(file, names);
    } else {
      await add(`${base}.safetensors`);
    }
    return { tensors, close };
  } catch (e) {
    await close();
    throw e;
  }
}

async function named<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof WasmlmError && !e.message.startsWith(what)) throw new WasmlmError(e.code, `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

// --- config.json -----------------------------------------------------------------------------

function archOf(config: Json): ArchDef {
  const archs = config.architectures;
  const named = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  const byType = typeof config.model_type === 'string' ? MODEL_TYPES.get(config.model_type) : undefined;
  const def = ARCHS.get(named ?? byType ?? '') ?? (byType ? ARCHS.get(byType) : undefined);
  if (!def) {
    const what = named ?? (typeof config.model_type === 'string' ? `model_type '${config.model_type}'` : 'no "architectures" or "model_type"');
    throw new WasmlmError('UNKNOWN_ARCHITECTURE', `config.json: architecture ${named ? `'${what}'` : what} is not supported (supported: ${supportedHFArchitectures().join(', ')})`);
  }
  return def;
}

/** Typed reads of config.json; errors name the key. */
class Config {
  constructor(readonly j: Json) {}
  has(k: string): boolean { return this.j[k] !== undefined && this.j[k] !== null; }
  count(k: string, fallback?: number): number {
    const v = this.j[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      if (v === undefined) throw new WasmlmError('MISSING_METADATA', `config.json: "${k}" is missing`);
      throw new WasmlmError('BAD_FORMAT', `config.json: "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }
  number(k: string, fallback?: number, from: Json = this.j): number {
    const v = from[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      if (v === undefined) throw new WasmlmError('MISSING_METADATA', `config.json: "${k}" is missing`);
      throw new WasmlmError('BAD_FORMAT', `config.json: "${k}" must be a number, got ${JSON.stringify(v)}`);
    }
    return v;
  }
  optNumber(k: string): number | undefined { return this.has(k) ? this.number(k) : undefined; }
  /** RoPE parameters: transformers 5's rope_parameters (per layer type for gemma3), else rope_theta / rope_scaling */
  rope(layerType?: string): { theta: number | undefined; type: string; p: Json } {
    let p = this.j.rope_parameters as Json | undefined;
    if (p && layerType && typeof p[layerType] === 'object' && p[layerType] !== null) p = p[layerType] as Json;
    const scaling = (this.j.rope_scaling ?? null) as Json | null;
    const params: Json = { ...(scaling ?? {}), ...(p ?? {}) };
    const theta = params.rope_theta ?? this.j.rope_theta;
    const type = params.rope_type ?? params.type ?? 'default';
    if (theta !== undefined && (typeof theta !== 'number' || !(theta > 0))) throw new WasmlmError('BAD_FORMAT', `config.json: rope_theta must be a positive number, got ${JSON.stringify(theta)}`);
    return { theta: theta as number | undefined, type: String(type), p: params };
  }
}

export const u32 = (value: number): GGUFMetaValue => ({ type: GGUFValueType.UINT32, value });
export const f32 = (value: number): GGUFMetaValue => ({ type: GGUFValueType.FLOAT32, value: Math.fround(value) });
export const str = (value: string): GGUFMetaValue => ({ type: GGUFValueType.STRING, value });

/** The model keys convert_hf_to_gguf.py writes for this family (in its order). */
function buildMetadata(def: ArchDef, c: Config): Map<string, GGUFMetaValue> {
  const a = def.arch;
  const m = new Map<string, GGUFMetaValue>();
  const set = (k: string, v: GGUFMetaValue) => m.set(`${a}.${k}`, v);
  m.set('general.architecture', str(a));
  m.set('general.type', str('model'));
  const nEmbd = c.count('hidden_size');
  const nHead = c.count('num_attention_heads');
  set('block_count', u32(c.count('num_hidden_layers')));
  set('context_length', u32(c.count('max_position_embeddings')));
  set('embedding_length', u32(nEmbd));
  set('feed_forward_length', u32(c.count('intermediate_size')));
  set('attention.head_count', u32(nHead));
  set('attention.head_count_kv', u32(c.count('num_key_value_heads', nHead)));
  const rope = c.rope(a === 'gemma3' ? 'full_attention' : undefined);
  if (a !== 'gemma2' && a !== 'gemma' && rope.theta !== undefined) set('rope.freq_base', f32(rope.theta));
  if (a === 'gemma3') {
    const local = c.rope('sliding_attention');
    set('rope.freq_base_swa', f32(local.theta ?? c.number('rope_local_base_freq', 10000)));
  }
  set('attention.layer_norm_rms_epsilon', f32(c.number('rms_norm_eps')));
  if (c.has('head_dim')) {
    set('attention.key_length', u32(c.count('head_dim')));
    set('attention.value_length', u32(c.count('head_dim')));
  }
  const headDim = c.has('head_dim') ? c.count('head_dim') : nEmbd / nHead;
  ropeScaling(c, rope, set);
  switch (a) {
    case 'llama':
      set('vocab_size', u32(c.count('vocab_size')));
      set('rope.dimension_count', u32(headDim));
      if (c.has('num_local_experts')) {
        set('expert_count', u32(c.count('num_local_experts')));
        set('expert_used_count', u32(c.count('num_experts_per_tok')));
      }
      if (typeof c.j.sliding_window === 'number' && c.j.sliding_window < c.count('max_position_embeddings')) set('attention.sliding_window', u32(c.count('sliding_window')));
      break;
    case 'qwen2':
      if (c.j.use_sliding_window === true) set('attention.sliding_window', u32(c.count('sliding_window')));
      break;
    case 'qwen3moe': {
      set('expert_count', u32(c.count('num_experts', c.j.num_local_experts as number | undefined)));
      set('expert_used_count', u32(c.count('num_experts_per_tok')));
      set('expert_feed_forward_length', u32(c.count('moe_intermediate_size')));
      const dense = c.j.mlp_only_layers;
      if ((Array.isArray(dense) && dense.length > 0) || (c.j.decoder_sparse_step ?? 1) !== 1) {
        throw new WasmlmError('BAD_FORMAT', 'config.json: qwen3_moe with dense layers (mlp_only_layers, decoder_sparse_step ≠ 1) is not supported');
      }
      if (c.j.norm_topk_prob === false) throw new WasmlmError('BAD_FORMAT', 'config.json: qwen3_moe with norm_topk_prob false is not supported (the router weights are always renormalised)');
      break;
    }
    case 'phi3': {
      const rot = c.j.partial_rotary_factor ?? 1;
      set('rope.dimension_count', u32(Math.trunc(Number(rot) * headDim)));
      if (typeof c.j.sliding_window === 'number') set('attention.sliding_window', u32(c.count('sliding_window')));
      break;
    }
    case 'gemma2':
      set('attn_logit_softcapping', f32(c.number('attn_logit_softcapping')));
      set('final_logit_softcapping', f32(c.number('final_logit_softcapping')));
      set('attention.sliding_window', u32(c.count('sliding_window')));
      break;
    case 'gemma3':
      if (c.has('final_logit_softcapping') || c.has('attn_logit_softcapping')) {
        throw new WasmlmError('BAD_FORMAT', 'config.json: gemma3 with soft-capping is not supported');
      }
      set('attention.sliding_window', u32(c.count('sliding_window')));
      break;
  }
  checkLayerTypes(a, c);
  return m;
}

/** rope_type → the converter's rope.scaling.* keys (llama3: the rope_freqs tensor, in mapTensors). */
function ropeScaling(c: Config, rope: { type: string; p: Json }, set: (k: string, v: GGUFMetaValue) => void): void {
  switch (rope.type) {
    case 'default': case 'llama3': return;
    case 'linear':
      set('rope.scaling.type', str('linear'));
      set('rope.scaling.factor', f32(c.number('factor', undefined, rope.p)));
      return;
    case 'yarn':
      set('rope.scaling.type', str('yarn'));
      set('rope.scaling.factor', f32(c.number('factor', undefined, rope.p)));
      set('rope.scaling.original_context_length', u32(c.number('original_max_position_embeddings', undefined, rope.p)));
      return;
    case 'longrope': case 'su': {
      // Phi-3.5 / Phi-4-mini: the factor tensors come in mapTensors; attn_factor as the converter computes it
      const orig = c.number('original_max_position_embeddings', c.j.original_max_position_embeddings as number | undefined, rope.p);
      const scale = c.count('max_position_embeddings') / orig;
      set('rope.scaling.attn_factor', f32(scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(orig)) : 1));
      set('rope.scaling.original_context_length', u32(orig));
      return;
    }
    default:
      throw new WasmlmError('BAD_FORMAT', `config.json: RoPE scaling '${rope.type}' is not supported (supported: default, linear, yarn, llama3, longrope)`);
  }
}

/** The sliding-window pattern llama.cpp assumes for gemma2 / gemma3 must be the one config.json states. */
function checkLayerTypes(arch: string, c: Config): void {
  const types = c.j.layer_types;
  if (!Array.isArray(types)) return;
  const n = c.count('num_hidden_layers');
  const sliding = (i: number) => arch === 'gemma2' ? i % 2 === 0 : arch === 'gemma3' ? i % 6 < 5 : false;
  const uses = arch === 'gemma2' || arch === 'gemma3' || types.some((t) => t === 'sliding_attention');
  if (!uses) return;
  for (let i = 0; i < n; i++) {
    const want = sliding(i) ? 'sliding_attention' : 'full_attention';
    if (types[i] !== want) {
      throw new WasmlmError('BAD_FORMAT', `config.json: layer_types[${i}] is ${JSON.stringify(types[i])}; ${arch} supports ${arch === 'gemma2' ? 'sliding even layers' : arch === 'gemma3' ? '5 sliding : 1 full' : 'full attention only'}`);
    }
  }
}

// --- tensors ---------------------------------------------------------------------------------

/** HF module names (after model.layers.N.) -> GGUF names (after blk.N.) */
const LAYER_NAMES: ReadonlyMap<string, string> = new Map(Object.entries({
  'input_layernorm': 'attn_norm',
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'self_attn.qkv_proj': 'attn_qkv',
  'self_attn.q_norm': 'attn_q_norm', 'self_attn.k_norm': 'attn_k_norm',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down', 'mlp.gate_up_proj': 'ffn_up',
  'mlp.gate': 'ffn_gate_inp', 'block_sparse_moe.gate': 'ffn_gate_inp',
  'pre_feedforward_layernorm': 'ffn_norm', 'post_feedforward_layernorm': 'post_ffw_norm',
}));
/** expert projections -> the stacked tensor */
const EXPERT_NAMES: ReadonlyMap<string, string> = new Map(Object.entries({
  gate_proj: 'ffn_gate_exps', up_proj: 'ffn_up_exps', down_proj: 'ffn_down_exps', w1: 'ffn_gate_exps', w3: 'ffn_up_exps', w2: 'ffn_down_exps',
}));

/** The PEFT / HF module path of a layer's linear (self_attn.q_proj) -> its GGUF base name (attn_q), for adapters. */
export function ggufLayerName(module: string, arch: string): string | undefined {
  if (module === 'post_attention_layernorm') return arch === 'gemma2' || arch === 'gemma3' ? 'post_attention_norm' : 'ffn_norm';
  return LAYER_NAMES.get(module);
}

/**
 * The llama.cpp converter's q/k row order: within each of `heads` heads of d rows, GGUF row 2i + s is
 * HF row s·d/2 + i. `src`: rows of `rowBytes` bytes (a whole number of heads) -> a new array.
 */
export function permuteQKRows(src: Uint8Array, rows: number, rowBytes: number, heads: number): Uint8Array {
  const d = rows / heads;
  if (!Number.isInteger(d) || d % 2 !== 0) throw new WasmlmError('BAD_SHAPE', `${rows} q/k rows do not split into ${heads} heads of an even size`);
  const out = new Uint8Array(src.length);
  const half = d / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * d + s * half + i) * rowBytes;
        out.set(src.subarray(from, from + rowBytes), (h * d + 2 * i + s) * rowBytes);
      }
    }
  }
  return out;
}

function mapTensors(def: ArchDef, c: Config, files: Map<string, FilePiece>, metadata: Map<string, GGUFMetaValue>): HFTensor[] {
  const nHead = c.count('num_attention_heads');
  const nHeadKv = c.count('num_key_value_heads', nHead);
  const out = new Map<string, HFTensor>();
  const experts = new Map<string, Array<Piece | undefined>>();
  const unused: string[] = [];
  // tied: logits use token_embd (a saved lm_head is the same tensor)
  const tied = c.j.tie_word_embeddings === true;
  for (const [hf, piece] of files) {
    let m: RegExpExecArray | null;
    let name: string | undefined;
    let permute = 0;
    let norm = false;
    if (hf === 'model.embed_tokens.weight') name = 'token_embd.weight';
    else if (hf === 'model.norm.weight') { name = 'output_norm.weight'; norm = true; }
    else if (hf === 'lm_head.weight') { if (tied) continue; name = 'output.weight'; }
    else if (/(^|\.)rotary_emb\.inv_freq$/.test(hf)) continue; // recomputed from rope_theta
    else if ((m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf))) {
      const [, layer, module, kind] = m as unknown as [string, string, string, string];
      const e = /^(?:mlp|block_sparse_moe)\.experts\.(\d+)\.(\w+)$/.exec(module);
      if (e && kind === 'weight' && EXPERT_NAMES.has(e[2]!)) {
        const key = `blk.${layer}.${EXPERT_NAMES.get(e[2]!)!}.weight`;
        let list = experts.get(key);
        if (!list) experts.set(key, (list = []));
        list[Number(e[1])] = piece;
        continue;
      }
      const base = ggufLayerName(module, def.arch);
      if (base) {
        name = `blk.${layer}.${base}.${kind}`;
        norm = base.endsWith('norm');
        if (def.permuteQK && (base === 'attn_q' || base === 'attn_k')) permute = base === 'attn_q' ? nHead : nHeadKv;
      }
    }
    if (!name) { unused.push(hf); continue; }
    const t = piece.t;
    out.set(name, {
      name, ne: [...t.shape].reverse(), type: GGML_F32, pieces: [piece],
      addOne: def.normPlusOne && norm, permuteHeads: permute,
    });
  }
  if (unused.length > 0) {
    throw new WasmlmError('BAD_FORMAT', `${unused.length} safetensors tensor(s) have no place in a ${def.arch} model: ${unused.slice(0, 4).map((n) => `'${n}'`).join(', ')}${unused.length > 4 ? ', ...' : ''}`);
  }
  for (const [name, list] of experts) {
    const n = metadata.get(`${def.arch}.expert_count`)?.value as number | undefined;
    if (n === undefined || list.length !== n || list.some((p) => !p)) {
      const have = list.map((p, i) => (p ? i : -1)).filter((i) => i >= 0);
      throw new WasmlmError('MISSING_TENSOR', `'${name}': experts ${JSON.stringify(have)} in the safetensors, config.json says ${n ?? 'no'} experts`);
    }
    const shape = (list[0] as { t: SafetensorsTensor }).t.shape;
    for (const p of list as Array<{ t: SafetensorsTensor }>) {
      if (p.t.shape.join() !== shape.join()) throw new WasmlmError('BAD_SHAPE', `'${p.t.name}' has shape [${p.t.shape.join(', ')}], expert 0 [${shape.join(', ')}]`);
    }
    out.set(name, { name, ne: [...[...shape].reverse(), n], type: GGML_F32, pieces: list as Piece[], addOne: false, permuteHeads: 0 });
  }
  const rope = c.rope();
  if (rope.type === 'llama3') out.set('rope_freqs.weight', llama3RopeFreqs(c, rope.p));
  if (rope.type === 'longrope' || rope.type === 'su') {
    const nRot = (metadata.get(`${def.arch}.rope.dimension_count`)?.value as number | undefined) ?? c.count('hidden_size') / nHead;
    for (const kind of ['long', 'short']) {
      const v = rope.p[`${kind}_factor`];
      if (!Array.isArray(v) || v.length !== nRot / 2 || !v.every((x) => typeof x === 'number' && x > 0)) {
        throw new WasmlmError('BAD_FORMAT', `config.json: rope ${kind}_factor must be ${nRot / 2} positive numbers (half the rotated dims)`);
      }
      const name = `rope_factors_${kind}.weight`;
      out.set(name, { name, ne: [nRot / 2], type: GGML_F32, pieces: [{ values: Float32Array.from(v as number[]) }], addOne: false, permuteHeads: 0 });
    }
  }
  for (const t of out.values()) {
    for (const p of t.pieces) {
      if ('t' in p && !['F32', 'F16', 'BF16'].includes(p.t.dtype)) {
        throw new WasmlmError('UNSUPPORTED_TYPE', `safetensors tensor '${p.t.name}' is ${p.t.dtype}; weights must be F32, F16 or BF16`);
      }
    }
  }
  return [...out.values()];
}

/** llama 3.1's RoPE frequency factors, computed as convert_hf_to_gguf.py does. */
function llama3RopeFreqs(c: Config, p: Json): HFTensor {
  const base = c.rope().theta ?? 10000;
  const dim = c.has('head_dim') ? c.count('head_dim') : c.count('hidden_size') / c.count('num_attention_heads');
  const factor = c.number('factor', 8, p);
  const low = c.number('low_freq_factor', 1, p);
  const high = c.number('high_freq_factor', 4, p);
  const oldCtx = c.number('original_max_position_embeddings', 8192, p);
  const lowWav = oldCtx / low;
  const highWav = oldCtx / high;
  const values = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / base ** ((2 * i) / dim);
    const wav = (2 * Math.PI) / freq;
    if (wav < highWav) values[i] = 1;
    else if (wav > lowWav) values[i] = factor;
    else {
      const smooth = (oldCtx / wav - low) / (high - low);
      values[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return { name: 'rope_freqs.weight', ne: [dim / 2], type: GGML_F32, pieces: [{ values }], addOne: false, permuteHeads: 0 };
}

/** Each tensor's output type: 1-D F32; 2-D+ the folder's dtype, or as llama-quantize picks for `target`. */
function retype(tensors: HFTensor[], arch: string, c: Config, target: string | undefined): void {
  const dtype = (t: HFTensor) => {
    const p = t.pieces[0]!;
    const d = 't' in p ? p.t.dtype : 'F32';
    return d === 'F16' ? GGML_F16 : d === 'BF16' ? GGML_BF16 : GGML_F32;
  };
  for (const t of tensors) t.type = t.ne.length >= 2 ? dtype(t) : GGML_F32;
  if (target === undefined) return;
  const q = QUANT_TARGETS[target];
  if (!q) throw new WasmlmError('BAD_ARGUMENT', `unknown output type '${target}' (one of ${Object.keys(QUANT_TARGETS).join(', ')})`);
  const plan = planQuantization(q, tensors, {
    arch, nLayer: c.count('num_hidden_layers'),
    nExpert: (c.j.num_local_experts ?? c.j.num_experts) as number | undefined,
  });
  const byName = new Map(plan.map((p) => [p.name, p.outType]));
  for (const t of tensors) t.type = byName.get(t.name)!;
}

/** general.file_type: the target's, else (llama_ftype) BF16 32, F16 1 or F32 0 after the weights' types. */
function fileTypeOf(target: string | undefined, types: ReadonlySet<number>): number {
  if (target !== undefined) return QUANT_TARGETS[target]!.fileType;
  return types.has(GGML_BF16) ? 32 : types.has(GGML_F16) ? 1 : 0;
}

// --- producing the bytes ---------------------------------------------------------------------

/** Bytes per produced group of rows (the reads and conversions happen this much at a time). */
const GROUP_BYTES = 1 << 20;

/** Write tensor `t` (tensorBytes(t.type, t.ne) bytes) into `dest`, a group of rows at a time. */
export async function produceTensor(t: HFTensor, dest: Uint8Array, signal?: AbortSignal): Promise<void> {
  const rowLen = t.ne[0]!;
  let at = 0;
  for (const p of t.pieces) {
    const dtype = 'values' in p ? 'F32' : p.t.dtype;
    const size = dtype === 'F32' ? 4 : 2;
    const n = 'values' in p ? p.values.length : p.t.shape.reduce((a, b) => a * b, 1);
    const rows = n / rowLen;
    // a group: whole heads when permuting, else enough rows for GROUP_BYTES of f32
    const unit = t.permuteHeads > 0 ? rows / t.permuteHeads : 1;
    const group = Math.max(unit, Math.floor(GROUP_BYTES / (rowLen * 4 * unit)) * unit);
    for (let r = 0; r < rows; r += group) {
      if (signal?.aborted) throw new WasmlmError('ABORTED', 'aborted', { cause: signal.reason });
      const k = Math.min(group, rows - r);
      let raw = 'values' in p
        ? new Uint8Array(p.values.buffer, p.values.byteOffset + r * rowLen * 4, k * rowLen * 4)
        : await p.file.read(p.t.offset + r * rowLen * size, k * rowLen * size);
      if (t.permuteHeads > 0) raw = permuteQKRows(raw, k, rowLen * size, k / unit);
      let bytes: Uint8Array;
      if (!t.addOne && t.type === DTYPES[dtype]) {
        bytes = raw; // the stored bytes are the output (little-endian both)
      } else {
        const x = toF32(raw, dtype);
        if (t.addOne) for (let i = 0; i < x.length; i++) x[i] = x[i]! + 1;
        bytes = t.type === GGML_F32 ? new Uint8Array(x.buffer, x.byteOffset, x.byteLength) : quantizeTensor(t.type, x);
      }
      dest.set(bytes, at);
      at += bytes.length;
    }
  }
  if (at !== dest.length) throw new Error(`internal: tensor '${t.name}' produced ${at} bytes of ${dest.length}`);
}

const DTYPES: Readonly<Record<string, number>> = { F32: GGML_F32, F16: GGML_F16, BF16: GGML_BF16 };

/** Little-endian F32 / F16 / BF16 bytes as f32. */
function toF32(raw: Uint8Array, dtype: string): Float32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const count = raw.length / (dtype === 'F32' ? 4 : 2);
  const out = new Float32Array(count);
  if (dtype === 'F32') for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
  else if (dtype === 'F16') for (let i = 0; i < count; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
  else for (let i = 0; i < count; i++) out[i] = bf16ToF32(dv.getUint16(i * 2, true));
  return out;
}

/**
 * The virtual data section of `model.header` as a ByteStream (what Weights.read consumes): a readInto
 * of exactly one tensor at its offset produces it straight into the destination; other reads go
 * through a copy of the tensor.
 */
export function hfDataStream(model: Pick<HFModel, 'header' | 'tensors' | 'close'>, options: { signal?: AbortSignal; onProgress?: (p: { loaded: number; total: number | undefined }) => void } = {}): ByteStream {
  const infos = model.header.tensors;
  const byOffset = new Map(infos.map((info, i) => [info.offset, i]));
  const total = model.header.fileSize!;
  let pos = 0;
  let closed = false;
  let cached: { index: number; bytes: Uint8Array } | undefined;
  const advance = (n: number) => {
    pos += n;
    options.onProgress?.({ loaded: pos, total });
  };
  const check = (n: number) => {
    if (closed) throw new WasmlmError('IO_ERROR', 'read on a closed stream');
    if (pos + n > total) throw new WasmlmError('TRUNCATED', `unexpected end of data (${pos + n - total} more bytes needed at byte ${pos} of ${total})`);
  };
  /** byte `at` of the data section (tensor data or padding) */
  const fillFrom = async (dest: Uint8Array) => {
    let off = 0;
    while (off < dest.length) {
      const at = pos + off;
      const i = infos.findIndex((t) => at >= t.offset && at < t.offset + Math.ceil(t.nBytes / ALIGN) * ALIGN);
      const t = infos[i]!;
      if (!cached || cached.index !== i) {
        const bytes = new Uint8Array(Math.ceil(t.nBytes / ALIGN) * ALIGN);
        await produceTensor(model.tensors[i]!, bytes.subarray(0, t.nBytes), options.signal);
        cached = { index: i, bytes };
      }
      const k = Math.min(dest.length - off, t.offset + cached.bytes.length - at);
      dest.set(cached.bytes.subarray(at - t.offset, at - t.offset + k), off);
      off += k;
    }
  };
  return {
    get size() { return total; },
    get position() { return pos; },
    description: model.header.source,
    async read(n) {
      check(n);
      const out = new Uint8Array(n);
      await fillFrom(out);
      advance(n);
      return out;
    },
    async readInto(dest) {
      check(dest.length);
      const i = byOffset.get(pos);
      if (i !== undefined && infos[i]!.nBytes === dest.length) {
        await produceTensor(model.tensors[i]!, dest, options.signal);
      } else {
        await fillFrom(dest);
      }
      advance(dest.length);
    },
    async skip(n) {
      check(n);
      advance(n);
    },
    async close() {
      closed = true;
      cached = undefined;
      await model.close();
    },
  };
}
