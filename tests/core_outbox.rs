#![cfg(not(target_arch = "wasm32"))]
//! The outbox: order, bounds in messages and bytes, and each overflow policy, alone and
//! through the machine.
mod core_support;

use core_support::*;
use resilient_ws::core::*;

fn outbox(max_messages: usize, max_bytes: usize, overflow: Overflow) -> Outbox {
    Outbox::new(&OutboxOptions {
        max_messages,
        max_bytes,
        overflow,
        high_water_mark: 65_536,
    })
}

fn queued(o: &Outbox) -> Vec<String> {
    o.iter()
        .map(|p| match p {
            Payload::Text(s) => s.clone(),
            Payload::Binary(b) => format!("{b:?}"),
        })
        .collect()
}

fn ok_queued() -> Result<Pushed, OutboxFull> {
    Ok(Pushed {
        queued: true,
        dropped: vec![],
    })
}

#[test]
fn fifo_order_and_counts() {
    let mut o = outbox(10, 100, Overflow::Error);
    assert!(o.is_empty());
    for s in ["a", "bb", "ccc"] {
        assert_eq!(o.push(text(s)), ok_queued());
    }
    assert_eq!((o.len(), o.bytes()), (3, 6));
    assert_eq!(o.front(), Some(&text("a")));
    assert_eq!(o.pop(), Some(text("a")));
    assert_eq!(o.pop(), Some(text("bb")));
    assert_eq!((o.len(), o.bytes()), (1, 3));
    o.push(text("d")).unwrap();
    assert_eq!(queued(&o), vec!["ccc", "d"]);
    assert_eq!(o.take_all(), vec![text("ccc"), text("d")]);
    assert_eq!((o.len(), o.bytes()), (0, 0));
    assert_eq!(o.pop(), None);
}

#[test]
fn bytes_are_utf8_bytes_and_binary_length() {
    let mut o = outbox(10, 100, Overflow::Error);
    o.push(text("é€😀")).unwrap(); // 2 + 3 + 4
    o.push(Payload::Binary(vec![0; 7])).unwrap();
    assert_eq!(o.bytes(), 16);
    assert_eq!(text("é€😀").byte_len(), 9);
}

#[test]
fn error_policy_refuses_and_changes_nothing() {
    let mut o = outbox(2, 10, Overflow::Error);
    o.push(text("1234")).unwrap();
    o.push(text("56")).unwrap();
    assert_eq!(
        o.push(text("x")),
        Err(OutboxFull {
            queued_messages: 2,
            queued_bytes: 6,
            message_bytes: 1
        }),
        "message bound"
    );
    let mut o = outbox(5, 10, Overflow::Error);
    o.push(text("123456")).unwrap();
    assert_eq!(o.push(text("1234")), ok_queued(), "exactly maxBytes fits");
    assert_eq!(
        o.push(text("x")),
        Err(OutboxFull {
            queued_messages: 2,
            queued_bytes: 10,
            message_bytes: 1
        }),
        "byte bound"
    );
    assert_eq!(queued(&o), vec!["123456", "1234"]);
    assert_eq!(
        outbox(5, 10, Overflow::Error).push(text("12345678901")),
        Err(OutboxFull {
            queued_messages: 0,
            queued_bytes: 0,
            message_bytes: 11
        }),
        "larger than maxBytes alone"
    );
    assert_eq!(
        OutboxFull {
            queued_messages: 2,
            queued_bytes: 10,
            message_bytes: 1
        }
        .to_string(),
        "outbox full: a message of 1 bytes does not fit (2 messages, 10 bytes queued)"
    );
}

#[test]
fn drop_newest_refuses_the_new_message() {
    let mut o = outbox(2, 100, Overflow::DropNewest);
    o.push(text("a")).unwrap();
    o.push(text("b")).unwrap();
    assert_eq!(
        o.push(text("c")),
        Ok(Pushed {
            queued: false,
            dropped: vec![(text("c"), DropReason::Full)]
        })
    );
    assert_eq!(queued(&o), vec!["a", "b"]);
    // Byte bound too.
    let mut o = outbox(10, 5, Overflow::DropNewest);
    o.push(text("abcd")).unwrap();
    assert_eq!(
        o.push(text("ef")).unwrap().dropped,
        vec![(text("ef"), DropReason::Full)]
    );
    assert_eq!(o.push(text("e")), ok_queued());
}

#[test]
fn drop_oldest_evicts_until_the_new_one_fits() {
    let mut o = outbox(3, 100, Overflow::DropOldest);
    for s in ["a", "b", "c"] {
        o.push(text(s)).unwrap();
    }
    assert_eq!(
        o.push(text("d")),
        Ok(Pushed {
            queued: true,
            dropped: vec![(text("a"), DropReason::Overflow)]
        })
    );
    assert_eq!(queued(&o), vec!["b", "c", "d"]);
    // Bytes: evict as many as needed, oldest first.
    let mut o = outbox(10, 10, Overflow::DropOldest);
    for s in ["123", "456", "78", "9"] {
        o.push(text(s)).unwrap();
    }
    assert_eq!(
        o.push(text("abcdefg")).unwrap().dropped,
        vec![
            (text("123"), DropReason::Overflow),
            (text("456"), DropReason::Overflow),
        ]
    );
    assert_eq!(
        queued(&o),
        vec!["78", "9", "abcdefg"],
        "10 bytes: fits exactly"
    );
    assert_eq!(o.bytes(), 10);
}

