// @ts-check
// The JS side of the WebAssembly driver and bindings (src/driver, src/bindings): what is
// cheaper to do in JS than across the boundary. One module, loaded as a wasm-bindgen snippet.
// - readOptions: reads a ConnectionOptions object (unknown names, with the nearest known one;
//   types, whole numbers, non-negative milliseconds, each error naming the option); the
//   defaults and the rules about the values themselves stay in Rust (src/core/options.rs);
// - ws_url: a URL as the WebSocket constructor reads it (base URL, http: → ws:);
// - the frozen objects handed to the user (message, close, snapshot), built in one call each;
// - small tables (status names, send results) and Promise settling;
// - attachSocket/detachSocket: a socket's four handlers, behind one wasm closure;
// - listenWindow: the online, offline and visibilitychange listeners, behind one wasm closure;
// - LazyPersister: the `persist` store (persist.js), loaded on first use.
import { describe, describeError } from './messages.js';

// ---- sockets ---------------------------------------------------------------------------------

/**
 * Sets a socket's four handlers, all calling one `handler` (one wasm closure per socket):
 * handler(0) open, handler(1, data) message, handler(2) error, handler(3, closeEvent) close.
 * Binary messages arrive as ArrayBuffers.
 * @param {WebSocket} ws
 * @param {(kind: number, value?: unknown) => void} handler
 */
export function attachSocket(ws, handler) {
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => handler(0);
  ws.onmessage = (e) => handler(1, e.data);
  ws.onerror = () => handler(2);
  ws.onclose = (e) => handler(3, e);
}

/**
 * Clears the handlers attachSocket set and closes the socket (1000) if it is opening or open.
 * @param {WebSocket} ws
 */
export function detachSocket(ws) {
  ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  if (ws.readyState < 2) ws.close(1000);
}

/**
 * Listens for the hints that now is a good time to retry: handler(0) online, handler(1)
 * offline, handler(2) the document became visible. Returns what removes the listeners.
 * Outside a window (a worker, or a server whose `window` is a partial stand-in without
 * addEventListener), listens to nothing.
 * @param {(kind: number) => void} handler
 * @returns {() => void}
 */
export function listenWindow(handler) {
  const win = typeof window === 'undefined' ? undefined : window;
  if (typeof win?.addEventListener !== 'function') return () => {};
  const doc = typeof win.document?.addEventListener === 'function' ? win.document : undefined;
  const online = () => handler(0);
  const offline = () => handler(1);
  const visible = () => {
    if (doc?.visibilityState === 'visible') handler(2);
  };
  win.addEventListener('online', online);
  win.addEventListener('offline', offline);
  doc?.addEventListener('visibilitychange', visible);
  return () => {
    win.removeEventListener('online', online);
    win.removeEventListener('offline', offline);
    doc?.removeEventListener('visibilitychange', visible);
  };
}

// ---- frozen objects -------------------------------------------------------------------------

const STATUS = ['connecting', 'connected', 'reconnecting', 'closed'];
const RESULTS = ['sent', 'queued', 'dropped'];
/** @type {WeakMap<object, unknown>} */
const parsed = new WeakMap();

/**
 * The JSON of a received message, parsed on first use, once, whoever asks; null when it is
 * not JSON text.
 * @param {{ data: unknown } | null} message
 */
export function json_of(message) {
  if (message === null) return null;
  let value = parsed.get(message);
  if (value === undefined) {
    value = null;
    if (typeof message.data === 'string') {
      try {
        value = JSON.parse(message.data);
      } catch {
        /* not JSON */
      }
    }
    parsed.set(message, value);
  }
  return value;
}

/**
 * A received message, stamped now (epoch ms).
 * @param {unknown} data
 */
export function frozen_message(data) {
  return Object.freeze({ data, receivedAt: Date.now() });
}

/**
 * @param {number} code
 * @param {string} reason
 * @param {boolean} wasClean
 */
export function frozen_close(code, reason, wasClean) {
  return Object.freeze({ code, reason, wasClean });
}

/** @param {number} status */
export function status_name(status) {
  return STATUS[status];
}

/** @param {number} outcome */
export function send_result(outcome) {
  return RESULTS[outcome];
}

/**
 * @param {number} status
 * @param {{ data: unknown } | null} lastMessage
 * @param {number} attempt
 * @param {number | null} nextRetryAt
 * @param {number} queuedMessages
 * @param {number} queuedBytes
 * @param {number} bufferedAmount
 * @param {unknown} lastClose
 * @param {number} unackedMessages
 * @param {number} resumed 0 false, 1 true, 2 null (no welcome yet, or delivery off)
 */
