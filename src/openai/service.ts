/**
 * The OpenAI endpoints over a model, once: requests (checked by params.ts) run on a slot and come back
 * in OpenAI's shapes, whole or as stream chunks. The in-process client (client.ts) and the fetch handler
 * (handler.ts) both call this.
 */
import { WasmlmError } from '../errors.js';
import type { ChatMessage } from '../generate/chat.js';
import type { ChatOptions, ChatResult } from '../generate/tools.js';
import type { CompleteResult, FinishReason, GenerateOptions } from '../generate/generator.js';
import type { EmbedOptions, Model, Prompt } from '../model.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { badParam, OpenAIError } from './errors.js';
import type { ChatRequest, CompletionRequest, EmbeddingRequest, GenerationRequest } from './params.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionMessageToolCall, ChatCompletionTokenLogprob, ChatFinishReason,
  Completion, CompletionChunk, CompletionLogprobs, CompletionUsage, CreateEmbeddingResponse, ModelObject,
} from './types.js';

/**
 * Where a request runs: the model itself (its calls take turns), or one of its sessions. Each request
 * gets its own slot from the handler's queue.
 */
export interface Slot {
  generate(prompt: Prompt, options?: GenerateOptions): AsyncGenerator<string, CompleteResult>;
  chatStream(messages: ChatMessage[], options?: ChatOptions): AsyncGenerator<string, ChatResult>;
}

/**
 * What the OpenAI surface needs of a model: a Model, or the browser's model in a worker. `sampleHook:
 * false` says the generation's onSample hook is not available (a worker's model: a function cannot cross
 * to the worker), so logprobs are not either.
 */
export type OpenAIModel = Pick<Model, 'info' | 'tokenizer'> & Slot & {
  embed(input: Prompt, options?: EmbedOptions): Promise<Float32Array>;
  /** a session over its own KV cache: the handler's slots (concurrent requests decoded together) */
  createSession?(): Slot & { dispose(): void };
  readonly sampleHook?: boolean;
};

/** A generation's result (a chat's may carry tool calls). */
type ToolResult = CompleteResult | ChatResult;

/** One sampled token's log-probability and its most likely alternatives. */
interface TokenLogprob { id: number; logprob: number; top: Array<{ id: number; logprob: number }> }

/** A step of a generation: text of choice `index`, with the logprobs of its tokens; `result` at its end. */
interface Step { index: number; text: string; logprobs: TokenLogprob[]; result?: ToolResult }

/**
 * Does a chat request generate with tools (given, and tool_choice not 'none')? Then the reply's text is
 * read for calls at its end: a stream sends the content and the calls once the choice ends.
 */
function withTools(req: GenerationRequest): boolean {
  return (req.options.tools as unknown[] | undefined)?.length ? req.options.toolChoice !== 'none' : false;
}

const FINISH: Record<FinishReason, ChatFinishReason> = { eos: 'stop', stop: 'stop', length: 'length', context: 'length', abort: 'stop' };

function finishReason(r: ToolResult): ChatFinishReason {
  return r.finishReason === 'tool_calls' ? 'tool_calls' : FINISH[r.finishReason];
}

function requestId(prefix: string): string {
  const c = globalThis.crypto as Crypto | undefined;
  const hex = c?.randomUUID ? c.randomUUID().replace(/-/g, '') : Math.random().toString(16).slice(2) + Date.now().toString(16);
  return `${prefix}-${hex.slice(0, 24)}`;
}

const seconds = () => Math.floor(Date.now() / 1000);

/**
 * log-softmax of `logits / temperature` (temperature 0: 1): the chosen token's and the `top` best. These
 * are the logits the token was drawn from (logit bias and penalties applied), as OpenAI reports them.
 */
export function tokenLogprob(logits: Float32Array, id: number, temperature: number, top: number): TokenLogprob {
  const t = temperature > 0 ? temperature : 1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i]! - max) / t);
  const norm = max / t + Math.log(sum);
  // the `top` largest, sorted (ties: the smaller id first)
  const best: number[] = [];
  for (let i = 0; i < logits.length && top > 0; i++) {
    if (best.length === top && logits[i]! <= logits[best[top - 1]!]!) continue;
    let at = best.length;
    while (at > 0 && logits[best[at - 1]!]! < logits[i]!) at--;
    best.splice(at, 0, i);
    if (best.length > top) best.pop();
  }
  return { id, logprob: logits[id]! / t - norm, top: best.map((j) => ({ id: j, logprob: logits[j]! / t - norm })) };
}

