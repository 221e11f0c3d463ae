# workerd config of the conformance harness (test/runtimes/workerd.test.ts starts it with --socket-addr).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .harness),
    # the test's HTTP server is on 127.0.0.1: let fetch() reach loopback
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8788", http = (), service = "main") ],
);

const harness :Workerd.Worker = (
  modules = [
    (name = "harness.js", esModule = embed "harness.js"),
    (name = "conformance.js", esModule = embed "../conformance.js"),
    (name = "wasmlm.js", esModule = embed "../../../dist/standalone.js"),
    (name = "wasmlm.wasm", wasm = embed "../../../dist/wasmlm.wasm"),
    (name = "stories260K.gguf", data = embed "../../../models/stories260K.gguf"),
  ],
  compatibilityDate = "2026-11-01",
  compatibilityFlags = ["new_module_registry"],
  globalOutbound = "loopback",
);
