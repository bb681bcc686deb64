#![cfg(not(target_arch = "wasm32"))]
//! Every transition of the connection machine, on a virtual clock.
mod core_support;

use core_support::*;
use resilient_ws::core::*;

fn connected(options: Options) -> Sim {
    let mut sim = Sim::new(options);
    sim.open();
    sim.clear();
    sim
}

fn heartbeat() -> Options {
    let mut o = no_jitter();
    o.heartbeat = Some(HeartbeatOptions::default());
    o
}

#[test]
fn starts_connecting_with_open_for_conn_1() {
    let mut sim = Sim::new(Options::default());
    assert_eq!(sim.m.status(), Status::Connecting);
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 1 }]);
    assert_eq!(
        sim.take_events(),
        vec![],
        "the initial status is not an event"
    );
    assert_eq!(sim.m.attempt(), 0);
    assert_eq!(sim.m.poll_timeout(), Some(10_000), "connect timeout");
    assert_eq!(sim.m.current_conn(), Some(1));
}

#[test]
fn opened_reports_status_then_opened() {
    let mut sim = Sim::new(Options::default());
    sim.clear();
    sim.input(Input::Opened { conn: 1 });
    assert_eq!(sim.m.status(), Status::Connected);
    assert_eq!(
        sim.take_events(),
        vec![Event::Status(Status::Connected), Event::Opened]
    );
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.m.poll_timeout(), None, "no heartbeat, nothing queued");
    // A duplicate open changes nothing.
    sim.input(Input::Opened { conn: 1 });
    assert_eq!(sim.take_events(), vec![]);
}

#[test]
fn abnormal_close_schedules_retry_then_reconnects() {
    let mut sim = connected(no_jitter());
    sim.advance(100);
    sim.server_close(1006);
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Closed(close_info(1006)),
            Event::Status(Status::Reconnecting)
        ]
    );
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(600));
    assert_eq!(sim.m.poll_timeout(), Some(600));
    assert_eq!(sim.m.last_close(), Some(&close_info(1006)));
    assert_eq!(sim.m.current_conn(), None);

    sim.advance(499);
    assert_eq!(sim.take_commands(), vec![], "not before the delay");
    sim.advance(1);
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 2 }]);
    assert_eq!(sim.m.status(), Status::Reconnecting, "retry under way");
    assert_eq!(sim.m.next_retry_at(), None);
    assert_eq!(sim.m.poll_timeout(), Some(10_600));
    assert_eq!(sim.take_events(), vec![], "status unchanged: no event");

    sim.open();
    assert_eq!(sim.m.status(), Status::Connected);
    assert_eq!(
        sim.take_events(),
        vec![Event::Status(Status::Connected), Event::Opened]
    );
}

#[test]
fn going_away_and_restart_codes_reconnect() {
    for code in [1001, 1006, 1011, 1012, 1013, 1000, 4000] {
        let mut sim = connected(no_jitter());
        sim.server_close(code);
        assert_eq!(sim.m.status(), Status::Reconnecting, "code {code}");
    }
}

#[test]
fn default_close_policy_refuses_policy_and_auth_codes() {
    for code in [1002, 1003, 1007, 1008, 1009, 1010, 4401, 4403] {
        assert!(!default_should_reconnect(&close_info(code)), "{code}");
        let mut sim = connected(no_jitter());
        sim.server_close(code);
        assert_eq!(
            sim.take_events(),
            vec![
                Event::Closed(close_info(code)),
                Event::Status(Status::Closed(ClosedReason::PolicyRefused))
            ]
        );
        assert_eq!(sim.m.poll_timeout(), None);
        sim.advance(100_000);
        assert_eq!(sim.take_commands(), vec![], "never retries");
    }
    for code in [
        1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015, 3000, 4000, 4400,
    ] {
        assert!(default_should_reconnect(&close_info(code)), "{code}");
    }
}

#[test]
fn reconnect_disabled_refuses_even_when_policy_says_yes() {
    let o = Options {
        reconnect: None,
        ..Options::default()
    };
    let mut sim = connected(o.clone());
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1006),
        reconnect: true,
    });
    assert_eq!(sim.m.status(), Status::Closed(ClosedReason::PolicyRefused));
    assert_eq!(sim.m.poll_timeout(), None);
    // A connect timeout likewise does not retry.
    let mut sim = Sim::new(o);
    sim.advance(10_000);
    assert_eq!(sim.m.status(), Status::Closed(ClosedReason::PolicyRefused));
}

#[test]
fn error_then_close_counts_one_attempt() {
    let mut sim = Sim::new(no_jitter());
    sim.clear();
    sim.input(Input::Error { conn: 1 });
    assert_eq!(
        sim.take_events(),
        vec![Event::Error("websocket error".into())]
    );
    assert_eq!(
        sim.m.status(),
        Status::Connecting,
        "error alone ends nothing"
    );
    assert_eq!(sim.take_commands(), vec![]);
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1006),
        reconnect: true,
    });
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(500));
    sim.advance(500);
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 2 }]);
    // And on an open connection.
    sim.open();
    sim.input(Input::Error { conn: 2 });
    assert_eq!(sim.m.status(), Status::Connected);
    sim.server_close(1006);
    assert_eq!(sim.m.attempt(), 2, "one more, not two");
    assert_eq!(sim.opens().len(), 2);
}

