// Where `init()` loads the WebAssembly module from when not told, in Node and the tools that
// run on it (Vitest, Jest, server rendering): the bytes of the .wasm shipped next to this file.
// Node's fetch does not read file: URLs, hence the file system. Reached only through the
// package's `#wasm_source` import under the `node` condition (and from the CommonJS build,
// which only Node-based tools load): browser bundles never see `node:fs`.
import { readFile } from 'node:fs/promises';

export function defaultWasm() {
  return readFile(new URL('./resilient_ws_bg.wasm', import.meta.url));
}
