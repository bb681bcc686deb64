//! Messages as the driver hands them to the core: the JS value itself (a string, an
//! ArrayBuffer or a view), never its bytes. The core sees only the byte length, measured in JS
//! (js/src/messages.js, shared with the hook), and asks for a private copy only of a message
//! that waits in the outbox.
use wasm_bindgen::prelude::*;

use crate::core::{ClientFrame, Message, ServerFrame};

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
    /// sendJsonMessage's text, or its TypeError (no JSON form, or not serializable).
    #[wasm_bindgen(js_name = jsonText, catch)]
    pub(crate) fn json_text(value: &JsValue) -> Result<JsValue, JsValue>;
    /// Delivery: a client frame's wire form (kind 0 hello, 1 data, 2 ack).
    #[wasm_bindgen(js_name = encodeFrame)]
    fn encode_frame(kind: u32, n: f64, a: &JsValue) -> JsValue;
    /// Delivery: a server frame as [kind, n, x], or undefined.
    #[wasm_bindgen(js_name = decodeFrame)]
    fn decode_frame(data: &JsValue) -> JsValue;
}

/// A message: the JS value, and its byte length when it is one the user sends (received
/// messages are not measured: the core never asks).
#[derive(Clone, Debug)]
pub(crate) struct JsMessage {
    pub(crate) value: JsValue,
    bytes: usize,
    /// Delivery: the sendWithAck promise this message settles (0: none).
    pub(crate) ticket: u32,
    /// `persist`: when it was sent (epoch ms; 0: not recorded).
    pub(crate) at: f64,
    /// Already a private copy.
    held: bool,
}

impl JsMessage {
    /// A message the user sends, already measured with [`byte_length`].
    pub(crate) fn outgoing(value: JsValue, bytes: usize) -> JsMessage {
        JsMessage {
            value,
            bytes,
            ticket: 0,
            at: 0.0,
            held: false,
        }
    }

    /// A message the socket received.
    pub(crate) fn incoming(value: JsValue) -> JsMessage {
        JsMessage::outgoing(value, 0)
    }

    /// A frame made here, measured in JS.
    fn frame(value: JsValue) -> JsMessage {
        let bytes = byte_length(&value).max(0.0) as usize;
        JsMessage::outgoing(value, bytes)
    }
}

impl Message for JsMessage {
    fn text(text: &str) -> JsMessage {
        JsMessage::outgoing(JsValue::from_str(text), text.len())
    }

    fn byte_len(&self) -> usize {
        self.bytes
    }

    fn is_same_text(&self, pong: &JsMessage) -> bool {
        self.value == pong.value
    }

    fn hold(&mut self) {
        if !std::mem::replace(&mut self.held, true) {
            self.value = copy_data(&self.value);
        }
    }

    fn encode(frame: ClientFrame<'_, JsMessage>) -> JsMessage {
        JsMessage::frame(match frame {
            ClientFrame::Hello { sid, inbound } => {
                encode_frame(0, inbound as f64, &JsValue::from_str(sid))
            }
            ClientFrame::Data { seq, payload } => encode_frame(1, seq as f64, &payload.value),
            ClientFrame::Ack { upto } => encode_frame(2, upto as f64, &JsValue::UNDEFINED),
        })
    }

    fn decode(&self) -> Option<ServerFrame<JsMessage>> {
        let frame = decode_frame(&self.value);
        if frame.is_undefined() {
            return None;
        }
        let frame: js_sys::Array = frame.unchecked_into();
        let n = frame.get(1).as_f64().unwrap_or(0.0) as u64;
        let x = frame.get(2);
        Some(match frame.get(0).as_f64() {
            Some(0.0) => ServerFrame::Welcome {
                out: n,
                resumed: x.is_truthy(),
            },
            Some(1.0) => ServerFrame::Ack { upto: n },
            Some(2.0) => ServerFrame::Nack {
                seq: n,
                error: x.as_string().unwrap_or_default(),
            },
            _ => ServerFrame::Data {
                seq: n,
                payload: JsMessage::incoming(x),
            },
        })
    }
}
