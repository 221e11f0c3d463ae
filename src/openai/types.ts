/**
 * The OpenAI API's shapes that wasmlm reads and writes (the `openai` npm package 7.x names them; these are
 * structurally compatible with its types, and the package is not needed at run time).
 */

/** A message in `messages`: content as text, or as text parts (other part types are refused). */
export interface ChatCompletionMessageParam {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';
  content?: string | ReadonlyArray<{ type: string; text?: string }> | null;
  name?: string;
  tool_call_id?: string;
  tool_calls?: ReadonlyArray<{ id: string; type?: string; function?: { name: string; arguments: string } }>;
}

export interface ResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: { name?: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string };
}

export interface ChatCompletionTool {
  type: 'function' | (string & {});
  function?: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } } | { type: string };

/** What chat.completions.create and completions.create share. */
export interface SamplingParams {
  model?: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | ReadonlyArray<string> | null;
  seed?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  user?: string;
}

export interface ChatCompletionCreateParams extends SamplingParams {
  messages: ReadonlyArray<ChatCompletionMessageParam>;
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  response_format?: ResponseFormat;
  tools?: ReadonlyArray<ChatCompletionTool>;
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
}

export interface CompletionCreateParams extends SamplingParams {
  prompt: string | ReadonlyArray<string> | ReadonlyArray<number> | ReadonlyArray<ReadonlyArray<number>> | null;
  /** how many alternatives to report per token (0..20) */
  logprobs?: number | null;
  echo?: boolean | null;
  suffix?: string | null;
  best_of?: number | null;
}

export interface EmbeddingCreateParams {
  input: string | ReadonlyArray<string> | ReadonlyArray<number> | ReadonlyArray<ReadonlyArray<number>>;
  model?: string;
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

export interface TopLogprob { token: string; bytes: number[] | null; logprob: number }
export interface ChatCompletionTokenLogprob extends TopLogprob { top_logprobs: TopLogprob[] }
export interface ChoiceLogprobs { content: ChatCompletionTokenLogprob[] | null; refusal: null }

export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ChatCompletionMessageToolCall[] };
    logprobs: ChoiceLogprobs | null;
    finish_reason: ChatFinishReason;
  }>;
  usage: CompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: Array<{
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }>;
    };
    logprobs?: ChoiceLogprobs | null;
    finish_reason: ChatFinishReason | null;
  }>;
  usage?: CompletionUsage | null;
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: Array<{ index: number; text: string; logprobs: CompletionLogprobs | null; finish_reason: 'stop' | 'length' }>;
  usage?: CompletionUsage;
}

/** A chunk of a streamed completion: finish_reason null until the choice's last chunk. */
export interface CompletionChunk extends Omit<Completion, 'choices'> {
  choices: Array<Omit<Completion['choices'][number], 'finish_reason'> & { finish_reason: 'stop' | 'length' | null }>;
}

export interface Embedding { object: 'embedding'; index: number; embedding: number[] }

export interface CreateEmbeddingResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelObject { id: string; object: 'model'; created: number; owned_by: string }

/** An error in OpenAI's shape: the body of an error response, `{ error: ... }`. */
export interface ErrorObject { message: string; type: string; param: string | null; code: string | null }

/** A stream of chunks (what `create({ stream: true })` resolves to): iterate it; `controller.abort()` stops it. */
export interface ChunkStream<T> extends AsyncIterable<T> {
  controller: AbortController;
}

export interface RequestOptions { signal?: AbortSignal | null }
