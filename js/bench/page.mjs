// The browser half of js/bench/run.mjs: loaded by the bench page, it defines `window.B`, whose
// functions run one measurement each, on the raw browser WebSocket or on one of the resilient-ws
// packages loaded into the page, and return plain numbers. run.mjs calls them through
// Playwright, alternating the variants.
//
// The packages to load come from the page's query: `?before=/baseline/&after=/pkg/` (each a
// mount of run.mjs's static server holding a built pkg/). Each is its own ES module graph with
// its own wasm instance. Only the public API is used (`init`, `Connection`, `sendMessage`,
// `getSnapshot`, `subscribe`, `reconnect`, `close`, `free`, `__liveHandles`); the wasm memory
// comes from the wasm-bindgen glue's init (which returns the instance's exports once loaded)
// when the package has that glue, and is reported as unknown otherwise.

import { deferred, percentiles, sleep, within } from './page-util.mjs';

// ---- the packages -----------------------------------------------------------------------------

/** name -> { Connection, liveHandles(), wasmBytes() } */
const SDK = {};

async function loadPackage(name, base) {
  const index = await import(`${base}index.js`);
  if (typeof index.init !== 'function' || typeof index.Connection !== 'function') {
    throw new Error(`${base}index.js does not export init and Connection`);
  }
  await index.init();
  // __liveHandles: from the entry point if it exports it, else from the wasm-bindgen glue.
  let glue = null;
  try {
    glue = await import(`${base}resilient_ws.js`);
  } catch {
    /* no glue module under that name */
  }
  const live = [index.__liveHandles, glue?.__liveHandles].find((f) => typeof f === 'function');
  let memory = null;
  if (typeof glue?.default === 'function') {
    try {
      const exports = await glue.default();
      memory = Object.values(exports ?? {}).find((v) => v instanceof WebAssembly.Memory) ?? null;
    } catch {
      /* not wasm-bindgen's init */
    }
  }
  SDK[name] = {
    Connection: index.Connection,
    liveHandles: () => (live ? live() : null),
    wasmBytes: () => (memory ? memory.buffer.byteLength : null),
  };
}

const query = new URLSearchParams(location.search);
const loaded = [];
for (const name of ['before', 'after']) {
  const base = query.get(name);
  if (!base) continue;
  await loadPackage(name, base);
  loaded.push(name);
}

// ---- raw WebSocket ----------------------------------------------------------------------------

function openRaw(url) {
  return within(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`raw WebSocket to ${url} failed`));
    }),
    10000,
    'raw open',
  );
}

function closeRaw(ws) {
  return within(
    new Promise((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.onclose = () => resolve();
      ws.onerror = null;
      ws.onmessage = null;
      ws.close();
    }),
    10000,
    'raw close',
  );
}

// ---- resilient-ws Connection ------------------------------------------------------------------

/** A Connection of package `v` whose onMessage calls `sink.fn`; resolves once it is open. */
async function openSdk(v, url, sink, extra = {}) {
  const opened = deferred();
  const conn = new SDK[v].Connection(url, {
    reconnect: false,
    ...extra,
    onOpen: () => opened.resolve(),
    onMessage: (m) => sink.fn(m),
    onError: (e) => console.error(`resilient-ws (${v}) onError`, e),
    onDrop: (_data, reason) => console.error(`resilient-ws (${v}) onDrop`, reason),
  });
  await within(opened.promise, 10000, `Connection (${v}) open`);
  return conn;
}

function freeSdk(conn) {
  conn.close();
  conn.free();
}

/** Large enough that a whole burst of sends can wait in the outbox (no OutboxFullError). */
function bigOutbox(n, size, highWaterMark) {
  const outbox = { maxMessages: n + 16, maxBytes: Math.max(1 << 20, n * size * 2) };
  if (highWaterMark !== undefined) outbox.highWaterMark = highWaterMark;
  return { outbox };
}

/** Counts sendMessage's results by value ('sent', 'queued', ...). */
function counter() {
  const c = { sent: 0, queued: 0 };
  return { c, add: (r) => (c[r] = (c[r] ?? 0) + 1) };
}

