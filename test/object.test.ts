/**
 * generateObject's parts: the streaming partial-JSON parser against JSON.parse (the same values, the
 * same texts accepted and refused, over seeded random values, splits and mutations), its partial
 * values being prefixes of the final one, and streamObject over a text stream.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError, type CompleteResult } from '../src/index.js';
import { objectGenerateOptions, streamObject } from '../src/generate/object.js';
import { PartialJSON } from '../src/generate/partial-json.js';
import { rng } from '../src/generate/sampler.js';
import { collect } from './helpers/collect.js';
import { deepEqual, isPrefix } from './helpers/json-prefix.js';

const CHARS = ['a', 'b', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0001', 'é', '中', '😀', '\u2028', '}', ']', ',', ':'];

/** A random JSON value (object keys never look like array indices: JS would reorder them). */
function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 3 ? 4 : 7));
  switch (k) {
    case 0: return r() < 0.5 ? Math.floor((r() - 0.5) * 2000) : Number(((r() - 0.5) * 10 ** Math.floor(r() * 12 - 4)).toPrecision(1 + Math.floor(r() * 8)));
    case 1: return Array.from({ length: Math.floor(r() * 12) }, () => CHARS[Math.floor(r() * CHARS.length)]).join('');
    case 2: return r() < 0.5;
    case 3: return null;
    case 4: case 5: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 5);
      for (let i = 0; i < n; i++) o[`k${i}${CHARS[Math.floor(r() * CHARS.length)]}`] = randomValue(r, depth + 1);
      return o;
    }
    default: return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1));
  }
}

/** JSON text of `v` with random whitespace between tokens (and \u escapes in some strings). */
function randomText(v: unknown, r: () => number): string {
  const ws = () => [' ', '\n', '\t', '\r', ''][Math.floor(r() * 5)]!.repeat(Math.floor(r() * 2));
  const hex = (c: string, i: number) => {
    const h = c.charCodeAt(i).toString(16).padStart(4, '0');
    return `\\u${r() < 0.5 ? h : h.toUpperCase()}`;
  };
  const escaped = (c: string) => Array.from({ length: c.length }, (_, i) => hex(c, i)).join('');
  const str = (s: string) => (r() < 0.3 ? `"${Array.from(s, escaped).join('')}"` : JSON.stringify(s));
  const go = (x: unknown): string => {
    if (Array.isArray(x)) return `[${ws()}${x.map((e) => go(e) + ws()).join(`,${ws()}`)}]`;
    if (x !== null && typeof x === 'object') return `{${ws()}${Object.entries(x).map(([k, e]) => `${str(k)}${ws()}:${ws()}${go(e)}${ws()}`).join(`,${ws()}`)}}`;
    if (typeof x === 'string') return str(x);
    return JSON.stringify(x);
  };
  return ws() + go(v) + ws();
}

