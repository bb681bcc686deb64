// Server-side rendering safety: both entries import in plain Node with no window and no
// WebSocket, the hook renders on the server (react-dom/server), and a Connection in Node
// survives a partial `window` stand-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { PKG, ROOT, uniqueScope, wsUrl } from '../test-support/helpers.mjs';

const run = promisify(execFile);
const node = (args) => run(process.execPath, args, { cwd: ROOT, timeout: 30000 });

test('importing either entry in plain Node does not throw', async () => {
  const index = join(PKG, 'index.js');
  const react = join(PKG, 'react.js');
  const code = `
    if (typeof window !== 'undefined' || typeof document !== 'undefined') throw new Error('not plain Node');
    const a = await import(${JSON.stringify(index)});
    const b = await import(${JSON.stringify(react)});
    console.log(JSON.stringify({ init: typeof a.init, Connection: typeof a.Connection, useWebSocket: typeof b.useWebSocket }));
  `;
  const { stdout } = await node(['--input-type=module', '-e', code]);
  assert.deepEqual(JSON.parse(stdout), { init: 'function', Connection: 'function', useWebSocket: 'function' });
});

test('importing either entry touches neither window, document nor WebSocket', async () => {
  // Every browser global is a getter that records who read it; only reads from pkg/ count.
  const code = `
    const touched = [];
    for (const name of ['window', 'document', 'WebSocket', 'self', 'location', 'navigator', 'localStorage']) {
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() { touched.push(name + ' <- ' + new Error().stack.split('\\n').slice(2, 4).join(' | ')); return undefined; },
      });
    }
    await import(${JSON.stringify(join(PKG, 'index.js'))});
    await import(${JSON.stringify(join(PKG, 'react.js'))});
    console.log(JSON.stringify(touched.filter((t) => t.includes(${JSON.stringify(PKG + '/')}))));
  `;
  const { stdout } = await node(['--input-type=module', '-e', code]);
  assert.deepEqual(JSON.parse(stdout), []);
});

test('the hook renders on the server: "connecting" for a url, "closed" for null, no connection', async () => {
  const code = `
    const { createElement: h } = await import('react');
    const { renderToString } = await import('react-dom/server');
    const { useWebSocket } = await import(${JSON.stringify(join(PKG, 'react.js'))});
    function Probe({ url }) {
      const ws = useWebSocket(url, { share: true, onMessage() {} });
      return h('p', null, ws.status + '|' + String(ws.connection) + '|' + String(ws.lastMessage) + '|' + ws.snapshot.attempt);
    }
    console.log(renderToString(h('div', null, h(Probe, { url: 'ws://127.0.0.1:9/x' }), h(Probe, { url: null }))));
  `;
  const { stdout } = await node(['--input-type=module', '-e', code]);
  assert.equal(stdout.trim(), '<div><p>connecting|null|null|0</p><p>closed|null|null|0</p></div>');
});

test('a Connection in Node with a partial `window` stand-in (no addEventListener) listens to nothing and echoes', async () => {
  // Some server setups define a bare `window` object; the online/offline/visibilitychange
  // listeners must then be skipped, not throw from the constructor.
  const url = wsUrl(uniqueScope('ssr-window'));
  const code = `
    globalThis.window = {};
    // Node 20 has no global WebSocket: the ws package's, as a server app would install it.
    globalThis.WebSocket ??= (await import('ws')).WebSocket;
    const { init, Connection } = await import(${JSON.stringify(join(PKG, 'index.node.js'))});
    await init();
    const echoed = await new Promise((resolve, reject) => {
      const conn = new Connection(${JSON.stringify(url)}, {
        reconnect: false,
        onOpen: () => conn.sendMessage('hello'),
        onMessage: (m) => { conn.free(); resolve(m.data); },
        onError: (e) => reject(e),
      });
      setTimeout(() => reject(new Error('no echo in 10 s')), 10000).unref();
    });
    console.log(JSON.stringify({ echoed }));
  `;
  const { stdout } = await node(['--input-type=module', '-e', code]);
  assert.deepEqual(JSON.parse(stdout), { echoed: 'hello' });
});
