// useWebSocket with tabs: "shared" in headless Chromium: the hook harness (fixtures/hook-app,
// bundled by Vite from pkg/) in two pages of one browser context, against the Node delivery
// server. Both pages show the shared status, both receive every message, both send; counted
// at the server: every message exactly once, in each page's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDeliveryServer } from '../test-support/delivery-server.mjs';
import { servedFixtureApp } from '../test-support/fixtures.mjs';
import { openPage, sleep, waitFor } from '../test-support/helpers.mjs';

const served = servedFixtureApp('hook-app', { 'resilient-ws/react': 'react.js', 'resilient-ws': 'index.js' });

/** A page of `context` rendering one probe `a` with tabs "shared". */
async function hookTab(context, url, name) {
  const p = await openPage(context, `${served.site.url}/`);
  await p.page.waitForFunction(() => window.harness?.ready === true);
  await p.page.evaluate(([url, name]) => {
    const options = { delivery: true, persist: { name }, tabs: 'shared', reconnect: { initialDelayMs: 30, maxDelayMs: 100 } };
    window.harness.render([{ id: 'a', url, options }]);
  }, [url, name]);
  return p;
}

const probe = (page, fn, arg) => page.evaluate(([f, a]) => new Function('probe', 'arg', `return (${f})(probe, arg)`)(window.harness.probes.a, a), [fn.toString(), arg]);

test('useWebSocket with tabs "shared" in two pages: one socket, both show its status, both receive every message, both send', async () => {
  const srv = await startDeliveryServer('tabs-hook', 2);
  const context = await served.browser.newContext();
  try {
    const name = `hook-${Date.now()}`;
    const pages = [await hookTab(context, srv.url, name), await hookTab(context, srv.url, name)];
    for (const p of pages) await waitFor(() => probe(p.page, (ws) => ws?.status === 'connected'), { what: 'every page shows connected' });
    const leaders = await Promise.all(pages.map((p) => probe(p.page, (ws) => ws.connection.leader)));
    assert.deepEqual(leaders.sort(), [false, true], 'one page leads');
    // Both send at once: sendMessage, then sendWithAck for the last ones.
    const acked = pages.map((p, i) =>
      probe(p.page, (ws, prefix) => {
        for (let n = 0; n < 100; n++) ws.sendMessage(`${prefix}${n}`);
        return Promise.all(Array.from({ length: 20 }, (_, n) => ws.sendWithAck(`${prefix}${100 + n}`))).then(() => 'acked');
      }, `p${i}-`),
    );
    assert.deepEqual(await Promise.all(acked), ['acked', 'acked'], 'every sendWithAck resolved in the page that sent it');
    await waitFor(() => srv.applied.length >= 240, { timeout: 10000, what: 'all 240 applied' });
    await sleep(100);
    for (const prefix of ['p0-', 'p1-']) {
      const mine = srv.applied.filter((m) => m.startsWith(prefix)).map((m) => Number(m.slice(prefix.length)));
      assert.deepEqual(mine, Array.from({ length: 120 }, (_, n) => n), `${prefix}: exactly once, in order`);
    }
    assert.equal(srv.applied.length, 240, 'nothing else');
    assert.equal(srv.connections(), 1, 'one socket for both pages');
    // Every page receives every message, and shows the shared snapshot.
    const [sid] = srv.sids;
    for (let n = 0; n < 5; n++) await srv.server.send(sid, `to-all-${n}`);
    for (const p of pages) {
      await waitFor(() => p.page.evaluate(() => window.harness.messages('a').length >= 5), { what: 'every page receives' });
      assert.deepEqual(await p.page.evaluate(() => window.harness.messages('a').map((e) => e.data)), ['to-all-0', 'to-all-1', 'to-all-2', 'to-all-3', 'to-all-4']);
      await waitFor(() => probe(p.page, (ws) => ws.lastMessage?.data === 'to-all-4' && ws.snapshot.unackedMessages === 0), { what: 'the shared snapshot in every page' });
    }
    // The leader page goes: the other one takes over and keeps sending.
    const [leaderPage, other] = leaders[0] ? pages : [pages[1], pages[0]];
    await leaderPage.page.close();
    await waitFor(() => probe(other.page, (ws) => ws.connection.leader), { timeout: 2000, what: 'the other page leads within 2 s' });
    await probe(other.page, (ws) => ws.sendWithAck('after'));
    assert.equal(srv.applied.at(-1), 'after');
    assert.equal(srv.sids.size, 1, 'the same session');
    for (const p of pages) assert.deepEqual(p.errors, [], 'no uncaught errors or console errors on the page');
  } finally {
    await context.close();
    await srv.close();
  }
});
