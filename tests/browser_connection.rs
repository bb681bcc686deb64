#![cfg(target_arch = "wasm32")]
//! Browser tests of the JS-facing `Connection` against the real test server (tests/server).
//!
//! The server's addresses come at compile time from WS_TEST_URL and WS_CONTROL_URL, which
//! scripts/test.sh exports after starting the server. Every test uses a scope of its own (the
//! WebSocket path) and passes it to every control call, so tests do not disturb each other.
//! Every test frees its connection, so the live-handle count is back to its baseline after it.
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Array, ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use resilient_ws::bindings::{live_handles_js, Connection};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// ---------------------------------------------------------------------------------------------
// Server access
// ---------------------------------------------------------------------------------------------

const MISSING: &str = "WS_TEST_URL / WS_CONTROL_URL were not set when the tests were compiled: \
                       run them through scripts/test.sh (make test), which starts the test server \
                       and exports both";

fn ws_base() -> &'static str {
    match option_env!("WS_TEST_URL") {
        Some(url) => url,
        None => panic!("{MISSING}"),
    }
}

fn control_base() -> &'static str {
    match option_env!("WS_CONTROL_URL") {
        Some(url) => url,
        None => panic!("{MISSING}"),
    }
}

/// A scope of this test's own.
fn scope(name: &str) -> String {
    format!("{name}-{}", (js_sys::Math::random() * 1e9) as u64)
}

fn ws_url(scope: &str) -> String {
    format!("{}/{}", ws_base().trim_end_matches('/'), scope)
}

/// GET control endpoint `path` for `scope`, with extra query `query` ("a=1&b=2"); its JSON.
async fn control(path: &str, scope: &str, query: &str) -> JsValue {
    let mut url = format!(
        "{}{path}?scope={}",
        control_base().trim_end_matches('/'),
        String::from(js_sys::encode_uri_component(scope))
    );
    if !query.is_empty() {
        url.push('&');
        url.push_str(query);
    }
    let window = web_sys::window().unwrap();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
        .await
        .unwrap_or_else(|e| panic!("control {url} failed: {e:?}"))
        .dyn_into()
        .unwrap();
    assert!(
        response.ok(),
        "control {url} answered {}",
        response.status()
    );
    JsFuture::from(response.json().unwrap()).await.unwrap()
}

async fn stats(scope: &str) -> JsValue {
    control("/stats", scope, "").await
}

async fn received(scope: &str) -> Vec<String> {
    let r = control("/received", scope, "").await;
    Array::from(&get(&r, "messages"))
        .iter()
        .map(|m| m.as_string().unwrap_or_else(|| format!("{m:?}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn num(v: &JsValue, key: &str) -> f64 {
    get(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v:?}"))
}

fn set(o: &Object, key: &str, v: impl Into<JsValue>) {
    Reflect::set(o, &JsValue::from_str(key), &v.into()).unwrap();
}

fn obj(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, v.clone());
    }
    o
}

fn n(x: f64) -> JsValue {
    JsValue::from_f64(x)
}

fn s(x: &str) -> JsValue {
    JsValue::from_str(x)
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Waits until `cond` holds, checking every 5 ms; panics naming `what` after `timeout_ms`.
async fn wait_for(what: &str, timeout_ms: f64, mut cond: impl FnMut() -> bool) {
    let start = js_sys::Date::now();
    while !cond() {
        if js_sys::Date::now() - start > timeout_ms {
            panic!("timed out after {timeout_ms} ms waiting for: {what}");
        }
        sleep(5).await;
    }
}

fn cb0(f: impl Fn() + 'static) -> JsValue {
    Closure::<dyn Fn()>::new(f).into_js_value()
}

fn cb1(f: impl Fn(JsValue) + 'static) -> JsValue {
    Closure::<dyn Fn(JsValue)>::new(f).into_js_value()
}

fn cb2(f: impl Fn(JsValue, JsValue) + 'static) -> JsValue {
    Closure::<dyn Fn(JsValue, JsValue)>::new(f).into_js_value()
}

fn describe_data(data: &JsValue) -> String {
    if let Some(t) = data.as_string() {
        t
    } else if data.is_instance_of::<ArrayBuffer>() {
        let bytes = Uint8Array::new(data).to_vec();
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("bin:{}", hex.join(""))
    } else {
        format!("?{data:?}")
    }
}

fn error_message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(e) => format!("{}: {}", String::from(e.name()), String::from(e.message())),
        None => format!("{e:?}"),
    }
}

/// Everything the callbacks reported, in order: "open", "close:CODE:REASON", "msg:DATA",
/// "error:MESSAGE", "stop:N", "drop:DATA:REASON", "status:S".
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn push(&self, e: String) {
        self.0.borrow_mut().push(e);
    }
    fn all(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
    fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter_map(|e| e.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }
    fn count(&self, prefix: &str) -> usize {
        self.with_prefix(prefix).len()
    }
    fn messages(&self) -> Vec<String> {
        self.with_prefix("msg:")
    }
}

/// Options with every callback recording into `log`, plus `extra`.
fn options(log: &Log, extra: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    let l = log.clone();
    set(&o, "onOpen", cb0(move || l.push("open".into())));
    let l = log.clone();
    set(
        &o,
        "onClose",
        cb1(move |c| {
            l.push(format!(
                "close:{}:{}",
                num(&c, "code"),
                get(&c, "reason").as_string().unwrap()
            ))
        }),
    );
    let l = log.clone();
    set(
        &o,
        "onMessage",
        cb1(move |m| l.push(format!("msg:{}", describe_data(&get(&m, "data"))))),
    );
    let l = log.clone();
    set(
        &o,
        "onError",
        cb1(move |e| l.push(format!("error:{}", error_message(&e)))),
    );
    let l = log.clone();
    set(
        &o,
        "onReconnectStop",
        cb1(move |a| l.push(format!("stop:{}", a.as_f64().unwrap()))),
    );
    let l = log.clone();
    set(
        &o,
        "onDrop",
        cb2(move |d, r| {
            l.push(format!(
                "drop:{}:{}",
                describe_data(&d),
                r.as_string().unwrap()
            ))
        }),
    );
    let l = log.clone();
    set(
        &o,
        "onStatus",
        cb1(move |st| l.push(format!("status:{}", st.as_string().unwrap()))),
    );
    for (k, v) in extra {
        set(&o, k, v.clone());
    }
    o
}

