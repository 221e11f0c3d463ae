/**
 * What family files share: reading the standard `<arch>.*` keys and naming the standard
 * llama.cpp tensors (blk.N.attn_q, ...). Optional tensors (biases, LayerScale) are taken when
 * the file has them, so a family file only says what is special about its family.
 */
import { WasmlmError } from '../errors.js';
import { findTensor, type GGUFHeader } from '../formats/gguf.js';
import { GGUFMetadata } from '../formats/gguf-metadata.js';
import type {
  AttentionSpec, FfnSpec, LayerSpec, Linear, ModelSpec, MoeSpec, NormSpec, PositionSpec, RopeSpec, WeightRef,
} from './spec.js';

export class SpecBuilder {
  readonly meta: GGUFMetadata;
  /** general.architecture: the prefix of the family's keys */
  readonly arch: string;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly qDim: number;
  readonly kvDim: number;

  constructor(readonly header: GGUFHeader) {
    this.meta = new GGUFMetadata(header);
    const a = (this.arch = this.meta.string('general.architecture'));
    this.nEmbd = this.count(`${a}.embedding_length`);
    this.nLayer = this.count(`${a}.block_count`);
    this.checkBlockCount();
    this.nHead = this.count(`${a}.attention.head_count`);
    this.nHeadKv = this.count(`${a}.attention.head_count_kv`, this.nHead);
    if (!this.meta.has(`${a}.attention.key_length`) && this.nEmbd % this.nHead !== 0) {
      throw new WasmlmError('BAD_FORMAT', `metadata key '${a}.embedding_length' ${this.nEmbd} is not a multiple of '${a}.attention.head_count' ${this.nHead}`);
    }
    this.headDim = this.count(`${a}.attention.key_length`, this.nEmbd / this.nHead);
    const valueDim = this.count(`${a}.attention.value_length`, this.headDim);
    if (valueDim !== this.headDim) {
      throw new WasmlmError('BAD_FORMAT', `metadata key '${a}.attention.value_length' ${valueDim} ≠ key head size ${this.headDim} is not supported`);
    }
    this.nFf = this.count(`${a}.feed_forward_length`);
    this.nVocab = this.vocabSize();
    this.qDim = this.nHead * this.headDim;
    this.kvDim = this.nHeadKv * this.headDim;
  }

  /** A positive integer count (layers, heads, lengths), or the fallback when the key is absent. */
  count(key: string, fallback?: number): number {
    const n = this.meta.optionalU32(key) ?? fallback;
    if (n === undefined) return this.meta.u32(key); // MISSING_METADATA
    if (!Number.isInteger(n) || n <= 0) {
      throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be a positive integer, got ${n}`);
    }
    return n;
  }

  /** A finite number above `min` (or the fallback when the key is absent). */
  above(key: string, min: number, fallback: number): number {
    const v = this.meta.optionalNumber(key) ?? fallback;
    if (!(v > min)) throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be a number above ${min}, got ${v}`);
    return v;
  }

  hasTensor(name: string): boolean {
    return findTensor(this.header, name) !== undefined;
  }

  /**
   * block_count against the tensor index, before anything is built per layer: the file's blk.N
   * tensors must cover blocks 0 .. block_count − 1 and no more.
   */
  private checkBlockCount(): void {
    const key = `${this.arch}.block_count`;
    const blockOf = (name: string) => { const m = /^blk\.(\d+)\./.exec(name); return m ? Number(m[1]) : -1; };
    let blocks = 0;
    for (const t of this.header.tensors) blocks = Math.max(blocks, blockOf(t.name) + 1);
    if (blocks < this.nLayer) {
      throw new WasmlmError('MISSING_TENSOR', `metadata key '${key}' is ${this.nLayer}, but the file has tensors for ${blocks} blocks only (no 'blk.${blocks}.*')`);
    }
    if (blocks > this.nLayer) {
      const extra = this.header.tensors.filter((t) => blockOf(t.name) >= this.nLayer).map((t) => `'${t.name}'`);
      throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' is ${this.nLayer}, but the file has tensors for ${blocks} blocks (unused: ${extra.slice(0, 4).join(', ')}${extra.length > 4 ? ', ...' : ''})`);
    }
  }

  /** Vocabulary size: the tokenizer's token list, else the embedding's row count. */
  vocabSize(): number {
    const tokens = this.meta.optionalStringArray('tokenizer.ggml.tokens');
    if (tokens) return tokens.length;
    const embd = findTensor(this.header, 'token_embd.weight');
    if (embd && embd.ne.length === 2) return embd.ne[1]!;
    throw new WasmlmError('MISSING_METADATA', 'cannot tell the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight');
  }

  /** RoPE scaling: 'none', 'linear' or 'yarn', with the factor's position multiplier (1 = none). */
  ropeScaling(): { type: 'none' | 'linear' | 'yarn'; freqScale: number } {
    const a = this.arch;
    const type = this.meta.optionalString(`${a}.rope.scaling.type`) ?? 'none';
    if (type === 'none') return { type, freqScale: 1 };
    if (type === 'linear' || type === 'yarn') {
      const key = this.meta.has(`${a}.rope.scaling.factor`) ? `${a}.rope.scaling.factor` : `${a}.rope.scale_linear`;
      return { type, freqScale: 1 / this.above(key, 0, 1) };
    }
    throw new WasmlmError('BAD_FORMAT', `metadata key '${a}.rope.scaling.type': RoPE scaling '${type}' is not supported yet`);
  }

