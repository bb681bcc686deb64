//! The connection state machine: every transition lives here.
//!
//! # Sockets and attempts
//! Each attempt gets a fresh [`ConnId`] (1, 2, 3, …) and one `Command::Open`. At most one
//! socket is *current*; inputs carrying any other id are ignored, with one exception: after
//! the user's `close()` the closing socket's `Closed` input is still reported
//! (`Event::Closed`, [`Machine::last_close`]) but never leads to a reconnect. `Opened` and
//! `OpenFailed` count only for a socket still connecting, `Message` and `BufferedAmount` only
//! for the open one.
//!
//! Every socket the core opened ends with exactly one `Event::Closed`: the real close event,
//! or one the core synthesizes (code 1006, `was_clean: false`) when it abandons the socket
//! itself: "connect timeout", "heartbeat timeout", or "reconnect" (the user's `reconnect()`).
//! `release()` is the exception: after it nothing more is reported. `OpenFailed` reports
//! `Event::Error` only, since no socket existed.
//!
//! # Retries
//! A failed attempt (`Closed` before `Opened`, `OpenFailed`, connect timeout) and a lost
//! connection (`Closed` after `Opened`, heartbeat timeout) are handled alike: unless the user
//! closed, reconnecting is disabled or the close policy said no (→ `Closed(PolicyRefused)`),
//! retry `n = attempt() + 1` is scheduled after [`Backoff::delay`]`(n)` and the status becomes
//! `Reconnecting`. When `maxAttempts` retries have been made and the last one failed too, the
//! machine stops: `Closed(AttemptsExhausted)` then `Event::ReconnectStopped { attempts }`.
//! The counter goes back to 0 only once a connection has stayed open `minUptimeMs` (or on
//! `reconnect()`): a connection that drops sooner counts as one more failed retry, so a server
//! that accepts and drops at once keeps backing off (and can exhaust `maxAttempts`).
//! `Event::Error` (the socket's `error`) never ends an attempt: only the `Closed` that follows.
//!
//! # Outbox and pacing
//! A user message goes straight to the socket only while it is open, nothing waits in the
//! outbox and the estimated bufferedAmount (last reading + bytes handed since) is below
//! highWaterMark. Otherwise it waits in the outbox, behind any older ones. While connected the
//! outbox drains while the estimate is below highWaterMark, so the socket never holds more
//! than highWaterMark + one message beyond the last reading (heartbeat pings are not paced:
//! they are tiny and must go out on time). While messages wait, a `ReadBufferedAmount` is
//! requested until they are gone. The poll interval follows the readings it asked for: a
//! reading that shows progress (the buffer drained since the last one) means the socket is
//! draining, so the next reading is asked for at once (a deadline of `now`: the driver
//! re-checks on the next task, without the browsers' 4 ms clamp on nested timers); a reading
//! that shows no progress means the peer is not reading, so the interval doubles, from 1 ms up
//! to [`BUFFER_POLL_MAX_MS`]. Paced throughput therefore follows the socket's own drain rate.
//!
//! # Heartbeat
//! Pings go out every `intervalMs` from the open (straight to the socket, not through the
//! outbox). The first unanswered ping arms a deadline `timeoutMs` after it was sent; any
//! inbound message disarms it. If it passes, the socket is abandoned (synthesized close 1006
//! "heartbeat timeout") and handled like a lost connection.
//!
//! # Timers
//! [`Machine::poll_timeout`] is the earliest of the [`TimerTable`](super::timers)'s deadlines:
//! the retry timer, the connect timeout, the minUptime reset, the next ping, the pong deadline
//! and the bufferedAmount poll. [`Machine::handle_timeout`] handles every due one in time
//! order, each stopped before it is dispatched; new deadlines are counted from the `now` it is
//! given (a late driver delays them, it does not bunch them up).
use std::collections::VecDeque;

use super::delivery::{ClientFrame, PersistChange, Restored, ServerFrame, Session};
use super::timers::{Timer, TimerTable};
use super::*;

/// The bufferedAmount poll interval when messages first wait for room: at once (the next
/// task), since the socket is usually draining.
pub const BUFFER_POLL_MS: Millis = 0;
/// The longest poll interval, reached while the peer reads nothing.
pub const BUFFER_POLL_MAX_MS: Millis = 64;

