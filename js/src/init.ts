// Loading the WebAssembly module, once.
import initWasm from './resilient_ws.js';
import type { InitInput } from './resilient_ws.js';
import { markLoaded } from './connection.js';

let loading: Promise<void> | undefined;

/**
 * Loads and instantiates the WebAssembly module. Call it (and await it) before
 * `new Connection(...)`; the React hook calls it by itself.
 *
 * Idempotent: every call returns the same promise, and only the first call's argument is
 * used. If loading fails, the promise rejects and the next call tries again.
 *
 * @param wasm Where the module comes from. By default the `resilient_ws_bg.wasm` shipped
 *   next to this file, located with `new URL(..., import.meta.url)`, which Vite and
 *   webpack 5 understand with no plugin. Pass a URL (string or `URL`), a `Response`, the
 *   bytes, or a compiled `WebAssembly.Module` (or a promise of any of them) to load it
 *   from somewhere else, e.g. a CDN.
 */
export function init(wasm?: InitInput | Promise<InitInput>): Promise<void> {
  if (loading === undefined) {
    const source = wasm ?? viteDevServerWasmUrl();
    const started = initWasm(source === undefined ? undefined : { module_or_path: source }).then(markLoaded);
    loading = started;
    started.catch(() => {
      if (loading === started) loading = undefined;
    });
  }
  return loading;
}

/**
 * Vite's dev server pre-bundles dependencies into node_modules/.vite/deps/ but does not copy
 * the files they reference with `new URL(..., import.meta.url)` (vitejs/vite#8427), so the
 * glue's default URL, relative to the bundled copy, points at nothing. The package's own
 * copy is still served at node_modules/resilient-ws/: use it. Anywhere else (production
 * builds, webpack, plain ESM) this returns undefined and the glue's default applies.
 */
function viteDevServerWasmUrl(): URL | undefined {
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
