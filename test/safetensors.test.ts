/**
 * The safetensors header reader against hostile input: every lie about lengths, offsets, dtypes and shapes is a
 * WasmlmError (BAD_FORMAT, or TRUNCATED for a file shorter than its header), never another exception; and a
 * seeded mutation run over a real file's header. The writer round-trips.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WasmlmError } from '../src/errors.js';
import { encodeSafetensors, openSafetensors } from '../src/formats/safetensors.js';
import { fixture } from './helpers/fixtures.js';

const mem = (b: Uint8Array) => ({ size: b.length, read: async (o: number, n: number) => b.subarray(o, o + n) });

/** a file with this header JSON and `data` bytes after it */
function file(header: unknown, data = 0, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

async function codeOf(b: Uint8Array): Promise<string> {
  try {
    await openSafetensors(mem(b));
    return 'ok';
  } catch (e) {
    if (!(e instanceof WasmlmError)) throw e;
    return e.code;
  }
}

describe('safetensors header', () => {
  it('reads a writer\'s file: names, dtypes, shapes, offsets, metadata', async () => {
    const a = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const b = new Uint8Array([1, 2, 3, 4]);
    const bytes = encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 3], data: a }, { name: 'b', dtype: 'BF16', shape: [2], data: b }], { format: 'pt' });
    const h = await openSafetensors(mem(bytes));
    expect(h.dataOffset % 8).toBe(0);
    expect(h.metadata).toEqual({ format: 'pt' });
    const ta = h.tensors.get('a')!;
    expect([ta.dtype, ta.shape, ta.nBytes]).toEqual(['F32', [2, 3], 24]);
    expect(bytes.subarray(ta.offset, ta.offset + 24)).toEqual(a);
    const tb = h.tensors.get('b')!;
    expect(bytes.subarray(tb.offset, tb.offset + 4)).toEqual(b);
  });

  const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
  const cases: Array<[what: string, bytes: Uint8Array, code: string]> = [
    ['a file shorter than the length field', new Uint8Array(5), 'TRUNCATED'],
    ['a header length of zero', file('{}', 0, 0n), 'BAD_FORMAT'],
    ['an absurd header length (2^63)', file('{}', 0, 1n << 63n), 'BAD_FORMAT'],
    ['a header length past the end of the file', file('{}', 0, 1000n), 'TRUNCATED'],
    ['a header that is not JSON', file('{"a": '), 'BAD_FORMAT'],
    ['a header that is not UTF-8', file('{"\xff": 1}'.replace('\xff', '\u00ff')).map((x, i) => (i === 10 ? 0xff : x)), 'BAD_FORMAT'],
    ['a JSON array', file([]), 'BAD_FORMAT'],
    ['a tensor that is not an object', file({ a: 5 }), 'BAD_FORMAT'],
    ['an unknown dtype', file({ a: t('F13', [1], [0, 4]) }, 4), 'BAD_FORMAT'],
    ['a dtype that is not a string', file({ a: t(null as unknown as string, [1], [0, 4]) }, 4), 'BAD_FORMAT'],
    ['a byte count that does not fit the dtype', file({ a: t('F16', [4], [0, 4]) }, 8), 'BAD_FORMAT'],
    ['a shape with a negative dim', file({ a: t('F32', [-1], [0, 4]) }, 4), 'BAD_FORMAT'],
    ['a shape with a fractional dim', file({ a: t('F32', [1.5], [0, 4]) }, 4), 'BAD_FORMAT'],
    ['a shape whose product overflows', file({ a: t('F32', [2 ** 40, 2 ** 40, 2 ** 40], [0, 4]) }, 4), 'BAD_FORMAT'],
    ['offsets past the end of the data', file({ a: t('F32', [2], [0, 8]) }, 4), 'BAD_FORMAT'],
    ['begin after end', file({ a: t('F32', [0], [8, 4]) }, 8), 'BAD_FORMAT'],
    ['offsets that are not two integers', file({ a: t('F32', [1], [0]) }, 4), 'BAD_FORMAT'],
    ['huge offsets', file({ a: t('F32', [1], [2 ** 60, 2 ** 60 + 4]) }, 4), 'BAD_FORMAT'],
    ['overlapping tensors', file({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, 12), 'BAD_FORMAT'],
    ['__metadata__ with a non-string value', file({ __metadata__: { format: 1 } }), 'BAD_FORMAT'],
    ['a tensor called __proto__', file({ ['__proto__']: t('F32', [1], [0, 4]) }, 4), 'ok'],
  ];
  it.each(cases)('%s', async (_what, bytes, code) => {
    expect(await codeOf(bytes)).toBe(code);
  });

  it('seeded mutations of a real header are parsed or rejected with a WasmlmError, never another exception', async () => {
    const real = new Uint8Array(readFileSync(fixture('peft/llama-lora/adapter_model.safetensors')));
    const headerEnd = 8 + Number(new DataView(real.buffer, real.byteOffset).getBigUint64(0, true));
    let seed = 20261207;
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const codes = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const b = real.slice(0, headerEnd + 64);
      for (let k = 1 + rnd(4); k > 0; k--) {
        const at = rnd(headerEnd);
        b[at] = rnd(3) === 0 ? '0123456789'.charCodeAt(rnd(10)) : rnd(256);
      }
      const code = await codeOf(b);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // the mutations reach past the JSON syntax: the checks of the values themselves fire too
    expect(codes.get('BAD_FORMAT')).toBeGreaterThan(100);
  });
});