/// Fast retries: no jitter, no growth.
fn fast_reconnect(delay_ms: f64) -> JsValue {
    obj(&[
        ("initialDelayMs", n(delay_ms)),
        ("maxDelayMs", n(delay_ms)),
        ("factor", n(1.0)),
        ("jitter", n(0.0)),
    ])
    .into()
}

fn connect(url: &str, options: Object) -> Connection {
    Connection::new(s(url), Some(options))
        .unwrap_or_else(|e| panic!("new Connection failed: {}", error_message(&e)))
}

async fn wait_status(conn: &Connection, status: &str, timeout_ms: f64) {
    let what = format!("status {status}");
    wait_for(&what, timeout_ms, || conn.status() == status).await;
}

fn snapshot_num(conn: &Connection, key: &str) -> f64 {
    num(&conn.get_snapshot(), key)
}

// ---------------------------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn connects_and_echoes_text_and_binary() {
    let sc = scope("echo");
    let log = Log::default();
    let conn = connect(&ws_url(&sc), options(&log, &[]));
    assert_eq!(conn.status(), "connecting");
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(log.count("open"), 1);

    assert_eq!(conn.send_message(s("hello")).unwrap(), "sent");
    let bytes = Uint8Array::from(&[1u8, 2, 3, 250][..]);
    assert_eq!(conn.send_message(bytes.buffer().into()).unwrap(), "sent");
    // An ArrayBufferView over part of a buffer sends only its own bytes.
    let view = Uint8Array::from(&[9u8, 8, 7, 6, 5][..]).subarray(1, 4);
    assert_eq!(conn.send_message(view.into()).unwrap(), "sent");
    assert_eq!(conn.send_message(s("héllo ✓")).unwrap(), "sent");
    wait_for("4 echoes", 5000.0, || log.messages().len() == 4).await;
    assert_eq!(
        log.messages(),
        ["hello", "bin:010203fa", "bin:080706", "héllo ✓"]
    );

    // lastMessage is the last one; binary → lastJsonMessage null.
    let last = conn.last_message();
    assert_eq!(describe_data(&get(&last, "data")), "héllo ✓");
    let received_at = num(&last, "receivedAt");
    assert!((js_sys::Date::now() - received_at).abs() < 60_000.0);
    assert!(conn.last_json_message().is_null(), "not JSON → null");

    conn.send_json_message(obj(&[("a", n(1.0)), ("b", s("x"))]).into())
        .unwrap();
    wait_for("json echo", 5000.0, || log.messages().len() == 5).await;
    assert_eq!(log.messages()[4], r#"{"a":1,"b":"x"}"#);
    let json = conn.last_json_message();
    assert_eq!(num(&json, "a"), 1.0);
    assert_eq!(get(&json, "b").as_string().unwrap(), "x");

    let st = stats(&sc).await;
    assert_eq!(num(&st, "received"), 5.0);
    assert!(log.with_prefix("error:").is_empty(), "{:?}", log.all());
    drop(conn);
}

