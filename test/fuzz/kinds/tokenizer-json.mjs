/**
 * tokenizer.json: a seed (tokenizer-seeds.mjs) with components swapped and 1-4 mutations
 * (regexes, ids, huge numbers, structure, added tokens, deep or cyclic nesting, tokenizer_config),
 * given as bytes or as the parsed object, through loadTokenizer + encode / decode / stream decode.
 *
 * Accepted but wrong: ids outside the vocabulary (or not integers), a decode that rejects what
 * encode produced, a non-string text, a vocabulary far larger than the file's entries.
 */
import { buildSeeds } from '../tokenizer-seeds.mjs';
import { checkIds } from './gguf.mjs';

export const REDOS = ['(a+)+$', '(a|a)+$', '(a|aa)+$', '(\\w+\\s?)+$', '(.*a){12}', '([a-z]+)*$', '(a*)*b', '(?:a+)+b', '(\\s*\\S*)*$', '((ab)*|a)*$', '(a?){30}a{30}', '(x+x+)+y', '(\\p{L}+)+!', '(?:(?:a+)+)+$'];
const WEIRD_REGEX = ['\\', '[', '(', ')', '(?<', '\\p{Foo}', '(?i)', '(?x)a', '(?m).', 'a{99999999}', 'a{2,1}', '\\k<x>', '\\1', '(?=a)*', '[[:alpha:]]', '[[:bogus:]]', '[a-\\d]', '\\x{110000}', '\\x{zz}', '', '()', '(?:)*', 'x**', '*', '.{0,100000}', '[^]', '\\G', '\\Ka', '[a&&b]', '(?<n>a)\\k<n>', '\\u12', '\\p{^L}', '[\\S-z]', '(?#comment', '(?<=a+)b', '\\s+$', '^', '$', '\\b', '.*', '[\\s\\S]*?'];
const REAL_REGEX = [
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  '\\p{N}{1,3}', '[\\p{P}\\$\\+<=>\\^~\\|]+', '\\s?\\p{L}+', ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*', '[0-9][0-9][0-9]', '\\p{N}++', '(?>\\s+)', ' {2,}',
];
const ATOMS = ['a', 'b', '.', '\\s', '\\S', '\\w', '\\d', '\\p{L}', '[a-z]', '[^\\s]', ' ', '\\n', '(?:ab)', '(a|b)', '\\b', '^', '$', '(?=a)', '(?!b)', '(?<=a)'];
const QUANTS = ['', '', '*', '+', '?', '{2}', '{1,3}', '*?', '++', '{2,}', '{,4}'];

function randomRegex(rng) {
  let s = '';
  const n = rng.int(1, 6);
  for (let i = 0; i < n; i++) {
    let atom = rng.pick(ATOMS) + rng.pick(QUANTS);
    if (rng.chance(0.2)) atom = `(${atom}${rng.pick(ATOMS)})${rng.pick(QUANTS)}`;
    s += atom;
    if (rng.chance(0.15)) s += '|';
  }
  return s;
}

