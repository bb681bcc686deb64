//! The outbox: messages waiting for the socket, in send order, bounded in count and bytes.
use std::collections::VecDeque;

use super::options::{OutboxOptions, Overflow};
use super::{DropReason, Message, OutboxFull, Payload};

/// What [`Outbox::push`] did with a message it accepted or dropped (an outright refusal under
/// overflow "error" is `Err(OutboxFull)` instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed<M = Payload> {
    /// The new message is now at the back of the queue.
    pub queued: bool,
    /// Messages dropped by this push, in order: evicted older messages (`Overflow`) under
    /// "drop-oldest", or the new message itself (`Full`) when it was refused.
    pub dropped: Vec<(M, DropReason)>,
}

/// A FIFO of messages bounded by `max_messages` and `max_bytes` (bytes as
/// [`Message::byte_len`], measured once on the way in). A message it keeps is
/// [held](Message::hold).
///
/// When a message does not fit:
/// - [`Overflow::Error`]: refused, nothing changes → `Err(OutboxFull)`.
/// - [`Overflow::DropNewest`]: the new message is dropped (`DropReason::Full`).
/// - [`Overflow::DropOldest`]: the oldest messages are evicted (`DropReason::Overflow`) until
///   the new one fits.
///
/// A message that could never fit (larger than `max_bytes`) is `Err(OutboxFull)` under "error"
/// and dropped itself (`Full`) under both drop policies: nothing queued is evicted for it.
#[derive(Clone, Debug)]
pub struct Outbox<M = Payload> {
    /// Each message with its byte length.
    queue: VecDeque<(M, usize)>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    overflow: Overflow,
}

impl<M: Message> Outbox<M> {
    pub fn new(options: &OutboxOptions) -> Outbox<M> {
        Outbox {
            queue: VecDeque::new(),
            bytes: 0,
            max_messages: options.max_messages,
            max_bytes: options.max_bytes,
            overflow: options.overflow,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queued bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The oldest message, next to go.
    pub fn front(&self) -> Option<&M> {
        self.queue.front().map(|(m, _)| m)
    }

    /// Queued messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &M> {
        self.queue.iter().map(|(m, _)| m)
    }

    /// Whether a message of `len` bytes fits beside `reserved` (messages, bytes) held elsewhere.
    pub fn fits(&self, len: usize, reserved: (usize, usize)) -> bool {
        self.queue.len() + reserved.0 < self.max_messages
            && self.bytes.saturating_add(len).saturating_add(reserved.1) <= self.max_bytes
    }

    /// Appends `payload`, applying the overflow policy if it does not fit.
    pub fn push(&mut self, payload: M) -> Result<Pushed<M>, OutboxFull> {
        self.push_beside(payload, (0, 0))
    }

    /// [`Outbox::push`], with `reserved` (messages, bytes) counted against the bounds as well:
    /// messages kept elsewhere that this outbox cannot evict (delivery's unacknowledged ones).
    pub fn push_beside(
        &mut self,
        payload: M,
        reserved: (usize, usize),
    ) -> Result<Pushed<M>, OutboxFull> {
        let len = payload.byte_len();
        if self.fits(len, reserved) {
            self.enqueue(payload, len);
            return Ok(Pushed {
                queued: true,
                dropped: Vec::new(),
            });
        }
        let could_ever_fit =
            reserved.0 < self.max_messages && len.saturating_add(reserved.1) <= self.max_bytes;
        match self.overflow {
            Overflow::Error => Err(OutboxFull {
                queued_messages: self.queue.len() + reserved.0,
                queued_bytes: self.bytes + reserved.1,
                message_bytes: len,
            }),
            Overflow::DropOldest if could_ever_fit => {
                let mut dropped = Vec::new();
                while !self.fits(len, reserved) {
                    // Cannot be empty here: an empty queue fits any message that could ever fit.
                    let Some(old) = self.pop() else { break };
                    dropped.push((old, DropReason::Overflow));
                }
                self.enqueue(payload, len);
                Ok(Pushed {
                    queued: true,
                    dropped,
                })
            }
            Overflow::DropNewest | Overflow::DropOldest => Ok(Pushed {
                queued: false,
                dropped: vec![(payload, DropReason::Full)],
            }),
        }
    }

    fn enqueue(&mut self, mut payload: M, len: usize) {
        payload.hold();
        self.bytes += len;
        self.queue.push_back((payload, len));
    }

    /// Removes and returns the oldest message.
    pub fn pop(&mut self) -> Option<M> {
        let (p, len) = self.queue.pop_front()?;
        self.bytes -= len;
        Some(p)
    }

    /// Removes every message, oldest first.
    pub fn take_all(&mut self) -> Vec<M> {
        self.bytes = 0;
        std::mem::take(&mut self.queue)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }
}
