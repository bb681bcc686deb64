#!/usr/bin/env bash
# make bench: benchmarks that report ratios measured side by side in one run (the machines are
# shared and noisy: compare within a run, not across runs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
echo "== reconnect storm: 10,000 simulated clients, server away for 5 s (core, host)"
cargo bench -q --bench reconnect_storm
echo
echo "== outbox throughput (core, host)"
cargo bench -q --bench outbox
echo
if [ -f js/bench/run.mjs ]; then
  echo "== browser throughput: resilient-ws Connection vs the raw browser WebSocket (headless Chromium)"
  [ -f pkg/package.json ] || bash js/build-pkg.sh >/dev/null
  node js/bench/run.mjs
  echo
fi
if [ -f pkg/resilient_ws_bg.wasm ]; then
  raw=$(stat -c %s pkg/resilient_ws_bg.wasm); gz=$(gzip -9c pkg/resilient_ws_bg.wasm | wc -c)
  echo "== package size: resilient_ws_bg.wasm $raw bytes, $gz bytes gzipped"
fi
