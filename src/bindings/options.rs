//! `ConnectionOptions`, read from the JS object by hand (js_sys::Reflect) so that every mistake
//! throws at once with the option's path in the message ("invalid option reconnect.jitter: …").
use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::errors::{
    concat, decimal, option_error, option_range_error, option_type_error, type_error,
};
use crate::core::{HeartbeatOptions, Options, OutboxOptions, Overflow, ReconnectOptions};
use crate::driver::Hooks;

/// The options object, taken apart.
pub(super) struct Parsed {
    pub(super) options: Options,
    pub(super) protocols: Vec<String>,
    pub(super) hooks: Hooks,
}

/// Reads and validates the options object (undefined and null mean all defaults).
pub(super) fn parse_options(options: &JsValue) -> Result<Parsed, JsValue> {
    let mut parsed = Parsed {
        options: Options::default(),
        protocols: Vec::new(),
        hooks: Hooks::default(),
    };
    if options.is_undefined() || options.is_null() {
        return Ok(parsed);
    }
    if !is_plain_object(options) {
        return Err(type_error("invalid options: must be an object", options));
    }
    let o = Fields {
        obj: options.clone(),
        prefix: String::new(),
    };
    parsed.protocols = protocols(o.get("protocols")?)?;

    let reconnect_default = parsed.options.reconnect.clone();
    parsed.options.reconnect = o.group(
        "reconnect",
        reconnect_default,
        ReconnectOptions::default,
        parse_reconnect,
    )?;
    set_if_present(
        &mut parsed.options.connect_timeout_ms,
        o.millis("connectTimeoutMs")?,
    );
    let heartbeat_default = parsed.options.heartbeat.clone();
    parsed.options.heartbeat = o.group(
        "heartbeat",
        heartbeat_default,
        HeartbeatOptions::default,
        parse_heartbeat,
    )?;
    if let Some(outbox) = o.object("outbox")? {
        parse_outbox(&outbox, &mut parsed.options.outbox)?;
    }

    parsed.options.validate().map_err(|e| option_error(&e))?;

    parsed.hooks = Hooks {
        on_open: o.function("onOpen")?,
        on_close: o.function("onClose")?,
        on_message: o.function("onMessage")?,
        on_error: o.function("onError")?,
        on_reconnect_stop: o.function("onReconnectStop")?,
        on_drop: o.function("onDrop")?,
        on_status: o.function("onStatus")?,
        should_reconnect: o.function("shouldReconnect")?,
    };
    Ok(parsed)
}

/// `protocols`: a string or an array of strings (absent: none).
fn protocols(value: JsValue) -> Result<Vec<String>, JsValue> {
    let mut protocols = Vec::new();
    if let Some(p) = value.as_string() {
        protocols.push(p);
    } else if Array::is_array(&value) {
        for (i, p) in Array::from(&value).iter().enumerate() {
            match p.as_string() {
                Some(p) => protocols.push(p),
                None => {
                    return Err(option_type_error(
                        &concat(&["protocols[", &decimal(i), "]"]),
                        "a string",
                        &p,
                    ))
                }
            }
        }
    } else if !value.is_undefined() {
        return Err(option_type_error(
            "protocols",
            "a string or an array of strings",
            &value,
        ));
    }
    Ok(protocols)
}

fn parse_reconnect(r: &Fields, mut d: ReconnectOptions) -> Result<ReconnectOptions, JsValue> {
    set_if_present(&mut d.initial_delay_ms, r.number("initialDelayMs")?);
    set_if_present(&mut d.max_delay_ms, r.number("maxDelayMs")?);
    set_if_present(&mut d.factor, r.number("factor")?);
    set_if_present(&mut d.jitter, r.number("jitter")?);
    let max = r.get("maxAttempts")?;
    if max.is_null() || max.as_f64() == Some(f64::INFINITY) {
        d.max_attempts = None;
    } else if let Some(n) = r.count("maxAttempts")? {
        d.max_attempts = Some(n as u32);
    }
    set_if_present(&mut d.min_uptime_ms, r.millis("minUptimeMs")?);
    Ok(d)
}

fn parse_heartbeat(h: &Fields, mut d: HeartbeatOptions) -> Result<HeartbeatOptions, JsValue> {
    set_if_present(&mut d.interval_ms, h.millis("intervalMs")?);
    set_if_present(&mut d.timeout_ms, h.millis("timeoutMs")?);
    set_if_present(&mut d.message, h.string("message")?);
    set_if_present(&mut d.pong_message, h.string("pongMessage")?);
    Ok(d)
}

