// persist's store (persist.js) is loaded on first use (js/src/driver.js LazyPersister, the
// import() registered by js/src/connection.ts): an app without `persist` never fetches it; one
// with it fetches it and persists; a Connection freed before the module has loaded takes no lock;
// and a module that cannot be loaded turns persist off with one warning while the connection
// runs on. Headless Chromium, the built package, the Node delivery server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { openPage, servedPackage, waitFor } from '../test-support/helpers.mjs';

const served = servedPackage();

/** The package's files this page fetched, by path. */
const fetched = (page) => page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));

/** Opens a page on the package in a fresh context: { context, page, errors, warnings }. */
async function freshPage() {
  const context = await served.browser.newContext();
  // The page's own favicon request would log a 404: nothing to do with the package.
  await context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  const { page, errors } = await openPage(context, `${served.site.url}/package.json`);
  const warnings = [];
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  return { context, page, errors, warnings };
}

test('without persist, persist.js is never fetched; with it, it is fetched and the store works', async () => {
  const srv = await startDeliveryServer('persist-lazy');
  const { context, page, errors } = await freshPage();
  try {
    const plain = await page.evaluate(async (url) => {
      const { init, Connection } = await import('/index.js');
      await init();
      const c = new Connection(url, { delivery: true });
      await new Promise((resolve) => c.subscribe(() => c.status === 'connected' && resolve()));
      await c.sendWithAck('plain');
      const persisted = await c.persisted();
      c.free();
      return { persisted };
    }, srv.url);
    assert.equal(plain.persisted, false, 'nothing is persisted without persist');
    let files = await fetched(page);
    assert.ok(files.includes('/connection.js'), JSON.stringify(files));
    assert.ok(!files.some((f) => f.endsWith('/persist.js')), `persist.js fetched without persist: ${JSON.stringify(files)}`);

    const stored = await page.evaluate(async (url) => {
      const { Connection } = await import('/index.js');
      const c = new Connection(url, { delivery: true, persist: { name: `lazy-${Date.now()}` } });
      const loadedAtOnce = performance.getEntriesByType('resource').some((e) => e.name.endsWith('/persist.js'));
      const acked = c.sendWithAck('kept'); // before the module (and the store) are there
      const persisted = await c.persisted(); // waits for the module, then for the store
      await acked;
      c.free();
      return { loadedAtOnce, persisted };
    }, srv.url);
    assert.deepEqual(stored, { loadedAtOnce: false, persisted: true });
    files = await fetched(page);
    assert.deepEqual(files.filter((f) => f.endsWith('/persist.js')), ['/persist.js'], JSON.stringify(files));
    await waitFor(() => srv.applied.includes('kept'), { what: 'the message sent before the module loaded' });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await srv.close();
  }
});

test('a Connection freed before persist.js has loaded takes no lock: the next one with that name works', async () => {
  const srv = await startDeliveryServer('persist-lazy');
  const { context, page, errors, warnings } = await freshPage();
  try {
    const r = await page.evaluate(async (url) => {
      const { init, Connection } = await import('/index.js');
      await init();
      const name = `freed-${Date.now()}`;
      new Connection(url, { delivery: true, persist: { name } }).free();
      const c = new Connection(url, { delivery: true, persist: { name } });
      c.sendMessage('second');
      const persisted = await c.persisted();
      await new Promise((resolve) => {
        const check = () => (c.status === 'connected' ? resolve() : setTimeout(check, 10));
        check();
      });
      c.free();
      return { persisted };
    }, srv.url);
    assert.equal(r.persisted, true, 'the second Connection got the lock and its store');
    await waitFor(() => srv.applied.includes('second'), { what: 'sent' });
    assert.deepEqual(warnings, [], 'no "already uses persist name" warning');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await srv.close();
  }
});

test('persist.js that cannot be loaded: persist is off with one warning, and the connection runs on', async () => {
  const srv = await startDeliveryServer('persist-lazy');
  const { context, page, errors, warnings } = await freshPage();
  await page.route('**/persist.js', (route) => route.abort());
  try {
    const r = await page.evaluate(async (url) => {
      const { init, Connection } = await import('/index.js');
      await init();
      const options = { delivery: true, persist: { name: `broken-${Date.now()}` } };
      const a = new Connection(url, options);
      a.sendMessage('a1');
      const persisted = await a.persisted();
      await a.sendWithAck('a2');
      a.free();
      const b = new Connection(url, { ...options, persist: { name: `${options.persist.name}-b` } });
      await b.sendWithAck('b1');
      b.free();
      return { persisted };
    }, srv.url);
    assert.equal(r.persisted, false, 'nothing is persisted');
    await waitFor(() => ['a1', 'a2', 'b1'].every((m) => srv.applied.includes(m)), { what: 'every message sent' });
    assert.equal(warnings.length, 1, `one warning: ${JSON.stringify(warnings)}`);
    assert.match(warnings[0], /^resilient-ws: persist is off \(cannot load its module: .*\); messages are kept in memory only$/);
    // The browser logs each refused fetch; the second Connection tried the module again.
    assert.deepEqual(errors, ['console.error: Failed to load resource: net::ERR_FAILED', 'console.error: Failed to load resource: net::ERR_FAILED']);
  } finally {
    await context.close();
    await srv.close();
  }
});
