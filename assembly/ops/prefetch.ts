// Decode streams every weight once per token, so it is bound by memory as soon as the weights do not fit
// in cache. Wasm has no prefetch instruction; touching one word per 64-byte line of the weight rows a few
// rows ahead makes those lines' cache misses overlap with the arithmetic on the current rows (measured on
// a 112 MiB Q8_0 matrix set: 1.2x; Q4_0, more arithmetic per byte: 1.08x; the K-quant kernels, whose
// arithmetic per byte is higher still, got slower with it (0.9x) and do not use it).

/** How far ahead of the rows being computed the decode kernels touch the weights. */
export const PREFETCH_ROWS = 8;

/**
 * Loads one u32 per 64 bytes of [from, min(to, end)) and returns them or-ed: a meaningless value, which
 * the caller stores where its own result overwrites it (so that the loads are not optimized away).
 */
// @ts-ignore: decorator
@inline export function touch(from: usize, to: usize, end: usize): u32 {
  let touched: u32 = 0;
  const stop = min<usize>(to, end);
  for (let p = from; p < stop; p += 64) touched |= load<u32>(p);
  return touched;
}
