/**
 * Compiling and instantiating the kernel module, in any runtime.
 *
 * Two builds of the same kernels ship side by side: build/wasmlm.wasm (SIMD128) and
 * build/wasmlm.relaxed.wasm (SIMD128 + relaxed SIMD, faster K-quant / Q4_1 / Q5_1 kernels). The relaxed
 * build is chosen only when the engine validates a tiny relaxed-SIMD module AND the compiled relaxed
 * build passes a numeric self-test (a few matmuls on known data, compared with the exact integers).
 * Never by version sniffing: e.g. Node 20 has relaxed SIMD only behind a flag, and its baseline tier
 * computes i32x4.relaxed_dot_i8x16_i7x16_add_s wrong. Otherwise (or if anything about the relaxed build
 * fails) the plain SIMD build is used.
 *
 * Each has a threads twin (build/wasmlm.mt.wasm, build/wasmlm.relaxed.mt.wasm: the same kernels plus
 * run_job / worker_loop / run_mt, `--enable threads --sharedMemory`), which imports a SHARED memory. The
 * twins are loaded only when a model runs on several threads: a module that declares a shared memory
 * needs shared-memory support to compile and instantiate at all, which browsers give only to
 * cross-origin-isolated pages, so the single-thread builds stay free of it and work everywhere.
 */
import { WasmlmError } from '../errors.js';
import { GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, GGML_Q8_0 } from '../abi.js';

/** The kernel module's exports that the engine calls (see assembly/index.ts). */
export interface KernelExports {
  run(plan: number, nOps: number): void;
  act_bytes(type: number, nIn: number, nTok: number): number;
  /** the activation format weights of `type` read (weights whose formats agree share one prep) */
  act_format(type: number): number;
  /** where the op at byte offset `op` of a plan writes, and how many bytes (its entry, assembly/ops/) */
  op_writes_at(op: number): number;
  op_writes_bytes(op: number): number;
  /** repacks a loaded tensor in place; returns the layout code the kernels take from then on */
  repack(type: number, w: number, nRows: number, nIn: number, scratch: number): number;
  moe_scratch_bytes(nExpert: number, nEmbd: number, nFf: number, typeGate: number, typeUp: number, typeDown: number): number;
}

/** The threads builds' extra exports (see abi.ts, "threads"). */
export interface ThreadKernelExports extends KernelExports {
  run_job(ctl: number, plan: number, nOps: number): number;
  run_mt(plan: number, nOps: number, tid: number, nThreads: number, ctl: number): number;
  worker_loop(ctl: number, tid: number): void;
  thread_fail(ctl: number): void;
  threads_quit(ctl: number): void;
}

/** The exports the self-test uses. */
export interface SelfTestExports {
  act_bytes(type: number, nIn: number, nTok: number): number;
  repack(type: number, w: number, nRows: number, nIn: number, scratch: number): number;
  prep_act(type: number, x: number, act: number, nIn: number, nTok: number): void;
  matmul(type: number, w: number, act: number, y: number, nIn: number, nOut: number, nTok: number, r0: number, r1: number): void;
}

/** Which build of the kernels runs: plain SIMD128 or SIMD128 + relaxed SIMD. */
export type KernelVariant = 'simd' | 'relaxed-simd';

/** First bytes of memory belong to the module's own statics; the host allocates above. */
export const RESERVED_BYTES = 65536;

/**
 * Where a build of the kernels lies: next to this module (rollup rewrites the paths for dist/). Computed
 * only when a module is to be compiled, never when this module loads: where modules have no
 * import.meta.url (workerd's default module registry, wrangler) nothing can be located, and loading the
 * package must still work for callers who pass `wasmModule`. The `new URL('...', import.meta.url)`
 * expressions stay literal, so that bundlers find the assets by them.
 */
function kernelUrl(variant: KernelVariant, threads: boolean): URL {
  try {
    if (threads) {
      return variant === 'simd'
        ? new URL('../../build/wasmlm.mt.wasm', import.meta.url)
        : new URL('../../build/wasmlm.relaxed.mt.wasm', import.meta.url);
    }
    return variant === 'simd'
      ? new URL('../../build/wasmlm.wasm', import.meta.url)
      : new URL('../../build/wasmlm.relaxed.wasm', import.meta.url);
  } catch (e) {
    throw new WasmlmError('WASM_FAILED',
      'cannot locate the kernel module (wasmlm.wasm): this runtime gives wasmlm\'s module no import.meta.url ' +
      '(e.g. workerd without the new_module_registry compatibility flag); import wasmlm.wasm as a compiled ' +
      'WebAssembly.Module and pass it as the `wasmModule` option of loadModel', { cause: e });
  }
}

