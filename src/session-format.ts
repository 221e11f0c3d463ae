/**
 * The saved session: bytes any runtime can restore (ARCHITECTURE.md, "Saved sessions"). Little-endian:
 *
 *   magic "WLMS", u32 version (1), 32 bytes fingerprint (SHA-256 of the model: its GGUF metadata, which
 *   holds the tokenizer, its tensor index and a sample of its weights), u32 kv type (the cache rows' GGML type:
 *   0 f32, 1 f16, 8 q8_0; a row is OP_KV_CONVERT's layout, src/abi.ts),
 *   u32 layers, u32 row bytes, u32 tokens n, u32 flags (0), n × u32 token ids,
 *   per layer: u32 rows r, then r K rows and r V rows (the rows the n tokens use, not the empty rest),
 *   u32 checksum (FNV-1a of every byte before it).
 *
 * decode checks everything (magic, version, lengths, checksum, fingerprint, kv type, shapes) before
 * anything is restored: a corrupted or truncated buffer is a BAD_SESSION, another model's a SESSION_MISMATCH.
 */
import { KV_TYPES } from './engine/options.js';
import { WasmlmError } from './errors.js';
import type { GGUFHeader, GGUFMetaValue } from './formats/gguf-types.js';

const MAGIC = 0x534d4c57; // "WLMS"
export const SESSION_VERSION = 1;
const HEADER_BYTES = 4 + 4 + 32 + 4 * 5;

export interface SessionState {
  fingerprint: Uint8Array;
  kvType: number;
  rowBytes: number;
  tokens: number[];
  /** per layer: `rows` K rows then `rows` V rows */
  layers: { rows: number; data: Uint8Array }[];
}

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

export function encodeSession(s: SessionState): Uint8Array {
  const size = HEADER_BYTES + 4 * s.tokens.length + s.layers.reduce((sum, l) => sum + 4 + l.data.length, 0) + 4;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  const u32 = (v: number) => { dv.setUint32(at, v, true); at += 4; };
  u32(MAGIC);
  u32(SESSION_VERSION);
  out.set(s.fingerprint, at); at += 32;
  u32(s.kvType);
  u32(s.layers.length);
  u32(s.rowBytes);
  u32(s.tokens.length);
  u32(0);
  for (const t of s.tokens) u32(t);
  for (const l of s.layers) {
    u32(l.rows);
    out.set(l.data, at); at += l.data.length;
  }
  u32(fnv1a(out.subarray(0, at)));
  return out;
}

/** What the restoring model expects; decodeSession checks the bytes against it. */
export interface Expect {
  fingerprint: Uint8Array;
  kvType: number;
  rowBytes: number;
  layers: number;
  contextLength: number;
  unbounded: boolean;
  vocabSize: number;
  /** rows layer `i` uses for `n` tokens */
  usedRows(layer: number, n: number): number;
}