/// The synthesized close code for sockets the core abandons (1006: abnormal closure).
const ABNORMAL: u16 = 1006;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Socket {
    None,
    Connecting(ConnId),
    /// Delivery: the socket is open, the hello is sent, the welcome has not come yet. For
    /// everything but the welcome it is still connecting (the connect timeout runs on).
    Greeting(ConnId),
    Open(ConnId),
}

impl Socket {
    fn conn(self) -> Option<ConnId> {
        match self {
            Socket::None => None,
            Socket::Connecting(c) | Socket::Greeting(c) | Socket::Open(c) => Some(c),
        }
    }
}

/// The heartbeat's two messages, made once.
#[derive(Clone, Debug)]
struct Heartbeat<M> {
    ping: M,
    pong: M,
    interval_ms: Millis,
    timeout_ms: Millis,
}

#[derive(Clone, Debug)]
pub struct Machine<M = Payload> {
    options: Options,
    /// None: reconnect disabled.
    backoff: Option<Backoff>,
    heartbeat: Option<Heartbeat<M>>,
    rng: Rng,
    status: Status,
    /// The id given to the latest attempt.
    last_conn: ConnId,
    socket: Socket,
    /// The socket closed by the user's close(), whose close event is still to be reported.
    closing: Option<ConnId>,
    attempt: u32,
    /// Retries since the connection was last open: the snapshot's `attempt` (0 while connected).
    outage_attempt: u32,
    timers: TimerTable,
    outbox: Outbox<M>,
    /// The last bufferedAmount reading of the open socket.
    reading: u64,
    /// Bytes handed to the open socket since that reading.
    handed: u64,
    /// The current bufferedAmount poll interval (adapts between 0 and the MAX).
    poll_interval: Millis,
    /// A `ReadBufferedAmount` was requested and its reading has not come yet.
    poll_pending: bool,
    /// The open socket is closing (`Input::Closing`): nothing more is handed to it.
    socket_closing: bool,
    online: bool,
    released: bool,
    last_close: Option<CloseInfo>,
    /// How many closes have been recorded (changes whenever `last_close` is set).
    closes: u64,
    /// Delivery's session (None: `delivery` off).
    session: Option<Session<M>>,
    commands: VecDeque<Command<M>>,
    events: VecDeque<Event<M>>,
}

impl<M: Message> Machine<M> {
    /// Validates nothing (call `Options::validate` first). Starts at once: the first
    /// `poll_command` is `Command::Open`. `seed` feeds the jitter PRNG.
    ///
    /// The initial status is `Connecting`; it is not reported as an `Event::Status`.
    pub fn new(options: Options, seed: u64, now: Millis) -> Machine<M> {
        let mut rng = Rng::new(seed);
        let session = options
            .delivery
            .clone()
            .map(|d| Session::new(d, session_id(&mut rng)));
        let mut m = Machine {
            backoff: options.reconnect.as_ref().map(Backoff::new),
            heartbeat: options.heartbeat.as_ref().map(|h| Heartbeat {
                ping: M::text(&h.message),
                pong: M::text(&h.pong_message),
                interval_ms: h.interval_ms,
                timeout_ms: h.timeout_ms,
            }),
            rng,
            status: Status::Connecting,
            last_conn: 0,
            socket: Socket::None,
            closing: None,
            attempt: 0,
            outage_attempt: 0,
            timers: TimerTable::default(),
            outbox: Outbox::new(&options.outbox),
            reading: 0,
            handed: 0,
            poll_interval: BUFFER_POLL_MS,
            poll_pending: false,
            socket_closing: false,
            online: true,
            released: false,
            last_close: None,
            closes: 0,
            session,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            options,
        };
        m.start_attempt(now);
        m
    }

    pub fn handle(&mut self, now: Millis, input: Input<M>) {
        if self.released {
            return;
        }
        match input {
            Input::Opened { conn } => self.on_opened(now, conn),
            Input::Message { conn, payload } => self.on_message(now, conn, payload),
            Input::Error { conn } => self.on_error(conn),
            Input::Closed {
                conn,
                info,
                reconnect,
            } => self.on_closed(now, conn, info, reconnect),
            Input::OpenFailed { conn, error } => self.on_open_failed(now, conn, error),
            Input::BufferedAmount { conn, bytes } => self.on_buffered_amount(now, conn, bytes),
            Input::Closing { conn } => {
                if self.socket == Socket::Open(conn) {
                    self.socket_closing = true;
                    self.timers.stop(Timer::BufferPoll);
                }
            }
            Input::Online => {
                self.online = true;
                self.retry_now(now);
            }
            Input::Offline => self.online = false,
            Input::Visible => self.retry_now(now),
        }
    }

