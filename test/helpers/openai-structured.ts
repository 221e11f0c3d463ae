/**
 * response_format and tools through the real `openai` client (in-process: createOpenAI / model.openai();
 * over HTTP: wasmlm serve), on stories260K. Tools need a template that shows them in few tokens (the Hermes
 * fallback's description alone nearly fills its 512-token context): COMPACT_HERMES, a Hermes-format template
 * (createOpenAI's chatTemplate, serve's --chat-template). Every JSON reply that ends is parsed and validated
 * with ajv against the request's schema; one cut at max_tokens is a prefix of the schema's grammar.
 */
import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { expect, it } from 'vitest';
import { CompiledGrammar, parseGbnf, schemaToGbnf } from '../../src/grammar/index.js';

export const COMPACT_HERMES_FILE = fileURLToPath(new URL('../fixtures/chat-templates/compact-hermes.jinja', import.meta.url));
export const COMPACT_HERMES = readFileSync(COMPACT_HERMES_FILE, 'utf8');

type Client = Pick<OpenAI, 'chat'>;

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

export const ajv = new Ajv({ strict: false });

/**
 * A JSON reply under `schema`: when it ended ('stop') it parses and validates; cut at max_tokens
 * ('length'), it is a prefix of a valid one. Returns whether it ended.
 */
export function checkJson(schema: object, content: string | null, finish: string, where = ''): boolean {
  expect(content, where).toEqual(expect.any(String));
  if (finish === 'stop') {
    const validate = ajv.compile(schema);
    expect(validate(JSON.parse(content!)), `${where} ${content} ${JSON.stringify(validate.errors)}`).toBe(true);
    return true;
  }
  expect(finish, `${where} ${content}`).toBe('length');
  const g = new CompiledGrammar(parseGbnf(schemaToGbnf(schema as never)));
  expect(g.advanceBytes(g.start, new TextEncoder().encode(content!)), `${where} ${content} is a prefix`).toBeGreaterThanOrEqual(0);
  return false;
}
const user = [{ role: 'user' as const, content: 'Describe a cat as JSON.' }];
/** bounded (no free strings): a random model closes it well within max_tokens */
export const PET = {
  type: 'object',
  properties: { kind: { enum: ['cat', 'dog'] }, age: { type: 'integer', minimum: 0, maximum: 20 }, happy: { type: 'boolean' } },
  required: ['kind', 'age', 'happy'],
  additionalProperties: false,
};
// one short tool: stories260K's context is 512 tokens of a 512-token vocabulary, and the Hermes fallback shows the schema
const ADD = {
  type: 'function' as const,
  function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 9 }, b: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['a', 'b'], additionalProperties: false } },
};

