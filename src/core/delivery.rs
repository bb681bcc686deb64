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
    /// `persist`: every message is numbered when it is sent (not when it is first handed to a
    /// socket), so that its sequence number can be stored with it, and the machine logs what
    /// the driver must store ([`PersistChange`]). Under an overflow policy nothing numbered
    /// can be evicted: a message that does not fit is dropped itself (`"full"`).
    pub persist: bool,
}

impl Default for DeliveryOptions {
    /// ackTimeoutMs 10000, ackEveryMs 1000.
    fn default() -> Self {
        DeliveryOptions {
            ack_timeout_ms: 10_000,
            ack_every_ms: 1_000,
            persist: false,
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

/// What changed in the delivery session that a persistent store must follow (`persist` on),
/// in the order it happened. The driver polls them ([`Machine::poll_persist`]) after each
/// step and writes them in that order; the session's `sid`, `inbound`, `next_seq` and
/// `welcomed` are read from the machine directly.
///
/// [`Machine::poll_persist`]: super::Machine::poll_persist
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistChange {
    /// A message got this sequence number (see [`Machine::unacked_message`]): store it.
    ///
    /// [`Machine::unacked_message`]: super::Machine::unacked_message
    Numbered(u64),
    /// Every message up to this seq is acknowledged: delete them (one range).
    Acked(u64),
    /// The message with this seq was refused by the server: delete it.
    Removed(u64),
    /// Everything was renumbered (a resync, or a restore that started a fresh session):
    /// replace the stored messages with the machine's.
    Reset,
}

/// A delivery session read back from a store, to start a machine from
/// ([`Machine::restore`](super::Machine::restore)).
#[derive(Clone, Debug)]
pub struct Restored<M> {
    /// The stored session id; None starts a fresh session (the messages are renumbered from 1).
    pub sid: Option<String>,
    /// The last server seq given to the app.
    pub inbound: u64,
    /// The seq the next message gets (at least one more than the last stored message's).
    pub next_seq: u64,
    /// Whether the session was ever welcomed (a later `resumed: false` then means a resync).
    pub welcomed: bool,
    /// The unacknowledged messages with their seqs, oldest first.
    pub unacked: Vec<(u64, M)>,
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
    /// `persist`: the changes the driver has not polled yet.
    log: VecDeque<PersistChange>,
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
            log: VecDeque::new(),
        }
    }

    fn record(&mut self, change: PersistChange) {
        if self.options.persist {
            self.log.push_back(change);
        }
    }

    pub(super) fn poll_persist(&mut self) -> Option<PersistChange> {
        self.log.pop_front()
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The unacknowledged message `seq` (searched from the newest end: the driver asks for
    /// messages it has just been told were numbered).
    pub(super) fn message(&self, seq: u64) -> Option<&M> {
        self.unacked
            .iter()
            .rev()
            .find(|u| u.seq == seq)
            .map(|u| &u.msg)
    }

    /// Every unacknowledged message with its seq, oldest first.
    pub(super) fn messages(&self) -> impl Iterator<Item = (u64, &M)> {
        self.unacked.iter().map(|u| (u.seq, &u.msg))
    }

    /// `persist`: numbers a message (which the caller has [held](Message::hold)) at once and
    /// keeps it to be sent when the socket has room.
    pub(super) fn enqueue(&mut self, now: Millis, msg: M, len: usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked.push_back(Unacked {
            msg,
            len,
            seq,
            sent_at: now,
        });
        self.unacked_bytes += len;
        self.record(PersistChange::Numbered(seq));
    }

    /// Starts from a stored session, before the first hello: its messages come first, then
    /// those sent since the machine started (numbered after them). With no stored `sid`, the
    /// session is fresh: everything is numbered from 1.
    pub(super) fn restore(&mut self, now: Millis, restored: Restored<M>) {
        let pending: Vec<Unacked<M>> = self.unacked.drain(..).collect();
        self.log.clear();
        self.unacked_bytes = 0;
        self.sent = 0;
        let fresh = restored.sid.is_none();
        if let Some(sid) = restored.sid {
            self.sid = sid;
            self.inbound = restored.inbound;
            self.acked_inbound = restored.inbound;
            self.welcomed = restored.welcomed;
        }
        let mut next = if fresh { 1 } else { restored.next_seq.max(1) };
        for (seq, msg) in restored.unacked {
            let seq = if fresh { next } else { seq };
            next = next.max(seq + 1);
            let len = msg.byte_len();
            self.unacked_bytes += len;
            self.unacked.push_back(Unacked {
                msg,
                len,
                seq,
                sent_at: now,
            });
        }
        self.next_seq = next;
        for u in pending {
            self.enqueue(now, u.msg, u.len);
        }
        if fresh {
            self.log.clear();
            self.welcomed = false;
            self.record(PersistChange::Reset);
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
    /// Only while nothing waits to be resent (the numbered messages are the oldest).
    pub(super) fn number(&mut self, now: Millis, msg: M, len: usize) -> M {
        debug_assert!(!self.has_resend());
        self.enqueue(now, msg, len);
        self.resend_next(now)
            .expect("the message just numbered is the next to send")
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
        let mut last = None;
        while let Some(seq) = self.unacked.front().map(|u| u.seq).filter(|&s| s <= upto) {
            last = Some(seq);
            acked.extend(self.pop_front());
        }
        if let Some(seq) = last {
            self.record(PersistChange::Acked(seq));
        }
        acked
    }

    /// Removes the message `seq` (the server refused it), if it is still unacknowledged.
    pub(super) fn reject(&mut self, seq: u64) -> Option<M> {
        let i = self.unacked.iter().position(|u| u.seq == seq)?;
        self.record(PersistChange::Removed(seq));
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
        self.log.clear();
        self.record(PersistChange::Reset);
    }

    /// Every unacknowledged message, oldest first, leaving none (release()).
    pub(super) fn take_all(&mut self) -> Vec<M> {
        let all: Vec<M> = self.unacked.drain(..).map(|u| u.msg).collect();
        self.unacked_bytes = 0;
        self.sent = 0;
        all
    }
}
