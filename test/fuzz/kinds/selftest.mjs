/**
 * Cases with a known outcome, to check the harness itself (test/fuzz.test.ts): not in KINDS, so
 * `npm run fuzz` never runs them. The index picks the behaviour.
 */
export const selftest = {
  name: 'selftest',
  about: 'harness self-check: typed error, other exception, wrong, accepted, crash, hang',
  generate(rng, ctx) {
    const what = ['typed', 'other', 'wrong', 'accepted', 'crash', 'hang'][ctx.index % 6];
    return { desc: what, input: what };
  },
  async run(what, ctx) {
    switch (what) {
      case 'typed': throw new ctx.pkg.WasmlmError('BAD_ARGUMENT', 'selftest');
      case 'other': throw new TypeError('selftest');
      case 'wrong': return { status: 'wrong', wrong: 'selftest' };
      case 'crash': process.exit(7);
      case 'hang': for (;;);
    }
    return { status: 'accepted' };
  },
};
