// A service worker that answers the OpenAI API for its pages with createHandler (test/openai-sw.test.ts):
// requests to <scope>v1/... and <scope>health never reach the network. The model is the embedded one,
// loaded by the first request; wasmlm runs on the service worker's thread.
import { createHandler, loadModel } from '/dist/standalone.js';

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const scope = new URL(sw.registration.scope).pathname;
let handler;

sw.addEventListener('install', () => { void sw.skipWaiting(); });
sw.addEventListener('activate', (event) => event.waitUntil(sw.clients.claim()));
sw.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const path = url.pathname.slice(scope.length - 1);
  if (url.origin !== sw.location.origin || !(path.startsWith('/v1/') || path === '/health')) return;
  event.respondWith((async () => {
    handler ??= loadModel().then((model) => createHandler(model));
    const request = event.request;
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
    return (await handler)(new Request(url.origin + path + url.search, { method: request.method, headers: request.headers, body, signal: request.signal }));
  })());
});
