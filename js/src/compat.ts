// The "./compat" entry: react-use-websocket 4.x's surface (the default export useWebSocket,
// ReadyState, its option names and defaults), running on resilient-ws's Connection through
// the "./react" hook, so that migrating is changing one import:
//   import useWebSocket, { ReadyState } from 'resilient-ws/compat';
// What cannot be matched is listed in README.md ("Coming from react-use-websocket").
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useLatest, useWebSocket as useResilientWebSocket, type UseWebSocketOptions, type UseWebSocketUrl } from './react.js';
import { copyPayload, PendingMessages, type Payload, type PendingLimits } from './pending.js';
import type { CloseInfo, ConnectionStatus, SendData } from './types.js';

/** react-use-websocket's ReadyState: the WebSocket's, plus UNINSTANTIATED (no url, or `connect` false). */
export enum ReadyState {
  UNINSTANTIATED = -1,
  CONNECTING = 0,
  OPEN = 1,
  CLOSING = 2,
  CLOSED = 3,
}

export interface QueryParams {
  [key: string]: string | number;
}

export interface HeartbeatOptions {
  /** Sent every `interval` ms. Default "ping". A function is called once, when the connection is created. */
  message?: string | (() => string);
  /** The server's answer: kept out of lastMessage (and, unlike react-use-websocket, out of onMessage). */
  returnMessage?: string;
  /** No message for this long after a ping: the connection is dropped (and retried per the reconnect options). Default 60000. */
  timeout?: number;
  /** Default 25000. */
  interval?: number;
}

/** What `onClose` and `shouldReconnect` receive: the CloseEvent, or its fields where there is no CloseEvent class. */
export type CloseEventLike = Pick<CloseEvent, 'code' | 'reason' | 'wasClean'>;

/** react-use-websocket's options, plus resilient-ws's own (outbox, connectTimeoutMs, onDrop, onStatus, ...). */
export type Options = Omit<UseWebSocketOptions, 'reconnect' | 'heartbeat' | 'shouldReconnect' | 'share' | 'onOpen' | 'onClose' | 'onMessage' | 'onError'> & {
  share?: boolean;
  shouldReconnect?: (event: CloseEventLike) => boolean;
  reconnectInterval?: number | ((lastAttemptNumber: number) => number);
  reconnectAttempts?: number;
  filter?: (message: MessageEvent) => boolean;
  disableJson?: boolean;
  retryOnError?: boolean;
  onOpen?: (event: Event) => void;
  onClose?: (event: CloseEventLike) => void;
  onMessage?: (event: MessageEvent) => void;
  /** Receives an Error (not an Event): the socket's error, a url that failed validation, a callback that threw. */
  onError?: (error: unknown) => void;
  onReconnectStop?: (numAttempts: number) => void;
  queryParams?: QueryParams;
  protocols?: string | string[];
  heartbeat?: boolean | HeartbeatOptions;
  /** Accepted and ignored (there is no assertion to skip). */
  skipAssert?: boolean;
  /** Accepted and ignored: useEventSource is not part of resilient-ws. */
  eventSourceOptions?: unknown;
  /** Not supported: true throws (useSocketIO is not part of resilient-ws). */
  fromSocketIO?: boolean;
};

/** What `getWebSocket()` returns: a WebSocket's send, close, readyState and bufferedAmount. */
export interface WebSocketLike {
  send(data: SendData): void;
  close(code?: number, reason?: string): void;
  readonly readyState: ReadyState;
  /** Bytes not yet handed to the network: the socket's bufferedAmount plus the outbox's queued bytes. */
  readonly bufferedAmount: number;
}

export type SendMessage = (message: SendData, keep?: boolean) => void;
export type SendJsonMessage = <T = unknown>(jsonMessage: T, keep?: boolean) => void;

export interface WebSocketHook<T = unknown> {
  sendMessage: SendMessage;
  sendJsonMessage: SendJsonMessage;
  lastMessage: MessageEvent | null;
  lastJsonMessage: T;
  readyState: ReadyState;
  getWebSocket: () => WebSocketLike | null;
}

/** react-use-websocket's defaults where they differ from resilient-ws's. */
const DEFAULT_RECONNECT_LIMIT = 20;
const DEFAULT_RECONNECT_INTERVAL_MS = 5000;
const DEFAULT_HEARTBEAT = { message: 'ping', timeout: 60000, interval: 25000 };
const HEARTBEAT_KEYS = ['message', 'returnMessage', 'timeout', 'interval'];

