/** parseExamples: the JSONL lines of `wasmlm finetune` and the teach page's pasted lines, errors by line. */
import { describe, expect, it } from 'vitest';
import { parseExamples, WasmlmError } from '../src/index.js';

describe('parseExamples', () => {
  it('reads text, prompt/completion and messages lines, skipping blank ones', () => {
    const text = '{"text": "a b"}\n\n  {"prompt": "Q", "completion": "A"}\n{"messages": [{"role": "user", "content": "hi"}]}\n';
    expect(parseExamples(text)).toEqual(['a b', { prompt: 'Q', completion: 'A' }, { messages: [{ role: 'user', content: 'hi' }] }]);
  });

  it('plainText: a line not starting with { is a text example; without it, it is not JSON', () => {
    expect(parseExamples('Tom ran.\n{"text": "x"}', { plainText: true })).toEqual(['Tom ran.', 'x']);
    expect(() => parseExamples('Tom ran.', { source: 'd.jsonl' })).toThrow(/^d\.jsonl:1: not JSON: /);
  });

  it('errors are BAD_ARGUMENT and name the line', () => {
    const err = (text: string) => { try { parseExamples(text); } catch (e) { return e as WasmlmError; } throw new Error('no error'); };
    expect(err('{"text": "a"}\n\n[1]').code).toBe('BAD_ARGUMENT');
    expect(err('{"text": "a"}\n\n[1]').message).toMatch(/^examples:3: expected \{"text": \.\.\.\}/);
    expect(err('{"other": 1}').message).toMatch(/^examples:1: expected/);
    expect(err('\n  \n').message).toBe('examples: no examples');
  });
});
