// Shared by the browser benchmarks (run.mjs: raw vs the SDK before/after; peers.mjs: the SDK vs
// the libraries users would pick instead): cleanup on exit, ws-test-server, the static server
// for the pages, package size as a bundler ships it, medians and formatting.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { gzipSync, constants as zlib } from 'node:zlib';
import os from 'node:os';
import * as esbuild from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const log = (...a) => console.error('[bench]', ...a);

// ---- cleanup: every resource registers how to stop it ------------------------------------------

export const cleanups = [];
let cleaningUp = null;
export function cleanup() {
  cleaningUp ??= (async () => {
    for (const f of cleanups.splice(0).reverse()) {
      try {
        await f();
      } catch (e) {
        log('cleanup:', e?.message ?? e);
      }
    }
  })();
  return cleaningUp;
}
let serverProcess = null;
// Last resort (process.exit from anywhere): the child gets SIGTERM synchronously.
process.on('exit', () => {
  if (serverProcess && serverProcess.exitCode === null) serverProcess.kill('SIGTERM');
});
let interrupted = false;
/** True once a signal started the cleanup (the run's own error message is then noise). */
export const wasInterrupted = () => interrupted;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => {
    interrupted = true;
    log(`${sig}: cleaning up`);
    await cleanup();
    process.exit(130);
  });
}

// ---- ws-test-server ----------------------------------------------------------------------------

function cargoEnv() {
  const path = [join(os.homedir(), '.cargo/bin'), process.env.PATH].join(':');
  return { ...process.env, PATH: path };
}

function targetDir() {
  const r = spawnSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
    cwd: ROOT,
    env: cargoEnv(),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status === 0) {
    try {
      return JSON.parse(r.stdout).target_directory;
    } catch {
      /* fall through */
    }
  }
  return resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
}

export async function startTestServer() {
  const build = spawnSync('cargo', ['build', '-q', '--profile', 'server', '-p', 'ws-test-server'], {
    cwd: ROOT,
    env: cargoEnv(),
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0) throw new Error(`cargo build -p ws-test-server failed (status ${build.status})`);
  const bin = join(targetDir(), 'server/ws-test-server');
  if (!existsSync(bin)) throw new Error(`${bin} not found after the build`);

  const child = spawn(bin, [], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  serverProcess = child;
  const stderrTail = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderrTail.push(d);
    if (stderrTail.length > 50) stderrTail.shift();
  });
  cleanups.push(
    () =>
      new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
        child.kill('SIGTERM');
      }),
  );
  const line = await new Promise((res, rej) => {
    const rl = createInterface({ input: child.stdout });
    const t = setTimeout(() => rej(new Error('ws-test-server printed nothing within 15 s')), 15000);
    rl.once('line', (l) => {
      clearTimeout(t);
      res(l);
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`ws-test-server exited (${code}): ${stderrTail.join('').slice(-2000)}`));
    });
  });
  child.stdout.resume();
  const m = /ws=(\S+)\s+control=(\S+)/.exec(line);
  if (!m) throw new Error(`unexpected first line from ws-test-server: ${line}`);
  return { ws: m[1].replace(/\/$/, ''), control: m[2].replace(/\/$/, ''), pid: child.pid };
}

export async function control(base, path) {
  // A connection-level failure (e.g. a reset keep-alive socket) is retried; the last one says why.
  let res;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(base + path);
      break;
    } catch (e) {
      const why = `${e.message}${e.cause ? ` (${e.cause.code ?? ''} ${e.cause.message ?? e.cause})` : ''}`;
      const server = serverProcess && serverProcess.exitCode !== null ? `; ws-test-server exited (${serverProcess.exitCode})` : '';
      if (attempt >= 3 || server) throw new Error(`control ${path}: ${why}${server}`);
      log(`control ${path}: ${why}; retrying`);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

// ---- static server: the page, the packages and js/bench/ --------------------------------------

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
};

/** The bench page: loads `script` as a module. */
export const pageHtml = (script) => `<!doctype html>
<html><head><meta charset="utf-8"><title>resilient-ws bench</title></head>
<body><script type="module" src="${script}"></script></body></html>`;

