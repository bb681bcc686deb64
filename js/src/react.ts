// The "./react" entry: useWebSocket. Importing it touches neither `window` nor `WebSocket`.
//
// The hook is made of small steps, each a hook of its own:
//   useLatest        the latest url and options, for callbacks and sends (never a dependency);
//   connectionKey    what identifies the connection (url, protocols, share): a new key, a new one;
//   useAcquire       an effect that `acquire`s the Connection (creates or joins it, once the
//                    module is loaded) and releases it in the cleanup; an invalid url is `refuse`d;
//   useSnapshot      subscribes to it (useSyncExternalStore);
//   usePendingSends  sendMessage / sendJsonMessage, holding messages until the Connection exists.
// They share one mutable `Slot` per component (the current attachment and the held messages).
import { useCallback, useEffect, useInsertionEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { connectionOptions, reportLater, type CallbackTarget, type Callbacks } from './callbacks.js';
import { init } from './init.js';
import { dropError, jsonText } from './messages.js';
import { copyPayload, PendingMessages, type AckWaiter, type Payload, type PendingLimits } from './pending.js';
import { Connection } from './connection.js'; // (tabs "shared": a TabsConnection)
import { shareKey, SharedConnections } from './shared.js';
import { emptySnapshot, type ConnectionOptions, type ConnectionSnapshot, type ConnectionStatus, type Message, type SendData, type SendResult } from './types.js';

/** A ws:/wss: URL, or a function returning one (or a promise of one), called before every attempt. */
export type UseWebSocketUrl = string | (() => string | Promise<string>);

/** Every Connection option, plus `share`. */
export type UseWebSocketOptions = ConnectionOptions & {
  /**
   * `true`: every component that uses the same (string) url and protocols with `share: true`
   * shares one Connection, closed when the last of them unmounts. A string: share under
   * that name instead of the url (needed for a function url). Default false.
   */
  share?: boolean | string;
};

/**
 * The Connection's snapshot, plus `lastError`: the error that kept the hook from creating
 * its Connection (a url that failed validation), or null. Absent from a live Connection's snapshot.
 */
export type UseWebSocketSnapshot = ConnectionSnapshot & { readonly lastError?: Error | null };

export interface UseWebSocketResult<T = unknown> {
  /**
   * Sends now, queues, or drops, as `Connection.sendMessage`. Before the connection exists
   * (first render, WebAssembly still loading) the message is held and handed to it in order:
   * "queued". With a null or invalid url, or after unmount, returns "dropped" and reports it
   * through onDrop(data, "released"). Stable across renders.
   */
  sendMessage: (data: SendData) => SendResult;
  /** JSON.stringify, then sendMessage. Throws, holding nothing, if the value cannot be serialized. Stable. */
  sendJsonMessage: (value: unknown) => SendResult;
  /**
   * With `delivery` on: sends as sendMessage (held the same way before the connection exists)
   * and resolves once the server acknowledged the message, or rejects with a `DropError`
   * (`reason` "overflow", "full", "released" or "rejected", `detail` the server's reason).
   * Without `delivery` it rejects with a TypeError. Stable.
   */
  sendWithAck: (data: SendData) => Promise<void>;
  /**
   * With `persist`: resolves true once every message the Connection took so far is durable in
   * IndexedDB; false when nothing is persisted (no `persist`, IndexedDB missing or refusing, or
   * no Connection yet: messages held before it exists are in memory only). Stable.
   */
  persisted: () => Promise<boolean>;
  lastMessage: Message | null;
  /** The parsed JSON of the last text message (null when it was not JSON), typed as `T` (unchecked). */
  lastJsonMessage: T | null;
  status: ConnectionStatus;
  /** The whole snapshot: attempt, nextRetryAt, queuedMessages, queuedBytes, bufferedAmount, lastClose, lastError... */
  snapshot: UseWebSocketSnapshot;
  /** The underlying Connection, or null while there is none. Shared in share mode. */
  connection: Connection | null;
}

/** What the hook holds once its Connection exists. */
interface Attached {
  readonly key: string;
  readonly connection: Connection;
  /** Set when this hook let go of the connection (freed, or left the shared one). */
  detached: boolean;
  /** The last snapshot read, served once detached (a freed Connection cannot be read). */
  last: ConnectionSnapshot | null;
}

/** What the hook holds when its url failed validation: no Connection, a closed snapshot with the error. */
interface Refused {
  readonly key: string;
  readonly connection: null;
  readonly snapshot: UseWebSocketSnapshot;
}

type Attachment = Attached | Refused;

interface Latest {
  url: UseWebSocketUrl | null;
  options: UseWebSocketOptions;
}

/** Per component, shared by its steps. */
interface Slot {
  /** The live attachment, or null (none yet, refused, or let go). */
  attached: Attached | null;
  /** Messages sent before the Connection exists. */
  readonly pending: PendingMessages;
  /** Bumped by every acquire run: a cleanup whose run is still the last one means unmount or url null. */
  run: number;
  /** True once the hook is really gone (unmounted, url null or refused): sends are dropped. */
  gone: boolean;
}

function placeholder(status: ConnectionStatus, lastError: Error | null = null): UseWebSocketSnapshot {
  return Object.freeze({ ...emptySnapshot(status), lastError });
}

/** The snapshot while there is no connection: url null. */
const CLOSED = placeholder('closed' as ConnectionStatus);
/** The snapshot while the connection is being created (and during server rendering). */
const CONNECTING = placeholder('connecting' as ConnectionStatus);

const shared = new SharedConnections<Connection, CallbackTarget>();

/** Connections this module freed: a freed Connection must not be called again. */
const freed = new WeakSet<Connection>();

let warnedFunctionShare = false;

const EMPTY_OPTIONS: UseWebSocketOptions = Object.freeze({}) as UseWebSocketOptions;

function noop(): void {}

/**
 * Connects to `url` for as long as the component is mounted, and re-renders on every
 * change of the connection's state.
 *
 * - `url` null: no connection, status "closed". Changing the url (a string) or
 *   `options.protocols` replaces the connection; a function url is read afresh before
 *   every attempt, so replacing the function does not reconnect.
 * - A url string that fails validation (it often comes from configuration or user input)
 *   does not throw: status "closed", `onError(error)`, and `snapshot.lastError` is the error.
 *   An invalid option is a bug in the code: it is thrown to the nearest error boundary.
 * - Callbacks (onMessage, onOpen, onClose, onError, onReconnectStop, onDrop, onStatus,
 *   shouldReconnect, and any other `on…` function option) are always called in their latest
 *   version: changing them never reconnects. The other options (reconnect, heartbeat, outbox,
 *   connectTimeoutMs, ...) are read when the connection is created.
 * - Under React.StrictMode exactly one socket is opened and stays open.
 */
export function useWebSocket<T = unknown>(
  url: UseWebSocketUrl | null,
  options: UseWebSocketOptions = EMPTY_OPTIONS,
): UseWebSocketResult<T> {
  const latest = useLatest<Latest>({ url, options });
  const slot = useRef<Slot>({ attached: null, pending: new PendingMessages(), run: 0, gone: false }).current;
  const { key, share } = connectionKey(url, options);
  const attachment = useAcquire(key, share, latest, slot);
  const snapshot = useSnapshot(attachment, url === null ? CLOSED : CONNECTING);
  const { sendMessage, sendJsonMessage, sendWithAck } = usePendingSends(latest, slot);
  const persisted = useCallback((): Promise<boolean> => {
    const current = slot.attached;
    return current !== null && !current.detached ? current.connection.persisted() : Promise.resolve(false);
  }, []);

  const connection = attachment === null ? null : attachment.connection;
  return useMemo(
    () => ({
      sendMessage,
      sendJsonMessage,
      sendWithAck,
      persisted,
      lastMessage: snapshot.lastMessage,
      lastJsonMessage: snapshot.lastJsonMessage as T | null,
      status: snapshot.status,
      snapshot,
      connection,
    }),
    [sendMessage, sendJsonMessage, sendWithAck, persisted, snapshot, connection],
  );
}

/** A ref that always holds the value of the last committed render. */
export function useLatest<V>(value: V): { readonly current: V } {
  const ref = useRef(value);
  useInsertionEffect(() => {
    ref.current = value;
  });
  return ref;
}

/**
 * What identifies the hook's connection: a change of `key` replaces it. `share` is the
 * registry key in share mode, else null. Both null when the url is null.
 */
function connectionKey(url: UseWebSocketUrl | null, options: UseWebSocketOptions): { key: string | null; share: string | null } {
  const protocols = options.protocols;
  const protocolsKey = protocols === undefined || protocols === null ? '' : JSON.stringify(protocols);
  const share = shareKey(url, options.share, protocolsKey);
  if (url === null) return { key: null, share };
  const where = typeof url === 'string' ? `url:${url}` : 'fn';
  return { key: `${where}\u0000${protocolsKey}\u0000${share ?? ''}`, share };
}

/**
 * A url error (from the Connection's constructor): a SyntaxError, as the WebSocket
 * constructor throws, or any error whose message starts "invalid url". Option errors are
 * TypeErrors and RangeErrors naming the option.
 */
export function isUrlError(error: unknown): error is Error {
  return error instanceof Error && (error.name === 'SyntaxError' || /^invalid url\b/i.test(error.message));
}

/** Creates the Connection (or joins the shared one); returns it and the function that lets go of it. */
function createConnection(
  share: string | null,
  latest: { readonly current: Latest },
  target: CallbackTarget,
): { connection: Connection; letGo: () => void } {
  const { options } = latest.current;
  const url = connectionUrl(latest);
  if (share === null) {
    if (options.share === true && !warnedFunctionShare) {
      warnedFunctionShare = true;
      console.warn('useWebSocket: share: true needs a string url; with a function url, pass share: "<name>"');
    }
    const own = new Connection(url, connectionOptions(options, [target]));
    return {
      connection: own,
      letGo: () => {
        freed.add(own);
        own.free();
      },
    };
  }
  const lease = shared.acquire(share, target, (targets) => new Connection(url, connectionOptions(options, targets)));
  return {
    connection: lease.connection,
    letGo: () => {
      if (lease.release()) freed.add(lease.connection);
    },
  };
}

/**
 * Holds the Connection for `key` while the component is mounted: acquired in an effect,
 * released in its cleanup. Returns the current attachment, or null while there is none.
 * An error other than a url's is thrown here, during rendering, to the error boundary.
 */
function useAcquire(key: string | null, share: string | null, latest: { readonly current: Latest }, slot: Slot): Attachment | null {
  const [state, setState] = useState<Attachment | null>(null);
  const [failure, setFailure] = useState<{ error: unknown } | null>(null);
  if (failure !== null) throw failure.error;

  useEffect(() => {
    const thisRun = ++slot.run;
    slot.gone = false;
    if (key === null) {
      dropPending(slot.pending, latest.current.options);
      return;
    }
    const hold = acquire(key, share, latest, slot, setState, (error) => setFailure({ error }));
    return () => {
      hold.release();
      // StrictMode and url changes run the next effect right after this cleanup, in the same
      // commit; only if none did is the hook really gone (unmounted, or url now null).
      queueMicrotask(() => {
        if (slot.run === thisRun) {
          slot.gone = true;
          dropPending(slot.pending, latest.current.options);
        }
      });
    };
  }, [key]);

  return state !== null && state.key === key ? state : null;
}

/**
 * Once the WebAssembly module is loaded (and unless released by then), creates or joins the
 * Connection, hands it the held messages and reports it through `attach`. A url that fails
 * validation is `refuse`d; any other error goes to `fail`. `release()` lets go of it.
 */
function acquire(
  key: string,
  share: string | null,
  latest: { readonly current: Latest },
  slot: Slot,
  attach: (attachment: Attachment) => void,
  fail: (error: unknown) => void,
): { release(): void } {
  let released = false;
  let attached: Attached | null = null;
  let letGo: () => void = noop;
  const target: CallbackTarget = { active: true, callbacks: () => latest.current.options as Callbacks };

  init().then(
    () => {
      if (released) return;
      let created: ReturnType<typeof createConnection>;
      try {
        created = createConnection(share, latest, target);
      } catch (error) {
        if (isUrlError(error)) refuse(key, error, latest, slot, attach);
        else fail(error);
        return;
      }
      letGo = created.letGo;
      attached = { key, connection: created.connection, detached: false, last: null };
      slot.attached = attached;
      flushPending(slot.pending, created.connection, target);
      attach(attached);
    },
    (error: unknown) => {
      if (!released) fail(error);
    },
  );

  return {
    release() {
      released = true;
      try {
        if (attached !== null) {
          attached.last = attached.connection.getSnapshot();
          attached.detached = true;
          if (slot.attached === attached) slot.attached = null;
          letGo();
        }
      } finally {
        target.active = false;
      }
    },
  };
}

/** The url failed validation: no Connection, status "closed", the error in the snapshot and to onError. */
function refuse(key: string, error: Error, latest: { readonly current: Latest }, slot: Slot, attach: (attachment: Attachment) => void): void {
  slot.gone = true;
  dropPending(slot.pending, latest.current.options);
  attach({ key, connection: null, snapshot: placeholder('closed' as ConnectionStatus, error) });
  const onError = latest.current.options.onError as ((error: unknown) => void) | undefined;
  if (typeof onError !== 'function') return;
  try {
    onError(error);
  } catch (again) {
    reportLater(again);
  }
}

/** The attachment's snapshot, re-rendering on every change; `fallback` while there is no Connection. */
function useSnapshot(attachment: Attachment | null, fallback: UseWebSocketSnapshot): UseWebSocketSnapshot {
  const attached = attachment !== null && attachment.connection !== null ? attachment : null;
  const subscribe = useCallback(
    (onChange: () => void) => {
      if (attached === null || attached.detached) return noop;
      const { connection } = attached;
      const unsubscribe = connection.subscribe(onChange);
      return () => {
        if (!freed.has(connection)) unsubscribe();
      };
    },
    [attached],
  );
  const getSnapshot = (): UseWebSocketSnapshot => {
    if (attachment === null) return fallback;
    if (attachment.connection === null) return attachment.snapshot;
    if (!attachment.detached) attachment.last = attachment.connection.getSnapshot();
    return attachment.last ?? CLOSED;
  };
  return useSyncExternalStore(subscribe, getSnapshot, () => fallback);
}

/**
 * sendMessage and sendJsonMessage, stable for the component's lifetime: straight to the
 * Connection once it exists, held (bounded as its outbox) before, dropped and reported when
 * there will be none.
 */
function usePendingSends(
  latest: { readonly current: Latest },
  slot: Slot,
): Pick<UseWebSocketResult, 'sendMessage' | 'sendJsonMessage' | 'sendWithAck'> {
  /** Held until the Connection exists, or dropped when there will be none. */
  const hold = useCallback((data: SendData, ack?: AckWaiter): SendResult => {
    const payload = copyPayload(data);
    const { url, options } = latest.current;
    if (url === null || slot.gone) {
      reportDrop(options, payload);
      ack?.reject(dropError('released'));
      return 'dropped' as SendResult;
    }
    return slot.pending.push(
      payload,
      options.outbox as PendingLimits | undefined,
      (dropped, reason) => reportDrop(options, dropped, reason),
      ack,
    ) as SendResult;
  }, []);

  const sendMessage = useCallback((data: SendData): SendResult => {
    const current = slot.attached;
    if (current !== null && !current.detached) return current.connection.sendMessage(data);
    return hold(data);
  }, []);

  const sendWithAck = useCallback((data: SendData): Promise<void> => {
    const current = slot.attached;
    if (current !== null && !current.detached) {
      try {
        return current.connection.sendWithAck(data);
      } catch (error) {
        return Promise.reject(error); // no delivery option, an OutboxFullError: one way to fail
      }
    }
    if (!latest.current.options.delivery) {
      return Promise.reject(new TypeError('sendWithAck needs the delivery option: useWebSocket(url, { delivery: true })'));
    }
    return new Promise<void>((resolve, reject) => {
      hold(data, { resolve, reject });
    });
  }, []);

  const sendJsonMessage = useCallback(
    (value: unknown): SendResult => {
      const current = slot.attached;
      if (current !== null && !current.detached) return current.connection.sendJsonMessage(value);
      return sendMessage(jsonText(value));
    },
    [sendMessage],
  );
  return { sendMessage, sendJsonMessage, sendWithAck };
}

/** The url to give the Connection: a string as is; a function through the latest one. */
function connectionUrl(latest: { readonly current: Latest }): UseWebSocketUrl {
  const url = latest.current.url;
  if (typeof url !== 'function') return url as string;
  return () => {
    const now = latest.current.url;
    return typeof now === 'function' ? now() : (now as string);
  };
}

function reportDrop(options: UseWebSocketOptions, data: Payload, reason: string = 'released'): void {
  const onDrop = options.onDrop as ((data: Payload, reason: string) => void) | undefined;
  if (typeof onDrop === 'function') onDrop(data, reason);
}

function dropPending(pending: PendingMessages, options: UseWebSocketOptions): void {
  for (const { data, ack } of pending.takeHeld()) {
    reportDrop(options, data);
    ack?.reject(dropError('released'));
  }
}

/** Hands the held messages to the new connection, in order; what it refuses is reported, not lost. */
function flushPending(pending: PendingMessages, connection: Connection, target: CallbackTarget): void {
  for (const { data, ack } of pending.takeHeld()) {
    try {
      if (ack === undefined) connection.sendMessage(data);
      else connection.sendWithAck(data).then(ack.resolve, ack.reject);
    } catch {
      if (target.active) reportDrop(target.callbacks() as UseWebSocketOptions, data, 'full');
      ack?.reject(dropError('full'));
    }
  }
}
