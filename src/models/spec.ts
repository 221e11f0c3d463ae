/**
 * ModelSpec: what a transformer computes, independent of the file it came from.
 * A family file (llama.ts, qwen2.ts, ...) maps GGUF metadata and tensor names onto it; the engine
 * builds its plan from it and never looks at metadata keys itself.
 */

/** A weight the model needs: its name in the file and expected shape (ne, fastest first). */
export interface WeightRef {
  name: string;
  ne: number[];
}

export interface NormSpec {
  kind: 'rms' | 'layer';
  weight: WeightRef;
  bias?: WeightRef;
}

/** A linear layer y = W·x (+ b). */
export interface Linear {
  weight: WeightRef;
  bias?: WeightRef;
}

export interface AttentionSpec {
  /** separate projections, or one fused [Q; K; V] projection */
  q?: Linear;
  k?: Linear;
  v?: Linear;
  qkv?: Linear;
  output: Linear;
  /** keys further back than this many positions are masked (0 = none); the cache becomes a ring */
  slidingWindow: number;
  /** RMSNorm of each head of q / k (weights [headDim]) after the projection, before RoPE (Qwen3, Gemma 3) */
  qNorm?: NormSpec;
  kNorm?: NormSpec;
  /** this layer's RoPE base and position scale, in place of the model's (Gemma 3's local layers) */
  rope?: { base: number; freqScale: number };
}

export interface FfnSpec {
  /** 'glu': down(act(gate·x) ⊙ up·x); 'plain': down(act(up·x)) */
  kind: 'glu' | 'plain';
  act: 'silu' | 'gelu';
  /** absent for 'plain', and for a fused GLU whose `up` holds [gate; up] */
  gate?: Linear;
  up: Linear;
  down: Linear;
  /** `up` has 2·nFf rows: gate then up (Phi-3) */
  fusedGateUp: boolean;
}

/** Mixture of experts with SwiGLU experts (Mixtral). */
export interface MoeSpec {
  nExpert: number;
  nUsed: number;
  /** weights of the chosen experts renormalised to sum to 1 */
  normalize: boolean;
  router: WeightRef;
  /** 3-D tensors [nIn, nOut, nExpert] */
  gate: WeightRef;
  up: WeightRef;
  down: WeightRef;
}

export interface LayerSpec {
  attnNorm: NormSpec;
  /** absent: the FFN reads the attention's normalised input (parallel blocks with one norm) */
  ffnNorm?: NormSpec;
  attn: AttentionSpec;
  ffn?: FfnSpec;
  moe?: MoeSpec;
  /** sandwich norms: each branch's output normalised before the residual add (Gemma 2 / 3) */
  attnPostNorm?: NormSpec;
  ffnPostNorm?: NormSpec;
  /** LayerScale: per-channel gains on each branch's output before the residual add */
  attnScale?: WeightRef;
  ffnScale?: WeightRef;
}

export interface RopeSpec {
  kind: 'rope';
  /** how many dims of each head rotate */
  nRot: number;
  base: number;
  /** positions are multiplied by this (linear scaling; 1 = none) */
  freqScale: number;
  mode: 'normal' | 'neox';
  /** per-pair divisors of θ (LLaMA 3.1's rope_freqs tensor) */
  freqFactors?: WeightRef;
  /**
   * LongRoPE (Phi-3.5 / Phi-4 mini): per-pair divisors of θ, the long ones when the context is above
   * originalContext, else the short ones; cos and sin are multiplied by attnFactor either way
   */
  longrope?: { long: WeightRef; short: WeightRef; originalContext: number; attnFactor: number };
  /** YaRN: ramp between interpolated and extrapolated θ over dims [corrLow, corrHigh] */
  yarn?: { extFactor: number; attnFactor: number; corrLow: number; corrHigh: number; originalContext: number };
}

export type PositionSpec =
  | RopeSpec
  | { kind: 'alibi'; maxBias: number }
  | { kind: 'learned'; weight: WeightRef };

export interface ModelSpec {
  /** the family file that built the spec, e.g. 'llama' */
  family: string;
  /** general.architecture */
  arch: string;
  name: string | undefined;
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  /** the context length the model was trained with */
  contextLength: number;
  normEps: number;
  positions: PositionSpec;
  /**
   * 'sequential': x += attn(norm(x)); x += ffn(norm(x)).
   * 'parallel': x += attn(norm(x)) + ffn(norm'(x)).
   * 'deepnorm': x = norm(α·x + attn(x)); x = norm(α·x + ffn(x)) (post-norm).
   */
  residual: 'sequential' | 'parallel' | 'deepnorm';
  deepnormAlpha: number;
  /** token embeddings are multiplied by this (Gemma: sqrt(n_embd)) */
  embdScale: number;
  /** attention scores are q·k times this (1/√headDim unless the family says otherwise) */
  kqScale: number;
  /** soft-capping c·tanh(x/c) of the scaled attention scores and of the final logits (0 = none; Gemma 2) */
  attnSoftcap: number;
  finalSoftcap: number;
  tokenEmbd: WeightRef;
  embdNorm?: NormSpec;
  outputNorm: NormSpec;
  /** the output projection; the token embedding itself when the file ties them */
  output: Linear;
  tiedOutput: boolean;
  layers: LayerSpec[];
}

/** Every weight the spec refers to, each once. */
export function specWeights(spec: ModelSpec): WeightRef[] {
  const seen = new Map<string, WeightRef>();
  const add = (w: WeightRef | undefined) => { if (w && !seen.has(w.name)) seen.set(w.name, w); };
  const norm = (n: NormSpec | undefined) => { add(n?.weight); add(n?.bias); };
  const lin = (l: Linear | undefined) => { add(l?.weight); add(l?.bias); };
  add(spec.tokenEmbd);
  if (spec.positions.kind === 'learned') add(spec.positions.weight);
  if (spec.positions.kind === 'rope') {
    add(spec.positions.freqFactors);
    add(spec.positions.longrope?.long);
    add(spec.positions.longrope?.short);
  }
  norm(spec.embdNorm);
  for (const l of spec.layers) {
    norm(l.attnNorm);
    lin(l.attn.q); lin(l.attn.k); lin(l.attn.v); lin(l.attn.qkv); lin(l.attn.output);
    norm(l.attn.qNorm); norm(l.attn.kNorm); norm(l.attnPostNorm);
    norm(l.ffnNorm);
    if (l.ffn) { lin(l.ffn.gate); lin(l.ffn.up); lin(l.ffn.down); }
    if (l.moe) { add(l.moe.router); add(l.moe.gate); add(l.moe.up); add(l.moe.down); }
    norm(l.ffnPostNorm);
    add(l.attnScale);
    add(l.ffnScale);
  }
  norm(spec.outputNorm);
  lin(spec.output);
  return [...seen.values()];
}
