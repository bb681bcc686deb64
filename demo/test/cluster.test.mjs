// End-to-end test of the cluster: `demo/run.sh --cluster` (real nginx, real redis-server, two
// instances), headless Chromium on the real page and the real built package.
//   node --test demo/test/cluster.test.mjs      (after `make demo`'s build, or demo/run.sh --check)
//
// 1. Two pages pinned to different instances chat at 10 messages per second each; one page's
//    instance is killed with SIGKILL; that page reconnects through nginx to the survivor. Every
//    message appears exactly once on both pages, in each sender's order, and once in the
//    server's history. Then the survivor gets SIGTERM and restarts: the same again.
// 2. nginx runs with proxy_read_timeout 3s: a socket without heartbeat is dropped after ~3 s
//    of silence, while the page (the SDK's heartbeat every 2 s) stays connected.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../../js/test-support/chromium.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = process.env.DEMO_SCREENSHOT_DIR ?? '/tmp';
const READ_TIMEOUT_S = 3;
const ROOM = `e2e-${process.pid}`;

let cluster = null;
let clusterLog = '';
let baseUrl = '';
let browser = null;

function startCluster() {
  cluster = spawn('bash', ['demo/run.sh', '--cluster', '--no-build'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      DEMO_NGINX_READ_TIMEOUT: `${READ_TIMEOUT_S}s`,
      DEMO_RATE_MESSAGES: '1000', // the test chats at 10 messages/s per page
    },
    detached: true, // its own process group: stopped as a whole in after()
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((done) => cluster.once('exit', (code) => done(code)));
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL in time:\n${clusterLog}`)), 30_000);
    const onData = (chunk) => {
      clusterLog += chunk;
      const match = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(clusterLog);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    cluster.stdout.setEncoding('utf8').on('data', onData);
    cluster.stderr.setEncoding('utf8').on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`demo/run.sh --cluster exited (${code}):\n${clusterLog}`));
    });
  });
}

before(async () => {
  baseUrl = await startCluster();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (cluster && cluster.exitCode === null) {
    process.kill(-cluster.pid, 'SIGTERM');
    await new Promise((done) => {
      const t = setTimeout(() => {
        try {
          process.kill(-cluster.pid, 'SIGKILL');
        } catch {}
        done();
      }, 5000);
      cluster.once('exit', () => {
        clearTimeout(t);
        done();
      });
    });
  }
});

async function instancePid(name) {
  const health = await (await fetch(`${baseUrl}instance/${name}/healthz`)).json();
  assert.equal(health.instance, name);
  return health.pid;
}

async function openPage(name, pin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${baseUrl}?pin=${pin}&name=${name}&room=${ROOM}`);
  await page.click('[data-testid=login] button[type=submit]');
  await page.waitForSelector(`[data-testid=instance]:text-is("${pin}")`, { timeout: 10_000 });
  return page;
}

/** Sends `count` messages `${prefix}-${from}`, … at 10 per second through the page's composer. */
async function chat(page, prefix, from, count) {
  for (let i = from; i < from + count; i += 1) {
    await page.fill('input.message', `${prefix}-${i}`);
    await page.press('input.message', 'Enter');
    await sleep(100);
  }
}

/** The texts of the server's messages shown on the page, in order. */
function shown(page) {
  return page.$$eval('li.chat[data-source=server] .chat-text', (els) => els.map((e) => e.textContent));
}

/** Waits until the page shows every expected text, and every own message is acknowledged. */
async function settled(page, expected) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const texts = new Set(await shown(page));
    const pending = await page.$$eval('li.chat-mine', (els) => els.filter((e) => e.dataset.state !== 'stored').length);
    if (expected.every((t) => texts.has(t)) && pending === 0) return;
    if (Date.now() > deadline) {
      const missing = expected.filter((t) => !texts.has(t));
      assert.fail(`not settled: missing ${missing.join(', ') || 'none'}, ${pending} not acknowledged`);
    }
    await sleep(200);
  }
}

function texts(prefix, from, count) {
  return Array.from({ length: count }, (_, i) => `${prefix}-${from + i}`);
}