#[wasm_bindgen_test]
async fn snapshot_keeps_identity_until_something_changes() {
    let sc = scope("snapshot");
    let log = Log::default();
    let conn = connect(&ws_url(&sc), options(&log, &[]));
    let notified = Rc::new(Cell::new(0u32));
    let nn = notified.clone();
    let unsubscribe = conn.subscribe(cb0(move || nn.set(nn.get() + 1))).unwrap();
    wait_status(&conn, "connected", 5000.0).await;
    assert!(notified.get() >= 1, "the listener hears the status change");

    let a = conn.get_snapshot();
    let b = conn.get_snapshot();
    assert!(Object::is(&a, &b), "same object while nothing changed");
    assert!(Object::is_frozen(a.unchecked_ref::<Object>()));
    assert_eq!(get(&a, "status").as_string().unwrap(), "connected");
    assert!(get(&a, "lastMessage").is_null());
    assert!(get(&a, "lastClose").is_null());
    assert!(get(&a, "nextRetryAt").is_null());
    assert_eq!(num(&a, "attempt"), 0.0);
    assert_eq!(num(&a, "queuedMessages"), 0.0);

    let before = notified.get();
    conn.send_message(s(r#"{"n":1}"#)).unwrap();
    wait_for("echo", 5000.0, || log.messages().len() == 1).await;
    assert!(notified.get() > before, "a message notifies");
    let c = conn.get_snapshot();
    assert!(!Object::is(&a, &c), "a new snapshot after a message");
    assert!(Object::is(&get(&c, "lastMessage"), &conn.last_message()));
    assert_eq!(num(&get(&c, "lastJsonMessage"), "n"), 1.0);
    assert!(Object::is(&c, &conn.get_snapshot()));

    unsubscribe.call0(&JsValue::NULL).unwrap();
    let after = notified.get();
    conn.send_message(s("x")).unwrap();
    wait_for("echo", 5000.0, || log.messages().len() == 2).await;
    assert_eq!(notified.get(), after, "no notification after unsubscribe");

    // A server close shows up in lastClose.
    control("/close", &sc, "code=4000&reason=bye").await;
    wait_for("lastClose", 5000.0, || {
        !get(&conn.get_snapshot(), "lastClose").is_null()
    })
    .await;
    let close = get(&conn.get_snapshot(), "lastClose");
    assert_eq!(num(&close, "code"), 4000.0);
    assert_eq!(get(&close, "reason").as_string().unwrap(), "bye");
    assert_eq!(get(&close, "wasClean").as_bool(), Some(true));
    drop(conn);
}

// ---------------------------------------------------------------------------------------------
// Reconnecting
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn outage_messages_arrive_exactly_once_and_in_order() {
    let sc = scope("outage");
    let log = Log::default();
    let conn = connect(
        &ws_url(&sc),
        options(&log, &[("reconnect", fast_reconnect(50.0))]),
    );
    wait_status(&conn, "connected", 5000.0).await;
    let mut expected = Vec::new();
    let mut next = 0;
    for round in 0..3 {
        // Connected: straight to the socket; wait until the server has them.
        for _ in 0..5 {
            let m = format!("m{next}");
            next += 1;
            assert_eq!(conn.send_message(s(&m)).unwrap(), "sent");
            expected.push(m);
        }
        let q = format!("received={}&ms=5000", expected.len());
        assert_eq!(
            get(&control("/wait", &sc, &q).await, "ok").as_bool(),
            Some(true)
        );

        // The server drops every connection and refuses new ones for a while.
        control("/refuse", &sc, "ms=400").await;
        control("/drop", &sc, "").await;
        wait_status(&conn, "reconnecting", 5000.0).await;
        for _ in 0..10 {
            let m = format!("m{next}");
            next += 1;
            assert_eq!(conn.send_message(s(&m)).unwrap(), "queued", "{m}");
            expected.push(m);
        }
        assert_eq!(snapshot_num(&conn, "queuedMessages"), 10.0);
        wait_status(&conn, "connected", 5000.0).await;
        assert_eq!(log.count("open"), round + 2);
    }
    let q = format!("received={}&ms=5000", expected.len());
    control("/wait", &sc, &q).await;
    sleep(100).await; // anything extra (a duplicate) would show up by now
    assert_eq!(received(&sc).await, expected);
    assert_eq!(snapshot_num(&conn, "queuedMessages"), 0.0);
    let statuses = log.with_prefix("status:");
    assert!(statuses.iter().any(|s| s == "reconnecting"), "{statuses:?}");
    assert_eq!(statuses.last().map(String::as_str), Some("connected"));
    // The echoes came back in order too.
    wait_for("all echoes", 5000.0, || {
        log.messages().len() == expected.len()
    })
    .await;
    assert_eq!(log.messages(), expected);
    drop(conn);
}

#[wasm_bindgen_test]
async fn url_function_is_called_once_per_attempt() {
    let sc = scope("urlfn");
    let log = Log::default();
    let calls = Rc::new(Cell::new(0u32));
    let (c, url) = (calls.clone(), ws_url(&sc));
    // Odd attempts get a string, even ones a Promise of one.
    let url_fn = Closure::<dyn Fn() -> JsValue>::new(move || {
        c.set(c.get() + 1);
        if c.get() % 2 == 1 {
            s(&url)
        } else {
            Promise::resolve(&s(&url)).into()
        }
    })
    .into_js_value();
    let conn = Connection::new(
        url_fn,
        Some(options(&log, &[("reconnect", fast_reconnect(30.0))])),
    )
    .unwrap();
    wait_status(&conn, "connected", 5000.0).await;
    for i in 0..3 {
        control("/drop", &sc, "").await;
        wait_for("reopened", 5000.0, || log.count("open") == i + 2).await;
    }
    // A few refused attempts too.
    control("/refuse", &sc, "ms=200").await;
    control("/drop", &sc, "").await;
    wait_for("reopened after refusals", 5000.0, || log.count("open") == 5).await;
    conn.close(None, None).unwrap();
    sleep(100).await;
    let st = stats(&sc).await;
    console_log!(
        "url function: {} calls, server saw {} attempts ({} refused)",
        calls.get(),
        num(&st, "attempts"),
        num(&st, "refused")
    );
    assert!(num(&st, "refused") >= 1.0, "some attempts were refused");
    assert_eq!(num(&st, "attempts"), calls.get() as f64);
    drop(conn);
}

#[wasm_bindgen_test]
async fn async_url_function_and_its_failures() {
    let sc = scope("urlasync");
    let log = Log::default();
    let calls = Rc::new(Cell::new(0u32));
    let (c, url) = (calls.clone(), ws_url(&sc));
    // 1: throws; 2: rejects; 3: resolves to an http: URL; 4: returns a number; then fine.
    let url_fn = Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(move || {
        c.set(c.get() + 1);
        match c.get() {
            1 => Err(js_sys::Error::new("no token").into()),
            2 => Ok(Promise::reject(&js_sys::Error::new("token server down")).into()),
            3 => Ok(Promise::resolve(&s("http://127.0.0.1:1/")).into()),
            4 => Ok(n(42.0)),
            _ => Ok(Promise::resolve(&s(&url)).into()),
        }
    })
    .into_js_value();
    let conn = Connection::new(
        url_fn,
        Some(options(&log, &[("reconnect", fast_reconnect(10.0))])),
    )
    .unwrap();
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(calls.get(), 5);
    let errors = log.with_prefix("error:");
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("no token"), "{errors:?}");
    assert!(errors[1].contains("token server down"), "{errors:?}");
    assert!(errors[2].contains("http:"), "{errors:?}");
    assert!(errors[3].contains("number"), "{errors:?}");
    assert_eq!(num(&stats(&sc).await, "attempts"), 1.0);
    drop(conn);
}

#[wasm_bindgen_test]
async fn a_stale_async_url_is_ignored() {
    let sc = scope("urlstale");
    let log = Log::default();
    let calls = Rc::new(Cell::new(0u32));
    let (c, url) = (calls.clone(), ws_url(&sc));
    // The first URL arrives after the connect timeout: that attempt is over, it must not open.
    let url_fn = Closure::<dyn Fn() -> JsValue>::new(move || {
        c.set(c.get() + 1);
        let delay = if c.get() == 1 { 300 } else { 0 };
        let url = url.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            sleep(delay).await;
            Ok(s(&url))
        })
        .into()
    })
    .into_js_value();
    let conn = Connection::new(
        url_fn,
        Some(options(
            &log,
            &[
                ("reconnect", fast_reconnect(500.0)),
                ("connectTimeoutMs", n(100.0)),
            ],
        )),
    )
    .unwrap();
    wait_status(&conn, "connected", 5000.0).await;
    sleep(300).await;
    assert_eq!(calls.get(), 2);
    let st = stats(&sc).await;
    assert_eq!(num(&st, "attempts"), 1.0, "the stale URL opened no socket");
    assert_eq!(log.count("open"), 1);
    assert_eq!(log.with_prefix("close:"), ["1006:connect timeout"]);
    drop(conn);
}

