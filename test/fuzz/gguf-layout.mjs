/**
 * A GGUF file as byte ranges, written for the fuzzer independently of the package's reader:
 * where each field is (to patch counts, lengths, types, dims and offsets in place) and the file
 * as chunks (header, one per metadata entry, one per tensor record, data) to remove, duplicate
 * or replace entries and reassemble with the data section re-aligned.
 */

const SCALAR_SIZE = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
export const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10, I64: 11, F64: 12 };

export function parseLayout(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const u32 = () => { const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = () => { const v = Number(dv.getBigUint64(p, true)); p += 8; return v; };
  const str = () => { const lenAt = p; const n = u64(); const s = new TextDecoder().decode(bytes.subarray(p, p + n)); p += n; return { lenAt, s }; };
  const fields = []; // { at, size, what } count/length fields
  const value = (type, path) => {
    if (type === T.STR) { const { lenAt } = str(); fields.push({ at: lenAt, size: 8, what: `${path} string length` }); return; }
    if (type === T.ARR) {
      const itemTypeAt = p;
      const itemType = u32();
      const countAt = p;
      const n = u64();
      fields.push({ at: countAt, size: 8, what: `${path} array count` });
      if (itemType === T.STR || itemType === T.ARR) {
        for (let i = 0; i < n; i++) {
          const before = fields.length;
          value(itemType, `${path}[${i}]`);
          if (i > 3) fields.length = before; // the first items' fields are enough
        }
      } else p += SCALAR_SIZE[itemType] * n;
      return { itemTypeAt, itemType, countAt, count: n };
    }
    p += SCALAR_SIZE[type];
    return undefined;
  };
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  fields.push({ at: 8, size: 8, what: 'tensor count' }, { at: 16, size: 8, what: 'metadata count' });
  const kvs = [];
  for (let i = 0; i < nKv; i++) {
    const start = p;
    const { lenAt, s: key } = str();
    fields.push({ at: lenAt, size: 8, what: `key length of ${key}` });
    const typeAt = p;
    const type = u32();
    const valueAt = p;
    const arr = value(type, key);
    kvs.push({ key, start, end: p, typeAt, type, valueAt, ...(arr ?? {}) });
  }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const start = p;
    const { lenAt, s: name } = str();
    fields.push({ at: lenAt, size: 8, what: `name length of tensor ${name}` });
    const ndimsAt = p;
    const ndims = u32();
    const neAt = [];
    const ne = [];
    for (let d = 0; d < ndims; d++) { neAt.push(p); ne.push(u64()); }
    const typeAt = p;
    const type = u32();
    const offsetAt = p;
    const offset = u64();
    tensors.push({ name, start, end: p, ndimsAt, ndims, neAt, ne, typeAt, type, offsetAt, offset });
  }
  const infoEnd = p;
  const alignKv = kvs.find((k) => k.key === 'general.alignment');
  const alignment = alignKv ? dv.getUint32(alignKv.valueAt, true) : 32;
  const dataStart = Math.ceil(infoEnd / alignment) * alignment;
  return { version, nTensors, nKv, kvs, tensors, fields, infoEnd, alignment, dataStart, size: bytes.length };
}

/** The file as chunks: { header, kvs: [{ key, bytes }], tensors: [{ name, bytes }], data, alignment }. */
export function toChunks(bytes, layout) {
  return {
    version: layout.version,
    kvs: layout.kvs.map((k) => ({ key: k.key, bytes: bytes.slice(k.start, k.end) })),
    tensors: layout.tensors.map((t) => ({ name: t.name, bytes: bytes.slice(t.start, t.end) })),
    data: bytes.slice(layout.dataStart),
    alignment: layout.alignment,
  };
}

/** Reassemble chunks: counts from the lists, the data section padded to the alignment. */
export function fromChunks(c) {
  const head = new Uint8Array(24);
  const dv = new DataView(head.buffer);
  head.set([0x47, 0x47, 0x55, 0x46]);
  dv.setUint32(4, c.version, true);
  dv.setBigUint64(8, BigInt(c.tensors.length), true);
  dv.setBigUint64(16, BigInt(c.kvs.length), true);
  const parts = [head, ...c.kvs.map((k) => k.bytes), ...c.tensors.map((t) => t.bytes)];
  let n = parts.reduce((s, b) => s + b.length, 0);
  const pad = (c.alignment - (n % c.alignment)) % c.alignment;
  parts.push(new Uint8Array(pad), c.data);
  n += pad + c.data.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const b of parts) { out.set(b, o); o += b.length; }
  return out;
}

const enc = new TextEncoder();

/** The bytes of one metadata entry: key, type and a value ({ type, value, itemType? }). */
export function encodeKv(key, type, value, itemType) {
  const out = [];
  const u32 = (v) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); out.push(b); };
  const u64 = (v) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true); out.push(b); };
  const s = (v) => { const b = enc.encode(v); u64(b.length); out.push(b); };
  const scalar = (t, v) => {
    const b = new Uint8Array(SCALAR_SIZE[t]);
    const d = new DataView(b.buffer);
    switch (t) {
      case T.U8: d.setUint8(0, Number(v)); break;
      case T.I8: d.setInt8(0, Number(v)); break;
      case T.U16: d.setUint16(0, Number(v), true); break;
      case T.I16: d.setInt16(0, Number(v), true); break;
      case T.U32: d.setUint32(0, Number(v), true); break;
      case T.I32: d.setInt32(0, Number(v), true); break;
      case T.F32: d.setFloat32(0, Number(v), true); break;
      case T.BOOL: d.setUint8(0, v ? 1 : 0); break;
      case T.U64: d.setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true); break;
      case T.I64: d.setBigInt64(0, BigInt.asIntN(64, BigInt(v)), true); break;
      case T.F64: d.setFloat64(0, Number(v), true); break;
    }
    out.push(b);
  };
  s(key);
  u32(type);
  if (type === T.STR) s(value);
  else if (type === T.ARR) {
    u32(itemType);
    u64(value.length);
    for (const v of value) itemType === T.STR ? s(v) : scalar(itemType, v);
  } else scalar(type, value);
  const n = out.reduce((a, b) => a + b.length, 0);
  const all = new Uint8Array(n);
  let o = 0;
  for (const b of out) { all.set(b, o); o += b.length; }
  return all;
}

export function setU64(bytes, at, v) {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
}
export function setU32(bytes, at, v) {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, Number(BigInt.asUintN(32, BigInt(v))), true);
}
