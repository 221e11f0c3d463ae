// wasmlm on workerd (the runtime of Cloudflare Workers): POST / with JSON {"prompt", "maxTokens", "temperature"}
// answers JSON {"text", "finishReason", "tokens"} from the embedded model. GET / describes the model.
//
// Edge runtimes do not compile WebAssembly from bytes at run time: the kernels come in as a module that
// the runtime compiled when it loaded the worker (a `wasm` module in config.capnp, an imported .wasm with
// wrangler) and go to loadModel as `wasmModule`. The model file comes in the same way, as bytes.
import { loadModel, isWasmlmError } from './wasmlm.js';
import wasmModule from './wasmlm.wasm';
import modelBytes from './stories260K.gguf';

// one model per isolate, loaded by the first request
let model;
const getModel = () => (model ??= loadModel(modelBytes, { wasmModule }).catch((e) => { model = undefined; throw e; }));

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export default {
  async fetch(request) {
    try {
      if (request.method === 'GET') {
        const { info } = await getModel();
        return json({ model: info.name, parameters: info.parameters, contextLength: info.contextLength, kernels: info.kernels, threads: info.threads });
      }
      if (request.method !== 'POST') return json({ error: { code: 'BAD_METHOD', message: 'use POST (or GET for the model)' } }, 405);
      let body;
      try {
        body = await request.json();
      } catch {
        return json({ error: { code: 'BAD_REQUEST', message: 'the body must be JSON: {"prompt", "maxTokens", "temperature"}' } }, 400);
      }
      const { prompt, maxTokens = 128, temperature = 0.8 } = body ?? {};
      if (typeof prompt !== 'string') return json({ error: { code: 'BAD_REQUEST', message: '"prompt" must be a string' } }, 400);
      const m = await getModel();
      const r = await m.complete(prompt, { maxTokens, temperature, signal: request.signal });
      return json({ text: r.text, finishReason: r.finishReason, tokens: r.tokens.length });
    } catch (e) {
      if (isWasmlmError(e)) return json({ error: { code: e.code, message: e.message } }, 400);
      return json({ error: { code: 'INTERNAL', message: String(e?.message ?? e) } }, 500);
    }
  },
};
