/**
 * `wasmlm chat`: a conversation in the terminal, rendered with the model's chat template and streamed.
 * In a terminal: a prompt, /commands, Ctrl-C stops the reply (a second one, or one at the prompt, exits).
 * With stdin not a terminal: one message per line, each reply on stdout ending with a newline.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { ParseArgsConfig } from 'node:util';
import { WasmlmError } from '../errors.js';
import type { ChatMessage } from '../generate/chat.js';
import type { GenerateOptions } from '../generate/generator.js';
import { loadModel } from '../model.js';
import { intFlag, num, SAMPLING_FLAGS, type Flags } from './flags.js';

const HELP = `/reset          forget the conversation (the system message stays)
/system TEXT    set the system message (and forget the conversation)
/save FILE      save the conversation (its messages and the session: tokens and KV cache)
/load FILE      load a conversation saved with /save (the next reply continues it without re-reading it)
/exit           leave (also Ctrl-D; Ctrl-C stops a reply, and leaves at the prompt)
`;

/**
 * What /save writes: a JSON header — the format tag, the model, the messages — then the session's bytes
 * (session.save(): its tokens and KV rows, restored by model.restoreSession). Layout: 'WLMCHAT2', the header's
 * byte length (u32, little-endian), the header (UTF-8 JSON), the session bytes.
 */
interface SavedChat { format: 'wasmlm-chat/2'; model: string; messages: ChatMessage[] }
const CHAT_MAGIC = 'WLMCHAT2';

function encodeChat(saved: SavedChat, session: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify(saved));
  const out = new Uint8Array(12 + header.length + session.length);
  out.set(new TextEncoder().encode(CHAT_MAGIC));
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  out.set(session, 12 + header.length);
  return out;
}

function decodeChat(bytes: Uint8Array, file: string): { saved: SavedChat; session: Uint8Array } {
  const bad = () => new WasmlmError('BAD_FORMAT', `/load ${file}: not a conversation saved by /save`);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== CHAT_MAGIC) throw bad();
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + n > bytes.length) throw bad();
  let saved: SavedChat;
  try { saved = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + n))) as SavedChat; } catch { throw bad(); }
  if (saved?.format !== 'wasmlm-chat/2' || !Array.isArray(saved.messages)) throw bad();
  return { saved, session: bytes.subarray(12 + n) };
}

