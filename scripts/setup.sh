#!/usr/bin/env bash
# make setup: install everything resilient-ws needs to build and test, idempotently.
# Every step checks what is already there (by version, not just presence) and skips it.
# Route for the wasm32 target: rustup first (short timeout), then the offline route
# (Debian's rustc-web + a wasm32 std built from rust-web-src), see ../shared/toolchain.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export PATH="$HOME/.cargo/bin:$PATH"
START=$(date +%s)

# ---- 1. Debian packages -------------------------------------------------------------
APT_PKGS=(chromium chromium-driver firefox-esr rustc-web cargo-web rust-web-src rust-web-clippy lld-22 pkg-config
  nginx redis-server)  # the demo's cluster (make demo-cluster): nginx in front, Redis between instances
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# ---- 2. the wasm32 target -----------------------------------------------------------
# RWS_WASM_ROUTE=offline forces the offline route (to prove it on a machine where rustup works).
ROUTE=${RWS_WASM_ROUTE:-auto}
if [ "$ROUTE" != offline ] && rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  log "wasm32 target present in the default toolchain"
elif rustup toolchain list | grep -q '^wasm-offline' \
     && [ -f /usr/lib/rustlib/wasm32-unknown-unknown/lib/.built-for ] \
     && [ "$(cat /usr/lib/rustlib/wasm32-unknown-unknown/lib/.built-for)" = "$(/usr/bin/rustc -V)" ]; then
  log "offline wasm32 toolchain present ($(/usr/bin/rustc -V))"
else
  log "trying: rustup target add wasm32-unknown-unknown (30 s limit)"
  if [ "$ROUTE" != offline ] && timeout 30 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    log "wasm32 target installed by rustup"
  else
    log "rustup cannot download; building the wasm32 std offline with $(/usr/bin/rustc -V)"
    tmp=$(mktemp -d)
    mkdir -p "$tmp/src"
    printf '[package]\nname = "wasm_std_seed"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n[workspace]\n' > "$tmp/Cargo.toml"
    echo '#![no_std]' > "$tmp/src/lib.rs"
    (cd "$tmp" && RUSTUP_TOOLCHAIN= RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS=-Cembed-bitcode=yes \
      /usr/bin/cargo build -q --release --target wasm32-unknown-unknown \
      -Zbuild-std=std,panic_abort,panic_unwind,test)
    dest=/usr/lib/rustlib/wasm32-unknown-unknown/lib
    $SUDO mkdir -p "$dest"
    $SUDO find "$dest" -name '*.rlib' -delete
    for f in "$tmp"/target/wasm32-unknown-unknown/release/deps/*.rlib; do
      case "$(basename "$f")" in libwasm_std_seed-*) ;; *) $SUDO cp "$f" "$dest/" ;; esac
    done
    /usr/bin/rustc -V | $SUDO tee "$dest/.built-for" >/dev/null
    rm -rf "$tmp"
    $SUDO ln -sf /usr/lib/llvm-22/bin/lld /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld
    rustup toolchain link wasm-offline /usr
    log "offline toolchain 'wasm-offline' linked"
  fi
fi

# ---- 3. cargo-installed tools, pinned ----------------------------------------------
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
cargo_tool() { # binary, crate, version
  local bin=$1 crate=$2 ver=$3
  # Capture first: with pipefail, `grep -q` closing the pipe early would fail a chatty --version.
  local have=""
  command -v "$bin" >/dev/null 2>&1 && have=$("$bin" --version 2>/dev/null || true)
  if grep -qF " $ver" <<<"$have"; then
    log "$crate $ver present"
  else
    log "cargo install $crate $ver"
    cargo install -q "$crate" --version "$ver" --force
  fi
}
cargo_tool wasm-bindgen wasm-bindgen-cli "$WB_VERSION"
cargo_tool wasm-pack wasm-pack 0.15.1
cargo_tool geckodriver geckodriver 0.37.1
cargo_tool twiggy twiggy 0.8.0   # make bench: what takes the room in the wasm

# ---- 4. npm dependencies from the committed lock file -------------------------------
if [ -f package-lock.json ]; then
  stamp=node_modules/.lock-stamp
  sum=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    log "npm dependencies present"
  else
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$sum" > "$stamp"
  fi
fi

# the benchmark's own dependencies (js/bench/package-lock.json): make bench compares with them
bash js/bench/install.sh

# ---- 5. check ------------------------------------------------------------------------
"$ROOT/scripts/toolchain.sh" check
log "done in $(( $(date +%s) - START )) s"
