// resilient-ws/server (pkg/server.js, the built entry) on a real `ws` WebSocketServer on 127.0.0.1:
// a protocol client written here speaks PROTOCOL.md to it over real sockets; then the browser's
// own client (`new Connection(url, { delivery: true })` in headless Chromium) against it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { DeliveryServer, MemoryStore, ProtocolError, Rejection } from '../../pkg/server.js';
import { PKG, launchBrowser, openPage, serveDir, sleep, waitFor } from '../test-support/helpers.mjs';

/** A DeliveryServer on a fresh WebSocketServer; `applied` lists every onMessage call. */
async function startServer(options = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const applied = [];
  const errors = [];
  const server = new DeliveryServer({
    onMessage: (data, ctx) => applied.push([ctx.sid, ctx.seq, data]),
    onError: (e) => errors.push(e),
    ...options,
  });
  server.attach(wss);
  return {
    url: `ws://127.0.0.1:${wss.address().port}`,
    wss,
    server,
    applied,
    errors,
    /** Abruptly kills every server-side socket (no close frame). */
    dropAll: () => { for (const c of wss.clients) c.terminate(); },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

let sidCounter = 0;
const newSid = () => `sid-${process.pid}-${++sidCounter}`;

/** The client side of PROTOCOL.md, by hand: frames are decoded into objects and queued. */
class Peer {
  static async open(url) {
    const ws = new WebSocket(url);
    const peer = new Peer(ws);
    await once(ws, 'open');
    return peer;
  }

  /** A peer that has said hello (a new session unless `sid` is given); `welcome` is the answer. */
  static async joined(url, sid = newSid(), delivered = 0) {
    const peer = await Peer.open(url);
    peer.sid = sid;
    peer.welcome = await peer.hello(sid, delivered);
    return peer;
  }

  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiting = null;
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      let frame;
      if (isBinary) {
        assert.equal(data[0], 0x64, 'a binary frame from the server starts with 0x64');
        frame = { t: 'bin', s: Number(data.readBigUInt64BE(1)), p: Buffer.from(data.subarray(9)) };
      } else {
        const text = data.toString();
        try {
          frame = JSON.parse(text);
        } catch {
          frame = { raw: text };
        }
      }
      this.inbox.push(frame);
      this.waiting?.();
    });
  }

  hello(sid, delivered = 0) {
    this.send({ t: 'hello', sid, in: delivered });
    return this.next();
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendData(seq, text) {
    this.send({ t: 'd', s: seq, p: text });
  }

  sendBinary(seq, bytes) {
    const frame = Buffer.alloc(9 + bytes.length);
    frame[0] = 0x64;
    frame.writeBigUInt64BE(BigInt(seq), 1);
    Buffer.from(bytes).copy(frame, 9);
    this.ws.send(frame);
  }

  /** The next frame; fails after `timeout` ms. */
  async next(timeout = 3000) {
    const deadline = Date.now() + timeout;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame from the server within ${timeout} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting = () => { clearTimeout(t); resolve(); };
      });
      this.waiting = null;
    }
    return this.inbox.shift();
  }

  /** Frames until (and including) the first one matching `pred`. */
  async until(pred, timeout = 3000) {
    const seen = [];
    for (;;) {
      const f = await this.next(timeout);
      seen.push(f);
      if (pred(f)) return seen;
    }
  }

  /** Asserts that nothing arrives for `ms`. */
  async quiet(ms = 150) {
    await sleep(ms);
    assert.deepEqual(this.inbox, [], 'no frame expected');
  }

  close() {
    this.ws.terminate();
  }
}

const isAck = (s) => (f) => f.t === 'a' && f.s === s;

