// Shared by the hook and compat tests: a fixture app bundled by Vite from the built package
// (pkg/) and served over HTTP, the server's open-socket count, and a TypeScript consumer
// directory resolving `resilient-ws` to pkg/.
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'vite';
import { after, before } from 'node:test';
import { FIXTURES, PKG, ROOT, launchBrowser, serveDir, stats, waitFor } from './helpers.mjs';

/**
 * Builds fixtures/<name> with Vite, `aliases` (import specifier → file in pkg/) resolved to
 * the built package, and serves it. Returns { url, close }.
 */
export async function serveFixtureApp(name, aliases) {
  const outDir = await mkdtemp(join(tmpdir(), `rws-${name}-`));
  await build({
    root: join(FIXTURES, name),
    configFile: false,
    logLevel: 'warn',
    esbuild: { jsx: 'automatic' },
    resolve: {
      alias: Object.entries(aliases).map(([specifier, file]) => ({
        find: new RegExp(`^${specifier.replace(/[/.]/g, '\\$&')}$`),
        replacement: resolve(PKG, file),
      })),
    },
    // assetsInlineLimit 0: the .wasm is always its own file, as it is in real apps (it is far over 4 kB).
    build: { outDir, emptyOutDir: true, minify: false, assetsInlineLimit: 0 },
  });
  const site = await serveDir(outDir);
  return {
    url: site.url,
    close: async () => {
      await site.close();
      await rm(outDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the server's open-socket count for `scope` is `open`, and returns its stats. */
export function waitOpen(scope, open, timeout = 5000) {
  return waitFor(async () => {
    const s = await stats(scope);
    return s.open === open ? s : false;
  }, { timeout, what: `${open} open socket(s) in ${scope}` });
}

/**
 * Copies fixtures/<name> to a temporary consumer directory where `resilient-ws` is pkg/ and
 * `react` (with its types) the repository's. Returns { dir, tsc(...args), remove() };
 * tsc resolves to { code, output } whatever the exit code.
 */
export async function tsConsumer(name) {
  const dir = await mkdtemp(join(tmpdir(), `rws-${name}-`));
  await cp(join(FIXTURES, name), dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await mkdir(join(dir, 'node_modules/@types'), { recursive: true });
  await symlink(PKG, join(dir, 'node_modules/resilient-ws'), 'dir');
  await symlink(join(ROOT, 'node_modules/react'), join(dir, 'node_modules/react'), 'dir');
  await symlink(join(ROOT, 'node_modules/@types/react'), join(dir, 'node_modules/@types/react'), 'dir');
  const tsc = async (...args) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), ...args], { cwd: dir, timeout: 60000 });
      return { code: 0, output: stdout + stderr };
    } catch (e) {
      if (typeof e.code !== 'number') throw e;
      return { code: e.code, output: (e.stdout ?? '') + (e.stderr ?? '') };
    }
  };
  return { dir, tsc, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * For a test file whose pages load a fixture app: registers before/after hooks that build and
 * serve fixtures/<name> (as serveFixtureApp) and launch Chromium, and returns
 * `{ browser, site }`, filled in before the tests run.
 */
export function servedFixtureApp(name, aliases) {
  const env = { browser: null, site: null };
  before(async () => {
    env.site = await serveFixtureApp(name, aliases);
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.site?.close();
  });
  return env;
}
