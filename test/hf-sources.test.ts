/**
 * Hugging Face folders in their other forms, made here from the set3 llama folder with the project's writers:
 * sharded safetensors with an index, F16 and BF16 weights, the folder over HTTP (range requests), quantize while
 * loading (the same bytes as a GGUF quantized by the project's quantizers); and the errors of folders we cannot load.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import { readGGUF } from '../src/formats/gguf.js';
import { encodeGGUF } from '../src/formats/gguf-writer.js';
import { dequantize, f32ToBF16, f32ToF16, planQuantization, QUANT_TARGETS, quantizeTensor } from '../src/formats/quantize.js';
import { encodeSafetensors, openSafetensors } from '../src/formats/safetensors.js';
import { expectLogitsClose, fixture, type Expected } from './helpers/fixtures.js';

const DIR = fixture('set3/llama');
const e = JSON.parse(readFileSync(fixture('set3/llama.expected.json'), 'utf8')) as Expected;
const tmp = mkdtempSync(join(tmpdir(), 'wasmlm-hf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** the fixture's tensors: name, dtype, shape, bytes */
async function fixtureTensors() {
  const bytes = new Uint8Array(readFileSync(`${DIR}/model.safetensors`));
  const h = await openSafetensors({ size: bytes.length, read: async (o, n) => bytes.subarray(o, o + n) });
  return [...h.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: bytes.slice(t.offset, t.offset + t.nBytes) }));
}

/** a copy of the folder with other weights files */
function folder(name: string, weights: Record<string, Uint8Array | string>): string {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const f of readdirSync(DIR)) if (!f.endsWith('.safetensors')) writeFileSync(join(dir, f), readFileSync(join(DIR, f)));
  for (const [f, data] of Object.entries(weights)) writeFileSync(join(dir, f), data);
  return dir;
}

const maxDiff = (a: Float32Array[], b: Float32Array[]) => {
  let w = 0;
  for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) w = Math.max(w, Math.abs(a[p]![i]! - b[p]![i]!));
  return w;
};

