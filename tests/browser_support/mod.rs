//! What every browser test needs: the test server (its URLs and control endpoints), opening a
//! connection whose callbacks record into a [`Log`], waiting for a status or a condition, and
//! small JS helpers. Included by each `tests/browser_*.rs` as `mod browser_support;`.
//!
//! The server's addresses come at compile time from WS_TEST_URL and WS_CONTROL_URL, which
//! scripts/test.sh exports after starting the server. Every test uses a scope of its own (the
//! WebSocket path) and passes it to every control call, so tests do not disturb each other.
//! Every test frees its connection, so the live-handle count is back to its baseline after it.
#![allow(dead_code)] // each test file uses a part of it

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use resilient_ws::bindings::Connection;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
pub fn scope(name: &str) -> String {
    format!("{name}-{}", (js_sys::Math::random() * 1e9) as u64)
}

pub fn ws_url(scope: &str) -> String {
    format!("{}/{}", ws_base().trim_end_matches('/'), scope)
}

/// GET control endpoint `path` for `scope`, with extra query `query` ("a=1&b=2"); its JSON.
pub async fn control(path: &str, scope: &str, query: &str) -> JsValue {
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

pub async fn stats(scope: &str) -> JsValue {
    control("/stats", scope, "").await
}

/// Waits on the server (up to `ms`) until it has received `count` messages in `scope`; its
/// answer's `ok`.
pub async fn wait_received(scope: &str, count: usize, ms: u32) -> Option<bool> {
    let q = format!("received={count}&ms={ms}");
    get(&control("/wait", scope, &q).await, "ok").as_bool()
}

/// The messages the server received in `scope`, in order.
pub async fn received(scope: &str) -> Vec<String> {
    let r = control("/received", scope, "").await;
    Array::from(&get(&r, "messages"))
        .iter()
        .map(|m| m.as_string().unwrap_or_else(|| format!("{m:?}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

pub fn num(v: &JsValue, key: &str) -> f64 {
    get(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v:?}"))
}

pub fn set(o: &Object, key: &str, v: impl Into<JsValue>) {
    Reflect::set(o, &JsValue::from_str(key), &v.into()).unwrap();
}

pub fn obj(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, v.clone());
    }
    o
}

pub fn n(x: f64) -> JsValue {
    JsValue::from_f64(x)
}

pub fn s(x: &str) -> JsValue {
    JsValue::from_str(x)
}

pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Waits until `cond` holds, checking every 5 ms; panics naming `what` after `timeout_ms`.
pub async fn wait_for(what: &str, timeout_ms: f64, mut cond: impl FnMut() -> bool) {
    let start = js_sys::Date::now();
    while !cond() {
        if js_sys::Date::now() - start > timeout_ms {
            panic!("timed out after {timeout_ms} ms waiting for: {what}");
        }
        sleep(5).await;
    }
}

pub fn cb0(f: impl Fn() + 'static) -> JsValue {
    Closure::<dyn Fn()>::new(f).into_js_value()
}

pub fn cb1(f: impl Fn(JsValue) + 'static) -> JsValue {
    Closure::<dyn Fn(JsValue)>::new(f).into_js_value()
}

pub fn cb2(f: impl Fn(JsValue, JsValue) + 'static) -> JsValue {
    Closure::<dyn Fn(JsValue, JsValue)>::new(f).into_js_value()
}

pub fn describe_data(data: &JsValue) -> String {
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

pub fn error_message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(e) => format!("{}: {}", String::from(e.name()), String::from(e.message())),
        None => format!("{e:?}"),
    }
}

/// Everything the callbacks reported, in order: "open", "close:CODE:REASON", "msg:DATA",
/// "error:MESSAGE", "stop:N", "drop:DATA:REASON", "status:S".
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, e: String) {
        self.0.borrow_mut().push(e);
    }
    pub fn all(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
    pub fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter_map(|e| e.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.with_prefix(prefix).len()
    }
    pub fn messages(&self) -> Vec<String> {
        self.with_prefix("msg:")
    }
}

/// Options with every callback recording into `log`, plus `extra`.
pub fn options(log: &Log, extra: &[(&str, JsValue)]) -> Object {
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
pub fn fast_reconnect(delay_ms: f64) -> JsValue {
    obj(&[
        ("initialDelayMs", n(delay_ms)),
        ("maxDelayMs", n(delay_ms)),
        ("factor", n(1.0)),
        ("jitter", n(0.0)),
    ])
    .into()
}

pub fn connect(url: &str, options: Object) -> Connection {
    connect_to(s(url), options)
}

/// `new Connection(url, options)`, where `url` is a string or a URL function.
pub fn connect_to(url: JsValue, options: Object) -> Connection {
    Connection::new(url, Some(options))
        .unwrap_or_else(|e| panic!("new Connection failed: {}", error_message(&e)))
}

/// A connection to `scope` on the test server with [`options`]`(log, extra)`.
pub fn open(scope: &str, log: &Log, extra: &[(&str, JsValue)]) -> Connection {
    connect(&ws_url(scope), options(log, extra))
}

/// [`open`], then wait (up to 5 s) until it is connected.
pub async fn open_connected(scope: &str, log: &Log, extra: &[(&str, JsValue)]) -> Connection {
    let conn = open(scope, log, extra);
    wait_status(&conn, "connected", 5000.0).await;
    conn
}

/// A URL function for `scope` that counts its calls: call `k` (from 1) returns
/// `answer(k, url)`, and throws on `Err`. Returns the call counter and the function.
pub fn counting_url_fn(
    scope: &str,
    answer: impl Fn(u32, &str) -> Result<JsValue, JsValue> + 'static,
) -> (Rc<Cell<u32>>, JsValue) {
    let calls = Rc::new(Cell::new(0u32));
    let (c, url) = (calls.clone(), ws_url(scope));
    let url_fn = Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(move || {
        c.set(c.get() + 1);
        answer(c.get(), &url)
    })
    .into_js_value();
    (calls, url_fn)
}

pub async fn wait_status(conn: &Connection, status: &str, timeout_ms: f64) {
    let what = format!("status {status}");
    wait_for(&what, timeout_ms, || conn.status() == status).await;
}

pub fn snapshot_num(conn: &Connection, key: &str) -> f64 {
    num(&conn.get_snapshot(), key)
}
