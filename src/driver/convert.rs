//! Conversions between the core's values and JS values.
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{CloseInfo, Payload};

/// A short description of a thrown JS value.
pub(crate) fn describe_error(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        let name = String::from(e.name());
        let message = String::from(e.message());
        if name.is_empty() {
            message
        } else {
            format!("{name}: {message}")
        }
    } else if let Some(s) = err.as_string() {
        s
    } else {
        format!("{err:?}")
    }
}

/// Text as a string, binary as an ArrayBuffer.
pub(super) fn payload_to_js(payload: &Payload) -> JsValue {
    match payload {
        Payload::Text(s) => JsValue::from_str(s),
        Payload::Binary(b) => Uint8Array::from(b.as_slice()).buffer().into(),
    }
}

// The frozen objects handed to JS are built in JS: one call across the boundary instead of a
// `Reflect.set` per field plus a freeze (this runs for every received message).
#[wasm_bindgen(inline_js = "
export function frozen_message(data, receivedAt) { return Object.freeze({ data, receivedAt }); }
export function frozen_close(code, reason, wasClean) { return Object.freeze({ code, reason, wasClean }); }
")]
extern "C" {
    /// The frozen `{ data, receivedAt }`.
    pub(super) fn frozen_message(data: &JsValue, received_at: f64) -> JsValue;
    fn frozen_close(code: u16, reason: &str, was_clean: bool) -> JsValue;
}

/// The frozen `{ code, reason, wasClean }`.
pub(super) fn close_info_to_js(info: &CloseInfo) -> JsValue {
    frozen_close(info.code, &info.reason, info.was_clean)
}