test('the package\'s "./server" export resolves to pkg/server.js, which imports nothing (no ws, no wasm glue, no React)', async () => {
  const source = await readFile(join(PKG, 'server.js'), 'utf8');
  assert.deepEqual(source.match(/^\s*import[\s{*'"]|^\s*export\s[^;]*\sfrom\s|\bimport\s*\(|\brequire\s*\(/gm), null);
  const manifest = JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8'));
  assert.deepEqual(manifest.exports['./server'], { types: './server.d.ts', import: './server.js', default: './server.js' });
  const dir = await mkdtemp(join(tmpdir(), 'rws-server-consumer-'));
  try {
    await mkdir(join(dir, 'node_modules'));
    await symlink(PKG, join(dir, 'node_modules/resilient-ws'), 'dir');
    await writeFile(join(dir, 'main.mjs'), "export * from 'resilient-ws/server';\n");
    const m = await import(pathToFileURL(join(dir, 'main.mjs')).href);
    assert.deepEqual(Object.keys(m).sort(), ['DeliveryServer', 'MemoryStore', 'ProtocolError', 'Rejection']);
    assert.equal(m.DeliveryServer, DeliveryServer);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('protocol client against the Node server (real ws sockets)', () => {
  let srv;
  before(async () => { srv = await startServer({
    onMessage: (data, ctx) => {
      srv.applied.push([ctx.sid, ctx.seq, data]);
      if (data === 'bad') throw new Rejection('bad is not allowed');
      if (data === 'echo') return ctx.send(`echo ${ctx.seq}`).then(() => undefined);
      return undefined;
    },
  }); });
  after(() => srv.close());
  const appliedFor = (sid) => srv.applied.filter(([s]) => s === sid).map(([, seq, d]) => [seq, d]);

  test('hello with an unknown sid: a fresh session, resumed false', async () => {
    const p = await Peer.open(srv.url);
    assert.deepEqual(await p.hello(newSid()), { t: 'welcome', out: 0, resumed: false });
    // Even a claimed `in` cannot resume a session the server does not know.
    const q = await Peer.open(srv.url);
    assert.deepEqual(await q.hello(newSid(), 7), { t: 'welcome', out: 0, resumed: false });
    p.close();
    q.close();
  });

  test('data frames are applied once each, in order, and acknowledged cumulatively', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    for (let s = 1; s <= 5; s++) p.sendData(s, `m${s}`);
    const acks = await p.until(isAck(5));
    assert.ok(acks.every((f) => f.t === 'a'), JSON.stringify(acks));
    const seqs = acks.map((f) => f.s);
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'acks never go back');
    assert.deepEqual(appliedFor(sid), [[1, 'm1'], [2, 'm2'], [3, 'm3'], [4, 'm4'], [5, 'm5']]);
    p.close();
  });

  test('a duplicate is acknowledged again and not applied; a gap is ignored', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    p.sendData(1, 'a');
    p.sendData(2, 'b');
    await p.until(isAck(2));
    p.sendData(1, 'a');
    assert.deepEqual(await p.next(), { t: 'a', s: 2 }, 'duplicate: the ack repeats the last accepted seq');
    p.sendData(4, 'd'); // gap: 3 is missing
    await p.quiet();
    p.sendData(3, 'c');
    await p.until(isAck(3));
    p.sendData(4, 'd');
    await p.until(isAck(4));
    assert.deepEqual(appliedFor(sid), [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']]);
    p.close();
  });

  test('a rejected message is nacked with the reason, counts as accepted, and is not applied again', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    p.sendData(1, 'ok');
    p.sendData(2, 'bad');
    p.sendData(3, 'ok too');
    const frames = await p.until(isAck(3));
    const nack = frames.find((f) => f.t === 'n');
    assert.deepEqual(nack, { t: 'n', s: 2, e: 'bad is not allowed' });
    const ackOf1 = frames.findIndex((f) => f.t === 'a' && f.s >= 1);
    assert.ok(ackOf1 < frames.indexOf(nack), `acks of earlier messages go before the nack: ${JSON.stringify(frames)}`);
    p.sendData(2, 'bad'); // resent: a duplicate now, only acknowledged
    assert.deepEqual(await p.next(), { t: 'a', s: 3 });
    p.close();
    // The nacked seq is part of what the server reports as accepted.
    const q = await Peer.open(srv.url);
    assert.deepEqual(await q.hello(sid), { t: 'welcome', out: 3, resumed: true });
    assert.deepEqual(appliedFor(sid).map(([s]) => s), [1, 2, 3], 'onMessage saw the rejected message once');
    q.close();
  });

  test('binary frames both ways: 0x64, u64 big-endian seq, bytes', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    p.sendBinary(1, [1, 2, 3, 0, 255]);
    p.sendData(2, 'text');
    p.sendBinary(3, []);
    await p.until(isAck(3));
    const got = appliedFor(sid);
    assert.ok(got[0][1] instanceof Uint8Array);
    assert.deepEqual([...got[0][1]], [1, 2, 3, 0, 255]);
    assert.equal(got[1][1], 'text');
    assert.deepEqual([...got[2][1]], []);
    const bytes = new Uint8Array([9, 8, 7]);
    const seq = await srv.server.send(sid, bytes);
    bytes[0] = 0; // the server copied them
    assert.equal(seq, 1);
    assert.deepEqual(await p.next(), { t: 'bin', s: 1, p: Buffer.from([9, 8, 7]) });
    await srv.server.send(sid, new Uint16Array([0x0102]).buffer);
    assert.deepEqual((await p.next()).s, 2);
    p.close();
  });

  test('a large binary seq is encoded as u64 big-endian', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    const big = 2 ** 40 + 3;
    p.sendBinary(big, [1]); // a gap: ignored, but decoded without error
    await p.quiet(100);
    p.sendBinary(2 ** 53, [1]); // beyond 2^53 - 1: protocol error
    const closed = await p.closed;
    assert.equal(closed.code, 1002);
    assert.match(closed.reason, /seq ≥ 2\^53/);
    assert.deepEqual(appliedFor(sid), []);
  });

  test('server messages: sequenced, kept until acknowledged (trimmed on the client ack), replayed on resume', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    for (const m of ['s1', 's2', 's3']) await srv.server.send(sid, m);
    assert.deepEqual(await p.next(), { t: 'd', s: 1, p: 's1' });
    assert.deepEqual(await p.next(), { t: 'd', s: 2, p: 's2' });
    assert.deepEqual(await p.next(), { t: 'd', s: 3, p: 's3' });
    const store = srv.server.store;
    assert.deepEqual(store.frames(sid, 0).map((f) => f.seq), [1, 2, 3]);
    p.send({ t: 'a', s: 1 });
    await waitFor(() => store.load(sid).trimmed === 1, { what: 'trim to 1' });
    assert.deepEqual(store.frames(sid, 0).map((f) => f.seq), [2, 3], 'acknowledged frames are dropped');
    // Abrupt server-side drop; two more messages while the client is away.
    srv.dropAll();
    await p.closed;
    assert.equal(await srv.server.send(sid, 's4'), 4);
    assert.equal(await srv.server.send(sid, 's5'), 5);
    // The client had delivered up to 2 (ack of 2 lost): the replay starts at 3.
    const q = await Peer.open(srv.url);
    assert.deepEqual(await q.hello(sid, 2), { t: 'welcome', out: 0, resumed: true });
    for (let s = 3; s <= 5; s++) assert.deepEqual(await q.next(), { t: 'd', s, p: `s${s}` });
    await q.quiet();
    assert.deepEqual(store.load(sid), { lastIn: 0, outSeq: 5, trimmed: 2 }, 'the hello\'s `in` acknowledges too');
    q.close();
  });

  test('a resume the server cannot serve starts afresh: frames trimmed away, or `in` beyond what was sent', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    p.sendData(1, 'x');
    await p.until(isAck(1));
    for (const m of ['a', 'b', 'c']) await srv.server.send(sid, m);
    p.send({ t: 'a', s: 3 });
    await waitFor(() => srv.server.store.load(sid).trimmed === 3, { what: 'trim' });
    p.close();
    const q = await Peer.open(srv.url);
    assert.deepEqual(await q.hello(sid, 1), { t: 'welcome', out: 0, resumed: false }, 'frames 2..3 were trimmed: cannot replay from 1');
    q.sendData(1, 'x again'); // the client renumbers from 1
    await q.until(isAck(1));
    q.close();
    const r = await Peer.open(srv.url);
    assert.deepEqual(await r.hello(sid, 9), { t: 'welcome', out: 0, resumed: false }, 'in 9 > out_seq 0');
    r.close();
    assert.deepEqual(appliedFor(sid), [[1, 'x'], [1, 'x again']]);
  });

  test('client messages in flight across a drop are applied exactly once after the resend', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    for (let s = 1; s <= 20; s++) p.sendData(s, `m${s}`);
    await waitFor(() => appliedFor(sid).length >= 5, { what: 'some applied' });
    srv.dropAll();
    await p.closed;
    const q = await Peer.open(srv.url);
    const welcome = await q.hello(sid);
    assert.equal(welcome.resumed, true);
    // Resend everything after what the server says it accepted, plus (harmlessly) a few before.
    for (let s = Math.max(1, welcome.out - 2); s <= 20; s++) q.sendData(s, `m${s}`);
    await q.until(isAck(20));
    assert.deepEqual(appliedFor(sid), Array.from({ length: 20 }, (_, i) => [i + 1, `m${i + 1}`]));
    q.close();
  });

  test('ctx.send from onMessage reaches the client, after the welcome, with its own seq', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    p.sendData(1, 'echo');
    const frames = await p.until((f) => f.t === 'd');
    assert.deepEqual(frames.at(-1), { t: 'd', s: 1, p: 'echo 1' });
    await p.until(isAck(1));
    p.close();
  });

  test('a second connection of the same session replaces the first (closed with 4000)', async () => {
    const p = await Peer.joined(srv.url);
    const { sid } = p;
    p.sendData(1, 'one');
    await p.until(isAck(1));
    const q = await Peer.open(srv.url);
    assert.deepEqual(await q.hello(sid), { t: 'welcome', out: 1, resumed: true });
    assert.equal((await p.closed).code, 4000);
    await srv.server.send(sid, 'to q');
    assert.deepEqual(await q.next(), { t: 'd', s: 1, p: 'to q' });
    q.close();
  });

  test('"ping" is answered "pong"; other frames outside the protocol are not errors', async () => {
    const raw = [];
    const s2 = await startServer({ onRawMessage: (d, ctx) => raw.push([d, ctx.sid]) });
    try {
      const p = await Peer.open(s2.url);
      p.send('ping');
      assert.deepEqual(await p.next(), { raw: 'pong' });
      p.send({ t: 'd', s: 1, p: 'before hello' }); // no hello yet: not a protocol frame
      p.send('hi');
      await waitFor(() => raw.length === 2, { what: 'raw frames' });
      const sid = newSid();
      await p.hello(sid);
      p.send('ping');
      assert.deepEqual(await p.next(), { raw: 'pong' });
      p.send('[1,2]');
      p.ws.send(Buffer.from([1, 2, 3])); // binary, not 0x64: outside the protocol
      await waitFor(() => raw.length === 4, { what: 'raw frames after hello' });
      assert.deepEqual(raw.slice(0, 3), [['{"t":"d","s":1,"p":"before hello"}', null], ['hi', null], ['[1,2]', sid]]);
      assert.deepEqual([...raw[3][0]], [1, 2, 3]);
      assert.deepEqual(s2.applied, []);
      assert.deepEqual(s2.errors, []);
      p.close();
    } finally {
      await s2.close();
    }
    const s3 = await startServer({ pong: false, onRawMessage: (d) => raw.push(d) });
    try {
      const p = await Peer.open(s3.url);
      p.send('ping');
      await p.quiet();
      await waitFor(() => raw.at(-1) === 'ping', { what: 'ping passed on' });
      p.close();
    } finally {
      await s3.close();
    }
  });

  test('malformed protocol frames close the connection with 1002 and a reason naming the problem', async () => {
    const cases = [
      [{ t: 'hello', sid: '', in: 0 }, /"hello" frame: "sid" must be a string/],
      [{ t: 'hello', sid: 'x', in: -1 }, /"in" must be an integer in 0\.\.2\^53-1, got -1/],
      [{ t: 'hello', sid: 'x', in: 0 }, /a second "hello"/, true],
      [{ t: 'd', s: 1.5, p: 'x' }, /"d" frame: "s" must be an integer in 1\.\.2\^53-1, got 1\.5/, true],
      [{ t: 'd', s: 1, p: 42 }, /"p" must be a string, got 42/, true],
      [{ t: 'a', s: 'x' }, /"a" frame: "s" must be an integer/, true],
    ];
    for (const [frame, reason, afterHello] of cases) {
      const p = await Peer.open(srv.url);
      if (afterHello) await p.hello(newSid());
      p.send(frame);
      const closed = await p.closed;
      assert.equal(closed.code, 1002, JSON.stringify(frame));
      assert.match(closed.reason, reason);
    }
    const p = await Peer.open(srv.url);
    await p.hello(newSid());
    p.ws.send(Buffer.from([0x64, 0, 0]));
    const closed = await p.closed;
    assert.equal(closed.code, 1002);
    assert.match(closed.reason, /binary data frame of 3 bytes/);
    assert.ok(srv.errors.length >= 7 && srv.errors.every((e) => e instanceof ProtocolError));
    srv.errors.length = 0;
  });
});

