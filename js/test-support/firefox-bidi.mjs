// Headless Firefox (the system firefox-esr, or $FIREFOX) driven over WebDriver BiDi, the
// protocol Firefox itself serves on --remote-debugging-port, through the `ws` client: enough to
// open tabs of one profile, navigate, reload and evaluate. (playwright-core 1.65's Firefox
// needs Playwright's patched build, and its WebDriver BiDi mode sends commands Firefox ESR 153
// does not know yet: emulation.setMediaFeaturesOverride.)
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import WebSocket from 'ws';

export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
export const firefoxMissing = existsSync(FIREFOX) ? false : `no Firefox at ${FIREFOX} (make setup installs firefox-esr; or set FIREFOX)`;

/** Launches Firefox; returns { newTab(), close() }. A tab: { goto(url), reload(), evaluate(fn, arg), close() }. */
export async function launchFirefox() {
  const profile = await mkdtemp(join(tmpdir(), 'rws-firefox-'));
  const child = spawn(FIREFOX, ['--headless', '--remote-debugging-port=0', '--no-remote', '--profile', profile], {
    env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Firefox did not start in 30 s: ${log}`)), 30000);
    child.on('exit', (code) => reject(new Error(`Firefox exited (${code}): ${log}`)));
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const socket = new WebSocket(`${endpoint}/session`);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map();
  socket.on('message', (raw) => {
    const m = JSON.parse(String(raw));
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.type === 'error') w.reject(new Error(`${m.error}: ${m.message}`));
    else w.resolve(m.result);
  });
  const send = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send('session.new', { capabilities: {} });

  return {
    async newTab() {
      const { context } = await send('browsingContext.create', { type: 'tab' });
      const tab = {
        goto: (url) => send('browsingContext.navigate', { context, url, wait: 'complete' }),
        reload: () => send('browsingContext.reload', { context, wait: 'complete' }),
        close: () => send('browsingContext.close', { context }),
        /** Runs `fn(arg)` in the page (awaited); its result goes through JSON. */
        async evaluate(fn, arg) {
          const expression = `(async () => JSON.stringify(await (${fn})(${JSON.stringify(arg)})))()`;
          const r = await send('script.evaluate', { expression, target: { context }, awaitPromise: true, resultOwnership: 'none' });
          if (r.type === 'exception') throw new Error(`in Firefox: ${r.exceptionDetails.text}`);
          return r.result.type === 'string' ? JSON.parse(r.result.value) : undefined;
        },
      };
      return tab;
    },
    async close() {
      await send('browser.close', {}).catch(() => {});
      socket.close();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      await rm(profile, { recursive: true, force: true });
    },
  };
}
