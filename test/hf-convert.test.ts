/**
 * `wasmlm convert DIR OUT.gguf`: every set3 folder converted is the GGUF llama.cpp's converter wrote from it (every
 * metadata key but general.name / size_label, tokenizer included; every tensor's bytes); converted files load with
 * the folder's logits; --type quantizes as llama-quantize picks (and as the quantize load option does).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { readGGUF } from '../src/formats/gguf.js';
import { convertHFFolder } from '../src/formats/hf-convert.js';
import { planQuantization, QUANT_TARGETS } from '../src/formats/quantize.js';
import { fixture, type Expected } from './helpers/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'wasmlm-convert-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const e = JSON.parse(readFileSync(fixture('set3/llama.expected.json'), 'utf8')) as Expected;
const maxDiff = (a: Float32Array[], b: Float32Array[]) => {
  let w = 0;
  for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) w = Math.max(w, Math.abs(a[p]![i]! - b[p]![i]!));
  return w;
};

describe.each(['llama', 'qwen3', 'qwen3moe', 'gemma2', 'gemma3'])('convert set3/%s', (name) => {
  it('writes the converter\'s GGUF: the same metadata (tokenizer too) and tensor bytes', async () => {
    const out = join(tmp, `${name}.gguf`);
    await convertHFFolder(fixture(`set3/${name}`), out);
    const refBytes = new Uint8Array(readFileSync(fixture(`set3/${name}.gguf`)));
    const gotBytes = new Uint8Array(readFileSync(out));
    const [ref, got] = [await readGGUF(refBytes), await readGGUF(gotBytes)];
    const keys = (h: typeof ref) => [...h.metadata.keys()].filter((k) => k !== 'general.name' && k !== 'general.size_label').sort();
    expect(keys(got)).toEqual(keys(ref));
    for (const k of keys(ref)) expect(got.metadata.get(k), k).toEqual(ref.metadata.get(k));
    expect(got.tensors.map((t) => t.name).sort()).toEqual(ref.tensors.map((t) => t.name).sort());
    for (const t of got.tensors) {
      const r = ref.tensors.find((x) => x.name === t.name)!;
      expect([t.ne, t.type], t.name).toEqual([r.ne, r.type]);
      const a = gotBytes.subarray(got.dataOffset + t.offset, got.dataOffset + t.offset + t.nBytes);
      const b = refBytes.subarray(ref.dataOffset + r.offset, ref.dataOffset + r.offset + r.nBytes);
      expect(Buffer.compare(a, b), t.name).toBe(0);
    }
    const [fromFile, fromFolder] = [await loadModel(out), await loadModel(fixture(`set3/${name}`))];
    expect(maxDiff(await fromFile.logits(e.tokens), await fromFolder.logits(e.tokens))).toBe(0);
    fromFile.dispose();
    fromFolder.dispose();
  });
});

describe('convert into shards', () => {
  it('--split-max-tensors: the shards load (by the first one\'s path) with the one file\'s logits', async () => {
    const one = join(tmp, 'one-llama.gguf'), split = join(tmp, 'split-llama.gguf');
    await convertHFFolder(fixture('set3/llama'), one);
    const { files } = await convertHFFolder(fixture('set3/llama'), split, { split: { maxTensors: 8 } });
    expect(files.map((f) => f.path.replace(/^.*[\\/]/, ''))).toEqual(
      ['split-llama-00001-of-00003.gguf', 'split-llama-00002-of-00003.gguf', 'split-llama-00003-of-00003.gguf']);
    const [a, b] = [await loadModel(one), await loadModel(files[0]!.path)];
    expect(maxDiff(await a.logits(e.tokens), await b.logits(e.tokens))).toBe(0);
    a.dispose();
    b.dispose();
  });
});

describe('convert --type', () => {
  it('q8_0: the same model as loading the folder with quantize: q8_0', async () => {
    const out = join(tmp, 'llama-q8_0.gguf');
    await convertHFFolder(fixture('set3/llama'), out, { type: 'q8_0' });
    const [file, folder] = [await loadModel(out), await loadModel(fixture('set3/llama'), { quantize: 'q8_0' })];
    expect(file.info.weightTypes).toEqual(folder.info.weightTypes);
    expect(maxDiff(await file.logits(e.tokens), await folder.logits(e.tokens))).toBe(0);
    file.dispose();
    folder.dispose();
  });

  it('q4_k_m: llama-quantize\'s choice of type per tensor, general.file_type 15', async () => {
    const out = join(tmp, 'llama-q4_k_m.gguf');
    await convertHFFolder(fixture('set3/llama'), out, { type: 'q4_k_m' });
    const got = await readGGUF(out);
    const ref = await readGGUF(fixture('set3/llama.gguf'));
    const plan = new Map(planQuantization(QUANT_TARGETS.q4_k_m!, ref.tensors, { arch: 'llama' }).map((p) => [p.name, p.outType]));
    for (const t of got.tensors) expect(t.type, t.name).toBe(plan.get(t.name));
    expect(got.metadata.get('general.file_type')?.value).toBe(15);
    const model = await loadModel(out);
    const top = (row: Float32Array) => row.indexOf(Math.max(...row));
    const logits = await model.logits(e.tokens);
    // quantized to ~4.5 bits: the argmax holds where the reference's margin is clear
    const clear = e.logits.map((row, p) => { const s = [...row].sort((a, b) => b - a); return s[0]! - s[1]! > 0.5 ? p : -1; }).filter((p) => p >= 0);
    for (const p of clear) expect(top(logits[p]!), `position ${p}`).toBe(e.logits[p]!.indexOf(Math.max(...e.logits[p]!)));
    model.dispose();
  });
});

describe('the wasmlm convert command (dist/cli.js)', () => {
  const cli = join(fileURLToPath(new URL('..', import.meta.url)), 'dist/cli.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'convert', ...args], { encoding: 'utf8' });

  it('convert DIR OUT --type q8_0 writes the file convertHFFolder writes', async () => {
    const [viaCli, viaApi] = [join(tmp, 'cli-q8_0.gguf'), join(tmp, 'api-q8_0.gguf')];
    const r = run(fixture('set3/llama'), viaCli, '--type', 'q8_0');
    expect(r.stderr).toMatch(/wrote .*cli-q8_0\.gguf: [\d.]+ MiB \(llama, 21 tensors/);
    expect(r.status).toBe(0);
    await convertHFFolder(fixture('set3/llama'), viaApi, { type: 'q8_0', name: 'llama' });
    expect(Buffer.compare(readFileSync(viaCli), readFileSync(viaApi))).toBe(0);
  });

  it('an unknown --type, or --type with a llama2.c checkpoint, is an error naming it', () => {
    const bad = run(fixture('set3/llama'), join(tmp, 'x.gguf'), '--type', 'q9');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--type: unknown type 'q9'/);
    const c = run(fixture('stories260K/stories260K.bin'), fixture('stories260K/tok512.bin'), join(tmp, 'y.gguf'), '--type', 'q8_0');
    expect(c.status).not.toBe(0);
    expect(c.stderr).toMatch(/--type applies to Hugging Face folders/);
  });
});
