/**
 * Shards: a model too large for one wasm memory (4 GiB in wasm32; or for `maxShardBytes`) is split by layers
 * over several kernel instances, each over its own memory. A shard is what the unsharded engine is, for its
 * part of the layers: the weights it uses (the token embeddings in the first, the output norm and head in the
 * last), its layers' KV caches, the batch buffers, its plan, and its thread pool (its workers instantiate the
 * kernels over its memory). A forward pass runs the shards' plans in turn; between them the residual stream
 * (buf.x: n_embd floats per token) is copied from one memory to the next (engine.ts, Engine.pass).
 *
 * Planning is done in numbers before any memory exists (Layout): `planShard` lays out one part, `splitLayers`
 * picks the parts: the fewest shards within the limit, then the smallest limit that still gives that many,
 * so that the layers are spread evenly (every shard keeps room to grow: sessions' caches, adapters).
 */
import { WasmlmError } from '../errors.js';
import type { GGUFTensorInfo } from '../formats/gguf.js';
import type { ModelSpec } from '../models/spec.js';
import { CTL_BYTES, OP_WORDS, SYNC_BYTES } from '../abi.js';
import type { Model } from './forward.js';
import { createMemory, Layout, Views } from './memory.js';
import type { KvType } from './options.js';
import { planCapacity } from './options.js';
import { Plan } from './plan.js';
import type { ThreadPool } from './pool.js';
import { placeState, type LayerPart, type RunState } from './state.js';
import { instantiateKernels, RESERVED_BYTES, type KernelExports } from './wasm.js';
import { Weights, type AdapterWeights } from './weights.js';

/** What every shard of a model is laid out for. */
export interface ShardSizing {
  spec: ModelSpec;
  tensors: Map<string, GGUFTensorInfo>;
  /** the kernels' size functions (sizingKernels) */
  kernels: Pick<KernelExports, 'act_bytes' | 'moe_scratch_bytes'>;
  batchSize: number;
  contextLength: number;
  logitRows: number;
  threads: number;
  kvType: KvType;
}

/** One shard's memory, planned: weights, run state, then the plan (and for threads the control block and sync lines). */
export interface ShardPlan {
  part: LayerPart;
  layout: Layout;
  weights: Weights;
  state: RunState;
  ctl: number;
  planPtr: number;
  planOps: number;
  sync: number;
}

export function planShard(z: ShardSizing, part: LayerPart): ShardPlan {
  const layout = new Layout(RESERVED_BYTES);
  const weights = Weights.forSpec(z.spec, z.tensors, layout, part);
  const state = placeState(z.spec, weights, z.kernels, layout, z.batchSize, z.contextLength, z.logitRows, z.threads, z.kvType, part);
  const ctl = z.threads > 1 ? layout.alloc(CTL_BYTES, 64) : 0;
  const planOps = planCapacity(z.spec.nLayer, 0);
  const planPtr = layout.alloc(planOps * OP_WORDS * 4);
  const sync = z.threads > 1 ? layout.alloc(planOps * SYNC_BYTES, 64) : 0;
  return { part, layout, weights, state, ctl, planPtr, planOps, sync };
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/**
 * The parts of the layers, in order, each of whose memory (planShard) is at most `limit` bytes: the whole
 * model when it fits; else the fewest parts, balanced. TOO_LARGE when a layer alone (with a shard's
 * buffers), the embeddings or the head does not fit in `limit`.
 */
export function splitLayers(z: ShardSizing, limit: number): LayerPart[] {
  const L = z.spec.nLayer;
  const size = (from: number, to: number, embed: boolean, head: boolean) => planShard(z, { from, to, embed, head }).layout.size;
  if (size(0, L, true, true) <= limit) return [{ from: 0, to: L, embed: true, head: true }];
  const greedy = (cap: number, explain: boolean): LayerPart[] | undefined => {
    const parts: LayerPart[] = [];
    let from = 0;
    for (;;) {
      const embed = parts.length === 0;
      let to = from;
      while (to < L && size(from, to + 1, embed, false) <= cap) to++;
      if (to === L && size(from, L, embed, true) <= cap) {
        parts.push({ from, to, embed, head: true });
        return parts;
      }
      if (to > from) {
        parts.push({ from, to, embed, head: false });
        from = to;
        continue;
      }
      // not even one more layer fits in a new shard
      if (from === L) {
        if (size(L, L, embed, true) <= cap) return [...parts, { from: L, to: L, embed, head: true }];
        if (!explain) return undefined;
        throw new WasmlmError('TOO_LARGE', `the output norm and head alone need ${MiB(size(L, L, false, true))} of wasm memory ` +
          `with a shard's buffers, more than maxShardBytes (${MiB(limit)})`);
      }
      if (embed && size(from, from + 1, false, false) <= cap && size(0, 0, true, false) <= cap) {
        parts.push({ from: 0, to: 0, embed: true, head: false }); // the embeddings alone, then the layers
        continue;
      }
      if (!explain) return undefined;
      const layer = size(from, from + 1, false, false);
      if (layer > cap) {
        throw new WasmlmError('TOO_LARGE', `layer ${from} alone needs ${MiB(layer)} of wasm memory (its weights, its KV cache ` +
          `of ${z.contextLength} tokens and a shard's buffers), more than maxShardBytes (${MiB(limit)}): ` +
          `a shorter contextLength or a smaller kvType may fit`);
      }
      throw new WasmlmError('TOO_LARGE', `the token embeddings alone need ${MiB(size(0, 0, true, false))} of wasm memory ` +
        `with a shard's buffers, more than maxShardBytes (${MiB(limit)})`);
    }
  };
  const parts = greedy(limit, true)!;
  // the smallest limit that gives as few shards: layers spread evenly
  let lo = 1, hi = limit;
  while (hi - lo > 2 ** 16) {
    const mid = Math.floor((lo + hi) / 2);
    const p = greedy(mid, false);
    if (p && p.length <= parts.length) hi = mid;
    else lo = mid;
  }
  return greedy(hi, false) ?? parts;
}

/** One shard: its memory, the kernels over it, its plan, its pool, what the forward pass reads in it. */
export class Shard {
  readonly views: Views;
  kernels!: KernelExports;
  plan!: Plan;
  pool: ThreadPool | undefined;
  readonly model: Model;
  readonly adapters: AdapterWeights[] = [];

  private constructor(readonly p: ShardPlan, spec: ModelSpec, contextLength: number, what: string, shared: boolean) {
    this.views = new Views(createMemory(p.layout.size, what, shared));
    this.model = { spec, weights: p.weights, state: p.state, adapters: this.adapters, contextLength, part: p.part };
  }

  static async create(p: ShardPlan, spec: ModelSpec, contextLength: number, what: string, shared: boolean,
    module: WebAssembly.Module): Promise<Shard> {
    const s = new Shard(p, spec, contextLength, what, shared);
    s.kernels = await instantiateKernels(module, s.views.memory);
    s.plan = new Plan(s.views, p.planPtr, p.planOps, s.kernels);
    return s;
  }

  get part(): LayerPart {
    return this.p.part;
  }
  get layout(): Layout {
    return this.p.layout;
  }
  get state(): RunState {
    return this.p.state;
  }
  get weights(): Weights {
    return this.p.weights;
  }

  /** Whether layer `i` is in this shard. */
  hasLayer(i: number): boolean {
    return i >= this.p.part.from && i < this.p.part.to;
  }
}
