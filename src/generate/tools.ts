/**
 * Tool calling in chat: OpenAI-shaped tool definitions go to the chat template (its `tools` variable,
 * as transformers and llama.cpp pass them), or, for a template that never shows them, into the system
 * message in the Hermes / Qwen format; the reply's tool calls are parsed (Hermes / Qwen `<tool_call>`,
 * Llama 3.1 JSON, Mistral `[TOOL_CALLS]`) into `toolCalls`. With toolChoice 'required' or a named
 * function, the assistant's turn is opened with the call's wrapper text of the template's format and
 * the call's JSON is generated under a JSON Schema built from the tools' parameter schemas (the
 * `responseFormat` option), so the arguments always validate.
 *
 * Functions over a text generator (`GenerateIds`), so a model and a session offer the same.
 */
import { kindOf, WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { chatIds, CHATML_TEMPLATE, renderChat, templateMessage, type ChatMessage, type ChatTemplateOptions } from './chat.js';
import type { CompleteResult, FinishReason, GenerateOptions } from './generator.js';
import type { JsonSchema } from '../grammar/index.js';
import { PartialJSON } from './partial-json.js';

/** A schema in its object form (a tool's parameters; what a forced call is generated under) */
type SchemaObject = Exclude<JsonSchema, boolean>;

/** A tool, as OpenAI's chat API defines one. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: SchemaObject };
}

/**
 * 'auto' (default): the model may call tools or answer; 'none': the tools are not shown and no call is
 * read; 'required': the reply is a call of one of the tools; `{ type: 'function', function: { name } }`:
 * the reply is a call of that tool. The last two generate the call under its parameter schema.
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** A tool call read from the reply. `arguments` is the JSON text of an object, as in OpenAI's API. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface ToolOptions {
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
}

export type ChatOptions = GenerateOptions & ChatTemplateOptions & ToolOptions;

export interface ChatResult extends Omit<CompleteResult, 'finishReason'> {
  /** 'tool_calls' when the reply ended after tool calls */
  finishReason: FinishReason | 'tool_calls';
  /** with tools: the calls the reply makes (possibly none) */
  toolCalls?: ToolCall[];
  /** with tools: the reply's text outside its tool calls, trimmed */
  content?: string;
}

/** Generates from token ids (a model's or a session's generate). */
export type GenerateIds = (ids: number[], options: GenerateOptions) => AsyncGenerator<string, CompleteResult>;

/**
 * How a template writes tool calls. 'hermes': `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`
 * (Hermes 2 Pro, Qwen 2.5 / 3, and what we describe to templates without tools); 'llama3': the reply is
 * `{"name": ..., "parameters": {...}}` (Llama 3.1 / 3.2 / 3.3); 'mistral': `[TOOL_CALLS][{"name": ...,
 * "arguments": {...}}, ...]`.
 */
export type ToolFormat = 'hermes' | 'llama3' | 'mistral';

/** The format a template's source writes tool calls in (read from the wrapper text it writes them with). */
export function toolFormatOf(templateSource: string): ToolFormat {
  if (templateSource.includes('[TOOL_CALLS]')) return 'mistral';
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (templateSource.includes('"parameters"')) return 'llama3';
  return 'hermes';
}

/**
 * JSON as templates write it with `tojson` (Python's json.dumps: ', ' and ': ' between items), which
 * is how models trained on those templates saw tools and calls.
 */
