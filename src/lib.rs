//! resilient-ws: a WebSocket client for browser apps.
//!
//! - [`core`]: the pure, deterministic connection machine (no I/O, no clock, no randomness).
//! - `driver` (wasm32 only): owns the browser `WebSocket`, its closures and the timer.
//! - `bindings` (wasm32 only): the JavaScript API, `Connection`.
//! - [`Connection`] (wasm32, feature `rust-api`): the Rust API, on the same driver.
//!
//! # Use from Rust (wasm32, feature `rust-api`)
//!
//! Rust web apps (Leptos, Yew, Dioxus, ...) use [`Connection`] with the core's [`Options`]
//! (builder methods on each option type; the defaults are the documented ones) and get
//! [`Event`]s through callbacks or a `futures` [`Stream`](futures_core::Stream)
//! ([`Connection::events`]). Dropping the connection releases everything.
//!
//! ```toml
//! [dependencies]
//! resilient-ws = { version = "0.1", features = ["rust-api"] }
//! ```
//!
//! ```no_run
//! # #[cfg(all(target_arch = "wasm32", feature = "rust-api"))]
//! # fn main() -> Result<(), resilient_ws::Error> {
//! use resilient_ws::core::{HeartbeatOptions, Options};
//! use resilient_ws::{Connection, Data, Event};
//! # fn log(_: &str) {}
//!
//! let conn = Connection::builder("wss://example.com/chat")
//!     .options(Options::default().heartbeat(Some(HeartbeatOptions::default())))
//!     .on_event(|event| match event {
//!         Event::Message(Data::Text(text)) => log(text),
//!         Event::Status(status) => log(status.as_str()),
//!         _ => {}
//!     })
//!     .connect()?;
//! conn.send("hello")?; // sent at once, or kept in the outbox until connected
//! # std::mem::forget(conn);
//! # Ok(())
//! # }
//! # #[cfg(not(all(target_arch = "wasm32", feature = "rust-api")))]
//! # fn main() {}
//! ```
//!
//! [`Options`]: crate::core::Options
pub mod core;
mod option_builders;

#[cfg(all(target_arch = "wasm32", feature = "rust-api"))]
mod api;
#[cfg(all(target_arch = "wasm32", feature = "rust-api"))]
pub use api::{Ack, Connection, ConnectionBuilder, Data, DropError, Error, Event, Events};

#[cfg(target_arch = "wasm32")]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
pub(crate) mod driver;

/// Talc instead of std's dlmalloc: smaller and faster. Messages live in JS, so the module
/// allocates little (closures, queue slots, close reasons).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
