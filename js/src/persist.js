// @ts-check
// The `persist` option's store: one IndexedDB database per persist name, written by the
// WebAssembly driver (src/driver/persist.rs) through driver.js's LazyPersister, which loads this
// module on first use (connection.ts registers the import()).
//
// Two object stores: `messages` (key: the message's seq; value: { d: string | ArrayBuffer,
// t: epoch ms when it was sent, and with tabs "shared" f: the tab that sent it, i: its number
// there }) and `meta` (key "session": { sid, inbound, nextSeq,
// welcomed }). The driver queues the changes of one step (put, deleteUpTo, remove, clear,
// meta) and commits them as ONE readwrite transaction; IndexedDB runs readwrite transactions
// over the same stores in the order they were created, so the store follows the machine in order.

const VERSION = 1;
const MESSAGES = 'messages';
const META = 'meta';
/** tabs "shared": per follower tab, the last of its messages stored (key: tab id, value: its number). */
const TABS = 'tabs';

/**
 * tabs "shared" (js/src/tabs.ts) talks to this module through two well-known globals (it is
 * loaded on first use, for the driver, not imported by tabs.ts):
 * - LEADERS: Map name → callback. The leader tab holds the name's lock itself (no second lock
 *   is taken here), and hears what the store says each tab already had stored, and whose each
 *   stored message is (in seq order), to route its acknowledgement back to the tab that sent it.
 * - TAG: { from, id } while the leader hands a message to its Connection: stored with it, in
 *   the same transaction, so that a new leader knows it was stored, and whose it is.
 */
const LEADERS = Symbol.for('resilient-ws.tabs-leaders');
const TAG = Symbol.for('resilient-ws.tabs-tag');
/** @typedef {{ from: string, id: number, data: unknown }} Owner a stored message's tab and number there */
/** @returns {Map<string, (seen: Record<string, number>, owners: Owner[]) => void> | undefined} */
const leaders = () => /** @type {any} */ (globalThis)[LEADERS];

let warned = false;
/** @param {string} why */
function warnOnce(why) {
  if (warned) return;
  warned = true;
  console.warn(`resilient-ws: persist is off (${why}); messages are kept in memory only`);
}

/** @param {unknown} e */
const errorText = (e) => (e instanceof Error || (e && typeof e === 'object' && 'name' in e) ? `${/** @type {Error} */ (e).name}: ${/** @type {Error} */ (e).message}` : String(e));

/**
 * @template T
 * @param {IDBRequest<T>} req
 * @returns {Promise<T>}
 */
const request = (req) =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

/** @param {string} name */
function openDb(name) {
  const req = indexedDB.open(`resilient-ws:${name}`, VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(MESSAGES)) db.createObjectStore(MESSAGES);
    if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    if (!db.objectStoreNames.contains(TABS)) db.createObjectStore(TABS);
  };
  req.onblocked = () => warnOnce('the database is blocked by an older version open elsewhere');
  return request(req);
}

/**
 * What was stored, as the driver reads it: [sid | undefined, inbound, nextSeq, welcomed,
 * seqs (Float64Array), datas, times (Float64Array)].
 * @typedef {[string | undefined, number, number, boolean, Float64Array, unknown[], Float64Array]} Stored
 */

export class Persister {
  /** @param {string} name */
  constructor(name) {
    /** @type {IDBDatabase | null} */
    this.db = null;
    /** @type {Array<(tx: IDBTransaction) => void>} */
    this.ops = [];
    /** Resolves true once everything committed so far is durable (false: it failed, or persist is off). */
    /** @type {Promise<boolean>} */
    this.last = Promise.resolve(false);
    this.restoring = true;
    this.closed = false;
    this.unlock = () => {};
    /** tabs "shared": each stored message's tab and number (and its data), by seq. */
    /** @type {Map<number, { tag: { from: string, id: number }, data: unknown }>} */
    this.tags = new Map();
    /** After clear() (a session reset renumbers the messages): the tags to give back, by message. */
    /** @type {{ tag: { from: string, id: number }, data: unknown }[]} */
    this.retag = [];
    /** @type {(v?: unknown) => void} */
    let restoredDone = () => {};
    this.restored = new Promise((resolve) => (restoredDone = resolve));
    this.restoredDone = restoredDone;
    /** @type {Promise<Stored | null>} */
    this.ready = this.read(name);
  }

