#![cfg(target_arch = "wasm32")]
//! Browser tests of the Rust API (`resilient_ws::Connection`, feature `rust-api`) against the
//! test server: echo of text and binary, events by callback and by stream, reconnect after an
//! abrupt drop, the outbox while disconnected, close and the close policy, acknowledgements,
//! bad input, and Drop releasing everything. See browser_support for the server helpers.
#[cfg(not(feature = "rust-api"))]
compile_error!(
    "tests/browser_rust_api.rs needs the Rust API: wasm-pack test ... -- --features rust-api"
);

mod browser_support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use browser_support::{control, received, scope, sleep, wait_for, wait_received, ws_url};
use resilient_ws::bindings::live_handles_js;
use resilient_ws::core::{
    CloseInfo, ClosedReason, DeliveryOptions, Options, ReconnectOptions, SendOutcome, Status,
};
use resilient_ws::{Connection, ConnectionBuilder, Data, DropError, Error, Event, Events};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Events recorded in order.
#[derive(Clone, Default)]
struct Seen(Rc<RefCell<Vec<Event>>>);

impl Seen {
    fn all(&self) -> Vec<Event> {
        self.0.borrow().clone()
    }
    fn messages(&self) -> Vec<Data> {
        self.filter(|e| match e {
            Event::Message(d) => Some(d.clone()),
            _ => None,
        })
    }
    fn statuses(&self) -> Vec<Status> {
        self.filter(|e| match e {
            Event::Status(s) => Some(*s),
            _ => None,
        })
    }
    fn filter<T>(&self, f: impl Fn(&Event) -> Option<T>) -> Vec<T> {
        self.0.borrow().iter().filter_map(f).collect()
    }
    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.0.borrow().iter().filter(|e| f(e)).count()
    }
}

/// A builder for `scope` on the test server whose `on_event` records into the returned log.
fn builder(sc: &str) -> (ConnectionBuilder, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let b = Connection::builder(ws_url(sc)).on_event(move |e| s.0.borrow_mut().push(e.clone()));
    (b, seen)
}

/// Fast retries: 50 ms, no jitter, no growth.
fn fast() -> Options {
    Options::default().reconnect(Some(
        ReconnectOptions::default()
            .initial_delay_ms(50.0)
            .max_delay_ms(50.0)
            .factor(1.0)
            .jitter(0.0),
    ))
}

/// Drains `events` into a log until the stream ends; the flag says it ended.
fn drain(mut events: Events) -> (Seen, Rc<Cell<bool>>) {
    let (seen, ended) = (Seen::default(), Rc::new(Cell::new(false)));
    let (s, e) = (seen.clone(), ended.clone());
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = next(&mut events).await {
            s.0.borrow_mut().push(event);
        }
        e.set(true);
    });
    (seen, ended)
}

async fn next(events: &mut Events) -> Option<Event> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *events).poll_next(cx)).await
}

/// The messages the server received, binary ones as "bin:HEX" (of their first 16 bytes).
async fn server_got(sc: &str) -> Vec<String> {
    let head = |m: &str| {
        let after = &m[m.find("head")? + 4..];
        let hex = after.trim_start_matches(|c: char| !c.is_ascii_hexdigit());
        Some(
            hex.chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>(),
        )
    };
    received(sc)
        .await
        .into_iter()
        .map(|m| match head(&m) {
            Some(hex) if m.starts_with("JsValue(") => format!("bin:{hex}"),
            _ => m,
        })
        .collect()
}

async fn wait_connected(conn: &Connection) {
    wait_for("connected", 5000.0, || conn.status() == Status::Connected).await;
}

