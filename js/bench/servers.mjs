// The peers bench's Node-side servers: socket.io's own server (socket.io-client needs it) and a
// TCP proxy that puts faults between any client and its server.
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import { Server } from 'socket.io';
import { cleanups } from './common.mjs';

const listen = (server) =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });

/**
 * A socket.io 4.8 server with its defaults. Event `m`: recorded per scope (the handshake's
 * `scope` query), then acknowledged when the client asks for an ack (socket.io-client with
 * `retries`), else echoed back as `m`. `restart(code)` closes every engine.io WebSocket with a
 * close frame of that code (and every long-polling session), as the ws-test-server's /close does.
 */
export async function startSocketIoServer() {
  const http = createHttpServer();
  const io = new Server(http, { cors: { origin: '*' } });
  const received = new Map(); // scope -> messages
  io.on('connection', (socket) => {
    const scope = String(socket.handshake.query.scope ?? '');
    if (!received.has(scope)) received.set(scope, []);
    const list = received.get(scope);
    socket.on('m', (data, ack) => {
      list.push(data);
      if (typeof ack === 'function') ack();
      else socket.emit('m', data);
    });
  });
  const port = await listen(http);
  cleanups.push(() => new Promise((r) => io.close(() => r())));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received: (scope) => received.get(scope) ?? [],
    restart(code) {
      let n = 0;
      for (const client of Object.values(io.engine.clients)) {
        n++;
        if (client.transport?.name === 'websocket' && client.transport.socket) client.transport.socket.close(code);
        else client.close();
      }
      return n;
    },
  };
}

/**
 * A TCP proxy on a free port in front of 127.0.0.1:`targetPort`, with three faults:
 * - drop(): every connection through it is reset on both sides (RST), at once;
 * - down(ms): for ms, new connections are reset as soon as they are accepted (a refused
 *   server), and the open ones are dropped;
 * - blackhole(ms): for ms, nothing passes in either direction and new connections get no answer
 *   (they wait, as behind a silent network); bytes written meanwhile are held, and delivered
 *   when the hole ends, as TCP retransmission would, on every connection whose two ends are
 *   both still there; a connection either end gave up on meanwhile is reset and its held bytes
 *   are lost, as they would be.
 */
export async function startProxy(targetPort) {
  let mode = 'up';
  let until = null;
  const pairs = new Set();

  function link(pair) {
    const up = net.connect(targetPort, '127.0.0.1');
    pair.up = up;
    up.on('error', () => pair.client.destroy());
    up.on('data', (d) => forward(pair, 'toClient', d));
    up.on('end', () => pair.client.end());
    up.on('close', () => {
      pair.upClosed = true;
      if (mode !== 'hole') pair.client.destroy();
    });
    for (const d of pair.toUp.splice(0)) up.write(d);
  }
  function forward(pair, dir, d) {
    if (mode === 'hole') pair[dir === 'toUp' ? 'heldUp' : 'heldClient'].push(d);
    else if (dir === 'toUp') (pair.up ? pair.up.write(d) : pair.toUp.push(d));
    else pair.client.write(d);
  }
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    if (mode === 'down') {
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const pair = { client, up: null, toUp: [], heldUp: [], heldClient: [], clientClosed: false, upClosed: false };
    pairs.add(pair);
    client.on('error', () => {});
    client.on('data', (d) => forward(pair, 'toUp', d));
    client.on('end', () => mode !== 'hole' && pair.up?.end());
    client.on('close', () => {
      pair.clientClosed = true;
      if (mode === 'hole') return; // settled when the hole ends
      pairs.delete(pair);
      pair.up?.destroy();
    });
    if (mode === 'hole') pair.waiting = true;
    else link(pair);
  });
  const port = await listen(server);
  cleanups.push(
    () =>
      new Promise((r) => {
        for (const p of pairs) reset(p);
        server.close(() => r());
      }),
  );
  function reset(p) {
    if (!p.client.destroyed) p.client.resetAndDestroy();
    if (p.up && !p.up.destroyed) p.up.resetAndDestroy();
  }
  const dropAll = () => {
    const n = pairs.size;
    for (const p of [...pairs]) reset(p);
    pairs.clear();
    return n;
  };
  const later = (ms, f) => {
    clearTimeout(until);
    until = setTimeout(f, ms);
  };
  function release() {
    mode = 'up';
    for (const p of [...pairs]) {
      if (p.clientClosed || p.upClosed) {
        reset(p);
        pairs.delete(p);
      } else if (p.waiting) {
        p.waiting = false;
        p.toUp.push(...p.heldUp.splice(0));
        link(p);
      } else {
        for (const d of p.heldUp.splice(0)) p.up.write(d);
        for (const d of p.heldClient.splice(0)) p.client.write(d);
      }
    }
  }
  return {
    port,
    connections: () => pairs.size,
    drop: dropAll,
    down(ms) {
      mode = 'down';
      const n = dropAll();
      later(ms, () => (mode = 'up'));
      return n;
    },
    /** Starts a blackhole that lasts until release(). */
    hole() {
      clearTimeout(until);
      mode = 'hole';
    },
    release,
    /** A blackhole of `ms`; resolves when it is over and the held bytes went out. */
    blackhole(ms) {
      mode = 'hole';
      return new Promise((resolve) => later(ms, () => resolve(release())));
    },
  };
}
