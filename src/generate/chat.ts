/** Chat templates: the model's own Jinja template (tokenizer.chat_template), rendered by @huggingface/jinja. */
import { Template } from '@huggingface/jinja';
import { WasmlmError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface ChatTemplateOptions {
  /** a template to use instead of the model's */
  chatTemplate?: string;
  /** end with the assistant's turn opened (default true) */
  addGenerationPrompt?: boolean;
}

/** ChatML, what llama.cpp uses for models that carry no template. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const compiled = new Map<string, Template>();

export function renderChat(tokenizer: Tokenizer, messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new WasmlmError('EMPTY_PROMPT', 'chat needs at least one message');
  }
  messages.forEach((m, i) => {
    if (!m || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new WasmlmError('BAD_ARGUMENT', `message ${i} must be { role: string, content: string }`);
    }
  });
  const source = options.chatTemplate ?? tokenizer.chatTemplate ?? CHATML_TEMPLATE;
  let template = compiled.get(source);
  try {
    if (!template) {
      template = new Template(source);
      compiled.set(source, template);
    }
    const piece = (id: number | undefined) => (id === undefined ? '' : tokenizer.idToPiece(id));
    return template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: piece(tokenizer.special.bos),
      eos_token: piece(tokenizer.special.eos),
      unk_token: piece(tokenizer.special.unk),
      pad_token: piece(tokenizer.special.pad),
    });
  } catch (e) {
    if (e instanceof WasmlmError) throw e;
    throw new WasmlmError('BAD_ARGUMENT', `the chat template failed: ${(e as Error).message}`, { cause: e });
  }
}

/** Token ids of a rendered chat: special-token text is read as tokens; BOS is not doubled. */
export function chatIds(tokenizer: Tokenizer, text: string): number[] {
  const ids = tokenizer.encode(text, { addSpecial: true, parseSpecial: true });
  const bos = tokenizer.special.bos;
  if (bos !== undefined && ids.length > 1 && ids[0] === bos && ids[1] === bos) ids.shift();
  return ids;
}
