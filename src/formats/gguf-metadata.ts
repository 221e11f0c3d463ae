/**
 * The one typed reader of GGUF metadata. Every key any part of wasmlm reads (families, tokenizer,
 * adapters, CLI) goes through it, so a key is either absent or of the type the reader asks for:
 *
 *   meta.string(key)          present and a STRING, else MISSING_METADATA / BAD_FORMAT
 *   meta.optionalString(key)  undefined when absent, BAD_FORMAT when of another type
 *
 * and likewise number (any numeric scalar, finite), u32 (an integer in 0 .. 2^32 − 1), bool,
 * stringArray, numberArray. Defaults are the caller's: `meta.optionalNumber(k) ?? 10000`.
 * Errors name the key, the type asked for and the type found; they never drop a value silently.
 */
import { WasmlmError } from '../errors.js';
import { GGUFValueType, ggufValueTypeName, type GGUFHeader, type GGUFMetaValue } from './gguf-types.js';

const { STRING, ARRAY, BOOL } = GGUFValueType;
/** every scalar type but BOOL, STRING and ARRAY */
const NUMERIC = new Set<number>([0, 1, 2, 3, 4, 5, 6, 10, 11, 12]);

export class GGUFMetadata {
  private readonly map: ReadonlyMap<string, GGUFMetaValue>;

  constructor(source: GGUFHeader | ReadonlyMap<string, GGUFMetaValue>) {
    this.map = source instanceof Map ? source : (source as GGUFHeader).metadata;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  string(key: string): string {
    return this.required(key, this.optionalString(key));
  }

  optionalString(key: string): string | undefined {
    const v = this.map.get(key);
    if (!v) return undefined;
    if (v.type !== STRING) throw wrongType(key, 'a STRING', v);
    return v.value as string;
  }

  /** Any numeric scalar as a finite number (a u64/i64 beyond 2^53, NaN or ±inf is BAD_FORMAT). */
  number(key: string): number {
    return this.required(key, this.optionalNumber(key));
  }

  optionalNumber(key: string): number | undefined {
    const v = this.map.get(key);
    if (!v) return undefined;
    if (!NUMERIC.has(v.type)) throw wrongType(key, 'a number', v);
    return finite(`metadata key '${key}'`, v.value as number | bigint);
  }

  /** An integer in 0 .. 2^32 − 1 (counts, sizes, token ids), of any numeric type. */
  u32(key: string): number {
    return this.required(key, this.optionalU32(key));
  }

  optionalU32(key: string): number | undefined {
    const n = this.optionalNumber(key);
    if (n === undefined) return undefined;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be an integer from 0 to 2^32 − 1, got ${n}`);
    }
    return n;
  }

  bool(key: string): boolean {
    return this.required(key, this.optionalBool(key));
  }

  optionalBool(key: string): boolean | undefined {
    const v = this.map.get(key);
    if (!v) return undefined;
    if (v.type !== BOOL) throw wrongType(key, 'a BOOL', v);
    return v.value as boolean;
  }

  stringArray(key: string): string[] {
    return this.required(key, this.optionalStringArray(key));
  }

  optionalStringArray(key: string): string[] | undefined {
    const v = this.map.get(key);
    if (!v) return undefined;
    if (v.type !== ARRAY || v.itemType !== STRING) throw wrongType(key, 'an array of STRING', v);
    return v.value as string[];
  }

  /**
   * A numeric array as numbers: typed arrays as they are; u64/i64 arrays converted (an item
   * beyond 2^53 is BAD_FORMAT). Float items are not checked: a token score may be -inf.
   */
  numberArray(key: string): ArrayLike<number> {
    return this.required(key, this.optionalNumberArray(key));
  }

  optionalNumberArray(key: string): ArrayLike<number> | undefined {
    const v = this.map.get(key);
    if (!v) return undefined;
    if (v.type !== ARRAY || v.itemType === undefined || !NUMERIC.has(v.itemType)) throw wrongType(key, 'an array of numbers', v);
    const a = v.value;
    if (a instanceof BigInt64Array || a instanceof BigUint64Array) {
      const out = new Array<number>(a.length);
      for (let i = 0; i < a.length; i++) out[i] = finite(`metadata key '${key}' item ${i}`, a[i]!);
      return out;
    }
    return a as ArrayLike<number>;
  }

  private required<T>(key: string, v: T | undefined): T {
    if (v === undefined) throw new WasmlmError('MISSING_METADATA', `metadata key '${key}' is missing`);
    return v;
  }
}

function finite(what: string, v: number | bigint): number {
  if (typeof v === 'bigint') {
    if (v > 9007199254740991n || v < -9007199254740991n) throw new WasmlmError('BAD_FORMAT', `${what} = ${v} is too large for a number`);
    return Number(v);
  }
  if (!Number.isFinite(v)) throw new WasmlmError('BAD_FORMAT', `${what} should be a finite number, got ${v}`);
  return v;
}

function wrongType(key: string, want: string, v: GGUFMetaValue): WasmlmError {
  const got = v.type === ARRAY ? `an array of ${ggufValueTypeName(v.itemType ?? -1)}` : ggufValueTypeName(v.type);
  return new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be ${want}, but it is ${got}`);
}
