/**
 * A trainer for a TrainableAdapter: gradients of the mean masked cross-entropy of a batch (graph.ts),
 * and AdamW steps exactly as torch.optim.AdamW (amsgrad off: bias corrections, decoupled weight decay),
 * with an optional global gradient-norm clip as torch.nn.utils.clip_grad_norm_.
 */
import { WasmlmError } from '../errors.js';
import type { TrainingAccess } from './access.js';
import type { TrainableAdapter } from './adapter.js';
import { TrainPlan } from './plan.js';

export interface TrainerOptions {
  learningRate: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** the max L2 norm of all gradients together (none: no clipping) */
  gradClip?: number;
}

export interface TrainBatch {
  tokens: number[][];
  /** mask[b][p] = 1: row p is trained to predict tokens[b][p + 1] (default: every row but the last) */
  mask?: number[][];
}

function checkNumber(v: unknown, what: string, ok: (x: number) => boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new WasmlmError('BAD_ARGUMENT', `trainer: ${what}, got ${String(v)}`);
  return v;
}

export class Trainer {
  private readonly graph: TrainPlan;
  private readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly gradClip: number | undefined;
  private readonly m = new Map<string, Float64Array>();
  private readonly v = new Map<string, Float64Array>();
  /** AdamW steps taken */
  steps = 0;

  constructor(private readonly access: TrainingAccess, readonly adapter: TrainableAdapter, options: TrainerOptions) {
    if (typeof options !== 'object' || options === null) throw new WasmlmError('BAD_ARGUMENT', 'trainer: options must be an object');
    this.lr = checkNumber(options.learningRate, 'learningRate must be a number ≥ 0', (x) => x >= 0);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) throw new WasmlmError('BAD_ARGUMENT', 'trainer: betas must be [beta1, beta2]');
    this.beta1 = checkNumber(betas[0], 'betas[0] must be in [0, 1)', (x) => x >= 0 && x < 1);
    this.beta2 = checkNumber(betas[1], 'betas[1] must be in [0, 1)', (x) => x >= 0 && x < 1);
    this.eps = checkNumber(options.eps ?? 1e-8, 'eps must be a number ≥ 0', (x) => x >= 0);
    this.weightDecay = checkNumber(options.weightDecay ?? 0, 'weightDecay must be a number ≥ 0', (x) => x >= 0);
    this.gradClip = options.gradClip === undefined ? undefined : checkNumber(options.gradClip, 'gradClip must be a number > 0', (x) => x > 0);
    this.graph = new TrainPlan(access, adapter);
    for (const [name, t] of adapter.tensors()) {
      this.m.set(name, new Float64Array(t.length));
      this.v.set(name, new Float64Array(t.length));
    }
  }

  private checkBatch(batch: TrainBatch): { tokens: number[][]; mask: number[][]; count: number } {
    const what = 'trainer';
    if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.tokens) || batch.tokens.length === 0) {
      throw new WasmlmError('BAD_ARGUMENT', `${what}: tokens must be a non-empty array of token id arrays`);
    }
    const V = this.access.spec.nVocab;
    const tokens = batch.tokens;
    const mask = batch.mask ?? tokens.map((seq) => seq.map((_, p) => (p + 1 < seq.length ? 1 : 0)));
    if (!Array.isArray(mask) || mask.length !== tokens.length) throw new WasmlmError('BAD_ARGUMENT', `${what}: mask must have one row per sequence (${tokens.length})`);
    let count = 0;
    tokens.forEach((seq, b) => {
      if (!Array.isArray(seq) || seq.length < 2) throw new WasmlmError('BAD_ARGUMENT', `${what}: tokens[${b}] must be an array of at least 2 token ids`);
      seq.forEach((id, p) => {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new WasmlmError('TOKEN_OUT_OF_RANGE', `${what}: tokens[${b}][${p}] = ${String(id)} is outside the vocabulary (0..${V - 1})`);
      });
      const row = mask[b];
      if (!Array.isArray(row) || row.length !== seq.length) throw new WasmlmError('BAD_ARGUMENT', `${what}: mask[${b}] must have ${seq.length} entries (one per token)`);
      row.forEach((x, p) => {
        if (x !== 0 && x !== 1) throw new WasmlmError('BAD_ARGUMENT', `${what}: mask[${b}][${p}] must be 0 or 1, got ${String(x)}`);
        if (x === 1 && p === seq.length - 1) throw new WasmlmError('BAD_ARGUMENT', `${what}: mask[${b}][${p}] is 1 but the last position predicts no token`);
        count += x;
      });
    });
    if (count === 0) throw new WasmlmError('BAD_ARGUMENT', `${what}: the mask selects no position to learn`);
    return { tokens, mask, count };
  }

  private compute(batch: TrainBatch): { loss: number; grads: Map<string, Float32Array> } {
    const { tokens, mask, count } = this.checkBatch(batch);
    this.graph.begin(Math.max(...tokens.map((seq) => seq.length)));
    let sum = 0;
    tokens.forEach((seq, b) => { sum += this.graph.run(seq, mask[b]!, count); });
    return { loss: sum / count, grads: this.graph.gradients() };
  }

  /** The loss of `batch` and the gradient of every A and B (GGUF memory order), without updating. */
  async gradients(batch: TrainBatch): Promise<{ loss: number; gradients: Map<string, Float32Array> }> {
    const { loss, grads } = this.compute(batch);
    return { loss, gradients: grads };
  }

  /** Forward, backward and one AdamW update over `batch`; returns the loss before the update. */
  async step(batch: TrainBatch): Promise<{ loss: number }> {
    const { loss, grads } = this.compute(batch);
    if (this.gradClip !== undefined) {
      let ss = 0;
      for (const g of grads.values()) for (let i = 0; i < g.length; i++) ss += g[i]! ** 2;
      const coef = Math.min(1, this.gradClip / (Math.sqrt(ss) + 1e-6));
      if (coef < 1) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= coef;
    }
    const t = ++this.steps;
    const { lr, beta1, beta2, eps, weightDecay } = this;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2 = Math.sqrt(1 - beta2 ** t);
    for (const [name, w] of this.adapter.tensors()) {
      const g = grads.get(name)!, m = this.m.get(name)!, v = this.v.get(name)!;
      for (let i = 0; i < w.length; i++) {
        const gi = Math.fround(g[i]!);
        m[i] = Math.fround(m[i]! + (gi - m[i]!) * (1 - beta1));
        v[i] = Math.fround(beta2 * v[i]! + (1 - beta2) * gi * gi);
        const wi = w[i]! * (1 - lr * weightDecay);
        w[i] = wi - stepSize * m[i]! / (Math.sqrt(v[i]!) / bc2 + eps);
      }
    }
    return { loss };
  }
}