#[test]
fn open_failed_reports_error_and_retries() {
    let mut sim = Sim::new(no_jitter());
    sim.clear();
    sim.input(Input::OpenFailed {
        conn: 1,
        error: "bad url".into(),
    });
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Error("bad url".into()),
            Event::Status(Status::Reconnecting)
        ]
    );
    assert_eq!(sim.m.last_close(), None, "no socket, no close");
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(500));
    sim.advance(500);
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 2 }]);
}

#[test]
fn connect_timeout_abandons_and_retries() {
    let mut sim = Sim::new(no_jitter());
    sim.clear();
    sim.advance(9_999);
    assert_eq!(sim.take_commands(), vec![]);
    sim.advance(1);
    assert_eq!(sim.take_commands(), vec![Command::Abandon { conn: 1 }]);
    let synthesized = CloseInfo {
        code: 1006,
        reason: "connect timeout".into(),
        was_clean: false,
    };
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Closed(synthesized.clone()),
            Event::Status(Status::Reconnecting)
        ]
    );
    assert_eq!(sim.m.last_close(), Some(&synthesized));
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(10_500));
    // The abandoned socket opening late changes nothing.
    sim.input(Input::Opened { conn: 1 });
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1006),
        reconnect: true,
    });
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.m.status(), Status::Reconnecting);
    // The retry times out too: attempt 2 after 1000 ms.
    sim.advance(500);
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 2 }]);
    sim.advance(10_000);
    assert_eq!(sim.take_commands(), vec![Command::Abandon { conn: 2 }]);
    assert_eq!(sim.m.attempt(), 2);
    assert_eq!(sim.m.next_retry_at(), Some(21_000 + 500));
}

#[test]
fn connect_timeout_is_cleared_by_open() {
    let mut sim = Sim::new(no_jitter());
    sim.advance(9_000);
    sim.open();
    sim.clear();
    sim.advance(50_000);
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.m.status(), Status::Connected);
}

#[test]
fn heartbeat_pings_and_pong_is_not_a_message() {
    let mut sim = connected(heartbeat());
    assert_eq!(sim.m.poll_timeout(), Some(25_000));
    sim.advance(25_000);
    assert_eq!(
        sim.take_commands(),
        vec![Command::Send {
            conn: 1,
            payload: text("ping")
        }]
    );
    assert_eq!(sim.m.poll_timeout(), Some(35_000), "pong deadline");
    sim.advance(100);
    sim.message("pong");
    assert_eq!(sim.take_events(), vec![], "pong filtered");
    assert_eq!(sim.m.poll_timeout(), Some(50_000), "next ping");
    sim.message("hello");
    assert_eq!(sim.take_events(), vec![Event::Message(text("hello"))]);
    // Binary "pong" is a user message.
    let conn = sim.last_open();
    sim.input(Input::Message {
        conn,
        payload: Payload::Binary(b"pong".to_vec()),
    });
    assert_eq!(
        sim.take_events(),
        vec![Event::Message(Payload::Binary(b"pong".to_vec()))]
    );
    // Pings keep going every interval while answered.
    for k in 2..=5u64 {
        sim.advance_to(25_000 * k);
        assert_eq!(
            sim.take_commands(),
            vec![Command::Send {
                conn: 1,
                payload: text("ping")
            }]
        );
        sim.advance(10);
        sim.message("anything counts as life");
    }
    assert_eq!(sim.m.status(), Status::Connected);
}

#[test]
fn heartbeat_detects_silence() {
    let mut sim = connected(heartbeat());
    sim.advance(25_000);
    sim.clear();
    sim.advance(9_999);
    assert_eq!(sim.m.status(), Status::Connected);
    sim.advance(1);
    assert_eq!(sim.take_commands(), vec![Command::Abandon { conn: 1 }]);
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Closed(CloseInfo {
                code: 1006,
                reason: "heartbeat timeout".into(),
                was_clean: false
            }),
            Event::Status(Status::Reconnecting)
        ]
    );
    // It stayed up 35 s > minUptime: the counter was reset, so this is retry 1.
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(35_500));
    // The dead socket's late messages are ignored.
    sim.input(Input::Message {
        conn: 1,
        payload: text("pong"),
    });
    sim.input(Input::Message {
        conn: 1,
        payload: text("late"),
    });
    assert_eq!(sim.take_events(), vec![]);
    sim.advance(500);
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 2 }]);
}

