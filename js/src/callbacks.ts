// The callbacks the hook installs on a Connection. They are created once, with the
// Connection, and read each component's latest options at call time: changing a callback
// never re-creates the connection. In share mode they fan out to every component that
// shares the connection, in the order they joined.
import type { CloseInfo, ConnectionOptions } from './types.js';

export const CALLBACK_NAMES = ['onOpen', 'onClose', 'onMessage', 'onError', 'onReconnectStop', 'onDrop', 'onStatus'] as const;
export type CallbackName = (typeof CALLBACK_NAMES)[number];
export type Callbacks = Pick<ConnectionOptions, CallbackName | 'shouldReconnect'>;

/** One component, as the connection's callbacks see it. */
export interface CallbackTarget {
  /** The component's latest options. */
  callbacks(): Callbacks;
  /** False once the component let go of the connection: it hears nothing more. */
  active: boolean;
}

/**
 * The close codes after which the Connection does not reconnect by default (src/core:
 * default_should_reconnect). Used when a shouldReconnect the hook installed is later removed.
 */
const NO_RECONNECT_CODES = new Set([1002, 1003, 1007, 1008, 1009, 1010, 4401, 4403]);

export function defaultShouldReconnect(info: Pick<CloseInfo, 'code'>): boolean {
  return !NO_RECONNECT_CODES.has(info.code);
}

/** Reports an error without throwing it into the caller (the Connection): like an uncaught exception. */
export function reportLater(error: unknown): void {
  if (typeof reportError === 'function') reportError(error);
  else setTimeout(() => {
    throw error;
  });
}

type AnyFunction = (...args: never[]) => unknown;

/**
 * Calls one target's callback. If it throws, the error goes to that same target's onError
 * (as the Connection itself does); with no onError, or if onError throws, it is reported
 * as an uncaught error: never swallowed, and never breaking the connection or the fan-out.
 */
function callOne(target: CallbackTarget, name: string, args: readonly unknown[]): void {
  if (!target.active) return;
  const callbacks = target.callbacks();
  const fn = (callbacks as Record<string, unknown>)[name] as AnyFunction | undefined;
  if (typeof fn !== 'function') return;
  try {
    (fn as (...args: unknown[]) => unknown)(...args);
  } catch (error) {
    const onError = callbacks.onError as ((error: unknown) => unknown) | undefined;
    if (name === 'onError' || typeof onError !== 'function') {
      reportLater(error);
      return;
    }
    try {
      onError(error);
    } catch (again) {
      reportLater(again);
    }
  }
}

/** An option that is a callback: a function whose name is `on` + a capital (onAck, onResync, ...). */
const isCallback = (key: string, value: unknown): boolean => typeof value === 'function' && /^on[A-Z]/.test(key);

/**
 * The options to create a Connection with: `options` minus the hook's own (`share`) and
 * minus the callbacks, plus callbacks that forward to `targets` (a live list): always the
 * CALLBACK_NAMES, and any other `on…` function option given at creation (so that callbacks
 * the Connection gains later need no change here). Options other than callbacks are read
 * once, here, and passed on as they are (the Connection rejects the ones it does not know).
 */
export function connectionOptions(options: object, targets: readonly CallbackTarget[]): ConnectionOptions {
  const result: Record<string, unknown> = {};
  const names = new Set<string>(CALLBACK_NAMES);
  for (const [key, value] of Object.entries(options)) {
    if (isCallback(key, value)) names.add(key);
    else if (key !== 'shouldReconnect' && key !== 'share' && value !== undefined) result[key] = value;
  }
  for (const name of names) {
    result[name] = (...args: unknown[]) => {
      for (const target of targets.slice()) {
        if (targets.includes(target)) callOne(target, name, args);
      }
    };
  }
  // Installed only if asked for at creation, so the Connection's own default policy stays in
  // charge otherwise. The latest function of the first component that has one decides.
  if (typeof (options as Callbacks).shouldReconnect === 'function') {
    result.shouldReconnect = (info: CloseInfo) => {
      for (const target of targets) {
        const decide = target.active ? target.callbacks().shouldReconnect : undefined;
        if (typeof decide === 'function') return decide(info);
      }
      return defaultShouldReconnect(info);
    };
  }
  return result as ConnectionOptions;
}
