/**
 * JSON Schema → GBNF. What is generated always validates against the schema; where a keyword would need
 * more than a grammar can say, the grammar generates a subset of the valid values (said at each case).
 *
 * Keywords: type (one or a list), properties, required, additionalProperties, enum, const, items,
 * minItems / maxItems, anyOf / oneOf, $ref (local: `#`, `#/$defs/...`, any JSON pointer) with $defs /
 * definitions, minLength / maxLength / pattern / format (date, time, date-time, uuid, email) on strings,
 * minimum / maximum on integers (exactly) and numbers, exclusiveMinimum / exclusiveMaximum on integers,
 * nullable (OpenAPI). Annotations (title, description, default, examples, $schema, $id, $comment,
 * deprecated, readOnly, writeOnly) are ignored. Any other keyword is a BAD_SCHEMA naming it and its JSON
 * pointer.
 *
 * Choices (documented in the README):
 * - objects: declared properties in their order, optional ones may be left out; with `properties` and no
 *   `additionalProperties`, no others (additionalProperties: true or a schema allows more, with keys
 *   other than the declared ones written without escapes).
 * - whitespace: bounded (nothing, one space, or a newline and up to 20 spaces / tabs between tokens), so
 *   a model cannot loop forever in whitespace; the value ends at its last character.
 * - numbers: at most 16 integer and 16 fraction digits and a 2-digit exponent. With minimum / maximum:
 *   integers in the range, and decimals whose integer part keeps them in range (k.ddd with k + 1 ≤ max,
 *   ...); no exponent. Exact for integer bounds; near a fractional bound some valid values are not
 *   generated. Integers without a bound: at most 15 digits (|n| < 10^15, safe integers).
 * - oneOf is generated as anyOf: use it with alternatives that do not overlap.
 * - strings: `\u` escapes are never surrogates (so lengths count as JSON Schema counts them).
 */
import { WasmlmError } from '../errors.js';
import { charSet } from './gbnf.js';

export type JsonSchema = boolean | { [key: string]: unknown };

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const KEYWORDS = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'enum', 'const', 'items', 'minItems', 'maxItems', 'anyOf', 'oneOf',
  '$ref', '$defs', 'definitions', 'minLength', 'maxLength', 'pattern', 'format', 'minimum', 'maximum', 'exclusiveMinimum',
  'exclusiveMaximum', 'nullable',
]);
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type TypeName = (typeof TYPES)[number];
const FORMATS = ['date', 'time', 'date-time', 'uuid', 'email'];
/** integers without a bound stay below this magnitude */
const INT_LIMIT = 10 ** 15 - 1;

const HEX = '[0-9a-fA-F]';
/** the building blocks, by name; each added to the grammar when first used */
const BASE: Record<string, string> = {
  ws: '| " " | "\\n" [ \\t]{0,20}',
  char: '[^"\\\\\\x00-\\x1f] | "\\\\" (["\\\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] ' + HEX + '{3} | [dD] [0-7] ' + HEX + '{2}))',
  string: '"\\"" char* "\\""',
  number: '"-"? ([0-9] | [1-9] [0-9]{1,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?',
  boolean: '"true" | "false"',
  null: '"null"',
  value: 'object | array | string | number | boolean | null',
  object: '"{" ws (string ws ":" ws value ws ("," ws string ws ":" ws value ws)*)? "}"',
  array: '"[" ws (value ws ("," ws value ws)*)? "]"',
  'd28': '"0" [1-9] | "1" [0-9] | "2" [0-8]',
  'leap-year': '[0-9] [0-9] ("0" [48] | [2468] [048] | [13579] [26]) | ("0" [48] | [2468] [048] | [13579] [26]) "00"',
  date: '[0-9]{4} "-" (("01" | "03" | "05" | "07" | "08" | "10" | "12") "-" (d28 | "29" | "30" | "31") | ("04" | "06" | "09" | "11") "-" (d28 | "29" | "30") | "02-" d28) | leap-year "-02-29"',
  hour: '[01] [0-9] | "2" [0-3]',
  time: 'hour ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,3})? ("Z" | [+-] hour ":" [0-5] [0-9])',
  'date-time': 'date "T" time',
  uuid: `${HEX}{8} "-" ${HEX}{4} "-" ${HEX}{4} "-" ${HEX}{4} "-" ${HEX}{12}`,
  'email-atom': "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,32}",
  'email-label': '[a-zA-Z0-9] ([a-zA-Z0-9-]{0,30} [a-zA-Z0-9])?',
  email: 'email-atom ("." email-atom){0,3} "@" email-label ("." email-label){1,3}',
};
const DEPS: Record<string, string[]> = {
  string: ['char'], value: ['object', 'array', 'string', 'number', 'boolean', 'null'], object: ['ws', 'string', 'value'],
  array: ['ws', 'value'], date: ['d28', 'leap-year'], time: ['hour'], 'date-time': ['date', 'time'],
  email: ['email-atom', 'email-label'],
};