/** per flavour: [single-thread, threads] */
const defaultModules: [Promise<WebAssembly.Module> | undefined, Promise<WebAssembly.Module> | undefined] = [undefined, undefined];
let defaultVariant: KernelVariant | undefined;

/**
 * The kernel module: the one given (edge runtimes cannot compile at run time), else chosen and compiled
 * once per process; `threads`: the threads build (shared memory) instead of the single-thread one.
 */
export function kernelModule(given?: WebAssembly.Module, threads = false): Promise<WebAssembly.Module> {
  if (given) return Promise.resolve(given);
  const i = threads ? 1 : 0;
  const p = defaultModules[i] ?? selectKernelModule({ load: (v) => compileUrl(kernelUrl(v, threads)) })
    .then((choice) => {
      defaultVariant = choice.variant;
      return choice.module;
    })
    .catch((e) => {
      defaultModules[i] = undefined;
      throw e;
    });
  defaultModules[i] = p;
  return p;
}

/** Whether a compiled kernel module is a threads build (it imports a shared memory and exports worker_loop). */
export function isThreadsModule(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.exports(module).some((e) => e.name === 'worker_loop');
}

/**
 * The build kernelModule() chose for this process ('simd' or 'relaxed-simd'); undefined until the first
 * model load has chosen. A module passed in by the caller reports its own build: see kernelVariantOf.
 */
export function kernelVariant(): KernelVariant | undefined {
  return defaultVariant;
}

/** The build an instantiated kernel module is (it exports kernel_variant(): 0 plain, 1 relaxed). */
export function kernelVariantOf(exports: KernelExports): KernelVariant {
  const f = (exports as unknown as { kernel_variant?: () => number }).kernel_variant;
  return typeof f === 'function' && f() === 1 ? 'relaxed-simd' : 'simd';
}

export interface KernelChoice {
  module: WebAssembly.Module;
  variant: KernelVariant;
}

export interface SelectOptions {
  /** Compiles one build (in kernelModule: fetched/read from next to this file). */
  load(variant: KernelVariant): Promise<WebAssembly.Module>;
  /** The numeric check of the relaxed build (default: relaxedSelfTest). */
  selfTest?: (module: WebAssembly.Module) => Promise<boolean>;
}

/**
 * Picks the build: relaxed SIMD when this engine validates relaxed-SIMD code and the compiled relaxed
 * build passes the self-test; otherwise plain SIMD. The relaxed build is not even loaded when the
 * engine lacks relaxed SIMD. Edge runtimes that ship precompiled modules can call this with a `load`
 * that returns them.
 */
export async function selectKernelModule(options: SelectOptions): Promise<KernelChoice> {
  if (relaxedSimdSupported()) {
    try {
      const module = await options.load('relaxed-simd');
      if (await (options.selfTest ?? relaxedSelfTest)(module)) return { module, variant: 'relaxed-simd' };
    } catch {
      // a missing, uncompilable or failing relaxed build: use the plain one
    }
  }
  return { module: await options.load('simd'), variant: 'simd' };
}

// (module (func (result v128) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.const i64x2 0 0) (v128.const i64x2 0 0))))
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x2b, 0x01, 0x29, 0x00, // code section: one body of 41 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const
  0xfd, 0x92, 0x02, // i16x8.relaxed_dot_i8x16_i7x16_s (0xfd 0x112)
  0x0b, // end
]);

/** Whether this engine accepts relaxed-SIMD code (a feature test; says nothing about correctness). */
export function relaxedSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/**
 * Instantiates `module` on a small memory of its own and checks its matmul kernels on known data
 * (see selfTestKernels). False if anything throws.
 */
export async function relaxedSelfTest(module: WebAssembly.Module): Promise<boolean> {
  try {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 65536, shared: isThreadsModule(module) });
    const instance = await newInstance(module, kernelImports(memory));
    return selfTestKernels(instance.exports as unknown as SelfTestExports, memory);
  } catch {
    return false;
  }
}

/** One self-test weight type: its blocks, and the exact integer weight of element i of row o. */
interface SelfTestCase {
  type: number;
  nIn: number;
  block: number;
  /** bytes a block */
  bsz: number;
  /** writes block b of row o at p (every scale 1) */
  write(w: Uint8Array, dv: DataView, p: number, o: number, b: number): void;
  /** the weight of element i of row o, scales and mins applied: an integer */
  weight(o: number, i: number): number;
}