#[test]
fn unanswered_pings_keep_the_first_deadline() {
    let mut o = heartbeat();
    let h = o.heartbeat.as_mut().unwrap();
    h.interval_ms = 1_000;
    h.timeout_ms = 2_500;
    let mut sim = connected(o);
    sim.advance(3_499);
    assert_eq!(sim.sent_texts(), vec!["ping", "ping", "ping"]);
    assert_eq!(sim.m.status(), Status::Connected);
    sim.advance(1);
    assert_eq!(sim.m.status(), Status::Reconnecting, "1000 + 2500");
}

#[test]
fn heartbeat_is_off_by_default() {
    let mut sim = connected(no_jitter());
    sim.advance(1_000_000);
    assert_eq!(sim.take_commands(), vec![]);
    sim.message("pong");
    assert_eq!(
        sim.take_events(),
        vec![Event::Message(text("pong"))],
        "without a heartbeat, pong is an ordinary message"
    );
}

#[test]
fn heartbeat_stops_when_the_connection_ends() {
    let mut sim = connected(heartbeat());
    sim.server_close(1001);
    sim.clear();
    sim.advance(400);
    assert_eq!(sim.m.poll_timeout(), Some(500), "only the retry timer");
}

#[test]
fn stale_socket_inputs_are_ignored() {
    let mut sim = Sim::new(no_jitter());
    sim.open();
    sim.server_close(1006);
    sim.advance(500);
    assert_eq!(sim.last_open(), 2);
    sim.open();
    sim.clear();
    let before = (sim.m.status(), sim.m.attempt(), sim.m.poll_timeout());
    for conn in [1, 3, 99] {
        sim.input(Input::Opened { conn });
        sim.input(Input::Message {
            conn,
            payload: text("x"),
        });
        sim.input(Input::Error { conn });
        sim.input(Input::BufferedAmount {
            conn,
            bytes: 1 << 30,
        });
        sim.input(Input::OpenFailed {
            conn,
            error: "e".into(),
        });
        sim.input(Input::Closed {
            conn,
            info: close_info(1006),
            reconnect: true,
        });
    }
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(
        (sim.m.status(), sim.m.attempt(), sim.m.poll_timeout()),
        before
    );
    assert_eq!(sim.m.buffered_amount(), 0);
    assert_eq!(sim.send_text("m"), Ok(SendOutcome::Sent));
}

#[test]
fn inputs_while_waiting_for_retry_are_ignored() {
    let mut sim = Sim::new(no_jitter());
    sim.server_close(1006);
    sim.clear();
    sim.input(Input::Opened { conn: 1 });
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1006),
        reconnect: true,
    });
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(500));
}

#[test]
fn close_validates_code_and_reason() {
    let mut sim = connected(no_jitter());
    for code in [0, 999, 1001, 1006, 1011, 2999, 5000, u16::MAX] {
        assert_eq!(
            sim.close(code, ""),
            Err(CloseError::InvalidCode(code)),
            "{code}"
        );
    }
    let long = "x".repeat(124);
    assert_eq!(sim.close(1000, &long), Err(CloseError::ReasonTooLong(124)));
    // 62 two-byte characters = 124 bytes.
    let wide = "é".repeat(62);
    assert_eq!(sim.close(1000, &wide), Err(CloseError::ReasonTooLong(124)));
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.m.status(), Status::Connected, "nothing changed");
    assert_eq!(
        CloseError::InvalidCode(1001).to_string(),
        "invalid close code 1001: must be 1000 or in 3000..=4999"
    );
    assert_eq!(validate_close(3000, &"x".repeat(123)), Ok(()));
    assert_eq!(validate_close(4999, ""), Ok(()));
}

#[test]
fn close_while_connected_is_for_good() {
    let mut sim = connected(heartbeat());
    sim.send_text("a").unwrap();
    sim.clear();
    sim.close(4000, "bye").unwrap();
    assert_eq!(
        sim.take_commands(),
        vec![Command::Close {
            conn: 1,
            code: 4000,
            reason: "bye".into()
        }]
    );
    assert_eq!(
        sim.take_events(),
        vec![Event::Status(Status::Closed(ClosedReason::User))]
    );
    assert_eq!(sim.m.poll_timeout(), None, "all timers cleared");
    // The closing socket's close event is still reported, without a reconnect.
    let info = CloseInfo {
        code: 4000,
        reason: "bye".into(),
        was_clean: true,
    };
    sim.input(Input::Closed {
        conn: 1,
        info: info.clone(),
        reconnect: true,
    });
    assert_eq!(sim.take_events(), vec![Event::Closed(info.clone())]);
    assert_eq!(sim.m.last_close(), Some(&info));
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1006),
        reconnect: true,
    });
    assert_eq!(sim.take_events(), vec![], "only once");
    sim.input(Input::Online);
    sim.input(Input::Visible);
    sim.advance(1_000_000);
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.m.status(), Status::Closed(ClosedReason::User));
    // Closing again is harmless.
    sim.close(1000, "").unwrap();
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.take_events(), vec![]);
}