/** A GBNF literal for a string. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

/** One code point for a GBNF character class. */
function classChar(cp: number): string {
  if (/[A-Za-z0-9]/.test(String.fromCodePoint(cp))) return String.fromCodePoint(cp);
  if (cp <= 0xff) return '\\x' + cp.toString(16).padStart(2, '0');
  if (cp <= 0xffff) return '\\u' + cp.toString(16).padStart(4, '0');
  return '\\U' + cp.toString(16).padStart(8, '0');
}

/** A GBNF class for code point ranges [lo, hi, ...]. */
function gbnfClass(ranges: number[]): string {
  let out = '[';
  for (let i = 0; i < ranges.length; i += 2) {
    out += classChar(ranges[i]!);
    if (ranges[i + 1]! > ranges[i]!) out += '-' + classChar(ranges[i + 1]!);
  }
  return out + ']';
}

const pointer = (base: string, ...keys: (string | number)[]) =>
  base + keys.map((k) => '/' + String(k).replace(/~/g, '~0').replace(/\//g, '~1')).join('');

/** GBNF (root rule `root`) for the values a JSON Schema accepts; BAD_SCHEMA for what it cannot say. */
export function schemaToGbnf(schema: JsonSchema): string {
  return new SchemaCompiler(schema).compile();
}

/** GBNF for any JSON object (responseFormat json_object). */
export function jsonObjectGbnf(): string {
  return schemaToGbnf({ type: 'object' });
}

class SchemaCompiler {
  private readonly rules = new Map<string, string>();
  private readonly bodies = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  private counter = 0;

  constructor(private readonly root: JsonSchema) {}

  compile(): string {
    const body = this.value(this.root, '#');
    const lines = [`root ::= ${body}`];
    for (const [name, b] of this.rules) lines.push(`${name} ::= ${b}`);
    return lines.join('\n') + '\n';
  }

  private fail(ptr: string, msg: string): never {
    throw new WasmlmError('BAD_SCHEMA', `schema ${ptr}: ${msg}`);
  }

  /** A named building block (and what it uses). */
  private use(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, BASE[name]!);
      for (const d of DEPS[name] ?? []) this.use(d);
    }
    return name;
  }

  /** A new rule with this body (one rule per distinct body); returns its name. */
  private rule(hint: string, body: string): string {
    const known = this.bodies.get(body);
    if (known !== undefined) return known;
    const name = `${hint.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'r'}-${this.counter++}`;
    this.rules.set(name, body);
    this.bodies.set(body, name);
    return name;
  }

  /** A GBNF expression for the values of `s` (at JSON pointer ptr). */
  private value(s: unknown, ptr: string): string {
    if (s === true) return this.use('value');
    if (s === false) this.fail(ptr, 'the schema false accepts no value');
    if (s === null || typeof s !== 'object' || Array.isArray(s)) this.fail(ptr, `a schema must be an object or a boolean, got ${Array.isArray(s) ? 'an array' : s === null ? 'null' : typeof s}`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) this.fail(pointer(ptr, k), `unsupported keyword '${k}'`);
    }
    if (o.nullable !== undefined && typeof o.nullable !== 'boolean') this.fail(pointer(ptr, 'nullable'), 'nullable must be a boolean');
    const inner = this.nonNull(o, ptr);
    return o.nullable === true ? `(${inner} | ${this.use('null')})` : inner;
  }

  private nonNull(o: Record<string, unknown>, ptr: string): string {
    if (o.$ref !== undefined) {
      if (typeof o.$ref !== 'string') this.fail(pointer(ptr, '$ref'), '$ref must be a string');
      return this.ref(o.$ref, pointer(ptr, '$ref'));
    }
    if (o.const !== undefined) return this.literal(o.const, pointer(ptr, 'const'));
    if (o.enum !== undefined) {
      if (!Array.isArray(o.enum) || o.enum.length === 0) this.fail(pointer(ptr, 'enum'), 'enum must be a non-empty array');
      return `(${o.enum.map((v, i) => this.literal(v, pointer(ptr, 'enum', i))).join(' | ')})`;
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      if (o[key] === undefined) continue;
      const list = o[key];
      if (!Array.isArray(list) || list.length === 0) this.fail(pointer(ptr, key), `${key} must be a non-empty array`);
      const { [key]: _, ...rest } = o;
      const shared = Object.keys(rest).filter((k) => !ANNOTATIONS.has(k) && k !== '$defs' && k !== 'definitions' && k !== 'nullable');
      if (shared.length > 0) this.fail(pointer(ptr, shared[0]!), `'${shared[0]}' beside ${key} is not supported (put it in each alternative)`);
      return `(${list.map((alt, i) => this.value(alt, pointer(ptr, key, i))).join(' | ')})`;
    }
    let types: TypeName[];
    if (o.type === undefined) {
      if (o.properties !== undefined || o.additionalProperties !== undefined || o.required !== undefined) types = ['object'];
      else if (o.items !== undefined || o.minItems !== undefined || o.maxItems !== undefined) types = ['array'];
      else if (o.minLength !== undefined || o.maxLength !== undefined || o.pattern !== undefined || o.format !== undefined) types = ['string'];
      else if (o.minimum !== undefined || o.maximum !== undefined) types = ['number'];
      else return this.use('value');
    } else {
      const list = Array.isArray(o.type) ? o.type : [o.type];
      if (list.length === 0) this.fail(pointer(ptr, 'type'), 'type must not be an empty list');
      for (const t of list) {
        if (!TYPES.includes(t as TypeName)) this.fail(pointer(ptr, 'type'), `unknown type ${JSON.stringify(t)} (types: ${TYPES.join(', ')})`);
      }
      types = list as TypeName[];
    }
    const alts = types.map((t) => this.typed(t, o, ptr));
    return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
  }

  private typed(t: TypeName, o: Record<string, unknown>, ptr: string): string {
    switch (t) {
      case 'null': return this.use('null');
      case 'boolean': return this.use('boolean');
      case 'string': return this.string(o, ptr);
      case 'integer': return this.integer(o, ptr);
      case 'number': return this.number(o, ptr);
      case 'array': return this.array(o, ptr);
      case 'object': return this.object(o, ptr);
    }
  }

  private literal(v: unknown, ptr: string): string {
    let text: string | undefined;
    try { text = JSON.stringify(v); } catch { text = undefined; }
    if (text === undefined) this.fail(ptr, 'not a JSON value');
    return gbnfLiteral(text);
  }

  private ref(ref: string, ptr: string): string {
    const known = this.refs.get(ref);
    if (known !== undefined) return known;
    if (ref !== '#' && !ref.startsWith('#/')) this.fail(ptr, `only local references (#/...) are supported, got ${JSON.stringify(ref)}`);
    let target: unknown = this.root;
    for (const raw of ref === '#' ? [] : ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (target === null || typeof target !== 'object' || !Object.hasOwn(target, key)) this.fail(ptr, `$ref ${JSON.stringify(ref)} points to nothing`);
      target = (target as Record<string, unknown>)[key];
    }
    // a named rule first, so that a recursive schema refers to itself
    const name = `ref-${ref.slice(1).replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'root'}-${this.counter++}`;
    this.refs.set(ref, name);
    this.rules.set(name, '');
    this.rules.set(name, this.value(target, ref));
    return name;
  }

  private count(o: Record<string, unknown>, key: string, ptr: string): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(pointer(ptr, key), `${key} must be a non-negative integer`);
    return v;
  }

  private string(o: Record<string, unknown>, ptr: string): string {
    const min = this.count(o, 'minLength', ptr) ?? 0;
    const max = this.count(o, 'maxLength', ptr);
    if (max !== undefined && max < min) this.fail(pointer(ptr, 'maxLength'), `maxLength ${max} is below minLength ${min}`);
    if (o.format !== undefined) {
      if (typeof o.format !== 'string' || !FORMATS.includes(o.format)) this.fail(pointer(ptr, 'format'), `unsupported format ${JSON.stringify(o.format)} (supported: ${FORMATS.join(', ')})`);
      for (const k of ['minLength', 'maxLength', 'pattern']) if (o[k] !== undefined) this.fail(pointer(ptr, k), `${k} together with format is not supported`);
      return `"\\"" ${this.use(o.format)} "\\""`;
    }
    if (o.pattern !== undefined) {
      if (typeof o.pattern !== 'string') this.fail(pointer(ptr, 'pattern'), 'pattern must be a string');
      if (o.minLength !== undefined || o.maxLength !== undefined) this.fail(pointer(ptr, 'pattern'), 'pattern together with minLength / maxLength is not supported');
      return `"\\"" ${this.rule('pattern', new RegexCompiler(o.pattern, pointer(ptr, 'pattern'), this).compile())} "\\""`;
    }
    this.use('string');
    if (min === 0 && max === undefined) return 'string';
    return `"\\"" char{${min},${max ?? ''}} "\\""`;
  }

  private bound(o: Record<string, unknown>, key: string, ptr: string): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(pointer(ptr, key), `${key} must be a finite number`);
    return v;
  }

  private integer(o: Record<string, unknown>, ptr: string): string {
    let lo = -INT_LIMIT, hi = INT_LIMIT;
    const min = this.bound(o, 'minimum', ptr), max = this.bound(o, 'maximum', ptr);
    const xmin = this.bound(o, 'exclusiveMinimum', ptr), xmax = this.bound(o, 'exclusiveMaximum', ptr);
    if (min !== undefined) lo = Math.max(lo, Math.ceil(min));
    if (xmin !== undefined) lo = Math.max(lo, Math.floor(xmin) + 1);
    if (max !== undefined) hi = Math.min(hi, Math.floor(max));
    if (xmax !== undefined) hi = Math.min(hi, Math.ceil(xmax) - 1);
    if (lo > hi) this.fail(ptr, `no integer lies in the range given by minimum / maximum`);
    return this.rule('int', intRange(lo, hi));
  }

  private number(o: Record<string, unknown>, ptr: string): string {
    for (const k of ['exclusiveMinimum', 'exclusiveMaximum']) if (o[k] !== undefined) this.fail(pointer(ptr, k), `${k} is supported on integers only`);
    const min = this.bound(o, 'minimum', ptr), max = this.bound(o, 'maximum', ptr);
    if (min === undefined && max === undefined) return this.use('number');
    const lo = Math.max(min ?? -INT_LIMIT, -INT_LIMIT), hi = Math.min(max ?? INT_LIMIT, INT_LIMIT);
    if (lo > hi) this.fail(ptr, `minimum ${min} is above maximum ${max}`);
    const alts: string[] = [];
    const frac = '"." [0-9]{1,15}';
    if (Math.ceil(lo) <= Math.floor(hi)) alts.push(`(${intRange(Math.ceil(lo), Math.floor(hi))})`);
    const pa = Math.max(0, Math.ceil(lo)), pb = Math.floor(hi) - 1;
    if (pa <= pb) alts.push(`(${intRange(pa, pb)}) ${frac}`);
    const na = Math.max(0, Math.ceil(-hi)), nb = Math.floor(-lo) - 1;
    if (na <= nb) alts.push(`"-" (${intRange(na, nb)}) ${frac}`);
    if (alts.length === 0) this.fail(ptr, `no number with at most 15 fraction digits found between minimum ${min} and maximum ${max} by this compiler (use integer bounds)`);
    return this.rule('num', alts.join(' | '));
  }

  private array(o: Record<string, unknown>, ptr: string): string {
    if (Array.isArray(o.items)) this.fail(pointer(ptr, 'items'), 'items as a list (tuples) is not supported');
    const item = o.items === undefined ? this.use('value') : this.value(o.items, pointer(ptr, 'items'));
    const min = this.count(o, 'minItems', ptr) ?? 0;
    const max = this.count(o, 'maxItems', ptr);
    if (max !== undefined && max < min) this.fail(pointer(ptr, 'maxItems'), `maxItems ${max} is below minItems ${min}`);
    const ws = this.use('ws');
    const el = this.rule('item', `${item} ${ws}`);
    if (max === 0) return `"[" ${ws} "]"`;
    const more = `("," ${ws} ${el})`;
    const upper = max === undefined ? '' : String(max - 1);
    const body = min === 0 ? `(${el} ${more}{0,${upper}})?` : `${el} ${more}{${min - 1},${upper}}`;
    return this.rule('array', `"[" ${ws} ${body} "]"`);
  }

  private object(o: Record<string, unknown>, ptr: string): string {
    const props = o.properties ?? {};
    if (props === null || typeof props !== 'object' || Array.isArray(props)) this.fail(pointer(ptr, 'properties'), 'properties must be an object');
    const required = o.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) this.fail(pointer(ptr, 'required'), 'required must be an array of strings');
    const add = o.additionalProperties;
    if (add !== undefined && typeof add !== 'boolean' && (add === null || typeof add !== 'object' || Array.isArray(add))) {
      this.fail(pointer(ptr, 'additionalProperties'), 'additionalProperties must be a boolean or a schema');
    }
    const declared = Object.entries(props as Record<string, unknown>);
    if (declared.length === 0 && required.length === 0 && (add === undefined || add === true)) return this.use('object');
    const ws = this.use('ws');
    const names = new Set(declared.map(([k]) => k));
    const entries = declared.map(([k, v]) => ({ key: k, schema: v, ptr: pointer(ptr, 'properties', k), req: required.includes(k) }));
    for (const r of required as string[]) {
      if (!names.has(r)) {
        names.add(r);
        entries.push({ key: r, schema: add === undefined || add === false ? true : add, ptr: pointer(ptr, 'required'), req: true });
      }
    }
    // one rule per position: head_k (nothing written yet) and tail_k (a "," before each member)
    let head = '', tail = '';
    if (add !== undefined && add !== false) {
      const addValue = add === true ? this.use('value') : this.value(add, pointer(ptr, 'additionalProperties'));
      const kv = this.rule('extra', `${this.keyNotIn([...names])} ${ws} ":" ${ws} ${addValue} ${ws}`);
      head = this.rule('extra-head', `(${kv} ("," ${ws} ${kv})*)?`);
      tail = this.rule('extra-tail', `("," ${ws} ${kv})*`);
    }
    for (let k = entries.length - 1; k >= 0; k--) {
      const e = entries[k]!;
      const kv = `${gbnfLiteral(JSON.stringify(e.key))} ${ws} ":" ${ws} ${this.value(e.schema, e.ptr)} ${ws}`;
      const h = `${kv} ${tail}`.trim(), t = `"," ${ws} ${kv} ${tail}`.trim();
      const nextHead = head, nextTail = tail;
      head = this.rule('head', e.req ? h : `${h} | ${nextHead || '""'}`);
      tail = this.rule('tail', e.req ? t : `${t} | ${nextTail || '""'}`);
    }
    return this.rule('object', `"{" ${ws} ${head} "}"`);
  }

  /** A quoted key other than these (unescaped characters only, at most 64). */
  private keyNotIn(excluded: string[]): string {
    interface Node { children: Map<number, Node>; end: boolean }
    const root: Node = { children: new Map(), end: false };
    for (const k of excluded) {
      let n = root;
      for (const ch of k) {
        const cp = ch.codePointAt(0)!;
        let c = n.children.get(cp);
        if (c === undefined) { c = { children: new Map(), end: false }; n.children.set(cp, c); }
        n = c;
      }
      n.end = true;
    }
    const free = this.rule('key-char', '[^"\\\\\\x00-\\x1f]');
    const emit = (n: Node, depth: number): string => {
      const alts: string[] = [];
      if (!n.end && depth > 0) alts.push('"\\""');
      const ranges = [0x00, 0x1f, 0x22, 0x22, 0x5c, 0x5c, ...[...n.children.keys()].flatMap((c) => [c, c])];
      alts.push(`${this.negClass(ranges)} ${free}{0,${Math.max(0, 63 - depth)}} "\\""`);
      for (const [cp, c] of n.children) alts.push(`${gbnfLiteral(String.fromCodePoint(cp))} ${emit(c, depth + 1)}`);
      return this.rule('key', alts.join(' | '));
    };
    return `"\\"" ${emit(root, 0)}`;
  }

  /** A GBNF class of every code point except these ranges. */
  negClass(ranges: number[]): string {
    return '[^' + gbnfClass(ranges).slice(1);
  }

  /** Expose rule creation to the regex compiler. */
  sub(hint: string, body: string): string {
    return this.rule(hint, body);
  }

  anyChar(): string {
    return this.use('char');
  }
}