#[wasm_bindgen_test]
async fn echoes_text_and_binary_to_callbacks_and_streams() {
    let sc = scope("rust-echo");
    let (b, seen) = builder(&sc);
    let texts = Rc::new(RefCell::new(Vec::<String>::new()));
    let t = texts.clone();
    let conn = b
        .on_message(move |d| t.borrow_mut().extend(d.as_text().map(str::to_owned)))
        .connect()
        .unwrap();
    assert_eq!(conn.status(), Status::Connecting);
    let (streamed, ended) = drain(conn.events());
    let (streamed2, _) = drain(conn.events());
    wait_connected(&conn).await;

    assert_eq!(conn.send("hello").unwrap(), SendOutcome::Sent);
    assert_eq!(conn.send(vec![1u8, 2, 3, 250]).unwrap(), SendOutcome::Sent);
    assert_eq!(conn.send("héllo ✓".to_string()).unwrap(), SendOutcome::Sent);
    assert_eq!(conn.send(&[0u8, 255][..]).unwrap(), SendOutcome::Sent);
    let want = vec![
        Data::Text("hello".into()),
        Data::Binary(vec![1, 2, 3, 250]),
        Data::Text("héllo ✓".into()),
        Data::Binary(vec![0, 255]),
    ];
    wait_for("4 echoes", 5000.0, || seen.messages().len() == 4).await;
    assert_eq!(seen.messages(), want);
    assert_eq!(*texts.borrow(), ["hello", "héllo ✓"]);
    wait_for("4 streamed echoes", 5000.0, || {
        streamed.messages().len() == 4 && streamed2.messages().len() == 4
    })
    .await;
    assert_eq!(streamed.messages(), want);
    assert_eq!(streamed2.messages(), want);

    // The callback heard everything from the start; the streams from when they were made.
    assert_eq!(seen.statuses(), [Status::Connecting, Status::Connected]);
    assert_eq!(seen.count(|e| *e == Event::Open), 1);
    assert_eq!(streamed.statuses(), [Status::Connected]);
    assert!(
        !seen.all().iter().any(|e| matches!(e, Event::Error(_))),
        "{:?}",
        seen.all()
    );
    assert_eq!(
        server_got(&sc).await,
        ["hello", "bin:010203fa", "héllo ✓", "bin:00ff"]
    );
    assert!(!ended.get());
    drop(conn);
    wait_for("the streams end", 2000.0, || ended.get()).await;
}

#[wasm_bindgen_test]
async fn reconnects_after_a_drop_and_flushes_the_outbox_in_order() {
    let sc = scope("rust-outbox");
    let (b, seen) = builder(&sc);
    let conn = b.options(fast()).connect().unwrap();
    let (streamed, _) = drain(conn.events());
    wait_connected(&conn).await;

    // Refuse new attempts, then drop the open socket: it stays disconnected for a while.
    control("/refuse", &sc, "ms=600").await;
    control("/drop", &sc, "").await;
    wait_for("reconnecting", 5000.0, || {
        conn.status() == Status::Reconnecting
    })
    .await;
    for text in ["a", "b", "c"] {
        assert_eq!(conn.send(text).unwrap(), SendOutcome::Queued);
    }
    assert_eq!(conn.send(vec![7u8]).unwrap(), SendOutcome::Queued);

    assert_eq!(wait_received(&sc, 4, 5000).await, Some(true));
    assert_eq!(server_got(&sc).await, ["a", "b", "c", "bin:07"]);
    wait_connected(&conn).await;
    let closes = seen.filter(|e| match e {
        Event::Close(info) => Some(info.code),
        _ => None,
    });
    // The abrupt drop, then each refused attempt.
    assert!(
        !closes.is_empty() && closes.iter().all(|c| *c == 1006),
        "{closes:?}"
    );
    let statuses = streamed.statuses();
    assert_eq!(statuses.first(), Some(&Status::Connected));
    assert_eq!(statuses.last(), Some(&Status::Connected));
    assert!(statuses.contains(&Status::Reconnecting), "{statuses:?}");
    assert!(seen.count(|e| *e == Event::Open) >= 2);
    wait_for("4 echoes", 5000.0, || seen.messages().len() == 4).await;
    drop(conn);
}

