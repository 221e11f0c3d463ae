/**
 * Tool calling: the tools and tool messages rendered by published templates exactly as Python's jinja2
 * renders them the way transformers sets it up (test/fixtures/chat-templates/render-reference.py wrote
 * tools-rendered.json); the Hermes / Qwen description for templates without tools; the three reply
 * forms parsed; chat()'s result; the schema a forced call is generated under (checked with ajv).
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { CHATML_TEMPLATE, loadModel, loadTokenizer, renderChat, WasmlmError, type ChatMessage, type CompleteResult, type GenerateOptions, type Tokenizer, type ToolDefinition } from '../src/index.js';
import { chatIds } from '../src/generate/chat.js';
import { chatStream, hermesToolsText, newToolCallId, parseToolCalls, toolFormatOf, type ChatResult, type GenerateIds } from '../src/generate/tools.js';
import { collect } from './helpers/collect.js';
import { fixture } from './helpers/fixtures.js';

const here = (rel: string) => new URL(`./fixtures/chat-templates/${rel}`, import.meta.url);
const reference = JSON.parse(readFileSync(here('tools-rendered.json'), 'utf8')) as {
  tools: ToolDefinition[];
  cases: { template: string; tokenizer: string; case: string; messages: ChatMessage[]; text: string }[];
};
const TEMPLATES: Record<string, string> = {
  qwen3: JSON.parse(readFileSync(fixture('tokenizers/hf/qwen3/tokenizer_config.json'), 'utf8')).chat_template,
  'llama-3.2': readFileSync(here('llama-3.2-3b-instruct.jinja'), 'utf8'),
  'mistral-nemo': readFileSync(here('mistral-nemo-instruct-2407.jinja'), 'utf8'),
};
const tools = reference.tools;
const names = new Set(tools.map((t) => t.function.name));
/** (the Llama template writes today's date; the reference has DATE) */
const undated = (s: string) => s.replace(/Today Date: [^\n]*\n/, 'Today Date: DATE\n');

const tokenizers = new Map<string, Promise<Tokenizer>>();
const tokenizer = (rel: string) => {
  if (!tokenizers.has(rel)) tokenizers.set(rel, loadTokenizer(fixture(rel)));
  return tokenizers.get(rel)!;
};

/** A generate function that records what it was given and replies with `reply` (its tokens from the tokenizer). */
function scripted(tok: Tokenizer, reply: string, finishReason: CompleteResult['finishReason'] = 'eos') {
  const calls: { ids: number[]; options: GenerateOptions }[] = [];
  const generate: GenerateIds = (ids, options) => {
    calls.push({ ids, options });
    return (async function* () {
      const pieces = reply.match(/[\s\S]{1,3}/g) ?? [];
      for (const p of pieces) yield p;
      return {
        text: reply, tokens: tok.encode(reply, { addSpecial: false, parseSpecial: true }), finishReason,
        timings: { promptTokens: ids.length, cachedTokens: 0, promptMs: 0, generatedTokens: 0, generateMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 },
      } satisfies CompleteResult;
    })();
  };
  return { generate, calls };
}

async function drain(it: AsyncGenerator<string, ChatResult>): Promise<{ pieces: string[]; result: ChatResult }> {
  const { values, result } = await collect(it);
  return { pieces: values, result };
}

describe('tools in published chat templates (against Python jinja2 as transformers runs it)', () => {
  for (const c of reference.cases) {
    it(`${c.template}: ${c.case}`, async () => {
      const tok = await tokenizer(c.tokenizer);
      const text = renderChat(tok, c.messages, { chatTemplate: TEMPLATES[c.template], tools });
      expect(undated(text)).toBe(c.text);
      // chat({ tools }) sends that prompt
      const { generate, calls } = scripted(tok, 'Sunny.');
      await drain(chatStream(generate, tok, c.messages, { chatTemplate: TEMPLATES[c.template], tools }));
      expect(undated(tok.decode(calls[0]!.ids, { skipSpecial: false }))).toBe(undated(tok.decode(chatIds(tok, c.text), { skipSpecial: false })));
    });
  }

  it('each template\'s call format is read from its source', () => {
    expect(toolFormatOf(TEMPLATES.qwen3!)).toBe('hermes');
    expect(toolFormatOf(TEMPLATES['llama-3.2']!)).toBe('llama3');
    expect(toolFormatOf(TEMPLATES['mistral-nemo']!)).toBe('mistral');
    expect(toolFormatOf(CHATML_TEMPLATE)).toBe('hermes');
  });
});

