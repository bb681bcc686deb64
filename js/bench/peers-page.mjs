// The browser half of js/bench/peers.mjs, bundled by esbuild with the peer libraries (from
// js/bench/node_modules) into one script; resilient-ws is imported from the served pkg/ as an
// app would load it. It defines `window.P`: each function runs one measurement on one or more
// "kinds" (raw WebSocket, resilient-ws, reconnecting-websocket, partysocket, react-use-websocket,
// socket.io-client) through one small adapter per kind, and returns plain numbers.
import { spy } from './spy.mjs'; // first: it replaces window.WebSocket before the libraries load
import ReconnectingWebSocket from 'reconnecting-websocket';
import { WebSocket as PartyWebSocket } from 'partysocket';
import * as ruwModule from 'react-use-websocket';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { flushSync } from 'react-dom';
import { io } from 'socket.io-client';
import { deferred, percentiles, sleep, within } from './page-util.mjs';

// A CommonJS module with exports.default: esbuild, following Node, imports module.exports as default.
const useWebSocket = ruwModule.default?.default ?? ruwModule.default;

const PKG = new URLSearchParams(location.search).get('pkg');
const rws = await import(`${PKG}index.js`);
await rws.init();
// The wasm memory: wasm-bindgen's init returns the instance's exports (already loaded by init()).
let wasmMemory = null;
try {
  const glue = await import(`${PKG}resilient_ws.js`);
  const exports = await glue.default();
  wasmMemory = Object.values(exports ?? {}).find((v) => v instanceof WebAssembly.Memory) ?? null;
} catch {
  /* unknown */
}

// ---- adapters: open(url, handlers, options) -> { send(data), close() } -------------------------
// handlers: onOpen(), onMessage(data), onClose(). Options are the kind's own (none = defaults).

/** The React page for react-use-websocket: one root per hook instance. */
function HookHost({ url, handlers, options, expose }) {
  const { sendMessage, getWebSocket } = useWebSocket(url, {
    ...options,
    onOpen: () => {
      // The default binaryType is "blob"; an app that reads bytes sets it, as the others do.
      getWebSocket().binaryType = 'arraybuffer';
      handlers.onOpen();
    },
    onMessage: (e) => handlers.onMessage(e.data),
    onClose: () => handlers.onClose(),
  });
  expose.send = sendMessage;
  return null;
}

/** reconnecting-websocket and its fork partysocket: the same WebSocket-like API. */
function reconnecting(Ctor) {
  return (url, h, options = {}) => {
    const ws = new Ctor(url, [], options);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('open', () => h.onOpen());
    ws.addEventListener('message', (e) => h.onMessage(e.data));
    ws.addEventListener('close', () => h.onClose());
    return { send: (d) => ws.send(d), close: () => ws.close(), reconnect: () => ws.reconnect() };
  };
}

const ADAPTERS = {
  raw(url, h) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => h.onOpen();
    ws.onmessage = (e) => h.onMessage(e.data);
    ws.onclose = () => h.onClose();
    return { send: (d) => ws.send(d), close: () => ws.close() };
  },
  rws(url, h, options = {}) {
    const conn = new rws.Connection(url, {
      ...options,
      onOpen: () => h.onOpen(),
      onMessage: (m) => h.onMessage(m.data),
      onClose: () => h.onClose(),
      onDrop: (_d, reason) => console.warn(`resilient-ws onDrop ${reason}`),
    });
    return {
      send: (d) => conn.sendMessage(d),
      reconnect: () => conn.reconnect(),
      close: () => {
        conn.close();
        conn.free();
      },
      conn,
    };
  },
  /** resilient-ws with delivery on (PROTOCOL.md): every message through sendWithAck. */
  rwsDelivery(url, h, options = {}) {
    const a = ADAPTERS.rws(url, h, { delivery: true, ...options });
    if (typeof a.conn.sendWithAck !== 'function') throw new Error('this resilient-ws package has no sendWithAck');
    a.send = (d) => {
      a.conn.sendWithAck(d).catch((e) => console.warn(`sendWithAck: ${e.reason ?? e.message}`));
    };
    return a;
  },
  rwsock: reconnecting(ReconnectingWebSocket),
  party: reconnecting(PartyWebSocket),
  ruw(url, h, options = {}) {
    const el = document.createElement('div');
    document.body.append(el);
    const root = createRoot(el);
    const expose = {};
    flushSync(() => root.render(createElement(HookHost, { url, handlers: h, options, expose })));
    return {
      send: (d) => expose.send(d),
      close: () => {
        root.unmount();
        el.remove();
      },
    };
  },
  sio(url, h, options = {}) {
    const u = new URL(url);
    const socket = io(u.origin, { query: { scope: u.searchParams.get('scope') }, ...options });
    socket.on('connect', () => h.onOpen());
    socket.on('m', (d) => h.onMessage(d));
    socket.on('disconnect', () => h.onClose());
    return {
      send: (d) => socket.emit('m', d),
      close: () => socket.disconnect(),
      socket,
      // Waits (at most 3 s) for engine.io's upgrade from HTTP long-polling to a WebSocket.
      upgraded: async () => {
        for (let i = 0; i < 300 && socket.io.engine?.transport?.name !== 'websocket'; i++) await sleep(10);
      },
    };
  },
};