describe('server edge cases', () => {
  test('onMessage throwing (not a Rejection): not accepted, connection closed 1011, applied after the resend', async () => {
    let fail = true;
    const srv = await startServer({
      onMessage: (data, ctx) => {
        if (fail) {
          fail = false;
          throw new Error('database down');
        }
        srv.applied.push([ctx.seq, data]);
      },
    });
    try {
      const p = await Peer.joined(srv.url);
      const { sid } = p;
      p.sendData(1, 'x');
      assert.equal((await p.closed).code, 1011);
      assert.match(srv.errors[0].message, /database down/);
      const q = await Peer.open(srv.url);
      assert.deepEqual(await q.hello(sid), { t: 'welcome', out: 0, resumed: true });
      q.sendData(1, 'x');
      await q.until(isAck(1));
      assert.deepEqual(srv.applied, [[1, 'x']]);
      q.close();
    } finally {
      await srv.close();
    }
  });

  test('an asynchronous store and a slow onMessage keep the order; ack batching still acks everything', async () => {
    const memory = new MemoryStore();
    const delay = () => new Promise((r) => setTimeout(r, Math.random() * 3));
    const store = Object.fromEntries(
      ['load', 'reset', 'setLastIn', 'append', 'trim', 'frames', 'release'].map((m) => [m, async (...a) => { await delay(); return memory[m](...a); }]),
    );
    const srv = await startServer({
      store,
      onMessage: async (data, ctx) => {
        await delay();
        srv.applied.push(data);
        await ctx.send(`r${data}`);
      },
    });
    try {
      const p = await Peer.joined(srv.url);
      const { sid } = p;
      const n = 200;
      for (let s = 1; s <= n; s++) p.sendData(s, String(s));
      const frames = await p.until(isAck(n), 10000);
      assert.deepEqual(srv.applied, Array.from({ length: n }, (_, i) => String(i + 1)));
      // onMessage awaits ctx.send: every reply went out before the message's ack.
      const data = frames.filter((f) => f.t === 'd');
      assert.deepEqual(data.map((f) => f.p), Array.from({ length: n }, (_, i) => `r${i + 1}`));
      assert.deepEqual(data.map((f) => f.s), Array.from({ length: n }, (_, i) => i + 1));
      p.close();
    } finally {
      await srv.close();
    }
  });

  test('handle() wraps one connection, with its request; throwing callbacks are reported, the connection lives on', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const errors = [];
    const seen = [];
    const server = new DeliveryServer({
      onMessage: (data, ctx) => seen.push([data, ctx.request.url]),
      onSession: () => { throw new Error('onSession bug'); },
      onRawMessage: () => { throw new Error('onRawMessage bug'); },
      onError: (e, ctx) => errors.push([e.message, ctx.sid]),
    });
    wss.on('connection', (socket, request) => server.handle(socket, request));
    try {
      const p = await Peer.open(`ws://127.0.0.1:${wss.address().port}/room/7`);
      p.send('not protocol');
      const sid = newSid();
      assert.deepEqual(await p.hello(sid), { t: 'welcome', out: 0, resumed: false });
      p.sendData(1, 'x');
      await p.until(isAck(1));
      assert.deepEqual(seen, [['x', '/room/7']]);
      assert.deepEqual(errors, [['onRawMessage bug', null], ['onSession bug', sid]]);
      p.close();
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  test('MemoryStore: a released session is forgotten after ttlMs; maxFrames evicts the oldest', async () => {
    const store = new MemoryStore({ ttlMs: 100, maxFrames: 2 });
    const srv = await startServer({ store });
    try {
      const p = await Peer.joined(srv.url);
      const { sid } = p;
      for (const m of ['a', 'b', 'c']) await srv.server.send(sid, m);
      assert.deepEqual(store.load(sid), { lastIn: 0, outSeq: 3, trimmed: 1 });
      assert.deepEqual(store.frames(sid, 0).map((f) => f.data), ['b', 'c']);
      p.close();
      await waitFor(() => store.size === 0, { what: 'session expired' });
      await assert.rejects(srv.server.send(sid, 'late'), /no session "sid-.*" in the store/);
    } finally {
      await srv.close();
    }
    assert.throws(() => new MemoryStore({ ttlMs: 0 }), /ttlMs must be a positive integer, got 0/);
    assert.throws(() => new DeliveryServer({}), /options.onMessage must be a function/);
  });
});

// The browser's client, built package, headless Chromium. Needs the lead's delivery client on main.
describe('browser Connection({ delivery: true }) against the Node server', () => {
  let browser;
  let site;
  let dir;
  let srv;
  const pages = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rws-server-page-'));
    await symlink(PKG, join(dir, 'pkg'), 'dir');
    await writeFile(
      join(dir, 'index.html'),
      `<!doctype html><script type="module">
        import { init, Connection } from './pkg/index.js';
        await init();
        window.received = [];
        window.acked = [];
        window.dropped = [];
        window.resyncs = 0;
        window.start = (url) => {
          window.conn = new Connection(url, {
            delivery: true,
            reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
            onMessage: (m) => window.received.push(typeof m === 'string' ? m : m.data),
            onAck: (d) => window.acked.push(d),
            onDrop: (d, reason, detail) => window.dropped.push([d, reason, detail ?? null]),
            onResync: () => window.resyncs++,
          });
        };
        window.ready = true;
      </script>`,
    );
    site = await serveDir(dir);
    browser = await launchBrowser();
    srv = await startServer({
      onMessage: async (data, ctx) => {
        srv.applied.push(data);
        if (data === 'reject me') throw new Rejection('no thanks');
        await ctx.send(`reply to ${data}`);
      },
    });
  });

  /** A page whose Connection({ delivery: true }) is open on the server; null (test skipped) without the delivery client. */
  async function connectedPage(t) {
    const probe = await openPage(browser, `${site.url}/`);
    pages.push(probe);
    await probe.page.waitForFunction(() => window.ready === true);
    await probe.page.evaluate((url) => window.start(url), srv.url);
    if (!(await probe.page.evaluate(() => typeof window.conn.sendWithAck === 'function'))) {
      t.skip('the package in pkg/ has no delivery client yet (Connection.sendWithAck): merge main (the lead\'s client) and run `make pkg`');
      return null;
    }
    await waitFor(() => probe.page.evaluate(() => window.conn.status === 'open'), { what: 'open' });
    return probe;
  }

  after(async () => {
    for (const p of pages) await p.page.close();
    await browser?.close();
    await site?.close();
    await srv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('messages across abrupt server-side socket terminations arrive exactly once, in order, both ways', async (t) => {
    const probe = await connectedPage(t);
    if (!probe) return;
    const { page } = probe;
    const n = 300;
    // Send in bursts, killing the server side of the socket in the middle of each burst.
    const sent = page.evaluate(async (count) => {
      const all = [];
      for (let i = 1; i <= count; i++) {
        all.push(window.conn.sendWithAck(`m${i}`));
        if (i % 25 === 0) await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(all);
      return 'all acknowledged';
    }, n);
    for (let k = 0; k < 4; k++) {
      await sleep(60);
      srv.dropAll();
    }
    assert.equal(await sent, 'all acknowledged');
    const expected = Array.from({ length: n }, (_, i) => `m${i + 1}`);
    assert.deepEqual(srv.applied, expected, 'the server applied every message exactly once, in order');
    const replies = expected.map((m) => `reply to ${m}`);
    await waitFor(async () => (await page.evaluate(() => window.received.length)) >= n, { timeout: 15000, what: 'all replies' });
    srv.dropAll();
    await sleep(300);
    assert.deepEqual(await page.evaluate(() => window.received), replies, 'the page got every reply exactly once, in order');
    assert.equal(await page.evaluate(() => window.resyncs), 0, 'no continuity lost');
    assert.deepEqual(probe.errors, []);
  });

  test('a rejected message reaches the page as a drop with the server\'s reason', async (t) => {
    const probe = await connectedPage(t);
    if (!probe) return;
    const { page } = probe;
    const outcome = await page.evaluate(() =>
      window.conn.sendWithAck('reject me').then(() => 'acked', (e) => `rejected: ${e.reason}`),
    );
    assert.equal(outcome, 'rejected: rejected');
    assert.deepEqual(await page.evaluate(() => window.dropped), [['reject me', 'rejected', 'no thanks']]);
  });
});
