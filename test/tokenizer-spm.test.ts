import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WasmlmError } from '../src/errors.js';
import { createTokenizer, TokenType, type Tokenizer, type VocabData } from '../src/tokenizer/index.js';
import { FIXTURES, readGgufMetadata, readVocabTests, vocabFromGguf } from './helpers/gguf-vocab.js';

const STORIES = `${FIXTURES}models/stories260K.gguf`;
const LLAMA_SPM = `${FIXTURES}tokenizers/ggml-vocab-llama-spm.gguf`;
const PHI3 = `${FIXTURES}tokenizers/ggml-vocab-phi-3.gguf`;

const cache = new Map<string, Tokenizer>();
function tok(path: string): Tokenizer {
  let t = cache.get(path);
  if (t === undefined) cache.set(path, (t = createTokenizer(vocabFromGguf(path))));
  return t;
}
const json = (p: string) => JSON.parse(readFileSync(`${FIXTURES}${p}`, 'utf8'));
const ids = (p: string) => readFileSync(`${FIXTURES}${p}`, 'utf8').trim().split(/\s+/).map(Number);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const WELL_FORMED = /^(?:[^\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/;

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a WasmlmError').toBeInstanceOf(WasmlmError);
  expect((err as WasmlmError).code).toBe(code);
  if (message) expect((err as WasmlmError).message).toMatch(message);
}

/** Feeds ids one at a time; every piece must be whole UTF-8 (no U+FFFD, no lone surrogate). */
function streamDecode(t: Tokenizer, list: number[], afterBos: boolean): { text: string; pieces: string[] } {
  const d = t.createDecoder({ afterBos });
  const pieces: string[] = [];
  for (const id of list) pieces.push(d.push(id));
  pieces.push(d.flush());
  return { text: pieces.join(''), pieces };
}

describe('stories260K vocabulary (512 tokens, byte fallback)', () => {
  it('reads the vocabulary with the expected special tokens and flags', () => {
    const t = tok(STORIES);
    expect(t.model).toBe('llama');
    expect(t.vocabSize).toBe(512);
    expect(t.special).toEqual({ bos: 1, eos: 2, unk: 0 });
    expect(t.isEog(2)).toBe(true);
    expect(t.isEog(1)).toBe(false);
    expect(t.idToPiece(403)).toBe('▁Once');
    expect(t.idToPiece(13)).toBe('<0x0A>');
    expect(t.pieceToId('▁Once')).toBe(403);
    expect(t.pieceToId('no such piece')).toBeUndefined();
  });

  it('encodes "Once upon a time" as [1, 403, 407, 261, 378]', () => {
    const t = tok(STORIES);
    expect(t.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(t.encode('Once upon a time', { addSpecial: false })).toEqual([403, 407, 261, 378]);
    expect(t.decode([1, 403, 407, 261, 378])).toBe('Once upon a time');
  });

  it('gives the reference pieces of llama.expected.json and stories260K.expected.json', () => {
    const t = tok(STORIES);
    for (const name of ['models/llama.expected.json', 'models/stories260K.expected.json']) {
      const e = json(name);
      expect(e.tokens.length).toBe(e.token_pieces.length);
      e.tokens.forEach((id: number, i: number) => {
        // one token alone, no leading-space removal: what llama.cpp's token_to_piece prints
        expect(new TextDecoder().decode(t.idToBytes(id)), `${name} token ${i} (${id})`).toBe(e.token_pieces[i]);
        expect(streamDecode(t, [id], false).text).toBe(e.token_pieces[i]);
      });
      // greedy pieces as bytes (some are lone bytes of a broken UTF-8 sequence)
      e.greedy.forEach((id: number, i: number) => {
        expect(hex(t.idToBytes(id)), `${name} greedy ${i} (${id})`).toBe(e.greedy_pieces_hex[i]);
      });
      // the continuation streamed after the prompt gives greedy_text (invalid bytes as U+FFFD)
      const { text, pieces } = streamDecode(t, e.greedy, false);
      expect(text).toBe(e.greedy_text);
      for (const p of pieces) expect(p).toMatch(WELL_FORMED);
    }
    const e = json('models/llama.expected.json');
    expect(t.decode(e.tokens)).toBe('Once upon a time, there was a little gir');
    const s = json('models/stories260K.expected.json');
    expect(t.encode(s.prompt_text)).toEqual(s.tokens);
    const np = json('models/stories260K.noprompt.expected.json');
    expect(streamDecode(t, np.greedy, true).text).toBe(np.greedy_text.slice(1)); // greedy_text keeps " Once"
    expect(t.decode([1, ...np.greedy])).toBe(np.greedy_text.slice(1));
  });

  for (const base of ['stories260K.runc.prompt_once_upon_a_time.n200', 'stories260K.runc.noprompt.n256']) {
    it(`decodes run.c's ids to its text: ${base}`, () => {
      const t = tok(STORIES);
      const list = ids(`stories260K/${base}.ids.txt`);
      // run.c prints a final '\n' after generating; it drops the space after BOS
      const expected = readFileSync(`${FIXTURES}stories260K/${base}.txt`, 'utf8').replace(/\n$/, '');
      expect(t.decode([1, ...list])).toBe(expected);
      expect(t.decode(list)).toBe(expected); // a whole text: the space prefix at the start goes too
      const { text, pieces } = streamDecode(t, list, true);
      expect(text).toBe(expected);
      for (const p of pieces) {
        expect(p).toMatch(WELL_FORMED);
        expect(p).not.toContain('\uFFFD');
      }
      expect(streamDecode(t, [1, ...list], false).text).toBe(expected); // BOS pushed: same
      if (base.includes('prompt_once')) expect(list.slice(0, 4)).toEqual(t.encode('Once upon a time', { addSpecial: false }));
      // the text re-encodes to ids that decode to the same text
      expect(t.decode(t.encode(expected))).toBe(expected);
    });
  }
});

describe('llama.cpp conformance vectors', () => {
  function runVectors(path: string): { pass: number; total: number } {
    const t = tok(path);
    const tests = readVocabTests(path);
    const failures: string[] = [];
    let pass = 0;
    for (const { input, expected } of tests) {
      const got = t.encode(input, { addSpecial: false, parseSpecial: false });
      if (got.length === expected.length && got.every((x, i) => x === expected[i])) pass++;
      else failures.push(`input ${JSON.stringify(input)}\n  expected ${expected.join(' ')}\n  got      ${got.join(' ')}`);
      // and back: decode inverts encode
      const back = t.decode(got);
      if (back !== input) failures.push(`decode(encode(${JSON.stringify(input)})) = ${JSON.stringify(back)}`);
    }
    console.log(`${path.split('/').pop()}: ${pass}/${tests.length} vectors pass`);
    if (failures.length > 0) console.log(failures.join('\n'));
    expect(failures).toEqual([]);
    expect(tests.length).toBeGreaterThan(40);
    return { pass, total: tests.length };
  }

  it('ggml-vocab-llama-spm: every vector', () => {
    const kv = readGgufMetadata(LLAMA_SPM);
    expect(kv.get('tokenizer.ggml.model')).toBe('llama');
    runVectors(LLAMA_SPM);
  });

  it("ggml-vocab-phi-3 (tokenizer.ggml.model 'llama': SentencePiece): every vector", () => {
    const kv = readGgufMetadata(PHI3);
    expect(kv.get('tokenizer.ggml.model')).toBe('llama');
    runVectors(PHI3);
  });
});

/**
 * The merge rule written as plainly as possible (rescan for the best pair after every merge,
 * no heap, no chunking, no cache): the fast encoder must give the same ids on any text.
 */
const referenceMaps = new WeakMap<VocabData, { pieces: Map<string, number>; bytes: Map<number, number> }>();
function referenceSpm(v: VocabData, text: string): number[] {
  const scores = v.scores ?? new Float32Array(v.tokens.length);
  let maps = referenceMaps.get(v);
  if (maps === undefined) {
    maps = { pieces: new Map(), bytes: new Map() };
    for (let id = 0; id < v.tokens.length; id++) {
      const t = v.tokens[id]!;
      const type = v.tokenTypes ? v.tokenTypes[id] : 1;
      if (type === 1 || type === 4 || type === 5) maps.pieces.set(t, id);
      if (type === 6) maps.bytes.set(parseInt(t.slice(3, 5), 16), id);
    }
    referenceMaps.set(v, maps);
  }
  const { pieces, bytes } = maps;
  if (text === '') return [];
  const sym = Array.from(('▁' + text).replaceAll(' ', '▁'));
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < sym.length; i++) {
      const id = pieces.get(sym[i]! + sym[i + 1]!);
      if (id !== undefined && (best < 0 || scores[id]! > bestScore)) {
        best = i;
        bestScore = scores[id]!;
      }
    }
    if (best < 0) break;
    sym.splice(best, 2, sym[best]! + sym[best + 1]!);
  }
  const out: number[] = [];
  for (const s of sym) {
    const id = pieces.get(s);
    if (id !== undefined) out.push(id);
    else {
      const bs = [...new TextEncoder().encode(s)];
      if (bs.every((b) => bytes.has(b))) out.push(...bs.map((b) => bytes.get(b)!));
      else out.push(v.unk ?? 0);
    }
  }
  return out;
}

