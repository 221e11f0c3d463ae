/**
 * ModelSpec: what a transformer computes, independent of the file it came from.
 * A family file (llama.ts, ...) maps GGUF metadata and tensor names onto it; the engine
 * builds its plan from it and never looks at metadata keys itself.
 */

/** A weight the model needs: its name in the file, expected shape (ne, fastest first). */
export interface WeightRef {
  name: string;
  ne: number[];
}

export interface NormSpec {
  weight: WeightRef;
}

export interface AttentionSpec {
  wq: WeightRef;
  wk: WeightRef;
  wv: WeightRef;
  wo: WeightRef;
}

export interface FfnSpec {
  /** SwiGLU: down(silu(gate·x) ⊙ up·x) */
  gate: WeightRef;
  up: WeightRef;
  down: WeightRef;
}

export interface LayerSpec {
  attnNorm: NormSpec;
  attn: AttentionSpec;
  ffnNorm: NormSpec;
  ffn: FfnSpec;
}

export interface RopeSpec {
  /** how many dims of each head rotate */
  nRot: number;
  base: number;
  /** linear scaling: positions are multiplied by this (1 = none) */
  freqScale: number;
  mode: 'normal' | 'neox';
}

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
  rope: RopeSpec;
  tokenEmbd: WeightRef;
  outputNorm: NormSpec;
  /** the output projection; the token embedding itself when the file ties them */
  output: WeightRef;
  tiedOutput: boolean;
  layers: LayerSpec[];
}

/** Every weight the spec refers to, each once. */
export function specWeights(spec: ModelSpec): WeightRef[] {
  const seen = new Map<string, WeightRef>();
  const add = (w: WeightRef) => { if (!seen.has(w.name)) seen.set(w.name, w); };
  add(spec.tokenEmbd);
  for (const l of spec.layers) {
    add(l.attnNorm.weight);
    add(l.attn.wq); add(l.attn.wk); add(l.attn.wv); add(l.attn.wo);
    add(l.ffnNorm.weight);
    add(l.ffn.gate); add(l.ffn.up); add(l.ffn.down);
  }
  add(spec.outputNorm.weight);
  add(spec.output);
  return [...seen.values()];
}