#[test]
fn close_while_connecting_closes_that_socket() {
    let mut sim = Sim::new(no_jitter());
    sim.clear();
    sim.close(1000, "").unwrap();
    assert_eq!(
        sim.take_commands(),
        vec![Command::Close {
            conn: 1,
            code: 1000,
            reason: String::new()
        }]
    );
    assert_eq!(sim.m.poll_timeout(), None, "connect timeout cleared");
    assert_eq!(
        sim.take_events(),
        vec![Event::Status(Status::Closed(ClosedReason::User))]
    );
    // It opening late does not connect.
    sim.input(Input::Opened { conn: 1 });
    sim.input(Input::Error { conn: 1 });
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.m.status(), Status::Closed(ClosedReason::User));
}

#[test]
fn close_while_waiting_for_retry_cancels_it() {
    let mut sim = Sim::new(no_jitter());
    sim.server_close(1006);
    sim.clear();
    sim.close(1000, "").unwrap();
    assert_eq!(sim.take_commands(), vec![], "no socket to close");
    assert_eq!(sim.m.next_retry_at(), None);
    assert_eq!(sim.m.poll_timeout(), None);
    sim.advance(100_000);
    assert_eq!(sim.take_commands(), vec![]);
}

#[test]
fn close_after_attempts_exhausted_says_user() {
    let mut o = no_jitter();
    o.reconnect.as_mut().unwrap().max_attempts = Some(0);
    let mut sim = Sim::new(o);
    sim.server_close(1006);
    assert_eq!(
        sim.m.status(),
        Status::Closed(ClosedReason::AttemptsExhausted)
    );
    sim.clear();
    sim.close(1000, "").unwrap();
    assert_eq!(
        sim.take_events(),
        vec![Event::Status(Status::Closed(ClosedReason::User))]
    );
}

#[test]
fn reconnect_after_close_starts_afresh_and_flushes() {
    let mut sim = Sim::new(no_jitter());
    sim.server_close(1006);
    sim.advance(500);
    sim.server_close(1006);
    assert_eq!(sim.m.attempt(), 2);
    sim.close(1000, "").unwrap();
    assert_eq!(sim.send_text("a"), Ok(SendOutcome::Queued));
    assert_eq!(sim.send_text("b"), Ok(SendOutcome::Queued));
    sim.clear();
    sim.reconnect();
    assert_eq!(sim.take_commands(), vec![Command::Open { conn: 3 }]);
    assert_eq!(sim.take_events(), vec![Event::Status(Status::Connecting)]);
    assert_eq!(sim.m.attempt(), 0);
    assert_eq!(sim.m.poll_timeout(), Some(sim.now + 10_000));
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["a", "b"]);
    assert_eq!(sim.m.queued_messages(), 0);
    // Backoff was reset: the next failure waits the initial delay.
    sim.server_close(1006);
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(sim.now + 500));
}

#[test]
fn reconnect_while_connected_abandons_the_socket() {
    let mut sim = connected(no_jitter());
    sim.reconnect();
    assert_eq!(
        sim.take_commands(),
        vec![Command::Abandon { conn: 1 }, Command::Open { conn: 2 }]
    );
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Closed(CloseInfo {
                code: 1006,
                reason: "reconnect".into(),
                was_clean: false
            }),
            Event::Status(Status::Connecting)
        ]
    );
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1006),
        reconnect: true,
    });
    assert_eq!(sim.take_events(), vec![], "abandoned socket is stale");
    assert_eq!(sim.m.status(), Status::Connecting);
}

#[test]
fn reconnect_while_user_close_is_pending_abandons_the_closing_socket() {
    let mut sim = connected(no_jitter());
    sim.close(1000, "").unwrap();
    sim.clear();
    sim.reconnect();
    assert_eq!(
        sim.take_commands(),
        vec![Command::Abandon { conn: 1 }, Command::Open { conn: 2 }]
    );
    sim.input(Input::Closed {
        conn: 1,
        info: close_info(1000),
        reconnect: true,
    });
    let events = sim.take_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], Event::Closed(i) if i.reason == "reconnect"));
    assert_eq!(events[1], Event::Status(Status::Connecting));
}

#[test]
fn release_abandons_and_drops_everything() {
    let mut sim = Sim::new(no_jitter());
    sim.send_text("a").unwrap();
    sim.send_text("b").unwrap();
    sim.clear();
    sim.release();
    assert_eq!(sim.take_commands(), vec![Command::Abandon { conn: 1 }]);
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Dropped {
                payload: text("a"),
                reason: DropReason::Released
            },
            Event::Dropped {
                payload: text("b"),
                reason: DropReason::Released
            },
            Event::Status(Status::Closed(ClosedReason::User)),
        ]
    );
    assert_eq!(sim.m.queued_messages(), 0);
    assert_eq!(sim.m.queued_bytes(), 0);
    assert_eq!(sim.m.poll_timeout(), None);
    // Nothing further.
    sim.input(Input::Opened { conn: 1 });
    sim.reconnect();
    sim.close(1000, "").unwrap();
    sim.advance(100_000);
    sim.release();
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.send_text("c"), Ok(SendOutcome::Dropped));
    assert_eq!(
        sim.take_events(),
        vec![Event::Dropped {
            payload: text("c"),
            reason: DropReason::Released
        }]
    );
}

