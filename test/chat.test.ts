/** Chat templates from the model files, rendered with @huggingface/jinja, and model.chat. */
import { describe, expect, it } from 'vitest';
import { CHATML_TEMPLATE, loadModel, loadTokenizer, renderChat, WasmlmError } from '../src/index.js';
import { chatIds } from '../src/generate/chat.js';
import { fixture } from './helpers/fixtures.js';

describe('chat templates', () => {
  it('phi-3 (from the GGUF): rendered, special tokens read as tokens, one BOS', async () => {
    const tok = await loadTokenizer(fixture('tokenizers/ggml-vocab-phi-3.gguf'));
    const text = renderChat(tok, [{ role: 'user', content: 'Hello' }]);
    expect(text).toBe('<s><|user|>\nHello<|end|>\n<|assistant|>\n');
    const ids = chatIds(tok, text);
    expect(ids.filter((id) => id === tok.special.bos)).toHaveLength(1);
    expect(ids).toContain(tok.pieceToId('<|user|>'));
    expect(ids).toContain(tok.pieceToId('<|end|>'));
    expect(ids).toContain(tok.pieceToId('<|assistant|>'));
    expect(ids.indexOf(tok.pieceToId('<|assistant|>')!)).toBeGreaterThan(ids.indexOf(tok.pieceToId('<|end|>')!));
  });

  it('llama 3 (tokenizer.json + tokenizer_config.json)', async () => {
    const tok = await loadTokenizer(fixture('tokenizers/hf/llama3/tokenizer.json'));
    const text = renderChat(tok, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello' },
    ]);
    expect(text).toContain('<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>');
    expect(text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    const ids = chatIds(tok, text);
    expect(ids).toContain(tok.pieceToId('<|eot_id|>'));
    expect(tok.isEog(tok.pieceToId('<|eot_id|>')!)).toBe(true);
  });

  it('a model with no template gets ChatML', async () => {
    const model = await loadModel();
    expect(renderChat(model.tokenizer, [{ role: 'user', content: 'hi' }])).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(renderChat(model.tokenizer, [{ role: 'user', content: 'hi' }], { chatTemplate: CHATML_TEMPLATE, addGenerationPrompt: false }))
      .toBe('<|im_start|>user\nhi<|im_end|>\n');
  });

  it('model.chat and model.chatStream generate the reply', async () => {
    const model = await loadModel();
    const messages = [{ role: 'user', content: 'Tell me a story.' }];
    const r = await model.chat(messages, { temperature: 0, maxTokens: 20 });
    expect(r.tokens.length).toBeGreaterThan(0);
    let streamed = '';
    for await (const piece of model.chatStream(messages, { temperature: 0, maxTokens: 20 })) streamed += piece;
    expect(streamed).toBe(r.text);
  });

  it('bad messages and broken templates are WasmlmErrors', async () => {
    const model = await loadModel();
    await expect(model.chat([])).rejects.toMatchObject({ code: 'EMPTY_PROMPT' });
    await expect(model.chat([{ role: 'user' } as never])).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    const e = await model.chat([{ role: 'user', content: 'x' }], { chatTemplate: '{% for %}' }).catch((x) => x);
    expect(e).toBeInstanceOf(WasmlmError);
    expect(e.message).toMatch(/chat template/);
  });
});
