//! Reconnect delays: exponential, capped, with jitter drawn afresh for every attempt.
use super::options::ReconnectOptions;
use super::rng::Rng;
use super::Millis;

/// The backoff schedule of [`ReconnectOptions`]. Stateless: the machine keeps the attempt
/// number and the [`Rng`].
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    initial_delay_ms: f64,
    max_delay_ms: f64,
    factor: f64,
    jitter: f64,
}

impl Backoff {
    pub fn new(options: &ReconnectOptions) -> Backoff {
        Backoff {
            initial_delay_ms: options.initial_delay_ms,
            max_delay_ms: options.max_delay_ms,
            factor: options.factor,
            jitter: options.jitter,
        }
    }

    /// The base delay before retry `n` (n ≥ 1; 0 is treated as 1):
    /// min(maxDelayMs, initialDelayMs × factor^(n−1)). A power that overflows to infinity
    /// is capped at maxDelayMs.
    pub fn base_delay(&self, n: u32) -> f64 {
        if self.initial_delay_ms <= 0.0 {
            return 0.0; // 0 × ∞ would be NaN
        }
        let exp = n.saturating_sub(1).min(i32::MAX as u32) as i32;
        let base = self.initial_delay_ms * self.factor.powi(exp);
        if base.is_nan() || base > self.max_delay_ms {
            self.max_delay_ms
        } else {
            base
        }
    }

    /// The lowest and highest delay retry `n` can draw: [base × (1 − jitter), base].
    pub fn bounds(&self, n: u32) -> (f64, f64) {
        let base = self.base_delay(n);
        (base * (1.0 - self.jitter), base)
    }

    /// The actual delay before retry `n`, in whole milliseconds: drawn uniformly from
    /// [base × (1 − jitter), base] with a fresh draw from `rng`, then rounded
    /// (so it lies in [round(low), round(high)]). Saturates at `u64::MAX`.
    pub fn delay(&self, n: u32, rng: &mut Rng) -> Millis {
        let (low, high) = self.bounds(n);
        let d = low + (high - low) * rng.next_f64();
        d.round() as Millis // `as` saturates
    }
}
