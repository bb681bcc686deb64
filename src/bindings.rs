//! The JavaScript API: `Connection`, camelCase, typed in the generated .d.ts.
//!
//! Options are read from the JS object by hand (js_sys::Reflect) so that every mistake throws
//! at once with the option's path in the message ("invalid option reconnect.jitter: …").
//! Everything else is delegated to the [`Driver`].
use js_sys::{Array, ArrayBuffer, Function, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{
    validate_close, CloseError, HeartbeatOptions, Options, OutboxOptions, Overflow, Payload,
    ReconnectOptions,
};
use crate::driver::{check_ws_url, describe_error, live_handles, Config, Driver, Hooks, UrlSource};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The connection's state. */
export type Status = "connecting" | "connected" | "reconnecting" | "closed";
/** What sendMessage did: handed to the socket, waiting in the outbox, or refused (overflow "drop-newest"). */
export type SendResult = "sent" | "queued" | "dropped";
/** Why onDrop was called: evicted by "drop-oldest", refused by "drop-newest", or still queued at free(). */
export type DropReason = "overflow" | "full" | "released";
/** What happens when the outbox is full. */
export type OverflowPolicy = "error" | "drop-oldest" | "drop-newest";
/** A message as received: text, or binary as an ArrayBuffer. */
export type MessageData = string | ArrayBuffer;
/** A ws:/wss: URL, or a function called before every attempt that returns one (or a Promise of one). */
export type UrlSource = string | (() => string | Promise<string>);

/** What a close event said. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** A received message. receivedAt is in epoch milliseconds. */
export interface LastMessage {
  readonly data: MessageData;
  readonly receivedAt: number;
}

export interface ReconnectOptions {
  /** Base delay before the first retry (default 500). */
  initialDelayMs?: number;
  /** Cap on the base delay (default 30000). */
  maxDelayMs?: number;
  /** Growth factor per attempt, at least 1 (default 2). */
  factor?: number;
  /** 0..1: the delay is drawn from [base × (1 − jitter), base] (default 1, full jitter). */
  jitter?: number;
  /** Retries before giving up (default unlimited; null or Infinity mean unlimited). */
  maxAttempts?: number | null;
  /** A connection must stay open this long to reset the attempt counter (default 5000). */
  minUptimeMs?: number;
}

export interface HeartbeatOptions {
  /** Ping interval while connected (default 25000). */
  intervalMs?: number;
  /** No inbound message this long after a ping means the connection is dead (default 10000). */
  timeoutMs?: number;
  /** The ping (default "ping"). */
  message?: string;
  /** An inbound message equal to this is not passed on (default "pong"). */
  pongMessage?: string;
}

export interface OutboxOptions {
  /** Default 1000. */
  maxMessages?: number;
  /** UTF-8 bytes of text plus length of binary (default 1 MiB). */
  maxBytes?: number;
  /** Default "error": sendMessage throws an OutboxFullError. */
  overflow?: OverflowPolicy;
  /** Messages go to the socket only while its bufferedAmount is below this (default 65536). */
  highWaterMark?: number;
}

export interface ConnectionOptions {
  protocols?: string | string[];
  /** false: never reconnect; true or absent: the defaults. */
  reconnect?: ReconnectOptions | boolean;
  /** An attempt not open by then is abandoned (default 10000). */
  connectTimeoutMs?: number;
  /** Whether to reconnect after this close (never called after close()). Default: reconnect,
   * except after 1002, 1003, 1007, 1008, 1009, 1010, 4401 and 4403. */
  shouldReconnect?: (closeInfo: CloseInfo) => boolean;
  /** Off by default; true: the defaults. */
  heartbeat?: HeartbeatOptions | boolean;
  outbox?: OutboxOptions;
  onOpen?: () => void;
  onClose?: (closeInfo: CloseInfo) => void;
  /** Every message, in order. */
  onMessage?: (message: LastMessage) => void;
  /** Socket errors, failed attempts, and errors thrown by the other callbacks. */
  onError?: (error: unknown) => void;
  onReconnectStop?: (attempts: number) => void;
  onDrop?: (data: MessageData, reason: DropReason) => void;
  onStatus?: (status: Status) => void;
}

/** An immutable view of the connection; the same object until something in it changes. */
export interface Snapshot {
  readonly status: Status;
  readonly lastMessage: LastMessage | null;
  readonly lastJsonMessage: unknown;
  readonly attempt: number;
  /** Epoch milliseconds of the next retry, or null. */
  readonly nextRetryAt: number | null;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly bufferedAmount: number;
  readonly lastClose: CloseInfo | null;
}
"#;

/// A resilient WebSocket connection. Connecting starts at once.
#[wasm_bindgen]
pub struct Connection {
    driver: Driver,
    outbox: OutboxOptions,
}

#[wasm_bindgen]
impl Connection {
    /// Throws at once on a URL that is not ws:/wss: or cannot be parsed, and on an invalid
    /// option (the message names it).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "UrlSource")] url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ConnectionOptions")] options: Option<
            Object,
        >,
    ) -> Result<Connection, JsValue> {
        let url = if let Some(s) = url.as_string() {
            if let Some(problem) = check_ws_url(&s) {
                return Err(js_sys::SyntaxError::new(&format!("invalid url: {problem}")).into());
            }
            UrlSource::Fixed(s)
        } else if let Some(f) = url.dyn_ref::<Function>() {
            UrlSource::Function(f.clone())
        } else {
            return Err(type_error(format!(
                "invalid url: must be a string or a function returning one (got {})",
                describe_value(&url)
            )));
        };
        let options: JsValue = options.map_or(JsValue::UNDEFINED, JsValue::from);
        let parsed = parse_options(&options)?;
        let outbox = parsed.options.outbox.clone();
        let driver = Driver::start(Config {
            url,
            protocols: parsed.protocols,
            options: parsed.options,
            hooks: parsed.hooks,
        });
        Ok(Connection { driver, outbox })
    }

    /// "connecting" | "connected" | "reconnecting" | "closed".
    #[wasm_bindgen(getter, unchecked_return_type = "Status")]
    pub fn status(&self) -> String {
        self.driver.status().as_str().to_owned()
    }

    /// `{ data, receivedAt }` of the last message, or null.
    #[wasm_bindgen(getter, js_name = lastMessage, unchecked_return_type = "LastMessage | null")]
    pub fn last_message(&self) -> JsValue {
        self.driver.last_message()
    }

    /// The parsed JSON of the last message, or null when it was not JSON text.
    #[wasm_bindgen(getter, js_name = lastJsonMessage, unchecked_return_type = "unknown")]
    pub fn last_json_message(&self) -> JsValue {
        self.driver.last_json_message()
    }

    /// "sent" (handed to the socket), "queued" (in the outbox) or "dropped" (drop-newest).
    /// Throws an `OutboxFullError` under overflow "error" when full (nothing is queued).
    #[wasm_bindgen(js_name = sendMessage, unchecked_return_type = "SendResult")]
    pub fn send_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ArrayBuffer | ArrayBufferView")]
        data: JsValue,
    ) -> Result<String, JsValue> {
        let payload = payload_from_js(&data)?;
        self.send(payload)
    }

    /// JSON.stringify, then sendMessage. A value with no JSON form (cyclic, BigInt, undefined,
    /// a function) throws and queues nothing.
    #[wasm_bindgen(js_name = sendJsonMessage, unchecked_return_type = "SendResult")]
    pub fn send_json_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<String, JsValue> {
        let text = match JSON::stringify(&value) {
            Err(e) => {
                return Err(type_error(format!(
                    "sendJsonMessage: the value cannot be serialized to JSON ({})",
                    describe_error(&e)
                )))
            }
            Ok(s) => s.as_string(),
        };
        let Some(text) = text else {
            return Err(type_error(format!(
                "sendJsonMessage: {} has no JSON form",
                describe_value(&value)
            )));
        };
        self.send(Payload::Text(text))
    }

    /// Calls `listener` after every change of the snapshot; returns the unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        match listener.dyn_into::<Function>() {
            Ok(f) => Ok(self.driver.subscribe(f)),
            Err(v) => Err(type_error(format!(
                "subscribe: listener must be a function (got {})",
                describe_value(&v)
            ))),
        }
    }

    /// The current snapshot: frozen, and the same object until something changes.
    #[wasm_bindgen(js_name = getSnapshot, unchecked_return_type = "Snapshot")]
    pub fn get_snapshot(&self) -> JsValue {
        self.driver.snapshot()
    }

    /// Ends the connection for good. A code other than 1000 or 3000–4999, or a reason over
    /// 123 UTF-8 bytes, throws and closes nothing.
    pub fn close(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] code: Option<js_sys::Number>,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] reason: Option<js_sys::JsString>,
    ) -> Result<(), JsValue> {
        let code = match code {
            None => 1000,
            Some(n) => {
                let v = JsValue::from(n);
                match v.as_f64() {
                    Some(c) if c.fract() == 0.0 && (0.0..=65535.0).contains(&c) => c as u16,
                    _ => {
                        return Err(range_error(format!(
                            "close: code must be 1000 or an integer in 3000..=4999 (got {})",
                            describe_value(&v)
                        )))
                    }
                }
            }
        };
        let reason = match reason {
            None => String::new(),
            Some(r) => {
                let v = JsValue::from(r);
                match v.as_string() {
                    Some(s) => s,
                    None => {
                        return Err(type_error(format!(
                            "close: reason must be a string (got {})",
                            describe_value(&v)
                        )))
                    }
                }
            }
        };
        validate_close(code, &reason).map_err(close_error)?;
        self.driver.close(code, reason).map_err(close_error)
    }

    /// Starts a new attempt now with the backoff reset (also after close()).
    pub fn reconnect(&self) {
        self.driver.reconnect();
    }
}