export function frozen_snapshot(status, lastMessage, attempt, nextRetryAt, queuedMessages, queuedBytes, bufferedAmount, lastClose, unackedMessages, resumed) {
  return Object.freeze({
    status: STATUS[status],
    lastMessage,
    get lastJsonMessage() {
      return json_of(lastMessage);
    },
    attempt,
    nextRetryAt,
    queuedMessages,
    queuedBytes,
    bufferedAmount,
    lastClose,
    unackedMessages,
    resumed: resumed === 2 ? null : resumed === 1,
  });
}

/**
 * Calls done(true, value) or done(false, error) once the thenable settles.
 * @param {unknown} value
 * @param {(ok: boolean, value: unknown) => void} done
 */
export function settle(value, done) {
  Promise.resolve(value).then(
    (v) => done(true, v),
    (e) => done(false, e),
  );
}

// ---- URLs -----------------------------------------------------------------------------------

/**
 * The URL a `new WebSocket(url)` would connect to, by the WHATWG constructor's rules: parsed
 * against the document's base URL, http: → ws:, https: → wss:; a SyntaxError for what the
 * constructor rejects (unparsable, another scheme, a fragment). undefined if `url` is neither
 * a string nor a URL.
 * @param {unknown} url
 * @returns {string | undefined}
 */
export function ws_url(url) {
  if (typeof url !== 'string' && !(url instanceof URL)) return undefined;
  const g = globalThis;
  /** @param {string} why */
  const fail = (why) => new SyntaxError(`invalid url ${describe(String(url))}: ${why}`);
  let u;
  try {
    u = new URL(url, g.document?.baseURI ?? g.location?.href);
  } catch {
    throw fail('cannot be parsed');
  }
  if (/^https?:$/.test(u.protocol)) u.protocol = u.protocol.replace('http', 'ws');
  if (!/^wss?:$/.test(u.protocol)) throw fail(`the scheme must be ws:, wss:, http: or https: (got ${u.protocol})`);
  if (u.href.includes('#')) throw fail('a WebSocket URL cannot have a fragment (#)');
  return u.href;
}

// ---- options --------------------------------------------------------------------------------

/**
 * Every option, by group ('' is the top level), in the order they are read: the one table that
 * unknown names are checked against and that the values are read by (types.rs has their
 * TypeScript types). A suffix says what a name takes, as one of the numbers readOptions returns,
 * in this order, each group's right after the group itself (src/bindings/options.rs reads them
 * by index): :g a group (an object, or a boolean: 1 on, 0 off), :n a number, :m milliseconds
 * (finite, ≥ 0, rounded), :c a count (a whole number ≥ 0), :a a count or null/Infinity (-1: no
 * limit), :e an overflow policy (its index in OVERFLOW). No suffix: in a group, a string; at the
 * top level, a group that must be an object (outbox, persist), protocols, tabs, and the
 * callbacks (in the order of the array readOptions returns).
 * @type {Record<string, string>}
 */
const KNOWN = {
  '': 'protocols reconnect:g connectTimeoutMs:m heartbeat:g outbox delivery:g persist tabs onOpen onClose onMessage onError onReconnectStop onDrop onStatus shouldReconnect onAck onResync',
  reconnect: 'initialDelayMs:n maxDelayMs:n factor:n jitter:n maxAttempts:a minUptimeMs:m',
  heartbeat: 'intervalMs:m timeoutMs:m message pongMessage',
  outbox: 'maxMessages:c maxBytes:c overflow:e highWaterMark:c',
  delivery: 'ackTimeoutMs:m ackEveryMs:m',
  persist: 'name maxAgeMs:m',
};
/** @param {string} group */
const namesOf = (group) => KNOWN[group].split(' ').map((entry) => entry.split(':')[0]);
/** react-use-websocket's names with no near spelling here ('': none like it). @type {Record<string, string>} */
const RENAMED = Object.assign(Object.create(null), {
  reconnectInterval: 'reconnect.initialDelayMs',
  retryOnError: 'reconnect',
  'heartbeat.returnMessage': 'pongMessage',
  filter: '',
});

/**
 * Levenshtein distance.
 * @param {string} a
 * @param {string} b
 */
function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(up + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length];
}

/**
 * Throws a TypeError for the first name `o` has that the group does not know, with the nearest
 * known one (case aside; at the top level, also the groups' names, as reconnect.maxAttempts);
 * then checks the groups given as objects.
 * @param {Record<string, unknown>} o
 * @param {string} group
 */
