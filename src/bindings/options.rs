//! `ConnectionOptions`: the object is read in JS (js/src/driver.js: types, whole numbers,
//! non-negative milliseconds, each error naming the option), into numbers and strings; the
//! defaults and the rules about the values (src/core/options.rs) apply here. Every mistake
//! throws at once with the option's path in the message ("invalid option reconnect.jitter: …").
use js_sys::{Array, Float64Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::errors::option_error;
use crate::core::{DeliveryOptions, HeartbeatOptions, Options, Overflow, ReconnectOptions};
use crate::driver::{Hooks, PersistConfig};

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    #[wasm_bindgen(js_name = readOptions, catch)]
    fn read_options(options: &JsValue) -> Result<Array, JsValue>;
}

/// The options object, taken apart.
pub(super) struct Parsed {
    pub(super) options: Options,
    pub(super) protocols: Vec<String>,
    pub(super) hooks: Hooks,
    pub(super) persist: Option<PersistConfig>,
}

/// `n` unless it is NaN (absent).
fn given(n: f64) -> Option<f64> {
    (!n.is_nan()).then_some(n)
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

/// A group option: 0 → off, 1 → on (the defaults, then the fields), NaN → `default`.
fn group<T: Default>(flag: f64, default: Option<T>) -> Option<T> {
    match given(flag) {
        None => default,
        Some(f) => (f == 1.0).then(T::default),
    }
}

/// Reads and validates the options object (undefined and null mean all defaults).
pub(super) fn parse_options(options: &JsValue) -> Result<Parsed, JsValue> {
    let read = read_options(options)?;
    // The numbers, in js/src/driver.js's order (readOptions); NaN: absent.
    let nums = read.get(0).unchecked_into::<Float64Array>().to_vec();
    let n = |i: usize| nums.get(i).copied().unwrap_or(f64::NAN);
    let mut o = Options::default();

    o.reconnect = group::<ReconnectOptions>(n(0), o.reconnect.take());
    if let Some(r) = o.reconnect.as_mut() {
        set(&mut r.initial_delay_ms, given(n(1)));
        set(&mut r.max_delay_ms, given(n(2)));
        set(&mut r.factor, given(n(3)));
        set(&mut r.jitter, given(n(4)));
        if let Some(max) = given(n(5)) {
            r.max_attempts = (max >= 0.0).then_some(max as u32);
        }
        set(&mut r.min_uptime_ms, given(n(6)).map(|v| v as u64));
    }
    set(&mut o.connect_timeout_ms, given(n(7)).map(|v| v as u64));
    o.heartbeat = group::<HeartbeatOptions>(n(8), o.heartbeat.take());
    if let Some(h) = o.heartbeat.as_mut() {
        set(&mut h.interval_ms, given(n(9)).map(|v| v as u64));
        set(&mut h.timeout_ms, given(n(10)).map(|v| v as u64));
        set(&mut h.message, read.get(2).as_string());
        set(&mut h.pong_message, read.get(3).as_string());
    }
    let b = &mut o.outbox;
    set(&mut b.max_messages, given(n(11)).map(|v| v as usize));
    set(&mut b.max_bytes, given(n(12)).map(|v| v as usize));
    set(
        &mut b.overflow,
        given(n(13)).map(|v| match v as u8 {
            0 => Overflow::Error,
            1 => Overflow::DropOldest,
            _ => Overflow::DropNewest,
        }),
    );
    set(&mut b.high_water_mark, given(n(14)).map(|v| v as usize));
    o.delivery = group::<DeliveryOptions>(n(15), None);
    if let Some(d) = o.delivery.as_mut() {
        set(&mut d.ack_timeout_ms, given(n(16)).map(|v| v as u64));
        set(&mut d.ack_every_ms, given(n(17)).map(|v| v as u64));
    }
    // persist: { name, maxAgeMs } (readOptions checked that delivery is on).
    let persist = read.get(5).as_string().map(|name| PersistConfig {
        name,
        max_age_ms: given(n(18)).unwrap_or(MAX_AGE_MS),
    });
    if let Some(d) = o.delivery.as_mut() {
        d.persist = persist.is_some();
    }

    o.validate().map_err(|e| option_error(&e))?;

    let protocols = Array::from(&read.get(1))
        .iter()
        .filter_map(|p| p.as_string())
        .collect();
    let callbacks = Array::from(&read.get(4));
    let f = |i: u32| callbacks.get(i).dyn_into::<Function>().ok();
    let hooks = Hooks {
        on_open: f(0),
        on_close: f(1),
        on_message: f(2),
        on_error: f(3),
        on_reconnect_stop: f(4),
        on_drop: f(5),
        on_status: f(6),
        should_reconnect: f(7),
        on_ack: f(8),
        on_resync: f(9),
    };
    Ok(Parsed {
        options: o,
        protocols,
        hooks,
        persist,
    })
}

/// `persist.maxAgeMs` by default: 7 days.
const MAX_AGE_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;
