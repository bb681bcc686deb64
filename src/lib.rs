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
