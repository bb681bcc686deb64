// tabs: "shared": one socket per origin and persist name, shared by every tab.
//
// Every tab makes a TabsConnection. The tabs queue for a Web Lock named after persist.name (the
// lock persist.js takes for a lone Connection, so a plain Connection elsewhere cannot use the
// name at the same time): the tab holding it is the leader and runs the one real Connection
// (with persist); the others are followers. They talk over a BroadcastChannel:
// - follower → leader `send` {from, id, data}: the leader hands it to its Connection, tagged,
//   so that the store records "tab `from` had `id` stored" in the same transaction as the
//   message (persist.js TAG), then answers `stored` {to, upto} once it is durable. A follower
//   keeps each message until then, and sends the rest again to a new leader, which first says
//   what the store already has (`leader` {seen}): nothing is lost, nothing is stored twice;
// - leader → all `msg` (every message received, in order) and `snap` (the snapshot);
// - follower → leader `close` / `reconnect`.
// The leader gives up (lock released, socket closed) on pagehide and freeze, and queues for the
// lock again on pageshow and resume, so a frozen or cached tab never holds the connection.
import { Connection } from './connection.js';
import type { ConnectionOptions, LastMessage, SendResult, Snapshot } from './resilient_ws.js';
import { emptySnapshot, type SendData } from './types.js';

const LEADERS = Symbol.for('resilient-ws.tabs-leaders');
const TAG = Symbol.for('resilient-ws.tabs-tag');
type Registry = Map<string, (seen: Record<string, number>) => void>;

type Wire =
  | { t: 'send'; from: string; id: number; data: SendData }
  | { t: 'stored'; to: string; upto: number }
  | { t: 'leader'; seen: Record<string, number> }
  | { t: 'msg'; message: LastMessage }
  | { t: 'snap'; snapshot: Snapshot }
  | { t: 'close'; code?: number; reason?: string }
  | { t: 'reconnect' }
  | { t: 'ping' }
  | { t: 'pong' };

/** A follower pings the leader this often… */
const PING_MS = 250;
/** …and takes the lock over (steals it) when nothing answered for this long (plus up to half of it at random, so that one follower goes first). */
const SILENT_MS = 700;

let warned = false;

/** Whether this browser has what tabs "shared" needs; warns once when it does not. */
export function tabsSupported(): boolean {
  const ok = typeof BroadcastChannel === 'function' && typeof navigator !== 'undefined' && !!navigator.locks;
  if (!ok && !warned) {
    warned = true;
    console.warn('resilient-ws: tabs "shared" needs Web Locks and BroadcastChannel; each tab has its own connection');
  }
  return ok;
}

const INITIAL: Snapshot = emptySnapshot('connecting');

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
  /** Follower: messages not yet stored by a leader, by id. */
  #pending: { id: number; data: SendData }[] = [];
  #nextId = 1;
  #snapshot: Snapshot = INITIAL;
  #listeners = new Set<() => void>();
  #waiters: (() => void)[] = [];
  /** Leader: per follower tab, the last id handed to the Connection; null until the store is read. */
  #accepted: Map<string, number> | null = null;
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

  /** In order through the leader: "sent"/"queued"/"dropped" from the leader's Connection, "queued" from a follower. */
  sendMessage(data: SendData): SendResult {
    if (this.#inner && this.#accepted !== null) return this.#inner.sendMessage(data);
    const item = { id: this.#nextId++, data: typeof data === 'string' ? data : copy(data) };
    this.#pending.push(item);
    // A leader that has not read the store yet hands its own messages over once it has, in order.
    if (!this.#inner) this.#post({ t: 'send', from: this.#tab, ...item });
    return 'queued' as SendResult;
  }

  sendJsonMessage(value: unknown): SendResult {
    const text = JSON.stringify(value) as string | undefined;
    if (typeof text !== 'string') throw new TypeError('sendJsonMessage: the value has no JSON representation');
    return this.sendMessage(text);
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

  /** Leaves: a leader hands the connection over to the next tab. */
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
    const registry = ((globalThis as Record<symbol, unknown>)[LEADERS] ??= new Map()) as Registry;
    // Once the store is read: what it has of each tab (its own messages included) decides what
    // is handed over again; then the followers are told to send the rest.
    registry.set(this.#name, (seen) => {
      this.#accepted = new Map(Object.entries(seen));
      const mine = this.#pending;
      this.#pending = [];
      for (const p of mine) if (p.id > (seen[this.#tab] ?? 0)) this.#inner?.sendMessage(p.data);
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
    });
    this.#inner.subscribe(() => {
      this.#post({ t: 'snap', snapshot: this.#inner!.getSnapshot() });
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
      (globalThis as Record<symbol, Registry | undefined>)[LEADERS]?.delete(this.#name);
      this.#accepted = null;
      inner.free();
    }
    stepDown?.();
  }

  #receive(m: Wire): void {
    const inner = this.#inner;
    if (!inner && m.t !== 'send' && m.t !== 'ping' && m.t !== 'close' && m.t !== 'reconnect') this.#heard = Date.now();
    switch (m.t) {
      case 'ping':
        if (inner) this.#post({ t: 'pong' });
        return;
      case 'pong':
        return;
      case 'send': {
        // In order and once per tab; before the store is read, nothing (all is sent again then).
        const accepted = this.#accepted;
        if (!inner || accepted === null || m.id !== (accepted.get(m.from) ?? 0) + 1) return;
        accepted.set(m.from, m.id);
        (globalThis as Record<symbol, unknown>)[TAG] = { from: m.from, id: m.id };
        try {
          inner.sendMessage(m.data);
        } finally {
          (globalThis as Record<symbol, unknown>)[TAG] = undefined;
        }
        void inner.persisted().then(() => this.#post({ t: 'stored', to: m.from, upto: m.id }));
        return;
      }
      case 'stored':
        if (m.to === this.#tab) this.#storedUpTo(m.upto);
        return;
      case 'leader':
        if (inner) return;
        this.#storedUpTo(m.seen[this.#tab] ?? 0);
        for (const p of this.#pending) this.#post({ t: 'send', from: this.#tab, ...p });
        return;
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

function copy(data: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (data instanceof ArrayBuffer) return data.slice(0);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
}
