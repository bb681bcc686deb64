//! A deterministic simulation harness for the core on a virtual clock (quinn's `Pair` idea):
//! step to the next deadline, drain commands and events, and play a fake server/socket that
//! answers `Open` as the test says.
#![allow(dead_code)]

use resilient_ws::core::*;

/// How the fake server answers a `Command::Open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// The test feeds socket inputs itself.
    Manual,
    /// Every attempt opens at once.
    Accept,
    /// Every attempt fails at once (close 1006).
    Refuse,
    /// Attempts before this time fail at once (close 1006); later ones open at once.
    RefuseUntil(Millis),
}

/// Everything that crossed the machine's boundary, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Trace {
    In(Input),
    Cmd(Command),
    Ev(Event),
}

pub struct Sim {
    pub now: Millis,
    pub m: Machine,
    pub server: Server,
    /// Answer `ReadBufferedAmount` with the fake socket's buffer.
    pub auto_read: bool,
    /// The fake socket sends this many buffered bytes per virtual ms.
    pub drain_per_ms: u64,
    /// The fake socket's bufferedAmount.
    pub buffer: u64,
    pub trace: Vec<(Millis, Trace)>,
    new_cmds: Vec<Command>,
    new_events: Vec<Event>,
}

pub fn text(s: impl Into<String>) -> Payload {
    Payload::Text(s.into())
}

pub fn close_info(code: u16) -> CloseInfo {
    CloseInfo {
        code,
        reason: String::new(),
        was_clean: code != 1006,
    }
}

/// Defaults with jitter 0, so delays are exact.
pub fn no_jitter() -> Options {
    let mut o = Options::default();
    o.reconnect.as_mut().unwrap().jitter = 0.0;
    o
}

impl Sim {
    pub fn new(options: Options) -> Sim {
        Sim::with_seed(options, 1)
    }

    pub fn with_seed(options: Options, seed: u64) -> Sim {
        options.validate().expect("test options must be valid");
        let mut sim = Sim {
            now: 0,
            m: Machine::new(options, seed, 0),
            server: Server::Manual,
            auto_read: false,
            drain_per_ms: 0,
            buffer: 0,
            trace: Vec::new(),
            new_cmds: Vec::new(),
            new_events: Vec::new(),
        };
        sim.pump();
        sim
    }

    /// Drains commands and events; the fake server and socket answer commands at once.
    pub fn pump(&mut self) {
        loop {
            let mut replies = Vec::new();
            while let Some(c) = self.m.poll_command() {
                self.trace.push((self.now, Trace::Cmd(c.clone())));
                match &c {
                    Command::Open { conn } => {
                        self.buffer = 0;
                        let accept = match self.server {
                            Server::Manual => None,
                            Server::Accept => Some(true),
                            Server::Refuse => Some(false),
                            Server::RefuseUntil(t) => Some(self.now >= t),
                        };
                        match accept {
                            Some(true) => replies.push(Input::Opened { conn: *conn }),
                            Some(false) => replies.push(Input::Closed {
                                conn: *conn,
                                info: close_info(1006),
                                reconnect: true,
                            }),
                            None => {}
                        }
                    }
                    Command::Send { payload, .. } => self.buffer += payload.byte_len() as u64,
                    Command::ReadBufferedAmount { conn } if self.auto_read => {
                        replies.push(Input::BufferedAmount {
                            conn: *conn,
                            bytes: self.buffer,
                        })
                    }
                    _ => {}
                }
                self.new_cmds.push(c);
            }
            while let Some(e) = self.m.poll_event() {
                self.trace.push((self.now, Trace::Ev(e.clone())));
                self.new_events.push(e);
            }
            if replies.is_empty() {
                return;
            }
            for r in replies {
                self.trace.push((self.now, Trace::In(r.clone())));
                self.m.handle(self.now, r);
            }
        }
    }

    pub fn input(&mut self, input: Input) {
        self.trace.push((self.now, Trace::In(input.clone())));
        self.m.handle(self.now, input);
        self.pump();
    }

    pub fn send(&mut self, payload: Payload) -> Result<SendOutcome, OutboxFull> {
        let r = self.m.send(self.now, payload);
        self.pump();
        r
    }