function checkNames(o, group = '') {
  const names = namesOf(group);
  for (const key of Object.keys(o)) {
    if (names.includes(key)) continue;
    const path = group ? `${group}.${key}` : key;
    const renamed = path in RENAMED;
    let hint = renamed ? RENAMED[path] : undefined;
    const candidates = group ? names : names.concat(...Object.keys(KNOWN).map((g) => (g ? namesOf(g).map((n) => `${g}.${n}`) : [])));
    const low = key.toLowerCase();
    let best = Math.max(3, key.length / 3 + 1);
    for (const c of renamed ? [] : candidates) {
      const d = Math.min(distance(low, c.toLowerCase()), distance(low, c.slice(c.indexOf('.') + 1).toLowerCase()));
      if (d < best) [best, hint] = [d, c];
    }
    throw new TypeError(`unknown option ${path}: ${hint ? `did you mean ${hint}?` : `expected one of ${names.join(', ')}`}`);
  }
  if (!group) for (const g in KNOWN) if (g && isObject(o[g])) checkNames(/** @type {Record<string, unknown>} */ (o[g]), g);
}

const OVERFLOW = ['error', 'drop-oldest', 'drop-newest'];
/** The callbacks: the top-level names without a suffix, but for the groups, protocols and tabs. */
const CALLBACKS = KNOWN[''].split(' ').filter((n) => !n.includes(':') && !KNOWN[n] && n !== 'protocols' && n !== 'tabs');

/** @param {unknown} v */
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * @param {string} field
 * @param {string} expected
 * @param {unknown} got
 */
const typeError = (field, expected, got) => new TypeError(`invalid option ${field}: must be ${expected} (got ${describe(got)})`);

/**
 * @param {string} field
 * @param {string} rule
 * @param {unknown} got
 */
const rangeError = (field, rule, got) => new RangeError(`invalid option ${field}: ${rule} (got ${describe(got)})`);

/**
 * The number option `path` (of kind `kind`, see KNOWN) is given as `v` (not undefined).
 * @param {string} kind
 * @param {string} path
 * @param {unknown} v
 * @returns {number}
 */
function numberOf(kind, path, v) {
  if (kind === 'g') {
    if (typeof v === 'boolean') return +v;
    if (!isObject(v)) throw typeError(path, 'an object or a boolean', v);
    return 1;
  }
  if (kind === 'e') {
    if (typeof v !== 'string') throw typeError(path, 'a string', v);
    const i = OVERFLOW.indexOf(v);
    if (i < 0) throw rangeError(path, 'unknown overflow policy (expected "error", "drop-oldest" or "drop-newest")', v);
    return i;
  }
  if (kind === 'a' && (v === null || v === Infinity)) return -1;
  if (typeof v !== 'number' || Number.isNaN(v)) throw typeError(path, 'a number', v);
  if (kind === 'm') {
    if (!Number.isFinite(v)) throw rangeError(path, 'must be a finite number', v);
    if (v < 0) throw rangeError(path, 'must be at least 0', v);
    return Math.round(v);
  }
  if (kind !== 'n' && (!Number.isInteger(v) || v < 0 || v > 4294967295)) throw rangeError(path, 'must be a whole number ≥ 0', v);
  return v;
}

/**
 * Reads the group `group` of KNOWN from `o` (undefined: none given) in order: its numbers onto
 * `nums` (NaN: absent), its strings into `strings` by path; at the top level, each group's
 * right after the group.
 * @param {Record<string, unknown> | undefined} o
 * @param {string} group
 * @param {number[]} nums
 * @param {Record<string, string | undefined>} strings
 */
function readGroup(o, group, nums, strings) {
  for (const entry of KNOWN[group].split(' ')) {
    const [key, kind] = entry.split(':');
    const path = group ? `${group}.${key}` : key;
    const v = o?.[key];
    if (kind) nums.push(v === undefined ? NaN : numberOf(kind, path, v));
    else if (group) {
      if (v !== undefined && typeof v !== 'string') throw typeError(path, 'a string', v);
      strings[path] = /** @type {string | undefined} */ (v);
    } else if (!KNOWN[key]) continue;
    else if (v !== undefined && !isObject(v)) throw typeError(path, key === 'persist' ? 'an object { name, maxAgeMs? }' : 'an object', v);
    if (!group && KNOWN[key]) readGroup(isObject(v) ? /** @type {Record<string, unknown>} */ (v) : undefined, key, nums, strings);
  }
}

/**
 * Reads `options` (undefined and null mean all defaults).
 * @param {unknown} options
 * @returns {[Float64Array, string[], string | undefined, string | undefined, (Function | undefined)[], string | undefined]}
 *   the numbers (KNOWN's, in order; NaN: absent), protocols, heartbeat message and
 *   pongMessage, the callbacks (KNOWN's, in order), persist.name.
 */
