// The web and WebAssembly types that wasmlm's declarations name, declared empty so that they exist
// where a program has neither the DOM lib nor @types/node (e.g. lib: ["ES2022"], types: []). Interfaces
// merge: where the DOM lib, @types/node or Deno declare these, their full declarations apply unchanged.
// Copied into dist/types/ and referenced from the entry points' declarations (rollup.config.mjs).
// Only interfaces belong here (a type alias, e.g. Transferable or WebAssembly.Imports, cannot merge:
// keep such types out of the public declarations, with @internal).
interface AbortController {}
interface AbortSignal {}
interface Blob {}
interface ReadableStream<R = any> {}
interface Request {}
interface Response {}
interface URL {}
declare namespace WebAssembly {
  interface Memory {}
  interface Module {}
}
