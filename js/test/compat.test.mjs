// resilient-ws/compat in real headless Chromium, against the test server: react-use-websocket's
// own README examples (fixtures/compat-app), bundled by Vite from the built package in pkg/.
//
// The same tests pass against react-use-websocket itself, which shows that they check its real
// behaviour: RWS_COMPAT_REFERENCE=/path/to/node_modules/react-use-websocket/dist/index.js
// (with react and react-dom resolvable from there) builds the examples with it instead.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { control, launchBrowser, openPage, received, sleep, stats, uniqueScope, waitFor, wsUrl } from '../test-support/helpers.mjs';
import { serveFixtureApp, waitOpen } from '../test-support/fixtures.mjs';

const R = { UNINSTANTIATED: -1, CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };
/** Where resilient-ws/compat deliberately differs (README, "What differs"): not run against the reference. */
const OURS_ONLY = { skip: process.env.RWS_COMPAT_REFERENCE ? 'resilient-ws behaviour, not react-use-websocket\'s' : false };

let browser;
let site;

before(async () => {
  site = await serveFixtureApp('compat-app', { 'resilient-ws/compat': process.env.RWS_COMPAT_REFERENCE || 'compat.js' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** A fresh page; `urls` become window.WS before anything renders. */
async function examplePage(urls) {
  const p = await openPage(browser, `${site.url}/`);
  const sockets = [];
  p.page.on('websocket', (ws) => sockets.push(ws.url()));
  await p.page.waitForFunction(() => window.harness?.ready === true);
  await p.page.evaluate((u) => {
    window.WS = u;
  }, urls);
  const h = {
    ...p,
    sockets,
    render: (names, props) => p.page.evaluate(([n, pr]) => window.harness.render(n, pr), [names, props]),
    eval: (fn, arg) => p.page.evaluate(fn, arg),
    readyState: (name) => p.page.evaluate((n) => window.harness.seen[n]?.readyState ?? null, name),
    waitReady: (name, state, timeout = 5000) =>
      waitFor(async () => (await h.readyState(name)) === state, { timeout, what: `${name} readyState ${state}` }),
    lastData: (name) => p.page.evaluate((n) => window.harness.seen[n]?.lastMessage?.data ?? null, name),
    log: (name) => p.page.evaluate((n) => window.harness.log.filter((e) => e.name === n).map((e) => [e.type, e.value]), name),
    history: (name) => p.page.evaluate((n) => window.harness.history[n], name),
    close: async (expectedErrors = []) => {
      await p.page.close();
      assert.deepEqual(p.errors.filter((e) => !expectedErrors.some((x) => e.includes(x))), [], 'no unexpected errors on the page');
    },
  };
  return h;
}

describe('resilient-ws/compat: react-use-websocket README examples in Chromium', () => {
  test('Example Implementation: status text, send Hello, change the url', async () => {
    const first = uniqueScope('demo1');
    const second = uniqueScope('demo2');
    const h = await examplePage({ first: wsUrl(first), second: wsUrl(second) });
    await h.render('WebSocketDemo');
    await h.page.waitForSelector('#status:has-text("Open")');
    assert.deepEqual(await h.history('WebSocketDemo'), [R.CONNECTING, R.OPEN]);
    await h.page.click('#send');
    await h.page.waitForSelector('#last:has-text("Last message: Hello")');
    assert.deepEqual(await received(first), ['Hello']);

    await h.page.click('#change');
    await waitOpen(second, 1);
    await waitOpen(first, 0);
    await h.page.waitForSelector('#status:has-text("Open")');
    assert.equal(await h.page.locator('#last').count(), 0, 'lastMessage is reset when the url changes');
    await h.page.click('#send');
    await h.page.waitForSelector('#last:has-text("Last message: Hello")');
    assert.deepEqual(await received(second), ['Hello']);
    assert.deepEqual(await h.page.locator('#history span').allTextContents(), ['Hello', 'Hello']);
    assert.deepEqual([(await stats(first)).attempts, (await stats(second)).attempts], [1, 1]);
    await h.render([]);
    await waitOpen(second, 0);
    await h.close();
  });

  test('Getting Started: every returned field; shouldReconnect gets the CloseEvent; getWebSocket().close() ends it', async () => {
    const scope = uniqueScope('start');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('GettingStarted');
    await h.waitReady('GettingStarted', R.OPEN);
    assert.deepEqual(await h.log('GettingStarted'), [['open', undefined]]);

    await h.eval(() => window.harness.seen.GettingStarted.sendJsonMessage({ hello: 'world' }));
    await waitFor(() => h.eval(() => window.harness.seen.GettingStarted.lastJsonMessage?.hello === 'world'), { what: 'lastJsonMessage' });
    const event = await h.eval(() => {
      const m = window.harness.seen.GettingStarted.lastMessage;
      return { isEvent: m instanceof MessageEvent, type: m.type, data: m.data };
    });
    assert.deepEqual(event, { isEvent: true, type: 'message', data: '{"hello":"world"}' }, 'lastMessage is a MessageEvent');
    await h.eval(() => window.harness.seen.GettingStarted.sendMessage('not json'));
    await waitFor(async () => (await h.lastData('GettingStarted')) === 'not json', { what: 'the text echo' });
    assert.equal(await h.eval(() => JSON.stringify(window.harness.seen.GettingStarted.lastJsonMessage)), '{}',
      'lastJsonMessage is an empty object when the message is not JSON');

    const ws = await h.eval(() => {
      const s = window.harness.seen.GettingStarted.getWebSocket();
      return { readyState: s.readyState, bufferedAmount: s.bufferedAmount, send: typeof s.send, close: typeof s.close };
    });
    assert.deepEqual(ws, { readyState: 1, bufferedAmount: 0, send: 'function', close: 'function' });
    await h.eval(() => window.harness.seen.GettingStarted.getWebSocket().send('direct'));
    await waitFor(async () => (await received(scope)).includes('direct'), { what: 'getWebSocket().send' });

    // The server closes (4000): shouldReconnect is asked, says true, and it reconnects
    // (react-use-websocket's default interval, 5 s, is the upper bound of the jittered wait).
    await control(`/close?code=4000&scope=${scope}`);
    await waitFor(async () => (await stats(scope)).opened === 2, { timeout: 8000, what: 'reconnected' });
    await h.waitReady('GettingStarted', R.OPEN);
    assert.deepEqual((await h.log('GettingStarted')).filter(([t]) => t === 'shouldReconnect'), [['shouldReconnect', 4000]]);
    assert.ok((await h.history('GettingStarted')).includes(R.CLOSED), 'CLOSED while waiting to reconnect');

    await h.eval(() => window.harness.seen.GettingStarted.getWebSocket().close());
    await h.waitReady('GettingStarted', R.CLOSED);
    await waitOpen(scope, 0);
    await sleep(500);
    assert.equal((await stats(scope)).attempts, 2, 'no reconnect after the user closed');
    await h.render([]);
    await h.close();
  });

  test('Async Urls: the promise resolves after 2 s, then it connects', async () => {
    const scope = uniqueScope('async');
    const h = await examplePage({ first: wsUrl(scope) });
    const t0 = Date.now();
    await h.render('AsyncUrl');
    await h.waitReady('AsyncUrl', R.CONNECTING);
    await h.waitReady('AsyncUrl', R.OPEN, 6000);
    assert.ok(Date.now() - t0 >= 1900, 'not before the url');
    assert.deepEqual(await h.history('AsyncUrl'), [R.CONNECTING, R.OPEN]);
    await h.eval(() => window.harness.seen.AsyncUrl.sendMessage('after the wait'));
    await waitFor(async () => (await h.lastData('AsyncUrl')) === 'after the wait', { what: 'echo' });
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close();
  });

  test('share: one socket for two components; getWebSocket() refuses send and close', async () => {
    const scope = uniqueScope('shared');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render(['SharedGetWebSocket', 'SharedGetWebSocket']);
    await h.waitReady('SharedGetWebSocket', R.OPEN);
    await sleep(200);
    assert.deepEqual(await stats(scope).then((s) => [s.attempts, s.open]), [1, 1]);
    await h.eval(() => {
      const ws = window.harness.seen.SharedGetWebSocket.getWebSocket();
      ws.send('Hello from WebSocket');
      ws.close();
    });
    await sleep(300);
    assert.deepEqual(await received(scope), [], 'no message is sent');
    assert.equal(await h.readyState('SharedGetWebSocket'), R.OPEN, 'not closed');
    assert.equal(h.errors.filter((e) => e.includes('Calling methods directly on the websocket is not supported')).length, 2, 'an error is logged for each');
    await h.eval(() => window.harness.seen.SharedGetWebSocket.sendMessage('through the hook'));
    await waitFor(async () => (await received(scope)).includes('through the hook'), { what: 'sendMessage works' });
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close(['Calling methods directly on the websocket is not supported']);
  });

  test('Reconnecting: after a drop it reconnects within reconnectInterval (3 s); not after unmount', async () => {
    const scope = uniqueScope('reconnect');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('Reconnecting');
    await h.waitReady('Reconnecting', R.OPEN);
    const t0 = Date.now();
    await control(`/drop?scope=${scope}`);
    await waitFor(async () => (await stats(scope)).opened === 2, { timeout: 5000, what: 'reconnected' });
    assert.ok(Date.now() - t0 < 3500, 'within the interval');
    await h.waitReady('Reconnecting', R.OPEN);
    // (react-use-websocket itself also passes through CLOSING as it replaces the socket: undocumented, not reproduced.)
    const history = (await h.history('Reconnecting')).filter((state) => state !== R.CLOSING);
    assert.deepEqual(history, [R.CONNECTING, R.OPEN, R.CLOSED, R.CONNECTING, R.OPEN]);
    await h.render([]);
    await waitOpen(scope, 0);
    await sleep(500);
    assert.equal((await stats(scope)).attempts, 2);
    await h.close();
  });

  test('Reconnecting with a function interval: waits interval(0) = 1 s, then 2 s; the count restarts once open', async () => {
    const scope = uniqueScope('expo');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('ExponentialBackoff');
    await h.waitReady('ExponentialBackoff', R.OPEN);
    await control(`/refuse?ms=2000&scope=${scope}`);
    const t0 = Date.now();
    await control(`/drop?scope=${scope}`);
    await waitFor(async () => (await stats(scope)).opened === 2, { timeout: 6000, what: 'reconnected' });
    const took = Date.now() - t0;
    assert.ok(took >= 2900 && took < 4500, `1 s, a refused attempt, 2 s, then open (took ${took} ms)`);
    assert.equal((await stats(scope)).attempts, 3);
    await h.waitReady('ExponentialBackoff', R.OPEN);
    assert.deepEqual((await h.log('ExponentialBackoff')).map(([, n]) => n), [0, 1]);
    await control(`/drop?scope=${scope}`);
    await waitFor(async () => (await stats(scope)).opened === 3, { timeout: 3000, what: 'reconnected again' });
    assert.deepEqual((await h.log('ExponentialBackoff')).map(([, n]) => n), [0, 1, 0], 'counting from 0 again');
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close(['503']);
  });

  test('heartbeat: pings go out, the returnMessage never becomes lastMessage, silence closes', async () => {
    const scope = uniqueScope('heartbeat');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('Heartbeat', { interval: 300, timeout: 1000 });
    await h.waitReady('Heartbeat', R.OPEN);
    await waitFor(async () => (await received(scope)).filter((m) => m === 'ping').length >= 2, { what: 'two pings' });
    assert.equal(await h.lastData('Heartbeat'), null, 'pong is not lastMessage');
    await h.eval(() => window.harness.seen.Heartbeat.sendMessage('real'));
    await waitFor(async () => (await h.lastData('Heartbeat')) === 'real', { what: 'echo' });
    await sleep(700);
    assert.equal(await h.lastData('Heartbeat'), 'real', 'still: pongs do not replace it');
    await control(`/mute?scope=${scope}`);
    await h.waitReady('Heartbeat', R.CLOSED, 3000);
    assert.ok((await h.log('Heartbeat')).some(([t]) => t === 'close'), 'onClose');
    await sleep(300);
    assert.equal((await stats(scope)).attempts, 1, 'no reconnect: neither shouldReconnect nor retryOnError');
    await control(`/unmute?scope=${scope}`);
    await h.render([]);
    await h.close();
  });

  test('filter: a message it refuses does not become lastMessage', async () => {
    const scope = uniqueScope('filter');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('Filter');
    await h.waitReady('Filter', R.OPEN);
    await control(`/send?data=first&scope=${scope}`);
    await waitFor(async () => (await h.lastData('Filter')) === 'first', { what: 'first' });
    await control(`/send?data=is-ping&scope=${scope}`);
    await waitFor(async () => (await h.log('Filter')).length === 1, { what: 'filtered' });
    await sleep(100);
    assert.equal(await h.lastData('Filter'), 'first');
    await control(`/send?data=second&scope=${scope}`);
    await waitFor(async () => (await h.lastData('Filter')) === 'second', { what: 'second' });
    await h.render([]);
    await h.close();
  });

  test('queryParams: appended to the url', async () => {
    const scope = uniqueScope('query');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('QueryParams');
    await h.waitReady('QueryParams', R.OPEN);
    assert.deepEqual(h.sockets, [`${wsUrl(scope)}?user_id=1&room_id=5`]);
    await h.render([]);
    await h.close();
  });

  test('null url and connect false: UNINSTANTIATED; keep=false drops, kept messages go out on open', async () => {
    const scope = uniqueScope('controlled');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render('Controlled', { url: null });
    await h.waitReady('Controlled', R.UNINSTANTIATED);
    await h.render('Controlled', { url: wsUrl(scope), connect: false });
    await sleep(200);
    assert.equal(await h.readyState('Controlled'), R.UNINSTANTIATED);
    assert.equal((await stats(scope)).attempts, 0);
    await h.eval(() => {
      const { sendMessage, sendJsonMessage } = window.harness.seen.Controlled;
      sendMessage('kept');
      sendMessage('not kept', false);
      sendJsonMessage({ kept: true });
      sendJsonMessage({ kept: false }, false);
    });
    await h.render('Controlled', { url: wsUrl(scope), connect: true });
    await h.waitReady('Controlled', R.OPEN);
    await waitFor(async () => (await received(scope)).length >= 2, { what: 'the kept messages' });
    await sleep(200);
    assert.deepEqual(await received(scope), ['kept', '{"kept":true}']);
    await h.eval(() => window.harness.seen.Controlled.sendMessage('open, not kept', false));
    await waitFor(async () => (await received(scope)).length === 3, { what: 'keep=false while open is sent' });
    await h.render('Controlled', { url: wsUrl(scope), connect: false });
    await waitOpen(scope, 0);
    assert.equal(await h.readyState('Controlled'), R.CLOSED, 'CLOSED once it was connected');
    await h.render([]);
    await h.close();
  });

  test('share with a function reconnectInterval: one socket, and one retry for all after a drop', async () => {
    const scope = uniqueScope('sharedretry');
    const h = await examplePage({ first: wsUrl(scope) });
    await h.render(['Controlled', 'Controlled'], { url: wsUrl(scope), options: { share: true }, retryEveryMs: 300 });
    await h.waitReady('Controlled', R.OPEN);
    await control(`/drop?scope=${scope}`);
    await waitFor(async () => (await stats(scope)).opened === 2, { what: 'reconnected' });
    await sleep(600);
    assert.deepEqual(await stats(scope).then((s) => [s.attempts, s.open]), [2, 1]);
    await h.waitReady('Controlled', R.OPEN);
    await h.render([]);
    await waitOpen(scope, 0);
    await h.close();
  });

  test('retryOnError: retries after errors, reconnectAttempts times, then onReconnectStop', async () => {
    const scope = uniqueScope('retry');
    const h = await examplePage({ first: wsUrl(scope) });
    await control(`/refuse?ms=10000&scope=${scope}`);
    await h.render('Controlled', { url: wsUrl(scope), options: { retryOnError: true, reconnectAttempts: 2, reconnectInterval: 100 } });
    await waitFor(async () => (await h.log('Controlled')).some(([t]) => t === 'reconnectStop'), { what: 'onReconnectStop' });
    const log = await h.log('Controlled');
    assert.deepEqual(log.filter(([t]) => t === 'reconnectStop'), [['reconnectStop', 2]]);
    assert.equal(log.filter(([t]) => t === 'error').length, 3, 'an error for the attempt and each retry');
    assert.equal((await stats(scope)).attempts, 3);
    assert.equal(await h.readyState('Controlled'), R.CLOSED);
    // Without retryOnError (and no shouldReconnect) it does not reconnect at all.
    await h.render([]);
    const other = uniqueScope('noretry');
    await control(`/refuse?ms=10000&scope=${other}`);
    await h.render('Controlled', { url: wsUrl(other) });
    await waitFor(async () => (await stats(other)).attempts === 1, { what: 'one attempt' });
    await sleep(500);
    assert.equal((await stats(other)).attempts, 1);
    assert.equal(await h.readyState('Controlled'), R.CLOSED);
    await control(`/refuse?ms=0&scope=${scope}`);
    await control(`/refuse?ms=0&scope=${other}`);
    await h.render([]);
    await h.close(['503']);
  });

  test('differs: an invalid url does not throw: CLOSED, onError once, nothing opened', OURS_ONLY, async () => {
    const h = await examplePage({});
    await h.render('Controlled', { url: 'ftp://127.0.0.1/not-a-websocket' });
    await waitFor(async () => (await h.log('Controlled')).length > 0, { what: 'onError' });
    await sleep(200);
    const log = await h.log('Controlled');
    assert.equal(log.length, 1);
    assert.equal(log[0][0], 'error');
    assert.match(log[0][1], /SyntaxError.*ftp/);
    assert.equal(await h.readyState('Controlled'), R.CLOSED);
    assert.equal(await h.eval(() => window.harness.seen.Controlled.getWebSocket()), null);
    assert.deepEqual(h.sockets, []);
    await h.render([]);
    await h.close();
  });

  test('differs: messages held before the connection are bounded (1000 by default), not an unbounded array', OURS_ONLY, async () => {
    const h = await examplePage({});
    await h.render('Controlled', { url: null });
    await h.waitReady('Controlled', R.UNINSTANTIATED);
    const outcome = await h.eval(() => {
      const { sendMessage } = window.harness.seen.Controlled;
      for (let i = 0; i < 1000; i++) sendMessage(`m${i}`);
      try {
        sendMessage('one too many');
        return 'no error';
      } catch (e) {
        return e.name;
      }
    });
    assert.equal(outcome, 'OutboxFullError');
    await h.render([]);
    await h.close();
  });
});