function textMessages(n, size) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = `m${i}:`.padEnd(size, 'x');
  return out;
}

// ---- 1. echo, pipelined -----------------------------------------------------------------------

async function echoRaw(url, n, size) {
  const msgs = textMessages(n, size);
  const ws = await openRaw(url);
  const done = deferred();
  let got = 0;
  ws.onmessage = (e) => {
    // Every handler reads the data, as any app does (the SDK reads it for every message).
    const data = e.data;
    if (++got === n) done.resolve(data);
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ws.send(msgs[i]);
  const sendMs = performance.now() - t0;
  const peakBuffered = ws.bufferedAmount;
  const last = await within(done.promise, 60000, () => `raw echo (${got}/${n})`);
  const ms = performance.now() - t0;
  if (last !== msgs[n - 1]) throw new Error(`raw echo: last message ${JSON.stringify(last)}`);
  await closeRaw(ws);
  return { ms, sendMs, peakBuffered };
}

async function echoSdk(v, url, n, size) {
  const msgs = textMessages(n, size);
  const sink = { fn: null };
  const conn = await openSdk(v, url, sink, bigOutbox(n, size));
  const done = deferred();
  let got = 0;
  sink.fn = (m) => {
    const data = m.data;
    if (++got === n) done.resolve(data);
  };
  const results = counter();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) results.add(conn.sendMessage(msgs[i]));
  const sendMs = performance.now() - t0;
  const peakQueued = conn.getSnapshot().queuedMessages;
  const last = await within(done.promise, 60000, () => `SDK (${v}) echo (${got}/${n})`);
  const ms = performance.now() - t0;
  if (last !== msgs[n - 1]) throw new Error(`SDK (${v}) echo: last message ${JSON.stringify(last)}`);
  freeSdk(conn);
  return { ms, sendMs, peakQueued, ...results.c };
}

// ---- 2. receive a server burst ----------------------------------------------------------------

async function burst(control, scope, n) {
  const res = await fetch(`${control}/burst?n=${n}&scope=${encodeURIComponent(scope)}`);
  const body = await res.json();
  if (body.sent !== 1) throw new Error(`burst reached ${body.sent} connections, expected 1`);
}

async function recvRaw(url, control, scope, n) {
  const ws = await openRaw(url);
  const done = deferred();
  let got = 0;
  ws.onmessage = (e) => {
    // Every handler reads the data, as any app does (the SDK reads it for every message).
    const data = e.data;
    if (++got === n) done.resolve(data);
  };
  const t0 = performance.now();
  const asked = burst(control, scope, n);
  const last = await within(done.promise, 60000, () => `raw receive (${got}/${n})`);
  const ms = performance.now() - t0;
  await asked;
  if (last !== String(n - 1)) throw new Error(`raw receive: last message ${JSON.stringify(last)}`);
  await closeRaw(ws);
  return { ms };
}

async function recvSdk(v, url, control, scope, n) {
  const sink = { fn: null };
  const conn = await openSdk(v, url, sink);
  const done = deferred();
  let got = 0;
  sink.fn = (m) => {
    const data = m.data;
    if (++got === n) done.resolve(data);
  };
  const t0 = performance.now();
  const asked = burst(control, scope, n);
  const last = await within(done.promise, 60000, () => `SDK (${v}) receive (${got}/${n})`);
  const ms = performance.now() - t0;
  await asked;
  if (last !== String(n - 1)) throw new Error(`SDK (${v}) receive: last message ${JSON.stringify(last)}`);
  freeSdk(conn);
  return { ms };
}

// ---- 3. round trips, one at a time ------------------------------------------------------------


/**
 * Round trips, one at a time, for every variant in `kinds` at once: each variant has its own
 * socket (or Connection), and they take turns in blocks of `block` round trips, the order
 * rotating every block (starting at `shift`), until each has done `n`. A round trip: send one
 * `size`-byte text message, wait for its echo (the next one is sent from the message handler),
 * timed with performance.now(). Interleaving at this grain (tens of milliseconds) exposes the
 * variants to the same moments of a noisy machine, which whole runs one after another do not.
 * Returns, per variant, p50, p99 and mean in µs.
 */