describe('the fast merge equals the plain merge rule', () => {
  let seed = 987654321;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const randomText = (alphabet: string[], max: number) => {
    let s = '';
    const n = rnd(max);
    for (let i = 0; i < n; i++) s += alphabet[rnd(alphabet.length)];
    return s;
  };

  it('on random text with the 32k llama vocabulary', () => {
    const v = vocabFromGguf(LLAMA_SPM);
    const t = createTokenizer(v);
    const alphabet = [...'abcdeilmnorst  ', ' ', '  ', '\n', '\t', ',', '.', "'", '0', '7', 'é', 'ü', '世', '界', '🎉', '😀', 'the', 'ing', 'Hello', 'tion', 'ab', '▁'];
    for (let k = 0; k < 400; k++) {
      const s = randomText(alphabet, 60);
      expect(t.encode(s, { addSpecial: false }), JSON.stringify(s)).toEqual(referenceSpm(v, s));
      // a literal '▁' in the text decodes as a space (as in sentencepiece)
      expect(t.decode(t.encode(s))).toBe(s.replaceAll('▁', ' '));
    }
  });

  it('with pieces that span a space ("a▁b"), where the text cannot be cut at every space', () => {
    const tokens = ['<unk>', '<s>', '</s>', '▁', 'a', 'b', 'a▁', 'a▁b', '▁b', 'ab', '▁a', 'b▁', 'b▁▁a', '▁▁'];
    const v: VocabData = { model: 'llama', tokens, scores: new Float32Array(tokens.map((_, i) => (i < 3 ? 0 : -i % 5))) };
    const t = createTokenizer(v);
    for (let k = 0; k < 400; k++) {
      const s = randomText(['a', 'b', ' ', 'c'], 40);
      expect(t.encode(s, { addSpecial: false }), JSON.stringify(s)).toEqual(referenceSpm(v, s));
    }
  });

  it('splits an unused piece back into the pieces it was merged from (sentencepiece)', () => {
    const tokens = ['<unk>', '<s>', '</s>', '▁', 'a', 'b', 'c', 'ab', 'abc'];
    const tokenTypes = new Int32Array([2, 3, 3, 1, 1, 1, 1, 5, 1]);
    const t = createTokenizer({ model: 'llama', tokens, tokenTypes, scores: new Float32Array([0, 0, 0, -9, -9, -9, -9, -1, -2]), addSpacePrefix: false });
    expect(t.encode('ab', { addSpecial: false })).toEqual([4, 5]);
    expect(t.encode('abc', { addSpecial: false })).toEqual([8]);
    expect(t.encode('abab c', { addSpecial: false })).toEqual([4, 5, 4, 5, 3, 6]);
    expect(t.decode([4, 5, 7])).toBe('ab');
    expect(t.decode([4, 5, 7], { skipSpecial: false })).toBe('abab');
  });
});

