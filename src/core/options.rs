//! Options and their validation. Defaults are the documented ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// None: reconnect: false.
    pub reconnect: Option<ReconnectOptions>,
    pub connect_timeout_ms: u64, // 10000
    /// None: heartbeat off (the default).
    pub heartbeat: Option<HeartbeatOptions>,
    pub outbox: OutboxOptions,
}
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectOptions {
    pub initial_delay_ms: f64, // 500
    pub max_delay_ms: f64,     // 30000
    pub factor: f64,           // 2
    pub jitter: f64,           // 1, in [0, 1]
    pub max_attempts: Option<u32>, // None: unlimited
    pub min_uptime_ms: u64,    // 5000
}
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatOptions {
    pub interval_ms: u64, // 25000
    pub timeout_ms: u64,  // 10000
    pub message: String,  // "ping"
    pub pong_message: String, // "pong"
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow { Error, DropOldest, DropNewest }
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxOptions {
    pub max_messages: usize,   // 1000
    pub max_bytes: usize,      // 1 MiB
    pub overflow: Overflow,    // Error
    pub high_water_mark: usize, // 65536
}
/// An invalid option: `field` is its JS path, e.g. "reconnect.jitter".
#[derive(Clone, Debug, PartialEq)]
pub struct OptionError { pub field: String, pub message: String }
// impl Default for each; impl Options { pub fn validate(&self) -> Result<(), OptionError> }
// impl Overflow { pub fn parse(s: &str) -> Option<Overflow>; pub fn as_str(&self) -> &'static str }
