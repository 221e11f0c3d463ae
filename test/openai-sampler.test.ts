/** The sampler's OpenAI-style options: logit bias, additive frequency / presence penalties, onSample. */
import { describe, expect, it } from 'vitest';
import { Sampler } from '../src/generate/sampler.js';

function seen(opts: ConstructorParameters<typeof Sampler>[0], logits: number[], history: number[]): { id: number; logits: number[] } {
  let got: number[] = [];
  const id = new Sampler({ temperature: 0, ...opts, onSample: (_id, l) => { got = Array.from(l); } }).sample(Float32Array.from(logits), history);
  return { id, logits: got };
}

describe('Sampler: OpenAI-style options', () => {
  it('frequency and presence penalties subtract count × frequency + presence, over the last repeatLastN tokens', () => {
    const r = seen({ frequencyPenalty: 0.5, presencePenalty: 0.25 }, [1, 1, 1, 1], [0, 0, 1, 0]);
    expect(r.logits).toEqual([1 - 3 * 0.5 - 0.25, 1 - 0.5 - 0.25, 1, 1]);
    expect(r.id).toBe(2);
    // the window: only the last 2 tokens count
    expect(seen({ frequencyPenalty: 1, repeatLastN: 2 }, [1, 1, 1, 1], [1, 1, 0, 0]).logits).toEqual([-1, 1, 1, 1]);
    // negative penalties favour repeats
    expect(seen({ presencePenalty: -2 }, [1, 1.5, 1, 1], [3]).id).toBe(3);
  });

  it('composes with the multiplicative repeat penalty (that first, as llama.cpp does)', () => {
    expect(seen({ repeatPenalty: 2, frequencyPenalty: 1 }, [4, -4, 0], [0, 1]).logits).toEqual([4 / 2 - 1, -4 * 2 - 1, 0]);
  });

  it('logitBias adds to the logits before anything else; ids outside the vocabulary are an error', () => {
    const r = seen({ logitBias: { 2: 5, 0: -100 } }, [3, 1, 0], []);
    expect(r.logits).toEqual([-97, 1, 5]);
    expect(r.id).toBe(2);
    expect(() => seen({ logitBias: { 9: 1 } }, [0, 0], [])).toThrow(/logitBias: token 9 is outside the vocabulary of 2/);
    expect(() => new Sampler({ logitBias: { x: 1 } as never })).toThrow(/logitBias: 'x' is not a token id/);
    expect(() => new Sampler({ logitBias: { 1: Number.NaN } })).toThrow(/logitBias\[1\] must be a finite number/);
  });

  it('rejects penalties that are not finite numbers, naming the option', () => {
    expect(() => new Sampler({ frequencyPenalty: Number.NaN })).toThrow(/frequencyPenalty must be a finite number/);
    expect(() => new Sampler({ presencePenalty: '1' as never })).toThrow(/presencePenalty must be a finite number/);
  });

  it('the draw at temperature > 0 sees the penalized logits (a penalty of 100 makes the token all but impossible)', () => {
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 3, presencePenalty: 100 });
    for (let i = 0; i < 200; i++) expect(s.sample(Float32Array.from([0, 0.1]), [1])).toBe(0);
  });
});