async function rttAll(kinds, urls, n, size, block, shift) {
  const msgs = textMessages(n, size);
  const ends = {};
  try {
    for (const k of kinds) {
      const end = { samples: new Float64Array(n), onMessage: null, counts: counter() };
      if (k === 'raw') {
        const ws = await openRaw(urls[k]);
        ws.onmessage = (e) => end.onMessage(e.data);
        end.send = (m) => ws.send(m);
        end.close = () => closeRaw(ws);
      } else {
        const sink = { fn: (m) => end.onMessage(m.data) };
        const conn = await openSdk(k, urls[k], sink);
        end.send = (m) => end.counts.add(conn.sendMessage(m));
        end.close = () => freeSdk(conn);
      }
      ends[k] = end;
    }
    const blocks = Math.ceil(n / block);
    for (let b = 0; b < blocks; b++) {
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(j + b + shift) % kinds.length];
        const end = ends[k];
        const from = b * block;
        const to = Math.min(n, from + block);
        const done = deferred();
        let i = from;
        let t = 0;
        end.onMessage = (data) => {
          end.samples[i] = performance.now() - t;
          if (data !== msgs[i]) return done.reject(new Error(`rtt (${k}): got ${JSON.stringify(data)} for #${i}`));
          if (++i === to) return done.resolve();
          t = performance.now();
          end.send(msgs[i]);
        };
        t = performance.now();
        end.send(msgs[from]);
        await within(done.promise, 30000, () => `rtt (${k}) block ${b} (${i - from}/${to - from})`);
      }
    }
  } finally {
    for (const k of Object.keys(ends)) await ends[k].close();
  }
  return Object.fromEntries(kinds.map((k) => [k, { ...percentiles(ends[k].samples), ...ends[k].counts.c }]));
}

// ---- 4. binary echo, paced --------------------------------------------------------------------

function binaryPayload(size) {
  const bytes = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, Math.min(size, off + 65536)));
  return bytes.buffer;
}

async function binRaw(url, n, size) {
  const buf = binaryPayload(size);
  const ws = await openRaw(url);
  const done = deferred();
  let got = 0;
  let bytes = 0;
  ws.onmessage = (e) => {
    bytes += e.data.byteLength;
    if (++got === n) done.resolve();
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ws.send(buf);
  const sendMs = performance.now() - t0;
  const peakBuffered = ws.bufferedAmount;
  await within(done.promise, 90000, () => `raw binary (${got}/${n})`);
  const ms = performance.now() - t0;
  if (bytes !== n * size) throw new Error(`raw binary: ${bytes} bytes back, expected ${n * size}`);
  await closeRaw(ws);
  return { ms, sendMs, peakBuffered };
}

async function binSdk(v, url, n, size, highWaterMark) {
  const buf = binaryPayload(size);
  const sink = { fn: null };
  const conn = await openSdk(v, url, sink, bigOutbox(n, size, highWaterMark));
  const done = deferred();
  let got = 0;
  let bytes = 0;
  sink.fn = (m) => {
    bytes += m.data.byteLength;
    if (++got === n) done.resolve();
  };
  const results = counter();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) results.add(conn.sendMessage(buf));
  const sendMs = performance.now() - t0;
  const peakQueued = conn.getSnapshot().queuedMessages;
  await within(done.promise, 90000, () => `SDK (${v}) binary (${got}/${n})`);
  const ms = performance.now() - t0;
  if (bytes !== n * size) throw new Error(`SDK (${v}) binary: ${bytes} bytes back, expected ${n * size}`);
  freeSdk(conn);
  return { ms, sendMs, peakQueued, ...results.c };
}

// ---- 5. connect/drop cycles -------------------------------------------------------------------

