//! What a [`Connection`](super::Connection) reports, as Rust values: [`Event`], [`Data`],
//! [`DropError`], [`Error`]; and their conversion from the JS values the driver hands over.
use std::fmt;

use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{CloseError, CloseInfo, OptionError, OutboxFull, Status};
use crate::driver::describe_error;

/// A message: text, or binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Text(String),
    Binary(Vec<u8>),
}

impl From<String> for Data {
    fn from(s: String) -> Data {
        Data::Text(s)
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Data {
        Data::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Data {
    fn from(b: Vec<u8>) -> Data {
        Data::Binary(b)
    }
}

impl From<&[u8]> for Data {
    fn from(b: &[u8]) -> Data {
        Data::Binary(b.to_vec())
    }
}

impl Data {
    /// The text, if it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(t) => Some(t),
            Data::Binary(_) => None,
        }
    }

    /// The bytes: binary as it is, text as UTF-8.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Text(t) => t.as_bytes(),
            Data::Binary(b) => b,
        }
    }

    /// The JS value the driver sends (a string or a Uint8Array) and its byte length.
    pub(super) fn to_js(&self) -> (JsValue, usize) {
        match self {
            Data::Text(t) => (JsValue::from_str(t), t.len()),
            Data::Binary(b) => (Uint8Array::from(&b[..]).into(), b.len()),
        }
    }

    /// A message as JS holds it: a string, an ArrayBuffer or a view.
    pub(super) fn from_js(value: &JsValue) -> Data {
        if let Some(text) = value.as_string() {
            return Data::Text(text);
        }
        if value.is_instance_of::<ArrayBuffer>() {
            return Data::Binary(Uint8Array::new(value).to_vec());
        }
        let view = |key: &str| Reflect::get(value, &JsValue::from_str(key)).unwrap_or_default();
        let buffer = view("buffer");
        let (offset, length) = (view("byteOffset").as_f64(), view("byteLength").as_f64());
        match (buffer.dyn_into::<ArrayBuffer>(), offset, length) {
            (Ok(buffer), Some(offset), Some(length)) => Data::Binary(
                Uint8Array::new_with_byte_offset_and_length(&buffer, offset as u32, length as u32)
                    .to_vec(),
            ),
            _ => Data::Binary(Vec::new()),
        }
    }
}

/// Why a message was not delivered: the [`Event::Dropped`] reason, and the error of a
/// [`send_with_ack`](super::Connection::send_with_ack) future.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropError {
    /// Overflow "drop-oldest": evicted to make room for a newer message.
    Overflow,
    /// Overflow "drop-newest": refused because the outbox was full.
    Full,
    /// Still queued (or unacknowledged) when the connection was dropped.
    Released,
    /// Delivery: the server refused it, with its reason.
    Rejected(String),
}

impl DropError {
    /// From the JS reason ("overflow" | "full" | "released" | "rejected") and detail.
    pub(super) fn from_js(reason: &JsValue, detail: &JsValue) -> DropError {
        match reason.as_string().as_deref() {
            Some("overflow") => DropError::Overflow,
            Some("full") => DropError::Full,
            Some("rejected") => DropError::Rejected(detail.as_string().unwrap_or_default()),
            _ => DropError::Released,
        }
    }

    /// From a sendWithAck promise's rejection (a JS `DropError`).
    pub(super) fn from_js_error(error: &JsValue) -> DropError {
        let field = |key: &str| Reflect::get(error, &JsValue::from_str(key)).unwrap_or_default();
        DropError::from_js(&field("reason"), &field("detail"))
    }
}

impl fmt::Display for DropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropError::Overflow => f.write_str("message not delivered: overflow"),
            DropError::Full => f.write_str("message not delivered: full"),
            DropError::Released => f.write_str("message not delivered: released"),
            DropError::Rejected(why) => write!(f, "message not delivered: rejected ({why})"),
        }
    }
}

impl std::error::Error for DropError {}

/// What a connection reports, in order. Callbacks ([`ConnectionBuilder::on_event`]) and
/// streams ([`Connection::events`]) see the same events.
///
/// [`ConnectionBuilder::on_event`]: super::ConnectionBuilder::on_event
/// [`Connection::events`]: super::Connection::events
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The status changed (the first is `Connecting`, at once).
    Status(Status),
    /// A socket opened.
    Open,
    /// A message arrived (pongs of the heartbeat are not passed on).
    Message(Data),
    /// A socket closed.
    Close(CloseInfo),
    /// Something went wrong that did not end the connection (a failed attempt, a callback
    /// that threw in JS, ...).
    Error(String),
    /// `reconnect.max_attempts` retries all failed: the connection is closed.
    ReconnectStopped { attempts: u32 },
    /// A message will never be sent (or, with delivery, never acknowledged).
    Dropped { data: Data, error: DropError },
    /// Delivery: the server acknowledged this message.
    Acked(Data),
    /// Delivery: the server lost the session; what was unacknowledged is sent again.
    Resync,
}

/// What a connection method refused; nothing happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The URL is not one `new WebSocket` takes (the browser's reason).
    InvalidUrl(String),
    /// An option breaks a rule (see [`Options::validate`](crate::core::Options::validate)).
    InvalidOption(OptionError),
    /// Overflow "error": the outbox is full; nothing was queued.
    OutboxFull(OutboxFull),
    /// `close_with` got a code or reason the browser would reject; nothing was closed.
    InvalidClose(CloseError),
    /// `send_with_ack` needs the delivery option.
    DeliveryOff,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid url: {why}"),
            Error::InvalidOption(e) => e.fmt(f),
            Error::OutboxFull(e) => e.fmt(f),
            Error::InvalidClose(e) => e.fmt(f),
            Error::DeliveryOff => f.write_str(
                "send_with_ack needs the delivery option: Options::default().delivery(Some(..))",
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A thrown JS value (or the driver's Error) as text: the message of an Error.
pub(super) fn error_text(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(e) if e.name() == "Error" => e.message().into(),
        _ => describe_error(error),
    }
}

/// The frozen `{ code, reason, wasClean }` the driver hands to onClose.
pub(super) fn close_info_from_js(info: &JsValue) -> CloseInfo {
    let field = |key: &str| Reflect::get(info, &JsValue::from_str(key)).unwrap_or_default();
    CloseInfo {
        code: field("code").as_f64().unwrap_or(0.0) as u16,
        reason: field("reason").as_string().unwrap_or_default(),
        was_clean: field("wasClean").is_truthy(),
    }
}
