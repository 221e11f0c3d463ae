/**
 * PEFT LoRA adapters (../shared/fixtures/peft): the folder (adapter_config.json + adapter_model.safetensors)
 * and the same adapter as llama.cpp's adapter GGUF give the expected logits (PyTorch + PEFT) at both user
 * scales, and the same logits as each other; rsLoRA's scale comes from use_rslora; adapter kinds this
 * runtime does not apply are errors naming them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError } from '../src/index.js';
import { expectLogitsClose, fixture, type Expected } from './helpers/fixtures.js';

const exp = (name: string) => JSON.parse(readFileSync(fixture(`peft/${name}.expected.json`), 'utf8')) as Expected;
const base = () => loadModel(fixture('models/llama.gguf'));

/** the adapter folder as a map of file names to bytes, with adapter_config.json edited */
function folderWith(dir: string, edit: (c: Record<string, unknown>) => void): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const f of readdirSync(fixture(`peft/${dir}`))) files[f] = new Uint8Array(readFileSync(fixture(`peft/${dir}/${f}`)));
  const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json'])) as Record<string, unknown>;
  edit(config);
  files['adapter_config.json'] = new TextEncoder().encode(JSON.stringify(config));
  return files;
}

const CASES: Array<[adapter: string, expected: string, scale: number]> = [
  ['llama-lora', 'llama-lora.s1', 1], ['llama-lora', 'llama-lora.s0_5', 0.5], ['llama-lora-rs', 'llama-lora-rs.s1', 1],
];

describe.each(CASES)('%s at scale %s', (adapter, expName, scale) => {
  it('the PEFT folder and the adapter GGUF give the expected logits, and the same ones', async () => {
    const e = exp(expName);
    const model = await base();
    const peft = await model.loadAdapter(fixture(`peft/${adapter}`), { scale });
    const a = await model.logits(e.tokens);
    expectLogitsClose(a, e, { kind: 'abs', max: 1e-4 });
    peft.remove();
    const gguf = await model.loadAdapter(fixture(`peft/${adapter}.gguf`), { scale });
    const b = await model.logits(e.tokens);
    gguf.remove();
    let worst = 0;
    for (let p = 0; p < a.length; p++) for (let i = 0; i < a[p]!.length; i++) worst = Math.max(worst, Math.abs(a[p]![i]! - b[p]![i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
    const r = await (async () => { const x = await model.loadAdapter(fixture(`peft/${adapter}`), { scale }); const g = await model.complete(e.tokens, { temperature: 0, maxTokens: e.greedy.length, ignoreEos: true }); x.remove(); return g.tokens; })();
    expect(r).toEqual(e.greedy);
    model.dispose();
  });
});

describe('PEFT adapter errors', () => {
  const cases: Array<[what: string, edit: (c: Record<string, unknown>) => void, message: RegExp]> = [
    ['DoRA', (c) => { c.use_dora = true; }, /DoRA/],
    ['modules_to_save', (c) => { c.modules_to_save = ['lm_head']; }, /modules_to_save/],
    ['bias training', (c) => { c.bias = 'lora_only'; }, /bias training/],
    ['another PEFT type', (c) => { c.peft_type = 'IA3'; }, /peft_type "IA3"/],
    ['a per-module alpha', (c) => { c.alpha_pattern = { q_proj: 4 }; }, /alpha_pattern/],
    ['a rank that the tensors do not have', (c) => { c.r = 8; }, /BAD_SHAPE|with r 8/],
    ['tensors of a module target_modules does not name', (c) => { c.target_modules = ['q_proj', 'k_proj']; }, /adapts '(v_proj|o_proj|gate_proj|up_proj|down_proj)', which .*target_modules/],
  ];
  it.each(cases)('%s is a WasmlmError naming it', async (_what, edit, message) => {
    const model = await base();
    const err = await model.loadAdapter(folderWith('llama-lora', edit)).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WasmlmError);
    expect((err as Error).message).toMatch(message);
    model.dispose();
  });

  it('the rsLoRA folder read without use_rslora is the plain scale (the flag is what changes it)', async () => {
    const e = exp('llama-lora-rs.s1');
    const model = await base();
    await model.loadAdapter(folderWith('llama-lora-rs', (c) => { c.use_rslora = false; }));
    const got = await model.logits(e.tokens);
    let worst = 0;
    for (let p = 0; p < got.length; p++) for (let i = 0; i < got[p]!.length; i++) worst = Math.max(worst, Math.abs(got[p]![i]! - e.logits[p]![i]!));
    expect(worst).toBeGreaterThan(0.05);
    model.dispose();
  });
});