// Cross-origin isolation: Chromium's performance.now() then steps by 5 µs instead of 100 µs,
// which the round-trip row needs. Every resource is same-origin; the control server's fetches
// are CORS requests, which require-corp allows; WebSockets are not subject to it.
export const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** Serves `page` at / and each [prefix, dir] of `mounts`; resolves to its origin. */
export async function startStaticServer(mounts, page) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (path === '/' || path === '/index.html') {
        res.writeHead(200, { 'content-type': MIME['.html'], 'cache-control': 'no-store', ...ISOLATION });
        return res.end(page);
      }
      if (path === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
      }
      const mount = mounts.find(([prefix]) => path.startsWith(prefix));
      if (!mount) throw new Error('no mount');
      const [prefix, dir] = mount;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir + '/')) throw new Error('outside root');
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
        ...ISOLATION,
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((r, j) => {
    server.once('error', j);
    server.listen(0, '127.0.0.1', r);
  });
  cleanups.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${server.address().port}`;
}

// ---- package size: what a bundler ships -------------------------------------------------------

/** `gzip -9`'s output size (zlib's level 9 differs from it by about 1% on the wasm); zlib without gzip. */
export function gzip9(buf) {
  const r = spawnSync('gzip', ['-9c'], { input: buf, maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout.length : gzipSync(buf, { level: zlib.Z_BEST_COMPRESSION }).length;
}

/**
 * The package's JS as an app would ship it: every .js file reachable from the two entry points
 * (index.js, react.js) through relative static or dynamic imports and re-exports ('react' and
 * other bare specifiers are the app's), each minified with esbuild's transform API and
 * gzipped with `gzip -9`, plus resilient_ws_bg.wasm gzipped with `gzip -9`. The imports are read
 * from the minified code (no comments left, one spelling), so a package whose modules do not
 * link is still measured.
 *
 * `total` is all of it. A file reached only through a dynamic `import()` (tabs.js: loaded when
 * a Connection asks for tabs "shared") is `lazy`: `eager` is what an app that never uses those
 * loads (total minus `lazyGz`).
 */
export async function packageSize(dir) {
  const gz = gzip9;
  const files = [];
  const entries = ['index.js', 'react.js'].filter((f) => existsSync(join(dir, f)));
  /** file -> its relative imports, static and dynamic. */
  const graph = new Map();
  await reachable(entries, async (rel) => {
    const abs = join(dir, rel);
    if (!existsSync(abs)) throw new Error(`${dir}: ${rel} is imported but missing`);
    const source = readFileSync(abs, 'utf8');
    const { code } = await esbuild.transform(source, { minify: true, loader: 'js', format: 'esm', legalComments: 'none' });
    files.push({ file: rel, raw: Buffer.byteLength(source), min: Buffer.byteLength(code), gz: gz(code) });
    const edges = { static: [], dynamic: [] };
    for (const m of code.matchAll(/(\bfrom|\bimport)\s*(\(?)\s*(["'`])(\.{1,2}\/[^"'`]+)\3/g)) {
      const target = relative(dir, resolve(dirname(abs), m[4]));
      if (!target.startsWith('..') && /\.m?js$/.test(target)) edges[m[1] === 'import' && m[2] === '(' ? 'dynamic' : 'static'].push(target);
    }
    graph.set(rel, edges);
    return [...edges.static, ...edges.dynamic];
  });
  // Eager: reachable from the entries through static imports alone.
  const eager = await reachable(entries, (rel) => graph.get(rel).static);
  for (const f of files) f.lazy = !eager.has(f.file);
  files.sort((x, y) => x.file.localeCompare(y.file));
  const wasm = readFileSync(join(dir, 'resilient_ws_bg.wasm'));
  files.push({ file: 'resilient_ws_bg.wasm', raw: wasm.length, min: wasm.length, gz: gz(wasm), lazy: false });
  const sum = (fs, k) => fs.reduce((acc, f) => acc + f[k], 0);
  const js = files.filter((f) => f.file.endsWith('js'));
  const lazy = files.filter((f) => f.lazy);
  const total = sum(files, 'gz');
  return {
    files,
    total,
    eager: total - sum(lazy, 'gz'),
    lazyGz: sum(lazy, 'gz'),
    lazyFiles: lazy.map((f) => f.file),
    jsGz: sum(js, 'gz'),
    jsMin: sum(js, 'min'),
    jsFiles: js.length,
    wasmGz: gz(wasm),
    wasmRaw: wasm.length,
  };
}

/** Every node reachable from `starts` through `next(node)` (sync or async), each visited once, breadth first. */
async function reachable(starts, next) {
  const seen = new Set();
  const queue = [...starts];
  while (queue.length) {
    const node = queue.shift();
    if (seen.has(node)) continue;
    seen.add(node);
    queue.push(...(await next(node)));
  }
  return seen;
}

// ---- statistics and formatting ----------------------------------------------------------------

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** ± half the range, relative to the median. */
export const spread = (xs) => (xs.length < 2 ? 0 : (Math.max(...xs) - Math.min(...xs)) / 2 / median(xs));

export const fmtInt = (x) => Math.round(x).toLocaleString('en-US');
export const fmtRate = (xs, unit, digits = 0) => {
  const v = median(xs);
  const s = digits ? v.toFixed(digits) : fmtInt(v);
  const sp = spread(xs);
  return `${s} ${unit}${xs.length > 1 ? ` (±${Math.round(sp * 100)}%)` : ''}`;
};
export const kib = (bytes) => `${fmtInt(bytes / 1024)} KiB`;
export const times = (x, digits = 2) => `${x.toFixed(digits)}×`;

/** Gives up (cleanup, exit 1) if the run is still going after `ms`; returns the timer. */
export function startWatchdog(ms) {
  const t = setTimeout(async () => {
    log(`watchdog: still running after ${ms / 1000} s, giving up`);
    await cleanup();
    process.exit(1);
  }, ms);
  t.unref();
  return t;
}

/** gc(): two forced collections; heapUsed(): the page's JS heap after them (CDP). */
export async function heapTools(page) {
  const cdp = await page.context().newCDPSession(page);
  const gc = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
  };
  const heapUsed = async () => {
    await gc();
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  return { gc, heapUsed };
}
