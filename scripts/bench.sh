#!/usr/bin/env bash
# make bench: resilient-ws against the raw WebSocket and the libraries users would pick instead,
# side by side in one run (the machines are shared and noisy: compare within a run, not across).
#   scripts/bench.sh                 the outbox host bench, then js/bench/peers.mjs: throughput,
#                                    round trips, size, the flush after an outage, loss across
#                                    faults, time to reconnect, memory over reconnect cycles, the
#                                    reconnect storm; writes bench/results.md, bench/results.json
#                                    and the SVG charts in bench/ (< 15 min); then twiggy top.
#   scripts/bench.sh --quick         (make bench-quick) throughput, round-trip and size rows only,
#                                    into target/bench-quick/ (bench/ keeps the full run), < 2 min.
#   scripts/bench.sh --before-after [--quick]  the fast-path comparison: raw WebSocket vs the SDK before
#                                    (BENCH_BASELINE) vs after (pkg/), js/bench/run.mjs.
# The peers come from js/bench/package-lock.json (js/bench/install.sh, also run by make setup).
# Env: BENCH_BASELINE=<rev> (--before-after; default d458d37): the "before" package, built once
# from that commit into target/bench-baseline/pkg and cached (target/bench-baseline/stamp holds
# the commit). BENCH_AFTER_PKG=<dir>: the resilient-ws package (default pkg/, built by
# js/build-pkg.sh if missing). BENCH_ROUNDS: rounds per section. BENCH_SECTIONS (peers.mjs) and
# BENCH_ONLY (run.mjs): only some sections.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
START=$(date +%s)
QUICK=0
MODE=peers
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --before-after) MODE=before-after ;;
    *) echo "usage: $0 [--quick] [--before-after]" >&2; exit 2 ;;
  esac
done
failed=()

# ---- the "before" package: built once per baseline commit, cached under target/ -------------
BASE_REV=${BENCH_BASELINE:-d458d37}
BASE_DIR=$ROOT/target/bench-baseline
# Prints the baseline pkg/ directory, or nothing (and says why on stderr) if it cannot be built.
baseline_pkg() {
  local commit
  if ! commit=$(git rev-parse --verify --quiet "$BASE_REV^{commit}"); then
    log "baseline: '$BASE_REV' is not a commit here"; return 0
  fi
  if [ -f "$BASE_DIR/pkg/resilient_ws_bg.wasm" ] && [ "$(cat "$BASE_DIR/stamp" 2>/dev/null)" = "$commit" ]; then
    log "baseline: pkg/ of ${commit:0:7} cached in target/bench-baseline/pkg"
    echo "$BASE_DIR/pkg"; return 0
  fi
  local t0=$SECONDS tc
  log "baseline: building pkg/ from ${commit:0:7} ($BASE_REV) in target/bench-baseline (log: target/bench-baseline/build.log)"
  rm -rf "$BASE_DIR/src"
  mkdir -p "$BASE_DIR/src"
  git archive "$commit" | tar -x -C "$BASE_DIR/src"
  # Its own target dir: the main build's artifacts stay as they are. Node tools (tsc,
  # wasm-opt) come from the main tree's node_modules (PATH above; module resolution walks up).
  if ! tc=$(scripts/toolchain.sh) \
     || ! (cd "$BASE_DIR/src" && RUSTUP_TOOLCHAIN=$tc CARGO_TARGET_DIR=$BASE_DIR/cargo-target \
             bash js/build-pkg.sh) >"$BASE_DIR/build.log" 2>&1; then
    tail -n 15 "$BASE_DIR/build.log" | sed 's/^/  | /' >&2
    log "baseline: the build of ${commit:0:7} failed: the bench runs without it"
    return 0
  fi
  rm -rf "$BASE_DIR/pkg" "$BASE_DIR/stamp"
  mv "$BASE_DIR/src/pkg" "$BASE_DIR/pkg"
  echo "$commit" > "$BASE_DIR/stamp"
  log "baseline: built in $(( SECONDS - t0 )) s"
  echo "$BASE_DIR/pkg"
}

# ---- host benches ---------------------------------------------------------------------------
# (the reconnect storm is run by js/bench/peers.mjs, which puts it into bench/results.md)
if [ $QUICK = 0 ] && [ $MODE = peers ]; then
  echo "== outbox throughput (core, host)"
  cargo bench -q --bench outbox || failed+=("cargo bench outbox")
  echo
fi

# ---- browser bench: raw vs before vs after --------------------------------------------------
AFTER=${BENCH_AFTER_PKG:-$ROOT/pkg}
AFTER=$(cd "$AFTER" 2>/dev/null && pwd || echo "$AFTER")
if [ ! -f "$AFTER/resilient_ws_bg.wasm" ] && [ -z "${BENCH_AFTER_PKG:-}" ]; then
  log "pkg/ is not built: bash js/build-pkg.sh"
  bash js/build-pkg.sh >&2 || log "js/build-pkg.sh failed"
fi
BEFORE=""
[ $MODE = before-after ] && { BEFORE=$(baseline_pkg) || BEFORE=""; }
# A snapshot of the "after" package: a `make pkg` run meanwhile (rm -rf pkg, then a few
# minutes of wasm-pack) does not pull the files from under the running page.
AFTER_SRC=$AFTER
if [ -f "$AFTER/resilient_ws_bg.wasm" ]; then
  rm -rf "$ROOT/target/bench-after"
  mkdir -p "$ROOT/target/bench-after"
  cp -r "$AFTER" "$ROOT/target/bench-after/pkg"
  AFTER=$ROOT/target/bench-after/pkg
