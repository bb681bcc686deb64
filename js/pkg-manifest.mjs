// Writes <pkg>/package.json: the published manifest of `resilient-ws`.
// Usage: node js/pkg-manifest.mjs pkg
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's entry points: export path -> module name (x.js, x.node.js, x.cjs, x.d.ts, x.d.cts). */
export const ENTRIES = { '.': 'index', './react': 'react', './compat': 'compat' };
/** Entry points that never load the WebAssembly module: one ES module everywhere (x.js, x.d.ts). */
export const PLAIN_ENTRIES = {
  // Node servers on the `ws` package (PROTOCOL.md); imports nothing at runtime.
  './server': 'server',
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

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

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) writeManifest();

function writeManifest() {
  const pkgDir = resolve(process.argv[2] ?? join(root, 'pkg'));
  const cargo = cargoPackage();
  const shipped = readdirSync(pkgDir, { withFileTypes: true })
    .filter((e) => (e.isFile() && /\.(c?js|d\.c?ts|wasm)$/.test(e.name) && e.name !== 'resilient_ws_bg.wasm.d.ts') || (e.isDirectory() && e.name === 'snippets'))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort();
  const required = ['resilient_ws.js', 'resilient_ws.cjs', 'resilient_ws_bg.wasm', 'wasm_source_node.js', 'wasm_source_node.cjs'];
  for (const file of Object.values(ENTRIES)) required.push(`${file}.js`, `${file}.node.js`, `${file}.node.cjs`, `${file}.d.ts`, `${file}.d.cts`);
  for (const file of Object.values(PLAIN_ENTRIES)) required.push(`${file}.js`, `${file}.d.ts`);
  for (const file of required) {
    if (!shipped.includes(file)) throw new Error(`${pkgDir}/${file} is missing`);
  }
  if (existsSync(join(pkgDir, 'README.md'))) shipped.push('README.md');
  shipped.push(...readdirSync(pkgDir).filter((name) => /^LICENSE/.test(name)).sort());

  /**
   * The conditions of one entry point, first match wins:
   * - `node` (Node, Vitest, SSR, Jest's node environment): x.node.js, or x.node.cjs for
   *   require(): init() reads the .wasm from disk;
   * - `module`: bundlers (Vite, webpack, esbuild, Rollup) take the ES module even for require(),
   *   so a browser bundle holds one copy, and never the Node code or the CommonJS build;
   * - `import`: ES modules elsewhere (browsers through an import map, Deno...);
   * - `require`: CommonJS elsewhere, above all Jest's jsdom environment (conditions browser,
   *   require, default), which runs in Node and does not transform node_modules: x.node.cjs.
   * TypeScript takes x.d.ts for ES modules and x.d.cts for CommonJS consumers.
   */
  function entry(file) {
    const esm = { types: `./${file}.d.ts` };
    const cjs = { types: `./${file}.d.cts`, default: `./${file}.node.cjs` };
    return {
      node: { import: { ...esm, default: `./${file}.node.js` }, require: cjs },
      module: `./${file}.js`,
      import: { ...esm, default: `./${file}.js` },
      require: cjs,
      default: `./${file}.js`,
    };
  }

  /** A plain entry: one ES module for every environment. */
  function plainEntry(file) {
    return { types: `./${file}.d.ts`, import: `./${file}.js`, default: `./${file}.js` };
  }

  const manifest = {
    name: 'resilient-ws',
    version: cargo.version,
    description: cargo.description,
    license: cargo.license,
    keywords: ['websocket', 'reconnect', 'backoff', 'heartbeat', 'react', 'hook', 'wasm'],
    type: 'module',
    main: './index.node.cjs',
    module: './index.js',
    types: './index.d.ts',
    exports: {
      ...Object.fromEntries(Object.entries(ENTRIES).map(([path, file]) => [path, entry(file)])),
      ...Object.fromEntries(Object.entries(PLAIN_ENTRIES).map(([path, file]) => [path, plainEntry(file)])),
      './package.json': './package.json',
    },
    files: shipped,
    // The wasm-bindgen glue has no import-time effects; snippets (if any) are only called.
    // wasm_source_node, imported for its effect by the Node entries, sets where init() loads from.
    sideEffects: ['./wasm_source_node.js', './wasm_source_node.cjs'],
    peerDependencies: { react: '>=18' },
    peerDependenciesMeta: { react: { optional: true } },
  };
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`[pkg] package.json: resilient-ws@${manifest.version}, ${shipped.length} files`);
}
