/**
 * model.openai() used through the `openai` package's own types: `npm run lint` (tsc over test/) checks
 * that its parameters accept what OpenAI's types describe and its results are assignable to OpenAI's.
 * The test then runs the same code.
 */
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';

describe('model.openai() through the openai package types', () => {
  it('parameters, results and chunks have the openai package\'s types', async () => {
    const model = await loadModel();
    const ai = model.openai();
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'developer', content: 'Tell a story.' },
      { role: 'user', content: [{ type: 'text', text: 'Once upon a time' }] },
    ];
    const params: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = { model: 'stories260K', messages, max_completion_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 1 };
    const completion: OpenAI.Chat.ChatCompletion = await ai.chat.completions.create(params);
    expect(completion.choices[0]!.logprobs!.content).toHaveLength(completion.usage!.completion_tokens);

    const streamParams: OpenAI.Chat.ChatCompletionCreateParamsStreaming = { model: 'stories260K', messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } };
    let text = '';
    for await (const chunk of await ai.chat.completions.create(streamParams)) {
      const c: OpenAI.Chat.ChatCompletionChunk = chunk;
      text += c.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(completion.choices[0]!.message.content);

    const legacy: OpenAI.Completion = await ai.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 4, temperature: 0 } satisfies OpenAI.CompletionCreateParamsNonStreaming);
    for await (const chunk of await ai.completions.create({ model: 'x', prompt: 'Once', max_tokens: 2, stream: true } satisfies OpenAI.CompletionCreateParamsStreaming)) {
      const c: Omit<OpenAI.Completion, 'choices'> = chunk;
      expect(c.object).toBe('text_completion');
    }
    const embedding: OpenAI.CreateEmbeddingResponse = await ai.embeddings.create({ model: 'x', input: 'Once' } satisfies OpenAI.EmbeddingCreateParams);
    const models: OpenAI.Model[] = (await ai.models.list()).data;
    expect([legacy.choices.length, embedding.data.length, models.length]).toEqual([1, 1, 1]);
    model.dispose();
  });
});
