// The peers bench: resilient-ws against the libraries users would pick instead
// (reconnecting-websocket, partysocket, react-use-websocket from a React page, socket.io-client
// with its own server) and the raw WebSocket, side by side in one headless Chromium, against the
// same local servers. Writes bench/results.md, bench/results.json and the SVG charts in bench/.
//
//   node js/bench/peers.mjs [--pkg <resilient-ws pkg dir>] [--quick] [--out <dir>]
//
// --quick: throughput, round trips and size only (make bench-quick). The peers come from
// js/bench/node_modules (js/bench/package.json, npm ci there; scripts/bench.sh installs them).
// Env: BENCH_SECTIONS=echo,rtt,flush,faults,reconnect,memory,storm (only those; size always),
// BENCH_ROUNDS (default 5), BENCH_FAULT_ROUNDS (default 1), BENCH_FLUSH_ROUNDS (default 1).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import * as esbuild from 'esbuild';
import { launchBrowser } from '../test-support/chromium.mjs';
import {
  ROOT, cleanup, cleanups, control, fmtInt, gzip9, log, median, packageSize, pageHtml, startStaticServer,
  startTestServer, startWatchdog, heapTools, wasInterrupted,
} from './common.mjs';
import { startProxy, startSocketIoServer } from './servers.mjs';
import { writeCharts } from './charts.mjs';

const BENCH_DIR = join(ROOT, 'js/bench');
const { values: opts } = parseArgs({
  options: {
    pkg: { type: 'string', default: join(ROOT, 'pkg') },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench') },
  },
});
const QUICK = opts.quick;
const PKG = resolve(opts.pkg);
const OUT = resolve(opts.out);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
const FAULT_ROUNDS = Math.max(1, Number(process.env.BENCH_FAULT_ROUNDS) || 1);
const FLUSH_ROUNDS = Math.max(1, Number(process.env.BENCH_FLUSH_ROUNDS) || 1);
const CFG = {
  echo: QUICK
    ? [
        { name: '64 B text', type: 'text', size: 64, n: 2000 },
        { name: '4 KiB text', type: 'text', size: 4096, n: 500 },
        { name: '4 KiB binary', type: 'binary', size: 4096, n: 500 },
      ]
    : [
        { name: '64 B text', type: 'text', size: 64, n: 6000 },
        { name: '4 KiB text', type: 'text', size: 4096, n: 1500 },
        { name: '4 KiB binary', type: 'binary', size: 4096, n: 1500 },
      ],
  rtt: { n: QUICK ? 600 : 1500, size: 64, block: 50 },
  flush: { n: 100000, size: 64 },
  fault: { everyMs: 10, ms: 20000, at: 5000, hole: 5000 },
  // Between outages, every library stays connected upMs: longer than the 5 s of uptime after
  // which resilient-ws and reconnecting-websocket reset their backoff, so each outage starts afresh.
  outages: { n: 20, downMs: 1000, upMs: 5500 },
  cycles: { first: 10, total: 1000 },
};
const WATCHDOG_MS = QUICK ? 150_000 : 14 * 60_000;

const pkgVersion = (name) => JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', name, 'package.json'), 'utf8')).version;
const KINDS = ['raw', 'rws', 'rwsock', 'party', 'ruw', 'sio'];
const NAME = {
  raw: 'raw WebSocket',
  rws: 'resilient-ws',
  rwsDelivery: 'resilient-ws + delivery',
  rwsock: `reconnecting-websocket ${pkgVersion('reconnecting-websocket')}`,
  party: `partysocket ${pkgVersion('partysocket')}`,
  ruw: `react-use-websocket ${pkgVersion('react-use-websocket')}`,
  sio: `socket.io-client ${pkgVersion('socket.io-client')}`,
};
const SHORT = { raw: 'raw', rws: 'resilient-ws', rwsDelivery: 'rws+delivery', rwsock: 'reconnecting-ws', party: 'partysocket', ruw: 'react-use-ws', sio: 'socket.io' };
/** The reconnecting kinds (the raw WebSocket never reconnects). */
const PEERS = KINDS.filter((k) => k !== 'raw');
/** Options of the loss rows: every peer with its defaults, socket.io-client with retries + ackTimeout. */
const FAULT_OPTIONS = { sio: { retries: 3, ackTimeout: 10000 } };