describe('special tokens', () => {
  it('parseSpecial recognises control token text; without it the text is plain text', () => {
    const t = tok(LLAMA_SPM);
    expect(t.encode('<s>Hello</s>', { addSpecial: false, parseSpecial: true })).toEqual([1, 15043, 2]);
    const plain = t.encode('<s>Hello</s>', { addSpecial: false });
    expect(plain).not.toContain(1);
    expect(plain).not.toContain(2);
    expect(t.decode(plain)).toBe('<s>Hello</s>');
    // default: BOS added, EOS not (add_eos_token false)
    expect(t.encode('Hello')).toEqual([1, 15043]);
    expect(t.encode('Hello world', { parseSpecial: true })).toEqual([1, 15043, 3186]);
  });

  it('phi-3: chat markers with parseSpecial, user-defined </s> always, eot/eog', () => {
    const t = tok(PHI3);
    const ids = t.encode('<|user|>\nHi there<|end|>\n<|assistant|>', { parseSpecial: true });
    expect(ids[0]).toBe(1);
    expect(ids[1]).toBe(32010);
    expect(ids).toContain(32007);
    expect(ids[ids.length - 1]).toBe(32001);
    // markers skipped; a text after a special token gets the space prefix (llama.cpp), and the
    // first visible piece loses it again
    expect(t.decode(ids)).toBe('\nHi there \n');
    expect(t.decode(ids, { skipSpecial: false })).toBe('<s><|user|> \nHi there<|end|> \n<|assistant|>');
    expect(t.encode('<|user|>', { addSpecial: false })).not.toContain(32010);
    // '</s>' is a user-defined token in this vocabulary: matched even without parseSpecial
    expect(t.encode('a</s>b', { addSpecial: false })).toContain(2);
    expect(t.special.eos).toBe(32000);
    expect(t.special.eot).toBe(32007); // found by text, as llama.cpp does
    expect(t.isEog(32000)).toBe(true);
    expect(t.isEog(32007)).toBe(true);
    expect(t.isEog(32010)).toBe(false);
  });

  it('skipSpecial false renders control tokens as their text', () => {
    const t = tok(STORIES);
    expect(t.decode([1, 403, 2], { skipSpecial: false })).toBe('<s> Once</s>');
    expect(t.decode([1, 403, 2])).toBe('Once');
    expect(t.decode([0, 403])).toBe('Once'); // <unk> skipped, the next piece starts the text
    expect(t.decode([0, 403], { skipSpecial: false })).toBe('<unk> Once');
  });
});