describe('safetensors folders', () => {
  it('sharded model-0000N-of-0000M.safetensors with model.safetensors.index.json: the same logits, bit for bit', async () => {
    const tensors = await fixtureTensors();
    const shards = [tensors.slice(0, 7), tensors.slice(7, 15), tensors.slice(15)];
    const weights: Record<string, Uint8Array | string> = {};
    const map: Record<string, string> = {};
    shards.forEach((s, i) => {
      const name = `model-0000${i + 1}-of-00003.safetensors`;
      weights[name] = encodeSafetensors(s, { format: 'pt' });
      for (const t of s) map[t.name] = name;
    });
    weights['model.safetensors.index.json'] = JSON.stringify({ metadata: {}, weight_map: map });
    const sharded = await loadModel(folder('sharded', weights));
    const single = await loadModel(DIR);
    expect(maxDiff(await sharded.logits(e.tokens), await single.logits(e.tokens))).toBe(0);
    sharded.dispose();
    single.dispose();
  });

  it('a shard the index names but the folder lacks is an error naming it', async () => {
    const tensors = await fixtureTensors();
    const map = Object.fromEntries(tensors.map((t, i) => [t.name, i < 5 ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    const dir = folder('missing-shard', {
      'model-00001-of-00002.safetensors': encodeSafetensors(tensors.slice(0, 5)),
      'model.safetensors.index.json': JSON.stringify({ weight_map: map }),
    });
    await expect(loadModel(dir)).rejects.toThrow(/model-00002-of-00002\.safetensors is missing/);
  });

  it.each([['F16', f32ToF16], ['BF16', f32ToBF16]] as const)('%s weights load as such (norms F32), within the rounding', async (dtype, conv) => {
    const tensors = (await fixtureTensors()).map((t) => {
      const f = new Float32Array(t.data.buffer);
      const h = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) h[i] = conv(f[i]!);
      return { ...t, dtype, data: new Uint8Array(h.buffer) };
    });
    const model = await loadModel(folder(dtype, { 'model.safetensors': encodeSafetensors(tensors) }));
    expect(Object.keys(model.info.weightTypes).sort()).toEqual([dtype, 'F32'].sort());
    expect(model.info.weightTypes[dtype]!.share).toBeGreaterThan(0.95);
    expectLogitsClose(await model.logits(e.tokens), e, { kind: 'quant', relToMax: 2e-2 });
    model.dispose();
  });
});

describe('a folder over HTTP', () => {
  it('a URL ending in / loads with range requests (only the bytes asked for are sent)', async () => {
    let ranges = 0;
    const server = createServer((req, res) => {
      const path = join(DIR, decodeURIComponent(new URL(req.url!, 'http://x').pathname.replace(/^\/m\//, '')));
      let data: Buffer;
      try { data = readFileSync(path); } catch { res.writeHead(404).end(); return; }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) { res.writeHead(200, { 'content-length': data.length }).end(data); return; }
      ranges++;
      const [a, b] = [Number(m[1]), Math.min(Number(m[2]), data.length - 1)];
      res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${data.length}`, 'content-length': b - a + 1 }).end(data.subarray(a, b + 1));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/`;
      const model = await loadModel(url);
      expectLogitsClose(await model.logits(e.tokens), e, { kind: 'abs', max: 1e-3 });
      expect(ranges).toBeGreaterThan(3);
      model.dispose();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('quantize while loading', () => {
  it.each(['q8_0', 'q4_0', 'q4_k', 'q6_k'] as const)('%s: the same logits as the GGUF quantized by the same quantizers', async (q) => {
    const ggufBytes = new Uint8Array(readFileSync(fixture('set3/llama.gguf')));
    const h = await readGGUF(ggufBytes);
    const plan = new Map(planQuantization(QUANT_TARGETS[q]!, h.tensors, { arch: 'llama' }).map((p) => [p.name, p.outType]));
    const quantized = encodeGGUF(h.metadata, h.tensors.map((t) => {
      const f32 = dequantize(t.type, ggufBytes.slice(h.dataOffset + t.offset, h.dataOffset + t.offset + t.nBytes), t.nElements);
      return { name: t.name, ne: t.ne, type: plan.get(t.name)!, data: quantizeTensor(plan.get(t.name)!, f32) };
    }));
    const fromFolder = await loadModel(DIR, { quantize: q });
    const fromGGUF = await loadModel(quantized);
    expect(fromFolder.info.weightTypes).toEqual(fromGGUF.info.weightTypes);
    expect(fromFolder.info.weightBytes).toBeLessThan(h.tensors.reduce((s, t) => s + t.nBytes, 0) / 3);
    expect(maxDiff(await fromFolder.logits(e.tokens), await fromGGUF.logits(e.tokens))).toBe(0);
    fromFolder.dispose();
    fromGGUF.dispose();
  });

  it('an unknown type, or quantize on a GGUF file, is a BAD_ARGUMENT naming the option', async () => {
    await expect(loadModel(DIR, { quantize: 'q3_k' as 'q8_0' })).rejects.toThrow(/quantize must be one of 'q8_0', 'q4_0', 'q4_k', 'q6_k', got 'q3_k'/);
    await expect(loadModel(fixture('set3/llama.gguf'), { quantize: 'q8_0' })).rejects.toThrow(/quantize: applies to Hugging Face folders/);
  });
});

describe('folders we cannot load', () => {
  const withConfig = (edit: (c: Record<string, unknown>) => void) => {
    const files: Record<string, Uint8Array> = {};
    for (const f of readdirSync(DIR)) files[f] = new Uint8Array(readFileSync(join(DIR, f)));
    const c = JSON.parse(new TextDecoder().decode(files['config.json'])) as Record<string, unknown>;
    edit(c);
    files['config.json'] = new TextEncoder().encode(JSON.stringify(c));
    return files;
  };
  const fail = async (src: Parameters<typeof loadModel>[0]) => {
    const err = await loadModel(src).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WasmlmError);
    return err as WasmlmError;
  };

  it('an unsupported architecture names itself and lists the supported ones', async () => {
    const err = await fail(withConfig((c) => { c.architectures = ['MambaForCausalLM']; c.model_type = 'mamba'; }));
    expect(err.code).toBe('UNKNOWN_ARCHITECTURE');
    expect(err.message).toMatch(/'MambaForCausalLM' is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, Phi3ForCausalLM, GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM\)/);
  });

  it('an unsupported RoPE scaling names itself', async () => {
    const err = await fail(withConfig((c) => { c.rope_parameters = { rope_theta: 10000, rope_type: 'dynamic' }; }));
    expect(err.message).toMatch(/RoPE scaling 'dynamic' is not supported/);
  });

  it('a config value of the wrong type names the key', async () => {
    const err = await fail(withConfig((c) => { c.num_hidden_layers = '2'; }));
    expect(err.message).toMatch(/"num_hidden_layers" must be a positive integer/);
  });

  it('a safetensors tensor with no place in the model is named', async () => {
    const tensors = await fixtureTensors();
    tensors.push({ name: 'model.vision_tower.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) });
    const err = await fail(folder('extra', { 'model.safetensors': encodeSafetensors(tensors) }));
    expect(err.message).toMatch(/'model\.vision_tower\.weight'/);
  });

  it('a folder without config.json is not a model folder', async () => {
    const err = await fail({ 'model.safetensors': new Uint8Array(8) });
    expect(err.message).toMatch(/no config\.json/);
  });

  it('a lying safetensors header in a folder is a BAD_FORMAT naming the file', async () => {
    const bad = encodeSafetensors([{ name: 'model.norm.weight', dtype: 'F32', shape: [64], data: new Uint8Array(256) }]);
    const text = new TextDecoder().decode(bad).replace('[0,256]', '[0,999]');
    const err = await fail(folder('lying', { 'model.safetensors': new TextEncoder().encode(text) }));
    expect(err.code).toBe('BAD_FORMAT');
    expect(err.message).toMatch(/model\.safetensors.*data_offsets \[0, 999\]/);
  });
});
