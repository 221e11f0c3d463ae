/** Generation on the embedded model: the llama2.c reference story, sampling, stop strings, abort. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

let model: Model;
beforeAll(async () => { model = await loadModel(); });

describe('the embedded model', () => {
  it('is stories260K', () => {
    expect(model.info.family).toBe('llama');
    expect(model.info.name).toBe('stories260K');
    expect(model.info.layers).toBe(5);
    expect(model.info.vocabSize).toBe(512);
    expect(model.info.contextLength).toBe(512);
  });

  it('reproduces llama2.c greedy output byte for byte', async () => {
    const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8');
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 196 });
    expect('Once upon a time' + r.text).toBe(reference.replace(/\n$/, ''));
    const ids = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.ids.txt'), 'utf8')
      .trim().split(/\s+/).map(Number);
    expect(r.tokens).toEqual(ids.slice(4));
    expect(r.finishReason).toBe('length');
    expect(r.timings.generatedTokens).toBe(196);
  });

  it('reproduces llama2.c with no prompt (BOS only, 255 tokens)', async () => {
    const ids = readFileSync(fixture('stories260K/stories260K.runc.noprompt.n256.ids.txt'), 'utf8').trim().split(/\s+/).map(Number);
    const r = await model.complete([1], { temperature: 0, maxTokens: ids.length, ignoreEos: true });
    expect(r.tokens).toEqual(ids);
  });

  it('streams the same text as complete()', async () => {
    const pieces: string[] = [];
    for await (const p of model.generate('Once upon a time', { temperature: 0, maxTokens: 40 })) pieces.push(p);
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 40 });
    expect(pieces.join('')).toBe(r.text);
    expect(pieces.length).toBeGreaterThan(10);
  });
});

describe('sampling', () => {
  it('the same seed gives the same text; another seed another', async () => {
    const opts = { temperature: 1, topK: 0, topP: 1, minP: 0, maxTokens: 60 };
    const a = await model.complete('Once upon a time', { ...opts, seed: 42 });
    const b = await model.complete('Once upon a time', { ...opts, seed: 42 });
    const c = await model.complete('Once upon a time', { ...opts, seed: 7 });
    expect(a.text).toBe(b.text);
    expect(a.tokens).toEqual(b.tokens);
    expect(c.text).not.toBe(a.text);
  });

  it('topK 1 is greedy whatever the temperature', async () => {
    const greedy = await model.complete('Once upon a time', { temperature: 0, maxTokens: 30 });
    const k1 = await model.complete('Once upon a time', { temperature: 1.5, topK: 1, maxTokens: 30, seed: 3 });
    expect(k1.tokens).toEqual(greedy.tokens);
  });

  it('repeatPenalty changes greedy output away from repeats', async () => {
    const plain = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100 });
    const penalized = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100, repeatPenalty: 1.5 });
    expect(penalized.tokens).not.toEqual(plain.tokens);
    const distinct = (t: number[]) => new Set(t).size;
    expect(distinct(penalized.tokens)).toBeGreaterThan(distinct(plain.tokens));
  });

  it('stops at EOS unless ignoreEos', async () => {
    // with no prompt, the reference continuation contains a story end (EOS id 2 is never emitted by
    // llama2.c, which stops only on BOS; our sampler ends at any end-of-generation token)
    const r = await model.complete([1], { temperature: 0, maxTokens: 400 });
    expect(['eos', 'length']).toContain(r.finishReason);
    const all = await model.complete([1], { temperature: 0, maxTokens: 300, ignoreEos: true });
    expect(all.tokens.length).toBe(300);
  });
});

describe('API misuse is a WasmlmError', () => {
  it('decode(null), decode of a non-array', () => {
    for (const bad of [null, undefined, 5, 'abc', { length: 2 }]) {
      expect(() => model.tokenizer.decode(bad as never)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/expected an array of token ids to decode/) }));
    }
    expect(model.tokenizer.decode(new Int32Array([403, 407]))).toBe(model.tokenizer.decode([403, 407]));
  });

  it('repeatPenalty 0, a seed beyond 2^53', async () => {
    await expect(model.complete([1], { repeatPenalty: 0 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/repeatPenalty/) });
    await expect(model.complete([1], { seed: 2 ** 60 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/seed/) });
  });

  it('options of the wrong type: signal not an AbortSignal, ignoreEos not a boolean, a Symbol', async () => {
    for (const signal of [{}, 'x', 0, null]) {
      await expect(model.complete([1], { signal: signal as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/signal/) });
    }
    await expect(model.complete([1], { ignoreEos: 'x' as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/ignoreEos/) });
    await expect(model.complete([1], { topP: Symbol('s') as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/topP/) });
    await expect(loadModel(undefined, { signal: {} as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/signal/) });
    await expect(loadModel(undefined, null as never)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(model.generate([1, 2], null as never).next()).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/options/) });
    await expect(model.loadAdapter(fixture('models/llama.lora.gguf'), { scale: Symbol('s') as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/scale/) });
    await expect(loadModel(undefined, { contextLength: Symbol('s') as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('seeds 1 and 2^32 + 1 give different text', async () => {
    const opts = { temperature: 1, topK: 0, topP: 1, minP: 0, maxTokens: 40, ignoreEos: true };
    const a = await model.complete([1], { ...opts, seed: 1 });
    const b = await model.complete([1], { ...opts, seed: 2 ** 32 + 1 });
    expect(b.tokens).not.toEqual(a.tokens);
    expect((await model.complete([1], { ...opts, seed: 2 ** 32 + 1 })).tokens).toEqual(b.tokens);
  });
});

describe('stop strings and abort', () => {
  it('ends before the stop string, which is not included', async () => {
    const full = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100 });
    const at = full.text.indexOf('Lily');
    expect(at).toBeGreaterThan(0);
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100, stop: ['Lily'] });
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(full.text.slice(0, at));
  });

  it('with a stop string, tokens and text agree: the stop string is in neither', async () => {
    const full = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100 });
    for (const stop of ['.', 'Lily', full.text.slice(20, 31)]) {
      const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100, stop: [stop] });
      expect(r.finishReason).toBe('stop');
      expect(r.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
      // the kept tokens are the generated ones up to the first holding any of the stop string
      expect(r.tokens).toEqual(full.tokens.slice(0, r.tokens.length));
      const decoded = model.tokenizer.decode(r.tokens);
      expect(r.text.startsWith(decoded)).toBe(true);
      // the next token reaches into the stop string
      expect(model.tokenizer.decode(full.tokens.slice(0, r.tokens.length + 1)).length).toBeGreaterThan(r.text.length);
      expect(decoded).not.toContain(stop);
    }
  });

  it('a stop string split over several tokens is still found and never streamed', async () => {
    const full = await model.complete('Once upon a time', { temperature: 0, maxTokens: 100 });
    const stop = full.text.slice(20, 31);
    let streamed = '';
    for await (const p of model.generate('Once upon a time', { temperature: 0, maxTokens: 100, stop: [stop] })) streamed += p;
    expect(streamed).toBe(full.text.slice(0, full.text.indexOf(stop)));
  });

  it('AbortSignal ends generation with finishReason abort and keeps what was made', async () => {
    const ac = new AbortController();
    let n = 0;
    const it = model.generate('Once upon a time', { temperature: 0, maxTokens: 400, ignoreEos: true, signal: ac.signal });
    let step = await it.next();
    while (!step.done) {
      if (++n === 5) ac.abort();
      step = await it.next();
    }
    expect(step.value.finishReason).toBe('abort');
    expect(step.value.tokens.length).toBeLessThan(10);
    // the model stays usable
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 5 });
    expect(r.tokens.length).toBe(5);
  });

  it('a timer abort interrupts a long generation', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const r = await model.complete([1], { temperature: 0.8, maxTokens: 100000, ignoreEos: true, signal: ac.signal, seed: 1 });
    expect(r.finishReason === 'abort' || r.finishReason === 'context').toBe(true);
  });

  it('calls that share the model take turns', async () => {
    const [a, b] = await Promise.all([
      model.complete('Once upon a time', { temperature: 0, maxTokens: 20 }),
      model.complete('Once upon a time', { temperature: 0, maxTokens: 20 }),
    ]);
    expect(a.tokens).toEqual(b.tokens);
  });
});
