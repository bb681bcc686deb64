// Packing pkg/ and installing the tarball into fixture apps, as a user would: shared by the
// installability tests (js/test/install.test.mjs, runners.test.mjs, webpack.test.mjs, next.test.mjs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES, PKG, ROOT, openPage, received, sleep, stats, uniqueScope, waitFor, wsUrl } from './helpers.mjs';

export const run = promisify(execFile);

/** Runs npm (the one running this test under `npm test`, else the one on PATH) in `cwd`. */
export function npm(args, cwd, { timeout = 240000 } = {}) {
  const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
  const script = process.env.npm_execpath;
  return script && script.endsWith('.js')
    ? run(process.execPath, [script, ...args], { cwd, timeout, env })
    : run('npm', args, { cwd, timeout, env });
}

/** `npm pack` of pkg/ into `dir`: { tarball (its path), packed (npm's JSON about it) }. */
export async function packPkg(dir) {
  const { stdout } = await npm(['pack', PKG, '--pack-destination', dir, '--json', '--loglevel=error'], dir);
  const [packed] = JSON.parse(stdout);
  return { tarball: join(dir, packed.filename), packed };
}

/** The version of a package in the workspace's own node_modules. */
export async function versionOf(name) {
  return JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
}

/** The packed package's exports map (to know which entries this build has). */
export async function pkgExports() {
  return JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8')).exports;
}

/**
 * Fixture app `name` (js/test/fixtures/<name>, with a committed package-lock.json) installed
 * with the tarball, in target/fixture-apps/<name>: its locked dependencies come from `npm ci`
 * (offline from the npm cache when it holds them), which runs again only when the lock file
 * changes (or RWS_FRESH_FIXTURES=1); its own files are copied afresh, and the tarball is
 * installed anew every time. Returns { dir, installed (resilient-ws's package.json) }.
 */
export async function installFixture(name, tarball) {
  const fixture = join(FIXTURES, name);
  const dir = join(ROOT, 'target', 'fixture-apps', name);
  const stampFile = join(dir, '.lock-sha256');
  const stamp = createHash('sha256').update(await readFile(join(fixture, 'package-lock.json'))).digest('hex');
  const quiet = ['--prefer-offline', '--loglevel=error'];
  if (process.env.RWS_FRESH_FIXTURES || (await readFile(stampFile, 'utf8').catch(() => '')) !== stamp) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) await cp(join(fixture, f), join(dir, f));
    await npm(['ci', ...quiet], dir);
    await writeFile(stampFile, stamp);
  }
  for (const entry of await readdir(dir)) {
    if (entry !== 'node_modules' && entry !== '.lock-sha256') await rm(join(dir, entry), { recursive: true, force: true });
  }
  await cp(fixture, dir, { recursive: true, filter: (src) => !src.slice(fixture.length).includes('/node_modules') });
  await rm(join(dir, 'node_modules/resilient-ws'), { recursive: true, force: true });
  await npm(['install', tarball, '--no-save', ...quiet], dir);
  const installed = JSON.parse(await readFile(join(dir, 'node_modules/resilient-ws/package.json'), 'utf8'));
  return { dir, installed };
}

/**
 * The browser bundle in `dir` holds neither the Node loader of the .wasm (node:fs) nor the
 * CommonJS build: the `#wasm_source` import and the `module`/`import` conditions kept them out.
 */
export async function assertBrowserOnly(dir) {
  for (const f of (await readdir(dir)).filter((name) => name.endsWith('.js'))) {
    const code = await readFile(join(dir, f), 'utf8');
    for (const marker of ['node:fs', 'readFile', '__rws_import_meta_url', '__toCommonJS']) {
      assert.ok(!code.includes(marker), `${f} holds ${marker}: Node-only code reached the browser bundle`);
    }
  }
}

/**
 * Opens the fixture app (fixtures/vite-app/src, however built) at `siteUrl` in
 * `browser`: it sends one message once connected and shows the echo. Checks the echo, one
 * socket even under StrictMode, and no error in the page.
 */
export async function exchangeMessage(browser, siteUrl, label) {
  const scope = uniqueScope(label);
  const message = `hello from the fixture app ${scope}`;
  const { page, errors } = await openPage(
    browser,
    `${siteUrl}/?url=${encodeURIComponent(wsUrl(scope))}&message=${encodeURIComponent(message)}`,
  );
  await page.waitForFunction((m) => document.getElementById('last')?.textContent === m, message, { timeout: 10000 });
  assert.equal(await page.textContent('#status'), 'connected');
  assert.deepEqual(await received(scope), [message], 'the server received it once');
  await sleep(200);
  const s = await stats(scope);
  assert.deepEqual([s.attempts, s.open], [1, 1], 'one socket, even under StrictMode');
  await page.close();
  await waitFor(async () => (await stats(scope)).open === 0, { what: 'socket closed with the page' });
  assert.deepEqual(errors, []);
}