#[wasm_bindgen_test]
async fn close_stops_all_attempts() {
    let sc = scope("closestop");
    control("/refuse", &sc, "ms=60000").await;
    let log = Log::default();
    let calls = Rc::new(Cell::new(0u32));
    let (c, url) = (calls.clone(), ws_url(&sc));
    let url_fn = Closure::<dyn Fn() -> JsValue>::new(move || {
        c.set(c.get() + 1);
        s(&url)
    })
    .into_js_value();
    let conn = Connection::new(
        url_fn,
        Some(options(&log, &[("reconnect", fast_reconnect(20.0))])),
    )
    .unwrap();
    wait_for("3 attempts", 5000.0, || calls.get() >= 3).await;
    conn.close(None, None).unwrap();
    assert_eq!(conn.status(), "closed");
    let calls_at_close = calls.get();
    sleep(100).await;
    let attempts = num(&stats(&sc).await, "attempts");
    sleep(500).await;
    assert_eq!(calls.get(), calls_at_close, "no attempt after close()");
    assert_eq!(num(&stats(&sc).await, "attempts"), attempts);
    assert_eq!(conn.status(), "closed");
    assert!(get(&conn.get_snapshot(), "nextRetryAt").is_null());

    // reconnect() after close() starts again.
    control("/refuse", &sc, "ms=0").await;
    conn.reconnect();
    wait_status(&conn, "connected", 5000.0).await;
    // close() while connected: a clean 1000 close, and nothing after it.
    conn.close(
        Some(n(4000.0).unchecked_into()),
        Some(s("done").unchecked_into()),
    )
    .unwrap();
    wait_for("close event", 5000.0, || {
        log.with_prefix("close:")
            .last()
            .is_some_and(|c| c.starts_with("4000:"))
    })
    .await;
    let after = calls.get();
    sleep(300).await;
    assert_eq!(calls.get(), after);
    assert_eq!(conn.status(), "closed");
    drop(conn);
}

#[wasm_bindgen_test]
async fn max_attempts_reached_closes_and_reports() {
    let sc = scope("maxattempts");
    control("/refuse", &sc, "ms=60000").await;
    let log = Log::default();
    let reconnect = fast_reconnect(10.0);
    set(reconnect.unchecked_ref(), "maxAttempts", n(3.0));
    let conn = connect(&ws_url(&sc), options(&log, &[("reconnect", reconnect)]));
    wait_status(&conn, "closed", 5000.0).await;
    sleep(100).await;
    assert_eq!(log.with_prefix("stop:"), ["3"]);
    assert_eq!(
        num(&stats(&sc).await, "attempts"),
        4.0,
        "the first attempt + 3 retries"
    );
    assert_eq!(
        log.with_prefix("status:").last().map(String::as_str),
        Some("closed")
    );
    assert_eq!(snapshot_num(&conn, "attempt"), 3.0);
    control("/refuse", &sc, "ms=0").await;
    drop(conn);
}

#[wasm_bindgen_test]
async fn heartbeat_detects_a_server_that_stops_answering() {
    let sc = scope("heartbeat");
    let log = Log::default();
    let heartbeat = obj(&[("intervalMs", n(100.0)), ("timeoutMs", n(250.0))]);
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[
                ("heartbeat", heartbeat.into()),
                ("reconnect", fast_reconnect(50.0)),
            ],
        ),
    );
    wait_status(&conn, "connected", 5000.0).await;
    sleep(500).await;
    assert_eq!(conn.status(), "connected", "answered pings keep it up");
    assert!(
        log.messages().is_empty(),
        "pongs are not messages: {:?}",
        log.all()
    );
    assert!(num(&stats(&sc).await, "received") >= 3.0, "pings went out");

    control("/mute", &sc, "").await;
    wait_for("heartbeat timeout", 3000.0, || {
        log.with_prefix("close:")
            .contains(&"1006:heartbeat timeout".to_owned())
    })
    .await;
    assert_ne!(conn.status(), "closed");
    control("/unmute", &sc, "").await;
    wait_status(&conn, "connected", 5000.0).await;
    sleep(500).await;
    assert_eq!(conn.status(), "connected");
    drop(conn);
}

#[wasm_bindgen_test]
async fn connect_timeout_abandons_a_stalled_attempt() {
    let sc = scope("stall");
    control("/stall", &sc, "ms=600").await;
    let log = Log::default();
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[
                ("connectTimeoutMs", n(150.0)),
                ("reconnect", fast_reconnect(50.0)),
            ],
        ),
    );
    wait_for("a connect timeout", 3000.0, || {
        log.with_prefix("close:")
            .contains(&"1006:connect timeout".to_owned())
    })
    .await;
    assert_eq!(conn.status(), "reconnecting");
    wait_status(&conn, "connected", 5000.0).await;
    sleep(700).await; // stalled handshakes of abandoned attempts complete now: ignored
    assert_eq!(conn.status(), "connected");
    assert_eq!(log.count("open"), 1);
    let st = stats(&sc).await;
    assert!(num(&st, "attempts") >= 2.0, "{st:?}");
    drop(conn);
}

