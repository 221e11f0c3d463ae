/**
 * An independent float64 forward pass for LLaMA-family GGUF files (RMSNorm, RoPE normal mode,
 * GQA, SwiGLU, optional sliding window), written plainly from the format's conventions. Used to
 * check what the fixtures' reference engine does not compute (sliding window for arch llama).
 */
import { readFileSync } from 'node:fs';
import { readGGUF } from '../../src/formats/gguf.js';
import { dequantize } from '../../src/formats/quantize.js';

export class LlamaReference {
  private constructor(
    private readonly t: Map<string, { data: Float64Array; ne: number[] }>,
    readonly dims: { E: number; L: number; H: number; Hkv: number; D: number; F: number; V: number; nRot: number; base: number; eps: number },
    readonly window: number,
    /** linear RoPE scaling: positions × freqScale */
    readonly freqScale: number,
    /** what the KV cache keeps of a key or value row (rounding to a cache type; default: the row itself) */
    readonly cacheRound: (row: Float64Array) => Float64Array,
  ) {}

  static async load(file: string, window = 0, freqScale = 1, cacheRound = (row: Float64Array) => row): Promise<LlamaReference> {
    const bytes = new Uint8Array(readFileSync(file));
    const h = await readGGUF(bytes);
    const t = new Map<string, { data: Float64Array; ne: number[] }>();
    for (const ti of h.tensors) {
      const raw = bytes.subarray(h.dataOffset + ti.offset, h.dataOffset + ti.offset + ti.nBytes);
      t.set(ti.name, { data: Float64Array.from(dequantize(ti.type, raw, ti.nElements)), ne: ti.ne });
    }
    const num = (k: string, d?: number) => { const v = h.metadata.get(k)?.value; return typeof v === 'number' ? v : d!; };
    const E = num('llama.embedding_length'), H = num('llama.attention.head_count');
    const D = E / H;
    return new LlamaReference(t, {
      E, L: num('llama.block_count'), H, Hkv: num('llama.attention.head_count_kv', H), D, F: num('llama.feed_forward_length'),
      V: t.get('token_embd.weight')!.ne[1]!, nRot: num('llama.rope.dimension_count', D), base: num('llama.rope.freq_base', 10000),
      eps: num('llama.attention.layer_norm_rms_epsilon', 1e-5),
    }, window, freqScale, cacheRound);
  }

  private w(name: string) { return this.t.get(name)!.data; }

  private static matvec(W: Float64Array, x: Float64Array, nIn: number, nOut: number): Float64Array {
    const y = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) { let s = 0; for (let i = 0; i < nIn; i++) s += W[o * nIn + i]! * x[i]!; y[o] = s; }
    return y;
  }

  private rmsnorm(x: Float64Array, w: Float64Array): Float64Array {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + this.dims.eps);
    return x.map((v, i) => v * inv * w[i]!);
  }

  private rope(x: Float64Array, heads: number, p: number): void {
    const { D, nRot, base } = this.dims;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < nRot / 2; i++) {
        const th = p * this.freqScale * Math.pow(base, (-2 * i) / nRot);
        const a = x[h * D + 2 * i]!, b = x[h * D + 2 * i + 1]!;
        x[h * D + 2 * i] = a * Math.cos(th) - b * Math.sin(th);
        x[h * D + 2 * i + 1] = a * Math.sin(th) + b * Math.cos(th);
      }
    }
  }

  /** Logits at every position of `tokens` (evaluated from position 0). */
  logits(tokens: number[]): Float64Array[] {
    const { E, L, H, Hkv, D, F, V } = this.dims;
    const K: Float64Array[][] = Array.from({ length: L }, () => []);
    const Vc: Float64Array[][] = Array.from({ length: L }, () => []);
    const out: Float64Array[] = [];
    const outW = this.t.has('output.weight') ? this.w('output.weight') : this.w('token_embd.weight');
    tokens.forEach((tok, p) => {
      let x = this.w('token_embd.weight').slice(tok * E, (tok + 1) * E);
      for (let l = 0; l < L; l++) {
        const b = `blk.${l}.`;
        const xn = this.rmsnorm(x, this.w(b + 'attn_norm.weight'));
        const q = LlamaReference.matvec(this.w(b + 'attn_q.weight'), xn, E, H * D);
        const k = LlamaReference.matvec(this.w(b + 'attn_k.weight'), xn, E, Hkv * D);
        const v = LlamaReference.matvec(this.w(b + 'attn_v.weight'), xn, E, Hkv * D);
        this.rope(q, H, p);
        this.rope(k, Hkv, p);
        K[l]!.push(this.cacheRound(k));
        Vc[l]!.push(this.cacheRound(v));
        const att = new Float64Array(H * D);
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / Hkv));
          const js: number[] = [];
          for (let j = 0; j <= p; j++) if (!(this.window > 0 && p - j >= this.window)) js.push(j);
          const sc = js.map((j) => { let s = 0; for (let d = 0; d < D; d++) s += q[h * D + d]! * K[l]![j]![g * D + d]!; return s / Math.sqrt(D); });
          const m = Math.max(...sc);
          const e = sc.map((s) => Math.exp(s - m));
          const z = e.reduce((a, c) => a + c, 0);
          js.forEach((j, idx) => { for (let d = 0; d < D; d++) att[h * D + d] += (e[idx]! / z) * Vc[l]![j]![g * D + d]!; });
        }
        const o = LlamaReference.matvec(this.w(b + 'attn_output.weight'), att, H * D, E);
        x = x.map((v2, i) => v2 + o[i]!);
        const xn2 = this.rmsnorm(x, this.w(b + 'ffn_norm.weight'));
        const g = LlamaReference.matvec(this.w(b + 'ffn_gate.weight'), xn2, E, F);
        const u = LlamaReference.matvec(this.w(b + 'ffn_up.weight'), xn2, E, F);
        const hdn = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
        const d = LlamaReference.matvec(this.w(b + 'ffn_down.weight'), hdn, F, E);
        x = x.map((v2, i) => v2 + d[i]!);
      }
      out.push(LlamaReference.matvec(outW, this.rmsnorm(x, this.w('output_norm.weight')), E, V));
    });
    return out;
  }
}