#[wasm_bindgen_test]
async fn close_and_the_close_policy() {
    let sc = scope("rust-close");
    let (b, seen) = builder(&sc);
    let asked = Rc::new(RefCell::new(Vec::<CloseInfo>::new()));
    let a = asked.clone();
    let conn = b
        .options(fast())
        .should_reconnect(move |info| {
            a.borrow_mut().push(info.clone());
            false
        })
        .connect()
        .unwrap();
    wait_connected(&conn).await;

    // The server closes with 4000: the policy says no → closed, by policy.
    control("/close", &sc, "code=4000&reason=bye").await;
    wait_for("closed", 5000.0, || {
        matches!(conn.status(), Status::Closed(_))
    })
    .await;
    assert_eq!(conn.status(), Status::Closed(ClosedReason::PolicyRefused));
    assert_eq!(asked.borrow().len(), 1);
    assert_eq!(
        (asked.borrow()[0].code, asked.borrow()[0].reason.as_str()),
        (4000, "bye")
    );
    assert_eq!(
        seen.statuses().last(),
        Some(&Status::Closed(ClosedReason::PolicyRefused))
    );

    // reconnect() starts again; a bad close code closes nothing; a good one closes.
    conn.reconnect();
    wait_connected(&conn).await;
    assert!(matches!(
        conn.close_with(1005, ""),
        Err(Error::InvalidClose(_))
    ));
    let long = "x".repeat(124);
    let err = conn.close_with(1000, &long).unwrap_err();
    assert!(err.to_string().contains("123"), "{err}");
    assert_eq!(conn.status(), Status::Connected);
    conn.close_with(4001, "done").unwrap();
    assert_eq!(conn.status(), Status::Closed(ClosedReason::User));
    wait_for("the close event", 5000.0, || {
        seen.count(|e| matches!(e, Event::Close(i) if i.code == 4001 && i.reason == "done")) == 1
    })
    .await;
    assert_eq!(
        seen.statuses().last(),
        Some(&Status::Closed(ClosedReason::User))
    );
    sleep(200).await;
    assert_eq!(
        conn.status(),
        Status::Closed(ClosedReason::User),
        "no retry after close"
    );
    drop(conn);
}

#[wasm_bindgen_test]
async fn send_with_ack_resolves_once_acknowledged() {
    let sc = format!("delivery/{}", scope("rust-ack"));
    let (b, seen) = builder(&sc);
    let conn = b
        .options(fast().delivery(Some(DeliveryOptions::default().ack_every_ms(50))))
        .connect()
        .unwrap();
    // Sent before the connection opens: held, then sent and acknowledged.
    let first = conn.send_with_ack("one").unwrap();
    wait_connected(&conn).await;
    let second = conn.send_with_ack(vec![2u8, 3]).unwrap();
    assert_eq!(first.await, Ok(()));
    assert_eq!(second.await, Ok(()));
    let acked = seen.filter(|e| match e {
        Event::Acked(d) => Some(d.clone()),
        _ => None,
    });
    assert_eq!(acked, [Data::from("one"), Data::Binary(vec![2, 3])]);
    wait_for("2 echoes", 5000.0, || seen.messages().len() == 2).await;
    assert_eq!(
        seen.messages(),
        [Data::from("one"), Data::Binary(vec![2, 3])]
    );
    drop(conn);
}

#[wasm_bindgen_test]
async fn bad_input_is_a_clear_error() {
    let before = live_handles_js();
    match Connection::new("ftp://example.com/x") {
        Err(Error::InvalidUrl(why)) => assert!(!why.is_empty()),
        other => panic!("expected InvalidUrl, got {:?}", other.err()),
    }
    let bad = Options::default().reconnect(Some(ReconnectOptions::default().jitter(1.5)));
    match Connection::builder(ws_url("x")).options(bad).connect() {
        Err(Error::InvalidOption(e)) => {
            assert_eq!(e.field, "reconnect.jitter");
            assert_eq!(
                Error::InvalidOption(e).to_string(),
                "invalid option reconnect.jitter: must be between 0 and 1 (got 1.5)"
            );
        }
        other => panic!("expected InvalidOption, got {:?}", other.err()),
    }
    assert_eq!(live_handles_js(), before, "nothing was started");

    let conn = Connection::new(ws_url(&scope("rust-noack"))).unwrap();
    assert!(matches!(conn.send_with_ack("x"), Err(Error::DeliveryOff)));
    let small =
        Options::default().outbox(resilient_ws::core::OutboxOptions::default().max_messages(1));
    let (b, _) = builder(&scope("rust-full"));
    let full = b.options(small).connect().unwrap();
    assert_eq!(full.send("1").unwrap(), SendOutcome::Queued);
    match full.send("2") {
        Err(Error::OutboxFull(f)) => assert_eq!(f.queued_messages, 1),
        other => panic!("expected OutboxFull, got {other:?}"),
    }
    drop((conn, full));
}

