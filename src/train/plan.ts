/**
 * Training plans: the forward pass of one sequence (positions 0..T−1, causal) that keeps the activations
 * backward needs, the cross-entropy of the learned rows, and the backward pass to the LoRA A/B gradients — ops in
 * wasm (the inference ops forward; assembly/ops/backward.ts and backward_ext.ts backward), run by the kernels like
 * the inference plans. Every block the ModelSpec describes but those `checkTrainable` names: RMSNorm and
 * LayerNorm, RoPE (normal and neox, partial), ALiBi, learned positions, GQA attention with soft-capped scores and
 * sliding windows, per-head q/k norms, fused qkv, biases, SwiGLU, GeGLU, plain GELU, fused gate-up, sandwich
 * norms, LayerScale, sequential and parallel residuals, scaled or normalised embeddings, a soft-capped output. Base weights
 * stay frozen and in their type (dx = Wᵀ·dy dequantizes their rows, OP_MATMUL_T); the adapter's A/B and their
 * gradients live in wasm memory as f32. GELU is the smooth tanh form in training (OP_GELU_MUL): inference's
 * tabulates it in fp16 steps, which have no gradient.
 *
 * Memory: the engine's one training workspace (grown for the longest sequence seen, shared by every trainer
 * and step): each layer's input (the residual stream), one layer's activations (checkpointing: backward
 * recomputes a layer's forward from its input) and, for the last layers that fit, those costly to recompute
 * (the cheap rest is redone before their backward), one set of gradient buffers, the plan, and per thread the
 * scratch of the ops that need one. Plans run on the engine's threads
 * (each op split as in inference).
 */
import { GGML_F32, OP_WORDS, ROPE_NEOX, ROPE_NORMAL, SYNC_BYTES } from '../abi.js';
import { Plan } from '../engine/plan.js';
import type { JobLayout } from '../engine/pool.js';
import type { AttentionSpec, LayerSpec, Linear, ModelSpec, NormSpec, WeightRef } from '../models/spec.js';
import type { TrainingAccess } from './access.js';
import type { TrainableAdapter } from './adapter.js';
import { WasmlmError } from '../errors.js';

/** Throws UNSUPPORTED_TYPE naming the family and the piece whose backward training does not have yet. */
export function checkTrainable(spec: ModelSpec): void {
  const no = (what: string) => {
    throw new WasmlmError('UNSUPPORTED_TYPE', `training: model '${spec.name ?? spec.arch}' (family '${spec.family}') has ${what}, which training does not support yet`);
  };
  if (spec.residual === 'deepnorm') no('DeepNorm (post-norm) residual blocks');
  const pos = spec.positions;
  if (pos.kind === 'rope' && (pos.freqFactors || pos.longrope || pos.yarn)) no('RoPE scaling (rope_freqs, LongRoPE or YaRN)');
  for (const l of spec.layers) {
    if (l.moe || !l.ffn) no('a mixture-of-experts feed-forward');
    if (l.ffn!.kind === 'plain' && l.ffn!.act !== 'gelu') no('a plain (non-gated) SiLU feed-forward');
  }
}

/** A layer's linear by its target name (blk.N.attn_q.weight → attn_q). */
const targetOf = (l: Linear) => l.weight.name.replace(/^blk\.\d+\.(.*)\.weight$/, '$1');

/** A bump allocator over a region's byte offsets. */
class Bump {
  constructor(private top: number) {}
  f32(n: number): number {
    const at = Math.ceil(this.top / 64) * 64;
    this.top = at + n * 4;
    return at;
  }
  get end(): number {
    return this.top;
  }
}

interface PairMem { a: number; b: number; da: number; db: number; nIn: number; nOut: number }

/**
 * One layer's activations (recomputed from the layer's input for its backward: checkpointing). A kept layer
 * owns only what is costly to recompute and read by backward (`ownedActs`); the rest — its norms' outputs,
 * the FFN's act(gate)·up, what only the forward pass reads — are the recompute set's, redone before its
 * backward (`refresh`).
 */
interface LayerAct {
  /** the attention's normalised input; its fused q|k|v; q and k before their per-head norms */
  xn: number; qkv: number; qPre: number; kPre: number; q: number; k: number; v: number; att: number;
  /** the attention's output before its post-norm; x + attention (sequential blocks); the FFN's normalised input */
  ao: number; x2: number; xn2: number;
  /** [gate | up] (plain: up's output); a fused gate-up's rows; act(gate)·up; the FFN's output before its post-norm */
  gu: number; fused: number; h: number; fo: number;
  /** A·x per target */
  u: Map<string, number>;
}

/** The backward pass's buffers, shared by the layers (accumulators zeroed by copying `zeros` over them). */
interface GradMem {
  dh: number; dgu: number; dfused: number; dxn2: number; datt: number; dqkv: number; dqkvF: number; dqPre: number; dkPre: number;
  dxn: number; dxfn: number; dres: number; dbr: number;
  /** d(A·x) per adapted weight name of a layer (blk.N. dropped) */
  du: Map<string, number>;
  zeros: number;
}

