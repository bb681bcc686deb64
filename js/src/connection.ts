// `Connection` as the package exports it: wasm-bindgen's class, with errors that say what
// happened where the glue's would not: `new Connection` before init() has resolved, and any
// use after free() (a second free() does nothing). init.ts imports this module, so the guard
// is in place for every entry point. tabs: "shared" (js/src/tabs.ts) and persist's store
// (js/src/persist.js) are loaded on first use.
import { Connection as Glue } from './resilient_ws.js';
import type { ConnectionOptions, LastMessage, SendResult, Snapshot } from './resilient_ws.js';
import type { TabsConnection } from './tabs.js';
import { readOptions, setPersistLoader } from './driver.js';
import { byteLength, copyData, invalidDataError, jsonText } from './messages.js';
import { emptySnapshot, type SendData } from './types.js';

let loaded = false;

/**
 * A module loaded on first use, once: an app that never asks for it does not load it. A failed
 * load is tried again by the next caller.
 */
function onFirstUse<M>(load: () => Promise<M>): () => Promise<M> {
  let loading: Promise<M> | undefined;
  return () =>
    (loading ??= load().catch((e: unknown) => {
      loading = undefined;
      throw e;
    }));
}

// tabs: "shared" (LazyTabs below) and `persist`'s store (driver.js's LazyPersister).
const loadTabs = onFirstUse(() => import('./tabs.js'));
setPersistLoader(onFirstUse(() => import('./persist.js')));

/** init() calls it once the WebAssembly module is instantiated. */
export function markLoaded(): void {
  loaded = true;
}

type Members = Record<string | symbol, unknown>;
type Method = (this: unknown, a?: unknown, b?: unknown) => unknown;
const proto = Glue.prototype as unknown as Members;
/** Use after free(): an error naming the member (a second free() does nothing). */
function freed(name: string): undefined {
  if (name !== 'free') throw new Error(`this Connection was freed: ${name} cannot be used after free()`);
  return undefined;
}
// Each member checks one field before it runs (no rest array, no apply: this is the hot path
// of every sendMessage and getSnapshot). Two arguments cover every method (close(code, reason)).
for (const name of Object.getOwnPropertyNames(proto)) {
  const d = Object.getOwnPropertyDescriptor(proto, name) as PropertyDescriptor;
  const f = (d.value ?? d.get) as Method;
  if (name === 'constructor' || name.startsWith('__') || typeof f !== 'function') continue;
  const guarded = function (this: { __wbg_ptr?: number }, a?: unknown, b?: unknown): unknown {
    return this.__wbg_ptr !== 0 ? f.call(this, a, b) : freed(name);
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
    if (options?.tabs === 'shared' && tabsSupported()) return new LazyTabs(args[0], args[1] as ConnectionOptions);
    return Reflect.construct(target, args, newTarget) as object;
  },
});
export type Connection = Glue;

let warned = false;

/** Whether this browser has what tabs "shared" needs; warns once when it does not. */
function tabsSupported(): boolean {
  const ok = typeof BroadcastChannel === 'function' && typeof navigator !== 'undefined' && !!navigator.locks;
  if (!ok && !warned) {
    warned = true;
    console.warn('resilient-ws: tabs "shared" needs Web Locks and BroadcastChannel; each tab has its own connection');
  }
  return ok;
}

const INITIAL = emptySnapshot('connecting');

/**
 * tabs: "shared": a TabsConnection (js/src/tabs.ts), whose module is loaded on first use, so
 * that an app without it does not load it. Until then this is a follower that has not heard
 * from a leader yet (snapshot "connecting"): sends wait here, in order, as their private copy,
 * and go to the TabsConnection, as do close() and reconnect(), once it exists.
 */
class LazyTabs {
  // (TypeScript's `private`, not #fields: ES2020 output would carry their WeakMap helpers.)
  private real: TabsConnection | undefined;
  private calls: ((real: TabsConnection) => void)[] = [];
  private freed = false;
  private readonly ready: Promise<void>;

  constructor(url: unknown, options: ConnectionOptions) {
    readOptions(options); // throws now for what the Connection would throw at (names, types, persist)
    /** The module failed to load, or what was waiting for it threw: onError, else the console. */
    const report = (e: unknown): void => (options.onError ? options.onError(e) : console.error('resilient-ws: tabs "shared":', e));
    this.ready = loadTabs().then(
      (m) => {
        const real = new m.TabsConnection(url, options);
        this.real = real;
        // What TabsConnection has and this class does not (yet) forward, from now on.
        const members = this as unknown as Members;
        for (const name of Object.getOwnPropertyNames(m.TabsConnection.prototype)) {
          const f = name in this ? undefined : (real as unknown as Members)[name];
          if (typeof f === 'function') members[name] = f.bind(real);
        }
        for (const call of this.calls) {
          try {
            call(real);
          } catch (e) {
            report(e);
          }
        }
        this.calls = [];
        if (this.freed) real.free();
      },
      report,
    );
  }

  later(call: (real: TabsConnection) => void): void {
    if (this.real) call(this.real);
    else this.calls.push(call);
  }

  get leader(): boolean {
    return this.real?.leader ?? false;
  }

  get status(): Snapshot['status'] {
    return this.getSnapshot().status;
  }

  get lastMessage(): LastMessage | null {
    return this.getSnapshot().lastMessage;
  }

  getSnapshot(): Snapshot {
    return this.real?.getSnapshot() ?? (INITIAL as Snapshot);
  }

  /** Once the TabsConnection exists, the listener is called (its snapshot is another object), then on its changes. */
  subscribe(listener: () => void): () => void {
    if (this.real) return this.real.subscribe(listener);
    let off: (() => void) | undefined;
    let gone = false;
    this.calls.push((real) => {
      if (gone) return;
      off = real.subscribe(listener);
      if (!this.freed) listener();
    });
    return () => {
      gone = true;
      off?.();
    };
  }

  sendMessage(data: SendData): SendResult {
    if (this.real) return this.real.sendMessage(data);
    if (byteLength(data) < 0) throw invalidDataError(data);
    const held = copyData(data);
    this.calls.push((real) => real.sendMessage(held));
    return 'queued' as SendResult;
  }

  /** (delivery) Sent like sendMessage; settles as the TabsConnection's sendWithAck does. */
  sendWithAck(data: SendData): Promise<void> {
    if (this.real) return this.real.sendWithAck(data);
    if (byteLength(data) < 0) throw invalidDataError(data);
    const held = copyData(data);
    return new Promise((resolve, reject) =>
      this.calls.push((real) => {
        try {
          real.sendWithAck(held).then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  sendJsonMessage(value: unknown): SendResult {
    if (this.real) return this.real.sendJsonMessage(value);
    return this.sendMessage(jsonText(value));
  }

  persisted(): Promise<boolean> {
    return this.real ? this.real.persisted() : this.ready.then(() => this.real?.persisted() ?? false);
  }

  close(code?: number, reason?: string): void {
    this.later((real) => real.close(code, reason));
  }

  reconnect(): void {
    this.later((real) => real.reconnect());
  }

  free(): void {
    if (this.real) this.real.free();
    else this.freed = true;
  }
}
if (dispose) (LazyTabs.prototype as unknown as Members)[dispose] = LazyTabs.prototype.free;
