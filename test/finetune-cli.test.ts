/** `wasmlm finetune` run as users run it (the built dist/cli.js in a child process), checked against model.finetune in-process. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
const wasmlm = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'wasmlm-finetune-cli-'));
const STORIES = fixture('models/stories260K.gguf');

describe('wasmlm finetune', () => {
  const prompts = ['Tom said', 'Lily said', 'The dog said', 'Mom said'];
  const data = join(dir, 'phrase.jsonl');
  writeFileSync(data, prompts.map((prompt) => JSON.stringify({ prompt, completion: ' the blue frog sings.' })).join('\n') + '\n\n');
  const flags = ['--lr', '1e-2', '--epochs', '20', '--batch', '4', '--seed', '1'];

  it('a JSONL of prompt/completion pairs: a progress line per step, the adapter GGUF as model.finetune writes it; run --lora uses it', async () => {
    const out = join(dir, 'phrase.gguf');
    const r = wasmlm('finetune', STORIES, data, '--out', out, ...flags);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('step '));
    expect(lines).toHaveLength(20);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^step ${i + 1}/20  epoch ${i + 1}/20  loss \\d+\\.\\d{4}  \\d+ tokens/s  ETA \\d+:\\d\\d$`)));
    expect(r.stderr).toMatch(/^done: 20 steps in \d+:\d\d, loss [\d.]+ → [\d.]+; rank 8, alpha 16, attn_q,attn_k,attn_v,attn_output; wrote .*phrase\.gguf$/m);
    const model = await loadModel(STORIES);
    const same = await model.finetune(prompts.map((prompt) => ({ prompt, completion: ' the blue frog sings.' })), { learningRate: 1e-2, epochs: 20, batchSize: 4, seed: 1 });
    expect(new Uint8Array(readFileSync(out))).toEqual(same.save({ format: 'gguf' }));
    model.dispose();
    const run = wasmlm('run', '--model', STORIES, '--lora', out, '-t', '0', '-n', '12', 'Ben said');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.startsWith('Ben said the blue frog sings')).toBe(true);
  });

  it('--format peft writes the folder; text, pair and messages lines mix; the folder loads back', async () => {
    const mixed = join(dir, 'mixed.jsonl');
    writeFileSync(mixed, [
      { text: 'Once upon a time there was a frog.' },
      { prompt: 'The frog', completion: ' sang.' },
      { messages: [{ role: 'user', content: 'Who sang?' }, { role: 'assistant', content: 'The frog.' }] },
    ].map((x) => JSON.stringify(x)).join('\n'));
    const out = join(dir, 'peft');
    const r = wasmlm('finetune', fixture('set3/llama.gguf'), mixed, '--format', 'peft', '--out', out, '--rank', '4', '--targets', 'attn_q,ffn_down', '--epochs', '2', '--batch', '2', '--lr', '1e-2');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('step '))).toHaveLength(4);
    expect(existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as { r: number; target_modules: string[] };
    expect(config.r).toBe(4);
    expect(config.target_modules).toEqual(['down_proj', 'q_proj']);
    const model = await loadModel(fixture('set3/llama.gguf'));
    const base = await model.logits([385, 389, 345, 307]);
    await model.loadAdapter(out);
    const tuned = await model.logits([385, 389, 345, 307]);
    expect(Math.max(...tuned.flatMap((row, i) => Array.from(row, (x, j) => Math.abs(x - base[i]![j]!))))).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('bad input: status 1 and a message naming it', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"text": "fine"}\n{"prompt": "a", "completion": "b"}\nnot json\n');
    const cases: [string[], RegExp][] = [
      [['finetune', STORIES, bad, '--out', join(dir, 'x.gguf')], /bad\.jsonl:3: not JSON.*\[BAD_ARGUMENT\]/],
      [['finetune', STORIES, data], /needs --out/],
      [['finetune', STORIES, data, '--out', join(dir, 'x.gguf'), '--targets', 'attn_q,wq'], /target 'wq' is not one of attn_q/],
      [['finetune', STORIES, data, '--out', join(dir, 'x.gguf'), '--rank', '0'], /--rank expects an integer from 1/],
      [['finetune', STORIES, data, '--out', join(dir, 'x.gguf'), '--format', 'safetensors'], /--format must be gguf or peft/],
      [['finetune', STORIES, join(dir, 'missing.jsonl'), '--out', join(dir, 'x.gguf')], /cannot read .*missing\.jsonl.*\[IO_ERROR\]/],
    ];
    writeFileSync(join(dir, 'only-user.jsonl'), JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }));
    cases.push([['finetune', STORIES, join(dir, 'only-user.jsonl'), '--out', join(dir, 'x.gguf')], /examples\[0\]\.messages has no assistant message/]);
    writeFileSync(join(dir, 'other.jsonl'), '{"input": "x"}\n');
    cases.push([['finetune', STORIES, join(dir, 'other.jsonl'), '--out', join(dir, 'x.gguf')], /other\.jsonl:1: expected \{"text": \.\.\.\}/]);
    for (const [args, message] of cases) {
      const r = wasmlm(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(dir, 'x.gguf'))).toBe(false);
  });
});
