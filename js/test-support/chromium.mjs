// Headless Chromium from the system (Debian's /usr/bin/chromium, or $CHROMIUM); never downloaded.
// Shared by the JS tests, the demo's end-to-end test and the browser benchmark.
import { chromium } from 'playwright-core';

/** Flags that work on the build machines: no sandbox as root, no background traffic to a closed network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}
