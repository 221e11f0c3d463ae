/**
 * The input kinds the fuzzer knows, in one place. A kind is
 *   { name, about, generate(rng, ctx) -> { desc, input }, setup?(input, ctx), run(input, ctx) -> { status, wrong? } }
 * generate makes one case from the case's own random source (so a case replays from its seed,
 * kind and index alone); run feeds it to the built package (ctx.pkg) and returns 'accepted', or
 * 'wrong' with what is wrong, or throws (the harness sorts the exception). A kind may set
 * ctx.sourceName to the text a typed error's message should contain. A new input (safetensors
 * headers, session bytes, grammars, schemas, HTTP requests) is a module here and one line below.
 */
import { gguf } from './gguf.mjs';
import { tokenizerJson } from './tokenizer-json.mjs';
import { strings } from './strings.mjs';
import { api } from './api.mjs';

export const KINDS = Object.fromEntries([gguf, tokenizerJson, strings, api].map((k) => [k.name, k]));
