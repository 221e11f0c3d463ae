/**
 * Forced tool calls on a real model (needs the grammar engine's responseFormat): with toolChoice
 * 'required' or a named function, at temperature 1 over many seeds, the reply is a call of a given
 * tool whose arguments validate against its parameter schema (ajv), in each template's format.
 */
import { readFileSync } from 'node:fs';
import { toolFormatOf } from '../src/generate/tools.js';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model, type ToolChoice, type ToolDefinition } from '../src/index.js';

const here = (rel: string) => new URL(`./fixtures/chat-templates/${rel}`, import.meta.url);
// short tools: stories260K's context is 512 tokens of a 512-token vocabulary
const TOOLS: ToolDefinition[] = [
  { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 99 }, b: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['a', 'b'], additionalProperties: false } } },
  { type: 'function', function: { name: 'say', parameters: { type: 'object', properties: { text: { type: 'string', maxLength: 10 }, loud: { type: 'boolean' } }, required: ['text'], additionalProperties: false } } },
];
// tinier ones for Mistral's template, which shows every schema in full
const TINY: ToolDefinition[] = [
  { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['n'], additionalProperties: false } } },
  { type: 'function', function: { name: 'say', parameters: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false } } },
];
/**
 * A short template in a format: the published Llama and Qwen ones, and the Hermes description given to
 * templates without tools, do not fit in 512 tokens of this vocabulary (tools.test.ts checks those prompts).
 */
const compact = (wrapper: string) =>
  "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if tools %}tools: {% for t in tools %}{{ t.function.name }} {% endfor %}" +
  `reply ${wrapper}\n{% endif %}assistant: `;
const TEMPLATES: Record<string, { chatTemplate: string; tools: ToolDefinition[] }> = {
  'Mistral Nemo': { chatTemplate: readFileSync(here('mistral-nemo-instruct-2407.jinja'), 'utf8'), tools: TINY },
  'Hermes format': { chatTemplate: compact('<tool_call>{"name", "arguments"}</tool_call>'), tools: TOOLS },
  'Llama 3.1 format': { chatTemplate: compact('{"name", "parameters"}'), tools: TOOLS },
};

let model: Model;
beforeAll(async () => { model = await loadModel(); });
afterAll(() => model.dispose());

describe('forced tool calls validate', () => {
  it('the compact templates are read as their formats', () => {
    expect(toolFormatOf(TEMPLATES['Hermes format']!.chatTemplate)).toBe('hermes');
    expect(toolFormatOf(TEMPLATES['Llama 3.1 format']!.chatTemplate)).toBe('llama3');
    expect(toolFormatOf(TEMPLATES['Mistral Nemo']!.chatTemplate)).toBe('mistral');
  });

  const ajv = new Ajv({ strict: false });
  for (const [label, { chatTemplate, tools }] of Object.entries(TEMPLATES)) {
    const validators = new Map(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters!)]));
    for (const toolChoice of ['required', { type: 'function', function: { name: 'say' } }] as ToolChoice[]) {
      it(`${label}, toolChoice ${JSON.stringify(toolChoice)}: 10 seeds`, async () => {
        for (let seed = 1; seed <= 10; seed++) {
          const r = await model.chat([{ role: 'user', content: 'Hi' }], { tools, toolChoice, chatTemplate, temperature: 1, seed, maxTokens: 100 });
          expect(r.finishReason, `seed ${seed}: ${r.text}`).toBe('tool_calls');
          expect(r.toolCalls!.length).toBeGreaterThan(0);
          for (const call of r.toolCalls!) {
            if (typeof toolChoice === 'object') expect(call.name).toBe('say');
            const validate = validators.get(call.name);
            expect(validate, call.name).toBeDefined();
            expect(validate!(JSON.parse(call.arguments)), `seed ${seed}: ${call.arguments}`).toBe(true);
          }
        }
      });
    }
  }
});
