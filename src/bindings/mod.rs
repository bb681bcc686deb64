//! The JavaScript API: `Connection`, camelCase, typed in the generated .d.ts.
//!
//! - this file: the `Connection` class (everything it does is delegated to the driver);
//! - `options.rs`: the options object, read by hand so that every mistake throws at once with
//!   the option's path in the message ("invalid option reconnect.jitter: …");
//! - `errors.rs`: the errors it throws;
//! - `types.rs`: the TypeScript types of options and snapshot.
use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{validate_close, OutboxFull, SendOutcome};
use crate::driver::{
    byte_length, invalid_data_error, json_text, live_handles, outbox_full_error, status_index,
    status_name, ws_url, Config, Driver, JsMessage, UrlSource,
};

mod errors;
mod options;
mod types;

use errors::{close_error, range_error, type_error};
use options::parse_options;

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    /// "sent" | "queued" | "dropped", made once.
    fn send_result(outcome: u8) -> JsValue;
}

/// A resilient WebSocket connection. Connecting starts at once.
#[wasm_bindgen]
pub struct Connection {
    driver: Driver,
}

#[wasm_bindgen]
impl Connection {
    /// Reads a string URL as `new WebSocket` does (relative to the document's base URL,
    /// http(s): as ws(s):) and throws a SyntaxError at once where it would; throws on an
    /// invalid or unknown option (the message names it).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "UrlSource")] url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ConnectionOptions")] options: Option<
            Object,
        >,
    ) -> Result<Connection, JsValue> {
        let url = if let Some(f) = url.dyn_ref::<Function>() {
            UrlSource::Function(f.clone())
        } else if let Some(href) = ws_url(&url)? {
            UrlSource::Fixed(href)
        } else {
            return Err(type_error(
                "invalid url: must be a string, a URL or a function returning one",
                &url,
            ));
        };
        let options: JsValue = options.map_or(JsValue::UNDEFINED, JsValue::from);
        let parsed = parse_options(&options)?;
        let driver = Driver::start(Config {
            url,
            protocols: parsed.protocols,
            options: parsed.options,
            hooks: parsed.hooks,
            persist: parsed.persist,
        });
        Ok(Connection { driver })
    }

    /// "connecting" | "connected" | "reconnecting" | "closed".
    #[wasm_bindgen(getter, unchecked_return_type = "Status")]
    pub fn status(&self) -> JsValue {
        status_name(status_index(self.driver.status()))
    }

    /// `{ data, receivedAt }` of the last message, or null.
    #[wasm_bindgen(getter, js_name = lastMessage, unchecked_return_type = "LastMessage | null")]
    pub fn last_message(&self) -> JsValue {
        self.driver.last_message()
    }

    /// The parsed JSON of the last message, or null when it was not JSON text.
    #[wasm_bindgen(getter, js_name = lastJsonMessage, unchecked_return_type = "unknown")]
    pub fn last_json_message(&self) -> JsValue {
        self.driver.last_json_message()
    }

    /// "sent" (handed to the socket), "queued" (in the outbox) or "dropped" (drop-newest).
    /// Throws an `OutboxFullError` under overflow "error" when full (nothing is queued).
    /// The data itself stays a JS value: a string as it is, binary handed to the socket at
    /// once, or copied if it has to wait (so that changing it afterwards changes nothing).
    #[wasm_bindgen(js_name = sendMessage, unchecked_return_type = "SendResult")]
    pub fn send_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ArrayBuffer | ArrayBufferView")]
        data: JsValue,
    ) -> Result<JsValue, JsValue> {
        let bytes = byte_length(&data);
        if bytes < 0.0 {
            return Err(invalid_data_error(&data));
        }
        self.send(JsMessage::outgoing(data, bytes as usize))
    }

    /// With `delivery` on: sends like sendMessage (an OutboxFullError throws the same way) and
    /// returns a promise that resolves once the server acknowledged the message, or rejects
    /// with a `DropError` (its `reason`: "overflow", "full", "released" or "rejected", with the
    /// server's reason as `detail`) when it is dropped.
    #[wasm_bindgen(js_name = sendWithAck, unchecked_return_type = "Promise<void>")]
    pub fn send_with_ack(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ArrayBuffer | ArrayBufferView")]
        data: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        if !self.driver.delivery() {
            return Err(js_sys::TypeError::new(
                "sendWithAck needs the delivery option: new Connection(url, { delivery: true })",
            )
            .into());
        }
        let bytes = byte_length(&data);
        if bytes < 0.0 {
            return Err(invalid_data_error(&data));
        }
        match self
            .driver
            .send_with_ack(JsMessage::outgoing(data, bytes as usize))
        {
            Ok((_, promise)) => Ok(promise),
            Err(full) => Err(self.full_error(full)),
        }
    }

    /// `persist`: resolves true once every message sent so far is durable in IndexedDB (its
    /// transaction committed), false when nothing is persisted (no `persist`, or IndexedDB
    /// missing or refusing: the connection then runs without it, after one warning).
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn persisted(&self) -> js_sys::Promise {
        self.driver.persisted()
    }

    /// JSON.stringify, then sendMessage. A value with no JSON form (cyclic, BigInt, undefined,
    /// a function) throws and queues nothing.
    #[wasm_bindgen(js_name = sendJsonMessage, unchecked_return_type = "SendResult")]
    pub fn send_json_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<JsValue, JsValue> {
        let text = json_text(&value)?;
        let bytes = byte_length(&text) as usize;
        self.send(JsMessage::outgoing(text, bytes))
    }

    /// Calls `listener` after every change of the snapshot; returns the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        match listener.dyn_into::<Function>() {
            Ok(f) => Ok(self.driver.subscribe(f)),
            Err(v) => Err(type_error("subscribe: listener must be a function", &v)),
        }
    }

    /// The current snapshot: frozen, and the same object until something changes.
    #[wasm_bindgen(js_name = getSnapshot, unchecked_return_type = "Snapshot")]
    pub fn get_snapshot(&self) -> JsValue {
        self.driver.snapshot()
    }

    /// Ends the connection for good. A code other than 1000 or 3000–4999, or a reason over
    /// 123 UTF-8 bytes, throws and closes nothing.
    pub fn close(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] code: Option<js_sys::Number>,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] reason: Option<js_sys::JsString>,
    ) -> Result<(), JsValue> {
        let code = match code {
            None => 1000,
            Some(n) => {
                let v = JsValue::from(n);
                match v.as_f64() {
                    Some(c) if c.fract() == 0.0 && (0.0..=65535.0).contains(&c) => c as u16,
                    _ => {
                        return Err(range_error(
                            "close: code must be 1000 or an integer in 3000..=4999",
                            &v,
                        ))
                    }
                }
            }
        };
        let reason = match reason {
            None => String::new(),
            Some(r) => {
                let v = JsValue::from(r);
                match v.as_string() {
                    Some(s) => s,
                    None => return Err(type_error("close: reason must be a string", &v)),
                }
            }
        };
        validate_close(code, &reason).map_err(close_error)?;
        self.driver.close(code, reason).map_err(close_error)
    }

    /// Starts a new attempt now with the backoff reset (also after close()).
    pub fn reconnect(&self) {
        self.driver.reconnect();
    }
}

impl Connection {
    fn send(&self, message: JsMessage) -> Result<JsValue, JsValue> {
        match self.driver.send(message) {
            Ok(outcome) => Ok(send_result(match outcome {
                SendOutcome::Sent => 0,
                SendOutcome::Queued => 1,
                SendOutcome::Dropped => 2,
            })),
            Err(full) => Err(self.full_error(full)),
        }
    }

    fn full_error(&self, full: OutboxFull) -> JsValue {
        let (max_messages, max_bytes) = self.driver.outbox_limits();
        outbox_full_error(
            full.queued_messages as f64,
            full.queued_bytes as f64,
            full.message_bytes as f64,
            max_messages as f64,
            max_bytes as f64,
        )
    }
}

/// Debug: the number of live closures and listeners held by all connections (for leak tests).
#[wasm_bindgen(js_name = "__liveHandles")]
pub fn live_handles_js() -> u32 {
    live_handles() as u32
}
