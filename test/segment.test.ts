import { afterEach, describe, expect, it } from 'vitest';
import { WasmlmError } from '../src/errors.js';
import { segmentSentences, segmentWords } from '../src/tokenizer/segment.js';

const BARRY = 'my name is Barry. I am a good boy.';

describe('segmentSentences', () => {
  it('splits and drops punctuation by default', () => {
    expect(segmentSentences(BARRY)).toEqual(['my name is Barry', 'I am a good boy']);
  });

  it('keepPunctuation keeps the final punctuation', () => {
    expect(segmentSentences(BARRY, { keepPunctuation: true })).toEqual(['my name is Barry.', 'I am a good boy.']);
    expect(segmentSentences('Really?! Yes... "Quoted." Fine', { keepPunctuation: true })).toEqual([
      'Really?!',
      'Yes...',
      '"Quoted."',
      'Fine',
    ]);
  });

  it('strips trailing runs of terminal punctuation, not quotes or inner punctuation', () => {
    expect(segmentSentences('Really?! Wait… Yes, sir. Version 3.14 works.')).toEqual([
      'Really',
      'Wait… Yes, sir', // an ellipsis followed by a capital is not a sentence break in UAX #29
      'Version 3.14 works',
    ]);
    expect(segmentSentences('He said "hi." Then left.')).toEqual(['He said "hi."', 'Then left']);
  });

  it('handles text without a final period, empty text and blank text', () => {
    expect(segmentSentences('no final period here')).toEqual(['no final period here']);
    expect(segmentSentences('One. Two')).toEqual(['One', 'Two']);
    expect(segmentSentences('')).toEqual([]);
    expect(segmentSentences('   \n\n  \t ')).toEqual([]);
    expect(segmentSentences('...')).toEqual([]);
    expect(segmentSentences('...', { keepPunctuation: true })).toEqual(['...']);
  });

  it('trims, keeps inner spacing, and ends a sentence at a line break', () => {
    expect(segmentSentences('  Hello   world.   Second  one.  ')).toEqual(['Hello   world', 'Second  one']);
    expect(segmentSentences('line one\nline two\n\n\nlast line.')).toEqual(['line one', 'line two', 'last line']);
  });

  it('works for Chinese and Japanese (no spaces)', () => {
    expect(segmentSentences('我叫巴里。我是个好孩子。')).toEqual(['我叫巴里', '我是个好孩子']);
    expect(segmentSentences('我叫巴里。我是个好孩子。', { keepPunctuation: true })).toEqual(['我叫巴里。', '我是个好孩子。']);
    expect(segmentSentences('你好吗？我很好！', { locale: 'zh' })).toEqual(['你好吗', '我很好']);
    expect(segmentSentences('私の名前はバリーです。私は良い子です。', { locale: 'ja' })).toEqual([
      '私の名前はバリーです',
      '私は良い子です',
    ]);
  });

  it('accepts a locale and rejects an invalid one with BAD_ARGUMENT', () => {
    expect(segmentSentences(BARRY, { locale: 'en-US' })).toEqual(['my name is Barry', 'I am a good boy']);
    expect(segmentSentences(BARRY, { locale: ['fr', 'en'] })).toEqual(['my name is Barry', 'I am a good boy']);
    let err: unknown;
    try {
      segmentSentences(BARRY, { locale: 'not a locale!' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WasmlmError);
    expect((err as WasmlmError).code).toBe('BAD_ARGUMENT');
    expect((err as WasmlmError).message).toContain('not a locale!');
    expect(() => segmentSentences(42 as unknown as string)).toThrow(WasmlmError);
  });
});

describe('segmentWords', () => {
  it('gives the words of each sentence', () => {
    expect(segmentWords(BARRY)).toEqual([
      ['my', 'name', 'is', 'Barry'],
      ['I', 'am', 'a', 'good', 'boy'],
    ]);
  });

  it('keepPunctuation adds punctuation as separate entries', () => {
    expect(segmentWords(BARRY, { keepPunctuation: true })).toEqual([
      ['my', 'name', 'is', 'Barry', '.'],
      ['I', 'am', 'a', 'good', 'boy', '.'],
    ]);
    expect(segmentWords("Hi, don't go!", { keepPunctuation: true })).toEqual([['Hi', ',', "don't", 'go', '!']]);
    expect(segmentWords("Hi, don't go!")).toEqual([['Hi', "don't", 'go']]);
  });

  it('handles empty text, no final period, multiple spaces and newlines', () => {
    expect(segmentWords('')).toEqual([]);
    expect(segmentWords('  \n ')).toEqual([]);
    expect(segmentWords('no final period')).toEqual([['no', 'final', 'period']]);
    expect(segmentWords('a   lot  of\tspace.\n\nNext   line')).toEqual([
      ['a', 'lot', 'of', 'space'],
      ['Next', 'line'],
    ]);
    expect(segmentWords('?!', { keepPunctuation: true })).toEqual([['?', '!']]);
    expect(segmentWords('?!')).toEqual([]);
  });

  it('works for Chinese and Japanese (dictionary word breaks)', () => {
    const zh = segmentWords('我叫巴里。我是个好孩子。');
    expect(zh.length).toBe(2);
    expect(zh.map((s) => s.join(''))).toEqual(['我叫巴里', '我是个好孩子']);
    expect(zh[0]!.length).toBeGreaterThan(1); // split into words, not one run
    expect(zh[0]).toContain('巴里');
    const zhp = segmentWords('我叫巴里。我是个好孩子。', { keepPunctuation: true });
    expect(zhp.map((s) => s[s.length - 1])).toEqual(['。', '。']);
    const ja = segmentWords('私の名前はバリーです。私は良い子です。', { locale: 'ja' });
    expect(ja.map((s) => s.join(''))).toEqual(['私の名前はバリーです', '私は良い子です']);
    expect(ja[0]).toContain('バリー');
  });

  it('numbers, abbreviations and emoji', () => {
    expect(segmentWords('Pi is 3.14 in the U.S.A. today 🎉.')).toEqual([['Pi', 'is', '3.14', 'in', 'the', 'U.S.A', 'today']]);
  });
});

describe('without Intl.Segmenter (fallback)', () => {
  const saved = Intl.Segmenter;
  afterEach(() => {
    (Intl as { Segmenter?: unknown }).Segmenter = saved;
  });

  it('still splits sentences and words', () => {
    (Intl as { Segmenter?: unknown }).Segmenter = undefined;
    expect(segmentSentences(BARRY)).toEqual(['my name is Barry', 'I am a good boy']);
    expect(segmentSentences(BARRY, { keepPunctuation: true })).toEqual(['my name is Barry.', 'I am a good boy.']);
    expect(segmentWords(BARRY)).toEqual([
      ['my', 'name', 'is', 'Barry'],
      ['I', 'am', 'a', 'good', 'boy'],
    ]);
    expect(segmentWords("Hi, don't go!", { keepPunctuation: true })).toEqual([['Hi', ',', "don't", 'go', '!']]);
    expect(segmentSentences('我叫巴里。我是个好孩子。')).toEqual(['我叫巴里', '我是个好孩子']);
    expect(segmentSentences('line one\nline two')).toEqual(['line one', 'line two']);
    expect(segmentSentences('')).toEqual([]);
  });
});
