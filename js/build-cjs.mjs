// The CommonJS twin of every ES module in <pkg> (x.js -> x.cjs next to it), for the tools
// that load packages with require() in Node: Jest above all, which resolves the `require`
// condition and does not transform node_modules. Bundlers take the ES modules (`module`
// and `import` conditions), so nothing here reaches a browser bundle.
//   - `#wasm_source` becomes the Node loader (reads the .wasm from disk);
//   - `import.meta.url` becomes this file's file: URL;
//   - the wasm-bindgen glue falls back to node:util's TextEncoder/TextDecoder where the
//     environment has none (Jest's jsdom environment), as it creates them when loaded.
// And the declarations of each, x.d.cts, with the same rewriting.
// Usage: node js/build-cjs.mjs pkg
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { transform } = require('esbuild');

const pkgDir = resolve(process.argv[2] ?? 'pkg');
const GLUE = 'resilient_ws.js';
const META_URL = '__rws_import_meta_url';
const banners = {
  metaUrl: `const ${META_URL} = require('node:url').pathToFileURL(__filename).href;`,
  textCodecs:
    "const { TextDecoder, TextEncoder } = typeof globalThis.TextDecoder === 'function' && typeof globalThis.TextEncoder === 'function' ? globalThis : require('node:util');",
};

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
  if (name === 'wasm_source.js') continue; // the browser's loader: CommonJS gets the Node one
  const source = await readFile(file, 'utf8');
  const banner = [];
  if (source.includes('import.meta.url')) banner.push(banners.metaUrl);
  if (name === GLUE) banner.push(banners.textCodecs);
  const { code } = await transform(source, {
    format: 'cjs',
    loader: 'js',
    target: 'es2020',
    sourcefile: name,
    define: { 'import.meta.url': META_URL },
    banner: banner.join('\n'),
  });
  const specifiers = /require\("(#wasm_source|\.{1,2}\/[^"]+\.js)"\)/g;
  const cjs = code.replace(specifiers, (_, spec) =>
    spec === '#wasm_source' ? 'require("./wasm_source_node.cjs")' : `require("${spec.replace(/\.js$/, '.cjs')}")`,
  );
  if (/require\("(#|\.{1,2}\/[^"]+\.js")/.test(cjs)) throw new Error(`${name}: an import left unconverted`);
  await writeFile(file.replace(/\.js$/, '.cjs'), cjs);
  count++;
}
// Their declarations (x.d.ts -> x.d.cts), for TypeScript consumers compiled as CommonJS
// (moduleResolution node16/nodenext in a package without "type": "module").
let declarations = 0;
for (const name of await readdir(pkgDir)) {
  if (!name.endsWith('.d.ts') || name === 'resilient_ws_bg.wasm.d.ts') continue;
  const text = await readFile(join(pkgDir, name), 'utf8');
  await writeFile(join(pkgDir, name.replace(/\.d\.ts$/, '.d.cts')), text.replace(/(['"]\.{1,2}\/[^'"]+)\.js(['"])/g, '$1.cjs$2'));
  declarations++;
}
console.log(`[pkg] CommonJS: ${count} modules -> .cjs, ${declarations} declarations -> .d.cts`);
