/**
 * Known findings accepted as expected failures while a fix is under way elsewhere: one entry per
 * class ({ kind, status, owner, what, match(result) }), naming who fixes it. Empty: every finding
 * fails the run. Crashes and hangs can never be listed: isKnown ignores them.
 */
const msg = (r) => String(r.message ?? r.wrong ?? '');

export const KNOWN = [];

export function isKnown(r) {
  if (r.status !== 'other' && r.status !== 'wrong') return undefined;
  return KNOWN.find((k) => k.kind === r.kind && k.status === r.status && k.match(r));
}

/** The results that fail a run: crashes, hangs, exceptions other than WasmlmError, wrong results, harness errors. */
export function failures(results) {
  return results.filter((r) => ['other', 'crash', 'hang', 'wrong', 'harness'].includes(r.status) && isKnown(r) === undefined);
}
