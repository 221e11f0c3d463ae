/**
 * Seed tokenizer.json objects for the fuzzer, built from the shared fixtures (never copied into
 * the repository): small enough that loading one costs milliseconds, covering the four model
 * types and the usual pipelines (LLaMA 3 / Qwen byte-level BPE, LLaMA 2 SentencePiece-style BPE
 * with byte fallback, Unigram, BERT WordPiece, WordLevel).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** GPT-2's byte alphabet: the one-character token of each byte value. */
export const GPT2_BYTES = (() => {
  const out = [];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out.push(String.fromCharCode(printable ? b : 256 + n++));
  }
  return out;
})();

const added = (id, content, special = true) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });

/** A byte-level BPE from a real tokenizer.json: the byte alphabet and the first `k` merges. */
function miniByteLevel(file, k) {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  const vocab = {};
  const put = (t) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  GPT2_BYTES.forEach(put);
  const merges = [];
  for (const m of j.model.merges) {
    if (merges.length >= k) break;
    const [a, b] = Array.isArray(m) ? m : [m.slice(0, m.indexOf(' ', 1)), m.slice(m.indexOf(' ', 1) + 1)];
    if (!(a in vocab) || !(b in vocab)) continue;
    put(a + b);
    merges.push(Array.isArray(m) ? [a, b] : `${a} ${b}`);
  }
  const n = Object.keys(vocab).length;
  const specials = j.added_tokens.slice(0, 6).map((t, i) => added(n + i, t.content));
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials,
    normalizer: j.normalizer, pre_tokenizer: j.pre_tokenizer,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: specials[0].content, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { [specials[0].content]: { id: specials[0].content, ids: [specials[0].id], tokens: [specials[0].content] } },
    },
    decoder: j.decoder,
    model: { ...j.model, vocab, merges },
  };
}

/** The stories260K vocabulary (512 SentencePiece pieces with scores) from a GGUF fixture. */
async function spmPieces(pkg, fixtures) {
  const h = await pkg.readGGUF(join(fixtures, 'models', 'llama.gguf'));
  const tokens = h.metadata.get('tokenizer.ggml.tokens').value;
  const scores = h.metadata.get('tokenizer.ggml.scores').value;
  return tokens.map((t, i) => [t, scores[i]]);
}

function spmBpe(pieces) {
  const vocab = {};
  pieces.forEach(([t], i) => { vocab[t] = i; });
  // merges: each multi-character piece from its best split into two pieces, in score order
  const merges = [];
  const order = pieces.map(([t, s], i) => [t, s, i]).filter(([t]) => [...t].length > 1 && !/^<.*>$/.test(t)).sort((x, y) => y[1] - x[1]);
  for (const [t] of order) {
    const cs = [...t];
    for (let k = 1; k < cs.length; k++) {
      const a = cs.slice(0, k).join('');
      const b = cs.slice(k).join('');
      if (a in vocab && b in vocab) { merges.push(`${a} ${b}`); break; }
    }
  }
  return {
    version: '1.0',
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
  };
}

function unigram(pieces) {
  return {
    version: '1.0',
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'NFKC' },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }], pair: [], special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, byte_fallback: true, vocab: pieces.map(([t, s]) => [t, s]) },
  };
}

/** BERT WordPiece from the bert-bge GGUF vocabulary (GGUF writes '▁the' for 'the' and 'ing' for '##ing'). */
async function wordPiece(pkg, fixtures, k) {
  const h = await pkg.readGGUF(join(fixtures, 'tokenizers', 'ggml-vocab-bert-bge.gguf'));
  const tokens = h.metadata.get('tokenizer.ggml.tokens').value.slice(0, k);
  const vocab = {};
  tokens.forEach((t, i) => {
    const hf = /^\[.*\]$/.test(t) ? t : t.startsWith('▁') ? t.slice(1) : `##${t}`;
    if (!(hf in vocab)) vocab[hf] = i;
  });
  return {
    version: '1.0',
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => added(vocab[t], t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', vocab['[SEP]']], cls: ['[CLS]', vocab['[CLS]']] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

function wordLevel(wp) {
  const vocab = {};
  for (const t of Object.keys(wp.model.vocab)) if (!t.startsWith('##')) vocab[t] = Object.keys(vocab).length;
  return {
    version: '1.0', added_tokens: [added(vocab['[UNK]'], '[UNK]')],
    normalizer: { type: 'Lowercase' }, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null,
    model: { type: 'WordLevel', unk_token: '[UNK]', vocab },
  };
}

/** name -> tokenizer.json object (built once per process). */
export async function buildSeeds(pkg, fixtures) {
  const pieces = await spmPieces(pkg, fixtures);
  const wp = await wordPiece(pkg, fixtures, 3000);
  return {
    'llama3-mini': miniByteLevel(join(fixtures, 'tokenizers/hf/llama3/tokenizer.json'), 1500),
    'qwen3-mini': miniByteLevel(join(fixtures, 'tokenizers/hf/qwen3/tokenizer.json'), 1500),
    'spm-bpe': spmBpe(pieces),
    unigram: unigram(pieces),
    wordpiece: wp,
    wordlevel: wordLevel(wp),
  };
}
