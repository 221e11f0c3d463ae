// "Teach the model": examples pasted into a textarea train a LoRA adapter with model.finetune() in the
// model's Web Worker (progress each step, a stop button), then the model generates with the adapter applied
// or off (its scale 0), and the adapter downloads as a GGUF file (wasmlm's loadAdapter, llama.cpp's --lora).
// The Model section, the status line and the streamed output are shared.js's, as on index.html.
import { $, bar, chosenSource, errorText, loadChosen, showStream, start, status, wasmlm } from './shared.js';

let model;
/** the adapter trained last (model.finetune's result, applied in the worker) */
let adapter;
/** AbortControllers of the training / generation in progress */
let training;
let generating;
let downloadUrl;

/** What can be pressed follows from what the page holds and does. */
function refresh() {
  const busy = training !== undefined || generating !== undefined;
  $('load').disabled = busy;
  $('train').disabled = !model || busy;
  $('stop-training').disabled = training === undefined;
  $('generate').disabled = !model || busy;
  $('stop').disabled = generating === undefined;
  $('use-adapter').disabled = !adapter || busy;
  const download = $('download');
  if (adapter && !busy && downloadUrl) download.setAttribute('href', downloadUrl);
  else download.removeAttribute('href');
  download.setAttribute('aria-disabled', String(download.getAttribute('href') === null));
}

/** Let go of the adapter (taken off the model unless the model is gone with it) and its download. */
function dropAdapter(remove) {
  if (remove) adapter?.applied.remove();
  adapter = undefined;
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = undefined;
  $('use-adapter').checked = true;
  $('train-progress').textContent = 'Not trained yet.';
  $('train-log').textContent = '';
  bar('train-bar').value = 0;
}

async function load() {
  const file = chosenSource();
  if (file === null) return;
  dropAdapter(false); // (Load is pressed only when nothing trains or generates)
  model?.dispose();
  model = undefined;
  refresh();
  model = await loadChosen(file);
  refresh();
}

const stepLine = (p) =>
  `step ${p.step}/${p.steps} · epoch ${p.epoch}/${p.epochs} · loss ${p.loss.toFixed(4)} · ${p.tokensPerSecond.toFixed(0)} tokens/s`;

async function train() {
  let examples;
  try {
    examples = wasmlm().parseExamples($('examples').value, { plainText: true });
  } catch (e) {
    status('error', errorText(e));
    return;
  }
  // conversations are tried as chat messages, the rest as text to continue
  $('mode').value = examples.some((x) => typeof x === 'object' && 'messages' in x) ? 'chat' : 'complete';
  // a new adapter replaces the last one (training is over the base weights either way; applied, both would add up)
  dropAdapter(true);
  const ac = new AbortController();
  training = ac;
  refresh();
  status('training', 'Training…');
  let steps = 0;
  try {
    const trained = await model.finetune(examples, {
      epochs: Number($('epochs').value),
      learningRate: Number($('learning-rate').value),
      rank: Number($('rank').value),
      seed: 0,
      signal: ac.signal,
      onStep: (p) => {
        steps = p.steps;
        $('train-progress').textContent = stepLine(p);
        $('train-log').append(stepLine(p) + '\n');
        $('train-log').scrollTop = $('train-log').scrollHeight;
        bar('train-bar').value = p.step / p.steps;
      },
    });
    adapter = trained;
    const l = trained.losses;
    const gguf = trained.save({ format: 'gguf' });
    downloadUrl = URL.createObjectURL(new Blob([gguf], { type: 'application/octet-stream' }));
    $('download').setAttribute('download', `${(model.info.name ?? 'model').replace(/[^\w.-]+/g, '_')}.lora.gguf`);
    $('download').textContent = `Download the adapter (${(gguf.length / 1024).toFixed(0)} KB)`;
    $('train-progress').textContent = (trained.aborted ? `Stopped after ${trained.steps}${steps ? ` of ${steps}` : ''} steps` : `Trained: ${trained.steps} steps`) +
      (l.length ? `, loss ${l[0].toFixed(4)} → ${l.at(-1).toFixed(4)}` : '') +
      `; rank ${trained.rank}, alpha ${trained.alpha}, ${trained.targets.join(', ')}.`;
    status(trained.aborted ? 'stopped' : 'trained', trained.aborted ? 'Training stopped; the adapter so far is applied.' : 'Trained; the adapter is applied.');
  } catch (e) {
    status('error', errorText(e));
  } finally {
    training = undefined;
    refresh();
  }
}

async function generate() {
  const prompt = $('prompt').value;
  const maxTokens = Math.max(1, Number($('max-tokens').value) | 0);
  const temperature = Math.max(0, Number($('temperature').value) || 0);
  const options = { maxTokens, temperature, seed: Date.now() % 2 ** 31 };
  const ac = new AbortController();
  generating = ac;
  refresh();
  try {
    await showStream(prompt, () => $('mode').value === 'chat'
      ? model.chatStream([{ role: 'user', content: prompt }], { ...options, signal: ac.signal })
      : model.generate(prompt, { ...options, signal: ac.signal }));
  } finally {
    generating = undefined;
    refresh();
  }
}

$('train').addEventListener('click', train);
$('stop-training').addEventListener('click', () => training?.abort());
$('generate').addEventListener('click', generate);
$('stop').addEventListener('click', () => generating?.abort());
// off is scale 0: the adapter stays in the worker, so switching back is free
$('use-adapter').addEventListener('change', () => adapter?.applied.setScale($('use-adapter').checked ? 1 : 0));
await start(load);
