// The app's service worker: after the first visit the page, the wasmlm bundle, its worker and the wasm
// kernels come from this cache when the network is gone. Network first, so an online reload gets
// updates. Model files (.gguf) are not kept here: wasmlm keeps downloaded models in its own cache
// (Cache API, "wasmlm-models"), and a file the user picks never touches the network.
const CACHE = 'wasmlm-web-v2';
/** this script's global scope, typed as what it is (npm run lint checks it with the WebWorker lib) */
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const SHELL = ['./', './index.html', './app.js', './teach.html', './teach.js', './shared.js', './style.css'];

sw.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => sw.skipWaiting()));
});

sw.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith('wasmlm-web-') && name !== CACHE) await caches.delete(name);
    await sw.clients.claim();
  })());
});

sw.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== sw.location.origin || url.pathname.endsWith('.gguf')) return;
  event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const hit = (await cache.match(request, { ignoreSearch: true })) ??
      (request.mode === 'navigate' ? await cache.match('./index.html') : undefined);
    if (hit) return hit;
    throw error;
  }
}
