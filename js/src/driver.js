// @ts-check
// The JS side of the WebAssembly driver and bindings (src/driver, src/bindings): what is
// cheaper to do in JS than across the boundary. One module, loaded as a wasm-bindgen snippet.
// - readOptions: reads a ConnectionOptions object (unknown names, with the nearest known one;
//   types, whole numbers, non-negative milliseconds, each error naming the option); the
//   defaults and the rules about the values themselves stay in Rust (src/core/options.rs);
// - ws_url: a URL as the WebSocket constructor reads it (base URL, http: → ws:);
// - the frozen objects handed to the user (message, close, snapshot), built in one call each;
// - small tables (status names, send results) and Promise settling.
import { describe } from './messages.js';

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
 * Every option name, by group ('' is the top level): the one table unknown names are checked
 * against (types.rs has their TypeScript types).
 * @type {Record<string, string>}
 */
const KNOWN = {
  '': 'protocols reconnect connectTimeoutMs shouldReconnect heartbeat outbox delivery persist tabs onOpen onClose onMessage onError onReconnectStop onDrop onStatus onAck onResync',
  reconnect: 'initialDelayMs maxDelayMs factor jitter maxAttempts minUptimeMs',
  heartbeat: 'intervalMs timeoutMs message pongMessage',
  outbox: 'maxMessages maxBytes overflow highWaterMark',
  delivery: 'ackTimeoutMs ackEveryMs',
  persist: 'name maxAgeMs',
};
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
  const names = KNOWN[group].split(' ');
  for (const key of Object.keys(o)) {
    if (names.includes(key)) continue;
    const path = group ? `${group}.${key}` : key;
    const renamed = path in RENAMED;
    let hint = renamed ? RENAMED[path] : undefined;
    const candidates = group ? names : names.concat(...Object.entries(KNOWN).map(([g, k]) => (g ? k.split(' ').map((n) => `${g}.${n}`) : [])));
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

/** The callbacks, in the order of the array readOptions returns. */
const CALLBACKS = ['onOpen', 'onClose', 'onMessage', 'onError', 'onReconnectStop', 'onDrop', 'onStatus', 'shouldReconnect', 'onAck', 'onResync'];
const OVERFLOW = ['error', 'drop-oldest', 'drop-newest'];

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
 * A number (not NaN), or NaN when absent.
 * @param {Record<string, unknown>} o
 * @param {string} prefix
 * @param {string} key
 */
function number(o, prefix, key) {
  const v = o[key];
  if (v === undefined) return NaN;
  if (typeof v !== 'number' || Number.isNaN(v)) throw typeError(prefix + key, 'a number', v);
  return v;
}

/**
 * A finite number ≥ 0 of milliseconds (rounded), or NaN when absent.
 * @param {Record<string, unknown>} o
 * @param {string} prefix
 * @param {string} key
 */
function millis(o, prefix, key) {
  const n = number(o, prefix, key);
  if (Number.isNaN(n)) return n;
  if (!Number.isFinite(n)) throw rangeError(prefix + key, 'must be a finite number', n);
  if (n < 0) throw rangeError(prefix + key, 'must be at least 0', n);
  return Math.round(n);
}

/**
 * A whole number ≥ 0 (below 2^32), or NaN when absent.
 * @param {Record<string, unknown>} o
 * @param {string} prefix
 * @param {string} key
 */
function count(o, prefix, key) {
  const n = number(o, prefix, key);
  if (Number.isNaN(n)) return n;
  if (!Number.isInteger(n) || n < 0 || n > 4294967295) throw rangeError(prefix + key, 'must be a whole number ≥ 0', n);
  return n;
}

/**
 * A string, or undefined when absent.
 * @param {Record<string, unknown>} o
 * @param {string} prefix
 * @param {string} key
 * @returns {string | undefined}
 */
function string(o, prefix, key) {
  const v = o[key];
  if (v !== undefined && typeof v !== 'string') throw typeError(prefix + key, 'a string', v);
  return v;
}

/**
 * A group option (reconnect, heartbeat): absent → undefined, a boolean as is, an object.
 * @param {Record<string, unknown>} o
 * @param {string} key
 * @returns {boolean | Record<string, unknown> | undefined}
 */
function group(o, key) {
  const v = o[key];
  if (v === undefined || typeof v === 'boolean') return v;
  if (!isObject(v)) throw typeError(key, 'an object or a boolean', v);
  return /** @type {Record<string, unknown>} */ (v);
}

/**
 * Reads `options` (undefined and null mean all defaults).
 * @param {unknown} options
 * @returns {[Float64Array, string[], string | undefined, string | undefined, (Function | undefined)[], string | undefined]}
 *   numbers (see NUMBERS in src/bindings/options.rs; NaN: absent), protocols, heartbeat
 *   message and pongMessage, callbacks in CALLBACKS order, persist.name.
 */
export function readOptions(options) {
  const nums = new Float64Array(19).fill(NaN);
  /** @type {string[]} */
  const protocols = [];
  /** @type {(Function | undefined)[]} */
  const callbacks = [];
  if (options === undefined || options === null) return [nums, protocols, undefined, undefined, callbacks, undefined];
  if (!isObject(options)) throw new TypeError(`invalid options: must be an object (got ${describe(options)})`);
  const o = /** @type {Record<string, unknown>} */ (options);
  checkNames(o);

  const p = o.protocols;
  if (typeof p === 'string') protocols.push(p);
  else if (Array.isArray(p)) {
    p.forEach((x, i) => {
      if (typeof x !== 'string') throw typeError(`protocols[${i}]`, 'a string', x);
      protocols.push(x);
    });
  } else if (p !== undefined) throw typeError('protocols', 'a string or an array of strings', p);

  const r = group(o, 'reconnect');
  nums[0] = r === undefined ? NaN : r === false ? 0 : 1;
  if (isObject(r)) {
    const g = /** @type {Record<string, unknown>} */ (r);
    nums[1] = number(g, 'reconnect.', 'initialDelayMs');
    nums[2] = number(g, 'reconnect.', 'maxDelayMs');
    nums[3] = number(g, 'reconnect.', 'factor');
    nums[4] = number(g, 'reconnect.', 'jitter');
    const max = g.maxAttempts;
    nums[5] = max === null || max === Infinity ? -1 : count(g, 'reconnect.', 'maxAttempts');
    nums[6] = millis(g, 'reconnect.', 'minUptimeMs');
  }
  nums[7] = millis(o, '', 'connectTimeoutMs');

  const h = group(o, 'heartbeat');
  nums[8] = h === undefined ? NaN : h === false ? 0 : 1;
  let message;
  let pongMessage;
  if (isObject(h)) {
    const g = /** @type {Record<string, unknown>} */ (h);
    nums[9] = millis(g, 'heartbeat.', 'intervalMs');
    nums[10] = millis(g, 'heartbeat.', 'timeoutMs');
    message = string(g, 'heartbeat.', 'message');
    pongMessage = string(g, 'heartbeat.', 'pongMessage');
  }

  const b = o.outbox;
  if (b !== undefined) {
    if (!isObject(b)) throw typeError('outbox', 'an object', b);
    const g = /** @type {Record<string, unknown>} */ (b);
    nums[11] = count(g, 'outbox.', 'maxMessages');
    nums[12] = count(g, 'outbox.', 'maxBytes');
    const overflow = string(g, 'outbox.', 'overflow');
    if (overflow !== undefined) {
      nums[13] = OVERFLOW.indexOf(overflow);
      if (nums[13] < 0) {
        throw rangeError('outbox.overflow', 'unknown overflow policy (expected "error", "drop-oldest" or "drop-newest")', overflow);
      }
    }
    nums[14] = count(g, 'outbox.', 'highWaterMark');
  }

  const d = group(o, 'delivery');
  nums[15] = d === undefined ? NaN : d === false ? 0 : 1;
  if (isObject(d)) {
    const g = /** @type {Record<string, unknown>} */ (d);
    nums[16] = millis(g, 'delivery.', 'ackTimeoutMs');
    nums[17] = millis(g, 'delivery.', 'ackEveryMs');
  }

  let persistName;
  const ps = o.persist;
  if (ps !== undefined) {
    if (!isObject(ps)) throw typeError('persist', 'an object { name, maxAgeMs? }', ps);
    const g = /** @type {Record<string, unknown>} */ (ps);
    persistName = string(g, 'persist.', 'name');
    if (!persistName) throw typeError('persist.name', 'a non-empty string', g.name);
    nums[18] = millis(g, 'persist.', 'maxAgeMs');
    if (d === undefined || d === false) throw new TypeError('invalid option persist: needs delivery on ({ delivery: true, persist: { name } })');
  }
  // tabs "shared" is js/src/tabs.ts's; here (a browser without Web Locks or BroadcastChannel) it is only checked.
  if (o.tabs !== undefined && o.tabs !== 'shared' && o.tabs !== 'own') throw rangeError('tabs', 'must be "shared" or "own"', o.tabs);
  if (o.tabs === 'shared' && persistName === undefined) throw new TypeError('invalid option tabs: "shared" needs persist: { name } (and delivery)');

  for (const name of CALLBACKS) {
    const f = o[name];
    if (f !== undefined && f !== null && typeof f !== 'function') throw typeError(name, 'a function', f);
    callbacks.push(typeof f === 'function' ? f : undefined);
  }
  return [nums, protocols, message, pongMessage, callbacks, persistName];
}