export function templateJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(templateJson).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}: ${templateJson(x)}`).join(', ')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Qwen 2.5's tool section (its system message), also Hermes 2 Pro's format: for templates without tools. */
export function hermesToolsText(tools: ToolDefinition[]): string {
  return '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
    'You are provided with function signatures within <tools></tools> XML tags:\n<tools>' +
    tools.map((t) => '\n' + templateJson(t)).join('') +
    '\n</tools>\n\nFor each function call, return a json object with function name and arguments within ' +
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';
}

function checkTools(options: ToolOptions): { tools: ToolDefinition[]; choice: ToolChoice } | undefined {
  const { tools, toolChoice } = options;
  if (tools === undefined) {
    if (toolChoice !== undefined && toolChoice !== 'none' && toolChoice !== 'auto') {
      throw new WasmlmError('BAD_ARGUMENT', 'toolChoice needs tools');
    }
    return undefined;
  }
  if (!Array.isArray(tools)) throw new WasmlmError('BAD_ARGUMENT', `tools must be an array, got ${kindOf(tools)}`);
  const names = new Set<string>();
  tools.forEach((t, i) => {
    const f = (t as Partial<ToolDefinition> | null)?.function;
    if (!t || t.type !== 'function' || !f || typeof f !== 'object') {
      throw new WasmlmError('BAD_ARGUMENT', `tools[${i}] must be { type: 'function', function: { name, description?, parameters? } }`);
    }
    if (typeof f.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(f.name)) {
      throw new WasmlmError('BAD_ARGUMENT', `tools[${i}].function.name must be 1 to 64 of a-z, A-Z, 0-9, _ . -, got ${JSON.stringify(f.name)}`);
    }
    if (names.has(f.name)) throw new WasmlmError('BAD_ARGUMENT', `tools[${i}]: a second tool named ${JSON.stringify(f.name)}`);
    names.add(f.name);
    if (f.description !== undefined && typeof f.description !== 'string') {
      throw new WasmlmError('BAD_ARGUMENT', `tools[${i}].function.description must be a string`);
    }
    if (f.parameters !== undefined && (f.parameters === null || typeof f.parameters !== 'object' || Array.isArray(f.parameters))) {
      throw new WasmlmError('BAD_ARGUMENT', `tools[${i}].function.parameters must be a JSON Schema object`);
    }
  });
  const choice = toolChoice ?? 'auto';
  if (typeof choice === 'string') {
    if (choice !== 'auto' && choice !== 'none' && choice !== 'required') {
      throw new WasmlmError('BAD_ARGUMENT', `toolChoice must be 'auto', 'none', 'required' or { type: 'function', function: { name } }, got ${JSON.stringify(choice)}`);
    }
  } else {
    const name = (choice as { function?: { name?: unknown } } | null)?.function?.name;
    if (choice === null || typeof choice !== 'object' || choice.type !== 'function' || typeof name !== 'string') {
      throw new WasmlmError('BAD_ARGUMENT', "toolChoice must be 'auto', 'none', 'required' or { type: 'function', function: { name } }");
    }
    if (!names.has(name)) throw new WasmlmError('BAD_ARGUMENT', `toolChoice names the function ${JSON.stringify(name)}, which is not in tools`);
  }
  if (choice === 'required' && tools.length === 0) throw new WasmlmError('BAD_ARGUMENT', "toolChoice 'required' needs at least one tool");
  return { tools, choice };
}

/**
 * The messages rewritten for a template that does not show tools: the tools described in the system
 * message, calls written as `<tool_call>` text, results as `<tool_response>` user turns (Qwen's way).
 */
function hermesMessages(messages: ChatMessage[], tools: ToolDefinition[]): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) return messages; // (renderChat says what is wrong)
  const out: ChatMessage[] = [];
  const toolsText = hermesToolsText(tools);
  const first = messages[0]!;
  if (first?.role === 'system') out.push({ role: 'system', content: `${first.content}\n\n${toolsText}` });
  else out.push({ role: 'system', content: toolsText });
  messages.forEach((m, i) => {
    const calls = templateMessage(m, i).tool_calls as { function: { name: string; arguments: unknown } }[] | undefined;
    if (i === 0 && m.role === 'system') return;
    if (m.role === 'tool') {
      const response = `<tool_response>\n${m.content}\n</tool_response>`;
      const last = out[out.length - 1]!;
      // consecutive results share one user turn
      if (last.role === 'user' && last.content.endsWith('</tool_response>') && last.content.startsWith('<tool_response>')) {
        last.content += `\n${response}`;
      } else {
        out.push({ role: 'user', content: response });
      }
    } else if (calls?.length) {
      const text = calls.map((c) => `<tool_call>\n${templateJson({ name: c.function.name, arguments: c.function.arguments })}\n</tool_call>`);
      out.push({ role: m.role, content: [m.content, ...text].filter((s) => s !== '').join('\n') });
    } else {
      out.push({ role: m.role, content: m.content });
    }
  });
  return out;
}

/**
 * The JSON Schema of one call (`{ name, <argsKey> }`) of any of `tools`. A tool's parameter schema
 * is placed inside it; one that refers to itself (`$ref` to `#`, `#/$defs/...`, `#/definitions/...`)
 * has its definitions moved to the root under its own prefix and those references rewritten, so they
 * still point where they did. (`$schema` is dropped: it belongs at a document's root.)
 */
function callSchema(tools: ToolDefinition[], argsKey: 'arguments' | 'parameters'): SchemaObject {
  const defs: Record<string, unknown> = {};
  const one = tools.map((t, i): SchemaObject => ({
    type: 'object',
    properties: { name: { const: t.function.name }, [argsKey]: embedded(t.function.parameters ?? { type: 'object' }, t.function.name, defs) },
    required: ['name', argsKey],
    additionalProperties: false,
  }));
  const schema = one.length === 1 ? one[0]! : { anyOf: one };
  return Object.keys(defs).length > 0 ? { ...schema, $defs: defs } : schema;
}

/** `schema` to place inside another: as it is, or (if it has references) a `$ref` to its copy in `defs`. */
function embedded(schema: SchemaObject, prefix: string, defs: Record<string, unknown>): SchemaObject {
  const { $schema: _, $defs, definitions, ...body } = schema;
  if (!JSON.stringify(schema).includes('"$ref"')) return body;
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => {
      if (k !== '$ref' || typeof x !== 'string') return [k, rewrite(x)];
      if (x !== '#' && !x.startsWith('#/')) {
        throw new WasmlmError('BAD_ARGUMENT', `tool ${prefix}'s parameters: only references inside the schema (#...) are supported, got ${JSON.stringify(x)}`);
      }
      const m = /^#\/(\$defs|definitions)\/(.*)$/.exec(x);
      return [k, m ? `#/$defs/${prefix}_${m[1] === '$defs' ? '' : 'd_'}${m[2]}` : `#/$defs/${prefix}${x.slice(1)}`];
    }));
  };
  defs[prefix] = rewrite(body);
  for (const [k, d] of Object.entries(($defs ?? {}) as Record<string, unknown>)) defs[`${prefix}_${k}`] = rewrite(d);
  for (const [k, d] of Object.entries((definitions ?? {}) as Record<string, unknown>)) defs[`${prefix}_d_${k}`] = rewrite(d);
  return { $ref: `#/$defs/${prefix}` };
}

