/**
 * WASMLM_PROFILE (`wasmlm bench`): runs each plan op on its own and adds up the time per op kind
 * (matmuls per weight type and size), split into prefill (batches of several tokens) and decode. It
 * hooks the engine through the `runPlan` load option and reads the plans with the plan reader. The
 * per-op calls cost a little (and one hand-over per op with threads), so the totals are a bit above an
 * unprofiled run.
 */
import { REPACKED } from '../abi.js';
import type { EngineOptions } from '../engine/options.js';
import { rowBytes, typeName } from '../formats/ggml-types.js';

interface Entry { ms: number; n: number; bytes: number; flops: number }

export class OpProfile {
  private readonly times = new Map<string, Entry>();
  private readonly phases = { prefill: 0, decode: 0 };

  /** The load option that runs every plan op by op, timing each. */
  readonly runPlan: NonNullable<EngineOptions['runPlan']> = (plan, run) => {
    const ops = plan.read();
    const batch = Math.max(0, ...ops.filter((op) => op.name === 'matmul').map((op) => op.args.nTok!));
    const phase = batch > 1 ? 'prefill' : 'decode';
    const layout = (t: number) => typeName(t & ~REPACKED) + (t & REPACKED ? ' (repacked)' : '');
    const start = performance.now();
    ops.forEach((op, i) => {
      const a = op.args;
      let key = op.name;
      let bytes = 0;
      let flops = 0;
      if (op.name === 'matmul') {
        key = `matmul ${layout(a.type!)} ${a.nIn}x${a.nOut}`;
        try { bytes = rowBytes(a.type! & ~REPACKED, a.nIn!) * a.nOut!; } catch { bytes = 0; }
        flops = 2 * a.nIn! * a.nOut! * a.nTok!;
      } else if (op.name === 'prep_act') {
        key = `prep_act ${layout(a.type!)}`;
      }
      key = `${phase}  ${key}`;
      const t = performance.now();
      run(i, 1);
      const e = this.times.get(key) ?? this.times.set(key, { ms: 0, n: 0, bytes: 0, flops: 0 }).get(key)!;
      e.ms += performance.now() - t;
      e.n++;
      e.bytes += bytes;
      e.flops += flops;
    });
    this.phases[phase] += performance.now() - start;
  };

  /** The table: time per op kind, prefill first, largest first. */
  report(): string {
    const total = [...this.times.values()].reduce((a, e) => a + e.ms, 0);
    const pre = (k: string) => k.startsWith('prefill');
    const rows = [...this.times.entries()].sort((a, b) => (pre(a[0]) === pre(b[0]) ? b[1].ms - a[1].ms : pre(a[0]) ? -1 : 1));
    const out = [`WASMLM_PROFILE: ${total.toFixed(0)} ms in ops (prefill ${this.phases.prefill.toFixed(0)} ms, decode ${this.phases.decode.toFixed(0)} ms)`];
    for (const [k, e] of rows) {
      const ph = this.phases[pre(k) ? 'prefill' : 'decode'];
      out.push(`  ${k.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms ${((100 * e.ms) / ph).toFixed(1).padStart(5)}% of ${k.slice(0, 7).trim()}  ${String(e.n).padStart(6)} calls` +
        (e.bytes > 0 ? `  ${(e.bytes / e.ms / 1e6).toFixed(2).padStart(6)} GB/s of weights, ${(e.flops / e.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` : ''));
    }
    return out.join('\n') + '\n';
  }
}