describe('templates without tools: the Hermes / Qwen description in the system message', () => {
  it('ChatML renders what Qwen3\'s own template renders (tools, calls, results)', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    for (const c of reference.cases.filter((x) => x.template === 'qwen3')) {
      const { generate, calls } = scripted(tok, 'Sunny.');
      await drain(chatStream(generate, tok, c.messages, { chatTemplate: CHATML_TEMPLATE, tools }));
      expect(tok.decode(calls[0]!.ids, { skipSpecial: false })).toBe(c.text);
    }
  });

  it('no system message: one is added with the tools; a template that reads tools gets none added', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const { generate, calls } = scripted(tok, 'Hi.');
    await drain(chatStream(generate, tok, [{ role: 'user', content: 'Hi' }], { chatTemplate: CHATML_TEMPLATE, tools }));
    expect(tok.decode(calls[0]!.ids, { skipSpecial: false }))
      .toBe(`<|im_start|>system\n${hermesToolsText(tools)}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n`);
    const qwen = scripted(tok, 'Hi.');
    await drain(chatStream(qwen.generate, tok, [{ role: 'user', content: 'Hi' }], { chatTemplate: TEMPLATES.qwen3, tools }));
    expect(tok.decode(qwen.calls[0]!.ids, { skipSpecial: false }).split('# Tools').length).toBe(2);
  });

  it('an empty tools list: plain chat', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const { generate, calls } = scripted(tok, 'Hi.');
    const { result } = await drain(chatStream(generate, tok, [{ role: 'user', content: 'Hi' }], { chatTemplate: CHATML_TEMPLATE, tools: [] }));
    expect(tok.decode(calls[0]!.ids, { skipSpecial: false })).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(result).toMatchObject({ toolCalls: [], content: 'Hi.', finishReason: 'eos' });
  });

  it("toolChoice 'none': the tools are not shown and no call is read", async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const reply = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>';
    const { generate, calls } = scripted(tok, reply);
    const { result } = await drain(chatStream(generate, tok, [{ role: 'user', content: 'Hi' }], { chatTemplate: TEMPLATES.qwen3, tools, toolChoice: 'none' }));
    expect(tok.decode(calls[0]!.ids, { skipSpecial: false })).toBe(renderChat(tok, [{ role: 'user', content: 'Hi' }], { chatTemplate: TEMPLATES.qwen3 }));
    expect(result.toolCalls).toEqual([]);
    expect(result.finishReason).toBe('eos');
  });
});

