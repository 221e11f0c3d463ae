/** Compiling and instantiating the kernel module, in any runtime. */
import { WasmlmError } from '../errors.js';

/** The kernel module's exports that the engine calls (see assembly/index.ts). */
export interface KernelExports {
  run(plan: number, nOps: number): void;
  act_bytes(type: number, nIn: number, nTok: number): number;
}

/** First bytes of memory belong to the module's own statics; the host allocates above. */
export const RESERVED_BYTES = 65536;

const WASM_URL = new URL('../../build/wasmlm.wasm', import.meta.url);

let defaultModule: Promise<WebAssembly.Module> | undefined;

/** The kernel module: the one given (edge runtimes cannot compile at run time), else compiled once per process. */
export function kernelModule(given?: WebAssembly.Module): Promise<WebAssembly.Module> {
  if (given) return Promise.resolve(given);
  defaultModule ??= compileDefault().catch((e) => {
    defaultModule = undefined;
    throw e;
  });
  return defaultModule;
}

async function compileDefault(): Promise<WebAssembly.Module> {
  try {
    if (WASM_URL.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      return await WebAssembly.compile(await readFile(WASM_URL));
    }
    const response = await fetch(WASM_URL);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    if (typeof WebAssembly.compileStreaming === 'function' &&
        response.headers.get('content-type')?.startsWith('application/wasm')) {
      return await WebAssembly.compileStreaming(response);
    }
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (e) {
    throw new WasmlmError('WASM_FAILED', `cannot load the kernel module from ${WASM_URL.href}: ${(e as Error).message}`, { cause: e });
  }
}

export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  try {
    const instance = await WebAssembly.instantiate(module, {
      env: {
        memory,
        abort: () => { throw new WasmlmError('WASM_FAILED', 'kernel aborted'); },
      },
    });
    return instance.exports as unknown as KernelExports;
  } catch (e) {
    throw new WasmlmError('WASM_FAILED', `cannot instantiate the kernel module: ${(e as Error).message}`, { cause: e });
  }
}
