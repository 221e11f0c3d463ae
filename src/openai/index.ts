/** The OpenAI-compatible surface: the in-process client and the fetch handler. */
export { createOpenAI } from './client.js';
export type { OpenAILike } from './client.js';
export type { OpenAIServiceOptions } from './service.js';
export { createHandler } from './handler.js';
export type { HandlerOptions, OpenAIHandler, RequestLogEntry } from './handler.js';
export { OpenAIError } from './errors.js';
export type * from './types.js';
