// A DeliveryServer (resilient-ws/server, pkg/server.js) on a fresh `ws` WebSocketServer on
// 127.0.0.1, for the persist and tabs tests: it counts what it applies.
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { DeliveryServer, Rejection } from '../../pkg/server.js';
import { sleep } from './helpers.mjs';

/**
 * `applyMs`: each message takes this long to apply (so that a flush can be interrupted).
 * A text starting "refuse" is refused (a Rejection with reason "refused"), not applied.
 * `applied`: the texts in the order applied (binary as "bytes:1,2,3"); `sids`: the sessions seen.
 */
export async function startDeliveryServer(path, applyMs = 0) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const applied = [];
  const sids = new Set();
  let connections = 0;
  wss.on('connection', () => connections++);
  const server = new DeliveryServer({
    onMessage: async (data) => {
      if (typeof data === 'string' && data.startsWith('refuse')) throw new Rejection('refused');
      applied.push(typeof data === 'string' ? data : `bytes:${Array.from(data).join(',')}`);
      if (applyMs) await sleep(applyMs);
    },
    onSession: (info) => sids.add(info.sid),
    onError: () => {},
  });
  server.attach(wss);
  return {
    url: `ws://127.0.0.1:${wss.address().port}/${path}`,
    server,
    applied,
    sids,
    connections: () => connections,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}
