// tabs: "shared" is loaded on first use (js/src/connection.ts, LazyTabs): an app that never asks
// for it never fetches tabs.js, and what a tab does before the module has loaded (send, subscribe,
// read the snapshot, a bad option) behaves as it does after. Headless Chromium, the built
// package, the Node delivery server (resilient-ws/server on a real `ws` server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { openPage, servedPackage, waitFor } from '../test-support/helpers.mjs';

const served = servedPackage();

/** The package's files this page fetched, by name. */
const fetched = (page) => page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));

test('without tabs "shared", tabs.js is never fetched', async () => {
  const srv = await startDeliveryServer('tabs-lazy');
  const context = await served.browser.newContext();
  try {
    const { page } = await openPage(context, `${served.site.url}/package.json`);
    await page.evaluate(async (url) => {
      const { init, Connection } = await import('/index.js');
      await init();
      const c = new Connection(url, { delivery: true, persist: { name: `plain-${Date.now()}` } });
      await new Promise((resolve) => c.subscribe(() => c.status === 'connected' && resolve()));
      c.sendMessage('plain');
      await c.persisted();
      c.free();
    }, srv.url);
    await waitFor(() => srv.applied.includes('plain'), { what: 'sent' });
    const files = await fetched(page);
    assert.ok(files.includes('/connection.js'), JSON.stringify(files));
    assert.ok(!files.includes('/tabs.js'), `tabs.js fetched: ${JSON.stringify(files)}`);
  } finally {
    await context.close();
    await srv.close();
  }
});

test('tabs "shared" before tabs.js has loaded: sends wait in order, listeners and snapshot work, bad options throw at once', async () => {
  const srv = await startDeliveryServer('tabs-lazy');
  const context = await served.browser.newContext();
  try {
    const { page } = await openPage(context, `${served.site.url}/package.json`);
    const r = await page.evaluate(async (url) => {
      const { init, Connection } = await import('/index.js');
      await init();
      const options = { delivery: true, persist: { name: `lazy-${Date.now()}` }, tabs: 'shared' };
      const errors = [];
      for (const bad of [{ ...options, persist: undefined }, { ...options, reconect: false }]) {
        try {
          new Connection(url, bad);
          errors.push('no error');
        } catch (e) {
          errors.push(`${e.name}: ${e.message}`);
        }
      }
      const c = new Connection(url, options);
      const loadedAtOnce = performance.getEntriesByType('resource').some((e) => e.name.endsWith('/tabs.js'));
      const before = { status: c.status, leader: c.leader, same: c.getSnapshot() === c.getSnapshot() };
      let calls = 0;
      const off = c.subscribe(() => calls++);
      let removedCalls = 0;
      c.subscribe(() => removedCalls++)();
      const bytes = new Uint8Array([1, 2, 3]);
      const results = [c.sendMessage('m0'), c.sendMessage(bytes), c.sendJsonMessage({ n: 2 })];
      bytes[0] = 9; // changed after the send: the queued copy is what goes
      let invalid = 'no error';
      try {
        c.sendMessage(42);
      } catch (e) {
        invalid = `${e.name}: ${e.message}`;
      }
      const durable = await c.persisted();
      await new Promise((resolve) => {
        const check = () => (c.status === 'connected' ? resolve() : setTimeout(check, 10));
        check();
      });
      off();
      const result = { errors, loadedAtOnce, before, results, invalid, durable, calls, removedCalls, leader: c.leader };
      c.free();
      return result;
    }, srv.url);
    assert.match(r.errors[0], /^TypeError: invalid option tabs: "shared" needs persist/);
    assert.match(r.errors[1], /^TypeError: unknown option reconect: did you mean reconnect\?/);
    assert.equal(r.loadedAtOnce, false, 'tabs.js is not there yet when the constructor returns');
    assert.deepEqual(r.before, { status: 'connecting', leader: false, same: true });
    assert.deepEqual(r.results, ['queued', 'queued', 'queued']);
    assert.match(r.invalid, /^TypeError: sendMessage: data must be a string, an ArrayBuffer or an ArrayBufferView \(got 42\)/);
    assert.equal(r.durable, true, 'persisted() waits for the module, then for the store');
    assert.ok(r.calls >= 1, 'the listener added before the load is called');
    assert.equal(r.removedCalls, 0, 'a listener removed before the load is never called');
    assert.equal(r.leader, true, 'the only tab leads');
    await waitFor(() => srv.applied.length >= 3, { what: 'the three sends' });
    assert.deepEqual(srv.applied.slice(0, 3), ['m0', 'bytes:1,2,3', '{"n":2}']);
  } finally {
    await context.close();
    await srv.close();
  }
});
