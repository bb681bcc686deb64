// Builds the demo page into demo/web/dist. No React plugin: esbuild turns JSX into
// react/jsx-runtime calls. `resilient-ws` is the package `make pkg` built into ../../pkg,
// resolved through its own package.json "exports", as an installed copy would be.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
// RWS_DEMO_PKG: build against another copy of the package (default: the repository's pkg/).
const pkgDir = resolve(process.env.RWS_DEMO_PKG || resolve(here, '../../pkg'));

function entry(subpath) {
  const manifest = resolve(pkgDir, 'package.json');
  if (!existsSync(manifest)) {
    throw new Error(`${manifest} is missing: build the package first (make pkg)`);
  }
  const target = JSON.parse(readFileSync(manifest, 'utf8')).exports?.[subpath];
  // The browser's module: "module", or "import" (possibly with its own { types, default }).
  const pick = (t) => (typeof t === 'string' || t == null ? t : t.default);
  const file = typeof target === 'string' ? target : pick(target?.module ?? target?.import ?? target?.default);
  if (!file) throw new Error(`pkg/package.json exports no "${subpath}"`);
  return resolve(pkgDir, file);
}

export default defineConfig({
  root: here,
  base: './',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic' },
  resolve: {
    alias: [
      { find: /^resilient-ws\/react$/, replacement: entry('./react') },
      { find: /^resilient-ws$/, replacement: entry('.') },
    ],
    // The package imports react from pkg/; make sure it is the page's one copy.
    dedupe: ['react', 'react-dom'],
  },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
});