const HOSTILE = [null, undefined, 0, -1, 1.5, -0, NaN, Infinity, -Infinity, 1e308, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 15_999_999, 99_999_999, '', 'x', '__proto__', true, false, [], {}, [1, 2], { type: 'Sequence' }, { type: 'Nope' }, 'x'.repeat(10000), 10n];
const HOSTILE_ID = [-1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 32, 15_999_999, 99_999_999, 1e308, '5', null, 0];
const COMPONENTS = {
  normalizer: [
    { type: 'NFC' }, { type: 'NFKD' }, { type: 'Lowercase' }, { type: 'StripAccents' }, { type: 'Strip', strip_left: true, strip_right: false },
    { type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }, { type: 'Replace', pattern: { String: 'a' }, content: '' },
    { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: true, lowercase: false },
    { type: 'Precompiled', precompiled_charsmap: 'AAAAAA==' }, { type: 'Precompiled', precompiled_charsmap: '////' }, { type: 'ByteLevel' },
    { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
  ],
  pre_tokenizer: [
    { type: 'ByteLevel', add_prefix_space: true, use_regex: true }, { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
    { type: 'Whitespace' }, { type: 'WhitespaceSplit' }, { type: 'BertPreTokenizer' }, { type: 'Punctuation', behavior: 'Isolated' },
    { type: 'Digits', individual_digits: true }, { type: 'CharDelimiterSplit', delimiter: '-' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    { type: 'FixedLength', length: 3 }, { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithNext', invert: false },
    { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Contiguous', invert: true },
    { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }, { type: 'ByteLevel', use_regex: true }] },
  ],
  decoder: [
    { type: 'ByteLevel' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
    { type: 'WordPiece', prefix: '##', cleanup: true }, { type: 'BPEDecoder', suffix: '</w>' }, { type: 'CTC', pad_token: '<pad>', word_delimiter_token: '|', cleanup: true },
    { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 1 }] },
  ],
  post_processor: [
    { type: 'BertProcessing', sep: ['[SEP]', 1], cls: ['[CLS]', 0] }, { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: true },
    { type: 'ByteLevel', trim_offsets: false }, { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: {} },
    { type: 'Sequence', processors: [{ type: 'ByteLevel' }, { type: 'BertProcessing', sep: ['b', 3], cls: ['a', 2] }] },
  ],
};
const TYPES = ['Sequence', 'BPE', 'WordPiece', 'Unigram', 'WordLevel', 'ByteLevel', 'Metaspace', 'Split', 'Strip', 'Replace', 'Nope', '', 'constructor', '__proto__', 'toString'];
export const PROBE_STRINGS = ['Hello world', 'a'.repeat(40) + '!', ' \n\t  x', 'naïve 日本語 ﬁ 😀', '<s></s>[CLS]<|begin_of_text|>', 'a b  c   d', '12345678901234', '\u0000\ud800x\udfff'];

function paths(node, prefix, out, depth = 0) {
  if (depth > 6 || node === null || typeof node !== 'object') return out;
  const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
  // large maps and lists: a few entries
  const sample = keys.length > 12 ? [keys[0], keys[1], keys[keys.length - 1], keys[Math.floor(keys.length / 2)]] : keys;
  for (const k of sample) {
    out.push([...prefix, k]);
    paths(node[k], [...prefix, k], out, depth + 1);
  }
  return out;
}

function get(obj, path) { return path.reduce((o, k) => (o == null ? undefined : o[k]), obj); }
function set(obj, path, v) {
  const parent = get(obj, path.slice(0, -1));
  if (parent !== null && typeof parent === 'object') parent[path[path.length - 1]] = v;
}

/** Every object with a `type` (pipeline components) reachable outside the vocabulary. */
function components(j) {
  const out = [];
  const seen = new Set();
  const walk = (n, depth) => {
    if (n === null || typeof n !== 'object' || seen.has(n) || depth > 50) return;
    seen.add(n);
    if (typeof n.type === 'string') out.push(n);
    for (const [k, v] of Object.entries(n)) if (k !== 'vocab' && k !== 'merges') walk(v, depth + 1);
  };
  walk({ n: j.normalizer, p: j.pre_tokenizer, d: j.decoder, q: j.post_processor }, 0);
  return out;
}

function mutate(rng, j, cfg) {
  const op = rng.weighted([[4, 'regex'], [3, 'node'], [1, 'delete'], [2, 'type'], [3, 'id'], [2, 'huge'], [2, 'added'], [1, 'nest'], [1, 'cycle'], [2, 'config'], [1, 'merges'], [1, 'charsmap'], [2, 'component']]);
  switch (op) {
    case 'regex': {
      const re = rng.weighted([[3, () => rng.pick(REDOS)], [3, () => rng.pick(WEIRD_REGEX)], [3, () => randomRegex(rng)], [1, () => rng.pick(REAL_REGEX)]])();
      const where = rng.pick(['pre', 'normalizer', 'decoder']);
      const comp = where === 'pre'
        ? { type: 'Split', pattern: { Regex: re }, behavior: rng.pick(['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']), invert: rng.chance(0.3) }
        : { type: 'Replace', pattern: { Regex: re }, content: rng.pick(['', ' ', 'x', '$1', '▁▁']) };
      const key = where === 'pre' ? 'pre_tokenizer' : where;
      j[key] = j[key] && rng.chance(0.5) ? { type: 'Sequence', [where === 'pre' ? 'pretokenizers' : where === 'decoder' ? 'decoders' : 'normalizers']: [comp, j[key]] } : comp;
      return `${key} regex ${JSON.stringify(re)}`;
    }
    case 'node': {
      const all = paths(j, [], []);
      const p = rng.pick(all);
      const v = rng.pick(HOSTILE);
      set(j, p, v);
      return `${p.join('.')} = ${describe(v)}`;
    }
    case 'delete': {
      const p = rng.pick(paths(j, [], []));
      const parent = get(j, p.slice(0, -1));
      if (parent && typeof parent === 'object') delete parent[p[p.length - 1]];
      return `deleted ${p.join('.')}`;
    }
    case 'type': {
      const cs = components(j);
      if (cs.length === 0) return 'no component';
      const c = rng.pick(cs);
      const old = c.type;
      c.type = rng.pick(TYPES);
      return `a ${old} became type ${c.type}`;
    }
    case 'id': {
      const v = rng.pick(HOSTILE_ID);
      const where = rng.pick(['vocab', 'added', 'cls', 'template', 'unk_id', 'pad']);
      if (where === 'vocab' && isObject(j.model) && isObject(j.model.vocab)) {
        const keys = Object.keys(j.model.vocab);
        const k = rng.pick(keys.length ? keys : ['x']);
        j.model.vocab[k] = v;
        return `model.vocab[${JSON.stringify(k)}] = ${describe(v)}`;
      }
      if (where === 'added' && Array.isArray(j.added_tokens) && j.added_tokens.some(isObject)) {
        rng.pick(j.added_tokens.filter(isObject)).id = v;
        return `an added token id = ${describe(v)}`;
      }
      if (where === 'cls' || where === 'template') {
        j.post_processor = rng.chance(0.5)
          ? { type: rng.pick(['BertProcessing', 'RobertaProcessing']), cls: rng.chance(0.5) ? ['x', v] : ['[CLS]', 0], sep: rng.chance(0.5) ? ['y', v] : ['[SEP]', 1] }
          : { type: 'TemplateProcessing', single: [{ SpecialToken: { id: 'S', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: 'S', type_id: 0 } }], special_tokens: { S: { id: 'S', ids: [v, 0], tokens: ['S', 'T'] } } };
        return `post_processor with id ${describe(v)}`;
      }
      if (where === 'unk_id' && isObject(j.model)) { j.model.unk_id = v; return `model.unk_id = ${describe(v)}`; }
      j.padding = { pad_id: v, pad_token: '[PAD]' };
      return `padding.pad_id = ${describe(v)}`;
    }
    case 'huge': {
      const v = rng.pick([1e9, 2 ** 31, 2 ** 53, 1e308, Infinity, -1, NaN, 0]);
      const c = rng.pick([
        () => ({ decoder: { type: 'Strip', content: rng.pick(['', ' ', '▁', 'ab']), start: rng.chance(0.5) ? v : 1, stop: rng.chance(0.5) ? v : 0 } }),
        () => ({ pre_tokenizer: { type: 'FixedLength', length: v } }),
        () => ({ model_max: v }),
        () => ({ pre_tokenizer: { type: 'Metaspace', replacement: rng.pick(['', '▁'.repeat(1000), 'ab', ' ']), prepend_scheme: 'always' } }),
        () => ({ pre_tokenizer: { type: 'CharDelimiterSplit', delimiter: rng.pick(['', 'ab', '😀', ' ']) } }),
      ])();
      if ('model_max' in c) { if (isObject(j.model)) j.model.max_input_chars_per_word = v; return `model.max_input_chars_per_word = ${v}`; }
      Object.assign(j, c);
      return `${Object.keys(c)[0]} = ${JSON.stringify(Object.values(c)[0])}`;
    }
    case 'added': {
      const id = rng.pick([15_999_999, 2 ** 31 - 1, 1_000_000, 70_000, 0, 1, 5, -1]);
      const content = rng.pick(['', ' ', 'a', 'ab', 'Hello', '<s>', '\u0000', '😀', 'x'.repeat(5000), '.*']);
      if (!Array.isArray(j.added_tokens)) j.added_tokens = [];
      j.added_tokens.push({ id, content, special: rng.chance(0.5), lstrip: rng.chance(0.3), rstrip: rng.chance(0.3), single_word: rng.chance(0.3), normalized: rng.chance(0.5) });
      return `added token ${JSON.stringify(content.slice(0, 10))} id ${id}`;
    }
    case 'nest': {
      const depth = rng.pick([100, 5000, 20000]);
      const key = rng.pick(['normalizer', 'pre_tokenizer', 'decoder', 'post_processor']);
      const list = { normalizer: 'normalizers', pre_tokenizer: 'pretokenizers', decoder: 'decoders', post_processor: 'processors' }[key];
      let n = j[key] ?? null;
      for (let i = 0; i < depth; i++) n = { type: 'Sequence', [list]: n === null ? [] : [n] };
      j[key] = n;
      return `${key} nested ${depth} Sequences deep`;
    }
    case 'cycle': {
      const key = rng.pick(['normalizer', 'pre_tokenizer', 'decoder', 'post_processor']);
      const list = { normalizer: 'normalizers', pre_tokenizer: 'pretokenizers', decoder: 'decoders', post_processor: 'processors' }[key];
      const s = /** @type {any} */ ({ type: 'Sequence', [list]: [] });
      s[list].push(s);
      j[key] = s;
      j.__cyclic = true;
      return `${key} is a Sequence containing itself (parsed object)`;
    }
    case 'config': {
      const f = rng.pick(['bos_token', 'eos_token', 'unk_token', 'pad_token', 'added_tokens_decoder', 'chat_template', 'tokenizer_class']);
      const v = f === 'added_tokens_decoder'
        ? { [rng.pick(['99999999', '15999999', '0', '-1', '1e9', 'x'])]: rng.pick([{ content: 'NEW', special: true }, { content: '' }, 'x', null]) }
        : f === 'tokenizer_class' ? rng.pick(['LlamaTokenizerFast', 'GemmaTokenizer', 'BertTokenizer', '__proto__'])
          : rng.pick(HOSTILE);
      cfg[f] = v;
      if (f === 'tokenizer_class') cfg.add_bos_token = rng.pick([true, false, 'yes']);
      return `tokenizer_config.${f} = ${describe(v)}`;
    }
    case 'merges': {
      if (!isObject(j.model)) return 'no model';
      j.model.merges = Array.from({ length: rng.int(1, 50) }, () => rng.pick(['a b', 'ab', ' ', '', 'a  b', ['a'], [1, 2], ['a', 'b'], null, 'Ġ t', 'x y z']));
      return 'garbage merges';
    }
    case 'charsmap': {
      const b = Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 255));
      if (rng.chance(0.5) && b.length >= 4) { b[0] = 0xff; b[1] = 0xff; b[2] = 0xff; b[3] = 0x7f; }
      j.normalizer = { type: 'Precompiled', precompiled_charsmap: rng.chance(0.2) ? '!!!' : Buffer.from(b).toString('base64') };
      return `Precompiled charsmap of ${b.length} random bytes`;
    }
    case 'component': {
      const key = rng.pick(Object.keys(COMPONENTS));
      j[key] = structuredClone(rng.pick(COMPONENTS[key]));
      return `${key} := ${JSON.stringify(j[key]).slice(0, 80)}`;
    }
  }
  return op;
}

