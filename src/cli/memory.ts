/**
 * The CLI's own process: V8 settings that keep its JavaScript heap small beside a model in wasm memory, and
 * a full garbage collection once a model is loaded. Only the `wasmlm` command does this (it owns its process);
 * the library never touches V8's flags (issue 16 item 4: peak RSS ≤ file + KV cache + 64 MiB).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The young generation stays at its initial size (1 MiB semi-spaces on 64-bit V8) instead of growing to
 * 8–16 MiB: the CLI's JavaScript allocates little once a model is loaded (the tokens of a generation; the
 * compute is in wasm), so a bigger nursery only holds garbage. Measured: −6 to −7 MiB peak RSS in
 * `wasmlm bench`, no change in tokens/s or load time beyond noise. V8 reads this flag whenever the young
 * generation would grow, so setting it at run time takes effect (unlike --max-semi-space-size, fixed when
 * the heap is set up).
 */
export function leanHeap(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

let gc: (() => void) | undefined;

/**
 * A full (mark-compact) collection: what loading left behind (the GGUF header's 4 MiB read chunk, the
 * vocabulary's intermediate strings and arrays) is returned to the system now, not at some later GC that a
 * generation in wasm may never trigger. Call it after a model load.
 */
export function collectGarbage(): void {
  if (!gc) {
    // --expose-gc applies to contexts created after it: a new context's `gc` runs the isolate-wide collection
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
