// Installability with Next.js (App Router, Turbopack): `npm pack` pkg/, install the tarball into
// a Next app (fixtures/next-app, committed lock file, nothing configured for resilient-ws; its
// page renders the client component of the other bundler fixtures, fixtures/vite-app/src/echo.jsx,
// which uses useWebSocket), then
// - `next build` passes, logging no error or warning, and its browser chunks hold no Node-only
//   code;
// - under `next start` the server render holds the hook's initial state ("connecting") and
//   opens no socket, the server logs no error, and the page hydrates, connects and echoes;
// - under `next dev`, the same.
// Every Next process runs in its own process group, killed after each test, even on failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, launchBrowser, sleep, stats, uniqueScope, wsUrl } from '../test-support/helpers.mjs';
import { assertBrowserOnly, exchangeMessage, installFixture, packPkg } from '../test-support/packing.mjs';

let dir;
let app;
let built = false;
let browser;
const running = new Set();

// A last resort if this process exits, or is interrupted, with a Next process still up (the
// tests stop theirs). Their process groups are not the terminal's, so ^C would not reach them.
process.on('exit', () => {
  for (const p of running) killGroup(p, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rws-next-'));
  browser = await launchBrowser();
});

after(async () => {
  await Promise.all([...running].map(stop));
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function killGroup(p, signal) {
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * `next <args>` in the app, in a process group of its own: { child, output() (stdout and stderr
 * so far), stderr(), exited (a promise of the exit code) }.
 */
function next(args) {
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', FORCE_COLOR: '0', NO_COLOR: '1' };
  delete env.NODE_ENV; // next sets it: production for build/start, development for dev
  const child = spawn(process.execPath, [join(app, 'node_modules/next/dist/bin/next'), ...args], {
    cwd: app,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => ((err += d), (out += d)));
  const p = { child, output: () => out, stderr: () => err, label: `next ${args.join(' ')}` };
  p.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  running.add(p);
  p.exited.then(() => running.delete(p));
  return p;
}

/** Stops a Next process and everything it started: SIGTERM to its group, SIGKILL after 5 s. */
async function stop(p) {
  if (!running.has(p)) return;
  killGroup(p, 'SIGTERM');
  const timer = setTimeout(() => killGroup(p, 'SIGKILL'), 5000);
  await p.exited;
  clearTimeout(timer);
  killGroup(p, 'SIGKILL'); // workers left in the group
}

/** Waits until `p` prints `pattern`; throws with its output if it exits first or after `timeout` ms. */
async function waitForOutput(p, pattern, timeout) {
  const deadline = Date.now() + timeout;
  while (!pattern.test(p.output())) {
    if (!running.has(p)) throw new Error(`${p.label} exited before printing ${pattern}:\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`${p.label} did not print ${pattern} within ${timeout} ms:\n${p.output()}`);
    await sleep(100);
  }
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `next start` or `next dev` on a free port, ready to serve: { p (the process), url }. */
async function serve(command, t) {
  const port = await freePort();
  const t0 = Date.now();
  const p = next([command, '-H', '127.0.0.1', '-p', String(port)]);
  t.after(() => stop(p));
  await waitForOutput(p, /Ready in/, 60000);
  t.diagnostic(`next ${command}: ready in ${Date.now() - t0} ms`);
  return { p, url: `http://127.0.0.1:${port}` };
}

/**
 * The page's server-rendered HTML for a url of a fresh scope: it holds the hook's initial state,
 * and the server opened no socket (the server render touches no WebSocket).
 */
async function assertServerRender({ p, url }) {
  const scope = uniqueScope('next-ssr');
  const res = await fetch(`${url}/?url=${encodeURIComponent(wsUrl(scope))}&message=ssr`);
  const html = await res.text();
  assert.equal(res.status, 200, `the server render failed; ${p.label} logged:\n${p.output()}`);
  assert.match(html, /<p id="status">connecting<\/p>/, `the server render holds the initial state:\n${html}`);
  assert.equal((await stats(scope)).attempts, 0, 'the server render opened no socket');
}

// Warnings about the machine, not the app: `next dev` times a write to its cache directory and
// warns when the disk is slow (as it is on a busy 2-core machine), and `next build` on a CI
// (the CI variable set) warns that it found no build cache, as on every fresh clone.
const MACHINE_WARNING =
  /^.*(?:Slow filesystem detected|No build cache found\. Please configure build caching).*\n(?:.*See more: .*\n)?/gm;

/**
 * Nothing in a Next process's log is an error or a warning (a server render touching `window`
 * would log one), but for MACHINE_WARNING.
 */
function assertNoErrorLogged(p) {
  const output = p.output().replace(MACHINE_WARNING, '');
  assert.doesNotMatch(output, /⨯|⚠|error/i, `${p.label} logged an error or a warning:\n${p.output()}`);
  assert.equal(p.stderr().replace(MACHINE_WARNING, '').trim(), '', `${p.label} wrote to stderr:\n${p.output()}`);
}

test('npm install of the tarball into a Next.js App Router app, next build (Turbopack)', { timeout: 300000 }, async (t) => {
  const { tarball } = await packPkg(dir);
  const installed = await installFixture('next-app', tarball);
  assert.equal(installed.installed.name, 'resilient-ws');
  app = installed.dir;
  await cp(join(FIXTURES, 'vite-app/src/echo.jsx'), join(app, 'app/echo.jsx'));
  const t0 = Date.now();
  const build = next(['build']);
  t.after(() => stop(build));
  const code = await build.exited;
  assert.equal(code, 0, `next build failed:\n${build.output()}`);
  assert.match(build.output(), /Compiled successfully/, build.output());
  assertNoErrorLogged(build);
  assert.match(build.output(), /Next\.js [\d.]+ \(Turbopack\)/, `built with Turbopack:\n${build.output()}`);
  const chunks = join(app, '.next/static/chunks');
  await assertBrowserOnly(chunks);
  const media = await readdir(join(app, '.next/static/media')).catch(() => []);
  assert.equal(media.filter((f) => f.endsWith('.wasm')).length, 1, `the .wasm is a static asset: ${media.join(', ')}`);
  t.diagnostic(`${build.output().match(/Next\.js [^\n]*/)?.[0]}, resilient-ws@${installed.installed.version}: next build ${Date.now() - t0} ms`);
  built = true;
});

test('next start: the server render holds the initial state; the page hydrates, connects and echoes', async (t) => {
  assert.ok(built, 'the app was built');
  const server = await serve('start', t);
  await assertServerRender(server);
  await exchangeMessage(browser, server.url, 'next-start');
  assertNoErrorLogged(server.p);
});

test('next dev: the page renders on the server, connects and echoes', { timeout: 180000 }, async (t) => {
  assert.ok(app, 'the app was installed');
  const server = await serve('dev', t);
  await assertServerRender(server);
  await exchangeMessage(browser, server.url, 'next-dev');
  assertNoErrorLogged(server.p);
});