#[wasm_bindgen_test]
async fn online_and_visible_trigger_an_immediate_retry() {
    let sc = scope("online");
    let log = Log::default();
    // Retries would wait 60 s: only the browser hints can bring it back in time.
    let conn = connect(
        &ws_url(&sc),
        options(&log, &[("reconnect", fast_reconnect(60_000.0))]),
    );
    wait_status(&conn, "connected", 5000.0).await;
    let window = web_sys::window().unwrap();

    control("/drop", &sc, "").await;
    wait_status(&conn, "reconnecting", 5000.0).await;
    let next = get(&conn.get_snapshot(), "nextRetryAt").as_f64().unwrap();
    assert!(next > js_sys::Date::now() + 50_000.0, "nextRetryAt {next}");
    window
        .dispatch_event(&web_sys::Event::new("online").unwrap())
        .unwrap();
    wait_status(&conn, "connected", 2000.0).await;
    assert_eq!(log.count("open"), 2);

    let document = window.document().unwrap();
    if document.visibility_state() == web_sys::VisibilityState::Visible {
        control("/drop", &sc, "").await;
        wait_status(&conn, "reconnecting", 5000.0).await;
        // "offline" does not retry.
        window
            .dispatch_event(&web_sys::Event::new("offline").unwrap())
            .unwrap();
        sleep(100).await;
        assert_eq!(conn.status(), "reconnecting");
        document
            .dispatch_event(&web_sys::Event::new("visibilitychange").unwrap())
            .unwrap();
        wait_status(&conn, "connected", 2000.0).await;
        assert_eq!(log.count("open"), 3);
    } else {
        console_log!("the page is not visible here: visibilitychange not checked");
    }
    drop(conn);
}

#[wasm_bindgen_test]
async fn should_reconnect_decides_and_a_throwing_one_falls_back_to_the_default() {
    // Refuses 4000.
    let sc = scope("policy");
    let log = Log::default();
    let policy =
        Closure::<dyn Fn(JsValue) -> bool>::new(|info: JsValue| num(&info, "code") != 4000.0)
            .into_js_value();
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[
                ("reconnect", fast_reconnect(20.0)),
                ("shouldReconnect", policy),
            ],
        ),
    );
    wait_status(&conn, "connected", 5000.0).await;
    control("/close", &sc, "code=4001").await;
    wait_for("reopened", 5000.0, || log.count("open") == 2).await;
    control("/close", &sc, "code=4000").await;
    wait_status(&conn, "closed", 5000.0).await;
    sleep(200).await;
    assert_eq!(log.count("open"), 2);
    drop(conn);

    // Throws: reported, and the default policy (reconnect after 4000) applies.
    let sc = scope("policythrows");
    let log = Log::default();
    let policy = Closure::<dyn Fn(JsValue) -> Result<bool, JsValue>>::new(|_| {
        Err(js_sys::Error::new("policy bug").into())
    })
    .into_js_value();
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[
                ("reconnect", fast_reconnect(20.0)),
                ("shouldReconnect", policy),
            ],
        ),
    );
    wait_status(&conn, "connected", 5000.0).await;
    control("/close", &sc, "code=4000").await;
    wait_for("reopened", 5000.0, || log.count("open") == 2).await;
    assert!(
        log.with_prefix("error:")
            .iter()
            .any(|e| e.contains("policy bug")),
        "{:?}",
        log.all()
    );
    // The default refuses 4403 (forbidden).
    control("/close", &sc, "code=4403").await;
    wait_status(&conn, "closed", 5000.0).await;
    drop(conn);
}

// ---------------------------------------------------------------------------------------------
// Outbox and bufferedAmount
// ---------------------------------------------------------------------------------------------

/// Replaces `window.WebSocket` with a subclass that records every socket created, so a test
/// can read the real `bufferedAmount` (not the driver's own readings). Undone on drop.
struct SocketSpy {
    original: JsValue,
    sockets: Array,
}

impl SocketSpy {
    fn install() -> SocketSpy {
        let window: JsValue = web_sys::window().unwrap().into();
        let original = get(&window, "WebSocket");
        let sockets = Array::new();
        let make = js_sys::Function::new_with_args(
            "Original, sockets",
            "return class extends Original { constructor(...args) { super(...args); sockets.push(this); } };",
        );
        let spy = make.call2(&JsValue::NULL, &original, &sockets).unwrap();
        Reflect::set(&window, &s("WebSocket"), &spy).unwrap();
        SocketSpy { original, sockets }
    }

    /// The real bufferedAmount of the last socket created.
    fn buffered_amount(&self) -> f64 {
        num(&self.sockets.at(-1), "bufferedAmount")
    }
}

impl Drop for SocketSpy {
    fn drop(&mut self) {
        let window: JsValue = web_sys::window().unwrap().into();
        Reflect::set(&window, &s("WebSocket"), &self.original).unwrap();
    }
}

#[wasm_bindgen_test]
async fn buffered_amount_stays_under_high_water_mark_while_the_server_stops_reading() {
    const HWM: f64 = 65536.0;
    const SIZE: usize = 16 * 1024;
    const COUNT: usize = 128; // 2 MiB
    let sc = scope("backpressure");
    let log = Log::default();
    let outbox = obj(&[
        ("highWaterMark", n(HWM)),
        ("maxBytes", n(8.0 * 1024.0 * 1024.0)),
        ("maxMessages", n(10_000.0)),
    ]);
    let spy = SocketSpy::install();
    let conn = connect(&ws_url(&sc), options(&log, &[("outbox", outbox.into())]));
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(spy.sockets.length(), 1);
    control("/pause", &sc, "").await;

    // The socket's real bufferedAmount, and the driver's readings in the snapshots.
    let (mut max_real, mut max_reading) = (0f64, 0f64);
    let mut sample = |conn: &Connection| {
        max_real = max_real.max(spy.buffered_amount());
        max_reading = max_reading.max(snapshot_num(conn, "bufferedAmount"));
    };
    let (mut sent, mut queued) = (0, 0);
    let mut expected = Vec::new();
    for i in 0..COUNT {
        let mut m = format!("{i:05}:");
        m.push_str(&"x".repeat(SIZE - m.len()));
        match conn.send_message(s(&m)).unwrap().as_str() {
            "sent" => sent += 1,
            "queued" => queued += 1,
            other => panic!("unexpected {other}"),
        }
        sample(&conn);
        expected.push(format!("{i:05}"));
        if i % 16 == 15 {
            for _ in 0..4 {
                sleep(5).await; // the driver polls bufferedAmount and drains meanwhile
                sample(&conn);
            }
        }
    }
    for _ in 0..30 {
        sleep(10).await;
        sample(&conn);
    }
    let queued_while_paused = snapshot_num(&conn, "queuedMessages");
    console_log!(
        "backpressure: {sent} sent, {queued} queued, {queued_while_paused} still queued while paused; \
         max bufferedAmount: socket {max_real}, driver readings {max_reading} \
         (highWaterMark {HWM}, one message {SIZE})"
    );
    assert!(queued > 0, "the outbox took over once the socket was full");
    assert!(
        queued_while_paused > 0.0,
        "messages wait while the server reads nothing"
    );
    assert!(max_real > HWM / 2.0, "the socket did fill up ({max_real})");
    let limit = HWM + SIZE as f64;
    assert!(
        max_real <= limit,
        "bufferedAmount {max_real} > highWaterMark + one message"
    );
    assert!(
        max_reading <= limit,
        "reading {max_reading} > highWaterMark + one message"
    );

    control("/resume", &sc, "").await;
    let q = format!("received={COUNT}&ms=20000");
    assert_eq!(
        get(&control("/wait", &sc, &q).await, "ok").as_bool(),
        Some(true)
    );
    wait_for("outbox drained", 5000.0, || {
        snapshot_num(&conn, "queuedMessages") == 0.0
    })
    .await;
    let got: Vec<String> = received(&sc)
        .await
        .iter()
        .map(|m| m[..5].to_owned())
        .collect();
    assert_eq!(got, expected, "every message once, in order");
    wait_for("echoes", 10_000.0, || log.messages().len() == COUNT).await;
    drop(conn);
    drop(spy);
}

