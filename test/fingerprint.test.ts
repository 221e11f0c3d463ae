/**
 * The model fingerprint saved sessions carry (fingerprintOf): written into one exact-size buffer so that loading
 * allocates nothing per vocabulary string. Checked against a direct reference (each string encoded with
 * TextEncoder, every piece its own array, then joined: the bytes the format defines) on every fixture GGUF and on
 * headers with every kind of value, and pinned on the embedded model so sessions saved before keep restoring.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readGGUF, GGUFValueType as T, type GGUFHeader, type GGUFMetaValue } from '../src/formats/gguf.js';
import { fingerprintOf } from '../src/session-format.js';
import { FIXTURES } from './helpers/fixtures.js';

async function referenceFingerprint(header: GGUFHeader, sample: Uint8Array): Promise<string> {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const text = (s: string) => parts.push(enc.encode(s), new Uint8Array([0]));
  const value = (v: GGUFMetaValue['value'] | GGUFMetaValue): void => {
    if (ArrayBuffer.isView(v)) {
      parts.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice());
      text('');
    } else if (Array.isArray(v)) {
      text(`[${v.length}`);
      for (const item of v) value(item);
    } else if (typeof v === 'object') {
      text(String(v.type));
      value(v.value);
    } else {
      text(String(v));
    }
  };
  for (const [key, mv] of header.metadata) {
    text(key);
    value(mv);
  }
  for (const t of header.tensors) text(`${t.name}:${t.type}:${t.ne.join(',')}:${t.offset}`);
  parts.push(sample);
  const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', all)));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sample = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 255);

function ggufFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? ggufFiles(p) : name.endsWith('.gguf') ? [p] : [];
  });
}

describe('fingerprintOf', () => {
  it('hashes the bytes the format defines, on every fixture GGUF', async () => {
    const files = ggufFiles(FIXTURES);
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const h = await readGGUF(f);
      expect(hex(await fingerprintOf(h, sample)), f).toBe(await referenceFingerprint(h, sample));
    }
  });

  it('hashes every kind of value as the reference does: multi-byte and lone surrogates, bools, bigints, nested arrays', async () => {
    const metadata = new Map<string, GGUFMetaValue>([
      ['general.name', { type: T.STRING, value: '\uFEFFmodèle 模型 😀 end' }],
      ['lone', { type: T.STRING, value: 'a\uD800b\uDC00c\uD83D' }],
      ['empty', { type: T.STRING, value: '' }],
      ['u64', { type: T.UINT64, value: 2n ** 60n + 3n }],
      ['f', { type: T.FLOAT32, value: 0.1 }],
      ['flag', { type: T.BOOL, value: true }],
      ['tokens', { type: T.ARRAY, itemType: T.STRING, value: ['▁the', '<0x0A>', 'Ġworld', '', '\uDFFF', '𝔘'] }],
      ['bools', { type: T.ARRAY, itemType: T.BOOL, value: [true, false, true] }],
      ['scores', { type: T.ARRAY, itemType: T.FLOAT32, value: new Float32Array([1.5, -2, 0]) }],
      ['big', { type: T.ARRAY, itemType: T.UINT64, value: new BigUint64Array([1n, 2n ** 63n]) }],
      ['nested', {
        type: T.ARRAY, itemType: T.ARRAY, value: [
          { type: T.ARRAY, itemType: T.STRING, value: ['x', 'ÿ'] },
          { type: T.ARRAY, itemType: T.INT32, value: new Int32Array([-1, 7]) },
          { type: T.ARRAY, itemType: T.ARRAY, value: [] },
        ],
      }],
    ]);
    const header: GGUFHeader = {
      version: 3, alignment: 32, metadata, dataOffset: 4096, fileSize: undefined,
      tensors: [{ name: 'token_embd.weight', ne: [8, 4], type: 0, typeName: 'F32', offset: 0, nBytes: 128, nElements: 32 }],
    };
    expect(hex(await fingerprintOf(header, sample))).toBe(await referenceFingerprint(header, sample));
    const bare: GGUFHeader = { version: 3, alignment: 32, metadata: new Map(), tensors: [], dataOffset: 32, fileSize: 32 };
    expect(hex(await fingerprintOf(bare, new Uint8Array(0)))).toBe(await referenceFingerprint(bare, new Uint8Array(0)));
  });

  it('is what it was for the embedded model: sessions saved before restore', async () => {
    // computed by the implementation before the exact-size buffer (commit 3b673e0)
    const h = await readGGUF(new URL('../models/stories260K.gguf', import.meta.url));
    expect(hex(await fingerprintOf(h, sample))).toBe('f62b46c33e4501ee72c361608fdd4ef404d8d93c502c9dc03aab44eb64b1fa53');
  });
});
