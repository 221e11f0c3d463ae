/**
 * The grammar engine: GBNF parsing (llama.cpp's grammars as they are, every error with its line and
 * column), the byte-level matcher (left recursion, UTF-8 split across tokens), JSON Schema → grammar
 * (each keyword against ajv), and the token masks against a brute-force reference over real
 * vocabularies (each token's bytes fed to a separately compiled copy of the matcher).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CompiledGrammar, maskHas, parseGbnf, schemaToGbnf, TokenConstraint, vocabTrie, type JsonSchema } from '../src/grammar/index.js';
import { intRange } from '../src/grammar/schema.js';
import { createTokenizer } from '../src/tokenizer/index.js';
import { loadTokenizer } from '../src/tokenizer/load.js';
import type { Tokenizer } from '../src/tokenizer/types.js';
import { FIXTURES, vocabFromGguf } from './helpers/gguf-vocab.js';
import { ajv, SCHEMAS } from './fixtures-grammar/schemas.js';
import { rng } from '../src/generate/sampler.js';

const DIR = new URL('./fixtures-grammar/', import.meta.url).pathname;
const gbnf = (name: string) => readFileSync(`${DIR}${name}.gbnf`, 'utf8');
const enc = new TextEncoder();
const compile = (text: string) => new CompiledGrammar(parseGbnf(text));
/** The whole text is a sentence of the grammar. */
const accepts = (g: CompiledGrammar, text: string | Uint8Array) => {
  const s = g.advanceBytes(g.start, typeof text === 'string' ? enc.encode(text) : text);
  return s >= 0 && g.state(s).accepting;
};
/** The text can be continued into a sentence. */
const prefixOk = (g: CompiledGrammar, text: string) => g.advanceBytes(g.start, enc.encode(text)) >= 0;

function expectCode(f: () => unknown, code: string, message?: RegExp) {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err, 'expected a throw').toBeDefined();
  expect((err as { code?: string }).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('GBNF: llama.cpp grammars as they are', () => {
  const cases: Record<string, { yes: string[]; no: string[] }> = {
    json: {
      yes: ['{}', '{"a": 1}', '{"a": [1, -2, {"b": "c\\u00e9\\n"}], "d": true}', '{ "k": "snow ☃ 雪"}'],
      no: ['[]', '{"a": 1,}', '{"a": "\\q"}', '{"a": 01.5}', '{"a": "x"'],
    },
    json_arr: { yes: ['[\n]', '[\n{"a": null},\n1.5e3]'], no: ['[]', '[\n1,]'] },
    chess: { yes: ['1. e4 e5\n2. Nf3 Nc6\n', '1. O-O-O Qxd8+\n2. exd8=Q# a1\n'], no: ['1. e4 e5\n', '1. e9 e5\n2. a1 a2\n'] },
    english: { yes: ['Hello, world!', 'a b\tc'], no: ['', 'héllo', 'a  b'] },
    japanese: { yes: ['こんにちは', '日本語 カタカナ'], no: ['abc', 'こんにちは '] },
    list: { yes: ['- one\n- two\n'], no: ['- one', '- \n', '* one\n'] },
    arithmetic: { yes: ['a+b=c\n', '(x1 *22) /y = 7\n'], no: ['a+=c\n', '1a=2\n'] },
    c: { yes: ['int main(){return 0;}', 'int f(int x){while(x<10){x = x+1;}}'], no: ['int main(){return 0}', 'main(){}'] },
  };
  for (const [name, { yes, no }] of Object.entries(cases)) {
    it(`${name}.gbnf parses and decides its sentences`, () => {
      const g = compile(gbnf(name));
      for (const s of yes) expect(accepts(g, s), JSON.stringify(s)).toBe(true);
      for (const s of no) expect(accepts(g, s), JSON.stringify(s)).toBe(false);
    });
  }

  it('every fixture grammar is covered above', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.gbnf')).map((f) => f.slice(0, -5)).sort();
    expect(files).toEqual(Object.keys(cases).sort());
  });

  it('repetitions: * + ? {m} {m,} {m,n} {,n}, on groups and literals', () => {
    const g = compile('root ::= "ab"{2} [0-9]{1,3} ("x" | "y")* "z"? [a-c]{2,} "!"{,2}');
    for (const s of ['abab1aa', 'abab123xyxzcab!!', 'abab12zaaa!']) expect(accepts(g, s), s).toBe(true);
    for (const s of ['ab1aa', 'abab1234aa', 'abab1a', 'abab1aa!!!', 'abab1zzaa']) expect(accepts(g, s), s).toBe(false);
  });

  it('escapes \\x \\u \\U \\t \\n \\r \\\\ \\" \\[ \\] \\-, negated classes, `.`, comments', () => {
    const g = compile('root ::= "\\x41\\u00e9\\U0001F600\\t\\n\\r\\\\\\"" [\\[\\]\\-] [^a-z] . # a comment\n');
    expect(accepts(g, 'Aé😀\t\n\r\\"]Q☃')).toBe(true);
    expect(accepts(g, 'Aé😀\t\n\r\\"]q☃')).toBe(false);
  });

  it('rules span lines inside parentheses and after ::= and |; names with - and _', () => {
    const g = compile('root ::=\n  (\n    a-b |\n    c_d\n  )\na-b ::= "1"\nc_d ::= "2"');
    expect(accepts(g, '1') && accepts(g, '2')).toBe(true);
  });
});

