/**
 * The CLI's own process: a V8 setting that keeps its JavaScript heap small beside a model in wasm memory. Only
 * the `wasmlm` command does this (it owns its process); the library never touches V8's flags (issue 16 item 4:
 * peak RSS ≤ file + KV cache + 64 MiB). (A full collection after the model loads was measured too: no gain
 * beyond the run-to-run noise of ~1 MiB once the young generation stays small, so there is none.)
 */
import { setFlagsFromString } from 'node:v8';

/**
 * The young generation stays at its initial size (1 MiB semi-spaces on 64-bit V8) instead of growing to
 * 8–16 MiB: the CLI's JavaScript allocates little once a model is loaded (the tokens of a generation; the
 * compute is in wasm), so a bigger nursery only holds garbage. Measured in `wasmlm bench` (stories110m Q4_0):
 * −6 MiB peak RSS at 1 thread, −4.5 at 2. V8 reads this flag whenever the young
 * generation would grow, so setting it at run time takes effect (unlike --max-semi-space-size, fixed when
 * the heap is set up).
 */
export function leanHeap(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