#[test]
fn release_after_user_close_abandons_the_closing_socket() {
    let mut sim = connected(no_jitter());
    sim.close(1000, "").unwrap();
    sim.clear();
    sim.release();
    assert_eq!(sim.take_commands(), vec![Command::Abandon { conn: 1 }]);
    assert_eq!(sim.take_events(), vec![], "status was already Closed(User)");
}

#[test]
fn max_attempts_stops_with_reconnect_stopped() {
    let mut o = no_jitter();
    o.reconnect.as_mut().unwrap().max_attempts = Some(3);
    let mut sim = Sim::new(o);
    sim.server = Server::Refuse;
    sim.reconnect(); // re-run the first attempt under the refusing server
    while sim.step().is_some() {}
    // The first attempt of `new()` was abandoned by reconnect(): 1 + (1 + 3 retries).
    assert_eq!(sim.opens().len(), 5);
    assert_eq!(sim.retry_delays(), vec![500, 1000, 2000]);
    assert_eq!(
        sim.m.status(),
        Status::Closed(ClosedReason::AttemptsExhausted)
    );
    let events = sim.all_events();
    let tail = &events[events.len() - 3..];
    assert_eq!(
        tail,
        &[
            Event::Closed(close_info(1006)),
            Event::Status(Status::Closed(ClosedReason::AttemptsExhausted)),
            Event::ReconnectStopped { attempts: 3 },
        ]
    );
    assert_eq!(sim.m.attempt(), 3);
    assert_eq!(sim.m.poll_timeout(), None);
    // Online/Visible do not revive it; reconnect() does.
    sim.input(Input::Online);
    assert_eq!(sim.opens().len(), 5);
    sim.server = Server::Accept;
    sim.reconnect();
    assert_eq!(sim.m.status(), Status::Connected);
}

#[test]
fn max_attempts_zero_never_retries() {
    let mut o = no_jitter();
    o.reconnect.as_mut().unwrap().max_attempts = Some(0);
    let mut sim = Sim::new(o);
    sim.clear();
    sim.server_close(1006);
    assert_eq!(
        sim.take_events(),
        vec![
            Event::Closed(close_info(1006)),
            Event::Status(Status::Closed(ClosedReason::AttemptsExhausted)),
            Event::ReconnectStopped { attempts: 0 },
        ]
    );
}

#[test]
fn min_uptime_resets_the_attempt_counter() {
    let mut sim = Sim::new(no_jitter());
    sim.fail_attempts(3);
    assert_eq!(sim.m.attempt(), 3);
    sim.open();
    assert_eq!(sim.m.poll_timeout(), Some(sim.now + 5_000));
    sim.advance(4_999);
    assert_eq!(sim.m.attempt(), 3, "not yet");
    sim.advance(1);
    assert_eq!(sim.m.attempt(), 0, "stayed up minUptime");
    assert_eq!(sim.m.poll_timeout(), None);
    sim.server_close(1006);
    assert_eq!(sim.m.attempt(), 1);
    assert_eq!(sim.m.next_retry_at(), Some(sim.now + 500));
}

#[test]
fn a_short_connection_does_not_reset_the_backoff() {
    let mut sim = Sim::new(no_jitter());
    sim.fail_attempts(3);
    sim.open();
    sim.advance(4_999);
    sim.server_close(1006);
    assert_eq!(sim.m.attempt(), 4);
    assert_eq!(sim.m.next_retry_at(), Some(sim.now + 4_000));
}

#[test]
fn accept_then_drop_at_once_keeps_backing_off() {
    let mut sim = Sim::new(no_jitter());
    for _ in 0..8 {
        sim.open();
        sim.advance(10);
        sim.server_close(1001);
        sim.step();
    }
    let delays = sim.retry_delays();
    assert_eq!(
        delays,
        vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
    );
}

#[test]
fn min_uptime_zero_resets_on_open() {
    let mut o = no_jitter();
    o.reconnect.as_mut().unwrap().min_uptime_ms = 0;
    let mut sim = Sim::new(o);
    sim.fail_attempts(2);
    assert_eq!(sim.m.attempt(), 2);
    sim.open();
    assert_eq!(sim.m.attempt(), 0);
    assert_eq!(sim.m.poll_timeout(), None);
}

