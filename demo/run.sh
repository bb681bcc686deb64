#!/usr/bin/env bash
# make demo: the resilient-ws chat demo (React page + one chat server instance, state in memory).
#
#   demo/run.sh              build what is missing or stale, serve on 127.0.0.1, print the URL;
#                            Ctrl-C stops everything.
#   demo/run.sh --check      build, then run the end-to-end test (node --test demo/test/):
#                            headless Chromium chats through a server restart and a network loss.
#   demo/run.sh --no-build   serve what is already built (the end-to-end test uses this).
#
# PORT: the port to serve on (default 8080; 0: any free one). When it is taken, a free one is used.
# The server's settings come from the DEMO_* environment variables (demo/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

MODE=serve
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  --no-build) MODE=serve-built ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: demo/run.sh [--check | --no-build]" >&2; exit 2 ;;
esac

# Bold "[demo]" on a terminal only: no escape codes in logs and pipes.
if [ -t 1 ]; then TAG=$'\033[1m[demo]\033[0m'; else TAG='[demo]'; fi
say() { printf '%s %s\n' "$TAG" "$*"; }
die() { printf '%s %s\n' "$TAG" "$*" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET
BIN=$TARGET/release/demo-chat-server
DIST=$ROOT/demo/web/dist

build() {
  command -v cargo >/dev/null || die "cargo not found: run 'make setup'"
  [ -x node_modules/.bin/vite ] || die "node_modules/.bin/vite not found: run 'make setup'"

  # 1. The npm package (wasm + JS), if it is not built yet. RWS_DEMO_PKG: use another copy.
  local pkg=${RWS_DEMO_PKG:-$ROOT/pkg}
  if [ -n "${RWS_DEMO_PKG:-}" ]; then
    [ -f "$pkg/package.json" ] || die "RWS_DEMO_PKG=$pkg holds no package.json"
  elif [ ! -f pkg/package.json ] || [ ! -f pkg/react.js ]; then
    say "pkg/ is missing: make pkg"
    make --no-print-directory pkg
  elif [ -n "$(find src js/src Cargo.toml -newer pkg/package.json -print -quit 2>/dev/null)" ]; then
    say "note: src/ or js/ changed since pkg/ was built; 'make pkg' rebuilds it"
  fi

  # 2. The page, unless this script built it from the same package and nothing changed since.
  if [ "$(cat "$DIST/.built-from" 2>/dev/null)" = "$pkg" ] &&
    [ -z "$(find demo/web/index.html demo/web/src demo/web/vite.config.js "$pkg" -newer "$DIST/.built-from" -print -quit)" ]; then
    say "page: up to date (demo/web/dist)"
  else
    say "page: vite build -> demo/web/dist"
    RWS_DEMO_PKG=$pkg vite build --config demo/web/vite.config.js
    echo "$pkg" > "$DIST/.built-from"
  fi

  # 3. The server (incremental; shares compiled dependencies with tests/server).
  say "server: cargo build --release -p demo-chat-server"
  cargo build --release --quiet -p demo-chat-server
}

if [ "$MODE" = check ]; then
  build
  say "end-to-end test: node --test demo/test/"
  RWS_DEMO_PREBUILT=1 exec node --test --test-concurrency=1 demo/test/
fi
[ "$MODE" = serve ] && build
[ -x "$BIN" ] || die "$BIN is missing: run demo/run.sh without --no-build"
[ -f "$DIST/index.html" ] || die "$DIST is missing: run demo/run.sh without --no-build"

# --- serve: one instance, state in memory, stopped on every exit path ---
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/resilient-ws-demo.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$STATE_DIR"
}
trap cleanup EXIT
trap 'echo; say "stopped"; exit 0' INT
trap 'exit 143' TERM

PORT=${PORT:-8080}
"$BIN" --static "$DIST" --port-file "$STATE_DIR/port" --port "$PORT" --port-fallback &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [ -s "$STATE_DIR/port" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
ACTUAL=$(cat "$STATE_DIR/port" 2>/dev/null || true)
[ -n "$ACTUAL" ] || die "the server did not start"
echo
say "chat demo: open http://127.0.0.1:$ACTUAL/ (open it in two tabs to chat with yourself)"
say "one instance, state in memory; Ctrl-C stops."
echo
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
say "the server exited (code $rc)"
exit "$rc"
