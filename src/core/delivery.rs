//! The delivery session's bookkeeping (the `delivery` option, PROTOCOL.md): sequence numbers,
//! the messages sent but not yet acknowledged, and what the app has been given of the server's
//! stream. The machine decides when things happen; this file keeps the numbers straight.
//!
//! The core never sees the wire form: a [`Message`] encodes [`ClientFrame`]s and decodes
//! [`ServerFrame`]s (JSON text and 0x64-prefixed binary frames, in JS for the browser and in
//! the `resilient-ws-protocol` crate on the host).
use std::collections::VecDeque;

use super::{Message, Millis};

/// `delivery: true | { ackTimeoutMs, ackEveryMs }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// An open socket that leaves the oldest unacknowledged message this long without an
    /// acknowledgement is dead: it is dropped and the session resumes on a new one.
    pub ack_timeout_ms: u64, // 10000
    /// The client acknowledges the server's data at most this often.
    pub ack_every_ms: u64, // 1000
}

impl Default for DeliveryOptions {
    /// ackTimeoutMs 10000, ackEveryMs 1000.
    fn default() -> Self {
        DeliveryOptions {
            ack_timeout_ms: 10_000,
            ack_every_ms: 1_000,
        }
    }
}

/// A frame the client sends (PROTOCOL.md). `Data` borrows the app's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFrame<'a, M> {
    /// `{"t":"hello","sid":…,"in":…}`: the first frame on every open socket.
    Hello { sid: &'a str, inbound: u64 },
    /// `{"t":"d","s":…,"p":…}`, or a binary frame 0x64 + seq + bytes.
    Data { seq: u64, payload: &'a M },
    /// `{"t":"a","s":…}`: the server's data up to `upto` has been given to the app.
    Ack { upto: u64 },
}

/// A protocol frame from the server (PROTOCOL.md). Anything else is an ordinary message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerFrame<M> {
    /// The answer to hello: the highest client seq the server has accepted, and whether it
    /// knew the session.
    Welcome { out: u64, resumed: bool },
    /// Every client message up to `upto` is accepted.
    Ack { upto: u64 },
    /// The message `seq` is refused, and will not be resent.
    Nack { seq: u64, error: String },
    /// Server data number `seq`.
    Data { seq: u64, payload: M },
}

/// A message that has a sequence number: sent at least once, not yet acknowledged.
#[derive(Clone, Debug)]
struct Unacked<M> {
    msg: M,
    len: usize,
    seq: u64,
    /// When it was handed to the current socket.
    sent_at: Millis,
}

/// The session of one Connection.
#[derive(Clone, Debug)]
pub(super) struct Session<M> {
    pub(super) options: DeliveryOptions,
    pub(super) sid: String,
    /// Numbered messages, oldest first. A message is numbered when it is first handed to a
    /// socket, so the numbered ones are always the oldest of everything the app sent, and
    /// messages still in the outbox can be dropped without leaving a gap in the numbers.
    unacked: VecDeque<Unacked<M>>,
    unacked_bytes: usize,
    /// How many of `unacked` (a prefix) were handed to the current socket.
    sent: usize,
    /// The seq the next message gets.
    next_seq: u64,
    /// The last server seq given to the app.
    pub(super) inbound: u64,
    /// The last server seq acknowledged to the server.
    pub(super) acked_inbound: u64,
    /// Whether a welcome ever arrived (a later `resumed: false` means continuity was lost).
    pub(super) welcomed: bool,
    /// The last welcome's `resumed`.
    pub(super) resumed: Option<bool>,
}

impl<M: Message> Session<M> {
    pub(super) fn new(options: DeliveryOptions, sid: String) -> Session<M> {
        Session {
            options,
            sid,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            sent: 0,
            next_seq: 1,
            inbound: 0,
            acked_inbound: 0,
            welcomed: false,
            resumed: None,
        }
    }

    pub(super) fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    pub(super) fn unacked_bytes(&self) -> usize {
        self.unacked_bytes
    }

    /// Whether numbered messages wait to be (re)sent on the current socket.
    pub(super) fn has_resend(&self) -> bool {
        self.sent < self.unacked.len()
    }

    /// The next numbered message to resend on the current socket, as its wire frame.
    pub(super) fn resend_next(&mut self, now: Millis) -> Option<M> {
        let u = self.unacked.get_mut(self.sent)?;
        u.sent_at = now;
        self.sent += 1;
        Some(M::encode(ClientFrame::Data {
            seq: u.seq,
            payload: &u.msg,
        }))
    }

    /// Numbers `msg` (which the caller has [held](Message::hold)), keeps it until it is
    /// acknowledged, and returns its wire frame for the current socket.
    pub(super) fn number(&mut self, now: Millis, msg: M, len: usize) -> M {
        let seq = self.next_seq;
        self.next_seq += 1;
        let frame = M::encode(ClientFrame::Data { seq, payload: &msg });
        self.unacked.push_back(Unacked {
            msg,
            len,
            seq,
            sent_at: now,
        });
        self.unacked_bytes += len;
        self.sent += 1;
        frame
    }

    /// When the oldest message in flight on the current socket was handed to it.
    pub(super) fn oldest_in_flight(&self) -> Option<Millis> {
        (self.sent > 0).then(|| self.unacked[0].sent_at)
    }

    /// The socket is gone: everything unacknowledged is resent on the next one.
    pub(super) fn socket_lost(&mut self) {
        self.sent = 0;
    }

    fn pop_front(&mut self) -> Option<M> {
        let u = self.unacked.pop_front()?;
        self.unacked_bytes -= u.len;
        self.sent = self.sent.saturating_sub(1);
        Some(u.msg)
    }

    /// Forgets every message up to `upto` (a cumulative acknowledgement, or a welcome's
    /// `out`), returning them oldest first.
    pub(super) fn acknowledge(&mut self, upto: u64) -> Vec<M> {
        let mut acked = Vec::new();
        while self.unacked.front().is_some_and(|u| u.seq <= upto) {
            acked.extend(self.pop_front());
        }
        acked
    }

    /// Removes the message `seq` (the server refused it), if it is still unacknowledged.
    pub(super) fn reject(&mut self, seq: u64) -> Option<M> {
        let i = self.unacked.iter().position(|u| u.seq == seq)?;
        if i == 0 {
            return self.pop_front();
        }
        let u = self.unacked.remove(i)?;
        self.unacked_bytes -= u.len;
        if i < self.sent {
            self.sent -= 1;
        }
        Some(u.msg)
    }

    /// The server lost the session: number the unacknowledged messages afresh from 1, in
    /// order, and start the inbound stream again from 0.
    pub(super) fn restart(&mut self) {
        for (u, seq) in self.unacked.iter_mut().zip(1..) {
            u.seq = seq;
        }
        self.next_seq = self.unacked.len() as u64 + 1;
        self.inbound = 0;
        self.acked_inbound = 0;
    }

    /// Every unacknowledged message, oldest first, leaving none (release()).
    pub(super) fn take_all(&mut self) -> Vec<M> {
        let all: Vec<M> = self.unacked.drain(..).map(|u| u.msg).collect();
        self.unacked_bytes = 0;
        self.sent = 0;
        all
    }
}