/** Opens `kind` on `url` and resolves once it is open; `onMessage` can be swapped via the returned sink. */
async function openKind(kind, url, options) {
  const opened = deferred();
  const sink = { onMessage: () => {}, onOpen: () => opened.resolve(), onClose: () => {} };
  const h = {
    onOpen: () => sink.onOpen(),
    onMessage: (d) => sink.onMessage(d),
    onClose: () => sink.onClose(),
  };
  const end = ADAPTERS[kind](url, h, options);
  await within(opened.promise, 15000, `${kind} open`);
  if (end.upgraded) await end.upgraded();
  return { end, sink };
}

/** Options for the throughput rows: resilient-ws's outbox raised so a whole send loop fits. */
function throughputOptions(kind, n, size) {
  if (kind === 'rws') return { reconnect: false, outbox: { maxMessages: n + 16, maxBytes: Math.max(1 << 20, n * size * 2) } };
  return undefined;
}

function payloads(n, type, size) {
  if (type === 'binary') {
    const bytes = new Uint8Array(size);
    crypto.getRandomValues(bytes);
    return Array.from({ length: n }, () => bytes.buffer);
  }
  return Array.from({ length: n }, (_, i) => `m${i}:`.padEnd(size, 'x'));
}

/** For a timed-out echo: the last socket's sends and state, and resilient-ws's snapshot. */
function stateOf(end) {
  const ws = spy.last;
  const socket = ws && { sends: spy.lastSends, readyState: ws.readyState, bufferedAmount: ws.bufferedAmount };
  const snap = end.conn?.getSnapshot();
  const rws = snap && { status: snap.status, queuedMessages: snap.queuedMessages, bufferedAmount: snap.bufferedAmount, lastClose: snap.lastClose };
  return `; ${JSON.stringify({ socket, rws })}`;
}

const byteLength = (d) => (typeof d === 'string' ? d.length : d.byteLength);

// ---- throughput: n messages pipelined, echoed back --------------------------------------------

async function echo(kind, url, n, type, size) {
  const msgs = payloads(n, type, size);
  const { end, sink } = await openKind(kind, url, throughputOptions(kind, n, size));
  const done = deferred();
  let got = 0;
  let bytes = 0;
  sink.onMessage = (d) => {
    bytes += byteLength(d);
    if (++got === n) done.resolve();
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) end.send(msgs[i]);
  await within(done.promise, 120000, () => `${kind} echo (${got}/${n}${stateOf(end)})`);
  const ms = performance.now() - t0;
  end.close();
  if (bytes !== n * size) throw new Error(`${kind} echo: ${bytes} bytes back, expected ${n * size}`);
  return { ms };
}

// ---- round trips, one at a time, every kind in turns -------------------------------------------


