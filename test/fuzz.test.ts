/**
 * A short fuzzing run inside the test suite (the full one is `npm run fuzz`, see test/fuzz/run.mjs):
 * a fixed seed, a few hundred cases of every input kind against dist/, each in a child process
 * bounded at 10 s. Fails on any crash, hang, exception other than WasmlmError, or result known to
 * be wrong, except the classes test/fuzz/known.mjs lists (findings other branches fix); every
 * failure is printed with the command that replays it. Also: the harness classifies cases as it
 * should, and regression tests for the tokenizer.json findings of issue 18.
 */
import { describe, expect, it } from 'vitest';
import { WasmlmError } from '../src/errors.js';
import { tokenizerFromJson } from '../src/tokenizer/hf.js';
import { loadTokenizer } from '../src/tokenizer/load.js';
import { translateRegex } from '../src/tokenizer/regex.js';
// @ts-expect-error: plain JavaScript modules of the fuzzer, no types
import { runPool, tally } from './fuzz/pool.mjs';
// @ts-expect-error: as above
import { failures, isKnown } from './fuzz/known.mjs';

interface Result { kind: string; index: number; status: string; desc?: string; message?: string; wrong?: string }

const SEED = '18';
const PER_KIND: Record<string, number> = { gguf: 120, 'tokenizer-json': 120, strings: 40, api: 60 };

describe('fuzz (short run; npm run fuzz for the full one)', () => {
  it(`seed ${SEED}: no crash, hang, non-WasmlmError exception or wrong result`, async () => {
    const list: { kind: string; index: number }[] = [];
    for (const [kind, n] of Object.entries(PER_KIND)) for (let i = 0; i < n; i++) list.push({ kind, index: i });
    const results: Result[] = await runPool({ seed: SEED, jobs: 2, list });
    const table = tally(results);
    const known = results.filter((r) => isKnown(r));
    if (known.length > 0) console.log(`fuzz: ${known.length} case(s) of known classes fixed in other branches (test/fuzz/known.mjs)`);
    const report = (failures(results) as Result[]).map((r) =>
      `${r.status} ${r.kind} #${r.index}: ${r.desc}\n  ${String(r.message ?? r.wrong).split('\n')[0]}\n  replay: npm run fuzz -- --seed ${SEED} --kinds ${r.kind} --only ${r.index}`);
    expect(report).toEqual([]);
    // every case ran, and each kind reached both outcomes (a mutator that only ever produces
    // rejected inputs, or only accepted ones, tests less than it seems)
    for (const [kind, n] of Object.entries(PER_KIND)) {
      expect(table[kind].tried).toBe(n);
      if (kind !== 'strings') expect(table[kind].typed).toBeGreaterThan(0);
      expect(table[kind].accepted).toBeGreaterThan(0);
    }
  }, 300_000);

  it('the harness tells typed errors, other exceptions, wrong results, crashes and hangs apart', async () => {
    const list = [0, 1, 2, 3, 4, 5, 6].map((index) => ({ kind: 'selftest', index }));
    const results: Result[] = await runPool({ seed: 'x', jobs: 1, list, timeoutMs: 3000 });
    expect(results.map((r) => r.status)).toEqual(['typed', 'other', 'wrong', 'accepted', 'crash', 'hang', 'typed']);
  }, 60_000);
});

