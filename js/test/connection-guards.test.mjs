// The package's Connection (pkg/connection.js) in headless Chromium: `new Connection` before
// init() has resolved, and any use after free(), throw errors that say so (the glue alone
// says "Cannot read properties of undefined" and "null pointer passed to rust").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, servedPackage } from '../test-support/helpers.mjs';

const served = servedPackage();

/** Runs `fn` in a fresh page (a fresh module instance) and returns its result. */
async function inFreshPage(fn) {
  const { page, errors } = await openPage(served.browser, `${served.site.url}/package.json`);
  try {
    const result = await page.evaluate(fn);
    assert.deepEqual(errors.filter((e) => !e.includes('Failed to load resource')), []); // (favicon.ico)
    return result;
  } finally {
    await page.close();
  }
}

test('new Connection before init() resolved says to call await init() first', async () => {
  const r = await inFreshPage(async () => {
    const { init, Connection } = await import('/index.js');
    const attempt = () => {
      try {
        new Connection('ws://127.0.0.1:9/never', { reconnect: false }).free();
        return 'ok';
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    };
    const before = attempt();
    const loading = init();
    const during = attempt(); // init() called but not resolved yet
    await loading;
    return { before, during, after: attempt() };
  });
  assert.match(r.before, /^Error: .*call `await init\(\)` first/);
  assert.equal(r.during, r.before);
  assert.equal(r.after, 'ok');
});

test('any use after free() says the Connection was freed; a second free() does nothing', async () => {
  const r = await inFreshPage(async () => {
    const { init, Connection } = await import('/index.js');
    await init();
    const c = new Connection('ws://127.0.0.1:9/never', { reconnect: false });
    const unsubscribe = c.subscribe(() => {});
    const isConnection = c instanceof Connection;
    c.free();
    const uses = {
      status: () => c.status,
      lastMessage: () => c.lastMessage,
      lastJsonMessage: () => c.lastJsonMessage,
      getSnapshot: () => c.getSnapshot(),
      sendMessage: () => c.sendMessage('x'),
      sendJsonMessage: () => c.sendJsonMessage({ a: 1 }),
      subscribe: () => c.subscribe(() => {}),
      close: () => c.close(),
      reconnect: () => c.reconnect(),
    };
    const outcome = (f) => {
      try {
        return `returned ${String(f())}`;
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    };
    const results = Object.fromEntries(Object.entries(uses).map(([k, f]) => [k, outcome(f)]));
    return {
      isConnection,
      results,
      secondFree: outcome(() => c.free()),
      dispose: Symbol.dispose ? outcome(() => c[Symbol.dispose]()) : 'returned undefined',
      unsubscribe: outcome(unsubscribe),
    };
  });
  assert.equal(r.isConnection, true);
  for (const [use, result] of Object.entries(r.results)) {
    assert.equal(result, `Error: this Connection was freed: ${use} cannot be used after free()`, use);
  }
  assert.equal(r.secondFree, 'returned undefined');
  assert.equal(r.dispose, 'returned undefined');
  assert.equal(r.unsubscribe, 'returned undefined', 'unsubscribing after free() is harmless');
});