/** `k` raw cycles: open a socket, close it (every 5th, from the 3rd: the server drops it). */
async function rawCycles(url, control, scope, k) {
  const t0 = performance.now();
  for (let i = 0; i < k; i++) {
    const ws = await openRaw(url);
    if (i % 5 === 2) {
      const closed = new Promise((r) => (ws.onclose = r));
      await fetch(`${control}/drop?scope=${encodeURIComponent(scope)}`);
      await within(closed, 10000, 'raw close after /drop');
    } else {
      await closeRaw(ws);
    }
    await sleep(1);
  }
  return { ms: performance.now() - t0 };
}

/** Per package: the one Connection the cycles run on. */
const mem = {};

async function memSetup(v, url) {
  const sdk = SDK[v];
  const m = (mem[v] = { conn: null, opens: 0, waiters: [] });
  const liveBefore = sdk.liveHandles();
  const opened = () => {
    m.opens++;
    for (const w of m.waiters.splice(0)) w();
  };
  const first = new Promise((r) => m.waiters.push(r));
  m.conn = new sdk.Connection(url, {
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    onOpen: opened,
    onMessage: () => {},
    onError: (e) => console.error(`resilient-ws (${v}) onError`, e),
  });
  // A subscriber, as the React hook would have.
  m.unsubscribe = m.conn.subscribe(() => m.conn.getSnapshot());
  await within(first, 10000, `memory Connection (${v}) open`);
  await sleep(20);
  return { liveBefore, liveOpen: sdk.liveHandles(), wasmBytes: sdk.wasmBytes() };
}

/**
 * `k` SDK cycles on package `v`'s one Connection: reconnect(), or (every 5th, from the 3rd) a
 * server /drop followed by the Connection's own retry. Resolves once the last new socket is open.
 */
async function sdkCycles(v, control, scope, k) {
  const m = mem[v];
  const t0 = performance.now();
  for (let i = 0; i < k; i++) {
    const next = new Promise((r) => m.waiters.push(r));
    if (i % 5 === 2) await fetch(`${control}/drop?scope=${encodeURIComponent(scope)}`);
    else m.conn.reconnect();
    await within(next, 10000, `reconnect cycle ${i} (${v})`);
    await sleep(1);
  }
  const ms = performance.now() - t0;
  await sleep(20); // let a closing socket's handlers go before counting
  return {
    ms,
    opens: m.opens,
    live: SDK[v].liveHandles(),
    wasmBytes: SDK[v].wasmBytes(),
    status: m.conn.getSnapshot().status ?? m.conn.status,
  };
}

function memTeardown(v) {
  const m = mem[v];
  m.unsubscribe();
  m.conn.close();
  m.conn.free();
  delete mem[v];
  return { liveAfterFree: SDK[v].liveHandles(), wasmBytes: SDK[v].wasmBytes() };
}

// ---- dispatch: B.echo('raw', ...) or B.echo('after', ...) -------------------------------------

const pick = (raw, sdk) => (v, ...args) => (v === 'raw' ? raw(...args) : sdk(v, ...args));

window.B = {
  echo: pick(echoRaw, echoSdk),
  recv: pick(recvRaw, recvSdk),
  rttAll,
  bin: pick(binRaw, binSdk),
  rawCycles,
  memSetup,
  sdkCycles,
  memTeardown,
  liveHandles: (v) => SDK[v].liveHandles(),
  wasmBytes: (v) => SDK[v].wasmBytes(),
  info: () => ({
    loaded,
    crossOriginIsolated: self.crossOriginIsolated === true,
    // The smallest step performance.now() takes here (Chromium: 5 µs when cross-origin
    // isolated, 100 µs otherwise).
    timerStepUs: (() => {
      let step = Infinity;
      let prev = performance.now();
      for (let i = 0; i < 200000 && step > 0.001; i++) {
        const t = performance.now();
        if (t !== prev) {
          step = Math.min(step, t - prev);
          prev = t;
        }
      }
      return step * 1000;
    })(),
  }),
};
window.benchReady = true;