describe('tokenizer.json findings of issue 18', () => {
  const vocab = { a: 0, b: 1, '!': 2, x: 3, y: 4, ab: 5 };
  const base = (over: Record<string, unknown>) => ({ model: { type: 'BPE', vocab, merges: ['a b'] }, ...over });
  const fails = (over: Record<string, unknown>, code: string, ...parts: RegExp[]) => {
    let err: unknown;
    try {
      tokenizerFromJson(base(over));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WasmlmError);
    expect((err as WasmlmError).code).toBe(code);
    for (const p of parts) expect((err as WasmlmError).message).toMatch(p);
  };

  it('regexes that can backtrack exponentially are rejected, naming the field and the pattern', () => {
    for (const re of ['(a+)+$', '(a|a)+$', '(a|aa)+$', '(?:\\w+\\s?)*$', '(.*a){12}', '(a{1,3}){2,}', 'a{1,3}+']) {
      fails({ pre_tokenizer: { type: 'Split', pattern: { Regex: re }, behavior: 'Isolated' } }, 'BAD_TOKENIZER', /^tokenizer\.json: pre_tokenizer Split regex/, /exponential/);
      fails({ normalizer: { type: 'Replace', pattern: { Regex: re }, content: '' } }, 'BAD_TOKENIZER', /normalizer Replace regex/);
      fails({ decoder: { type: 'Replace', pattern: { Regex: re }, content: '' } }, 'BAD_TOKENIZER', /decoder Replace regex/);
    }
    // what real files use stays accepted: repeated characters and classes, groups repeated at most once,
    // alternatives of literals with distinct first characters, possessive and atomic forms
    for (const re of [
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      '(?:\\r\\n|\\n)+', "(?:'s|'t)?\\p{L}+", '\\p{N}++', '(?>\\s+)', '(ab)+', ' ?(?:x)+',
    ]) expect(() => translateRegex(re)).not.toThrow();
  });

  it('the (a+)+$ pattern of the issue: rejected before any text is encoded', () => {
    fails({ pre_tokenizer: { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated' } }, 'BAD_TOKENIZER', /\(a\+\)\+\$/);
  });

  it('a Strip decoder needs one character and counts that are non-negative integers', () => {
    fails({ decoder: { type: 'Strip', content: '', start: 0, stop: 1e9 } }, 'BAD_TOKENIZER', /decoder Strip\.content must be one character/);
    fails({ decoder: { type: 'Strip', content: ' ', start: -1, stop: 0 } }, 'BAD_TOKENIZER', /decoder Strip\.start/);
    fails({ decoder: { type: 'Strip', content: ' ', start: 0, stop: 1e308 } }, 'BAD_TOKENIZER', /decoder Strip\.stop/);
    // a large but valid count costs nothing: the loop ends at the token's length
    const t = tokenizerFromJson(base({ decoder: { type: 'Strip', content: 'a', start: 0, stop: 1e9 } }));
    expect(t.decode([0, 0])).toBe('');
    expect(t.decode([0, 5])).toBe('ab');
  });

  it('post-processor ids must be ids of the vocabulary', () => {
    for (const id of [-1, 99999999, 1.5, 6]) {
      fails({ post_processor: { type: 'BertProcessing', cls: ['x', id], sep: ['y', 4] } }, 'BAD_TOKENIZER', /post_processor "BertProcessing" cls "x" has id/);
      fails({ post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: 'S', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], special_tokens: { S: { id: 'S', ids: [id] } } } },
        'BAD_TOKENIZER', /TemplateProcessing.*special token "S" has id/);
    }
    const holed: unknown[] = [3, 4];
    delete holed[0];
    fails({ post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: 'S', type_id: 0 } }], special_tokens: { S: { id: 'S', ids: holed } } } },
      'BAD_TOKENIZER', /special token "S" has id undefined/);
    const t = tokenizerFromJson(base({ post_processor: { type: 'RobertaProcessing', cls: ['x', 3], sep: ['y', 4] } }));
    expect(t.encode('ab')).toEqual([3, 5, 4]);
  });

  it('token ids beyond what the file declares are rejected before tables are sized by them', () => {
    fails({ added_tokens: [{ id: 15_999_999, content: '<big>', special: true }] }, 'BAD_TOKENIZER', /added_tokens: token "<big>" has id 15999999, implausible for a file of 7 tokens/);
    fails({ model: { type: 'BPE', vocab: { a: 0, b: 2 ** 31 }, merges: [] } }, 'BAD_TOKENIZER', /model\.vocab: token "b" has id 2147483648/);
    // a gap of a few ids (as some real files have) is fine
    expect(tokenizerFromJson(base({ added_tokens: [{ id: 100, content: '<x>', special: true }] })).vocabSize).toBe(101);
  });

  it('Sequences nested too deep, or containing themselves, are rejected (no stack overflow)', () => {
    const s: Record<string, unknown> = { type: 'Sequence', pretokenizers: [] };
    (s.pretokenizers as unknown[]).push(s);
    fails({ pre_tokenizer: s }, 'BAD_TOKENIZER', /pre_tokenizer: Sequences nested more than 32 deep/);
    let n: unknown = { type: 'NFC' };
    for (let i = 0; i < 5000; i++) n = { type: 'Sequence', normalizers: [n] };
    fails({ normalizer: n }, 'BAD_TOKENIZER', /normalizer: Sequences nested/);
  });

  it('a Unigram vocabulary with a hole (a parsed object) is an error naming the entry', () => {
    const pieces: unknown[] = [['a', -1], ['b', -2]];
    delete pieces[0];
    expect(() => tokenizerFromJson({ model: { type: 'Unigram', vocab: pieces } })).toThrow(/tokenizer\.json: model\.vocab\[0\] is not \[piece, score\]/);
  });

  it('loadTokenizer options that are not an object are a BAD_ARGUMENT', async () => {
    for (const o of [null, 5, 'x']) {
      await expect(loadTokenizer(base({}), o as never)).rejects.toThrow(/loadTokenizer options must be an object/);
    }
  });

  it('FixedLength splits by code points without a regex of that size', () => {
    fails({ pre_tokenizer: { type: 'FixedLength', length: 1e308 } }, 'BAD_TOKENIZER', /FixedLength\.length/);
    const t = tokenizerFromJson({ model: { type: 'WordLevel', vocab: { ab: 0, '😀x': 1, y: 2 }, unk_token: 'y' }, pre_tokenizer: { type: 'FixedLength', length: 2 } });
    expect(t.encode('ab😀xq')).toEqual([0, 1, 2]);
  });
});
