#!/usr/bin/env bash
# The bench's own npm dependencies (the peer libraries, socket.io's server, vega + vega-lite),
# pinned in js/bench/package-lock.json, into js/bench/node_modules with `npm ci`; skipped when
# they were installed from the same lock file. Run by `make setup` and, lazily, by scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.lock-stamp
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
  echo "[bench] js/bench dependencies present" >&2
  exit 0
fi
echo "[bench] npm ci in js/bench" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$sum" > "$stamp"
