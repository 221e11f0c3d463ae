// The offline web app: loads the embedded model (or a GGUF file the user picks) into a Web Worker through
// wasmlm's browser entry, streams a completion with a stop button, and shows tokens per second.
// The service worker (sw.js) keeps the page and the bundle for offline use; wasmlm keeps downloaded models
// in the Cache API itself. What teach.html does too is in shared.js.
import { $, chosenSource, loadChosen, showStream, start } from './shared.js';

let model;
let generating;

async function load() {
  const file = chosenSource();
  if (file === null) return;
  generating?.abort();
  model?.dispose();
  model = undefined;
  $('generate').disabled = true;
  model = await loadChosen(file);
  $('generate').disabled = !model;
}

async function generate() {
  const prompt = $('prompt').value;
  const maxTokens = Math.max(1, Number($('max-tokens').value) | 0);
  const temperature = Math.max(0, Number($('temperature').value) || 0);
  const ac = new AbortController();
  generating = ac;
  $('generate').disabled = true;
  $('load').disabled = true;
  $('stop').disabled = false;
  try {
    await showStream(prompt, () => model.generate(prompt, { maxTokens, temperature, seed: Date.now() % 2 ** 31, signal: ac.signal }));
  } finally {
    generating = undefined;
    $('stop').disabled = true;
    $('load').disabled = false;
    $('generate').disabled = !model;
  }
}

$('generate').addEventListener('click', generate);
$('stop').addEventListener('click', () => generating?.abort());
await start(load);
