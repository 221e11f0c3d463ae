// Bundles tsc's output (build/tsc) into dist/, and puts the two wasm builds (plain SIMD, relaxed SIMD) beside it.
// Source files locate their assets relative to src/ (for tests run on the sources);
// the bundle locates them relative to dist/ (every chunk sits in dist/ itself): the plugin rewrites
// those asset URLs.
import { copyFileSync, mkdirSync, chmodSync } from 'node:fs';

const ASSET_PATHS = [
  ["'../../build/wasmlm.wasm'", "'./wasmlm.wasm'"],
  ["'../../build/wasmlm.relaxed.wasm'", "'./wasmlm.relaxed.wasm'"],
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
      copyFileSync('build/wasmlm.wasm', 'dist/wasmlm.wasm');
      copyFileSync('build/wasmlm.relaxed.wasm', 'dist/wasmlm.relaxed.wasm');
      chmodSync('dist/cli.js', 0o755);
    },
  };
}

const external = (id) => id.startsWith('node:');

export default {
  input: { index: 'build/tsc/index.js', cli: 'build/tsc/cli/main.js' },
  output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
  external,
  plugins: [assets()],
};