describe('tool calls parsed from the reply', () => {
  const args = (s: string) => JSON.parse(s) as unknown;

  it('Hermes / Qwen <tool_call>: one, several, an unclosed last one; text around them is content', () => {
    const one = parseToolCalls('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', names);
    expect(one.toolCalls.map((c) => [c.name, args(c.arguments)])).toEqual([['get_weather', { city: 'Paris' }]]);
    expect(one.content).toBe('');
    const two = parseToolCalls('Let me check.\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>\n' +
      '<tool_call>{"name":"get_weather","arguments":{"city":"Rome","unit":"c"}}', names);
    expect(two.toolCalls.map((c) => [c.name, args(c.arguments)])).toEqual([['add', { a: 1, b: 2 }], ['get_weather', { city: 'Rome', unit: 'c' }]]);
    expect(two.content).toBe('Let me check.');
    // arguments written as a JSON string (some models do) are read as the object
    expect(args(parseToolCalls('<tool_call>{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}</tool_call>', names).toolCalls[0]!.arguments)).toEqual({ a: 1, b: 2 });
  });

  it('a call whose JSON does not parse is not a call: its text stays', () => {
    const r = parseToolCalls('<tool_call>\n{"name": "add", "arguments": {"a": 1,}\n</tool_call>', names);
    expect(r.toolCalls).toEqual([]);
    expect(r.content).toBe('<tool_call>\n{"name": "add", "arguments": {"a": 1,}\n</tool_call>');
    expect(parseToolCalls('<tool_call>{"arguments": {}}</tool_call>', names).toolCalls).toEqual([]);
    expect(parseToolCalls('<tool_call>{"name": "add", "arguments": {}} trailing</tool_call>', names).toolCalls).toEqual([]);
  });

  it('Llama 3.1: the reply is the call, {"name", "parameters"}, optionally after <|python_tag|>, several split by ;', () => {
    const r = parseToolCalls('{"name": "get_weather", "parameters": {"city": "Oslo"}}', names);
    expect(r.toolCalls.map((c) => [c.name, args(c.arguments)])).toEqual([['get_weather', { city: 'Oslo' }]]);
    const tagged = parseToolCalls('<|python_tag|>{"name": "add", "parameters": {"a": 1, "b": 2}}; {"name": "add", "parameters": {"a": 3, "b": 4}}', names);
    expect(tagged.toolCalls.map((c) => args(c.arguments))).toEqual([{ a: 1, b: 2 }, { a: 3, b: 4 }]);
    // JSON that names no tool, or text around the JSON, is an answer
    expect(parseToolCalls('{"name": "Bob", "parameters": {}}', names).toolCalls).toEqual([]);
    expect(parseToolCalls('Sure: {"name": "add", "parameters": {"a": 1, "b": 2}}', names).toolCalls).toEqual([]);
    expect(parseToolCalls('The answer is 4.', names)).toEqual({ toolCalls: [], content: 'The answer is 4.' });
  });

  it("Mistral [TOOL_CALLS]: a JSON array of calls, their ids kept", () => {
    const r = parseToolCalls('[TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "abcDEF123"}, {"name": "get_weather", "arguments": {"city": "Lima"}}]', names);
    expect(r.toolCalls.map((c) => [c.name, args(c.arguments)])).toEqual([['add', { a: 1, b: 2 }], ['get_weather', { city: 'Lima' }]]);
    expect(r.toolCalls[0]!.id).toBe('abcDEF123');
    expect(r.toolCalls[1]!.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(parseToolCalls('[TOOL_CALLS] [{"name": "add"', names).toolCalls).toEqual([]);
  });

  it('new call ids are 9 letters and digits (what Mistral\'s templates require)', () => {
    const ids = new Set(Array.from({ length: 50 }, newToolCallId));
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(ids.size).toBe(50);
  });
});

describe('chat({ tools }): the result', () => {
  it('a call: toolCalls, content, finishReason tool_calls; the pieces add up to text', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const reply = 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
    const { generate } = scripted(tok, reply);
    const { pieces, result } = await drain(chatStream(generate, tok, [{ role: 'user', content: 'Weather?' }], { chatTemplate: TEMPLATES.qwen3, tools }));
    expect(pieces.join('')).toBe(result.text);
    expect(result.text).toBe(reply);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.content).toBe('Checking.');
    expect(result.toolCalls!.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([['get_weather', { city: 'Paris' }]]);
  });

  it('an answer: no calls, finishReason as generation ended; cut by maxTokens: length, no call', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const answer = await drain(chatStream(scripted(tok, 'It is sunny.').generate, tok, [{ role: 'user', content: 'Weather?' }], { chatTemplate: TEMPLATES.qwen3, tools }));
    expect(answer.result).toMatchObject({ toolCalls: [], content: 'It is sunny.', finishReason: 'eos' });
    const cut = await drain(chatStream(scripted(tok, '<tool_call>\n{"name": "add", "argu', 'length').generate, tok,
      [{ role: 'user', content: 'Add' }], { chatTemplate: TEMPLATES.qwen3, tools }));
    expect(cut.result.toolCalls).toEqual([]);
    expect(cut.result.finishReason).toBe('length');
  });

  it('the call goes back as an assistant message with toolCalls, the result as a tool message', async () => {
    const tok = await tokenizer('tokenizers/hf/llama3/tokenizer.json');
    const { generate } = scripted(tok, '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}');
    const messages: ChatMessage[] = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await drain(chatStream(generate, tok, messages, { chatTemplate: TEMPLATES['llama-3.2'], tools }));
    expect(first.result.finishReason).toBe('tool_calls');
    const call = first.result.toolCalls![0]!;
    messages.push({ role: 'assistant', content: first.result.content!, toolCalls: first.result.toolCalls });
    messages.push({ role: 'tool', toolCallId: call.id, content: '{"temperature": 21}' });
    const text = renderChat(tok, messages, { chatTemplate: TEMPLATES['llama-3.2'], tools });
    expect(text).toContain('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}<|eot_id|>');
    // (a string "is iterable" in jinja: this template writes a tool result with tojson, as Python's jinja2 does)
    expect(text).toContain('<|start_header_id|>ipython<|end_header_id|>\n\n"{\\"temperature\\": 21}"<|eot_id|>');
  });

  it('a Mistral [TOOL_CALLS] reply (a control token: shown for parsing, not in text)', async () => {
    // llama-spm has no [TOOL_CALLS] token: the text form is read the same way
    const tok = await tokenizer('tokenizers/ggml-vocab-llama-spm.gguf');
    const reply = '[TOOL_CALLS][{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "xyzXYZ789"}]';
    const { result } = await drain(chatStream(scripted(tok, reply).generate, tok, [{ role: 'user', content: 'Add' }], { chatTemplate: TEMPLATES['mistral-nemo'], tools }));
    expect(result.toolCalls).toEqual([{ id: 'xyzXYZ789', name: 'add', arguments: '{"a":2,"b":3}' }]);
  });
});

