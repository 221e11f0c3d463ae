/** Chat templates from the model files, rendered with @huggingface/jinja, and model.chat. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CHATML_TEMPLATE, loadModel, loadTokenizer, renderChat, WasmlmError } from '../src/index.js';
import { chatIds } from '../src/generate/chat.js';
import { fixture } from './helpers/fixtures.js';

const readFileBytes = async (p: string) => new Uint8Array(await readFile(p));

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

  it('info.chatTemplate: whether the file carries a template', async () => {
    const { encodeGGUF, GGUFValueType, readGGUF } = await import('../src/index.js');
    const h = await readGGUF(fixture('models/llama.gguf'));
    expect((await loadModel(fixture('models/llama.gguf'))).info.chatTemplate).toBe(h.metadata.has('tokenizer.chat_template'));
    const metadata = new Map(h.metadata);
    metadata.set('tokenizer.chat_template', { type: GGUFValueType.STRING, value: "{{ messages[0]['content'] }}!" });
    const bytes = await readFileBytes(fixture('models/llama.gguf'));
    const tensors = h.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: bytes.subarray(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes) }));
    const withTemplate = await loadModel(encodeGGUF(metadata, tensors));
    expect(withTemplate.info.chatTemplate).toBe(true);
    expect(renderChat(withTemplate.tokenizer, [{ role: 'user', content: 'hi' }])).toBe('hi!');
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
    expect(model.info.chatTemplate).toBe(false);
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

  describe('hostile templates are bounded: a TEMPLATE_LIMIT error, the model usable after', () => {
    const msgs = [{ role: 'user', content: 'hi' }];
    const cases: [string, string, Record<string, number>][] = [
      ['range(10**9) (would allocate a billion items)', '{% for i in range(10**9) %}{% endfor %}ok', {}],
      ['range(5000000)|join', "{{ range(5000000)|join(',') }}", {}],
      ['nested loops (time)', '{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}', { templateTimeout: 200 }],
      ['a string doubled in a loop', "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", {}],
      ['a list doubled in a loop', '{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}', {}],
      ['output over templateMaxLength', "{% for i in range(100) %}{{ 'x' * 1 }}{{ messages[0].content }}{% endfor %}", { templateMaxLength: 50 }],
    ];
    it.each(cases)('%s', async (_name, chatTemplate, limits) => {
      const model = await loadModel();
      const e = await model.chat(msgs, { chatTemplate, maxTokens: 1, ...limits }).catch((x) => x);
      expect(e).toBeInstanceOf(WasmlmError);
      expect(e.code).toBe('TEMPLATE_LIMIT');
      expect(e.message).toMatch(/templateTimeout|templateMaxLength/);
      const r = await model.chat(msgs, { maxTokens: 3, temperature: 0 });
      expect(r.tokens.length).toBeGreaterThan(0);
    });

    it('the limits hold for a template from the file too', async () => {
      const tok = await loadTokenizer(fixture('tokenizers/ggml-vocab-phi-3.gguf'));
      const hostile = Object.create(tok, { chatTemplate: { value: '{% for i in range(10**9) %}{% endfor %}' } });
      expect(() => renderChat(hostile, msgs)).toThrow(expect.objectContaining({ code: 'TEMPLATE_LIMIT' }));
    });

    it('the same templates under the limits render', async () => {
      const tok = (await loadModel()).tokenizer;
      expect(renderChat(tok, msgs, { chatTemplate: "{{ range(3)|join(',') }}" })).toBe('0,1,2');
      expect(renderChat(tok, msgs, { chatTemplate: "{{ range(10, 0, -4)|join(',') }}" })).toBe('10,6,2');
      expect(renderChat(tok, msgs, { chatTemplate: '{{ range(4)|length }}', templateMaxLength: 4 })).toBe('4');
      expect(() => renderChat(tok, msgs, { chatTemplate: '{{ range(5)|length }}', templateMaxLength: 4 })).toThrow(/templateMaxLength/);
    });

    it('an aborted signal, bad limits, property walks', async () => {
      const tok = (await loadModel()).tokenizer;
      expect(() => renderChat(tok, msgs, { signal: AbortSignal.abort() })).toThrow(expect.objectContaining({ code: 'ABORTED' }));
      expect(() => renderChat(tok, msgs, { templateTimeout: 0 })).toThrow(/templateTimeout must be a positive number/);
      expect(() => renderChat(tok, msgs, { templateMaxLength: -1 })).toThrow(/templateMaxLength must be a positive number/);
      for (const walk of ['{{ messages.constructor.constructor }}', '{{ messages[0].__proto__ }}', "{{ messages[0]['constructor'] }}", '{{ range.constructor }}']) {
        const out = (() => { try { return renderChat(tok, msgs, { chatTemplate: walk }); } catch (e) { return e; } })();
        if (typeof out === 'string') expect(out).not.toMatch(/function|native code|Object/);
        else expect(out).toBeInstanceOf(WasmlmError);
      }
    });
  });
});
