//! Messages as the driver hands them to the core: the JS value itself (a string, an
//! ArrayBuffer or a view), never its bytes. The core sees only the byte length, measured in JS
//! (js/src/messages.js, shared with the hook), and asks for a private copy only of a message
//! that waits in the outbox.
use wasm_bindgen::prelude::*;

use crate::core::Message;

#[wasm_bindgen(module = "/js/src/messages.js")]
extern "C" {
    /// UTF-8 length of a string, byte length of binary, -1 for what send() cannot take.
    #[wasm_bindgen(js_name = byteLength)]
    pub(crate) fn byte_length(data: &JsValue) -> f64;
    #[wasm_bindgen(js_name = copyData)]
    fn copy_data(data: &JsValue) -> JsValue;
    /// sendMessage's TypeError for data it cannot send.
    #[wasm_bindgen(js_name = invalidDataError)]
    pub(crate) fn invalid_data_error(data: &JsValue) -> JsValue;
    /// The OutboxFullError.
    #[wasm_bindgen(js_name = outboxFullError)]
    pub(crate) fn outbox_full_error(
        queued_messages: f64,
        queued_bytes: f64,
        message_bytes: f64,
        max_messages: f64,
        max_bytes: f64,
    ) -> JsValue;
    /// A short rendering of a value for error messages.
    pub(crate) fn describe(value: &JsValue) -> String;
    /// A thrown value as text: "Name: message" for an Error.
    #[wasm_bindgen(js_name = describeError)]
    pub(crate) fn describe_error(error: &JsValue) -> String;
}

/// A message: the JS value, and its byte length when it is one the user sends (received
/// messages are not measured: the core never asks).
#[derive(Clone, Debug)]
pub(crate) struct JsMessage {
    pub(crate) value: JsValue,
    bytes: usize,
}

impl JsMessage {
    /// A message the user sends, already measured with [`byte_length`].
    pub(crate) fn outgoing(value: JsValue, bytes: usize) -> JsMessage {
        JsMessage { value, bytes }
    }

    /// A message the socket received.
    pub(crate) fn incoming(value: JsValue) -> JsMessage {
        JsMessage { value, bytes: 0 }
    }
}

impl Message for JsMessage {
    fn text(text: &str) -> JsMessage {
        JsMessage {
            value: JsValue::from_str(text),
            bytes: text.len(),
        }
    }

    fn byte_len(&self) -> usize {
        self.bytes
    }

    fn is_same_text(&self, pong: &JsMessage) -> bool {
        self.value == pong.value
    }

    fn hold(&mut self) {
        self.value = copy_data(&self.value);
    }
}
