export { loadModel, Model, DEFAULT_MODEL_URL } from './model.js';
export type { LoadOptions, ModelInfo, Prompt, EmbedOptions, Adapter } from './model.js';
export type { GenerateOptions, CompleteResult, FinishReason, Timings } from './generate/generator.js';
export type { SamplingOptions } from './generate/sampler.js';
export { renderChat, CHATML_TEMPLATE } from './generate/chat.js';
export type { ChatMessage, ChatTemplateOptions } from './generate/chat.js';
export type { ToolDefinition, ToolChoice, ToolCall, ToolOptions, ChatOptions, ChatResult } from './generate/tools.js';
export type { JsonSchema, ObjectOptions, DeepPartial } from './generate/object.js';
export { WasmlmError, isWasmlmError } from './errors.js';
export type { WasmlmErrorCode } from './errors.js';
export type { ModelSource } from './formats/source.js';
export { readGGUF, GGUFValueType } from './formats/gguf.js';
export type { GGUFHeader, GGUFTensorInfo, GGUFMetaValue } from './formats/gguf.js';
export { encodeGGUF, writeGGUFFile } from './formats/gguf-writer.js';
export type { GGUFWriteTensor, GGUFMetaEntry } from './formats/gguf-writer.js';
export { quantizeTensor, dequantize } from './formats/quantize.js';
export { convertLlama2c } from './formats/llama2c.js';
export { loadTokenizer } from './tokenizer/load.js';
export type { TokenizerSource, LoadTokenizerOptions } from './tokenizer/load.js';
export type { Tokenizer, EncodeOptions, DecodeOptions, StreamDecoder } from './tokenizer/types.js';
export { segmentSentences, segmentWords } from './tokenizer/segment.js';
// the browser entry's additions, typed here too (the "browser" condition of the package serves
// dist/browser.js, whose loadModel runs the model in a Web Worker; the cache functions do nothing outside browsers)
export { cachedModels, clearModelCache } from './browser/cache.js';
export type { ModelLike } from './browser/proxy.js';
export type { BrowserLoadOptions } from './browser/index.js';
