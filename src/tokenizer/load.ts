/** loadTokenizer: a tokenizer alone, from a GGUF file (vocab-only files too). */
import { WasmlmError } from '../errors.js';
import { readGGUF } from '../formats/gguf.js';
import { describeSource, type ModelSource } from '../formats/source.js';
import { tokenizerFromGGUF } from './gguf.js';
import type { Tokenizer } from './types.js';

export async function loadTokenizer(source: ModelSource, options: { signal?: AbortSignal } = {}): Promise<Tokenizer> {
  try {
    return tokenizerFromGGUF(await readGGUF(source, options));
  } catch (e) {
    if (e instanceof WasmlmError) throw new WasmlmError(e.code, `${describeSource(source)}: ${e.message}`, { cause: e });
    throw e;
  }
}
