// Where `init()` loads the WebAssembly module from when not told: the browser's answer.
// In Node (and in tools that run on it: Vitest, Jest, SSR), the package's `#wasm_source`
// import resolves to js/node/wasm_source.js instead, which reads the file from disk
// (see the `imports` map written by js/pkg-manifest.mjs), so no browser bundle holds it.
import type { InitInput } from './resilient_ws.js';

/**
 * The glue's own default (`new URL('resilient_ws_bg.wasm', import.meta.url)`, which Vite and
 * webpack 5 understand with no plugin) is right everywhere but on Vite's dev server, which
 * pre-bundles dependencies into node_modules/.vite/deps/ without copying the files they
 * reference with `new URL(..., import.meta.url)` (vitejs/vite#8427): the glue's URL, relative
 * to the bundled copy, points at nothing. The package's own copy is still served at
 * node_modules/resilient-ws/: use it. Anywhere else this returns undefined.
 */
export function defaultWasm(): InitInput | Promise<InitInput> | undefined {
  let here: URL;
  try {
    here = new URL(import.meta.url);
  } catch {
    return undefined;
  }
  const deps = /\/node_modules\/\.vite\/deps[^/]*\/[^/]+$/;
  if (!deps.test(here.pathname)) return undefined;
  return new URL(here.pathname.replace(deps, '/node_modules/resilient-ws/resilient_ws_bg.wasm'), here);
}