/** How a forced call (one) is written in a format: the text that opens it, its JSON's schema, the text that closes it. */
function forcedCall(format: ToolFormat, tools: ToolDefinition[]): { prefix: string; schema: SchemaObject; suffix: string } {
  switch (format) {
    case 'hermes': return { prefix: '<tool_call>\n', schema: callSchema(tools, 'arguments'), suffix: '\n</tool_call>' };
    case 'llama3': return { prefix: '', schema: callSchema(tools, 'parameters'), suffix: '' };
    case 'mistral': return { prefix: '[TOOL_CALLS][', schema: callSchema(tools, 'arguments'), suffix: ']' };
  }
}

/** A new call id: 9 letters and digits (what Mistral's templates require; any template takes it). */
export function newToolCallId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/** The JSON value that starts at `text[start]` (after whitespace) and where it ends, or undefined. */
function jsonAt(text: string, start: number): { value: unknown; end: number } | undefined {
  const parser = new PartialJSON();
  let i = start;
  try {
    while (i < text.length && !parser.done) {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      parser.push(ch);
      i += ch.length;
    }
    if (!parser.done) return undefined;
  } catch {
    return undefined;
  }
  return { value: parser.value, end: i };
}

/** One call from its JSON (`{ name, arguments | parameters, id? }`), or undefined if it is not one. */
function callOf(v: unknown): ToolCall | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.name !== 'string') return undefined;
  let args = o.arguments ?? o.parameters ?? {};
  if (typeof args === 'string') {
    // some models write the arguments as a JSON string
    try { args = JSON.parse(args); } catch { return undefined; }
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return undefined;
  const id = typeof o.id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(o.id) ? o.id : newToolCallId();
  return { id, name: o.name, arguments: JSON.stringify(args) };
}

/**
 * The tool calls in a reply (its text with special tokens shown), in any of the three forms, and the
 * text outside them. Hermes / Qwen: every `<tool_call>{json}</tool_call>` (the last may lack its closing
 * tag); Mistral: `[TOOL_CALLS]` then a JSON array of calls; Llama 3.1: the whole reply (after an optional
 * `<|python_tag|>`) is one or more call objects (separated by `;` or whitespace) naming known tools
 * (`names`), so that a reply that merely is JSON is not read as a call. A call whose JSON does not
 * parse is not a call: its text stays in `content`.
 */
export function parseToolCalls(text: string, names: ReadonlySet<string>): { toolCalls: ToolCall[]; content: string } {
  const toolCalls: ToolCall[] = [];
  let content = '';
  if (text.includes('<tool_call>')) {
    let at = 0;
    for (;;) {
      const open = text.indexOf('<tool_call>', at);
      if (open < 0) break;
      const body = jsonAt(text, open + '<tool_call>'.length);
      const call = body && callOf(body.value);
      const rest = body && /^\s*(<\/tool_call>|$)/.exec(text.slice(body.end));
      if (!call || !rest) {
        content += text.slice(at, open + '<tool_call>'.length);
        at = open + '<tool_call>'.length;
        continue;
      }
      toolCalls.push(call);
      content += text.slice(at, open);
      at = body.end + rest[0].length;
    }
    content += text.slice(at);
    return { toolCalls, content: content.trim() };
  }
  const mistral = text.indexOf('[TOOL_CALLS]');
  if (mistral >= 0) {
    const list = jsonAt(text, mistral + '[TOOL_CALLS]'.length);
    const calls = list && Array.isArray(list.value) ? list.value.map(callOf) : [];
    if (list && calls.length > 0 && calls.every((c) => c !== undefined)) {
      return { toolCalls: calls as ToolCall[], content: (text.slice(0, mistral) + text.slice(list.end)).trim() };
    }
    return { toolCalls, content: text.trim() };
  }
  // Llama 3.1: the whole reply is calls
  const body = text.trim().replace(/^<\|python_tag\|>/, '');
  let at = 0;
  while (at < body.length) {
    const v = jsonAt(body, at);
    const call = v && callOf(v.value);
    if (!call || !names.has(call.name)) return { toolCalls: [], content: text.trim() };
    toolCalls.push(call);
    at = v.end;
    const sep = /^\s*;?\s*/.exec(body.slice(at))!;
    at += sep[0].length;
  }
  return { toolCalls, content: toolCalls.length > 0 ? '' : text.trim() };
}

