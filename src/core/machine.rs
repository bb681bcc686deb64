//! The connection state machine: every transition lives here.
use super::*;

pub struct Machine {
    // private state: status, current conn id, backoff, outbox, heartbeat timers, ...
}

impl Machine {
    /// Validates nothing (call `Options::validate` first). Starts at once: the first
    /// `poll_command` is `Command::Open`. `seed` feeds the jitter PRNG.
    pub fn new(_options: Options, _seed: u64, _now: Millis) -> Machine { todo!() }
    pub fn handle(&mut self, _now: Millis, _input: Input) { todo!() }
    /// Call when `now >= poll_timeout()`.
    pub fn handle_timeout(&mut self, _now: Millis) { todo!() }
    /// A user send. Ok(Sent) means a `Command::Send` is queued for the driver.
    pub fn send(&mut self, _now: Millis, _payload: Payload) -> Result<SendOutcome, OutboxFull> { todo!() }
    /// The user's close: for good, no reconnect. Validates code and reason first.
    pub fn close(&mut self, _now: Millis, _code: u16, _reason: String) -> Result<(), CloseError> { todo!() }
    /// Start a new attempt now with the backoff reset (also after close()).
    pub fn reconnect(&mut self, _now: Millis) { todo!() }
    /// The connection is being released: abandon the socket, report queued messages dropped (Released).
    pub fn release(&mut self, _now: Millis) { todo!() }
    pub fn poll_command(&mut self) -> Option<Command> { todo!() }
    pub fn poll_event(&mut self) -> Option<Event> { todo!() }
    /// The one next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Millis> { todo!() }

    pub fn status(&self) -> Status { todo!() }
    /// The current reconnect attempt number (0 before any retry / after a reset).
    pub fn attempt(&self) -> u32 { todo!() }
    /// When the next retry starts (core clock), while waiting for one.
    pub fn next_retry_at(&self) -> Option<Millis> { todo!() }
    pub fn queued_messages(&self) -> usize { todo!() }
    pub fn queued_bytes(&self) -> usize { todo!() }
    /// The last bufferedAmount reading of the current socket (0 without one).
    pub fn buffered_amount(&self) -> u64 { todo!() }
    pub fn last_close(&self) -> Option<&CloseInfo> { todo!() }
}
