/** Typed access to GGUF metadata for family files, with defaults and errors that name the key. */
import { WasmlmError } from '../errors.js';
import type { GGUFHeader } from '../formats/gguf.js';

export class MetadataReader {
  readonly arch: string;
  private readonly tensorNames: Set<string>;

  constructor(readonly header: GGUFHeader) {
    this.tensorNames = new Set(header.tensors.map((t) => t.name));
    this.arch = this.str('general.architecture');
  }

  private raw(key: string): unknown {
    return this.header.metadata.get(key)?.value;
  }

  has(key: string): boolean {
    return this.header.metadata.has(key);
  }

  hasTensor(name: string): boolean {
    return this.tensorNames.has(name);
  }

  num(key: string, fallback?: number): number {
    const v = this.raw(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new WasmlmError('MISSING_METADATA', `metadata key '${key}' is missing`);
    }
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be a number, got ${describe(v)}`);
    }
    return n;
  }

  /** A positive integer count (layers, heads, lengths). */
  count(key: string, fallback?: number): number {
    const n = this.num(key, fallback);
    if (!Number.isInteger(n) || n <= 0) {
      throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be a positive integer, got ${n}`);
    }
    return n;
  }

  str(key: string, fallback?: string): string {
    const v = this.raw(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new WasmlmError('MISSING_METADATA', `metadata key '${key}' is missing`);
    }
    if (typeof v !== 'string') throw new WasmlmError('BAD_FORMAT', `metadata key '${key}' should be a string, got ${describe(v)}`);
    return v;
  }

  /** Vocabulary size: the tokenizer's token list, else the embedding's row count. */
  vocabSize(): number {
    const tokens = this.raw('tokenizer.ggml.tokens');
    if (Array.isArray(tokens)) return tokens.length;
    const embd = this.header.tensors.find((t) => t.name === 'token_embd.weight');
    if (embd && embd.ne.length === 2) return embd.ne[1]!;
    throw new WasmlmError('MISSING_METADATA', 'cannot tell the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight');
  }

  /** RoPE scaling: 'none', 'linear' or 'yarn', with the factor's position multiplier (1 = none). */
  ropeScaling(): { type: 'none' | 'linear' | 'yarn'; freqScale: number } {
    const a = this.arch;
    const type = this.str(`${a}.rope.scaling.type`, 'none');
    if (type === 'none') return { type, freqScale: 1 };
    if (type === 'linear' || type === 'yarn') {
      const factor = this.num(`${a}.rope.scaling.factor`, this.num(`${a}.rope.scale_linear`, 1));
      return { type, freqScale: factor > 0 ? 1 / factor : 1 };
    }
    throw new WasmlmError('BAD_FORMAT', `RoPE scaling type '${type}' is not supported yet`);
  }

}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a numeric array`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}
