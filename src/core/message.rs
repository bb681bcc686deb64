//! What the core needs to know of a message, and nothing more: its size, whether it is the
//! heartbeat's pong, and a way to keep it. The core never reads a message's content, so the
//! browser driver can hand it JS values (no copy into WebAssembly) while the host tests use
//! [`Payload`].

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
}

impl Payload {
    /// [`Message::byte_len`], without the trait in scope.
    pub fn byte_len(&self) -> usize {
        Message::byte_len(self)
    }
}
