// workerd harness of test/budget-workerd.test.ts: POST a GGUF header; the model loads from a stream of that
// header followed by zeros pulled on demand (a refusal before loading never reads past the header).
// Answers { code, message, pulled } for each maxMemory in ?maxMemory= (none: the default).
import * as wasmlm from './wasmlm.js';
import wasmModule from './wasmlm.wasm';

export default {
  async fetch(request) {
    if (request.method !== 'POST') return new Response('ready'); // the test's wait for the server
    const header = new Uint8Array(await request.arrayBuffer());
    const url = new URL(request.url);
    const maxMemory = url.searchParams.has('maxMemory') ? Number(url.searchParams.get('maxMemory')) : undefined;
    let pulled = 0;
    const stream = new ReadableStream({
      pull(c) {
        c.enqueue(pulled === 0 ? header : new Uint8Array(1 << 20));
        pulled += pulled === 0 ? header.length : 1 << 20;
      },
    });
    try {
      const model = await wasmlm.loadModel(stream, { wasmModule, maxMemory });
      model.dispose();
      return Response.json({ code: 'loaded', pulled });
    } catch (e) {
      return Response.json({ code: e.code, message: e.message, pulled });
    }
  },
};