/**
 * Chat with tools: renders (synchronously: template errors throw here), then returns the stream of
 * the reply's text. Without tools (none given, an empty list, or toolChoice 'none') it is plain chat; with them the result
 * carries `toolCalls` and `content`. With 'required' or a named function, the stream begins with the
 * call's opening text (which the prompt ends with) and ends with its closing text, so the pieces
 * still add up to `text`.
 */
export function chatStream(generate: GenerateIds, tokenizer: Tokenizer, messages: ChatMessage[],
  options: ChatOptions = {}): AsyncGenerator<string, ChatResult> {
  if (options === null || typeof options !== 'object') {
    throw new WasmlmError('BAD_ARGUMENT', `chat options must be an object, got ${kindOf(options)}`);
  }
  const { tools: _tools, toolChoice: _choice, ...rest } = options;
  const checked = checkTools(options);
  if (!checked || checked.choice === 'none' || checked.tools.length === 0) {
    const stream = generate(chatIds(tokenizer, renderChat(tokenizer, messages, rest)), rest);
    return checked ? withCalls(stream, tokenizer, new Set(), undefined) : stream;
  }
  const { tools, choice } = checked;
  for (const name of ['responseFormat', 'grammar']) {
    if ((rest as Record<string, unknown>)[name] !== undefined) {
      throw new WasmlmError('BAD_ARGUMENT', `${name} cannot be combined with tools (toolChoice 'required' or a named function constrains the call)`);
    }
  }
  // does the template show the tools? (a template that never reads `tools` renders the same without them)
  const probe: ChatMessage[] = [{ role: 'user', content: 'x' }];
  const shows = renderChat(tokenizer, probe, { ...rest, tools }) !== renderChat(tokenizer, probe, rest);
  const source = rest.chatTemplate ?? tokenizer.chatTemplate ?? CHATML_TEMPLATE;
  const format = shows ? toolFormatOf(source) : 'hermes';
  let prompt = shows
    ? renderChat(tokenizer, messages, { ...rest, tools })
    : renderChat(tokenizer, hermesMessages(messages, tools), rest);
  const names = new Set(tools.map((t) => t.function.name));
  if (choice === 'auto') return withCalls(generate(chatIds(tokenizer, prompt), rest), tokenizer, names, undefined);
  const chosen = choice === 'required' ? tools : tools.filter((t) => t.function.name === choice.function.name);
  const forced = forcedCall(format, chosen);
  prompt += forced.prefix;
  const stream = generate(chatIds(tokenizer, prompt), { ...rest, responseFormat: { type: 'json_schema', schema: forced.schema } } as GenerateOptions);
  return withCalls(stream, tokenizer, names, forced);
}

/** The stream with the calls read from it at the end (and a forced call's wrapper text around it). */
async function* withCalls(stream: AsyncGenerator<string, CompleteResult>, tokenizer: Tokenizer, names: ReadonlySet<string>,
  forced: { prefix: string; suffix: string } | undefined): AsyncGenerator<string, ChatResult> {
  let finished = false;
  try {
    if (forced?.prefix) yield forced.prefix;
    let result: CompleteResult;
    for (;;) {
      const step = await stream.next();
      if (step.done) { result = step.value; break; }
      yield step.value;
    }
    finished = true;
    const ended = result.finishReason === 'eos' || result.finishReason === 'stop';
    const suffix = forced && ended ? forced.suffix : '';
    if (suffix) yield suffix;
    if (names.size === 0) return { ...result, toolCalls: [], content: result.text.trim() };
    // special tokens shown: [TOOL_CALLS] and <|python_tag|> are control tokens in their vocabularies
    const shown = (forced?.prefix ?? '') + tokenizer.decode(result.tokens, { skipSpecial: false }) + suffix;
    const { toolCalls, content } = parseToolCalls(shown, names);
    return {
      ...result,
      text: (forced?.prefix ?? '') + result.text + suffix,
      finishReason: toolCalls.length > 0 && ended ? 'tool_calls' : result.finishReason,
      toolCalls,
      content,
    };
  } finally {
    if (!finished) await stream.return(undefined as never);
  }
}
