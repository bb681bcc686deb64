//! The driver's clock: performance.now() in whole milliseconds, never going back; and the seed
//! of the core's jitter.
use std::cell::Cell;

use crate::core::Millis;

pub(super) struct Clock {
    performance: Option<web_sys::Performance>,
    /// Epoch milliseconds of the clock's 0.
    time_origin: f64,
    last: Cell<Millis>,
}

impl Clock {
    pub(super) fn new() -> Clock {
        let performance = web_sys::window().and_then(|w| w.performance());
        let time_origin = match &performance {
            Some(p) => p.time_origin(),
            None => js_sys::Date::now(),
        };
        Clock {
            performance,
            time_origin,
            last: Cell::new(0),
        }
    }

    /// The monotonic clock in ms.
    pub(super) fn now(&self) -> Millis {
        let t = match &self.performance {
            Some(p) => p.now(),
            None => js_sys::Date::now() - self.time_origin,
        };
        let t = (t.max(0.0) as Millis).max(self.last.get());
        self.last.set(t);
        t
    }

    /// The last reading [`Clock::now`] gave.
    pub(super) fn last(&self) -> Millis {
        self.last.get()
    }

    /// A time of this clock as epoch milliseconds.
    pub(super) fn epoch(&self, t: Millis) -> f64 {
        (self.time_origin + t as f64).round()
    }

    /// The seed of the core's jitter: crypto.getRandomValues, else Math.random.
    pub(super) fn random_seed(&self) -> u64 {
        let mut bytes = [0u8; 8];
        let from_crypto = web_sys::window()
            .and_then(|w| w.crypto().ok())
            .and_then(|c| c.get_random_values_with_u8_array(&mut bytes).ok())
            .is_some();
        if from_crypto {
            u64::from_le_bytes(bytes)
        } else {
            let hi = (js_sys::Math::random() * 4294967296.0) as u64;
            let lo = (js_sys::Math::random() * 4294967296.0) as u64;
            (hi << 32) | lo
        }
    }
}
