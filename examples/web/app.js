// The offline web app: loads the embedded model (or a GGUF file the user picks) into a Web Worker through
// wasmlm's browser entry, streams a completion with a stop button, and shows tokens per second.
// The service worker (sw.js) keeps the page and the bundle for offline use; wasmlm keeps downloaded models
// in the Cache API itself.

/** An element of index.html by id: each one used as an input is one (a button's `disabled`, a text field's
 *  `value`, the file picker's `files`); the progress bar is `progress()`. */
const $ = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
const progress = () => /** @type {HTMLProgressElement} */ (document.getElementById('progress'));
/** The radio button chosen for the model's source. */
const source = (selector) => /** @type {HTMLInputElement} */ (document.querySelector(selector));
const status = (state, text) => {
  $('status').dataset.state = state;
  $('status').textContent = text;
};

let wasmlm;
let model;
let generating;

/** Register the service worker; on the first visit wait until it controls the page, so that it sees
 *  (and keeps) every file the app loads from here on. */
async function offlineReady() {
  if (!('serviceWorker' in navigator)) return 'this browser has no service worker: online only';
  try {
    await navigator.serviceWorker.register('./sw.js');
    if (!navigator.serviceWorker.controller) {
      await Promise.race([
        new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the service worker did not start')), 5000)),
      ]);
    }
    return 'works offline';
  } catch (e) {
    return `online only (${e.message})`;
  }
}

async function load() {
  // the picked file; null when "a file" is chosen but none picked; undefined for the embedded model
  const file = source('input[name=source]:checked').value === 'file' ? $('file').files?.[0] ?? null : undefined;
  if (file === null) {
    status('error', 'Pick a GGUF file first.');
    return;
  }
  generating?.abort();
  model?.dispose();
  model = undefined;
  $('generate').disabled = true;
  $('load').disabled = true;
  progress().value = 0;
  status('loading', file ? `Loading ${file.name}…` : 'Loading the embedded model…');
  try {
    // threads: left to wasmlm (the cores there are, where the page is cross-origin isolated and the
    // model big enough for threads to pay; model.info.threadsNote says what it chose and why)
    model = await wasmlm.loadModel(file, {
      onProgress: ({ loaded, total }) => { if (total) progress().value = loaded / total; },
    });
    progress().value = 1;
    const i = model.info;
    $('model-info').textContent =
      `${i.name ?? i.architecture}: ${(i.parameters / 1e6).toFixed(2)}M parameters, ${i.layers} layers, ` +
      `context ${i.contextLength}, ${Object.keys(i.weightTypes).join('/')} weights, ${i.kernels} kernels, ` +
      `loaded in ${i.loadMs.toFixed(0)} ms. Threads: ${i.threads} (${i.threadsNote}).`;
    $('generate').disabled = false;
    status('ready', `Ready (${offline}).`);
  } catch (e) {
    $('model-info').textContent = 'No model.';
    status('error', `${e.code ?? e.name}: ${e.message}`);
  } finally {
    $('load').disabled = false;
  }
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
  $('output-prompt').textContent = prompt;
  $('output-text').textContent = '';
  $('stats').textContent = '';
  status('generating', 'Generating…');
  const t0 = performance.now();
  let pieces = 0;
  let shown = 0;
  try {
    const it = model.generate(prompt, { maxTokens, temperature, seed: Date.now() % 2 ** 31, signal: ac.signal });
    let step;
    while (!(step = await it.next()).done) {
      $('output-text').append(step.value);
      pieces++;
      const t = performance.now();
      if (t - shown > 100) {
        shown = t;
        $('stats').textContent = `${pieces} tokens · ${(pieces / ((t - t0) / 1000)).toFixed(0)} tokens/s`;
      }
    }
    const r = step.value;
    $('stats').textContent =
      `${r.tokens.length} tokens · ${r.timings.decodeTokensPerSecond.toFixed(0)} tokens/s ` +
      `(prompt: ${r.timings.promptTokens} tokens at ${r.timings.prefillTokensPerSecond.toFixed(0)} tokens/s) · finished: ${r.finishReason}`;
    status(r.finishReason === 'abort' ? 'stopped' : 'done', r.finishReason === 'abort' ? 'Stopped.' : 'Done.');
  } catch (e) {
    status('error', `${e.code ?? e.name}: ${e.message}`);
  } finally {
    generating = undefined;
    $('stop').disabled = true;
    $('load').disabled = false;
    $('generate').disabled = !model;
  }
}

$('load').addEventListener('click', load);
$('generate').addEventListener('click', generate);
$('stop').addEventListener('click', () => generating?.abort());
$('file').addEventListener('change', () => { source('input[name=source][value=file]').checked = true; });
$('forget').addEventListener('click', async () => {
  const n = (await wasmlm.cachedModels()).length;
  await wasmlm.clearModelCache();
  status($('status').dataset.state, `Forgot ${n} downloaded model${n === 1 ? '' : 's'}.`);
});

status('starting', 'Starting…');
const offline = await offlineReady();
try {
  wasmlm = await import('wasmlm');
} catch (e) {
  status('error', `Could not load wasmlm (${e.message}). Build it first: npm run build.`);
  throw e;
}
// start with the embedded model (a reload may have restored the form to "a file", without the file)
source('input[name=source][value=embedded]').checked = true;
await load();