// the 4-bit quant of element i of row o, and Q4_K's sub-block scale and min
const nib = (o: number, i: number) => (i * 7 + o * 3 + (i >> 8) * 5) & 15;
const kScale = (o: number, s: number, j: number) => 1 + ((o + s + j) % 5);
const kMin = (o: number, s: number, j: number) => (o + 2 * s + j) % 4;
// Q8_0's quant of element i of row o: every value of an i8, −128 included
const q8 = (o: number, i: number) => ((i * 37 + o * 91) & 255) - 128;

const SELF_TEST_CASES: SelfTestCase[] = [
  { type: GGML_Q4_K, nIn: 512, block: 256, bsz: 144,
    write(w, dv, p, o, b) {
      dv.setUint16(p, 0x3c00, true); // d = 1
      dv.setUint16(p + 2, 0x3c00, true); // dmin = 1
      for (let j = 0; j < 4; j++) {
        w[p + 4 + j] = kScale(o, b, j);
        w[p + 8 + j] = kMin(o, b, j);
        w[p + 12 + j] = kScale(o, b, j + 4) | (kMin(o, b, j + 4) << 4);
      }
      for (let l = 0; l < 128; l++) {
        const pair = l >> 5, li = l & 31;
        w[p + 16 + l] = nib(o, b * 256 + pair * 64 + li) | (nib(o, b * 256 + pair * 64 + 32 + li) << 4);
      }
    },
    weight(o, i) {
      const s = i >> 8, j = (i >> 5) & 7;
      return kScale(o, s, j) * nib(o, i) - kMin(o, s, j);
    } },
  { type: GGML_Q4_1, nIn: 64, block: 32, bsz: 20,
    write(w, dv, p, o, b) {
      dv.setUint16(p, 0x3c00, true); // d = 1
      dv.setUint16(p + 2, 0, true); // m = 0
      for (let l = 0; l < 16; l++) w[p + 4 + l] = nib(o, b * 32 + l) | (nib(o, b * 32 + 16 + l) << 4);
    },
    weight: nib },
  { type: GGML_Q4_0, nIn: 64, block: 32, bsz: 18,
    write(w, dv, p, o, b) {
      dv.setUint16(p, 0x3c00, true); // d = 1
      for (let l = 0; l < 16; l++) w[p + 2 + l] = nib(o, b * 32 + l) | (nib(o, b * 32 + 16 + l) << 4);
    },
    weight: (o, i) => nib(o, i) - 8 },
  { type: GGML_Q8_0, nIn: 64, block: 32, bsz: 34,
    write(w, dv, p, o, b) {
      dv.setUint16(p, 0x3c00, true); // d = 1
      for (let l = 0; l < 32; l++) dv.setInt8(p + 2 + l, q8(o, b * 32 + l));
    },
    weight: q8 },
];

/**
 * Runs Q4_K (Q8_K act: relaxed pair dots, mins, two super-blocks), Q4_1 (Q8_1 act), and Q4_0 and Q8_0
 * (repacked as the engine loads them; the relaxed build's fused dots where the engine has them, Q8_0 with
 * −128 weights) matmuls of 3 rows × 5 tokens (a 4-token tile and a single token) on data chosen so that
 * every activation quantizes exactly to itself (|x| ≤ 127 integers, max |x| = 127 in every block: act
 * scale ±1) and every weight scale is 1: each output is an integer below 2^24, computed here exactly.
 * True if all agree. Uses memory above RESERVED_BYTES.
 */
export function selfTestKernels(k: SelfTestExports, memory: WebAssembly.Memory): boolean {
  const nOut = 3, nTok = 5;
  for (const { type: fileType, nIn, block, bsz, write, weight } of SELF_TEST_CASES) {
    const x = new Float32Array(nIn * nTok);
    for (let t = 0; t < nTok; t++) {
      for (let i = 0; i < nIn; i++) x[t * nIn + i] = ((i * 37 + t * 11 + 5) % 255) - 127;
      for (let b = 0; b < nIn / block; b++) x[t * nIn + b * block + ((t * 7 + b * 3) % block)] = t & 1 ? 127 : -127;
    }
    const w = new Uint8Array((nIn / block) * bsz * nOut);
    const dv = new DataView(w.buffer);
    const want = new Float64Array(nOut * nTok);
    for (let o = 0; o < nOut; o++) {
      for (let b = 0; b < nIn / block; b++) write(w, dv, (o * (nIn / block) + b) * bsz, o, b);
      for (let t = 0; t < nTok; t++) {
        let y = 0;
        for (let i = 0; i < nIn; i++) y += weight(o, i) * x[t * nIn + i]!;
        want[t * nOut + o] = y;
      }
    }
    const rowBytes = (nIn / block) * bsz;
    const fit = (end: number) => { if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536)); };
    const W = RESERVED_BYTES, S = W + ((w.length + 63) & ~63), X = S + ((rowBytes + 63) & ~63);
    const ACT = X + x.byteLength;
    fit(ACT);
    new Uint8Array(memory.buffer, W, w.length).set(w);
    // the layout the kernels take from now on, and the act it reads (sized for that layout)
    const type = k.repack(fileType, W, nOut, nIn, S);
    const Y = ACT + ((k.act_bytes(type, nIn, nTok) + 63) & ~63);
    fit(Y + nOut * nTok * 4);
    new Float32Array(memory.buffer, X, x.length).set(x);
    const y = new Float32Array(memory.buffer, Y, nOut * nTok);
    y.fill(NaN);
    k.prep_act(type, X, ACT, nIn, nTok);
    k.matmul(type, W, ACT, Y, nIn, nOut, nTok, 0, nOut);
    for (let i = 0; i < want.length; i++) if (y[i] !== want[i]) return false;
  }
  return true;
}

