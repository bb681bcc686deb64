// The package's Node variants, written into <pkg> after tsc:
//   1. x.node.js for each entry x (the `node` export condition): imports wasm_source_node.js,
//      which makes init() read the .wasm from disk, then re-exports x.js;
//   2. the CommonJS twin of every ES module (y.js -> y.cjs next to it), for require() in Node:
//      Jest above all, which resolves the `require` condition and does not transform
//      node_modules. `import.meta.url` becomes the file's file: URL, and the wasm-bindgen glue
//      falls back to node:util's TextEncoder/TextDecoder where the environment has none
//      (Jest's jsdom), as it creates them when loaded;
//   3. the declarations of each, z.d.ts -> z.d.cts, for TypeScript consumers compiled as
//      CommonJS (node16/nodenext without "type": "module").
// Bundlers take the browser's ES modules (`module`/`import` conditions): none of this reaches
// a browser bundle. Usage: node js/build-node.mjs pkg
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { ENTRIES, PLAIN_ENTRIES } from './pkg-manifest.mjs';

const require = createRequire(import.meta.url);
const { transform } = require('esbuild');

const pkgDir = resolve(process.argv[2] ?? 'pkg');
const GLUE = 'resilient_ws.js';
const META_URL = '__rws_import_meta_url';
// The plain entries (one ES module everywhere) and their declarations get no twin.
const plain = new Set(Object.values(PLAIN_ENTRIES).flatMap((file) => [`${file}.js`, `${file}.d.ts`]));
const banners = {
  metaUrl: `const ${META_URL} = require('node:url').pathToFileURL(__filename).href;`,
  textCodecs:
    "const { TextDecoder, TextEncoder } = typeof globalThis.TextDecoder === 'function' && typeof globalThis.TextEncoder === 'function' ? globalThis : require('node:util');",
};

// 1. The Node entry points.
for (const file of Object.values(ENTRIES)) {
  const source = await readFile(join(pkgDir, `${file}.js`), 'utf8');
  const hasDefault = /\bexport\s+default\b|\bas\s+default\b/.test(source);
  const lines = [
    `// ${file}.js for Node: init() reads the .wasm from disk (wasm_source_node.js).`,
    "import './wasm_source_node.js';",
    `export * from './${file}.js';`,
    ...(hasDefault ? [`export { default } from './${file}.js';`] : []),
  ];
  await writeFile(join(pkgDir, `${file}.node.js`), lines.join('\n') + '\n');
}

// 2. The CommonJS twins.
async function modules(dir) {
  const found = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) found.push(...(await modules(path)));
    else if (e.name.endsWith('.js')) found.push(path);
  }
  return found;
}
let count = 0;
for (const file of await modules(pkgDir)) {
  const name = relative(pkgDir, file);
  if (plain.has(name)) continue;
  const source = await readFile(file, 'utf8');
  const banner = [];
  if (source.includes('import.meta.url')) banner.push(banners.metaUrl);
  if (name === GLUE) banner.push(banners.textCodecs);
  const { code } = await transform(source, {
    format: 'cjs',
    loader: 'js',
    target: 'es2022',
    sourcefile: name,
    define: { 'import.meta.url': META_URL },
    banner: banner.join('\n'),
  });
  const cjs = code
    .replace(/require\("(\.{1,2}\/[^"]+)\.js"\)/g, 'require("$1.cjs")')
    // A lazily loaded module (connection.js: tabs.js) is the twin too, not the ES module.
    .replace(/\bimport\("(\.{1,2}\/[^"]+)\.js"\)/g, 'Promise.resolve().then(() => require("$1.cjs"))');
  if (/(require|import)\("\.{1,2}\/[^"]+\.js"\)/.test(cjs)) throw new Error(`${name}: an import left unconverted`);
  await writeFile(file.replace(/\.js$/, '.cjs'), cjs);
  count++;
}

// 3. Their declarations.
let declarations = 0;
for (const name of await readdir(pkgDir)) {
  if (!name.endsWith('.d.ts') || name === 'resilient_ws_bg.wasm.d.ts' || plain.has(name)) continue;
  const text = await readFile(join(pkgDir, name), 'utf8');
  await writeFile(join(pkgDir, name.replace(/\.d\.ts$/, '.d.cts')), text.replace(/(['"]\.{1,2}\/[^'"]+)\.js(['"])/g, '$1.cjs$2'));
  declarations++;
}
console.log(`[pkg] Node: ${Object.keys(ENTRIES).length} entries x.node.js; CommonJS: ${count} modules -> .cjs, ${declarations} declarations -> .d.cts`);
