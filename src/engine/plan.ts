/** Writing a plan: a list of ops (see abi.ts) laid out in wasm memory for `run` to execute. */
import * as abi from '../abi.js';
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
    for (let i = 1; i < abi.OP_WORDS; i++) this.i32[base + i] = i <= args.length ? args[i - 1]! : 0;
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
    base: number, freqScale: number, mode: number,
    scaling: { freqFactors: number; extFactor: number; attnFactor: number; corrLow: number; corrHigh: number } | undefined = undefined): void {
    const sc = scaling ?? { freqFactors: 0, extFactor: 0, attnFactor: 1, corrLow: 0, corrHigh: 0 };
    this.op(abi.OP_ROPE, x, nTok, nHead, headDim, nRot, pos0, bits(base), bits(freqScale), mode,
      sc.freqFactors, bits(sc.extFactor), bits(sc.attnFactor), bits(sc.corrLow), bits(sc.corrHigh));
  }
  attention(q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number,
    nKvHead: number, headDim: number, scale: number, scratch: number, window: number, maxBias: number, ring: number): void {
    this.op(abi.OP_ATTENTION, q, kc, vc, out, nTok, pos0, nHead, nKvHead, headDim, bits(scale), scratch, window,
      bits(maxBias), ring);
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
  layernorm(x: number, w: number, b: number, out: number, n: number, nTok: number, eps: number): void {
    this.op(abi.OP_LAYERNORM, x, w, b, out, n, nTok, bits(eps));
  }
  addRow(x: number, row: number, out: number, n: number, nTok: number): void {
    this.op(abi.OP_ADD_ROW, x, row, out, n, nTok);
  }
  mulRow(x: number, row: number, out: number, n: number, nTok: number): void {
    this.op(abi.OP_MUL_ROW, x, row, out, n, nTok);
  }
  axpby(a: number, b: number, out: number, n: number, alpha: number, beta: number): void {
    this.op(abi.OP_AXPBY, a, b, out, n, bits(alpha), bits(beta));
  }
  gelu(x: number, out: number, n: number): void {
    this.op(abi.OP_GELU, x, out, n);
  }
  glu(a: number, b: number, out: number, n: number, nTok: number, aStride: number, bStride: number, act: number): void {
    this.op(abi.OP_GLU, a, b, out, n, nTok, aStride, bStride, act);
  }
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, n: number, nRows: number): void {
    this.op(abi.OP_COPY_ROWS, src, srcStride, dst, dstStride, n, nRows);
  }
  moe(x: number, router: number, out: number, nTok: number, nExpert: number, usedAndFlags: number, nEmbd: number,
    nFf: number, gate: number, up: number, down: number, typeGate: number, typeUp: number, typeDown: number,
    scratch: number): void {
    this.op(abi.OP_MOE, x, router, out, nTok, nExpert, usedAndFlags, nEmbd, nFf, gate, up, down,
      typeGate, typeUp, typeDown, scratch);
  }
}
