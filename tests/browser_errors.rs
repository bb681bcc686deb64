#![cfg(target_arch = "wasm32")]
//! Browser tests: invalid input throws at once, with a message naming the problem, and starts,
//! closes or queues nothing. See browser_support for the test server and the helpers.
mod browser_support;

use browser_support::*;
use js_sys::{Array, Object};
use resilient_ws::bindings::{live_handles_js, Connection};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// ---------------------------------------------------------------------------------------------
// The constructor: URL and options
// ---------------------------------------------------------------------------------------------

/// `new Connection(url, options)` must throw an error of `kind` whose message contains `needle`.
fn expect_constructor_error(url: JsValue, options: Option<Object>, kind: &str, needle: &str) {
    let before = live_handles_js();
    match Connection::new(url, options) {
        Ok(_) => panic!("expected a {kind} mentioning {needle:?}"),
        Err(e) => {
            let m = error_message(&e);
            assert!(m.starts_with(kind), "expected a {kind}, got {m}");
            assert!(m.contains(needle), "expected {needle:?} in {m}");
        }
    }
    assert_eq!(live_handles_js(), before, "nothing was started");
}

/// A URL no test connects to: the constructor throws before any attempt.
fn unused_url() -> JsValue {
    s(&ws_url("never-used"))
}

fn bad_option(path: &str, value: JsValue) -> Object {
    // "a.b" → { a: { b: value } }
    match path.split_once('.') {
        None => obj(&[(path, value)]),
        Some((group, key)) => obj(&[(group, obj(&[(key, value)]).into())]),
    }
}

/// The option at `path` set to `value` must throw an error of `kind` naming `path`.
fn expect_option_error(path: &str, value: JsValue, kind: &str) {
    expect_constructor_error(unused_url(), Some(bad_option(path, value)), kind, path);
}

/// What `new WebSocket(url)` rejects, with the reason (the WHATWG constructor's rules).
#[wasm_bindgen_test]
fn invalid_urls_throw_what_the_websocket_constructor_throws() {
    let cases = [
        (
            "ftp://127.0.0.1:1/x",
            "the scheme must be ws:, wss:, http: or https: (got ftp:)",
        ),
        ("file:///x", "(got file:)"),
        ("javascript:alert(1)", "(got javascript:)"),
        ("ws://127.0.0.1:1/x#frag", "cannot have a fragment"),
        ("wss://127.0.0.1:1/x#", "cannot have a fragment"),
        ("http://127.0.0.1:1/#", "cannot have a fragment"),
        ("ws://127.0.0.1:99999/", "cannot be parsed"),
        ("http://[::1/", "cannot be parsed"),
        ("ws://", "cannot be parsed"),
    ];
    for (url, why) in cases {
        let needle = format!("invalid url \"{url}\": ");
        expect_constructor_error(s(url), None, "SyntaxError", &needle);
        expect_constructor_error(s(url), None, "SyntaxError", why);
    }
    expect_constructor_error(n(5.0), None, "TypeError", "url");
    expect_constructor_error(JsValue::UNDEFINED, None, "TypeError", "url");
}

/// What `new WebSocket(url)` accepts is accepted: http(s): (read as ws(s):) and URLs
/// relative to the document's base URL ("" is the document itself), strings or URL objects.
/// (browser_status_url.rs connects to such URLs.)
#[wasm_bindgen_test]
fn urls_the_websocket_constructor_accepts_are_accepted() {
    let url_object: JsValue = web_sys::Url::new("https://127.0.0.1:1/obj").unwrap().into();
    for url in [
        s("http://127.0.0.1:1/x"),
        s("https://127.0.0.1:1/x"),
        s("HTTP://127.0.0.1:1/x"),
        s("/ws"),
        s("ws"),
        s("not a url"),
        s(""),
        s("?q=1"),
        url_object,
    ] {
        let shown = format!("{url:?}");
        match Connection::new(url, Some(obj(&[("reconnect", JsValue::FALSE)]))) {
            Ok(conn) => drop(conn),
            Err(e) => panic!("{shown} rejected: {}", error_message(&e)),
        }
    }
}

