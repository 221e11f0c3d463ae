/**
 * Plans: lists of ops (src/abi.ts) laid out in wasm memory for the kernels' `run`.
 *
 * `Plan` writes them: one method per op, taking the op's arguments by their slot names in abi.ts
 * (`MATMUL_N_IN` is the argument `nIn` of `matmul`), never by position. It knows what each op writes
 * (byte ranges), and keeps the activation cache on that: a matmul input converted to the activation
 * format of its weights (`activations`) is reused until an op writes over the input or the converted copy.
 * `readPlan` decodes a plan in memory back into named ops (tests, the CLI's profiler).
 *
 * The op table (`OPS`) is derived from abi.ts's names: for OP_<NAME>, every `<NAME>_<ARG>` constant is the
 * word of argument `<arg>` (camelCase), except those of a longer op name (ADD_ROW_X is ADD_ROW's, not
 * ADD's) and the argument values listed in ARG_VALUES. Adding an op: its code and slots in abi.ts, a method
 * here (its outputs; f32 slots in F32_SLOTS).
 */
import * as abi from '../abi.js';
import type { Views } from './memory.js';

/** Constants of abi.ts named like a slot (<NAME>_<X>) that are argument values, not argument words. */
const ARG_VALUES = new Set(['GLU_SILU', 'GLU_GELU', 'ROPE_NORMAL', 'ROPE_NEOX', 'MOE_NORMALIZE']);

/** Slots that hold an f32 (stored as its bit pattern); every other slot is an i32 (pointers: byte offsets). */
const F32_SLOTS = new Set([
  'RMSNORM_EPS', 'LAYERNORM_EPS', 'ROPE_BASE', 'ROPE_FREQ_SCALE', 'ROPE_EXT_FACTOR', 'ROPE_ATTN_FACTOR',
  'ROPE_CORR_LOW', 'ROPE_CORR_HIGH', 'ATTENTION_SCALE', 'ATTENTION_MAX_BIAS', 'AXPBY_ALPHA', 'AXPBY_BETA',
]);

export interface OpSlot {
  /** the argument's name: `<ARG>` in camelCase (MATMUL_N_IN → nIn) */
  name: string;
  /** its word in the op (1..OP_WORDS − 1) */
  word: number;
  f32: boolean;
}
export interface OpInfo {
  code: number;
  /** `<NAME>` in lower case, e.g. 'matmul', 'add_row' */
  name: string;
  /** by word */
  slots: OpSlot[];
}

const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Every op of abi.ts by code, with its argument slots. */
export const OPS: ReadonlyMap<number, OpInfo> = (() => {
  const consts = Object.entries(abi) as [string, number][];
  const ops = consts.filter(([k]) => k.startsWith('OP_') && k !== 'OP_WORDS').map(([k, code]) => ({ code, op: k.slice(3) }));
  const table = new Map<number, OpInfo>();
  const f32Seen = new Set<string>();
  for (const { code, op } of ops) {
    const longer = ops.filter((o) => o.op.startsWith(op + '_')).map((o) => o.op + '_');
    const slots = consts
      .filter(([k]) => k.startsWith(op + '_') && !ARG_VALUES.has(k) && !longer.some((p) => k.startsWith(p)))
      .map(([k, word]) => {
        if (F32_SLOTS.has(k)) f32Seen.add(k);
        return { name: camel(k.slice(op.length + 1)), word, f32: F32_SLOTS.has(k) };
      })
      .sort((a, b) => a.word - b.word);
    // the slots of an op are words 1..n, one name each: anything else is a mistake in abi.ts (or ARG_VALUES)
    slots.forEach((s, i) => {
      if (s.word !== i + 1 || i + 1 >= abi.OP_WORDS) {
        throw new Error(`internal: abi.ts: the slots of OP_${op} are not words 1..${slots.length} (${slots.map((x) => `${x.name}=${x.word}`).join(', ')})`);
      }
    });
    table.set(code, { code, name: op.toLowerCase(), slots });
  }
  for (const k of F32_SLOTS) if (!f32Seen.has(k)) throw new Error(`internal: F32_SLOTS names ${k}, which is no slot of abi.ts`);
  return table;
})();

const f32bits = new Float32Array(1);
const i32bits = new Int32Array(f32bits.buffer);
function bitsOf(x: number): number {
  f32bits[0] = x;
  return i32bits[0]!;
}
function fromBits(b: number): number {
  i32bits[0] = b;
  return f32bits[0]!;
}