#[test]
fn online_and_visible_retry_at_once_while_waiting() {
    for hint in [Input::Online, Input::Visible] {
        let mut sim = Sim::new(no_jitter());
        for _ in 0..4 {
            sim.server_close(1006);
            sim.step();
        }
        sim.server_close(1006);
        assert_eq!(sim.m.next_retry_at(), Some(sim.now + 8_000));
        sim.clear();
        sim.advance(100);
        sim.input(hint.clone());
        assert_eq!(sim.take_commands(), vec![Command::Open { conn: 6 }]);
        assert_eq!(sim.m.next_retry_at(), None);
        assert_eq!(sim.m.attempt(), 5, "still retry 5");
        // While that retry is under way, hints change nothing.
        sim.input(hint.clone());
        assert_eq!(sim.take_commands(), vec![]);
        // It fails: retry 6 is scheduled normally.
        sim.server_close(1006);
        assert_eq!(sim.m.next_retry_at(), Some(sim.now + 16_000));
    }
}

#[test]
fn hints_are_ignored_unless_waiting() {
    let mut sim = Sim::new(no_jitter());
    sim.clear();
    sim.input(Input::Online);
    sim.input(Input::Visible);
    assert_eq!(sim.take_commands(), vec![], "connecting");
    sim.open();
    sim.clear();
    sim.input(Input::Offline);
    assert!(!sim.m.online());
    sim.input(Input::Online);
    assert!(sim.m.online());
    sim.input(Input::Visible);
    assert_eq!(sim.take_commands(), vec![], "connected");
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.m.status(), Status::Connected);
}

#[test]
fn send_while_connected_goes_straight_out() {
    let mut sim = connected(no_jitter());
    assert_eq!(sim.send_text("hi"), Ok(SendOutcome::Sent));
    assert_eq!(
        sim.take_commands(),
        vec![Command::Send {
            conn: 1,
            payload: text("hi")
        }]
    );
    assert_eq!(sim.m.queued_messages(), 0);
    assert_eq!(sim.m.estimated_buffered_amount(), 2);
}

#[test]
fn sends_while_not_connected_wait_and_flush_in_order() {
    let mut sim = Sim::new(no_jitter());
    assert_eq!(sim.send_text("1"), Ok(SendOutcome::Queued));
    sim.server_close(1006);
    assert_eq!(sim.send_text("2"), Ok(SendOutcome::Queued));
    sim.step();
    assert_eq!(sim.send_text("3"), Ok(SendOutcome::Queued));
    assert_eq!(sim.m.queued_messages(), 3);
    assert_eq!(sim.m.queued_bytes(), 3);
    assert_eq!(sim.sent_texts(), Vec::<String>::new());
    sim.open();
    assert_eq!(sim.sent_texts(), vec!["1", "2", "3"]);
    assert_eq!(sim.send_text("4"), Ok(SendOutcome::Sent));
    assert_eq!(sim.sent_texts(), vec!["1", "2", "3", "4"]);
}

/// Fills the socket of a connected Sim past a high-water mark of 100 and queues one more
/// message, so the outbox waits for readings.
fn waiting_for_room() -> Sim {
    let mut o = no_jitter();
    o.outbox.high_water_mark = 100;
    let mut sim = connected(o);
    for _ in 0..4 {
        assert_eq!(sim.send_text(&"x".repeat(30)), Ok(SendOutcome::Sent));
    }
    assert_eq!(sim.send_text("waits"), Ok(SendOutcome::Queued));
    sim.clear();
    sim
}

/// Advances to the next poll, answers it with `bytes`, and returns the time it took.
fn poll_and_answer(sim: &mut Sim, bytes: u64) -> Millis {
    let due = sim.m.poll_timeout().expect("a poll is due");
    let waited = due - sim.now;
    sim.advance_to(due);
    assert_eq!(
        sim.take_commands(),
        vec![Command::ReadBufferedAmount { conn: 1 }]
    );
    sim.input(Input::BufferedAmount { conn: 1, bytes });
    waited
}

#[test]
fn buffer_poll_slows_down_while_the_peer_reads_nothing() {
    let mut sim = waiting_for_room();
    let waits: Vec<Millis> = (0..9).map(|_| poll_and_answer(&mut sim, 120)).collect();
    assert_eq!(
        waits,
        vec![BUFFER_POLL_MS, 1, 2, 4, 8, 16, 32, 64, BUFFER_POLL_MAX_MS]
    );
    assert_eq!(sim.m.queued_messages(), 1, "still no room");
}

#[test]
fn buffer_poll_asks_again_at_once_while_the_socket_drains() {
    let mut sim = waiting_for_room();
    // No progress: the poll slows down.
    let waits: Vec<Millis> = (0..4).map(|_| poll_and_answer(&mut sim, 120)).collect();
    assert_eq!(waits, vec![0, 1, 2, 4]);
    // Progress, but still no room: the next reading is asked for at once (the next task).
    assert_eq!(poll_and_answer(&mut sim, 100), 8);
    assert_eq!(sim.m.poll_timeout(), Some(sim.now), "due at once");
    assert_eq!(sim.m.queued_messages(), 1);
    // A user send's own reading, mid-burst, does not change the interval.
    sim.input(Input::BufferedAmount {
        conn: 1,
        bytes: 500,
    });
    assert_eq!(poll_and_answer(&mut sim, 110), 0);
    // A reading that asked and got no answer is asked again 1 ms later, not in a loop.
    let due = sim.m.poll_timeout().unwrap();
    sim.advance_to(due);
    assert_eq!(
        sim.take_commands(),
        vec![Command::ReadBufferedAmount { conn: 1 }]
    );
    assert_eq!(sim.m.poll_timeout(), Some(due + 1));
}

