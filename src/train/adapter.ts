/**
 * A trainable LoRA adapter: for each targeted base weight W [nIn, nOut] (GGUF ne) the pair A [nIn, r]
 * (row-major [r][nIn]) and B [r, nOut] (row-major [nOut][r]), named `<base>.lora_a` / `<base>.lora_b`
 * as in llama.cpp's adapter GGUF; y = W·x + s·B·(A·x), s = alpha / r (rsLoRA: alpha / √r).
 * Initial values: `init` by name, else A Kaiming-uniform (PEFT's kaiming_uniform_(a = √5): U(±1/√nIn))
 * and B zero, from a seeded generator.
 */
import { WasmlmError, kindOf } from '../errors.js';
import type { ModelSpec, WeightRef } from '../models/spec.js';
import { encodeGGUF, meta } from '../formats/gguf-writer.js';
import { encodeSafetensors } from '../formats/safetensors.js';
import { GGML_F32 } from '../abi.js';
import { mulberry32 } from '../generate/sampler.js';

/** GGUF tensor names a LoRA may target (per layer: blk.N.<target>.weight). */
export const LORA_TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
export type LoraTarget = typeof LORA_TARGETS[number];

/** Each target's module in a Hugging Face / PEFT llama-style model. */
const PEFT_MODULES: Record<LoraTarget, string> = {
  attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
};

export interface CreateAdapterOptions {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
  rslora?: boolean;
  /** initial values by adapter tensor name (`blk.0.attn_q.weight.lora_a`, ...), GGUF memory order */
  init?: Map<string, Float32Array> | Record<string, ArrayLike<number>>;
  /** seed of the Kaiming-uniform initialisation of the A matrices not in `init` */
  seed?: number;
}

/** One adapted weight: its base, the shapes, and the trainable values. */
export interface LoraPair {
  base: WeightRef;
  nIn: number;
  nOut: number;
  a: Float32Array;
  b: Float32Array;
}

export class TrainableAdapter {
  /** by base weight name, in the model's tensor order */
  readonly pairs = new Map<string, LoraPair>();
  constructor(readonly rank: number, readonly alpha: number, readonly rslora: boolean, readonly targets: readonly LoraTarget[],
    /** the base model's general.architecture, and its head counts (llama's q/k rows are permuted in GGUF) */
    readonly arch: string, readonly heads: { q: number; k: number }) {}

  /** the scale s of y = W·x + s·B·(A·x) */
  get scale(): number {
    return this.alpha / (this.rslora ? Math.sqrt(this.rank) : this.rank);
  }

  /** The trainable tensors by adapter tensor name, in GGUF order (lora_a then lora_b per base weight). */
  tensors(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, p] of this.pairs) {
      out.set(`${name}.lora_a`, p.a);
      out.set(`${name}.lora_b`, p.b);
    }
    return out;
  }

  /**
   * The adapter as llama.cpp's LoRA GGUF (general.type "adapter", adapter.type "lora", F32 `<base>.lora_a`
   * [nIn, r] and `<base>.lora_b` [r, nOut]): what `model.loadAdapter` and llama.cpp's --lora read. GGUF has no
   * rsLoRA key: adapter.lora.alpha is then alpha·√r, so that the GGUF rule alpha / r gives alpha / √r.
   */
  save(options: { format: 'gguf' }): Uint8Array;
  /**
   * The adapter as PEFT's save_pretrained writes it: adapter_config.json and adapter_model.safetensors
   * (lora_A [r, n_in], lora_B [n_out, r]; for llama, q/k lora_B rows back in Hugging Face order).
   */
  save(options: { format: 'peft' }): { 'adapter_config.json': Uint8Array; 'adapter_model.safetensors': Uint8Array };
  save(options: { format: 'gguf' | 'peft' }): Uint8Array | Record<string, Uint8Array> {
    if (options?.format === 'peft') return this.savePeft();
    if (options?.format !== 'gguf') throw new WasmlmError('BAD_ARGUMENT', `adapter.save: format must be 'gguf' or 'peft', got ${String(options?.format)}`);
    const tensors = [...this.pairs.values()].flatMap((p) => [
      { name: `${p.base.name}.lora_a`, ne: [p.nIn, this.rank], type: GGML_F32, data: new Uint8Array(p.a.slice().buffer) },
      { name: `${p.base.name}.lora_b`, ne: [this.rank, p.nOut], type: GGML_F32, data: new Uint8Array(p.b.slice().buffer) },
    ]);
    return encodeGGUF([
      { key: 'general.architecture', ...meta.str(this.arch) },
      { key: 'general.type', ...meta.str('adapter') },
      { key: 'adapter.type', ...meta.str('lora') },
      { key: 'adapter.lora.alpha', ...meta.f32(this.rslora ? this.alpha * Math.sqrt(this.rank) : this.alpha) },
    ], tensors);
  }

  private savePeft(): { 'adapter_config.json': Uint8Array; 'adapter_model.safetensors': Uint8Array } {
    const R = this.rank;
    const tensors = [...this.pairs.values()].flatMap((p) => {
      const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(p.base.name)!;
      const target = m[2] as LoraTarget;
      const key = `base_model.model.model.layers.${m[1]}.${PEFT_MODULES[target]}`;
      let b = p.b.slice();
      const heads = this.arch === 'llama' ? (target === 'attn_q' ? this.heads.q : target === 'attn_k' ? this.heads.k : 0) : 0;
      if (heads) {
        // GGUF row h·d + 2i + c is Hugging Face row h·d + c·d/2 + i
        const d = p.nOut / heads;
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < d / 2; i++) {
            for (let c = 0; c < 2; c++) b.set(p.b.subarray((h * d + 2 * i + c) * R, (h * d + 2 * i + c + 1) * R), (h * d + c * d / 2 + i) * R);
          }
        }
      }
      return [
        { name: `${key}.lora_A.weight`, dtype: 'F32', shape: [R, p.nIn], data: new Uint8Array(p.a.slice().buffer) },
        { name: `${key}.lora_B.weight`, dtype: 'F32', shape: [p.nOut, R], data: new Uint8Array(b.buffer) },
      ];
    });
    const config = {
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: R, lora_alpha: this.alpha, use_rslora: this.rslora, lora_dropout: 0, bias: 'none',
      target_modules: this.targets.map((t) => PEFT_MODULES[t].split('.')[1]).sort(), use_dora: false, fan_in_fan_out: false,
      rank_pattern: {}, alpha_pattern: {}, modules_to_save: null, layers_to_transform: null, init_lora_weights: true, inference_mode: true,
    };
    return {
      'adapter_config.json': new TextEncoder().encode(JSON.stringify(config, null, 2)),
      'adapter_model.safetensors': encodeSafetensors(tensors, { format: 'pt' }),
    };
  }

  /** A copy of the current A/B values by name (GGUF memory order). */
  weights(): Map<string, Float32Array> {
    return new Map([...this.tensors()].map(([k, v]) => [k, v.slice()]));
  }
}