/// Unknown option names throw a TypeError naming the key and the nearest known one, at the
/// top level and in the groups; react-use-websocket's names point at ours.
#[wasm_bindgen_test]
fn unknown_options_throw_with_the_nearest_known_name() {
    // (Names are checked before values: the value does not matter.)
    let cases = [
        ("reconnect.initialDelay", "did you mean initialDelayMs?"),
        ("reconnectAttempts", "did you mean reconnect.maxAttempts?"),
        (
            "reconnectInterval",
            "did you mean reconnect.initialDelayMs?",
        ),
        ("retryOnError", "did you mean reconnect?"),
        ("onmessage", "did you mean onMessage?"),
        ("onclose", "did you mean onClose?"),
        ("heartbeat.interval", "did you mean intervalMs?"),
        ("heartbeat.timeout", "did you mean timeoutMs?"),
        ("heartbeat.returnMessage", "did you mean pongMessage?"),
        ("outbox.maxMessage", "did you mean maxMessages?"),
        ("delivery.ackTimeout", "did you mean ackTimeoutMs?"),
        ("maxAttempts", "did you mean reconnect.maxAttempts?"),
        ("protocol", "did you mean protocols?"),
        ("connectTimeout", "did you mean connectTimeoutMs?"),
        (
            "filter",
            "expected one of protocols, reconnect, connectTimeoutMs,",
        ),
        ("queryParams", "expected one of protocols, reconnect,"),
        (
            "reconnect.foo",
            "expected one of initialDelayMs, maxDelayMs, factor,",
        ),
    ];
    for (path, hint) in cases {
        let needle = format!("unknown option {path}: {hint}");
        expect_constructor_error(
            unused_url(),
            Some(bad_option(path, n(1.0))),
            "TypeError",
            &needle,
        );
    }
}

/// The names being added for the delivery issue are known (their values are not read here).
#[wasm_bindgen_test]
fn delivery_option_names_are_known() {
    let f = cb0(|| ());
    let delivery = obj(&[("ackTimeoutMs", n(1000.0)), ("ackEveryMs", n(50.0))]);
    for options in [
        obj(&[
            ("delivery", delivery.into()),
            ("onAck", f.clone()),
            ("onResync", f.clone()),
        ]),
        obj(&[("delivery", JsValue::TRUE)]),
    ] {
        set(&options, "reconnect", JsValue::FALSE);
        match Connection::new(unused_url(), Some(options)) {
            Ok(conn) => drop(conn),
            Err(e) => panic!("rejected: {}", error_message(&e)),
        }
    }
}

#[wasm_bindgen_test]
fn negative_delays_throw_naming_the_field() {
    for field in [
        "reconnect.initialDelayMs",
        "reconnect.maxDelayMs",
        "reconnect.minUptimeMs",
        "connectTimeoutMs",
        "heartbeat.intervalMs",
        "heartbeat.timeoutMs",
    ] {
        expect_option_error(field, n(-1.0), "RangeError");
    }
}

#[wasm_bindgen_test]
fn non_numeric_values_throw_naming_the_field() {
    for field in [
        "reconnect.initialDelayMs",
        "reconnect.factor",
        "reconnect.jitter",
        "reconnect.maxAttempts",
        "connectTimeoutMs",
        "heartbeat.timeoutMs",
        "outbox.maxMessages",
        "outbox.maxBytes",
        "outbox.highWaterMark",
    ] {
        expect_option_error(field, s("fast"), "TypeError");
        expect_option_error(field, n(f64::NAN), "TypeError");
    }
}

#[wasm_bindgen_test]
fn out_of_range_values_throw_naming_the_field() {
    let cases: [(&str, f64); 8] = [
        ("reconnect.jitter", 1.5),
        ("reconnect.jitter", -0.1),
        ("reconnect.factor", 0.5),
        ("reconnect.maxAttempts", 1.5),
        ("reconnect.maxAttempts", -1.0),
        ("outbox.maxMessages", 0.0),
        ("outbox.highWaterMark", 0.0),
        ("connectTimeoutMs", 0.0),
    ];
    for (field, value) in cases {
        expect_option_error(field, n(value), "RangeError");
    }
    // maxDelayMs below initialDelayMs.
    let reconnect = obj(&[("initialDelayMs", n(1000.0)), ("maxDelayMs", n(10.0))]);
    expect_constructor_error(
        unused_url(),
        Some(obj(&[("reconnect", reconnect.into())])),
        "RangeError",
        "reconnect.maxDelayMs",
    );
}

#[wasm_bindgen_test]
fn unknown_overflow_policy_throws() {
    expect_option_error("outbox.overflow", s("drop-all"), "RangeError");
    expect_option_error("outbox.overflow", n(1.0), "TypeError");
}

