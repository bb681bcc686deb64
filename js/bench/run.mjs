// Browser benchmarks: resilient-ws `Connection` vs the raw browser `WebSocket`, side by side in
// one headless Chromium, against the repo's ws-test-server. Run from anywhere:
//
//   node js/bench/run.mjs            (scripts/bench.sh, i.e. `make bench`, calls it)
//
// Self-contained: builds and starts ws-test-server, serves pkg/ and js/bench/page.mjs over
// node:http, drives Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, and
// stops all of it on exit, also on error, a signal or the watchdog. Raw and SDK runs alternate
// (the order rotates every round) and medians are reported: the machines are shared and noisy,
// so the ratios are what matter. Env: BENCH_ROUNDS (default 5): the most rounds per section;
// past 3, a section stops early rather than overrun its time budget (~2 min in all).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import os from 'node:os';
import { launchBrowser } from '../test-support/chromium.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BENCH_DIR = join(ROOT, 'js/bench');
const PKG = join(ROOT, 'pkg');

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
// After MIN_ROUNDS rounds, a section stops when one more would overrun its budget.
const MIN_ROUNDS = Math.min(3, ROUNDS);
const CFG = {
  echo: { n: 20000, size: 32, rounds: ROUNDS, budgetMs: 25000 },
  recv: { n: 50000, rounds: ROUNDS, budgetMs: 30000 },
  bin: { n: 2000, size: 16 * 1024, rounds: ROUNDS, budgetMs: 25000 },
  binHwm: 1 << 20, // an extra SDK run with a 1 MiB highWaterMark, to show what pacing costs
  cycles: { first: 10, mid: 250, total: 500 },
};
const WATCHDOG_MS = 240_000;


const log = (...a) => console.error('[bench]', ...a);

// ---- cleanup: every resource registers how to stop it ------------------------------------------

