// Rewrites <pkg>/package.json (as wasm-pack wrote it) into the published manifest of `resilient-ws`.
// Usage: node js/pkg-manifest.mjs pkg
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = resolve(process.argv[2] ?? join(root, 'pkg'));

/** The [package] section's string fields of Cargo.toml. */
function cargoPackage() {
  const toml = readFileSync(join(root, 'Cargo.toml'), 'utf8');
  const section = toml.split(/^\[/m).find((s) => s.startsWith('package]'));
  if (!section) throw new Error('Cargo.toml has no [package] section');
  const fields = {};
  for (const m of section.matchAll(/^([a-z-]+)\s*=\s*"([^"]*)"/gm)) fields[m[1]] = m[2];
  if (!fields.version) throw new Error('Cargo.toml [package] has no version');
  return fields;
}

const cargo = cargoPackage();
const shipped = readdirSync(pkgDir, { withFileTypes: true })
  .filter((e) => (e.isFile() && /\.(js|d\.ts|wasm)$/.test(e.name) && e.name !== 'resilient_ws_bg.wasm.d.ts') || (e.isDirectory() && e.name === 'snippets'))
  .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
  .sort();
for (const required of ['index.js', 'index.d.ts', 'react.js', 'react.d.ts', 'compat.js', 'compat.d.ts', 'server.js', 'server.d.ts', 'resilient_ws.js', 'resilient_ws_bg.wasm']) {
  if (!shipped.includes(required)) throw new Error(`${pkgDir}/${required} is missing`);
}
if (existsSync(join(pkgDir, 'README.md'))) shipped.push('README.md');
shipped.push(...readdirSync(pkgDir).filter((name) => /^LICENSE/.test(name)).sort());

const manifest = {
  name: 'resilient-ws',
  version: cargo.version,
  description: cargo.description,
  license: cargo.license,
  keywords: ['websocket', 'reconnect', 'backoff', 'heartbeat', 'react', 'hook', 'wasm'],
  type: 'module',
  main: './index.js',
  module: './index.js',
  types: './index.d.ts',
  exports: {
    '.': { types: './index.d.ts', import: './index.js', default: './index.js' },
    './react': { types: './react.d.ts', import: './react.js', default: './react.js' },
    './compat': { types: './compat.d.ts', import: './compat.js', default: './compat.js' },
    // Node servers on the `ws` package (PROTOCOL.md); imports nothing at runtime.
    './server': { types: './server.d.ts', import: './server.js', default: './server.js' },
    './package.json': './package.json',
  },
  files: shipped,
  // The wasm-bindgen glue has no import-time effects; snippets (if any) are only called.
  sideEffects: false,
  peerDependencies: { react: '>=18' },
  peerDependenciesMeta: { react: { optional: true } },
};
writeFileSync(join(pkgDir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`[pkg] package.json: resilient-ws@${manifest.version}, ${shipped.length} files`);
