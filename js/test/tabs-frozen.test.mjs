// tabs: "shared" with the leader tab frozen for real: Page.setWebLifecycleState {state: "frozen"}
// in headless Chromium driven over raw CDP (js/test-support/chromium-cdp.mjs; under playwright-core
// the same command does not freeze anything, as its focus emulation keeps every page running).
// Chromium fires `freeze` in the page, then runs none of its tasks (timers, BroadcastChannel, lock
// callbacks, IndexedDB events) until it is resumed. Counted at the Node delivery server: every
// message exactly once, in each tab's order. (A leader that stops without a `freeze` event, hung
// in the middle of a write, is the debugger test of tabs.test.mjs.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from '../test-support/chromium-cdp.mjs';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { PKG, serveDir, sleep, waitFor } from '../test-support/helpers.mjs';
import { assertOncePerTab, connect, leader, openTab, send } from '../test-support/tabs-scenarios.mjs';

let chromium;
let site;

before(async () => {
  site = await serveDir(PKG);
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  await site?.close();
});

/** The page's timer count: a setInterval every 10 ms bumps it (started by startTicks). */
const ticks = (tab) => tab.evaluate(() => window.ticks);
const startTicks = (tab) =>
  tab.evaluate(() => {
    window.ticks = 0;
    setInterval(() => window.ticks++, 10);
  });

test('freezing the leader (Page.setWebLifecycleState): a follower takes over within 2 s, nothing lost or duplicated; resumed, the old leader is a follower', async () => {
  const srv = await startDeliveryServer('frozen', 2);
  const [a, b, c] = [await openTab(chromium, site), await openTab(chromium, site), await openTab(chromium, site)];
  try {
    const options = { persist: { name: `frozen-${Date.now()}` }, tabs: 'shared' };
    await connect(a, srv.url, options);
    await waitFor(() => leader(a), { what: 'a leads' });
    await connect(b, srv.url, options);
    await connect(c, srv.url, options);
    await startTicks(a);
    await waitFor(async () => (await ticks(a)) >= 10, { what: 'a\'s timer running before the freeze' });

    await send(b, 'b', 0, 100);
    await send(c, 'c', 0, 100);
    await waitFor(() => srv.applied.length >= 20, { what: 'the flush under way' });
    // The leader's own, written as it freezes: IndexedDB transactions in flight. (Before persist.js
    // committed them explicitly, this kept the new leader's store read waiting until the old
    // leader was resumed: this test timed out at "b's and c's 250 applied".)
    await send(a, 'a', 0, 20);
    const t0 = Date.now();
    await a.freeze();
    const frozenAt = await ticks(a);
    await send(b, 'b', 100, 150); // while the leader is frozen
    await waitFor(async () => (await leader(b)) || (await leader(c)), { timeout: 2000, what: 'a new leader within 2 s' });
    const takeover = Date.now() - t0;
    assert.equal((await leader(b)) && (await leader(c)), false, 'one new leader');
    await waitFor(() => srv.applied.filter((m) => !m.startsWith('a')).length >= 250, { timeout: 15000, what: 'b\'s and c\'s 250 applied' });
    await sleep(Math.max(0, 1000 - (Date.now() - t0)));
    assert.equal(await ticks(a), frozenAt, `a frozen: no timer ran in ${Date.now() - t0} ms`);
    assert.equal(await leader(a), false, 'a stepped down on `freeze`');

    await a.resume();
    await waitFor(async () => (await ticks(a)) > frozenAt, { what: 'a runs again' });
    await send(a, 'a', 20, 30);
    await waitFor(() => srv.applied.length >= 280, { timeout: 15000, what: 'all 280 applied' });
    await sleep(300);
    assertOncePerTab(srv.applied, { a: 30, b: 150, c: 100 });
    assert.equal(srv.sids.size, 1, 'the same session');
    assert.equal(await leader(a), false, 'the resumed tab is a follower');
    const [sid] = srv.sids;
    await srv.server.send(sid, 'after-resume');
    for (const t of [a, b, c]) await waitFor(() => t.evaluate(() => window.got.includes('after-resume')), { what: 'every tab receives, the resumed one too' });
    assert.equal(await a.evaluate(() => window.conn.getSnapshot().status), 'connected', 'the resumed tab shows the shared status');
    console.log(`# tabs takeover after the leader froze (Page.setWebLifecycleState): ${takeover} ms`);
  } finally {
    for (const t of [a, b, c]) await t.close().catch(() => {});
    await srv.close();
  }
});
