/**
 * Training plans for the llama family: the forward pass of one sequence (positions 0..T−1, causal) that keeps
 * the activations backward needs, the cross-entropy of the learned rows, and the backward pass to the LoRA
 * A/B gradients — ops in wasm (the inference ops forward; assembly/ops/backward.ts backward), run by the
 * kernels like the inference plans. Base weights stay frozen and in their type (dx = Wᵀ·dy dequantizes
 * their rows, OP_MATMUL_T); the adapter's A/B and their gradients live in wasm memory as f32.
 *
 * Memory: the engine's one training workspace (grown for the longest sequence seen, shared by every trainer
 * and step): each layer's input (the residual stream), one layer's activations (checkpointing: backward
 * recomputes a layer's forward from its input), one set of gradient buffers, the plan, and per thread the
 * scratch of the ops that need one. Plans run on the engine's threads (each op split as in inference).
 */
import { GGML_F32, OP_WORDS, ROPE_NORMAL, SYNC_BYTES } from '../abi.js';
import { Plan } from '../engine/plan.js';
import type { JobLayout } from '../engine/pool.js';
import type { Linear, ModelSpec, RopeSpec } from '../models/spec.js';
import type { TrainingAccess } from './access.js';
import type { TrainableAdapter } from './adapter.js';
import { WasmlmError } from '../errors.js';