// ---- size: what an app ships ---------------------------------------------------------------------

const SIZE_ENTRIES = {
  rwsock: "export { default } from 'reconnecting-websocket';",
  party: "export * from 'partysocket'; export { default } from 'partysocket';",
  ruw: "export * from 'react-use-websocket'; export { default } from 'react-use-websocket';",
  sio: "export * from 'socket.io-client';",
};
async function peerSize(kind) {
  const r = await esbuild.build({
    stdin: { contents: SIZE_ENTRIES[kind], resolveDir: BENCH_DIR, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    external: ['react', 'react-dom'],
    legalComments: 'none',
    logLevel: 'silent',
  });
  const code = r.outputFiles[0].contents;
  return { min: code.length, gz: gzip9(Buffer.from(code)) };
}

// ---- the run ------------------------------------------------------------------------------------

const results = { sections: {}, errors: {} };

async function main() {
  const started = Date.now();
  const watchdog = startWatchdog(WATCHDOG_MS);
  if (!existsSync(join(PKG, 'resilient_ws_bg.wasm'))) throw new Error(`${PKG} is not a built package: run \`make pkg\``);
  if (!existsSync(join(BENCH_DIR, 'node_modules/socket.io'))) throw new Error('js/bench/node_modules is missing: run `make setup` (or npm ci in js/bench)');

  log('size: esbuild --minify (React external), gzip -9');
  const rwsSize = await packageSize(PKG);
  results.sections.size = { rws: { gz: rwsSize.total, js: rwsSize.jsGz, wasm: rwsSize.wasmGz } };
  for (const k of ['rwsock', 'party', 'ruw', 'sio']) results.sections.size[k] = await peerSize(k);

  log('bundling the page');
  const pageDir = join(ROOT, 'target/bench-peers');
  mkdirSync(pageDir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(BENCH_DIR, 'peers-page.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(pageDir, 'page.js'),
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  // A snapshot of the package: a `make pkg` meanwhile does not pull the files from under the page.
  const pkgCopy = join(pageDir, 'pkg');
  spawnSync('rm', ['-rf', pkgCopy]);
  spawnSync('cp', ['-r', PKG, pkgCopy]);

  log('starting ws-test-server, the socket.io server, the proxies, Chromium');
  const srv = await startTestServer();
  const sio = await startSocketIoServer();
  const wsPort = Number(new URL(srv.ws).port);
  const wsProxy = await startProxy(wsPort);
  const sioProxy = await startProxy(sio.port);
  const origin = await startStaticServer([['/peers/', pageDir]], pageHtml('/peers/page.js'));
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text().slice(0, 200)}`);
  });
  await page.goto(`${origin}/?pkg=/peers/pkg/`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 }).catch((e) => {
    throw new Error(`the peers page did not load: ${problems.join('; ') || e.message}`);
  });
  const { gc, heapUsed } = await heapTools(page);
  const call = (fn, ...args) => page.evaluate(([fn, args]) => window.P[fn](...args), [fn, args]);
  const tag = `${Date.now().toString(36)}-${process.pid}`;
  let seq = 0;
  const newScope = (what) => `peers-${what}-${tag}-${seq++}`;
  /** The URL of `kind` for `scope`: directly, or through the proxies. */
  const urlOf = (kind, scope, proxied = false) =>
    kind === 'rwsDelivery'
      ? `ws://127.0.0.1:${proxied ? wsProxy.port : wsPort}/delivery/${scope}`
      : kind === 'sio'
      ? `http://127.0.0.1:${proxied ? sioProxy.port : sio.port}/?scope=${scope}`
      : proxied
        ? `ws://127.0.0.1:${wsProxy.port}/${scope}`
        : `${srv.ws}/${scope}`;
  /** Messages the server got on `scope` from `kind`. */
  // The test server records what a /delivery/<scope> socket applied (each seq once) under the
  // scope "delivery/<scope>", as the app's text.
  const receivedOf = async (kind, scope) => {
    if (kind === 'sio') return sio.received(scope);
    const sc = kind === 'rwsDelivery' ? `delivery/${scope}` : scope;
    return (await control(srv.control, `/received?scope=${encodeURIComponent(sc)}`)).messages;
  };
  // resilient-ws + delivery needs a server speaking PROTOCOL.md: the test server's /delivery/<scope>.
  const rootInfo = await fetch(`${srv.control}/`).then((r) => r.text()).catch(() => '');
  const FAULT_PEERS = rootInfo.includes('/delivery') ? [...PEERS, 'rwsDelivery'] : PEERS;
  if (FAULT_PEERS === PEERS) log('resilient-ws + delivery: pending (the test server has no /delivery sockets)');
  const only = process.env.BENCH_SECTIONS?.split(',');
  const section = async (name, f) => {
    if (only && !only.includes(name)) return;
    const t = Date.now();
    try {
      results.sections[name] = await f();
    } catch (e) {
      results.errors[name] = String(e?.message ?? e).slice(0, 400);
      log(`${name}: FAILED: ${results.errors[name]}`);
    }
    log(`${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };

  // ---- throughput ----
  await section('echo', async () => {
    const out = {};
    for (const c of CFG.echo) {
      const vals = Object.fromEntries(KINDS.map((k) => [k, []]));
      for (let r = -1; r < ROUNDS; r++) {
        for (let i = 0; i < KINDS.length; i++) {
          const k = KINDS[(i + Math.max(r, 0)) % KINDS.length];
          await gc();
          const scope = newScope(`echo-${k}`);
          const n = r < 0 ? Math.ceil(c.n / 5) : c.n;
          try {
            const res = await call('echo', k, urlOf(k, scope), n, c.type, c.size);
            if (r >= 0) vals[k].push(n / (res.ms / 1000));
          } catch (e) {
            // How far the server got: whether the messages reached it.
            const got = await receivedOf(k, scope).then((m) => `; the server received ${m.length}`, () => '');
            results.errors[`echo ${c.name} ${k}`] = `${String(e?.message ?? e).slice(0, 400)}${got}`;
            log(`echo ${c.name} ${k}: ${results.errors[`echo ${c.name} ${k}`]}`);
          }
          await control(srv.control, `/reset?scope=${encodeURIComponent(scope)}`);
        }
      }
      log(`echo ${c.name}: ${KINDS.map((k) => `${SHORT[k]} ${fmtInt(median(vals[k]))}/s`).join(', ')}`);
      out[c.name] = Object.fromEntries(KINDS.map((k) => [k, { rounds: vals[k], median: median(vals[k]) }]));
    }
    return out;
  });

  // ---- round trips ----
  await section('rtt', async () => {
    const { n, size, block } = CFG.rtt;
    const p50 = Object.fromEntries(KINDS.map((k) => [k, []]));
    const p99 = Object.fromEntries(KINDS.map((k) => [k, []]));
    for (let r = -1; r < ROUNDS; r++) {
      const urls = Object.fromEntries(KINDS.map((k) => [k, urlOf(k, newScope(`rtt-${k}`))]));
      const res = await call('rttAll', KINDS, urls, r < 0 ? 200 : n, size, block, Math.max(r, 0));
      if (r < 0) continue;
      for (const k of KINDS) {
        p50[k].push(res[k].p50);
        p99[k].push(res[k].p99);
      }
    }
    log(`rtt p50: ${KINDS.map((k) => `${SHORT[k]} ${median(p50[k]).toFixed(0)} µs`).join(', ')}`);
    return Object.fromEntries(KINDS.map((k) => [k, { p50: median(p50[k]), p99: median(p99[k]), rounds: { p50: p50[k], p99: p99[k] } }]));
  });

  if (!QUICK) {
    // ---- the flush after an outage ----
    await section('flush', async () => {
      const { n, size } = CFG.flush;
      const vals = Object.fromEntries(PEERS.map((k) => [k, { ms: [], peak: [], errors: [] }]));
      for (let r = 0; r < FLUSH_ROUNDS; r++) {
        for (let i = 0; i < PEERS.length; i++) {
          const k = PEERS[(i + r) % PEERS.length];
          await gc();
          const scope = newScope(`flush-${k}`);
          const proxy = k === 'sio' ? sioProxy : wsProxy;
          proxy.hole(); // offline: the connection attempt gets no answer
          // resilient-ws: the outbox raised to hold 100,000 (its default, 1,000 messages, throws past that).
          const o = k === 'rws' ? { outbox: { maxMessages: n, maxBytes: n * size * 2 } } : undefined;
          await call('start', 'flush', k, urlOf(k, scope, true), o);
          await new Promise((res) => setTimeout(res, 300));
          const q = await call('queue', 'flush', n, size);
          const t0 = Date.now();
          proxy.release();
          let got = 0;
          for (;;) {
            got = k === 'sio' ? sio.received(scope).length : (await control(srv.control, `/wait?received=${n}&scope=${encodeURIComponent(scope)}&ms=1000`)).received;
            if (got >= n || Date.now() - t0 > 60000) break;
            if (k === 'sio') await new Promise((res) => setTimeout(res, 20));
          }
          const ms = Date.now() - t0;
          const peak = await call('spyPeak');
          await call('stop', 'flush');
          if (k !== 'sio') await control(srv.control, `/reset?scope=${encodeURIComponent(scope)}`);
          vals[k].ms.push(got >= n ? ms : null);
          vals[k].peak.push(peak);
          vals[k].errors.push(q.errors ? `${q.errors} send errors (${q.lastError}); server got ${got}` : got < n ? `server got ${got} of ${n} within 60 s` : null);
          log(`flush ${SHORT[k]}: ${got >= n ? `${ms} ms` : `only ${got}`}, peak bufferedAmount ${fmtInt(peak)} B`);
        }
      }
      const med = (xs) => (xs.some((x) => x === null) ? null : median(xs));
      return Object.fromEntries(PEERS.map((k) => [k, { ms: med(vals[k].ms), peak: median(vals[k].peak), rounds: vals[k] }]));
    });

    // ---- loss and duplicates across faults ----
    await section('faults', async () => {
      const { everyMs, ms, at, hole } = CFG.fault;
      const faults = {
        'restart (close 1012)': async () => {
          sio.restart(1012);
          await control(srv.control, '/close?code=1012');
        },
        'abrupt TCP drop': async () => {
          wsProxy.drop();
          sioProxy.drop();
        },
        'blackhole 5 s': async () => {
          await Promise.all([wsProxy.blackhole(hole), sioProxy.blackhole(hole)]);
        },
      };
      const out = {};
      for (const [fault, inject] of Object.entries(faults)) {
        const per = Object.fromEntries(FAULT_PEERS.map((k) => [k, { lost: [], dup: [], sent: [], opens: [] }]));
        for (let r = 0; r < FAULT_ROUNDS; r++) {
          const scopes = Object.fromEntries(FAULT_PEERS.map((k) => [k, newScope(`fault-${k}`)]));
          for (const k of FAULT_PEERS) await call('start', k, k, urlOf(k, scopes[k], true), FAULT_OPTIONS[k]);
          for (const k of FAULT_PEERS) await call('waitOpen', k);
          for (const k of FAULT_PEERS) await call('startSending', k, everyMs);
          await new Promise((res) => setTimeout(res, at));
          await inject();
          await new Promise((res) => setTimeout(res, ms - at));
          const stats = {};
          for (const k of FAULT_PEERS) stats[k] = await call('stopSending', k);
          // Drain: until no count moves for 3 s (at most 20 s).
          let last = '';
          for (let t0 = Date.now(), still = Date.now(); Date.now() - t0 < 20000; await new Promise((res) => setTimeout(res, 500))) {
            const now = (await Promise.all(FAULT_PEERS.map(async (k) => (await receivedOf(k, scopes[k])).length))).join();
            if (now !== last) [last, still] = [now, Date.now()];
            else if (Date.now() - still > 3000) break;
          }
          for (const k of FAULT_PEERS) {
            const got = (await receivedOf(k, scopes[k])).map(String);
            const unique = new Set(got);
            const sent = stats[k].sent;
            let lost = 0;
            for (let i = 0; i < sent; i++) if (!unique.has(String(i))) lost++;
            per[k].lost.push(lost);
            per[k].dup.push(got.length - unique.size);
            per[k].sent.push(sent);
            per[k].opens.push(stats[k].opens);
            await call('stop', k);
            if (k !== 'sio') await control(srv.control, `/reset?scope=${encodeURIComponent(k === 'rwsDelivery' ? `delivery/${scopes[k]}` : scopes[k])}`);
          }
          log(`${fault}: ${FAULT_PEERS.map((k) => `${SHORT[k]} lost ${per[k].lost.at(-1)} dup ${per[k].dup.at(-1)} (opens ${per[k].opens.at(-1)})`).join(', ')}`);
        }
        out[fault] = Object.fromEntries(FAULT_PEERS.map((k) => [k, { lost: median(per[k].lost), dup: median(per[k].dup), sent: median(per[k].sent), rounds: per[k] }]));
      }
      return out;
    });

    // ---- time from the server being back to connected ----
    await section('reconnect', async () => {
      const { n, downMs, upMs } = CFG.outages;
      const scopes = Object.fromEntries(PEERS.map((k) => [k, newScope(`outage-${k}`)]));
      for (const k of PEERS) await call('start', k, k, urlOf(k, scopes[k], true));
      for (const k of PEERS) await call('waitOpen', k);
      const times = Object.fromEntries(PEERS.map((k) => [k, []]));
      const dead = new Set();
      for (let i = 0; i < n; i++) {
        await new Promise((res) => setTimeout(res, upMs));
        const before = Object.fromEntries(await Promise.all(PEERS.map(async (k) => [k, (await call('opens', k)).length])));
        wsProxy.down(downMs);
        sioProxy.down(downMs);
        const back = Date.now() + downMs;
        await new Promise((res) => setTimeout(res, downMs));
        for (let t0 = Date.now(); Date.now() - t0 < 20000; await new Promise((res) => setTimeout(res, 50))) {
          let pending = 0;
          for (const k of PEERS) {
            if (dead.has(k) || times[k].length > i) continue;
            const o = await call('opens', k);
            if (o.length > before[k]) times[k].push(o[before[k]] - back);
            else pending++;
          }
          if (!pending) break;
        }
        for (const k of PEERS) if (times[k].length <= i && !dead.has(k)) dead.add(k);
      }
      for (const k of PEERS) await call('stop', k);
      const pct = (xs, q) => {
        const s = [...xs].sort((a, b) => a - b);
        return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : null;
      };
      log(`reconnect: ${PEERS.map((k) => `${SHORT[k]} ${dead.has(k) ? 'never' : `${median(times[k])} ms`}`).join(', ')}`);
      return Object.fromEntries(PEERS.map((k) => [k, { p50: dead.has(k) ? null : median(times[k]), p99: dead.has(k) ? null : pct(times[k], 0.99), back: times[k].length, of: n }]));
    });

    // ---- memory over reconnect cycles ----
    await section('memory', async () => {
      const { first, total } = CFG.cycles;
      const out = {};
      const fast = {
        rws: { reconnect: { initialDelayMs: 5, maxDelayMs: 20 } },
        rwsock: { minReconnectionDelay: 5, maxReconnectionDelay: 20 },
        party: { minReconnectionDelay: 5, maxReconnectionDelay: 20 },
        ruw: { shouldReconnect: () => true, reconnectInterval: 5, reconnectAttempts: 1e9 },
        sio: { reconnectionDelay: 5, reconnectionDelayMax: 20, transports: ['websocket'] },
      };
      for (const k of PEERS) {
        const scope = newScope(`cycles-${k}`);
        const dropUrl = `${srv.control}/drop?scope=${encodeURIComponent(scope)}`;
        // react-use-websocket's options are functions: they are built in the page.
        if (k === 'ruw') await page.evaluate(([u]) => window.P.start('mem', 'ruw', u, { shouldReconnect: () => true, reconnectInterval: 5, reconnectAttempts: 1e9 }), [urlOf(k, scope)]);
        else await call('start', 'mem', k, urlOf(k, scope), fast[k]);
        await call('waitOpen', 'mem');
        await call('cycles', 'mem', 50, dropUrl); // warm-up
        await call('cycles', 'mem', first, dropUrl);
        const heap1 = await heapUsed();
        const wasm1 = k === 'rws' ? await call('wasmBytes') : null;
        const c = await call('cycles', 'mem', total - first, dropUrl);
        const heap2 = await heapUsed();
        const wasm2 = k === 'rws' ? await call('wasmBytes') : null;
        await call('stop', 'mem');
        out[k] = { heap1, heap2, wasm1, wasm2, ms: c.ms };
        log(`memory ${SHORT[k]}: heap ${fmtInt(heap1 / 1024)} → ${fmtInt(heap2 / 1024)} KiB${wasm1 ? `, wasm ${fmtInt(wasm1 / 1024)} → ${fmtInt(wasm2 / 1024)} KiB` : ''}, ${fmtInt(c.ms)} ms`);
      }
      return out;
    });

    // ---- the reconnect storm (core, host) ----
    await section('storm', async () => {
      const r = spawnSync('cargo', ['bench', '-q', '--bench', 'reconnect_storm'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${os.homedir()}/.cargo/bin:${process.env.PATH}` } });
      if (r.status !== 0) throw new Error(`cargo bench reconnect_storm: ${r.stderr.slice(-400)}`);
      const out = {};
      for (const m of r.stdout.matchAll(/^storm jitter=(\d) peak_per_100ms=(\d+) peak_after_back_per_100ms=(\d+) all_connected_ms=(\d+) opens=(\d+)/gm)) {
        out[`jitter ${m[1]}`] = { peak: +m[2], peakBack: +m[3], allMs: +m[4], opens: +m[5] };
      }
      const table = r.stdout.match(/\| jitter[\s\S]*?\n\n/);
      out.table = table ? table[0].trim() : null;
      return out;
    });
  }

  results.meta = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine: `${os.availableParallelism?.() ?? os.cpus().length} CPUs, ${os.cpus()[0]?.model?.trim()}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`,
    chromium: browser.version(),
    node: process.version,
    versions: Object.fromEntries(['reconnecting-websocket', 'partysocket', 'react-use-websocket', 'react', 'socket.io-client', 'socket.io', 'vega', 'vega-lite'].map((p) => [p, pkgVersion(p)])),
    rws: JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version,
    rounds: { throughput: ROUNDS, flush: FLUSH_ROUNDS, faults: FAULT_ROUNDS },
    cfg: CFG,
    seconds: Math.round((Date.now() - started) / 1000),
    problems: problems.slice(0, 20),
  };
  clearTimeout(watchdog);
}

try {
  await main();
} catch (e) {
  if (!wasInterrupted()) log('failed:', e?.stack ?? e);
  results.errors.run = String(e?.message ?? e);
}
await cleanup();
if (results.meta) {
  const { report } = await import('./report.mjs');
  await report(results, OUT, { NAME, SHORT, KINDS, PEERS, QUICK });
}
process.exit(results.errors.run || Object.keys(results.errors).length ? 1 : 0);
