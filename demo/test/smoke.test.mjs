// End-to-end test of the chat demo: demo/run.sh serves it, headless Chromium uses the page.
//   node --test demo/test/        (or: demo/run.sh --check, which builds first)
// A message written while the server restarts, or while the network is down, must show as
// "queued", then reach the server exactly once, in order, after the reconnect.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../../js/test-support/chromium.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = process.env.DEMO_SCREENSHOT_DIR ?? '/tmp';

let server = null;
let serverExit = null;
let serverLog = '';
let baseUrl = '';
let browser = null;

/** Starts demo/run.sh on a free port; resolves with the URL it prints. */
function startDemo() {
  const prebuilt = Boolean(process.env.RWS_DEMO_PREBUILT);
  server = spawn('bash', ['demo/run.sh', ...(prebuilt ? ['--no-build'] : [])], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0' },
    detached: true, // its own process group: stopped as a whole in after()
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serverExit = new Promise((resolveExit) => server.once('exit', (code, signal) => resolveExit({ code, signal })));
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`demo/run.sh printed no URL in time:\n${serverLog}`)),
      prebuilt ? 20_000 : 600_000,
    );
    const onData = (chunk) => {
      serverLog += chunk;
      const match = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(serverLog);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    server.stdout.setEncoding('utf8').on('data', onData);
    server.stderr.setEncoding('utf8').on('data', onData);
    serverExit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`demo/run.sh exited (${code}) before serving:\n${serverLog}`));
    });
  });
}

before(async () => {
  baseUrl = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null && server.signalCode === null) {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const stopped = await Promise.race([serverExit, new Promise((r) => setTimeout(() => r(null), 5000))]);
    if (stopped === null) process.kill(-server.pid, 'SIGKILL');
  }
});

const statusIs = (page, status, timeout) =>
  page.waitForSelector(`[data-testid=status][data-status=${status}]`, { timeout });

/** Records every status the badge shows, so that a short one is not missed between two polls. */
async function recordStatuses(page) {
  await page.evaluate(() => {
    const badge = document.querySelector('[data-testid=status]');
    window.statusLog = [{ at: Date.now(), status: badge.dataset.status }];
    new MutationObserver(() => window.statusLog.push({ at: Date.now(), status: badge.dataset.status })).observe(badge, {
      attributes: true,
      attributeFilter: ['data-status'],
    });
  });
}

/** Waits until the badge left "connected" after `since` (page clock); returns when it did. */
async function leftConnected(page, since, timeout) {
  const handle = await page.waitForFunction(
    (since) => window.statusLog.find((e) => e.at >= since && e.status !== 'connected')?.at,
    since,
    { timeout, polling: 50 },
  );
  return handle.jsonValue();
}

