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
 * ADD's) and the argument values listed in ARG_VALUES. Adding an op: its code and slots in abi.ts; here, its
 * method (named as OpInfo.method; each argument into its slot, the bytes it writes) and its f32 slots in
 * F32_SLOTS (the plan-builder tests write and read back every op through OPS).
 */
import * as abi from '../abi.js';
import type { Views } from './memory.js';

/** Constants of abi.ts named like a slot (<NAME>_<X>) that are argument values, not argument words. */
const ARG_VALUES = new Set(['GLU_SILU', 'GLU_GELU', 'ROPE_NORMAL', 'ROPE_NEOX', 'MOE_NORMALIZE']);

/** Slots that hold an f32 (stored as its bit pattern); every other slot is an i32 (pointers: byte offsets). */
const F32_SLOTS = new Set([
  'RMSNORM_EPS', 'LAYERNORM_EPS', 'ROPE_BASE', 'ROPE_FREQ_SCALE', 'ROPE_EXT_FACTOR', 'ROPE_ATTN_FACTOR',
  'ROPE_CORR_LOW', 'ROPE_CORR_HIGH', 'ATTENTION_SCALE', 'ATTENTION_MAX_BIAS', 'AXPBY_ALPHA', 'AXPBY_BETA', 'SOFTCAP_CAP',
  'ATTENTION_SOFTCAP', 'OUTER_ACC_ALPHA', 'RMSNORM_BACK_EPS', 'ATTENTION_BACK_SCALE', 'CROSS_ENTROPY_SCALE',
  'ATTENTION_BACK_SOFTCAP', 'ATTENTION_BACK_MAX_BIAS', 'LAYERNORM_BACK_EPS', 'SOFTCAP_BACK_CAP',
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
  /** the Plan method that writes it: `<NAME>` in camelCase, e.g. 'addRow' */
  method: string;
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
    table.set(code, { code, name: op.toLowerCase(), method: camel(op), slots });
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

/** What the plan builder asks the kernels (KernelExports has it). */
export interface PlanKernels {
  /** the activation format weights of `type` read (weights whose formats agree share one conversion) */
  act_format(type: number): number;
  /** where the op written at byte offset `op` writes, and how many bytes (its entry in assembly/ops/) */
  op_writes_at(op: number): number;
  op_writes_bytes(op: number): number;
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
  private i32: Int32Array;
  private readonly prepared: Prepared[] = [];

  constructor(
    private readonly views: Views,
    /** byte offset of the plan buffer */
    readonly ptr: number,
    /** capacity in ops */
    readonly capacity: number,
    private readonly kernels: PlanKernels,
  ) {
    this.i32 = views.i32;
  }

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
    const format = this.kernels.act_format(type);
    for (const p of this.prepared) {
      if (p.act === act && p.x === x && p.format === format && p.nIn === nIn && p.nTok === nTok) return act;
    }
    const actEnd = act + this.prepAct({ type, x, act, nIn, nTok });
    this.prepared.push({ act, actEnd, x, xEnd: x + nIn * nTok * 4, format, nIn, nTok });
    return act;
  }

  /** Start op `code`: its words zeroed; returns the index of its first word in `this.i32`. */
  private begin(code: number): number {
    if (this.n >= this.capacity) throw new Error(`plan overflow: more than ${this.capacity} ops`);
    this.i32 = this.views.i32;
    const w = (this.ptr >>> 2) + this.n * abi.OP_WORDS;
    this.i32.fill(0, w, w + abi.OP_WORDS);
    this.i32[w] = code;
    return w;
  }

  /** The op is written: drop the converted inputs it writes over (what it writes: its kernel entry's
   *  word, so the builder and the scheduler cannot disagree). Returns the bytes it writes. */
  private end(): number {
    const op = this.opPtr(this.n++);
    const out = this.kernels.op_writes_at(op) >>> 0, bytes = this.kernels.op_writes_bytes(op) >>> 0;
    const end = out + bytes;
    for (let i = this.prepared.length - 1; i >= 0; i--) {
      const p = this.prepared[i]!;
      if ((out < p.xEnd && p.x < end) || (out < p.actEnd && p.act < end)) this.prepared.splice(i, 1);
    }
    return bytes;
  }

  // ---- one method per op, each argument into its slot (abi.ts).
  // Scratch areas (attention, moe) are not outputs: they hold nothing from one op to the next.

  getRows(a: { type: number; table: number; rowLen: number; ids: number; nTok: number; out: number }): void {
    const w = this.begin(abi.OP_GET_ROWS), i32 = this.i32;
    i32[w + abi.GET_ROWS_TYPE] = a.type;
    i32[w + abi.GET_ROWS_TABLE] = a.table;
    i32[w + abi.GET_ROWS_ROW_LEN] = a.rowLen;
    i32[w + abi.GET_ROWS_IDS] = a.ids;
    i32[w + abi.GET_ROWS_N_TOK] = a.nTok;
    i32[w + abi.GET_ROWS_OUT] = a.out;
    this.end();
  }
  rmsnorm(a: { x: number; w: number; out: number; n: number; nTok: number; eps: number }): void {
    const w = this.begin(abi.OP_RMSNORM), i32 = this.i32;
    i32[w + abi.RMSNORM_X] = a.x;
    i32[w + abi.RMSNORM_W] = a.w;
    i32[w + abi.RMSNORM_OUT] = a.out;
    i32[w + abi.RMSNORM_N] = a.n;
    i32[w + abi.RMSNORM_N_TOK] = a.nTok;
    i32[w + abi.RMSNORM_EPS] = bitsOf(a.eps);
    this.end();
  }
  /** The raw conversion (forward passes use `activations`, which skips conversions already done); returns
   *  the bytes it writes. */
  prepAct(a: { type: number; x: number; act: number; nIn: number; nTok: number }): number {
    const w = this.begin(abi.OP_PREP_ACT), i32 = this.i32;
    i32[w + abi.PREP_ACT_TYPE] = a.type;
    i32[w + abi.PREP_ACT_X] = a.x;
    i32[w + abi.PREP_ACT_ACT] = a.act;
    i32[w + abi.PREP_ACT_N_IN] = a.nIn;
    i32[w + abi.PREP_ACT_N_TOK] = a.nTok;
    return this.end();
  }
  /** rows [r0, r1) of the output (default: all nOut) */
  matmul(a: { type: number; w: number; act: number; y: number; nIn: number; nOut: number; nTok: number; r0?: number; r1?: number }): void {
    const w = this.begin(abi.OP_MATMUL), i32 = this.i32;
    i32[w + abi.MATMUL_TYPE] = a.type;
    i32[w + abi.MATMUL_W] = a.w;
    i32[w + abi.MATMUL_ACT] = a.act;
    i32[w + abi.MATMUL_Y] = a.y;
    i32[w + abi.MATMUL_N_IN] = a.nIn;
    i32[w + abi.MATMUL_N_OUT] = a.nOut;
    i32[w + abi.MATMUL_N_TOK] = a.nTok;
    i32[w + abi.MATMUL_R0] = a.r0 ?? 0;
    i32[w + abi.MATMUL_R1] = a.r1 ?? a.nOut;
    this.end();
  }
  /** RoPE scaling (freqFactors … corrHigh) defaults to none */
  rope(a: { x: number; nTok: number; nHead: number; headDim: number; nRot: number; pos0: number; base: number; freqScale: number;
    mode: number; freqFactors?: number; extFactor?: number; attnFactor?: number; corrLow?: number; corrHigh?: number }): void {
    const w = this.begin(abi.OP_ROPE), i32 = this.i32;
    i32[w + abi.ROPE_X] = a.x;
    i32[w + abi.ROPE_N_TOK] = a.nTok;
    i32[w + abi.ROPE_N_HEAD] = a.nHead;
    i32[w + abi.ROPE_HEAD_DIM] = a.headDim;
    i32[w + abi.ROPE_N_ROT] = a.nRot;
    i32[w + abi.ROPE_POS0] = a.pos0;
    i32[w + abi.ROPE_BASE] = bitsOf(a.base);
    i32[w + abi.ROPE_FREQ_SCALE] = bitsOf(a.freqScale);
    i32[w + abi.ROPE_MODE] = a.mode;
    i32[w + abi.ROPE_FREQ_FACTORS] = a.freqFactors ?? 0;
    i32[w + abi.ROPE_EXT_FACTOR] = bitsOf(a.extFactor ?? 0);
    i32[w + abi.ROPE_ATTN_FACTOR] = bitsOf(a.attnFactor ?? 1);
    i32[w + abi.ROPE_CORR_LOW] = bitsOf(a.corrLow ?? 0);
    i32[w + abi.ROPE_CORR_HIGH] = bitsOf(a.corrHigh ?? 0);
    this.end();
  }
  /** window, maxBias (ALiBi), ring and softcap default to 0 (none), kvType (the cache's ggml type) to GGML_F32 */
  attention(a: { q: number; kc: number; vc: number; out: number; nTok: number; pos0: number; nHead: number; nKvHead: number;
    headDim: number; scale: number; scratch: number; window?: number; maxBias?: number; ring?: number; kvType?: number; softcap?: number }): void {
    const w = this.begin(abi.OP_ATTENTION), i32 = this.i32;
    i32[w + abi.ATTENTION_Q] = a.q;
    i32[w + abi.ATTENTION_KC] = a.kc;
    i32[w + abi.ATTENTION_VC] = a.vc;
    i32[w + abi.ATTENTION_OUT] = a.out;
    i32[w + abi.ATTENTION_N_TOK] = a.nTok;
    i32[w + abi.ATTENTION_POS0] = a.pos0;
    i32[w + abi.ATTENTION_N_HEAD] = a.nHead;
    i32[w + abi.ATTENTION_N_KV_HEAD] = a.nKvHead;
    i32[w + abi.ATTENTION_HEAD_DIM] = a.headDim;
    i32[w + abi.ATTENTION_SCALE] = bitsOf(a.scale);
    i32[w + abi.ATTENTION_SCRATCH] = a.scratch;
    i32[w + abi.ATTENTION_WINDOW] = a.window ?? 0;
    i32[w + abi.ATTENTION_MAX_BIAS] = bitsOf(a.maxBias ?? 0);
    i32[w + abi.ATTENTION_RING] = a.ring ?? 0;
    i32[w + abi.ATTENTION_KV_TYPE] = a.kvType ?? abi.GGML_F32;
    i32[w + abi.ATTENTION_SOFTCAP] = bitsOf(a.softcap ?? 0);
    this.end();
  }
  add(a: { a: number; b: number; out: number; n: number }): void {
    const w = this.begin(abi.OP_ADD), i32 = this.i32;
    i32[w + abi.ADD_A] = a.a;
    i32[w + abi.ADD_B] = a.b;
    i32[w + abi.ADD_OUT] = a.out;
    i32[w + abi.ADD_N] = a.n;
    this.end();
  }
  siluMul(a: { gate: number; up: number; out: number; n: number }): void {
    const w = this.begin(abi.OP_SILU_MUL), i32 = this.i32;
    i32[w + abi.SILU_MUL_GATE] = a.gate;
    i32[w + abi.SILU_MUL_UP] = a.up;
    i32[w + abi.SILU_MUL_OUT] = a.out;
    i32[w + abi.SILU_MUL_N] = a.n;
    this.end();
  }
  copy(a: { src: number; dst: number; nBytes: number }): void {
    const w = this.begin(abi.OP_COPY), i32 = this.i32;
    i32[w + abi.COPY_SRC] = a.src;
    i32[w + abi.COPY_DST] = a.dst;
    i32[w + abi.COPY_N_BYTES] = a.nBytes;
    this.end();
  }
  layernorm(a: { x: number; w: number; b: number; out: number; n: number; nTok: number; eps: number }): void {
    const w = this.begin(abi.OP_LAYERNORM), i32 = this.i32;
    i32[w + abi.LAYERNORM_X] = a.x;
    i32[w + abi.LAYERNORM_W] = a.w;
    i32[w + abi.LAYERNORM_B] = a.b;
    i32[w + abi.LAYERNORM_OUT] = a.out;
    i32[w + abi.LAYERNORM_N] = a.n;
    i32[w + abi.LAYERNORM_N_TOK] = a.nTok;
    i32[w + abi.LAYERNORM_EPS] = bitsOf(a.eps);
    this.end();
  }
  addRow(a: { x: number; row: number; out: number; n: number; nTok: number }): void {
    const w = this.begin(abi.OP_ADD_ROW), i32 = this.i32;
    i32[w + abi.ADD_ROW_X] = a.x;
    i32[w + abi.ADD_ROW_ROW] = a.row;
    i32[w + abi.ADD_ROW_OUT] = a.out;
    i32[w + abi.ADD_ROW_N] = a.n;
    i32[w + abi.ADD_ROW_N_TOK] = a.nTok;
    this.end();
  }
  mulRow(a: { x: number; row: number; out: number; n: number; nTok: number }): void {
    const w = this.begin(abi.OP_MUL_ROW), i32 = this.i32;
    i32[w + abi.MUL_ROW_X] = a.x;
    i32[w + abi.MUL_ROW_ROW] = a.row;
    i32[w + abi.MUL_ROW_OUT] = a.out;
    i32[w + abi.MUL_ROW_N] = a.n;
    i32[w + abi.MUL_ROW_N_TOK] = a.nTok;
    this.end();
  }
  axpby(a: { a: number; b: number; out: number; n: number; alpha: number; beta: number }): void {
    const w = this.begin(abi.OP_AXPBY), i32 = this.i32;
    i32[w + abi.AXPBY_A] = a.a;
    i32[w + abi.AXPBY_B] = a.b;
    i32[w + abi.AXPBY_OUT] = a.out;
    i32[w + abi.AXPBY_N] = a.n;
    i32[w + abi.AXPBY_ALPHA] = bitsOf(a.alpha);
    i32[w + abi.AXPBY_BETA] = bitsOf(a.beta);
    this.end();
  }
  gelu(a: { x: number; out: number; n: number }): void {
    const w = this.begin(abi.OP_GELU), i32 = this.i32;
    i32[w + abi.GELU_X] = a.x;
    i32[w + abi.GELU_OUT] = a.out;
    i32[w + abi.GELU_N] = a.n;
    this.end();
  }
  glu(a: { a: number; b: number; out: number; n: number; nTok: number; aStride: number; bStride: number; act: number }): void {
    const w = this.begin(abi.OP_GLU), i32 = this.i32;
    i32[w + abi.GLU_A] = a.a;
    i32[w + abi.GLU_B] = a.b;
    i32[w + abi.GLU_OUT] = a.out;
    i32[w + abi.GLU_N] = a.n;
    i32[w + abi.GLU_N_TOK] = a.nTok;
    i32[w + abi.GLU_A_STRIDE] = a.aStride;
    i32[w + abi.GLU_B_STRIDE] = a.bStride;
    i32[w + abi.GLU_ACT] = a.act;
    this.end();
  }
  copyRows(a: { src: number; srcStride: number; dst: number; dstStride: number; n: number; nRows: number }): void {
    const w = this.begin(abi.OP_COPY_ROWS), i32 = this.i32;
    i32[w + abi.COPY_ROWS_SRC] = a.src;
    i32[w + abi.COPY_ROWS_SRC_STRIDE] = a.srcStride;
    i32[w + abi.COPY_ROWS_DST] = a.dst;
    i32[w + abi.COPY_ROWS_DST_STRIDE] = a.dstStride;
    i32[w + abi.COPY_ROWS_N] = a.n;
    i32[w + abi.COPY_ROWS_N_ROWS] = a.nRows;
    this.end();
  }
  moe(a: { x: number; router: number; out: number; nTok: number; nExpert: number; usedAndFlags: number; nEmbd: number; nFf: number;
    gate: number; up: number; down: number; typeGate: number; typeUp: number; typeDown: number; scratch: number }): void {
    const w = this.begin(abi.OP_MOE), i32 = this.i32;
    i32[w + abi.MOE_X] = a.x;
    i32[w + abi.MOE_ROUTER] = a.router;
    i32[w + abi.MOE_OUT] = a.out;
    i32[w + abi.MOE_N_TOK] = a.nTok;
    i32[w + abi.MOE_N_EXPERT] = a.nExpert;
    i32[w + abi.MOE_USED_AND_FLAGS] = a.usedAndFlags;
    i32[w + abi.MOE_N_EMBD] = a.nEmbd;
    i32[w + abi.MOE_N_FF] = a.nFf;
    i32[w + abi.MOE_GATE] = a.gate;
    i32[w + abi.MOE_UP] = a.up;
    i32[w + abi.MOE_DOWN] = a.down;
    i32[w + abi.MOE_TYPE_GATE] = a.typeGate;
    i32[w + abi.MOE_TYPE_UP] = a.typeUp;
    i32[w + abi.MOE_TYPE_DOWN] = a.typeDown;
    i32[w + abi.MOE_SCRATCH] = a.scratch;
    this.end();
  }
  /** KV cache rows between f32 and a cache type (ggml type codes; one of the two is GGML_F32) */
  kvConvert(a: { src: number; srcType: number; dst: number; dstType: number; headDim: number; nHead: number; nRows: number }): void {
    const w = this.begin(abi.OP_KV_CONVERT), i32 = this.i32;
    i32[w + abi.KV_CONVERT_SRC] = a.src;
    i32[w + abi.KV_CONVERT_SRC_TYPE] = a.srcType;
    i32[w + abi.KV_CONVERT_DST] = a.dst;
    i32[w + abi.KV_CONVERT_DST_TYPE] = a.dstType;
    i32[w + abi.KV_CONVERT_HEAD_DIM] = a.headDim;
    i32[w + abi.KV_CONVERT_N_HEAD] = a.nHead;
    i32[w + abi.KV_CONVERT_N_ROWS] = a.nRows;
    this.end();
  }
  softcap(a: { x: number; out: number; n: number; cap: number }): void {
    const w = this.begin(abi.OP_SOFTCAP), i32 = this.i32;
    i32[w + abi.SOFTCAP_X] = a.x;
    i32[w + abi.SOFTCAP_OUT] = a.out;
    i32[w + abi.SOFTCAP_N] = a.n;
    i32[w + abi.SOFTCAP_CAP] = bitsOf(a.cap);
    this.end();
  }
  /** training: dx += Wᵀ·dy (assembly/ops/backward.ts); scratch: matmul_t_scratch_bytes(nIn) per thread */
  matmulT(a: { type: number; w: number; dy: number; dx: number; nIn: number; nOut: number; nTok: number; scratch: number }): void {
    const w = this.begin(abi.OP_MATMUL_T), i32 = this.i32;
    i32[w + abi.MATMUL_T_TYPE] = a.type;
    i32[w + abi.MATMUL_T_W] = a.w;
    i32[w + abi.MATMUL_T_DY] = a.dy;
    i32[w + abi.MATMUL_T_DX] = a.dx;
    i32[w + abi.MATMUL_T_N_IN] = a.nIn;
    i32[w + abi.MATMUL_T_N_OUT] = a.nOut;
    i32[w + abi.MATMUL_T_N_TOK] = a.nTok;
    i32[w + abi.MATMUL_T_SCRATCH] = a.scratch;
    this.end();
  }
  /** training: c[i][j] += alpha · Σ_t x[t][i]·y[t][j] (assembly/ops/backward.ts) */
  outerAcc(a: { x: number; y: number; c: number; m: number; n: number; nTok: number; alpha: number }): void {
    const w = this.begin(abi.OP_OUTER_ACC), i32 = this.i32;
    i32[w + abi.OUTER_ACC_X] = a.x;
    i32[w + abi.OUTER_ACC_Y] = a.y;
    i32[w + abi.OUTER_ACC_C] = a.c;
    i32[w + abi.OUTER_ACC_M] = a.m;
    i32[w + abi.OUTER_ACC_N] = a.n;
    i32[w + abi.OUTER_ACC_N_TOK] = a.nTok;
    i32[w + abi.OUTER_ACC_ALPHA] = bitsOf(a.alpha);
    this.end();
  }
  /** training: dx += the RMSNorm gradient at x for dy (assembly/ops/backward.ts) */
  rmsnormBack(a: { x: number; w: number; dy: number; dx: number; n: number; nTok: number; eps: number }): void {
    const w = this.begin(abi.OP_RMSNORM_BACK), i32 = this.i32;
    i32[w + abi.RMSNORM_BACK_X] = a.x;
    i32[w + abi.RMSNORM_BACK_W] = a.w;
    i32[w + abi.RMSNORM_BACK_DY] = a.dy;
    i32[w + abi.RMSNORM_BACK_DX] = a.dx;
    i32[w + abi.RMSNORM_BACK_N] = a.n;
    i32[w + abi.RMSNORM_BACK_N_TOK] = a.nTok;
    i32[w + abi.RMSNORM_BACK_EPS] = bitsOf(a.eps);
    this.end();
  }
  /** training: [d gate | d up] of silu(gate)·up for dh */
  siluMulBack(a: { gate: number; up: number; dh: number; out: number; n: number }): void {
    const w = this.begin(abi.OP_SILU_MUL_BACK), i32 = this.i32;
    i32[w + abi.SILU_MUL_BACK_GATE] = a.gate;
    i32[w + abi.SILU_MUL_BACK_UP] = a.up;
    i32[w + abi.SILU_MUL_BACK_DH] = a.dh;
    i32[w + abi.SILU_MUL_BACK_OUT] = a.out;
    i32[w + abi.SILU_MUL_BACK_N] = a.n;
    this.end();
  }
  /** training: [dq | dk | dv] of causal attention over positions 0..nTok−1 (soft-cap, ALiBi, window: as attention's) */
  attentionBack(a: { q: number; k: number; v: number; dout: number; out: number; nTok: number; nHead: number; nKvHead: number;
    headDim: number; scale: number; scratch: number; softcap?: number; maxBias?: number; window?: number }): void {
    const w = this.begin(abi.OP_ATTENTION_BACK), i32 = this.i32;
    i32[w + abi.ATTENTION_BACK_Q] = a.q;
    i32[w + abi.ATTENTION_BACK_K] = a.k;
    i32[w + abi.ATTENTION_BACK_V] = a.v;
    i32[w + abi.ATTENTION_BACK_DOUT] = a.dout;
    i32[w + abi.ATTENTION_BACK_OUT] = a.out;
    i32[w + abi.ATTENTION_BACK_N_TOK] = a.nTok;
    i32[w + abi.ATTENTION_BACK_N_HEAD] = a.nHead;
    i32[w + abi.ATTENTION_BACK_N_KV_HEAD] = a.nKvHead;
    i32[w + abi.ATTENTION_BACK_HEAD_DIM] = a.headDim;
    i32[w + abi.ATTENTION_BACK_SCALE] = bitsOf(a.scale);
    i32[w + abi.ATTENTION_BACK_SCRATCH] = a.scratch;
    i32[w + abi.ATTENTION_BACK_SOFTCAP] = bitsOf(a.softcap ?? 0);
    i32[w + abi.ATTENTION_BACK_MAX_BIAS] = bitsOf(a.maxBias ?? 0);
    i32[w + abi.ATTENTION_BACK_WINDOW] = a.window ?? 0;
    this.end();
  }
  /** training: per row the loss and, in place, the gradient of the cross-entropy (targets < 0: not learned) */
  crossEntropy(a: { logits: number; targets: number; loss: number; n: number; nRows: number; scale: number }): void {
    const w = this.begin(abi.OP_CROSS_ENTROPY), i32 = this.i32;
    i32[w + abi.CROSS_ENTROPY_LOGITS] = a.logits;
    i32[w + abi.CROSS_ENTROPY_TARGETS] = a.targets;
    i32[w + abi.CROSS_ENTROPY_LOSS] = a.loss;
    i32[w + abi.CROSS_ENTROPY_N] = a.n;
    i32[w + abi.CROSS_ENTROPY_N_ROWS] = a.nRows;
    i32[w + abi.CROSS_ENTROPY_SCALE] = bitsOf(a.scale);
    this.end();
  }
  /** training: y = W·x with W's rows dequantized and x in f32 (assembly/ops/backward.ts) */
  matmulDq(a: { type: number; w: number; x: number; y: number; nIn: number; nOut: number; nTok: number; scratch: number }): void {
    const w = this.begin(abi.OP_MATMUL_DQ), i32 = this.i32;
    i32[w + abi.MATMUL_DQ_TYPE] = a.type;
    i32[w + abi.MATMUL_DQ_W] = a.w;
    i32[w + abi.MATMUL_DQ_X] = a.x;
    i32[w + abi.MATMUL_DQ_Y] = a.y;
    i32[w + abi.MATMUL_DQ_N_IN] = a.nIn;
    i32[w + abi.MATMUL_DQ_N_OUT] = a.nOut;
    i32[w + abi.MATMUL_DQ_N_TOK] = a.nTok;
    i32[w + abi.MATMUL_DQ_SCRATCH] = a.scratch;
    this.end();
  }
  /** training: dx += the LayerNorm gradient at x for dy (w = 0: no gain; assembly/ops/backward_ext.ts) */
  layernormBack(a: { x: number; w: number; dy: number; dx: number; n: number; nTok: number; eps: number }): void {
    const w = this.begin(abi.OP_LAYERNORM_BACK), i32 = this.i32;
    i32[w + abi.LAYERNORM_BACK_X] = a.x;
    i32[w + abi.LAYERNORM_BACK_W] = a.w;
    i32[w + abi.LAYERNORM_BACK_DY] = a.dy;
    i32[w + abi.LAYERNORM_BACK_DX] = a.dx;
    i32[w + abi.LAYERNORM_BACK_N] = a.n;
    i32[w + abi.LAYERNORM_BACK_N_TOK] = a.nTok;
    i32[w + abi.LAYERNORM_BACK_EPS] = bitsOf(a.eps);
    this.end();
  }
  /** training: out = gelu(gate)·up, the smooth tanh GELU (up = 0: gelu(gate)) */
  geluMul(a: { gate: number; up: number; out: number; n: number }): void {
    const w = this.begin(abi.OP_GELU_MUL), i32 = this.i32;
    i32[w + abi.GELU_MUL_GATE] = a.gate;
    i32[w + abi.GELU_MUL_UP] = a.up;
    i32[w + abi.GELU_MUL_OUT] = a.out;
    i32[w + abi.GELU_MUL_N] = a.n;
    this.end();
  }
  /** training: [d gate | d up] of gelu(gate)·up for dh (up = 0: d gate only) */
  geluMulBack(a: { gate: number; up: number; dh: number; out: number; n: number }): void {
    const w = this.begin(abi.OP_GELU_MUL_BACK), i32 = this.i32;
    i32[w + abi.GELU_MUL_BACK_GATE] = a.gate;
    i32[w + abi.GELU_MUL_BACK_UP] = a.up;
    i32[w + abi.GELU_MUL_BACK_DH] = a.dh;
    i32[w + abi.GELU_MUL_BACK_OUT] = a.out;
    i32[w + abi.GELU_MUL_BACK_N] = a.n;
    this.end();
  }
  /** nBlocks blocks of `type` at out from the f32 values at x (the weight quantizers: assembly/quant/) */
  quantize(a: { type: number; x: number; out: number; nBlocks: number; scratch: number }): void {
    const w = this.begin(abi.OP_QUANTIZE), i32 = this.i32;
    i32[w + abi.QUANTIZE_TYPE] = a.type;
    i32[w + abi.QUANTIZE_X] = a.x;
    i32[w + abi.QUANTIZE_OUT] = a.out;
    i32[w + abi.QUANTIZE_N_BLOCKS] = a.nBlocks;
    i32[w + abi.QUANTIZE_SCRATCH] = a.scratch;
    this.end();
  }
  /** training: out = dy·(1 − tanh²(x / cap)), the soft-cap's gradient at x */
  softcapBack(a: { x: number; dy: number; out: number; n: number; cap: number }): void {
    const w = this.begin(abi.OP_SOFTCAP_BACK), i32 = this.i32;
    i32[w + abi.SOFTCAP_BACK_X] = a.x;
    i32[w + abi.SOFTCAP_BACK_DY] = a.dy;
    i32[w + abi.SOFTCAP_BACK_OUT] = a.out;
    i32[w + abi.SOFTCAP_BACK_N] = a.n;
    i32[w + abi.SOFTCAP_BACK_CAP] = bitsOf(a.cap);
    this.end();
  }
}
