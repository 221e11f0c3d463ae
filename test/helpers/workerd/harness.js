// workerd test harness (test/runtimes/workerd.test.ts): POST the conformance env as JSON, get the results.
// The kernels are a precompiled module (edge runtimes compile no wasm from bytes); the model comes as bytes.
import * as wasmlm from './wasmlm.js';
import wasmModule from './wasmlm.wasm';
import modelBytes from './stories260K.gguf';
import { conformance } from './conformance.js';

export default {
  async fetch(request) {
    const env = await request.json();
    const results = await conformance(wasmlm, { ...env, modelBytes, defaultModel: false, loadOptions: { wasmModule } });
    // and without a precompiled module: a clear error, not a crash
    let withoutModule;
    try {
      (await wasmlm.loadModel(modelBytes)).dispose();
      withoutModule = 'loaded';
    } catch (e) {
      withoutModule = `${e.code}: ${e.message}`;
    }
    return Response.json({ results, withoutModule });
  },
};