  w(name: string, ...ne: number[]): WeightRef {
    return { name, ne };
  }

  /** A tensor the family may or may not have. */
  opt(name: string, ...ne: number[]): WeightRef | undefined {
    return this.hasTensor(name) ? { name, ne } : undefined;
  }

  /** `<prefix>.weight` (+ `<prefix>.bias` when present) of n channels. */
  norm(prefix: string, kind: NormSpec['kind']): NormSpec {
    return { kind, weight: this.w(`${prefix}.weight`, this.nEmbd), bias: this.opt(`${prefix}.bias`, this.nEmbd) };
  }

  /** `<prefix>.weight` [nIn, nOut] (+ `<prefix>.bias` [nOut] when present). */
  linear(prefix: string, nIn: number, nOut: number): Linear {
    return { weight: this.w(`${prefix}.weight`, nIn, nOut), bias: this.opt(`${prefix}.bias`, nOut) };
  }

  /** Attention of layer i: fused attn_qkv when the file has it, else attn_q/k/v. */
  attention(i: number, slidingWindow = 0): AttentionSpec {
    const b = `blk.${i}.`;
    const { nEmbd: E, qDim, kvDim } = this;
    const output = this.linear(b + 'attn_output', qDim, E);
    if (this.hasTensor(b + 'attn_qkv.weight')) {
      return { qkv: this.linear(b + 'attn_qkv', E, qDim + 2 * kvDim), output, slidingWindow };
    }
    return {
      q: this.linear(b + 'attn_q', E, qDim),
      k: this.linear(b + 'attn_k', E, kvDim),
      v: this.linear(b + 'attn_v', E, kvDim),
      output,
      slidingWindow,
    };
  }

  /** Feed-forward of layer i: GLU (gate + up, or up holding [gate; up]) or plain (up, down). */
  ffn(i: number, kind: FfnSpec['kind'], act: FfnSpec['act']): FfnSpec {
    const b = `blk.${i}.`;
    const { nEmbd: E, nFf: F } = this;
    const down = this.linear(b + 'ffn_down', F, E);
    if (kind === 'plain') return { kind, act, up: this.linear(b + 'ffn_up', E, F), down, fusedGateUp: false };
    if (this.hasTensor(b + 'ffn_gate.weight')) {
      return { kind, act, gate: this.linear(b + 'ffn_gate', E, F), up: this.linear(b + 'ffn_up', E, F), down, fusedGateUp: false };
    }
    return { kind, act, up: this.linear(b + 'ffn_up', E, 2 * F), down, fusedGateUp: true };
  }

  /** Experts of layer i when `<arch>.expert_count` says the model has them. */
  moe(i: number): MoeSpec | undefined {
    const a = this.arch;
    if ((this.meta.optionalU32(`${a}.expert_count`) ?? 0) === 0) return undefined;
    const nExpert = this.count(`${a}.expert_count`);
    const nUsed = this.count(`${a}.expert_used_count`);
    if (nUsed > nExpert) throw new WasmlmError('BAD_FORMAT', `${a}: expert_used_count ${nUsed} > expert_count ${nExpert}`);
    const b = `blk.${i}.`;
    const { nEmbd: E, nFf: F } = this;
    const F_exp = this.count(`${a}.expert_feed_forward_length`, F);
    return {
      nExpert, nUsed, normalize: true,
      router: this.w(b + 'ffn_gate_inp.weight', E, nExpert),
      gate: this.w(b + 'ffn_gate_exps.weight', E, F_exp, nExpert),
      up: this.w(b + 'ffn_up_exps.weight', E, F_exp, nExpert),
      down: this.w(b + 'ffn_down_exps.weight', F_exp, E, nExpert),
    };
  }

  rope(mode: 'normal' | 'neox'): PositionSpec {
    const a = this.arch;
    const nRot = this.count(`${a}.rope.dimension_count`, this.headDim);
    // θ_i = base^(−2i/nRot): a base of 1 or less gives no or growing frequencies (and inf at 0)
    const base = this.above(`${a}.rope.freq_base`, 1, 10000);
    const scaling = this.ropeScaling();
    const spec: RopeSpec = {
      kind: 'rope', nRot, base, freqScale: scaling.freqScale, mode,
      freqFactors: this.opt('rope_freqs.weight', nRot / 2),
      longrope: this.longrope(nRot),
    };
    if (scaling.type === 'yarn') {
      // ggml's rope_yarn_corr_dims: the dims whose wavelength spans beta_fast .. beta_slow rotations
      const originalContext = this.count(`${a}.rope.scaling.original_context_length`, this.count(`${a}.context_length`));
      const betaFast = this.above(`${a}.rope.scaling.yarn_beta_fast`, 0, 32);
      const betaSlow = this.above(`${a}.rope.scaling.yarn_beta_slow`, 0, 1);
      const corrDim = (beta: number) => (nRot * Math.log(originalContext / (beta * 2 * Math.PI))) / (2 * Math.log(base));
      spec.yarn = {
        extFactor: this.meta.optionalNumber(`${a}.rope.scaling.yarn_ext_factor`) ?? 1,
        attnFactor: this.above(`${a}.rope.scaling.attn_factor`, 0, 1),
        corrLow: Math.max(0, Math.floor(corrDim(betaFast))),
        corrHigh: Math.min(nRot - 1, Math.ceil(corrDim(betaSlow))),
        originalContext,
      };
    }
    return spec;
  }

