/**
 * GGUF files: a fixture model mutated (truncated at a section, bytes flipped, counts and
 * lengths made huge, tensor offsets / dims / types out of range, metadata values hostile,
 * entries duplicated or removed), then loadModel + logits + a short complete().
 *
 * Accepted but wrong: non-finite logits, generated or encoded ids outside the vocabulary,
 * layer tensors the loaded model ignores (blk.N with N >= info.layers).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseLayout, toChunks, fromChunks, encodeKv, setU64, setU32, T } from '../gguf-layout.mjs';

/** Small fixtures covering the families and weight types. */
const FIXTURES = [
  'llama', 'llama_q4_0', 'llama_q8_0', 'llama_f16', 'llama_moe_q8_0', 'qwen2', 'phi2', 'phi3_swa', 'falcon', 'bloom',
  'gpt2', 'gemma', 'stablelm', 'deepnorm', 'layerscale', 'llama256_q2_k', 'llama256_q4_k', 'llama256_q6_k', 'stories260K',
];

const HUGE = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2n ** 63n - 1n, 2n ** 64n - 1n, 1e6, 1e9];
const HOSTILE_NUM = [0, -1, 1, 2, 3, 7, 1e6, 1e8, 2 ** 31, 2 ** 32 - 1, NaN, Infinity, -Infinity, 1e-45, -1e-5, 0.5, 1e30];
const HOSTILE_STR = ['', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'toString', 'prototype', 'llama\0', 'x'.repeat(70000), 'unknownarch', 'gpt2', 'bert', 'mamba'];
/** keys (after "<arch>.") a model may read, absent from most fixtures */
const ARCH_KEYS = [
  ['rope.scaling.type', T.STR, ['yarn', 'linear', 'none', 'longrope', 'foo', '']],
  ['rope.scaling.factor', T.F32, [0, -1, NaN, 1e30, 4]],
  ['rope.freq_base', T.F32, [0, 1e-45, -1, NaN, Infinity]],
  ['rope.dimension_count', T.U32, [0, 1, 3, 1000, 2 ** 32 - 1]],
  ['rope.scaling.original_context_length', T.U32, [0, 1, 2 ** 32 - 1]],
  ['attention.sliding_window', T.U32, [0, 1, 1e9]],
  ['attention.layer_norm_rms_epsilon', T.F32, [0, -1, NaN, Infinity]],
  ['attention.layer_norm_epsilon', T.F32, [0, -1, NaN]],
  ['attention.key_length', T.U32, [0, 1, 7, 1e6]],
  ['attention.value_length', T.U32, [0, 1, 7, 1e6]],
  ['expert_count', T.U32, [0, 1, 2, 1e6]],
  ['expert_used_count', T.U32, [0, 3, 1e6]],
  ['context_length', T.U32, [0, 1, 2 ** 31, 2 ** 32 - 1]],
  ['block_count', T.U32, [0, 1, 3, 1e6, 1e8]],
  ['deepnorm.alpha', T.F32, [0, NaN, -1]],
];

