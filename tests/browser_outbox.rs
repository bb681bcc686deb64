#![cfg(target_arch = "wasm32")]
//! Browser tests: the outbox paced by the socket's real bufferedAmount, and its limits
//! (overflow policies, OutboxFullError). See browser_support for the test server and the helpers.
mod browser_support;

use browser_support::*;
use js_sys::{Array, Reflect};
use resilient_ws::bindings::Connection;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

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
    let conn = open_connected(&sc, &log, &[("outbox", outbox.into())]).await;
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
        match conn
            .send_message(s(&m))
            .unwrap()
            .as_string()
            .unwrap()
            .as_str()
        {
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
    assert_eq!(wait_received(&sc, COUNT, 20_000).await, Some(true));
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

/// Under overflow `policy` with room for 2 messages, sends "a", "b", "c" while still connecting
/// (everything waits in the outbox): the third gets `third`, onDrop hears `dropped`, and the
/// server echoes `echoed`.
async fn check_overflow(sc: &str, policy: &str, third: &str, dropped: &str, echoed: [&str; 2]) {
    let log = Log::default();
    let outbox = obj(&[("maxMessages", n(2.0)), ("overflow", s(policy))]);
    let conn = open(sc, &log, &[("outbox", outbox.into())]);
    assert_eq!(conn.send_message(s("a")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("b")).unwrap(), "queued");
    assert_eq!(conn.send_message(s("c")).unwrap(), third);
    assert_eq!(log.with_prefix("drop:"), [dropped]);
    wait_for("echoes", 5000.0, || log.messages().len() == 2).await;
    assert_eq!(log.messages(), echoed);
    drop(conn);
}

#[wasm_bindgen_test]
async fn overflow_policies_drop_and_report() {
    let sc = scope("overflow");
    // drop-newest: the third message is refused and reported.
    check_overflow(&sc, "drop-newest", "dropped", "c:full", ["a", "b"]).await;
    // drop-oldest: the oldest is evicted.
    check_overflow(&sc, "drop-oldest", "queued", "a:overflow", ["b", "c"]).await;
}

#[wasm_bindgen_test]
async fn outbox_full_throws_outbox_full_error_and_queues_nothing() {
    let sc = scope("outboxfull");
    let outbox = obj(&[("maxMessages", n(2.0)), ("maxBytes", n(100.0))]);
    let log = Log::default();
    let conn = open(&sc, &log, &[("outbox", outbox.into())]);
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
    let conn = open(&sc, &log, &[("outbox", outbox.into())]);
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

/// The wasm module's linear memory, in bytes.
fn wasm_memory_bytes() -> f64 {
    num(&get(&wasm_bindgen::memory(), "buffer"), "byteLength")
}

#[wasm_bindgen_test]
async fn queued_messages_stay_in_js_memory_not_in_the_wasm_module() {
    const SIZE: usize = 64 * 1024;
    const COUNT: usize = 128; // 8 MiB queued
    let sc = scope("wasm-memory");
    let log = Log::default();
    let outbox = obj(&[
        ("maxBytes", n(16.0 * 1024.0 * 1024.0)),
        ("maxMessages", n(10_000.0)),
    ]);
    let before = wasm_memory_bytes();
    let conn = open(&sc, &log, &[("outbox", outbox.into())]);
    for i in 0..COUNT {
        let data = js_sys::Uint8Array::new_with_length(SIZE as u32);
        data.fill(i as u8, 0, SIZE as u32);
        assert_eq!(
            conn.send_message(data.into()).unwrap().as_string().unwrap(),
            "queued"
        );
    }
    assert_eq!(snapshot_num(&conn, "queuedBytes"), (SIZE * COUNT) as f64);
    let grown = wasm_memory_bytes() - before;
    console_log!(
        "wasm memory grew by {grown} bytes for {} queued bytes",
        SIZE * COUNT
    );
    assert!(
        grown <= 256.0 * 1024.0,
        "the wasm memory grew by {grown} bytes while 8 MiB were queued"
    );
    wait_status(&conn, "connected", 5000.0).await;
    wait_received(&sc, COUNT, 20_000).await;
    assert_eq!(received(&sc).await.len(), COUNT);
    conn.close(None, None).unwrap();
    drop(conn);
}
