/** Writing a plan: a list of ops (see abi.ts) laid out in wasm memory for `run` to execute. */
import * as abi from './abi.js';
import type { Views } from './memory.js';

const f32bits = new Float32Array(1);
const bitsOf = new Int32Array(f32bits.buffer);
function bits(x: number): number {
  f32bits[0] = x;
  return bitsOf[0]!;
}

export class Plan {
  private n = 0;
  private i32!: Int32Array;
  constructor(
    private readonly views: Views,
    /** byte offset of the plan buffer */
    readonly ptr: number,
    /** capacity in ops */
    readonly capacity: number,
  ) {}

  reset(): this {
    this.n = 0;
    this.i32 = this.views.i32;
    return this;
  }

  get length(): number {
    return this.n;
  }

  private op(code: number, ...args: number[]): void {
    if (this.n >= this.capacity) throw new Error(`plan overflow: more than ${this.capacity} ops`);
    const base = (this.ptr >>> 2) + this.n * abi.OP_WORDS;
    this.i32[base] = code;
    for (let i = 0; i < args.length; i++) this.i32[base + 1 + i] = args[i]!;
    this.n++;
  }

  getRows(type: number, table: number, rowLen: number, ids: number, nTok: number, out: number): void {
    this.op(abi.OP_GET_ROWS, type, table, rowLen, ids, nTok, out);
  }
  rmsnorm(x: number, w: number, out: number, n: number, nTok: number, eps: number): void {
    this.op(abi.OP_RMSNORM, x, w, out, n, nTok, bits(eps));
  }
  prepAct(type: number, x: number, act: number, nIn: number, nTok: number): void {
    this.op(abi.OP_PREP_ACT, type, x, act, nIn, nTok);
  }
  matmul(type: number, w: number, act: number, y: number, nIn: number, nOut: number, nTok: number): void {
    this.op(abi.OP_MATMUL, type, w, act, y, nIn, nOut, nTok, 0, nOut);
  }
  rope(x: number, nTok: number, nHead: number, headDim: number, nRot: number, pos0: number,
    base: number, freqScale: number, mode: number): void {
    this.op(abi.OP_ROPE, x, nTok, nHead, headDim, nRot, pos0, bits(base), bits(freqScale), mode);
  }
  attention(q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number,
    nKvHead: number, headDim: number, scale: number, scratch: number, window: number): void {
    this.op(abi.OP_ATTENTION, q, kc, vc, out, nTok, pos0, nHead, nKvHead, headDim, bits(scale), scratch, window);
  }
  add(a: number, b: number, out: number, n: number): void {
    this.op(abi.OP_ADD, a, b, out, n);
  }
  siluMul(gate: number, up: number, out: number, n: number): void {
    this.op(abi.OP_SILU_MUL, gate, up, out, n);
  }
  copy(src: number, dst: number, nBytes: number): void {
    this.op(abi.OP_COPY, src, dst, nBytes);
  }
}