export const gguf = {
  name: 'gguf',
  about: 'mutated GGUF model files through loadModel + logits + complete()',

  generate(rng, ctx) {
    const name = rng.pick(FIXTURES);
    const orig = ctx.cached(`gguf:${name}`, () => new Uint8Array(readFileSync(join(ctx.fixtures, 'models', `${name}.gguf`))));
    const L = ctx.cached(`gguf-layout:${name}`, () => parseLayout(orig));
    const archKv = L.kvs.find((k) => k.key === 'general.architecture');
    const arch = archKv ? new TextDecoder().decode(orig.subarray(archKv.valueAt + 8, archKv.end)) : 'llama';
    const steps = [];
    let bytes;
    // structured edits first (any number), then at most one raw edit
    const structured = rng.chance(0.5) ? rng.int(1, 3) : 0;
    let chunks = toChunks(orig, L);
    for (let k = 0; k < structured; k++) steps.push(structuredEdit(rng, chunks, L, arch));
    bytes = structured > 0 ? fromChunks(chunks) : orig.slice();
    let dataEdited = steps.some((s) => / tensor /.test(` ${s}`));
    if (structured === 0 || rng.chance(0.3)) {
      const L2 = structured > 0 ? parseLayout(bytes) : L;
      const r = rawEdit(rng, bytes, L2);
      steps.push(r.desc);
      bytes = r.bytes;
      dataEdited ||= r.dataEdited === true;
    }
    return { desc: `${name}.gguf: ${steps.join('; ')}`, input: { name, bytes, asPath: rng.chance(0.25), dataEdited } };
  },

  async run(input, ctx) {
    const { loadModel } = ctx.pkg;
    let source = input.bytes;
    let describe = `Uint8Array (${input.bytes.length} bytes)`;
    if (input.asPath) {
      const dir = join(tmpdir(), `wasmlm-fuzz-${process.pid}`);
      mkdirSync(dir, { recursive: true });
      source = join(dir, `${input.name}.mutated.gguf`);
      writeFileSync(source, input.bytes);
      describe = source;
    }
    ctx.sourceName = describe;
    const m = await loadModel(source);
    try {
      const V = m.info.vocabSize;
      const wrong = [];
      const prompt = [Math.min(1, V - 1), Math.min(403, V - 1)];
      const rows = await m.logits(prompt);
      if (rows.length !== prompt.length) wrong.push(`logits gave ${rows.length} rows for ${prompt.length} tokens`);
      for (const row of rows) {
        if (row.length !== V) { wrong.push(`a logits row has ${row.length} entries for a vocabulary of ${V}`); break; }
        // weights whose bytes or type were changed may hold NaN / Inf themselves
        const bad = input.dataEdited ? -1 : row.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) { wrong.push(`logit ${bad} is ${row[bad]}`); break; }
      }
      const r = await m.complete(prompt, { maxTokens: 3, temperature: 0 });
      if (typeof r.text !== 'string') wrong.push(`complete() text is ${typeof r.text}`);
      checkIds(r.tokens, V, 'complete() tokens', wrong);
      checkIds(m.tokenizer.encode('Hello world, once upon a time.'), V, 'tokenizer.encode', wrong);
      const layers = m.info.layers;
      const names = parseLayoutSafe(input.bytes)?.tensors.map((t) => t.name) ?? [];
      const extra = names.find((n) => { const k = /^blk\.(\d+)\./.exec(n); return k !== null && Number(k[1]) >= layers; });
      if (extra !== undefined) wrong.push(`tensor ${extra} ignored by a ${layers}-layer model`);
      return wrong.length === 0 ? { status: 'accepted' } : { status: 'wrong', wrong: wrong.join('; ') };
    } finally {
      m.dispose();
    }
  },
};

function parseLayoutSafe(bytes) {
  try { return parseLayout(bytes); } catch { return undefined; }
}

export function checkIds(ids, V, what, wrong) {
  if (!Array.isArray(ids)) { wrong.push(`${what} is not an array`); return; }
  const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= V);
  if (bad >= 0) wrong.push(`${what}[${bad}] = ${ids[bad]} is not an id of a vocabulary of ${V}`);
}

// ---------------------------------------------------------------------------------- edits