impl Connection {
    fn send(&self, payload: Payload) -> Result<String, JsValue> {
        let bytes = payload.byte_len();
        match self.driver.send(payload) {
            Ok(outcome) => Ok(outcome.as_str().to_owned()),
            Err(full) => {
                let message = format!(
                    "outbox full: {} messages and {} bytes queued (limits: maxMessages {}, maxBytes {}); \
                     the {}-byte message was not queued",
                    full.queued_messages,
                    full.queued_bytes,
                    self.outbox.max_messages,
                    self.outbox.max_bytes,
                    bytes
                );
                let e = js_sys::Error::new(&message);
                e.set_name("OutboxFullError");
                let _ = Reflect::set(
                    &e,
                    &"queuedMessages".into(),
                    &(full.queued_messages as f64).into(),
                );
                let _ = Reflect::set(
                    &e,
                    &"queuedBytes".into(),
                    &(full.queued_bytes as f64).into(),
                );
                let _ = Reflect::set(
                    &e,
                    &"messageBytes".into(),
                    &(full.message_bytes as f64).into(),
                );
                Err(e.into())
            }
        }
    }
}

/// Debug: the number of live closures and listeners held by all connections (for leak tests).
#[wasm_bindgen(js_name = "__liveHandles")]
pub fn live_handles_js() -> u32 {
    live_handles() as u32
}

