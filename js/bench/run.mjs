// Browser benchmarks: the raw browser `WebSocket` vs resilient-ws's `Connection` from two
// builds of the package, "before" (a baseline commit) and "after" (the current pkg/), side by
// side in one headless Chromium against the repo's ws-test-server. scripts/bench.sh (`make
// bench`, `make bench-quick`) builds the baseline and calls:
//
//   node js/bench/run.mjs --after <pkg dir> [--before <pkg dir> --before-label <rev>] [--quick]
//
// Self-contained: builds and starts ws-test-server, serves both packages and js/bench/page.mjs
// over node:http (cross-origin isolated, so performance.now() steps by 5 µs, not 100 µs),
// drives Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, and stops all of
// it on exit, also on error, a signal or the watchdog. The variants alternate (the order
// rotates every round, after a discarded warm-up round) and medians are reported: the
// machines are shared and noisy, so the ratios within one run are what matter.
// Env: BENCH_ROUNDS: the most rounds per section (default 9, --quick 5); past 3, a section
// stops early rather than overrun its time budget.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { launchBrowser } from '../test-support/chromium.mjs';
import {
  ROOT, cleanup, cleanups, control, fmtInt, fmtRate, kib, log, median, packageSize, pageHtml, startStaticServer,
  startTestServer, startWatchdog, heapTools, times, wasInterrupted,
} from './common.mjs';

const BENCH_DIR = join(ROOT, 'js/bench');

