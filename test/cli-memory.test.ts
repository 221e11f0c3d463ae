/**
 * The CLI's own process setting (src/cli/memory.ts, issue 16 item 4): V8's young generation kept at its
 * initial size. It runs in a child process (the setting is the process's), on the compiled
 * build/tsc/cli/memory.js, against the same process without it.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const memory = join(root, 'build/tsc/cli/memory.js');

/** Runs `body` as an ES module in a child Node (with `lean` from memory.js) and parses what it prints. */
function child(body: string): Record<string, number> {
  const code = `import { leanHeap as lean } from ${JSON.stringify(memory)};\nimport v8 from 'node:v8';\n${body}`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }));
}

// allocates 200 MB of short-lived objects, a tenth of them kept a while (the young generation grows when
// scavenges find survivors), and reports the young generation's committed size
const churn = `
const keep = [];
for (let i = 0; i < 2e6; i++) { const o = { i, s: 'x' + i }; if (i % 10 === 0) keep[i % 20000] = o; }
const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
console.log(JSON.stringify({ young, kept: keep.length }));`;

describe('the CLI process memory settings', () => {
  it('leanHeap: the young generation stays at its initial size under allocation that grows it otherwise', () => {
    const plain = child(churn);
    const lean = child(`lean();\n${churn}`);
    expect(plain.young).toBeGreaterThan(4 * 2 ** 20);
    expect(lean.young).toBeLessThanOrEqual(2 * 2 ** 20);
  });
});
