// The "./react" entry: useWebSocket. Importing it touches neither `window` nor `WebSocket`.
import { useCallback, useEffect, useInsertionEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { connectionOptions, type CallbackTarget, type Callbacks } from './callbacks.js';
import { init } from './init.js';
import { copyPayload, PendingMessages, type Payload, type PendingLimits } from './pending.js';
import { Connection } from './resilient_ws.js';
import { shareKey, SharedConnections } from './shared.js';
import type { ConnectionOptions, ConnectionSnapshot, ConnectionStatus, Message, SendData, SendResult } from './types.js';

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

export interface UseWebSocketResult<T = unknown> {
  /**
   * Sends now, queues, or drops, as `Connection.sendMessage`. Before the connection exists
   * (first render, WebAssembly still loading) the message is held and handed to it in order:
   * "queued". With a null url, or after unmount, returns "dropped" and reports it through
   * onDrop(data, "released"). Stable across renders.
   */
  sendMessage: (data: SendData) => SendResult;
  /** JSON.stringify, then sendMessage. Throws, holding nothing, if the value cannot be serialized. Stable. */
  sendJsonMessage: (value: unknown) => SendResult;
  lastMessage: Message | null;
  /** The parsed JSON of the last text message (null when it was not JSON), typed as `T` (unchecked). */
  lastJsonMessage: T | null;
  status: ConnectionStatus;
  /** The whole snapshot: attempt, nextRetryAt, queuedMessages, queuedBytes, bufferedAmount, lastClose... */
  snapshot: ConnectionSnapshot;
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

interface Latest {
  url: UseWebSocketUrl | null;
  options: UseWebSocketOptions;
}

function placeholder(status: ConnectionStatus): ConnectionSnapshot {
  return Object.freeze({
    status,
    lastMessage: null,
    lastJsonMessage: null,
    attempt: 0,
    nextRetryAt: null,
    queuedMessages: 0,
    queuedBytes: 0,
    bufferedAmount: 0,
    lastClose: null,
  }) as ConnectionSnapshot;
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

function readSnapshot(attached: Attached): ConnectionSnapshot {
  if (!attached.detached) attached.last = attached.connection.getSnapshot();
  return attached.last ?? CLOSED;
}

function noop(): void {}

/**
 * Connects to `url` for as long as the component is mounted, and re-renders on every
 * change of the connection's state.
 *
 * - `url` null: no connection, status "closed". Changing the url (a string) or
 *   `options.protocols` replaces the connection; a function url is read afresh before
 *   every attempt, so replacing the function does not reconnect.
 * - Callbacks (onMessage, onOpen, onClose, onError, onReconnectStop, onDrop, onStatus, shouldReconnect)
 *   are always called in their latest version: changing them never reconnects. The other
 *   options (reconnect, heartbeat, outbox, connectTimeoutMs) are read when the connection is
 *   created.
 * - Under React.StrictMode exactly one socket is opened and stays open.
 */
export function useWebSocket<T = unknown>(
  url: UseWebSocketUrl | null,
  options: UseWebSocketOptions = EMPTY_OPTIONS,
): UseWebSocketResult<T> {
  const latest = useRef<Latest>({ url, options });
  useInsertionEffect(() => {
    latest.current = { url, options };
  });

  const protocols = options.protocols;
  const protocolsKey = protocols === undefined || protocols === null ? '' : JSON.stringify(protocols);
  const share = shareKey(url, options.share, protocolsKey);
  const key =
    url === null
      ? null
      : `${typeof url === 'string' ? `url:${url}` : 'fn'}\u0000${protocolsKey}\u0000${share ?? ''}`;

  const [attachedState, setAttached] = useState<Attached | null>(null);
  const [failure, setFailure] = useState<{ error: unknown } | null>(null);
  if (failure !== null) throw failure.error;

  const attachedRef = useRef<Attached | null>(null);
  const pending = useRef(new PendingMessages());
  /** Bumped by every effect run: a cleanup whose run is still the last one means unmount or url null. */
  const run = useRef(0);
  const gone = useRef(false);

  useEffect(() => {
    const thisRun = ++run.current;
    gone.current = false;
    if (key === null) {
      dropPending(pending.current, latest.current.options);
      return;
    }
    let cancelled = false;
    let attached: Attached | null = null;
    let letGo: () => void = noop;
    const target: CallbackTarget = { active: true, callbacks: () => latest.current.options as Callbacks };

    init().then(
      () => {
        if (cancelled) return;
        const { options } = latest.current;
        const urlArg = connectionUrl(latest);
        let connection: Connection;
        try {
          if (share === null) {
            if (options.share === true && !warnedFunctionShare) {
              warnedFunctionShare = true;
              console.warn('useWebSocket: share: true needs a string url; with a function url, pass share: "<name>"');
            }
            const own = new Connection(urlArg, connectionOptions(options, [target]));
            connection = own;
            letGo = () => {
              freed.add(own);
              own.free();
            };
          } else {
            const lease = shared.acquire(share, target, (targets) =>
              new Connection(urlArg, connectionOptions(options, targets)),
            );
            connection = lease.connection;
            letGo = () => {
              if (lease.release()) freed.add(lease.connection);
            };
          }
        } catch (error) {
          setFailure({ error });
          return;
        }
        attached = { key, connection, detached: false, last: null };
        attachedRef.current = attached;
        flushPending(pending.current, connection, target);
        setAttached(attached);
      },
      (error: unknown) => {
        if (!cancelled) setFailure({ error });
      },
    );

    return () => {
      cancelled = true;
      if (attached !== null) {
        attached.last = attached.connection.getSnapshot();
        attached.detached = true;
        if (attachedRef.current === attached) attachedRef.current = null;
        try {
          letGo();
        } finally {
          target.active = false;
        }
      } else {
        target.active = false;
      }
      // StrictMode and url changes run the next effect right after this cleanup, in the same
      // commit; only if none did is the hook really gone (unmounted, or url now null).
      queueMicrotask(() => {
        if (run.current === thisRun) {
          gone.current = true;
          dropPending(pending.current, latest.current.options);
        }
      });
    };
  }, [key]);

  const attached = attachedState !== null && attachedState.key === key ? attachedState : null;
  const fallback = url === null ? CLOSED : CONNECTING;

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
  const getSnapshot = () => (attached === null ? fallback : readSnapshot(attached));
  const getServerSnapshot = () => fallback;
  const snapshot = useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot);

  const sendMessage = useCallback((data: SendData): SendResult => {
    const current = attachedRef.current;
    if (current !== null && !current.detached) return current.connection.sendMessage(data);
    const payload = copyPayload(data);
    const { url, options } = latest.current;
    if (url === null || gone.current) {
      reportDrop(options, payload);
      return 'dropped' as SendResult;
    }
    return pending.current.push(payload, options.outbox as PendingLimits | undefined, (dropped, reason) =>
      reportDrop(options, dropped, reason),
    ) as SendResult;
  }, []);

  const sendJsonMessage = useCallback(
    (value: unknown): SendResult => {
      const current = attachedRef.current;
      if (current !== null && !current.detached) return current.connection.sendJsonMessage(value);
      const text = JSON.stringify(value) as string | undefined;
      if (typeof text !== 'string') throw new TypeError('sendJsonMessage: the value has no JSON representation');
      return sendMessage(text);
    },
    [sendMessage],
  );

  const connection = attached === null ? null : attached.connection;
  return useMemo(
    () => ({
      sendMessage,
      sendJsonMessage,
      lastMessage: snapshot.lastMessage,
      lastJsonMessage: snapshot.lastJsonMessage as T | null,
      status: snapshot.status,
      snapshot,
      connection,
    }),
    [sendMessage, sendJsonMessage, snapshot, connection],
  );
}

/** The url to give the Connection: a string as is; a function through the latest one. */
function connectionUrl(latest: { current: Latest }): UseWebSocketUrl {
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
  for (const data of pending.take()) reportDrop(options, data);
}

/** Hands the held messages to the new connection, in order; what it refuses is reported, not lost. */
function flushPending(pending: PendingMessages, connection: Connection, target: CallbackTarget): void {
  for (const data of pending.take()) {
    try {
      connection.sendMessage(data);
    } catch {
      if (target.active) reportDrop(target.callbacks() as UseWebSocketOptions, data, 'full');
    }
  }
}
