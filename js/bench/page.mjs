// The browser half of js/bench/run.mjs: loaded by the bench page, it defines `window.B`, whose
// functions run one measurement each (raw browser WebSocket or resilient-ws Connection) and
// return plain numbers. run.mjs calls them through Playwright, alternating raw and SDK.
import { init, Connection } from '/pkg/index.js';
import initGlue, { __liveHandles } from '/pkg/resilient_ws.js';

await init();
// The glue's init returns the instance's exports once loaded (idempotent): the wasm memory.
const wasmExports = await initGlue();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects if `promise` takes longer than `ms`. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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

/** A Connection whose onMessage calls `sink.fn`; resolves once it is open. */
async function openSdk(url, sink, extra = {}) {
  const opened = deferred();
  const conn = new Connection(url, {
    reconnect: false,
    ...extra,
    onOpen: () => opened.resolve(),
    onMessage: (m) => sink.fn(m),
    onError: (e) => console.error('resilient-ws onError', e),
    onDrop: (_data, reason) => console.error('resilient-ws onDrop', reason),
  });
  await within(opened.promise, 10000, 'Connection open');
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

function textMessages(n, size) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = `m${i}:`.padEnd(size, 'x');
  return out;
}

// ---- 1. echo round trips ----------------------------------------------------------------------

async function echoRaw(url, n, size) {
  const msgs = textMessages(n, size);
  const ws = await openRaw(url);
  const done = deferred();
  let got = 0;
  ws.onmessage = (e) => {
    if (++got === n) done.resolve(e.data);
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ws.send(msgs[i]);
  const sendMs = performance.now() - t0;
  const peakBuffered = ws.bufferedAmount;
  const last = await within(done.promise, 60000, `raw echo (${got}/${n})`);
  const ms = performance.now() - t0;
  if (last !== msgs[n - 1]) throw new Error(`raw echo: last message ${JSON.stringify(last)}`);
  await closeRaw(ws);
  return { ms, sendMs, peakBuffered };
}

async function echoSdk(url, n, size) {
  const msgs = textMessages(n, size);
  const sink = { fn: null };
  const conn = await openSdk(url, sink, bigOutbox(n, size));
  const done = deferred();
  let got = 0;
  sink.fn = (m) => {
    if (++got === n) done.resolve(m.data);
  };
  const results = { sent: 0, queued: 0, dropped: 0 };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) results[conn.sendMessage(msgs[i])]++;
  const sendMs = performance.now() - t0;
  const peakQueued = conn.getSnapshot().queuedMessages;
  const last = await within(done.promise, 60000, `SDK echo (${got}/${n})`);
  const ms = performance.now() - t0;
  if (last !== msgs[n - 1]) throw new Error(`SDK echo: last message ${JSON.stringify(last)}`);
  freeSdk(conn);
  return { ms, sendMs, peakQueued, ...results };
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
    if (++got === n) done.resolve(e.data);
  };
  const t0 = performance.now();
  const asked = burst(control, scope, n);
  const last = await within(done.promise, 60000, `raw receive (${got}/${n})`);
  const ms = performance.now() - t0;
  await asked;
  if (last !== String(n - 1)) throw new Error(`raw receive: last message ${JSON.stringify(last)}`);
  await closeRaw(ws);
  return { ms };
}

async function recvSdk(url, control, scope, n) {
  const sink = { fn: null };
  const conn = await openSdk(url, sink);
  const done = deferred();
  let got = 0;
  sink.fn = (m) => {
    if (++got === n) done.resolve(m.data);
  };
  const t0 = performance.now();
  const asked = burst(control, scope, n);
  const last = await within(done.promise, 60000, `SDK receive (${got}/${n})`);
  const ms = performance.now() - t0;
  await asked;
  if (last !== String(n - 1)) throw new Error(`SDK receive: last message ${JSON.stringify(last)}`);
  freeSdk(conn);
  return { ms };
}

// ---- 3. binary echo ---------------------------------------------------------------------------

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
  await within(done.promise, 90000, `raw binary (${got}/${n})`);
  const ms = performance.now() - t0;
  if (bytes !== n * size) throw new Error(`raw binary: ${bytes} bytes back, expected ${n * size}`);
  await closeRaw(ws);
  return { ms, sendMs, peakBuffered };
}

async function binSdk(url, n, size, highWaterMark) {
  const buf = binaryPayload(size);
  const sink = { fn: null };
  const conn = await openSdk(url, sink, bigOutbox(n, size, highWaterMark));
  const done = deferred();
  let got = 0;
  let bytes = 0;
  sink.fn = (m) => {
    bytes += m.data.byteLength;
    if (++got === n) done.resolve();
  };
  const results = { sent: 0, queued: 0, dropped: 0 };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) results[conn.sendMessage(buf)]++;
  const sendMs = performance.now() - t0;
  const peakQueued = conn.getSnapshot().queuedMessages;
  await within(done.promise, 90000, `SDK binary (${got}/${n})`);
  const ms = performance.now() - t0;
  if (bytes !== n * size) throw new Error(`SDK binary: ${bytes} bytes back, expected ${n * size}`);
  freeSdk(conn);
  return { ms, sendMs, peakQueued, ...results };
}

// ---- 4. connect/drop cycles -------------------------------------------------------------------

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

const mem = { conn: null, opens: 0, waiters: [] };

async function memSetup(url) {
  const liveBefore = __liveHandles();
  const opened = () => {
    mem.opens++;
    for (const w of mem.waiters.splice(0)) w();
  };
  const first = new Promise((r) => mem.waiters.push(r));
  mem.conn = new Connection(url, {
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    onOpen: opened,
    onMessage: () => {},
    onError: (e) => console.error('resilient-ws onError', e),
  });
  // A subscriber, as the React hook would have.
  mem.unsubscribe = mem.conn.subscribe(() => mem.conn.getSnapshot());
  await within(first, 10000, 'memory Connection open');
  await sleep(20);
  return { liveBefore, liveOpen: __liveHandles(), wasmBytes: wasmExports.memory.buffer.byteLength };
}

/**
 * `k` SDK cycles on the one Connection: reconnect(), or (every 5th, from the 3rd) a server
 * /drop followed by the Connection's own retry. Resolves once the last new socket is open.
 */
async function sdkCycles(control, scope, k) {
  const t0 = performance.now();
  for (let i = 0; i < k; i++) {
    const next = new Promise((r) => mem.waiters.push(r));
    if (i % 5 === 2) await fetch(`${control}/drop?scope=${encodeURIComponent(scope)}`);
    else mem.conn.reconnect();
    await within(next, 10000, `reconnect cycle ${i}`);
    await sleep(1);
  }
  const ms = performance.now() - t0;
  await sleep(20); // let a closing socket's handlers go before counting
  return {
    ms,
    opens: mem.opens,
    live: __liveHandles(),
    wasmBytes: wasmExports.memory.buffer.byteLength,
    status: mem.conn.status,
  };
}

function memTeardown() {
  mem.unsubscribe();
  mem.conn.close();
  mem.conn.free();
  mem.conn = null;
  return { liveAfterFree: __liveHandles(), wasmBytes: wasmExports.memory.buffer.byteLength };
}

window.B = {
  echoRaw,
  echoSdk,
  recvRaw,
  recvSdk,
  binRaw,
  binSdk,
  rawCycles,
  memSetup,
  sdkCycles,
  memTeardown,
  liveHandles: () => __liveHandles(),
  wasmBytes: () => wasmExports.memory.buffer.byteLength,
};
window.benchReady = true;