/** Splits `text` at random points. */
function split(text: string, r: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + Math.floor(r() * 6);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Parses `pieces`: the snapshots after each piece that changed the value, and the final value. */
function parse(pieces: string[]): { partials: unknown[]; final: unknown } {
  const parser = new PartialJSON();
  const partials: unknown[] = [];
  for (const piece of pieces) if (parser.push(piece)) partials.push(parser.snapshot());
  if (parser.finish()) partials.push(parser.snapshot());
  return { partials, final: parser.value };
}

/** Our parser's verdict on a whole text: the value, or the error. */
function ours(text: string): { value: unknown } | { error: WasmlmError } {
  try {
    return { value: parse([text]).final };
  } catch (e) {
    if (!(e instanceof WasmlmError)) throw e;
    return { error: e };
  }
}

describe('PartialJSON', () => {
  it('random values, whitespace, escapes and splits: the value JSON.parse reads; every partial a prefix of the final and of the next', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const r = rng(seed);
      const value = randomValue(r);
      const text = randomText(value, r);
      const { partials, final } = parse(split(text, r));
      expect(final).toEqual(JSON.parse(text));
      expect(final).toEqual(value);
      partials.forEach((p, i) => {
        expect(isPrefix(p, final), `seed ${seed}: ${JSON.stringify(p)} of ${text}`).toBe(true);
        if (i > 0) {
          expect(isPrefix(partials[i - 1], p), `seed ${seed}: ${JSON.stringify(partials[i - 1])} then ${JSON.stringify(p)}`).toBe(true);
          expect(deepEqual(partials[i - 1], p)).toBe(false); // a value is yielded only when it changed
        }
      });
      expect(partials[partials.length - 1]).toEqual(final); // the complete value last
    }
  });

  it('one character at a time: a property appears when its value starts, strings grow, numbers appear complete', () => {
    const text = '{"name": "Ada", "age": 36, "tags": ["x", true], "o": {}}';
    const parser = new PartialJSON();
    const seen: string[] = [];
    for (const ch of text) if (parser.push(ch)) seen.push(JSON.stringify(parser.value));
    parser.finish();
    expect(seen).toEqual([
      '{}', '{"name":""}', '{"name":"A"}', '{"name":"Ad"}', '{"name":"Ada"}',
      '{"name":"Ada","age":36}',
      '{"name":"Ada","age":36,"tags":[]}', '{"name":"Ada","age":36,"tags":[""]}', '{"name":"Ada","age":36,"tags":["x"]}',
      '{"name":"Ada","age":36,"tags":["x",true]}',
      '{"name":"Ada","age":36,"tags":["x",true],"o":{}}',
    ]);
  });

  it('a number at the root completes at the end; an escape and a surrogate pair count once complete', () => {
    const n = new PartialJSON();
    expect(n.push('-12.5e')).toBe(false);
    expect(n.push('+2')).toBe(false);
    expect(n.finish()).toBe(true);
    expect(n.value).toBe(-1250);
    const s = new PartialJSON();
    const seen: unknown[] = [];
    for (const piece of ['"a', '\\', 'u00', 'e9', '\\uD83D', '\\uDE00', '"']) if (s.push(piece)) seen.push(s.value);
    expect(seen).toEqual(['a', 'aé', 'aé😀']); // (a lone high surrogate waits for its low half)
  });

  const INVALID = ['', ' ', '{', '[1,]', '{"a":1,}', '{"a" 1}', '{a:1}', '01', '1.', '.5', '-', '+1', 'tru', 'nul', 'True',
    '"\\x"', '"\\u12G4"', '"a\nb"', '[1 2]', '{"a":1}}', '{} []', '"abc', '[', '{"a":', '1e', '[-]', '{,}', '[,1]', 'NaN', 'Infinity'];
  it('refuses what JSON.parse refuses, as BAD_OUTPUT naming the offset', () => {
    for (const text of INVALID) {
      expect(() => JSON.parse(text), text).toThrow();
      const r = ours(text);
      expect('error' in r, text).toBe(true);
      if ('error' in r) {
        expect(r.error.code).toBe('BAD_OUTPUT');
        expect(r.error.message).toMatch(/at offset \d+/);
      }
    }
  });

  it('mutated texts: accepted exactly when JSON.parse accepts them, with its value', () => {
    const alphabet = ['{', '}', '[', ']', ',', ':', '"', '\\', '1', '-', '.', 'e', 't', 'n', ' ', 'a', 'u'];
    let refused = 0;
    for (let seed = 1; seed <= 1500; seed++) {
      const r = rng(seed * 7919);
      const chars = [...randomText(randomValue(r), r)];
      const edits = 1 + Math.floor(r() * 2);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(r() * (chars.length + 1));
        const op = r();
        if (op < 0.4) chars.splice(at, 1);
        else if (op < 0.7) chars.splice(at, 0, alphabet[Math.floor(r() * alphabet.length)]!);
        else chars[at] = alphabet[Math.floor(r() * alphabet.length)]!;
      }
      const text = chars.join('');
      let expected: unknown;
      let valid = true;
      try { expected = JSON.parse(text); } catch { valid = false; }
      const got = ours(text);
      expect('value' in got, text).toBe(valid);
      if (valid && 'value' in got) expect(got.value, text).toEqual(expected);
      if (!valid) refused++;
    }
    expect(refused).toBeGreaterThan(500); // (the mutations do break texts)
  });
});

