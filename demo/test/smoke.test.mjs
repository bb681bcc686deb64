// End-to-end test of the chat demo on one instance: demo/run.sh serves it, headless Chromium
// uses the page (the real built package, delivery protocol on).
//   node --test demo/test/        (or: demo/run.sh --check, which builds first)
// Login, a stored message, a refused one (its chip shows the server's reason, and the
// connection stays usable), text shown as text, and the 401/403 refusals of the WebSocket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { dirname, resolve } from 'node:path';
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
    process.kill(-server.pid, 'SIGTERM');
    await Promise.race([serverExit, new Promise((r) => setTimeout(r, 5000))]);
  }
});

async function send(page, text) {
  await page.fill('input.message', text);
  await page.press('input.message', 'Enter');
}

test('log in, chat, get refused, and see text as text', async () => {
  const page = await browser.newPage();
  await page.goto(`${baseUrl}?name=ann&room=smoke`);
  await page.click('[data-testid=login] button[type=submit]');
  await page.waitForSelector('[data-testid=status][data-status=connected]', { timeout: 15_000 });
  await page.waitForSelector('[data-testid=instance]:not(:text-is("–"))');

  await send(page, 'hello <b>world</b>');
  const row = page.locator('li.chat-mine[data-source=server]').first();
  await row.locator('.chip-stored').waitFor({ timeout: 10_000 });
  assert.equal(await row.locator('.chat-text').textContent(), 'hello <b>world</b>');
  assert.equal(await row.locator('.chat-text b').count(), 0, 'the text was parsed as HTML');

  await send(page, 'x'.repeat(501));
  const refused = page.locator('li.chat-mine .chip-refused');
  await refused.waitFor({ timeout: 10_000 });
  assert.match(await refused.textContent(), /too long/);
  await page.screenshot({ path: `${SHOTS}/demo-connected.png` });

  await send(page, 'still usable');
  await page.locator('li.chat-mine[data-source=server] .chip-stored').nth(1).waitFor({ timeout: 10_000 });
  const events = await page.$$eval('[data-testid=event-log] .event-text', (els) => els.map((e) => e.textContent));
  assert.ok(events.some((e) => e.includes('token refreshed')), events.join('\n'));
  await page.close();
});

/** A WebSocket handshake by hand (node:http): the status the server answers with. */
function handshakeStatus(url, origin) {
  return new Promise((done, fail) => {
    const headers = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    };
    if (origin) headers.origin = origin;
    const request = http.get(url, { headers });
    request.on('response', (response) => {
      response.resume();
      done(response.statusCode);
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      done(response.statusCode);
    });
    request.on('error', fail);
  });
}

test('the WebSocket refuses a bad token (401) and a foreign Origin (403) before upgrading, and logs why', async () => {
  assert.equal(await handshakeStatus(`${baseUrl}ws?token=nope`), 401);
  const login = await fetch(`${baseUrl}api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"name":"eve"}',
  });
  const { token } = await login.json();
  assert.equal(await handshakeStatus(`${baseUrl}ws?token=${token}&mode=plain`, 'http://evil.example'), 403);
  assert.equal(await handshakeStatus(`${baseUrl}ws?token=${token}&mode=plain`), 101);
  await new Promise((r) => setTimeout(r, 200));
  assert.match(serverLog, /refused \/ws from .*: 401 bad token/);
  assert.match(serverLog, /refused \/ws from .*: 403 Origin http:\/\/evil\.example is not allowed/);
});
