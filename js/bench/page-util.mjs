// Helpers shared by the two bench pages (page.mjs, served as is; peers-page.mjs, bundled).

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects if `promise` takes longer than `ms`; `what` (or what it returns, read at the timeout) says what timed out. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? what() : what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** p50, p99 and mean of `samples` (ms), in µs. */
export function percentiles(samples) {
  const s = Float64Array.from(samples).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  let sum = 0;
  for (const x of s) sum += x;
  return { p50: at(0.5) * 1000, p99: at(0.99) * 1000, mean: (sum / s.length) * 1000 };
}
