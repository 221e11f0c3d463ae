/**
 * WordPiece from a GGUF vocabulary (tokenizer.ggml.model = bert): llama.cpp's bert-bge vectors,
 * the same vocabulary as an HF tokenizer.json (our pipeline and @huggingface/tokenizers), special
 * tokens and decoding.
 */
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { createTokenizer, TokenType, type Tokenizer, type VocabData } from '../src/tokenizer/index.js';
import { tokenizerFromJson } from '../src/tokenizer/hf.js';
import { checkVectors, FIXTURES, randomTexts, readVocabTests, vocabFromGguf } from './helpers/gguf-vocab.js';

const BERT = `${FIXTURES}tokenizers/ggml-vocab-bert-bge.gguf`;
let vocab: VocabData | undefined;
let tokenizer: Tokenizer | undefined;
const v = () => (vocab ??= vocabFromGguf(BERT));
const tok = () => (tokenizer ??= createTokenizer(v()));

/** The HF tokenizer.json of bge-small (BERT uncased): GGUF's '▁the' / 'ing' back to 'the' / '##ing'. */
function hfJson(): Record<string, unknown> {
  const vocabJson: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  v().tokens.forEach((t, id) => {
    const hf = t.startsWith('▁') ? t.slice(1) : t.startsWith('[') && t.endsWith(']') ? t : `##${t}`;
    vocabJson[hf] = id;
    if (v().tokenTypes![id] === TokenType.CONTROL) added.push({ id, content: hf, special: true, normalized: false, lstrip: false, rstrip: false, single_word: false });
  });
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: vocabJson },
  };
}

describe('bert-bge (WordPiece)', () => {
  it('ggml-vocab-bert-bge: every vector', () => {
    const t = tok();
    expect(t.model).toBe('bert');
    const tests = readVocabTests(BERT);
    expect(tests.length).toBeGreaterThan(40);
    const r = checkVectors('ggml-vocab-bert-bge', tests, (s) => t.encode(s, { addSpecial: false, parseSpecial: false }));
    expect(r.failures).toEqual([]);
  });

  it('the same vocabulary as tokenizer.json gives the same ids, here and in @huggingface/tokenizers', () => {
    const json = hfJson();
    const fromJson = tokenizerFromJson(json);
    const hf = new HFTokenizer(json as never, {} as never);
    const t = tok();
    const bad: string[] = [];
    for (const s of [...randomTexts(1500, 2024), ...readVocabTests(BERT).map((x) => x.input)]) {
      // where tokenizers.js differs from HF's Rust: control / format characters in BertNormalizer,
      // and it lower-cases 'Σ' by context (JS toLowerCase) where Rust maps each character alone
      const ours = t.encode(s, { addSpecial: false });
      const json2 = fromJson.encode(s, { addSpecial: false });
      if (ours.join() !== json2.join()) bad.push(`gguf vs json ${JSON.stringify(s)}\n  ${ours.join(' ')}\n  ${json2.join(' ')}`);
      if (/[\u0085\u00ad\ufeff\u0000-\u001f\u2028\u03a3]/.test(s)) continue;
      const theirs = hf.encode(s, { add_special_tokens: false }).ids;
      if (ours.join() !== theirs.join()) bad.push(`vs tokenizers.js ${JSON.stringify(s)}\n  ours ${ours.join(' ')}\n  hf   ${theirs.join(' ')}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(fromJson.encode('Hello world')).toEqual(t.encode('Hello world'));
  });

  it('[CLS] text [SEP] by default; special ids', () => {
    const t = tok();
    expect(t.special).toMatchObject({ bos: 101, sep: 102, unk: 100, pad: 0 });
    const ids = t.encode('Hello world');
    expect(ids[0]).toBe(101);
    expect(ids[ids.length - 1]).toBe(102);
    expect(t.encode('Hello world', { addSpecial: false })).toEqual(ids.slice(1, -1));
    expect(t.encode('[CLS] hi', { addSpecial: false, parseSpecial: true })[0]).toBe(101);
    expect(t.encode('[CLS] hi', { addSpecial: false })[0]).not.toBe(101);
  });

  it('decodes word pieces back to words (lower-cased, accents stripped as the normalizer made them)', () => {
    const t = tok();
    const ids = t.encode('Hello, the Tokenizers are WORKING! Café');
    expect(t.decode(ids)).toBe('hello, the tokenizers are working! cafe');
    // control tokens render as their text, with no space of their own (as llama.cpp prints them)
    expect(t.decode(ids, { skipSpecial: false })).toBe('[CLS] hello, the tokenizers are working! cafe[SEP]');
    const d = t.createDecoder();
    expect(ids.map((id) => d.push(id)).join('') + d.flush()).toBe('hello , the tokenizers are working ! cafe');
    // the tokenizer.json form decodes with HF's WordPiece decoder and its cleanup
    const j = tokenizerFromJson(hfJson());
    expect(j.decode(j.encode('Hello, the Tokenizers are WORKING! Café'))).toBe('hello, the tokenizers are working! cafe');
  });

  it('unknown words, long words, CJK, controls', () => {
    const t = tok();
    expect(t.encode('☃', { addSpecial: false })).toEqual([100]);
    expect(t.encode('a'.repeat(101), { addSpecial: false })).toEqual([100]); // longer than max_input_chars_per_word
    expect(t.encode('a'.repeat(100), { addSpecial: false })).not.toEqual([100]);
    expect(t.encode('你好', { addSpecial: false }).length).toBe(2); // each ideograph its own word
    expect(t.encode('a\u0000b\u200bc\ufffd', { addSpecial: false })).toEqual(t.encode('ab\u200bc', { addSpecial: false }));
    expect(t.encode('\uD800x', { addSpecial: false })).toEqual(t.encode('x', { addSpecial: false })); // lone surrogate -> U+FFFD -> removed
    const big = 'Hello world, this is a test. '.repeat(100_000);
    const t0 = performance.now();
    const ids = t.encode(big, { addSpecial: false });
    console.log(`bert-bge: 2.9 MB in ${(performance.now() - t0).toFixed(0)} ms (${ids.length} tokens)`);
    expect(ids.length).toBe(800_000);
  });
});