/** GBNF for the decimal integers in [lo, hi] (safe integers), exactly: no leading zeros, no "-0". */
export function intRange(lo: number, hi: number): string {
  const alts: string[] = [];
  if (lo < 0) alts.push(`"-" (${natRange(Math.max(1, -Math.min(hi, -1)), -lo)})`);
  if (hi >= 0) alts.push(natRange(Math.max(lo, 0), hi));
  return alts.join(' | ');
}

function natRange(lo: number, hi: number): string {
  const alts: string[] = [];
  for (let len = String(lo).length; len <= String(hi).length; len++) {
    const a = Math.max(lo, len === 1 ? 0 : 10 ** (len - 1)), b = Math.min(hi, 10 ** len - 1);
    if (a <= b) alts.push(sameLength(String(a), String(b)));
  }
  return alts.join(' | ');
}

/** Digit strings of one length from x to y (x <= y). */
function sameLength(x: string, y: string): string {
  const n = x.length;
  if (x === y) return `"${x}"`;
  if (n === 1) return `[${x}-${y}]`;
  if (x[0] === y[0]) return `"${x[0]}" (${sameLength(x.slice(1), y.slice(1))})`;
  const alts: string[] = [];
  let first = Number(x[0]), last = Number(y[0]);
  if (!/^0*$/.test(x.slice(1))) { alts.push(`"${x[0]}" (${sameLength(x.slice(1), '9'.repeat(n - 1))})`); first++; }
  if (!/^9*$/.test(y.slice(1))) { alts.push(`"${y[0]}" (${sameLength('0'.repeat(n - 1), y.slice(1))})`); last--; }
  if (first <= last) alts.push(`${first === last ? `"${first}"` : `[${first}-${last}]`} [0-9]{${n - 1}}`);
  return alts.join(' | ');
}

