// resilient-ws/compat outside the browser: it imports and renders on the server (plain Node),
// unsupported options throw at render, and react-use-websocket's typed README usage compiles
// with `strict` against pkg/ (fixtures/compat-ts), resolved through the package's "exports".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PKG, ROOT } from '../test-support/helpers.mjs';
import { tsConsumer } from '../test-support/fixtures.mjs';

const run = promisify(execFile);
const node = (args) => run(process.execPath, args, { cwd: ROOT, timeout: 30000 });

test('renders on the server: CONNECTING for a url, UNINSTANTIATED for null or connect false; no window touched', async () => {
  const code = `
    if (typeof window !== 'undefined') throw new Error('not plain Node');
    const { createElement: h } = await import('react');
    const { renderToString } = await import('react-dom/server');
    const { default: useWebSocket, ReadyState } = await import(${JSON.stringify(join(PKG, 'compat.js'))});
    function Probe({ url, connect }) {
      const ws = useWebSocket(url, { share: true, onMessage() {} }, connect);
      return h('p', null, ws.readyState + '|' + String(ws.lastMessage) + '|' + String(ws.lastJsonMessage) + '|' + String(ws.getWebSocket()));
    }
    console.log(ReadyState.OPEN, renderToString(h('div', null,
      h(Probe, { url: 'ws://127.0.0.1:9/x' }), h(Probe, { url: null }), h(Probe, { url: 'ws://127.0.0.1:9/x', connect: false }))));
  `;
  const { stdout } = await node(['--input-type=module', '-e', code]);
  assert.equal(stdout.trim(), '1 <div><p>0|null|null|null</p><p>-1|null|null|null</p><p>-1|null|null|null</p></div>');
});

test('unsupported options throw at render, naming the option', async () => {
  const code = `
    const { createElement: h } = await import('react');
    const { renderToString } = await import('react-dom/server');
    const { default: useWebSocket } = await import(${JSON.stringify(join(PKG, 'compat.js'))});
    const out = [];
    for (const options of [{ fromSocketIO: true }, { reconnect: { maxAttempts: 3 } }, { heartbeat: { intervalMs: 1000 } }]) {
      function Probe() { useWebSocket('ws://127.0.0.1:9/x', options); return null; }
      try { renderToString(h(Probe)); out.push('no error'); } catch (e) { out.push(e.name + ': ' + e.message); }
    }
    console.log(JSON.stringify(out));
  `;
  const { stdout } = await node(['--input-type=module', '-e', code]);
  const [socketIO, reconnect, heartbeat] = JSON.parse(stdout);
  assert.match(socketIO, /^TypeError: .*fromSocketIO.*useSocketIO/);
  assert.match(reconnect, /^TypeError: .*reconnect.*reconnectAttempts, reconnectInterval/);
  assert.match(heartbeat, /^TypeError: .*heartbeat\.intervalMs: expected one of message, returnMessage, timeout, interval/);
});

let consumer;
before(async () => {
  consumer = await tsConsumer('compat-ts');
});
after(async () => {
  await consumer?.remove();
});

test("react-use-websocket's typed README usage compiles (strict) with only the import changed", async () => {
  const { code, output } = await consumer.tsc('-p', 'tsconfig.json');
  assert.equal(output.trim(), '', 'no diagnostics');
  assert.equal(code, 0);
});
