/**
 * OpenAI request parameters → wasmlm's options, checked: a wrong value is a 400 naming the parameter.
 * Parameters this runtime has no use for (`model`, `user`, `store`, `metadata`, ...) are accepted and
 * ignored, as llama.cpp's server does.
 *
 * Sampling follows OpenAI's semantics, not wasmlm's defaults: temperature 1 and top_p 1 unless given,
 * no top-k and no min-p. frequency_penalty / presence_penalty are the sampler's additive penalties over
 * the last 64 tokens of the context (prompt included), as llama.cpp's server maps them.
 */
import type { ChatMessage } from '../generate/chat.js';
import type { GenerateOptions } from '../generate/generator.js';
import type { Prompt } from '../model.js';
import { badParam } from './errors.js';

type Body = Record<string, unknown>;

/** What a chat or completion request asks for, in wasmlm's terms. */
export interface GenerationRequest {
  /** the options of each choice (seed: of the first; choice i draws with seed + i) */
  options: GenerateOptions & Record<string, unknown>;
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** alternatives per token when logprobs are asked for (0: the chosen token's only); undefined: no logprobs */
  topLogprobs: number | undefined;
}

export interface ChatRequest extends GenerationRequest { messages: ChatMessage[] }
export interface CompletionRequest extends GenerationRequest { prompts: Prompt[]; echo: boolean }
export interface EmbeddingRequest { inputs: Prompt[]; base64: boolean }

const MAX_N = 16;
const MAX_STOPS = 4;

function isRecord(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v).slice(0, 40) : typeof v;
}

/** `body[name]` when given (null counts as not given, as OpenAI treats it). */
function given(body: Body, name: string): unknown {
  return body[name] === null ? undefined : body[name];
}

function number(body: Body, name: string, min: number, max: number, integer = false): number | undefined {
  const v = given(body, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw badParam(name, `expected ${integer ? 'an integer' : 'a number'}, got ${describe(v)}`);
  }
  if (v < min || v > max) throw badParam(name, `${v} is out of range [${min}, ${max}]`);
  return v;
}

function boolean(body: Body, name: string): boolean | undefined {
  const v = given(body, name);
  if (v !== undefined && typeof v !== 'boolean') throw badParam(name, `expected a boolean, got ${describe(v)}`);
  return v as boolean | undefined;
}

export function requestBody(body: unknown): Body {
  if (!isRecord(body)) throw badParam('body', `the request body must be a JSON object, got ${describe(body)}`);
  return body;
}

/** The parameters chat and completions share. */
function generation(body: Body, vocabSize: number, maxTokensNames: string[]): Omit<GenerationRequest, 'topLogprobs'> {
  const options: GenerationRequest['options'] = {
    temperature: number(body, 'temperature', 0, 2) ?? 1,
    topP: number(body, 'top_p', 0, 1) ?? 1,
    topK: 0,
    minP: 0,
  };
  if (options.topP === 0) throw badParam('top_p', 'must be above 0');
  for (const name of maxTokensNames) {
    const v = number(body, name, 1, Number.MAX_SAFE_INTEGER, true);
    if (v !== undefined) options.maxTokens = v;
  }
  const seed = number(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  if (seed !== undefined) options.seed = seed;
  const frequency = number(body, 'frequency_penalty', -2, 2);
  if (frequency) options.frequencyPenalty = frequency;
  const presence = number(body, 'presence_penalty', -2, 2);
  if (presence) options.presencePenalty = presence;

  const stop = given(body, 'stop');
  if (stop !== undefined) {
    const list = typeof stop === 'string' ? [stop] : stop;
    if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw badParam('stop', `expected a string or an array of strings, got ${describe(stop)}`);
    if (list.length > MAX_STOPS) throw badParam('stop', `at most ${MAX_STOPS} stop sequences, got ${list.length}`);
    const stops = (list as string[]).filter((s) => s !== '');
    if (stops.length) options.stop = stops;
  }

  const bias = given(body, 'logit_bias');
  if (bias !== undefined) {
    if (!isRecord(bias)) throw badParam('logit_bias', `expected an object of token id → bias, got ${describe(bias)}`);
    const logitBias: Record<number, number> = {};
    for (const [key, value] of Object.entries(bias)) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || id >= vocabSize) throw badParam('logit_bias', `'${key}' is not a token id of this model (0 to ${vocabSize - 1})`);
      if (typeof value !== 'number' || !Number.isFinite(value) || value < -100 || value > 100) {
        throw badParam('logit_bias', `the bias of token ${key} must be a number in [-100, 100], got ${describe(value)}`);
      }
      logitBias[id] = value;
    }
    options.logitBias = logitBias;
  }

  const n = number(body, 'n', 1, MAX_N, true) ?? 1;
  const stream = boolean(body, 'stream') ?? false;
  const streamOptions = given(body, 'stream_options');
  let includeUsage = false;
  if (streamOptions !== undefined) {
    if (!isRecord(streamOptions)) throw badParam('stream_options', `expected an object, got ${describe(streamOptions)}`);
    if (!stream) throw badParam('stream_options', 'only allowed when stream is true');
    includeUsage = boolean(streamOptions, 'include_usage') ?? false;
  }
  return { options, n, stream, includeUsage };
}