async function write(page, text) {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

/** The chat rows holding `text`: the server's copies and the local (not yet delivered) ones. */
const rows = (page, text, source) =>
  page.locator(source ? `li.chat[data-source=${source}]` : 'li.chat', { hasText: text });

async function serverHistory() {
  const response = await fetch(new URL('api/history', baseUrl));
  assert.equal(response.status, 200);
  return (await response.json()).messages.map((m) => m.text);
}

/** Waits until the server reports `mode` ("normal", "outage"). */
async function serverMode(mode, timeout = 3000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const status = await (await fetch(new URL('api/status', baseUrl))).json();
    if (status.mode === mode) return;
    if (Date.now() > deadline) throw new Error(`the server stayed in mode ${status.mode}, not ${mode}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function openPage() {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  page.setDefaultTimeout(10_000);
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(baseUrl);
  await statusIs(page, 'connected', 15_000);
  await recordStatuses(page);
  return { page, errors };
}

/** Writes `text` while offline, checks it is shown as queued, waits for its delivery. */
async function writeOfflineAndExpectDelivery(page, text, shot) {
  await write(page, text);
  const local = rows(page, text, 'local');
  await local.waitFor({ timeout: 2000 });
  assert.equal(await local.getAttribute('data-state'), 'queued', 'a message written offline shows as queued');
  const queued = Number(await page.getByTestId('outbox').getAttribute('data-queued'));
  assert.ok(queued >= 1, `the outbox count shows the message (queuedMessages = ${queued})`);
  if (shot) await page.screenshot({ path: join(SHOTS, shot) });

  await statusIs(page, 'connected', 20_000);
  await rows(page, text, 'server').waitFor({ timeout: 10_000 });
  await page.waitForTimeout(700); // room for a duplicate to show up, if there were one
  assert.equal(await rows(page, text).count(), 1, 'the message appears in the log exactly once');
  assert.equal(await rows(page, text, 'server').getAttribute('data-state'), 'delivered');
  assert.equal(await page.getByTestId('outbox').getAttribute('data-queued'), '0', 'the outbox is empty again');
  const stored = (await serverHistory()).filter((t) => t === text).length;
  assert.equal(stored, 1, 'the server received the message exactly once');
}

test('a message written while the server restarts is queued, then delivered once, in order', async () => {
  const { page, errors } = await openPage();
  const before = `before the restart ${Date.now()}`;
  await write(page, before);
  await rows(page, before, 'server').waitFor({ timeout: 5000 });

  const clicked = await page.evaluate(() => Date.now());
  await page.getByRole('button', { name: 'Restart server' }).click();
  await leftConnected(page, clicked, 5000);
  const during = `written while the server was down ${Date.now()}`;
  await writeOfflineAndExpectDelivery(page, during, 'resilient-ws-demo-restart-queued.png');

  const history = await serverHistory();
  assert.ok(history.indexOf(before) < history.indexOf(during), 'in order');
  const events = await page.getByTestId('event-log').innerText();
  assert.match(events, /close\s+1012/, 'the event log shows the restart close code');
  assert.match(events, /restarted/, 'the page noticed the new server process');
  await page.screenshot({ path: join(SHOTS, 'resilient-ws-demo.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the heartbeat detects a network loss; a message written meanwhile is delivered once', async () => {
  const { page, errors } = await openPage();
  const before = `before the network loss ${Date.now()}`;
  await write(page, before);
  await rows(page, before, 'server').waitFor({ timeout: 5000 });

  const cut = await page.evaluate(() => Date.now());
  await page.getByRole('button', { name: 'Simulate network loss (5 s)' }).click();
  // No close frame, no TCP close: only the heartbeat (ping every 2 s, 2 s to answer) notices.
  const detectedAfter = (await leftConnected(page, cut, 8000)) - cut;
  // The server drops the silent sockets 5 s after it got the request, so later than 5 s after the
  // click: a change before that is the heartbeat's doing.
  assert.ok(detectedAfter < 5000, `the half-open socket was detected within the outage (${detectedAfter} ms)`);
  const during = `written during the network loss ${Date.now()}`;
  await writeOfflineAndExpectDelivery(page, during, 'resilient-ws-demo-outage-queued.png');

  const history = await serverHistory();
  assert.ok(history.indexOf(before) < history.indexOf(during), 'in order');
  await page.screenshot({ path: join(SHOTS, 'resilient-ws-demo-after-outage.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a message sent into the dying socket is never lost silently: delivered, or flagged and resent, once', async (t) => {
  const { page, errors } = await openPage();
  const cut = await page.evaluate(() => Date.now());
  await page.getByRole('button', { name: 'Simulate network loss (5 s)' }).click();
  await serverMode('outage');
  // Still "connected": the SDK hands this one to the socket, which the network has already lost.
  const text = `sent into the dead socket ${Date.now()}`;
  await write(page, text);
  assert.equal(await rows(page, text, 'local').getAttribute('data-state'), 'sent');
  await leftConnected(page, cut, 8000);
  await statusIs(page, 'connected', 20_000);

  // After the reconnect the page compares with the server's history: delivered, or "not delivered".
  const outcome = await page.waitForFunction(
    (text) => {
      const row = [...document.querySelectorAll('li.chat')].find((li) => li.textContent.includes(text));
      if (row?.dataset.source === 'server') return 'delivered';
      return row?.dataset.state === 'lost' ? 'lost' : null;
    },
    text,
    { timeout: 5000, polling: 50 },
  );
  const path = await outcome.jsonValue();
  t.diagnostic(`the message was ${path === 'lost' ? 'flagged "not delivered", then resent' : 'delivered'}`);
  if (path === 'lost') {
    await page.screenshot({ path: join(SHOTS, 'resilient-ws-demo-not-delivered.png') });
    await rows(page, text, 'local').getByRole('button', { name: 'resend' }).click();
  }
  await rows(page, text, 'server').waitFor({ timeout: 5000 });
  await page.waitForTimeout(700);
  assert.equal(await rows(page, text).count(), 1, 'the message appears in the log exactly once');
  assert.equal((await serverHistory()).filter((t) => t === text).length, 1, 'the server has it exactly once');
  assert.deepEqual(errors, []);
  await page.close();
});
