// The "./server" entry: the delivery protocol (PROTOCOL.md) for Node servers built on the `ws`
// package. It imports nothing at runtime — not `ws` (its sockets and servers are duck-typed below),
// not the wasm glue, not React — so the browser entries gain no dependency from it.
//
//   import { WebSocketServer } from 'ws';
//   import { DeliveryServer } from 'resilient-ws/server';
//   const delivery = new DeliveryServer({ onMessage: (data, ctx) => { ...apply...; ctx.send('done') } });
//   delivery.attach(new WebSocketServer({ port: 8080 }));

// ---------------------------------------------------------------------------------------------
// Structural types of the `ws` objects used (a `ws` WebSocket / WebSocketServer satisfies them)
// ---------------------------------------------------------------------------------------------

/** What a `ws` message event carries: a Buffer (default), an ArrayBuffer or a Buffer[] (by `binaryType`). */
export type RawData = Uint8Array | ArrayBuffer | readonly Uint8Array[];

/** The part of a `ws` WebSocket this module uses. */
export interface WebSocketLike {
  /** 1 = OPEN. */
  readonly readyState: number;
  /** A string goes out as a text frame, bytes as a binary frame (`ws` detects this). */
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: 'message' | 'close' | 'error', listener: (...args: any[]) => void): unknown;
}

/** The part of a `ws` WebSocketServer this module uses. */
export interface WebSocketServerLike<Req = unknown> {
  on(event: 'connection', listener: (socket: WebSocketLike, request: Req) => void): unknown;
  off(event: 'connection', listener: (socket: WebSocketLike, request: Req) => void): unknown;
}

// ---------------------------------------------------------------------------------------------
// Session store
// ---------------------------------------------------------------------------------------------

/** A value, or a promise of it: a store may be synchronous (memory) or asynchronous (Redis). */
export type Awaitable<T> = T | PromiseLike<T>;

/** A server message as the store keeps it until the client acknowledges it. */
export interface StoredFrame {
  /** Its sequence number (1, 2, … per session). */
  readonly seq: number;
  /** Its payload: a string goes out as a text data frame, bytes as a binary one. */
  readonly data: string | Uint8Array;
}

/** The counters of one session. */
export interface SessionCounters {
  /** Highest client seq the server accepted (applied or rejected); 0 if none. */
  readonly lastIn: number;
  /** Last server seq assigned; 0 if none. */
  readonly outSeq: number;
  /** Every server frame with seq ≤ trimmed is gone from the buffer (acknowledged or evicted). */
  readonly trimmed: number;
}

/**
 * Where a DeliveryServer keeps its sessions. Every method may return a value or a promise; the
 * server calls them one at a time per session (never two at once for the same `sid` from one
 * DeliveryServer). `MemoryStore` is the default.
 *
 * A Redis store maps it naturally, e.g. a hash `s:{sid}` with fields lastIn/outSeq/trimmed and a
 * sorted set (or list) `f:{sid}` of frames scored by seq: `load` = HGETALL + PERSIST, `reset` =
 * DEL + HSET, `setLastIn` = HSET, `append` = HINCRBY outSeq + ZADD (in a MULTI), `trim` = HSET
 * trimmed + ZREMRANGEBYSCORE, `frames` = ZRANGEBYSCORE, `release` = EXPIRE. Binary payloads must
 * come back as bytes and text as strings (e.g. store a one-byte type tag with each frame).
 */
export interface SessionStore {
  /** The session's counters, or undefined if the store has no state for `sid`. Cancels a pending expiry (see `release`). */
  load(sid: string): Awaitable<SessionCounters | undefined>;
  /** Starts the session afresh — every counter 0, no frames — replacing any state it had. Cancels a pending expiry. */
  reset(sid: string): Awaitable<void>;
  /** Records `seq` as the highest client seq accepted. */
  setLastIn(sid: string, seq: number): Awaitable<void>;
  /**
   * Assigns the next server seq (outSeq + 1) to `data`, keeps the frame until it is trimmed, and
   * returns the seq; undefined if the store has no state for `sid`. A store may evict its oldest
   * frames to bound its memory (raising `trimmed`): the client then cannot resume and resyncs.
   */
  append(sid: string, data: string | Uint8Array): Awaitable<number | undefined>;
  /** The client has every server frame up to `upto`: drop them, and raise `trimmed` to `upto` (never beyond `outSeq`). */
  trim(sid: string, upto: number): Awaitable<void>;
  /** The buffered frames with seq > `after`, in ascending seq order. */
  frames(sid: string, after: number): Awaitable<readonly StoredFrame[]>;
  /** No connection uses the session any more: the store may forget it after a while (until `load` or `reset`). */
  release(sid: string): Awaitable<void>;
}

