#![cfg(target_arch = "wasm32")]
//! Browser tests: the delivery protocol (PROTOCOL.md) against the test server's `/delivery/…`
//! sockets, which apply each client message once, acknowledge it and echo it back as sequenced
//! server data. Abrupt drops (also right after the server applied a message, before its ack),
//! a blackholed socket found by the ack timeout, a server that lost its state, a nack, binary.
mod browser_support;

use browser_support::*;
use js_sys::{Promise, Uint8Array};
use resilient_ws::bindings::Connection;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A delivery scope: the socket's path is `/delivery/<scope>`, its controls take the same
/// scope.
fn delivery_scope(name: &str) -> String {
    format!("delivery/{}", scope(name))
}

/// A connection with delivery on (ackTimeoutMs `ack_timeout`), fast retries, and onAck /
/// onResync recorded as "ack:DATA" / "resync".
fn open_delivery(sc: &str, log: &Log, ack_timeout: f64) -> Connection {
    let l = log.clone();
    let on_ack = cb1(move |d| l.push(format!("ack:{}", describe_data(&d))));
    let l = log.clone();
    let on_resync = cb0(move || l.push("resync".into()));
    let delivery = obj(&[("ackTimeoutMs", n(ack_timeout)), ("ackEveryMs", n(50.0))]);
    open(
        sc,
        log,
        &[
            ("delivery", delivery.into()),
            ("reconnect", fast_reconnect(50.0)),
            ("onAck", on_ack),
            ("onResync", on_resync),
        ],
    )
}

