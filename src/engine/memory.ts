/** Host-managed wasm memory: the layout is planned in numbers first, then one Memory of that size. */
import { WasmlmError } from '../errors.js';

export const PAGE = 65536;
/** wasm32: 65536 pages of 64 KiB */
export const MAX_MEMORY_BYTES = 65536 * PAGE;

/** A bump allocator over byte offsets; it only plans, it never touches memory. */
export class Layout {
  private top: number;
  constructor(start: number) {
    this.top = start;
  }
  alloc(bytes: number, align = 64): number {
    const ptr = Math.ceil(this.top / align) * align;
    this.top = ptr + bytes;
    return ptr;
  }
  get size(): number {
    return this.top;
  }
}

/**
 * One memory of at least `bytes`, growable to 4 GiB. shared: a shared memory (a SharedArrayBuffer) for
 * the threads builds, which import a shared memory; otherwise a plain one.
 */
export function createMemory(bytes: number, what: string, shared = false): WebAssembly.Memory {
  if (bytes > MAX_MEMORY_BYTES) {
    throw new WasmlmError(
      'TOO_LARGE',
      `${what} needs ${(bytes / 2 ** 20).toFixed(0)} MiB of wasm memory, more than the wasm32 limit of 4096 MiB`,
    );
  }
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: 65536, shared });
  } catch (e) {
    throw new WasmlmError('TOO_LARGE', `cannot allocate ${(bytes / 2 ** 20).toFixed(0)} MiB of wasm memory for ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** Typed views over a memory, refreshed if the buffer was replaced (memory.grow). */
export class Views {
  private buffer: ArrayBuffer | undefined;
  private _u8!: Uint8Array;
  private _i32!: Int32Array;
  private _f32!: Float32Array;
  constructor(readonly memory: WebAssembly.Memory) {}
  private refresh(): void {
    const b = this.memory.buffer as ArrayBuffer;
    if (b !== this.buffer) {
      this.buffer = b;
      this._u8 = new Uint8Array(b);
      this._i32 = new Int32Array(b);
      this._f32 = new Float32Array(b);
    }
  }
  get u8(): Uint8Array { this.refresh(); return this._u8; }
  get i32(): Int32Array { this.refresh(); return this._i32; }
  get f32(): Float32Array { this.refresh(); return this._f32; }
}