#[wasm_bindgen_test]
async fn overflow_policies_drop_and_report() {
    let sc = scope("overflow");
    // drop-newest: the third message is refused and reported.
    let log = Log::default();
    let outbox = obj(&[("maxMessages", n(2.0)), ("overflow", s("drop-newest"))]);
    let conn = connect(&ws_url(&sc), options(&log, &[("outbox", outbox.into())]));
    // Still connecting: everything waits in the outbox.
    assert_eq!(conn.send_message(s("a")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("b")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("c")).unwrap(), "dropped");
    assert_eq!(log.with_prefix("drop:"), ["c:full"]);
    wait_for("echoes", 5000.0, || log.messages().len() == 2).await;
    assert_eq!(log.messages(), ["a", "b"]);
    drop(conn);

    // drop-oldest: the oldest is evicted.
    let log = Log::default();
    let outbox = obj(&[("maxMessages", n(2.0)), ("overflow", s("drop-oldest"))]);
    let conn = connect(&ws_url(&sc), options(&log, &[("outbox", outbox.into())]));
    assert_eq!(conn.send_message(s("a")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("b")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("c")).unwrap(), "queued");
    assert_eq!(log.with_prefix("drop:"), ["a:overflow"]);
    wait_for("echoes", 5000.0, || log.messages().len() == 2).await;
    assert_eq!(log.messages(), ["b", "c"]);
    drop(conn);
}

#[wasm_bindgen_test]
async fn free_releases_everything_and_reports_queued_messages() {
    let sc = scope("free");
    control("/refuse", &sc, "ms=60000").await;
    let baseline = live_handles_js();
    let log = Log::default();
    let conn = connect(
        &ws_url(&sc),
        options(&log, &[("reconnect", fast_reconnect(20.0))]),
    );
    assert!(live_handles_js() > baseline);
    assert_eq!(conn.send_message(s("q1")).unwrap(), "queued");
    assert_eq!(
        conn.send_message(Uint8Array::from(&[7u8][..]).buffer().into())
            .unwrap(),
        "queued"
    );
    sleep(100).await;
    drop(conn); // = free()
    assert_eq!(log.with_prefix("drop:"), ["q1:released", "bin:07:released"]);
    assert_eq!(
        live_handles_js(),
        baseline,
        "every closure and listener released"
    );
    let attempts = num(&stats(&sc).await, "attempts");
    sleep(200).await;
    assert_eq!(
        num(&stats(&sc).await, "attempts"),
        attempts,
        "no attempt after free()"
    );
    control("/refuse", &sc, "ms=0").await;

    // free() of an open connection closes its socket.
    let conn = connect(&ws_url(&sc), options(&Log::default(), &[]));
    wait_status(&conn, "connected", 5000.0).await;
    drop(conn);
    let st = control("/wait", &sc, "open=0&ms=3000").await;
    assert_eq!(
        get(&st, "ok").as_bool(),
        Some(true),
        "the server saw the socket close"
    );
    assert_eq!(live_handles_js(), baseline);
}

// ---------------------------------------------------------------------------------------------
// Leaks
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn no_leak_after_200_reconnect_cycles() {
    let sc = scope("leak");
    let baseline = live_handles_js();
    let log = Log::default();
    let reconnect = fast_reconnect(0.0);
    set(reconnect.unchecked_ref(), "minUptimeMs", n(0.0));
    let conn = connect(&ws_url(&sc), options(&log, &[("reconnect", reconnect)]));
    wait_status(&conn, "connected", 5000.0).await;
    let mut after_2 = 0;
    // Even cycles: the server drops the connection; odd ones: the user's reconnect().
    for cycle in 1..=200 {
        if cycle % 2 == 0 {
            control("/drop", &sc, "").await;
        } else {
            conn.reconnect();
        }
        wait_for("reopened", 5000.0, || log.count("open") == cycle + 1).await;
        if cycle == 2 {
            sleep(50).await;
            after_2 = live_handles_js();
        }
    }
    sleep(50).await;
    let after_200 = live_handles_js();
    drop(conn);
    let after_free = live_handles_js();
    console_log!(
        "live handles: baseline {baseline}, after 2 cycles {after_2}, after 200 cycles {after_200}, \
         after free {after_free}"
    );
    assert_eq!(
        after_200, after_2,
        "live closures/listeners grew with reconnects"
    );
    assert_eq!(after_free, baseline);
    assert_eq!(
        after_2 - baseline,
        7,
        "4 socket handlers + 3 window/document listeners while connected"
    );
}

// ---------------------------------------------------------------------------------------------
// Re-entrancy and throwing callbacks
// ---------------------------------------------------------------------------------------------

/// A slot for the connection, filled after construction, for callbacks that call back into it.
type Slot = Rc<RefCell<Weak<Connection>>>;

