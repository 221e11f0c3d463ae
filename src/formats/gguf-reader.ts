// The GGUF reader's byte layer: buffered reads ahead of the parser, scalars, typed arrays and
// strings (UTF-8, with the exact bytes kept when they are not valid UTF-8).

import { WasmlmError } from '../errors.js';
import { GGUF_VALUE_SIZE, GGUFValueType, type GGUFArray, type GGUFScalar } from './gguf-types.js';
import type { ByteStream } from './source.js';

const READ_AHEAD = 256 << 10;
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const EMPTY = new Uint8Array(0);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Reads ahead from the stream in big chunks (readSome), parses synchronously out of its buffer,
 * and gives back what it did not use (unread) so the stream stops exactly where the header ends.
 * Without readSome/unread it asks the stream for exactly the bytes it needs.
 */
export class Reader {
  buf: Uint8Array = EMPTY;
  dv: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer);
  p = 0;
  /** absolute offset of buf[0] */
  private base: number;
  private released = false;
  /** set by str(): the exact bytes when they were not valid UTF-8 */
  lastRaw: Uint8Array | undefined;

  constructor(private readonly s: ByteStream) {
    this.base = s.position;
  }

  get offset(): number {
    return this.base + this.p;
  }
  avail(): number {
    return this.buf.length - this.p;
  }

  /** Make sure k bytes are buffered, else TRUNCATED naming `what`. */
  async need(k: number, what: string): Promise<void> {
    const have = this.buf.length - this.p;
    if (have >= k) return;
    const size = this.s.size;
    if (size !== undefined && this.offset + k > size) {
      throw new WasmlmError('TRUNCATED', `the file ends inside ${what} (${this.offset + k - size} bytes missing at byte ${size})`);
    }
    const parts: Uint8Array[] = [];
    let got = have;
    if (have > 0) parts.push(this.buf.subarray(this.p));
    try {
      if (this.s.readSome && this.s.unread) {
        while (got < k) {
          const c = await this.s.readSome(Math.max(READ_AHEAD, k - got));
          if (c.length === 0) {
            throw new WasmlmError('TRUNCATED', `the file ends inside ${what} (${k - got} bytes missing at byte ${this.base + this.p + got})`);
          }
          parts.push(c);
          got += c.length;
        }
      } else {
        if (have > 0) parts[0] = parts[0]!.slice(); // read() results are only valid until the next call
        parts.push((await this.s.read(k - got)).slice());
        got = k;
      }
    } catch (e) {
      if (e instanceof WasmlmError && e.code === 'TRUNCATED' && !e.message.startsWith('the file ends')) {
        throw new WasmlmError('TRUNCATED', `the file ends inside ${what}`, { cause: e });
      }
      throw e;
    }
    let buf: Uint8Array;
    if (parts.length === 1) buf = parts[0]!;
    else {
      buf = new Uint8Array(got);
      let o = 0;
      for (const c of parts) {
        buf.set(c, o);
        o += c.length;
      }
    }
    this.base += this.p;
    this.p = 0;
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Hand unread bytes back to the stream. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const rest = this.buf.subarray(this.p);
    if (rest.length > 0 && this.s.unread) this.s.unread(rest);
    this.buf = EMPTY;
    this.p = 0;
  }

  u32(): number {
    const v = this.dv.getUint32(this.p, true);
    this.p += 4;
    return v;
  }

  /** u64 as a number, or -1 when above 2^53 - 1. */
  u64safe(): number {
    const lo = this.dv.getUint32(this.p, true);
    const hi = this.dv.getUint32(this.p + 4, true);
    this.p += 8;
    return hi < 0x200000 ? hi * 0x100000000 + lo : -1;
  }

  /** A u64 count for the header: BAD_FORMAT above max. */
  count(max: number, what: string): number {
    const v = this.u64safe();
    if (v < 0 || v > max) throw new WasmlmError('BAD_FORMAT', `${what} ${v < 0 ? '≥ 2^53' : v} is absurd (limit ${max})`);
    return v;
  }

  /**
   * A u64 length: BAD_FORMAT above max; TRUNCATED when it runs past the known file size
   * (for strings; arrays are checked by the caller, who knows the item size).
   */
  len(max: number, size: number | undefined, ctx: () => string): number {
    const v = this.u64safe();
    if (v < 0 || v > max) {
      throw new WasmlmError('BAD_FORMAT', `${ctx()}: length ${v < 0 ? '≥ 2^53' : v} is absurd (limit ${max})`);
    }
    if (size !== undefined && this.offset + v > size) {
      throw new WasmlmError('TRUNCATED', `${ctx()}: length ${v} runs past the end of the file (${size} bytes)`);
    }
    return v;
  }

  scalar(type: number): GGUFScalar {
    const dv = this.dv;
    const p = this.p;
    this.p += GGUF_VALUE_SIZE[type]!;
    switch (type) {
      case GGUFValueType.UINT8: return dv.getUint8(p);
      case GGUFValueType.INT8: return dv.getInt8(p);
      case GGUFValueType.UINT16: return dv.getUint16(p, true);
      case GGUFValueType.INT16: return dv.getInt16(p, true);
      case GGUFValueType.UINT32: return dv.getUint32(p, true);
      case GGUFValueType.INT32: return dv.getInt32(p, true);
      case GGUFValueType.FLOAT32: return dv.getFloat32(p, true);
      case GGUFValueType.BOOL: return dv.getUint8(p) !== 0;
      case GGUFValueType.UINT64: return smallest(dv.getBigUint64(p, true));
      case GGUFValueType.INT64: return smallest(dv.getBigInt64(p, true));
      case GGUFValueType.FLOAT64: return dv.getFloat64(p, true);
    }
    throw new Error(`unreachable: scalar type ${type}`);
  }

  typedArray(itemType: number, count: number): GGUFArray {
    const elem = GGUF_VALUE_SIZE[itemType]!;
    const bytes = count * elem;
    const p = this.p;
    this.p += bytes;
    if (itemType === GGUFValueType.BOOL) {
      const out: boolean[] = new Array<boolean>(count);
      for (let i = 0; i < count; i++) out[i] = this.buf[p + i] !== 0;
      return out;
    }
    // a copy in a fresh, aligned buffer
    const ab = this.buf.slice(p, p + bytes).buffer;
    if (!HOST_LE && elem > 1) swapBytes(new Uint8Array(ab), elem);
    switch (itemType) {
      case GGUFValueType.UINT8: return new Uint8Array(ab);
      case GGUFValueType.INT8: return new Int8Array(ab);
      case GGUFValueType.UINT16: return new Uint16Array(ab);
      case GGUFValueType.INT16: return new Int16Array(ab);
      case GGUFValueType.UINT32: return new Uint32Array(ab);
      case GGUFValueType.INT32: return new Int32Array(ab);
      case GGUFValueType.FLOAT32: return new Float32Array(ab);
      case GGUFValueType.UINT64: return new BigUint64Array(ab);
      case GGUFValueType.INT64: return new BigInt64Array(ab);
      case GGUFValueType.FLOAT64: return new Float64Array(ab);
    }
    throw new Error(`unreachable: array type ${itemType}`);
  }

  /** Decode len buffered bytes as UTF-8 (sets lastRaw when they are not valid UTF-8). */
  str(len: number): string {
    const b = this.buf;
    const p = this.p;
    this.p += len;
    this.lastRaw = undefined;
    if (len <= SHORT_STRING) {
      // most tokens: decode in JS, no decoder call and no garbage
      const s = decodeShortUtf8(b, p, p + len);
      if (s !== null) return s;
    }
    const bytes = b.subarray(p, p + len);
    try {
      return utf8.decode(bytes);
    } catch {
      this.lastRaw = bytes.slice();
      return utf8Lossy.decode(bytes);
    }
  }
}

