// Installability with webpack 5: `npm pack` pkg/, install the tarball into a plain React app
// built with webpack (fixtures/webpack-app: babel-loader for JSX, default asset handling,
// nothing added for resilient-ws, committed lock file), build the same app source as the Vite
// fixture (fixtures/vite-app/src), serve it, and exchange a message with the test
// server in headless Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, launchBrowser, serveDir } from '../test-support/helpers.mjs';
import { assertBrowserOnly, exchangeMessage, installFixture, packPkg, run } from '../test-support/packing.mjs';

let dir;
let app;
let browser;
let site;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rws-webpack-'));
});

after(async () => {
  await browser?.close();
  await site?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('npm install of the tarball into a webpack 5 + React app, webpack --mode production', async (t) => {
  const { tarball } = await packPkg(dir);
  const { dir: target, installed } = await installFixture('webpack-app', tarball);
  assert.equal(installed.name, 'resilient-ws');
  await cp(join(FIXTURES, 'vite-app/src'), join(target, 'src'), { recursive: true });
  const { stdout } = await run(process.execPath, [join(target, 'node_modules/webpack-cli/bin/cli.js'), '--mode', 'production'], {
    cwd: target,
    timeout: 180000,
  });
  assert.match(stdout, /compiled successfully/, stdout);
  const out = join(target, 'dist');
  const files = await readdir(out);
  assert.equal(files.filter((f) => f.endsWith('.wasm')).length, 1, `webpack emitted the .wasm as an asset with no plugin: ${files.join(', ')}`);
  await assertBrowserOnly(out);
  await cp(join(target, 'index.html'), join(out, 'index.html'));
  t.diagnostic(`webpack ${installed.name}@${installed.version}: dist: ${files.join(', ')}`);
  app = out;
});

test('the webpack build connects in Chromium and exchanges a message with the test server', async () => {
  assert.ok(app, 'the app was built');
  site = await serveDir(app);
  browser = await launchBrowser();
  await exchangeMessage(browser, site.url, 'webpack');
});