async function compileUrl(url: URL): Promise<WebAssembly.Module> {
  try {
    if (url.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      return await newModule(await readFile(url));
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    if (typeof WebAssembly.compileStreaming === 'function' &&
        response.headers.get('content-type')?.startsWith('application/wasm')) {
      return await WebAssembly.compileStreaming(response);
    }
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (e) {
    throw new WasmlmError('WASM_FAILED', `cannot load the kernel module from ${url.href}: ${(e as Error).message}`, { cause: e });
  }
}

/*
 * Why compiling and instantiating are synchronous where the runtime allows it (every runtime but a
 * browser's main thread, which refuses large synchronous compiles): an asynchronous
 * WebAssembly.compile/instantiate is a job of the engine's platform, not of the event loop, so while
 * a caller awaits it the event loop may have nothing left to wait for. Node then blocks its main
 * thread in NodePlatform::DrainTasks until every background job ends; a concurrent optimizing
 * (TurboFan) compile job that needs a garbage collection at that moment waits for the main thread,
 * which waits for it: the process hangs in a futex, forever, and no signal handler runs (seen as
 * nodejs/node#54918; a loop that loads and disposes models hit it in about 2 runs of 3 with three
 * such processes on two cores). A synchronous `new WebAssembly.Instance` leaves no such job and no
 * idle event loop, and costs nothing more: the module is compiled already, once per process.
 */

/** `new WebAssembly.Module(bytes)`; the asynchronous compile where a synchronous one is refused. */
async function newModule(bytes: BufferSource): Promise<WebAssembly.Module> {
  try {
    return new WebAssembly.Module(bytes);
  } catch (e) {
    if (e instanceof RangeError) return WebAssembly.compile(bytes); // a browser's main thread
    throw e;
  }
}

/** `new WebAssembly.Instance(module, imports)`; the asynchronous instantiate where a synchronous one is refused. */
async function newInstance(module: WebAssembly.Module, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  try {
    return new WebAssembly.Instance(module, imports);
  } catch (e) {
    if (e instanceof RangeError) return WebAssembly.instantiate(module, imports); // a browser's main thread
    throw e;
  }
}

/** One instance per module over a small memory of its own, for the kernels' pure size functions. */
const sizers = new WeakMap<WebAssembly.Module, Promise<KernelExports>>();

/**
 * The kernels' size functions (act_bytes, moe_scratch_bytes: they read no memory), from one instance
 * per module kept for the process: a model load does not make a throwaway instance and memory.
 */
export function sizingKernels(module: WebAssembly.Module): Promise<KernelExports> {
  let p = sizers.get(module);
  if (!p) {
    p = instantiateKernels(module, new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: isThreadsModule(module) }));
    p.catch(() => sizers.delete(module));
    sizers.set(module, p);
  }
  return p;
}

export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  try {
    const instance = await newInstance(module, kernelImports(memory));
    return instance.exports as unknown as KernelExports;
  } catch (e) {
    throw new WasmlmError('WASM_FAILED', `cannot instantiate the kernel module: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The kernel module's imports: env.memory, env.abort, and (threads builds) env.wait32(addr, expected) =
 * Atomics.wait on the i32 at addr (see assembly/threads.ts for why it is not the wasm instruction).
 * src/engine/worker.js builds the same object for the workers. @internal
 */
export function kernelImports(memory: WebAssembly.Memory): WebAssembly.Imports {
  let view: Int32Array | undefined;
  return {
    env: {
      memory,
      abort: () => { throw new WasmlmError('WASM_FAILED', 'kernel aborted'); },
      wait32: (addr: number, expected: number) => {
        const buffer = memory.buffer;
        if (view?.buffer !== buffer) view = new Int32Array(buffer);
        Atomics.wait(view, addr >>> 2, expected);
      },
    },
  };
}
