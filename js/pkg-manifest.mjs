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
  .filter((e) => (e.isFile() && /\.(c?js|d\.c?ts|wasm)$/.test(e.name) && e.name !== 'resilient_ws_bg.wasm.d.ts') || (e.isDirectory() && e.name === 'snippets'))
  .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
  .sort();
const ENTRIES = { '.': 'index', './react': 'react' };
const required = ['resilient_ws.js', 'resilient_ws.cjs', 'resilient_ws_bg.wasm', 'wasm_source.js', 'wasm_source_node.js', 'wasm_source_node.cjs'];
for (const file of Object.values(ENTRIES)) required.push(`${file}.js`, `${file}.cjs`, `${file}.d.ts`, `${file}.d.cts`);
for (const file of required) {
  if (!shipped.includes(file)) throw new Error(`${pkgDir}/${file} is missing`);
}
if (existsSync(join(pkgDir, 'README.md'))) shipped.push('README.md');
shipped.push(...readdirSync(pkgDir).filter((name) => /^LICENSE/.test(name)).sort());

/**
 * The conditions of one entry point (x.js, x.cjs and their x.d.ts, x.d.cts), first match wins:
 * - `module`: bundlers (Vite, webpack, esbuild, Rollup) take the ES module even for require(),
 *   so a browser bundle holds one copy and never the CommonJS build;
 * - `import`: Node, Vitest, and TypeScript's types for ESM consumers;
 * - `require`: CommonJS in Node, above all Jest (conditions browser, require, default), which
 *   does not transform node_modules; and the types for CommonJS consumers (node16).
 */
function entry(file) {
  return {
    module: `./${file}.js`,
    import: { types: `./${file}.d.ts`, default: `./${file}.js` },
    require: { types: `./${file}.d.cts`, default: `./${file}.cjs` },
    default: `./${file}.js`,
  };
}

const manifest = {
  name: 'resilient-ws',
  version: cargo.version,
  description: cargo.description,
  license: cargo.license,
  keywords: ['websocket', 'reconnect', 'backoff', 'heartbeat', 'react', 'hook', 'wasm'],
  type: 'module',
  main: './index.cjs',
  module: './index.js',
  types: './index.d.ts',
  exports: {
    ...Object.fromEntries(Object.entries(ENTRIES).map(([path, file]) => [path, entry(file)])),
    './package.json': './package.json',
  },
  imports: {
    // init()'s default source of the .wasm: read from disk in Node, else located by URL.
    '#wasm_source': { node: './wasm_source_node.js', default: './wasm_source.js' },
  },
  files: shipped,
  // The wasm-bindgen glue has no import-time effects; snippets (if any) are only called.
  sideEffects: false,
  peerDependencies: { react: '>=18' },
  peerDependenciesMeta: { react: { optional: true } },
};
writeFileSync(join(pkgDir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`[pkg] package.json: resilient-ws@${manifest.version}, ${shipped.length} files`);
