/**
 * model.openai(): the openai package's client surface in-process. Text is checked against llama2.c's
 * greedy reference (completions) and against model.chat (chat: the mapping must not change the text);
 * logprobs against a log-softmax of model.logits (a batched evaluation, another path than decoding).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, OpenAIError, type Model } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8');
const messages = [{ role: 'system' as const, content: 'You tell stories.' }, { role: 'user' as const, content: 'Once upon a time' }];

function logSoftmax(row: Float32Array): number[] {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return Array.from(row, (v) => v - max - Math.log(sum));
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe('model.openai() in-process', () => {
  let model: Model;
  beforeAll(async () => { model = await loadModel(); });
  const ai = () => model.openai();

  it('completions.create at temperature 0 continues the prompt as llama2.c does; usage counts the tokens', async () => {
    const r = await ai().completions.create({ model: 'any', prompt: 'Once upon a time', max_tokens: 60, temperature: 0 });
    expect(r.object).toBe('text_completion');
    expect(r.id).toMatch(/^cmpl-/);
    expect(reference.startsWith('Once upon a time' + r.choices[0]!.text)).toBe(true);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 60, total_tokens: 65 });
    // OpenAI's default max_tokens for completions is 16; echo puts the prompt in front
    const d = await ai().completions.create({ prompt: 'Once upon a time', temperature: 0, echo: true });
    expect(d.usage!.completion_tokens).toBe(16);
    expect(reference.startsWith(d.choices[0]!.text)).toBe(true);
    expect(d.choices[0]!.text.startsWith('Once upon a time')).toBe(true);
  });

  it('completions: several prompts (text and token ids) give a choice each', async () => {
    const r = await ai().completions.create({ prompt: [[1, 403, 407, 261, 378], [1, 403, 407]], max_tokens: 10, temperature: 0 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(reference.startsWith('Once upon a time' + r.choices[0]!.text)).toBe(true);
    expect(r.usage!.prompt_tokens).toBe(8);
  });

  it('chat.completions.create: the text of model.chat; streamed = not streamed; chunk shapes and the usage chunk', async () => {
    const direct = await model.chat(messages, { temperature: 0, maxTokens: 40 });
    const r = await ai().chat.completions.create({ model: 'x', messages, temperature: 0, max_tokens: 40 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message).toEqual({ role: 'assistant', content: direct.text, refusal: null });
    expect(r.choices[0]!.finish_reason).toBe(direct.finishReason === 'eos' ? 'stop' : 'length');
    expect(r.usage.completion_tokens).toBe(direct.tokens.length);
    expect(r.usage.prompt_tokens).toBe(direct.timings.promptTokens);
    expect(r.choices[0]!.logprobs).toBeNull();

    const stream = await ai().chat.completions.create({ messages, temperature: 0, max_completion_tokens: 40, stream: true, stream_options: { include_usage: true } });
    const chunks = await collect(stream);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(direct.text);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: direct.tokens.length, prompt_tokens: direct.timings.promptTokens });
    const finish = chunks.at(-2)!;
    expect(finish.choices[0]!.finish_reason).toBe(r.choices[0]!.finish_reason);
    expect(chunks.slice(0, -1).every((c) => c.usage === null && c.id === chunks[0]!.id && c.object === 'chat.completion.chunk')).toBe(true);
  });

  it('the second request reuses the cached prompt: prompt_tokens_details.cached_tokens', async () => {
    await ai().chat.completions.create({ messages, temperature: 0, max_tokens: 2 });
    const r = await ai().chat.completions.create({ messages, temperature: 0, max_tokens: 2 });
    expect(r.usage.prompt_tokens_details!.cached_tokens).toBe(r.usage.prompt_tokens - 1);
  });

  it('logprobs: the log-softmax of the logits each token was drawn from (checked against model.logits)', async () => {
    const prompt = 'Once upon a time';
    const r = await ai().completions.create({ prompt, max_tokens: 6, temperature: 0, logprobs: 3 });
    const ids = model.tokenizer.encode(prompt, { addSpecial: true });
    const gen = model.tokenizer.encode(prompt + r.choices[0]!.text, { addSpecial: true }).slice(ids.length);
    const rows = await model.logits([...ids, ...gen]);
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens.join('')).toBe(r.choices[0]!.text);
    lp.token_logprobs.forEach((got, i) => {
      const want = logSoftmax(rows[ids.length - 1 + i]!);
      expect(got).toBeCloseTo(want[gen[i]!]!, 3);
      // greedy: the token is the most likely, and the alternatives are the next most likely
      const sorted = [...want].sort((a, b) => b - a);
      expect(Object.values(lp.top_logprobs[i]!).sort((a, b) => b - a).map((v) => v.toFixed(3))).toEqual(sorted.slice(0, 3).map((v) => v.toFixed(3)));
      expect(got).toBeCloseTo(sorted[0]!, 6);
    });
    expect(lp.text_offset[0]).toBe(0);
    expect(lp.text_offset[1]).toBe(lp.tokens[0]!.length);

    const chat = await ai().chat.completions.create({ messages, max_tokens: 5, temperature: 0.7, seed: 3, logprobs: true, top_logprobs: 2 });
    const content = chat.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(chat.usage.completion_tokens);
    expect(content.map((t) => t.token).join('')).toBe(chat.choices[0]!.message.content);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(2);
      expect(t.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(t.top_logprobs[1]!.logprob);
      expect(new TextDecoder().decode(Uint8Array.from(t.bytes!))).toBe(t.token);
    }
  });

  it('n choices with a seed: repeatable, each with its own seed', async () => {
    const params = { messages, n: 3, temperature: 1, seed: 7, max_tokens: 12 };
    const a = await ai().chat.completions.create(params);
    const b = await ai().chat.completions.create(params);
    expect(a.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(b.choices.map((c) => c.message.content)).toEqual(a.choices.map((c) => c.message.content));
    // choice i is what model.chat draws with seed + i under OpenAI's sampling (no top-k, no min-p)
    const direct = [];
    for (const seed of [7, 8, 9]) direct.push(await model.chat(messages, { temperature: 1, topK: 0, topP: 1, minP: 0, seed, maxTokens: 12 }));
    expect(a.choices.map((c) => c.message.content)).toEqual(direct.map((d) => d.text));
    expect(a.usage.completion_tokens).toBe(direct.reduce((s, d) => s + d.tokens.length, 0));
  });

  it('logit_bias, stop, frequency/presence penalties reach the sampler', async () => {
    const id = model.tokenizer.pieceToId('▁the')!;
    const forced = await ai().completions.create({ prompt: 'Once upon a time', temperature: 0, max_tokens: 4, logit_bias: { [id]: 100 } });
    expect(forced.choices[0]!.text).toBe(' the'.repeat(4));
    const stopped = await ai().completions.create({ prompt: 'Once upon a time', temperature: 0, max_tokens: 60, stop: ['.'] });
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    expect(reference.startsWith('Once upon a time' + stopped.choices[0]!.text + '.')).toBe(true);
    // penalties on the tokens seen change a greedy story (it repeats words otherwise)
    const plain = await ai().completions.create({ prompt: 'Once upon a time', temperature: 0, max_tokens: 60 });
    const penalized = await ai().completions.create({ prompt: 'Once upon a time', temperature: 0, max_tokens: 60, frequency_penalty: 2, presence_penalty: 2 });
    expect(penalized.choices[0]!.text).not.toBe(plain.choices[0]!.text);
  });

  it('embeddings: mean-pooled and normalised (= model.embed), as floats or base64', async () => {
    const r = await ai().embeddings.create({ model: 'x', input: ['Once upon a time', 'a cat'] });
    expect(r.data).toHaveLength(2);
    const want = await model.embed('a cat', { pooling: 'mean', normalize: true });
    expect(r.data[1]!.embedding).toEqual(Array.from(want));
    expect(r.usage.prompt_tokens).toBe(5 + model.tokenizer.encode('a cat', { addSpecial: true }).length);
    const b = await ai().embeddings.create({ input: 'a cat', encoding_format: 'base64' });
    const bytes = Uint8Array.from(atob(b.data[0]!.embedding as unknown as string), (c) => c.charCodeAt(0));
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual(Array.from(want));
  });

  it('models.list', async () => {
    expect((await ai().models.list()).data).toEqual([expect.objectContaining({ id: 'stories260K', object: 'model', owned_by: 'wasmlm' })]);
  });

  it('bad parameters: OpenAIError 400 invalid_request_error naming the parameter', async () => {
    const cases: Array<[unknown, string]> = [
      [{ messages, temperature: 3 }, 'temperature'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0]'],
      [{ messages, logit_bias: { 99999: 1 } }, 'logit_bias'],
      [{ messages, top_logprobs: 2 }, 'top_logprobs'],
      [{ messages, n: 0 }, 'n'],
      [{ messages, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ messages, max_tokens: 1.5 }, 'max_tokens'],
      [{ messages, stream_options: { include_usage: true } }, 'stream_options'],
    ];
    for (const [params, param] of cases) {
      const e = await ai().chat.completions.create(params as never).catch((x) => x);
      expect(e, param).toBeInstanceOf(OpenAIError);
      expect(e).toMatchObject({ status: 400, type: 'invalid_request_error', param, code: 'BAD_ARGUMENT' });
      expect(e.error).toEqual({ message: e.message, type: 'invalid_request_error', param, code: 'bad_argument' });
    }
    const long = await ai().completions.create({ prompt: 'x '.repeat(600) }).catch((x) => x);
    expect(long).toMatchObject({ status: 400, code: 'CONTEXT_FULL', openaiCode: 'context_length_exceeded' });
  });

  it('an AbortSignal in the request options stops the generation', async () => {
    const controller = new AbortController();
    const stream = await ai().chat.completions.create({ messages, temperature: 0, max_tokens: 200, stream: true }, { signal: controller.signal });
    let n = 0;
    const e = await (async () => { for await (const _ of stream) if (++n === 3) controller.abort(); })().catch((x) => x);
    expect(e).toMatchObject({ code: 'ABORTED' });
    expect(n).toBe(3);
    const before = new AbortController();
    before.abort();
    await expect(ai().completions.create({ prompt: 'x' }, { signal: before.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    // stream.controller stops it too
    const s2 = await ai().completions.create({ prompt: 'Once', max_tokens: 100, stream: true, temperature: 0 });
    let m = 0;
    await expect((async () => { for await (const _ of s2) if (++m === 2) s2.controller.abort(); })()).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
