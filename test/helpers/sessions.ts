/**
 * The cross-runtime session round trip (issue 11): a session saved here in Node goes to a runtime's
 * conformance run (env.session), which restores and continues it; the session that runtime saved comes
 * back in the check's detail and is restored and continued here. Greedy: identical tokens both ways.
 */
import { expect } from 'vitest';
import { loadModel } from '../../src/index.js';
import { fromBase64, SESSION_CHECK, SESSION_CONTINUE, SESSION_FIRST, toBase64 } from './conformance.js';

const PROMPT = 'Once upon a time';

export interface SavedSession { saved: string; context: number[]; cached: number; expected: number[] }

/** A session of the embedded model saved in Node after the prompt and 20 greedy tokens, and how it continues. */
export async function nodeSession(): Promise<SavedSession> {
  const m = await loadModel(undefined, { threads: 1 });
  try {
    const s = m.createSession();
    const first = await s.complete(PROMPT, SESSION_FIRST);
    const saved = toBase64(await s.save());
    const context = [...m.tokenizer.encode(PROMPT, { addSpecial: true }), ...first.tokens];
    const r = await s.complete(context, SESSION_CONTINUE);
    return { saved, context, cached: r.timings.cachedTokens, expected: r.tokens };
  } finally {
    m.dispose();
  }
}

/** The runtime's saved session (the session check's detail), restored in Node: it continues as Node's own. */
export async function expectRestoresInNode(results: { name: string; ok: boolean; detail?: string }[], mine: SavedSession): Promise<void> {
  const r = results.find((x) => x.name === SESSION_CHECK);
  expect(r?.ok, r?.detail).toBe(true);
  const m = await loadModel(undefined, { threads: 1 });
  try {
    const s = await m.restoreSession(fromBase64(r!.detail!));
    const got = await s.complete(mine.context, SESSION_CONTINUE);
    expect(got.tokens).toEqual(mine.expected);
    expect(got.timings.cachedTokens).toBe(mine.cached);
  } finally {
    m.dispose();
  }
}
