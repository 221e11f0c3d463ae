/**
 * Fine-tuning examples from text, one a line (blank lines skipped), as `wasmlm finetune` reads a JSONL file and
 * the teach page reads its textarea: a JSON object {"text": ...}, {"prompt": ..., "completion": ...} or
 * {"messages": [...]} a line; with `plainText`, a line that does not start with `{` is a plain-text example.
 * Errors are BAD_ARGUMENT and name the line (`source:N`); what an example holds is finetune's to check.
 */
import { WasmlmError } from '../errors.js';
import type { FinetuneExample } from './finetune.js';

export interface ParseExamplesOptions {
  /** what the errors call the text (a file name; default 'examples') */
  source?: string;
  /** a line not starting with `{` is a plain-text example (default false: every line is JSON) */
  plainText?: boolean;
}

export function parseExamples(text: string, options: ParseExamplesOptions = {}): FinetuneExample[] {
  const source = options.source ?? 'examples';
  const out: FinetuneExample[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    if (options.plainText && !line.startsWith('{')) { out.push(line); return; }
    const where = `${source}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new WasmlmError('BAD_ARGUMENT', `${where}: not JSON: ${(e as Error).message}`, { cause: e });
    }
    const o = v as Record<string, unknown> | null;
    if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
      if (typeof o.text === 'string') { out.push(o.text); return; }
      if ('prompt' in o || 'completion' in o) { out.push({ prompt: o.prompt, completion: o.completion } as FinetuneExample); return; }
      if ('messages' in o) { out.push({ messages: o.messages } as FinetuneExample); return; }
    }
    throw new WasmlmError('BAD_ARGUMENT', `${where}: expected {"text": ...}, {"prompt": ..., "completion": ...} or {"messages": [...]}`);
  });
  if (out.length === 0) throw new WasmlmError('BAD_ARGUMENT', `${source}: no examples`);
  return out;
}
