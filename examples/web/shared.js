// What the app's two pages share (index.html's app.js, teach.html's teach.js): their elements by id, the
// status line, the service worker, wasmlm's bundle, the Model section (the embedded model or a GGUF file
// picked from disk) and a completion streamed into the Output section. Both pages use the same ids for these.

/** An element of the page by id: each one used as an input is one (a button's `disabled`, a text field's
 *  `value`, a checkbox's `checked`, the file picker's `files`); progress bars are `bar(id)`. */
export const $ = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
export const bar = (id) => /** @type {HTMLProgressElement} */ (document.getElementById(id));
/** The radio button chosen for the model's source. */
const source = (selector) => /** @type {HTMLInputElement} */ (document.querySelector(selector));

/** The footer's status: `state` (data-state, which the tests wait for) and what it says. */
export function status(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

/** A WasmlmError (or any error) as the status line shows it. */
export const errorText = (e) => `${e.code ?? e.name}: ${e.message}`;

let bundle;
/** wasmlm's bundle (once start() has loaded it). */
export const wasmlm = () => bundle;
let offline = '';

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

/** Start a page: the service worker, then wasmlm's bundle; wires the Model section's file picker and
 *  "forget" button. `load` is the page's Load (also called once here, for the embedded model). */
export async function start(load) {
  status('starting', 'Starting…');
  offline = await offlineReady();
  try {
    bundle = await import('wasmlm');
  } catch (e) {
    status('error', `Could not load wasmlm (${e.message}). Build it first: npm run build.`);
    throw e;
  }
  $('load').addEventListener('click', load);
  $('file').addEventListener('change', () => { source('input[name=source][value=file]').checked = true; });
  $('forget').addEventListener('click', async () => {
    const n = (await bundle.cachedModels()).length;
    await bundle.clearModelCache();
    status($('status').dataset.state, `Forgot ${n} downloaded model${n === 1 ? '' : 's'}.`);
  });
  // start with the embedded model (a reload may have restored the form to "a file", without the file)
  source('input[name=source][value=embedded]').checked = true;
  await load();
}

/** The source the Model section chooses: the picked File, undefined for the embedded model, or null (and
 *  the status says so) when "a file" is chosen but none picked. */
export function chosenSource() {
  const file = source('input[name=source]:checked').value === 'file' ? $('file').files?.[0] ?? null : undefined;
  if (file === null) status('error', 'Pick a GGUF file first.');
  return file;
}

/** Load `file` (undefined: the embedded model) with the Model section's progress bar and info line; the
 *  model, or undefined when it failed (the status says why). The page disposes its old model first. */
export async function loadChosen(file) {
  $('load').disabled = true;
  bar('progress').value = 0;
  status('loading', file ? `Loading ${file.name}…` : 'Loading the embedded model…');
  try {
    // threads: left to wasmlm (the cores there are, where the page is cross-origin isolated and the
    // model big enough for threads to pay; model.info.threadsNote says what it chose and why)
    const model = await bundle.loadModel(file, {
      onProgress: ({ loaded, total }) => { if (total) bar('progress').value = loaded / total; },
    });
    bar('progress').value = 1;
    const i = model.info;
    $('model-info').textContent =
      `${i.name ?? i.architecture}: ${(i.parameters / 1e6).toFixed(2)}M parameters, ${i.layers} layers, ` +
      `context ${i.contextLength}, ${Object.keys(i.weightTypes).join('/')} weights, ${i.kernels} kernels, ` +
      `loaded in ${i.loadMs.toFixed(0)} ms. Threads: ${i.threads} (${i.threadsNote}).`;
    status('ready', `Ready (${offline}).`);
    return model;
  } catch (e) {
    $('model-info').textContent = 'No model.';
    status('error', errorText(e));
    return undefined;
  } finally {
    $('load').disabled = false;
  }
}

/** Show a completion as it streams (`begin()` starts it: model.generate or chatStream) after `prompt` in the
 *  Output section, with tokens per second; the status ends 'done' or 'stopped' (or 'error'). */
export async function showStream(prompt, begin) {
  $('output-prompt').textContent = prompt;
  $('output-text').textContent = '';
  $('stats').textContent = '';
  status('generating', 'Generating…');
  const t0 = performance.now();
  let pieces = 0;
  let shown = 0;
  try {
    const it = begin();
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
    status('error', errorText(e));
  }
}
