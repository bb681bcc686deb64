// tabs: "shared": one socket per origin and persist name, shared by every tab.
//
// Every tab makes a TabsConnection. The tabs queue for a Web Lock named after persist.name (the
// lock persist.js takes for a lone Connection, so a plain Connection elsewhere cannot use the
// name at the same time): the tab holding it is the leader and runs the one real Connection
// (with persist); the others are followers. They talk over a BroadcastChannel.
//
// Every message has an owner: the tab that sent it (`from`, a random tab id) and its number
// there (`id`, 1, 2, …). The leader hands each message to its Connection tagged with both, so
// that the store records it with the message, in the same transaction (persist.js TAG), and
// keeps the owners of the messages its Connection holds, in order (#route): an
// acknowledgement or a drop of a message goes back to its owner (`outcome`), which calls its
// own onAck/onDrop and settles its sendWithAck. A new leader reads the owners from the store,
// so the outcomes of messages stored under the old leader still reach their tabs.
// - follower → leader `send` {from, id, prev, data}: `prev` is the follower's previous message
//   still unconfirmed (-1: none), which must have reached this leader first (in order, once).
//   The leader answers `stored` {to, upto} once it is durable, or `refused` {to, id, reason}
//   when its Connection refused it (outbox full). A follower keeps each message until then,
//   and sends the rest again to a new leader, which first says what the store has of each
//   tab (`leader` {seen}): nothing is lost, nothing is stored twice;
// - leader → all `msg` (every message received, in order), `snap` (the snapshot) and
//   `outcome` {to, id, reason?, detail?} (no reason: acknowledged);
// - follower → leader `hello` (a new tab: the leader answers with `snap`), `close` / `reconnect`.
// The leader gives up (lock released, socket closed) on pagehide and freeze, and queues for the
// lock again on pageshow and resume, so a frozen or cached tab never holds the connection.
import { Connection } from './connection.js';
import { byteLength, copyData, dropError, invalidDataError, jsonText, outboxFullError, outboxLimits } from './messages.js';
import type { ConnectionOptions, LastMessage, SendResult, Snapshot } from './resilient_ws.js';
import { emptySnapshot, type SendData } from './types.js';

const LEADERS = Symbol.for('resilient-ws.tabs-leaders');
const TAG = Symbol.for('resilient-ws.tabs-tag');
type Payload = string | ArrayBuffer;
/** A message's tab and number there (and its data, to recognise it in onAck/onDrop). */
type Owner = { from: string; id: number; data: unknown };
type Registry = Map<string, (seen: Record<string, number>, owners: Owner[]) => void>;

type Wire =
  | { t: 'send'; from: string; id: number; prev: number; data: Payload }
  | { t: 'stored'; to: string; upto: number }
  | { t: 'refused'; to: string; id: number; reason: string }
  | { t: 'outcome'; to: string; id: number; reason?: string; detail?: string }
  | { t: 'leader'; seen: Record<string, number> }
  | { t: 'msg'; message: LastMessage }
  | { t: 'snap'; snapshot: Snapshot }
  | { t: 'close'; code?: number; reason?: string }
  | { t: 'reconnect' }
  | { t: 'hello' }
  | { t: 'ping' }
  | { t: 'pong' };

/** This tab's message waiting for its outcome, and its sendWithAck, if any. */
type Mine = { data: unknown; ack?: { resolve: () => void; reject: (e: unknown) => void } };
type Callbacks = {
  onAck?: (data: unknown) => void;
  onDrop?: (data: unknown, reason: string, detail?: string) => void;
  outbox?: { maxMessages?: number; maxBytes?: number; overflow?: string };
};

/** A follower pings the leader this often… */
const PING_MS = 250;
/** …and takes the lock over (steals it) when nothing answered for this long (plus up to half of it at random, so that one follower goes first). */
const SILENT_MS = 700;

const INITIAL: Snapshot = emptySnapshot('connecting');
const globals = globalThis as Record<symbol, unknown>;