/** The tests, inside a describe(): `client()` talks to stories260K with the COMPACT_HERMES template. */
export function structuredSuite(client: () => Client): void {
  const model = 'stories260K';

  it('response_format json_schema: every choice (n = 4, temperature 1) parses and validates; streamed = not streamed at temperature 0', async () => {
    const response_format = { type: 'json_schema' as const, json_schema: { name: 'pet', schema: PET, strict: true } };
    // stories260K at temperature 1 writes much whitespace between tokens: most values end within 150 tokens
    const r = await client().chat.completions.create({ model, messages: user, response_format, n: 4, temperature: 1, seed: 5, max_tokens: 150 });
    expect(r.choices).toHaveLength(4);
    const ended = r.choices.filter((c) => checkJson(PET, c.message.content, c.finish_reason, `choice ${c.index}`));
    expect(ended.length).toBeGreaterThan(1);
    const plain = await client().chat.completions.create({ model, messages: user, response_format, temperature: 0, max_tokens: 100 });
    expect(checkJson(PET, plain.choices[0]!.message.content, plain.choices[0]!.finish_reason)).toBe(true);
    const chunks = await collect(await client().chat.completions.create({ model, messages: user, response_format, temperature: 0, max_tokens: 100, stream: true }));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(plain.choices[0]!.message.content);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('response_format json_object: a JSON object', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await client().chat.completions.create({ model, messages: user, response_format: { type: 'json_object' }, temperature: 1, seed, max_tokens: 100 });
      checkJson({ type: 'object' }, r.choices[0]!.message.content, r.choices[0]!.finish_reason, `seed ${seed}`);
    }
  });

  it('a schema the engine does not support: 400 naming response_format.json_schema.schema and the keyword', async () => {
    const schema = { type: 'object', properties: { a: { type: 'string', contentEncoding: 'base64' } } };
    for (const stream of [false, true]) {
      const e = await client().chat.completions.create({ model, messages: user, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } }, stream })
        .then(async (s) => { if (stream) await collect(s as AsyncIterable<unknown>); throw new Error('no error'); }, (x: unknown) => x);
      expect(e).toMatchObject({ status: 400, param: 'response_format.json_schema.schema' });
      expect((e as Error).message).toMatch(/response_format\.json_schema\.schema: .*contentEncoding/);
      expect((e as { code: string }).code.toLowerCase()).toBe('bad_schema');
    }
  });

  it("a tool's parameters the engine does not support (tool_choice 'required'): 400 naming tools and the keyword", async () => {
    const bad = { type: 'function' as const, function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', contentEncoding: 'base64' } } } } };
    const e = await client().chat.completions.create({ model, messages: user, tools: [bad], tool_choice: 'required' }).catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 400, param: 'tools' });
    expect((e as Error).message).toMatch(/^(400 )?tools: .*contentEncoding/);
  });

  it("tools: tool_choice 'required' / a named function → tool_calls that validate; the tool's result back → a reply", async () => {
    const validate = ajv.compile(ADD.function.parameters);
    const ask = [{ role: 'user' as const, content: 'Add 2 and 3.' }];
    for (const tool_choice of ['required', { type: 'function', function: { name: 'add' } }] as const) {
      for (let seed = 1; seed <= 3; seed++) {
        const r = await client().chat.completions.create({ model, messages: ask, tools: [ADD], tool_choice, temperature: 1, seed, max_tokens: 200 });
        const choice = r.choices[0]!;
        expect(choice.finish_reason, JSON.stringify(choice.message)).toBe('tool_calls');
        const calls = choice.message.tool_calls!;
        expect(calls.length).toBeGreaterThan(0);
        for (const call of calls) {
          expect(call).toMatchObject({ type: 'function', id: expect.any(String) });
          if (call.type !== 'function') throw new Error('a function call');
          expect(call.function.name).toBe('add');
          expect(validate(JSON.parse(call.function.arguments)), call.function.arguments).toBe(true);
        }
        // the call and its result go back; the reply is text
        const args = JSON.parse((calls[0] as { function: { arguments: string } }).function.arguments) as { a: number; b: number };
        const back = await client().chat.completions.create({
          model, messages: [...ask, choice.message, { role: 'tool', tool_call_id: calls[0]!.id, content: String(args.a + args.b) }],
          tools: [ADD], temperature: 1, seed, max_tokens: 12,
        });
        expect(back.choices[0]!.message.role).toBe('assistant');
        expect(back.choices[0]!.finish_reason).not.toBe('tool_calls'); // (a story model writes no call of its own)
        expect(typeof back.choices[0]!.message.content).toBe('string');
      }
    }
  });

  it('tools streamed: delta.tool_calls (index, id, type, function name and arguments) before the finish chunk; = not streamed', async () => {
    const params = { model, messages: [{ role: 'user' as const, content: 'Add 4 and 4.' }], tools: [ADD], tool_choice: 'required' as const, temperature: 1, seed: 9, max_tokens: 200 };
    const plain = await client().chat.completions.create(params);
    const chunks = await collect(await client().chat.completions.create({ ...params, stream: true }));
    const finish = chunks.findIndex((c) => c.choices[0]?.finish_reason);
    expect(finish).toBe(chunks.length - 1);
    expect(chunks[finish]!.choices[0]!.finish_reason).toBe('tool_calls');
    const deltas = chunks.slice(0, finish).flatMap((c) => c.choices[0]!.delta.tool_calls ?? []);
    expect(deltas.length).toBeGreaterThan(0);
    // the call's text is not content
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(plain.choices[0]!.message.content ?? '');
    const calls = plain.choices[0]!.message.tool_calls!;
    expect(deltas.map((d) => ({ index: d.index, type: d.type, name: d.function!.name, arguments: d.function!.arguments })))
      .toEqual(calls.map((c, index) => ({ index, type: 'function', name: (c as { function: { name: string } }).function.name, arguments: (c as { function: { arguments: string } }).function.arguments })));
    for (const d of deltas) expect(d.id).toMatch(/\S/);
  });
}
