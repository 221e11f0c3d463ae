# workerd config of the memory budget test (test/budget-workerd.test.ts starts it with --socket-addr).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .budget) ],
  sockets = [ (name = "http", address = "127.0.0.1:8789", http = (), service = "main") ],
);

const budget :Workerd.Worker = (
  modules = [
    (name = "budget.js", esModule = embed "budget.js"),
    (name = "wasmlm.js", esModule = embed "../../../dist/standalone.js"),
    (name = "wasmlm.wasm", wasm = embed "../../../dist/wasmlm.wasm"),
  ],
  compatibilityDate = "2026-11-01",
  compatibilityFlags = ["new_module_registry"],
);
