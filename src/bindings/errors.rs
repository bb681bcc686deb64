//! The errors the JS API throws. Their text is put together from static pieces and the
//! offending value, rendered in JS (js/src/messages.js): no formatting code in the module.
use wasm_bindgen::prelude::*;

use crate::core::{CloseError, OptionError};
use crate::driver::describe;

/// `text (got <value>)`.
fn with_got(text: &str, got: &JsValue) -> String {
    [text, " (got ", &describe(got), ")"].concat()
}

pub(super) fn type_error(text: &str, got: &JsValue) -> JsValue {
    js_sys::TypeError::new(&with_got(text, got)).into()
}

pub(super) fn range_error(text: &str, got: &JsValue) -> JsValue {
    js_sys::RangeError::new(&with_got(text, got)).into()
}

/// A rule of the core's `Options::validate` that the options broke.
pub(super) fn option_error(e: &OptionError) -> JsValue {
    range_error(
        &["invalid option ", e.field, ": ", e.message].concat(),
        &JsValue::from_f64(e.got),
    )
}

pub(super) fn close_error(e: CloseError) -> JsValue {
    match e {
        CloseError::InvalidCode(code) => range_error(
            "close: code is not allowed; use 1000 or 3000..=4999",
            &JsValue::from(code),
        ),
        CloseError::ReasonTooLong(n) => range_error(
            "close: reason is too long: at most 123 UTF-8 bytes are allowed",
            &JsValue::from_f64(n as f64),
        ),
    }
}
