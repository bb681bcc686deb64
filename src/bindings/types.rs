//! The TypeScript types of the JS API, added to the generated .d.ts: options, snapshot, and
//! the string unions the `Connection` methods take and return.
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The connection's state. */
export type Status = "connecting" | "connected" | "reconnecting" | "closed";
/** What sendMessage did: handed to the socket, waiting in the outbox, or refused (overflow "drop-newest"). */
export type SendResult = "sent" | "queued" | "dropped";
/** Why onDrop was called: evicted by "drop-oldest", refused by "drop-newest", still queued at
 * free(), or (delivery) refused by the server. */
export type DropReason = "overflow" | "full" | "released" | "rejected" | "expired";
/** What happens when the outbox is full. */
export type OverflowPolicy = "error" | "drop-oldest" | "drop-newest";
/** A message as received: text, or binary as an ArrayBuffer. */
export type MessageData = string | ArrayBuffer;
/** A URL as `new WebSocket` takes it (ws:, wss:, http: or https:; relative to the document's
 * base URL), or a function called before every attempt that returns one (or a Promise of one). */
export type UrlSource = string | URL | (() => string | URL | Promise<string | URL>);

/** What a close event said. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** A received message. receivedAt is in epoch milliseconds. */
export interface LastMessage {
  readonly data: MessageData;
  readonly receivedAt: number;
}

export interface ReconnectOptions {
  /** Base delay before the first retry (default 500). */
  initialDelayMs?: number;
  /** Cap on the base delay (default 30000). */
  maxDelayMs?: number;
  /** Growth factor per attempt, at least 1 (default 2). */
  factor?: number;
  /** 0..1: the delay is drawn from [base × (1 − jitter), base] (default 1, full jitter). */
  jitter?: number;
  /** Retries before giving up (default unlimited; null or Infinity mean unlimited). */
  maxAttempts?: number | null;
  /** A connection must stay open this long to reset the attempt counter (default 5000). */
  minUptimeMs?: number;
}

export interface HeartbeatOptions {
  /** Ping interval while connected (default 25000). */
  intervalMs?: number;
  /** No inbound message this long after a ping means the connection is dead (default 10000). */
  timeoutMs?: number;
  /** The ping (default "ping"). */
  message?: string;
  /** An inbound message equal to this is not passed on (default "pong"). */
  pongMessage?: string;
}

export interface OutboxOptions {
  /** Default 1000. */
  maxMessages?: number;
  /** UTF-8 bytes of text plus length of binary (default 1 MiB). */
  maxBytes?: number;
  /** Default "error": sendMessage throws an OutboxFullError. */
  overflow?: OverflowPolicy;
  /** Messages go to the socket only while its bufferedAmount is below this (default 65536). */
  highWaterMark?: number;
}

/** The delivery protocol (PROTOCOL.md): acknowledgements, resend, de-duplication, resume. */
export interface DeliveryOptions {
  /** An open socket that leaves the oldest unacknowledged message this long without an
   * acknowledgement is dropped, and the session resumes on a new one (default 10000). */
  ackTimeoutMs?: number;
  /** The server's data is acknowledged at most this often (default 1000). */
  ackEveryMs?: number;
}

/** `persist`: the outbox and the delivery session kept in IndexedDB (needs `delivery`). */
export interface PersistOptions {
  /** The store's name: a Connection with the same name (after a reload) resumes this session. */
  name: string;
  /** Stored messages older than this are reported onDrop(data, "expired") (default 7 days). */
  maxAgeMs?: number;
}

/** What a sendWithAck promise rejects with when its message is dropped. */
export interface DropError extends Error {
  readonly name: "DropError";
  readonly reason: DropReason;
  /** With "rejected": the server's reason. */
  readonly detail?: string;
}

export interface ConnectionOptions {
  protocols?: string | string[];
  /** false: never reconnect; true or absent: the defaults. */
  reconnect?: ReconnectOptions | boolean;
  /** An attempt not open by then is abandoned (default 10000). */
  connectTimeoutMs?: number;
  /** Whether to reconnect after this close (never called after close()). Default: reconnect,
   * except after 1002, 1003, 1007, 1008, 1009, 1010, 4401 and 4403. */
  shouldReconnect?: (closeInfo: CloseInfo) => boolean;
  /** Off by default; true: the defaults. */
  heartbeat?: HeartbeatOptions | boolean;
  outbox?: OutboxOptions;
  onOpen?: () => void;
  onClose?: (closeInfo: CloseInfo) => void;
  /** Every message, in order. */
  onMessage?: (message: LastMessage) => void;
  /** Socket errors, failed attempts, and errors thrown by the other callbacks. */
  onError?: (error: unknown) => void;
  onReconnectStop?: (attempts: number) => void;
  /** A message that will not be delivered; with "rejected", detail is the server's reason. */
  onDrop?: (data: string | ArrayBuffer | ArrayBufferView, reason: DropReason, detail?: string) => void;
  onStatus?: (status: Status) => void;
  /** Off by default (plain servers keep working); true: the defaults. Needs a server that
   * speaks PROTOCOL.md. */
  delivery?: DeliveryOptions | boolean;
  /** Keep the outbox and the session in IndexedDB under this name, across reloads (needs delivery). */
  persist?: PersistOptions;
  /** "shared": one socket per origin and persist.name, shared by every tab (needs persist); "own" (default): each its own. */
  tabs?: "shared" | "own";
  /** Delivery: the server acknowledged this message. */
  onAck?: (data: string | ArrayBuffer | ArrayBufferView) => void;
  /** Delivery: the server lost this session (continuity is lost): refetch the app's state. */
  onResync?: () => void;
}

/** An immutable view of the connection; the same object until something in it changes. */
export interface Snapshot {
  readonly status: Status;
  readonly lastMessage: LastMessage | null;
  readonly lastJsonMessage: unknown;
  /** The retries of the current outage: 0 while connected. */
  readonly attempt: number;
  /** Epoch milliseconds of the next retry, or null. */
  readonly nextRetryAt: number | null;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly bufferedAmount: number;
  readonly lastClose: CloseInfo | null;
  /** Delivery: messages sent at least once and not acknowledged yet (they count against the
   * outbox bounds beside queuedMessages); 0 with delivery off. */
  readonly unackedMessages: number;
  /** Delivery: the last welcome's resumed; null before the first welcome or with delivery off. */
  readonly resumed: boolean | null;
}
"#;
