//! Options and their validation. Defaults are the documented ones.
use std::fmt;

use super::delivery::DeliveryOptions;

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// None: reconnect: false.
    pub reconnect: Option<ReconnectOptions>,
    pub connect_timeout_ms: u64, // 10000
    /// None: heartbeat off (the default).
    pub heartbeat: Option<HeartbeatOptions>,
    pub outbox: OutboxOptions,
    /// None: delivery off (the default).
    pub delivery: Option<DeliveryOptions>,
}
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectOptions {
    pub initial_delay_ms: f64,     // 500
    pub max_delay_ms: f64,         // 30000
    pub factor: f64,               // 2
    pub jitter: f64,               // 1, in [0, 1]
    pub max_attempts: Option<u32>, // None: unlimited
    pub min_uptime_ms: u64,        // 5000
}
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatOptions {
    pub interval_ms: u64,     // 25000
    pub timeout_ms: u64,      // 10000
    pub message: String,      // "ping"
    pub pong_message: String, // "pong"
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Error,
    DropOldest,
    DropNewest,
}
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxOptions {
    pub max_messages: usize,    // 1000
    pub max_bytes: usize,       // 1 MiB
    pub overflow: Overflow,     // Error
    pub high_water_mark: usize, // 65536
}
/// An invalid option: `field` is its JS path, e.g. "reconnect.jitter"; `message` says what the
/// rule is; `got` is the value. All static, so that the wasm build formats nothing (the JS
/// binding renders it as `invalid option reconnect.jitter: must be between 0 and 1 (got 1.5)`,
/// as [`fmt::Display`] does here).
#[derive(Clone, Debug, PartialEq)]
pub struct OptionError {
    pub field: &'static str,
    pub message: &'static str,
    pub got: f64,
}

/// The documented defaults.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;

impl Default for Options {
    /// Reconnect on (default policy), connect timeout 10000 ms, heartbeat off, default outbox.
    fn default() -> Self {
        Options {
            reconnect: Some(ReconnectOptions::default()),
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            heartbeat: None,
            outbox: OutboxOptions::default(),
            delivery: None,
        }
    }
}

impl Default for ReconnectOptions {
    /// initialDelayMs 500, maxDelayMs 30000, factor 2, jitter 1 (full), maxAttempts unlimited,
    /// minUptimeMs 5000.
    fn default() -> Self {
        ReconnectOptions {
            initial_delay_ms: 500.0,
            max_delay_ms: 30_000.0,
            factor: 2.0,
            jitter: 1.0,
            max_attempts: None,
            min_uptime_ms: 5_000,
        }
    }
}

impl Default for HeartbeatOptions {
    /// intervalMs 25000, timeoutMs 10000, message "ping", pongMessage "pong".
    fn default() -> Self {
        HeartbeatOptions {
            interval_ms: 25_000,
            timeout_ms: 10_000,
            message: "ping".to_owned(),
            pong_message: "pong".to_owned(),
        }
    }
}

impl Default for OutboxOptions {
    /// maxMessages 1000, maxBytes 1 MiB, overflow "error", highWaterMark 65536.
    fn default() -> Self {
        OutboxOptions {
            max_messages: 1000,
            max_bytes: 1 << 20,
            overflow: Overflow::Error,
            high_water_mark: 65_536,
        }
    }
}

impl Overflow {
    /// Parses the JS name: "error" | "drop-oldest" | "drop-newest".
    pub fn parse(s: &str) -> Option<Overflow> {
        match s {
            "error" => Some(Overflow::Error),
            "drop-oldest" => Some(Overflow::DropOldest),
            "drop-newest" => Some(Overflow::DropNewest),
            _ => None,
        }
    }

    /// The JS name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Overflow::Error => "error",
            Overflow::DropOldest => "drop-oldest",
            Overflow::DropNewest => "drop-newest",
        }
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OptionError {
    fn new(field: &'static str, message: &'static str, got: f64) -> OptionError {
        OptionError {
            field,
            message,
            got,
        }
    }
}