/** lastJsonMessage when the last message is not JSON (react-use-websocket's "static empty object"). */
const UNPARSABLE_JSON_OBJECT = Object.freeze({});

/**
 * The pong the Connection's heartbeat filters when no returnMessage is given: react-use-websocket
 * filters nothing then, so this is a text no server sends.
 */
const NO_RETURN_MESSAGE = '\u0000resilient-ws/compat: no returnMessage\u0000';

/** react-use-websocket's option names, translated here; every other option goes to the Connection as it is. */
const OWN_KEYS = new Set([
  'share', 'shouldReconnect', 'reconnectInterval', 'reconnectAttempts', 'filter', 'disableJson', 'retryOnError',
  'onOpen', 'onClose', 'onMessage', 'onError', 'queryParams', 'heartbeat', 'skipAssert', 'eventSourceOptions',
  'fromSocketIO',
]);

const EMPTY_OPTIONS: Options = Object.freeze({});

/**
 * react-use-websocket's `useWebSocket(url, options, connect)` on a resilient-ws Connection
 * (bounded outbox, pacing, reconnect with jitter). `url` null or `connect` false: no connection,
 * readyState UNINSTANTIATED (CLOSED once a connection existed).
 */
export default function useWebSocket<T = unknown>(
  url: UseWebSocketUrl | null,
  options: Options = EMPTY_OPTIONS,
  connect: boolean = true,
): WebSocketHook<T> {
  if (options.fromSocketIO === true) {
    throw new TypeError('resilient-ws/compat: fromSocketIO is not supported (useSocketIO is not part of resilient-ws)');
  }
  if ('reconnect' in options) {
    throw new TypeError(
      'resilient-ws/compat: unknown option reconnect; use reconnectAttempts, reconnectInterval, shouldReconnect ' +
        'and retryOnError here (reconnect is an option of resilient-ws/react)',
    );
  }
  const latest = useLatest(options);
  const [lastMessage, setLastMessage] = useState<MessageEvent | null>(null);
  const retry = useRetries(latest);

  const queryKey = options.queryParams ? JSON.stringify(options.queryParams) : '';
  const target = useMemo(() => withQueryParams(url, latest), [url, queryKey]);
  const { connection, snapshot, sendMessage: send } = useResilientWebSocket(
    connect ? target : null,
    translateOptions(options, latest, retry, setLastMessage),
  );
  const live = useLatest({ connection, status: snapshot.status, off: url === null || !connect });
  useEffect(() => retry.attach(connection), [connection]);
  useEffect(() => () => setLastMessage(null), [connection]);
  // With no url, or connect false, react-use-websocket still queues: held here until a connection exists.
  const held = useRef<PendingMessages | null>(null);
  useEffect(() => {
    if (connection !== null && held.current !== null) for (const data of held.current.take()) send(data);
  }, [connection]);

  const hadConnection = useRef(false);
  if (connection !== null) hadConnection.current = true;
  const readyState =
    url === null || !connect
      ? hadConnection.current ? ReadyState.CLOSED : ReadyState.UNINSTANTIATED
      : toReadyState(snapshot.status, snapshot.nextRetryAt);

  const sendMessage: SendMessage = useCallback(
    (message, keep = true) => {
      if (!keep && live.current.status !== 'connected') return;
      if (!live.current.off) {
        send(message);
        return;
      }
      const { outbox, onDrop } = latest.current as { outbox?: PendingLimits; onDrop?: (data: Payload, reason: string) => void };
      (held.current ??= new PendingMessages()).push(copyPayload(message), outbox, (data, reason) => onDrop?.(data, reason));
    },
    [send],
  );
  const sendJsonMessage: SendJsonMessage = useCallback(
    (message, keep = true) => sendMessage(JSON.stringify(message), keep),
    [sendMessage],
  );

  const socket = useMemo(() => (connection === null ? null : webSocketLike(connection, live, options.share === true, retry)), [connection]);
  const getWebSocket = useCallback(() => (live.current.connection === null ? null : socket), [socket]);

  const disableJson = options.disableJson === true;
  const lastJsonMessage = useMemo(() => parseJson(lastMessage, disableJson), [lastMessage, disableJson]) as T;

  return { sendMessage, sendJsonMessage, lastMessage, lastJsonMessage, readyState, getWebSocket };
}

