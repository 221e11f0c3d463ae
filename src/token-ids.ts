/** The check every API that takes token ids makes (Model, and the browser proxy before it posts them). */
import { kindOf, WasmlmError } from './errors.js';

/** Throws unless `ids` is an array or typed array (what decode() and other readers of token ids take). */
export function checkIdArray(ids: unknown, what = 'token ids'): asserts ids is ArrayLike<number> {
  if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView))) {
    throw new WasmlmError('BAD_ARGUMENT', `expected an array of ${what}, got ${kindOf(ids)}`);
  }
}

/** ids as a plain array, after checking it is a non-empty array of integers in [0, vocabSize). */
export function tokenIdList(ids: unknown, vocabSize: number): number[] {
  checkIdArray(ids);
  const list = Array.from(ids as ArrayLike<number>);
  if (list.length === 0) throw new WasmlmError('EMPTY_PROMPT', 'the prompt has no tokens');
  list.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new WasmlmError('TOKEN_OUT_OF_RANGE', `token id ${id} at index ${i} is outside the vocabulary (0..${vocabSize - 1})`);
    }
  });
  return list;
}
