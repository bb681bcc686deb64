//! Builder methods on the core's option types, so that Rust code can write
//! `ReconnectOptions::default().initial_delay_ms(250.0).jitter(0.5)`. Each method takes the
//! value by `self` and returns it changed; the rules are checked when the connection is built
//! ([`Options::validate`]). The defaults are the documented ones (see each type's `Default`).
use crate::core::{
    DeliveryOptions, HeartbeatOptions, Options, OutboxOptions, Overflow, ReconnectOptions,
};

/// Sets one field and returns `self`.
macro_rules! setters {
    ($ty:ty { $($(#[$doc:meta])* $field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters!(Options {
    /// `None`: never reconnect (JS `reconnect: false`). Default: on, with the default policy.
    reconnect: Option<ReconnectOptions>,
    /// An attempt not open after this long fails (default 10000).
    connect_timeout_ms: u64,
    /// `None` (the default): no heartbeat.
    heartbeat: Option<HeartbeatOptions>,
    /// The offline outbox.
    outbox: OutboxOptions,
    /// `None` (the default): no delivery protocol (needed for `send_with_ack`).
    delivery: Option<DeliveryOptions>,
});

setters!(ReconnectOptions {
    /// Base delay before the first retry (default 500).
    initial_delay_ms: f64,
    /// Cap on the base delay (default 30000).
    max_delay_ms: f64,
    /// Growth factor per attempt, at least 1 (default 2).
    factor: f64,
    /// 0..=1: the delay is drawn from [base × (1 − jitter), base] (default 1, full jitter).
    jitter: f64,
    /// Retries before giving up (default `None`: unlimited).
    max_attempts: Option<u32>,
    /// A connection must stay open this long to reset the attempt counter (default 5000).
    min_uptime_ms: u64,
});

setters!(HeartbeatOptions {
    /// Ping interval while connected (default 25000).
    interval_ms: u64,
    /// No inbound message this long after a ping means the connection is dead (default 10000).
    timeout_ms: u64,
});

impl HeartbeatOptions {
    /// The ping (default "ping").
    #[must_use]
    pub fn message(mut self, value: impl Into<String>) -> Self {
        self.message = value.into();
        self
    }

    /// An inbound message equal to this is not passed on (default "pong").
    #[must_use]
    pub fn pong_message(mut self, value: impl Into<String>) -> Self {
        self.pong_message = value.into();
        self
    }
}

setters!(OutboxOptions {
    /// Default 1000.
    max_messages: usize,
    /// UTF-8 bytes of text plus length of binary (default 1 MiB).
    max_bytes: usize,
    /// What a send does when the outbox is full (default [`Overflow::Error`]).
    overflow: Overflow,
    /// Messages go to the socket only while its bufferedAmount is below this (default 65536).
    high_water_mark: usize,
});

setters!(DeliveryOptions {
    /// An open socket that leaves the oldest unacknowledged message this long without an
    /// acknowledgement is dropped, and the session resumes on a new one (default 10000).
    ack_timeout_ms: u64,
    /// The server's data is acknowledged at most this often (default 1000).
    ack_every_ms: u64,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_fields_and_keep_defaults() {
        let o = Options::default()
            .reconnect(Some(
                ReconnectOptions::default()
                    .initial_delay_ms(100.0)
                    .max_attempts(Some(3)),
            ))
            .heartbeat(Some(
                HeartbeatOptions::default().interval_ms(1000).message("hb"),
            ))
            .outbox(OutboxOptions::default().overflow(Overflow::DropOldest))
            .delivery(Some(DeliveryOptions::default().ack_every_ms(50)));
        let r = o.reconnect.as_ref().unwrap();
        assert_eq!((r.initial_delay_ms, r.max_attempts), (100.0, Some(3)));
        assert_eq!(r.max_delay_ms, ReconnectOptions::default().max_delay_ms);
        let h = o.heartbeat.as_ref().unwrap();
        assert_eq!((h.interval_ms, h.message.as_str()), (1000, "hb"));
        assert_eq!(h.pong_message, "pong");
        assert_eq!(o.outbox.overflow, Overflow::DropOldest);
        assert_eq!(o.delivery.as_ref().unwrap().ack_every_ms, 50);
        assert!(o.validate().is_ok());
        let bad = Options::default().reconnect(Some(ReconnectOptions::default().jitter(2.0)));
        assert_eq!(bad.validate().unwrap_err().field, "reconnect.jitter");
    }
}
