/**
 * The weights in wasm memory: where each tensor of the ModelSpec goes (planned before the memory exists),
 * streaming them from the file into place, repacking the layouts the kernels want, and LoRA adapters.
 */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader, GGUFTensorInfo } from '../formats/gguf.js';
import type { ByteStream } from '../formats/source.js';
import { specWeights, type ModelSpec, type WeightRef } from '../models/spec.js';
import { GGML_Q4_0, GGML_Q8_0, REPACKED } from '../abi.js';
import type { Layout } from './memory.js';
import { wholeModel, type LayerPart } from './state.js';
import type { KernelExports } from './wasm.js';

/** A tensor in memory: byte offset and layout code (the GGUF type, or type | REPACKED). */
export interface Weight {
  ptr: number;
  type: number;
}

/**
 * The layout code of a tensor in memory: Q8_0 and Q4_0 are repacked at load (assembly/weights/q8_0_q4_0.ts)
 * into a quant plane and a scale plane per row, and the kernels take them as type | REPACKED.
 */
export function memoryType(t: GGUFTensorInfo): number {
  return (t.type === GGML_Q8_0 || t.type === GGML_Q4_0) && t.ne[0]! % 32 === 0 ? t.type | REPACKED : t.type;
}

/** Bytes of a row of `t` that `repack` copies aside (0: not repacked). */
function repackRowBytes(t: GGUFTensorInfo): number {
  return memoryType(t) === t.type ? 0 : t.nBytes / (t.nElements / t.ne[0]!);
}

/** Tensors placed in memory: looked up by the spec's WeightRef (or the file's name). */
export class Weights {
  private readonly placed = new Map<string, Weight>();
  private constructor(
    private readonly tensors: Map<string, GGUFTensorInfo>,
    private readonly ptrs: Map<string, number>,
    /** scratch for `repack`: a row of the largest repacked tensor (0: none) */
    private readonly repackScratch: number,
  ) {
    for (const [name, ptr] of ptrs) this.placed.set(name, { ptr, type: memoryType(tensors.get(name)!) });
  }

  /** Place `list` (or every weight of `spec`) in `layout`, plus the repack scratch they need. */
  static place(tensors: Map<string, GGUFTensorInfo>, list: GGUFTensorInfo[], layout: Layout): Weights {
    const ptrs = new Map<string, number>();
    for (const t of list) ptrs.set(t.name, layout.alloc(t.nBytes));
    const repackBytes = Math.max(0, ...list.map(repackRowBytes));
    return new Weights(tensors, ptrs, repackBytes > 0 ? layout.alloc(repackBytes) : 0);
  }

  /** Every tensor `part` of `spec` uses (partWeights), in `layout`. */
  static forSpec(spec: ModelSpec, tensors: Map<string, GGUFTensorInfo>, layout: Layout, part: LayerPart = wholeModel(spec)): Weights {
    return Weights.place(tensors, partWeights(spec, part).map((ref) => tensors.get(ref.name)!), layout);
  }

  /** Whether the tensor `name` is placed here. */
  has(name: string): boolean {
    return this.placed.has(name);
  }

  get(ref: WeightRef): Weight {
    return this.placed.get(ref.name)!;
  }

  /** Byte offset of `ref`; 0 when absent (an optional bias, gain, …). */
  ptr(ref: WeightRef | undefined): number {
    return ref ? this.placed.get(ref.name)!.ptr : 0;
  }

  /** The file's type of `ref` (before repacking). */
  fileType(ref: WeightRef): number {
    return this.tensors.get(ref.name)!.type;
  }

  /**
   * Copy the tensors from the stream (in file order) to their places in `u8`, and repack those that
   * change layout (memoryType).
   */
  read(header: GGUFHeader, stream: ByteStream, u8: () => Uint8Array, kernels: KernelExports): Promise<void> {
    return readWeights(header, stream, [{ weights: this, u8, kernels }]);
  }

  /** Where each tensor placed here goes (name → byte offset), and the repack scratch. */
  placements(): { tensors: Map<string, GGUFTensorInfo>; ptrs: ReadonlyMap<string, number>; repackScratch: number } {
    return { tensors: this.tensors, ptrs: this.ptrs, repackScratch: this.repackScratch };
  }
}

/** Weights placed in one memory (a shard's), with the kernels over that memory (for repacking). */
export interface WeightsTarget {
  weights: Weights;
  u8: () => Uint8Array;
  kernels: KernelExports;
}

/**
 * Stream the tensors of every target from `stream` (positioned before the data section; read in file order,
 * once): each straight into its place in its target's memory (a tensor two shards use, e.g. tied embeddings
 * and head, is read into the first and copied to the other), then repacked there where its layout changes.
 */