  /**
   * LongRoPE's factor tensors (rope_factors_long / rope_factors_short, [nRot/2] each), when the file has
   * them, with the context they switch at (llama.cpp: long above rope.scaling.original_context_length)
   * and rope.scaling.attn_factor.
   */
  private longrope(nRot: number): RopeSpec['longrope'] {
    const a = this.arch;
    const long = this.opt('rope_factors_long.weight', nRot / 2);
    const short = this.opt('rope_factors_short.weight', nRot / 2);
    if (!long && !short) return undefined;
    if (!long || !short) {
      throw new WasmlmError('MISSING_TENSOR', `tensor '${long ? 'rope_factors_short' : 'rope_factors_long'}.weight' is missing (LongRoPE needs both factor tensors, expected shape [${nRot / 2}])`);
    }
    if (this.hasTensor('rope_freqs.weight')) {
      throw new WasmlmError('BAD_FORMAT', "the file has both 'rope_freqs.weight' and LongRoPE factors (rope_factors_long / rope_factors_short)");
    }
    return {
      long, short,
      originalContext: this.count(`${a}.rope.scaling.original_context_length`, this.count(`${a}.context_length`)),
      attnFactor: this.above(`${a}.rope.scaling.attn_factor`, 0, 1),
    };
  }

  /** The per-head q and k RMSNorms of layer i (attn_q_norm / attn_k_norm, [headDim] each). */
  headNorms(i: number): Pick<AttentionSpec, 'qNorm' | 'kNorm'> {
    const norm = (t: string): NormSpec => ({ kind: 'rms', weight: this.w(`blk.${i}.${t}.weight`, this.headDim) });
    return { qNorm: norm('attn_q_norm'), kNorm: norm('attn_k_norm') };
  }

  /** The output projection, or the token embedding when the file ties them. */
  output(): { output: Linear; tiedOutput: boolean } {
    const tiedOutput = !this.hasTensor('output.weight');
    const output = tiedOutput
      ? { weight: this.tokenEmbd() }
      : this.linear('output', this.nEmbd, this.nVocab);
    return { output, tiedOutput };
  }

  tokenEmbd(): WeightRef {
    return this.w('token_embd.weight', this.nEmbd, this.nVocab);
  }

  /** LayerScale gains of layer i, when present. */
  layerScale(i: number): Pick<LayerSpec, 'attnScale' | 'ffnScale'> {
    return {
      attnScale: this.opt(`blk.${i}.attn_layerscale.weight`, this.nEmbd),
      ffnScale: this.opt(`blk.${i}.ffn_layerscale.weight`, this.nEmbd),
    };
  }

  /** A spec with this file's sizes; the family supplies the rest. */
  spec(family: string, parts: Pick<ModelSpec, 'positions' | 'layers' | 'outputNorm'> &
    Partial<Pick<ModelSpec, 'residual' | 'deepnormAlpha' | 'embdScale' | 'embdNorm' | 'normEps' | 'kqScale' |
      'attnSoftcap' | 'finalSoftcap'>>): ModelSpec {
    const a = this.arch;
    const normKey = parts.outputNorm.kind === 'rms' ? 'layer_norm_rms_epsilon' : 'layer_norm_epsilon';
    return {
      family,
      arch: a,
      name: this.meta.optionalString('general.name') || undefined,
      nVocab: this.nVocab,
      nEmbd: this.nEmbd,
      nLayer: this.nLayer,
      nHead: this.nHead,
      nHeadKv: this.nHeadKv,
      headDim: this.headDim,
      nFf: this.nFf,
      contextLength: this.count(`${a}.context_length`),
      normEps: this.normEps(`${a}.attention.${normKey}`),
      residual: 'sequential',
      deepnormAlpha: 1,
      embdScale: 1,
      kqScale: 1 / Math.sqrt(this.headDim),
      attnSoftcap: 0,
      finalSoftcap: 0,
      tokenEmbd: this.tokenEmbd(),
      ...this.output(),
      ...parts,
    };
  }

  /** A norm's epsilon: above 0 (x / sqrt(mean + eps) of a zero row is NaN at 0) and below 1. */
  private normEps(key: string): number {
    const eps = this.above(key, 0, 1e-5);
    if (eps >= 1) throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be below 1, got ${eps}`);
    return eps;
  }

  /** One layer per block. */
  layers(layer: (i: number) => LayerSpec): LayerSpec[] {
    return Array.from({ length: this.nLayer }, (_, i) => layer(i));
  }
}
