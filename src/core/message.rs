//! What the core needs to know of a message, and nothing more: its size, whether it is the
//! heartbeat's pong, and a way to keep it. The core never reads a message's content, so the
//! browser driver can hand it JS values (no copy into WebAssembly) while the host tests use
//! [`Payload`].
use resilient_ws_protocol::wire::{self, Msg};

use super::delivery::{ClientFrame, ServerFrame};

/// A message as the core handles it: an opaque value it queues, hands back and measures.
pub trait Message: Clone {
    /// A text message: the heartbeat's ping and pong are made with it, once per machine.
    fn text(text: &str) -> Self;

    /// The bytes it counts against the outbox bounds and bufferedAmount: the UTF-8 length of
    /// text, the length of binary (what the browser's `bufferedAmount` counts). The core asks
    /// only for messages the user sends and for the ping.
    fn byte_len(&self) -> usize;

    /// Whether this received message is the text `pong` (a value made by [`Message::text`]).
    /// Asked only while the heartbeat is on.
    fn is_same_text(&self, pong: &Self) -> bool;

    /// Called when the message is kept beyond the send call that passed it in (it waits in
    /// the outbox): a value the caller may still change (a typed array) must be copied now,
    /// so that what is sent later is what was passed. Messages handed to the socket at once
    /// are never held, and so never copied.
    fn hold(&mut self) {}

    /// The wire form of a delivery frame (PROTOCOL.md). Used only with `delivery` on.
    fn encode(frame: ClientFrame<'_, Self>) -> Self;

    /// This received message as a delivery frame from the server, or None when it is not
    /// one (it then reaches the app as it is). Asked only with `delivery` on.
    fn decode(&self) -> Option<ServerFrame<Self>>;
}

/// A message with its content in Rust: text or bytes. The core's host tests, benches and
/// simulations use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

impl Message for Payload {
    fn text(text: &str) -> Payload {
        Payload::Text(text.to_owned())
    }

    fn byte_len(&self) -> usize {
        match self {
            Payload::Text(s) => s.len(),
            Payload::Binary(b) => b.len(),
        }
    }

    fn is_same_text(&self, pong: &Payload) -> bool {
        matches!((self, pong), (Payload::Text(a), Payload::Text(b)) if a == b)
    }

    fn encode(frame: ClientFrame<'_, Payload>) -> Payload {
        let frame = match frame {
            ClientFrame::Hello { sid, inbound } => wire::ClientFrame::Hello {
                sid: sid.to_owned(),
                inbound,
            },
            ClientFrame::Data { seq, payload } => wire::ClientFrame::Data {
                seq,
                payload: payload.clone().into(),
            },
            ClientFrame::Ack { upto } => wire::ClientFrame::Ack { upto },
        };
        wire::encode_client(&frame).into()
    }

    fn decode(&self) -> Option<ServerFrame<Payload>> {
        Some(match wire::decode_server(&self.clone().into())? {
            wire::ServerFrame::Welcome { out, resumed } => ServerFrame::Welcome { out, resumed },
            wire::ServerFrame::Ack { upto } => ServerFrame::Ack { upto },
            wire::ServerFrame::Nack { seq, error } => ServerFrame::Nack { seq, error },
            wire::ServerFrame::Data { seq, payload } => ServerFrame::Data {
                seq,
                payload: payload.into(),
            },
        })
    }
}

impl Payload {
    /// [`Message::byte_len`], without the trait in scope.
    pub fn byte_len(&self) -> usize {
        Message::byte_len(self)
    }
}

/// The host's wire form is the protocol crate's: the same frames the Rust servers read.
impl From<Payload> for Msg {
    fn from(p: Payload) -> Msg {
        match p {
            Payload::Text(s) => Msg::Text(s),
            Payload::Binary(b) => Msg::Binary(b),
        }
    }
}

impl From<Msg> for Payload {
    fn from(m: Msg) -> Payload {
        match m {
            Msg::Text(s) => Payload::Text(s),
            Msg::Binary(b) => Payload::Binary(b),
        }
    }
}