describe("toolChoice 'required' / a named function: the call generated under a schema", () => {
  const ajv = new Ajv({ strict: false });
  const forced = async (template: string, tokRel: string, toolChoice: 'required' | { type: 'function'; function: { name: string } }) => {
    const tok = await tokenizer(tokRel);
    const { generate, calls } = scripted(tok, '');
    await drain(chatStream(generate, tok, [{ role: 'user', content: 'Weather in Paris?' }], { chatTemplate: TEMPLATES[template], tools, toolChoice }));
    const { ids, options } = calls[0]!;
    const rf = (options as { responseFormat?: { type: string; schema: object } }).responseFormat!;
    expect(rf.type).toBe('json_schema');
    return { prompt: tok.decode(ids, { skipSpecial: false }), validate: ajv.compile(rf.schema) };
  };

  it('Hermes: the turn opens with <tool_call>; the JSON is { name, arguments } of one of the tools', async () => {
    const { prompt, validate } = await forced('qwen3', 'tokenizers/hf/qwen3/tokenizer.json', 'required');
    expect(prompt.endsWith('<|im_start|>assistant\n<tool_call>\n')).toBe(true);
    expect(validate({ name: 'get_weather', arguments: { city: 'Paris' } })).toBe(true);
    expect(validate({ name: 'add', arguments: { a: 1, b: 2 } })).toBe(true);
    expect(validate({ name: 'add', arguments: { city: 'Paris' } })).toBe(false);
    expect(validate({ name: 'get_weather', arguments: { city: 'Paris', unit: 'k' } })).toBe(false);
    expect(validate({ name: 'nope', arguments: {} })).toBe(false);
  });

  it('a named function: only that one', async () => {
    const { validate } = await forced('qwen3', 'tokenizers/hf/qwen3/tokenizer.json', { type: 'function', function: { name: 'add' } });
    expect(validate({ name: 'add', arguments: { a: 1, b: 2 } })).toBe(true);
    expect(validate({ name: 'get_weather', arguments: { city: 'Paris' } })).toBe(false);
  });

  it('Llama 3.1: { name, parameters }; Mistral: [TOOL_CALLS][ then the call', async () => {
    const llama = await forced('llama-3.2', 'tokenizers/hf/llama3/tokenizer.json', 'required');
    expect(llama.prompt.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    expect(llama.validate({ name: 'add', parameters: { a: 1, b: 2 } })).toBe(true);
    expect(llama.validate({ name: 'add', arguments: { a: 1, b: 2 } })).toBe(false);
    const mistral = await forced('mistral-nemo', 'tokenizers/ggml-vocab-llama-spm.gguf', 'required');
    expect(mistral.prompt.endsWith('[/INST][TOOL_CALLS][')).toBe(true);
    expect(mistral.validate({ name: 'add', arguments: { a: 1, b: 2 } })).toBe(true);
    expect(mistral.validate([{ name: 'add', arguments: { a: 1, b: 2 } }])).toBe(false);
  });

  it('parameters with references ($defs, definitions, #): moved to the root, still pointing where they did', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const tree: ToolDefinition = { type: 'function', function: { name: 'tree', parameters: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { root: { $ref: '#/$defs/node' }, color: { $ref: '#/definitions/color' }, same: { $ref: '#/properties/color' } },
      required: ['root'],
      $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['v'], additionalProperties: false } },
      definitions: { color: { enum: ['red', 'blue'] } },
    } } };
    const { generate, calls } = scripted(tok, '');
    await drain(chatStream(generate, tok, [{ role: 'user', content: 'x' }], { chatTemplate: TEMPLATES.qwen3, tools: [tools[1]!, tree], toolChoice: 'required' }));
    const schema = (calls[0]!.options as { responseFormat: { schema: object } }).responseFormat.schema;
    expect(JSON.stringify(schema)).not.toContain('$schema');
    const validate = ajv.compile(schema);
    expect(validate({ name: 'tree', arguments: { root: { v: 1, kids: [{ v: 2, kids: [] }] }, color: 'red', same: 'blue' } })).toBe(true);
    expect(validate({ name: 'tree', arguments: { root: { v: 1, kids: [{ kids: [] }] } } })).toBe(false);
    expect(validate({ name: 'tree', arguments: { root: { v: 1 }, same: 'green' } })).toBe(false);
    expect(validate({ name: 'add', arguments: { a: 1, b: 2 } })).toBe(true);
    const remote: ToolDefinition = { type: 'function', function: { name: 'r', parameters: { $ref: 'https://example.com/s.json' } } };
    expect(() => chatStream(generate, tok, [{ role: 'user', content: 'x' }], { tools: [remote], toolChoice: 'required' }))
      .toThrow(/only references inside the schema/);
  });

  it('the stream begins with the opening text and ends with the closing text', async () => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    const json = '{"name": "add", "arguments": {"a": 1, "b": 2}}';
    const { pieces, result } = await drain(chatStream(scripted(tok, json, 'stop').generate, tok, [{ role: 'user', content: 'Add' }],
      { chatTemplate: TEMPLATES.qwen3, tools, toolChoice: 'required' }));
    expect(pieces[0]).toBe('<tool_call>\n');
    expect(pieces[pieces.length - 1]).toBe('\n</tool_call>');
    expect(pieces.join('')).toBe(result.text);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.toolCalls!.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([['add', { a: 1, b: 2 }]]);
  });
});

