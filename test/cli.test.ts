/** The `wasmlm` command, run as users run it: the built dist/cli.js in a child process. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
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

  it('bench --json gives the peak RSS and the bound it is held to (one memory: no extra shards\' scratch)', () => {
    const file = fixture('models/stories260K.gguf');
    const r = JSON.parse(wasmlm('bench', file, '--prompt', '8', '--gen', '4', '--json'));
    expect(r.file_mb).toBe(statSync(file).size / 2 ** 20);
    expect(r.kv_mb).toBeGreaterThan(0);
    expect(r.scratch_mb).toBe(0);
    expect(r.bound_mb).toBe(r.file_mb + r.kv_mb + 64);
    expect(r.peak_rss_mb).toBeGreaterThan(r.file_mb);
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

  describe('arguments (node:util parseArgs, strict)', () => {
    const cmd = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

    it('--help, COMMAND --help, --version: print and generate nothing', () => {
      for (const args of [['--help'], ['help'], ['-h']]) {
        const r = cmd(...args);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/^wasmlm — run GGUF/);
        for (const c of ['run', 'info', 'tokenize', 'bench', 'quantize', 'convert']) expect(r.stdout).toContain(`wasmlm ${c}`);
      }
      const help = cmd('run', '--help');
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^usage:\n {2}wasmlm run \[PROMPT\]/);
      expect(help.stdout).toContain('-n, --max-tokens N');
      expect(help.stdout).not.toContain('Once upon a time');
      expect(cmd('info', '-h').stdout).toMatch(/^usage:\n {2}wasmlm info FILE\.gguf/);
      expect(cmd('--version')).toMatchObject({ status: 0, stdout: `wasmlm ${version}\n` });
    });

    it('an unknown flag is an error naming it and the closest known one, before anything is printed', () => {
      const cases: [string[], RegExp][] = [
        [['run', '--max_tokens', '5', 'Hello'], /unknown option --max_tokens for 'wasmlm run'; did you mean --max-tokens\?/],
        [['run', '--bogus', 'hi', '--max-tokens', '3'], /unknown option --bogus for 'wasmlm run'; did you mean --[a-z-]+\?/],
        [['run', '--temprature', '0', 'hi'], /did you mean --temperature\?/],
        [['run', '--verbose', 'Hello'], /unknown option --verbose/],
        [['tokenize', '--modle', 'x.gguf', 'hi'], /unknown option --modle for 'wasmlm tokenize'; did you mean --model\?/],
        [['run', '-x', 'hi'], /unknown option -x for 'wasmlm run'; its short options: .*-n \(--max-tokens\)/],
      ];
      for (const [args, message] of cases) {
        const r = cmd(...args);
        expect(r.status).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(message);
        expect(r.stderr).toMatch(/\[BAD_ARGUMENT\]\n$/);
        expect(r.stderr.split('\n')).toHaveLength(2); // one line, no stack trace
      }
      const unknown = cmd('rnu', 'hi');
      expect(unknown.status).toBe(2);
      expect(unknown.stderr).toMatch(/unknown command 'rnu'; did you mean 'run'\?/);
    });

    it('short flags: -m -n -t -p', () => {
      const long = wasmlm('run', '--model', fixture('models/stories260K.gguf'), '--max-tokens', '7', '--temperature', '0', '--prompt', 'Once upon a time');
      const short = wasmlm('run', '-m', fixture('models/stories260K.gguf'), '-n', '7', '-t', '0', '-p', 'Once upon a time');
      expect(short).toBe(long);
      expect(reference.startsWith(short.trimEnd())).toBe(true);
      const json = JSON.parse(wasmlm('run', '-n', '5', '-t', '0', 'Once upon a time', '--json'));
      expect(json.tokens).toHaveLength(5); // -n is the count, not part of the prompt
      expect(json.prompt).toBe('Once upon a time');
    });

    it('values are checked before anything is loaded or printed, naming the flag', () => {
      const cases: [string[], RegExp][] = [
        [['run', '--temperature', '-1', 'hi'], /--temperature must be a number in \[0, Infinity\], got -1/],
        [['run', '-t', '-0.5', 'hi'], /--temperature must be a number/],
        [['run', '--repeat-penalty', '0', 'hi'], /--repeat-penalty must be a number above 0/],
        [['run', '--seed', '1.5', 'hi'], /--seed must be a safe integer/],
        [['run', '-n', '2.5', 'hi'], /--max-tokens must be a non-negative integer/],
        [['run', '--max-tokens'], /--max-tokens/],
        [['run', '--lora', 'adapter.gguf:abc', 'hi'], /--lora adapter\.gguf:abc: the scale after the last ':' must be a number, got 'abc'/],
        [['run', '--lora', 'adapter.gguf:', 'hi'], /--lora adapter\.gguf:: the scale after the last ':' must be a number/],
        [['run', '-p', 'a', 'b'], /give the prompt once/],
      ];
      for (const [args, message] of cases) {
        const r = cmd(...args);
        expect(r.status, args.join(' ')).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(message);
      }
    });

    it('--lora FILE[:SCALE]: a path or URL with colons is a file; a number after the last colon the scale', () => {
      const missing = cmd('run', '--lora', '/nonexistent/a.gguf:0.25', 'hi');
      expect(missing.stderr).toMatch(/cannot open model file \/nonexistent\/a\.gguf: no such file/);
      expect(missing.stderr).not.toContain('0.25');
      const url = cmd('run', '--lora', 'http://127.0.0.1:9/a.gguf', 'hi');
      expect(url.stderr).toMatch(/http:\/\/127\.0\.0\.1:9\/a\.gguf.*\[FETCH_FAILED\]/);
    });

    it('errors print no stack trace unless --debug', () => {
      const plain = cmd('run', '--model', '/nonexistent.gguf', 'hi');
      expect(plain.stderr).not.toMatch(/\n\s+at /);
      const debug = cmd('run', '--model', '/nonexistent.gguf', 'hi', '--debug');
      expect(debug.status).toBe(1);
      expect(debug.stderr).toMatch(/\[IO_ERROR\]\n.*WasmlmError[^]*\n\s+at /);
    });

    it('a closed stdout (| head -c 20) ends quietly with exit 0', async () => {
      const child = spawn(process.execPath, [cli, 'run', 'Once upon a time', '-t', '0', '-n', '400', '--ignore-eos'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err += d; });
      const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      child.stdout.destroy(); // as head does after 20 bytes
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(first.length).toBeGreaterThan(0);
      expect(code).toBe(0);
      expect(err).not.toMatch(/EPIPE|Error|\n\s+at /);
    });

    it('--chat renders the prompt with the chat template; without one, ChatML and a warning', () => {
      const r = spawnSync(process.execPath, [cli, 'run', '--chat', '-t', '0', '-n', '5', 'Hello', '--json'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/this model has no chat template: using ChatML/);
      expect(JSON.parse(r.stdout).tokens).toHaveLength(5);
    });
  });
});