/**
 * A regular expression (JSON Schema `pattern`, ECMA-262 with the u flag) → GBNF over the JSON text of
 * the string: characters that JSON escapes are written escaped. The subset: literals and escapes,
 * classes ([...], [^...], ranges, \d \w \s and their negations), `.`, groups ((...), (?:...)),
 * alternation, quantifiers (* + ? {n} {n,} {n,m}, lazy or not), ^ at the start and $ at the end.
 * Unanchored ends match anything there. Lookarounds, backreferences, \b: BAD_SCHEMA.
 */
class RegexCompiler {
  private i = 0;
  constructor(private readonly src: string, private readonly ptr: string, private readonly c: SchemaCompiler) {}

  private fail(msg: string): never {
    throw new WasmlmError('BAD_SCHEMA', `schema ${this.ptr}: pattern ${JSON.stringify(this.src)}: ${msg} at index ${this.i}`);
  }

  compile(): string {
    let start = false;
    if (this.src[0] === '^') { start = true; this.i = 1; }
    const body = this.alternation();
    let end = false;
    if (this.src[this.i] === '$') { end = true; this.i++; }
    if (this.i < this.src.length) this.fail(`unsupported '${this.src[this.i]}'`);
    const any = `${this.c.anyChar()}*`;
    return [start ? '' : any, `(${body || '""'})`, end ? '' : any].filter(Boolean).join(' ');
  }

