/** The `wasmlm` command, run as users run it: the built dist/cli.js in a child process. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
const wasmlm = (...args: string[]) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const reference = readFileSync(fixture('stories260K/stories260K.runc.prompt_once_upon_a_time.n200.txt'), 'utf8');

describe('wasmlm CLI', () => {
  it('run streams a story from the embedded model', () => {
    const out = wasmlm('run', 'Once upon a time', '--temperature', '0', '--max-tokens', '196');
    expect(out).toBe(reference);
  });

  it('run --json prints one object with text, tokens, timings', () => {
    const out = JSON.parse(wasmlm('run', 'Once upon a time', '--temperature', '0', '--max-tokens', '30', '--json'));
    expect(reference.startsWith('Once upon a time' + out.text)).toBe(true);
    expect(out.tokens).toHaveLength(30);
    expect(out.finishReason).toBe('length');
    expect(out.timings.decodeTokensPerSecond).toBeGreaterThan(0);
  });

  it('run with sampling flags and a seed is repeatable', () => {
    const args = ['run', 'Once upon a time', '--temperature', '1', '--top-k', '20', '--top-p', '0.9', '--seed', '5', '--max-tokens', '40'];
    expect(wasmlm(...args)).toBe(wasmlm(...args));
  });

  it('run --model with another file', () => {
    const out = wasmlm('run', '--model', fixture('models/stories260K.gguf'), 'Once upon a time', '--temperature', '0', '--max-tokens', '10');
    expect(reference.startsWith(out.trimEnd())).toBe(true);
  });

  it('run --lora FILE:SCALE applies adapters as the API does', async () => {
    const { loadModel } = await import('../src/index.js');
    const model = await loadModel(fixture('models/llama.gguf'));
    const plain = await model.complete('Once upon a time', { temperature: 0, maxTokens: 12, ignoreEos: true });
    await model.loadAdapter(fixture('models/llama.lora.gguf'), { scale: 0.5 });
    const adapted = await model.complete('Once upon a time', { temperature: 0, maxTokens: 12, ignoreEos: true });
    expect(adapted.tokens).not.toEqual(plain.tokens);
    const out = JSON.parse(wasmlm('run', '--model', fixture('models/llama.gguf'), '--lora', `${fixture('models/llama.lora.gguf')}:0.5`,
      'Once upon a time', '--temperature', '0', '--max-tokens', '12', '--ignore-eos', '--json'));
    expect(out.tokens).toEqual(adapted.tokens);
  });

  it('info prints metadata and a tensor type summary', () => {
    const out = wasmlm('info', fixture('models/llama_q4_0.gguf'));
    expect(out).toMatch(/general\.architecture = llama/);
    expect(out).toMatch(/Q4_0\s+\d+ tensors/);
    expect(out).toMatch(/F32\s+\d+ tensors/);
  });

  it('tokenize', () => {
    const out = JSON.parse(wasmlm('tokenize', '--model', fixture('models/stories260K.gguf'), 'Once upon a time', '--json'));
    expect(out.ids).toEqual([1, 403, 407, 261, 378]);
  });

  it('convert writes the embedded model byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmlm-'));
    const out = join(dir, 'stories260K.gguf');
    wasmlm('convert', fixture('stories260K/stories260K.bin'), fixture('stories260K/tok512.bin'), out);
    expect(Buffer.compare(readFileSync(out), readFileSync(join(root, 'models/stories260K.gguf')))).toBe(0);
  });

  it('errors are one line with a code, exit status 1', () => {
    const r = spawnSync(process.execPath, [cli, 'run', '--model', '/nonexistent.gguf', 'hi'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nonexistent\.gguf.*\[IO_ERROR\]/);
    const bad = spawnSync(process.execPath, [cli, 'run', '--max-tokens', 'many'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--max-tokens expects a number/);
  });
});
