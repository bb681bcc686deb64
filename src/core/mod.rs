//! The sans-IO connection core. It never touches the network, the clock or randomness:
//! time comes in as milliseconds on a monotonic clock, randomness as a seed. The driver
//! feeds it [`Input`]s and timeouts and carries out the [`Command`]s it polls; the user
//! hears the [`Event`]s. Every transition lives in [`machine`].
//!
//! The core never reads a message's content: it is generic over the [`Message`] type, and
//! learns only a message's byte length and whether it is the heartbeat's pong. The browser
//! driver passes JS values (no message data crosses into WebAssembly); the host tests use
//! [`Payload`].
pub mod backoff;
pub mod delivery;
pub mod machine;
pub mod message;
pub mod options;
pub mod outbox;
pub mod rng;
mod timers;

pub use backoff::Backoff;
pub use delivery::{ClientFrame, DeliveryOptions, PersistChange, Restored, ServerFrame};
pub use machine::{Machine, BUFFER_POLL_MAX_MS, BUFFER_POLL_MS};
pub use message::{Message, Payload};
pub use options::{
    HeartbeatOptions, OptionError, Options, OutboxOptions, Overflow, ReconnectOptions,
};
pub use outbox::{Outbox, Pushed};
pub use rng::Rng;

use std::fmt;

/// Milliseconds on the driver's monotonic clock (performance.now() in the browser).
pub type Millis = u64;

/// Identifies one socket (one connection attempt). Inputs carrying an old id are ignored.
pub type ConnId = u64;

/// The connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The first attempt (after construction or a user `reconnect()`) is under way.
    Connecting,
    /// A socket is open.
    Connected,
    /// A connection was lost or an attempt failed: waiting for the backoff timer, or a retry is under way.
    Reconnecting,
    /// No socket and no further attempts; says why.
    Closed(ClosedReason),
}

impl Status {
    /// The JS name: "connecting" | "connected" | "reconnecting" | "closed".
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Reconnecting => "reconnecting",
            Status::Closed(_) => "closed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedReason {
    /// The user called close().
    User,
    /// maxAttempts retries all failed.
    AttemptsExhausted,
    /// The close policy (shouldReconnect) refused, or reconnect is disabled.
    PolicyRefused,
}

impl ClosedReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClosedReason::User => "user",
            ClosedReason::AttemptsExhausted => "attempts-exhausted",
            ClosedReason::PolicyRefused => "policy",
        }
    }
}

/// What a socket's close event said (or what the core synthesized when it abandoned a socket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: u16,
    pub reason: String,
    pub was_clean: bool,
}

/// Why a message was reported dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// overflow "drop-oldest": evicted to make room for a newer message.
    Overflow,
    /// overflow "drop-newest": refused because the outbox was full.
    Full,
    /// Still queued when the connection was released (free()).
    Released,
}

impl DropReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::Overflow => "overflow",
            DropReason::Full => "full",
            DropReason::Released => "released",
        }
    }
}

/// The result of a user send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Handed to the socket: a `Command::Send` is waiting in poll_command.
    Sent,
    /// Waiting in the outbox.
    Queued,
    /// Refused under overflow "drop-newest" (also reported as `Event::Dropped`).
    Dropped,
}

impl SendOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::Queued => "queued",
            SendOutcome::Dropped => "dropped",
        }
    }
}

/// Overflow "error": the outbox is full (or the message alone exceeds maxBytes); nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxFull {
    pub queued_messages: usize,
    pub queued_bytes: usize,
    pub message_bytes: usize,
}

impl fmt::Display for OutboxFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outbox full: a message of {} bytes does not fit ({} messages, {} bytes queued)",
            self.message_bytes, self.queued_messages, self.queued_bytes
        )
    }
}

impl std::error::Error for OutboxFull {}

/// close() called with a code or reason the browser would reject; nothing was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseError {
    /// Must be 1000 or 3000..=4999.
    InvalidCode(u16),
    /// Must be at most 123 UTF-8 bytes.
    ReasonTooLong(usize),
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::InvalidCode(code) => {
                write!(
                    f,
                    "invalid close code {code}: must be 1000 or in 3000..=4999"
                )
            }
            CloseError::ReasonTooLong(len) => {
                write!(f, "close reason too long: {len} UTF-8 bytes (at most 123)")
            }
        }
    }
}

