// Shortens the names between the wasm module and its wasm-bindgen glue (make pkg, after wasm-opt).
// Usage: node js/minify-wasm-names.mjs pkg
//
// wasm-bindgen names each import "./resilient_ws_bg.js" + "__wbg_<name>_<hash>" and each closure
// export after its full Rust type: about 110 names, 5 KB in the .wasm and again in the glue.
// Binaryen's `--minify-imports-and-exports-and-modules` renames them all (one module "a",
// names of one or two letters) and prints the mapping; this script applies that mapping to the
// glue (pkg/resilient_ws.js: the import object and every `wasm.<export>`) and to the declarations
// of the module's exports. It fails, leaving pkg/ as it was, if any name is not found exactly
// where the glue is expected to have it: a wasm-bindgen upgrade that changes the glue's shape
// must be looked at, not guessed.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BG_MODULE = './resilient_ws_bg.js';
/** The one wasm-opt pass over the optimized module: renames, and drops the two custom sections
 *  nothing reads at run time (producers, target_features). */
export const WASM_OPT_ARGS = ['--minify-imports-and-exports-and-modules', '--strip-producers', '--strip-target-features'];

export function minifyNames(pkg) {
  const wasmFile = join(pkg, 'resilient_ws_bg.wasm');
  const glueFile = join(pkg, 'resilient_ws.js');
  const tmp = join(pkg, 'resilient_ws_bg.min.wasm');
  const out = execFileSync('wasm-opt', [wasmFile, ...WASM_OPT_ARGS, '-o', tmp], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  try {
    const map = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1));
    const modules = [...new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(tmp))).map((i) => i.module))];
    if (modules.length !== 1) throw new Error(`expected one import module after minifying, got ${modules.join(', ')}`);
    const glue = rewriteGlue(readFileSync(glueFile, 'utf8'), map, modules[0]);
    const exportsMap = new Map(map.exports);
    const decls = ['resilient_ws.d.ts', 'resilient_ws_bg.wasm.d.ts'].map((f) => [f, renameDeclared(readFileSync(join(pkg, f), 'utf8'), exportsMap)]);
    writeFileSync(glueFile, glue);
    for (const [f, text] of decls) writeFileSync(join(pkg, f), text);
    renameSync(tmp, wasmFile);
    return { imports: map.imports.length, exports: map.exports.length };
  } finally {
    rmSync(tmp, { force: true });
  }
}

const fail = (what) => {
  throw new Error(`minify-wasm-names: ${what} (has wasm-bindgen's glue changed shape?)`);
};
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The glue with the module's new import and export names. */
export function rewriteGlue(glue, map, module) {
  // Exports: every `wasm.<name>`.
  const exportsMap = new Map(map.exports);
  glue = glue.replace(/\bwasm\.([A-Za-z_$][\w$]*)/g, (_, name) => `wasm.${exportsMap.get(name) ?? fail(`export ${name} is not in the map`)}`);

  // Imports: the import object `import0` of __wbg_get_imports, and the snippets' namespaces.
  const open = glue.indexOf('function __wbg_get_imports() {\n    const import0 = {\n');
  const close = glue.indexOf('\n    };\n    return {\n', open);
  if (open < 0 || close < 0) fail('no `const import0 = {...}; return {...}` in __wbg_get_imports');
  const end = glue.indexOf('\n    };\n}\n', close + 1);
  if (end < 0) fail('no end to the object __wbg_get_imports returns');
  let object = glue.slice(open, close);
  const added = [];
  const namespaces = new Map();
  for (const m of glue.matchAll(/^import \* as (import\d+) from "([^"]+)"$/gm)) if (!namespaces.has(m[2])) namespaces.set(m[2], m[1]);
  for (const [from, name, to] of map.imports) {
    if (from === BG_MODULE) {
      const key = new RegExp(`^(        )${escape(name)}(: )`, 'm');
      const hits = object.split('\n').filter((l) => l.startsWith(`        ${name}: `)).length;
      if (hits !== 1) fail(`import ${name}: ${hits} keys in import0`);
      object = object.replace(key, `$1${JSON.stringify(to)}$2`);
    } else {
      const ns = namespaces.get(from) ?? fail(`no namespace import of ${from}`);
      added.push(`        ${JSON.stringify(to)}: ${ns}.${name},`);
    }
  }
  const returned = `\n${added.join('\n')}\n    };\n    return { __proto__: null, ${JSON.stringify(module)}: import0 };\n}\n`;
  glue = glue.slice(0, open) + object + returned + glue.slice(end + '\n    };\n}\n'.length);
  // The namespace imports no entry uses any more.
  glue = glue.replace(/^import \* as (import\d+) from "[^"]+"\n/gm, (line, id) => (new RegExp(`\\b${id}\\.`).test(glue) ? line : ''));
  return glue;
}

/** Declarations of the module's exports (`readonly name:` / `export const name:`) renamed. */
function renameDeclared(text, exportsMap) {
  return text.replace(/^(\s*(?:readonly|export const|export function) )([A-Za-z_$][\w$]*)\b/gm, (line, head, name) =>
    exportsMap.has(name) ? head + exportsMap.get(name) : line,
  );
}

if (process.argv[2] === '--wasm-opt-args') {
  console.log(WASM_OPT_ARGS.join(' '));
} else if (process.argv[2]) {
  const r = minifyNames(process.argv[2]);
  console.log(`minify-wasm-names: ${r.imports} imports and ${r.exports} exports renamed`);
}