const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);

function describe(v) {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v);
  if (typeof v === 'bigint') return `${v}n`;
  try { return JSON.stringify(v) ?? String(v); } catch { return String(v); }
}

function declaredEntries(j, cfg) {
  const v = j?.model?.vocab;
  const n = Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0;
  const a = Array.isArray(j?.added_tokens) ? j.added_tokens.length : 0;
  const c = cfg?.added_tokens_decoder && typeof cfg.added_tokens_decoder === 'object' ? Object.keys(cfg.added_tokens_decoder).length : 0;
  return n + a + c;
}

export const tokenizerJson = {
  name: 'tokenizer-json',
  about: 'mutated tokenizer.json (+ tokenizer_config.json) through loadTokenizer + encode / decode',

  async generate(rng, ctx) {
    const seeds = await ctx.cached('tokenizer-seeds', () => buildSeeds(ctx.pkg, ctx.fixtures));
    const name = rng.pick(Object.keys(seeds));
    const j = structuredClone(seeds[name]);
    const cfg = {};
    const steps = [];
    const n = rng.int(1, 4);
    for (let i = 0; i < n; i++) steps.push(mutate(rng, j, cfg));
    const asBytes = !j.__cyclic && rng.chance(0.5);
    delete j.__cyclic;
    return {
      desc: `${name}${asBytes ? ' (bytes)' : ''}: ${steps.join('; ')}`,
      input: { j, cfg: Object.keys(cfg).length ? cfg : null, asBytes, declared: declaredEntries(j, cfg) },
    };
  },

  async run(input, ctx) {
    let src = input.j;
    if (input.asBytes) {
      let text;
      try { text = JSON.stringify(input.j, (k, v) => (typeof v === 'bigint' ? Number(v) : v)); } catch { text = '{'; }
      src = new TextEncoder().encode(text);
      ctx.sourceName = `Uint8Array (${src.length} bytes)`;
    }
    const tk = await ctx.pkg.loadTokenizer(src, { config: input.cfg });
    return exercise(tk, PROBE_STRINGS, input.declared);
  },
};

