/**
 * Test-only: a minimal GGUF (v2/v3, little-endian) metadata reader, just enough to build a
 * VocabData from the tokenizer.ggml.* keys of the fixture files. Tensor infos are not read.
 */
import { readFileSync } from 'node:fs';
import type { VocabData } from '../../src/tokenizer/types.js';

export const FIXTURES = new URL('../../../shared/fixtures/', import.meta.url).pathname;

type Value = number | bigint | boolean | string | Value[] | Float32Array | Int32Array;

export function readGgufMetadata(path: string): Map<string, Value> {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const text = new TextDecoder('utf-8');
  let o = 0;
  const need = (n: number) => {
    if (o + n > buf.byteLength) throw new Error(`${path}: truncated at byte ${o}`);
  };
  const u32 = () => { need(4); const v = view.getUint32(o, true); o += 4; return v; };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(o, true);
    o += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${path}: count ${v} too large`);
    return Number(v);
  };
  const str = () => { const n = u64(); need(n); const s = text.decode(buf.subarray(o, o + n)); o += n; return s; };
  const scalar = (t: number): Value => {
    switch (t) {
      case 0: need(1); return view.getUint8(o++);
      case 1: need(1); return view.getInt8(o++);
      case 2: { need(2); const v = view.getUint16(o, true); o += 2; return v; }
      case 3: { need(2); const v = view.getInt16(o, true); o += 2; return v; }
      case 4: return u32();
      case 5: { need(4); const v = view.getInt32(o, true); o += 4; return v; }
      case 6: { need(4); const v = view.getFloat32(o, true); o += 4; return v; }
      case 7: need(1); return view.getUint8(o++) !== 0;
      case 8: return str();
      case 10: { need(8); const v = view.getBigUint64(o, true); o += 8; return v; }
      case 11: { need(8); const v = view.getBigInt64(o, true); o += 8; return v; }
      case 12: { need(8); const v = view.getFloat64(o, true); o += 8; return v; }
      default: throw new Error(`${path}: unknown GGUF value type ${t} at byte ${o}`);
    }
  };
  const value = (t: number): Value => {
    if (t !== 9) return scalar(t);
    const et = u32();
    const n = u64();
    if (et === 6) { need(4 * n); const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat32(o + 4 * i, true); o += 4 * n; return a; }
    if (et === 5) { need(4 * n); const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = view.getInt32(o + 4 * i, true); o += 4 * n; return a; }
    const a: Value[] = new Array(n);
    for (let i = 0; i < n; i++) a[i] = value(et);
    return a;
  };

  need(4);
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${path}: not a GGUF file`);
  o = 4;
  const version = u32();
  if (version !== 2 && version !== 3) throw new Error(`${path}: GGUF version ${version}`);
  u64(); // tensor count
  const nkv = u64();
  const kv = new Map<string, Value>();
  for (let i = 0; i < nkv; i++) {
    const key = str();
    kv.set(key, value(u32()));
  }
  return kv;
}

export function vocabFromGguf(path: string): VocabData {
  const kv = readGgufMetadata(path);
  const get = (k: string) => kv.get(`tokenizer.ggml.${k}`);
  const id = (k: string) => { const v = get(k); return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined; };
  const flag = (k: string) => { const v = get(k); return typeof v === 'boolean' ? v : undefined; };
  const model = get('model');
  const tokens = get('tokens');
  if (typeof model !== 'string' || !Array.isArray(tokens)) throw new Error(`${path}: no tokenizer.ggml.model / tokens`);
  const scores = get('scores');
  const types = get('token_type');
  const merges = get('merges');
  const pre = get('pre');
  return {
    model,
    pre: typeof pre === 'string' ? pre : undefined,
    tokens: tokens as string[],
    scores: scores instanceof Float32Array ? scores : undefined,
    tokenTypes: types instanceof Int32Array ? types : undefined,
    merges: Array.isArray(merges) ? (merges as string[]) : undefined,
    bos: id('bos_token_id'),
    eos: id('eos_token_id'),
    unk: id('unknown_token_id'),
    pad: id('padding_token_id'),
    eot: id('eot_token_id'),
    sep: id('seperator_token_id'),
    cls: id('cls_token_id'),
    addBos: flag('add_bos_token'),
    addEos: flag('add_eos_token'),
    addSep: flag('add_sep_token'),
    addSpacePrefix: flag('add_space_prefix'),
  };
}

