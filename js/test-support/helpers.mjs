// Shared by the tests in js/test/. It lives outside js/test/ because `node --test js/test/`
// runs every .js/.mjs file under that directory as a test file.
import { after, before } from 'node:test';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const PKG = join(ROOT, 'pkg');
export const FIXTURES = join(ROOT, 'js/test/fixtures');

/** The test server (tests/server), as `make test` announces it. */
export function testServer() {
  const ws = process.env.WS_TEST_URL;
  const controlUrl = process.env.WS_CONTROL_URL;
  if (!ws || !controlUrl) {
    throw new Error(
      'WS_TEST_URL and WS_CONTROL_URL must point at the test server: start `cargo run -p ws-test-server --profile server` ' +
        'and export the ws=... and control=... it prints (make test does this)',
    );
  }
  return { ws: ws.replace(/\/$/, ''), control: controlUrl.replace(/\/$/, '') };
}

/** A scope (WebSocket path) no other test uses. */
export function uniqueScope(name) {
  return `js-${name}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** The ws:// URL of a scope. */
export function wsUrl(scope) {
  return `${testServer().ws}/${scope}`;
}

/** GET on the control server; returns the parsed JSON body (or text). */
export async function control(path) {
  const res = await fetch(testServer().control + path);
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${path}: HTTP ${res.status} ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** { attempts, open, received } for a scope. */
export function stats(scope) {
  return control(`/stats?scope=${encodeURIComponent(scope)}`);
}

/** The messages the server received in a scope, in order. */
export async function received(scope) {
  return (await control(`/received?scope=${encodeURIComponent(scope)}`)).messages;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` (sync or async) until it returns a truthy value, which is returned.
 * On timeout throws, quoting the last value seen.
 */
export async function waitFor(probe, { timeout = 5000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await sleep(interval);
  }
}

import { launchBrowser } from './chromium.mjs';
export { CHROMIUM_ARGS, launchBrowser } from './chromium.mjs';

/**
 * A page that records uncaught errors and console errors. `errors` must stay empty:
 * call `assertNoErrors()` at the end of a test.
 */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.stack ?? e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url);
  return { page, errors, requests };
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

/** Serves `dir` over HTTP on 127.0.0.1 (a random port). Returns { url, close }. */
export async function serveDir(dir) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    try {
      let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (path.endsWith('/')) path += 'index.html';
      const file = normalize(join(root, path));
      if (!file.startsWith(root)) throw new Error('outside root');
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    }),
  };
}

/**
 * For a test file whose pages load the built package: registers before/after hooks that serve
 * pkg/ and launch Chromium, and returns `{ browser, site }`, filled in before the tests run.
 */
export function servedPackage() {
  const env = { browser: null, site: null };
  before(async () => {
    env.site = await serveDir(PKG);
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.site?.close();
  });
  return env;
}