#[wasm_bindgen_test]
async fn drop_releases_everything() {
    let baseline = live_handles_js();
    let sc = format!("delivery/{}", scope("rust-drop"));
    // Never connects: every attempt is refused, so what is sent waits.
    control("/refuse", &sc, "ms=10000").await;
    let token = Rc::new(());
    let weak = Rc::downgrade(&token);
    let (b, seen) = builder(&sc);
    let conn = b
        .options(fast().delivery(Some(DeliveryOptions::default())))
        .on_event(move |_| {
            let _ = &token;
        })
        .connect()
        .unwrap();
    let (streamed, ended) = drain(conn.events());
    assert_eq!(conn.send("q1").unwrap(), SendOutcome::Queued);
    let ack = conn.send_with_ack("q2").unwrap();
    sleep(150).await; // a few refused attempts
    assert!(live_handles_js() > baseline);
    assert_ne!(conn.status(), Status::Connected);

    drop(conn);
    // The release is reported at once, to the callbacks and the streams; then all is gone.
    let dropped = |s: &Seen| {
        s.filter(|e| match e {
            Event::Dropped { data, error } => Some((data.clone(), error.clone())),
            _ => None,
        })
    };
    let want = [
        (Data::from("q1"), DropError::Released),
        (Data::from("q2"), DropError::Released),
    ];
    assert_eq!(dropped(&seen), want);
    assert_eq!(ack.await, Err(DropError::Released));
    assert!(weak.upgrade().is_none(), "the callbacks were freed");
    assert_eq!(
        live_handles_js(),
        baseline,
        "sockets, timers, listeners released"
    );
    wait_for("the stream ends", 2000.0, || ended.get()).await;
    assert_eq!(dropped(&streamed), want);
    control("/refuse", &sc, "ms=0").await;
}

#[wasm_bindgen_test]
async fn callbacks_may_send_and_even_drop_the_connection() {
    let baseline = live_handles_js();
    let sc = scope("rust-reentrant");
    let (b, seen) = builder(&sc);
    // The callback reaches its own connection through this slot (set once connected).
    let slot: Rc<RefCell<Option<Connection>>> = Rc::default();
    let s = slot.clone();
    let conn = b
        .on_message(move |data| match data.as_text() {
            // Sends from inside the callback.
            Some("a") => {
                let sent = s.borrow().as_ref().map(|c| c.send("b"));
                assert!(matches!(sent, Some(Ok(SendOutcome::Sent))), "{sent:?}");
            }
            // Drops the connection from inside its own callback.
            Some("b") => drop(s.borrow_mut().take()),
            _ => {}
        })
        .connect()
        .unwrap();
    wait_connected(&conn).await;
    conn.send("a").unwrap();
    *slot.borrow_mut() = Some(conn);
    wait_for("dropped by its callback", 5000.0, || {
        slot.borrow().is_none()
    })
    .await;
    assert_eq!(seen.messages(), [Data::from("a"), Data::from("b")]);
    assert_eq!(server_got(&sc).await, ["a", "b"]);
    assert_eq!(
        live_handles_js(),
        baseline,
        "released from inside the callback"
    );
    sleep(50).await;
    assert_eq!(seen.messages().len(), 2, "nothing after the drop");
}
