// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// { "__metadata__": { str: str }, name: { dtype, shape, data_offsets: [begin, end] }, ... }, then the
// data section (offsets relative to it, row-major, little-endian). Hardened like the GGUF reader:
// every field is checked before anything is allocated for it; a header that lies (absurd length,
// offsets outside the data or overlapping, a byte count that does not match dtype × shape) is a
// WasmlmError BAD_FORMAT (TRUNCATED when the file is shorter than the header says), never a crash.
// Error messages name the tensor and field; the caller prefixes the file.

import { WasmlmError } from '../errors.js';

/** safetensors' own limit on the header (100 MB). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;
const MAX_DIMS = 8;

/** Bytes per element of every safetensors dtype (only F32, F16 and BF16 load as weights). */
export const SAFETENSORS_DTYPE_SIZE: Readonly<Record<string, number>> = Object.freeze(Object.assign(Object.create(null) as Record<string, number>, {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
}));

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  /** row-major dims, slowest first (PyTorch order) */
  shape: number[];
  /** absolute byte offset in the file */
  offset: number;
  nBytes: number;
}

export interface SafetensorsHeader {
  /** byte offset of the data section (8 + header length) */
  dataOffset: number;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/** The header length from the first 8 bytes, checked against the file size. */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number): number {
  if (first8.length < 8 || fileSize < 8) throw new WasmlmError('TRUNCATED', `a safetensors file starts with an 8-byte header length; the file has ${fileSize} bytes`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n || n > BigInt(MAX_SAFETENSORS_HEADER)) {
    throw new WasmlmError('BAD_FORMAT', `safetensors header length ${n} is ${n === 0n ? 'zero' : `above the limit of ${MAX_SAFETENSORS_HEADER} bytes`} (not a safetensors file?)`);
  }
  if (8 + Number(n) > fileSize) {
    throw new WasmlmError('TRUNCATED', `safetensors header of ${n} bytes runs past the end of the file (${fileSize} bytes)`);
  }
  return Number(n);
}

/** Parse the JSON header (the N bytes after the length) of a file of `fileSize` bytes. */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number): SafetensorsHeader {
  const dataOffset = 8 + json.length;
  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    parsed = JSON.parse(text);
  } catch (e) {
    throw new WasmlmError('BAD_FORMAT', `safetensors header is not valid UTF-8 JSON: ${(e as Error).message}`, { cause: e });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WasmlmError('BAD_FORMAT', 'safetensors header must be a JSON object');
  }
  const dataSize = fileSize - dataOffset;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new WasmlmError('BAD_FORMAT', 'safetensors __metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw new WasmlmError('BAD_FORMAT', `safetensors __metadata__ '${k}' must be a string`);
        metadata[k] = s;
      }
      continue;
    }
    tensors.set(name, tensorEntry(name, v, dataOffset, dataSize));
  }
  const sorted = [...tensors.values()].filter((t) => t.nBytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.offset < a.offset + a.nBytes) throw new WasmlmError('BAD_FORMAT', `safetensors tensors '${a.name}' and '${b.name}' overlap`);
  }
  return { dataOffset, fileSize, metadata, tensors };
}

function tensorEntry(name: string, v: unknown, dataOffset: number, dataSize: number): SafetensorsTensor {
  const what = `safetensors tensor '${name}'`;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new WasmlmError('BAD_FORMAT', `${what} must be an object with dtype, shape, data_offsets`);
  const { dtype, shape, data_offsets: offsets } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== 'string' || SAFETENSORS_DTYPE_SIZE[dtype] === undefined) {
    throw new WasmlmError('BAD_FORMAT', `${what}: unknown dtype ${JSON.stringify(dtype) ?? 'undefined'} (known: ${Object.keys(SAFETENSORS_DTYPE_SIZE).join(', ')})`);
  }
  if (!Array.isArray(shape) || shape.length > MAX_DIMS || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new WasmlmError('BAD_FORMAT', `${what}: shape must be a list of at most ${MAX_DIMS} non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) || offsets[0] > offsets[1]) {
    throw new WasmlmError('BAD_FORMAT', `${what}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) {
    throw new WasmlmError('BAD_FORMAT', `${what}: data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes)`);
  }
  // elements × size with every partial product bounded by the bytes it claims
  let n = SAFETENSORS_DTYPE_SIZE[dtype]!;
  for (const d of shape as number[]) {
    n *= d;
    if (n > end - begin) break;
  }
  if (n !== end - begin) {
    throw new WasmlmError('BAD_FORMAT', `${what}: ${dtype} [${(shape as number[]).join(', ')}] needs ${n > end - begin ? 'more than ' + (end - begin) : n} bytes, data_offsets give ${end - begin}`);
  }
  return { name, dtype, shape: [...(shape as number[])], offset: dataOffset + begin, nBytes: end - begin };
}

export interface SafetensorsWriteTensor {
  name: string;
  dtype: string;
  shape: readonly number[];
  data: Uint8Array;
}

/** A safetensors file (header padded with spaces to 8 bytes, as the reference writer does). */
export function encodeSafetensors(tensors: readonly SafetensorsWriteTensor[], metadata?: Record<string, string>): Uint8Array {
  const head: Record<string, unknown> = {};
  if (metadata) head.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    const size = SAFETENSORS_DTYPE_SIZE[t.dtype];
    if (size === undefined) throw new WasmlmError('BAD_ARGUMENT', `tensor '${t.name}': unknown dtype ${t.dtype}`);
    const need = t.shape.reduce((a, b) => a * b, size);
    if (need !== t.data.length) throw new WasmlmError('BAD_ARGUMENT', `tensor '${t.name}': ${t.data.length} bytes for ${t.dtype} [${t.shape.join(', ')}] (${need})`);
    head[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + need] };
    off += need;
  }
  let json = JSON.stringify(head);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const jb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jb.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(jb.length), true);
  out.set(jb, 8);
  let p = 8 + jb.length;
  for (const t of tensors) { out.set(t.data, p); p += t.data.length; }
  return out;
}

/** Read and check the header of a safetensors file opened for reads at offsets. */
export async function openSafetensors(file: { size: number; read(offset: number, length: number): Promise<Uint8Array> }): Promise<SafetensorsHeader> {
  if (file.size < 8) throw new WasmlmError('TRUNCATED', `a safetensors file starts with an 8-byte header length; the file has ${file.size} bytes`);
  const n = safetensorsHeaderLength(await file.read(0, 8), file.size);
  return parseSafetensorsHeader(await file.read(8, n), file.size);
}