    /// Call when `now >= poll_timeout()`. Handles every deadline that is due, earliest first,
    /// each stopped before it is dispatched; afterwards `poll_timeout()` is None or later than
    /// `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.released {
            return;
        }
        while let Some(timer) = self.timers.next_expired(now) {
            self.timers.stop(timer);
            match timer {
                Timer::Uptime => self.attempt = 0,
                Timer::Pong => self.abandon_and_retry(now, "heartbeat timeout"),
                Timer::AckTimeout => self.abandon_and_retry(now, "ack timeout"),
                Timer::Ping => self.ping(now),
                Timer::AckInbound => self.ack_inbound(),
                Timer::BufferPoll => self.request_reading(now),
                Timer::Connect => self.abandon_and_retry(now, "connect timeout"),
                Timer::Retry => self.start_attempt(now),
            }
        }
    }

    /// A user send. Ok(Sent) means a `Command::Send` is queued for the driver.
    ///
    /// Sent only while connected with an empty outbox and the estimated bufferedAmount below
    /// highWaterMark; otherwise queued in the outbox (in any status, including `Closed`: a
    /// later `reconnect()` delivers it) under its overflow policy: `Ok(Queued)`,
    /// `Ok(Dropped)` (drop-newest, or a message larger than maxBytes under a drop policy; also
    /// reported as `Event::Dropped`), or `Err(OutboxFull)` (overflow "error"; nothing queued).
    /// Evictions under drop-oldest are reported as `Event::Dropped` before this returns.
    /// A queued message is [held](Message::hold); a sent one is not.
    /// After `release()` every send is `Ok(Dropped)` with `DropReason::Released`.
    pub fn send(&mut self, now: Millis, payload: M) -> Result<SendOutcome, OutboxFull> {
        if self.released {
            self.events.push_back(Event::Dropped {
                payload,
                reason: DropReason::Released,
            });
            return Ok(SendOutcome::Dropped);
        }
        let unacked = self
            .session
            .as_ref()
            .map_or((0, 0), |s| (s.unacked_len(), s.unacked_bytes()));
        if let (Socket::Open(conn), false) = (self.socket, self.socket_closing) {
            if self.outbox.is_empty()
                && !self.has_resend()
                && self.has_room()
                && (self.session.is_none() || self.outbox.fits(payload.byte_len(), unacked))
            {
                self.hand_new(now, conn, payload);
                return Ok(SendOutcome::Sent);
            }
        }
        if self.session.as_ref().is_some_and(|s| s.options.persist) {
            return self.enqueue_numbered(now, payload, unacked);
        }
        let pushed = self.outbox.push_beside(payload, unacked)?;
        for (payload, reason) in pushed.dropped {
            self.events.push_back(Event::Dropped { payload, reason });
        }
        if !pushed.queued {
            return Ok(SendOutcome::Dropped);
        }
        self.drain_outbox(now);
        Ok(SendOutcome::Queued)
    }

    /// `persist`: a send that cannot go to the socket now is numbered at once and waits
    /// among the unacknowledged messages (the outbox stays empty). One that does not fit is
    /// refused under "error" and dropped itself (`Full`) under both drop policies: nothing
    /// numbered is ever evicted.
    fn enqueue_numbered(
        &mut self,
        now: Millis,
        mut payload: M,
        unacked: (usize, usize),
    ) -> Result<SendOutcome, OutboxFull> {
        let len = payload.byte_len();
        if !self.outbox.fits(len, unacked) {
            if self.outbox.overflow() == Overflow::Error {
                return Err(OutboxFull {
                    queued_messages: unacked.0,
                    queued_bytes: unacked.1,
                    message_bytes: len,
                });
            }
            self.events.push_back(Event::Dropped {
                payload,
                reason: DropReason::Full,
            });
            return Ok(SendOutcome::Dropped);
        }
        payload.hold();
        if let Some(session) = self.session.as_mut() {
            session.enqueue(now, payload, len);
        }
        self.drain_outbox(now);
        Ok(SendOutcome::Queued)
    }

    /// `persist`: continue a stored session (see [`Restored`]). Only before the first hello:
    /// the driver holds the first attempt's socket until the store has been read; later (or
    /// with delivery off) it does nothing. Messages sent since the machine started are
    /// numbered after the stored ones.
    pub fn restore(&mut self, now: Millis, restored: Restored<M>) {
        let greeted = !matches!(self.socket, Socket::Connecting(_) | Socket::None);
        match self.session.as_mut() {
            Some(session) if !greeted && !session.welcomed => session.restore(now, restored),
            _ => {}
        }
    }

    /// `persist`: the next change to write to the store, oldest first.
    pub fn poll_persist(&mut self) -> Option<PersistChange> {
        self.session.as_mut().and_then(Session::poll_persist)
    }

    /// Delivery: the unacknowledged message `seq`, if it still is.
    pub fn unacked_message(&self, seq: u64) -> Option<&M> {
        self.session.as_ref().and_then(|s| s.message(seq))
    }

    /// Delivery: every unacknowledged message with its seq, oldest first.
    pub fn unacked_seqs(&self) -> Vec<(u64, &M)> {
        self.session
            .as_ref()
            .map_or_else(Vec::new, |s| s.messages().collect())
    }

    /// Delivery: the seq the next message gets (0 with delivery off).
    pub fn next_seq(&self) -> u64 {
        self.session.as_ref().map_or(0, Session::next_seq)
    }

    /// Delivery: whether this session was ever welcomed.
    pub fn welcomed(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.welcomed)
    }

    /// The user's close: for good, no reconnect. Validates code and reason first.
    ///
    /// On success: `Command::Close` for the current socket (open or still connecting), if any;
    /// status `Closed(User)` at once; every timer cleared; no further attempts until
    /// `reconnect()`. Queued messages stay queued. The socket's close event, when it comes,
    /// is reported as `Event::Closed`.
    pub fn close(&mut self, _now: Millis, code: u16, reason: String) -> Result<(), CloseError> {
        validate_close(code, &reason)?;
        if self.released {
            return Ok(());
        }
        if let Some(conn) = self.socket.conn() {
            self.commands
                .push_back(Command::Close { conn, code, reason });
            // (A current socket and a closing one never coexist: reconnect() abandons the latter.)
            self.closing = Some(conn);
        }
        self.socket = Socket::None;
        self.timers.stop_all();
        self.set_status(Status::Closed(ClosedReason::User));
        Ok(())
    }

    /// Start a new attempt now with the backoff reset (also after close()).
    ///
    /// Any current socket, and a socket still closing after `close()`, is abandoned
    /// (`Command::Abandon`, synthesized `Event::Closed` 1006 "reconnect"); the attempt counter
    /// goes to 0, the status to `Connecting`, and `Command::Open` follows for a new id.
    pub fn reconnect(&mut self, now: Millis) {
        if self.released {
            return;
        }
        if let Some(conn) = self.closing.take() {
            self.abandon(conn, "reconnect");
        }
        if let Some(conn) = self.socket.conn() {
            self.abandon(conn, "reconnect");
        }
        self.socket = Socket::None;
        self.timers.stop_all();
        self.attempt = 0;
        self.outage_attempt = 0;
        self.set_status(Status::Connecting);
        self.start_attempt(now);
    }

    /// The connection is being released: abandon the socket, report queued messages dropped (Released).
    ///
    /// Status becomes `Closed(User)`; no `Event::Closed` is synthesized. Afterwards inputs,
    /// timeouts, close() and reconnect() do nothing and `poll_timeout()` is None.
    pub fn release(&mut self, _now: Millis) {
        if self.released {
            return;
        }
        for conn in [self.socket.conn(), self.closing.take()]
            .into_iter()
            .flatten()
        {
            self.commands.push_back(Command::Abandon { conn });
        }
        self.socket = Socket::None;
        self.timers.stop_all();
        let unacked = self.session.as_mut().map(Session::take_all);
        for payload in unacked.into_iter().flatten().chain(self.outbox.take_all()) {
            self.events.push_back(Event::Dropped {
                payload,
                reason: DropReason::Released,
            });
        }
        self.set_status(Status::Closed(ClosedReason::User));
        self.released = true;
    }

    pub fn poll_command(&mut self) -> Option<Command<M>> {
        self.commands.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event<M>> {
        self.events.pop_front()
    }

    /// The one next deadline, if any. It may be `now` itself: the bufferedAmount poll asks to
    /// run again on the next task while the socket drains (the driver should not wait for a
    /// clamped timer then).
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.next().map(|(at, _)| at)
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The reconnect attempt counter of the backoff (0 before any retry, and again once a
    /// connection stayed open minUptimeMs or after `reconnect()`).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The retries of the current outage: 0 while connected (and after `reconnect()`), n while
    /// waiting for or making retry n since the connection was last open.
    pub fn outage_attempt(&self) -> u32 {
        self.outage_attempt
    }

    /// When the next retry starts (core clock), while waiting for one.
    pub fn next_retry_at(&self) -> Option<Millis> {
        self.timers.get(Timer::Retry)
    }

    pub fn queued_messages(&self) -> usize {
        self.outbox.len()
    }

    pub fn queued_bytes(&self) -> usize {
        self.outbox.bytes()
    }

    /// Delivery: messages sent at least once and not acknowledged yet (0 with delivery off).
    /// They count against the outbox bounds beside [`Machine::queued_messages`].
    pub fn unacked_messages(&self) -> usize {
        self.session.as_ref().map_or(0, Session::unacked_len)
    }

    /// Delivery: the bytes of [`Machine::unacked_messages`].
    pub fn unacked_bytes(&self) -> usize {
        self.session.as_ref().map_or(0, Session::unacked_bytes)
    }

    /// Delivery: the last welcome's `resumed` (None before the first welcome, or with delivery off).
    pub fn resumed(&self) -> Option<bool> {
        self.session.as_ref().and_then(|s| s.resumed)
    }

    /// Delivery: the session id sent in every hello.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.sid.as_str())
    }

    /// Delivery: the last server seq given to the app.
    pub fn inbound_seq(&self) -> u64 {
        self.session.as_ref().map_or(0, |s| s.inbound)
    }

    /// The last bufferedAmount reading of the current socket (0 without one).
    pub fn buffered_amount(&self) -> u64 {
        self.reading
    }

    pub fn last_close(&self) -> Option<&CloseInfo> {
        self.last_close.as_ref()
    }

    /// How many closes [`Machine::last_close`] has recorded: a cheap way to see that it changed.
    pub fn closes(&self) -> u64 {
        self.closes
    }

    /// The estimated bufferedAmount of the open socket: the last reading plus the bytes
    /// handed to it since (0 without an open socket).
    pub fn estimated_buffered_amount(&self) -> u64 {
        self.reading.saturating_add(self.handed)
    }

    /// The id of the current socket (open or connecting), if any.
    pub fn current_conn(&self) -> Option<ConnId> {
        self.socket.conn()
    }

    /// Whether a fresh bufferedAmount reading could change what a send does now: the socket
    /// is open and messages wait, or the estimate says there is no room. (While the estimate
    /// shows room, a reading could only lower it: the send goes out either way.)
    pub fn wants_reading(&self) -> bool {
        matches!(self.socket, Socket::Open(_))
            && !self.socket_closing
            && (!self.outbox.is_empty() || self.has_resend() || !self.has_room())
    }

    /// The id of the current socket if it is open.
    pub fn open_conn(&self) -> Option<ConnId> {
        match self.socket {
            Socket::Open(conn) => Some(conn),
            _ => None,
        }
    }

    /// Whether the close event of socket `conn` needs the close policy's decision (the
    /// user's shouldReconnect): only for the current socket, with reconnecting enabled and
    /// the connection not closed by the user. For any other close, the answer is not used.
    pub fn close_needs_policy(&self, conn: ConnId) -> bool {
        self.backoff.is_some()
            && self.socket.conn() == Some(conn)
            && !matches!(self.status, Status::Closed(_))
    }

    /// False after `Input::Offline`, until `Input::Online`.
    pub fn online(&self) -> bool {
        self.online
    }

    /// The options the machine runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    // ---- socket inputs ----

    fn on_opened(&mut self, now: Millis, conn: ConnId) {
        if self.socket != Socket::Connecting(conn) {
            return;
        }
        if let Some(session) = &self.session {
            let hello = M::encode(ClientFrame::Hello {
                sid: &session.sid,
                inbound: session.inbound,
            });
            self.socket = Socket::Greeting(conn);
            self.commands.push_back(Command::Send {
                conn,
                payload: hello,
            });
            return;
        }
        self.established(now, conn);
    }

    /// The socket is open and (with delivery) welcomed: connected.
    fn established(&mut self, now: Millis, conn: ConnId) {
        self.socket = Socket::Open(conn);
        self.timers.stop(Timer::Connect);
        self.reading = 0;
        self.handed = 0;
        self.poll_interval = BUFFER_POLL_MS;
        self.poll_pending = false;
        self.outage_attempt = 0;
        if self.attempt > 0 {
            let min_uptime = self
                .options
                .reconnect
                .as_ref()
                .map_or(0, |r| r.min_uptime_ms);
            if min_uptime == 0 {
                self.attempt = 0;
            } else {
                self.timers.reset(Timer::Uptime, now, min_uptime);
            }
        }
        if let Some(h) = &self.heartbeat {
            self.timers.reset(Timer::Ping, now, h.interval_ms);
        }
        self.set_status(Status::Connected);
        self.events.push_back(Event::Opened);
        self.drain_outbox(now);
    }

    fn on_message(&mut self, now: Millis, conn: ConnId, payload: M) {
        if self.socket == Socket::Greeting(conn) {
            if let Some(ServerFrame::Welcome { out, resumed }) = payload.decode() {
                self.on_welcome(now, conn, out, resumed);
            }
            return;
        }
        if self.socket != Socket::Open(conn) {
            return;
        }
        self.timers.stop(Timer::Pong); // any inbound message is a sign of life
        if let Some(h) = &self.heartbeat {
            if payload.is_same_text(&h.pong) {
                return;
            }
        }
        match self.session.as_ref().and_then(|_| payload.decode()) {
            None => self.events.push_back(Event::Message(payload)),
            Some(frame) => self.on_frame(now, frame),
        }
    }

    // ---- delivery ----

    fn on_welcome(&mut self, now: Millis, conn: ConnId, out: u64, resumed: bool) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let continuity_lost = !resumed && session.welcomed;
        session.welcomed = true;
        session.resumed = Some(resumed);
        if continuity_lost {
            session.restart();
            self.events.push_back(Event::Resync);
        } else {
            let acked = session.acknowledge(out);
            self.events.extend(acked.into_iter().map(Event::Acked));
        }
        // An acknowledgement at once tells the server this welcome arrived (a session it has
        // just created stays unconfirmed until the client's first frame after the welcome).
        session.acked_inbound = session.inbound;
        let ack = M::encode(ClientFrame::Ack {
            upto: session.inbound,
        });
        self.commands
            .push_back(Command::Send { conn, payload: ack });
        self.established(now, conn);
    }

    fn on_frame(&mut self, now: Millis, frame: ServerFrame<M>) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        match frame {
            ServerFrame::Welcome { .. } => {} // only the first one, while greeting, counts
            ServerFrame::Ack { upto } => {
                let acked = session.acknowledge(upto);
                self.events.extend(acked.into_iter().map(Event::Acked));
                self.arm_ack_timeout();
            }
            ServerFrame::Nack { seq, error } => {
                if let Some(payload) = session.reject(seq) {
                    self.events.push_back(Event::Rejected { payload, error });
                }
                self.arm_ack_timeout();
            }
            ServerFrame::Data { seq, payload } => {
                if seq <= session.inbound {
                    return; // the app has it already
                }
                if seq > session.inbound + 1 {
                    // A gap: never deliver out of order; resume from what the app has.
                    self.abandon_and_retry(now, "sequence gap");
                    return;
                }
                session.inbound = seq;
                let every = session.options.ack_every_ms;
                self.events.push_back(Event::Message(payload));
                if !self.timers.is_set(Timer::AckInbound) {
                    self.timers.reset(Timer::AckInbound, now, every);
                }
            }
        }
    }

    /// The ack timeout follows the oldest message in flight on the current socket.
    fn arm_ack_timeout(&mut self) {
        match self.session.as_ref().and_then(|s| {
            let sent_at = s.oldest_in_flight()?;
            Some((sent_at, s.options.ack_timeout_ms))
        }) {
            Some((sent_at, timeout)) => self.timers.reset(Timer::AckTimeout, sent_at, timeout),
            None => self.timers.stop(Timer::AckTimeout),
        }
    }

    /// Tell the server what the app has been given since the last acknowledgement.
    fn ack_inbound(&mut self) {
        let (Socket::Open(conn), Some(session)) = (self.socket, self.session.as_mut()) else {
            return;
        };
        if session.inbound > session.acked_inbound {
            session.acked_inbound = session.inbound;
            let ack = M::encode(ClientFrame::Ack {
                upto: session.inbound,
            });
            self.commands
                .push_back(Command::Send { conn, payload: ack });
        }
    }

    fn has_resend(&self) -> bool {
        self.session.as_ref().is_some_and(Session::has_resend)
    }

    /// Hands a new user message to the open socket: as it is, or (delivery) numbered, kept
    /// until acknowledged, and framed.
    fn hand_new(&mut self, now: Millis, conn: ConnId, mut payload: M) {
        let Some(session) = self.session.as_mut() else {
            self.hand(conn, payload);
            return;
        };
        payload.hold();
        let len = payload.byte_len();
        let frame = session.number(now, payload, len);
        self.hand(conn, frame);
        if !self.timers.is_set(Timer::AckTimeout) {
            self.arm_ack_timeout();
        }
    }

    fn on_error(&mut self, conn: ConnId) {
        if self.socket.conn() == Some(conn) {
            self.events
                .push_back(Event::Error("websocket error".to_owned()));
        }
    }

    fn on_closed(&mut self, now: Millis, conn: ConnId, info: CloseInfo, reconnect: bool) {
        if self.closing == Some(conn) {
            self.closing = None;
            self.report_close(info);
            return;
        }
        if self.socket.conn() != Some(conn) {
            return;
        }
        self.socket = Socket::None;
        self.report_close(info);
        self.connection_ended(now, reconnect);
    }

    fn on_open_failed(&mut self, now: Millis, conn: ConnId, error: String) {
        if self.socket != Socket::Connecting(conn) {
            return;
        }
        self.socket = Socket::None;
        self.events.push_back(Event::Error(error));
        self.connection_ended(now, true);
    }

    fn on_buffered_amount(&mut self, now: Millis, conn: ConnId, bytes: u64) {
        if self.socket != Socket::Open(conn) {
            return;
        }
        if std::mem::take(&mut self.poll_pending) {
            self.adapt_poll_interval(bytes);
        }
        self.reading = bytes;
        self.handed = 0;
        self.timers.stop(Timer::BufferPoll);
        self.drain_outbox(now);
    }

    /// Online / Visible: while waiting for a retry, start it now.
    fn retry_now(&mut self, now: Millis) {
        if self.timers.is_set(Timer::Retry) {
            self.timers.stop(Timer::Retry);
            self.start_attempt(now);
        }
    }

    // ---- attempts ----

    fn start_attempt(&mut self, now: Millis) {
        self.socket_closing = false;
        self.last_conn += 1;
        let conn = self.last_conn;
        self.socket = Socket::Connecting(conn);
        self.reading = 0;
        self.handed = 0;
        self.timers
            .reset(Timer::Connect, now, self.options.connect_timeout_ms);
        self.commands.push_back(Command::Open { conn });
    }

    /// The current socket is gone (its close event, an open failure or abandoned by the
    /// core): stop, or schedule the next retry.
    fn connection_ended(&mut self, now: Millis, reconnect: bool) {
        self.socket = Socket::None;
        if let Some(session) = self.session.as_mut() {
            session.socket_lost();
        }
        self.timers.stop_socket_timers();
        self.reading = 0;
        self.handed = 0;
        let Some(backoff) = self.backoff.as_ref().filter(|_| reconnect) else {
            self.set_status(Status::Closed(ClosedReason::PolicyRefused));
            return;
        };
        let max = self.options.reconnect.as_ref().and_then(|r| r.max_attempts);
        if max.is_some_and(|max| self.attempt >= max) {
            self.set_status(Status::Closed(ClosedReason::AttemptsExhausted));
            self.events.push_back(Event::ReconnectStopped {
                attempts: self.attempt,
            });
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        self.outage_attempt = self.outage_attempt.saturating_add(1);
        let delay = backoff.delay(self.attempt, &mut self.rng);
        self.timers.reset(Timer::Retry, now, delay);
        self.set_status(Status::Reconnecting);
    }

    /// Connect or heartbeat timeout: drop the current socket and retry per policy.
    fn abandon_and_retry(&mut self, now: Millis, why: &str) {
        if let Some(conn) = self.socket.conn() {
            self.abandon(conn, why);
        }
        self.connection_ended(now, true);
    }

    /// `Command::Abandon` plus the synthesized close the user hears.
    fn abandon(&mut self, conn: ConnId, why: &str) {
        self.commands.push_back(Command::Abandon { conn });
        self.report_close(CloseInfo {
            code: ABNORMAL,
            reason: why.to_owned(),
            was_clean: false,
        });
    }

    fn report_close(&mut self, info: CloseInfo) {
        self.last_close = Some(info.clone());
        self.closes += 1;
        self.events.push_back(Event::Closed(info));
    }

    fn set_status(&mut self, status: Status) {
        if self.status != status {
            self.status = status;
            self.events.push_back(Event::Status(status));
        }
    }

    // ---- heartbeat ----

    fn ping(&mut self, now: Millis) {
        let (Socket::Open(conn), Some(h), false) =
            (self.socket, &self.heartbeat, self.socket_closing)
        else {
            return;
        };
        let (ping, interval, timeout) = (h.ping.clone(), h.interval_ms, h.timeout_ms);
        self.hand(conn, ping);
        self.timers.reset(Timer::Ping, now, interval);
        // The first unanswered ping sets the deadline; later pings do not push it back.
        if !self.timers.is_set(Timer::Pong) {
            self.timers.reset(Timer::Pong, now, timeout);
        }
    }

    // ---- outbox and pacing ----

    fn has_room(&self) -> bool {
        self.estimated_buffered_amount() < self.options.outbox.high_water_mark as u64
    }

    fn hand(&mut self, conn: ConnId, payload: M) {
        self.handed = self.handed.saturating_add(payload.byte_len() as u64);
        self.commands.push_back(Command::Send { conn, payload });
    }

    /// While connected: hand queued messages while there is room; if some still wait, make
    /// sure a reading is requested soon.
    fn drain_outbox(&mut self, now: Millis) {
        let (Socket::Open(conn), false) = (self.socket, self.socket_closing) else {
            return;
        };
        while self.has_room() {
            if let Some(frame) = self.session.as_mut().and_then(|s| s.resend_next(now)) {
                self.hand(conn, frame);
                self.arm_ack_timeout();
                continue;
            }
            let Some(payload) = self.outbox.pop() else {
                break;
            };
            self.hand_new(now, conn, payload);
        }
        if self.outbox.is_empty() && !self.has_resend() {
            self.timers.stop(Timer::BufferPoll);
        } else if !self.timers.is_set(Timer::BufferPoll) {
            self.timers
                .reset(Timer::BufferPoll, now, self.poll_interval);
        }
    }

    /// Only a reading the poll asked for tunes the interval (the driver's reading before each
    /// user send comes mid-burst, when the browser has not flushed anything yet): progress
    /// since the last reading → at once; none → twice as long (1 ms at least).
    fn adapt_poll_interval(&mut self, bytes: u64) {
        let before = self.reading.saturating_add(self.handed);
        self.poll_interval = if bytes < before {
            0
        } else {
            (self.poll_interval * 2).clamp(1, BUFFER_POLL_MAX_MS)
        };
    }

    /// Ask for a reading; ask again a little later (1 ms at least) if none comes back.
    fn request_reading(&mut self, now: Millis) {
        match self.socket {
            Socket::Open(conn)
                if !self.socket_closing && (!self.outbox.is_empty() || self.has_resend()) =>
            {
                self.commands
                    .push_back(Command::ReadBufferedAmount { conn });
                self.poll_pending = true;
                self.timers
                    .reset(Timer::BufferPoll, now, self.poll_interval.max(1));
            }
            _ => {}
        }
    }
}

/// A random session id: 128 bits as 32 hex digits.
fn session_id(rng: &mut Rng) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let (a, b) = (rng.next_u64(), rng.next_u64());
    (0..32)
        .map(|i| {
            let word = if i < 16 { a } else { b };
            HEX[((word >> ((i % 16) * 4)) & 15) as usize] as char
        })
        .collect()
}