// ---------------------------------------------------------------------------------------------
// Conversions and errors
// ---------------------------------------------------------------------------------------------

fn type_error(message: String) -> JsValue {
    js_sys::TypeError::new(&message).into()
}

fn range_error(message: String) -> JsValue {
    js_sys::RangeError::new(&message).into()
}

fn close_error(e: CloseError) -> JsValue {
    match e {
        CloseError::InvalidCode(code) => range_error(format!(
            "close: code {code} is not allowed; use 1000 or 3000..=4999"
        )),
        CloseError::ReasonTooLong(n) => range_error(format!(
            "close: reason is {n} UTF-8 bytes; at most 123 are allowed"
        )),
    }
}

/// A short rendering of a value for error messages.
fn describe_value(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        format!("{s:?}")
    } else if let Some(n) = v.as_f64() {
        format!("{n}")
    } else if let Some(b) = v.as_bool() {
        format!("{b}")
    } else if v.is_null() {
        "null".to_owned()
    } else if v.is_undefined() {
        "undefined".to_owned()
    } else if Array::is_array(v) {
        "an array".to_owned()
    } else {
        format!(
            "a value of type {}",
            v.js_typeof().as_string().unwrap_or_default()
        )
    }
}

fn payload_from_js(data: &JsValue) -> Result<Payload, JsValue> {
    if let Some(s) = data.as_string() {
        Ok(Payload::Text(s))
    } else if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
        Ok(Payload::Binary(Uint8Array::new(buffer).to_vec()))
    } else if ArrayBuffer::is_view(data) {
        let buffer = Reflect::get(data, &"buffer".into())?;
        let offset = Reflect::get(data, &"byteOffset".into())?
            .as_f64()
            .unwrap_or(0.0);
        let length = Reflect::get(data, &"byteLength".into())?
            .as_f64()
            .unwrap_or(0.0);
        let view =
            Uint8Array::new_with_byte_offset_and_length(&buffer, offset as u32, length as u32);
        Ok(Payload::Binary(view.to_vec()))
    } else {
        Err(type_error(format!(
            "sendMessage: data must be a string, an ArrayBuffer or an ArrayBufferView (got {})",
            describe_value(data)
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

struct Parsed {
    options: Options,
    protocols: Vec<String>,
    hooks: Hooks,
}

fn option_type_error(field: &str, expected: &str, got: &JsValue) -> JsValue {
    type_error(format!(
        "invalid option {field}: must be {expected} (got {})",
        describe_value(got)
    ))
}

fn option_range_error(field: &str, message: String) -> JsValue {
    range_error(format!("invalid option {field}: {message}"))
}

/// `obj[key]`, undefined when absent.
fn get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A number option (not NaN), or None when absent.
fn number(obj: &JsValue, prefix: &str, key: &str) -> Result<Option<f64>, JsValue> {
    let v = get(obj, key)?;
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if !n.is_nan() => Ok(Some(n)),
        _ => Err(option_type_error(&join(prefix, key), "a number", &v)),
    }
}

/// A finite, non-negative number of milliseconds (rounded), or None when absent.
fn millis(obj: &JsValue, prefix: &str, key: &str) -> Result<Option<u64>, JsValue> {
    let Some(n) = number(obj, prefix, key)? else {
        return Ok(None);
    };
    let field = join(prefix, key);
    if !n.is_finite() {
        return Err(option_range_error(
            &field,
            format!("must be a finite number (got {n})"),
        ));
    }
    if n < 0.0 {
        return Err(option_range_error(
            &field,
            format!("must be at least 0 (got {n})"),
        ));
    }
    Ok(Some(n.round() as u64))
}

/// A non-negative whole number, or None when absent.
fn count(obj: &JsValue, prefix: &str, key: &str) -> Result<Option<usize>, JsValue> {
    let Some(n) = number(obj, prefix, key)? else {
        return Ok(None);
    };
    if !n.is_finite() || n < 0.0 || n.fract() != 0.0 || n > u32::MAX as f64 {
        return Err(option_range_error(
            &join(prefix, key),
            format!("must be a whole number ≥ 0 (got {n})"),
        ));
    }
    Ok(Some(n as usize))
}

fn string(obj: &JsValue, prefix: &str, key: &str) -> Result<Option<String>, JsValue> {
    let v = get(obj, key)?;
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_string() {
        Some(s) => Ok(Some(s)),
        None => Err(option_type_error(&join(prefix, key), "a string", &v)),
    }
}

fn function(obj: &JsValue, key: &str) -> Result<Option<Function>, JsValue> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.dyn_into::<Function>() {
        Ok(f) => Ok(Some(f)),
        Err(v) => Err(option_type_error(key, "a function", &v)),
    }
}

/// A group option: `false` → None, `true` or absent → `default_when_absent`, an object → parsed.
fn group<T>(
    obj: &JsValue,
    key: &str,
    default_when_absent: Option<T>,
    default: impl Fn() -> T,
    parse: impl Fn(&JsValue, T) -> Result<T, JsValue>,
) -> Result<Option<T>, JsValue> {
    let v = get(obj, key)?;
    if v.is_undefined() {
        Ok(default_when_absent)
    } else if let Some(b) = v.as_bool() {
        Ok(b.then(&default))
    } else if v.is_object() && !v.is_function() && !Array::is_array(&v) {
        parse(&v, default()).map(Some)
    } else {
        Err(option_type_error(key, "an object or a boolean", &v))
    }
}

fn parse_options(options: &JsValue) -> Result<Parsed, JsValue> {
    let mut parsed = Parsed {
        options: Options::default(),
        protocols: Vec::new(),
        hooks: Hooks::default(),
    };
    if options.is_undefined() || options.is_null() {
        return Ok(parsed);
    }
    if !options.is_object() || options.is_function() || Array::is_array(options) {
        return Err(type_error(format!(
            "invalid options: must be an object (got {})",
            describe_value(options)
        )));
    }
    let o = options;

    // protocols: string | string[]
    let protocols = get(o, "protocols")?;
    if let Some(p) = protocols.as_string() {
        parsed.protocols.push(p);
    } else if Array::is_array(&protocols) {
        for (i, p) in Array::from(&protocols).iter().enumerate() {
            match p.as_string() {
                Some(p) => parsed.protocols.push(p),
                None => {
                    return Err(option_type_error(
                        &format!("protocols[{i}]"),
                        "a string",
                        &p,
                    ))
                }
            }
        }
    } else if !protocols.is_undefined() {
        return Err(option_type_error(
            "protocols",
            "a string or an array of strings",
            &protocols,
        ));
    }

    let reconnect_default = parsed.options.reconnect.clone();
    parsed.options.reconnect = group(
        o,
        "reconnect",
        reconnect_default,
        ReconnectOptions::default,
        |r, mut d| {
            let p = "reconnect";
            if let Some(v) = number(r, p, "initialDelayMs")? {
                d.initial_delay_ms = v;
            }
            if let Some(v) = number(r, p, "maxDelayMs")? {
                d.max_delay_ms = v;
            }
            if let Some(v) = number(r, p, "factor")? {
                d.factor = v;
            }
            if let Some(v) = number(r, p, "jitter")? {
                d.jitter = v;
            }
            let max = get(r, "maxAttempts")?;
            if max.is_null() || max.as_f64() == Some(f64::INFINITY) {
                d.max_attempts = None;
            } else if let Some(n) = count(r, p, "maxAttempts")? {
                d.max_attempts = Some(n as u32);
            }
            if let Some(v) = millis(r, p, "minUptimeMs")? {
                d.min_uptime_ms = v;
            }
            Ok(d)
        },
    )?;

    if let Some(v) = millis(o, "", "connectTimeoutMs")? {
        parsed.options.connect_timeout_ms = v;
    }

    let heartbeat_default = parsed.options.heartbeat.clone();
    parsed.options.heartbeat = group(
        o,
        "heartbeat",
        heartbeat_default,
        HeartbeatOptions::default,
        |h, mut d| {
            let p = "heartbeat";
            if let Some(v) = millis(h, p, "intervalMs")? {
                d.interval_ms = v;
            }
            if let Some(v) = millis(h, p, "timeoutMs")? {
                d.timeout_ms = v;
            }
            if let Some(v) = string(h, p, "message")? {
                d.message = v;
            }
            if let Some(v) = string(h, p, "pongMessage")? {
                d.pong_message = v;
            }
            Ok(d)
        },
    )?;

    let outbox = get(o, "outbox")?;
    if !outbox.is_undefined() {
        if !outbox.is_object() || outbox.is_function() || Array::is_array(&outbox) {
            return Err(option_type_error("outbox", "an object", &outbox));
        }
        let p = "outbox";
        let d = &mut parsed.options.outbox;
        if let Some(v) = count(&outbox, p, "maxMessages")? {
            d.max_messages = v;
        }
        if let Some(v) = count(&outbox, p, "maxBytes")? {
            d.max_bytes = v;
        }
        if let Some(v) = count(&outbox, p, "highWaterMark")? {
            d.high_water_mark = v;
        }
        if let Some(v) = string(&outbox, p, "overflow")? {
            d.overflow = Overflow::parse(&v).ok_or_else(|| {
                option_range_error(
                    "outbox.overflow",
                    format!(
                        "unknown overflow policy {v:?} (expected \"error\", \"drop-oldest\" or \"drop-newest\")"
                    ),
                )
            })?;
        }
    }

    parsed
        .options
        .validate()
        .map_err(|e| option_range_error(&e.field, e.message))?;

    parsed.hooks = Hooks {
        on_open: function(o, "onOpen")?,
        on_close: function(o, "onClose")?,
        on_message: function(o, "onMessage")?,
        on_error: function(o, "onError")?,
        on_reconnect_stop: function(o, "onReconnectStop")?,
        on_drop: function(o, "onDrop")?,
        on_status: function(o, "onStatus")?,
        should_reconnect: function(o, "shouldReconnect")?,
    };
    Ok(parsed)
}