function structuredEdit(rng, c, L, archName) {
  const op = rng.weighted([[3, 'setMeta'], [2, 'addKey'], [1, 'removeKey'], [1, 'dupKey'], [1, 'removeTensor'], [1, 'dupTensor'], [1, 'renameTensor'], [1, 'tokenizer']]);
  const kvIdx = () => rng.int(0, c.kvs.length - 1);
  switch (op) {
    case 'setMeta': {
      if (c.kvs.length === 0) return 'nothing to set';
      const i = kvIdx();
      const kv = L.kvs.find((k) => k.key === c.kvs[i].key) ?? L.kvs[0];
      const key = c.kvs[i].key;
      if (kv.type === T.STR || rng.chance(0.15)) {
        const v = rng.pick(HOSTILE_STR);
        c.kvs[i] = { key, bytes: encodeKv(key, T.STR, v) };
        return `${key} = string ${JSON.stringify(v.slice(0, 20))}${v.length > 20 ? `… (${v.length})` : ''}`;
      }
      if (kv.type === T.ARR) {
        const n = rng.pick([0, 1, 2, 5]);
        const it = rng.pick([T.U32, T.F32, T.STR, T.I32]);
        const v = Array.from({ length: n }, () => (it === T.STR ? rng.pick(HOSTILE_STR).slice(0, 10) : rng.pick([0, 1, 7, 255, 2 ** 31 - 1])));
        c.kvs[i] = { key, bytes: encodeKv(key, T.ARR, v, it) };
        return `${key} = array of ${n} type ${it}`;
      }
      const t = rng.chance(0.8) ? kv.type : rng.pick([T.U8, T.I32, T.U64, T.F32, T.F64, T.BOOL, T.I64]);
      let v = rng.pick(HOSTILE_NUM);
      if (t !== T.F32 && t !== T.F64) v = Number.isFinite(v) ? Math.trunc(v) : 0;
      c.kvs[i] = { key, bytes: encodeKv(key, t, v) };
      return `${key} = type ${t} ${v}`;
    }
    case 'addKey': {
      const [suffix, type, values] = rng.pick(ARCH_KEYS);
      const key = `${archName}.${suffix}`;
      const v = rng.pick(values);
      const bytes = encodeKv(key, type, type === T.U32 ? Math.max(0, Math.trunc(v)) : v);
      const at = c.kvs.findIndex((k) => k.key === key);
      if (at >= 0) c.kvs[at] = { key, bytes };
      else c.kvs.push({ key, bytes });
      return `${key} := ${String(v)}`;
    }
    case 'removeKey': {
      const i = kvIdx();
      const [k] = c.kvs.splice(i, 1);
      return `removed key ${k.key}`;
    }
    case 'dupKey': {
      const i = kvIdx();
      c.kvs.splice(rng.int(0, c.kvs.length), 0, c.kvs[i]);
      return `duplicated key ${c.kvs[i].key}`;
    }
    case 'removeTensor': {
      if (c.tensors.length === 0) return 'no tensor';
      const [t] = c.tensors.splice(rng.int(0, c.tensors.length - 1), 1);
      return `removed tensor ${t.name}`;
    }
    case 'dupTensor': {
      if (c.tensors.length === 0) return 'no tensor';
      const t = rng.pick(c.tensors);
      c.tensors.splice(rng.int(0, c.tensors.length), 0, t);
      return `duplicated tensor ${t.name}`;
    }
    case 'renameTensor': {
      if (c.tensors.length < 2) return 'no tensor';
      const i = rng.int(0, c.tensors.length - 1);
      const to = rng.chance(0.5) ? rng.pick(c.tensors).name : rng.pick(['blk.99.attn_q.weight', 'blk.-1.attn_q.weight', 'blk.4294967296.ffn_up.weight', '__proto__', 'output.weight', 'token_embd.weight', '']);
      const old = c.tensors[i];
      const nameLen = new DataView(old.bytes.buffer, old.bytes.byteOffset).getUint32(0, true);
      const rest = old.bytes.subarray(8 + nameLen);
      const nb = new TextEncoder().encode(to);
      const b = new Uint8Array(8 + nb.length + rest.length);
      setU64(b, 0, nb.length);
      b.set(nb, 8);
      b.set(rest, 8 + nb.length);
      c.tensors[i] = { name: to, bytes: b };
      return `renamed tensor ${old.name} -> ${JSON.stringify(to)}`;
    }
    case 'tokenizer': {
      const key = rng.pick(['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.unknown_token_id', 'tokenizer.ggml.padding_token_id', 'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'tokenizer.ggml.token_type', 'tokenizer.ggml.scores', 'tokenizer.ggml.tokens', 'tokenizer.ggml.merges']);
      let bytes;
      let what;
      if (key.endsWith('_id')) { const v = rng.pick([-1, 2 ** 31 - 1, 2 ** 32 - 1, 99999999, 511, 512]); bytes = encodeKv(key, rng.pick([T.U32, T.I32, T.I64]), v); what = String(v); }
      else if (key.endsWith('add_bos_token')) { bytes = encodeKv(key, T.U32, 7); what = 'u32 7'; }
      else if (key.endsWith('model') || key.endsWith('pre')) { const v = rng.pick(['gpt2', 'bert', 'llama', 'rwkv', '__proto__', 'constructor', '', 'qwen2', 'llama-bpe']); bytes = encodeKv(key, T.STR, v); what = JSON.stringify(v); }
      else if (key.endsWith('token_type')) { const v = Array.from({ length: 512 }, () => rng.pick([1, 1, 1, 3, 6, 0, 7, -1, 255])); bytes = encodeKv(key, T.ARR, v, T.I32); what = 'random types'; }
      else if (key.endsWith('scores')) { const v = Array.from({ length: rng.pick([0, 511, 512, 513]) }, () => rng.pick([0, -1, NaN, Infinity, -Infinity, 1e30])); bytes = encodeKv(key, T.ARR, v, T.F32); what = `${v.length} hostile scores`; }
      else if (key.endsWith('tokens')) { const n = rng.pick([0, 1, 511, 512, 513]); const v = Array.from({ length: n }, (_, i) => rng.pick([`t${i}`, '', '<s>', '</s>', '<0x0A>', '▁', 'x'.repeat(1000)])); bytes = encodeKv(key, T.ARR, v, T.STR); what = `${n} hostile tokens`; }
      else { const v = Array.from({ length: 50 }, () => rng.pick(['a b', 'ab', ' ', '', 'a  b', '▁ t', 'x y z'])); bytes = encodeKv(key, T.ARR, v, T.STR); what = 'garbage merges'; }
      const at = c.kvs.findIndex((k) => k.key === key);
      if (at >= 0) c.kvs[at] = { key, bytes };
      else c.kvs.push({ key, bytes });
      return `${key} = ${what}`;
    }
  }
  return op;
}

function rawEdit(rng, bytes, L) {
  const op = rng.weighted([[3, 'truncate'], [3, 'flip'], [3, 'count'], [2, 'offset'], [2, 'dim'], [1, 'ndims'], [2, 'ttype'], [1, 'vtype'], [1, 'itemtype'], [1, 'version']]);
  const t = () => L.tensors[rng.int(0, L.tensors.length - 1)];
  switch (op) {
    case 'truncate': {
      const bounds = [0, 3, 4, 8, 16, 24, L.infoEnd, L.dataStart, L.size - 1];
      for (const k of L.kvs) bounds.push(k.start, k.typeAt, k.valueAt, k.end);
      for (const x of L.tensors) bounds.push(x.start, x.ndimsAt, x.typeAt, x.offsetAt, L.dataStart + x.offset);
      let n = rng.pick(bounds) + (rng.chance(0.3) ? rng.int(-3, 3) : 0);
      n = Math.max(0, Math.min(L.size - 1, n));
      return { desc: `truncated to ${n} of ${L.size} bytes`, bytes: bytes.slice(0, n) };
    }
    case 'flip': {
      const k = rng.int(1, 8);
      const end = rng.chance(0.9) ? L.dataStart : L.size;
      const at = [];
      for (let i = 0; i < k; i++) {
        const p = rng.int(0, end - 1);
        bytes[p] ^= rng.int(1, 255);
        at.push(p);
      }
      return { desc: `flipped bytes at ${at.join(',')}`, bytes, dataEdited: true };
    }
    case 'count': {
      const f = rng.pick(L.fields);
      const v = rng.chance(0.2) ? BigInt(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(f.at, true)) + BigInt(rng.pick([1, -1, 2])) : rng.pick(HUGE);
      setU64(bytes, f.at, v);
      return { desc: `${f.what} = ${v}`, bytes };
    }
    case 'offset': {
      const x = t();
      const other = t();
      const v = rng.pick([L.size, L.size - L.dataStart, 2 ** 40, 2n ** 64n - 1n, x.offset + 1, x.offset + 32, other.offset, 0, 2 ** 32]);
      setU64(bytes, x.offsetAt, v);
      return { desc: `tensor ${x.name} offset = ${v}`, bytes, dataEdited: true };
    }
    case 'dim': {
      const x = t();
      const d = rng.int(0, x.ndims - 1);
      const v = rng.pick([0, 1, 3, 2 ** 31, 2 ** 32, 2 ** 62, 2n ** 63n, 2n ** 64n - 1n, x.ne[d] * 2, x.ne[d] + 1, 2 ** 20]);
      setU64(bytes, x.neAt[d], v);
      let desc = `tensor ${x.name} ne[${d}] = ${v}`;
      if (x.ndims > 1 && rng.chance(0.3)) {
        // an overflowing product
        setU64(bytes, x.neAt[(d + 1) % x.ndims], 2 ** 33);
        desc += `, ne[${(d + 1) % x.ndims}] = 2^33`;
      }
      return { desc, bytes, dataEdited: true };
    }
    case 'ndims': {
      const x = t();
      const v = rng.pick([0, 5, 8, 2 ** 32 - 1, x.ndims + 1]);
      setU32(bytes, x.ndimsAt, v);
      return { desc: `tensor ${x.name} n_dims = ${v}`, bytes, dataEdited: true };
    }
    case 'ttype': {
      const x = t();
      const v = rng.pick([4, 5, 31, 32, 33, 36, 40, 1000, 2 ** 32 - 1, 0, 1, 2, 8, 12, 14, 16, 20, 24, 26, 28, 30]);
      setU32(bytes, x.typeAt, v);
      return { desc: `tensor ${x.name} type = ${v}`, bytes, dataEdited: true };
    }
    case 'vtype': {
      const k = rng.pick(L.kvs);
      const v = rng.pick([13, 255, 2 ** 32 - 1, T.STR, T.ARR, T.U64, T.U8, T.BOOL]);
      setU32(bytes, k.typeAt, v);
      return { desc: `key ${k.key} value type = ${v}`, bytes };
    }
    case 'itemtype': {
      const arrays = L.kvs.filter((k) => k.type === T.ARR);
      if (arrays.length === 0) return { desc: 'no array', bytes };
      const k = rng.pick(arrays);
      const v = rng.pick([13, 255, T.ARR, T.STR, T.U8, T.U64, T.BOOL]);
      setU32(bytes, k.itemTypeAt, v);
      return { desc: `key ${k.key} item type = ${v}`, bytes };
    }
    case 'version': {
      const v = rng.pick([0, 1, 4, 0x03000000, 2 ** 32 - 1]);
      setU32(bytes, 4, v);
      return { desc: `version = ${v}`, bytes };
    }
  }
  return { desc: op, bytes };
}
