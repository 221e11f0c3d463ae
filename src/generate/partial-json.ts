/**
 * A streaming JSON parser that keeps the value read so far: text goes in piece by piece, and at any
 * point `value` is the partial value — what generateObject yields while a model writes JSON.
 *
 * What a partial value holds (each one is a "prefix" of the final value):
 * - a string being written is there with the characters read so far (an escape sequence counts once
 *   it is complete);
 * - a number, true, false or null is there only once complete (when the character after it arrives,
 *   or at the end): a number's digits so far are not a prefix of its value;
 * - an object property is there from the moment its value starts (`{}`, `[]` or `""` to begin with);
 *   an array element likewise;
 * - every value before the one being written is complete: in an object every property but the last,
 *   in an array every element but the last.
 * The text must be one JSON value (RFC 8259), whitespace around it allowed; anything else is a
 * BAD_OUTPUT WasmlmError naming the offset.
 */
import { WasmlmError } from '../errors.js';

type Frame =
  | { kind: 'object'; value: Record<string, unknown>; key: string | undefined; state: 'key' | 'colon' | 'value' | 'comma' }
  | { kind: 'array'; value: unknown[]; state: 'value' | 'comma' };

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const LITERAL_CHAR = /[0-9A-Za-z+\-.]/;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export class PartialJSON {
  private readonly stack: Frame[] = [];
  private root: unknown = undefined;
  private started = false;
  /** where the parser is: before a value, inside a string or a literal, or after the root value */
  private mode: 'value' | 'string' | 'literal' | 'frame' | 'end' = 'value';
  /** the string being read (a key or a value), its pending escape sequence, whether it is a key */
  private str = '';
  private escape = '';
  private isKey = false;
  /** the number or true / false / null being read */
  private literal = '';
  private offset = 0;
  /** bumped whenever the visible value changes */
  private version = 0;

  /** The value so far (undefined before it starts): live, not a copy. */
  get value(): unknown {
    return this.root;
  }

  /** Whether the root value is complete (more text may only be whitespace). */
  get done(): boolean {
    return this.mode === 'end';
  }

  /** Reads `text`; returns whether the visible value changed. */
  push(text: string): boolean {
    const before = this.version;
    for (const ch of text) {
      this.char(ch);
      this.offset += ch.length;
    }
    return this.version !== before;
  }

  /**
   * The end of the text: a number (or literal) at the very end completes. Returns whether the
   * value changed; throws BAD_OUTPUT when the value is not complete.
   */
  finish(): boolean {
    const before = this.version;
    if (this.mode === 'literal') this.endLiteral();
    if (this.mode !== 'end') {
      throw this.bad(this.started ? 'the JSON value ends before it is complete' : 'there is no JSON value');
    }
    return this.version !== before;
  }

  /** A deep copy of the value so far (for a consumer to keep). */
  snapshot(): unknown {
    return structuredClone(this.root);
  }

  private bad(what: string): WasmlmError {
    return new WasmlmError('BAD_OUTPUT', `the generated text is not JSON: ${what} (at offset ${this.offset})`);
  }

  private char(ch: string): void {
    switch (this.mode) {
      case 'string': return this.stringChar(ch);
      case 'literal':
        if (LITERAL_CHAR.test(ch)) { this.literal += ch; return; }
        this.endLiteral();
        return this.char(ch); // the character after the literal, read in the new mode
      case 'value': return this.valueStart(ch);
      case 'frame': return this.frameChar(ch);
      case 'end':
        if (!WS.has(ch)) throw this.bad(`${JSON.stringify(ch)} after the complete value`);
        return;
    }
  }

  /** A value begins (or whitespace before it). */
  private valueStart(ch: string): void {
    if (WS.has(ch)) return;
    if (ch === '{') {
      const value: Record<string, unknown> = {};
      this.place(value);
      this.stack.push({ kind: 'object', value, key: undefined, state: 'key' });
      this.mode = 'frame';
    } else if (ch === '[') {
      const value: unknown[] = [];
      this.place(value);
      this.stack.push({ kind: 'array', value, state: 'value' });
      this.mode = 'frame';
    } else if (ch === '"') {
      this.isKey = false;
      this.str = '';
      this.place('');
      this.mode = 'string';
    } else if (LITERAL_CHAR.test(ch)) {
      this.literal = ch;
      this.mode = 'literal';
    } else {
      throw this.bad(`${JSON.stringify(ch)} where a value should start`);
    }
  }

  /** Inside an object or array, between values. */
  private frameChar(ch: string): void {
    if (WS.has(ch)) return;
    const top = this.stack[this.stack.length - 1]!;
    if (top.kind === 'array') {
      if (ch === ']' && (top.state === 'comma' || top.value.length === 0)) return this.close();
      if (top.state === 'comma') {
        if (ch !== ',') throw this.bad(`${JSON.stringify(ch)} where ',' or ']' should be`);
        top.state = 'value';
        return;
      }
      top.state = 'comma'; // once the element is read
      return this.valueStart(ch);
    }
    switch (top.state) {
      case 'key':
        if (ch === '}' && Object.keys(top.value).length === 0 && top.key === undefined) return this.close();
        if (ch !== '"') throw this.bad(`${JSON.stringify(ch)} where a property name should be`);
        this.isKey = true;
        this.str = '';
        this.mode = 'string';
        return;
      case 'colon':
        if (ch !== ':') throw this.bad(`${JSON.stringify(ch)} where ':' should be`);
        top.state = 'value';
        return;
      case 'value':
        top.state = 'comma';
        return this.valueStart(ch);
      case 'comma':
        if (ch === '}') return this.close();
        if (ch !== ',') throw this.bad(`${JSON.stringify(ch)} where ',' or '}' should be`);
        top.state = 'key';
        top.key = undefined;
        return;
    }
  }

  private stringChar(ch: string): void {
    if (this.escape) {
      this.escape += ch;
      if (this.escape.length === 2 && this.escape !== '\\u') {
        const c = ESCAPES[ch];
        if (c === undefined) throw this.bad(`the escape ${JSON.stringify(this.escape)}`);
        this.escape = '';
        return this.append(c);
      }
      if (this.escape.length === 6) {
        if (!/^\\u[0-9a-fA-F]{4}$/.test(this.escape)) throw this.bad(`the escape ${JSON.stringify(this.escape)}`);
        const code = parseInt(this.escape.slice(2), 16);
        this.escape = '';
        return this.append(String.fromCharCode(code));
      }
      return;
    }
    if (ch === '\\') { this.escape = ch; return; }
    if (ch === '"') return this.endString();
    if (ch < ' ') throw this.bad(`a control character (U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}) inside a string`);
    this.append(ch);
  }

  private append(s: string): void {
    this.str += s;
    // a high surrogate shows once its low half is there (a lone one is a character of its own)
    if (!this.isKey && !/[\uD800-\uDBFF]$/.test(this.str)) this.update(this.str);
  }

  private endString(): void {
    this.mode = 'frame';
    if (this.isKey) {
      const top = this.stack[this.stack.length - 1] as Extract<Frame, { kind: 'object' }>;
      top.key = this.str;
      top.state = 'colon';
      return;
    }
    this.update(this.str);
    this.completed();
  }

  private endLiteral(): void {
    const text = this.literal;
    let v: unknown;
    if (text === 'true') v = true;
    else if (text === 'false') v = false;
    else if (text === 'null') v = null;
    else if (NUMBER.test(text)) v = Number(text);
    else throw this.bad(`${JSON.stringify(text)} is not a value`);
    this.literal = '';
    this.mode = 'frame';
    this.place(v);
    this.completed();
  }

  private close(): void {
    this.stack.pop();
    this.mode = 'frame';
    this.completed();
  }

  /** A value just ended: at the root, the text is done. */
  private completed(): void {
    if (this.stack.length === 0) this.mode = 'end';
  }

  /** Puts a new value where the parser stands (the root, the array's next element, the object's key). */
  private place(v: unknown): void {
    this.version++;
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      this.root = v;
      this.started = true;
    } else if (top.kind === 'array') {
      top.value.push(v);
    } else {
      top.value[top.key!] = v;
    }
  }

  /** Replaces the value being written (a growing string), if it changed. */
  private update(v: string): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      if (this.root === v) return;
      this.root = v;
    } else if (top.kind === 'array') {
      if (top.value[top.value.length - 1] === v) return;
      top.value[top.value.length - 1] = v;
    } else {
      if (top.value[top.key!] === v) return;
      top.value[top.key!] = v;
    }
    this.version++;
  }
}
