import { describe, expect, it } from 'vitest';
import { argmax, rng, Sampler } from '../src/generate/sampler.js';
import { StopMatcher } from '../src/generate/stop.js';
import { WasmlmError } from '../src/errors.js';

function randomLogits(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 10);
}

function histogram(s: Sampler, logits: Float32Array, draws: number): Map<number, number> {
  const h = new Map<number, number>();
  for (let i = 0; i < draws; i++) {
    const id = s.sample(logits.slice(), []);
    h.set(id, (h.get(id) ?? 0) + 1);
  }
  return h;
}

describe('Sampler', () => {
  it('temperature 0 is argmax', () => {
    const l = randomLogits(1000, 1);
    expect(new Sampler({ temperature: 0 }).sample(l, [])).toBe(argmax(l));
  });

  it('topK keeps exactly the k best', () => {
    const l = randomLogits(5000, 2);
    const best = [...l.keys()].sort((a, b) => l[b]! - l[a]!).slice(0, 5);
    const h = histogram(new Sampler({ temperature: 5, topK: 5, topP: 1, minP: 0, seed: 1 }), l, 3000);
    expect([...h.keys()].every((id) => best.includes(id))).toBe(true);
    expect(h.size).toBe(5);
  });

  it('follows softmax(l / T) when no filter applies', () => {
    const l = Float32Array.from([0, 1, 2]);
    const T = 0.7;
    const p = [...l].map((x) => Math.exp(x / T));
    const z = p.reduce((a, b) => a + b);
    const n = 40000;
    const h = histogram(new Sampler({ temperature: T, topK: 0, topP: 1, minP: 0, seed: 9 }), l, n);
    for (let i = 0; i < 3; i++) expect(Math.abs((h.get(i) ?? 0) / n - p[i]! / z)).toBeLessThan(0.01);
  });

  it('topP keeps the smallest set reaching p; minP drops the unlikely', () => {
    const l = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    const top = histogram(new Sampler({ temperature: 1, topK: 0, topP: 0.8, minP: 0, seed: 3 }), l, 4000);
    expect([...top.keys()].sort()).toEqual([0, 1]);
    const min = histogram(new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0.2, seed: 3 }), l, 4000);
    expect([...min.keys()].sort()).toEqual([0, 1, 2]);
  });

  it('the heap (topK) and the full sort pick the same candidates in the same order', () => {
    // 50 live tokens scattered among 20000 dead ones: top-50 by heap = everything with mass
    const r = rng(4);
    const l = new Float32Array(20000).fill(-1000);
    for (let i = 0; i < 50; i++) l[Math.floor(r() * 20000)] = r() * 5;
    const a = new Sampler({ temperature: 1, topK: 50, topP: 1, minP: 0, seed: 11 });
    const b = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 11 });
    for (let i = 0; i < 200; i++) expect(a.sample(l.slice(), [])).toBe(b.sample(l.slice(), []));
  });

  it('repeat penalty lowers recent tokens', () => {
    const l = Float32Array.from([2, 1.9, -1]);
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.2 }).sample(l.slice(), [0])).toBe(1);
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.2, repeatLastN: 1 }).sample(l.slice(), [0, 2])).toBe(0);
  });

  it('the same seed draws the same sequence', () => {
    const l = randomLogits(3000, 5);
    const draw = (seed: number) => { const s = new Sampler({ temperature: 1, seed }); return Array.from({ length: 30 }, () => s.sample(l.slice(), [])); };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });

  it('every bit of a safe-integer seed counts; other seeds are refused', () => {
    const l = randomLogits(3000, 5);
    const draw = (seed: number) => { const s = new Sampler({ temperature: 1, seed }); return Array.from({ length: 30 }, () => s.sample(l.slice(), [])); };
    expect(draw(2 ** 32 + 1)).not.toEqual(draw(1));
    expect(draw(2 ** 40)).not.toEqual(draw(0));
    expect(draw(-1)).not.toEqual(draw(2 ** 32 - 1));
    expect(draw(Number.MAX_SAFE_INTEGER)).toEqual(draw(Number.MAX_SAFE_INTEGER));
    for (const seed of [1.5, 2 ** 53, NaN, '1' as unknown as number]) {
      expect(() => new Sampler({ seed })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/seed must be a safe integer/) }));
    }
  });

  it('rejects bad options', () => {
    expect(() => new Sampler({ temperature: NaN })).toThrow(WasmlmError);
    expect(() => new Sampler({ topK: -1 })).toThrow(/topK/);
    expect(() => new Sampler({ minP: 1.5 })).toThrow(/minP/);
    expect(() => new Sampler({ repeatPenalty: 0 })).toThrow(/repeatPenalty must be a number above 0/);
    expect(() => new Sampler({ repeatPenalty: -1 })).toThrow(/repeatPenalty/);
  });
});

describe('StopMatcher', () => {
  const run = (stops: string[], pieces: string[]) => {
    const m = new StopMatcher(stops);
    let out = '';
    for (const p of pieces) {
      const r = m.push(p);
      out += r.text;
      if (r.stopped) return { out, stopped: true };
    }
    return { out: out + m.flush(), stopped: false };
  };
  it('cuts before the stop string, across pieces', () => {
    expect(run(['END'], ['hello E', 'N', 'D more'])).toEqual({ out: 'hello ', stopped: true });
    expect(run(['\n\n'], ['a\n', '\nb'])).toEqual({ out: 'a', stopped: true });
  });
  it('releases held text that turned out not to be a stop', () => {
    expect(run(['END'], ['hello E', 'Nx', ' bye'])).toEqual({ out: 'hello ENx bye', stopped: false });
  });
  it('holds back nothing when no stop strings are given', () => {
    const m = new StopMatcher([]);
    expect(m.push('abc')).toEqual({ text: 'abc', stopped: false });
  });
  it('the earliest of several stops wins', () => {
    expect(run(['b', 'a'], ['xxab'])).toEqual({ out: 'xx', stopped: true });
  });
});