/** encode / decode / stream-decode `strings`; the wrong results found, if any. */
export function exercise(tk, strings, declared) {
  const wrong = [];
  const V = tk.vocabSize;
  if (!Number.isInteger(V) || V < 1) wrong.push(`vocabSize ${V}`);
  // the loader's bound (src/tokenizer/hf.ts ID_SLACK): tables never sized beyond twice the entries + 65536
  if (declared !== undefined && V > 2 * declared + 65536) wrong.push(`vocabSize ${V} for a file with ${declared} entries`);
  for (const s of strings) {
    for (const opts of [undefined, { addSpecial: false, parseSpecial: true }]) {
      const ids = tk.encode(s, opts);
      const before = wrong.length;
      checkIds(ids, V, `encode(${JSON.stringify(s.slice(0, 20))}${opts ? ', parseSpecial' : ''})`, wrong);
      if (wrong.length > before) return { status: 'wrong', wrong: wrong.join('; ') };
      let text;
      try {
        text = tk.decode(ids, opts && { skipSpecial: false });
      } catch (e) {
        if (e?.code === 'TOKEN_OUT_OF_RANGE') { wrong.push(`decode rejects encode's ids: ${e.message}`); break; }
        throw e;
      }
      if (typeof text !== 'string') wrong.push(`decode gave ${typeof text}`);
      const d = tk.createDecoder();
      let streamed = '';
      for (const id of ids) streamed += d.push(id);
      streamed += d.flush();
      if (typeof streamed !== 'string') wrong.push('stream decode gave a non-string');
    }
  }
  for (const id of [0, V - 1]) {
    if (typeof tk.idToPiece(id) !== 'string') wrong.push(`idToPiece(${id}) is not a string`);
    if (!(tk.idToBytes(id) instanceof Uint8Array)) wrong.push(`idToBytes(${id}) is not bytes`);
  }
  return wrong.length === 0 ? { status: 'accepted' } : { status: 'wrong', wrong: wrong.join('; ') };
}