/** A text stream that yields `pieces` and returns `finishReason`; `returned` says whether return() was called. */
function textStream(pieces: string[], finishReason: CompleteResult['finishReason'] = 'stop') {
  const state = { returned: false, drained: false };
  const gen = (async function* (): AsyncGenerator<string, CompleteResult> {
    try {
      for (const p of pieces) yield p;
      state.drained = true;
      return {
        text: pieces.join(''), tokens: [], finishReason,
        timings: { promptTokens: 0, cachedTokens: 0, promptMs: 0, generatedTokens: 0, generateMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 },
      };
    } finally {
      if (!state.drained) state.returned = true;
    }
  })();
  return { gen, state };
}

describe('streamObject', () => {
  it('yields copies as the value grows and returns the final value', async () => {
    const { gen } = textStream(['{"city": "Pa', 'ris", "days": [1', ', 2]', '}']);
    const { values, result } = await collect(streamObject<{ city: string; days: number[] }>(gen));
    expect(values).toEqual([{ city: 'Pa' }, { city: 'Paris', days: [] }, { city: 'Paris', days: [1, 2] }]);
    expect(result).toEqual({ city: 'Paris', days: [1, 2] });
    values[0]!.city = 'changed'; // copies: a consumer may keep or change them
    expect(values[1]!.city).toBe('Paris');
  });

  it('cut by maxTokens or a full context: BAD_OUTPUT that says so; aborted: ABORTED; not JSON: BAD_OUTPUT', async () => {
    for (const reason of ['length', 'context'] as const) {
      const err = await collect(streamObject(textStream(['{"a": "b'], reason).gen)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WasmlmError);
      expect((err as WasmlmError).code).toBe('BAD_OUTPUT');
      expect((err as Error).message).toMatch(reason === 'length' ? /maxTokens/ : /context is full/);
    }
    const aborted = await collect(streamObject(textStream(['{"a": 1}'], 'abort').gen)).catch((e: unknown) => e);
    expect((aborted as WasmlmError).code).toBe('ABORTED');
    const noise = textStream(['{"a": 1', 'x', '}']);
    const bad = await collect(streamObject(noise.gen)).catch((e: unknown) => e);
    expect((bad as WasmlmError).code).toBe('BAD_OUTPUT');
    expect(noise.state.returned).toBe(true); // the text stream was ended
  });

  it('a consumer that stops early ends the text stream', async () => {
    const { gen, state } = textStream(['{"a": "x', 'y', 'z"}']);
    const it = streamObject(gen);
    await it.next();
    await it.return(undefined as never);
    expect(state.returned).toBe(true);
  });

  it('options: schema is required, becomes responseFormat, and excludes responseFormat and grammar', () => {
    const schema = { type: 'object' };
    expect(objectGenerateOptions({ schema, maxTokens: 5 })).toEqual({ maxTokens: 5, responseFormat: { type: 'json_schema', schema } });
    const code = (f: () => unknown) => { try { f(); } catch (e) { return [(e as WasmlmError).code, (e as Error).message]; } return undefined; };
    expect(code(() => objectGenerateOptions({} as never))).toEqual(['BAD_ARGUMENT', expect.stringMatching(/schema must be a JSON Schema object, got undefined/)]);
    expect(code(() => objectGenerateOptions({ schema: [] as never }))).toEqual(['BAD_ARGUMENT', expect.stringMatching(/got an array/)]);
    expect(code(() => objectGenerateOptions(null as never))).toEqual(['BAD_ARGUMENT', expect.stringMatching(/options must be an object/)]);
    expect(code(() => objectGenerateOptions({ schema, grammar: 'root ::= "a"' } as never))).toEqual(['BAD_ARGUMENT', expect.stringMatching(/grammar cannot be given/)]);
  });

  it('model.generateObject checks its options before generating', async () => {
    const model = await loadModel();
    expect(() => model.generateObject('Once', {} as never)).toThrow(/schema must be a JSON Schema object/);
    expect(() => model.chatObject([{ role: 'user', content: 'hi' }], { schema: 'x' } as never)).toThrow(/schema must be a JSON Schema object/);
    model.dispose();
  });
});