export const CHAT = {
  usage: `wasmlm chat [MODEL]            chat in the terminal (default model: the embedded stories260K);
                                 /help lists the commands; stdin not a terminal: one message a line
    --system TEXT                the system message
    -n, --max-tokens N           most tokens per reply (default 512)
    -t, --temperature T          default 0.8
    --top-k K  --top-p P  --min-p P  --repeat-penalty R  --seed S
    --ctx N                      context length
    --threads N                  threads that compute`,
  options: {
    model: { type: 'string', short: 'm' },
    system: { type: 'string' },
    ...SAMPLING_FLAGS,
    ctx: { type: 'string' },
    threads: { type: 'string' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  run: chat,
};

async function chat(positional: string[], flags: Flags): Promise<void> {
  if (positional.length > 1 || (positional.length === 1 && flags.model !== undefined)) {
    throw new WasmlmError('BAD_ARGUMENT', `wasmlm chat takes one model, got ${[...positional, flags.model].filter(Boolean).join(', ')}`);
  }
  const options: GenerateOptions = {
    maxTokens: intFlag(flags, 'max-tokens', 1) ?? 512,
    temperature: num(flags, 'temperature'),
    topK: intFlag(flags, 'top-k', 0),
    topP: num(flags, 'top-p'),
    minP: num(flags, 'min-p'),
    repeatPenalty: num(flags, 'repeat-penalty'),
    seed: intFlag(flags, 'seed', Number.MIN_SAFE_INTEGER),
  };
  const model = await loadModel(positional[0] ?? (flags.model as string | undefined), {
    contextLength: intFlag(flags, 'ctx', 1), threads: intFlag(flags, 'threads', 1),
  });
  const modelName = model.info.name ?? model.info.architecture;
  const tty = process.stdin.isTTY === true;
  const err = (s: string) => process.stderr.write(s);
  if (!model.info.chatTemplate) err('wasmlm: this model has no chat template: using ChatML, which a model not trained on it answers poorly\n');
  let system = flags.system as string | undefined;
  // the conversation's session: its KV cache keeps what was read and said, so each reply reads only the new turn
  let session = model.createSession();
  let messages: ChatMessage[] = [];
  const start = () => (system ? [{ role: 'system', content: system }] : []);
  messages = start();

  const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, prompt: '> ' });
  let current: AbortController | undefined;
  // leaving: Ctrl-C at the prompt (or a second one), /exit, Ctrl-D in a terminal; piped input just ends
  let quit = false;
  rl.on('SIGINT', () => {
    if (current && !current.signal.aborted) { current.abort(); return; }
    quit = true;
    rl.close();
  });
  rl.on('close', () => { if (tty) { quit = true; current?.abort(); } });
  if (tty) err(`${modelName}: type a message, /help for the commands\n`);

  const command = async (line: string): Promise<void> => {
    const [name, ...rest] = line.slice(1).split(' ');
    const arg = rest.join(' ').trim();
    switch (name) {
      case 'help': process.stdout.write(HELP); return;
      case 'exit': case 'quit': quit = true; rl.close(); return;
      case 'reset': messages = start(); err('(the conversation was reset)\n'); return;
      case 'system': system = arg || undefined; messages = start(); err(`(system message ${system ? 'set' : 'removed'}; the conversation was reset)\n`); return;
      case 'save': {
        if (!arg) throw new WasmlmError('BAD_ARGUMENT', '/save needs a file name');
        const saved: SavedChat = { format: 'wasmlm-chat/2', model: modelName, messages };
        await writeFile(arg, encodeChat(saved, await session.save()));
        err(`(saved ${messages.length} messages to ${arg})\n`);
        return;
      }
      case 'load': {
        if (!arg) throw new WasmlmError('BAD_ARGUMENT', '/load needs a file name');
        let bytes: Uint8Array;
        try {
          bytes = new Uint8Array(await readFile(arg));
        } catch (e) {
          throw new WasmlmError('IO_ERROR', `/load ${arg}: ${(e as Error).message}`, { cause: e });
        }
        const { saved, session: state } = decodeChat(bytes, arg);
        // a file of another model (SESSION_MISMATCH) or a damaged one (BAD_SESSION) changes nothing
        let restored;
        try {
          restored = await model.restoreSession(state);
        } catch (e) {
          if (e instanceof WasmlmError) throw new WasmlmError(e.code, `/load ${arg}: ${e.message}`, { cause: e });
          throw e;
        }
        session.dispose();
        session = restored;
        messages = saved.messages;
        system = messages[0]?.role === 'system' ? messages[0].content : undefined;
        err(`(loaded ${messages.length} messages)\n`);
        return;
      }
      default: throw new WasmlmError('BAD_ARGUMENT', `unknown command /${name} (/help lists them)`);
    }
  };

  const reply = async (text: string): Promise<void> => {
    messages.push({ role: 'user', content: text });
    current = new AbortController();
    let answer = '';
    try {
      const it = session.chatStream(messages, { ...options, signal: current.signal });
      let step = await it.next();
      while (!step.done) {
        answer += step.value;
        process.stdout.write(step.value);
        step = await it.next();
      }
      process.stdout.write('\n');
      if (step.value.finishReason === 'abort') err('(stopped)\n');
      if (step.value.finishReason === 'context') err('(the context is full: /reset to start again)\n');
    } finally {
      current = undefined;
      // what was said stays in the conversation, also when it was cut short
      messages.push({ role: 'assistant', content: answer });
    }
  };

  if (tty) rl.prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    try {
      if (line.startsWith('/')) await command(line);
      else if (line) await reply(line);
    } catch (e) {
      // piped: the first error ends the command (exit status 1); in a terminal the conversation goes on
      if (!tty) { model.dispose(); throw e; }
      err(`wasmlm: ${e instanceof Error ? e.message : String(e)}${e instanceof WasmlmError ? ` [${e.code}]` : ''}\n`);
    }
    if (quit) break;
    if (tty) rl.prompt();
  }
  model.dispose();
}