/** The memory of sequences of up to T tokens, in the engine's training workspace. */
interface SeqMem {
  T: number;
  /** learned rows the output head takes at a time */
  headRows: number;
  /** A, B, dA, dB per adapted weight */
  pairs: Map<string, PairMem>;
  /** each layer's input (the residual stream), kept from the forward pass */
  xs: number[];
  /** each layer's activations: partly its own when kept from the forward pass (the rest the recompute set's),
   *  else the recompute set */
  acts: LayerAct[];
  /** whether layer i's activations are kept (not recomputed before its backward) */
  kept: boolean[];
  g: GradMem;
  /** x after the last layer, normalised, logits of headRows rows (and soft-capped), targets (i32), positions
   *  (i32), row losses */
  xL: number; xfn: number; logits: number; capped: number; targets: number; positions: number; loss: number;
  tmp2: number; tmpLora: number;
  /** thread 0's scratch of OP_ATTENTION(_BACK) and OP_MATMUL_T / OP_MATMUL_DQ; thread t's is `job.scratchStride`·t bytes on */
  attScratch: number; mtScratch: number;
  plan: Plan;
  /** the plans' per-thread scratch stride and sync area (threads > 1) */
  job: JobLayout | undefined;
}

const al64 = (n: number) => Math.ceil(n / 64) * 64;

/** runs of learned positions [p0, p1), in order */
type Runs = Array<[number, number]>;
const rowsOf = (runs: Runs) => runs.reduce((a, [p0, p1]) => a + p1 - p0, 0);
/** one run from position 0: its rows packed are the first ones where they are */
const inPlace = (runs: Runs) => runs.length === 1 && runs[0]![0] === 0;

/**
 * keepActivationBytes: activations kept from the forward pass, at most (bytes): the last layers whose costly
 * activations fit are not recomputed before their backward (about a quarter of a step's work each); the others
 * are (checkpointing). headRows: learned rows the output head takes at a time (its logits buffer: headRows ×
 * vocab floats). Settings for tests and benches; gradients are the same bits either way.
 */
export const trainMemory = { keepActivationBytes: 192 * 2 ** 20, headRows: 128 };

export class TrainPlan {
  private mem: SeqMem | undefined;
  private readonly rank: number;
  private readonly scale: number;

  constructor(private readonly access: TrainingAccess, private readonly adapter: TrainableAdapter) {
    checkTrainable(access.spec);
    this.rank = adapter.rank;
    this.scale = adapter.scale;
  }

  private get spec(): ModelSpec {
    return this.access.spec;
  }

