/** Chat templates: the model's own Jinja template (tokenizer.chat_template), rendered by @huggingface/jinja. */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ToolCall, ToolDefinition } from './tools.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  /** the text ('' for an assistant reply that is only tool calls) */
  content: string;
  /** an assistant reply's tool calls (as chat() returned them in `toolCalls`) */
  toolCalls?: ToolCall[];
  /** a 'tool' message: the id of the call it answers */
  toolCallId?: string;
}

export interface ChatTemplateOptions {
  /** a template to use instead of the model's */
  chatTemplate?: string;
  /** end with the assistant's turn opened (default true) */
  addGenerationPrompt?: boolean;
  /**
   * most milliseconds rendering may take (default 1000): past it, a TEMPLATE_LIMIT error. Rendering is
   * synchronous: this limit, not an AbortSignal, is what stops a template that loops for ever.
   */
  templateTimeout?: number;
  /**
   * the longest string and the longest list a template may build, the output included, in characters
   * and items (default 1,000,000; `range()` of more items is refused before it is built); past it, a
   * TEMPLATE_LIMIT error
   */
  templateMaxLength?: number;
  /** checked before rendering and as it goes (an aborted signal: ABORTED) */
  signal?: AbortSignal;
  /** the template's `tools` variable (chat()'s `tools` option sets it; see tools.ts) */
  tools?: ToolDefinition[];
}

/** ChatML, what llama.cpp uses for models that carry no template. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export const DEFAULT_TEMPLATE_TIMEOUT_MS = 1000;
export const DEFAULT_TEMPLATE_MAX_LENGTH = 1_000_000;

/** Parsed templates, the most recently used last; a few are kept. */
const compiled = new Map<string, Template>();
const COMPILED_KEPT = 16;

function parsed(source: string): Template {
  let template = compiled.get(source);
  if (template) {
    compiled.delete(source);
  } else {
    template = new Template(source);
    if (compiled.size >= COMPILED_KEPT) compiled.delete(compiled.keys().next().value!);
  }
  compiled.set(source, template);
  return template;
}

type RuntimeValue = { type: string; value: unknown };

/** The interpreter's surface used here (its .d.ts imports './runtime' without an extension: not resolved under nodenext). */
const InterpreterBase = Interpreter as unknown as new (env: Environment) => {
  run(program: unknown): RuntimeValue;
  evaluate(node: unknown, env: Environment): RuntimeValue;
  evaluateBlock(statements: unknown, env: Environment): RuntimeValue;
};

/**
 * @huggingface/jinja's interpreter with a budget: every node and block it evaluates counts, and every 64
 * the clock and the signal are read; every string or list a node yields is measured. Errors thrown from
 * here pass through the interpreter untouched (it catches only its loop controls).
 */
class BoundedInterpreter extends InterpreterBase {
  private steps = 0;
  private readonly deadline: number;

  constructor(env: Environment, private readonly limits: { timeout: number; maxLength: number; signal?: AbortSignal }) {
    super(env);
    this.deadline = performance.now() + limits.timeout;
  }

  /** Counts a step; every 64, reads the signal and the clock. */
  private tick(): void {
    if ((++this.steps & 63) !== 0) return;
    if (this.limits.signal?.aborted) throw new WasmlmError('ABORTED', 'rendering the chat template was aborted', { cause: this.limits.signal.reason });
    if (performance.now() > this.deadline) {
      throw new WasmlmError('TEMPLATE_LIMIT', `the chat template ran longer than templateTimeout (${this.limits.timeout} ms)`);
    }
  }

  /** (a loop's body is a block: an empty body still counts) */
  override evaluateBlock(statements: unknown, env: Environment): RuntimeValue {
    this.tick();
    return super.evaluateBlock(statements, env);
  }

  override evaluate(node: unknown, env: Environment): RuntimeValue {
    this.tick();
    const value = super.evaluate(node, env);
    const v = value.value;
    if ((typeof v === 'string' || Array.isArray(v)) && v.length > this.limits.maxLength) {
      throw new WasmlmError('TEMPLATE_LIMIT',
        `the chat template built a ${typeof v === 'string' ? 'string' : 'list'} of ${v.length} ${typeof v === 'string' ? 'characters' : 'items'}, ` +
        `more than templateMaxLength (${this.limits.maxLength})`);
    }
    return value;
  }
}

/** Python's range(), refusing to build more than `maxLength` items. */
function boundedRange(maxLength: number) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) { stop = start; start = 0; }
    for (const [name, v] of [['start', start], ['stop', stop], ['step', step]] as const) {
      if (!Number.isSafeInteger(v)) throw new WasmlmError('BAD_ARGUMENT', `chat template: range() ${name} must be an integer, got ${String(v)}`);
    }
    if (step === 0) throw new WasmlmError('BAD_ARGUMENT', 'chat template: range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (n > maxLength) {
      throw new WasmlmError('TEMPLATE_LIMIT', `the chat template asked for range() of ${n} items, more than templateMaxLength (${maxLength})`);
    }
    return Array.from({ length: n }, (_, i) => start + i * step);
  };
}

/** strftime_now(format): the current local time; %Y %m %d %b %B %H %M %% (as @huggingface/jinja has it). */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad2 = (n: number) => String(n).padStart(2, '0');
  return String(format).replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y': return String(d.getFullYear());
      case '%m': return pad2(d.getMonth() + 1);
      case '%d': return pad2(d.getDate());
      case '%b': return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(d);
      case '%B': return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(d);
      case '%H': return pad2(d.getHours());
      case '%M': return pad2(d.getMinutes());
      default: return '%';
    }
  });
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v > 0)) throw new WasmlmError('BAD_ARGUMENT', `${name} must be a positive number, got ${String(v)}`);
  return v;
}

