// Loading the WebAssembly module, once.
import initWasm from './resilient_ws.js';
import type { InitInput } from './resilient_ws.js';
import { defaultWasm } from './wasm_source.js';

let loading: Promise<void> | undefined;

/**
 * Loads and instantiates the WebAssembly module. Call it (and await it) before
 * `new Connection(...)`; the React hook calls it by itself.
 *
 * Idempotent: every call returns the same promise, and only the first call's argument is
 * used. If loading fails, the promise rejects and the next call tries again.
 *
 * @param wasm Where the module comes from. By default the `resilient_ws_bg.wasm` shipped
 *   next to this file: in browsers located with `new URL(..., import.meta.url)`, which Vite
 *   and webpack 5 understand with no plugin; in Node (Vitest, Jest, SSR) read from disk.
 *   Pass a URL (string or `URL`), a `Response`, the bytes, or a compiled
 *   `WebAssembly.Module` (or a promise of any of them) to load it from somewhere else,
 *   e.g. a CDN.
 */
export function init(wasm?: InitInput | Promise<InitInput>): Promise<void> {
  if (loading === undefined) {
    const source = wasm ?? defaultWasm();
    const started = initWasm(source === undefined ? undefined : { module_or_path: source }).then(() => undefined);
    loading = started;
    started.catch(() => {
      if (loading === started) loading = undefined;
    });
  }
  return loading;
}
