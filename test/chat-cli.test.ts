/**
 * `wasmlm chat` run as users run it (the built dist/cli.js): in a real pseudo-terminal (util-linux
 * `script` gives the child a PTY) and with piped stdin. Replies are checked against model.chat in-process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
type Msg = { role: string; content: string };

describe('wasmlm chat', () => {
  let model: Model;
  beforeAll(async () => { model = await loadModel(); });
  afterAll(() => model?.dispose());
  const reply = async (messages: Msg[], maxTokens: number) => (await model.chat(messages, { temperature: 0, maxTokens })).text;

  it('piped stdin: one message a line, each reply on a line, the conversation kept', () => {
    const out = spawnSync(process.execPath, [cli, 'chat', '--temperature', '0', '--max-tokens', '12'], {
      input: 'Once upon a time\n\nTell me more\n', encoding: 'utf8',
    });
    expect(out.status, out.stderr).toBe(0);
    return (async () => {
      const first = await reply([{ role: 'user', content: 'Once upon a time' }], 12);
      const second = await reply([{ role: 'user', content: 'Once upon a time' }, { role: 'assistant', content: first }, { role: 'user', content: 'Tell me more' }], 12);
      expect(out.stdout).toBe(`${first}\n${second}\n`);
    })();
  });

  it('piped stdin: /save in one process, /load in another continues the conversation as if it had not stopped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmlm-chat-'));
    const file = join(dir, 'saved.chat');
    const chat = (input: string, ...args: string[]) =>
      spawnSync(process.execPath, [cli, 'chat', '--temperature', '0', '--max-tokens', '12', ...args], { input, encoding: 'utf8' });
    const whole = chat('Once upon a time\nTell me more\n');
    const first = chat(`Once upon a time\n/save ${file}\n`);
    const second = chat(`/load ${file}\nTell me more\n`);
    expect([whole.status, first.status, second.status], whole.stderr + first.stderr + second.stderr).toEqual([0, 0, 0]);
    expect(second.stderr).toMatch(/loaded 2 messages/);
    expect(first.stdout + second.stdout).toBe(whole.stdout);
    // another model's session: SESSION_MISMATCH; a damaged file: BAD_SESSION (a damaged header: BAD_FORMAT)
    const other = chat(`/load ${file}\nHello\n`, fixture('set3/qwen3.gguf'));
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/\[SESSION_MISMATCH\]/);
    const bytes = readFileSync(file);
    bytes[bytes.length - 40] ^= 0xff;
    writeFileSync(file, bytes);
    const damaged = chat(`/load ${file}\nHello\n`);
    expect(damaged.status).toBe(1);
    expect(damaged.stderr).toMatch(/\[BAD_SESSION\]/);
  });

  it('piped stdin: an error ends the command with status 1', () => {
    const out = spawnSync(process.execPath, [cli, 'chat'], { input: '/load /nonexistent/file.json\nHello\n', encoding: 'utf8' });
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/\/load \/nonexistent\/file\.json: ENOENT.*\[IO_ERROR\]/);
    expect(out.stdout).toBe('');
  });

  it('in a terminal: streaming replies, /system, /save, /reset, /load; Ctrl-C stops a reply, Ctrl-C at the prompt exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmlm-chat-'));
    const file = join(dir, 'chat.json');
    const proc = spawn('script', ['-qfc', `${process.execPath} ${cli} chat --temperature 0 --max-tokens 2000`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((r) => proc.once('exit', r));
    /** the output without terminal control sequences and carriage returns */
    const plain = () => out.replace(/\x1b\[\d*[A-Za-z]/g, '').replace(/\r/g, '');
    /** waits for `pattern` in the plain output after `from` (a position in it); returns the position after the match */
    const waitFor = async (pattern: RegExp, from: number): Promise<number> => {
      for (;;) {
        const m = pattern.exec(plain().slice(from));
        if (m) return from + m.index + m[0].length;
        if (proc.exitCode !== null) throw new Error(`wasmlm chat exited; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      let at = await waitFor(/> /, 0);
      proc.stdin.write('/system You are a storyteller.\r');
      at = await waitFor(/system message set/, at);
      proc.stdin.write('Once upon a time\r');
      at = await waitFor(/Once upon a time\n/, at);
      const end = await waitFor(/\n> /, at);
      const messages = [{ role: 'system', content: 'You are a storyteller.' }, { role: 'user', content: 'Once upon a time' }];
      const want = await reply(messages, 2000);
      expect(plain().slice(at, end).replace(/\n> $/, '').replace(/\n\(the context is full.*\)$/, '')).toBe(want);

      proc.stdin.write(`/save ${file}\r`);
      at = await waitFor(/saved 3 messages/, end);
      const bytes = readFileSync(file);
      expect(bytes.subarray(0, 8).toString()).toBe('WLMCHAT2');
      const saved = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8'));
      expect(saved.messages).toEqual([...messages, { role: 'assistant', content: want }]);
      proc.stdin.write('/reset\r');
      at = await waitFor(/conversation was reset/, at);
      proc.stdin.write(`/load ${file}\r`);
      at = await waitFor(/loaded 3 messages/, at);

      // Ctrl-C while the reply streams: it stops, the prompt comes back
      proc.stdin.write('/reset\r');
      at = await waitFor(/conversation was reset\)\n/, at);
      proc.stdin.write('Once upon a time\r');
      at = await waitFor(/Once upon a time\n./, at);
      proc.stdin.write('\x03');
      at = await waitFor(/\(stopped\)[\s\S]*> /, at);
      // Ctrl-C at the prompt: it exits
      proc.stdin.write('\x03');
      expect(await exited).toBe(0);
    } finally {
      proc.kill();
    }
  });
});