/** Throws UNSUPPORTED_TYPE naming what training does not support yet (llama-family blocks only). */
export function checkTrainable(spec: ModelSpec): void {
  const no = (what: string) => {
    throw new WasmlmError('UNSUPPORTED_TYPE', `training supports the llama family (RMSNorm, RoPE, GQA attention, SwiGLU) only; model '${spec.name ?? spec.arch}' (${spec.family}) has ${what}`);
  };
  if (spec.family !== 'llama') no(`family '${spec.family}'`);
  if (spec.residual !== 'sequential') no(`${spec.residual} residual blocks`);
  if (spec.positions.kind !== 'rope' || spec.positions.mode !== 'normal') no('positions other than normal RoPE');
  const pos = spec.positions as RopeSpec;
  if (pos.freqFactors || pos.longrope || pos.yarn) no('RoPE scaling');
  if (spec.embdScale !== 1 || spec.embdNorm) no('a scaled or normalised embedding');
  if (spec.attnSoftcap || spec.finalSoftcap) no('soft-capping');
  if (spec.outputNorm.kind !== 'rms') no('a LayerNorm output norm');
  for (const l of spec.layers) {
    if (!l.ffn || l.moe || l.ffn.kind !== 'glu' || l.ffn.act !== 'silu' || l.ffn.fusedGateUp || !l.ffn.gate) no('a feed-forward other than SwiGLU');
    if (!l.attn.q || l.attn.qkv || l.attn.qNorm || l.attn.kNorm || l.attn.slidingWindow) no('an attention variant (fused qkv, q/k norms or a sliding window)');
    if (l.attnPostNorm || l.ffnPostNorm || l.attnScale || l.ffnScale || !l.ffnNorm) no('sandwich norms or LayerScale');
    if (l.attnNorm.kind !== 'rms' || l.ffnNorm?.kind !== 'rms') no('LayerNorm blocks');
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

/** One layer's activations (recomputed from the layer's input for its backward: checkpointing). */
interface LayerAct {
  xn: number; q: number; k: number; v: number; att: number; x2: number; xn2: number; gu: number; h: number;
  /** A·x per target */
  u: Map<string, number>;
}

/** The backward pass's buffers, shared by the layers (accumulators zeroed by copying `zeros` over them). */
interface GradMem {
  dh: number; dgu: number; dxn2: number; datt: number; dqkv: number; dxn: number; dxfn: number; dres: number;
  /** d(A·x) per adapted weight name of a layer (blk.N. dropped) */
  du: Map<string, number>;
  zeros: number;
}

/** The memory of sequences of up to T tokens, in the engine's training workspace. */
interface SeqMem {
  T: number;
  /** A, B, dA, dB per adapted weight */
  pairs: Map<string, PairMem>;
  /** each layer's input (the residual stream), kept from the forward pass */
  xs: number[];
  /** each layer's activations: its own when kept from the forward pass, else one shared set recomputed */
  acts: LayerAct[];
  /** whether layer i's activations are kept (not recomputed before its backward) */
  kept: boolean[];
  g: GradMem;
  /** x after the last layer, normalised, logits, targets (i32), row losses */
  xL: number; xfn: number; logits: number; targets: number; loss: number;
  tmp: number; tmpLora: number;
  /** thread 0's scratch of OP_ATTENTION(_BACK) and OP_MATMUL_T / OP_MATMUL_DQ; thread t's is `job.scratchStride`·t bytes on */
  attScratch: number; mtScratch: number;
  plan: Plan;
  /** the plans' per-thread scratch stride and sync area (threads > 1) */
  job: JobLayout | undefined;
}

const al64 = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Activations kept from the forward pass, at most (bytes): the last layers whose activations fit are not
 * recomputed before their backward (about a quarter of a step's work each); the others are (checkpointing).
 * A setting for tests and benches; gradients are the same bits either way.
 */
export const trainMemory = { keepActivationBytes: 192 * 2 ** 20 };

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
   * layer's input, one layer's activations (checkpointing) and those of the last layers that fit
   * trainMemory.keepActivationBytes, one set of gradient buffers, the logits.
   */
  private layoutFor(T: number): SeqMem {
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd, nVocab: V } = s;
    const Q = nHead * hd, K = nHeadKv * hd, F = s.nFf, R = this.rank;
    const maxIn = Math.max(E, Q, F);
    const planOps = 64 + s.nLayer * 160;
    const threads = this.access.threads;
    // per thread: OP_MATMUL_T / OP_MATMUL_DQ's dequantized rows, then the attention scores (forward: T floats;
    // backward: 2·T)
    const mtBytes = al64(this.access.kernels.matmul_t_scratch_bytes(maxIn));
    const stride = mtBytes + al64((2 * T + 16) * 4);
    const layout = (m: Bump) => {
      const pairs = new Map<string, PairMem>();
      for (const [name, p] of this.adapter.pairs) {
        pairs.set(name, { a: m.f32(p.a.length), b: m.f32(p.b.length), da: m.f32(p.a.length), db: m.f32(p.b.length), nIn: p.nIn, nOut: p.nOut });
      }
      const xs = s.layers.map(() => m.f32(T * E));
      const layerAct = (): LayerAct => {
        const u = new Map<string, number>();
        for (const t of this.adapter.targets) u.set(t, m.f32(T * R));
        return { xn: m.f32(T * E), q: m.f32(T * Q), k: m.f32(T * K), v: m.f32(T * K), att: m.f32(T * Q),
          x2: m.f32(T * E), xn2: m.f32(T * E), gu: m.f32(2 * T * F), h: m.f32(T * F), u };
      };
      const shared = kept.every((k) => k) ? undefined : layerAct();
      const acts = kept.map((k) => (k ? layerAct() : shared!));
      const scratch = m.f32(threads * stride / 4);
      const rest = {
        xL: m.f32(T * E), xfn: m.f32(T * E), logits: m.f32(T * V), targets: m.f32(T), loss: m.f32(T),
        tmp: m.f32(T * maxIn), tmpLora: m.f32(T * Math.max(E, Q, K, F)),
        mtScratch: scratch, attScratch: scratch + mtBytes, planAt: m.f32(planOps * OP_WORDS),
        sync: threads > 1 ? m.f32(planOps * SYNC_BYTES / 4) : 0,
      };
      const du = new Map<string, number>();
      for (const t of this.adapter.targets) du.set(t, m.f32(T * R));
      const g: GradMem = {
        dh: m.f32(T * F), dgu: m.f32(2 * T * F), dxn2: m.f32(T * E), datt: m.f32(T * Q), dqkv: m.f32(T * (Q + 2 * K)),
        dxn: m.f32(T * E), dxfn: m.f32(T * E), dres: m.f32(T * E), du, zeros: m.f32(T * maxIn),
      };
      return { pairs, xs, acts, rest, g };
    };
    const actBytes = 4 * (T * (3 * E + 2 * Q + 2 * K + 3 * F + this.adapter.targets.length * R)) + 64 * (10 + this.adapter.targets.length);
    const keep = Math.min(s.nLayer, Math.floor(trainMemory.keepActivationBytes / actBytes));
    const kept = s.layers.map((_, i) => i >= s.nLayer - keep);
    const size = new Bump(0);
    layout(size);
    const { pairs, xs, acts, rest, g } = layout(new Bump(this.access.workspace(size.end + 64)));
    const plan = new Plan(this.access.views, rest.planAt, planOps, this.access.kernels);
    const job = threads > 1 ? { scratchStride: stride, sync: rest.sync, syncOps: planOps } : undefined;
    // no op writes `zeros` (the accumulators are zeroed by copying it)
    this.access.views.f32.fill(0, g.zeros >>> 2, (g.zeros >>> 2) + T * maxIn);
    return { T, pairs, xs, acts, kept, g, ...rest, plan, job };
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
    P.getRows({ type: embd.type, table: embd.ptr, rowLen: E, ids: M.targets, nTok: T, out: M.xs[0]! });
    this.run1(M);
    for (let p = 0; p < T; p++) i32[(M.targets >>> 2) + p] = mask[p] ? tokens[p + 1]! : -1;
    this.forward(P.reset(), M, T, N);
    this.run1(M);
    const f32 = views.f32;
    let loss = 0;
    for (let p = 0; p < T; p++) loss += f32[(M.loss >>> 2) + p]!;
    this.backward(P.reset(), M, T);
    this.run1(M);
    return loss;
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

  private forward(P: Plan, M: SeqMem, T: number, N: number): void {
    const s = this.spec;
    const { nEmbd: E, normEps: eps, nVocab: V } = s;
    for (let i = 0; i < s.nLayer; i++) this.layerForward(P, M, T, i, true);
    P.rmsnorm({ x: M.xL, w: this.access.weights.ptr(s.outputNorm.weight), out: M.xfn, n: E, nTok: T, eps });
    this.linear(P, M, s.output, M.xfn, M.logits, T, undefined);
    P.crossEntropy({ logits: M.logits, targets: M.targets, loss: M.loss, n: V, nRows: T, scale: 1 / N });
  }

  /** Layer i from its input M.xs[i] into M.acts[i] (and, with `next`, its output into the next layer's input). */
  private layerForward(P: Plan, M: SeqMem, T: number, i: number, next: boolean): void {
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd, normEps: eps } = s;
    const F = s.nFf;
    const pos = s.positions as RopeSpec;
    const W = this.access.weights;
    const l = s.layers[i]!, L = M.acts[i]!, x = M.xs[i]!;
    const rope = (at: number, heads: number) => P.rope({
      x: at, nTok: T, nHead: heads, headDim: hd, nRot: pos.nRot, pos0: 0, base: pos.base, freqScale: pos.freqScale, mode: ROPE_NORMAL,
    });
    const lin = (w: Linear, inp: number, out: number) => this.linear(P, M, w, inp, out, T, L.u.get(targetOf(w)));
    P.rmsnorm({ x, w: W.ptr(l.attnNorm.weight), out: L.xn, n: E, nTok: T, eps });
    lin(l.attn.q!, L.xn, L.q);
    lin(l.attn.k!, L.xn, L.k);
    lin(l.attn.v!, L.xn, L.v);
    rope(L.q, nHead);
    rope(L.k, nHeadKv);
    P.attention({ q: L.q, kc: L.k, vc: L.v, out: L.att, nTok: T, pos0: 0, nHead, nKvHead: nHeadKv, headDim: hd, scale: s.kqScale,
      scratch: M.attScratch, kvType: GGML_F32 });
    lin(l.attn.output, L.att, M.tmp);
    P.add({ a: x, b: M.tmp, out: L.x2, n: T * E });
    P.rmsnorm({ x: L.x2, w: W.ptr(l.ffnNorm!.weight), out: L.xn2, n: E, nTok: T, eps });
    lin(l.ffn!.gate!, L.xn2, L.gu);
    lin(l.ffn!.up, L.xn2, L.gu + T * F * 4);
    P.siluMul({ gate: L.gu, up: L.gu + T * F * 4, out: L.h, n: T * F });
    if (!next) {
      // backward needs only the down projection's A·h
      const pair = M.pairs.get(l.ffn!.down.weight.name), u = L.u.get('ffn_down');
      if (pair && u !== undefined) P.matmul({ type: GGML_F32, w: pair.a, act: L.h, y: u, nIn: F, nOut: this.rank, nTok: T });
      return;
    }
    lin(l.ffn!.down, L.h, M.tmp);
    P.add({ a: L.x2, b: M.tmp, out: i + 1 < s.nLayer ? M.xs[i + 1]! : M.xL, n: T * E });
  }

  private backward(P: Plan, M: SeqMem, T: number): void {
    const s = this.spec;
    const { nEmbd: E, nHead, nHeadKv, headDim: hd, normEps: eps } = s;
    const F = s.nFf, Q = nHead * hd, K = nHeadKv * hd;
    const pos = s.positions as RopeSpec;
    const W = this.access.weights;
    const g = M.g;
    const zero = (at: number, floats: number) => P.copy({ src: g.zeros, dst: at, nBytes: floats * 4 });
    const rope = (x: number, heads: number) => P.rope({
      x, nTok: T, nHead: heads, headDim: hd, nRot: pos.nRot, pos0: 0, base: pos.base, freqScale: -pos.freqScale, mode: ROPE_NORMAL,
    });
    zero(g.dxfn, T * E);
    zero(g.dres, T * E);
    this.linearBack(P, M, s.output, M.xfn, M.logits, g.dxfn, T);
    P.rmsnormBack({ x: M.xL, w: W.ptr(s.outputNorm.weight), dy: g.dxfn, dx: g.dres, n: E, nTok: T, eps });
    for (let i = s.nLayer - 1; i >= 0; i--) {
      // the layer's activations again, from its input (unless kept)
      if (!M.kept[i]) this.layerForward(P, M, T, i, false);
      const l = s.layers[i]!, L = M.acts[i]!;
      zero(g.dh, T * F);
      zero(g.dxn2, T * E);
      zero(g.dxn, T * E);
      zero(g.datt, T * Q);
      for (const at of g.du.values()) zero(at, T * this.rank);
      const back = (x: Linear, inp: number, dy: number, dx: number | undefined) =>
        this.linearBack(P, M, x, inp, dy, dx, T, L.u.get(targetOf(x)), g.du.get(targetOf(x)));
      back(l.ffn!.down, L.h, g.dres, g.dh);
      P.siluMulBack({ gate: L.gu, up: L.gu + T * F * 4, dh: g.dh, out: g.dgu, n: T * F });
      back(l.ffn!.gate!, L.xn2, g.dgu, g.dxn2);
      back(l.ffn!.up, L.xn2, g.dgu + T * F * 4, g.dxn2);
      P.rmsnormBack({ x: L.x2, w: W.ptr(l.ffnNorm!.weight), dy: g.dxn2, dx: g.dres, n: E, nTok: T, eps });
      back(l.attn.output, L.att, g.dres, g.datt);
      P.attentionBack({ q: L.q, k: L.k, v: L.v, dout: g.datt, out: g.dqkv, nTok: T, nHead, nKvHead: nHeadKv, headDim: hd,
        scale: s.kqScale, scratch: M.attScratch });
      const dq = g.dqkv, dk = dq + T * Q * 4, dv = dk + T * K * 4;
      rope(dq, nHead);
      rope(dk, nHeadKv);
      // below the first layer nothing needs the gradient (the embeddings are frozen)
      const dxn = i > 0 ? g.dxn : undefined;
      back(l.attn.q!, L.xn, dq, dxn);
      back(l.attn.k!, L.xn, dk, dxn);
      back(l.attn.v!, L.xn, dv, dxn);
      if (i > 0) P.rmsnormBack({ x: M.xs[i]!, w: W.ptr(l.attnNorm.weight), dy: g.dxn, dx: g.dres, n: E, nTok: T, eps });
    }
  }
}
