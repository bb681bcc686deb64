#!/usr/bin/env bash
# make test: every suite, against a real WebSocket test server on a free 127.0.0.1 port.
# Ends with one line "N passed, M failed" over all suites; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
OUT=$ROOT/.test-output
rm -rf "$OUT"; mkdir -p "$OUT"
PASSED=0; FAILED=0; SUMMARY=()
WASM_TC=$(scripts/toolchain.sh) || exit 1

# Count the tests a suite's log reports; a suite that failed without reporting a count counts as one failure.
count() { # name, exit code, log
  local name=$1 rc=$2 log=$3 p f
  p=$( { grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+';
         grep -Eo '^(ℹ|#) pass [0-9]+' "$log" | grep -Eo '[0-9]+'; } | awk '{s+=$1} END {print s+0}')
  f=$( { grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+';
         grep -Eo '^(ℹ|#) fail [0-9]+' "$log" | grep -Eo '[0-9]+'; } | awk '{s+=$1} END {print s+0}')
  if [ "$p" = 0 ] && [ "$f" = 0 ]; then
    if [ "$rc" = 0 ]; then p=1; else f=1; fi   # a check (fmt, clippy) is one test
  elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    f=1                                        # it failed outside any counted test
  fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  SUMMARY+=("$(printf '%-28s %4d passed, %d failed  (%s s)' "$name" "$p" "$f" "$4")")
}
suite() { # name, command...
  local name=$1; shift
  local log="$OUT/$name.log" t0=$SECONDS rc
  echo "=== $name: $*"
  "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  count "$name" "$rc" "$log" "$((SECONDS - t0))"
  [ "$rc" = 0 ] || echo "=== $name FAILED (exit $rc), log: $log"
}

# --- the test WebSocket server: started here, stopped on every exit path ---
SERVER_PID=""
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }
trap stop_server EXIT
trap 'exit 130' INT TERM
cargo build -q --profile server -p ws-test-server || { echo "0 passed, 1 failed"; exit 1; }
"${CARGO_TARGET_DIR:-$ROOT/target}/server/ws-test-server" > "$OUT/server.out" 2> "$OUT/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q '^ws=' "$OUT/server.out" 2>/dev/null && break; sleep 0.1; done
line=$(grep -m1 '^ws=' "$OUT/server.out") || { echo "test server did not start"; cat "$OUT/server.log"; echo "0 passed, 1 failed"; exit 1; }
export WS_TEST_URL=$(sed -E 's/^ws=([^ ]+).*/\1/' <<<"$line")
export WS_CONTROL_URL=$(sed -E 's/.*control=([^ ]+).*/\1/' <<<"$line")
echo "test server: $WS_TEST_URL (controls at $WS_CONTROL_URL)"

# --- suites ---
suite fmt                cargo fmt --all -- --check
suite clippy-host        cargo clippy -q --workspace --all-targets -- -D warnings
suite clippy-wasm32      env RUSTUP_TOOLCHAIN="$WASM_TC" cargo clippy -q --target wasm32-unknown-unknown --lib --tests --features rust-api -- -D warnings
suite host-tests         cargo test -q --workspace
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export GECKODRIVER=${GECKODRIVER:-$(command -v geckodriver)}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-180}
# Each browser run sees only its own driver: wasm-bindgen-test-runner picks Firefox whenever
# GECKODRIVER is set, whatever --chrome says. The feature rust-api adds the Rust API and its
# tests (tests/browser_rust_api.rs); the npm package is built without it.
suite browser-chrome     env -u GECKODRIVER RUSTUP_TOOLCHAIN="$WASM_TC" wasm-pack test --headless --chrome --features rust-api
suite browser-firefox    env -u CHROMEDRIVER RUSTUP_TOOLCHAIN="$WASM_TC" wasm-pack test --headless --firefox --features rust-api
suite pkg                env RUSTUP_TOOLCHAIN="$WASM_TC" bash js/build-pkg.sh
suite js                 node --test --test-concurrency=1 js/test/*.test.mjs
suite demo               bash demo/run.sh --check  # builds the page and server, then node --test demo/test/

echo
printf '%s\n' "${SUMMARY[@]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
