// The hook holds messages sent before its Connection exists in pkg/pending.js (the WebAssembly
// module may not even be loaded yet). Its rules must be the Connection's outbox rules
// (src/core/outbox.rs): this test pins the two together in headless Chromium, pushing the same
// pseudo-random sequences through a PendingMessages and through a Connection that never
// connects (so every message queues), and comparing every result, drop and error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PKG, launchBrowser, openPage, serveDir } from '../test-support/helpers.mjs';

let browser;
let site;
let page;

before(async () => {
  site = await serveDir(PKG);
  browser = await launchBrowser();
  ({ page } = await openPage(browser, `${site.url}/package.json`));
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** Runs `cases` in the page, each through both; returns { pending, connection } traces per case. */
function runBoth(cases) {
  return page.evaluate(async (cases) => {
    const { init, Connection } = await import('/index.js');
    const { PendingMessages } = await import('/pending.js');
    await init();
    const show = (data) => (typeof data === 'string' ? `s:${data}` : `b:${data.byteLength}:${new Uint8Array(data)[0] ?? ''}`);
    const make = (m) => (m.binary ? new Uint8Array(m.size).fill(m.fill).buffer : m.text);
    const outcome = (f) => {
      try {
        return f();
      } catch (e) {
        return { name: e.name, message: e.message, queuedMessages: e.queuedMessages, queuedBytes: e.queuedBytes, messageBytes: e.messageBytes };
      }
    };
    return cases.map(({ outbox, messages }) => {
      const trace = () => ({ steps: [], drops: [] });
      const p = trace();
      const pending = new PendingMessages();
      for (const m of messages) p.steps.push(outcome(() => pending.push(make(m), outbox, (d, r) => p.drops.push([p.steps.length, show(d), r]))));
      p.end = [pending.size, pending.queuedBytes];

      const c = trace();
      const conn = new Connection('ws://127.0.0.1:9/never', {
        reconnect: false,
        ...(outbox ? { outbox } : {}),
        onDrop: (d, r) => c.drops.push([c.steps.length, show(d), r]),
      });
      for (const m of messages) c.steps.push(outcome(() => conn.sendMessage(make(m))));
      const snap = conn.getSnapshot();
      c.end = [snap.queuedMessages, snap.queuedBytes];
      const before = c.drops.length;
      conn.close();
      conn.free(); // (reports what is still queued as "released": not part of the comparison)
      c.drops.length = before;
      return { pending: p, connection: c };
    });
  }, cases);
}

/** A deterministic pseudo-random sequence of text (some multi-byte) and binary messages. */
function sequence(seed, n) {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648), x / 2147483648);
  const words = ['a', 'héllo', '✓✓', '😀', 'x'.repeat(40), ''];
  return Array.from({ length: n }, (_, i) =>
    next() < 0.3
      ? { binary: true, size: Math.floor(next() * 60), fill: i % 256 }
      : { text: `${i}:${words[Math.floor(next() * words.length)]}` },
  );
}

test('the hook\'s pre-connection hold follows the outbox rules exactly', async () => {
  const cases = [];
  for (const overflow of ['error', 'drop-oldest', 'drop-newest']) {
    for (const [maxMessages, maxBytes] of [[5, 1000], [100, 120], [3, 30], [1, 1]]) {
      cases.push({ outbox: { maxMessages, maxBytes, overflow }, messages: sequence(maxMessages * 7 + maxBytes, 40) });
    }
  }
  // The defaults: 1,000 messages, then OutboxFullError.
  cases.push({ outbox: undefined, messages: Array.from({ length: 1002 }, (_, i) => ({ text: `m${i}` })) });
  // The defaults' byte limit: 1 MiB.
  cases.push({ outbox: undefined, messages: [{ binary: true, size: 1 << 20, fill: 1 }, { binary: true, size: 1, fill: 2 }] });
  const results = await runBoth(cases);
  let drops = 0;
  let errors = 0;
  results.forEach(({ pending, connection }, i) => {
    assert.deepEqual(pending, connection, `case ${i}: ${JSON.stringify(cases[i].outbox)}`);
    drops += pending.drops.length;
    errors += pending.steps.filter((s) => typeof s === 'object').length;
  });
  // The sequences really reach every rule.
  assert.ok(drops > 20, `drops: ${drops}`);
  assert.ok(errors > 10, `errors: ${errors}`);
  const last = results.at(-2).pending.steps;
  assert.equal(last[999], 'queued');
  assert.equal(last[1000].name, 'OutboxFullError');
});
