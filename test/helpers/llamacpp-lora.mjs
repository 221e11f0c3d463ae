// llama.cpp (node-llama-cpp 3.21.1 from bench/node_modules, prebuilt CPU binary) on a GGUF and an optional
// LoRA adapter GGUF: the next-token probabilities (temperature 1, no truncation) after every prompt position,
// and the greedy continuation.
// usage: node llamacpp-lora.mjs MODEL.gguf ADAPTER.gguf|- '[token ids]' N_VOCAB N_GREEDY  -> one JSON line
//   { probs: number[][] (one row of n_vocab per position), greedy: number[] }
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { getLlama } = await import(pathToFileURL(join(root, 'bench/node_modules/node-llama-cpp/dist/index.js')).href);
const [modelPath, adapterPath, tokensJson, nVocab, nGreedy = '16'] = process.argv.slice(2);
const tokens = JSON.parse(tokensJson);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: 128, threads: 1, batchSize: 128, flashAttention: false,
  ...(adapterPath === '-' ? {} : { lora: { adapters: [{ filePath: adapterPath, scale: 1 }] } }),
});
let seq = context.getSequence();
const sampling = { temperature: 1, topK: 0, topP: 1, minP: 0 };
const out = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true, options: sampling } }]));
const probs = out.map((r) => {
  const row = new Array(Number(nVocab)).fill(0);
  for (const [id, p] of r.next.probabilities) row[id] = p;
  return row;
});
await seq.clearHistory();
const greedy = [];
for await (const t of seq.evaluate(tokens, { temperature: 0 })) {
  greedy.push(t);
  if (greedy.length >= Number(nGreedy)) break;
}
console.log(JSON.stringify({ probs, greedy }));
await context.dispose(); await model.dispose(); await llama.dispose();
