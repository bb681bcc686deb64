// A CPU profile of the SDK's echo and receive paths on the bench page (js/bench/page.mjs), to
// see where the time per message goes:
//
//   node js/bench/profile.mjs [--pkg <dir>] [--section echo|recv|rtt] [--n 20000] [--top 25]
//                             [--variant after|raw]
//
// Starts ws-test-server and the page like run.mjs, warms up, then records Chromium's CPU
// profile (CDP Profiler, 50 µs sampling) around `rounds` runs of the section for the SDK
// ("after" = --pkg, default pkg/; --variant raw: the raw WebSocket instead, for the browser's
// own share of the same work) and prints the functions with the most self time. With
// --out <file>, writes the .cpuprofile too (Chromium DevTools opens it); --in <file> only
// summarizes a profile written before (with the --section, --n and --rounds it was made with).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser } from '../test-support/chromium.mjs';
import { ROOT, cleanup, cleanups, control, log, pageHtml, startStaticServer, startTestServer, startWatchdog } from './common.mjs';

const { values: opts } = parseArgs({
  options: {
    pkg: { type: 'string', default: join(ROOT, 'pkg') },
    section: { type: 'string', default: 'echo' },
    variant: { type: 'string', default: 'after' },
    n: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    top: { type: 'string', default: '25' },
    out: { type: 'string' },
    in: { type: 'string' },
  },
});
if (!['after', 'raw'].includes(opts.variant)) throw new Error(`--variant: after or raw (got ${opts.variant})`);
if (!['echo', 'recv', 'rtt'].includes(opts.section)) throw new Error(`--section: echo, recv or rtt (got ${opts.section})`);
const n = Number(opts.n);

async function main() {
  if (opts.in) return summarize(JSON.parse(readFileSync(opts.in, 'utf8')));
  startWatchdog(180_000);
  const srv = await startTestServer();
  const origin = await startStaticServer(
    [
      ['/bench/', join(ROOT, 'js/bench')],
      ['/after/', resolve(opts.pkg)],
    ],
    pageHtml('/bench/page.mjs'),
  );
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
  await page.goto(`${origin}/?after=/after/`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 });
  let seq = 0;
  const run = async (count) => {
    const scope = `profile-${process.pid}-${seq++}`;
    const url = `${srv.ws}/${scope}`;
    let r;
    if (opts.section === 'rtt') {
      // Round trips one at a time (64 B text), the SDK alone: { after: { p50, ... } }.
      const t0 = Date.now();
      await page.evaluate(([url, count, v]) => window.B.rttAll([v], { [v]: url }, count, 64, 50, 0), [url, count, opts.variant]);
      r = { ms: Date.now() - t0 };
    } else {
      const args = opts.section === 'echo' ? [url, count, 64] : [url, srv.control, scope, count];
      r = await page.evaluate(([fn, v, args]) => window.B[fn](v, ...args), [opts.section, opts.variant, args]);
    }
    await control(srv.control, `/reset?scope=${encodeURIComponent(scope)}`);
    return r;
  };
  await run(Math.min(n, 5000));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
  await cdp.send('Profiler.start');
  const times = [];
  for (let i = 0; i < Number(opts.rounds); i++) times.push((await run(n)).ms);
  const { profile } = await cdp.send('Profiler.stop');
  if (opts.out) writeFileSync(opts.out, JSON.stringify(profile));
  log(`${opts.section} × ${n}: ${times.map((t) => `${Math.round(t)} ms`).join(', ')}`);
  summarize(profile);
}

/** Prints the functions with the most self time, and the SDK's share of the busy time. */
function summarize(profile) {

  // Self time per function (samples × interval), hottest first.
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  // Where the busy time goes: the SDK (its JS files, the wasm, the calls between them), the
  // page's own code, and the rest (the browser's own work: event dispatch, WebSocket, GC).
  const where = { sdk: 0, page: 0, browser: 0 };
  const dt = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const file = f.url.replace(/^.*\//, '');
    const key = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
    const us = dt[i + 1] ?? 0;
    self.set(key, (self.get(key) ?? 0) + us);
    if (f.functionName === '(idle)') return;
    if (f.url.includes('/after/') || /^(wasm-to-js|js-to-wasm)/.test(f.functionName)) where.sdk += us;
    else if (/\/bench\//.test(f.url)) where.page += us;
    else where.browser += us;
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(opts.top));
  for (const [key, us] of rows) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
  const busy = where.sdk + where.page + where.browser;
  const pct = (x) => `${((100 * x) / busy).toFixed(1)}%`;
  console.log(`busy ${(busy / 1000).toFixed(0)} ms: SDK ${pct(where.sdk)} (${((where.sdk / n / Number(opts.rounds)) * 1000).toFixed(0)} ns/message), page ${pct(where.page)}, browser ${pct(where.browser)}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(cleanup);