  /**
   * The layout of sequences of up to T tokens in the engine's workspace (shared by every trainer: laid out
   * again before each batch, as another trainer may have used or moved it). Bounded whatever the depth: each
   * layer's input, one layer's activations (checkpointing) and the owned ones of the last layers that fit
   * trainMemory.keepActivationBytes, one set of gradient buffers, the logits.
   */
  private layoutFor(T: number): SeqMem {
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd, nVocab: V } = s;
    const Q = nHead * hd, K = nHeadKv * hd, R = this.rank;
    const F = Math.max(...s.layers.map((l) => l.ffn!.down.weight.ne[0]!));
    const has = (f: (l: LayerSpec) => unknown) => s.layers.some(f);
    const fusedQkv = has((l) => l.attn.qkv), qkNorm = has((l) => l.attn.qNorm || l.attn.kNorm), fusedGu = has((l) => l.ffn!.fusedGateUp);
    const maxIn = Math.max(E, Q, F);
    // ops: the layers', and the head's — up to 2 copies per run of learned rows (≤ T / 2 runs) and 8 per headRows
    const headRows = trainMemory.headRows;
    const planOps = 64 + s.nLayer * 200 + T + 8 * Math.ceil(T / headRows);
    const threads = this.access.threads;
    // per thread: OP_MATMUL_T / OP_MATMUL_DQ's dequantized rows, then the attention's scores (forward: T floats;
    // backward: attention_back_scratch_bytes)
    const mtBytes = al64(this.access.kernels.matmul_t_scratch_bytes(maxIn));
    const stride = mtBytes + al64(Math.max(this.access.kernels.attention_back_scratch_bytes(T), (T + 16) * 4));
    const owned = this.ownedActs();
    /** the recompute set (no `shared`), or a kept layer's: its owned buffers, the rest `shared`'s */
    const layerAct = (m: Bump, shared?: LayerAct): LayerAct => {
      const u = new Map<string, number>();
      for (const t of this.adapter.targets) u.set(t, m.f32(T * R));
      const f = (key: Exclude<keyof LayerAct, 'u'>, n: number) => (shared && !owned.has(key) ? shared[key] : m.f32(n));
      return {
        xn: f('xn', T * E), qkv: f('qkv', fusedQkv ? T * (Q + 2 * K) : 0), qPre: f('qPre', qkNorm ? T * Q : 0),
        kPre: f('kPre', qkNorm ? T * K : 0), q: f('q', T * Q), k: f('k', T * K), v: f('v', T * K), att: f('att', T * Q),
        ao: f('ao', T * E), x2: f('x2', T * E), xn2: f('xn2', T * E), gu: f('gu', 2 * T * F), fused: f('fused', fusedGu ? 2 * T * F : 0),
        h: f('h', T * F), fo: f('fo', T * E), u,
      };
    };
    const keptBytes = (() => {
      const b = new Bump(0);
      layerAct(b, layerAct(new Bump(0)));
      return b.end + 64;
    })();
    const keep = Math.min(s.nLayer, Math.floor(trainMemory.keepActivationBytes / keptBytes));
    const kept = s.layers.map((_, i) => i >= s.nLayer - keep);
    const maxLoraOut = Math.max(1, ...[...this.adapter.pairs.values()].map((p) => p.nOut));
    const layout = (m: Bump) => {
      const pairs = new Map<string, PairMem>();
      for (const [name, p] of this.adapter.pairs) {
        pairs.set(name, { a: m.f32(p.a.length), b: m.f32(p.b.length), da: m.f32(p.a.length), db: m.f32(p.b.length), nIn: p.nIn, nOut: p.nOut });
      }
      const xs = s.layers.map(() => m.f32(T * E));
      const shared = layerAct(m);
      const acts = kept.map((k) => (k ? layerAct(m, shared) : shared));
      const scratch = m.f32(threads * stride / 4);
      const rest = {
        xL: m.f32(T * E), xfn: m.f32(T * E), logits: m.f32(Math.min(T, headRows) * V),
        capped: m.f32(s.finalSoftcap ? Math.min(T, headRows) * V : 0), targets: m.f32(T),
        positions: m.f32(T), loss: m.f32(T), tmp2: m.f32(T * E), tmpLora: m.f32(T * maxLoraOut),
        mtScratch: scratch, attScratch: scratch + mtBytes, planAt: m.f32(planOps * OP_WORDS),
        sync: threads > 1 ? m.f32(planOps * SYNC_BYTES / 4) : 0,
      };
      const du = new Map<string, number>();
      for (const t of this.adapter.targets) du.set(t, m.f32(T * R));
      const g: GradMem = {
        dh: m.f32(T * F), dgu: m.f32(2 * T * F), dfused: m.f32(fusedGu ? 2 * T * F : 0), dxn2: m.f32(T * E), datt: m.f32(T * Q),
        dqkv: m.f32(T * (Q + 2 * K)), dqkvF: m.f32(fusedQkv ? T * (Q + 2 * K) : 0), dqPre: m.f32(qkNorm ? T * Q : 0),
        dkPre: m.f32(qkNorm ? T * K : 0), dxn: m.f32(T * E), dxfn: m.f32(T * E), dres: m.f32(T * E), dbr: m.f32(T * E), du,
        zeros: m.f32(T * maxIn),
      };
      return { pairs, xs, acts, rest, g };
    };
    const size = new Bump(0);
    layout(size);
    const { pairs, xs, acts, rest, g } = layout(new Bump(this.access.workspace(size.end + 64)));
    const plan = new Plan(this.access.views, rest.planAt, planOps, this.access.kernels);
    const job = threads > 1 ? { scratchStride: stride, sync: rest.sync, syncOps: planOps } : undefined;
    // no op writes `zeros` (the accumulators are zeroed by copying it)
    this.access.views.f32.fill(0, g.zeros >>> 2, (g.zeros >>> 2) + T * maxIn);
    return { T, headRows, pairs, xs, acts, kept, g, ...rest, plan, job };
  }

  /** Before a batch whose longest sequence has T tokens: its layout, A/B from the adapter, gradients zeroed. */
  begin(T: number): void {
    this.mem = this.layoutFor(T);
    const f32 = this.access.views.f32;
    for (const [name, p] of this.adapter.pairs) {
      const m = this.mem.pairs.get(name)!;
      f32.set(p.a, m.a >>> 2);
      f32.set(p.b, m.b >>> 2);
      f32.fill(0, m.da >>> 2, (m.da >>> 2) + p.a.length);
      f32.fill(0, m.db >>> 2, (m.db >>> 2) + p.b.length);
    }
  }

  /** The gradients accumulated since `begin`, by adapter tensor name. */
  gradients(): Map<string, Float32Array> {
    const f32 = this.access.views.f32;
    const out = new Map<string, Float32Array>();
    for (const [name, p] of this.adapter.pairs) {
      const m = this.mem!.pairs.get(name)!;
      out.set(`${name}.lora_a`, f32.slice(m.da >>> 2, (m.da >>> 2) + p.a.length));
      out.set(`${name}.lora_b`, f32.slice(m.db >>> 2, (m.db >>> 2) + p.b.length));
    }
    return out;
  }

  /**
   * Forward and backward of one sequence: `mask[p]` = 1 where row p learns tokens[p + 1]; the gradients of
   * (sum of its row losses) / N are added to the accumulated ones. Returns the sum of its row losses.
   */
  run(tokens: number[], mask: number[], N: number): number {
    const T = tokens.length;
    const M = this.mem;
    if (!M || M.T < T) throw new Error(`TrainPlan.run: a sequence of ${T} tokens after begin(${M?.T})`);
    const { views } = this.access;
    const i32 = views.i32;
    i32.set(tokens, M.targets >>> 2);
    const P = M.plan.reset();
    const s = this.spec;
    const E = s.nEmbd;
    // embeddings: token rows (ids in the targets buffer, rewritten below)
    const embd = this.access.weights.get(s.tokenEmbd);
    const x0 = M.xs[0]!;
    P.getRows({ type: embd.type, table: embd.ptr, rowLen: E, ids: M.targets, nTok: T, out: x0 });
    // scaled (Gemma), + learned positions (GPT-2; frozen: no gradient), normalised (BLOOM)
    if (s.embdScale !== 1) P.axpby({ a: x0, b: 0, out: x0, n: T * E, alpha: s.embdScale, beta: 0 });
    if (s.positions.kind === 'learned') {
      for (let p = 0; p < T; p++) i32[(M.positions >>> 2) + p] = p;
      const pe = this.access.weights.get(s.positions.weight);
      P.getRows({ type: pe.type, table: pe.ptr, rowLen: E, ids: M.positions, nTok: T, out: M.tmp2 });
      P.add({ a: x0, b: M.tmp2, out: x0, n: T * E });
    }
    if (s.embdNorm) this.norm(P, s.embdNorm, x0, x0, T);
    this.run1(M);
    // the output head works on the learned rows only (their runs of positions, in order): their targets
    const runs: Runs = [];
    for (let p = 0; p < T; p++) {
      if (!mask[p]) continue;
      const last = runs.at(-1);
      if (last && last[1] === p) last[1] = p + 1;
      else runs.push([p, p + 1]);
    }
    let n = 0;
    for (const [p0, p1] of runs) for (let p = p0; p < p1; p++) i32[(M.targets >>> 2) + n++] = tokens[p + 1]!;
    this.forward(P.reset(), M, T, N, runs);
    this.run1(M);
    const f32 = views.f32;
    let loss = 0;
    for (let r = 0; r < n; r++) loss += f32[(M.loss >>> 2) + r]!;
    this.backward(P.reset(), M, T);
    this.run1(M);
    return loss;
  }

  /**
   * The learned runs' rows of E floats between `full` (at their positions) and `packed` (consecutive, in order);
   * none to move when the runs are one from position 0 (their packed rows are full's first ones). Returns
   * `packed`, or `full` then.
   */
  private movedRuns(P: Plan, runs: Runs, full: number, packed: number, toPacked: boolean): number {
    if (inPlace(runs)) return full;
    const E = this.spec.nEmbd;
    let r = 0;
    for (const [p0, p1] of runs) {
      const at = full + p0 * E * 4, pk = packed + r * E * 4;
      P.copyRows({ src: toPacked ? at : pk, srcStride: E, dst: toPacked ? pk : at, dstStride: E, n: E, nRows: p1 - p0 });
      r += p1 - p0;
    }
    return packed;
  }

  /** Runs the plan written (on the engine's threads). */
  private run1(M: SeqMem): void {
    this.access.run(M.plan, M.job);
  }

  /** y = W·x + s·B·(A·x) for T rows (A·x kept in u). */
  private linear(P: Plan, M: SeqMem, l: Linear, x: number, y: number, T: number, u: number | undefined): void {
    const w = this.access.weights.get(l.weight);
    const [nIn, nOut] = l.weight.ne as [number, number];
    // F32 weights: inference's matmul (f32 activations); others: rows dequantized, x in f32 (what backward differentiates)
    if (w.type === GGML_F32) P.matmul({ type: w.type, w: w.ptr, act: x, y, nIn, nOut, nTok: T });
    else P.matmulDq({ type: w.type, w: w.ptr, x, y, nIn, nOut, nTok: T, scratch: M.mtScratch });
    if (l.bias) P.addRow({ x: y, row: this.access.weights.ptr(l.bias), out: y, n: nOut, nTok: T });
    const pair = M.pairs.get(l.weight.name);
    if (pair && u !== undefined) {
      const R = this.rank;
      P.matmul({ type: GGML_F32, w: pair.a, act: x, y: u, nIn, nOut: R, nTok: T });
      P.matmul({ type: GGML_F32, w: pair.b, act: u, y: M.tmpLora, nIn: R, nOut, nTok: T });
      P.axpby({ a: y, b: M.tmpLora, out: y, n: T * nOut, alpha: 1, beta: this.scale });
    }
  }

  /**
   * Backward of `linear`: dx += Wᵀ·dy + Aᵀ·du, dB += s·dyᵀ·u, dA += duᵀ·x with du = s·Bᵀ·dy (du zeroed); dx
   * undefined: the first layer's input, whose gradient nothing needs.
   */
  private linearBack(P: Plan, M: SeqMem, l: Linear, x: number, dy: number, dx: number | undefined, T: number, u?: number, du?: number): void {
    const w = this.access.weights.get(l.weight);
    const [nIn, nOut] = l.weight.ne as [number, number];
    if (dx !== undefined) P.matmulT({ type: w.type, w: w.ptr, dy, dx, nIn, nOut, nTok: T, scratch: M.mtScratch });
    const pair = M.pairs.get(l.weight.name);
    if (pair && u !== undefined && du !== undefined) {
      const R = this.rank, s = this.scale;
      P.outerAcc({ x: dy, y: u, c: pair.db, m: nOut, n: R, nTok: T, alpha: s });
      P.matmulT({ type: GGML_F32, w: pair.b, dy, dx: du, nIn: R, nOut, nTok: T, scratch: M.mtScratch });
      P.axpby({ a: du, b: 0, out: du, n: T * R, alpha: s, beta: 0 });
      P.outerAcc({ x: du, y: x, c: pair.da, m: R, n: nIn, nTok: T, alpha: 1 });
      if (dx !== undefined) P.matmulT({ type: GGML_F32, w: pair.a, dy: du, dx, nIn, nOut: R, nTok: T, scratch: M.mtScratch });
    }
  }

  /** out = norm(x) over `rows` rows of the norm's width (E, or headDim for per-head norms); out may be x. */
  private norm(P: Plan, nm: NormSpec, x: number, out: number, rows: number): void {
    const W = this.access.weights, n = nm.weight.ne[0]!, eps = this.spec.normEps;
    if (nm.kind === 'layer') P.layernorm({ x, w: W.ptr(nm.weight), b: W.ptr(nm.bias), out, n, nTok: rows, eps });
    else P.rmsnorm({ x, w: W.ptr(nm.weight), out, n, nTok: rows, eps });
  }

  /** dx += the norm's gradient at x for dy. */
  private normBack(P: Plan, nm: NormSpec, x: number, dy: number, dx: number, rows: number): void {
    const W = this.access.weights, n = nm.weight.ne[0]!, eps = this.spec.normEps;
    if (nm.kind === 'layer') P.layernormBack({ x, w: W.ptr(nm.weight), dy, dx, n, nTok: rows, eps });
    else P.rmsnormBack({ x, w: W.ptr(nm.weight), dy, dx, n, nTok: rows, eps });
  }

  /** RoPE on T rows of `heads` heads at x with layer a's base and scale; sign −1: the inverse (R(−p) = R(p)ᵀ). */
  private rope(P: Plan, a: AttentionSpec, x: number, T: number, heads: number, sign: number): void {
    const pos = this.spec.positions;
    if (pos.kind !== 'rope') return;
    P.rope({
      x, nTok: T, nHead: heads, headDim: this.spec.headDim, nRot: pos.nRot, pos0: 0, base: a.rope?.base ?? pos.base,
      freqScale: sign * (a.rope?.freqScale ?? pos.freqScale), mode: pos.mode === 'neox' ? ROPE_NEOX : ROPE_NORMAL,
    });
  }

  /** A branch's output y: its post-norm (Gemma 2 / 3), then its LayerScale, into M.tmp2; y itself without either. */
  private branchOut(P: Plan, M: SeqMem, post: NormSpec | undefined, scale: WeightRef | undefined, y: number, T: number): number {
    if (!post && !scale) return y;
    const E = this.spec.nEmbd;
    if (post) this.norm(P, post, y, M.tmp2, T);
    if (scale) P.mulRow({ x: post ? M.tmp2 : y, row: this.access.weights.ptr(scale), out: M.tmp2, n: E, nTok: T });
    return M.tmp2;
  }

  private forward(P: Plan, M: SeqMem, T: number, N: number, runs: Runs): void {
    const s = this.spec;
    const V = s.nVocab;
    for (let i = 0; i < s.nLayer; i++) this.layerForward(P, M, T, i, true);
    this.norm(P, s.outputNorm, M.xL, M.xfn, T);
    // the head on the n learned rows (packed in tmp2, free after the layers), headRows at a time: logits, the
    // cross-entropy, and at once its backward (it needs nothing else): dx of the rows (packed in dbr, free
    // before the layers' backward) moved to their positions in dxfn
    const g = M.g, E = s.nEmbd;
    this.zero(P, M, g.dxfn, T * E);
    const n = rowsOf(runs);
    if (n === 0) return;
    const x = this.movedRuns(P, runs, M.xfn, M.tmp2, true), dx = inPlace(runs) ? g.dxfn : g.dbr;
    if (dx !== g.dxfn) this.zero(P, M, dx, n * E);
    // soft-capped logits (Gemma 2) in their own buffer: backward reads the uncapped ones
    const z = s.finalSoftcap ? M.capped : M.logits;
    for (let r0 = 0; r0 < n; r0 += M.headRows) {
      const m = Math.min(M.headRows, n - r0);
      this.linear(P, M, s.output, x + r0 * E * 4, M.logits, m, undefined);
      if (s.finalSoftcap) P.softcap({ x: M.logits, out: z, n: m * V, cap: s.finalSoftcap });
      P.crossEntropy({ logits: z, targets: M.targets + r0 * 4, loss: M.loss + r0 * 4, n: V, nRows: m, scale: 1 / N });
      if (s.finalSoftcap) P.softcapBack({ x: M.logits, dy: M.capped, out: M.logits, n: m * V, cap: s.finalSoftcap });
      this.linearBack(P, M, s.output, x + r0 * E * 4, M.logits, dx + r0 * E * 4, m);
    }
    this.movedRuns(P, runs, g.dxfn, g.dbr, false);
  }

  /** Zeroes `floats` floats at `at` (a copy of the zeros no op writes). */
  private zero(P: Plan, M: SeqMem, at: number, floats: number): void {
    P.copy({ src: M.g.zeros, dst: at, nBytes: floats * 4 });
  }

  /**
   * Layer i from its input M.xs[i] into M.acts[i] (and, with `next`, its output into the next layer's input).
   * Sequential: x2 = x + attn(norm(x)), out = x2 + ffn(norm'(x2)); parallel: out = x + attn(norm(x)) +
   * ffn(norm'(x) or norm(x)); each branch's output through its post-norm if any.
   */
  private layerForward(P: Plan, M: SeqMem, T: number, i: number, next: boolean): void {
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd } = s;
    const Q = nHead * hd, K = nHeadKv * hd;
    const pos = s.positions;
    const l = s.layers[i]!, a = l.attn, f = l.ffn!, L = M.acts[i]!, x = M.xs[i]!;
    const F = f.down.weight.ne[0]!;
    const lin = (w: Linear, inp: number, out: number) => this.linear(P, M, w, inp, out, T, L.u.get(targetOf(w)));
    this.norm(P, l.attnNorm, x, L.xn, T);
    // q, k, v (before their per-head norms: qPre, kPre)
    const q0 = a.qNorm ? L.qPre : L.q, k0 = a.kNorm ? L.kPre : L.k;
    if (a.qkv) {
      lin(a.qkv, L.xn, L.qkv);
      const w = Q + 2 * K;
      P.copyRows({ src: L.qkv, srcStride: w, dst: q0, dstStride: Q, n: Q, nRows: T });
      P.copyRows({ src: L.qkv + Q * 4, srcStride: w, dst: k0, dstStride: K, n: K, nRows: T });
      P.copyRows({ src: L.qkv + (Q + K) * 4, srcStride: w, dst: L.v, dstStride: K, n: K, nRows: T });
    } else {
      lin(a.q!, L.xn, q0);
      lin(a.k!, L.xn, k0);
      lin(a.v!, L.xn, L.v);
    }
    if (a.qNorm) this.norm(P, a.qNorm, L.qPre, L.q, T * nHead);
    if (a.kNorm) this.norm(P, a.kNorm, L.kPre, L.k, T * nHeadKv);
    this.rope(P, a, L.q, T, nHead, 1);
    this.rope(P, a, L.k, T, nHeadKv, 1);
    P.attention({ q: L.q, kc: L.k, vc: L.v, out: L.att, nTok: T, pos0: 0, nHead, nKvHead: nHeadKv, headDim: hd, scale: s.kqScale,
      scratch: M.attScratch, kvType: GGML_F32, window: a.slidingWindow, maxBias: pos.kind === 'alibi' ? pos.maxBias : 0, softcap: s.attnSoftcap });
    lin(a.output, L.att, L.ao);
    const ao = this.branchOut(P, M, l.attnPostNorm, l.attnScale, L.ao, T);
    // the FFN's input
    const parallel = s.residual === 'parallel';
    if (!parallel) P.add({ a: x, b: ao, out: L.x2, n: T * E });
    const fin = this.ffnInput(P, M, T, i);
    if (parallel && next) P.add({ a: x, b: ao, out: L.x2, n: T * E });
    // the FFN: [gate | up] in gu, act(gate)·up in h
    const up = L.gu + T * F * 4;
    if (f.kind === 'plain') lin(f.up, fin, L.gu);
    else if (f.fusedGateUp) {
      lin(f.up, fin, L.fused);
      P.copyRows({ src: L.fused, srcStride: 2 * F, dst: L.gu, dstStride: F, n: F, nRows: T });
      P.copyRows({ src: L.fused + F * 4, srcStride: 2 * F, dst: up, dstStride: F, n: F, nRows: T });
    } else {
      lin(f.gate!, fin, L.gu);
      lin(f.up, fin, up);
    }
    this.ffnAct(P, M, T, i);
    if (!next) {
      // backward needs the down projection's A·h (and, under a post-norm, its output)
      const pair = M.pairs.get(f.down.weight.name), u = L.u.get('ffn_down');
      if (l.ffnPostNorm) lin(f.down, L.h, L.fo);
      else if (pair && u !== undefined) P.matmul({ type: GGML_F32, w: pair.a, act: L.h, y: u, nIn: F, nOut: this.rank, nTok: T });
      return;
    }
    lin(f.down, L.h, L.fo);
    const fo = this.branchOut(P, M, l.ffnPostNorm, l.ffnScale, L.fo, T);
    P.add({ a: L.x2, b: fo, out: i + 1 < s.nLayer ? M.xs[i + 1]! : M.xL, n: T * E });
  }

  /** Layer i's FFN input, normalised into L.xn2 (a parallel block without its own FFN norm: the attention's, L.xn). */
  private ffnInput(P: Plan, M: SeqMem, T: number, i: number): number {
    const l = this.spec.layers[i]!, L = M.acts[i]!;
    if (this.spec.residual !== 'parallel') this.norm(P, l.ffnNorm!, L.x2, L.xn2, T);
    else if (l.ffnNorm) this.norm(P, l.ffnNorm, M.xs[i]!, L.xn2, T);
    else return L.xn;
    return L.xn2;
  }

  /** Layer i's act(gate)·up (plain: act(up)) from L.gu into L.h. */
  private ffnAct(P: Plan, M: SeqMem, T: number, i: number): void {
    const f = this.spec.layers[i]!.ffn!, L = M.acts[i]!, n = T * f.down.weight.ne[0]!;
    if (f.kind === 'plain') P.geluMul({ gate: L.gu, up: 0, out: L.h, n });
    else if (f.act === 'silu') P.siluMul({ gate: L.gu, up: L.gu + n * 4, out: L.h, n });
    else P.geluMul({ gate: L.gu, up: L.gu + n * 4, out: L.h, n });
  }

  /**
   * What a kept layer owns (the rest is the recompute set's): what backward reads and costs a matmul or the
   * attention to redo — q, k, v (and q, k before their norms), the attention's output when attn_output learns
   * (its A's gradient reads it), x + attention in a sequential block, [gate | up], a branch's output under a
   * post-norm. Its norms' outputs and act(gate)·up are redone before its backward (`refresh`).
   */
  private ownedActs(): Set<keyof LayerAct> {
    const s = this.spec, owned = new Set<keyof LayerAct>(['qPre', 'kPre', 'q', 'k', 'v', 'gu']);
    if (this.adapter.targets.includes('attn_output')) owned.add('att');
    if (s.residual !== 'parallel') owned.add('x2');
    if (s.layers.some((l) => l.attnPostNorm)) owned.add('ao');
    if (s.layers.some((l) => l.ffnPostNorm)) owned.add('fo');
    return owned;
  }

  /** A kept layer's activations that are not its own, again before its backward: its norms' outputs, act(gate)·up. */
  private refresh(P: Plan, M: SeqMem, T: number, i: number): void {
    this.norm(P, this.spec.layers[i]!.attnNorm, M.xs[i]!, M.acts[i]!.xn, T);
    this.ffnInput(P, M, T, i);
    this.ffnAct(P, M, T, i);
  }

  private backward(P: Plan, M: SeqMem, T: number): void {
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd } = s;
    const Q = nHead * hd, K = nHeadKv * hd;
    const pos = s.positions;
    const g = M.g;
    const zero = (at: number, floats: number) => this.zero(P, M, at, floats);
    // d(the last layer's output), from the head's dx (the forward plan's)
    zero(g.dres, T * E);
    this.normBack(P, s.outputNorm, M.xL, g.dxfn, g.dres, T);
    const parallel = s.residual === 'parallel';
    for (let i = s.nLayer - 1; i >= 0; i--) {
      // the layer's activations again, from its input (kept: only those it does not own)
      if (M.kept[i]) this.refresh(P, M, T, i);
      else this.layerForward(P, M, T, i, false);
      const l = s.layers[i]!, a = l.attn, f = l.ffn!, L = M.acts[i]!, x = M.xs[i]!;
      // below the first layer nothing needs the gradient (the embeddings are frozen): no dxn there
      const first = i === 0, dxn = first ? undefined : g.dxn;
      const F = f.down.weight.ne[0]!;
      zero(g.dh, T * F);
      zero(g.dxn2, T * E);
      zero(g.dxn, T * E);
      zero(g.datt, T * Q);
      for (const at of g.du.values()) zero(at, T * this.rank);
      const back = (w: Linear, inp: number, dy: number, dx: number | undefined) =>
        this.linearBack(P, M, w, inp, dy, dx, T, L.u.get(targetOf(w)), g.du.get(targetOf(w)));
      // dres: d(the layer's output). Back through a branch's LayerScale and post-norm (pre: the branch's output
      // before them): its gradient in dbr
      const branch = (post: NormSpec | undefined, scale: WeightRef | undefined, pre: number) => {
        if (!post && !scale) return g.dres;
        let dy = g.dres;
        if (scale) {
          dy = post ? M.tmp2 : g.dbr;
          P.mulRow({ x: g.dres, row: this.access.weights.ptr(scale), out: dy, n: E, nTok: T });
        }
        if (post) {
          zero(g.dbr, T * E);
          this.normBack(P, post, pre, dy, g.dbr, T);
        }
        return g.dbr;
      };
      // the FFN, from d(its output) to d(its input): dxn2, or dxn when a parallel block's FFN reads the attention's input
      const dfin = !parallel ? g.dxn2 : first ? undefined : l.ffnNorm ? g.dxn2 : dxn;
      const fin = parallel && !l.ffnNorm ? L.xn : L.xn2;
      back(f.down, L.h, branch(l.ffnPostNorm, l.ffnScale, L.fo), g.dh);
      const dup = g.dgu + T * F * 4;
      if (f.kind === 'plain') {
        P.geluMulBack({ gate: L.gu, up: 0, dh: g.dh, out: g.dgu, n: T * F });
        back(f.up, fin, g.dgu, dfin);
      } else {
        if (f.act === 'silu') P.siluMulBack({ gate: L.gu, up: L.gu + T * F * 4, dh: g.dh, out: g.dgu, n: T * F });
        else P.geluMulBack({ gate: L.gu, up: L.gu + T * F * 4, dh: g.dh, out: g.dgu, n: T * F });
        if (f.fusedGateUp) {
          P.copyRows({ src: g.dgu, srcStride: F, dst: g.dfused, dstStride: 2 * F, n: F, nRows: T });
          P.copyRows({ src: dup, srcStride: F, dst: g.dfused + F * 4, dstStride: 2 * F, n: F, nRows: T });
          back(f.up, fin, g.dfused, dfin);
        } else {
          back(f.gate!, fin, g.dgu, dfin);
          back(f.up, fin, dup, dfin);
        }
      }
      // sequential: d x2 = dres + norm'(x2)ᵀ·dxn2, the attention's output gradient; parallel: dres is
      if (!parallel) this.normBack(P, l.ffnNorm!, L.x2, g.dxn2, g.dres, T);
      // attention (a parallel block's FFN norm adds to dres only once the attention's output gradient is read)
      back(a.output, L.att, branch(l.attnPostNorm, l.attnScale, L.ao), g.datt);
      if (parallel && l.ffnNorm && !first) this.normBack(P, l.ffnNorm, x, g.dxn2, g.dres, T);
      P.attentionBack({ q: L.q, k: L.k, v: L.v, dout: g.datt, out: g.dqkv, nTok: T, nHead, nKvHead: nHeadKv, headDim: hd,
        scale: s.kqScale, scratch: M.attScratch, softcap: s.attnSoftcap, maxBias: pos.kind === 'alibi' ? pos.maxBias : 0,
        window: a.slidingWindow });
      let dq = g.dqkv, dk = dq + T * Q * 4;
      const dv = dk + T * K * 4;
      this.rope(P, a, dq, T, nHead, -1);
      this.rope(P, a, dk, T, nHeadKv, -1);
      if (a.qNorm) {
        zero(g.dqPre, T * Q);
        this.normBack(P, a.qNorm, L.qPre, dq, g.dqPre, T * nHead);
        dq = g.dqPre;
      }
      if (a.kNorm) {
        zero(g.dkPre, T * K);
        this.normBack(P, a.kNorm, L.kPre, dk, g.dkPre, T * nHeadKv);
        dk = g.dkPre;
      }
      if (a.qkv) {
        const w = Q + 2 * K;
        P.copyRows({ src: dq, srcStride: Q, dst: g.dqkvF, dstStride: w, n: Q, nRows: T });
        P.copyRows({ src: dk, srcStride: K, dst: g.dqkvF + Q * 4, dstStride: w, n: K, nRows: T });
        P.copyRows({ src: dv, srcStride: K, dst: g.dqkvF + (Q + K) * 4, dstStride: w, n: K, nRows: T });
        back(a.qkv, L.xn, g.dqkvF, dxn);
      } else {
        back(a.q!, L.xn, dq, dxn);
        back(a.k!, L.xn, dk, dxn);
        back(a.v!, L.xn, dv, dxn);
      }
      if (!first) this.normBack(P, l.attnNorm, x, g.dxn, g.dres, T);
    }
  }
}
