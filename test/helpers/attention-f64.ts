/**
 * Causal attention in float64 over linear caches (row j = position j): the reference the attention kernels are
 * checked against. Score = q·k·scale, soft-capped (cap > 0: cap·tanh(s / cap)), plus ALiBi's slope(h)·(j − p);
 * keys j > p − window when window > 0; grouped-query heads share kv head h / (nHead / nKv).
 */
export function attentionF64(q: ArrayLike<number>, kc: ArrayLike<number>, vc: ArrayLike<number>, nTok: number, pos0: number, nHead: number,
  nKv: number, hd: number, scale: number, window: number, opts: { cap?: number; slope?: (h: number) => number } = {}): Float64Array {
  const group = nHead / nKv;
  const cap = opts.cap ?? 0;
  const out = new Float64Array(nTok * nHead * hd);
  for (let t = 0; t < nTok; t++) {
    const p = pos0 + t;
    const j0 = window > 0 ? Math.max(0, p - window + 1) : 0;
    for (let h = 0; h < nHead; h++) {
      const kh = Math.floor(h / group);
      const slope = opts.slope?.(h) ?? 0;
      const s: number[] = [];
      for (let j = j0; j <= p; j++) {
        let d = 0;
        for (let i = 0; i < hd; i++) d += q[(t * nHead + h) * hd + i]! * kc[(j * nKv + kh) * hd + i]!;
        const scaled = d * scale;
        s.push((cap > 0 ? cap * Math.tanh(scaled / cap) : scaled) + slope * (j - p));
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < hd; i++) {
        let a = 0;
        for (let j = j0; j <= p; j++) a += e[j - j0]! * vc[(j * nKv + kh) * hd + i]!;
        out[(t * nHead + h) * hd + i] = a / sum;
      }
    }
  }
  return out;
}
