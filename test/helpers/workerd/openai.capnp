# examples/edge/worker.js (the OpenAI API) with an API key, for test/openai-runtimes.test.ts (started with --socket-addr).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .openai) ],
  sockets = [ (name = "http", address = "127.0.0.1:8789", http = (), service = "main") ],
);

const openai :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "../../../examples/edge/worker.js"),
    (name = "wasmlm.js", esModule = embed "../../../dist/standalone.js"),
    (name = "wasmlm.wasm", wasm = embed "../../../dist/wasmlm.wasm"),
    (name = "stories260K.gguf", data = embed "../../../models/stories260K.gguf"),
  ],
  compatibilityDate = "2026-11-01",
  bindings = [ (name = "WASMLM_API_KEY", text = "sk-test-key") ],
);