impl std::error::Error for CloseError {}

/// What happened, fed to [`Machine::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input<M = Payload> {
    /// The socket `conn` fired `open`.
    Opened { conn: ConnId },
    /// The socket `conn` received a message.
    Message { conn: ConnId, payload: M },
    /// The socket `conn` fired `error`. Does not end the connection: only `Closed` does.
    Error { conn: ConnId },
    /// The socket `conn` fired `close`. `reconnect` is the close policy's decision
    /// (the user's shouldReconnect, or [`default_should_reconnect`]); the core still never
    /// reconnects after the user's own close or when reconnect is disabled.
    Closed {
        conn: ConnId,
        info: CloseInfo,
        reconnect: bool,
    },
    /// The attempt `conn` could not even create a socket (the URL function threw or gave a bad URL,
    /// the WebSocket constructor threw). Counts as a failed attempt.
    OpenFailed { conn: ConnId, error: String },
    /// A reading of the socket's bufferedAmount.
    BufferedAmount { conn: ConnId, bytes: u64 },
    /// The open socket `conn` is closing (its readyState is CLOSING: the server's close frame
    /// arrived, and the close event has not fired yet). Anything handed to it now would be
    /// dropped by the browser without an error, so nothing more is: sends wait in the outbox
    /// until the next connection. Its `Closed` follows.
    Closing { conn: ConnId },
    /// The browser says it is online again.
    Online,
    /// The browser says it is offline.
    Offline,
    /// The page became visible again.
    Visible,
}

/// What the driver must do, from [`Machine::poll_command`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<M = Payload> {
    /// Resolve the URL (call the URL function) and open a socket for attempt `conn`.
    Open { conn: ConnId },
    /// Hand `payload` to socket `conn` now.
    Send { conn: ConnId, payload: M },
    /// Read socket `conn`'s bufferedAmount now and feed it back as `Input::BufferedAmount`.
    ReadBufferedAmount { conn: ConnId },
    /// Close socket `conn` with this code and reason, and keep listening: its close event
    /// still comes in (the user's close()).
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// Close socket `conn` and detach its handlers at once: the core has already moved on
    /// (connect timeout, heartbeat timeout, release). No further input comes from it.
    Abandon { conn: ConnId },
}

/// What the user must hear, from [`Machine::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<M = Payload> {
    Status(Status),
    /// A socket opened (onOpen).
    Opened,
    /// A user message (heartbeat pongs are not passed on).
    Message(M),
    /// A socket closed or was abandoned (onClose); synthesized for abandoned sockets.
    Closed(CloseInfo),
    /// A socket error or failed attempt (onError).
    Error(String),
    /// Reconnecting stopped after this many attempts (onReconnectStop).
    ReconnectStopped {
        attempts: u32,
    },
    /// A message was dropped (onDrop).
    Dropped {
        payload: M,
        reason: DropReason,
    },
    /// Delivery: the server acknowledged this message (onAck).
    Acked(M),
    /// Delivery: the server refused this message; it is not resent (onDrop, "rejected").
    Rejected {
        payload: M,
        error: String,
    },
    /// Delivery: the server lost the session; the app should refetch its state (onResync).
    Resync,
}

/// The documented default close policy: reconnect, except after closes that mean
/// "this will fail the same way again": 1002 protocol error, 1003 unsupported data,
/// 1007 invalid payload, 1008 policy violation, 1009 message too big, 1010 missing extension,
/// 4401 unauthorized, 4403 forbidden (the graphql-ws convention).
pub fn default_should_reconnect(info: &CloseInfo) -> bool {
    !matches!(
        info.code,
        1002 | 1003 | 1007 | 1008 | 1009 | 1010 | 4401 | 4403
    )
}

/// Browsers accept only 1000 and 3000..=4999 from close(), and a reason of at most 123 UTF-8 bytes.
pub fn validate_close(code: u16, reason: &str) -> Result<(), CloseError> {
    if code != 1000 && !(3000..=4999).contains(&code) {
        return Err(CloseError::InvalidCode(code));
    }
    if reason.len() > 123 {
        return Err(CloseError::ReasonTooLong(reason.len()));
    }
    Ok(())
}
