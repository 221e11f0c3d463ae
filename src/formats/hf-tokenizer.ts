// tokenizer.json + tokenizer_config.json (+ config.json's token ids) -> the tokenizer.ggml.* metadata
// llama.cpp's converter writes, for `wasmlm convert`. Byte-level BPE vocabularies (GPT-2, Llama 3,
// Qwen, SmolLM, ...): tokens by id (ids without a token padded as [PADn]), token types (1 normal,
// 3 control for special added tokens, 4 user-defined for the others, 5 padding), merges as "a b",
// the pre-tokenizer name whose sections are the file's, bos / eos / pad ids, add_bos, chat template.

import { WasmlmError } from '../errors.js';
import { hfSectionsOf, knownPreNames } from '../tokenizer/llamacpp.js';
import { GGUFValueType, type GGUFMetaValue } from './gguf-types.js';

type Json = Record<string, unknown>;

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Is `want` contained in `got` (objects: every key of want equal in got; arrays element by element)? */
function covers(want: unknown, got: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => covers(w, got[i]));
  if (isObj(want)) return isObj(got) && Object.entries(want).every(([k, v]) => covers(v, got[k]));
  return want === got;
}

/** The tokenizer.ggml.pre whose sections are this tokenizer.json's pre_tokenizer and normalizer. */
function preName(tok: Json): string {
  for (const name of knownPreNames()) {
    const s = hfSectionsOf(name);
    if (covers(s.pre_tokenizer, tok.pre_tokenizer) && (s.normalizer === null ? !tok.normalizer : covers(s.normalizer, tok.normalizer))) return name;
  }
  throw new WasmlmError('BAD_TOKENIZER', 'tokenizer.json: its pre_tokenizer / normalizer are not one of the pre-tokenizers llama.cpp knows');
}

export function ggufTokenizerMetadata(tok: Json, tokConfig: Json | undefined, config: Json): Map<string, GGUFMetaValue> {
  const model = tok.model;
  if (!isObj(model) || model.type !== 'BPE' || model.byte_fallback === true || !isObj(model.vocab)) {
    throw new WasmlmError('BAD_TOKENIZER', `tokenizer.json: a ${isObj(model) ? String(model.type) : 'missing'} model${isObj(model) && model.byte_fallback === true ? ' with byte_fallback (SentencePiece style)' : ''} cannot be converted yet (byte-level BPE only)`);
  }
  const byId = new Map<number, string>();
  for (const [text, id] of Object.entries(model.vocab)) if (typeof id === 'number') byId.set(id, text);
  const types = new Map<number, number>();
  for (const a of Array.isArray(tok.added_tokens) ? tok.added_tokens : []) {
    if (!isObj(a) || typeof a.id !== 'number' || typeof a.content !== 'string') continue;
    byId.set(a.id, a.content);
    types.set(a.id, a.special === true ? 3 : 4);
  }
  const n = Math.max(byId.size === 0 ? 0 : Math.max(...byId.keys()) + 1, typeof config.vocab_size === 'number' ? config.vocab_size : 0);
  const tokens: string[] = [];
  const tokenTypes = new Int32Array(n);
  for (let id = 0; id < n; id++) {
    const t = byId.get(id);
    tokens.push(t ?? `[PAD${id}]`);
    tokenTypes[id] = t === undefined ? 5 : types.get(id) ?? 1;
  }
  const merges = (Array.isArray(model.merges) ? model.merges : []).map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));
  const out = new Map<string, GGUFMetaValue>();
  const str = (value: string): GGUFMetaValue => ({ type: GGUFValueType.STRING, value });
  const u32 = (value: number): GGUFMetaValue => ({ type: GGUFValueType.UINT32, value });
  out.set('tokenizer.ggml.model', str('gpt2'));
  out.set('tokenizer.ggml.pre', str(preName(tok)));
  out.set('tokenizer.ggml.tokens', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value: tokens });
  out.set('tokenizer.ggml.token_type', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value: tokenTypes });
  out.set('tokenizer.ggml.merges', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value: merges });
  // special ids: tokenizer_config.json's token texts, else config.json's ids (as gguf-py's SpecialVocab)
  const idOf = (text: unknown): number | undefined => {
    const s = isObj(text) ? text.content : text;
    if (typeof s !== 'string') return undefined;
    for (const [id, t] of byId) if (t === s) return id;
    return undefined;
  };
  for (const [key, name] of [['eos', 'eos_token'], ['padding', 'pad_token'], ['bos', 'bos_token'], ['unknown', 'unk_token']] as const) {
    const fromConfig = config[`${name}_id`];
    const id = idOf(tokConfig?.[name]) ?? (typeof fromConfig === 'number' ? fromConfig : Array.isArray(fromConfig) && typeof fromConfig[0] === 'number' ? fromConfig[0] : undefined);
    if (id !== undefined) out.set(`tokenizer.ggml.${key}_token_id`, u32(id));
  }
  if (typeof tokConfig?.add_bos_token === 'boolean') out.set('tokenizer.ggml.add_bos_token', { type: GGUFValueType.BOOL, value: tokConfig.add_bos_token });
  if (typeof tokConfig?.add_eos_token === 'boolean') out.set('tokenizer.ggml.add_eos_token', { type: GGUFValueType.BOOL, value: tokConfig.add_eos_token });
  const template = tokConfig?.chat_template;
  if (typeof template === 'string') out.set('tokenizer.chat_template', str(template));
  else if (Array.isArray(template)) {
    const def = template.find((t) => isObj(t) && t.name === 'default');
    if (isObj(def) && typeof def.template === 'string') out.set('tokenizer.chat_template', str(def.template));
  }
  return out;
}