export async function readWeights(header: Pick<GGUFHeader, 'dataOffset'>, stream: ByteStream, targets: WeightsTarget[]): Promise<void> {
  const dests = new Map<string, { t: GGUFTensorInfo; at: { target: WeightsTarget; ptr: number; scratch: number }[] }>();
  for (const target of targets) {
    const { tensors, ptrs, repackScratch } = target.weights.placements();
    for (const [name, ptr] of ptrs) {
      const d = dests.get(name) ?? { t: tensors.get(name)!, at: [] };
      d.at.push({ target, ptr, scratch: repackScratch });
      dests.set(name, d);
    }
  }
  const order = [...dests.values()].sort((a, b) => a.t.offset - b.t.offset);
  for (const { t, at: places } of order) {
    const at = header.dataOffset + t.offset;
    if (at < stream.position) throw new WasmlmError('BAD_FORMAT', `tensor '${t.name}' overlaps the tensor before it`);
    await stream.skip(at - stream.position);
    const first = places[0]!;
    await stream.readInto(first.target.u8().subarray(first.ptr, first.ptr + t.nBytes));
    for (const p of places.slice(1)) p.target.u8().set(first.target.u8().subarray(first.ptr, first.ptr + t.nBytes), p.ptr);
    const type = memoryType(t);
    if (type === t.type) continue;
    for (const p of places) {
      const got = p.target.kernels.repack(t.type, p.ptr, t.nElements / t.ne[0]!, t.ne[0]!, p.scratch);
      if (got !== type) throw new Error(`internal: repack of ${t.name} gave layout ${got}, expected ${type}`);
    }
  }
}

/**
 * The tensors `part` of `spec` uses, in specWeights's order: its layers' (and the RoPE factors every layer
 * reads), the embeddings (token, learned positions, embedding norm) with `embed`, the output norm and head
 * with `head`. The whole model's are specWeights(spec).
 */
export function partWeights(spec: ModelSpec, part: LayerPart): WeightRef[] {
  const all = specWeights(spec);
  if (part.from === 0 && part.to === spec.nLayer && part.embed && part.head) return all;
  const names = new Set<string>();
  const add = (refs: (WeightRef | undefined)[]) => { for (const r of refs) if (r) names.add(r.name); };
  const pos = spec.positions;
  const global = specWeights({ ...spec, layers: [] });
  const layers = specWeights({ ...spec, layers: spec.layers.slice(part.from, part.to) });
  add(layers.filter((r) => !global.some((g) => g.name === r.name)));
  if (part.to > part.from && pos.kind === 'rope') add([pos.freqFactors, pos.longrope?.long, pos.longrope?.short]);
  if (part.embed) add([spec.tokenEmbd, pos.kind === 'learned' ? pos.weight : undefined, spec.embdNorm?.weight, spec.embdNorm?.bias]);
  if (part.head) add([spec.outputNorm.weight, spec.outputNorm.bias, spec.output.weight, spec.output.bias]);
  return all.filter((r) => names.has(r.name));
}

/**
 * A LoRA adapter as the forward pass applies it: y += s · B·(A·x) for each paired base weight, with
 * s = userScale · alpha / rank (alpha 0: s = userScale).
 */
export interface AdapterWeights {
  userScale: number;
  alpha: number;
  /** by base weight name */
  pairs: Map<string, { a: Weight; b: Weight; rank: number }>;
  /** scratch: A·x [batch][rank] and B·(A·x) [batch][nOut] */
  tmpA: number;
  tmpB: number;
  /** activation buffer for the adapter's matmuls (their inputs differ from the base weight's) */
  act: number;
}

/**
 * Place a LoRA adapter's A [nIn, r] / B [r, nOut] pairs (by base weight name) and its scratch for batches
 * of `batch` tokens in `layout`; `read` then streams them in.
 */
export function placeAdapter(pairs: Map<string, { a: GGUFTensorInfo; b: GGUFTensorInfo }>, alpha: number, userScale: number,
  batch: number, layout: Layout, kernels: Pick<KernelExports, 'act_bytes'>): { adapter: AdapterWeights; weights: Weights } {
  const tensors = new Map<string, GGUFTensorInfo>();
  let maxRank = 1;
  let maxOut = 1;
  let maxAct = 0;
  for (const { a, b } of pairs.values()) {
    tensors.set(a.name, a);
    tensors.set(b.name, b);
    maxRank = Math.max(maxRank, a.ne[1]!);
    maxOut = Math.max(maxOut, b.ne[1]!);
    for (const t of [a, b]) maxAct = Math.max(maxAct, kernels.act_bytes(t.type, t.ne[0]!, batch));
  }
  const weights = Weights.place(tensors, [...tensors.values()], layout);
  const adapter: AdapterWeights = {
    userScale, alpha, pairs: new Map(),
    tmpA: layout.alloc(batch * maxRank * 4),
    tmpB: layout.alloc(batch * maxOut * 4),
    act: maxAct > 0 ? layout.alloc(maxAct) : 0,
  };
  for (const [name, { a, b }] of pairs) {
    adapter.pairs.set(name, { a: weights.get(a), b: weights.get(b), rank: a.ne[1]! });
  }
  return { adapter, weights };
}