#[wasm_bindgen_test]
async fn callbacks_can_call_back_into_the_connection() {
    let sc = scope("reentrant");
    let log = Log::default();
    let slot: Slot = Rc::default();
    // onMessage answers "a" with "b" (sendMessage inside onMessage).
    let (sl, l) = (slot.clone(), log.clone());
    let on_message = cb1(move |m| {
        let data = describe_data(&get(&m, "data"));
        l.push(format!("msg:{data}"));
        if data == "a" {
            if let Some(c) = sl.borrow().upgrade() {
                let r = c.send_message(s("b")).unwrap();
                l.push(format!("reply:{r}"));
            }
        }
    });
    // onClose: 4401 → reconnect() (the default policy would not), 4402 → close().
    let (sl, l) = (slot.clone(), log.clone());
    let on_close = cb1(move |info| {
        let code = num(&info, "code");
        l.push(format!("close:{code}"));
        if let Some(c) = sl.borrow().upgrade() {
            if code == 4401.0 {
                c.reconnect();
            } else if code == 4402.0 {
                c.close(None, None).unwrap();
            }
        }
    });
    let opts = options(
        &log,
        &[
            ("onMessage", on_message),
            ("onClose", on_close),
            ("reconnect", fast_reconnect(20.0)),
        ],
    );
    let conn = Rc::new(connect(&ws_url(&sc), opts));
    *slot.borrow_mut() = Rc::downgrade(&conn);
    wait_status(&conn, "connected", 5000.0).await;

    conn.send_message(s("a")).unwrap();
    wait_for("a, then b", 5000.0, || log.messages().len() == 2).await;
    assert_eq!(log.messages(), ["a", "b"]);
    assert_eq!(log.with_prefix("reply:"), ["sent"]);
    assert_eq!(received(&sc).await, ["a", "b"]);

    control("/close", &sc, "code=4401").await;
    wait_for("reconnected from onClose", 5000.0, || {
        log.count("open") == 2
    })
    .await;
    wait_status(&conn, "connected", 5000.0).await;

    control("/close", &sc, "code=4402").await;
    wait_status(&conn, "closed", 5000.0).await;
    sleep(200).await;
    assert_eq!(conn.status(), "closed");
    assert_eq!(log.count("open"), 2);
    assert!(log.with_prefix("error:").is_empty(), "{:?}", log.all());
}

#[wasm_bindgen_test]
async fn a_throwing_callback_is_reported_and_the_connection_survives() {
    let sc = scope("throws");
    let log = Log::default();
    let l = log.clone();
    let on_message = Closure::<dyn Fn(JsValue) -> Result<(), JsValue>>::new(move |m: JsValue| {
        let data = describe_data(&get(&m, "data"));
        l.push(format!("msg:{data}"));
        Err(js_sys::Error::new(&format!("bad handler for {data}")).into())
    })
    .into_js_value();
    let conn = connect(&ws_url(&sc), options(&log, &[("onMessage", on_message)]));
    wait_status(&conn, "connected", 5000.0).await;
    conn.send_message(s("one")).unwrap();
    conn.send_message(s("two")).unwrap();
    wait_for("both messages", 5000.0, || log.messages().len() == 2).await;
    wait_for("both errors", 1000.0, || log.count("error:") == 2).await;
    assert_eq!(
        log.with_prefix("error:"),
        ["Error: bad handler for one", "Error: bad handler for two"]
    );
    assert_eq!(conn.status(), "connected");
    drop(conn);

    // onError itself throwing is swallowed (console.error), and nothing breaks.
    let log = Log::default();
    let failing = Closure::<dyn Fn(JsValue) -> Result<(), JsValue>>::new(|_| {
        Err(js_sys::Error::new("callback bug").into())
    })
    .into_js_value();
    let on_error = Closure::<dyn Fn(JsValue) -> Result<(), JsValue>>::new(|_| {
        Err(js_sys::Error::new("onError bug").into())
    })
    .into_js_value();
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[
                ("onMessage", failing.clone()),
                ("onOpen", failing.clone()),
                ("onStatus", failing),
                ("onError", on_error),
            ],
        ),
    );
    let unsubscribe = conn
        .subscribe(
            Closure::<dyn Fn() -> Result<(), JsValue>>::new(|| Err(s("listener bug")))
                .into_js_value(),
        )
        .unwrap();
    wait_status(&conn, "connected", 5000.0).await;
    conn.send_message(s("x")).unwrap();
    control("/wait", &sc, "received=1&ms=3000").await;
    sleep(100).await; // the echo reached the throwing onMessage by now
    assert_eq!(conn.status(), "connected");
    assert_eq!(conn.send_message(s("y")).unwrap(), "sent");
    unsubscribe.call0(&JsValue::NULL).unwrap();
    drop(conn);
}

// ---------------------------------------------------------------------------------------------
// Invalid input: each throws at once, with a message naming the problem
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

#[wasm_bindgen_test]
fn invalid_urls_throw() {
    expect_constructor_error(s("http://127.0.0.1:1/x"), None, "SyntaxError", "ws:");
    expect_constructor_error(s("not a url"), None, "SyntaxError", "cannot parse");
    expect_constructor_error(s(""), None, "SyntaxError", "cannot parse");
    expect_constructor_error(n(5.0), None, "TypeError", "url");
    expect_constructor_error(JsValue::UNDEFINED, None, "TypeError", "url");
}

fn bad_option(path: &str, value: JsValue) -> Object {
    // "a.b" → { a: { b: value } }
    match path.split_once('.') {
        None => obj(&[(path, value)]),
        Some((group, key)) => obj(&[(group, obj(&[(key, value)]).into())]),
    }
}

#[wasm_bindgen_test]
fn negative_delays_throw_naming_the_field() {
    let url = ws_url("never-used");
    for field in [
        "reconnect.initialDelayMs",
        "reconnect.maxDelayMs",
        "reconnect.minUptimeMs",
        "connectTimeoutMs",
        "heartbeat.intervalMs",
        "heartbeat.timeoutMs",
    ] {
        expect_constructor_error(
            s(&url),
            Some(bad_option(field, n(-1.0))),
            "RangeError",
            field,
        );
    }
}

