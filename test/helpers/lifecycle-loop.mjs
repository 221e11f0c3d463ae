// A process that loads, uses and disposes models in a loop, as a server or web app that switches models
// does (issue 18's two loops), on the built package. test/lifecycle.test.ts runs several at once and
// checks that every one ends; run it by hand for longer series:
//
//   node test/helpers/lifecycle-loop.mjs <complete|load|rss> [count] [threads]
//
// complete: load, complete 2 tokens, dispose (a timer tick every 40 models); load: load and dispose;
// rss: the complete loop, printing the resident set size after 10 models and after `count` (in bytes).
// Prints `end <mode> <count>` (rss: `rss <after 10> <after count>`) when done.
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../dist/index.js';

const [mode = 'complete', countArg = '120', threadsArg = '1'] = process.argv.slice(2);
const count = Number(countArg);
const threads = Number(threadsArg);
const path = fileURLToPath(new URL('../../../shared/fixtures/models/llama.gguf', import.meta.url));
/** The resident set once the garbage is collected (with --expose-gc; freed wasm memories go on a later tick). */
const rss = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 30));
  }
  return process.memoryUsage().rss;
};

let rss10 = 0;
for (let i = 0; i < count; i++) {
  const m = await loadModel(path, { threads });
  if (mode !== 'load') await m.complete([1, 403], { maxTokens: 2, temperature: 0 });
  m.dispose();
  if (mode !== 'load' && i % 40 === 0) await new Promise((r) => setTimeout(r, 50)); // a timer tick between models
  if (mode === 'rss' && i === 9) rss10 = await rss();
}
console.log(mode === 'rss' ? `rss ${rss10} ${await rss()}` : `end ${mode} ${count}`);