export function decodeSession(bytes: unknown, want: Expect): SessionState {
  if (!(bytes instanceof Uint8Array)) {
    throw new WasmlmError('BAD_ARGUMENT', `restoreSession: bytes must be a Uint8Array (what session.save() gives), got ${bytes === null ? 'null' : typeof bytes}`);
  }
  const bad = (what: string): never => { throw new WasmlmError('BAD_SESSION', `restoreSession: not a saved session: ${what}`); };
  if (bytes.length < HEADER_BYTES + 4) bad(`${bytes.length} bytes are fewer than a header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const u32 = () => { const v = dv.getUint32(at, true); at += 4; return v; };
  if (u32() !== MAGIC) bad('no "WLMS" magic');
  const version = u32();
  if (version !== SESSION_VERSION) bad(`format version ${version} (this wasmlm reads ${SESSION_VERSION})`);
  if (fnv1a(bytes.subarray(0, bytes.length - 4)) !== dv.getUint32(bytes.length - 4, true)) {
    bad('the checksum does not match (corrupted or truncated)');
  }
  const fingerprint = bytes.slice(at, at + 32); at += 32;
  const kvType = u32();
  const nLayers = u32();
  const rowBytes = u32();
  const n = u32();
  const flags = u32();
  if (flags !== 0) bad(`unknown flags ${flags}`);
  const mismatch = (what: string): never => { throw new WasmlmError('SESSION_MISMATCH', `restoreSession: the session was saved ${what}`); };
  if (!equalBytes(fingerprint, want.fingerprint)) mismatch('from another model (its weights or tokenizer differ)');
  if (kvType !== want.kvType) {
    const name = (code: number) => Object.entries(KV_TYPES).find(([, c]) => c === code)?.[0];
    const saved = name(kvType);
    mismatch(`with a KV cache of ${saved ?? `GGML type ${kvType}`}, not ${name(want.kvType)}` +
      (saved ? ` (restoreSession(bytes, { kvType: '${saved}' }) restores it)` : ''));
  }
  if (nLayers !== want.layers || rowBytes !== want.rowBytes) {
    mismatch(`with ${nLayers} layers of ${rowBytes}-byte rows, this model has ${want.layers} of ${want.rowBytes}`);
  }
  if (!want.unbounded && n > want.contextLength) mismatch(`with ${n} tokens, more than this model's context of ${want.contextLength}`);
  if (at + 4 * n > bytes.length - 4) bad('the token list runs past the end');
  const tokens: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = u32();
    if (t >= want.vocabSize) bad(`token ${t} is outside the vocabulary`);
    tokens.push(t);
  }
  const layers: SessionState['layers'] = [];
  for (let i = 0; i < nLayers; i++) {
    if (at + 4 > bytes.length - 4) bad(`layer ${i} is missing`);
    const rows = u32();
    const expected = want.usedRows(i, n);
    if (rows !== expected) mismatch(`with ${rows} cache rows in layer ${i}, this model uses ${expected} (another batchSize or sliding window)`);
    const len = 2 * rows * rowBytes;
    if (at + len > bytes.length - 4) bad(`layer ${i}'s rows run past the end`);
    layers.push({ rows, data: bytes.subarray(at, at + len) });
    at += len;
  }
  if (at !== bytes.length - 4) bad(`${bytes.length - 4 - at} bytes after the last layer`);
  return { fingerprint, kvType, rowBytes, tokens, layers };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The model's fingerprint: SHA-256 over its GGUF metadata (the tokenizer is there), its tensor index
 * and `sample` (bytes of some of its weights, e.g. the norms: they differ between fine-tunes of one
 * base). Cheap: no pass over the weights.
 *
 * The bytes hashed: per metadata key, its UTF-8 and a 0 byte, then its value — a scalar as its text
 * (String(v)) and a 0; a typed array as its bytes and a 0; any other array as `[${length}` and a 0, then
 * each item so (an array of arrays: each item's value type as text and a 0, then its value); then per
 * tensor `${name}:${type}:${ne}:${offset}` and a 0; then `sample`. They are written into one buffer of
 * their exact size (a first pass counts them): loading calls this when the wasm memories are full, so it
 * allocates nothing per string (a vocabulary has 10⁵ of them).
 */
export async function fingerprintOf(header: GGUFHeader, sample: Uint8Array): Promise<Uint8Array> {
  return new FingerprintInput(header, sample.length).digest(sample);
}

/**
 * fingerprintOf in two steps, so that loading can let go of the header before the weights stream (its
 * vocabulary arrays, e.g. a BPE vocabulary's merges, are garbage by then): the header's bytes now, in a
 * buffer with room for the sample; digest(sample) once the weights are in.
 */
export class FingerprintInput {
  private readonly input: Uint8Array<ArrayBuffer>;
  private readonly at: number;

  constructor(header: GGUFHeader, sampleBytes: number) {
    const w = new HashInput();
    describeHeader(header, w);
    w.start(w.at + sampleBytes);
    describeHeader(header, w);
    this.input = w.buf;
    this.at = w.at;
  }

  async digest(sample: Uint8Array): Promise<Uint8Array> {
    if (sample.length !== this.input.length - this.at) {
      throw new Error(`internal: a weight sample of ${sample.length} bytes, ${this.input.length - this.at} expected`);
    }
    this.input.set(sample, this.at);
    return new Uint8Array(await crypto.subtle.digest('SHA-256', this.input));
  }
}

function describeHeader(header: GGUFHeader, w: HashInput): void {
  const value = (v: GGUFMetaValue['value'] | GGUFMetaValue): void => {
    if (ArrayBuffer.isView(v)) {
      w.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      w.text('');
    } else if (Array.isArray(v)) {
      w.text(`[${v.length}`);
      for (const item of v) value(item);
    } else if (typeof v === 'object') {
      w.text(String(v.type));
      value(v.value);
    } else {
      w.text(typeof v === 'string' ? v : String(v));
    }
  };
  for (const [key, mv] of header.metadata) {
    w.text(key);
    value(mv);
  }
  for (const t of header.tensors) w.text(`${t.name}:${t.type}:${t.ne.join(',')}:${t.offset}`);
}

/** Bytes to hash: counted (buf empty), then written once start() has allocated them. */
class HashInput {
  buf = new Uint8Array(0);
  at = 0;

  start(size: number): void {
    this.buf = new Uint8Array(size);
    this.at = 0;
  }

  bytes(b: Uint8Array): void {
    if (this.buf.length) this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** s as UTF-8 (lone surrogates as U+FFFD, as TextEncoder), then a 0 byte. */
  text(s: string): void {
    if (this.buf.length) {
      this.at += UTF8.encodeInto(s, this.buf.subarray(this.at)).written;
      this.buf[this.at] = 0;
    } else {
      this.at += utf8Length(s);
    }
    this.at++;
  }
}

const UTF8 = new TextEncoder();

/** The length of s in UTF-8 as TextEncoder writes it (a lone surrogate as U+FFFD: 3 bytes). */
function utf8Length(s: string): number {
  let n = s.length; // one byte a code unit, plus what wider characters add
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 2; i++; } // a pair: 2 units, 4 bytes
    else n += 2;
  }
  return n;
}