  /**
   * Opens the database and reads everything; null when IndexedDB is missing or refuses.
   * @param {string} name
   * @returns {Promise<Stored | null>}
   */
  async read(name) {
    try {
      if (typeof indexedDB === 'undefined' || indexedDB === null) throw new Error('IndexedDB is unavailable here');
      const leader = leaders()?.get(name);
      if (!leader) await this.lock(name);
      const db = await openDb(name);
      const tx = db.transaction([MESSAGES, META, TABS], 'readonly');
      const messages = tx.objectStore(MESSAGES);
      const tabs = tx.objectStore(TABS);
      const [meta, keys, values, tabIds, tabSeen] = await Promise.all([
        request(tx.objectStore(META).get('session')),
        request(messages.getAllKeys()),
        request(messages.getAll()),
        request(tabs.getAllKeys()),
        request(tabs.getAll()),
        tx.commit?.(), // see commit()
      ]);
      for (let i = 0; i < keys.length; i++) if (values[i].f !== undefined) this.tags.set(Number(keys[i]), { tag: { from: values[i].f, id: Number(values[i].i) }, data: values[i].d });
      const owners = values.flatMap((v) => (typeof v.f === 'string' ? [{ from: v.f, id: Number(v.i), data: v.d }] : []));
      leader?.(Object.fromEntries(tabIds.map((k, i) => [String(k), Number(tabSeen[i])])), owners);
      this.db = db;
      this.last = Promise.resolve(true);
      const m = meta ?? {};
      return [
        typeof m.sid === 'string' ? m.sid : undefined,
        Number(m.inbound) || 0,
        Number(m.nextSeq) || 1,
        m.welcomed === true,
        Float64Array.from(keys, Number),
        values.map((v) => v.d),
        Float64Array.from(values, (v) => Number(v.t) || 0),
      ];
    } catch (e) {
      warnOnce(errorText(e));
      leaders()?.get(name)?.({}, []);
      return null;
    }
  }

  /**
   * One Connection per name at a time (in any tab of the origin): a Web Lock named after it,
   * held until close(). Without the Web Locks API, nothing is checked.
   * @param {string} name
   */
  async lock(name) {
    const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
    if (!locks) return;
    /** @type {(v?: unknown) => void} */
    let release = () => {};
    this.unlock = () => release();
    const held = new Promise((resolve) => (release = resolve));
    const got = await new Promise((resolve, reject) => {
      locks
        .request(`resilient-ws:persist:${name}`, { ifAvailable: true }, (lock) => {
          resolve(lock !== null);
          return lock === null ? undefined : held;
        })
        .catch(reject);
    });
    if (!got) throw new Error(`another Connection (in this or another tab) already uses persist name "${name}"`);
    if (this.closed) release();
  }

  /** The restore is written (or there is nothing to write): persisted() can count. */
  restoreDone() {
    this.restoring = false;
    this.restoredDone();
  }

  /**
   * @param {number} seq
   * @param {string | ArrayBuffer} data
   * @param {number} at
   */
  put(seq, data, at) {
    const sent = /** @type {{ from: string, id: number } | undefined} */ (/** @type {any} */ (globalThis)[TAG]);
    // A message put again after clear() keeps its tag (the same data, in the same order).
    const again = sent ? -1 : this.retag.findIndex((r) => r.data === data);
    const tag = sent ?? (again >= 0 ? this.retag.splice(again, 1)[0].tag : undefined);
    const value = tag ? { d: data, t: at, f: tag.from, i: tag.id } : { d: data, t: at };
    if (tag) this.tags.set(seq, { tag, data });
    this.ops.push((tx) => tx.objectStore(MESSAGES).put(value, seq));
    if (sent) this.ops.push((tx) => tx.objectStore(TABS).put(sent.id, sent.from));
  }

  /** @param {number} upto every message with seq ≤ upto, in one call */
  deleteUpTo(upto) {
    for (const seq of this.tags.keys()) if (seq <= upto) this.tags.delete(seq);
    this.ops.push((tx) => tx.objectStore(MESSAGES).delete(IDBKeyRange.upperBound(upto)));
  }

  /** @param {number} seq */
  remove(seq) {
    this.tags.delete(seq);
    this.ops.push((tx) => tx.objectStore(MESSAGES).delete(seq));
  }

  /** Everything; the messages put again next (a session reset renumbers them) keep their tags. */
  clear() {
    this.retag = [...this.tags.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    this.tags.clear();
    this.ops.push((tx) => tx.objectStore(MESSAGES).clear());
  }

  /**
   * @param {string} sid
   * @param {number} inbound
   * @param {number} nextSeq
   * @param {boolean} welcomed
   */
  meta(sid, inbound, nextSeq, welcomed) {
    this.ops.push((tx) => tx.objectStore(META).put({ sid, inbound, nextSeq, welcomed }, 'session'));
  }

  /** Writes the queued changes in one transaction. A failure (quota, a closed database) turns persist off, with one warning. */
  commit() {
    const ops = this.ops;
    this.ops = [];
    this.retag = [];
    const db = this.db;
    if (db === null || ops.length === 0) return;
    try {
      const tx = db.transaction([MESSAGES, META, TABS], 'readwrite');
      for (const op of ops) op(tx);
      // Committed now, not when this page next runs: a tab frozen (or stopped in a debugger)
      // before the requests' success events reached it would otherwise keep the transaction
      // open, and every other tab's transaction over these stores would wait behind it.
      tx.commit?.();
      this.last = new Promise((resolve) => {
        tx.oncomplete = () => resolve(true);
        tx.onabort = () => {
          this.fail(tx.error ?? new Error('transaction aborted'));
          resolve(false);
        };
      });
    } catch (e) {
      this.fail(e);
    }
  }

  /** @param {unknown} e */
  fail(e) {
    warnOnce(`IndexedDB refused a write: ${errorText(e)}`);
    this.db?.close();
    this.db = null;
    this.last = Promise.resolve(false);
  }

  /** Resolves true when everything queued so far is durable; false when persist is off. @returns {Promise<boolean>} */
  persisted() {
    return this.restoring ? this.restored.then(() => this.last) : this.last;
  }

  close() {
    this.closed = true;
    this.db?.close();
    this.db = null;
    this.unlock();
  }
}