/** Exactly once each, and each sender's messages in its order. */
function assertOnceInOrder(list, expected, where) {
  const counts = new Map();
  for (const t of list) counts.set(t, (counts.get(t) ?? 0) + 1);
  for (const t of expected) assert.equal(counts.get(t), 1, `${where}: "${t}" appears ${counts.get(t) ?? 0} times`);
  for (const prefix of ['A', 'B']) {
    const mine = list.filter((t) => t.startsWith(`${prefix}-`)).map((t) => Number(t.slice(2)));
    assert.deepEqual(mine, [...mine].sort((x, y) => x - y), `${where}: ${prefix}'s messages out of order`);
  }
}

async function check(pages, expected, phase) {
  for (const page of pages) await settled(page, expected);
  for (const [i, page] of pages.entries()) assertOnceInOrder(await shown(page), expected, `${phase}, page ${i + 1}`);
  const history = await (await fetch(`${baseUrl}api/history?room=${ROOM}`)).json();
  assertOnceInOrder(
    history.messages.map((m) => m.text),
    expected,
    `${phase}, server history`,
  );
}

test('an instance killed with SIGKILL, then the survivor restarted: nothing lost or duplicated', async () => {
  const a = await openPage('ann', 'a');
  const b = await openPage('bob', 'b');
  await a.screenshot({ path: `${SHOTS}/demo-cluster-connected.png` });

  // Phase 1: both chat; after 1 s, a's instance dies.
  const killA = (async () => {
    await sleep(1000);
    process.kill(await instancePid('a'), 'SIGKILL');
  })();
  await Promise.all([chat(a, 'A', 1, 30), chat(b, 'B', 1, 30), killA]);
  await a.waitForSelector('[data-testid=instance]:text-is("b")', { timeout: 10_000 });
  const phase1 = [...texts('A', 1, 30), ...texts('B', 1, 30)];
  await check([a, b], phase1, 'after SIGKILL');
  const events = await a.$$eval('[data-testid=event-log] .event-text', (els) => els.map((e) => e.textContent));
  assert.ok(events.some((e) => e.includes('token refreshed')), 'the page fetched a fresh token for the reconnect');

  // Phase 2: the survivor (b) gets SIGTERM and is restarted; both pages move.
  const termB = (async () => {
    await sleep(1000);
    process.kill(await instancePid('b'), 'SIGTERM');
  })();
  await Promise.all([chat(a, 'A', 31, 30), chat(b, 'B', 31, 30), termB]);
  const all = [...phase1, ...texts('A', 31, 30), ...texts('B', 31, 30)];
  await check([a, b], all, 'after SIGTERM');
  await b.screenshot({ path: `${SHOTS}/demo-cluster-after.png` });
  await a.context().close();
  await b.context().close();
});

test(`nginx's proxy_read_timeout (${READ_TIMEOUT_S} s) drops an idle socket; the SDK's heartbeat keeps one up`, async () => {
  const page = await openPage('hal', 'a');
  const token = (await (await fetch(`${baseUrl}api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'idle' }),
  })).json()).token;
  // A bare socket in a room of its own, with no heartbeat: nothing crosses nginx.
  const wsUrl = `${baseUrl.replace('http', 'ws')}ws?token=${token}&room=idle-${process.pid}&mode=plain`;
  const bare = await page.evaluate(
    (url) =>
      new Promise((done) => {
        const ws = new WebSocket(url);
        let openedAt = 0;
        ws.onopen = () => {
          openedAt = performance.now();
        };
        ws.onclose = (e) => done({ code: e.code, openMs: openedAt ? performance.now() - openedAt : -1 });
        setTimeout(() => done({ code: 0, openMs: performance.now() - openedAt }), 15_000);
      }),
    wsUrl,
  );
  assert.equal(bare.code, 1006, `the idle socket closed with ${bare.code}`);
  assert.ok(bare.openMs >= READ_TIMEOUT_S * 1000 - 500 && bare.openMs < READ_TIMEOUT_S * 1000 + 3000, `closed after ${bare.openMs} ms`);
  // Meanwhile (more than two read timeouts), the page with its heartbeat never closed.
  const closes = await page.$$eval('[data-testid=event-log] .event-close', (els) => els.length);
  assert.equal(closes, 0, 'the page with a heartbeat was never closed');
  assert.equal(await page.getAttribute('[data-testid=status]', 'data-status'), 'connected');
  await page.context().close();
});