function toReadyState(status: ConnectionStatus, nextRetryAt: number | null): ReadyState {
  switch (status as string) {
    case 'connected':
      return ReadyState.OPEN;
    case 'connecting':
      return ReadyState.CONNECTING;
    case 'reconnecting':
      // Waiting for the retry timer: the last socket is closed; else the next one is connecting.
      return nextRetryAt === null ? ReadyState.CONNECTING : ReadyState.CLOSED;
    default:
      return ReadyState.CLOSED;
  }
}

function parseJson(message: MessageEvent | null, disabled: boolean): unknown {
  if (disabled || message === null) return null;
  try {
    return typeof message.data === 'string' ? JSON.parse(message.data) : UNPARSABLE_JSON_OBJECT;
  } catch {
    return UNPARSABLE_JSON_OBJECT;
  }
}

/** `url` with `queryParams` appended (read when the url is used; a change of them reconnects, as in react-use-websocket). */
function withQueryParams(url: UseWebSocketUrl | null, latest: { readonly current: Options }): UseWebSocketUrl | null {
  const append = (base: string): string => {
    const params = latest.current.queryParams;
    if (!params || Object.keys(params).length === 0) return base;
    const query = Object.entries(params)
      .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
      .join('&');
    return `${base}${base.includes('?') ? '&' : '?'}${query}`;
  };
  if (url === null) return null;
  if (typeof url === 'string') return append(url);
  return () => {
    const got = url();
    return typeof got === 'string' ? append(got) : Promise.resolve(got).then(append);
  };
}

function closeEvent(info: CloseInfo): CloseEventLike {
  const init = { code: info.code, reason: info.reason, wasClean: info.wasClean };
  return typeof CloseEvent === 'function' ? new CloseEvent('close', init) : init;
}

function messageEvent(data: unknown): MessageEvent {
  return (typeof MessageEvent === 'function' ? new MessageEvent('message', { data }) : { data }) as MessageEvent;
}

/** The resilient-ws options for react-use-websocket's `options`. */
function translateOptions(
  options: Options,
  latest: { readonly current: Options },
  retry: Retries,
  setLastMessage: (message: MessageEvent | null) => void,
): UseWebSocketOptions {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!OWN_KEYS.has(key)) result[key] = value;
  if (options.share !== undefined) result.share = options.share;
  result.reconnect = reconnectOptions(options);
  if (result.reconnect !== false) result.shouldReconnect = retry.decide;
  const heartbeat = heartbeatOptions(options.heartbeat);
  if (heartbeat !== undefined) result.heartbeat = heartbeat;
  result.onOpen = () => {
    retry.opened();
    latest.current.onOpen?.(typeof Event === 'function' ? new Event('open') : ({ type: 'open' } as Event));
  };
  result.onClose = (info: CloseInfo) => {
    const event = closeEvent(info);
    latest.current.onClose?.(event);
    retry.closed(info);
  };
  result.onError = (error: unknown) => {
    retry.errored();
    latest.current.onError?.(error);
  };
  result.onMessage = (message: { data: unknown }) => {
    const event = messageEvent(message.data);
    const o = latest.current;
    o.onMessage?.(event);
    if (typeof o.filter === 'function' && o.filter(event) !== true) return;
    setLastMessage(event);
  };
  return result as UseWebSocketOptions;
}

/**
 * react-use-websocket reconnects only if shouldReconnect or retryOnError is given, up to
 * reconnectAttempts (20) times, every reconnectInterval (5000) ms, counting from 0 again once
 * open. A number interval is the Connection's own backoff (constant, with its jitter: each
 * wait is drawn in [0, interval]); a function interval is run here, with the Connection's
 * reconnecting off (false).
 */
function reconnectOptions(o: Options): false | Record<string, number> {
  if (typeof o.shouldReconnect !== 'function' && o.retryOnError !== true) return false;
  if (typeof o.reconnectInterval === 'function') return false;
  const interval = o.reconnectInterval ?? DEFAULT_RECONNECT_INTERVAL_MS;
  return {
    initialDelayMs: interval,
    maxDelayMs: interval,
    factor: 1,
    maxAttempts: o.reconnectAttempts ?? DEFAULT_RECONNECT_LIMIT,
    minUptimeMs: 0,
  };
}