/** One message's text: a string, or text parts joined. */
function messageText(content: unknown, at: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badParam(at, `expected a string or an array of content parts, got ${describe(content)}`);
  return content.map((part, j) => {
    if (!isRecord(part) || part.type !== 'text' || typeof part.text !== 'string') {
      throw badParam(`${at}[${j}]`, `only text parts ({type: 'text', text}) are supported, got ${isRecord(part) ? `type ${describe(part.type)}` : describe(part)}`);
    }
    return part.text;
  }).join('');
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

export function chatRequest(raw: unknown, vocabSize: number): ChatRequest {
  const body = requestBody(raw);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw badParam('messages', `expected a non-empty array of messages, got ${describe(messages)}`);
  const out: ChatMessage[] = messages.map((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isRecord(m)) throw badParam(at, `expected a message object, got ${describe(m)}`);
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) throw badParam(`${at}.role`, `expected one of ${[...ROLES].join(', ')}, got ${describe(m.role)}`);
    // 'developer' is the newer name of 'system'; tool_calls / tool_call_id become toolCalls / toolCallId (what
    // chat() renders for the template); other fields (name) go to the template as they are
    const { tool_calls: calls, tool_call_id: callId, ...rest } = m;
    const message: ChatMessage & Record<string, unknown> = { ...rest, role: m.role === 'developer' ? 'system' : m.role, content: messageText(m.content, `${at}.content`) };
    if (calls !== undefined) {
      if (!Array.isArray(calls)) throw badParam(`${at}.tool_calls`, `expected an array, got ${describe(calls)}`);
      message.toolCalls = calls.map((c: unknown, j) => {
        if (!isRecord(c) || typeof c.id !== 'string' || !isRecord(c.function) || typeof c.function.name !== 'string' || typeof c.function.arguments !== 'string') {
          throw badParam(`${at}.tool_calls[${j}]`, "expected {id, type: 'function', function: {name, arguments}}");
        }
        return { id: c.id, name: c.function.name, arguments: c.function.arguments };
      });
    }
    if (callId !== undefined) {
      if (typeof callId !== 'string') throw badParam(`${at}.tool_call_id`, `expected a string, got ${describe(callId)}`);
      message.toolCallId = callId;
    }
    return message;
  });
  const req = generation(body, vocabSize, ['max_tokens', 'max_completion_tokens']);
  const logprobs = boolean(body, 'logprobs') ?? false;
  const top = number(body, 'top_logprobs', 0, 20, true);
  if (top !== undefined && !logprobs) throw badParam('top_logprobs', 'requires logprobs: true');
  const options = req.options;

  const format = given(body, 'response_format');
  if (format !== undefined) {
    if (!isRecord(format) || !['text', 'json_object', 'json_schema'].includes(format.type as string)) {
      throw badParam('response_format', `expected {type: 'text' | 'json_object' | 'json_schema'}, got ${describe(isRecord(format) ? format.type : format)}`);
    }
    if (format.type === 'json_object') options.responseFormat = { type: 'json_object' };
    if (format.type === 'json_schema') {
      const js = format.json_schema;
      if (!isRecord(js) || !isRecord(js.schema)) throw badParam('response_format.json_schema.schema', 'expected a JSON Schema object');
      options.responseFormat = { type: 'json_schema', schema: js.schema };
    }
  }
  const tools = given(body, 'tools');
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw badParam('tools', `expected an array, got ${describe(tools)}`);
    options.tools = tools.map((t: unknown, i) => {
      if (!isRecord(t) || t.type !== 'function' || !isRecord(t.function) || typeof t.function.name !== 'string') {
        throw badParam(`tools[${i}]`, "expected {type: 'function', function: {name, description?, parameters?}}");
      }
      return { type: 'function', function: { name: t.function.name, description: t.function.description, parameters: t.function.parameters } };
    });
  }
  const choice = given(body, 'tool_choice');
  if (choice !== undefined) {
    if (choice === 'none' || choice === 'auto' || choice === 'required') options.toolChoice = choice;
    else if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') {
      options.toolChoice = { type: 'function', function: { name: choice.function.name } };
    } else throw badParam('tool_choice', `expected 'none', 'auto', 'required' or {type: 'function', function: {name}}, got ${describe(choice)}`);
  }
  return { ...req, messages: out, topLogprobs: logprobs ? (top ?? 0) : undefined };
}