/** The kernels' activation formats (KernelExports has them). */
export interface ActFormats {
  /** bytes of nTok rows of nIn floats converted for weights of `type` */
  act_bytes(type: number, nIn: number, nTok: number): number;
  /** the activation format weights of `type` read (weights whose formats agree share one conversion) */
  act_format(type: number): number;
}

/** One op of a plan, decoded: its arguments by slot name (f32 slots as numbers). */
export interface PlanOp {
  code: number;
  name: string;
  args: Record<string, number>;
}

/** Decode `nOps` ops of the plan at byte offset `ptr` of a memory. */
export function readPlan(i32: Int32Array, ptr: number, nOps: number): PlanOp[] {
  const ops: PlanOp[] = [];
  for (let i = 0; i < nOps; i++) {
    const base = (ptr >>> 2) + i * abi.OP_WORDS;
    const code = i32[base]!;
    const info = OPS.get(code);
    if (!info) throw new Error(`plan op ${i} at ${ptr + i * abi.OP_WORDS * 4}: unknown op code ${code}`);
    const args: Record<string, number> = {};
    for (const s of info.slots) args[s.name] = s.f32 ? fromBits(i32[base + s.word]!) : i32[base + s.word]!;
    ops.push({ code, name: info.name, args });
  }
  return ops;
}

/** A matmul input held in an activation buffer: x's nTok rows of nIn floats in activation format `format`. */
interface Prepared {
  act: number;
  actEnd: number;
  x: number;
  xEnd: number;
  format: number;
  nIn: number;
  nTok: number;
}

export class Plan {
  private n = 0;
  private readonly prepared: Prepared[] = [];

  constructor(
    private readonly views: Views,
    /** byte offset of the plan buffer */
    readonly ptr: number,
    /** capacity in ops */
    readonly capacity: number,
    private readonly formats: ActFormats,
  ) {}

  /** Start a new plan (forgets the activation cache). */
  reset(): this {
    this.n = 0;
    this.prepared.length = 0;
    return this;
  }

  get length(): number {
    return this.n;
  }

  /** Byte offset of op `i`. */
  opPtr(i: number): number {
    return this.ptr + i * abi.OP_WORDS * 4;
  }

  /** The plan as written so far, decoded. */
  read(): PlanOp[] {
    return readPlan(this.views.i32, this.ptr, this.n);
  }

  /**
   * Where the matmul input x (nTok rows of nIn floats) is in the activation format weights of `type`
   * read: x itself for f32 weights; else `act`, converted by a prep_act op unless `act` already holds x
   * in that format (converted in this plan, and neither x nor act written since).
   */
  activations(type: number, x: number, nIn: number, nTok: number, act: number): number {
    if (type === abi.GGML_F32) return x;
    const format = this.formats.act_format(type);
    const p = this.prepared.find((e) => e.act === act);
    if (p && p.x === x && p.format === format && p.nIn === nIn && p.nTok === nTok) return act;
    this.prepAct({ type, x, act, nIn, nTok });
    this.prepared.push({ act, actEnd: act + this.formats.act_bytes(type, nIn, nTok), x, xEnd: x + nIn * nTok * 4, format, nIn, nTok });
    return act;
  }

  /** Write op `code` with `args` by slot name; it writes bytes [out, out + outBytes). */
  private op(code: number, args: object, out: number, outBytes: number): void {
    if (this.n >= this.capacity) throw new Error(`plan overflow: more than ${this.capacity} ops`);
    const info = OPS.get(code)!;
    const i32 = this.views.i32;
    const base = (this.ptr >>> 2) + this.n * abi.OP_WORDS;
    i32.fill(0, base, base + abi.OP_WORDS);
    i32[base] = code;
    const a = args as Record<string, number | undefined>;
    for (const s of info.slots) {
      const v = a[s.name];
      if (v === undefined) throw new Error(`internal: op ${info.name} written without its argument ${s.name}`);
      i32[base + s.word] = s.f32 ? bitsOf(v) : v;
    }
    this.n++;
    // the activation cache: drop what this op writes over (its input rows or its converted copy)
    const end = out + outBytes;
    for (let i = this.prepared.length - 1; i >= 0; i--) {
      const p = this.prepared[i]!;
      if ((out < p.xEnd && p.x < end) || (out < p.actEnd && p.act < end)) this.prepared.splice(i, 1);
    }
  }

  // ---- one method per op (arguments: abi.ts); each names the bytes it writes.
  // Scratch areas (attention, moe) are not outputs: they hold nothing from one op to the next.