export function readOptions(options) {
  /** @type {number[]} */
  const nums = [];
  /** @type {Record<string, string | undefined>} */
  const strings = {};
  /** @type {string[]} */
  const protocols = [];
  /** @type {(Function | undefined)[]} */
  const callbacks = [];
  if (options !== undefined && options !== null && !isObject(options)) throw new TypeError(`invalid options: must be an object (got ${describe(options)})`);
  const o = /** @type {Record<string, unknown>} */ (options ?? {});
  checkNames(o);

  const p = o.protocols;
  if (typeof p === 'string') protocols.push(p);
  else if (Array.isArray(p)) {
    p.forEach((x, i) => {
      if (typeof x !== 'string') throw typeError(`protocols[${i}]`, 'a string', x);
      protocols.push(x);
    });
  } else if (p !== undefined) throw typeError('protocols', 'a string or an array of strings', p);

  readGroup(o, '', nums, strings);

  const persistName = strings['persist.name'];
  if (o.persist !== undefined) {
    if (!persistName) throw typeError('persist.name', 'a non-empty string', /** @type {Record<string, unknown>} */ (o.persist).name);
    if (!o.delivery) throw new TypeError('invalid option persist: needs delivery on ({ delivery: true, persist: { name } })');
  }
  // tabs "shared" is js/src/tabs.ts's; here (a browser without Web Locks or BroadcastChannel) it is only checked.
  if (o.tabs !== undefined && o.tabs !== 'shared' && o.tabs !== 'own') throw rangeError('tabs', 'must be "shared" or "own"', o.tabs);
  if (o.tabs === 'shared' && persistName === undefined) throw new TypeError('invalid option tabs: "shared" needs persist: { name } (and delivery)');

  for (const name of CALLBACKS) {
    const f = o[name];
    if (f !== undefined && f !== null && typeof f !== 'function') throw typeError(name, 'a function', f);
    callbacks.push(typeof f === 'function' ? f : undefined);
  }
  return [Float64Array.from(nums), protocols, strings['heartbeat.message'], strings['heartbeat.pongMessage'], callbacks, persistName];
}

// ---- persist: the store, loaded on first use --------------------------------------------------

/** @typedef {import('./persist.js').Persister} Persister */
/** @type {(() => Promise<typeof import('./persist.js')>) | null} */
let loadPersist = null;

/**
 * How persist.js is loaded: the package's connection module registers an `import()` of it, so
 * that an app without `persist` never loads it (a Rust app, which has no `persist`, registers
 * nothing).
 * @param {() => Promise<typeof import('./persist.js')>} load
 */
export function setPersistLoader(load) {
  loadPersist = load;
}

let loadWarned = false;

/**
 * The driver's `persist` store (src/driver/persist.rs): a Persister (persist.js) once its
 * module is loaded. The driver writes nothing before `ready` settles, so only persisted() and
 * close() can come first. If the module cannot be loaded, persist is off (`ready` is null, with
 * one warning) and the connection runs on without it, as when IndexedDB refuses.
 */
export class LazyPersister {
  /** @param {string} name */
  constructor(name) {
    /** @type {Persister | null} */
    this.real = null;
    this.closed = false;
    const load = loadPersist ? loadPersist() : Promise.reject(new Error('persist.js is not loaded here'));
    /** @type {Promise<Persister | null>} */
    this.loaded = load.then(
      (m) => (this.closed ? null : (this.real = new m.Persister(name))),
      (e) => {
        if (!loadWarned) console.warn(`resilient-ws: persist is off (cannot load its module: ${describeError(e)}); messages are kept in memory only`);
        loadWarned = true;
        return null;
      },
    );
    this.ready = this.loaded.then((p) => (p ? p.ready : null));
  }

  /** @returns {Promise<boolean>} */
  persisted() {
    return this.real ? this.real.persisted() : this.loaded.then((p) => (p ? p.persisted() : false));
  }

  close() {
    this.closed = true;
    this.real?.close();
  }

  // The writes: the driver makes none before `ready` settles, so the Persister exists (or
  // persist is off and they go nowhere).

  restoreDone() {
    this.real?.restoreDone();
  }

  /**
   * @param {number} seq
   * @param {string | ArrayBuffer} data
   * @param {number} at
   */
  put(seq, data, at) {
    this.real?.put(seq, data, at);
  }

  /** @param {number} upto */
  deleteUpTo(upto) {
    this.real?.deleteUpTo(upto);
  }

  /** @param {number} seq */
  remove(seq) {
    this.real?.remove(seq);
  }

  clear() {
    this.real?.clear();
  }

  /**
   * @param {string} sid
   * @param {number} inbound
   * @param {number} nextSeq
   * @param {boolean} welcomed
   */
  meta(sid, inbound, nextSeq, welcomed) {
    this.real?.meta(sid, inbound, nextSeq, welcomed);
  }

  commit() {
    this.real?.commit();
  }
}
