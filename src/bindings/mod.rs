//! The JavaScript API: `Connection`, camelCase, typed in the generated .d.ts.
//!
//! - this file: the `Connection` class (everything it does is delegated to the driver);
//! - `options.rs`: the options object, read by hand so that every mistake throws at once with
//!   the option's path in the message ("invalid option reconnect.jitter: …");
//! - `errors.rs`: the errors it throws;
//! - `types.rs`: the TypeScript types of options and snapshot.
use js_sys::{ArrayBuffer, Function, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{validate_close, OutboxOptions, Payload};
use crate::driver::{check_ws_url, describe_error, live_handles, Config, Driver, UrlSource};

mod errors;
mod options;
mod types;

use errors::{close_error, describe_value, outbox_full_error, range_error, type_error};
use options::parse_options;

/// A resilient WebSocket connection. Connecting starts at once.
#[wasm_bindgen]
pub struct Connection {
    driver: Driver,
    outbox: OutboxOptions,
}

#[wasm_bindgen]
impl Connection {
    /// Throws at once on a URL that is not ws:/wss: or cannot be parsed, and on an invalid
    /// option (the message names it).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "UrlSource")] url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ConnectionOptions")] options: Option<
            Object,
        >,
    ) -> Result<Connection, JsValue> {
        let url = if let Some(s) = url.as_string() {
            if let Some(problem) = check_ws_url(&s) {
                return Err(js_sys::SyntaxError::new(&format!("invalid url: {problem}")).into());
            }
            UrlSource::Fixed(s)
        } else if let Some(f) = url.dyn_ref::<Function>() {
            UrlSource::Function(f.clone())
        } else {
            return Err(type_error(format!(
                "invalid url: must be a string or a function returning one (got {})",
                describe_value(&url)
            )));
        };
        let options: JsValue = options.map_or(JsValue::UNDEFINED, JsValue::from);
        let parsed = parse_options(&options)?;
        let outbox = parsed.options.outbox.clone();
        let driver = Driver::start(Config {
            url,
            protocols: parsed.protocols,
            options: parsed.options,
            hooks: parsed.hooks,
        });
        Ok(Connection { driver, outbox })
    }

    /// "connecting" | "connected" | "reconnecting" | "closed".
    #[wasm_bindgen(getter, unchecked_return_type = "Status")]
    pub fn status(&self) -> String {
        self.driver.status().as_str().to_owned()
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
    #[wasm_bindgen(js_name = sendMessage, unchecked_return_type = "SendResult")]
    pub fn send_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ArrayBuffer | ArrayBufferView")]
        data: JsValue,
    ) -> Result<String, JsValue> {
        let payload = payload_from_js(&data)?;
        self.send(payload)
    }

    /// JSON.stringify, then sendMessage. A value with no JSON form (cyclic, BigInt, undefined,
    /// a function) throws and queues nothing.
    #[wasm_bindgen(js_name = sendJsonMessage, unchecked_return_type = "SendResult")]
    pub fn send_json_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<String, JsValue> {
        let text = match JSON::stringify(&value) {
            Err(e) => {
                return Err(type_error(format!(
                    "sendJsonMessage: the value cannot be serialized to JSON ({})",
                    describe_error(&e)
                )))
            }
            Ok(s) => s.as_string(),
        };
        let Some(text) = text else {
            return Err(type_error(format!(
                "sendJsonMessage: {} has no JSON form",
                describe_value(&value)
            )));
        };
        self.send(Payload::Text(text))
    }

    /// Calls `listener` after every change of the snapshot; returns the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        match listener.dyn_into::<Function>() {
            Ok(f) => Ok(self.driver.subscribe(f)),
            Err(v) => Err(type_error(format!(
                "subscribe: listener must be a function (got {})",
                describe_value(&v)
            ))),
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
                        return Err(range_error(format!(
                            "close: code must be 1000 or an integer in 3000..=4999 (got {})",
                            describe_value(&v)
                        )))
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
                    None => {
                        return Err(type_error(format!(
                            "close: reason must be a string (got {})",
                            describe_value(&v)
                        )))
                    }
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
    fn send(&self, payload: Payload) -> Result<String, JsValue> {
        let bytes = payload.byte_len();
        match self.driver.send(payload) {
            Ok(outcome) => Ok(outcome.as_str().to_owned()),
            Err(full) => Err(outbox_full_error(&full, &self.outbox, bytes)),
        }
    }
}

/// Debug: the number of live closures and listeners held by all connections (for leak tests).
#[wasm_bindgen(js_name = "__liveHandles")]
pub fn live_handles_js() -> u32 {
    live_handles() as u32
}

/// sendMessage's data: a string, an ArrayBuffer, or the bytes an ArrayBufferView covers.
fn payload_from_js(data: &JsValue) -> Result<Payload, JsValue> {
    if let Some(s) = data.as_string() {
        Ok(Payload::Text(s))
    } else if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
        Ok(Payload::Binary(Uint8Array::new(buffer).to_vec()))
    } else if ArrayBuffer::is_view(data) {
        let buffer = Reflect::get(data, &"buffer".into())?;
        let offset = Reflect::get(data, &"byteOffset".into())?
            .as_f64()
            .unwrap_or(0.0);
        let length = Reflect::get(data, &"byteLength".into())?
            .as_f64()
            .unwrap_or(0.0);
        let view =
            Uint8Array::new_with_byte_offset_and_length(&buffer, offset as u32, length as u32);
        Ok(Payload::Binary(view.to_vec()))
    } else {
        Err(type_error(format!(
            "sendMessage: data must be a string, an ArrayBuffer or an ArrayBufferView (got {})",
            describe_value(data)
        )))
    }
}
