#!/usr/bin/env bash
# make demo: the resilient-ws chat demo (React page + one chat server instance, state in memory).
#
#   demo/run.sh              build what is missing or stale, serve on 127.0.0.1, print the URL;
#                            Ctrl-C stops everything.
#   demo/run.sh --check      build, then run the end-to-end tests (node --test demo/test/):
#                            headless Chromium on one instance, then on the cluster (nginx, Redis).
#   demo/run.sh --no-build   serve what is already built (the end-to-end test uses this).
#   demo/run.sh --cluster [--no-build]
#                            make demo-cluster: nginx on $PORT in front of two instances ("a" and
#                            "b") sharing a redis-server, all on 127.0.0.1, all stopped with it.
#                            An instance that exits is restarted on its port 1 s later.
#
# Cluster settings: DEMO_NGINX_READ_TIMEOUT (nginx's proxy_read_timeout, default 60s); the
# instances get DEMO_ENABLE_KILL=1, a shared random DEMO_JWT_SECRET and DEMO_REDIS_URL.
# PORT: the port to serve on (default 8080; 0: any free one). When it is taken, a free one is used.
# The server's settings come from the DEMO_* environment variables (demo/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

MODE=serve
CLUSTER=""
for arg in "$@"; do
  case "$arg" in
    --check) MODE=check ;;
    --no-build) MODE=serve-built ;;
    --cluster) CLUSTER=1 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: demo/run.sh [--check | --no-build] [--cluster]" >&2; exit 2 ;;
  esac
done

# Bold "[demo]" on a terminal only: no escape codes in logs and pipes.
if [ -t 1 ]; then TAG=$'\033[1m[demo]\033[0m'; else TAG='[demo]'; fi
say() { printf '%s %s\n' "$TAG" "$*"; }
die() { printf '%s %s\n' "$TAG" "$*" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET
# The server is built with the workspace's "server" profile (release without the wasm package's
# fat LTO). `make test` (--check) builds it with the dev profile instead: `cargo test --workspace`
# has compiled it and its dependencies that way already. RWS_DEMO_PROFILE chooses.
if [ "$MODE" = check ]; then PROFILE=${RWS_DEMO_PROFILE:-dev}; else PROFILE=${RWS_DEMO_PROFILE:-server}; fi
export RWS_DEMO_PROFILE=$PROFILE
if [ "$PROFILE" = dev ]; then BIN=$TARGET/debug/demo-chat-server; else BIN=$TARGET/$PROFILE/demo-chat-server; fi
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
  say "server: cargo build --profile $PROFILE -p demo-chat-server"
  cargo build --profile "$PROFILE" --quiet -p demo-chat-server
}

if [ "$MODE" = check ]; then
  build
  say "end-to-end test: node --test demo/test/"
  RWS_DEMO_PREBUILT=1 exec node --test --test-concurrency=1 demo/test/
fi
[ "$MODE" = serve ] && build
[ -x "$BIN" ] || die "$BIN is missing: run demo/run.sh without --no-build"
[ -f "$DIST/index.html" ] || die "$DIST is missing: run demo/run.sh without --no-build"

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/resilient-ws-demo.XXXXXX")
chmod 755 "$STATE_DIR"
SERVER_PID=""
PIDS=()
cleanup() {
  touch "$STATE_DIR/stopping"
  # Supervisors first (so nothing restarts), then the instances, nginx and redis.
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$STATE_DIR"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$STATE_DIR"
}
trap cleanup EXIT
trap 'echo; say "stopped"; exit 0' INT
trap 'exit 143' TERM