const cleanups = [];
let cleaningUp = null;
function cleanup() {
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

async function startTestServer() {
  const build = spawnSync('cargo', ['build', '-q', '--release', '-p', 'ws-test-server'], {
    cwd: ROOT,
    env: cargoEnv(),
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0) throw new Error(`cargo build -p ws-test-server failed (status ${build.status})`);
  const bin = join(targetDir(), 'release/ws-test-server');
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

async function control(base, path) {
  const res = await fetch(base + path);
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

// ---- static server: the page, pkg/ and js/bench/ ----------------------------------------------

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
};

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>resilient-ws bench</title></head>
<body><script type="module" src="/bench/page.mjs"></script></body></html>`;

async function startStaticServer() {
  const mounts = [
    ['/pkg/', PKG],
    ['/bench/', BENCH_DIR],
  ];
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (path === '/' || path === '/index.html') {
        res.writeHead(200, { 'content-type': MIME['.html'], 'cache-control': 'no-store' });
        return res.end(PAGE);
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

// ---- statistics and formatting ----------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** ± half the range, relative to the median. */
const spread = (xs) => (xs.length < 2 ? 0 : (Math.max(...xs) - Math.min(...xs)) / 2 / median(xs));

const fmtInt = (x) => Math.round(x).toLocaleString('en-US');
const fmtRate = (xs, unit, digits = 0) => {
  const v = median(xs);
  const s = digits ? v.toFixed(digits) : fmtInt(v);
  const sp = spread(xs);
  return `${s} ${unit}${xs.length > 1 ? ` (±${Math.round(sp * 100)}%)` : ''}`;
};
const fmtRatio = (sdk, raw) => `${(median(sdk) / median(raw)).toFixed(2)}×`;
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
const signedKib = (bytes) => `${bytes >= 0 ? '+' : '−'}${(Math.abs(bytes) / 1024).toFixed(0)} KiB`;

// ---- the run ----------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const watchdog = setTimeout(async () => {
    log(`watchdog: still running after ${WATCHDOG_MS / 1000} s, giving up`);
    await cleanup();
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  if (!existsSync(join(PKG, 'resilient_ws_bg.wasm'))) {
    throw new Error('pkg/ is not built: run `make pkg` (bash js/build-pkg.sh) first');
  }

  log('building and starting ws-test-server');
  const srv = await startTestServer();
  const origin = await startStaticServer();
  log(`ws-test-server pid ${srv.pid}: ${srv.ws} control ${srv.control}; page ${origin}`);

  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  await page.goto(origin + '/');
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 20000 });
  const cdp = await page.context().newCDPSession(page);
  const gc = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
  };
  const heapUsed = async () => {
    await gc();
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };

  const tag = `${Date.now().toString(36)}-${process.pid}`;
  let scopeSeq = 0;
  const newScope = (what) => `bench-${what}-${tag}-${scopeSeq++}`;
  const call = (fn, ...args) => page.evaluate(([fn, args]) => window.B[fn](...args), [fn, args]);
  const wsUrl = (scope) => `${srv.ws}/${scope}`;
  const section = (name) => {
    const t = Date.now();
    return () => log(`${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };

  /**
   * One discarded warm-up round, then up to `rounds` rounds of every variant in `runs`
   * ({ kind: (scope, warm) => { value, ... } }), the order rotating every round. After
   * MIN_ROUNDS rounds, stops when one more round would overrun `budgetMs` (a loaded machine),
   * so the whole run stays around two minutes.
   */
  async function sideBySide(name, rounds, budgetMs, runs) {
    const kinds = Object.keys(runs);
    const out = Object.fromEntries(kinds.map((k) => [k, { values: [], infos: [] }]));
    let t0 = Date.now();
    for (let r = -1; r < rounds; r++) {
      if (r === 0) t0 = Date.now();
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[(i + Math.max(r, 0)) % kinds.length];
        await gc();
        const scope = newScope(`${name}-${kind}`);
        const res = await runs[kind](scope, r < 0);
        await control(srv.control, `/reset?scope=${encodeURIComponent(scope)}`);
        if (r < 0) continue;
        out[kind].values.push(res.value);
        out[kind].infos.push(res);
      }
      const spent = Date.now() - t0;
      if (r >= 0 && r + 1 >= MIN_ROUNDS && spent + spent / (r + 1) > budgetMs) break;
    }
    log(`${name}: ${kinds.map((k) => `${k} ${out[k].values.map((v) => v.toPrecision(3)).join(' ')}`).join(' | ')}`);
    return out;
  }

  // 4 first, while the wasm memory has not yet been grown by the binary test's outbox.
  const { first, mid, total } = CFG.cycles;
  let done = section('memory');
  log(`4. memory: heap after ${first} vs ${total} connect/drop cycles (every 5th a server /drop)`);
  const rawScope = newScope('cycles-raw');
  await call('rawCycles', wsUrl(rawScope), srv.control, rawScope, first);
  const rawHeap1 = await heapUsed();
  const rawA = await call('rawCycles', wsUrl(rawScope), srv.control, rawScope, mid - first);
  const rawHeapMid = await heapUsed();
  const rawB = await call('rawCycles', wsUrl(rawScope), srv.control, rawScope, total - mid);
  const rawHeap2 = await heapUsed();
  const rawC = { ms: rawA.ms + rawB.ms };

  const sdkScope = newScope('cycles-sdk');
  const liveIdle = await call('liveHandles');
  const wasmIdle = await call('wasmBytes');
  const setup = await call('memSetup', wsUrl(sdkScope));
  const c1 = await call('sdkCycles', srv.control, sdkScope, first - 1); // the first open counts as one
  const sdkHeap1 = await heapUsed();
  const cMid = await call('sdkCycles', srv.control, sdkScope, mid - first);
  const sdkHeapMid = await heapUsed();
  const c2 = await call('sdkCycles', srv.control, sdkScope, total - mid);
  c2.ms += cMid.ms;
  const sdkHeap2 = await heapUsed();
  const teardown = await call('memTeardown');
  const sdkStats = await control(srv.control, `/stats?scope=${encodeURIComponent(sdkScope)}`);
  log(
    `cycles: raw ${fmtInt(rawC.ms)} ms, SDK ${fmtInt(c2.ms)} ms for ${total - first}; SDK opens ${c2.opens}, server opened ${sdkStats.opened}, status ${c2.status}`,
  );
  if (sdkStats.opened !== total) throw new Error(`the server saw ${sdkStats.opened} SDK connections, expected ${total}`);
  done();

  const { echo, recv, bin } = CFG;
  done = section('echo');
  log(`1. echo: ${echo.n} × ${echo.size} B text, up to ${echo.rounds} rounds`);
  const echoRun = (fn) => async (scope, warm) => {
    const n = warm ? 2000 : echo.n;
    const r = await call(fn, wsUrl(scope), n, echo.size);
    return { ...r, value: n / (r.ms / 1000) };
  };
  const echoR = await sideBySide('echo', echo.rounds, echo.budgetMs, { raw: echoRun('echoRaw'), sdk: echoRun('echoSdk') });
  done();

  done = section('receive');
  log(`2. receive: /burst?n=${recv.n}, up to ${recv.rounds} rounds`);
  const recvRun = (fn) => async (scope, warm) => {
    const n = warm ? 5000 : recv.n;
    const r = await call(fn, wsUrl(scope), srv.control, scope, n);
    return { ...r, value: n / (r.ms / 1000) };
  };
  const recvR = await sideBySide('receive', recv.rounds, recv.budgetMs, { raw: recvRun('recvRaw'), sdk: recvRun('recvSdk') });
  done();

  done = section('binary');
  log(`3. binary echo: ${bin.n} × ${bin.size / 1024} KiB, up to ${bin.rounds} rounds (+ SDK with highWaterMark ${kib(CFG.binHwm)})`);
  const binRun = (fn, ...extra) => async (scope, warm) => {
    const n = warm ? 200 : bin.n;
    const r = await call(fn, wsUrl(scope), n, bin.size, ...extra);
    return { ...r, value: (n * bin.size) / 1e6 / (r.ms / 1000) };
  };
  const binR = await sideBySide('binary', bin.rounds, bin.budgetMs, {
    raw: binRun('binRaw'),
    sdk: binRun('binSdk'),
    sdkHwm: binRun('binSdk', CFG.binHwm),
  });
  const wasmAfterBinary = await call('wasmBytes');
  done();

  // ---- report ----
  const v = (r, k) => r[k].values;
  const info = (r, k, f) => median(r[k].infos.map(f));
  const rows = [];
  const row = (...cells) => rows.push(`| ${cells.join(' | ')} |`);
  row('metric', 'raw WebSocket', 'resilient-ws', 'ratio (SDK/raw)');
  row('---', '---:', '---:', '---:');
  row(
    `1. echo ${fmtInt(echo.n)} × ${echo.size} B text, msgs/s (n=${v(echoR, 'raw').length})`,
    fmtRate(v(echoR, 'raw'), '/s'),
    fmtRate(v(echoR, 'sdk'), '/s'),
    fmtRatio(v(echoR, 'sdk'), v(echoR, 'raw')),
  );
  row(
    `2. receive /burst ${fmtInt(recv.n)}, msgs/s (n=${v(recvR, 'raw').length})`,
    fmtRate(v(recvR, 'raw'), '/s'),
    fmtRate(v(recvR, 'sdk'), '/s'),
    fmtRatio(v(recvR, 'sdk'), v(recvR, 'raw')),
  );
  row(
    `3. binary echo ${fmtInt(bin.n)} × 16 KiB, MB/s (n=${v(binR, 'raw').length}), SDK default highWaterMark 64 KiB`,
    fmtRate(v(binR, 'raw'), 'MB/s', 1),
    fmtRate(v(binR, 'sdk'), 'MB/s', 1),
    fmtRatio(v(binR, 'sdk'), v(binR, 'raw')),
  );
  row(
    `3b. same, SDK outbox.highWaterMark ${kib(CFG.binHwm)}`,
    fmtRate(v(binR, 'raw'), 'MB/s', 1),
    fmtRate(v(binR, 'sdkHwm'), 'MB/s', 1),
    fmtRatio(v(binR, 'sdkHwm'), v(binR, 'raw')),
  );
  row(
    '3c. state right after the binary send loop',
    `bufferedAmount ${(info(binR, 'raw', (i) => i.peakBuffered) / 1e6).toFixed(1)} MB`,
    `${fmtInt(info(binR, 'sdk', (i) => i.sent))} sent, ${fmtInt(info(binR, 'sdk', (i) => i.peakQueued))} queued in the outbox`,
    '—',
  );
  row(`4. JS heap growth, after ${first} → ${total} connect/drop cycles`, signedKib(rawHeap2 - rawHeap1), signedKib(sdkHeap2 - sdkHeap1), '—');
  row(
    `4b. JS heap used after ${first} / ${mid} / ${total} cycles`,
    [rawHeap1, rawHeapMid, rawHeap2].map(kib).join(' / '),
    [sdkHeap1, sdkHeapMid, sdkHeap2].map(kib).join(' / '),
    '—',
  );
  row(
    `4c. wasm memory: idle / open / ${first} / ${mid} / ${total} cycles / freed`,
    'n/a',
    [wasmIdle, setup.wasmBytes, c1.wasmBytes, cMid.wasmBytes, c2.wasmBytes, teardown.wasmBytes].map(kib).join(' / '),
    '—',
  );
  row(
    `4d. __liveHandles(): idle / open / ${first} / ${mid} / ${total} cycles / freed`,
    'n/a',
    `${liveIdle} / ${setup.liveOpen} / ${c1.live} / ${cMid.live} / ${c2.live} / ${teardown.liveAfterFree}`,
    '—',
  );
  row(`4e. time for ${total - first} cycles, ms`, fmtInt(rawC.ms), fmtInt(c2.ms), `${(c2.ms / rawC.ms).toFixed(2)}×`);

  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const lines = [
    ...rows,
    '',
    `Medians (n rounds, raw and SDK alternating, order rotating, after a discarded warm-up round); ±: half the range relative to the median. ` +
      `Ratio > 1: the SDK is faster (1–3) or slower (4e).`,
    `SDK setup: reconnect off; outbox raised so a whole send loop fits (with the defaults, 1,000 messages / 1 MiB, overflow "error" would throw). ` +
      `In the echo loop ${fmtInt(info(echoR, 'sdk', (i) => i.sent))} of ${fmtInt(echo.n)} sends went straight to the socket and the rest waited in the outbox, ` +
      `drained while bufferedAmount < highWaterMark, with readings polled every 4–64 ms (adaptive). ` +
      `Cycles (4): every 5th one a server /drop (the SDK retries after its backoff, 5–20 ms here), the others close()+new WebSocket (raw) or reconnect() (SDK). ` +
      `JS heap: CDP Runtime.getHeapUsage usedSize after two HeapProfiler.collectGarbage. ` +
      `wasm memory after the binary tests: ${kib(wasmAfterBinary)} (linear memory never shrinks; queued binary messages live in it).`,
    `Machine: ${os.availableParallelism?.() ?? os.cpus().length} CPUs (nproc), ${cpu}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (shared); ${new Date().toISOString()}; Chromium ${browser.version()}, Node ${process.version}; total ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ];
  if (problems.length) lines.push(`Page errors (${problems.length}): ${problems.slice(0, 5).join('; ')}`);
  console.log(lines.join('\n'));
  clearTimeout(watchdog);
  if (problems.some((p) => p.startsWith('pageerror'))) throw new Error('the page threw');
}

try {
  await main();
  await cleanup();
  process.exit(0);
} catch (e) {
  if (!interrupted) log('failed:', e?.stack ?? e);
  await cleanup();
  process.exit(1);
}