/** Options of the OpenAI surface (createOpenAI, createHandler). */
export interface OpenAIServiceOptions {
  /** the chat template (Jinja source) of chat requests, in place of the model's (llama.cpp's --chat-template-file) */
  chatTemplate?: string;
}

export class OpenAIService {
  readonly modelId: string;
  private readonly created = seconds();
  private readonly tokenizer: Tokenizer;
  private readonly decoder = new TextDecoder();

  constructor(readonly model: OpenAIModel, private readonly options: OpenAIServiceOptions = {}) {
    if (options.chatTemplate !== undefined && (typeof options.chatTemplate !== 'string' || options.chatTemplate === '')) {
      throw new WasmlmError('BAD_ARGUMENT', 'chatTemplate must be a non-empty string (a Jinja chat template)');
    }
    this.modelId = model.info.name ?? model.info.architecture;
    this.tokenizer = model.tokenizer;
  }

  models(): { object: 'list'; data: ModelObject[] } {
    return { object: 'list', data: [{ id: this.modelId, object: 'model', created: this.created, owned_by: 'wasmlm' }] };
  }

  /**
   * Runs the choices of a request one after the other, as steps; an aborted signal ends it with ABORTED.
   * A step's logprobs are those of the tokens whose text it completes: a token held back with text that
   * may begin a stop string is reported once its text is sent, and not at all if the stop string drops it.
   */
  private async *steps(req: GenerationRequest, run: (options: GenerateOptions) => AsyncGenerator<string, ToolResult>,
    signal: AbortSignal | undefined): AsyncGenerator<Step> {
    const top = req.topLogprobs;
    if (top !== undefined && this.model.sampleHook === false) {
      throw badParam('logprobs', 'is not available for this model: its generation runs in a worker, where the sampler\'s onSample hook cannot reach');
    }
    const buffered = withTools(req);
    for (let index = 0; index < req.n; index++) {
      const options: GenerateOptions & Record<string, unknown> = { ...req.options, signal };
      if (req.options.seed !== undefined && index > 0) options.seed = req.options.seed + index;
      const pending: TokenLogprob[] = [];
      // the text's length through each sampled token (at least the generator's, which may drop a leading space)
      const ends: number[] = [];
      if (top !== undefined) {
        const temperature = req.options.temperature ?? 1;
        const decoder = this.tokenizer.createDecoder();
        let decoded = 0;
        // the end-of-generation token is drawn but is not part of the text
        options.onSample = (id, logits) => {
          if (this.tokenizer.isEog(id)) return;
          pending.push(tokenLogprob(logits, id, temperature, top));
          ends.push(decoded += decoder.push(id).length);
        };
      }
      const it = run(options);
      let sent = 0;
      let sentText = 0;
      try {
        for (;;) {
          let step: IteratorResult<string, ToolResult>;
          try {
            step = await it.next();
          } catch (e) {
            throw this.requestError(e, req);
          }
          if (signal?.aborted) throw new WasmlmError('ABORTED', 'the request was aborted', { cause: signal.reason });
          if (step.done) {
            // tokens dropped with a stop string are not reported
            const rest = pending.slice(sent, Math.max(sent, step.value.tokens.length));
            yield { index, text: '', logprobs: rest, result: step.value };
            break;
          }
          sentText += step.value.length;
          let upTo = sent;
          if (!buffered) while (upTo < pending.length && ends[upTo]! <= sentText) upTo++;
          const logprobs = pending.slice(sent, upTo);
          sent = upTo;
          yield { index, text: step.value, logprobs };
        }
      } finally {
        await it.return(undefined as never); // a stream closed early: the generation ends here
      }
    }
  }

  /** A schema the grammar engine rejects is the request's fault: a 400 naming the parameter it came from. */
  private requestError(e: unknown, req: GenerationRequest): unknown {
    if (!(e instanceof WasmlmError) || e.code !== 'BAD_SCHEMA') return e;
    const param = withTools(req) ? 'tools' : 'response_format.json_schema.schema';
    return new OpenAIError('BAD_SCHEMA', 400, 'invalid_request_error', `${param}: ${e.message}`, param, { cause: e });
  }

  private piece(id: number): { token: string; bytes: number[] } {
    const bytes = this.tokenizer.idToBytes(id);
    return { token: this.decoder.decode(bytes), bytes: Array.from(bytes) };
  }

  private chatLogprobs(list: TokenLogprob[]): ChatCompletionTokenLogprob[] {
    return list.map((t) => ({
      ...this.piece(t.id), logprob: t.logprob,
      top_logprobs: t.top.map((a) => ({ ...this.piece(a.id), logprob: a.logprob })),
    }));
  }