describe('GBNF errors: BAD_GRAMMAR with line and column', () => {
  const cases: [string, RegExp][] = [
    ['root ::= "a', /line 1, column 10: unterminated literal/],
    ['root ::= [a-', /line 1, column 10: unterminated character class|line 1, column 13/],
    ['root ::= foo', /line 1, column 10: undefined rule 'foo'/],
    ['a ::= "x"', /no 'root' rule/],
    ['root ::= "x"\nroot ::= "y"', /line 2, column 1: rule 'root' is defined twice/],
    ['root ::= ("x"', /line 1, column 14: expected '\)'/],
    ['root ::= "x"\n  bad', /line 2, column 6: expected '::=' after the rule name 'bad'/],
    ['root := "x"', /line 1, column 6: expected '::='/],
    ['root ::= * "x"', /line 1, column 10: '\*' with nothing before it/],
    ['root ::= "x"{3,1}', /line 1, column 13: .*maximum is below the minimum/],
    ['root ::= "x"{2', /expected '}'/],
    ['root ::= "\\q"', /line 1, column 11: unknown escape '\\q'/],
    ['root ::= "\\x4"', /expected 2 hex digits/],
    ['root ::= [z-a]', /character range ends/],
    ['root ::= "a" )', /line 1, column 14: expected the end of the line/],
    ['root ::= "x"{100001}', /above 100000/],
    ['root ::= a\na ::= b "x"\nb ::= a "y" | "z"', /left-recursive \('a' -> 'b' -> 'a'\)/],
    ['root ::= a\na ::= a "x"', /left-recursive with no alternative/],
  ];
  for (const [src, re] of cases) it(JSON.stringify(src), () => expectCode(() => compile(src), 'BAD_GRAMMAR', re));
  it('a non-string grammar', () => expectCode(() => parseGbnf(42 as never), 'BAD_GRAMMAR', /must be a string/));
});

describe('the matcher', () => {
  it('direct left recursion is rewritten: left-nested rules of any depth, no blow-up', () => {
    const g = compile('root ::= expr\nexpr ::= expr "+" term | expr "-" term | term\nterm ::= term "*" num | num\nnum ::= [0-9]+');
    expect(accepts(g, '1+2*3-44*5*6')).toBe(true);
    expect(accepts(g, '1+' + Array.from({ length: 2000 }, (_, i) => String(i % 10)).join('*'))).toBe(true);
    expect(accepts(g, '1+*2')).toBe(false);
  });

  it('tail repetition keeps the state set small and the states few (a long list is one loop)', () => {
    const g = compile(gbnf('json'));
    const text = '{"a": [' + Array.from({ length: 3000 }, (_, i) => String(i)).join(', ') + ']}';
    let s = g.start;
    let most = 0;
    for (const b of enc.encode(text)) { s = g.advance(s, b); most = Math.max(most, g.state(s).nodes.length); }
    expect(g.state(s).accepting).toBe(true);
    expect(most).toBeLessThan(20);
  });

  it('UTF-8 split anywhere: a partial character keeps exactly the parses it can still complete', () => {
    const g = compile('root ::= [ぁ-ゟ]+ | "é"');
    const bytes = enc.encode('ぁゟ');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const s = g.advanceBytes(g.advanceBytes(g.start, bytes.subarray(0, cut)), bytes.subarray(cut));
      expect(g.state(s).accepting).toBe(true);
    }
    expect(g.advanceBytes(g.start, new Uint8Array([0xe3]))).toBeGreaterThanOrEqual(0); // ぁ starts E3 81
    expect(g.advanceBytes(g.start, new Uint8Array([0xe4]))).toBe(-1); // no code point of the set starts E4
    expect(g.advanceBytes(g.start, new Uint8Array([0xc3]))).toBeGreaterThanOrEqual(0); // é is C3 A9
    expect(g.advanceBytes(g.start, new Uint8Array([0xc3, 0xa8]))).toBe(-1); // è
    // overlong forms, surrogates and stray continuation bytes are not characters
    const any = compile('root ::= .+');
    for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xff]]) {
      expect(any.advanceBytes(any.start, Uint8Array.from(bad)), bad.join(' ')).toBe(-1);
    }
    expect(accepts(any, '\u{10FFFF}\u{80}\u{800}\u{10000}')).toBe(true);
  });

  it('an ambiguous grammar past the bound is an error, not a hang', () => {
    // after n "a"s the pending closers are any sequence of n "b"s and "c"s: 2^n live parses
    const g = compile('root ::= s\ns ::= "a" s "b" | "a" s "c" | ""');
    expect(accepts(g, 'aaaaacbbcb')).toBe(true);
    expect(accepts(g, 'aaaaacbbc')).toBe(false);
    expectCode(() => g.advanceBytes(g.start, enc.encode('a'.repeat(13))), 'BAD_GRAMMAR', /too ambiguous: more than 4096 parses/);
  });
});

