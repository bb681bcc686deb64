// `Connection` as the package exports it: wasm-bindgen's class, with errors that say what
// happened where the glue's would not: `new Connection` before init() has resolved, and any
// use after free() (a second free() does nothing). init.ts imports this module, so the guard
// is in place for every entry point.
import { Connection as Glue } from './resilient_ws.js';
import { TabsConnection, tabsSupported } from './tabs.js';

let loaded = false;

/** init() calls it once the WebAssembly module is instantiated. */
export function markLoaded(): void {
  loaded = true;
}

type Members = Record<string | symbol, unknown>;
const proto = Glue.prototype as unknown as Members;
for (const name of Object.getOwnPropertyNames(proto)) {
  const d = Object.getOwnPropertyDescriptor(proto, name) as PropertyDescriptor;
  const f = (d.value ?? d.get) as unknown;
  if (name === 'constructor' || name.startsWith('__') || typeof f !== 'function') continue;
  const guarded = function (this: { __wbg_ptr?: number }, ...args: unknown[]): unknown {
    if (this.__wbg_ptr !== 0) return f.apply(this, args);
    if (name !== 'free') throw new Error(`this Connection was freed: ${name} cannot be used after free()`);
    return undefined;
  };
  Object.defineProperty(proto, name, d.get ? { ...d, get: guarded } : { ...d, value: guarded });
}
const dispose = (Symbol as { dispose?: symbol }).dispose;
if (dispose) proto[dispose] = proto.free;

/** A resilient WebSocket connection: see the README. Call `await init()` first. */
export const Connection: typeof Glue = new Proxy(Glue, {
  construct(target, args, newTarget) {
    if (!loaded) throw new Error('resilient-ws is not loaded yet: call `await init()` first, then `new Connection(...)`');
    const options = args[1] as { tabs?: unknown } | undefined;
    if (options?.tabs === 'shared' && tabsSupported()) return new TabsConnection(args[0], args[1] as never);
    return Reflect.construct(target, args, newTarget) as object;
  },
});
export type Connection = Glue;
