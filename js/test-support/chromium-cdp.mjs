// Headless Chromium (the system one, as chromium.mjs) driven over the raw Chrome DevTools
// Protocol through the `ws` client, with the interface of firefox-bidi.mjs plus freeze/resume.
// Why not playwright-core: it turns focus emulation on (Emulation.setFocusEmulationEnabled) in
// every page it drives, and Chromium never freezes a page with focus emulation on, so
// Page.setWebLifecycleState {state: "frozen"} leaves its timers running. Here nothing turns it on:
// a frozen tab runs no timer, no BroadcastChannel handler, no lock callback until it is resumed.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CHROMIUM_ARGS } from './chromium.mjs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * Playwright's own flags that matter to the tabs tests: every tab but the last one opened is a
 * background tab, whose timers Chromium otherwise throttles to about once a second (the
 * followers' pings every 250 ms) and whose renderer it deprioritises. They do not stop a freeze.
 */
const BACKGROUND_ARGS = [
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  '--disable-ipc-flooding-protection',
  '--disable-back-forward-cache',
];

/**
 * Launches Chromium; returns { newTab(), close() }. Every tab is a page of the default browser
 * context (one profile: Web Locks, BroadcastChannel and IndexedDB are shared). A tab:
 * { goto(url), reload(), evaluate(fn, arg), freeze(), resume(), close() }.
 * close() kills the browser whatever state it is in; so does a failed launch.
 */
export async function launchChromium() {
  const profile = await mkdtemp(join(tmpdir(), 'rws-chromium-'));
  const child = spawn(CHROMIUM, [...CHROMIUM_ARGS, ...BACKGROUND_ARGS, '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const kill = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(profile, { recursive: true, force: true });
  };
  try {
    return await connect(child, kill);
  } catch (e) {
    await kill();
    throw e;
  }
}

async function connect(child, kill) {
  let log = '';
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Chromium did not start in 30 s: ${log}`)), 30000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}): ${log}`));
    });
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const socket = new WebSocket(endpoint, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });

  let nextId = 1;
  const waiting = new Map();
  /** Event listeners by `${sessionId} ${method}`. */
  const listeners = new Map();
  socket.on('message', (raw) => {
    const m = JSON.parse(String(raw));
    if (m.id === undefined) {
      for (const f of listeners.get(`${m.sessionId} ${m.method}`) ?? []) f(m.params);
      return;
    }
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new Error(`${w.method}: ${m.error.message}${m.error.data ? ` (${m.error.data})` : ''}`));
    else w.resolve(m.result);
  });
  socket.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error(`${w.method}: the DevTools connection closed`));
    waiting.clear();
  });
  const send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      if (socket.readyState !== WebSocket.OPEN) return reject(new Error(`${method}: the DevTools connection is closed`));
      const id = nextId++;
      waiting.set(id, { resolve, reject, method });
      socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  /** Resolves with the next `method` event of the session. */
  const next = (sessionId, method) =>
    new Promise((resolve) => {
      const key = `${sessionId} ${method}`;
      const set = listeners.get(key) ?? new Set();
      listeners.set(key, set);
      const f = (params) => {
        set.delete(f);
        resolve(params);
      };
      set.add(f);
    });

  return {
    async newTab() {
      const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
      await send('Page.enable', {}, sessionId);
      /** Runs `start` and waits for the page's load event. */
      const loaded = async (start) => {
        const load = next(sessionId, 'Page.loadEventFired');
        const r = await start();
        if (r?.errorText) throw new Error(`navigation failed: ${r.errorText}`);
        await load;
      };
      return {
        goto: (url) => loaded(() => send('Page.navigate', { url }, sessionId)),
        reload: () => loaded(() => send('Page.reload', {}, sessionId)),
        close: () => send('Target.closeTarget', { targetId }),
        /** Page.setWebLifecycleState "frozen": the page runs no task until resume(). */
        freeze: () => send('Page.setWebLifecycleState', { state: 'frozen' }, sessionId),
        resume: () => send('Page.setWebLifecycleState', { state: 'active' }, sessionId),
        /** Runs `fn(arg)` in the page (awaited); its result goes through JSON. */
        async evaluate(fn, arg) {
          const expression = `(async () => JSON.stringify(await (${fn})(${JSON.stringify(arg)})))()`;
          const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId);
          if (r.exceptionDetails) throw new Error(`in Chromium: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
          return typeof r.result.value === 'string' ? JSON.parse(r.result.value) : undefined;
        },
      };
    },
    async close() {
      await Promise.race([send('Browser.close').catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
      socket.terminate();
      await kill();
    },
  };
}