#[wasm_bindgen_test]
fn wrong_option_types_throw_naming_the_field() {
    let cases: Vec<(&str, JsValue, &str)> = vec![
        ("protocols", n(5.0), "protocols"),
        ("protocols", Array::of1(&n(5.0)).into(), "protocols[0]"),
        ("reconnect", s("yes"), "reconnect"),
        ("heartbeat", n(1.0), "heartbeat"),
        ("outbox", s("big"), "outbox"),
        (
            "heartbeat",
            obj(&[("message", n(1.0))]).into(),
            "heartbeat.message",
        ),
        (
            "heartbeat",
            obj(&[("message", s(""))]).into(),
            "heartbeat.message",
        ),
        ("onMessage", n(5.0), "onMessage"),
        ("onOpen", s("f"), "onOpen"),
        ("shouldReconnect", JsValue::TRUE, "shouldReconnect"),
    ];
    for (key, value, field) in cases {
        let m = match Connection::new(unused_url(), Some(obj(&[(key, value)]))) {
            Ok(_) => panic!("{key}: expected an error naming {field}"),
            Err(e) => error_message(&e),
        };
        assert!(m.contains(field), "expected {field:?} in {m}");
    }
    // Options that are not an object.
    expect_constructor_error(
        unused_url(),
        Some(n(3.0).unchecked_into()),
        "TypeError",
        "options",
    );
}

// ---------------------------------------------------------------------------------------------
// Methods: close, sendJsonMessage, sendMessage, subscribe
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn invalid_close_codes_and_reasons_throw_and_close_nothing() {
    let sc = scope("badclose");
    let conn = open_connected(&sc, &Log::default(), &[]).await;
    for code in [1001.0, 999.0, 2999.0, 5000.0, 1000.5, 70000.0] {
        let e = conn
            .close(Some(n(code).unchecked_into()), None)
            .expect_err("invalid code accepted");
        let m = error_message(&e);
        assert!(
            m.starts_with("RangeError") && m.contains("code"),
            "{code}: {m}"
        );
    }
    let e = conn
        .close(Some(s("1000").unchecked_into()), None)
        .expect_err("a string code accepted");
    assert!(error_message(&e).contains("code"));
    // 62 × "é" = 124 UTF-8 bytes (but only 62 UTF-16 units).
    let long = "é".repeat(62);
    let e = conn
        .close(None, Some(s(&long).unchecked_into()))
        .expect_err("long reason accepted");
    let m = error_message(&e);
    assert!(m.contains("reason") && m.contains("124"), "{m}");
    sleep(100).await;
    assert_eq!(conn.status(), "connected", "nothing was closed");
    assert_eq!(num(&stats(&sc).await, "open"), 1.0);
    // 123 bytes is fine.
    conn.close(
        Some(n(3000.0).unchecked_into()),
        Some(s(&"r".repeat(123)).unchecked_into()),
    )
    .unwrap();
    assert_eq!(conn.status(), "closed");
    drop(conn);
}

#[wasm_bindgen_test]
async fn unserializable_json_and_bad_data_throw_and_queue_nothing() {
    let sc = scope("badjson");
    let conn = open(&sc, &Log::default(), &[]);
    let cyclic = Object::new();
    set(&cyclic, "self", cyclic.clone());
    let cases: Vec<(JsValue, &str)> = vec![
        (cyclic.into(), "cannot be serialized"),
        (js_sys::BigInt::from(1u32).into(), "cannot be serialized"),
        (JsValue::UNDEFINED, "no JSON form"),
        (cb0(|| ()), "no JSON form"),
    ];
    for (value, needle) in cases {
        let e = conn
            .send_json_message(value)
            .expect_err("unserializable value accepted");
        let m = error_message(&e);
        assert!(m.starts_with("TypeError") && m.contains(needle), "{m}");
    }
    for bad in [
        n(5.0),
        JsValue::NULL,
        JsValue::UNDEFINED,
        Object::new().into(),
    ] {
        let plain = bad.is_object();
        let e = conn.send_message(bad).expect_err("bad data accepted");
        let m = error_message(&e);
        assert!(
            m.starts_with("TypeError") && m.contains("sendMessage"),
            "{m}"
        );
        // A plain object: the hint to send it as JSON; anything else: no such hint.
        assert_eq!(m.contains("use sendJsonMessage"), plain, "{m}");
    }
    let e = conn.subscribe(n(1.0)).expect_err("a non-function listener");
    assert!(error_message(&e).contains("subscribe"));
    assert_eq!(snapshot_num(&conn, "queuedMessages"), 0.0);
    wait_status(&conn, "connected", 5000.0).await;
    sleep(100).await;
    assert_eq!(num(&stats(&sc).await, "received"), 0.0, "nothing was sent");
    drop(conn);
}
