/**
 * llama.cpp's GBNF, parsed into the internal grammar: rules of alternatives of sequences of elements, an
 * element being a character set (code point ranges) or a rule reference. Groups and repetitions
 * (`*` `+` `?` `{m}` `{m,}` `{m,n}`) become generated rules, as in llama.cpp, so the matcher knows
 * only sets and references.
 *
 * Syntax (llama.cpp grammars/README.md): `name ::= alternatives`; names of letters, digits, `-` and `_`;
 * terminals "literal", [class] (ranges a-z, negation [^...]) and `.` (any character); escapes \xHH,
 * \uHHHH, \UHHHHHHHH, \t \n \r, and \\ \" \[ \] \- for themselves; `# comment` to the end of the line. A rule
 * ends at a newline, except inside parentheses and right after `::=` or `|`. The start rule is `root`.
 */
import { WasmlmError } from '../errors.js';

/** A set of code points: sorted, disjoint, non-adjacent inclusive ranges [lo0, hi0, lo1, hi1, ...]. */
export type CharSet = number[];
export type Element = { chars: CharSet } | { rule: number };
export type Alternative = Element[];

export interface Grammar {
  /** rule names (generated rules: `<parent>_<n>`) */
  names: string[];
  rules: Alternative[][];
  root: number;
}

export const MAX_CODE_POINT = 0x10ffff;
/** Most elements a grammar may expand to (repetitions are written out): bounds memory. */
export const MAX_GRAMMAR_ELEMENTS = 1 << 20;

/** Sort and merge ranges; `negate` complements within [0, MAX_CODE_POINT]. */
export function charSet(ranges: number[], negate = false): CharSet {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    if (out.length > 0 && lo <= out[out.length - 1]! + 1) out[out.length - 1] = Math.max(out[out.length - 1]!, hi);
    else out.push(lo, hi);
  }
  if (!negate) return out;
  const neg: number[] = [];
  let next = 0;
  for (let i = 0; i < out.length; i += 2) {
    if (out[i]! > next) neg.push(next, out[i]! - 1);
    next = out[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) neg.push(next, MAX_CODE_POINT);
  return neg;
}

/** Builds a grammar: named and generated rules, the repetition rewrites, a bound on its size. */
export class GrammarBuilder {
  readonly names: string[] = [];
  readonly rules: (Alternative[] | undefined)[] = [];
  private readonly ids = new Map<string, number>();
  private elements = 0;

  constructor(private readonly fail: (msg: string) => never) {}

  /** The id of a named rule (created undefined on first use). */
  id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
      this.rules.push(undefined);
    }
    return id;
  }

  has(name: string): boolean {
    return this.ids.has(name);
  }

  define(id: number, alts: Alternative[]): void {
    for (const a of alts) this.elements += a.length + 1;
    if (this.elements > MAX_GRAMMAR_ELEMENTS) this.fail(`the grammar expands to more than ${MAX_GRAMMAR_ELEMENTS} elements`);
    this.rules[id] = alts;
  }

  /** A new rule `<parent>_<n>` with these alternatives; returns a reference to it. */
  generated(parent: string, alts: Alternative[]): Element {
    let n = this.names.length;
    while (this.ids.has(`${parent}_${n}`)) n++;
    const id = this.id(`${parent}_${n}`);
    this.define(id, alts);
    return { rule: id };
  }

  /**
   * `item` repeated min..max times (max Infinity: unbounded), as llama.cpp rewrites it: the item
   * min times, then a right-nested chain of optional items (or one recursive rule for no upper bound).
   */
  repeat(parent: string, item: Element[], min: number, max: number): Element[] {
    if (item.length !== 1) item = [this.generated(parent, [item])];
    const out: Element[] = [];
    for (let i = 0; i < min; i++) out.push(...item);
    if (max === Infinity) {
      const id = this.id(this.freshName(parent));
      this.define(id, [[...item, { rule: id }], []]);
      out.push({ rule: id });
    } else {
      let tail: Element[] = [];
      for (let i = min; i < max; i++) tail = [this.generated(parent, [[...item, ...tail], []])];
      out.push(...tail);
    }
    return out;
  }

  private freshName(parent: string): string {
    let n = this.names.length;
    while (this.ids.has(`${parent}_${n}`)) n++;
    return `${parent}_${n}`;
  }

  /** The grammar, once every referenced rule is defined (else `undefinedRule` reports the first). */
  finish(root: string, undefinedRule: (name: string) => never): Grammar {
    if (!this.ids.has(root)) this.fail(`the grammar has no '${root}' rule`);
    for (let i = 0; i < this.rules.length; i++) if (this.rules[i] === undefined) undefinedRule(this.names[i]!);
    return { names: this.names, rules: this.rules as Alternative[][], root: this.ids.get(root)! };
  }
}

const isNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_-]/.test(c);
const MAX_REPEAT = 100_000;

/** Parse GBNF text. Malformed input throws BAD_GRAMMAR with the line and column. */
export function parseGbnf(src: string): Grammar {
  if (typeof src !== 'string') throw new WasmlmError('BAD_GRAMMAR', `grammar must be a string, got ${src === null ? 'null' : typeof src}`);
  let pos = 0;
  const failAt = (at: number, msg: string): never => {
    let line = 1, col = 1;
    for (let i = 0; i < at && i < src.length; i++) {
      if (src[i] === '\n') { line++; col = 1; } else col++;
    }
    throw new WasmlmError('BAD_GRAMMAR', `grammar line ${line}, column ${col}: ${msg}`);
  };
  const fail = (msg: string): never => failAt(pos, msg);
  const b = new GrammarBuilder(fail);
  const firstUse = new Map<string, number>();

  const space = (newlines: boolean) => {
    while (pos < src.length) {
      const c = src[pos]!;
      if (c === ' ' || c === '\t') pos++;
      else if (c === '#') while (pos < src.length && src[pos] !== '\n' && src[pos] !== '\r') pos++;
      else if (newlines && (c === '\n' || c === '\r')) pos++;
      else break;
    }
  };
  const name = (): string => {
    const start = pos;
    while (isNameChar(src[pos])) pos++;
    if (pos === start) fail(src[pos] === undefined ? 'expected a rule name, got the end' : `expected a rule name, got '${src[pos]}'`);
    return src.slice(start, pos);
  };
  const hex = (n: number): number => {
    const digits = src.slice(pos, pos + n);
    if (digits.length < n || !/^[0-9a-fA-F]+$/.test(digits)) fail(`expected ${n} hex digits`);
    pos += n;
    const v = parseInt(digits, 16);
    if (v > MAX_CODE_POINT) failAt(pos - n - 2, `code point 0x${digits} is above U+10FFFF`);
    return v;
  };
  /** One character of a literal or class, escapes decoded. */
  const char = (): number => {
    if (pos >= src.length) fail('unexpected end of the grammar');
    if (src[pos] === '\\') {
      const e = src[pos + 1];
      pos += 2;
      switch (e) {
        case 'x': return hex(2);
        case 'u': return hex(4);
        case 'U': return hex(8);
        case 't': return 9;
        case 'n': return 10;
        case 'r': return 13;
        case '\\': case '"': case '[': case ']': case '-': return e.charCodeAt(0);
        default: return failAt(pos - 2, e === undefined ? 'unexpected end after \\' : `unknown escape '\\${e}'`);
      }
    }
    const cp = src.codePointAt(pos)!;
    pos += cp > 0xffff ? 2 : 1;
    return cp;
  };
  const int = (): number | undefined => {
    const start = pos;
    while (src[pos] !== undefined && src[pos]! >= '0' && src[pos]! <= '9') pos++;
    return pos === start ? undefined : Number(src.slice(start, pos));
  };

  const alternatives = (rule: string, nested: boolean): Alternative[] => {
    const alts = [sequence(rule, nested)];
    while (src[pos] === '|') {
      pos++;
      space(true);
      alts.push(sequence(rule, nested));
    }
    return alts;
  };

  const sequence = (rule: string, nested: boolean): Alternative => {
    const seq: Element[] = [];
    let last = -1; // where the last symbol (what a repetition applies to) starts in seq
    for (;;) {
      const c = src[pos];
      const start = pos;
      if (c === '"') {
        pos++;
        last = seq.length;
        while (src[pos] !== '"') {
          if (pos >= src.length) failAt(start, 'unterminated literal');
          const cp = char();
          seq.push({ chars: [cp, cp] });
        }
        pos++;
      } else if (c === '[') {
        pos++;
        const negate = src[pos] === '^';
        if (negate) pos++;
        const ranges: number[] = [];
        while (src[pos] !== ']') {
          if (pos >= src.length) failAt(start, 'unterminated character class');
          const lo = char();
          let hi = lo;
          if (src[pos] === '-' && src[pos + 1] !== ']' && pos + 1 < src.length) {
            pos++;
            hi = char();
            if (hi < lo) fail(`character range ends (U+${hi.toString(16)}) before it starts (U+${lo.toString(16)})`);
          }
          ranges.push(lo, hi);
        }
        pos++;
        last = seq.length;
        seq.push({ chars: charSet(ranges, negate) });
      } else if (c === '.') {
        pos++;
        last = seq.length;
        seq.push({ chars: [0, MAX_CODE_POINT] });
      } else if (isNameChar(c)) {
        const n = name();
        if (!firstUse.has(n)) firstUse.set(n, start);
        last = seq.length;
        seq.push({ rule: b.id(n) });
      } else if (c === '(') {
        pos++;
        space(true);
        const alts = alternatives(rule, true);
        if (src[pos] !== ')') fail(pos >= src.length ? "expected ')', got the end" : `expected ')', got '${src[pos]}'`);
        pos++;
        last = seq.length;
        seq.push(b.generated(rule, alts));
      } else if (c === '*' || c === '+' || c === '?' || c === '{') {
        if (last < 0) fail(`'${c}' with nothing before it to repeat`);
        pos++;
        let min: number, max: number;
        if (c === '*') { min = 0; max = Infinity; }
        else if (c === '+') { min = 1; max = Infinity; }
        else if (c === '?') { min = 0; max = 1; }
        else {
          space(nested);
          min = int() ?? 0;
          space(nested);
          if (src[pos] === ',') {
            pos++;
            space(nested);
            max = int() ?? Infinity;
            space(nested);
          } else max = min;
          if (src[pos] !== '}') fail(`expected '}' to end the repetition, got ${src[pos] === undefined ? 'the end' : `'${src[pos]}'`}`);
          pos++;
          if (max < min) failAt(start, `repetition {${min},${max}}: the maximum is below the minimum`);
          if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) failAt(start, `repetition counts above ${MAX_REPEAT} are not supported`);
        }
        const item = seq.splice(last);
        seq.push(...b.repeat(rule, item, min, max));
        last = -1;
      } else break;
      space(nested);
    }
    return seq;
  };

  space(true);
  while (pos < src.length) {
    const ruleStart = pos;
    const n = name();
    space(false);
    if (src.slice(pos, pos + 3) !== '::=') fail(`expected '::=' after the rule name '${n}'`);
    pos += 3;
    space(true);
    const id = b.id(n);
    if (b.rules[id] !== undefined) failAt(ruleStart, `rule '${n}' is defined twice`);
    b.define(id, alternatives(n, false));
    if (src[pos] === '\r') pos += src[pos + 1] === '\n' ? 2 : 1;
    else if (src[pos] === '\n') pos++;
    else if (pos < src.length) fail(`expected the end of the line, got '${src[pos]}'`);
    space(true);
  }
  return b.finish('root', (n) => failAt(firstUse.get(n) ?? 0, `undefined rule '${n}'`));
}