/// Waits until nothing is queued or unacknowledged.
async fn wait_settled(conn: &Connection, ms: f64) {
    wait_for("everything acknowledged", ms, || {
        snapshot_num(conn, "unackedMessages") == 0.0 && snapshot_num(conn, "queuedMessages") == 0.0
    })
    .await;
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

#[wasm_bindgen_test]
async fn messages_cross_abrupt_drops_exactly_once_and_in_order() {
    let sc = delivery_scope("drops");
    let log = Log::default();
    let conn = open_delivery(&sc, &log, 5_000.0);
    wait_status(&conn, "connected", 5_000.0).await;
    assert_eq!(get(&conn.get_snapshot(), "resumed").as_bool(), Some(false));
    let sent = texts("m", 60);
    for (i, m) in sent.iter().enumerate() {
        conn.send_message(s(m)).unwrap();
        if i % 15 == 7 {
            control("/drop", &sc, "").await; // RST, frames in flight are lost
        }
    }
    wait_settled(&conn, 10_000.0).await;
    assert_eq!(received(&sc).await, sent, "applied once each, in order");
    assert_eq!(
        log.with_prefix("ack:"),
        sent,
        "each acknowledged once, in order"
    );
    wait_for("every echo", 5_000.0, || log.messages().len() == sent.len()).await;
    assert_eq!(
        log.messages(),
        sent,
        "the server's echoes reach the app once each"
    );
    assert_eq!(log.count("resync"), 0);
    assert_eq!(get(&conn.get_snapshot(), "resumed").as_bool(), Some(true));
    conn.close(None, None).unwrap();
}

#[wasm_bindgen_test]
async fn a_drop_after_the_server_applied_a_message_but_before_its_ack_does_not_apply_it_twice() {
    let sc = delivery_scope("apply-drop");
    let log = Log::default();
    let conn = open_delivery(&sc, &log, 5_000.0);
    wait_status(&conn, "connected", 5_000.0).await;
    control("/delivery/drop-after-apply", &sc, "n=2").await;
    let sent = texts("a", 6);
    for m in &sent {
        conn.send_message(s(m)).unwrap();
    }
    wait_settled(&conn, 10_000.0).await;
    assert!(
        log.count("close:1006") >= 1,
        "the socket was dropped: {:?}",
        log.all()
    );
    assert_eq!(received(&sc).await, sent);
    assert_eq!(log.with_prefix("ack:"), sent);
    conn.close(None, None).unwrap();
}

#[wasm_bindgen_test]
async fn a_blackholed_socket_is_found_by_the_ack_timeout_and_the_message_is_not_lost() {
    let sc = delivery_scope("blackhole");
    let log = Log::default();
    let conn = open_delivery(&sc, &log, 800.0);
    wait_status(&conn, "connected", 5_000.0).await;
    control("/mute", &sc, "").await; // reads and applies, answers nothing
    conn.send_message(s("into the void")).unwrap();
    wait_for("the ack timeout", 5_000.0, || {
        log.all().iter().any(|e| e == "close:1006:ack timeout")
    })
    .await;
    assert_eq!(log.count("ack:"), 0);
    control("/unmute", &sc, "").await;
    wait_settled(&conn, 10_000.0).await;
    assert_eq!(log.with_prefix("ack:"), vec!["into the void"]);
    assert_eq!(received(&sc).await, vec!["into the void"], "applied once");
    conn.close(None, None).unwrap();
}

#[wasm_bindgen_test]
async fn a_server_that_lost_its_state_fires_on_resync_and_the_session_starts_afresh() {
    let sc = delivery_scope("forget");
    let log = Log::default();
    let conn = open_delivery(&sc, &log, 5_000.0);
    wait_status(&conn, "connected", 5_000.0).await;
    conn.send_message(s("before")).unwrap();
    wait_settled(&conn, 5_000.0).await;
    control("/delivery/forget", &sc, "").await; // state gone, socket dropped
    wait_for("onResync", 5_000.0, || log.count("resync") == 1).await;
    wait_status(&conn, "connected", 5_000.0).await;
    assert_eq!(get(&conn.get_snapshot(), "resumed").as_bool(), Some(false));
    conn.send_message(s("after")).unwrap();
    wait_settled(&conn, 5_000.0).await;
    assert_eq!(received(&sc).await, vec!["before", "after"]);
    wait_for("the echo of after", 5_000.0, || {
        log.messages().contains(&"after".to_owned())
    })
    .await;
    conn.close(None, None).unwrap();
}

#[wasm_bindgen_test]
async fn a_nack_reports_the_message_rejected_and_send_with_ack_rejects() {
    let sc = delivery_scope("nack");
    let log = Log::default();
    let conn = open_delivery(&sc, &log, 5_000.0);
    wait_status(&conn, "connected", 5_000.0).await;
    let ok: Promise = conn.send_with_ack(s("fine")).unwrap();
    let refused: Promise = conn.send_with_ack(s("nack me")).unwrap();
    JsFuture::from(ok).await.expect("acknowledged");
    let err = JsFuture::from(refused).await.expect_err("refused");
    assert_eq!(get(&err, "name").as_string().as_deref(), Some("DropError"));
    assert_eq!(get(&err, "reason").as_string().as_deref(), Some("rejected"));
    assert_eq!(log.with_prefix("drop:"), vec!["nack me:rejected"]);
    conn.send_message(s("still fine")).unwrap();
    wait_settled(&conn, 5_000.0).await;
    assert_eq!(
        received(&sc).await,
        vec!["fine", "still fine"],
        "the refused one is never resent"
    );
    conn.close(None, None).unwrap();
}

#[wasm_bindgen_test]
async fn binary_messages_are_framed_and_echoed_once() {
    let sc = delivery_scope("binary");
    let log = Log::default();
    let conn = open_delivery(&sc, &log, 5_000.0);
    wait_status(&conn, "connected", 5_000.0).await;
    let bytes: Vec<u8> = (0..=255u8).collect();
    let data = Uint8Array::from(&bytes[..]);
    conn.send_message(data.clone().into()).unwrap();
    data.fill(0, 0, 256); // changing the buffer afterwards changes nothing
    control("/drop", &sc, "").await;
    wait_settled(&conn, 10_000.0).await;
    let got = received(&sc).await;
    assert_eq!(got.len(), 1, "{got:?}");
    wait_for("the echo", 5_000.0, || log.messages().len() == 1).await;
    let echo = log.messages().remove(0);
    assert_eq!(
        echo,
        describe_data(&Uint8Array::from(&bytes[..]).buffer().into())
    );
    conn.close(None, None).unwrap();
}

#[wasm_bindgen_test]
fn send_with_ack_without_delivery_says_what_is_missing() {
    let log = Log::default();
    let conn = open(&scope("no-delivery"), &log, &[]);
    let err = conn.send_with_ack(s("x")).unwrap_err();
    assert!(
        error_message(&err).contains("delivery"),
        "{}",
        error_message(&err)
    );
    conn.close(None, None).unwrap();
}
