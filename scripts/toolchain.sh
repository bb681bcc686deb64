#!/usr/bin/env bash
# Prints the rustup toolchain that builds wasm32 here: the default one when it has the
# target (a machine with internet), else the offline 'wasm-offline' one made by setup.sh.
# `toolchain.sh check` also verifies every tool setup.sh installs.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if [ "${RWS_WASM_ROUTE:-auto}" != offline ] && rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  tc=$(rustup show active-toolchain | cut -d' ' -f1)
elif rustup toolchain list | grep -q '^wasm-offline'; then
  tc=wasm-offline
else
  echo "no toolchain with the wasm32 target: run 'make setup'" >&2; exit 1
fi
if [ "${1:-}" = check ]; then
  cd "$(dirname "$0")/.."
  export PATH="$PWD/node_modules/.bin:$PATH"
  for t in wasm-bindgen wasm-pack geckodriver chromedriver chromium firefox-esr wasm-opt node npm; do
    command -v "$t" >/dev/null || { echo "missing tool: $t (run 'make setup')" >&2; exit 1; }
  done
  RUSTUP_TOOLCHAIN=$tc rustc --print target-libdir --target wasm32-unknown-unknown >/dev/null
  echo "[setup] wasm toolchain: $tc ($(RUSTUP_TOOLCHAIN=$tc rustc -V))"
else
  echo "$tc"
fi
