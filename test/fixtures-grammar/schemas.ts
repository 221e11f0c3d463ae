/**
 * JSON Schemas for the structured-output tests, and an ajv instance that checks the formats we generate
 * (date, time, date-time by RFC 3339 with real calendar days, uuid, email) independently of our grammars.
 */
import { Ajv } from 'ajv';
import type { JsonSchema } from '../../src/grammar/index.js';

export const ajv = new Ajv({ strict: false, allErrors: true });
// formats checked independently of the grammar (RFC 3339 / RFC 4122 / a plain address)
const leap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const dateOk = (s: string) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days[mo - 1]!;
};
const timeOk = (s: string) => {
  const m = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-](\d{2}):(\d{2}))$/.exec(s);
  return !!m && Number(m[1]) < 24 && Number(m[2]) < 60 && Number(m[3]) < 60 && (m[6] === undefined || (Number(m[6]) < 24 && Number(m[7]) < 60));
};
ajv.addFormat('date', dateOk);
ajv.addFormat('time', timeOk);
ajv.addFormat('date-time', (s: string) => { const i = s.indexOf('T'); return i > 0 && dateOk(s.slice(0, i)) && timeOk(s.slice(i + 1)); });
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
ajv.addFormat('email', /^[^\s@"\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/);

export const SCHEMAS: Record<string, JsonSchema> = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 12 },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      email: { type: 'string', format: 'email' },
      nick: { type: 'string', maxLength: 4, nullable: true },
      tags: { type: 'array', items: { type: 'string', maxLength: 5 }, minItems: 1, maxItems: 3 },
    },
    required: ['name', 'age'],
  },
  enumsAndConsts: {
    type: 'object',
    properties: { kind: { const: 'point' }, color: { enum: ['red', 'green', 42, null, { deep: [1] }] }, ok: { type: 'boolean' } },
    required: ['kind', 'color', 'ok'],
    additionalProperties: false,
  },
  anyOfNullable: {
    type: 'array',
    maxItems: 4,
    items: { anyOf: [{ type: 'integer', minimum: -20, maximum: -3 }, { type: 'string', pattern: '^[A-Z]{2}-\\d{3}$' }, { type: 'null' }] },
  },
  refs: {
    $defs: { node: { type: 'object', properties: { v: { type: 'integer', minimum: 0, maximum: 9 }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['v', 'next'] } },
    $ref: '#/$defs/node',
  },
  formats: {
    type: 'object',
    properties: { d: { type: 'string', format: 'date' }, t: { type: 'string', format: 'time' }, dt: { type: 'string', format: 'date-time' }, u: { type: 'string', format: 'uuid' } },
    required: ['d', 't', 'dt', 'u'],
  },
  numbers: {
    type: 'object',
    properties: {
      a: { type: 'number', minimum: -2.5, maximum: 3.75 }, b: { type: 'number' }, c: { type: 'integer', exclusiveMinimum: 5, exclusiveMaximum: 1000 },
      d: { type: ['integer', 'null'], minimum: 100, maximum: 12345 },
    },
    required: ['a', 'b', 'c', 'd'],
  },
  additional: {
    type: 'object',
    properties: { id: { type: 'integer', minimum: 1, maximum: 5 }, idx: { type: 'boolean' } },
    required: ['id'],
    additionalProperties: { type: 'string', maxLength: 3 },
  },
  oneOfPattern: {
    oneOf: [
      { type: 'object', properties: { t: { const: 'a' }, x: { type: 'string', pattern: '^(ab|c[d-f]+)?x*$' } }, required: ['t', 'x'] },
      { type: 'object', properties: { t: { const: 'b' }, y: { type: 'string', pattern: 'q\\.?z' } }, required: ['t', 'y'] },
    ],
  },
};