fn parse_outbox(o: &Fields, d: &mut OutboxOptions) -> Result<(), JsValue> {
    set_if_present(&mut d.max_messages, o.count("maxMessages")?);
    set_if_present(&mut d.max_bytes, o.count("maxBytes")?);
    set_if_present(&mut d.high_water_mark, o.count("highWaterMark")?);
    if let Some(v) = o.string("overflow")? {
        d.overflow = Overflow::parse(&v).ok_or_else(|| {
            option_range_error(
                "outbox.overflow",
                "unknown overflow policy (expected \"error\", \"drop-oldest\" or \"drop-newest\")",
                &JsValue::from_str(&v),
            )
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading one field
// ---------------------------------------------------------------------------------------------

/// An option absent from the object leaves the default alone.
fn set_if_present<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

/// An object (not a function, not an array).
fn is_plain_object(v: &JsValue) -> bool {
    v.is_object() && !v.is_function() && !Array::is_array(v)
}

/// The fields of one options object; `prefix` is its path in error messages ("reconnect"),
/// empty at the top level. Each reader gives None when the field is absent.
struct Fields {
    obj: JsValue,
    prefix: String,
}

impl Fields {
    /// `obj[key]`, undefined when absent.
    fn get(&self, key: &str) -> Result<JsValue, JsValue> {
        Reflect::get(&self.obj, &JsValue::from_str(key))
    }

    /// The fields of the object at `key`.
    fn nested(&self, key: &str, obj: JsValue) -> Fields {
        Fields {
            obj,
            prefix: self.path(key),
        }
    }

    /// An object.
    fn object(&self, key: &str) -> Result<Option<Fields>, JsValue> {
        let v = self.get(key)?;
        if v.is_undefined() {
            return Ok(None);
        }
        if !is_plain_object(&v) {
            return Err(option_type_error(&self.path(key), "an object", &v));
        }
        Ok(Some(self.nested(key, v)))
    }

    /// The field's path for error messages.
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            concat(&[&self.prefix, ".", key])
        }
    }

    /// A number (not NaN).
    fn number(&self, key: &str) -> Result<Option<f64>, JsValue> {
        let v = self.get(key)?;
        if v.is_undefined() {
            return Ok(None);
        }
        match v.as_f64() {
            Some(n) if !n.is_nan() => Ok(Some(n)),
            _ => Err(option_type_error(&self.path(key), "a number", &v)),
        }
    }

    /// A finite, non-negative number of milliseconds (rounded).
    fn millis(&self, key: &str) -> Result<Option<u64>, JsValue> {
        let Some(n) = self.number(key)? else {
            return Ok(None);
        };
        let field = self.path(key);
        if !n.is_finite() {
            return Err(option_range_error(
                &field,
                "must be a finite number",
                &JsValue::from_f64(n),
            ));
        }
        if n < 0.0 {
            return Err(option_range_error(
                &field,
                "must be at least 0",
                &JsValue::from_f64(n),
            ));
        }
        Ok(Some(n.round() as u64))
    }

    /// A non-negative whole number.
    fn count(&self, key: &str) -> Result<Option<usize>, JsValue> {
        let Some(n) = self.number(key)? else {
            return Ok(None);
        };
        if !n.is_finite() || n < 0.0 || n.fract() != 0.0 || n > u32::MAX as f64 {
            return Err(option_range_error(
                &self.path(key),
                "must be a whole number ≥ 0",
                &JsValue::from_f64(n),
            ));
        }
        Ok(Some(n as usize))
    }

    fn string(&self, key: &str) -> Result<Option<String>, JsValue> {
        let v = self.get(key)?;
        if v.is_undefined() {
            return Ok(None);
        }
        match v.as_string() {
            Some(s) => Ok(Some(s)),
            None => Err(option_type_error(&self.path(key), "a string", &v)),
        }
    }

    /// A function (null counts as absent).
    fn function(&self, key: &str) -> Result<Option<Function>, JsValue> {
        let v = self.get(key)?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        match v.dyn_into::<Function>() {
            Ok(f) => Ok(Some(f)),
            Err(v) => Err(option_type_error(&self.path(key), "a function", &v)),
        }
    }

    /// A group option: `false` → None, `true` → the defaults, absent → `default_when_absent`,
    /// an object → parsed over the defaults.
    fn group<T>(
        &self,
        key: &str,
        default_when_absent: Option<T>,
        default: impl Fn() -> T,
        parse: impl Fn(&Fields, T) -> Result<T, JsValue>,
    ) -> Result<Option<T>, JsValue> {
        let v = self.get(key)?;
        if v.is_undefined() {
            Ok(default_when_absent)
        } else if let Some(b) = v.as_bool() {
            Ok(b.then(&default))
        } else if is_plain_object(&v) {
            parse(&self.nested(key, v), default()).map(Some)
        } else {
            Err(option_type_error(
                &self.path(key),
                "an object or a boolean",
                &v,
            ))
        }
    }
}