#[test]
fn a_message_larger_than_max_bytes_evicts_nothing() {
    for policy in [Overflow::DropOldest, Overflow::DropNewest] {
        let mut o = outbox(10, 10, policy);
        o.push(text("abc")).unwrap();
        o.push(text("de")).unwrap();
        assert_eq!(
            o.push(text("x".repeat(11))),
            Ok(Pushed {
                queued: false,
                dropped: vec![(text("x".repeat(11)), DropReason::Full)]
            }),
            "{policy:?}"
        );
        assert_eq!(queued(&o), vec!["abc", "de"], "{policy:?}");
        assert_eq!(o.bytes(), 5);
    }
}

fn offline(max_messages: usize, max_bytes: usize, overflow: Overflow) -> Sim {
    let mut o = no_jitter();
    o.outbox = OutboxOptions {
        max_messages,
        max_bytes,
        overflow,
        high_water_mark: 65_536,
    };
    let mut sim = Sim::new(o);
    sim.clear();
    sim
}

#[test]
fn machine_error_policy_returns_outbox_full() {
    let mut sim = offline(2, 100, Overflow::Error);
    assert_eq!(sim.send_text("a"), Ok(SendOutcome::Queued));
    assert_eq!(sim.send_text("b"), Ok(SendOutcome::Queued));
    assert_eq!(
        sim.send_text("c"),
        Err(OutboxFull {
            queued_messages: 2,
            queued_bytes: 2,
            message_bytes: 1
        })
    );
    assert_eq!(sim.take_events(), vec![], "an error, not a drop event");
    assert_eq!(sim.m.queued_messages(), 2);
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["a", "b"]);
}

#[test]
fn machine_drop_newest_reports_the_drop() {
    let mut sim = offline(2, 100, Overflow::DropNewest);
    sim.send_text("a").unwrap();
    sim.send_text("b").unwrap();
    assert_eq!(sim.send_text("c"), Ok(SendOutcome::Dropped));
    assert_eq!(
        sim.take_events(),
        vec![Event::Dropped {
            payload: text("c"),
            reason: DropReason::Full
        }]
    );
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["a", "b"]);
}

#[test]
fn machine_drop_oldest_reports_each_eviction() {
    let mut sim = offline(3, 100, Overflow::DropOldest);
    for s in ["a", "b", "c", "d", "e"] {
        assert_eq!(sim.send_text(s), Ok(SendOutcome::Queued));
    }
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Dropped {
                payload: text("a"),
                reason: DropReason::Overflow
            },
            Event::Dropped {
                payload: text("b"),
                reason: DropReason::Overflow
            },
        ]
    );
    assert_eq!(sim.m.queued_messages(), 3);
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["c", "d", "e"]);
}

#[test]
fn machine_too_big_message_is_dropped_without_evictions() {
    let mut sim = offline(10, 8, Overflow::DropOldest);
    sim.send_text("abcd").unwrap();
    assert_eq!(sim.send_text("123456789"), Ok(SendOutcome::Dropped));
    assert_eq!(
        sim.take_events(),
        vec![Event::Dropped {
            payload: text("123456789"),
            reason: DropReason::Full
        }]
    );
    assert_eq!(sim.m.queued_bytes(), 4);
}

#[test]
fn machine_bounds_hold_while_paced_on_an_open_socket() {
    let mut o = no_jitter();
    o.outbox = OutboxOptions {
        max_messages: 4,
        max_bytes: 1_000,
        overflow: Overflow::Error,
        high_water_mark: 10,
    };
    let mut sim = Sim::new(o);
    sim.open();
    assert_eq!(sim.send_text("0123456789"), Ok(SendOutcome::Sent));
    for s in ["a", "b", "c", "d"] {
        assert_eq!(sim.send_text(s), Ok(SendOutcome::Queued));
    }
    assert!(sim.send_text("e").is_err(), "full while the socket is busy");
    sim.input(Input::BufferedAmount { conn: 1, bytes: 0 });
    assert_eq!(sim.sent_texts(), vec!["0123456789", "a", "b", "c", "d"]);
    assert_eq!(sim.send_text("e"), Ok(SendOutcome::Sent));
}

#[test]
fn the_outbox_survives_reconnects_and_the_users_close() {
    let mut sim = offline(10, 100, Overflow::Error);
    sim.send_text("1").unwrap();
    sim.server_close(1006);
    sim.step();
    sim.send_text("2").unwrap();
    sim.close(1000, "").unwrap();
    sim.send_text("3").unwrap();
    assert_eq!(sim.m.queued_messages(), 3);
    sim.reconnect();
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["1", "2", "3"]);
}

#[test]
fn overflow_names() {
    for (s, o) in [
        ("error", Overflow::Error),
        ("drop-oldest", Overflow::DropOldest),
        ("drop-newest", Overflow::DropNewest),
    ] {
        assert_eq!(Overflow::parse(s), Some(o));
        assert_eq!(o.as_str(), s);
    }
    assert_eq!(Overflow::parse("dropOldest"), None);
    assert_eq!(Overflow::parse(""), None);
}

#[test]
fn nothing_is_handed_to_a_socket_that_is_closing_sends_wait_for_the_next_one() {
    // The server's close frame arrived (readyState CLOSING) before the close event: what the
    // browser is handed now is dropped without an error, so the core keeps it.
    let mut sim = Sim::new(no_jitter());
    sim.open();
    sim.send_text("before").unwrap();
    let conn = sim.last_open();
    sim.input(Input::Closing { conn });
    sim.clear();
    assert_eq!(sim.send_text("during"), Ok(SendOutcome::Queued));
    assert!(!sim
        .take_commands()
        .iter()
        .any(|c| matches!(c, Command::Send { .. })));
    assert!(!sim.m.wants_reading(), "no readings of a closing socket");
    sim.server_close(1012);
    sim.step();
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["before", "during"]);
}
