/**
 * Structured output: the `grammar` (GBNF) and `responseFormat` (JSON / JSON Schema) options, compiled
 * before any token is generated, and the per-generation constraint the sampler applies.
 */
import { kindOf, WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { parseGbnf } from './gbnf.js';
import { CompiledGrammar } from './matcher.js';
import { jsonObjectGbnf, schemaToGbnf, type JsonSchema } from './schema.js';
import { TokenConstraint, vocabTrie } from './tokens.js';

export { parseGbnf, type Grammar } from './gbnf.js';
export { CompiledGrammar } from './matcher.js';
export { schemaToGbnf, type JsonSchema } from './schema.js';
export { TokenConstraint, VocabTrie, vocabTrie, maskHas, type TokenMask } from './tokens.js';

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: JsonSchema };

export interface ConstraintOptions {
  /**
   * The text must be a sentence of this grammar, in llama.cpp's GBNF (start rule `root`). Generation
   * ends with finishReason 'stop' once the sentence is complete and nothing more can follow (or an
   * end-of-generation token comes where the sentence is complete).
   */
  grammar?: string;
  /**
   * `json_object`: any JSON object; `json_schema`: a JSON value valid against `schema` (see the README
   * for the keywords). The text is that JSON (no leading or trailing whitespace) and nothing else. If
   * maxTokens (or the context) cuts it, finishReason is 'length' / 'context' and the text is a prefix.
   */
  responseFormat?: ResponseFormat;
}

const compiled = new Map<string, CompiledGrammar>();
const CACHE = 16;

/** The GBNF text the options ask for, or undefined; BAD_ARGUMENT / BAD_SCHEMA / BAD_GRAMMAR before anything runs. */
export function constraintGbnf(opts: ConstraintOptions): string | undefined {
  const { grammar, responseFormat: rf } = opts;
  if (grammar !== undefined && typeof grammar !== 'string') throw new WasmlmError('BAD_ARGUMENT', `grammar must be a string (GBNF), got ${kindOf(grammar)}`);
  if (rf === undefined || (rf !== null && typeof rf === 'object' && rf.type === 'text')) return grammar;
  if (grammar !== undefined) throw new WasmlmError('BAD_ARGUMENT', 'give grammar or responseFormat, not both');
  if (rf === null || typeof rf !== 'object') throw new WasmlmError('BAD_ARGUMENT', `responseFormat must be an object, got ${kindOf(rf)}`);
  if (rf.type === 'json_object') return jsonObjectGbnf();
  if (rf.type === 'json_schema') {
    if (!('schema' in rf) || rf.schema === undefined) throw new WasmlmError('BAD_ARGUMENT', "responseFormat { type: 'json_schema' } needs a schema");
    return schemaToGbnf(rf.schema);
  }
  throw new WasmlmError('BAD_ARGUMENT', `responseFormat.type must be 'text', 'json_object' or 'json_schema', got ${JSON.stringify((rf as { type?: unknown }).type)}`);
}

/** Parse and compile GBNF (cached by text: a compiled grammar's state tables are reused across calls). */
export function compileGrammar(gbnf: string): CompiledGrammar {
  let g = compiled.get(gbnf);
  if (g === undefined) {
    g = new CompiledGrammar(parseGbnf(gbnf));
    if (compiled.size >= CACHE) compiled.delete(compiled.keys().next().value!);
    compiled.set(gbnf, g);
  }
  return g;
}

/**
 * The constraint for one generation, or undefined when the options ask for none. `afterBos`: the
 * prompt ends in BOS, so the decoder drops the first token's leading space (where the vocabulary adds
 * one) and the grammar must see the text without it.
 */
export function createConstraint(tokenizer: Tokenizer, opts: ConstraintOptions & { ignoreEos?: boolean },
  afterBos: boolean): TokenConstraint | undefined {
  const gbnf = constraintGbnf(opts);
  if (gbnf === undefined) return undefined;
  const grammar = compileGrammar(gbnf);
  return new TokenConstraint(grammar, tokenizer, vocabTrie(tokenizer), {
    stripFirstSpace: afterBos && dropsLeadingSpace(tokenizer),
    allowEog: opts.ignoreEos !== true,
  });
}

/** Does this tokenizer's decoder drop a leading space after BOS? (Probed with a token starting with one.) */
function dropsLeadingSpace(tokenizer: Tokenizer): boolean {
  const trie = vocabTrie(tokenizer);
  for (let id = 0; id < trie.bytes.length; id++) {
    const b = trie.bytes[id]!;
    if (b.length >= 2 && b[0] === 0x20 && b.every((x) => x >= 0x21 && x < 0x7f || x === 0x20)) {
      return tokenizer.createDecoder({ afterBos: true }).push(id).length === b.length - 1;
    }
  }
  return false;
}
