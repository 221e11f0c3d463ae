/**
 * `wasmlm finetune MODEL DATA.jsonl --out FILE`: model.finetune() over a JSONL file, a progress line per step
 * on stderr, the adapter written as a GGUF (llama.cpp's --lora, wasmlm's --lora) or a PEFT folder. Ctrl-C
 * stops after the step in progress and still writes the adapter as trained so far.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { WasmlmError } from '../errors.js';
import { loadModel } from '../model.js';
import type { FinetuneProgress } from '../train/finetune.js';
import { parseExamples } from '../train/examples.js';
import type { LoraTarget } from '../train/adapter.js';
import { intFlag, num, type Flags } from './flags.js';

export const FINETUNE = {
  usage: `wasmlm finetune MODEL DATA.jsonl --out ADAPTER.gguf
                                 fine-tune a LoRA adapter; DATA: one example a line, {"text": ...},
                                 {"prompt": ..., "completion": ...} or {"messages": [...]} (only the
                                 completion / the assistant turns are learned); Ctrl-C stops and saves
    --out FILE                   where the adapter goes (a GGUF file; with --format peft, a folder)
    --format gguf|peft           the adapter's format (default gguf; peft: adapter_config.json and
                                 adapter_model.safetensors)
    --rank R                     LoRA rank (default 8)
    --alpha A                    LoRA alpha (default 2 × rank)
    --targets LIST               the weights adapted, comma-separated (default attn_q,attn_k,attn_v,
                                 attn_output; also ffn_gate, ffn_up, ffn_down)
    --epochs N                   passes over the data (default 3)
    --lr LR                      learning rate (AdamW, default 1e-4)
    --batch N                    examples per step (default 4)
    --max-length N               cut longer examples to their first N tokens (default: the context)
    --seed S                     the initialisation's and the shuffling's seed (default 0)
    --chat-template FILE         render {"messages"} with this template (Jinja) instead of the model's
    --ctx N                      context length
    --threads N                  threads that compute`,
  options: {
    out: { type: 'string', short: 'o' },
    format: { type: 'string' },
    rank: { type: 'string' },
    alpha: { type: 'string' },
    targets: { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    batch: { type: 'string' },
    'max-length': { type: 'string' },
    seed: { type: 'string' },
    'chat-template': { type: 'string' },
    ctx: { type: 'string' },
    threads: { type: 'string' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  run: finetuneCommand,
};

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

async function finetuneCommand(positional: string[], flags: Flags): Promise<void> {
  // everything checked before anything is loaded
  if (positional.length !== 2) throw new WasmlmError('BAD_ARGUMENT', `wasmlm finetune takes MODEL and DATA.jsonl, got ${positional.length} argument(s)`);
  const [source, dataFile] = positional as [string, string];
  const out = flags.out as string | undefined;
  if (out === undefined) throw new WasmlmError('BAD_ARGUMENT', 'wasmlm finetune needs --out (the adapter file, or folder with --format peft)');
  const format = (flags.format as string | undefined) ?? 'gguf';
  if (format !== 'gguf' && format !== 'peft') throw new WasmlmError('BAD_ARGUMENT', `--format must be gguf or peft, got '${format}'`);
  const targets = (flags.targets as string | undefined)?.split(',').map((t) => t.trim()) as LoraTarget[] | undefined;
  const templateFile = flags['chat-template'] as string | undefined;
  const chatTemplate = templateFile === undefined ? undefined : await readFile(templateFile, 'utf8');
  let data: string;
  try {
    data = await readFile(dataFile, 'utf8');
  } catch (e) {
    throw new WasmlmError('IO_ERROR', `cannot read ${dataFile}: ${(e as Error).message}`, { cause: e });
  }
  const examples = parseExamples(data, { source: dataFile });
  const options = {
    rank: intFlag(flags, 'rank', 1), alpha: num(flags, 'alpha'), targets,
    epochs: intFlag(flags, 'epochs', 1), learningRate: num(flags, 'lr'), batchSize: intFlag(flags, 'batch', 1),
    maxLength: intFlag(flags, 'max-length', 2), seed: intFlag(flags, 'seed', -(2 ** 31), 2 ** 31 - 1), chatTemplate,
  };
  const model = await loadModel(source, { contextLength: intFlag(flags, 'ctx', 1), threads: intFlag(flags, 'threads', 1) });
  const stop = new AbortController();
  const onSigint = () => {
    process.stderr.write('\nstopping after this step (Ctrl-C again to quit without saving)\n');
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    const t0 = performance.now();
    const tty = process.stderr.isTTY === true;
    const progress = (p: FinetuneProgress) => {
      const elapsed = (performance.now() - t0) / 1000;
      const eta = (elapsed / p.step) * (p.steps - p.step);
      const width = 20;
      const bar = tty ? `[${'#'.repeat(Math.round((p.step / p.steps) * width)).padEnd(width, '.')}] ` : '';
      const line = `${bar}step ${p.step}/${p.steps}  epoch ${p.epoch}/${p.epochs}  loss ${p.loss.toFixed(4)}  ${p.tokensPerSecond.toFixed(0)} tokens/s  ETA ${clock(eta)}`;
      process.stderr.write(tty ? `\r${line}\x1b[K${p.step === p.steps ? '\n' : ''}` : `${line}\n`);
    };
    const adapter = await model.finetune(examples, { ...options, signal: stop.signal, onStep: progress });
    if (tty && adapter.aborted) process.stderr.write('\n');
    if (format === 'peft') {
      await mkdir(out, { recursive: true });
      for (const [name, bytes] of Object.entries(adapter.save({ format: 'peft' }))) await writeFile(join(out, name), bytes);
    } else {
      await writeFile(out, adapter.save({ format: 'gguf' }));
    }
    const losses = adapter.losses;
    process.stderr.write(`${adapter.aborted ? 'stopped' : 'done'}: ${adapter.steps} steps in ${clock((performance.now() - t0) / 1000)}` +
      (losses.length ? `, loss ${losses[0]!.toFixed(4)} → ${losses.at(-1)!.toFixed(4)}` : '') +
      `; rank ${adapter.rank}, alpha ${adapter.alpha}, ${adapter.targets.join(',')}; wrote ${out}${format === 'peft' ? '/ (PEFT)' : ''}\n`);
  } finally {
    process.removeListener('SIGINT', onSigint);
    model.dispose();
  }
}