describe('tool options: errors', () => {
  const bad = async (options: object, pattern: RegExp, messages: ChatMessage[] = [{ role: 'user', content: 'x' }]) => {
    const tok = await tokenizer('tokenizers/hf/qwen3/tokenizer.json');
    try {
      chatStream(scripted(tok, '').generate, tok, messages, options);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(WasmlmError);
      expect((e as WasmlmError).code).toBe('BAD_ARGUMENT');
      expect((e as Error).message).toMatch(pattern);
    }
  };
  it('each bad option is named', async () => {
    await bad({ tools: {} }, /tools must be an array/);
    await bad({ tools: [{ type: 'function' }] }, /tools\[0\] must be/);
    await bad({ tools: [{ type: 'function', function: { name: 'a b' } }] }, /tools\[0\]\.function\.name/);
    await bad({ tools: [...tools, tools[0]] }, /tools\[2\]: a second tool named "get_weather"/);
    await bad({ tools: [{ type: 'function', function: { name: 'f', parameters: 3 } }] }, /tools\[0\]\.function\.parameters/);
    await bad({ tools, toolChoice: 'always' }, /toolChoice must be/);
    await bad({ tools, toolChoice: { type: 'function', function: { name: 'nope' } } }, /"nope", which is not in tools/);
    await bad({ tools: [], toolChoice: 'required' }, /needs at least one tool/);
    await bad({ toolChoice: 'required' }, /toolChoice needs tools/);
    await bad({ tools, toolChoice: 'required', responseFormat: { type: 'json_object' } }, /responseFormat cannot be combined with tools/);
    await bad({ tools }, /toolCalls\[0\]: arguments is not JSON/, [{ role: 'assistant', content: '', toolCalls: [{ id: 'a', name: 'add', arguments: '{' }] }]);
    await bad({ tools }, /message 0: toolCallId must be a string/, [{ role: 'tool', content: '1', toolCallId: 5 as unknown as string }]);
  });
});

describe('model.chat with tools', () => {
  it('a real model: the prompt carries the tools; the reply is read (stories260K, ChatML)', async () => {
    const model = await loadModel(); // stories260K: no template, so ChatML (and a context of 512: one tool)
    const one = [tools[1]!];
    const r = await model.chat([{ role: 'user', content: 'Add 1 and 2.' }], { tools: one, temperature: 1, seed: 3, maxTokens: 8 });
    expect(r.timings.promptTokens).toBe(chatIds(model.tokenizer, renderChat(model.tokenizer,
      [{ role: 'system', content: hermesToolsText(one) }, { role: 'user', content: 'Add 1 and 2.' }])).length);
    expect(r.toolCalls).toEqual([]); // (a story model writes no call)
    expect(r.content).toBe(r.text.trim());
    expect(r.finishReason).toBe('length');
    model.dispose();
  });
});
