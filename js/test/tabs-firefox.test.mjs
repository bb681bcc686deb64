// persist and tabs: "shared" in headless Firefox (the system firefox-esr over WebDriver BiDi:
// js/test-support/firefox-bidi.mjs), against the Node delivery server: two tabs sending at
// once, and a reload in the middle of a flush. Counted at the server: every message exactly
// once, in each tab's order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { firefoxMissing, launchFirefox } from '../test-support/firefox-bidi.mjs';
import { PKG, serveDir, sleep, waitFor } from '../test-support/helpers.mjs';
import { assertOncePerTab, connect, openTab as openTabOf, send, twoTabsAtOnce } from '../test-support/tabs-scenarios.mjs';

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
const openTab = () => openTabOf(firefox, site);

/** Sends prefix+from … prefix+(to-1), then waits for persisted(); returns its result. */
const sendPersisted = (tab, prefix, from, to) => send(tab, prefix, from, to).then(() => tab.evaluate(() => window.conn.persisted()));

describe('persist and tabs "shared" in Firefox', { skip: firefoxMissing }, () => {
  test('two tabs sending at once: one socket, every message once in each tab\'s order, both receive every message', async () => {
    const srv = await startDeliveryServer('ff-tabs');
    const [a, b] = [await openTab(), await openTab()];
    try {
      const options = { persist: { name: `ff-two-${Date.now()}` }, tabs: 'shared' };
      await connect(a, srv.url, options);
      await connect(b, srv.url, options);
      await twoTabsAtOnce(srv, a, b);
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
      assert.equal(await sendPersisted(tab, 'm', 0, 300), true, 'persisted() resolves true once stored');
      await waitFor(() => srv.applied.length >= 40, { what: 'the flush under way' });
      await tab.reload();
      const atReload = srv.applied.length;
      assert.ok(atReload < 300, `reloaded mid-flush (${atReload} of 300 applied)`);
      await connect(tab, srv.url, options);
      assert.equal(await sendPersisted(tab, 'm', 300, 310), true);
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