export function createAdapter(spec: ModelSpec, options: CreateAdapterOptions): TrainableAdapter {
  if (typeof options !== 'object' || options === null) throw new WasmlmError('BAD_ARGUMENT', `createAdapter: options must be an object, got ${kindOf(options)}`);
  const { rank, alpha, targets } = options;
  if (!Number.isInteger(rank) || rank < 1) throw new WasmlmError('BAD_ARGUMENT', `createAdapter: rank must be a positive integer, got ${String(rank)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new WasmlmError('BAD_ARGUMENT', `createAdapter: alpha must be a finite number, got ${String(alpha)}`);
  if (!Array.isArray(targets) || targets.length === 0) throw new WasmlmError('BAD_ARGUMENT', 'createAdapter: targets must be a non-empty array of tensor names');
  for (const t of targets) {
    if (!(LORA_TARGETS as readonly string[]).includes(t)) {
      throw new WasmlmError('BAD_ARGUMENT', `createAdapter: target '${String(t)}' is not one of ${LORA_TARGETS.join(', ')}`);
    }
  }
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new WasmlmError('BAD_ARGUMENT', `createAdapter: seed must be an integer, got ${String(seed)}`);
  const init = options.init instanceof Map ? options.init : new Map(Object.entries(options.init ?? {}));
  const adapter = new TrainableAdapter(rank, alpha, options.rslora ?? false, [...targets], spec.arch, { q: spec.nHead, k: spec.nHeadKv });
  const words = mulberry32(seed);
  const random = () => words() / 4294967296;
  const used = new Set<string>();
  const value = (name: string, n: number, fill: (x: Float32Array) => void): Float32Array => {
    const given = init.get(name);
    const x = new Float32Array(n);
    if (given === undefined) fill(x);
    else {
      if (given.length !== n) throw new WasmlmError('BAD_SHAPE', `createAdapter: init '${name}' has ${given.length} values, expected ${n}`);
      x.set(given);
      used.add(name);
    }
    return x;
  };
  spec.layers.forEach((l, i) => {
    const bases: Record<LoraTarget, WeightRef | undefined> = {
      attn_q: l.attn.q?.weight, attn_k: l.attn.k?.weight, attn_v: l.attn.v?.weight, attn_output: l.attn.output.weight,
      ffn_gate: l.ffn?.gate?.weight, ffn_up: l.ffn?.up.weight, ffn_down: l.ffn?.down.weight,
    };
    for (const t of LORA_TARGETS) {
      if (!targets.includes(t)) continue;
      const base = bases[t];
      if (!base || base.name !== `blk.${i}.${t}.weight`) {
        throw new WasmlmError('BAD_ARGUMENT', `createAdapter: target '${t}': the model has no separate blk.${i}.${t}.weight`);
      }
      const [nIn, nOut] = base.ne as [number, number];
      const bound = 1 / Math.sqrt(nIn);
      const a = value(`${base.name}.lora_a`, rank * nIn, (x) => { for (let k = 0; k < x.length; k++) x[k] = (2 * random() - 1) * bound; });
      const b = value(`${base.name}.lora_b`, nOut * rank, () => {});
      adapter.pairs.set(base.name, { base, nIn, nOut, a, b });
    }
  });
  for (const name of init.keys()) {
    if (!used.has(name)) throw new WasmlmError('BAD_ARGUMENT', `createAdapter: init '${name}' is not a tensor of this adapter`);
  }
  return adapter;
}