# Waits for a port file; prints the port.
wait_port() {
  local file=$1 pid=$2
  for _ in $(seq 1 100); do
    [ -s "$file" ] && { cat "$file"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port: $1 if it is free (and not 0), else one from a random range.
free_port() {
  local p=$1
  [ "$p" != 0 ] || p=$((20000 + RANDOM % 40000))
  while ! port_free "$p"; do p=$((20000 + RANDOM % 40000)); done
  echo "$p"
}

PORT=${PORT:-8080}
if [ -z "$CLUSTER" ]; then
  # --- one instance, state in memory ---
  "$BIN" --static "$DIST" --port-file "$STATE_DIR/port" --port "$PORT" --port-fallback &
  SERVER_PID=$!
  ACTUAL=$(wait_port "$STATE_DIR/port" "$SERVER_PID") || die "the server did not start"
  echo
  say "chat demo: open http://127.0.0.1:$ACTUAL/ (open it in two tabs to chat with yourself)"
  say "one instance, state in memory; Ctrl-C stops."
  echo
  rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  say "the server exited (code $rc)"
  exit "$rc"
fi

# --- the cluster: redis-server, two instances, nginx ---
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx not found: run 'make setup'"
command -v redis-server >/dev/null || die "redis-server not found: run 'make setup'"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

REDIS_PORT=$(free_port $((20000 + RANDOM % 40000)))
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$STATE_DIR" \
  --logfile "$STATE_DIR/redis.log" &
echo $! > "$STATE_DIR/redis.pid"
for _ in $(seq 1 100); do port_free "$REDIS_PORT" || break; sleep 0.05; done
port_free "$REDIS_PORT" && die "redis-server did not start: $(cat "$STATE_DIR/redis.log")"
say "redis-server on 127.0.0.1:$REDIS_PORT (pid $(cat "$STATE_DIR/redis.pid"))"

export DEMO_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
export DEMO_ENABLE_KILL=1
export DEMO_JWT_SECRET=${DEMO_JWT_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}

# One instance under a supervisor: restarted on its port 1 s after it exits (SIGKILL included).
supervise() {
  local name=$1 port=0 rc
  while :; do
    DEMO_INSTANCE=$name "$BIN" --static "$DIST" --port "$port" --port-file "$STATE_DIR/$name.port" &
    echo $! > "$STATE_DIR/$name.pid"
    rc=0
    wait "$!" || rc=$?
    [ -f "$STATE_DIR/stopping" ] && return 0
    port=$(cat "$STATE_DIR/$name.port")
    say "instance $name exited (code $rc): starting it again on $port in 1 s"
    sleep 1
  done
}
for name in a b; do
  supervise "$name" &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$STATE_DIR/$name.pid" ] && break; sleep 0.05; done
  port=$(wait_port "$STATE_DIR/$name.port" "$(cat "$STATE_DIR/$name.pid")") || die "instance $name did not start"
  declare "PORT_${name^^}=$port"
  say "instance $name on 127.0.0.1:$port (pid $(cat "$STATE_DIR/$name.pid"))"
done

# A port found free can be taken before nginx binds it (other programs pick ports too): then
# nginx exits, and another free port is tried.
NGINX_PORT=$(free_port "$PORT")
for attempt in 1 2 3 4 5; do
  sed -e "s|@RUN_DIR@|$STATE_DIR|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@A_PORT@|$PORT_A|g" \
    -e "s|@B_PORT@|$PORT_B|g" -e "s|@READ_TIMEOUT@|${DEMO_NGINX_READ_TIMEOUT:-60s}|g" \
    demo/deploy/nginx.conf > "$STATE_DIR/nginx.conf"
  "$NGINX" -p "$STATE_DIR" -c "$STATE_DIR/nginx.conf" -e stderr -g 'daemon off;' &
  echo $! > "$STATE_DIR/nginx.pid"
  for _ in $(seq 1 100); do
    port_free "$NGINX_PORT" || break
    kill -0 "$(cat "$STATE_DIR/nginx.pid")" 2>/dev/null || break
    sleep 0.05
  done
  port_free "$NGINX_PORT" || break
  kill "$(cat "$STATE_DIR/nginx.pid")" 2>/dev/null || true
  wait "$(cat "$STATE_DIR/nginx.pid")" 2>/dev/null || true
  [ "$attempt" = 5 ] && die "nginx did not start"
  say "nginx could not listen on $NGINX_PORT: trying another port"
  NGINX_PORT=$(free_port 0)
done
say "nginx on 127.0.0.1:$NGINX_PORT (pid $(cat "$STATE_DIR/nginx.pid"))"
echo
say "chat demo (cluster): open http://127.0.0.1:$NGINX_PORT/ (nginx -> instances a and b, Redis between them)"
say "?pin=a or ?pin=b picks an instance; \"Kill this instance\" is on the page; Ctrl-C stops."
echo
wait "$(cat "$STATE_DIR/nginx.pid")" || true
say "nginx exited"
exit 1