// ------------------------------------------------------------------ JSON Schema

/** Samples the grammar: random bytes among those it allows, until complete (seeded). */
function sampleSentence(g: CompiledGrammar, seed: number, maxBytes = 400): Uint8Array | undefined {
  const r = rng(seed);
  const out: number[] = [];
  let s = g.start;
  while (out.length < maxBytes) {
    if (g.finished(s) || (g.state(s).accepting && g.state(s).need === 0 && r() < 0.3)) return Uint8Array.from(out);
    const options: number[] = [];
    for (let b = 0; b < 256; b++) if (g.advance(s, b) >= 0) options.push(b);
    if (options.length === 0) return undefined;
    // prefer ASCII (keeps sentences short and readable), but take other bytes too
    const ascii = options.filter((b) => b < 0x80);
    const pool = ascii.length > 0 && r() < 0.9 ? ascii : options;
    const b = pool[Math.floor(r() * pool.length)]!;
    out.push(b);
    s = g.advance(s, b);
  }
  return undefined;
}

describe('JSON Schema → grammar', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: 200 random sentences of its grammar all parse and validate`, () => {
      const g = compile(schemaToGbnf(schema));
      const validate = ajv.compile(schema as object);
      let n = 0;
      for (let seed = 1; seed <= 400 && n < 200; seed++) {
        const bytes = sampleSentence(g, seed);
        if (bytes === undefined) continue;
        n++;
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        const value = JSON.parse(text);
        expect(validate(value), `${text}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
      expect(n).toBeGreaterThan(100);
    });
  }

  it('accepts what it should and rejects what does not validate', () => {
    const check = (schema: JsonSchema, yes: string[], no: string[]) => {
      const g = compile(schemaToGbnf(schema));
      const validate = ajv.compile(schema as object);
      for (const s of yes) { expect(validate(JSON.parse(s)), s).toBe(true); expect(accepts(g, s), s).toBe(true); }
      for (const s of no) {
        let valid = false;
        try { valid = validate(JSON.parse(s)) as boolean; } catch { /* not JSON */ }
        expect(valid, s).toBe(false);
        expect(accepts(g, s), s).toBe(false);
      }
    };
    check(SCHEMAS.person!, ['{"name": "Al", "age": 7}', '{\n  "name": "Al",\n  "age": 150,\n  "tags": ["x"]\n}', '{"name":"Al","age":0,"email":"a.b@c.de","nick":null}'],
      ['{"name": "", "age": 7}', '{"name": "Al"}', '{"name": "Al", "age": 151}', '{"name": "Al", "age": 7, "tags": []}', '{"name": "Al", "age": -1}', '{"name": "Al", "age": 1, "nick": "abcde"}']);
    check(SCHEMAS.enumsAndConsts!, ['{"kind": "point", "color": {"deep":[1]}, "ok": true}', '{"kind":"point","color":null,"ok":false}'],
      ['{"kind": "line", "color": "red", "ok": true}', '{"kind": "point", "color": "blue", "ok": true}', '{"kind": "point", "color": 42, "ok": true, "x": 1}']);
    check(SCHEMAS.numbers!, ['{"a": -1.5, "b": 1e5, "c": 6, "d": null}', '{"a": 3, "b": -0.5, "c": 999, "d": 12345}', '{"a": -1.999, "b": 0, "c": 500, "d": 100}'],
      ['{"a": 3.8, "b": 1, "c": 6, "d": 100}', '{"a": 1, "b": 1, "c": 5, "d": 100}', '{"a": 1, "b": 1, "c": 6, "d": 99}', '{"a": 1, "b": 1, "c": 1000, "d": 100}']);
    check(SCHEMAS.additional!, ['{"id": 1, "idx": true, "zz": "abc"}', '{"id": 2, "i": "", "idxx": "q"}'],
      ['{"id": 1, "idx": "abc"}', '{"id": 1, "zz": "abcd"}', '{"zz": "a"}']);
    check(SCHEMAS.refs!, ['{"v": 1, "next": {"v": 2, "next": null}}'], ['{"v": 1, "next": {"v": 10, "next": null}}', '{"v": 1}']);
    check(SCHEMAS.formats!, ['{"d": "2024-02-29", "t": "23:59:59.123Z", "dt": "2000-02-29T00:00:00+05:30", "u": "123e4567-e89b-12d3-a456-426614174000"}'],
      ['{"d": "2023-02-29", "t": "23:59:59Z", "dt": "2000-01-01T00:00:00Z", "u": "123e4567-e89b-12d3-a456-426614174000"}',
        '{"d": "2024-02-28", "t": "24:00:00Z", "dt": "2000-01-01T00:00:00Z", "u": "123e4567-e89b-12d3-a456-426614174000"}',
        '{"d": "2024-04-31", "t": "23:00:00Z", "dt": "2000-01-01T00:00:00Z", "u": "123e4567-e89b-12d3-a456-426614174000"}']);
    check({ type: 'string', pattern: '^a[^b"]\\d?$' }, ['"ac"', '"a\\\\1"', '"a\\"9"'.replace('\\"', 'x')], ['"ab"', '"a"', '"acc"']);
    check({ type: 'string', pattern: 'x' }, ['"x"', '"abxcd"'], ['"abc"']);
  });

  it('integer ranges are exact (every integer in and around random ranges)', () => {
    const r = rng(7);
    for (let k = 0; k < 60; k++) {
      const span = [10, 1000, 100000][k % 3]!;
      const lo = Math.floor((r() - 0.5) * span), hi = lo + Math.floor(r() * span);
      const g = compile(`root ::= ${intRange(lo, hi)}`);
      for (let v = lo - 3; v <= hi + 3; v += Math.max(1, Math.floor((hi - lo) / 300))) {
        expect(accepts(g, String(v)), `${v} in [${lo}, ${hi}]`).toBe(v >= lo && v <= hi);
      }
      for (const v of [lo, hi, lo - 1, hi + 1]) expect(accepts(g, String(v))).toBe(v >= lo && v <= hi);
      expect(accepts(g, '-0')).toBe(false);
      expect(accepts(g, '0' + String(Math.abs(hi)))).toBe(false);
    }
  });

  it('unsupported keywords and bad values: BAD_SCHEMA naming the keyword and its JSON pointer', () => {
    const cases: [JsonSchema, RegExp][] = [
      [{ type: 'object', properties: { a: { type: 'string', minProperties: 1 } } }, /#\/properties\/a\/minProperties: unsupported keyword 'minProperties'/],
      [{ type: 'array', items: { not: {} } }, /#\/items\/not: unsupported keyword 'not'/],
      [{ allOf: [] }, /#\/allOf: unsupported keyword 'allOf'/],
      [{ type: 'strin' }, /#\/type: unknown type "strin"/],
      [{ type: 'string', format: 'ipv4' }, /#\/format: unsupported format "ipv4"/],
      [{ $ref: 'http://x/y' }, /#\/\$ref: only local references/],
      [{ $ref: '#/$defs/missing' }, /points to nothing/],
      [{ type: 'string', pattern: '(?=a)' }, /#\/pattern: pattern "\(\?=a\)": lookarounds/],
      [{ type: 'string', pattern: '(a)\\1' }, /\\1 is not supported/],
      [{ type: 'integer', minimum: 5, maximum: 4 }, /no integer lies in the range/],
      [{ type: 'string', minLength: 3, maxLength: 2 }, /#\/maxLength: maxLength 2 is below minLength 3/],
      [{ type: 'array', items: [{}] }, /#\/items: items as a list/],
      [{ type: 'number', exclusiveMinimum: 0 }, /#\/exclusiveMinimum: exclusiveMinimum is supported on integers only/],
      [false, /accepts no value/],
      [{ enum: [] }, /#\/enum: enum must be a non-empty array/],
      [{ anyOf: [{ type: 'string' }], minLength: 2 }, /#\/minLength: 'minLength' beside anyOf/],
    ];
    for (const [schema, re] of cases) expectCode(() => schemaToGbnf(schema), 'BAD_SCHEMA', re);
  });
});

// ------------------------------------------------------------------ token masks

/** The allowed tokens by brute force: each token's bytes (`bytes[id]`, from idToBytes) fed to a separate matcher. */
function bruteForce(ref: CompiledGrammar, state: number, tok: Tokenizer, bytes: Uint8Array[], strip: boolean): Set<number> {
  const out = new Set<number>();
  const accepting = ref.state(state).accepting;
  for (let id = 0; id < tok.vocabSize; id++) {
    if (tok.isEog(id)) { if (accepting) out.add(id); continue; }
    let b = bytes[id]!;
    if (strip && b[0] === 0x20) b = b.subarray(1);
    if (b.length > 0 && ref.advanceBytes(state, b) >= 0) out.add(id);
  }
  return out;
}

const vocabularies: Record<string, () => Promise<Tokenizer>> = {
  'llama SentencePiece 32k': async () => createTokenizer(vocabFromGguf(`${FIXTURES}tokenizers/ggml-vocab-llama-spm.gguf`)),
  'gpt-2 byte-level BPE 50k': async () => createTokenizer(vocabFromGguf(`${FIXTURES}tokenizers/ggml-vocab-gpt-2.gguf`)),
  'qwen3 tokenizer.json 151k': () => loadTokenizer(`${FIXTURES}tokenizers/hf/qwen3/tokenizer.json`),
};

describe('token masks equal the brute-force reference', () => {
  const grammars: Record<string, string> = {
    json: gbnf('json'),
    japanese: gbnf('japanese'),
    chess: gbnf('chess'),
    schema: schemaToGbnf(SCHEMAS.person!),
  };
  for (const [vname, load] of Object.entries(vocabularies)) {
    it(`${vname}: masks along random walks (tokens drawn from the mask), first token with and without the space strip`, async () => {
      const tok = await load();
      const trie = vocabTrie(tok);
      const bytes = Array.from({ length: tok.vocabSize }, (_, id) => tok.idToBytes(id));
      let states = 0;
      for (const [gname, text] of Object.entries(grammars)) {
        for (const strip of [false, true]) {
          const g = compile(text), ref = compile(text);
          const c = new TokenConstraint(g, tok, trie, { stripFirstSpace: strip });
          let refState = ref.start;
          let first = true;
          const r = rng(gname.length * 31 + (strip ? 1 : 0));
          for (let step = 0; step < 12; step++) {
            const mask = c.mask();
            const expected = bruteForce(ref, refState, tok, bytes, strip && first);
            const got: number[] = [];
            for (let id = 0; id < tok.vocabSize; id++) if (maskHas(mask, id)) got.push(id);
            expect(got.length, `${gname} step ${step}`).toBe(expected.size);
            expect(got.filter((id) => !expected.has(id)), `${gname} step ${step}: tokens the mask allows wrongly`).toEqual([]);
            const wrong: number[] = [];
            for (let k = 0; k < 50; k++) {
              const id = Math.floor(r() * tok.vocabSize);
              if (c.allows(id) !== expected.has(id)) wrong.push(id);
            }
            expect(wrong, 'allows() disagrees').toEqual([]);
            states++;
            const choices = got.filter((id) => !tok.isEog(id));
            if (choices.length === 0 || c.done) break;
            const id = choices[Math.floor(r() * choices.length)]!;
            c.accept(id);
            let b = tok.idToBytes(id);
            if (strip && first && b[0] === 0x20) b = b.subarray(1);
            refState = ref.advanceBytes(refState, b);
            first = false;
          }
        }
      }
      expect(states).toBeGreaterThan(40);
    }, 120_000);
  }
});
