// wasmlm on workerd (the runtime of Cloudflare Workers): the OpenAI API from the embedded model.
//
//   POST /v1/chat/completions, /v1/completions (JSON, or server-sent events with "stream": true),
//   POST /v1/embeddings, GET /v1/models, GET /health
//
// Any OpenAI client talks to it: new OpenAI({ baseURL: 'http://127.0.0.1:8787/v1', apiKey: '...' }).
// With a WASMLM_API_KEY binding (a secret on Cloudflare, a `text` binding in workerd's config) the /v1/
// endpoints want `Authorization: Bearer <key>`.
//
// Edge runtimes do not compile WebAssembly from bytes at run time: the kernels come in as a module that
// the runtime compiled when it loaded the worker (a `wasm` module in config.capnp, an imported .wasm with
// wrangler) and go to loadModel as `wasmModule`. The model file comes in the same way, as bytes.
import { createHandler, loadModel } from './wasmlm.js';
import wasmModule from './wasmlm.wasm';
import modelBytes from './stories260K.gguf';

// one model and one handler per isolate, made by the first request
let handler;
const getHandler = (env) => (handler ??= loadModel(modelBytes, { wasmModule })
  .then((model) => createHandler(model, { cors: true, apiKey: env?.WASMLM_API_KEY || undefined }))
  .catch((e) => { handler = undefined; throw e; }));

export default {
  async fetch(request, env) {
    return (await getHandler(env))(request);
  },
};
