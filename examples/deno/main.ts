// wasmlm in Deno: stream a story from the embedded model.
//
//   deno run --allow-read --config examples/deno/deno.json examples/deno/main.ts "Once upon a time" 100
//
// deno.json maps "wasmlm" to this repository's build (dist/index.js, after `npm run build`); in a
// project of your own map it to "npm:wasmlm". --allow-read lets it read the model and the kernels
// beside the package; add --allow-net to load models from URLs.
import { loadModel } from 'wasmlm';

const prompt = Deno.args[0] ?? 'Once upon a time';
const maxTokens = Number(Deno.args[1] ?? 100);
const temperature = Number(Deno.args[2] ?? 0);

const model = await loadModel();
const out = (s: string) => Deno.stdout.write(new TextEncoder().encode(s));
await out(prompt);
const it = model.generate(prompt, { maxTokens, temperature, seed: 1 });
let step;
while (!(step = await it.next()).done) await out(step.value);
const t = step.value.timings;
console.error(`\n[${model.info.name}, ${model.info.kernels} kernels: ${t.generatedTokens} tokens at ${t.decodeTokensPerSecond.toFixed(0)} tokens/s]`);
model.dispose();
