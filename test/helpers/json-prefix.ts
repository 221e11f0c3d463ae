/** What generateObject's partial values must be: prefixes of the final value (test/object*.test.ts). */

export const deepEqual = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Whether partial value `p` is a prefix of `f`: a string is a prefix of f's string; an array has at
 * most f's elements, all but its last equal to f's, its last a prefix of f's; an object's properties
 * are f's first properties in order, all but its last equal to f's, its last a prefix of f's; any
 * other value equals f.
 */
export function isPrefix(p: unknown, f: unknown): boolean {
  if (typeof p === 'string') return typeof f === 'string' && f.startsWith(p);
  if (Array.isArray(p)) {
    return Array.isArray(f) && p.length <= f.length &&
      p.every((x, i) => (i < p.length - 1 ? deepEqual(x, f[i]) : isPrefix(x, f[i])));
  }
  if (p !== null && typeof p === 'object') {
    if (f === null || typeof f !== 'object' || Array.isArray(f)) return false;
    const pk = Object.keys(p);
    const fk = Object.keys(f);
    const po = p as Record<string, unknown>;
    const fo = f as Record<string, unknown>;
    return pk.every((k, i) => fk[i] === k && (i < pk.length - 1 ? deepEqual(po[k], fo[k]) : isPrefix(po[k], fo[k])));
  }
  return p === f;
}

