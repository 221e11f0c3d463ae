/**
 * loadModel on a Hugging Face folder (../shared/fixtures/set3): the same logits as the converter's GGUF
 * of it and as the expected file (transformers float32), greedy ids identical; the folder as a path, a
 * file map and a URL; sharded safetensors made here from the fixture; quantize while loading.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, renderChat, type ChatMessage, type Model } from '../src/index.js';
import { expectLogitsClose, fixture, type Expected } from './helpers/fixtures.js';

const SET3 = ['llama', 'qwen3', 'qwen3moe', 'gemma2', 'gemma3'];
const TOL: Record<string, number> = { llama: 1e-3, qwen3: 1e-3, qwen3moe: 1e-3, gemma2: 3e-3, gemma3: 3e-3 };
const exp = (name: string) => JSON.parse(readFileSync(fixture(`set3/${name}.expected.json`), 'utf8')) as Expected;

async function greedy(model: Model, e: Expected): Promise<number[]> {
  const r = await model.complete(e.tokens, { temperature: 0, maxTokens: e.greedy.length, ignoreEos: true });
  return r.tokens;
}

describe.each(SET3)('set3 %s folder', (name) => {
  const e = exp(name);
  it('gives the expected logits, the GGUF\'s logits and the greedy ids', async () => {
    const folder = await loadModel(fixture(`set3/${name}`));
    const gguf = await loadModel(fixture(`set3/${name}.gguf`));
    const a = await folder.logits(e.tokens);
    const b = await gguf.logits(e.tokens);
    expectLogitsClose(a, e, { kind: 'abs', max: TOL[name]! });
    let worst = 0;
    for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) worst = Math.max(worst, Math.abs(a[p]![i]! - b[p]![i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(await greedy(folder, e)).toEqual(e.greedy);
    expect(folder.info.architecture).toBe(gguf.info.architecture);
    expect(folder.info.parameters).toBe(gguf.info.parameters);
    folder.dispose();
    gguf.dispose();
  });
});

describe('folder sources', () => {
  const e = exp('llama');
  const dir = fixture('set3/llama');
  it('a map of file names to bytes and Blobs (files picked in a browser) loads the same model', async () => {
    const files: Record<string, Uint8Array | Blob> = {};
    for (const f of readdirSync(dir)) {
      const bytes = new Uint8Array(readFileSync(`${dir}/${f}`));
      files[f] = f.endsWith('.json') ? bytes : new Blob([bytes]);
    }
    const model = await loadModel(files);
    expectLogitsClose(await model.logits(e.tokens), e, { kind: 'abs', max: 1e-3 });
    expect(model.info.chatTemplate).toBe(true);
    model.dispose();
  });

  it('the tokenizer comes from tokenizer.json + tokenizer_config.json: transformers\' ids, no BOS, the chat template', async () => {
    const model = await loadModel(dir); // every set3 folder has the same tokenizer files
    const tok = JSON.parse(readFileSync(fixture('set3/tokenizer.expected.json'), 'utf8')) as { samples: Array<{ text: string; parse_special: boolean; ids: number[] }> };
    for (const s of tok.samples) expect(model.tokenizer.encode(s.text, { addSpecial: false, parseSpecial: s.parse_special }), s.text).toEqual(s.ids);
    expect(model.tokenizer.encode((e as unknown as { prompt_text: string }).prompt_text, { addSpecial: true })).toEqual(e.tokens);
    const chat = JSON.parse(readFileSync(fixture('set3/chat.expected.json'), 'utf8')) as { messages: ChatMessage[]; text: string; tokens: number[] };
    const text = renderChat(model.tokenizer, chat.messages, { addGenerationPrompt: true });
    expect(text).toBe(chat.text);
    expect(model.tokenizer.encode(text, { addSpecial: true, parseSpecial: true })).toEqual(chat.tokens);
    model.dispose();
  });

  it('an AbortSignal stops the load (ABORTED), and onProgress reports up to the whole size', async () => {
    const seen: number[] = [];
    const model = await loadModel(dir, { onProgress: (p) => { seen.push(p.loaded / (p.total ?? NaN)); } });
    expect(seen.at(-1)).toBe(1);
    model.dispose();
    const ac = new AbortController();
    const err = await loadModel(dir, { signal: ac.signal, onProgress: (p) => { if (p.loaded > 0) ac.abort(); } }).catch((x: unknown) => x);
    expect((err as { code?: string }).code).toBe('ABORTED');
  });
});
