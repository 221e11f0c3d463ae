/**
 * generateObject / chatObject: generation under a JSON Schema (the `responseFormat` option), read by
 * the streaming partial-JSON parser, yielding the value each time it grows; the final value is the
 * generator's return value. Functions over a text stream, so anything that generates text (a model, a
 * session) can offer them.
 */
import { kindOf, WasmlmError } from '../errors.js';
import type { CompleteResult, GenerateOptions } from './generator.js';
import { PartialJSON } from './partial-json.js';

/** A JSON Schema (the subset the grammar compiler supports; it names any keyword it does not). */
import type { JsonSchema } from '../grammar/index.js';
export type { JsonSchema };

export interface ObjectOptions extends GenerateOptions {
  /** the value's JSON Schema: generation is constrained to it, so the final value always validates */
  schema: JsonSchema;
}

/**
 * A partial value of T, as generateObject yields it: any property may be missing, strings and arrays
 * may be shorter than they end up (see PartialJSON for what exactly a partial value holds).
 */
export type DeepPartial<T> =
  T extends (infer U)[] ? DeepPartial<U>[] :
  T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } :
  T;

/** The generate options for an object: `schema` becomes `responseFormat: { type: 'json_schema', schema }`. */
export function objectGenerateOptions<O extends ObjectOptions>(options: O): Omit<O, 'schema'> {
  if (options === null || typeof options !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `generateObject options must be an object with a schema, got ${kindOf(options)}`);
  }
  const { schema, ...rest } = options;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new WasmlmError('BAD_ARGUMENT', `generateObject: schema must be a JSON Schema object, got ${Array.isArray(schema) ? 'an array' : kindOf(schema)}`);
  }
  for (const name of ['responseFormat', 'grammar']) {
    if ((rest as Record<string, unknown>)[name] !== undefined) {
      throw new WasmlmError('BAD_ARGUMENT', `generateObject: the schema option is the constraint; ${name} cannot be given as well`);
    }
  }
  return { ...rest, responseFormat: { type: 'json_schema', schema } } as Omit<O, 'schema'>;
}

/**
 * Reads a stream of JSON text into values: yields a copy of the value each time it changes (a string
 * grows, a property or element starts or completes), the complete value last; returns the complete
 * value. A stream that ends before the value is complete (maxTokens, a full context) or whose text is
 * not JSON is a BAD_OUTPUT error; an aborted one, ABORTED.
 */
export async function* streamObject<T = unknown>(text: AsyncGenerator<string, CompleteResult>): AsyncGenerator<DeepPartial<T>, T> {
  const parser = new PartialJSON();
  let finished = false;
  try {
    let result: CompleteResult;
    for (;;) {
      const step = await text.next();
      if (step.done) { result = step.value; break; }
      if (parser.push(step.value)) yield parser.snapshot() as DeepPartial<T>;
    }
    finished = true;
    if (result.finishReason === 'abort') throw new WasmlmError('ABORTED', 'generateObject was aborted before the value was complete');
    let changed: boolean;
    try {
      changed = parser.finish();
    } catch (e) {
      if (result.finishReason === 'length' || result.finishReason === 'context') {
        throw new WasmlmError('BAD_OUTPUT',
          `generation stopped (${result.finishReason === 'length' ? 'maxTokens' : 'the context is full'}) before the JSON value was complete`,
          { cause: e });
      }
      throw e;
    }
    if (changed) yield parser.snapshot() as DeepPartial<T>;
    return parser.value as T;
  } finally {
    if (!finished) await text.return(undefined as never);
  }
}
