// The weight quantizers in wasm (assembly/quant/: the same bytes as ./quantize.ts's, which are ggml's),
// run by the kernel module's scheduler alone or with a thread pool: each tensor is copied into the
// module's memory, quantized block range by block range (OP_QUANTIZE; threads take chunks of blocks),
// and copied out. What `wasmlm quantize` uses; the JS quantizers stay the synchronous path (the Hugging
// Face stream, quantizeTensor) and the reference the tests compare these with.

import { CTL_BYTES, GGML_F16, GGML_F32, GGML_BF16, OP_WORDS, SYNC_BYTES } from '../abi.js';
import { WasmlmError } from '../errors.js';
import { Layout, PAGE, createMemory, Views } from '../engine/memory.js';
import { Plan } from '../engine/plan.js';
import { capThreads, threadSupport, ThreadPool } from '../engine/pool.js';
import { instantiateKernels, isThreadsModule, kernelModule, RESERVED_BYTES, type KernelExports, type ThreadKernelExports } from '../engine/wasm.js';
import { ggmlTypeName } from './ggml-types.js';
import { quantizeTensor } from './quantize.js';

interface QuantExports {
  quant_block_size(type: number): number;
  quant_block_bytes(type: number): number;
  quantize_scratch_bytes(): number;
  quantize(type: number, x: number, out: number, lo: number, hi: number, scratch: number): void;
}

export interface QuantizerOptions {
  /** threads (this one and n − 1 workers); default 1; capped at the cores available */
  threads?: number;
  /** a compiled kernel module (a threads build for threads > 1); default: the package's */
  wasmModule?: WebAssembly.Module;
}

/** Values quantized per run of the plan: what progress is reported by (and the memory a slice needs). */
const SLICE_VALUES = 1 << 20;

export class Quantizer {
  private closed = false;

  private constructor(
    private readonly kernels: KernelExports & QuantExports,
    private readonly memory: WebAssembly.Memory,
    private readonly pool: ThreadPool | undefined,
    private readonly plan: Plan,
    private readonly scratch: number,
    private readonly data: number,
    /** the threads quantizing (1: this one) */
    readonly threads: number,
  ) {}

  /** A quantizer on `threads` threads (fewer when the runtime has no threads or fewer cores). */
  static async create(options: QuantizerOptions = {}): Promise<Quantizer> {
    let n = Math.max(1, Math.floor(options.threads ?? 1));
    const support = n > 1 ? await threadSupport() : undefined;
    if (!support?.ok) n = 1;
    n = (await capThreads({ n, note: '' })).n;
    const module = await kernelModule(options.wasmModule, n > 1);
    const shared = isThreadsModule(module);
    if (!shared) n = 1;
    const layout = new Layout(RESERVED_BYTES);
    const ctl = shared ? layout.alloc(CTL_BYTES, 64) : 0;
    const planPtr = layout.alloc(OP_WORDS * 4, 64);
    const sync = shared ? layout.alloc(SYNC_BYTES, 64) : 0;
    const memory = createMemory(layout.size + 2 * PAGE, 'the quantizer', shared);
    const kernels = await instantiateKernels(module, memory) as KernelExports & QuantExports;
    const stride = Math.ceil(kernels.quantize_scratch_bytes() / 64) * 64;
    const scratch = layout.alloc(stride * n, 64);
    const data = layout.alloc(0, 64);
    let pool: ThreadPool | undefined;
    if (n > 1 && support?.ok) {
      pool = await ThreadPool.start(support.kind, module, memory, kernels as unknown as ThreadKernelExports, ctl, n, stride, sync, 1);
    }
    const plan = new Plan(new Views(memory), planPtr, 1, kernels);
    return new Quantizer(kernels, memory, pool, plan, scratch, data, pool ? n : 1);
  }

  /** Whether this quantizer writes `type` (the quantized block types; F32, F16, BF16 are conversions). */
  supports(type: number): boolean {
    return type === GGML_F32 || type === GGML_F16 || type === GGML_BF16 || this.kernels.quant_block_size(type) > 0;
  }

  /**
   * f32 values (rows laid end to end; a whole number of blocks) as `type`: byte for byte what
   * quantizeTensor writes. progress(done): values quantized so far, after each slice.
   */
  quantize(type: number, src: Float32Array, progress?: (done: number) => void): Uint8Array {
    if (this.closed) throw new WasmlmError('DISPOSED', 'the quantizer was disposed');
    const qk = this.kernels.quant_block_size(type);
    if (qk === 0) {
      const out = quantizeTensor(type, src); // the float conversions (or UNSUPPORTED_TYPE)
      progress?.(src.length);
      return out;
    }
    if (src.length % qk !== 0) {
      throw new WasmlmError('BAD_ARGUMENT', `quantize ${ggmlTypeName(type)}: ${src.length} values is not a multiple of the block size ${qk}`);
    }
    const bytesPerBlock = this.kernels.quant_block_bytes(type);
    const nb = src.length / qk;
    const out = new Uint8Array(nb * bytesPerBlock);
    const sliceBlocks = Math.max(1, Math.floor(SLICE_VALUES / qk));
    const maxBlocks = Math.min(nb, sliceBlocks);
    const x = this.data;
    const y = x + maxBlocks * qk * 4;
    this.reserve(y + maxBlocks * bytesPerBlock);
    for (let b0 = 0; b0 < nb; b0 += sliceBlocks) {
      const n = Math.min(sliceBlocks, nb - b0);
      new Float32Array(this.memory.buffer, x, n * qk).set(src.subarray(b0 * qk, (b0 + n) * qk));
      this.runOp(type, x, y, n);
      out.set(new Uint8Array(this.memory.buffer, y, n * bytesPerBlock), b0 * bytesPerBlock);
      progress?.((b0 + n) * qk);
    }
    return out;
  }

  /** Stops the worker threads. Idempotent. */
  dispose(): void {
    this.closed = true;
    this.pool?.terminate();
  }

  private runOp(type: number, x: number, y: number, nBlocks: number): void {
    const P = this.plan.reset();
    P.quantize({ type, x, out: y, nBlocks, scratch: this.scratch });
    if (this.pool) this.pool.run(P.opPtr(0), 1);
    else this.kernels.run(P.opPtr(0), 1);
  }

  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
}