/**
 * The messages rendered with `options.chatTemplate`, else the tokenizer's own template, else ChatML.
 * Bounded (see ChatTemplateOptions): a template that runs too long or builds too much is a
 * TEMPLATE_LIMIT WasmlmError, and the process and the model stay usable.
 */
export function renderChat(tokenizer: Tokenizer, messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new WasmlmError('EMPTY_PROMPT', 'chat needs at least one message');
  }
  const templateMessages = messages.map(templateMessage);
  const timeout = positive('templateTimeout', options.templateTimeout, DEFAULT_TEMPLATE_TIMEOUT_MS);
  const maxLength = positive('templateMaxLength', options.templateMaxLength, DEFAULT_TEMPLATE_MAX_LENGTH);
  if (options.signal?.aborted) throw new WasmlmError('ABORTED', 'rendering the chat template was aborted', { cause: options.signal.reason });
  const source = options.chatTemplate ?? tokenizer.chatTemplate ?? CHATML_TEMPLATE;
  try {
    const template = parsed(source);
    const piece = (id: number | undefined) => (id === undefined ? '' : tokenizer.idToPiece(id));
    const env = new Environment();
    const globals: Record<string, unknown> = {
      false: false, true: true, none: null, False: false, True: true, None: null,
      raise_exception: (message: unknown) => { throw new Error(String(message)); },
      range: boundedRange(maxLength),
      strftime_now: strftimeNow,
      messages: templateMessages,
      ...(options.tools === undefined ? {} : { tools: options.tools }),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: piece(tokenizer.special.bos),
      eos_token: piece(tokenizer.special.eos),
      unk_token: piece(tokenizer.special.unk),
      pad_token: piece(tokenizer.special.pad),
    };
    for (const [k, v] of Object.entries(globals)) env.set(k, v);
    const out = new BoundedInterpreter(env, { timeout, maxLength, signal: options.signal }).run(template.parsed);
    return String(out.value);
  } catch (e) {
    if (e instanceof WasmlmError) throw e;
    if (e instanceof RangeError) {
      // a string or list past what the engine can hold, built by one operation (e.g. a huge `indent`)
      throw new WasmlmError('TEMPLATE_LIMIT', `the chat template built a value too large: ${e.message}`, { cause: e });
    }
    throw new WasmlmError('BAD_ARGUMENT', `the chat template failed: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A message as templates read it: ours are checked, and tool calls and tool results are given the
 * names Hugging Face templates read (`tool_calls: [{ id, type, function: { name, arguments } }]` with
 * the arguments as an object, `tool_call_id`). Other messages go to the template as they are.
 */
export function templateMessage(m: ChatMessage, i: number): Record<string, unknown> {
  if (!m || typeof m.role !== 'string' || typeof m.content !== 'string') {
    throw new WasmlmError('BAD_ARGUMENT', `message ${i} must be { role: string, content: string }`);
  }
  if (m.toolCalls === undefined && m.toolCallId === undefined) return m as unknown as Record<string, unknown>;
  const { toolCalls, toolCallId, ...rest } = m;
  const out: Record<string, unknown> = { ...rest };
  if (toolCallId !== undefined) {
    if (typeof toolCallId !== 'string') throw new WasmlmError('BAD_ARGUMENT', `message ${i}: toolCallId must be a string, got ${typeof toolCallId}`);
    out.tool_call_id = toolCallId;
  }
  if (toolCalls !== undefined) {
    if (!Array.isArray(toolCalls)) throw new WasmlmError('BAD_ARGUMENT', `message ${i}: toolCalls must be an array`);
    out.tool_calls = toolCalls.map((c, j) => {
      const where = `message ${i}: toolCalls[${j}]`;
      if (!c || typeof c.name !== 'string' || typeof c.id !== 'string') {
        throw new WasmlmError('BAD_ARGUMENT', `${where} must be { id: string, name: string, arguments: string }`);
      }
      return { id: c.id, type: 'function', function: { name: c.name, arguments: argumentsObject(c.arguments, where) } };
    });
  }
  return out;
}

/** Tool-call arguments as an object (templates write them with `tojson`): from the JSON text, or as given. */
function argumentsObject(args: unknown, where: string): unknown {
  if (typeof args !== 'string') {
    if (args !== null && typeof args === 'object' && !Array.isArray(args)) return args;
    throw new WasmlmError('BAD_ARGUMENT', `${where}: arguments must be a JSON object's text (or the object), got ${Array.isArray(args) ? 'an array' : typeof args}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch (e) {
    throw new WasmlmError('BAD_ARGUMENT', `${where}: arguments is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new WasmlmError('BAD_ARGUMENT', `${where}: arguments must be a JSON object`);
  return v;
}

/** Token ids of a rendered chat: special-token text is read as tokens; BOS is not doubled. */
export function chatIds(tokenizer: Tokenizer, text: string): number[] {
  const ids = tokenizer.encode(text, { addSpecial: true, parseSpecial: true });
  const bos = tokenizer.special.bos;
  if (bos !== undefined && ids.length > 1 && ids[0] === bos && ids[1] === bos) ids.shift();
  return ids;
}