  private alternation(): string {
    const alts = [this.sequence()];
    while (this.src[this.i] === '|') { this.i++; alts.push(this.sequence()); }
    return alts.map((a) => a || '""').join(' | ');
  }

  private sequence(): string {
    const parts: string[] = [];
    for (;;) {
      const ch = this.src[this.i];
      if (ch === undefined || ch === '|' || ch === ')') break;
      if (ch === '$' && this.i === this.src.length - 1) break;
      let atom = this.atom();
      const q = this.src[this.i];
      if (q === '*' || q === '+' || q === '?') { this.i++; atom = `(${atom})${q}`; }
      else if (q === '{' && /^\{\d*(,\d*)?\}/.test(this.src.slice(this.i))) {
        const m = /^\{(\d*)(,(\d*))?\}/.exec(this.src.slice(this.i))!;
        this.i += m[0].length;
        const min = m[1] === '' ? 0 : Number(m[1]);
        const max = m[2] === undefined ? String(min) : m[3];
        atom = `(${atom}){${min},${max}}`;
      }
      if (this.src[this.i] === '?' && (q === '*' || q === '+' || q === '?' || q === '{')) this.i++; // lazy: same language
      parts.push(atom);
    }
    return parts.join(' ');
  }

  private atom(): string {
    const ch = this.src[this.i]!;
    if (ch === '(') {
      this.i++;
      if (this.src[this.i] === '?') {
        if (this.src[this.i + 1] !== ':') this.fail('lookarounds and named groups are not supported');
        this.i += 2;
      }
      const inner = this.alternation();
      if (this.src[this.i] !== ')') this.fail("expected ')'");
      this.i++;
      return `(${inner || '""'})`;
    }
    if (ch === '[') return this.set(this.classSet());
    if (ch === '.') { this.i++; return this.set(negate([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029])); }
    if (ch === '^' || ch === '$') this.fail(`'${ch}' inside the pattern is not supported`);
    if (ch === '*' || ch === '+' || ch === '?' || ch === '{' && /^\{\d*(,\d*)?\}/.test(this.src.slice(this.i))) this.fail(`nothing to repeat before '${ch}'`);
    if (ch === '\\') return this.set(this.escape(false));
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return this.set([cp, cp]);
  }

