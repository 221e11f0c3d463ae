/**
 * generateObject / chatObject on a real model under JSON Schemas (needs the grammar engine's
 * responseFormat): at temperature 1 over many seeds the final value validates (ajv), every partial
 * value is a prefix of the final one and of the next, and the last one is the final value.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type JsonSchema, type Model } from '../src/index.js';
import { collect } from './helpers/collect.js';
import { deepEqual, isPrefix } from './helpers/json-prefix.js';

const SCHEMAS: Record<string, JsonSchema> = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 12 },
      age: { type: 'integer', minimum: 0, maximum: 120 },
      pet: { enum: ['cat', 'dog', 'none'] },
      tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 3 },
    },
    required: ['name', 'age', 'pet', 'tags'],
    additionalProperties: false,
  },
  nested: {
    type: 'object',
    properties: {
      title: { type: 'string', maxLength: 10 },
      done: { type: 'boolean' },
      steps: {
        type: 'array', minItems: 1, maxItems: 2,
        items: { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 }, what: { type: 'string', maxLength: 8 } }, required: ['n', 'what'], additionalProperties: false },
      },
      note: { anyOf: [{ type: 'string', maxLength: 5 }, { type: 'null' }] },
    },
    required: ['title', 'done', 'steps', 'note'],
    additionalProperties: false,
  },
  list: { type: 'array', items: { enum: ['red', 'green', 'blue'] }, minItems: 1, maxItems: 4 },
};

let model: Model;
beforeAll(async () => { model = await loadModel(); }); // stories260K: a story model, left alone it writes no JSON
afterAll(() => model.dispose());

function checkStream(values: unknown[], final: unknown) {
  expect(values.length).toBeGreaterThan(0);
  values.forEach((v, i) => {
    expect(isPrefix(v, final), `${JSON.stringify(v)} of ${JSON.stringify(final)}`).toBe(true);
    if (i > 0) expect(isPrefix(values[i - 1], v)).toBe(true);
  });
  expect(deepEqual(values[values.length - 1], final)).toBe(true);
}

describe('generateObject under a schema', () => {
  const ajv = new Ajv({ strict: false });
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: valid at temperature 1 over 12 seeds; partials are prefixes`, async () => {
      const validate = ajv.compile(schema);
      for (let seed = 1; seed <= 12; seed++) {
        const { values, result } = await collect(model.generateObject('Once upon a time', { schema, temperature: 1, seed, maxTokens: 300 }));
        expect(validate(result), `seed ${seed}: ${JSON.stringify(result)} ${ajv.errorsText(validate.errors)}`).toBe(true);
        checkStream(values, result);
      }
    });
  }

  it('chatObject: the same for a chat', async () => {
    const validate = ajv.compile(SCHEMAS.person!);
    const { values, result } = await collect(model.chatObject([{ role: 'user', content: 'Who is Tim?' }], { schema: SCHEMAS.person!, temperature: 1, seed: 5, maxTokens: 300 }));
    expect(validate(result)).toBe(true);
    checkStream(values, result);
  });

  it('maxTokens cutting the value: BAD_OUTPUT', async () => {
    await expect(collect(model.generateObject('Once upon a time', { schema: SCHEMAS.nested!, temperature: 1, seed: 1, maxTokens: 3 })))
      .rejects.toMatchObject({ code: 'BAD_OUTPUT', message: expect.stringMatching(/maxTokens/) });
  });
});
