#![cfg(target_arch = "wasm32")]
//! Browser tests: messages both ways, the snapshot, subprotocols, and callbacks (re-entrant
//! and throwing). See browser_support for the test server and the helpers.
mod browser_support;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use browser_support::*;
use js_sys::{Array, Object, Uint8Array};
use resilient_ws::bindings::Connection;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// ---------------------------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn connects_and_echoes_text_and_binary() {
    let sc = scope("echo");
    let log = Log::default();
    let conn = open(&sc, &log, &[]);
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
    let conn = open(&sc, &log, &[]);
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

#[wasm_bindgen_test]
async fn protocols_are_offered() {
    let sc = scope("protocols");
    let log = Log::default();
    let protocols = Array::of2(&s("chat.v2"), &s("chat.v1"));
    let conn = open_connected(&sc, &log, &[("protocols", protocols.into())]).await;
    drop(conn);
    // A single string works too.
    let conn = open_connected(&sc, &log, &[("protocols", s("chat.v2"))]).await;
    drop(conn);
    // An invalid protocol token makes the WebSocket constructor throw: a failed attempt,
    // reported through onError, not a crash.
    let log = Log::default();
    let conn = open(
        &sc,
        &log,
        &[
            ("protocols", s("bad protocol")),
            ("reconnect", JsValue::FALSE),
        ],
    );
    wait_status(&conn, "closed", 5000.0).await;
    let errors = log.with_prefix("error:");
    assert!(errors.iter().any(|e| e.contains("WebSocket")), "{errors:?}");
    drop(conn);
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
                l.push(format!("reply:{}", r.as_string().unwrap_or_default()));
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
    let conn = Rc::new(open(
        &sc,
        &log,
        &[
            ("onMessage", on_message),
            ("onClose", on_close),
            ("reconnect", fast_reconnect(20.0)),
        ],
    ));
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

/// A callback that always throws `message`.
fn throwing(message: &'static str) -> JsValue {
    Closure::<dyn Fn(JsValue) -> Result<(), JsValue>>::new(move |_| {
        Err(js_sys::Error::new(message).into())
    })
    .into_js_value()
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
    let conn = open_connected(&sc, &log, &[("onMessage", on_message)]).await;
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
    let failing = throwing("callback bug");
    let conn = open(
        &sc,
        &log,
        &[
            ("onMessage", failing.clone()),
            ("onOpen", failing.clone()),
            ("onStatus", failing),
            ("onError", throwing("onError bug")),
        ],
    );
    let unsubscribe = conn
        .subscribe(
            Closure::<dyn Fn() -> Result<(), JsValue>>::new(|| Err(s("listener bug")))
                .into_js_value(),
        )
        .unwrap();
    wait_status(&conn, "connected", 5000.0).await;
    conn.send_message(s("x")).unwrap();
    wait_received(&sc, 1, 3000).await;
    sleep(100).await; // the echo reached the throwing onMessage by now
    assert_eq!(conn.status(), "connected");
    assert_eq!(conn.send_message(s("y")).unwrap(), "sent");
    unsubscribe.call0(&JsValue::NULL).unwrap();
    drop(conn);
}

#[wasm_bindgen_test]
async fn a_queued_typed_array_keeps_the_value_it_had_when_sent() {
    let sc = scope("hold");
    let log = Log::default();
    let conn = open(&sc, &log, &[]);
    // Not open yet: both wait in the outbox. The caller then reuses its buffers.
    let view = Uint8Array::from(&[1u8, 2, 3, 4, 5][..]);
    let part = view.subarray(1, 3);
    assert_eq!(conn.send_message(part.clone().into()).unwrap(), "queued");
    let whole = Uint8Array::from(&[7u8, 7][..]);
    assert_eq!(conn.send_message(whole.buffer().into()).unwrap(), "queued");
    view.fill(0, 0, 5);
    whole.fill(9, 0, 2);
    wait_status(&conn, "connected", 5000.0).await;
    wait_for("2 echoes", 5000.0, || log.messages().len() == 2).await;
    assert_eq!(log.messages(), ["bin:0203", "bin:0707"]);
    conn.close(None, None).unwrap();
    drop(conn);
}

#[wasm_bindgen_test]
async fn on_message_gets_the_events_own_data() {
    let sc = scope("own-data");
    let log = Log::default();
    let seen = Rc::new(RefCell::new(Vec::<JsValue>::new()));
    let s2 = seen.clone();
    let conn = open_connected(
        &sc,
        &log,
        &[("onMessage", cb1(move |m| s2.borrow_mut().push(m)))],
    )
    .await;
    conn.send_message(s(r#"{"k":[1,2]}"#)).unwrap();
    conn.send_message(Uint8Array::from(&[5u8][..]).buffer().into())
        .unwrap();
    wait_for("2 echoes", 5000.0, || seen.borrow().len() == 2).await;
    let (text, bin) = (seen.borrow()[0].clone(), seen.borrow()[1].clone());
    assert!(get(&text, "data").is_string());
    assert!(get(&bin, "data").is_instance_of::<js_sys::ArrayBuffer>());
    // The snapshot and lastMessage hand out the same object.
    assert!(Object::is(&conn.last_message(), &bin));
    assert!(Object::is(&get(&conn.get_snapshot(), "lastMessage"), &bin));
    assert!(conn.last_json_message().is_null());

    // lastJsonMessage parses on first use, once, whoever asks.
    let count_parses = js_sys::Function::new_no_args(
        "const original = JSON.parse; globalThis.__parses = 0; \
         JSON.parse = function (...a) { globalThis.__parses++; return original.apply(this, a); }; \
         return () => { JSON.parse = original; return globalThis.__parses; };",
    );
    let restore: js_sys::Function = count_parses.call0(&JsValue::NULL).unwrap().into();
    conn.send_message(s(r#"{"n":2}"#)).unwrap();
    wait_for("3 echoes", 5000.0, || seen.borrow().len() == 3).await;
    let parses_before = restore.call0(&JsValue::NULL).unwrap().as_f64().unwrap();
    assert_eq!(parses_before, 0.0, "nothing parsed before anyone asks");
    let restore: js_sys::Function = count_parses.call0(&JsValue::NULL).unwrap().into();
    for _ in 0..3 {
        assert_eq!(num(&conn.last_json_message(), "n"), 2.0);
        assert_eq!(num(&get(&conn.get_snapshot(), "lastJsonMessage"), "n"), 2.0);
    }
    let parses = restore.call0(&JsValue::NULL).unwrap().as_f64().unwrap();
    assert_eq!(parses, 1.0, "parsed once");
    conn.close(None, None).unwrap();
    drop(conn);
}