  private completionLogprobs(list: TokenLogprob[], offset: number): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const t of list) {
      const { token } = this.piece(t.id);
      out.tokens.push(token);
      out.token_logprobs.push(t.logprob);
      out.top_logprobs.push(Object.fromEntries(t.top.map((a) => [this.piece(a.id).token, a.logprob])));
      out.text_offset.push(offset);
      offset += token.length;
    }
    return out;
  }

  private usage(results: ToolResult[]): CompletionUsage {
    // the prompt is counted once (each choice reads the same prompt), as OpenAI does
    const prompt = results[0]?.timings.promptTokens ?? 0;
    const completion = results.reduce((s, r) => s + r.tokens.length, 0);
    return {
      prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: results[0]?.timings.cachedTokens ?? 0 },
    };
  }

  private toolCalls(r: ToolResult): ChatCompletionMessageToolCall[] | undefined {
    return 'toolCalls' in r && r.toolCalls?.length ? r.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) : undefined;
  }

  private chatOptions(o: GenerateOptions): ChatOptions {
    return this.options.chatTemplate === undefined ? o : { ...o, chatTemplate: this.options.chatTemplate };
  }

  /** A chat choice's content: its text; with tools, the text outside its calls (null when there is none). */
  private content(req: GenerationRequest, r: ToolResult, text: string): string | null {
    if (!withTools(req)) return text;
    return 'content' in r && r.content ? r.content : null;
  }

  /** Chat, streamed: the chunks, in order (choices one after the other), then a usage chunk if asked. */
  async *chatChunks(req: ChatRequest, slot: Slot, signal?: AbortSignal): AsyncGenerator<ChatCompletionChunk, ToolResult[]> {
    const base = { id: requestId('chatcmpl'), object: 'chat.completion.chunk' as const, created: seconds(), model: this.modelId };
    const usage = req.includeUsage ? { usage: null } : {};
    const logprobs = (l: TokenLogprob[]) => req.topLogprobs === undefined ? null : { content: this.chatLogprobs(l), refusal: null };
    const results: ToolResult[] = [];
    let opened = -1;
    const buffered = withTools(req);
    let held: TokenLogprob[] = [];
    for await (const step of this.steps(req, (o) => slot.chatStream(req.messages, this.chatOptions(o)), signal)) {
      if (opened < step.index) {
        opened = step.index;
        yield { ...base, choices: [{ index: step.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], ...usage };
      }
      if (buffered) {
        // the text may be a call: the content and the calls are known at the end
        held = held.concat(step.logprobs);
      } else if (step.text || step.logprobs.length) {
        yield { ...base, choices: [{ index: step.index, delta: { content: step.text }, logprobs: logprobs(step.logprobs), finish_reason: null }], ...usage };
      }
      if (step.result) {
        results.push(step.result);
        const content = this.content(req, step.result, '');
        if (buffered && (content || held.length)) {
          yield { ...base, choices: [{ index: step.index, delta: { content: content ?? '' }, logprobs: logprobs(held), finish_reason: null }], ...usage };
        }
        held = [];
        // the calls whole in one chunk, as OpenAI may send them, then the finish chunk
        const calls = this.toolCalls(step.result);
        if (calls) yield { ...base, choices: [{ index: step.index, delta: { tool_calls: calls.map((c, i) => ({ index: i, ...c })) }, logprobs: null, finish_reason: null }], ...usage };
        yield { ...base, choices: [{ index: step.index, delta: {}, logprobs: null, finish_reason: finishReason(step.result) }], ...usage };
      }
    }
    if (req.includeUsage) yield { ...base, choices: [], usage: this.usage(results) };
    return results;
  }

  /** Runs `steps` to the end: each choice's whole text and logprobs (of its final tokens), as it ends. */
  private async collect<S extends Step>(steps: AsyncIterable<S>,
    done: (step: S, result: ToolResult, text: string, logprobs: TokenLogprob[]) => void): Promise<ToolResult[]> {
    const results: ToolResult[] = [];
    let text = '';
    let logprobs: TokenLogprob[] = [];
    for await (const step of steps) {
      text += step.text;
      logprobs = logprobs.concat(step.logprobs);
      if (!step.result) continue;
      results.push(step.result);
      done(step, step.result, text, logprobs.slice(0, step.result.tokens.length));
      text = '';
      logprobs = [];
    }
    return results;
  }

  async chat(req: ChatRequest, slot: Slot, signal?: AbortSignal): Promise<ChatCompletion> {
    const choices: ChatCompletion['choices'] = [];
    const results = await this.collect(this.steps(req, (o) => slot.chatStream(req.messages, this.chatOptions(o)), signal), (step, r, text, logprobs) => {
      const calls = this.toolCalls(r);
      choices.push({
        index: step.index,
        message: { role: 'assistant', content: this.content(req, r, text), refusal: null, ...(calls ? { tool_calls: calls } : {}) },
        logprobs: req.topLogprobs === undefined ? null : { content: this.chatLogprobs(logprobs), refusal: null },
        finish_reason: finishReason(r),
      });
    });
    return { id: requestId('chatcmpl'), object: 'chat.completion', created: seconds(), model: this.modelId, choices, usage: this.usage(results) };
  }

  /** The choices of every prompt: prompt p's choice i has index p·n + i. */
  private async *completionSteps(req: CompletionRequest, slot: Slot, signal?: AbortSignal): AsyncGenerator<Step & { prompt: Prompt }> {
    for (let p = 0; p < req.prompts.length; p++) {
      const prompt = req.prompts[p]!;
      for await (const step of this.steps(req, (o) => slot.generate(prompt, o), signal)) yield { ...step, index: p * req.n + step.index, prompt };
    }
  }

  private promptText(prompt: Prompt): string {
    return typeof prompt === 'string' ? prompt : this.tokenizer.decode(prompt);
  }

  async *completionChunks(req: CompletionRequest, slot: Slot, signal?: AbortSignal): AsyncGenerator<CompletionChunk, ToolResult[]> {
    const base = { id: requestId('cmpl'), object: 'text_completion' as const, created: seconds(), model: this.modelId };
    const results: ToolResult[] = [];
    let offset = 0;
    let last = -1;
    for await (const step of this.completionSteps(req, slot, signal)) {
      let text = step.text;
      if (step.index !== last) {
        last = step.index;
        offset = 0;
        if (req.echo) text = this.promptText(step.prompt) + text;
      }
      const logprobs = req.topLogprobs === undefined ? null : this.completionLogprobs(step.logprobs, offset);
      offset += text.length;
      if (step.result) results.push(step.result);
      if (text || step.result || step.logprobs.length) {
        yield { ...base, choices: [{ index: step.index, text, logprobs, finish_reason: step.result ? finishReason(step.result) as 'stop' | 'length' : null }] };
      }
    }
    if (req.includeUsage) yield { ...base, choices: [], usage: this.usage(results) };
    return results;
  }

  async completion(req: CompletionRequest, slot: Slot, signal?: AbortSignal): Promise<Completion> {
    const choices: Completion['choices'] = [];
    const results = await this.collect(this.completionSteps(req, slot, signal), (step, r, text, logprobs) => {
      const echo = req.echo ? this.promptText(step.prompt) : '';
      choices.push({
        index: step.index,
        text: echo + text,
        logprobs: req.topLogprobs === undefined ? null : this.completionLogprobs(logprobs, echo.length),
        finish_reason: finishReason(r) as 'stop' | 'length',
      });
    });
    // prompt tokens: every prompt's
    const usage = this.usage(results);
    usage.prompt_tokens = 0;
    for (let p = 0; p < req.prompts.length; p++) usage.prompt_tokens += results[p * req.n]?.timings.promptTokens ?? 0;
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    return { id: requestId('cmpl'), object: 'text_completion', created: seconds(), model: this.modelId, choices, usage };
  }

  /** Embeddings: mean-pooled and L2-normalised (as OpenAI's are), as floats or base64 of little-endian float32. */
  /** (The model embeds, not a slot: an embedding keeps no context.) */
  async embeddings(req: EmbeddingRequest, signal?: AbortSignal): Promise<CreateEmbeddingResponse> {
    const data: CreateEmbeddingResponse['data'] = [];
    let tokens = 0;
    for (let index = 0; index < req.inputs.length; index++) {
      if (signal?.aborted) throw new WasmlmError('ABORTED', 'the request was aborted', { cause: signal.reason });
      const input = req.inputs[index]!;
      tokens += typeof input === 'string' ? this.tokenizer.encode(input, { addSpecial: true }).length : input.length;
      const v = await this.model.embed(input, { pooling: 'mean', normalize: true });
      data.push({ object: 'embedding', index, embedding: req.base64 ? base64(v) as unknown as number[] : Array.from(v) });
    }
    return { object: 'list', data, model: this.modelId, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }
}

/** base64 of a Float32Array's bytes (little-endian on every platform wasm runs on). */
function base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