function heartbeatOptions(h: Options['heartbeat']): undefined | Record<string, unknown> {
  if (h === undefined || h === false) return undefined;
  const o: HeartbeatOptions = h === true ? {} : h;
  for (const key of Object.keys(o)) {
    if (!HEARTBEAT_KEYS.includes(key)) {
      throw new TypeError(`resilient-ws/compat: unknown option heartbeat.${key}: expected one of ${HEARTBEAT_KEYS.join(', ')}`);
    }
  }
  const message = typeof o.message === 'function' ? o.message() : (o.message ?? DEFAULT_HEARTBEAT.message);
  return {
    intervalMs: o.interval ?? DEFAULT_HEARTBEAT.interval,
    timeoutMs: o.timeout ?? DEFAULT_HEARTBEAT.timeout,
    message,
    pongMessage: o.returnMessage ?? NO_RETURN_MESSAGE,
  };
}

type Reconnectable = { readonly status: string; reconnect(): void };

interface Retries {
  /** shouldReconnect for the Connection: after an error with retryOnError, or as the user's shouldReconnect says. */
  decide(info: CloseInfo): boolean;
  errored(): void;
  opened(): void;
  /** A close: with a function reconnectInterval, schedules the retry here. */
  closed(info: CloseInfo): void;
  /** The user closed through getWebSocket(): no retry. */
  userClosed(): void;
  /** The current Connection; returns the cleanup (cancels a scheduled retry). */
  attach(connection: Reconnectable | null): () => void;
}

/** react-use-websocket's reconnect policy, per component. */
function useRetries(latest: { readonly current: Options }): Retries {
  const ref = useRef<Retries | null>(null);
  if (ref.current === null) ref.current = createRetries(latest);
  return ref.current;
}

function createRetries(latest: { readonly current: Options }): Retries {
  let sawError = false;
  let byUser = false;
  let count = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let connection: Reconnectable | null = null;
  const retries: Retries = {
    decide(info) {
      const errored = sawError;
      sawError = false;
      const o = latest.current;
      if (o.retryOnError === true && errored) return true;
      return typeof o.shouldReconnect === 'function' && Boolean(o.shouldReconnect(closeEvent(info)));
    },
    errored() {
      sawError = true;
    },
    opened() {
      sawError = false;
      count = 0;
    },
    closed(info) {
      const o = latest.current;
      if (typeof o.reconnectInterval !== 'function' || byUser || !retries.decide(info)) return;
      const limit = o.reconnectAttempts ?? DEFAULT_RECONNECT_LIMIT;
      if (count >= limit) {
        o.onReconnectStop?.(limit);
        return;
      }
      const delay = o.reconnectInterval(count);
      clearTimeout(timer);
      timer = setTimeout(() => {
        count++;
        // In share mode every component schedules a retry: the first one due reconnects.
        if (connection?.status === 'closed') connection.reconnect();
      }, delay);
    },
    userClosed() {
      byUser = true;
      clearTimeout(timer);
    },
    attach(next) {
      connection = next;
      byUser = false;
      count = 0;
      return () => {
        clearTimeout(timer);
        connection = null;
      };
    },
  };
  return retries;
}

/** getWebSocket()'s object. Shared: send and close are refused, as react-use-websocket's proxy does. */
function webSocketLike(
  connection: NonNullable<ReturnType<typeof useResilientWebSocket>['connection']>,
  live: { readonly current: { connection: unknown } },
  shared: boolean,
  retry: Retries,
): WebSocketLike {
  const current = () => live.current.connection === connection;
  // react-use-websocket's text, as its proxy logs it.
  const refuse = () =>
    console.error('Calling methods directly on the websocket is not supported at this moment. You must use the methods returned by useWebSocket.');
  return {
    send(data) {
      if (shared) refuse();
      else if (current()) connection.sendMessage(data);
    },
    close(code, reason) {
      if (shared) return refuse();
      if (!current()) return;
      retry.userClosed();
      connection.close(code, reason);
    },
    get readyState() {
      if (!current()) return ReadyState.CLOSED;
      const s = connection.getSnapshot();
      return toReadyState(s.status, s.nextRetryAt);
    },
    get bufferedAmount() {
      if (!current()) return 0;
      const s = connection.getSnapshot();
      return s.bufferedAmount + s.queuedBytes;
    },
  };
}