#[test]
fn pacing_holds_messages_behind_the_high_water_mark() {
    let mut o = no_jitter();
    o.outbox.high_water_mark = 100;
    let mut sim = connected(o);
    let msg = "x".repeat(30);
    // 0, 30, 60, 90 < 100: four go out, then the estimate is 120.
    for _ in 0..4 {
        assert_eq!(sim.send_text(&msg), Ok(SendOutcome::Sent));
    }
    assert_eq!(sim.m.estimated_buffered_amount(), 120);
    assert_eq!(sim.send_text(&msg), Ok(SendOutcome::Queued));
    assert_eq!(sim.send_text("later"), Ok(SendOutcome::Queued));
    assert_eq!(sim.m.poll_timeout(), Some(BUFFER_POLL_MS));
    sim.clear();
    sim.advance(BUFFER_POLL_MS);
    assert_eq!(
        sim.take_commands(),
        vec![Command::ReadBufferedAmount { conn: 1 }]
    );
    // No reading arrives: it asks again, 1 ms later.
    sim.advance(1);
    assert_eq!(
        sim.take_commands(),
        vec![Command::ReadBufferedAmount { conn: 1 }]
    );
    // Still full.
    sim.input(Input::BufferedAmount {
        conn: 1,
        bytes: 100,
    });
    assert_eq!(sim.take_commands(), vec![]);
    assert_eq!(sim.m.buffered_amount(), 100);
    // Room: both waiting messages go, in order.
    sim.input(Input::BufferedAmount { conn: 1, bytes: 69 });
    assert_eq!(sim.sent_texts()[4..], [msg.clone(), "later".to_owned()]);
    assert_eq!(sim.m.queued_messages(), 0);
    assert_eq!(sim.m.poll_timeout(), None, "polling stops when empty");
    sim.assert_paced(100);
}

#[test]
fn later_sends_wait_behind_queued_ones_even_with_room() {
    let mut o = no_jitter();
    o.outbox.high_water_mark = 10;
    let mut sim = connected(o);
    sim.send_text("0123456789").unwrap();
    assert_eq!(sim.send_text("a"), Ok(SendOutcome::Queued));
    // The driver feeds a fresh reading before the user's next send: room appears and the
    // queued message goes first.
    sim.input(Input::BufferedAmount { conn: 1, bytes: 0 });
    assert_eq!(sim.send_text("b"), Ok(SendOutcome::Sent));
    assert_eq!(sim.sent_texts(), vec!["0123456789", "a", "b"]);
}

#[test]
fn pacing_bound_holds_over_a_long_flush() {
    let mut o = no_jitter();
    o.outbox.high_water_mark = 1_000;
    o.outbox.max_messages = 10_000;
    let mut sim = Sim::new(o);
    sim.auto_read = true;
    sim.drain_per_ms = 7;
    for i in 0..2_000 {
        let s = format!("{i:>0width$}", width = 10 + (i % 50));
        assert_eq!(sim.send_text(&s), Ok(SendOutcome::Queued));
    }
    sim.open();
    let mut guard = 0;
    while sim.m.queued_messages() > 0 {
        sim.step();
        guard += 1;
        assert!(guard < 100_000);
    }
    let sent = sim.sent_texts();
    assert_eq!(sent.len(), 2_000);
    for (i, s) in sent.iter().enumerate() {
        assert_eq!(s.trim_start_matches('0').parse::<usize>().unwrap_or(0), i);
    }
    sim.assert_paced(1_000);
    // It actually had to wait: it took several polls.
    let reads = sim
        .trace
        .iter()
        .filter(|(_, t)| matches!(t, Trace::Cmd(Command::ReadBufferedAmount { .. })))
        .count();
    assert!(reads > 10, "{reads}");
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let mut o = heartbeat();
    o.outbox.high_water_mark = 1;
    let h = o.heartbeat.as_mut().unwrap();
    h.interval_ms = 3_000;
    h.timeout_ms = 1_000;
    let mut sim = Sim::new(o);
    sim.server_close(1006);
    assert_eq!(sim.m.poll_timeout(), Some(500), "retry");
    sim.step();
    assert_eq!(sim.m.poll_timeout(), Some(10_500), "connect timeout");
    sim.open();
    assert_eq!(sim.m.poll_timeout(), Some(3_500), "ping before minUptime");
    sim.send_text("ab").unwrap();
    sim.send_text("c").unwrap();
    assert_eq!(
        sim.m.poll_timeout(),
        Some(500 + BUFFER_POLL_MS),
        "buffer poll"
    );
    sim.input(Input::BufferedAmount { conn: 2, bytes: 0 });
    assert_eq!(sim.m.poll_timeout(), Some(3_500));
    sim.advance_to(3_500);
    assert_eq!(sim.m.poll_timeout(), Some(4_500), "pong deadline");
    sim.message("pong");
    assert_eq!(sim.m.poll_timeout(), Some(5_500), "minUptime reset");
    sim.advance_to(5_500);
    assert_eq!(sim.m.poll_timeout(), Some(6_500), "next ping");
}

