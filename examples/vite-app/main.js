// Vite resolves "wasmlm" with the "browser" condition: the model runs in a Web Worker that Vite bundles,
// and the .wasm kernels and the embedded model are emitted as assets.
import { loadModel } from 'wasmlm';

const status = /** @type {HTMLElement} */ (document.getElementById('status'));
const out = /** @type {HTMLElement} */ (document.getElementById('out'));
try {
  const model = await loadModel();
  out.textContent = 'Once upon a time';
  let text = '';
  for await (const piece of model.generate('Once upon a time', { temperature: 0, maxTokens: 196 })) {
    text += piece;
    out.textContent += piece;
  }
  status.textContent = `${model.info.name}, ${model.info.kernels} kernels, threads: ${model.info.threads}`;
  /** @type {any} */ (window).__result = { text, info: { name: model.info.name, kernels: model.info.kernels } };
} catch (e) {
  status.textContent = `${e.code ?? e.name}: ${e.message}`;
  /** @type {any} */ (window).__result = { error: `${e.code ?? e.name}: ${e.message}` };
}