/** A Connection shared by the tabs (see the top of this file). */
export class TabsConnection {
  readonly #url: unknown;
  readonly #options: ConnectionOptions;
  readonly #name: string;
  readonly #tab = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  readonly #channel: BroadcastChannel;
  /** The real Connection, while this tab leads. */
  #inner: Connection | null = null;
  /** Resolves to release the leader lock. */
  #stepDown: (() => void) | null = null;
  /** Messages not yet stored by a leader (as a follower, or before the leader read the store), in order. */
  #pending: { id: number; data: Payload }[] = [];
  /** This tab's messages waiting for their outcome (acknowledged or dropped), by id. */
  readonly #mine = new Map<number, Mine>();
  #nextId = 1;
  #snapshot: Snapshot = INITIAL;
  #listeners = new Set<() => void>();
  #waiters: (() => void)[] = [];
  /** Leader: per tab, the last id handed to the Connection; null until the store is read. */
  #accepted: Map<string, number> | null = null;
  /** Leader: the owners of the messages its Connection holds, in order. */
  #route: Owner[] = [];
  /** Leader: while a message is handed to the Connection, the reason it was dropped at once, if it was. */
  #handing: { reason?: string } | null = null;
  #freed = false;
  readonly #onHide = (): void => this.#leave();
  readonly #onShow = (): void => this.#join();
  /** Follower: when the leader was last heard (a pong, a message, a snapshot). */
  #heard = Date.now();
  #pinger: ReturnType<typeof setInterval> | undefined;