/** A llama.cpp conformance pair: <vocab>.gguf.inp split on exactly '\n__ggml_vocab_test__\n', .out one line per test. */
export function readVocabTests(vocabPath: string): { input: string; expected: number[] }[] {
  const SEP = '\n__ggml_vocab_test__\n';
  const inp = readFileSync(`${vocabPath}.inp`, 'utf8');
  const out = readFileSync(`${vocabPath}.out`, 'utf8');
  const inputs = inp.split(SEP);
  if (inputs[inputs.length - 1] === '') inputs.pop(); // each test is followed by the separator
  const lines = out.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== inputs.length) throw new Error(`${vocabPath}: ${inputs.length} inputs but ${lines.length} output lines`);
  return inputs.map((input, i) => {
    const line = lines[i]!.trim();
    return { input, expected: line === '' ? [] : line.split(/\s+/).map(Number) };
  });
}

/** A failing vector prints its input and both id lists; returns the pass count. */
export function checkVectors(
  name: string,
  tests: { input: string; expected: number[] }[],
  encode: (s: string) => number[],
  decode?: (ids: number[]) => string,
): { pass: number; total: number; failures: string[] } {
  const failures: string[] = [];
  let pass = 0;
  for (const { input, expected } of tests) {
    const got = encode(input);
    if (got.length === expected.length && got.every((x, i) => x === expected[i])) pass++;
    else failures.push(`input ${JSON.stringify(input)}\n  expected ${expected.join(' ')}\n  got      ${got.join(' ')}`);
    if (decode !== undefined) {
      const back = decode(got);
      if (back !== input) failures.push(`decode(encode(${JSON.stringify(input)})) = ${JSON.stringify(back)}`);
    }
  }
  console.log(`${name}: ${pass}/${tests.length} vectors pass`);
  if (failures.length > 0) console.log(failures.join('\n'));
  return { pass, total: tests.length, failures };
}

/** Deterministic random strings over an alphabet of fragments (letters, scripts, spaces, digits, marks, emoji). */
export function randomTexts(count: number, seed = 12345, maxParts = 30): string[] {
  const alphabet = [
    ...'abcXYZ  \n\t\r0123456789', "'s", "'T", "'ll", "'RE", ' ', '  ', '   ', '\n\n', ' \n', '\r\n', '.', ',', '!', '?', '-',
    '(', ')', '"', '/', '_', '@', '#', '$', '+', '<', '=', '>', '^', '`', '|', '~', 'é', 'ü', 'ß', 'ſ', 'K', 'İ', 'Σ',
    '世界', '日本語', 'カタカナ', '한국어', 'ب', 'ม', 'ि', 'क', '\u0301', '🎉', '👍🏽', '½', '²', '٣', '\u00a0', '\u2028',
    '\u0085', '\ufeff', '\u3000', 'Ω', 'Ǆ', 'Hello', ' world', 'tion', 'ing', '123456', '3.14', 'don\'t', 'CamelCase',
    '\u0000', '\u001f', '\u00ad', 'µ', 'ｆｕｌｌ', '１２', '…', '—', '“', '”', '‘',
  ];
  let s = seed >>> 0;
  const rnd = (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let t = '';
    const n = rnd(maxParts);
    for (let i = 0; i < n; i++) t += alphabet[rnd(alphabet.length)];
    out.push(t);
  }
  return out;
}

/** ~n UTF-16 units of English prose (the fixture READMEs and the design notes, repeated). */
export function englishText(n: number): string {
  const corpus = readFileSync(`${FIXTURES}README.md`, 'utf8') + readFileSync(new URL('../../../shared/DESIGN.md', import.meta.url), 'utf8');
  let text = '';
  while (text.length < n) text += corpus;
  return text.slice(0, n);
}
