// persist and tabs: "shared" in headless Firefox (the system firefox-esr over WebDriver BiDi:
// js/test-support/firefox-bidi.mjs), against the Node delivery server: two tabs sending at
// once, and a reload in the middle of a flush. Counted at the server: every message exactly
// once, in each tab's order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { firefoxMissing, launchFirefox } from '../test-support/firefox-bidi.mjs';
import { PKG, serveDir, sleep, waitFor } from '../test-support/helpers.mjs';

let firefox;
let site;

before(async () => {
  if (firefoxMissing) return;
  site = await serveDir(PKG);
  firefox = await launchFirefox();
});

after(async () => {
  await firefox?.close();
  await site?.close();
});

/** A tab on the package's origin (a plain page: Firefox's JSON viewer cannot import modules). */
async function openTab() {
  const tab = await firefox.newTab();
  await tab.goto(`${site.url}/blank`);
  return tab;
}

/** In the tab: window.conn, a Connection with `options` (persist name, tabs...). */
const connect = (tab, url, options) =>
  tab.evaluate(async ({ url, options }) => {
    const { init, Connection } = await import('/index.js');
    await init();
    window.got = [];
    window.conn = new Connection(url, { delivery: true, reconnect: { initialDelayMs: 30, maxDelayMs: 100 }, ...options, onMessage: (m) => window.got.push(m.data) });
    return true;
  }, { url, options });

const send = (tab, prefix, from, to) =>
  tab.evaluate(({ prefix, from, to }) => {
    for (let i = from; i < to; i++) window.conn.sendMessage(`${prefix}${i}`);
    return window.conn.persisted();
  }, { prefix, from, to });

function assertOncePerTab(applied, counts) {
  for (const [prefix, n] of Object.entries(counts)) {
    const mine = applied.filter((m) => m.startsWith(prefix)).map((m) => Number(m.slice(prefix.length)));
    assert.deepEqual(mine, Array.from({ length: n }, (_, i) => i), `${prefix}: exactly once, in order`);
  }
  assert.equal(applied.length, Object.values(counts).reduce((a, b) => a + b, 0), 'nothing else');
}

describe('persist and tabs "shared" in Firefox', { skip: firefoxMissing }, () => {
  test('two tabs sending at once: one socket, every message once in each tab\'s order, both receive every message', async () => {
    const srv = await startDeliveryServer('ff-tabs');
    const [a, b] = [await openTab(), await openTab()];
    try {
      const options = { persist: { name: `ff-two-${Date.now()}` }, tabs: 'shared' };
      await connect(a, srv.url, options);
      await connect(b, srv.url, options);
      await waitFor(async () => (await a.evaluate(() => window.conn.leader)) !== (await b.evaluate(() => window.conn.leader)), { what: 'one leader' });
      await Promise.all([send(a, 'a', 0, 200), send(b, 'b', 0, 200)]);
      await waitFor(() => srv.applied.length >= 400, { timeout: 10000, what: 'all 400 applied' });
      await sleep(100);
      assertOncePerTab(srv.applied, { a: 200, b: 200 });
      assert.equal(srv.connections(), 1, 'one socket for both tabs');
      const [sid] = srv.sids;
      await srv.server.send(sid, 'to-all');
      for (const t of [a, b]) await waitFor(() => t.evaluate(() => window.got.includes('to-all') && window.conn.status === 'connected'), { what: 'every tab receives, and shows connected' });
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });

  test('a reload in the middle of a flush: the new page resumes the session, every message applied once, in order', async () => {
    const srv = await startDeliveryServer('ff-persist', 4);
    const tab = await openTab();
    try {
      const options = { persist: { name: `ff-reload-${Date.now()}` } };
      await connect(tab, srv.url, options);
      assert.equal(await send(tab, 'm', 0, 300), true, 'persisted() resolves true once stored');
      await waitFor(() => srv.applied.length >= 40, { what: 'the flush under way' });
      await tab.reload();
      const atReload = srv.applied.length;
      assert.ok(atReload < 300, `reloaded mid-flush (${atReload} of 300 applied)`);
      await connect(tab, srv.url, options);
      assert.equal(await send(tab, 'm', 300, 310), true);
      await waitFor(() => srv.applied.length >= 310, { timeout: 15000, what: 'all 310 applied' });
      await sleep(200);
      assertOncePerTab(srv.applied, { m: 310 });
      assert.equal(srv.sids.size, 1, 'the same session');
    } finally {
      await tab.close();
      await srv.close();
    }
  });
});
