//! Conversions between the core's values and JS values.
use js_sys::{Object, Reflect, Uint8Array};
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

/// The frozen `{ code, reason, wasClean }`.
pub(super) fn close_info_to_js(info: &CloseInfo) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"code".into(), &JsValue::from(info.code));
    let _ = Reflect::set(&o, &"reason".into(), &JsValue::from_str(&info.reason));
    let _ = Reflect::set(&o, &"wasClean".into(), &JsValue::from_bool(info.was_clean));
    Object::freeze(&o).into()
}
