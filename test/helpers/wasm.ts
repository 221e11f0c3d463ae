/** A tiny loader for kernel tests: build/wasmlm.wasm on a fresh memory, plus a bump allocator above 64 KiB. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const WASM_PATH = fileURLToPath(new URL('../../build/wasmlm.wasm', import.meta.url));
/** The same kernels built with relaxed SIMD (`npm run build:wasm` builds both). */
export const RELAXED_WASM_PATH = fileURLToPath(new URL('../../build/wasmlm.relaxed.wasm', import.meta.url));

/** Every export of assembly/index.ts (pointers are byte offsets; f32 args as numbers). */
export interface Kernels {
  run(plan: number, nOps: number): void;
  act_bytes(type: number, nIn: number, nTok: number): number;
  act_format(type: number): number;
  op_writes_at(op: number): number;
  op_writes_bytes(op: number): number;
  get_rows(type: number, table: number, rowLen: number, ids: number, nTok: number, out: number): void;
  repack(type: number, w: number, nRows: number, nIn: number, scratch: number): number;
  rmsnorm(x: number, w: number, out: number, n: number, nTok: number, eps: number): void;
  rmsnorm_ref(x: number, w: number, out: number, n: number, nTok: number, eps: number): void;
  prep_act(type: number, x: number, act: number, nIn: number, nTok: number): void;
  prep_act_ref(type: number, x: number, act: number, nIn: number, nTok: number): void;
  matmul(type: number, w: number, act: number, y: number, nIn: number, nOut: number, nTok: number, r0: number, r1: number): void;
  matmul_ref(type: number, w: number, act: number, y: number, nIn: number, nOut: number, nTok: number, r0: number, r1: number): void;
  rope(x: number, nTok: number, nHead: number, headDim: number, nRot: number, pos0: number, base: number, freqScale: number, mode: number): void;
  rope_ref(x: number, nTok: number, nHead: number, headDim: number, nRot: number, pos0: number, base: number, freqScale: number, mode: number): void;
  attention(q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
            headDim: number, scale: number, scratch: number, window: number): void;
  attention_ref(q: number, kc: number, vc: number, out: number, nTok: number, pos0: number, nHead: number, nKvHead: number,
                headDim: number, scale: number, scratch: number, window: number): void;
  softmax(x: number, n: number): void;
  softmax_ref(x: number, n: number): void;
  add(a: number, b: number, out: number, n: number): void;
  add_ref(a: number, b: number, out: number, n: number): void;
  silu_mul(gate: number, up: number, out: number, n: number): void;
  silu_mul_ref(gate: number, up: number, out: number, n: number): void;
  f32_to_f16(x: number): number;
  f16_to_f32(h: number): number;
  /** 0: plain SIMD build, 1: relaxed-SIMD build */
  kernel_variant(): number;
}

export class Heap {
  private top = 65536;
  constructor(readonly memory: WebAssembly.Memory) {}
  /** bytes aligned to 64 (plus an optional misalignment to exercise unaligned loads) */
  alloc(bytes: number, misalign = 0): number {
    const p = ((this.top + 63) & ~63) + misalign;
    this.top = p + bytes;
    if (this.top > this.memory.buffer.byteLength) throw new Error('test heap exhausted');
    return p;
  }
  reset(): void { this.top = 65536; }
  f32(p: number, n: number): Float32Array { return new Float32Array(this.memory.buffer, p, n); }
  u32(p: number, n: number): Uint32Array { return new Uint32Array(this.memory.buffer, p, n); }
  i32(p: number, n: number): Int32Array { return new Int32Array(this.memory.buffer, p, n); }
  i16(p: number, n: number): Int16Array { return new Int16Array(this.memory.buffer, p, n); }
  u8(p: number, n: number): Uint8Array { return new Uint8Array(this.memory.buffer, p, n); }
  /** copies data into a fresh allocation */
  put(data: Float32Array | Int32Array | Uint8Array | Uint16Array, misalign = 0): number {
    const p = this.alloc(data.byteLength, misalign);
    new Uint8Array(this.memory.buffer, p, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return p;
  }
  bytes(p: number, n: number): Uint8Array { return new Uint8Array(this.memory.buffer, p, n).slice(); }
}

/** Instantiates build/wasmlm.wasm (or `path`) with `new WebAssembly.Memory({initial: pages, maximum: 65536})` as env.memory. */
export function loadKernels(pages = 1024, path = WASM_PATH): { k: Kernels; memory: WebAssembly.Memory; heap: Heap } {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`npm run build:wasm\` first`);
  }
  const module = new WebAssembly.Module(readFileSync(path));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: 65536 });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return { k: instance.exports as unknown as Kernels, memory, heap: new Heap(memory) };
}
