/** The flags every command reads the same way: their values as numbers, and the sampling flags of run and chat. */
import type { ParseArgsConfig } from 'node:util';
import { WasmlmError } from '../errors.js';

/** parseArgs' values: a flag's string(s), a boolean, or undefined when not given. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** A number flag, or undefined when not given. */
export function num(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) {
    throw new WasmlmError('BAD_ARGUMENT', `--${name} expects a number, got '${String(v)}'`);
  }
  return n;
}

/** An integer flag in [min, max], or undefined when not given. */
export function intFlag(flags: Flags, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim()) || n < min || n > max) {
    throw new WasmlmError('BAD_ARGUMENT', `--${name} expects an integer from ${min} to ${max}, got '${String(v)}'`);
  }
  return n;
}

/** The sampling flags (run and chat): -n, -t, --top-k, --top-p, --min-p, --repeat-penalty, --seed. */
export const SAMPLING_FLAGS = {
  'max-tokens': { type: 'string', short: 'n' },
  temperature: { type: 'string', short: 't' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  seed: { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** A size flag in bytes: N with K, M, G or T (binary: KiB … TiB; "8G" = 8 GiB; a trailing "iB" or "B" is allowed), or undefined when not given. */
export function bytesFlag(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(v) : null;
  const n = m ? Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase())) : NaN;
  if (!(n >= 1) || !Number.isSafeInteger(n)) {
    throw new WasmlmError('BAD_ARGUMENT', `--${name} expects a size N[K|M|G|T] (binary: 8G = 8 GiB), got '${String(v)}'`);
  }
  return n;
}
