#!/usr/bin/env bash
# make pkg: build the npm package `resilient-ws` into pkg/.
#   1. the wasm module and its wasm-bindgen glue (resilient_ws.js, .d.ts, _bg.wasm): cargo with a
#      size-built std + wasm-bindgen + wasm-opt (see build_small), or wasm-pack where that is missing;
#      then the names between the module and its glue are shortened (js/minify-wasm-names.mjs);
#   2. tsc: js/src/*.ts -> pkg/*.js + .d.ts (the "." and "./react" entries); their Node
#      variants (js/build-node.mjs): x.node.js, CommonJS twins x.cjs, declarations x.d.cts;
#   3. pkg/package.json rewritten for publishing (js/pkg-manifest.mjs), README copied.
# `--js-only` skips step 1 (pkg/ must already hold wasm-pack's output): for iterating on js/src.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
log() { printf '\033[1m[pkg]\033[0m %s\n' "$*"; }

# The shipped module is built with the standard library rebuilt from source with
# panic=immediate-abort: a panic is a bare trap, so no panic message formatting (core::fmt)
# is linked in (-4.6 KB gzipped). It needs Debian's rustc-web, rust-web-src and lld-22, which
# `make setup` installs; elsewhere the wasm-pack build below is used.
RUSTC_SRC=/usr/bin/rustc
WASM_LD=/usr/lib/llvm-22/bin/wasm-ld
small_route_ready() {
  [ -x "$RUSTC_SRC" ] && [ -x /usr/bin/cargo ] && [ -x "$WASM_LD" ] \
    && [ -d "$("$RUSTC_SRC" --print sysroot)/lib/rustlib/src/rust/library/std" ] \
    && command -v wasm-bindgen >/dev/null && command -v wasm-opt >/dev/null
}
build_small() {
  log "cargo build -Zbuild-std, panic=immediate-abort ($("$RUSTC_SRC" -V)); wasm-bindgen; wasm-opt -Oz"
  local out=${CARGO_TARGET_DIR:-target}/pkg-wasm
  RUSTUP_TOOLCHAIN= RUSTC="$RUSTC_SRC" RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$out \
    RUSTFLAGS="-Cpanic=immediate-abort -Zunstable-options -Zlocation-detail=none -Clinker=$WASM_LD" \
    /usr/bin/cargo build --quiet --release --lib --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort
  wasm-bindgen "$out/wasm32-unknown-unknown/release/resilient_ws.wasm" --out-dir pkg --typescript \
    --target web --out-name resilient_ws
  wasm-opt pkg/resilient_ws_bg.wasm -o pkg/resilient_ws_bg.opt.wasm -Oz
  mv pkg/resilient_ws_bg.opt.wasm pkg/resilient_ws_bg.wasm
}

if [ "${1:-}" != --js-only ]; then
  if [ -z "${RUSTUP_TOOLCHAIN:-}" ]; then
    RUSTUP_TOOLCHAIN=$(scripts/toolchain.sh)
    export RUSTUP_TOOLCHAIN
  fi
  command -v wasm-pack >/dev/null || { echo "wasm-pack not found: run 'make setup'" >&2; exit 1; }
  command -v tsc >/dev/null || { echo "tsc not found in node_modules/.bin: run 'make setup'" >&2; exit 1; }
  rm -rf pkg
  if small_route_ready && [ "${RWS_PKG_ROUTE:-small}" = small ]; then
    build_small
  else
    log "wasm-pack build (toolchain $RUSTUP_TOOLCHAIN): the standard library's panic formatting stays in (about 4.6 KB gzipped more)"
    wasm-pack build --release --target web --out-dir pkg --out-name resilient_ws
  fi
  node js/minify-wasm-names.mjs pkg
fi
for f in resilient_ws.js resilient_ws.d.ts resilient_ws_bg.wasm; do
  [ -f "pkg/$f" ] || { echo "pkg/$f missing: wasm-pack did not produce it" >&2; exit 1; }
done
if [ "${1:-}" = --js-only ]; then
  # The snippets are verbatim copies of js/src files (wasm-pack copies them): refresh them.
  for f in pkg/snippets/*/js/src/*.js; do cp "js/src/${f#pkg/snippets/*/js/src/}" "$f"; done
fi

# wasm-bindgen declares Connection[Symbol.dispose]; make that type-check in consumers whose
# `lib` predates ES2025 (TypeScript >= 5.2 knows this lib).
if ! grep -q 'reference lib="esnext.disposable"' pkg/resilient_ws.d.ts; then
  { echo '/// <reference lib="esnext.disposable" />'; cat pkg/resilient_ws.d.ts; } > pkg/resilient_ws.d.ts.tmp
  mv pkg/resilient_ws.d.ts.tmp pkg/resilient_ws.d.ts
fi

log "tsc: js/src -> pkg/"
tsc -p js/tsconfig.json

# messages.js and driver.js are loaded by the wasm glue (as wasm-bindgen snippets) and by the
# package's own modules (pending.js, connection.js): ship one copy of each, the snippet, and
# point the package's imports at it.
for m in messages driver; do
  snippet=$(cd pkg && ls snippets/*/js/src/$m.js)
  for f in pkg/*.js; do sed -i "s#from './$m.js'#from './$snippet'#" "$f"; done
  rm -f pkg/$m.js
done

# Node: the entries' x.node.js (init() reads the .wasm from disk), the CommonJS twins (x.cjs,
# for require(): Jest) and their declarations (x.d.cts).
cp js/node/wasm_source.js pkg/wasm_source_node.js
node js/build-node.mjs pkg

cp README.md pkg/README.md
for f in LICENSE*; do if [ -f "$f" ]; then cp "$f" pkg/; fi; done
rm -f pkg/.gitignore   # wasm-pack's "*": pkg/ is ignored by the repository's own .gitignore
node js/pkg-manifest.mjs pkg

log "done: pkg/ $(du -sh pkg | cut -f1), wasm $(wc -c < pkg/resilient_ws_bg.wasm) bytes ($(gzip -9c pkg/resilient_ws_bg.wasm | wc -c) gzipped)"