fi
if [ $MODE = peers ]; then
  bash js/bench/install.sh || failed+=("js/bench/install.sh")
  out=$ROOT/bench
  [ $QUICK = 1 ] && out=$ROOT/target/bench-quick
  pargs=(--pkg "$AFTER" --out "$out")
  [ $QUICK = 1 ] && pargs+=(--quick)
  echo "== browser: resilient-ws ($AFTER_SRC) vs the raw WebSocket and the peers, headless Chromium -> ${out#$ROOT/}/results.md"
  node js/bench/peers.mjs "${pargs[@]}" || failed+=("node js/bench/peers.mjs")
  echo
else
  args=(--after "$AFTER" --after-label "$AFTER_SRC")
  args+=(--before-label "$(git rev-parse --short "$BASE_REV" 2>/dev/null || echo "$BASE_REV")")
  [ -n "$BEFORE" ] && args+=(--before "$BEFORE")
  [ $QUICK = 1 ] && args+=(--quick)
  echo "== browser: raw WebSocket vs resilient-ws before ($BASE_REV) and after ($AFTER_SRC), headless Chromium"
  node js/bench/run.mjs "${args[@]}" || failed+=("node js/bench/run.mjs")
  echo
fi

# ---- what takes the room in the wasm ---------------------------------------------------------
# The shipped wasm has no names (wasm-opt drops the name section), so twiggy lists code[N] and
# data[N]. The full bench also shows a twin with names: the cargo output the package came from,
# through wasm-bindgen and wasm-opt with the tree's wasm-opt flags plus -g (names kept; the
# same sizes to within a few bytes), but only when that cargo output is at hand and, without
# -g, reproduces the shipped file byte for byte.
wasm_opt_flags() { # <Cargo.toml>: [package.metadata.wasm-pack.profile.release] wasm-opt, else wasm-pack's -O
  local flags
  flags=$(awk '/^\[package\.metadata\.wasm-pack\.profile\.release\]/ { s = 1; next } /^\[/ { s = 0 }
               s && /^wasm-opt *=/ { print; exit }' "$1" 2>/dev/null | grep -o '"[^"]*"' | tr -d '"' || true)
  echo "${flags:--O}"
}
named_twin() { # <cargo output .wasm> <pkg dir> <Cargo.toml> <scratch dir>: prints the named twin, or nothing
  local src=$1 pkg=$2 out=$4 flags
  [ -f "$src" ] && command -v wasm-bindgen >/dev/null && command -v wasm-opt >/dev/null || return 0
  read -r -a flags <<<"$(wasm_opt_flags "$3" | tr '\n' ' ')"
  rm -rf "$out"; mkdir -p "$out"
  wasm-bindgen "$src" --out-dir "$out" --target web --out-name resilient_ws >/dev/null 2>&1 || return 0
  wasm-opt "${flags[@]}" "$out/resilient_ws_bg.wasm" -o "$out/plain.wasm" >/dev/null 2>&1 || return 0
  # make pkg also shortens the import/export names (js/minify-wasm-names.mjs): compare either form.
  local short; read -r -a short <<<"$(node "$ROOT/js/minify-wasm-names.mjs" --wasm-opt-args)"
  wasm-opt "$out/plain.wasm" "${short[@]}" -o "$out/short.wasm" >/dev/null 2>&1 || return 0
  cmp -s "$out/plain.wasm" "$pkg/resilient_ws_bg.wasm" || cmp -s "$out/short.wasm" "$pkg/resilient_ws_bg.wasm" || return 0
  wasm-opt "${flags[@]}" -g "$out/resilient_ws_bg.wasm" -o "$out/named.wasm" >/dev/null 2>&1 || return 0
  echo "$out/named.wasm ${flags[*]}"
}
if command -v twiggy >/dev/null; then
  sides=(after)
  [ $MODE = before-after ] && sides=(before after)
  for side in "${sides[@]}"; do
    dir=$BEFORE; targets=$BASE_DIR/cargo-target; manifest=$BASE_DIR/src/Cargo.toml
    if [ $side = after ]; then
      dir=$AFTER; targets=${CARGO_TARGET_DIR:-$ROOT/target}; manifest=$ROOT/Cargo.toml
    fi
    # js/build-pkg.sh's size route builds in <target>/pkg-wasm; wasm-pack in <target>.
    cargo_out=$targets/pkg-wasm/wasm32-unknown-unknown/release/resilient_ws.wasm
    [ -f "$cargo_out" ] || cargo_out=$targets/wasm32-unknown-unknown/release/resilient_ws.wasm
    if [ -z "$dir" ] || [ ! -f "$dir/resilient_ws_bg.wasm" ]; then
      echo "== twiggy: no $side package"; echo; continue
    fi
    shown=$dir; [ $side = after ] && shown=$AFTER_SRC
    echo "== twiggy top -n 15: $side ($shown/resilient_ws_bg.wasm, as shipped)"
    twiggy top -n 15 "$dir/resilient_ws_bg.wasm" || failed+=("twiggy ($side)")
    echo
    if [ $QUICK = 0 ]; then
      twin=$(named_twin "$cargo_out" "$dir" "$manifest" "$ROOT/target/bench-twiggy/$side")
      if [ -n "$twin" ]; then
        echo "== twiggy top -n 15: $side, with names (its twin built with wasm-opt ${twin#* } -g; the \"function names\" row is not in the shipped file)"
        twiggy top -n 15 "${twin%% *}" || failed+=("twiggy ($side, names)")
      else
        echo "(no names for $side: $cargo_out is missing or is not the build of this package)"
      fi
      echo
    fi
  done
else
  echo "twiggy not installed: run 'make setup'"
  failed+=("twiggy missing")
fi

echo "bench: $(( $(date +%s) - START )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
