// useWebSocket in real headless Chromium, against the test server. The harness page
// (fixtures/hook-app) is bundled by Vite from the built package in pkg/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  control, launchBrowser, openPage, received, sleep, stats, uniqueScope, waitFor, wsUrl,
} from '../test-support/helpers.mjs';
import { serveFixtureApp, waitOpen } from '../test-support/fixtures.mjs';

let browser;
let site;

before(async () => {
  site = await serveFixtureApp('hook-app', { 'resilient-ws/react': 'react.js', 'resilient-ws': 'index.js' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** A fresh page with the harness loaded. */
async function harnessPage() {
  const p = await openPage(browser, `${site.url}/`);
  await p.page.waitForFunction(() => window.harness?.ready === true);
  const h = {
    ...p,
    render: (specs, opts = {}) => p.page.evaluate(([s, o]) => window.harness.render(s, o), [specs, opts]),
    eval: (fn, arg) => p.page.evaluate(fn, arg),
    status: (id) => p.page.evaluate((i) => window.harness.probes[i]?.status ?? null, id),
    waitStatus: (id, status, timeout = 5000) =>
      waitFor(async () => (await h.status(id)) === status, { timeout, what: `${id} status ${status}` }),
    messages: (id) => p.page.evaluate((i) => window.harness.messages(i).map((e) => e.data), id),
    log: () => p.page.evaluate(() => window.harness.log),
    close: async () => {
      await p.page.close();
      assert.deepEqual(p.errors, [], 'no uncaught errors or console errors on the page');
    },
  };
  return h;
}

describe('useWebSocket in Chromium', () => {
  test('under React.StrictMode exactly one socket is opened, and it closes on unmount', async () => {
    const scope = uniqueScope('strict');
    const h = await harnessPage();
    await h.render([{ id: 'a', url: wsUrl(scope) }], { strict: true });
    await h.waitStatus('a', 'connected');
    await sleep(300); // anything extra StrictMode might have started has had time to connect
    const s = await stats(scope);
    assert.equal(s.open, 1, 'one socket open');
    assert.equal(s.attempts, 1, 'StrictMode double mount made no second attempt');
    assert.equal(h.requests.filter((u) => u.endsWith('.wasm')).length, 1, 'the .wasm is fetched once');
    await h.render([], { strict: true });
    await waitOpen(scope, 0);
    await h.close();
  });

  test('status follows the connection: connecting, connected, reconnecting, connected, closed', async () => {
    const scope = uniqueScope('status');
    const h = await harnessPage();
    const reconnect = { initialDelayMs: 50, maxDelayMs: 200, jitter: 0, minUptimeMs: 0 };
    await h.render([{ id: 'a', url: wsUrl(scope), options: { reconnect } }]);
    await h.waitStatus('a', 'connected');
    // lastMessage and lastJsonMessage follow the messages.
    await h.eval(() => window.harness.probes.a.sendJsonMessage({ hello: 'world', n: 1 }));
    await waitFor(() => h.eval(() => window.harness.probes.a.lastJsonMessage?.hello === 'world'), { what: 'lastJsonMessage' });
    const last = await h.eval(() => window.harness.probes.a.lastMessage);
    assert.equal(last.data, '{"hello":"world","n":1}');
    assert.equal(typeof last.receivedAt, 'number');

    await control(`/drop?scope=${scope}`);
    await waitFor(async () => (await h.eval(() => window.harness.history.a)).includes('reconnecting'), { what: 'reconnecting' });
    await waitFor(async () => (await h.eval(() => window.harness.history.a)).at(-1) === 'connected', { what: 'connected again' });
    await h.eval(() => window.harness.probes.a.connection.close());
    await h.waitStatus('a', 'closed');
    const history = (await h.eval(() => window.harness.history.a)).filter((s, i, all) => s !== all[i - 1]);
    assert.deepEqual(history, ['connecting', 'connected', 'reconnecting', 'connected', 'closed']);
    // The status is "closed" at once; lastClose follows with the close event.
    await waitFor(() => h.eval(() => window.harness.probes.a.snapshot.lastClose?.code === 1000), { what: 'lastClose is the user close' });
    assert.equal((await h.eval(() => window.harness.probes.a.snapshot)).status, 'closed');
    assert.ok((await h.log()).some((e) => e.id === 'a' && e.type === 'close'), 'onClose was called');
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close();
  });

  test('a burst of 1,000 messages reaches onMessage, every one, in order', async () => {
    const scope = uniqueScope('burst');
    const h = await harnessPage();
    await h.render([{ id: 'a', url: wsUrl(scope) }]);
    await h.waitStatus('a', 'connected');
    await control(`/burst?n=1000&scope=${scope}`);
    await waitFor(async () => (await h.messages('a')).length >= 1000, { timeout: 15000, what: '1000 messages' });
    await sleep(100);
    const got = await h.messages('a');
    assert.equal(got.length, 1000, 'no message twice');
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => String(i)));
    assert.equal(await h.eval(() => window.harness.probes.a.lastMessage.data), '999', 'lastMessage is the last one');
    await h.render([]);
    await h.close();
  });

  test('share: two components use one socket, closed when the last unmounts', async () => {
    const scope = uniqueScope('share');
    const other = uniqueScope('noshare');
    const h = await harnessPage();
    const url = wsUrl(scope);
    await h.render([
      { id: 'a', url, options: { share: true } },
      { id: 'b', url, options: { share: true } },
    ], { strict: true });
    await h.waitStatus('a', 'connected');
    await h.waitStatus('b', 'connected');
    await sleep(200);
    assert.deepEqual(await stats(scope).then((s) => [s.attempts, s.open]), [1, 1], 'one attempt, one socket for two components');
    assert.equal(await h.eval(() => window.harness.probes.a.connection === window.harness.probes.b.connection), true);

    // Each component hears every message of the shared socket.
    await h.eval(() => window.harness.probes.a.sendMessage('from-a'));
    await waitFor(async () => (await h.messages('b')).includes('from-a'), { what: 'b hears the echo of a' });
    assert.deepEqual(await h.messages('a'), ['from-a']);

    // One unmounts: the socket stays, for the other.
    await h.render([{ id: 'b', url, options: { share: true } }], { strict: true });
    await sleep(200);
    assert.equal((await stats(scope)).open, 1, 'still open for b');
    await h.eval(() => window.harness.probes.b.sendMessage('from-b'));
    await waitFor(async () => (await h.messages('b')).includes('from-b'), { what: 'b still works' });
    assert.deepEqual(await h.messages('a'), ['from-a'], 'a, unmounted, hears nothing more');

    // The last unmounts: no socket.
    await h.render([], { strict: true });
    await waitOpen(scope, 0);
    assert.equal((await stats(scope)).attempts, 1);

    // Control: without share, two components open two sockets.
    await h.render([{ id: 'c', url: wsUrl(other) }, { id: 'd', url: wsUrl(other) }]);
    await waitOpen(other, 2);
    await h.render([]);
    await waitOpen(other, 0);
    await h.close();
  });

  test('changing the url reconnects: a new socket opens, the old one closes', async () => {
    const first = uniqueScope('url1');
    const second = uniqueScope('url2');
    const h = await harnessPage();
    await h.render([{ id: 'a', url: wsUrl(first) }]);
    await h.waitStatus('a', 'connected');
    await h.render([{ id: 'a', url: wsUrl(second) }]);
    await waitOpen(second, 1);
    await waitOpen(first, 0);
    await h.waitStatus('a', 'connected');
    assert.equal((await stats(first)).attempts, 1);
    assert.equal((await stats(second)).attempts, 1);
    await h.eval(() => window.harness.probes.a.sendMessage('to-second'));
    await waitFor(async () => (await received(second)).includes('to-second'), { what: 'message on the new socket' });
    assert.ok(!(await received(first)).includes('to-second'));
    await h.render([]);
    await waitOpen(second, 0);
    await h.close();
  });

  test('changing protocols reconnects; the same protocols in a new array do not', async () => {
    const scope = uniqueScope('protocols');
    const h = await harnessPage();
    const url = wsUrl(scope);
    await h.render([{ id: 'a', url, options: { protocols: ['chat.v1'] } }]);
    await h.waitStatus('a', 'connected');
    for (let i = 0; i < 3; i++) {
      await h.render([{ id: 'a', url, tag: `same${i}`, options: { protocols: ['chat.v1'] } }]);
      await sleep(50);
    }
    await sleep(200);
    assert.deepEqual(await stats(scope).then((s) => [s.attempts, s.open]), [1, 1], 'equal protocols: same socket');
    await h.render([{ id: 'a', url, options: { protocols: ['chat.v2'] } }]);
    await waitFor(async () => (await stats(scope)).attempts === 2, { what: 'a second attempt' });
    await h.waitStatus('a', 'connected');
    await sleep(200);
    assert.deepEqual(await stats(scope).then((s) => [s.attempts, s.open]), [2, 1], 'the old socket closed, the new one open');
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close();
  });

  test('changing callbacks and other options does not reconnect, and the latest callbacks are called', async () => {
    const scope = uniqueScope('options');
    const h = await harnessPage();
    const url = wsUrl(scope);
    await h.render([{ id: 'a', url, tag: 'v1', options: { reconnect: { maxDelayMs: 1000 } } }]);
    await h.waitStatus('a', 'connected');
    for (let i = 2; i <= 5; i++) {
      await h.render([{
        id: 'a', url, tag: `v${i}`,
        options: { reconnect: { maxDelayMs: 1000 * i }, heartbeat: { intervalMs: 20000 * i }, outbox: { maxMessages: 100 * i }, connectTimeoutMs: 5000 + i },
      }]);
      await sleep(50);
    }
    await sleep(300);
    const s = await stats(scope);
    assert.deepEqual([s.attempts, s.open], [1, 1], 'same socket, no new attempt');
    assert.equal(await h.status('a'), 'connected');
    await h.eval(() => window.harness.probes.a.sendMessage('after-change'));
    await waitFor(async () => (await h.messages('a')).includes('after-change'), { what: 'echo' });
    const echo = (await h.log()).find((e) => e.type === 'message' && e.data === 'after-change');
    assert.equal(echo.tag, 'v5', 'the latest onMessage was called');
    assert.ok(await h.eval(() => window.harness.renders.a >= 5));
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close();
  });

  test('null url: status closed and no socket; sends are reported dropped', async () => {
    const scope = uniqueScope('null');
    const h = await harnessPage();
    await h.render([{ id: 'a', url: null }]);
    await sleep(300);
    assert.equal(await h.status('a'), 'closed');
    assert.equal(await h.eval(() => window.harness.probes.a.connection), null);
    assert.equal(await h.eval(() => window.harness.probes.a.sendMessage('nowhere')), 'dropped');
    assert.deepEqual(
      (await h.log()).filter((e) => e.type === 'drop').map((e) => [e.data, e.reason]),
      [['nowhere', 'released']],
      'onDrop reports it',
    );

    // null -> url connects; url -> null closes the socket and makes no further attempt.
    await h.render([{ id: 'a', url: wsUrl(scope) }]);
    await h.waitStatus('a', 'connected');
    await h.render([{ id: 'a', url: null }]);
    await h.waitStatus('a', 'closed');
    await waitOpen(scope, 0);
    await sleep(500);
    const s = await stats(scope);
    assert.deepEqual([s.attempts, s.open], [1, 0]);
    assert.deepEqual(await h.eval(() => window.harness.history.a), ['closed', 'connecting', 'connected', 'closed']);
    await h.close();
  });

  test('an invalid url does not crash the tree: status closed, onError, snapshot.lastError; it opens nothing', async () => {
    const scope = uniqueScope('badurl');
    const h = await harnessPage();
    await h.render([
      { id: 'bad', url: 'ftp://127.0.0.1/not-a-websocket-url', sendOnMount: ['early'] },
      { id: 'ok', url: wsUrl(scope) },
    ], { strict: true });
    await h.waitStatus('ok', 'connected');
    await waitFor(() => h.eval(() => window.harness.probes.bad?.snapshot.lastError != null), { what: 'lastError' });
    assert.deepEqual(await h.eval(() => window.harness.errors), {}, 'nothing reached an error boundary');
    assert.equal(await h.status('bad'), 'closed');
    assert.equal(await h.eval(() => window.harness.probes.bad.connection), null);
    const lastError = await h.eval(() => {
      const e = window.harness.probes.bad.snapshot.lastError;
      return { name: e.name, message: e.message };
    });
    assert.equal(lastError.name, 'SyntaxError');
    assert.match(lastError.message, /ftp/, 'the message quotes the url');
    const log = (await h.log()).filter((e) => e.id === 'bad');
    const errors = log.filter((e) => e.type === 'error');
    assert.equal(errors.length, 1, 'onError is called once (StrictMode included)');
    assert.match(errors[0].data, /SyntaxError.*ftp/);
    assert.deepEqual(log.filter((e) => e.type === 'drop').map((e) => [e.data, e.reason]), [['early', 'released']],
      'a message held before is reported dropped');
    assert.equal(await h.eval(() => window.harness.probes.bad.sendMessage('later')), 'dropped');
    assert.deepEqual(await h.eval(() => window.harness.history.bad), ['connecting', 'closed']);

    // Fixing the url connects.
    await h.render([{ id: 'bad', url: wsUrl(scope) }, { id: 'ok', url: wsUrl(scope) }], { strict: true });
    await h.waitStatus('bad', 'connected');
    assert.equal(await h.eval(() => window.harness.probes.bad.snapshot.lastError ?? null), null);
    await waitOpen(scope, 2);
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close();
  });

  test('an invalid option is thrown to the nearest error boundary, and opens nothing', async () => {
    const scope = uniqueScope('invalid');
    const h = await harnessPage();
    await h.render([{ id: 'option', url: wsUrl(scope), options: { reconnect: { jitter: 2 } } }]);
    await waitFor(() => h.eval(() => Object.keys(window.harness.errors).length === 1), { what: 'the error caught' });
    const errors = await h.eval(() => window.harness.errors);
    assert.match(errors.option.message, /jitter/, 'the message names the field');
    assert.equal((await h.log()).filter((e) => e.type === 'error').length, 0, 'not reported to onError');
    await sleep(200);
    assert.equal((await stats(scope)).attempts, 0);
    await h.render([]);
    await h.close();
  });

  test('messages sent before the connection exists are held and delivered in order', async () => {
    const scope = uniqueScope('early');
    const h = await harnessPage();
    await h.render([{ id: 'a', url: wsUrl(scope), sendOnMount: ['m1', 'm2', 'm3'] }]);
    await waitFor(() => h.eval(() => window.harness.mountSends.a), { what: 'sends on mount' });
    assert.deepEqual(await h.eval(() => window.harness.mountSends.a), ['queued', 'queued', 'queued']);
    await waitFor(async () => (await received(scope)).length >= 3, { what: 'the server received them' });
    assert.deepEqual(await received(scope), ['m1', 'm2', 'm3']);
    await waitFor(async () => (await h.messages('a')).length === 3, { what: 'echoes' });
    assert.deepEqual(await h.messages('a'), ['m1', 'm2', 'm3']);
    await h.render([]);
    await h.close();
  });
});

describe('useWebSocket with delivery (PROTOCOL.md) in Chromium', () => {
  test('sendWithAck resolves once the server has the message, held or not; nothing is applied twice across a drop', async () => {
    const scope = `delivery/${uniqueScope('hook-ack')}`;
    const h = await harnessPage();
    await h.render([{ id: 'a', url: wsUrl(scope), options: { delivery: true, reconnect: { initialDelayMs: 50, maxDelayMs: 50 } } }]);
    await waitFor(() => h.eval(() => window.harness.probes.a !== undefined), { what: 'the probe' });
    // Before the Connection exists the message is held; its promise settles all the same.
    const early = h.eval(() => window.harness.probes.a.sendWithAck('early').then(() => 'acked', (e) => e.reason));
    await h.waitStatus('a', 'connected');
    assert.equal(await early, 'acked');
    await control(`/drop?scope=${encodeURIComponent(scope)}`);
    const later = await h.eval(() =>
      Promise.all(['m1', 'm2', 'm3'].map((m) => window.harness.probes.a.sendWithAck(m).then(() => 'acked', (e) => e.reason))),
    );
    assert.deepEqual(later, ['acked', 'acked', 'acked']);
    assert.deepEqual(await received(scope), ['early', 'm1', 'm2', 'm3'], 'applied once each, in order');
    assert.equal(await h.eval(() => window.harness.probes.a.snapshot.unackedMessages), 0);
    assert.equal(await h.eval(() => window.harness.probes.a.snapshot.resumed), true);
    const refused = await h.eval(() => window.harness.probes.a.sendWithAck('nack this').then(() => 'acked', (e) => [e.name, e.reason]));
    assert.deepEqual(refused, ['DropError', 'rejected']);
    await h.render([]);
    await h.close();
  });

  test('sendWithAck without delivery rejects with a TypeError that says so', async () => {
    const h = await harnessPage();
    await h.render([{ id: 'a', url: wsUrl(uniqueScope('hook-noack')) }]);
    await waitFor(() => h.eval(() => window.harness.probes.a !== undefined), { what: 'the probe' });
    const error = await h.eval(() => window.harness.probes.a.sendWithAck('x').then(() => null, (e) => [e.name, e.message]));
    assert.equal(error[0], 'TypeError');
    assert.match(error[1], /delivery/);
    await h.render([]);
    await h.close();
  });
});