    pub fn send_text(&mut self, s: &str) -> Result<SendOutcome, OutboxFull> {
        self.send(text(s))
    }

    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), CloseError> {
        let r = self.m.close(self.now, code, reason.to_owned());
        self.pump();
        r
    }

    pub fn reconnect(&mut self) {
        self.m.reconnect(self.now);
        self.pump();
    }

    pub fn release(&mut self) {
        self.m.release(self.now);
        self.pump();
    }

    fn pass_time(&mut self, to: Millis) {
        let dt = to - self.now;
        self.buffer = self
            .buffer
            .saturating_sub(dt.saturating_mul(self.drain_per_ms));
        self.now = to;
    }

    /// Moves the clock to `t`, handling every deadline on the way at its own time.
    pub fn advance_to(&mut self, t: Millis) {
        assert!(t >= self.now);
        while let Some(d) = self.m.poll_timeout() {
            if d > t {
                break;
            }
            assert!(d >= self.now, "deadline {d} in the past (now {})", self.now);
            self.pass_time(d);
            self.m.handle_timeout(d);
            if let Some(next) = self.m.poll_timeout() {
                assert!(
                    next > d,
                    "deadline {next} still due after handle_timeout({d})"
                );
            }
            // (What the fake socket answers may set a deadline of `d` again: a poll due on
            // the next task.)
            self.pump();
        }
        self.pass_time(t);
    }

    pub fn advance(&mut self, ms: Millis) {
        self.advance_to(self.now + ms);
    }

    /// Jumps to the next deadline and handles it; returns it, or None if there is none.
    pub fn step(&mut self) -> Option<Millis> {
        let d = self.m.poll_timeout()?;
        self.advance_to(d);
        Some(d)
    }

    /// Commands since the last call.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.new_cmds)
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.new_events)
    }

    /// Discards what has been seen so far.
    pub fn clear(&mut self) {
        self.new_cmds.clear();
        self.new_events.clear();
    }

    /// Every `Open`, with its time.
    pub fn opens(&self) -> Vec<(Millis, ConnId)> {
        self.trace
            .iter()
            .filter_map(|(t, tr)| match tr {
                Trace::Cmd(Command::Open { conn }) => Some((*t, *conn)),
                _ => None,
            })
            .collect()
    }

    /// The id of the latest `Open`.
    pub fn last_open(&self) -> ConnId {
        self.opens().last().expect("no Open yet").1
    }

    /// Feeds `Opened` for the latest attempt.
    pub fn open(&mut self) {
        let conn = self.last_open();
        self.input(Input::Opened { conn });
    }

    /// Feeds `Closed` for the latest attempt with the default close policy's decision.
    pub fn server_close(&mut self, code: u16) {
        let conn = self.last_open();
        let info = close_info(code);
        let reconnect = default_should_reconnect(&info);
        self.input(Input::Closed {
            conn,
            info,
            reconnect,
        });
    }

    /// `n` attempts in a row end with close 1006, each retry started when due.
    pub fn fail_attempts(&mut self, n: usize) {
        for _ in 0..n {
            self.server_close(1006);
            self.step();
        }
    }

    pub fn message(&mut self, s: &str) {
        let conn = self.last_open();
        self.input(Input::Message {
            conn,
            payload: text(s),
        });
    }

    /// Text payloads handed to the socket, in order.
    pub fn sent_texts(&self) -> Vec<String> {
        self.trace
            .iter()
            .filter_map(|(_, tr)| match tr {
                Trace::Cmd(Command::Send {
                    payload: Payload::Text(s),
                    ..
                }) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every event so far, in order.
    pub fn all_events(&self) -> Vec<Event> {
        self.trace
            .iter()
            .filter_map(|(_, tr)| match tr {
                Trace::Ev(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// The delays between each failure (the status turning Reconnecting, or a retry failing)
    /// and the `Open` that followed: the retry delays as observed.
    pub fn retry_delays(&self) -> Vec<Millis> {
        let mut out = Vec::new();
        let mut failed_at = None;
        for (t, tr) in &self.trace {
            match tr {
                Trace::Ev(Event::Closed(_)) | Trace::Ev(Event::Error(_)) => failed_at = Some(*t),
                Trace::Cmd(Command::Open { conn }) if *conn > 1 => {
                    if let Some(f) = failed_at.take() {
                        out.push(t - f);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Whether `payload` is the heartbeat's ping.
    pub fn is_ping(&self, payload: &Payload) -> bool {
        match (&self.m.options().heartbeat, payload) {
            (Some(h), Payload::Text(s)) => *s == h.message,
            _ => false,
        }
    }

    /// Checks the pacing bound over the whole trace: every user message (not a ping) was
    /// handed while last reading + bytes handed since < high-water mark, i.e. the socket never
    /// holds more than hwm + one message beyond the last reading. Readings count only while
    /// the latest socket is open (as in the browser: a connecting socket buffers nothing).
    pub fn assert_paced(&self, hwm: u64) {
        #[derive(PartialEq)]
        enum Phase {
            Connecting,
            Open,
            Dead,
        }
        let mut reading = 0u64;
        let mut handed = 0u64;
        let mut conn_now = 0;
        let mut phase = Phase::Dead;
        for (t, tr) in &self.trace {
            match tr {
                Trace::Cmd(Command::Open { conn }) => {
                    conn_now = *conn;
                    phase = Phase::Connecting;
                    reading = 0;
                    handed = 0;
                }
                Trace::In(Input::Opened { conn })
                    if *conn == conn_now && phase == Phase::Connecting =>
                {
                    phase = Phase::Open;
                    reading = 0;
                    handed = 0;
                }
                Trace::In(Input::BufferedAmount { conn, bytes })
                    if *conn == conn_now && phase == Phase::Open =>
                {
                    reading = *bytes;
                    handed = 0;
                }
                Trace::Cmd(Command::Close { conn, .. })
                | Trace::Cmd(Command::Abandon { conn })
                | Trace::In(Input::Closed { conn, .. })
                    if *conn == conn_now =>
                {
                    phase = Phase::Dead;
                }
                Trace::Cmd(Command::Send { conn, payload }) => {
                    assert!(
                        *conn == conn_now && phase == Phase::Open,
                        "at {t}: send to socket {conn} that is not open"
                    );
                    let len = payload.byte_len() as u64;
                    if self.is_ping(payload) {
                        handed += len; // pings are not paced, but they fill the buffer
                        continue;
                    }
                    assert!(
                        reading + handed < hwm,
                        "at {t}: handed {len} bytes with reading {reading} + {handed} handed >= hwm {hwm}"
                    );
                    handed += len;
                }
                _ => {}
            }
        }
    }
}
