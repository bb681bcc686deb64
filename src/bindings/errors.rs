//! The errors the JS API throws, and how a value is shown in their messages.
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::{CloseError, OutboxFull, OutboxOptions};

pub(super) fn type_error(message: String) -> JsValue {
    js_sys::TypeError::new(&message).into()
}

pub(super) fn range_error(message: String) -> JsValue {
    js_sys::RangeError::new(&message).into()
}

pub(super) fn close_error(e: CloseError) -> JsValue {
    match e {
        CloseError::InvalidCode(code) => range_error(format!(
            "close: code {code} is not allowed; use 1000 or 3000..=4999"
        )),
        CloseError::ReasonTooLong(n) => range_error(format!(
            "close: reason is {n} UTF-8 bytes; at most 123 are allowed"
        )),
    }
}

/// The `OutboxFullError` sendMessage throws under overflow "error": a message naming the
/// limits, and `queuedMessages`, `queuedBytes`, `messageBytes` as properties.
pub(super) fn outbox_full_error(
    full: &OutboxFull,
    limits: &OutboxOptions,
    bytes: usize,
) -> JsValue {
    let message = format!(
        "outbox full: {} messages and {} bytes queued (limits: maxMessages {}, maxBytes {}); \
         the {}-byte message was not queued",
        full.queued_messages, full.queued_bytes, limits.max_messages, limits.max_bytes, bytes
    );
    let e = js_sys::Error::new(&message);
    e.set_name("OutboxFullError");
    for (key, value) in [
        ("queuedMessages", full.queued_messages),
        ("queuedBytes", full.queued_bytes),
        ("messageBytes", full.message_bytes),
    ] {
        let _ = Reflect::set(&e, &key.into(), &(value as f64).into());
    }
    e.into()
}

/// A short rendering of a value for error messages.
pub(super) fn describe_value(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        format!("{s:?}")
    } else if let Some(n) = v.as_f64() {
        format!("{n}")
    } else if let Some(b) = v.as_bool() {
        format!("{b}")
    } else if v.is_null() {
        "null".to_owned()
    } else if v.is_undefined() {
        "undefined".to_owned()
    } else if Array::is_array(v) {
        "an array".to_owned()
    } else {
        format!(
            "a value of type {}",
            v.js_typeof().as_string().unwrap_or_default()
        )
    }
}
