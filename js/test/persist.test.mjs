// `persist: { name, maxAgeMs }` in headless Chromium: the outbox and the delivery session kept in
// IndexedDB, against the Node delivery server (resilient-ws/server on a real `ws` server).
// Every case counts at the server: every message applied exactly once, in order.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { openPage, servedPackage, sleep, waitFor } from '../test-support/helpers.mjs';

const startServer = (applyMs = 0) => startDeliveryServer('persist', applyMs);

const served = servedPackage();

/**
 * In the page: a Connection with persist, kept as window.conn; drops and warnings recorded.
 * @param {import('playwright-core').Page} page
 */
function connect(page, url, persist, extra = {}) {
  return page.evaluate(
    async ({ url, persist, extra }) => {
      const { init, Connection } = await import('/index.js');
      await init();
      window.drops = [];
      window.warnings = [];
      const warn = console.warn;
      console.warn = (...a) => {
        window.warnings.push(a.join(' '));
        warn(...a);
      };
      if (extra.breakIndexedDB === 'open') {
        indexedDB.open = () => {
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        };
      }
      if (extra.breakIndexedDB === 'write') {
        const transaction = IDBDatabase.prototype.transaction;
        IDBDatabase.prototype.transaction = function (stores, mode) {
          if (mode === 'readwrite') throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          return transaction.call(this, stores, mode);
        };
      }
      window.conn = new Connection(url, {
        delivery: true,
        persist,
        reconnect: { initialDelayMs: 30, maxDelayMs: 100 },
        onDrop: (data, reason) => window.drops.push([data, reason]),
      });
    },
    { url, persist, extra },
  );
}

const texts = (from, to) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

/** Sends the texts in the page, then waits for persisted(); returns its result. */
const sendAll = (page, list) =>
  page.evaluate(async (list) => {
    for (const t of list) window.conn.sendMessage(t);
    return window.conn.persisted();
  }, list);

const unacked = (page) => page.evaluate(() => window.conn.getSnapshot().unackedMessages);

