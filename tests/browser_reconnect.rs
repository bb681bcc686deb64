#![cfg(target_arch = "wasm32")]
//! Browser tests: reconnecting after an outage, the URL function, close() and maxAttempts,
//! the heartbeat, the connect timeout, browser hints (online, visible) and shouldReconnect.
//! See browser_support for the test server and the helpers.
mod browser_support;

use browser_support::*;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn outage_messages_arrive_exactly_once_and_in_order() {
    let sc = scope("outage");
    let log = Log::default();
    let conn = open_connected(&sc, &log, &[("reconnect", fast_reconnect(50.0))]).await;
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
        assert_eq!(wait_received(&sc, expected.len(), 5000).await, Some(true));

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
    wait_received(&sc, expected.len(), 5000).await;
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

// ---------------------------------------------------------------------------------------------
// The URL function
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn url_function_is_called_once_per_attempt() {
    let sc = scope("urlfn");
    let log = Log::default();
    // Odd attempts get a string, even ones a Promise of one.
    let (calls, url_fn) = counting_url_fn(&sc, |call, url| {
        Ok(if call % 2 == 1 {
            s(url)
        } else {
            Promise::resolve(&s(url)).into()
        })
    });
    let conn = connect_to(
        url_fn,
        options(&log, &[("reconnect", fast_reconnect(30.0))]),
    );
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
    // 1: throws; 2: rejects; 3: resolves to an ftp: URL; 4: returns a number; then fine.
    let (calls, url_fn) = counting_url_fn(&sc, |call, url| match call {
        1 => Err(js_sys::Error::new("no token").into()),
        2 => Ok(Promise::reject(&js_sys::Error::new("token server down")).into()),
        3 => Ok(Promise::resolve(&s("ftp://127.0.0.1:1/")).into()),
        4 => Ok(n(42.0)),
        _ => Ok(Promise::resolve(&s(url)).into()),
    });
    let conn = connect_to(
        url_fn,
        options(&log, &[("reconnect", fast_reconnect(10.0))]),
    );
    wait_status(&conn, "connected", 5000.0).await;
    assert_eq!(calls.get(), 5);
    let errors = log.with_prefix("error:");
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("no token"), "{errors:?}");
    assert!(errors[1].contains("token server down"), "{errors:?}");
    assert!(errors[2].contains("ftp:"), "{errors:?}");
    assert!(errors[3].contains("gave 42"), "{errors:?}");
    assert_eq!(num(&stats(&sc).await, "attempts"), 1.0);
    drop(conn);
}

#[wasm_bindgen_test]
async fn a_stale_async_url_is_ignored() {
    let sc = scope("urlstale");
    let log = Log::default();
    // The first URL arrives after the connect timeout: that attempt is over, it must not open.
    let (calls, url_fn) = counting_url_fn(&sc, |call, url| {
        let delay = if call == 1 { 300 } else { 0 };
        let url = url.to_owned();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            sleep(delay).await;
            Ok(s(&url))
        })
        .into())
    });
    let conn = connect_to(
        url_fn,
        options(
            &log,
            &[
                ("reconnect", fast_reconnect(500.0)),
                ("connectTimeoutMs", n(100.0)),
            ],
        ),
    );
    wait_status(&conn, "connected", 5000.0).await;
    sleep(300).await;
    assert_eq!(calls.get(), 2);
    let st = stats(&sc).await;
    assert_eq!(num(&st, "attempts"), 1.0, "the stale URL opened no socket");
    assert_eq!(log.count("open"), 1);
    assert_eq!(log.with_prefix("close:"), ["1006:connect timeout"]);
    drop(conn);
}

// ---------------------------------------------------------------------------------------------
// Stopping: close(), maxAttempts
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn close_stops_all_attempts() {
    let sc = scope("closestop");
    control("/refuse", &sc, "ms=60000").await;
    let log = Log::default();
    let (calls, url_fn) = counting_url_fn(&sc, |_, url| Ok(s(url)));
    let conn = connect_to(
        url_fn,
        options(&log, &[("reconnect", fast_reconnect(20.0))]),
    );
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
    let conn = open(&sc, &log, &[("reconnect", reconnect)]);
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

// ---------------------------------------------------------------------------------------------
// Detecting dead connections, and when to retry
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn heartbeat_detects_a_server_that_stops_answering() {
    let sc = scope("heartbeat");
    let log = Log::default();
    let heartbeat = obj(&[("intervalMs", n(100.0)), ("timeoutMs", n(250.0))]);
    let extra = [
        ("heartbeat", heartbeat.into()),
        ("reconnect", fast_reconnect(50.0)),
    ];
    let conn = open_connected(&sc, &log, &extra).await;
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
    let extra = [
        ("connectTimeoutMs", n(150.0)),
        ("reconnect", fast_reconnect(50.0)),
    ];
    let conn = open(&sc, &log, &extra);
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
    let conn = open_connected(&sc, &log, &[("reconnect", fast_reconnect(60_000.0))]).await;
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

// ---------------------------------------------------------------------------------------------
// shouldReconnect
// ---------------------------------------------------------------------------------------------

/// Options for fast retries under the close policy `policy`.
fn with_policy(policy: JsValue) -> [(&'static str, JsValue); 2] {
    [
        ("reconnect", fast_reconnect(20.0)),
        ("shouldReconnect", policy),
    ]
}

#[wasm_bindgen_test]
async fn should_reconnect_decides_and_a_throwing_one_falls_back_to_the_default() {
    // Refuses 4000.
    let sc = scope("policy");
    let log = Log::default();
    let policy =
        Closure::<dyn Fn(JsValue) -> bool>::new(|info: JsValue| num(&info, "code") != 4000.0)
            .into_js_value();
    let conn = open_connected(&sc, &log, &with_policy(policy)).await;
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
    let conn = open_connected(&sc, &log, &with_policy(policy)).await;
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