/** As js/bench/page.mjs's rttAll: each kind on its own socket, taking turns every `block` round trips. */
async function rttAll(kinds, urls, n, size, block, shift) {
  const msgs = payloads(n, 'text', size);
  const ends = {};
  try {
    for (const k of kinds) {
      const o = await openKind(k, urls[k], throughputOptions(k, 16, size));
      ends[k] = { ...o, samples: new Float64Array(n) };
    }
    for (let b = 0; b < Math.ceil(n / block); b++) {
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(j + b + shift) % kinds.length];
        const e = ends[k];
        const to = Math.min(n, (b + 1) * block);
        const done = deferred();
        let i = b * block;
        let t = 0;
        e.sink.onMessage = (d) => {
          e.samples[i] = performance.now() - t;
          if (d !== msgs[i]) return done.reject(new Error(`rtt (${k}): got ${String(d).slice(0, 40)} for #${i}`));
          if (++i === to) return done.resolve();
          t = performance.now();
          e.end.send(msgs[i]);
        };
        t = performance.now();
        e.end.send(msgs[i]);
        await within(done.promise, 30000, `rtt (${k}) block ${b}`);
      }
    }
  } finally {
    for (const k of Object.keys(ends)) ends[k].end.close();
  }
  return Object.fromEntries(kinds.map((k) => [k, percentiles(ends[k].samples)]));
}

// ---- live connections for the fault, flush and reconnect rows ----------------------------------

/** name -> { end, sink, opens: [Date.now() of every open], sent, timer } */
const live = {};

/** Opens `kind` as `name` with `options`; does not wait for the open (the proxy may hold it). */
function start(name, kind, url, options) {
  const l = { opens: [], closes: 0, sent: 0, timer: null };
  const h = { onOpen: () => l.opens.push(Date.now()), onMessage: () => {}, onClose: () => l.closes++ };
  l.end = ADAPTERS[kind](url, h, options);
  live[name] = l;
  return true;
}

async function waitOpen(name, ms = 15000) {
  const l = live[name];
  for (const t0 = Date.now(); l.opens.length === 0; await sleep(5)) {
    if (Date.now() - t0 > ms) throw new Error(`${name}: not open after ${ms} ms`);
  }
  if (l.end.upgraded) await l.end.upgraded();
}

/** Sends `${name}:${i}` every `everyMs` until stopSending (setInterval, as an app's timer would). */
function startSending(name, everyMs) {
  const l = live[name];
  l.timer = setInterval(() => {
    try {
      l.end.send(`${l.sent}`);
      l.sent++;
    } catch (e) {
      l.errors = (l.errors ?? 0) + 1;
      l.lastError = String(e?.message ?? e);
    }
  }, everyMs);
}

function stopSending(name) {
  const l = live[name];
  clearInterval(l.timer);
  return { sent: l.sent, opens: l.opens.length, closes: l.closes, errors: l.errors ?? 0, lastError: l.lastError ?? null };
}

/** Queues `n` messages of `size` bytes at once (the library is not open yet); the spy is armed. */
function queue(name, n, size) {
  const l = live[name];
  const msgs = payloads(n, 'text', size);
  spy.peak = 0;
  spy.on = true;
  const t0 = performance.now();
  let errors = 0;
  let lastError = null;
  for (let i = 0; i < n; i++) {
    try {
      l.end.send(msgs[i]);
    } catch (e) {
      errors++;
      lastError = String(e?.message ?? e);
    }
  }
  return { ms: performance.now() - t0, errors, lastError };
}

function spyPeak() {
  spy.on = false;
  return spy.peak;
}

function opens(name) {
  return live[name].opens;
}

function stop(name) {
  const l = live[name];
  if (!l) return;
  clearInterval(l.timer);
  l.end.close();
  delete live[name];
}

// ---- memory over reconnect cycles ---------------------------------------------------------------

/**
 * `k` reconnect cycles on `name` (opened by start() with a quick backoff): reconnect() where the
 * library has one, else a server drop through `drop()` (a fetch to the runner's control).
 * Resolves once the k-th new socket is open.
 */
async function cycles(name, k, dropUrl) {
  const l = live[name];
  const t0 = performance.now();
  for (let i = 0; i < k; i++) {
    const want = l.opens.length + 1;
    if (l.end.reconnect) l.end.reconnect();
    else if (l.end.socket) {
      l.end.socket.disconnect();
      l.end.socket.connect();
    } else await fetch(dropUrl);
    for (const t = Date.now(); l.opens.length < want; await sleep(1)) {
      if (Date.now() - t > 15000) throw new Error(`${name}: cycle ${i} did not reopen`);
    }
  }
  return { ms: performance.now() - t0, opens: l.opens.length };
}

function wasmBytes() {
  return wasmMemory ? wasmMemory.buffer.byteLength : null;
}

window.P = { echo, rttAll, start, waitOpen, startSending, stopSending, queue, spyPeak, opens, stop, cycles, wasmBytes, sockets: () => spy.sockets };
window.benchReady = true;
