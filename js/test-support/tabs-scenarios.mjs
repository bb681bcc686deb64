// What the persist and tabs tests share across browsers. A "page" is anything with
// evaluate(fn, arg): a playwright-core Page, a Firefox tab of firefox-bidi.mjs or a Chromium
// tab of chromium-cdp.mjs; its window.conn is the Connection under test and window.got what
// its onMessage heard.
import assert from 'node:assert/strict';
import { sleep, waitFor } from './helpers.mjs';

/** A tab of `browser` (firefox-bidi.mjs, chromium-cdp.mjs) on the origin of `site` (serveDir of the package): a plain page. */
export async function openTab(browser, site) {
  const tab = await browser.newTab();
  await tab.goto(`${site.url}/blank`);
  return tab;
}

/** In the tab: window.conn, a Connection with delivery, fast retries and `options` (persist name, tabs...). */
export const connect = (tab, url, options) =>
  tab.evaluate(
    async ({ url, options }) => {
      const { init, Connection } = await import('/index.js');
      await init();
      window.got = [];
      window.conn = new Connection(url, { delivery: true, reconnect: { initialDelayMs: 30, maxDelayMs: 100 }, ...options, onMessage: (m) => window.got.push(m.data) });
      return true;
    },
    { url, options },
  );

/** Sends prefix+from … prefix+(to-1) with sendMessage in the page. */
export const send = (page, prefix, from, to) =>
  page.evaluate(
    ({ prefix, from, to }) => {
      for (let i = from; i < to; i++) window.conn.sendMessage(`${prefix}${i}`);
    },
    { prefix, from, to },
  );

export const leader = (page) => page.evaluate(() => window.conn.leader);

/** Each prefix's messages, in the order applied: exactly 0 … n-1; and nothing else. */
export function assertOncePerTab(applied, counts) {
  for (const [prefix, n] of Object.entries(counts)) {
    const mine = applied.filter((m) => m.startsWith(prefix)).map((m) => Number(m.slice(prefix.length)));
    assert.deepEqual(mine, Array.from({ length: n }, (_, i) => i), `${prefix}: exactly once, in order`);
  }
  assert.equal(applied.length, Object.values(counts).reduce((a, b) => a + b, 0), 'nothing else');
}

/**
 * Two pages sharing one connection (tabs "shared", same name) send 200 messages each at once:
 * one socket, every message once in each page's order, both receive every message and show
 * the shared status. `srv`: a delivery server of delivery-server.mjs.
 */
export async function twoTabsAtOnce(srv, a, b) {
  await waitFor(async () => (await leader(a)) !== (await leader(b)), { what: 'one leader' });
  await Promise.all([send(a, 'a', 0, 200), send(b, 'b', 0, 200)]);
  await waitFor(() => srv.applied.length >= 400, { timeout: 10000, what: 'all 400 applied' });
  await sleep(100);
  assertOncePerTab(srv.applied, { a: 200, b: 200 });
  assert.equal(srv.connections(), 1, 'one socket for both tabs');
  const [sid] = srv.sids;
  await srv.server.send(sid, 'to-all');
  for (const t of [a, b]) await waitFor(() => t.evaluate(() => window.got.includes('to-all')), { what: 'every tab receives' });
  const statuses = await Promise.all([a, b].map((t) => t.evaluate(() => window.conn.getSnapshot().status)));
  assert.deepEqual(statuses, ['connected', 'connected'], 'every tab shows the shared status');
}
