#!/usr/bin/env bash
# make demo-load: the bounded load test (loopback only; not part of make test).
#   1. one instance (state in memory);  2. nginx -> two instances with Redis (demo/run.sh --cluster).
# Each run: demo-load opens LOAD_CONNECTIONS (2000) WebSockets in LOAD_ROOMS (20) rooms, each
# sending one message per second for LOAD_SECONDS (30), reads on until every accepted message
# has come (or LOAD_DRAIN_QUIET, 10 s, of silence), and prints a JSON line: p50/p99/max delivery
# latency, messages lost, the drain time, the servers' catch-ups, and each process's CPU and
# peak memory. Then the servers' log lines about slow consumers, Redis and nginx, if any.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
if [ -t 1 ]; then TAG=$'\033[1m[load]\033[0m'; else TAG='[load]'; fi
say() { printf '%s %s\n' "$TAG" "$*"; }

TARGET=${CARGO_TARGET_DIR:-target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET
say "building: cargo build --profile server -p demo-chat-server -p demo-load"
cargo build --profile server --quiet -p demo-chat-server -p demo-load
[ -f demo/web/dist/index.html ] || bash demo/run.sh --check >/dev/null 2>&1 || true
LOAD=(--connections "${LOAD_CONNECTIONS:-2000}" --rooms "${LOAD_ROOMS:-20}" --seconds "${LOAD_SECONDS:-30}"
  --drain-quiet "${LOAD_DRAIN_QUIET:-10}")

RUN=$(mktemp -d "${TMPDIR:-/tmp}/resilient-ws-load.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

# What the servers logged about slow consumers (1013, catch-up), Redis or nginx trouble.
trouble() {
  local lines
  lines=$(grep -E "behind the room|lost the Redis|redis:|worker_connections|\[(alert|crit|error)\]" "$1" || true)
  if [ -z "$lines" ]; then say "server logs: no slow-consumer close, no Redis or nginx error"
  else say "server logs: $(echo "$lines" | wc -l) lines about slow consumers, Redis or nginx:"; echo "$lines" | head -5; fi
}

ONLY=${LOAD_ONLY:-}  # "single" or "cluster": that run only
if [ "$ONLY" != cluster ]; then
say "1/2 one instance"
"$TARGET/server/demo-chat-server" --port 0 --port-file "$RUN/port" > "$RUN/single.log" 2>&1 &
SINGLE=$!
PIDS+=("$SINGLE")
for _ in $(seq 1 100); do [ -s "$RUN/port" ] && break; sleep 0.1; done
BASE="http://127.0.0.1:$(cat "$RUN/port")/"
"$TARGET/server/demo-load" --url "$BASE" "${LOAD[@]}" --pids "server:$SINGLE" --healthz "server=${BASE}healthz" \
  | tee "$RUN/single.json"
kill "$SINGLE"; wait "$SINGLE" 2>/dev/null || true
trouble "$RUN/single.log"
fi
[ "$ONLY" != single ] || exit 0

say "2/2 nginx -> two instances + Redis"
setsid env PORT=0 bash demo/run.sh --cluster --no-build > "$RUN/cluster.log" 2>&1 &
CLUSTER=$!
PIDS+=("$CLUSTER")
for _ in $(seq 1 300); do grep -qs 'open http' "$RUN/cluster.log" && break; sleep 0.1; done
URL=$(grep -o 'open http://127.0.0.1:[0-9]*/' "$RUN/cluster.log" | head -1 | cut -c6-)
[ -n "$URL" ] || { cat "$RUN/cluster.log"; exit 1; }
pid_of() { grep -o "$1 .*(pid [0-9]*)" "$RUN/cluster.log" | head -1 | grep -o '[0-9]*)$' | tr -d ')'; }
"$TARGET/server/demo-load" --url "$URL" "${LOAD[@]}" \
  --pids "a:$(pid_of 'instance a'),b:$(pid_of 'instance b'),nginx-worker:$(pgrep -P "$(pid_of nginx)" | head -1),redis:$(pid_of redis-server)" \
  --healthz "a=${URL}instance/a/healthz,b=${URL}instance/b/healthz" \
  | tee "$RUN/cluster.json"
trouble "$RUN/cluster.log"
