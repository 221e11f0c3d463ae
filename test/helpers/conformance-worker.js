// A module Web Worker that runs the conformance checks on the package imported inside it (test/runtimes/browser.test.ts).
// The page posts { entry, modelUrl, env } and gets { results } or { error } back.
import { conformance } from './conformance.js';

self.onmessage = async (ev) => {
  const { entry, env } = ev.data;
  try {
    const wasmlm = await import(entry);
    const modelBytes = await (await fetch(env.modelUrl)).arrayBuffer();
    self.postMessage({ results: await conformance(wasmlm, { ...env, modelBytes }) });
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
