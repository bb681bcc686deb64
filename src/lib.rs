//! resilient-ws: a WebSocket client for browser apps.
//!
//! - [`core`]: the pure, deterministic connection machine (no I/O, no clock, no randomness).
//! - `driver` (wasm32 only): owns the browser `WebSocket`, its closures and the timer.
//! - `bindings` (wasm32 only): the JavaScript API, `Connection`.
pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
pub(crate) mod driver;

/// Talc instead of std's dlmalloc: smaller and faster. Messages live in JS, so the module
/// allocates little (closures, queue slots, close reasons).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