describe('persist in Chromium', () => {
  test('a reload in the middle of a flush: the new page resumes the session, every message applied once, in order', async () => {
    const srv = await startServer(4);
    const { page, errors } = await openPage(served.browser, `${served.site.url}/package.json`);
    try {
      const persist = { name: `reload-${Date.now()}` };
      await connect(page, srv.url, persist);
      const all = texts(0, 300);
      assert.equal(await sendAll(page, all), true, 'persisted() resolves true once stored');
      await waitFor(() => srv.applied.length >= 40, { what: 'the flush to be under way' });
      await page.reload();
      const atReload = srv.applied.length;
      assert.ok(atReload < all.length, `reloaded mid-flush (${atReload} of ${all.length} applied)`);
      await connect(page, srv.url, persist);
      // More after the reload, in the same session.
      assert.equal(await sendAll(page, texts(300, 310)), true);
      await waitFor(async () => srv.applied.length >= 310 && (await unacked(page)) === 0, {
        timeout: 15000,
        what: 'everything applied and acknowledged',
      });
      await sleep(100);
      assert.deepEqual(srv.applied, texts(0, 310), 'every message exactly once, in order');
      assert.equal(srv.sids.size, 1, 'one session across the reload');
      assert.deepEqual(await page.evaluate(() => window.drops), []);
      assert.deepEqual(errors.filter((e) => !e.includes('Failed to load resource')), []);
    } finally {
      await page.close();
      await srv.close();
    }
  });

  test('binary messages survive a reload as bytes', async () => {
    const srv = await startServer();
    const { page } = await openPage(served.browser, `${served.site.url}/package.json`);
    try {
      const persist = { name: `binary-${Date.now()}` };
      // No server yet: everything waits in the store.
      await connect(page, 'ws://127.0.0.1:9/nothing', persist);
      const ok = await page.evaluate(() => {
        window.conn.sendMessage(new Uint8Array([1, 2, 3]));
        window.conn.sendMessage('text');
        window.conn.sendMessage(new Uint8Array([250, 0]).buffer);
        return window.conn.persisted();
      });
      assert.equal(ok, true);
      await page.reload();
      await connect(page, srv.url, persist);
      await waitFor(() => srv.applied.length >= 3, { what: 'the stored messages' });
      assert.deepEqual(srv.applied, ['bytes:1,2,3', 'text', 'bytes:250,0']);
    } finally {
      await page.close();
      await srv.close();
    }
  });

  test('entries older than maxAgeMs are reported onDrop(data, "expired") and not sent', async () => {
    const srv = await startServer();
    const { page } = await openPage(served.browser, `${served.site.url}/package.json`);
    try {
      const name = `expire-${Date.now()}`;
      await connect(page, 'ws://127.0.0.1:9/nothing', { name });
      assert.equal(await sendAll(page, ['old1', 'old2']), true);
      await sleep(50);
      await page.reload();
      await connect(page, srv.url, { name, maxAgeMs: 20 });
      assert.equal(await sendAll(page, ['new']), true);
      await waitFor(() => srv.applied.length >= 1, { what: 'the new message' });
      await sleep(100);
      assert.deepEqual(srv.applied, ['new']);
      assert.deepEqual(await page.evaluate(() => window.drops), [['old1', 'expired'], ['old2', 'expired']]);
    } finally {
      await page.close();
      await srv.close();
    }
  });

  for (const where of ['open', 'write']) {
    test(`IndexedDB refusing (${where}: QuotaExceededError): one warning, the connection works without persist`, async () => {
      const srv = await startServer();
      const { page, errors } = await openPage(served.browser, `${served.site.url}/package.json`);
      try {
        await connect(page, srv.url, { name: `refuse-${where}-${Date.now()}` }, { breakIndexedDB: where });
        assert.equal(await sendAll(page, texts(0, 20)), false, 'persisted() says nothing is persisted');
        await sendAll(page, texts(20, 40));
        await waitFor(async () => srv.applied.length >= 40 && (await unacked(page)) === 0, { what: 'all applied' });
        assert.deepEqual(srv.applied, texts(0, 40));
        const warnings = await page.evaluate(() => window.warnings);
        assert.equal(warnings.length, 1, JSON.stringify(warnings));
        assert.match(warnings[0], /persist is off .*QuotaExceededError/);
        assert.deepEqual(errors.filter((e) => !e.includes('Failed to load resource')), []);
      } finally {
        await page.close();
        await srv.close();
      }
    });
  }

  test('persist needs delivery, and a name', async () => {
    const { page } = await openPage(served.browser, `${served.site.url}/package.json`);
    try {
      const r = await page.evaluate(async () => {
        const { init, Connection } = await import('/index.js');
        await init();
        const attempt = (o) => {
          try {
            new Connection('ws://127.0.0.1:9/x', o).free();
            return 'ok';
          } catch (e) {
            return `${e.name}: ${e.message}`;
          }
        };
        return [attempt({ persist: { name: 'a' } }), attempt({ delivery: true, persist: { name: '' } }), attempt({ delivery: true, persist: { nam: 'a' } })];
      });
      assert.match(r[0], /TypeError: invalid option persist: needs delivery on/);
      assert.match(r[1], /TypeError: invalid option persist.name: must be a non-empty string/);
      assert.match(r[2], /unknown option persist.nam: did you mean name\?/);
    } finally {
      await page.close();
    }
  });

  test('tabs "shared": each stored message keeps its tab and number, also when a session reset renumbers it', async () => {
    const { page } = await openPage(served.browser, `${served.site.url}/package.json`);
    try {
      const heard = await page.evaluate(async ({ name }) => {
        const { Persister } = await import('/persist.js');
        const TAG = Symbol.for('resilient-ws.tabs-tag');
        const LEADERS = Symbol.for('resilient-ws.tabs-leaders');
        const p = new Persister(name);
        await p.ready;
        p.restoreDone();
        const putAll = () => {
          for (const [seq, data, tag] of [[1, 'x', { from: 't1', id: 1 }], [2, 'y', { from: 't2', id: 7 }], [3, 'own', undefined]]) {
            globalThis[TAG] = tag;
            p.put(seq, data, Date.now());
          }
          globalThis[TAG] = undefined;
        };
        putAll();
        p.commit();
        await p.persisted();
        // A session reset (src/driver/persist.rs, PersistChange::Reset): cleared, then put again, untagged.
        p.clear();
        for (const [seq, data] of [[1, 'x'], [2, 'y'], [3, 'own']]) p.put(seq, data, Date.now());
        p.commit();
        await p.persisted();
        p.close();
        // What a new leader hears when it reads the store.
        let heard;
        (globalThis[LEADERS] ??= new Map()).set(name, (seen, owners) => (heard = { seen, owners }));
        const q = new Persister(name);
        await q.ready;
        q.close();
        return heard;
      }, { name: `tags-${Date.now()}` });
      assert.deepEqual(heard, {
        seen: { t1: 1, t2: 7 },
        owners: [{ from: 't1', id: 1, data: 'x' }, { from: 't2', id: 7, data: 'y' }],
      });
    } finally {
      await page.close();
    }
  });

  test('the window in which a message can be lost: sendMessage to its committed transaction', async () => {
    const srv = await startServer();
    const { page } = await openPage(served.browser, `${served.site.url}/package.json`);
    try {
      await connect(page, srv.url, { name: `window-${Date.now()}` });
      const times = await page.evaluate(async () => {
        await window.conn.persisted();
        const out = [];
        for (let i = 0; i < 50; i++) {
          const t0 = performance.now();
          window.conn.sendMessage(`w${i}`);
          await window.conn.persisted();
          out.push(performance.now() - t0);
        }
        return out.sort((a, b) => a - b);
      });
      const median = times[25];
      const p95 = times[47];
      console.log(`# persist window: sendMessage → committed: median ${median.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms, max ${times[49].toFixed(2)} ms`);
      assert.ok(median < 200, `median ${median} ms`);
    } finally {
      await page.close();
      await srv.close();
    }
  });
});

test('a second Connection with the same persist name (another tab) runs without persist, with a warning; after free() the name is free again', async () => {
  const srv = await startServer();
  const context = await served.browser.newContext(); // two tabs of one origin: one storage, one lock manager
  const a = await openPage(context, `${served.site.url}/package.json`);
  const b = await openPage(context, `${served.site.url}/package.json`);
  try {
    const name = `twice-${Date.now()}`;
    await connect(a.page, srv.url, { name });
    assert.equal(await sendAll(a.page, ['a1']), true);
    await connect(b.page, srv.url, { name });
    assert.equal(await sendAll(b.page, ['b1']), false, 'the second one persists nothing');
    const warnings = await b.page.evaluate(() => window.warnings);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /already uses persist name/);
    await waitFor(() => srv.applied.length >= 2, { what: 'both messages' });
    assert.deepEqual([...srv.applied].sort(), ['a1', 'b1']);
    await a.page.evaluate(() => window.conn.free());
    await b.page.evaluate(() => window.conn.free());
    await connect(b.page, srv.url, { name });
    assert.equal(await sendAll(b.page, ['b2']), true, 'free() released the name');
  } finally {
    await context.close();
    await srv.close();
  }
});