impl fmt::Display for OptionError {
    /// `invalid option reconnect.jitter: must be between 0 and 1 (got 1.5)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid option {}: {} (got {})",
            self.field, self.message, self.got
        )
    }
}

impl std::error::Error for OptionError {}

fn finite(field: &'static str, v: f64) -> Result<(), OptionError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(OptionError::new(field, "must be a finite number", v))
    }
}

fn non_negative(field: &'static str, v: f64) -> Result<(), OptionError> {
    finite(field, v)?;
    if v < 0.0 {
        return Err(OptionError::new(field, "must be at least 0", v));
    }
    Ok(())
}

fn positive_int(field: &'static str, v: u64) -> Result<(), OptionError> {
    if v == 0 {
        return Err(OptionError::new(field, "must be greater than 0", 0.0));
    }
    Ok(())
}

impl ReconnectOptions {
    /// Checks the rules of [`Options::validate`] for the `reconnect` group.
    pub fn validate(&self) -> Result<(), OptionError> {
        non_negative("reconnect.initialDelayMs", self.initial_delay_ms)?;
        non_negative("reconnect.maxDelayMs", self.max_delay_ms)?;
        if self.max_delay_ms < self.initial_delay_ms {
            return Err(OptionError::new(
                "reconnect.maxDelayMs",
                "must be at least reconnect.initialDelayMs",
                self.max_delay_ms,
            ));
        }
        finite("reconnect.factor", self.factor)?;
        if self.factor < 1.0 {
            return Err(OptionError::new(
                "reconnect.factor",
                "must be at least 1",
                self.factor,
            ));
        }
        finite("reconnect.jitter", self.jitter)?;
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(OptionError::new(
                "reconnect.jitter",
                "must be between 0 and 1",
                self.jitter,
            ));
        }
        Ok(())
    }
}

impl HeartbeatOptions {
    /// Checks the rules of [`Options::validate`] for the `heartbeat` group.
    pub fn validate(&self) -> Result<(), OptionError> {
        positive_int("heartbeat.intervalMs", self.interval_ms)?;
        positive_int("heartbeat.timeoutMs", self.timeout_ms)?;
        if self.message.is_empty() {
            return Err(OptionError::new(
                "heartbeat.message",
                "must be a non-empty string",
                0.0,
            ));
        }
        Ok(())
    }
}

impl OutboxOptions {
    /// Checks the rules of [`Options::validate`] for the `outbox` group.
    pub fn validate(&self) -> Result<(), OptionError> {
        positive_int("outbox.maxMessages", self.max_messages as u64)?;
        positive_int("outbox.maxBytes", self.max_bytes as u64)?;
        positive_int("outbox.highWaterMark", self.high_water_mark as u64)?;
        Ok(())
    }
}

impl Options {
    /// Checks every rule; the first broken one is returned with its JS path as `field`:
    /// numbers finite; delays ≥ 0; `reconnect.factor` ≥ 1; `reconnect.jitter` in [0, 1];
    /// `reconnect.maxDelayMs` ≥ `reconnect.initialDelayMs`; `connectTimeoutMs` > 0;
    /// `heartbeat.intervalMs` and `heartbeat.timeoutMs` > 0; `heartbeat.message` non-empty;
    /// `outbox.maxMessages`, `outbox.maxBytes`, `outbox.highWaterMark` ≥ 1; `delivery.ackTimeoutMs`,
    /// `delivery.ackEveryMs` > 0.
    /// (`reconnect.maxAttempts` may be 0: never retry.)
    pub fn validate(&self) -> Result<(), OptionError> {
        if let Some(r) = &self.reconnect {
            r.validate()?;
        }
        positive_int("connectTimeoutMs", self.connect_timeout_ms)?;
        if let Some(h) = &self.heartbeat {
            h.validate()?;
        }
        if let Some(d) = &self.delivery {
            positive_int("delivery.ackTimeoutMs", d.ack_timeout_ms)?;
            positive_int("delivery.ackEveryMs", d.ack_every_ms)?;
        }
        self.outbox.validate()
    }
}