/** Options of MemoryStore. */
export interface MemoryStoreOptions {
  /** A released session (no connection) is forgotten after this long. Default 600000 (10 min). */
  ttlMs?: number;
  /** At most this many unacknowledged server frames per session; the oldest are evicted beyond. Default 10000. */
  maxFrames?: number;
}

interface MemorySession {
  lastIn: number;
  outSeq: number;
  trimmed: number;
  /** Ascending seq; frames[i].seq = trimmed + 1 + i. */
  frames: StoredFrame[];
  expiry: ReturnType<typeof setTimeout> | undefined;
}

/** The default SessionStore: sessions in this process's memory, forgotten `ttlMs` after their last connection closed. */
export class MemoryStore implements SessionStore {
  readonly #sessions = new Map<string, MemorySession>();
  readonly #ttlMs: number;
  readonly #maxFrames: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.#ttlMs = positiveInteger(options.ttlMs ?? 600_000, 'MemoryStore option ttlMs');
    this.#maxFrames = positiveInteger(options.maxFrames ?? 10_000, 'MemoryStore option maxFrames');
  }

  /** How many sessions are held. */
  get size(): number {
    return this.#sessions.size;
  }

  load(sid: string): SessionCounters | undefined {
    const s = this.#sessions.get(sid);
    if (!s) return undefined;
    this.#keep(s);
    return { lastIn: s.lastIn, outSeq: s.outSeq, trimmed: s.trimmed };
  }

  reset(sid: string): void {
    const old = this.#sessions.get(sid);
    if (old) this.#keep(old);
    this.#sessions.set(sid, { lastIn: 0, outSeq: 0, trimmed: 0, frames: [], expiry: undefined });
  }

  setLastIn(sid: string, seq: number): void {
    const s = this.#sessions.get(sid);
    if (s) s.lastIn = seq;
  }

  append(sid: string, data: string | Uint8Array): number | undefined {
    const s = this.#sessions.get(sid);
    if (!s) return undefined;
    const seq = ++s.outSeq;
    s.frames.push({ seq, data });
    const excess = s.frames.length - this.#maxFrames;
    if (excess > 0) {
      s.frames.splice(0, excess);
      s.trimmed += excess;
    }
    return seq;
  }

  trim(sid: string, upto: number): void {
    const s = this.#sessions.get(sid);
    if (!s) return;
    const to = Math.min(upto, s.outSeq);
    if (to <= s.trimmed) return;
    s.frames.splice(0, to - s.trimmed);
    s.trimmed = to;
  }

  frames(sid: string, after: number): readonly StoredFrame[] {
    const s = this.#sessions.get(sid);
    if (!s) return [];
    return s.frames.slice(Math.max(0, after - s.trimmed));
  }

  release(sid: string): void {
    const s = this.#sessions.get(sid);
    if (!s) return;
    this.#keep(s);
    s.expiry = setTimeout(() => {
      if (this.#sessions.get(sid) === s) this.#sessions.delete(sid);
    }, this.#ttlMs);
    // A pending expiry must not keep the Node process alive.
    (s.expiry as unknown as { unref?: () => void }).unref?.();
  }

  #keep(s: MemorySession): void {
    if (s.expiry !== undefined) clearTimeout(s.expiry);
    s.expiry = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Public server API
// ---------------------------------------------------------------------------------------------

/** What the server can send to a client: text, or bytes (an ArrayBuffer or any view; copied at once). */
export type OutgoingData = string | ArrayBuffer | ArrayBufferView;

/** Throw this from `onMessage` to refuse a message: the client is told `reason` and does not resend it. */
export class Rejection extends Error {
  /** The reason sent to the client (the nack's "e"). */
  readonly reason: string;
  constructor(reason: string) {
    super(`message rejected: ${reason}`);
    this.name = 'Rejection';
    this.reason = reason;
  }
}

/** A client broke the protocol: its connection is closed with code 1002 and this message as the reason. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The connection a callback is about. */
export interface ConnectionContext<Req = unknown> {
  /** The session id from the client's hello; null before it (e.g. a client without delivery). */
  readonly sid: string | null;
  /** The `ws` socket. */
  readonly socket: WebSocketLike;
  /** What `handle()` was given with the socket (with `attach()`: the HTTP upgrade request). */
  readonly request: Req | undefined;
}

/** The context of one client message. */
export interface MessageContext<Req = unknown> extends ConnectionContext<Req> {
  readonly sid: string;
  /** The message's client seq. */
  readonly seq: number;
  /** Sends a message to this session (as `DeliveryServer.send(sid, data)`). */
  send(data: OutgoingData): Promise<number>;
}

/** Told after each hello was answered (and, when resumed, the replay sent). */
export interface SessionInfo<Req = unknown> extends ConnectionContext<Req> {
  readonly sid: string;
  /** false: the server had no usable state for the session and started it afresh (the client resyncs). */
  readonly resumed: boolean;
}

/** Options of DeliveryServer. */
export interface DeliveryServerOptions<Req = unknown> {
  /**
   * Applies one client message. Called exactly once per message, in the client's order, one at a
   * time per session: the next message waits until the returned promise settles. Resolve (or
   * return) to accept it — the client is acknowledged; throw a `Rejection` to refuse it — the
   * client is told the reason and does not resend it. Any other error leaves the message not
   * accepted: it goes to `onError`, the connection is closed with 1011, and the client resends the
   * message after it reconnects, so `onMessage` is called again for it.
   */
  onMessage(data: string | Uint8Array, ctx: MessageContext<Req>): void | Promise<void>;
  /** Frames outside the protocol (e.g. from a client without delivery), other than the heartbeat ping. Ignored if absent. */
  onRawMessage?(data: string | Uint8Array, ctx: ConnectionContext<Req>): void;
  /** After each hello was answered. */
  onSession?(info: SessionInfo<Req>): void;
  /** Protocol errors (`ProtocolError`), errors from `onMessage` and from the store. Default: console.error. */
  onError?(error: Error, ctx: ConnectionContext<Req>): void;
  /** Where sessions are kept. Default: a new `MemoryStore()`. */
  store?: SessionStore;
  /**
   * The heartbeat: a text frame equal to `ping` is answered at once with `pong` (not queued behind
   * messages). `true` (default): "ping" → "pong", the client's defaults; `false`: such frames go
   * to `onRawMessage`.
   */
  pong?: boolean | { ping: string; pong: string };
}

// ---------------------------------------------------------------------------------------------
// Wire format (PROTOCOL.md): every encoding and decoding of frames is here
// ---------------------------------------------------------------------------------------------

/** Sequence numbers are integers in 0 … 2^53 − 1. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** First byte of a binary data frame ('d'), followed by the seq as u64 big-endian, then the bytes. */
const BINARY_DATA = 0x64;
const BINARY_HEADER = 9;
const MAX_SID_LENGTH = 256;

type ClientFrame =
  | { kind: 'hello'; sid: string; in: number }
  | { kind: 'data'; seq: number; data: string | Uint8Array }
  | { kind: 'ack'; upto: number }
  | { kind: 'raw'; data: string | Uint8Array };

const utf8 = new TextDecoder();

/** One Uint8Array from whatever `ws` delivered. */
function bytesOf(raw: RawData): Uint8Array {
  if (raw instanceof Uint8Array) return raw;
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  const out = new Uint8Array(raw.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of raw) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

function isSeq(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= MAX_SEQ;
}

function field<T>(frame: Record<string, unknown>, key: string, ok: (v: unknown) => v is T, what: string): T {
  const v = frame[key];
  if (!ok(v)) throw new ProtocolError(`"${String(frame.t)}" frame: "${key}" must be ${what}, got ${JSON.stringify(v) ?? 'nothing'}`);
  return v;
}

/**
 * Decodes a client frame. Before the hello only a hello is a protocol frame; after it, "d" and
 * "a" frames and binary frames starting with 0x64. Anything else is `raw`. Throws ProtocolError
 * for a malformed protocol frame.
 */
function decodeClientFrame(raw: RawData, isBinary: boolean, helloSeen: boolean): ClientFrame {
  const bytes = bytesOf(raw);
  if (isBinary) {
    if (!helloSeen || bytes[0] !== BINARY_DATA) return { kind: 'raw', data: bytes };
    if (bytes.length < BINARY_HEADER) throw new ProtocolError(`binary data frame of ${bytes.length} bytes: the header alone is 9`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, BINARY_HEADER);
    const hi = view.getUint32(1);
    const seq = hi * 2 ** 32 + view.getUint32(5);
    if (hi >= 2 ** 21 || seq < 1) throw new ProtocolError(`binary data frame: seq ${hi >= 2 ** 21 ? '≥ 2^53' : seq} is out of range 1..2^53-1`);
    return { kind: 'data', seq, data: bytes.subarray(BINARY_HEADER) };
  }
  const text = utf8.decode(bytes);
  let frame: unknown;
  if (text.startsWith('{')) {
    try {
      frame = JSON.parse(text);
    } catch {
      frame = undefined;
    }
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return { kind: 'raw', data: text };
  const f = frame as Record<string, unknown>;
  if (f.t === 'hello') {
    if (helloSeen) throw new ProtocolError('a second "hello" on the same connection');
    const sid = field(f, 'sid', (v): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_SID_LENGTH, `a string of 1..${MAX_SID_LENGTH} characters`);
    return { kind: 'hello', sid, in: field(f, 'in', (v): v is number => isSeq(v, 0), 'an integer in 0..2^53-1') };
  }
  if (!helloSeen) return { kind: 'raw', data: text };
  if (f.t === 'd') {
    const seq = field(f, 's', (v): v is number => isSeq(v, 1), 'an integer in 1..2^53-1');
    return { kind: 'data', seq, data: field(f, 'p', (v): v is string => typeof v === 'string', 'a string') };
  }
  if (f.t === 'a') return { kind: 'ack', upto: field(f, 's', (v): v is number => isSeq(v, 0), 'an integer in 0..2^53-1') };
  return { kind: 'raw', data: text };
}

const encodeWelcome = (out: number, resumed: boolean): string => JSON.stringify({ t: 'welcome', out, resumed });
const encodeAck = (upto: number): string => JSON.stringify({ t: 'a', s: upto });
const encodeNack = (seq: number, reason: string): string => JSON.stringify({ t: 'n', s: seq, e: reason });

function encodeData(frame: StoredFrame): string | Uint8Array {
  if (typeof frame.data === 'string') return JSON.stringify({ t: 'd', s: frame.seq, p: frame.data });
  const out = new Uint8Array(BINARY_HEADER + frame.data.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, BINARY_DATA);
  view.setUint32(1, Math.floor(frame.seq / 2 ** 32));
  view.setUint32(5, frame.seq >>> 0);
  out.set(frame.data, BINARY_HEADER);
  return out;
}

/** The payload kept for an outgoing message: strings as they are, bytes copied (the caller may reuse its buffer). */
function payloadOf(data: OutgoingData): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  throw new TypeError(`send: data must be a string, an ArrayBuffer or an ArrayBufferView, got ${typeof data}`);
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

const OPEN = 1;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_INTERNAL_ERROR = 1011;
const CLOSE_REPLACED = 4000;
/** An ack goes out at the latest after this many client messages, even while more are waiting. */
const ACK_BATCH = 64;

/** Runs tasks one at a time, in call order. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  get idle(): boolean {
    return this.#pending === 0;
  }

  run<T>(task: () => T | PromiseLike<T>): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(task).finally(() => this.#pending--);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** A session while this process has a connection for it or work under way. */
class Session {
  /** The connection that said hello last (frames from an older one are ignored). */
  conn: Conn | null = null;
  /** Cache of the store's lastIn while a connection is current. */
  lastIn = 0;
  /** Hello handling and client messages (held across `onMessage`). */
  readonly inbound = new Mutex();
  /** The server→client stream: append, transmit, trim, replay. */
  readonly outbound = new Mutex();
  constructor(readonly sid: string) {}
}

/** One `ws` connection. */
class Conn {
  session: Session | null = null;
  helloSeen = false;
  /** Welcome and replay sent: new frames may go out directly. */
  ready = false;
  closed = false;
  /** Frames received and not yet processed. */
  queued = 0;
  /** Client messages accepted (or seen again) since the last ack sent. */
  ackOwed = 0;
  /** Every protocol frame, then the close, is processed in order through this chain. */
  chain: Promise<void> = Promise.resolve();
  constructor(readonly socket: WebSocketLike, readonly request: unknown) {}

  transmit(frame: string | Uint8Array): void {
    if (!this.closed && this.socket.readyState === OPEN) this.socket.send(frame);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // A close reason is limited to 123 UTF-8 bytes.
    let r = reason;
    while (new TextEncoder().encode(r).length > 123) r = r.slice(0, -1);
    this.socket.close(code, r);
  }
}

/**
 * The delivery protocol on `ws` connections: exactly-once, in-order client messages to
 * `onMessage`, and sequenced, acknowledged, replayed server messages with `send`.
 */
export class DeliveryServer<Req = unknown> {
  /** Where sessions are kept. */
  readonly store: SessionStore;
  readonly #options: DeliveryServerOptions<Req>;
  readonly #ping: { ping: string; pong: string } | null;
  readonly #sessions = new Map<string, Session>();

  constructor(options: DeliveryServerOptions<Req>) {
    if (typeof options?.onMessage !== 'function') throw new TypeError('DeliveryServer: options.onMessage must be a function');
    this.#options = options;
    this.store = options.store ?? new MemoryStore();
    const pong = options.pong ?? true;
    this.#ping = pong === true ? { ping: 'ping', pong: 'pong' } : pong === false ? null : pong;
  }

  /** Serves every connection of a `ws` WebSocketServer. Returns a function that stops serving new ones. */
  attach(wss: WebSocketServerLike<Req>): () => void {
    const listener = (socket: WebSocketLike, request: Req): void => this.handle(socket, request);
    wss.on('connection', listener);
    return () => void wss.off('connection', listener);
  }

  /** Serves one open `ws` connection. `request` is passed on to the callbacks' contexts. */
  handle(socket: WebSocketLike, request?: Req): void {
    const conn = new Conn(socket, request);
    socket.on('message', (raw: RawData, isBinary: boolean) => this.#receive(conn, raw, isBinary));
    socket.on('close', () => {
      conn.closed = true;
      this.#enqueue(conn, () => this.#detach(conn));
    });
    // Without an 'error' listener `ws` would throw; the 'close' that follows does the cleanup.
    socket.on('error', (e: Error) => this.#report(conn, e));
  }

  /**
   * Sends a message to a session: it gets the next server seq, is kept until the client
   * acknowledges it, goes out at once if the session's client is connected here, and is replayed
   * when the client resumes. Resolves to its seq; rejects if the store has no such session.
   */
  async send(sid: string, data: OutgoingData): Promise<number> {
    const payload = payloadOf(data);
    const session = this.#session(sid);
    try {
      return await session.outbound.run(async () => {
        const seq = await this.store.append(sid, payload);
        if (seq === undefined) throw new Error(`send: no session "${sid}" in the store`);
        if (session.conn?.ready) session.conn.transmit(encodeData({ seq, data: payload }));
        return seq;
      });
    } finally {
      this.#forgetIfIdle(session);
    }
  }

  #session(sid: string): Session {
    let s = this.#sessions.get(sid);
    if (!s) this.#sessions.set(sid, (s = new Session(sid)));
    return s;
  }

  #forgetIfIdle(session: Session): void {
    if (session.conn === null && session.inbound.idle && session.outbound.idle && this.#sessions.get(session.sid) === session) {
      this.#sessions.delete(session.sid);
    }
  }

  #context(conn: Conn): ConnectionContext<Req> {
    return { sid: conn.session?.sid ?? null, socket: conn.socket, request: conn.request as Req | undefined };
  }

  #report(conn: Conn, error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.#options.onError) this.#options.onError(err, this.#context(conn));
    else console.error('resilient-ws/server:', err);
  }

  /** Runs an app callback whose errors are only reported (they must not break the connection or reach `ws`). */
  #callback(conn: Conn, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#report(conn, e);
    }
  }

  #receive(conn: Conn, raw: RawData, isBinary: boolean): void {
    if (conn.closed) return;
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(raw, isBinary, conn.helloSeen);
    } catch (e) {
      this.#report(conn, e);
      conn.close(CLOSE_PROTOCOL_ERROR, (e as Error).message);
      return;
    }
    switch (frame.kind) {
      case 'raw':
        if (this.#ping && frame.data === this.#ping.ping) conn.transmit(this.#ping.pong);
        else this.#callback(conn, () => this.#options.onRawMessage?.(frame.data, this.#context(conn)));
        return;
      case 'hello':
        conn.helloSeen = true;
        this.#enqueue(conn, () => this.#hello(conn, frame.sid, frame.in));
        return;
      case 'data':
        this.#enqueue(conn, () => this.#data(conn, frame.seq, frame.data));
        return;
      case 'ack':
        this.#enqueue(conn, () => this.#clientAck(conn, frame.upto));
        return;
    }
  }

  /** Processes `task` after every earlier frame of the connection; flushes the owed ack when none is left. */
  #enqueue(conn: Conn, task: () => Promise<void>): void {
    conn.queued++;
    conn.chain = conn.chain
      .then(task)
      .catch((e) => {
        this.#report(conn, e);
        conn.close(CLOSE_INTERNAL_ERROR, 'server error');
      })
      .finally(() => {
        conn.queued--;
        // Acks are batched while more frames wait, but never more than ACK_BATCH messages.
        if (conn.ackOwed > 0 && (conn.queued === 0 || conn.ackOwed >= ACK_BATCH)) this.#flushAck(conn);
      });
  }

  #flushAck(conn: Conn): void {
    const session = conn.session;
    if (conn.ackOwed > 0 && session?.conn === conn) conn.transmit(encodeAck(session.lastIn));
    conn.ackOwed = 0;
  }

  async #hello(conn: Conn, sid: string, delivered: number): Promise<void> {
    if (conn.closed) return;
    const session = this.#session(sid);
    conn.session = session;
    let resumed = false;
    await session.inbound.run(() =>
      session.outbound.run(async () => {
        const previous = session.conn;
        session.conn = conn;
        if (previous && previous !== conn) previous.close(CLOSE_REPLACED, 'replaced by a newer connection of the session');
        const c = await this.store.load(sid);
        resumed = c !== undefined && c.trimmed <= delivered && delivered <= c.outSeq;
        if (resumed) {
          session.lastIn = c!.lastIn;
          await this.store.trim(sid, delivered);
        } else {
          await this.store.reset(sid);
          session.lastIn = 0;
        }
        conn.transmit(encodeWelcome(session.lastIn, resumed));
        if (resumed) for (const f of await this.store.frames(sid, delivered)) conn.transmit(encodeData(f));
        conn.ready = true;
      }),
    );
    this.#callback(conn, () => this.#options.onSession?.({ ...this.#context(conn), sid, resumed }));
  }

  async #data(conn: Conn, seq: number, data: string | Uint8Array): Promise<void> {
    const session = conn.session;
    if (!session) return; // closed before its hello was processed
    await session.inbound.run(async () => {
      if (session.conn !== conn || conn.closed) return; // replaced or gone: the client resends what counts
      if (seq > session.lastIn + 1) return; // a gap: the client resends from it after reconnecting
      if (seq <= session.lastIn) {
        conn.ackOwed++; // already accepted: acknowledge again, do not apply
        return;
      }
      const ctx: MessageContext<Req> = {
        sid: session.sid,
        seq,
        socket: conn.socket,
        request: conn.request as Req | undefined,
        send: (d) => this.send(session.sid, d),
      };
      try {
        await this.#options.onMessage(data, ctx);
        await this.store.setLastIn(session.sid, seq);
        session.lastIn = seq;
        conn.ackOwed++;
      } catch (e) {
        if (!(e instanceof Rejection)) throw e;
        // Rejected: accepted (last_in advances) but not applied; the ack owed so far goes first.
        await this.store.setLastIn(session.sid, seq);
        this.#flushAck(conn);
        session.lastIn = seq;
        conn.transmit(encodeNack(seq, e.reason));
        conn.ackOwed++;
      }
    });
  }

  async #clientAck(conn: Conn, upto: number): Promise<void> {
    const session = conn.session;
    if (!session) return;
    await session.outbound.run(async () => {
      if (session.conn === conn) await this.store.trim(session.sid, upto);
    });
  }

  async #detach(conn: Conn): Promise<void> {
    const session = conn.session;
    if (!session) return;
    await session.inbound.run(() =>
      session.outbound.run(async () => {
        if (session.conn !== conn) return;
        session.conn = null;
        await this.store.release(session.sid);
      }),
    );
    this.#forgetIfIdle(session);
  }
}

function positiveInteger(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  return v;
}