const { values: opts } = parseArgs({
  options: {
    after: { type: 'string', default: join(ROOT, 'pkg') },
    before: { type: 'string' },
    'before-label': { type: 'string', default: 'baseline' },
    'after-label': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const QUICK = opts.quick;
/** The SDK variants: name -> package directory. */
const PACKAGES = {};
if (opts.before) PACKAGES.before = resolve(opts.before);
PACKAGES.after = resolve(opts.after);

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || (QUICK ? 5 : 9));
// After MIN_ROUNDS rounds, a section stops when one more would overrun its budget.
const MIN_ROUNDS = Math.min(3, ROUNDS);
const CFG = QUICK
  ? {
      echo: { n: 5000, warm: 1000, size: 64, budgetMs: 15000 },
      recv: { n: 10000, warm: 2000, budgetMs: 15000 },
      rtt: { n: 1000, warm: 200, size: 64, block: 50, budgetMs: 12000 },
      bin: { n: 500, warm: 100, size: 16 * 1024, budgetMs: 20000 },
      binHwm: 1 << 20,
      cycles: null,
    }
  : {
      echo: { n: 20000, warm: 2000, size: 64, budgetMs: 100000 },
      recv: { n: 50000, warm: 5000, budgetMs: 120000 },
      rtt: { n: 2000, warm: 300, size: 64, block: 50, budgetMs: 60000 },
      bin: { n: 2000, warm: 200, size: 16 * 1024, budgetMs: 120000 },
      binHwm: 1 << 20, // an extra SDK run with a 1 MiB highWaterMark, to show what pacing costs
      cycles: { first: 10, total: 1000 },
    };
const WATCHDOG_MS = QUICK ? 150_000 : 780_000;
// BENCH_ONLY=rtt,bin (any of memory, echo, recv, rtt, bin): run those sections only, for
// iterating on one of them; the size rows are always there.
const SECTIONS = ['memory', 'echo', 'recv', 'rtt', 'bin'];
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((x) => x.trim()) : SECTIONS;
for (const x of ONLY) if (!SECTIONS.includes(x)) throw new Error(`BENCH_ONLY: unknown section ${x} (${SECTIONS.join(', ')})`);
const want = (x) => ONLY.includes(x);
// The targets (the issue being worked on); "after" is measured against them.
const TARGET = { echo: 0.95, recv: 0.95, rttP50: 1.05, rttP99: 1.1, bin: 0.9, sizeBytes: 25_000, mem: 1.05 };


// ---- the run ----------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const watchdog = startWatchdog(WATCHDOG_MS);

  for (const [name, dir] of Object.entries(PACKAGES)) {
    if (!existsSync(join(dir, 'resilient_ws_bg.wasm')) || !existsSync(join(dir, 'index.js'))) {
      if (name === 'after') throw new Error(`${dir} is not a built package: run \`make pkg\` (bash js/build-pkg.sh) first`);
      log(`the "before" package ${dir} is not built: running without it`);
      delete PACKAGES[name];
    }
  }
  const sdks = Object.keys(PACKAGES); // ['before', 'after'] or ['after']
  const kinds = ['raw', ...sdks];
  const label = { raw: 'raw', before: `before (${opts['before-label']}${PACKAGES.before ? '' : ': missing'})`, after: 'after' };

  log('package sizes (esbuild minify, gzip -9)');
  const size = {};
  for (const v of sdks) size[v] = await packageSize(PACKAGES[v]);

  log('building and starting ws-test-server');
  const srv = await startTestServer();
  const mounts = [['/bench/', BENCH_DIR], ...sdks.map((v) => [`/${v}/`, PACKAGES[v]])];
  const origin = await startStaticServer(mounts, pageHtml('/bench/page.mjs'));
  log(`ws-test-server pid ${srv.pid}: ${srv.ws} control ${srv.control}; page ${origin}`);

  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  let pageThrew;
  const threw = new Promise((_, rej) => (pageThrew = rej));
  threw.catch(() => {});
  page.on('pageerror', (e) => {
    problems.push(`pageerror: ${e.message}`);
    pageThrew(e);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  const query = new URLSearchParams(sdks.map((v) => [v, `/${v}/`]));
  await page.goto(`${origin}/?${query}`);
  // A package that fails to load (e.g. one being rewritten) throws in the page: fail at once.
  await Promise.race([page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 }), threw]).catch((e) => {
    throw new Error(`the bench page did not load (${sdks.map((v) => `${v}: ${PACKAGES[v]}`).join(', ')}): ${problems.join('; ') || e.message}`);
  });
  const { gc, heapUsed } = await heapTools(page);

  const tag = `${Date.now().toString(36)}-${process.pid}`;
  let scopeSeq = 0;
  const newScope = (what) => `bench-${what}-${tag}-${scopeSeq++}`;
  const call = (fn, ...args) => page.evaluate(([fn, args]) => window.B[fn](...args), [fn, args]);
  const pageInfo = await call('info');
  if (pageInfo.loaded.join() !== sdks.join()) throw new Error(`the page loaded ${pageInfo.loaded}, expected ${sdks}`);
  const wsUrl = (scope) => `${srv.ws}/${scope}`;
  const section = (name) => {
    const t = Date.now();
    return () => log(`${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };

  /**
   * One discarded warm-up round, then up to ROUNDS rounds of every variant in `runs`
   * ({ kind: (scope, warm) => { value, ... } }), the order rotating every round. After
   * MIN_ROUNDS rounds, stops when one more round would overrun `budgetMs` (a loaded machine).
   */
  async function sideBySide(name, budgetMs, runs) {
    const ks = Object.keys(runs);
    const out = Object.fromEntries(ks.map((k) => [k, { values: [], infos: [] }]));
    let t0 = Date.now();
    for (let r = -1; r < ROUNDS; r++) {
      if (r === 0) t0 = Date.now();
      for (let i = 0; i < ks.length; i++) {
        const kind = ks[(i + Math.max(r, 0)) % ks.length];
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
    log(`${name}: ${ks.map((k) => `${k} ${out[k].values.map((v) => v.toPrecision(3)).join(' ')}`).join(' | ')}`);
    return out;
  }
  const each = (f) => Object.fromEntries(kinds.map((k) => [k, f(k)]));

  // 5 first, while the wasm memories have not yet been grown by the binary test's outbox.
  let mem = null;
  if (CFG.cycles && want('memory')) {
    const { first, total } = CFG.cycles;
    const done = section('memory');
    log(`5. memory: JS heap and wasm memory after ${first} vs ${total} connect/drop cycles (every 5th a server /drop), ${kinds.join(', ')}`);
    mem = {};
    // Warm-up, discarded: a first run allocates for good what any later one reuses (the page's
    // own cycle functions, fetch, the bindings' first calls); without it, that lands on whichever
    // variant runs first. Each variant does WARM cycles on a Connection (socket) of its own first.
    const WARM = 50;
    for (const k of kinds) {
      const scope = newScope(`cycles-warm-${k}`);
      if (k === 'raw') {
        await call('rawCycles', wsUrl(scope), srv.control, scope, WARM);
      } else {
        await call('memSetup', k, wsUrl(scope));
        await call('sdkCycles', k, srv.control, scope, WARM - 1);
        await call('memTeardown', k);
      }
      await control(srv.control, `/reset?scope=${encodeURIComponent(scope)}`);
    }
    {
      const scope = newScope('cycles-raw');
      await call('rawCycles', wsUrl(scope), srv.control, scope, first);
      const heap1 = await heapUsed();
      const c = await call('rawCycles', wsUrl(scope), srv.control, scope, total - first);
      const heap2 = await heapUsed();
      mem.raw = { heap1, heap2, ms: c.ms };
    }
    for (const v of sdks) {
      const scope = newScope(`cycles-${v}`);
      const liveIdle = await call('liveHandles', v);
      const setup = await call('memSetup', v, wsUrl(scope));
      const c1 = await call('sdkCycles', v, srv.control, scope, first - 1); // the first open counts as one
      const heap1 = await heapUsed();
      const c2 = await call('sdkCycles', v, srv.control, scope, total - first);
      const heap2 = await heapUsed();
      const teardown = await call('memTeardown', v);
      const stats = await control(srv.control, `/stats?scope=${encodeURIComponent(scope)}`);
      log(`cycles (${v}): ${fmtInt(c2.ms)} ms for ${total - first}; opens ${c2.opens}, server opened ${stats.opened}, status ${c2.status}`);
      if (stats.opened !== total) throw new Error(`the server saw ${stats.opened} connections from "${v}", expected ${total}`);
      mem[v] = { heap1, heap2, ms: c2.ms, liveIdle, setup, c1, c2, teardown };
    }
    done();
  }

  const { echo, recv, rtt, bin } = CFG;
  let done;
  let echoR = null;
  let recvR = null;
  let rttR = null;
  let binR = null;
  let wasmAfterBinary = null;
  if (want('echo')) {
    done = section('echo');
    log(`1. echo: ${echo.n} × ${echo.size} B text, pipelined, up to ${ROUNDS} rounds`);
    echoR = await sideBySide(
      'echo',
      echo.budgetMs,
      each((k) => async (scope, warm) => {
        const n = warm ? echo.warm : echo.n;
        const r = await call('echo', k, wsUrl(scope), n, echo.size);
        return { ...r, value: n / (r.ms / 1000) };
      }),
    );
    done();
  }

  if (want('recv')) {
    done = section('receive');
    log(`2. receive: /burst?n=${recv.n}, up to ${ROUNDS} rounds`);
    recvR = await sideBySide(
      'receive',
      recv.budgetMs,
      each((k) => async (scope, warm) => {
        const n = warm ? recv.warm : recv.n;
        const r = await call('recv', k, wsUrl(scope), srv.control, scope, n);
        return { ...r, value: n / (r.ms / 1000) };
      }),
    );
    done();
  }

  if (want('rtt')) {
    done = section('rtt');
    log(`3. round trips: ${rtt.n} × ${rtt.size} B text one at a time, interleaved in blocks of ${rtt.block}, up to ${ROUNDS} rounds`);
    // Not sideBySide: every round runs all variants together, taking turns every rtt.block
    // round trips (page.mjs rttAll), the order rotating every block and every round.
    rttR = Object.fromEntries(kinds.map((k) => [k, { values: [], infos: [] }]));
    let t0 = Date.now();
    for (let r = -1; r < ROUNDS; r++) {
      if (r === 0) t0 = Date.now();
      await gc();
      const scopes = Object.fromEntries(kinds.map((k) => [k, newScope(`rtt-${k}`)]));
      const urls = Object.fromEntries(kinds.map((k) => [k, wsUrl(scopes[k])]));
      const res = await call('rttAll', kinds, urls, r < 0 ? rtt.warm : rtt.n, rtt.size, rtt.block, Math.max(r, 0));
      for (const k of kinds) await control(srv.control, `/reset?scope=${encodeURIComponent(scopes[k])}`);
      if (r < 0) continue;
      for (const k of kinds) {
        rttR[k].values.push(res[k].p50);
        rttR[k].infos.push({ ...res[k], value: res[k].p50 });
      }
      const spent = Date.now() - t0;
      if (r + 1 >= MIN_ROUNDS && spent + spent / (r + 1) > rtt.budgetMs) break;
    }
    for (const [what, f] of [['p50', (i) => i.p50], ['p99', (i) => i.p99]]) {
      log(`rtt ${what}: ${kinds.map((k) => `${k} ${rttR[k].infos.map((i) => f(i).toPrecision(3)).join(' ')}`).join(' | ')}`);
    }
    done();
  }

  if (want('bin')) {
    done = section('binary');
    log(`4. binary echo: ${bin.n} × ${bin.size / 1024} KiB, up to ${ROUNDS} rounds (+ SDK with highWaterMark ${kib(CFG.binHwm)})`);
    const binRuns = each((k) => async (scope, warm) => {
      const n = warm ? bin.warm : bin.n;
      const r = await call('bin', k, wsUrl(scope), n, bin.size);
      return { ...r, value: (n * bin.size) / 1e6 / (r.ms / 1000) };
    });
    for (const v of sdks) {
      binRuns[`${v}Hwm`] = async (scope, warm) => {
        const n = warm ? bin.warm : bin.n;
        const r = await call('bin', v, wsUrl(scope), n, bin.size, CFG.binHwm);
        return { ...r, value: (n * bin.size) / 1e6 / (r.ms / 1000) };
      };
    }
    binR = await sideBySide('binary', bin.budgetMs, binRuns);
    wasmAfterBinary = Object.fromEntries(await Promise.all(sdks.map(async (v) => [v, await call('wasmBytes', v)])));
    done();
  }

  // ---- report ----
  const med = (r, k, f = (i) => i.value) => median(r[k].infos.map(f));
  const nOf = (r) => r.raw.values.length;
  const rows = [];
  const row = (...cells) => rows.push(`| ${cells.join(' | ')} |`);
  const cols = (f) => ['raw', 'before', 'after'].map((k) => (k === 'raw' || PACKAGES[k] ? f(k) : 'missing'));
  const ratios = (f) => ['before', 'after'].map((k) => (PACKAGES[k] ? f(k) : '—'));
  row('metric', 'raw', label.before, 'after', 'before/raw', 'after/raw');
  row('---', '---:', '---:', '---:', '---:', '---:');
  /** A row of medians: value cells and the ratios of medians to raw. */
  const medRow = (name, r, fmt, f, digits = 2) =>
    row(name, ...cols((k) => fmt(r[k].infos.map(f))), ...ratios((k) => times(med(r, k, f) / med(r, 'raw', f), digits)));
  const val = (i) => i.value;

  if (echoR) medRow(`1. echo ${fmtInt(echo.n)} × ${echo.size} B text, pipelined, msgs/s (n=${nOf(echoR)})`, echoR, (xs) => fmtRate(xs, '/s'), val);
  if (recvR) medRow(`2. receive /burst ${fmtInt(recv.n)}, msgs/s (n=${nOf(recvR)})`, recvR, (xs) => fmtRate(xs, '/s'), val);
  if (rttR) medRow(`3. round trip ${fmtInt(rtt.n)} × ${rtt.size} B one at a time, p50 µs (n=${nOf(rttR)})`, rttR, (xs) => fmtRate(xs, 'µs'), (i) => i.p50, 3);
  if (rttR) medRow(`3b. same, p99 µs`, rttR, (xs) => fmtRate(xs, 'µs'), (i) => i.p99, 3);
  if (binR) {
    medRow(`4. binary echo ${fmtInt(bin.n)} × 16 KiB, default highWaterMark, MB/s (n=${nOf(binR)})`, binR, (xs) => fmtRate(xs, 'MB/s', 1), val);
    row(
      `4b. same, outbox.highWaterMark ${kib(CFG.binHwm)}`,
      ...cols((k) => fmtRate((k === 'raw' ? binR.raw : binR[`${k}Hwm`]).values, 'MB/s', 1)),
      ...ratios((k) => times(median(binR[`${k}Hwm`].values) / median(binR.raw.values))),
    );
    row(
      '4c. right after the binary send loop',
      ...cols((k) =>
        k === 'raw'
          ? `bufferedAmount ${(med(binR, 'raw', (i) => i.peakBuffered) / 1e6).toFixed(1)} MB`
          : `${fmtInt(med(binR, k, (i) => i.sent))} sent, ${fmtInt(med(binR, k, (i) => i.peakQueued))} queued`,
      ),
      '—',
      '—',
    );
  }
  if (mem) {
    const { first, total } = CFG.cycles;
    row(
      `5. JS heap after ${fmtInt(total)} / after ${first} cycles`,
      ...cols((k) => `${times(mem[k].heap2 / mem[k].heap1, 3)} (${kib(mem[k].heap1)} → ${kib(mem[k].heap2)})`),
      '—',
      '—',
    );
    row(
      `5b. wasm memory after ${fmtInt(total)} / after ${first} cycles`,
      ...cols((k) => {
        if (k === 'raw') return 'n/a';
        const [a, b] = [mem[k].c1.wasmBytes, mem[k].c2.wasmBytes];
        return a && b ? `${times(b / a, 3)} (${kib(a)} → ${kib(b)})` : 'unknown';
      }),
      '—',
      '—',
    );
    row(
      `5c. __liveHandles(): idle / open / ${first} / ${fmtInt(total)} cycles / freed`,
      ...cols((k) => {
        if (k === 'raw') return 'n/a';
        const m = mem[k];
        return `${m.liveIdle} / ${m.setup.liveOpen} / ${m.c1.live} / ${m.c2.live} / ${m.teardown.liveAfterFree}`;
      }),
      '—',
      '—',
    );
    row(
      `5d. time for ${fmtInt(total - first)} cycles, ms`,
      ...cols((k) => fmtInt(mem[k].ms)),
      ...ratios((k) => times(mem[k].ms / mem.raw.ms)),
    );
  }
  row(
    '6. package size, gzip -9: JS (minified) + wasm',
    ...cols((k) => (k === 'raw' ? '—' : `${fmtInt(size[k].total)} B`)),
    '—',
    '—',
  );
  row(
    '6a. of which an app without the lazily loaded files loads (one that uses neither tabs "shared" nor persist)',
    ...cols((k) => (k === 'raw' ? '—' : size[k].lazyFiles.length ? `${fmtInt(size[k].eager)} B (lazy: ${size[k].lazyFiles.join(', ')}, ${fmtInt(size[k].lazyGz)} B)` : `${fmtInt(size[k].eager)} B (nothing lazy)`)),
    '—',
    '—',
  );
  row(
    '6b. JS: files reachable from index.js and react.js, minified, gzip -9',
    ...cols((k) => (k === 'raw' ? '—' : `${fmtInt(size[k].jsGz)} B (${size[k].jsFiles} files, ${fmtInt(size[k].jsMin)} B minified)`)),
    '—',
    '—',
  );
  row(
    '6c. resilient_ws_bg.wasm, gzip -9',
    ...cols((k) => (k === 'raw' ? '—' : `${fmtInt(size[k].wasmGz)} B (${fmtInt(size[k].wasmRaw)} B raw)`)),
    '—',
    '—',
  );

  // ---- targets: "after" against the issue's goals ----
  const targets = [];
  const ratio = (r, k, f = val) => med(r, k, f) / med(r, 'raw', f);
  const was = (f) => (PACKAGES.before ? ` (before: ${f('before')})` : '');
  const verdict = (ok) => (ok === null ? 'unknown' : ok ? 'met' : 'NOT met');
  const atLeast = (what, r, goal, f = val) => {
    const a = ratio(r, 'after', f);
    targets.push(`- ${what} ≥ ${goal}× raw: after ${times(a)} — ${verdict(a >= goal)}${was((k) => times(ratio(r, k, f)))}`);
  };
  const atMost = (what, r, goal, f) => {
    const a = ratio(r, 'after', f);
    const pct = (x) => `${x >= 1 ? '+' : '−'}${Math.abs((x - 1) * 100).toFixed(1)}%`;
    targets.push(
      `- ${what} overhead ≤ ${Math.round((goal - 1) * 100)}%: after ${pct(a)} (${times(a, 3)}) — ${verdict(a <= goal)}${was((k) => pct(ratio(r, k, f)))}`,
    );
  };
  const skipped = (what) => targets.push(`- ${what}: not measured (BENCH_ONLY=${ONLY.join(',')})`);
  if (echoR) atLeast(`echo of ${echo.size} B text`, echoR, TARGET.echo);
  else skipped('echo');
  if (recvR) atLeast('receive burst', recvR, TARGET.recv);
  else skipped('receive burst');
  if (rttR) {
    atMost('round-trip latency p50', rttR, TARGET.rttP50, (i) => i.p50);
    atMost('round-trip latency p99', rttR, TARGET.rttP99, (i) => i.p99);
  } else skipped('round-trip latency');
  if (binR) atLeast('paced 16 KiB binary at the default highWaterMark', binR, TARGET.bin);
  else skipped('paced binary');
  targets.push(
    `- package size ≤ ${fmtInt(TARGET.sizeBytes)} B (25 KB) gzipped: after ${fmtInt(size.after.total)} B — ${verdict(size.after.total <= TARGET.sizeBytes)}` +
      was((k) => `${fmtInt(size[k].total)} B`),
  );
  if (mem) {
    const memOk = (k) => {
      const m = mem[k];
      const heap = m.heap2 / m.heap1;
      const wasm = m.c1.wasmBytes && m.c2.wasmBytes ? m.c2.wasmBytes / m.c1.wasmBytes : null;
      return { heap, wasm, ok: wasm === null ? null : heap <= TARGET.mem && wasm <= TARGET.mem };
    };
    const a = memOk('after');
    const show = (m) => `JS heap ${times(m.heap, 3)}, wasm ${m.wasm === null ? 'unknown' : times(m.wasm, 3)}`;
    targets.push(
      `- JS heap and wasm memory after ${fmtInt(CFG.cycles.total)} reconnect cycles within 5% of after ${CFG.cycles.first}: after ${show(a)} — ${verdict(a.ok)}` +
        was((k) => show(memOk(k))),
    );
  } else if (!CFG.cycles) {
    targets.push('- memory over reconnect cycles: not measured by bench-quick (run `make bench`)');
  } else {
    skipped('memory over reconnect cycles');
  }

  // ---- per-file sizes ----
  const sizeRows = ['| file | before: raw / minified / gzip -9 | after: raw / minified / gzip -9 |', '|---|---:|---:|'];
  const allFiles = [...new Set(sdks.flatMap((v) => size[v].files.map((f) => f.file)))].sort((a, b) => (a.endsWith('.wasm') - b.endsWith('.wasm')) || a.localeCompare(b));
  const cell = (v, file) => {
    if (!PACKAGES[v]) return 'missing';
    const f = size[v].files.find((x) => x.file === file);
    return f ? (file.endsWith('.wasm') ? `${fmtInt(f.raw)} / — / ${fmtInt(f.gz)}` : `${fmtInt(f.raw)} / ${fmtInt(f.min)} / ${fmtInt(f.gz)}${f.lazy ? ' (lazy)' : ''}`) : '—';
  };
  for (const file of allFiles) sizeRows.push(`| ${file} | ${cell('before', file)} | ${cell('after', file)} |`);
  sizeRows.push(`| **total** | ${PACKAGES.before ? `**${fmtInt(size.before.total)}** B gzipped` : 'missing'} | **${fmtInt(size.after.total)}** B gzipped |`);
  sizeRows.push(`| **without the lazy files** | ${PACKAGES.before ? `**${fmtInt(size.before.eager)}** B gzipped` : 'missing'} | **${fmtInt(size.after.eager)}** B gzipped |`);

  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const lines = [
    ...rows,
    '',
    `Targets (after vs raw, this run):`,
    ...targets,
    '',
    'Package size per file (bytes; JS minified with esbuild, then gzip -9; a file not reached from index.js or react.js is not counted):',
    '',
    ...sizeRows,
    '',
    `Medians of n rounds (raw, before and after alternating, the order rotating every round, after a discarded warm-up round); ±: half the range relative to the median. ` +
      `Ratios are of the medians: > 1 is faster for throughput (1, 2, 4), slower for latency and time (3, 5d). ` +
      (PACKAGES.before
        ? `before: the package built from ${opts['before-label']} (${PACKAGES.before}); `
        : `before: MISSING (the baseline package of ${opts['before-label']} could not be built, see above); `) +
      `after: ${opts['after-label'] ?? PACKAGES.after}${opts['after-label'] ? ` (a copy taken at the start: ${PACKAGES.after})` : ''}. Both are loaded into the one page, each its own ES module graph and wasm instance.`,
    `SDK setup: reconnect off; in 1 and 4 the outbox is raised so a whole send loop fits (with the defaults, overflow "error" would throw). ` +
      `Round trips (3): the next message is sent from the message handler once the previous one's echo arrived; the variants, each on its own socket, take turns every ${rtt.block} round trips (the order rotating), so they share the machine's bad moments alike; performance.now() steps by ${pageInfo.timerStepUs.toFixed(0)} µs here (crossOriginIsolated ${pageInfo.crossOriginIsolated}). ` +
      (mem
        ? `Cycles (5): after 50 discarded warm-up cycles per variant, every 5th one a server /drop (the SDK retries after its backoff, 5–20 ms here), the others close()+new WebSocket (raw) or reconnect() (SDK); the variants run one after the other in one page, so the JS heap (CDP Runtime.getHeapUsage usedSize after two HeapProfiler.collectGarbage) is the whole page's. `
        : '') +
      (wasmAfterBinary ? `wasm memory after the binary tests: ${sdks.map((v) => `${v} ${wasmAfterBinary[v] ? kib(wasmAfterBinary[v]) : 'unknown'}`).join(', ')} (linear memory never shrinks).` : ''),
    `Machine: ${os.availableParallelism?.() ?? os.cpus().length} CPUs (nproc), ${cpu}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (shared); ${new Date().toISOString()}; Chromium ${browser.version()}, Node ${process.version}; ${QUICK ? 'bench-quick; ' : ''}browser bench ${((Date.now() - started) / 1000).toFixed(0)} s.`,
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
  if (!wasInterrupted()) log('failed:', e?.stack ?? e);
  await cleanup();
  process.exit(1);
}