#[test]
fn a_late_driver_handles_overdue_deadlines_in_order() {
    let mut o = heartbeat();
    let h = o.heartbeat.as_mut().unwrap();
    h.interval_ms = 1_000;
    h.timeout_ms = 500;
    let mut sim = Sim::new(o);
    sim.server_close(1006);
    sim.step();
    sim.open(); // at 500: ping due 1500, minUptime reset due 5500
    assert_eq!(sim.m.attempt(), 1);
    sim.clear();
    // The tab slept: one late call at 20 000. The ping goes out now, and its pong deadline
    // counts from now (a pong cannot come before its ping); the uptime reset is overdue.
    sim.now = 20_000;
    sim.m.handle_timeout(20_000);
    sim.pump();
    assert_eq!(
        sim.take_commands(),
        vec![Command::Send {
            conn: 2,
            payload: text("ping")
        }]
    );
    assert_eq!(sim.m.attempt(), 0);
    assert_eq!(sim.m.poll_timeout(), Some(20_500));
    assert_eq!(sim.m.status(), Status::Connected);
    // Still no answer at 20 500: dead.
    sim.advance_to(20_500);
    assert_eq!(sim.take_commands(), vec![Command::Abandon { conn: 2 }]);
    assert_eq!(sim.m.attempt(), 1);
    assert!(sim.m.poll_timeout().unwrap() > 20_500);
}

#[test]
fn status_events_only_on_change() {
    let mut sim = Sim::new(no_jitter());
    sim.server = Server::RefuseUntil(20_000);
    sim.reconnect();
    while sim.m.status() != Status::Connected {
        sim.step();
    }
    let statuses: Vec<Status> = sim
        .all_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Status(s) => Some(s),
            _ => None,
        })
        .collect();
    // The first Connecting was the initial state, so reconnect() changed nothing there.
    assert_eq!(statuses, vec![Status::Reconnecting, Status::Connected]);
    for w in statuses.windows(2) {
        assert_ne!(w[0], w[1]);
    }
}

#[test]
fn every_opened_socket_gets_one_closed_event() {
    let mut o = heartbeat();
    o.heartbeat.as_mut().unwrap().interval_ms = 1_000;
    let mut sim = Sim::new(o);
    sim.advance(10_000); // connect timeout
    sim.step();
    sim.open();
    sim.advance(11_000); // heartbeat timeout
    sim.step();
    sim.server_close(1006);
    sim.step();
    sim.reconnect(); // abandons the connecting socket
    sim.open();
    sim.close(1000, "").unwrap();
    sim.server_close(1000);
    let closes = sim
        .all_events()
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(closes, sim.opens().len());
    assert_eq!(closes, 5);
}

#[test]
fn closes_counts_every_recorded_close() {
    let mut sim = Sim::new(no_jitter());
    assert_eq!((sim.m.closes(), sim.m.last_close()), (0, None));
    sim.open();
    sim.server_close(1006);
    assert_eq!(sim.m.closes(), 1);
    sim.step();
    sim.open();
    // The same code and reason again: the count still tells that it changed.
    sim.server_close(1006);
    assert_eq!(sim.m.closes(), 2);
    assert_eq!(sim.m.last_close().map(|c| c.code), Some(1006));
}

#[test]
fn a_fresh_reading_is_wanted_only_when_it_could_change_a_send() {
    let mut o = no_jitter();
    o.outbox.high_water_mark = 100;
    let mut sim = Sim::new(o);
    assert!(!sim.m.wants_reading(), "not open");
    sim.open();
    assert!(
        !sim.m.wants_reading(),
        "room: a reading could only lower the estimate"
    );
    for _ in 0..4 {
        sim.send_text(&"x".repeat(30)).unwrap();
    }
    assert!(sim.m.wants_reading(), "120 >= 100: a reading may show room");
    sim.input(Input::BufferedAmount { conn: 1, bytes: 0 });
    assert!(!sim.m.wants_reading());
    sim.input(Input::BufferedAmount {
        conn: 1,
        bytes: 100,
    });
    assert_eq!(sim.send_text("waits"), Ok(SendOutcome::Queued));
    sim.input(Input::BufferedAmount { conn: 1, bytes: 99 });
    assert_eq!(sim.m.queued_messages(), 0, "room again: it went");
    sim.input(Input::BufferedAmount {
        conn: 1,
        bytes: 100,
    });
    sim.send_text("a").unwrap();
    assert!(sim.m.wants_reading(), "a message waits");
}