/** A prompt or a list of them: text, token ids, or lists of either. */
function prompts(v: unknown, name: string, vocabSize: number): Prompt[] {
  const ids = (a: unknown[], at: string): number[] => a.map((x, j) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= vocabSize) throw badParam(`${at}[${j}]`, `expected a token id (0 to ${vocabSize - 1}), got ${describe(x)}`);
    return x;
  });
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0) {
    if (v.every((x) => typeof x === 'string')) return v as string[];
    if (v.every((x) => typeof x === 'number')) return [ids(v, name)];
    if (v.every(Array.isArray)) return v.map((x: unknown[], i) => ids(x, `${name}[${i}]`));
  }
  throw badParam(name, `expected a string, an array of strings, an array of token ids or an array of those, got ${describe(v)}`);
}

export function completionRequest(raw: unknown, vocabSize: number): CompletionRequest {
  const body = requestBody(raw);
  const list = prompts(body.prompt, 'prompt', vocabSize);
  if (list.some((p) => p.length === 0)) throw badParam('prompt', 'a prompt is empty');
  const req = generation(body, vocabSize, ['max_tokens']);
  // OpenAI's completions default: 16 tokens
  req.options.maxTokens ??= 16;
  const bestOf = number(body, 'best_of', 1, MAX_N, true);
  if (bestOf !== undefined && bestOf !== req.n) throw badParam('best_of', 'is not supported (other than equal to n)');
  if (given(body, 'suffix') !== undefined) throw badParam('suffix', 'is not supported');
  const top = number(body, 'logprobs', 0, 5, true);
  return { ...req, prompts: list, echo: boolean(body, 'echo') ?? false, topLogprobs: top };
}

export function embeddingRequest(raw: unknown, vocabSize: number, dimensions: number): EmbeddingRequest {
  const body = requestBody(raw);
  const inputs = prompts(body.input, 'input', vocabSize);
  if (inputs.some((p) => p.length === 0)) throw badParam('input', 'an input is empty');
  const format = given(body, 'encoding_format') ?? 'float';
  if (format !== 'float' && format !== 'base64') throw badParam('encoding_format', `expected 'float' or 'base64', got ${describe(format)}`);
  const dims = number(body, 'dimensions', 1, Number.MAX_SAFE_INTEGER, true);
  if (dims !== undefined && dims !== dimensions) throw badParam('dimensions', `this model's embeddings have ${dimensions} dimensions, got ${dims}`);
  return { inputs, base64: format === 'base64' };
}
