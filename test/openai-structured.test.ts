/**
 * model.openai() with response_format and tools (the shared suite, test/helpers/openai-structured.ts; serve.test.ts
 * runs it over HTTP), json_schema on random-weight models at temperature 1, streamed logprobs with a stop
 * string, and logprobs on a model whose onSample hook is out of reach (the browser's worker model).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAI, loadModel, OpenAIError, type Model } from '../src/index.js';
import { checkJson, COMPACT_HERMES, PET, structuredSuite } from './helpers/openai-structured.js';
import { fixture } from './helpers/fixtures.js';

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

let model: Model;
beforeAll(async () => { model = await loadModel(); });
afterAll(() => model.dispose());

describe('createOpenAI(model, { chatTemplate }): response_format and tools', () => {
  structuredSuite(() => createOpenAI(model, { chatTemplate: COMPACT_HERMES }) as never);
});

describe('json_schema on random-weight models at temperature 1 (model.openai())', () => {
  for (const rel of ['models/llama.gguf', 'set3/llama.gguf']) {
    it(`${rel}: n = 4 × 3 seeds, every choice that ends validates, one cut is a prefix`, async () => {
      const m = await loadModel(fixture(rel));
      let ended = 0;
      try {
        for (const seed of [1, 2, 3]) {
          // a short prompt: the context is 128 tokens
          const r = await m.openai().chat.completions.create({
            model: 'x', messages: [{ role: 'user', content: 'Pet?' }], n: 4, seed, temperature: 1, max_tokens: 100,
            response_format: { type: 'json_schema', json_schema: { name: 'pet', schema: PET, strict: true } },
          });
          expect(r.choices).toHaveLength(4);
          for (const c of r.choices) if (checkJson(PET, c.message.content, c.finish_reason, `seed ${seed} choice ${c.index}`)) ended++;
        }
      } finally { m.dispose(); }
      // noise writes whitespace between tokens: most values still end within 100 tokens
      expect(ended).toBeGreaterThan(6);
    }, 120_000);
  }
});

describe('logprobs', () => {
  it('streamed with a stop string: the chunks carry the tokens of the text sent, none of the stop string (= not streamed)', async () => {
    const ai = model.openai();
    // stop strings that begin inside a token: the text before them goes out while the token's last
    // character is held back, then the next token completes the stop string and both tokens are dropped
    const free = await ai.completions.create({ prompt: 'Once upon a time', max_tokens: 80, temperature: 0, logprobs: 0 });
    const pieces = free.choices[0]!.logprobs!.tokens;
    const stops: string[][] = [];
    let before = '';
    for (let i = 0; i + 1 < pieces.length && stops.length < 3; before += pieces[i]!, i++) {
      const stop = pieces[i]!.slice(-1) + pieces[i + 1]!;
      if (pieces[i]!.length >= 2 && !(before + pieces[i]! + pieces[i + 1]!).slice(0, -1).includes(stop)) stops.push([stop]);
    }
    expect(stops).toHaveLength(3);
    for (const stop of [...stops, ['.']]) {
      const params = { prompt: 'Once upon a time', max_tokens: 80, temperature: 0, logprobs: 2, stop };
      const plain = await ai.completions.create(params);
      expect(plain.choices[0]!.finish_reason, JSON.stringify(stop)).toBe('stop');
      const chunks = await collect(await ai.completions.create({ ...params, stream: true }));
      const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
      expect(text).toBe(plain.choices[0]!.text);
      const tokens = chunks.flatMap((c) => c.choices[0]?.logprobs?.tokens ?? []);
      expect(tokens).toEqual(plain.choices[0]!.logprobs!.tokens);
      // (a token with text before the stop string and some of it is dropped, as model.complete's tokens drop it)
      expect(text.startsWith(tokens.join('')), `${JSON.stringify(tokens)} in ${JSON.stringify(text)}`).toBe(true);
      // each chunk's tokens are within the text sent so far
      let sent = '';
      let reported = '';
      for (const c of chunks) {
        sent += c.choices[0]?.text ?? '';
        reported += (c.choices[0]?.logprobs?.tokens ?? []).join('');
        expect(sent.startsWith(reported), `${JSON.stringify(reported)} beyond ${JSON.stringify(sent)}`).toBe(true);
      }

      const messages = [{ role: 'user' as const, content: 'Once upon a time' }];
      const chat = { messages, max_tokens: 80, temperature: 0, logprobs: true, stop };
      const whole = await ai.chat.completions.create(chat);
      const parts = await collect(await ai.chat.completions.create({ ...chat, stream: true }));
      const content = parts.flatMap((c) => c.choices[0]?.logprobs?.content ?? []).map((t) => t.token);
      expect(content).toEqual(whole.choices[0]!.logprobs!.content!.map((t) => t.token));
      expect(whole.choices[0]!.message.content!.startsWith(content.join(''))).toBe(true);
    }
  });

  it('a model without the onSample hook (the browser worker model): a 400 naming logprobs, before generating', async () => {
    let generated = 0;
    const worker = {
      info: model.info, tokenizer: model.tokenizer, sampleHook: false,
      embed: model.embed.bind(model),
      generate: (...a: Parameters<Model['generate']>) => { generated++; return model.generate(...a); },
      chatStream: (...a: Parameters<Model['chatStream']>) => { generated++; return model.chatStream(...a); },
    };
    const ai = createOpenAI(worker);
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    for (const call of [
      () => ai.chat.completions.create({ messages, logprobs: true }),
      () => ai.chat.completions.create({ messages, logprobs: true, top_logprobs: 2, stream: true }).then(collect),
      () => ai.completions.create({ prompt: 'Hi', logprobs: 1 }),
    ]) {
      const e = await call().then(() => { throw new Error('no error'); }, (x: unknown) => x);
      expect(e).toBeInstanceOf(OpenAIError);
      expect(e).toMatchObject({ status: 400, param: 'logprobs', code: 'BAD_ARGUMENT' });
      expect((e as Error).message).toMatch(/^logprobs: .*worker/);
    }
    expect(generated).toBe(0);
    // without logprobs it generates
    const r = await ai.chat.completions.create({ messages, max_tokens: 3, temperature: 0 });
    expect(r.choices[0]!.message.content).toBe((await model.chat(messages, { temperature: 0, topK: 0, topP: 1, minP: 0, maxTokens: 3 })).text);
  });
});
