#![cfg(target_arch = "wasm32")]
//! Browser tests: free() releases everything, and reconnecting leaks nothing (the live-handle
//! count). See browser_support for the test server and the helpers.
mod browser_support;

use browser_support::*;
use js_sys::Uint8Array;
use resilient_ws::bindings::live_handles_js;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn free_releases_everything_and_reports_queued_messages() {
    let sc = scope("free");
    control("/refuse", &sc, "ms=60000").await;
    let baseline = live_handles_js();
    let log = Log::default();
    let conn = open(&sc, &log, &[("reconnect", fast_reconnect(20.0))]);
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
    // (A handshake already on the wire when free() ran may still reach the server: let it.)
    sleep(100).await;
    let attempts = num(&stats(&sc).await, "attempts");
    sleep(200).await;
    assert_eq!(
        num(&stats(&sc).await, "attempts"),
        attempts,
        "no attempt after free()"
    );
    control("/refuse", &sc, "ms=0").await;

    // free() of an open connection closes its socket.
    let conn = open_connected(&sc, &Log::default(), &[]).await;
    drop(conn);
    let st = control("/wait", &sc, "open=0&ms=3000").await;
    assert_eq!(
        get(&st, "ok").as_bool(),
        Some(true),
        "the server saw the socket close"
    );
    assert_eq!(live_handles_js(), baseline);
}

#[wasm_bindgen_test]
async fn no_leak_after_200_reconnect_cycles() {
    let sc = scope("leak");
    let baseline = live_handles_js();
    let log = Log::default();
    let reconnect = fast_reconnect(0.0);
    set(reconnect.unchecked_ref(), "minUptimeMs", n(0.0));
    let conn = open_connected(&sc, &log, &[("reconnect", reconnect)]).await;
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
        3,
        "the socket's handler + the window/document listeners' handler + the timer's closure while connected"
    );
}