  constructor(url: unknown, options: ConnectionOptions) {
    this.#url = url;
    const { tabs: _tabs, ...rest } = options as ConnectionOptions & { tabs?: string };
    this.#options = rest;
    const name = options.persist?.name;
    if (!options.delivery || typeof name !== 'string' || name === '') {
      throw new TypeError('invalid option tabs: "shared" needs delivery and persist: { name } ({ delivery: true, persist: { name }, tabs: "shared" })');
    }
    this.#name = name;
    this.#channel = new BroadcastChannel(`resilient-ws:tabs:${this.#name}`);
    this.#channel.onmessage = (e: MessageEvent<Wire>) => this.#receive(e.data);
    addEventListener('pagehide', this.#onHide);
    addEventListener('pageshow', this.#onShow);
    document.addEventListener('freeze', this.#onHide);
    document.addEventListener('resume', this.#onShow);
    this.#join();
    this.#post({ t: 'hello' });
    // A frozen or hung leader keeps its lock: a follower that hears nothing takes it over.
    this.#pinger = setInterval(() => this.#watch(), PING_MS);
  }

  #watch(): void {
    if (this.#inner || this.#freed || !this.#stepDown) return;
    const silent = Date.now() - this.#heard;
    if (silent > SILENT_MS * (1 + Math.random() / 2)) this.#join(true);
    else this.#post({ t: 'ping' });
  }

  /** Whether this tab holds the connection. */
  get leader(): boolean {
    return this.#inner !== null;
  }

  get status(): Snapshot['status'] {
    return this.getSnapshot().status;
  }

  get lastMessage(): LastMessage | null {
    return this.getSnapshot().lastMessage;
  }

  getSnapshot(): Snapshot {
    return this.#inner?.getSnapshot() ?? this.#snapshot;
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * In order through the leader. The leader's own: as a Connection. A follower's: "queued", or,
   * when the shared outbox was full at the last snapshot, refused at once as a Connection
   * refuses (OutboxFullError under "error", else "dropped" and onDrop(data, "full")); when
   * the leader refuses it later, onDrop(data, "full").
   */
  sendMessage(data: SendData): SendResult {
    return this.#send(data);
  }

  sendJsonMessage(value: unknown): SendResult {
    return this.sendMessage(jsonText(value));
  }

  /** As sendMessage; resolves when the server acknowledged it, rejects with a DropError when it was dropped (in this tab, whichever tab leads). */
  sendWithAck(data: SendData): Promise<void> {
    let ack!: Mine['ack'];
    const promise = new Promise<void>((resolve, reject) => (ack = { resolve, reject }));
    this.#send(data, ack);
    return promise;
  }

  #send(data: SendData, ack?: Mine['ack']): SendResult {
    if (this.#freed) throw new Error('this Connection was freed: sendMessage cannot be used after free()');
    const bytes = byteLength(data);
    if (bytes < 0) throw invalidDataError(data);
    const id = this.#nextId++;
    if (this.#inner && this.#accepted !== null) {
      this.#mine.set(id, { data, ack });
      return this.#hand(this.#tab, id, data, true);
    }
    // A follower: refused at once when the shared outbox is full as far as this tab knows.
    const { maxMessages, maxBytes, overflow } = outboxLimits((this.#options as Callbacks).outbox);
    const s = this.#snapshot;
    if (s.unackedMessages + s.queuedMessages + 1 > maxMessages || s.queuedBytes + bytes > maxBytes) {
      if (overflow === 'error') throw outboxFullError(s.unackedMessages + s.queuedMessages, s.queuedBytes, bytes, maxMessages, maxBytes);
      this.#mine.set(id, { data, ack });
      this.#settle(id, 'full');
      return 'dropped' as SendResult;
    }
    const item = { id, data: copyData(data) };
    this.#mine.set(id, { data: item.data, ack });
    const prev = this.#pending.length > 0 ? this.#pending[this.#pending.length - 1].id : -1;
    this.#pending.push(item);
    // A leader that has not read the store yet hands its own messages over once it has, in order.
    if (!this.#inner) this.#post({ t: 'send', from: this.#tab, prev, ...item });
    return 'queued' as SendResult;
  }

  /**
   * Leader: hands a message to the Connection, tagged with its owner. Refused (thrown, or
   * dropped at once): `rethrow` rethrows what was thrown, as a Connection does; a refusal is
   * reported to this tab's onDrop/sendWithAck if the message is its own, else answered `refused`.
   */
  #hand(from: string, id: number, data: unknown, rethrow: boolean): SendResult {
    const inner = this.#inner as Connection;
    const handing: { reason?: string } = {};
    this.#handing = handing;
    globals[TAG] = { from, id };
    let result: SendResult | undefined;
    try {
      result = inner.sendMessage(data as SendData);
    } catch (e) {
      if (rethrow) {
        this.#mine.delete(id);
        throw e;
      }
    } finally {
      globals[TAG] = undefined;
      this.#handing = null;
    }
    if (result === 'sent' || result === 'queued') this.#route.push({ from, id, data });
    else if (from === this.#tab) this.#settle(id, handing.reason ?? 'full');
    else this.#post({ t: 'refused', to: from, id, reason: handing.reason ?? 'full' });
    return result ?? ('dropped' as SendResult);
  }

  /** Leader: the Connection acknowledged (no reason) or dropped a message: to its owner. */
  #outcome(data: unknown, reason?: string, detail?: string): void {
    if (!this.#inner) return; // stepping down: what is stored stays for the next leader
    if (this.#handing && reason !== undefined) {
      this.#handing.reason = reason; // the message being handed, refused at once
      return;
    }
    const i = this.#route.findIndex((o) => sameData(o.data, data));
    const owner = i < 0 ? undefined : this.#route.splice(i, 1)[0];
    if (owner === undefined) this.#call(reason, data, detail); // stored without an owner
    else if (owner.from === this.#tab) this.#settle(owner.id, reason, detail, data);
    else this.#post({ t: 'outcome', to: owner.from, id: owner.id, reason, detail });
  }

  /** This tab's message `id` was acknowledged (no reason) or dropped. */
  #settle(id: number, reason?: string, detail?: string, data?: unknown): void {
    const mine = this.#mine.get(id);
    if (!mine) return;
    this.#mine.delete(id);
    this.#call(reason, data ?? mine.data, detail);
    if (reason === undefined) mine.ack?.resolve();
    else mine.ack?.reject(dropError(reason, detail));
  }

  #call(reason: string | undefined, data: unknown, detail?: string): void {
    const user = this.#options as Callbacks;
    try {
      if (reason === undefined) user.onAck?.(data);
      else if (detail === undefined) user.onDrop?.(data, reason);
      else user.onDrop?.(data, reason, detail);
    } catch (e) {
      console.error(`resilient-ws: ${reason === undefined ? 'onAck' : 'onDrop'} threw`, e);
    }
  }

  /** Resolves true once every message this tab sent so far is durable in the shared store. */
  persisted(): Promise<boolean> {
    if (this.#inner && this.#accepted !== null) return this.#inner.persisted();
    if (this.#pending.length === 0) return Promise.resolve(true);
    const last = this.#pending[this.#pending.length - 1].id;
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#pending.length > 0 && this.#pending[0].id <= last) this.#waiters.push(check);
        else resolve(this.#inner ? this.#inner.persisted() : true);
      };
      check();
    });
  }

  close(code?: number, reason?: string): void {
    if (this.#inner) this.#inner.close(code, reason);
    else this.#post({ t: 'close', code, reason });
  }

  reconnect(): void {
    if (this.#inner) this.#inner.reconnect();
    else this.#post({ t: 'reconnect' });
  }

  /**
   * Leaves: a leader hands the connection over to the next tab. This tab's messages not yet
   * stored are dropped ("released"); the stored ones stay in the shared outbox and are still
   * delivered, but their outcome no longer reaches this tab: their sendWithAck rejects
   * ("released", with that said in its detail).
   */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#leave();
    this.#channel.close();
    removeEventListener('pagehide', this.#onHide);
    removeEventListener('pageshow', this.#onShow);
    document.removeEventListener('freeze', this.#onHide);
    document.removeEventListener('resume', this.#onShow);
    clearInterval(this.#pinger);
    const unstored = new Set(this.#pending.map((p) => p.id));
    this.#pending = [];
    for (const [id, mine] of [...this.#mine]) {
      if (unstored.has(id)) this.#settle(id, 'released');
      else mine.ack?.reject(dropError('released', 'stored in the shared outbox: still delivered, without a report to this tab'));
    }
    this.#mine.clear();
    this.#flushWaiters();
  }

  #post(m: Wire): void {
    if (!this.#freed) this.#channel.postMessage(m);
  }

  /**
   * Queues for the lock; leads once it is granted, until #leave. `steal`: take it from a
   * leader that stopped answering (it steps down when it runs again: its request rejects).
   */
  #join(steal = false): void {
    if (this.#freed || (this.#stepDown && !steal)) return;
    let stepDown!: () => void;
    const held = new Promise<void>((resolve) => (stepDown = resolve));
    this.#stepDown = stepDown;
    this.#heard = Date.now();
    navigator.locks
      .request(`resilient-ws:persist:${this.#name}`, steal ? { steal: true } : {}, () => {
        if (this.#stepDown !== stepDown) return undefined; // left (or re-queued) before it was granted
        this.#lead();
        return held;
      })
      .catch(() => {
        // Stolen: another tab leads now. Step down, and queue again as a follower.
        if (this.#stepDown !== stepDown) return;
        this.#leave();
        this.#join();
      });
  }

  #lead(): void {
    const registry = (globals[LEADERS] ??= new Map()) as Registry;
    // Once the store is read: what it has of each tab (its own messages included) decides what
    // is handed over again; then the followers are told to send the rest.
    registry.set(this.#name, (seen, owners) => {
      this.#accepted = new Map(Object.entries(seen));
      this.#route = owners;
      const mine = this.#pending;
      this.#pending = [];
      for (const p of mine) if (p.id > (seen[this.#tab] ?? 0) && this.#inner) this.#hand(this.#tab, p.id, p.data, false);
      this.#flushWaiters();
      this.#post({ t: 'leader', seen });
    });
    const user = this.#options;
    this.#inner = new Connection(this.#url as string, {
      ...user,
      onMessage: (message: LastMessage) => {
        this.#post({ t: 'msg', message });
        user.onMessage?.(message);
      },
      onAck: (data: unknown) => this.#outcome(data),
      onDrop: (data: unknown, reason: string, detail?: string) => this.#outcome(data, reason, detail),
    } as ConnectionOptions);
    this.#inner.subscribe(() => {
      if (!this.#inner) return;
      this.#post({ t: 'snap', snapshot: this.#inner.getSnapshot() });
      this.#notify();
    });
    this.#notify();
  }

  #leave(): void {
    const stepDown = this.#stepDown;
    this.#stepDown = null;
    const inner = this.#inner;
    this.#inner = null;
    if (inner) {
      (globals[LEADERS] as Registry | undefined)?.delete(this.#name);
      this.#accepted = null;
      this.#route = [];
      inner.free(); // its "released" drops are not reported: the next leader sends them
    }
    stepDown?.();
  }

  #receive(m: Wire): void {
    const inner = this.#inner;
    if (!inner && m.t !== 'send' && m.t !== 'ping' && m.t !== 'hello' && m.t !== 'close' && m.t !== 'reconnect') this.#heard = Date.now();
    switch (m.t) {
      case 'ping':
        if (inner) this.#post({ t: 'pong' });
        return;
      case 'pong':
        return;
      case 'hello':
        if (inner) this.#post({ t: 'snap', snapshot: inner.getSnapshot() });
        return;
      case 'send': {
        // In order and once per tab; before the store is read, nothing (all is sent again then).
        const accepted = this.#accepted;
        if (!inner || accepted === null) return;
        const last = accepted.get(m.from) ?? 0;
        if (m.id <= last || m.prev > last) return;
        accepted.set(m.from, m.id);
        if (this.#hand(m.from, m.id, m.data, false) === 'dropped') return;
        void inner.persisted().then(() => this.#post({ t: 'stored', to: m.from, upto: m.id }));
        return;
      }
      case 'stored':
        if (m.to === this.#tab) this.#storedUpTo(m.upto);
        return;
      case 'refused':
        if (m.to !== this.#tab) return;
        this.#pending = this.#pending.filter((p) => p.id !== m.id);
        this.#settle(m.id, m.reason);
        this.#flushWaiters();
        return;
      case 'outcome':
        if (m.to === this.#tab) this.#settle(m.id, m.reason, m.detail);
        return;
      case 'leader': {
        if (inner) return;
        this.#storedUpTo(m.seen[this.#tab] ?? 0);
        let prev = -1;
        for (const p of this.#pending) {
          this.#post({ t: 'send', from: this.#tab, prev, ...p });
          prev = p.id;
        }
        return;
      }
      case 'msg':
        if (!inner) this.#options.onMessage?.(m.message);
        return;
      case 'snap':
        if (inner) return;
        if (m.snapshot.status !== this.#snapshot.status) this.#options.onStatus?.(m.snapshot.status);
        this.#snapshot = Object.freeze(m.snapshot);
        this.#notify();
        return;
      case 'close':
        inner?.close(m.code, m.reason);
        return;
      case 'reconnect':
        inner?.reconnect();
        return;
    }
  }

  #storedUpTo(upto: number): void {
    while (this.#pending.length > 0 && this.#pending[0].id <= upto) this.#pending.shift();
    this.#flushWaiters();
  }

  #flushWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}

/** The same message: equal text, or equal bytes (the Connection may hold a copy). */
function sameData(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a === b) return true;
  const x = bytesOf(a);
  const y = bytesOf(b);
  if (!x || !y || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function bytesOf(v: unknown): Uint8Array | null {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return null;
}
