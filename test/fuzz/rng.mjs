/**
 * A seeded random source (sfc32). Every case is derived from (seed, kind, index) alone, so one
 * case replays without running the ones before it.
 */

/** 32-bit FNV-1a of a string. */
function fnv(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  constructor(seed, kind = '', index = 0) {
    this.a = fnv(`a${seed}`) ^ 0x9e3779b9;
    this.b = fnv(`b${kind}`);
    this.c = fnv(`c${index}`);
    this.d = (Number(index) + 1) >>> 0;
    for (let k = 0; k < 16; k++) this.u32();
  }

  u32() {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  float() { return this.u32() / 4294967296; }
  /** an integer in [lo, hi] */
  int(lo, hi) { return lo + Math.floor(this.float() * (hi - lo + 1)); }
  chance(p) { return this.float() < p; }
  pick(list) { return list[Math.floor(this.float() * list.length)]; }
  /** one of [weight, value] pairs */
  weighted(pairs) {
    let total = 0;
    for (const [w] of pairs) total += w;
    let x = this.float() * total;
    for (const [w, v] of pairs) if ((x -= w) < 0) return v;
    return pairs[pairs.length - 1][1];
  }
  /** a length biased towards small values, up to max */
  len(max) { return Math.min(max, Math.floor(2 ** (this.float() * Math.log2(max + 1))) ); }
}