const SHORT_STRING = 128;
const units: number[] = [];

/** Strict UTF-8 → string for short inputs; null when the bytes are not valid UTF-8. */
function decodeShortUtf8(b: Uint8Array, p: number, end: number): string | null {
  let n = 0;
  while (p < end) {
    const c = b[p++]!;
    if (c < 0x80) {
      units[n++] = c;
    } else if (c < 0xc2) {
      return null; // continuation byte or overlong lead
    } else if (c < 0xe0) {
      if (p >= end) return null;
      const c1 = b[p++]!;
      if ((c1 & 0xc0) !== 0x80) return null;
      units[n++] = ((c & 0x1f) << 6) | (c1 & 0x3f);
    } else if (c < 0xf0) {
      if (p + 1 >= end) return null;
      const c1 = b[p]!;
      const c2 = b[p + 1]!;
      p += 2;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return null;
      const cp = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) return null; // overlong, surrogate
      units[n++] = cp;
    } else if (c < 0xf5) {
      if (p + 2 >= end) return null;
      const c1 = b[p]!;
      const c2 = b[p + 1]!;
      const c3 = b[p + 2]!;
      p += 3;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) return null;
      const cp = (((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f)) - 0x10000;
      if (cp < 0 || cp > 0xfffff) return null; // overlong, beyond U+10FFFF
      units[n++] = 0xd800 + (cp >> 10);
      units[n++] = 0xdc00 + (cp & 0x3ff);
    } else {
      return null;
    }
  }
  units.length = n;
  return String.fromCharCode.apply(null, units);
}

function smallest(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

function swapBytes(b: Uint8Array, elem: number): void {
  for (let i = 0; i < b.length; i += elem) b.subarray(i, i + elem).reverse();
}
