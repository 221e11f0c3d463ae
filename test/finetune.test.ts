/**
 * model.finetune(): what is learned (checked against the loss the base model's own logits give at the
 * positions that should be learned, and the tokens transformers' template rendering gives), that it learns
 * (the embedded stories260K picks up a new phrase; instruction tuning on set3's ChatML llama lowers the
 * masked loss), abort, the saved adapter (GGUF and PEFT) giving the applied adapter's logits, bad input.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, WasmlmError, type FinetuneProgress, type Model } from '../src/index.js';
import { exampleSequence } from '../src/train/finetune.js';
import { parseSafetensorsHeader, safetensorsHeaderLength } from '../src/formats/safetensors.js';
import { fixture } from './helpers/fixtures.js';

/** Mean cross-entropy of the base model's logits at rows `rows` (row p predicts tokens[p + 1]), in float64. */
async function baseLoss(model: Model, seqs: { tokens: number[]; rows: number[] }[]): Promise<number> {
  let sum = 0, n = 0;
  for (const { tokens, rows } of seqs) {
    const logits = await model.logits(tokens);
    for (const p of rows) {
      const row = logits[p]!;
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - max);
      sum += Math.log(z) + max - row[tokens[p + 1]!]!;
      n++;
    }
  }
  return sum / n;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** max |a − b| over every row */
function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((row, i) => row.forEach((x, j) => { d = Math.max(d, Math.abs(x - b[i]![j]!)); }));
  return d;
}

const PHRASE = ' the blue frog sings.';

describe('finetune: it learns (stories260K, the embedded model)', () => {
  it('a handful of { prompt, completion } examples teach a new phrase: the greedy completion changes to it', async () => {
    const model = await loadModel();
    const greedy = async (p: string) => (await model.complete(p, { temperature: 0, maxTokens: 12 })).text;
    const held = 'Ben said'; // not among the examples
    const before = await greedy(held);
    expect(before.startsWith(' the blue frog')).toBe(false);
    const examples = ['Tom said', 'Lily said', 'The dog said', 'Mom said'].map((prompt) => ({ prompt, completion: PHRASE }));
    const steps: FinetuneProgress[] = [];
    const adapter = await model.finetune(examples, { learningRate: 1e-2, epochs: 20, batchSize: 4, seed: 1, onStep: (s) => steps.push(s) });
    expect(steps.map((s) => s.step)).toEqual(range(1, 21));
    expect(steps.every((s) => s.steps === 20 && s.epoch === s.step && s.epochs === 20 && s.tokensPerSecond > 0)).toBe(true);
    expect(adapter.losses).toEqual(steps.map((s) => s.loss));
    expect(adapter.aborted).toBe(false);
    expect(adapter.losses.at(-1)!).toBeLessThan(adapter.losses[0]! / 4);
    // applied: generation uses it at once, on a prompt it was not trained on too
    const after = await greedy(held);
    console.log(`'${held}': '${before}' → '${after}'; loss ${adapter.losses[0]!.toFixed(3)} → ${adapter.losses.at(-1)!.toFixed(3)}, ` +
      `${Math.round(steps.reduce((n, s) => n + s.tokensPerSecond, 0) / steps.length)} tokens/s`);
    expect(after.startsWith(' the blue frog sings')).toBe(true);
    expect((await greedy('Tom said')).startsWith(' the blue frog sings')).toBe(true);
    // and it comes off
    adapter.applied.remove();
    expect(await greedy(held)).toBe(before);
    model.dispose();
  });

  it('the first loss is the base model\'s cross-entropy over the completion and EOS only; the same seed trains the same adapter', async () => {
    const model = await loadModel();
    const tk = model.tokenizer;
    const examples = [{ prompt: 'Once upon a time', completion: ' there was a cat.' }, { prompt: 'The sun', completion: ' was hot.' }];
    const seqs = examples.map(({ prompt, completion }) => {
      const p = tk.encode(prompt);
      const whole = [...tk.encode(prompt + completion), tk.special.eos!];
      expect(whole.slice(0, p.length)).toEqual(p);
      return { tokens: whole, rows: range(p.length - 1, whole.length - 1) };
    });
    const expected = await baseLoss(model, seqs);
    const a = await model.finetune(examples, { epochs: 1, batchSize: 2, learningRate: 1e-3, seed: 3 });
    expect(rel(a.losses[0]!, expected)).toBeLessThan(1e-4);
    a.applied.remove();
    const b = await model.finetune(examples, { epochs: 1, batchSize: 2, learningRate: 1e-3, seed: 3 });
    for (const [name, w] of a.weights()) expect(b.weights().get(name), name).toEqual(w);
    model.dispose();
  });

  it('maxLength cuts a sequence to its first tokens: the loss is over what is left', async () => {
    const model = await loadModel();
    const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
    const ids = model.tokenizer.encode(text);
    expect(ids.length).toBeGreaterThan(12);
    const expected = await baseLoss(model, [{ tokens: ids.slice(0, 12), rows: range(0, 11) }]);
    const a = await model.finetune([text], { epochs: 1, maxLength: 12 });
    expect(rel(a.losses[0]!, expected)).toBeLessThan(1e-4);
    expect(rel(a.losses[0]!, await baseLoss(model, [{ tokens: ids, rows: range(0, ids.length - 1) }]))).toBeGreaterThan(1e-3);
    model.dispose();
  });
});

