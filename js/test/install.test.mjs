// Installability: `npm pack` pkg/, install the tarball into a fresh Vite + React app
// (fixtures/vite-app, no plugins), build it with Vite, load it in headless Chromium and
// exchange a message with the test server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FIXTURES, PKG, launchBrowser, openPage, received, serveDir, uniqueScope, wsUrl } from '../test-support/helpers.mjs';
import { assertBrowserOnly, exchangeMessage, npm, packPkg, run, versionOf } from '../test-support/packing.mjs';

let dir;
let tarball;
let packed;
let app;
let browser;
let site;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rws-install-'));
  ({ tarball, packed } = await packPkg(dir));
});

after(async () => {
  await browser?.close();
  await site?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the tarball holds every file the exports map names, and nothing else', async (t) => {
  const files = packed.files.map((f) => f.path).sort();
  t.diagnostic(`${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${files.length} files`);
  const manifest = JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'resilient-ws');
  assert.equal(manifest.type, 'module');
  assert.deepEqual(manifest.sideEffects, ['./wasm_source_node.js', './wasm_source_node.cjs'], 'only the Node loader has an import-time effect');
  assert.equal(manifest.peerDependencies.react, '>=18');
  assert.equal(manifest.peerDependenciesMeta.react.optional, true);
  const leaves = (e) => (typeof e === 'string' ? [e] : Object.values(e).flatMap(leaves));
  const targets = leaves(manifest.exports);
  for (const target of new Set(targets)) assert.ok(files.includes(target.replace(/^\.\//, '')), `${target} is packed`);
  for (const f of ['resilient_ws.js', 'resilient_ws.d.ts', 'resilient_ws_bg.wasm', 'README.md']) assert.ok(files.includes(f), `${f} is packed`);
  assert.deepEqual(files.filter((f) => !/^(README\.md|LICENSE.*|package\.json|[a-z_]+(\.node)?\.(c?js|d\.c?ts|wasm)|snippets\/.*)$/.test(f)), [], 'no stray files');
});

/** Copies the fixture app to `name`, installs the tarball and `react` there, builds it with Vite. */
async function installAndBuild(t, name, react) {
  const target = join(dir, name);
  await cp(join(FIXTURES, 'vite-app'), target, { recursive: true });
  const manifest = JSON.parse(await readFile(join(target, 'package.json'), 'utf8'));
  manifest.dependencies = { react, 'react-dom': react };
  manifest.devDependencies = { vite: await versionOf('vite') };
  await writeFile(join(target, 'package.json'), JSON.stringify(manifest, null, 2));
  await npm(['install', tarball, '--prefer-offline', '--loglevel=error'], target);
  const installed = JSON.parse(await readFile(join(target, 'node_modules/resilient-ws/package.json'), 'utf8'));
  assert.equal(installed.name, 'resilient-ws');
  assert.match(JSON.parse(await readFile(join(target, 'package.json'), 'utf8')).dependencies['resilient-ws'], /^file:.*\.tgz$/);
  const reactInstalled = JSON.parse(await readFile(join(target, 'node_modules/react/package.json'), 'utf8')).version;
  assert.equal(reactInstalled, react);

  await run(process.execPath, [join(target, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: target, timeout: 120000 });
  const assets = await readdir(join(target, 'dist/assets'));
  const wasm = assets.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1, `Vite emitted the .wasm as an asset with no plugin: ${assets.join(', ')}`);
  await assertBrowserOnly(join(target, 'dist/assets'));
  t.diagnostic(`react ${react}, dist/assets: ${assets.join(', ')}`);
  return target;
}

test('npm install of the tarball into a fresh Vite + React 19 app, vite build', async (t) => {
  app = await installAndBuild(t, 'app', await versionOf('react'));
});

test('the built app connects in Chromium and exchanges a message with the test server', async () => {
  assert.ok(app, 'the app was built');
  site = await serveDir(join(app, 'dist'));
  browser ??= await launchBrowser();
  await exchangeMessage(browser, site.url, 'install');
});

test('the same app on React 18 (the oldest supported peer) builds and exchanges a message', async (t) => {
  const app18 = await installAndBuild(t, 'app-react18', '18.3.1');
  const site18 = await serveDir(join(app18, 'dist'));
  try {
    browser ??= await launchBrowser();
    await exchangeMessage(browser, site18.url, 'install-react18');
  } finally {
    await site18.close();
  }
});

test('the same app works on the Vite dev server, whose dependency pre-bundling moves the glue away from its .wasm', async () => {
  assert.ok(app && browser, 'the app was built');
  const { createServer } = await import(pathToFileURL(join(app, 'node_modules/vite/dist/node/index.js')).href);
  const server = await createServer({ root: app, logLevel: 'warn', server: { host: '127.0.0.1', port: 0 } });
  try {
    await server.listen();
    const scope = uniqueScope('install-dev');
    const message = `hello from the dev server ${scope}`;
    const { page, errors, requests } = await openPage(
      browser,
      `${server.resolvedUrls.local[0]}?url=${encodeURIComponent(wsUrl(scope))}&message=${encodeURIComponent(message)}`,
    );
    // The first visit may reload once, when Vite finishes optimizing the dependencies it found.
    await page.waitForFunction((m) => document.getElementById('last')?.textContent === m, message, { timeout: 20000 });
    assert.ok(requests.some((u) => u.includes('/.vite/deps/')), 'the package was pre-bundled');
    assert.ok(await received(scope).then((r) => r.includes(message)));
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await server.close();
  }
});