  /** An escape (after the backslash at this.i) as code point ranges. */
  private escape(inClass: boolean): number[] {
    this.i++;
    const e = this.src[this.i];
    if (e === undefined) this.fail('trailing backslash');
    this.i++;
    switch (e) {
      case 'd': return [0x30, 0x39];
      case 'D': return negate([0x30, 0x39]);
      case 'w': return WORD;
      case 'W': return negate(WORD);
      case 's': return SPACE;
      case 'S': return negate(SPACE);
      case 'n': return [10, 10];
      case 't': return [9, 9];
      case 'r': return [13, 13];
      case 'f': return [12, 12];
      case 'v': return [11, 11];
      case '0': return [0, 0];
      case 'x': case 'u': {
        const m = e === 'x' ? /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i)) : /^([0-9a-fA-F]{4}|\{[0-9a-fA-F]{1,6}\})/.exec(this.src.slice(this.i));
        if (!m) this.fail(`bad \\${e} escape`);
        this.i += m[0].length;
        const v = parseInt(m[0].replace(/[{}]/g, ''), 16);
        return [v, v];
      }
      case 'b': if (inClass) return [8, 8]; return this.fail('\\b (word boundary) is not supported');
      default:
        if (/[0-9]/.test(e) || e === 'B' || e === 'k' || e === 'p' || e === 'P') this.fail(`\\${e} is not supported`);
        if (/[A-Za-z]/.test(e)) this.fail(`unknown escape \\${e}`);
        return [e.codePointAt(0)!, e.codePointAt(0)!];
    }
  }

  private classSet(): number[] {
    this.i++;
    const neg = this.src[this.i] === '^';
    if (neg) this.i++;
    const ranges: number[] = [];
    const one = (): number[] => {
      if (this.src[this.i] === '\\') return this.escape(true);
      const cp = this.src.codePointAt(this.i)!;
      this.i += cp > 0xffff ? 2 : 1;
      return [cp, cp];
    };
    while (this.src[this.i] !== ']') {
      if (this.i >= this.src.length) this.fail("unterminated '['");
      const lo = one();
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && lo.length === 2 && lo[0] === lo[1]) {
        this.i++;
        const hi = one();
        if (hi.length !== 2 || hi[0] !== hi[1]) this.fail('a class escape cannot end a range');
        if (hi[0]! < lo[0]!) this.fail('range out of order');
        ranges.push(lo[0]!, hi[0]!);
      } else ranges.push(...lo);
    }
    this.i++;
    return neg ? negate(ranges) : normalize(ranges);
  }

  /** GBNF for one character of this set, as JSON writes it inside a string. */
  private set(ranges: number[]): string {
    const plain = subtract(ranges, [0x00, 0x1f, 0x22, 0x22, 0x5c, 0x5c]);
    const alts: string[] = [];
    if (plain.length > 0) alts.push(gbnfClass(plain));
    const has = (cp: number) => contains(ranges, cp);
    if (has(0x22)) alts.push('"\\\\\\""');
    if (has(0x5c)) alts.push('"\\\\\\\\"');
    const short: Record<number, string> = { 8: 'b', 9: 't', 10: 'n', 12: 'f', 13: 'r' };
    for (let cp = 0; cp < 0x20; cp++) {
      if (!has(cp)) continue;
      alts.push(short[cp] !== undefined ? `"\\\\${short[cp]}"` : `"\\\\u00${cp.toString(16).padStart(2, '0')}"`);
    }
    if (alts.length === 0) this.fail('a character class that matches nothing');
    return alts.length === 1 ? alts[0]! : this.c.sub('re-char', alts.join(' | '));
  }
}

const WORD = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE = normalize([9, 13, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff]);

function normalize(r: number[]): number[] {
  return charSet(r);
}

/** Every character (no surrogates) outside r. */
function negate(r: number[]): number[] {
  return subtract(charSet(r, true), [0xd800, 0xdfff]);
}

function subtract(a: number[], b: number[]): number[] {
  const nb = charSet(b, true), na = charSet(a);
  const out: number[] = [];
  for (let i = 0; i < na.length; i += 2) {
    for (let j = 0; j < nb.length; j += 2) {
      const lo = Math.max(na[i]!, nb[j]!), hi = Math.min(na[i + 1]!, nb[j + 1]!);
      if (lo <= hi) out.push(lo, hi);
    }
  }
  return charSet(out);
}

function contains(r: number[], cp: number): boolean {
  for (let i = 0; i < r.length; i += 2) if (cp >= r[i]! && cp <= r[i + 1]!) return true;
  return false;
}