describe('finetune: instruction tuning (set3 llama, ChatML template in the file)', () => {
  const chat = JSON.parse(readFileSync(fixture('set3/chat.expected.json'), 'utf8')) as {
    messages: { role: string; content: string }[]; tokens: number[]; token_pieces: string[];
  };

  it('only the assistant turns are learned: their tokens as transformers renders them, the loss over them alone', async () => {
    const model = await loadModel(fixture('set3/llama.gguf'));
    // transformers' rendering of [system, user, assistant, user] + generation prompt: the assistant's turn is
    // the tokens after the third '<|im_start|>' line up to its '<|im_end|>' and the newline after it
    const pieces = chat.token_pieces;
    const opens = pieces.flatMap((p, i) => (p === '<|im_start|>' ? [i] : []));
    const start = pieces.indexOf('\n', opens[2]!) + 1;
    const end = pieces.indexOf('<|im_end|>', start) + 2;
    expect(pieces.slice(start, start + 4).join('')).toBe('Paris');
    const messages = chat.messages.slice(0, 3);
    const seq = exampleSequence(model.tokenizer, { messages }, 0);
    expect(seq.tokens).toEqual(chat.tokens.slice(0, end));
    expect(seq.mask.flatMap((m, p) => (m ? [p] : []))).toEqual(range(start - 1, end - 1));
    // two assistant turns: both learned, the user turn between them not
    const two = [...chat.messages, { role: 'assistant', content: 'Rome.' }];
    const s2 = exampleSequence(model.tokenizer, { messages: two }, 0);
    const learned = s2.mask.flatMap((m, p) => (m ? [s2.tokens[p + 1]!] : []));
    expect(model.tokenizer.decode(learned, { skipSpecial: false })).toBe('Paris is the capital of France.<|im_end|>\nRome.<|im_end|>\n');
    // the first step's loss is the base model's over those rows
    const expected = await baseLoss(model, [{ tokens: seq.tokens, rows: range(start - 1, end - 1) }]);
    const a = await model.finetune([{ messages }], { epochs: 1 });
    expect(rel(a.losses[0]!, expected)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('the masked loss falls over the epochs; the reply changes towards the answers', async () => {
    const model = await loadModel(fixture('set3/llama.gguf'));
    const qa = [['What is the capital of France?', 'Paris.'], ['What is the capital of Italy?', 'Rome.'],
      ['What is the capital of Spain?', 'Madrid.'], ['What is the capital of Japan?', 'Tokyo.']];
    const examples = qa.map(([q, a]) => ({ messages: [{ role: 'user', content: q! }, { role: 'assistant', content: a! }] }));
    const r = await model.finetune(examples, { epochs: 30, batchSize: 4, learningRate: 2e-2, rank: 8, targets: ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'], seed: 2 });
    console.log(`instruction tuning, masked loss by step: ${r.losses.map((x) => x.toFixed(3)).join(' ')}`);
    expect(r.losses).toHaveLength(30);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]! / 2);
    const reply = await model.chat([{ role: 'user', content: 'What is the capital of Italy?' }], { temperature: 0, maxTokens: 6 });
    expect(reply.text).toBe('Rome.');
    model.dispose();
  });

  it('a template given in the options renders the conversations', async () => {
    const model = await loadModel(fixture('set3/llama.gguf'));
    const chatTemplate = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}";
    const seq = exampleSequence(model.tokenizer, { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }, 0, chatTemplate);
    expect(model.tokenizer.decode(seq.tokens)).toBe('user: hi\nassistant: hello\n');
    const learned = seq.mask.flatMap((m, p) => (m ? [seq.tokens[p + 1]!] : []));
    expect(model.tokenizer.decode(learned)).toBe('hello\n');
    model.dispose();
  });
});

describe('finetune: abort, save, errors (llama fixture)', () => {
  const examples = ['Once upon a time there was a frog', 'The frog sang a song to the moon', 'The moon sang back', 'They were happy'];
  const prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

  it('an abort stops between steps: the adapter as trained so far is returned, applied', async () => {
    const model = await loadModel(fixture('models/llama.gguf'));
    const base = await model.logits(prompt);
    const ac = new AbortController();
    const r = await model.finetune(examples, {
      batchSize: 1, epochs: 2, learningRate: 1e-2, signal: ac.signal,
      onStep: (s) => { if (s.step === 3) ac.abort(); },
    });
    expect(r.aborted).toBe(true);
    expect(r.steps).toBe(3);
    const tuned = await model.logits(prompt);
    expect(maxDiff(tuned, base)).toBeGreaterThan(1e-3);
    // what is applied is what the adapter holds: a fresh model with its saved GGUF gives the same logits
    const fresh = await loadModel(fixture('models/llama.gguf'));
    await fresh.loadAdapter(r.save({ format: 'gguf' }));
    expect(maxDiff(await fresh.logits(prompt), tuned)).toBe(0);
    // already aborted: no step, the zero-B adapter (the base's logits)
    const none = await fresh.finetune(examples, { signal: AbortSignal.abort() });
    expect(none.steps).toBe(0);
    expect(none.aborted).toBe(true);
    model.dispose();
    fresh.dispose();
  });

  it("format 'peft' writes what PEFT's save_pretrained does (as the fixture folder), and loads back to the same logits", async () => {
    const model = await loadModel(fixture('models/llama.gguf'));
    const r = await model.finetune(examples, { rank: 4, alpha: 8, epochs: 1, learningRate: 1e-2, targets: ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] });
    const tuned = await model.logits(prompt);
    const files = r.save({ format: 'peft' });
    const ours = JSON.parse(new TextDecoder().decode(files['adapter_config.json'])) as Record<string, unknown>;
    const theirs = JSON.parse(readFileSync(fixture('peft/llama-lora/adapter_config.json'), 'utf8')) as Record<string, unknown>;
    for (const k of ['peft_type', 'task_type', 'r', 'lora_alpha', 'use_rslora', 'target_modules', 'bias', 'use_dora', 'fan_in_fan_out',
      'rank_pattern', 'alpha_pattern', 'modules_to_save', 'layers_to_transform']) {
      expect(ours[k], k).toEqual(theirs[k]);
    }
    const header = (bytes: Uint8Array) => {
      const h = parseSafetensorsHeader(bytes.subarray(8, 8 + safetensorsHeaderLength(bytes.subarray(0, 8), bytes.length)), bytes.length);
      return Object.fromEntries([...h.tensors.values()].map((t) => [t.name, { dtype: t.dtype, shape: t.shape }]));
    };
    const theirTensors = header(new Uint8Array(readFileSync(fixture('peft/llama-lora/adapter_model.safetensors'))));
    expect(Object.keys(theirTensors)).toHaveLength(28);
    expect(theirTensors['base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight']).toEqual({ dtype: 'F32', shape: [32, 4] });
    expect(header(files['adapter_model.safetensors'])).toEqual(theirTensors);
    const fresh = await loadModel(fixture('models/llama.gguf'));
    await fresh.loadAdapter({ 'adapter_config.json': files['adapter_config.json'], 'adapter_model.safetensors': files['adapter_model.safetensors'] });
    expect(maxDiff(await fresh.logits(prompt), tuned)).toBeLessThanOrEqual(1e-5);
    model.dispose();
    fresh.dispose();
  });

  it('bad input is a WasmlmError naming it', async () => {
    const model = await loadModel(fixture('models/llama.gguf'));
    const fails = async (examples: unknown, options: object, message: RegExp) => {
      const e = await model.finetune(examples as never, options).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WasmlmError);
      expect((e as WasmlmError).code).toBe('BAD_ARGUMENT');
      expect((e as Error).message).toMatch(message);
    };
    await fails([], {}, /examples must be a non-empty array/);
    await fails('text', {}, /examples must be a non-empty array/);
    await fails(['ok', { messages: [{ role: 'user', content: 'hi' }] }], {}, /examples\[1\]\.messages has no assistant message/);
    await fails([{ messages: [{ role: 'assistant', content: 'hi' }, { role: 'user', content: 'hello' }] }], {}, /examples\[0\]\.messages\[0\] is an assistant message/);
    await fails(['ok', 42], {}, /examples\[1\] must be a string, \{ prompt, completion \} or \{ messages \}, got number/);
    await fails([{ prompt: 'a', completion: '' }], {}, /examples\[0\]\.completion must be a non-empty string/);
    await fails([''], {}, /examples\[0\] is an empty string/);
    await fails(['ok'], { rank: 0 }, /rank must be a positive integer, got 0/);
    await fails(['ok'], { rank: -2 }, /rank must be a positive integer/);
    await fails(['ok'], { targets: ['attn_q', 'q_proj'] }, /target 'q_proj' is not one of attn_q/);
    await fails(['ok'], { epochs: 0 }, /epochs must be a positive integer/);
    await fails(['ok'], { batchSize: 1.5 }, /batchSize must be a positive integer/);
    await fails(['ok'], { maxLength: 100000 }, /maxLength 100000 is beyond the model's context length/);
    await fails([{ prompt: 'Once upon a time there was', completion: ' a frog' }], { maxLength: 3 }, /examples\[0\] has nothing to learn within maxLength 3/);
    await fails(['ok'], { learningRate: -1 }, /learningRate/);
    await fails(['ok'], { signal: 'stop' }, /signal must be an AbortSignal/);
    model.dispose();
  });
});