  getRows(a: { type: number; table: number; rowLen: number; ids: number; nTok: number; out: number }): void {
    this.op(abi.OP_GET_ROWS, a, a.out, a.nTok * a.rowLen * 4);
  }
  rmsnorm(a: { x: number; w: number; out: number; n: number; nTok: number; eps: number }): void {
    this.op(abi.OP_RMSNORM, a, a.out, a.n * a.nTok * 4);
  }
  /** the raw conversion; forward passes use `activations`, which skips conversions already done */
  prepAct(a: { type: number; x: number; act: number; nIn: number; nTok: number }): void {
    this.op(abi.OP_PREP_ACT, a, a.act, this.formats.act_bytes(a.type, a.nIn, a.nTok));
  }
  /** rows [r0, r1) of the output (default: all nOut) */
  matmul(a: { type: number; w: number; act: number; y: number; nIn: number; nOut: number; nTok: number; r0?: number; r1?: number }): void {
    this.op(abi.OP_MATMUL, { ...a, r0: a.r0 ?? 0, r1: a.r1 ?? a.nOut }, a.y, a.nTok * a.nOut * 4);
  }
  /** RoPE scaling (freqFactors … corrHigh) defaults to none */
  rope(a: { x: number; nTok: number; nHead: number; headDim: number; nRot: number; pos0: number; base: number; freqScale: number;
    mode: number; freqFactors?: number; extFactor?: number; attnFactor?: number; corrLow?: number; corrHigh?: number }): void {
    this.op(abi.OP_ROPE, { freqFactors: 0, extFactor: 0, attnFactor: 1, corrLow: 0, corrHigh: 0, ...a }, a.x, a.nTok * a.nHead * a.headDim * 4);
  }
  /** window, maxBias (ALiBi) and ring default to 0 (none) */
  attention(a: { q: number; kc: number; vc: number; out: number; nTok: number; pos0: number; nHead: number; nKvHead: number;
    headDim: number; scale: number; scratch: number; window?: number; maxBias?: number; ring?: number }): void {
    this.op(abi.OP_ATTENTION, { window: 0, maxBias: 0, ring: 0, ...a }, a.out, a.nTok * a.nHead * a.headDim * 4);
  }
  add(a: { a: number; b: number; out: number; n: number }): void {
    this.op(abi.OP_ADD, a, a.out, a.n * 4);
  }
  siluMul(a: { gate: number; up: number; out: number; n: number }): void {
    this.op(abi.OP_SILU_MUL, a, a.out, a.n * 4);
  }
  copy(a: { src: number; dst: number; nBytes: number }): void {
    this.op(abi.OP_COPY, a, a.dst, a.nBytes);
  }
  layernorm(a: { x: number; w: number; b: number; out: number; n: number; nTok: number; eps: number }): void {
    this.op(abi.OP_LAYERNORM, a, a.out, a.n * a.nTok * 4);
  }
  addRow(a: { x: number; row: number; out: number; n: number; nTok: number }): void {
    this.op(abi.OP_ADD_ROW, a, a.out, a.n * a.nTok * 4);
  }
  mulRow(a: { x: number; row: number; out: number; n: number; nTok: number }): void {
    this.op(abi.OP_MUL_ROW, a, a.out, a.n * a.nTok * 4);
  }
  axpby(a: { a: number; b: number; out: number; n: number; alpha: number; beta: number }): void {
    this.op(abi.OP_AXPBY, a, a.out, a.n * 4);
  }
  gelu(a: { x: number; out: number; n: number }): void {
    this.op(abi.OP_GELU, a, a.out, a.n * 4);
  }
  glu(a: { a: number; b: number; out: number; n: number; nTok: number; aStride: number; bStride: number; act: number }): void {
    this.op(abi.OP_GLU, a, a.out, a.n * a.nTok * 4);
  }
  copyRows(a: { src: number; srcStride: number; dst: number; dstStride: number; n: number; nRows: number }): void {
    this.op(abi.OP_COPY_ROWS, a, a.dst, a.nRows > 0 ? ((a.nRows - 1) * a.dstStride + a.n) * 4 : 0);
  }
  moe(a: { x: number; router: number; out: number; nTok: number; nExpert: number; usedAndFlags: number; nEmbd: number; nFf: number;
    gate: number; up: number; down: number; typeGate: number; typeUp: number; typeDown: number; scratch: number }): void {
    this.op(abi.OP_MOE, a, a.out, a.nTok * a.nEmbd * 4);
  }
}