#[wasm_bindgen_test]
fn non_numeric_values_throw_naming_the_field() {
    let url = ws_url("never-used");
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
        expect_constructor_error(
            s(&url),
            Some(bad_option(field, s("fast"))),
            "TypeError",
            field,
        );
        expect_constructor_error(
            s(&url),
            Some(bad_option(field, n(f64::NAN))),
            "TypeError",
            field,
        );
    }
}

#[wasm_bindgen_test]
fn out_of_range_values_throw_naming_the_field() {
    let url = ws_url("never-used");
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
        expect_constructor_error(
            s(&url),
            Some(bad_option(field, n(value))),
            "RangeError",
            field,
        );
    }
    // maxDelayMs below initialDelayMs.
    let reconnect = obj(&[("initialDelayMs", n(1000.0)), ("maxDelayMs", n(10.0))]);
    expect_constructor_error(
        s(&url),
        Some(obj(&[("reconnect", reconnect.into())])),
        "RangeError",
        "reconnect.maxDelayMs",
    );
}

#[wasm_bindgen_test]
fn unknown_overflow_policy_throws() {
    let url = ws_url("never-used");
    expect_constructor_error(
        s(&url),
        Some(bad_option("outbox.overflow", s("drop-all"))),
        "RangeError",
        "outbox.overflow",
    );
    expect_constructor_error(
        s(&url),
        Some(bad_option("outbox.overflow", n(1.0))),
        "TypeError",
        "outbox.overflow",
    );
}

#[wasm_bindgen_test]
fn wrong_option_types_throw_naming_the_field() {
    let url = ws_url("never-used");
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
        let m = match Connection::new(s(&url), Some(obj(&[(key, value)]))) {
            Ok(_) => panic!("{key}: expected an error naming {field}"),
            Err(e) => error_message(&e),
        };
        assert!(m.contains(field), "expected {field:?} in {m}");
    }
    // Options that are not an object.
    expect_constructor_error(
        s(&url),
        Some(n(3.0).unchecked_into()),
        "TypeError",
        "options",
    );
}

#[wasm_bindgen_test]
async fn invalid_close_codes_and_reasons_throw_and_close_nothing() {
    let sc = scope("badclose");
    let conn = connect(&ws_url(&sc), options(&Log::default(), &[]));
    wait_status(&conn, "connected", 5000.0).await;
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
async fn outbox_full_throws_outbox_full_error_and_queues_nothing() {
    let sc = scope("outboxfull");
    let outbox = obj(&[("maxMessages", n(2.0)), ("maxBytes", n(100.0))]);
    let log = Log::default();
    let conn = connect(&ws_url(&sc), options(&log, &[("outbox", outbox.into())]));
    // Still connecting: messages wait in the outbox.
    assert_eq!(conn.send_message(s("a")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("b")).unwrap(), "queued");
    let e = conn
        .send_message(s("c"))
        .expect_err("full outbox accepted a message");
    let err: &js_sys::Error = e.dyn_ref().expect("an Error");
    assert_eq!(String::from(err.name()), "OutboxFullError");
    let m = String::from(err.message());
    assert!(
        m.contains("2 messages") && m.contains("maxMessages 2"),
        "{m}"
    );
    assert_eq!(snapshot_num(&conn, "queuedMessages"), 2.0);
    assert!(log.with_prefix("drop:").is_empty());
    drop(conn);

    // By bytes: a message that does not fit.
    let outbox = obj(&[("maxBytes", n(10.0))]);
    let conn = connect(&ws_url(&sc), options(&log, &[("outbox", outbox.into())]));
    assert_eq!(conn.send_message(s("12345678")).unwrap(), "queued");
    let e = conn
        .send_message(s("abc"))
        .expect_err("over maxBytes accepted");
    assert_eq!(num(&e, "queuedBytes"), 8.0);
    assert_eq!(
        String::from(e.dyn_ref::<js_sys::Error>().unwrap().name()),
        "OutboxFullError"
    );
    assert_eq!(snapshot_num(&conn, "queuedBytes"), 8.0);
    drop(conn);
}

#[wasm_bindgen_test]
async fn unserializable_json_and_bad_data_throw_and_queue_nothing() {
    let sc = scope("badjson");
    let conn = connect(&ws_url(&sc), options(&Log::default(), &[]));
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
        let e = conn.send_message(bad).expect_err("bad data accepted");
        let m = error_message(&e);
        assert!(
            m.starts_with("TypeError") && m.contains("sendMessage"),
            "{m}"
        );
    }
    let e = conn.subscribe(n(1.0)).expect_err("a non-function listener");
    assert!(error_message(&e).contains("subscribe"));
    assert_eq!(snapshot_num(&conn, "queuedMessages"), 0.0);
    wait_status(&conn, "connected", 5000.0).await;
    sleep(100).await;
    assert_eq!(num(&stats(&sc).await, "received"), 0.0, "nothing was sent");
    drop(conn);
}

#[wasm_bindgen_test]
async fn protocols_are_offered() {
    let sc = scope("protocols");
    let log = Log::default();
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[("protocols", Array::of2(&s("chat.v2"), &s("chat.v1")).into())],
        ),
    );
    wait_status(&conn, "connected", 5000.0).await;
    drop(conn);
    // A single string works too.
    let conn = connect(&ws_url(&sc), options(&log, &[("protocols", s("chat.v2"))]));
    wait_status(&conn, "connected", 5000.0).await;
    drop(conn);
    // An invalid protocol token makes the WebSocket constructor throw: a failed attempt,
    // reported through onError, not a crash.
    let log = Log::default();
    let conn = connect(
        &ws_url(&sc),
        options(
            &log,
            &[
                ("protocols", s("bad protocol")),
                ("reconnect", JsValue::FALSE),
            ],
        ),
    );
    wait_status(&conn, "closed", 5000.0).await;
    let errors = log.with_prefix("error:");
    assert!(errors.iter().any(|e| e.contains("WebSocket")), "{errors:?}");
    drop(conn);
}
