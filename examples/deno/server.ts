// wasmlm in Deno: the OpenAI API with Deno.serve (the same fetch handler as workerd and `wasmlm serve`).
//
//   deno run --allow-read --allow-net --config examples/deno/deno.json examples/deno/server.ts [MODEL.gguf] [PORT]
//
// then any OpenAI client: new OpenAI({ baseURL: 'http://127.0.0.1:8080/v1', apiKey: 'unused' }). Without a
// model file it serves the embedded stories260K. Deno.serve gives the handler each request with a signal
// that aborts when the client goes away, which stops its generation.
import { createHandler, loadModel } from 'wasmlm';

const model = await loadModel(Deno.args[0] || undefined);
type LogEntry = { method: string; path: string; status: number; tokens: number; ms: number };
const handler = createHandler(model, { cors: true, onRequest: (e: LogEntry) => console.error(`${e.method} ${e.path} ${e.status} ${e.tokens} tokens ${e.ms} ms`) });
const server = Deno.serve({
  hostname: '127.0.0.1',
  port: Number(Deno.args[1] ?? 8080),
  onListen: ({ hostname, port }: { hostname: string; port: number }) => console.error(`${model.info.name}: the OpenAI API on http://${hostname}:${port}/v1`),
}, handler);
Deno.addSignalListener('SIGINT', () => { handler.close(); void server.shutdown().then(() => model.dispose()); });
