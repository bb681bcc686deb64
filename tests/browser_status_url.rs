#![cfg(target_arch = "wasm32")]
//! Browser tests: URLs are read as `new WebSocket` reads them (http(s): as ws(s):, relative to
//! the document's base URL), for a string and for what a URL function returns; `onStatus`
//! reports the initial "connecting"; the snapshot's `attempt` counts the retries of the
//! current outage (0 while connected). See browser_support for the test server and helpers.
mod browser_support;

use browser_support::*;
use js_sys::Function;
use resilient_ws::bindings::Connection;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The test server's URL for `scope` with http: instead of ws:.
fn http_url(scope: &str) -> String {
    ws_url(scope).replacen("ws://", "http://", 1)
}

#[wasm_bindgen_test]
async fn an_http_url_connects_as_ws() {
    let sc = scope("httpurl");
    let conn = connect(&http_url(&sc), options(&Log::default(), &[]));
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(num(&stats(&sc).await, "open"), 1.0);
    drop(conn);
}

#[wasm_bindgen_test]
async fn a_relative_url_resolves_against_the_document_base_url() {
    let sc = scope("relurl");
    let server = http_url("");
    // <base href="http://127.0.0.1:P/sub/"> for the time of the constructor.
    let base = Function::new_with_args(
        "href",
        "const b = document.createElement('base'); b.href = href; document.head.prepend(b); return b",
    )
    .call1(&JsValue::NULL, &s(&format!("{server}sub/")))
    .unwrap();
    let log = Log::default();
    let made = Connection::new(s(&format!("../{sc}")), Some(options(&log, &[])));
    Function::new_with_args("b", "b.remove()")
        .call1(&JsValue::NULL, &base)
        .unwrap();
    let conn = made.unwrap_or_else(|e| panic!("rejected: {}", error_message(&e)));
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(num(&stats(&sc).await, "open"), 1.0);
    drop(conn);
}

#[wasm_bindgen_test]
async fn a_url_function_result_is_read_like_a_string_url() {
    let sc = scope("urlfnrules");
    let log = Log::default();
    let http = http_url(&sc);
    // 1: a fragment (rejected: the attempt fails with the reason, and is retried); 2: http:.
    let (calls, url_fn) = counting_url_fn(&sc, move |call, _| {
        Ok(match call {
            1 => s(&format!("{http}#x")),
            _ => s(&http),
        })
    });
    let conn = connect_to(
        url_fn,
        options(&log, &[("reconnect", fast_reconnect(30.0))]),
    );
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(calls.get(), 2);
    let errors = log.with_prefix("error:");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("SyntaxError: invalid url") && errors[0].contains("fragment"),
        "{errors:?}"
    );
    assert_eq!(
        num(&stats(&sc).await, "attempts"),
        1.0,
        "the bad URL never reached the network"
    );
    drop(conn);

    // A URL object, and something that is no URL at all.
    let sc = scope("urlfnobj");
    let log = Log::default();
    let http = http_url(&sc);
    let (_, url_fn) = counting_url_fn(&sc, move |call, _| {
        Ok(match call {
            1 => n(5.0),
            _ => web_sys::Url::new(&http).unwrap().into(),
        })
    });
    let conn = connect_to(
        url_fn,
        options(&log, &[("reconnect", fast_reconnect(30.0))]),
    );
    wait_status(&conn, "connected", 5000.0).await;
    let errors = log.with_prefix("error:");
    assert!(
        errors.len() == 1 && errors[0].contains("url function gave 5"),
        "{errors:?}"
    );
    drop(conn);
}

#[wasm_bindgen_test]
async fn on_status_reports_the_initial_connecting() {
    let sc = scope("initialstatus");
    let log = Log::default();
    let conn = open(&sc, &log, &[]);
    assert_eq!(
        log.with_prefix("status:"),
        ["connecting"],
        "during the constructor"
    );
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(log.with_prefix("status:"), ["connecting", "connected"]);
    drop(conn);
}

#[wasm_bindgen_test]
async fn snapshot_attempt_counts_the_current_outage_and_is_0_while_connected() {
    let sc = scope("outageattempt");
    let log = Log::default();
    // minUptimeMs stays at its default (5 s): the backoff's own counter would not reset.
    let conn = open_connected(&sc, &log, &[("reconnect", fast_reconnect(300.0))]).await;
    assert_eq!(snapshot_num(&conn, "attempt"), 0.0);
    // An outage of about a second: several retries.
    control("/refuse", &sc, "ms=1000").await;
    control("/drop", &sc, "").await;
    wait_status(&conn, "reconnecting", 5000.0).await;
    assert_eq!(snapshot_num(&conn, "attempt"), 1.0);
    wait_for("retry 3", 5000.0, || snapshot_num(&conn, "attempt") >= 3.0).await;
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(snapshot_num(&conn, "attempt"), 0.0, "connected");
    // A second outage right away: it starts at 1 again (the backoff goes on internally).
    control("/drop", &sc, "").await;
    wait_status(&conn, "reconnecting", 5000.0).await;
    assert_eq!(snapshot_num(&conn, "attempt"), 1.0);
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(snapshot_num(&conn, "attempt"), 0.0);
    drop(conn);
}
