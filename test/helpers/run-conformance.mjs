// Runs the conformance checks (conformance.js) on the built package in the runtime that runs this file:
//   node run-conformance.mjs '<json>'   or   deno run --allow-read --allow-net=127.0.0.1 run-conformance.mjs '<json>'
// json: { entry: URL of dist/index.js, modelPath, reference (file path), modelUrl?, missingUrl?, stallUrl?, session? }
// Prints one JSON line: { runtime, results }.
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { conformance } from './conformance.js';

const args = JSON.parse(process.argv[2]);
const wasmlm = await import(args.entry);
const file = await readFile(args.modelPath);
const modelBytes = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
const reference = (await readFile(args.reference, 'utf8')).replace(/\n$/, '');
const results = await conformance(wasmlm, {
  reference,
  modelBytes,
  defaultModel: true,
  modelPath: args.modelPath,
  modelUrl: args.modelUrl,
  missingUrl: args.missingUrl,
  stallUrl: args.stallUrl,
  session: args.session,
});
const runtime = typeof globalThis.Deno === 'object' ? `deno ${globalThis.Deno.version.deno}` : `node ${process.version}`;
process.stdout.write(JSON.stringify({ runtime, results }) + '\n');
