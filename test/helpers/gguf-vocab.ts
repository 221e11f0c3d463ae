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
    addBos: flag('add_bos_token'),
    addEos: flag('add_eos_token'),
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
