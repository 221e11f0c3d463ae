# wasmlm on workerd: the OpenAI API. After `npm run build`, from the project root:
#
#   npx workerd serve examples/edge/config.capnp
#   curl -s 127.0.0.1:8787/v1/chat/completions -H 'content-type: application/json' \
#     -d '{"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 50}'
#
# Paths are relative to this file. dist/standalone.js is the package in one module (workerd lists every
# module by name, so no hashed chunks); the kernels are a `wasm` module, compiled by workerd at load
# time, and the embedded model a `data` module (an ArrayBuffer).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .wasmlmWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const wasmlmWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "wasmlm.js", esModule = embed "../../dist/standalone.js"),
    (name = "wasmlm.wasm", wasm = embed "../../dist/wasmlm.wasm"),
    (name = "stories260K.gguf", data = embed "../../models/stories260K.gguf"),
  ],
  compatibilityDate = "2026-11-01",
  # an API key: bindings = [ (name = "WASMLM_API_KEY", text = "sk-...") ],
  # no import.meta.url in workerd's default module registry: the worker passes the model as bytes and the
  # kernels as a compiled `wasmModule`
);
