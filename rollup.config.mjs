// Bundles tsc's output (build/tsc) into dist/, and puts the wasm builds beside it: plain SIMD and relaxed SIMD,
// each also as a threads build (shared memory, *.mt.wasm), and the worker script of the thread pool
// (src/engine/worker.js: plain JS without imports, copied as it is).
// Source files locate their assets relative to src/ (for tests run on the sources);
// the bundle locates them relative to dist/ (every chunk sits in dist/ itself): the plugin rewrites
// those asset URLs.
import { copyFileSync, mkdirSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import terser from '@rollup/plugin-terser';

const ASSET_PATHS = [
  ["'../../build/wasmlm.wasm'", "'./wasmlm.wasm'"],
  ["'../../build/wasmlm.relaxed.wasm'", "'./wasmlm.relaxed.wasm'"],
  ["'../../build/wasmlm.mt.wasm'", "'./wasmlm.mt.wasm'"],
  ["'../../build/wasmlm.relaxed.mt.wasm'", "'./wasmlm.relaxed.mt.wasm'"],
];
const COPIES = [
  ['build/wasmlm.wasm', 'dist/wasmlm.wasm'],
  ['build/wasmlm.relaxed.wasm', 'dist/wasmlm.relaxed.wasm'],
  ['build/wasmlm.mt.wasm', 'dist/wasmlm.mt.wasm'],
  ['build/wasmlm.relaxed.mt.wasm', 'dist/wasmlm.relaxed.mt.wasm'],
  // found by pool.ts as new URL('./worker.js', import.meta.url): next to the chunk, as in src/engine/
  ['src/engine/worker.js', 'dist/worker.js'],
];

// The declarations (tsc writes them to dist/types/) get src/globals.d.ts, referenced from each entry's
// declarations, so that they type-check without the DOM lib or @types/node.
const TYPE_ENTRIES = ['dist/types/index.d.ts', 'dist/types/browser/index.d.ts'];
// and the bundles get declarations beside them, for code that imports dist/*.js by path (bench/, examples/)
const BUNDLE_TYPES = [
  ['dist/index.d.ts', './types/index.js'],
  ['dist/standalone.d.ts', './types/index.js'],
  ['dist/browser.d.ts', './types/browser/index.js'],
];

function assets() {
  return {
    name: 'wasmlm-assets',
    transform(code) {
      let out = code;
      for (const [from, to] of ASSET_PATHS) out = out.split(from).join(to);
      return out === code ? null : { code: out, map: null };
    },
    writeBundle() {
      mkdirSync('dist', { recursive: true });
      for (const [from, to] of COPIES) copyFileSync(from, to);
      chmodSync('dist/cli.js', 0o755);
      copyFileSync('src/globals.d.ts', 'dist/types/globals.d.ts');
      for (const file of TYPE_ENTRIES) {
        const ref = `/// <reference path="${file === TYPE_ENTRIES[0] ? '.' : '..'}/globals.d.ts" />\n`;
        const text = readFileSync(file, 'utf8');
        if (!text.startsWith(ref)) writeFileSync(file, ref + text);
      }
      for (const [file, from] of BUNDLE_TYPES) writeFileSync(file, `export * from '${from}';\n`);
    },
  };
}

const external = (id) => id.startsWith('node:');

// Dependencies (e.g. @huggingface/jinja) are bundled, so that dist/ runs as it is where nothing resolves
// bare imports: a page without a bundler, a Web Worker, workerd, Deno importing a URL.
function dependencies() {
  return {
    name: 'wasmlm-dependencies',
    resolveId(id, importer) {
      if (!importer || id.startsWith('node:') || id.startsWith('.') || id.startsWith('/') || id.includes('\0')) return null;
      return fileURLToPath(import.meta.resolve(id));
    },
  };
}

// Dynamic imports of node: builtins (reached only in Node and Deno: file paths, file: URLs) are hidden
// from bundlers, which would otherwise stub or reject them in a browser build (Vite's default worker
// format cannot split them into chunks; webpack 5 has no loader for node: URLs).
function hideNodeImports() {
  return {
    name: 'wasmlm-hide-node-imports',
    renderChunk(code) {
      const out = code.replace(/\bimport\((['"])node:/g, "import(/* @vite-ignore */ /* webpackIgnore: true */ $1node:$1 + $1");
      return out === code ? null : { code: out, map: null };
    },
  };
}

// The published bundle is minified (the runtime's size counts: issue 5 item 10); the readable sources are
// src/ (and build/tsc/), and each file has a source map beside it. Runs before hideNodeImports, whose
// `'node:' + 'x'` specifiers terser would fold back into literals. Class names are kept (stack traces,
// devtools); comments addressed to bundlers (@vite-ignore, webpackIgnore) and licence comments are kept.
function minify() {
  return terser({
    module: true,
    ecma: 2020,
    compress: { passes: 2 },
    keep_classnames: true,
    // ascii_only: non-ASCII characters as escapes, so that V8 keeps each chunk's source as a one-byte string
    // (the model chunk's 0.4 MB would otherwise take 0.8 MB of the heap as UTF-16: issue 16 item 4)
    format: { comments: /@vite-ignore|webpackIgnore|@license|@preserve|^!/, ascii_only: true },
  });
}

const main = {
  input: {
    index: 'build/tsc/index.js',
    cli: 'build/tsc/cli/bin.js',
    // the browser entry (package condition "browser") and the model's Web Worker it starts
    browser: 'build/tsc/browser/index.js',
    'model-worker': 'build/tsc/browser/model-worker.js',
  },
  output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', sourcemap: true },
  external,
  plugins: [assets(), dependencies(), minify(), hideNodeImports()],
};

// dist/standalone.js: the public API in one file with no chunks, for runtimes that list every
// module by hand (workerd's config.capnp) or load a single URL.
const standalone = {
  input: 'build/tsc/index.js',
  output: { file: 'dist/standalone.js', format: 'es', inlineDynamicImports: true, sourcemap: true },
  external,
  plugins: [assets(), dependencies(), minify(), hideNodeImports()],
};

export default [main, standalone];
