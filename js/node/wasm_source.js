// Node, and the tools that run on it (Vitest, Jest, server rendering): init() reads the
// .wasm shipped next to this file from disk, since Node's fetch does not read file: URLs.
// Imported for this effect by the Node entry points only (x.node.js under the `node` export
// condition, and the CommonJS build): browser bundles never see `node:fs`.
import { readFile } from 'node:fs/promises';
import { setDefaultWasm } from './init.js';

setDefaultWasm(() => readFile(new URL('./resilient_ws_bg.wasm', import.meta.url)));