describe('streaming decoder', () => {
  it('never emits half a character of "héllo 世界 🎉"', () => {
    const t = tok(LLAMA_SPM);
    const text = 'héllo 世界 🎉';
    const list = t.encode(text, { addSpecial: false });
    // the emoji (and maybe a CJK character) falls back to byte tokens <0xNN> (ids 3..258)
    expect(list.some((id) => id >= 3 && id <= 258)).toBe(true);
    const { text: out, pieces } = streamDecode(t, list, true);
    expect(out).toBe(text);
    for (const p of pieces) {
      expect(p).toMatch(WELL_FORMED);
      expect(p).not.toContain('\uFFFD');
    }
    // the emoji's bytes: nothing until the last byte, then the whole character
    const emoji = [...new TextEncoder().encode('🎉')].map((b) => t.pieceToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
    expect(list.slice(-4)).toEqual(emoji);
    const d = t.createDecoder();
    expect(emoji.slice(0, 3).map((id) => d.push(id))).toEqual(['', '', '']);
    expect(d.push(emoji[3]!)).toBe('🎉');
    expect(d.flush()).toBe('');
  });

  it('flush emits an incomplete sequence as U+FFFD and resets', () => {
    const t = tok(LLAMA_SPM);
    const b = (x: number) => t.pieceToId(`<0x${x.toString(16).toUpperCase().padStart(2, '0')}>`)!;
    const d = t.createDecoder();
    expect(d.push(b(0xf0))).toBe('');
    expect(d.push(b(0x9f))).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(d.flush()).toBe('');
    // an invalid sequence is replaced as soon as it is known to be invalid
    expect(d.push(b(0xe4))).toBe('');
    expect(d.push(15043)).toBe('\uFFFD Hello');
    // after a flush the decoder carries on
    expect(d.push(b(0xe4))).toBe('');
    expect(d.push(b(0xb8))).toBe('');
    expect(d.push(b(0x96))).toBe('世');
    expect(d.flush()).toBe('');
    // decode() of the same broken sequence matches the stream
    expect(t.decode([15043, b(0xf0), b(0x9f)])).toBe('Hello\uFFFD');
  });

  it('afterBos and BOS remove the leading space; otherwise pieces keep it', () => {
    const t = tok(STORIES);
    expect(streamDecode(t, [403, 407], false).text).toBe(' Once upon');
    expect(streamDecode(t, [403, 407], true).text).toBe('Once upon');
    expect(streamDecode(t, [1, 403, 407, 2, 1, 403], false).text).toBe('Once uponOnce');
    const d = t.createDecoder({ skipSpecial: false });
    expect([1, 403].map((id) => d.push(id)).join('')).toBe('<s> Once');
  });
});

describe('bad input', () => {
  it('empty string gives [] or [BOS]; decode([]) gives ""', () => {
    const t = tok(LLAMA_SPM);
    expect(t.encode('')).toEqual([1]);
    expect(t.encode('', { addSpecial: false })).toEqual([]);
    expect(t.decode([])).toBe('');
    expect(t.decode([1])).toBe('');
    expect(t.decode(new Int32Array([1, 15043]))).toBe('Hello');
  });

  it('lone surrogates are encoded as U+FFFD', () => {
    const t = tok(LLAMA_SPM);
    for (const s of ['\uD800', 'a\uDC00b', 'x\uD83D', '\uDE00\uD83D', 'ok \uD83D\uDE00 \uD83D']) {
      const fixed = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
      expect(t.encode(s, { addSpecial: false })).toEqual(t.encode(fixed, { addSpecial: false }));
      expect(t.decode(t.encode(s))).toBe(fixed);
    }
  });

  it('NUL and other control characters round-trip through byte tokens', () => {
    const t = tok(LLAMA_SPM);
    const s = 'a\u0000b\u0001\u007f\r\n\t\u000b end\u0000';
    const list = t.encode(s, { addSpecial: false });
    expect(list).toContain(3); // <0x00>
    expect(t.decode(list)).toBe(s);
    expect(t.decode([1, ...list])).toBe(s);
    expect(t.decode(t.encode('\uFEFFbom'))).toBe('\uFEFFbom'); // a byte-order mark is text, not eaten
  });

  it('a vocabulary without byte tokens falls back to unk', () => {
    const t = createTokenizer({
      model: 'llama',
      tokens: ['<unk>', '<s>', '</s>', '▁', 'a', 'b', '▁a', 'ab', '▁ab'],
      scores: new Float32Array([0, 0, 0, -1, -1, -1, -2, -3, -4]),
    });
    expect(t.special).toEqual({ unk: 0, bos: 1, eos: 2 });
    expect(t.encode('ab')).toEqual([1, 8]);
    expect(t.encode('a🎉b a', { addSpecial: false })).toEqual([6, 0, 5, 6]);
    expect(t.decode([6, 0, 5])).toBe('ab');
    expect(t.decode([6, 0, 5], { skipSpecial: false })).toBe('a<unk>b');
  });

  it('decoding ids out of range throws TOKEN_OUT_OF_RANGE naming the id and the vocabulary size', () => {
    const t = tok(STORIES);
    expectCode(() => t.decode([1, 403, 512]), 'TOKEN_OUT_OF_RANGE', /token id 512 at position 2 .*512 tokens/);
    expectCode(() => t.decode([-1]), 'TOKEN_OUT_OF_RANGE', /-1/);
    expectCode(() => t.decode([1.5]), 'TOKEN_OUT_OF_RANGE', /1\.5/);
    expectCode(() => t.decode([NaN]), 'TOKEN_OUT_OF_RANGE', /NaN/);
    expectCode(() => t.idToPiece(100000), 'TOKEN_OUT_OF_RANGE', /100000.*512/);
    expectCode(() => t.idToBytes(-3), 'TOKEN_OUT_OF_RANGE');
    const d = t.createDecoder();
    expect(d.push(403)).toBe(' Once');
    expectCode(() => d.push(9999), 'TOKEN_OUT_OF_RANGE', /9999/);
    expect(d.push(407)).toBe(' upon'); // the decoder is still usable
    expect(t.isEog(9999)).toBe(false);
    expectCode(() => t.encode(42 as unknown as string), 'BAD_ARGUMENT');
  });

  it('encodes a 10 MB string without hanging', () => {
    const t = tok(LLAMA_SPM);
    const story = readFileSync(`${FIXTURES}stories260K/stories260K.runc.noprompt.n256.txt`, 'utf8');
    let big = '';
    while (big.length < 10_000_000) big += story;
    big = big.slice(0, 10_000_000);
    let t0 = performance.now();
    const list = t.encode(big);
    const ms = performance.now() - t0;
    t0 = performance.now();
    const back = t.decode(list);
    const msDecode = performance.now() - t0;
    console.log(`10 MB of English: encode ${ms.toFixed(0)} ms (${list.length} tokens), decode ${msDecode.toFixed(0)} ms`);
    expect(back).toBe(big);

    // 2 MB with no spaces at all (one merge run over the whole text)
    const words = 'supercalifragilistic世界🎉';
    let nospace = '';
    while (nospace.length < 2_000_000) nospace += words;
    t0 = performance.now();
    const l2 = t.encode(nospace, { addSpecial: false });
    console.log(`2 MB without spaces: encode ${(performance.now() - t0).toFixed(0)} ms (${l2.length} tokens)`);
    expect(t.decode(l2)).toBe(nospace);
  });
});

describe('encoding speed (printed, not asserted)', () => {
  it('~1 MB of English with the 32k llama vocabulary', () => {
    const t = createTokenizer(vocabFromGguf(LLAMA_SPM)); // a fresh tokenizer: empty cache
    const corpus = ['README.md'].map((f) => readFileSync(`${FIXTURES}${f}`, 'utf8')).join('\n') +
      readFileSync(new URL('../../shared/DESIGN.md', import.meta.url), 'utf8');
    let text = '';
    while (text.length < 1_000_000) text += corpus;
    let t0 = performance.now();
    const a = t.encode(text);
    const cold = performance.now() - t0;
    t0 = performance.now();
    t.encode(text);
    const warm = performance.now() - t0;
    // words of random letters: almost no repeats, so the chunk cache does not help
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
    const letters = 'etaoinshrdlcumwfgypbvkjxqz';
    const parts: string[] = [];
    let len = 0;
    while (len < 1_000_000) {
      let w = '';
      const n = 2 + Math.floor(rnd() * 9);
      for (let i = 0; i < n; i++) w += letters[Math.floor(Math.pow(rnd(), 2) * 26)];
      parts.push(w);
      len += w.length + 1;
    }
    const random = parts.join(' ');
    const t2 = createTokenizer(vocabFromGguf(LLAMA_SPM));
    t0 = performance.now();
    const b = t2.encode(random);
    const rand = performance.now() - t0;
    console.log(
      `1 MB English (docs repeated): ${cold.toFixed(0)} ms cold, ${warm.toFixed(0)} ms warm, ${a.length} tokens; ` +
        `1 MB random-letter words: ${rand.toFixed(0)} ms, ${b.length} tokens`,
    );
    expect(t.decode(a)).toBe(text);
    expect(t2.decode(b)).toBe(random);
  });
});

describe('createTokenizer validation', () => {
  const base = (): VocabData => ({ model: 'llama', tokens: ['<unk>', '<s>', '</s>', 'a'], scores: new Float32Array(4) });

  it('builds from a minimal vocabulary and infers token types', () => {
    const t = createTokenizer(base());
    expect(t.special).toEqual({ unk: 0, bos: 1, eos: 2 });
    expect(t.encode('a', { addSpecial: false })).toEqual([0, 3]); // '▁' is not in the vocabulary: unk
    expect(TokenType.BYTE).toBe(6);
  });

  it('builds gpt2 and bert vocabularies; rejects unknown models', () => {
    expect(createTokenizer(vocabFromGguf(`${FIXTURES}tokenizers/ggml-vocab-gpt-2.gguf`)).model).toBe('gpt2');
    expect(createTokenizer(vocabFromGguf(`${FIXTURES}tokenizers/ggml-vocab-bert-bge.gguf`)).model).toBe('bert');
    expectCode(() => createTokenizer({ ...base(), model: 't5' }), 'BAD_TOKENIZER', /tokenizer model 't5' is not supported yet/);
    expectCode(() => createTokenizer({ ...base(), model: 'constructor' }), 'BAD_TOKENIZER', /'constructor'/);
  });

  it('names the problem in a bad vocabulary', () => {
    expectCode(() => createTokenizer({ ...base(), tokens: [] }), 'BAD_TOKENIZER', /no tokens/);
    expectCode(() => createTokenizer({ ...base(), scores: new Float32Array(3) }), 'BAD_TOKENIZER', /scores has 3 entries for 4 tokens/);
    expectCode(() => createTokenizer({ ...base(), tokenTypes: new Int32Array(5) }), 'BAD_TOKENIZER', /token_type has 5 entries for 4 tokens/);
    expectCode(() => createTokenizer({ ...base(), tokenTypes: new Int32Array([2, 3, 3, 9]) }), 'BAD_TOKENIZER', /token 3 .* type 9/);
    expectCode(() => createTokenizer({ ...base(), bos: 4 }), 'BAD_TOKENIZER', /bos token id 4 is out of range for a vocabulary of 4 tokens/);
    expectCode(() => createTokenizer({ ...base(), eos: -1 }), 'BAD_TOKENIZER', /eos token id -1/);
    expectCode(() => createTokenizer({ ...base(), tokens: ['a', 7 as unknown as string] }), 'BAD_TOKENIZER', /token 1 is not a string/);
    expectCode(() => createTokenizer({ ...base(), model: '' }), 'BAD_TOKENIZER', /no tokenizer model/);
    expectCode(() => createTokenizer(null as unknown as VocabData), 'BAD_TOKENIZER');
    expectCode(
      () => createTokenizer({ model: 'llama', tokens: ['x', 'y'], unk: undefined }),
      'BAD_TOKENIZER',
      /neither all 256 byte tokens/,
    );
  });
});
