#![cfg(not(target_arch = "wasm32"))]
//! Property tests: random sequences of inputs (sends, opens, closes, errors, stale inputs,
//! bufferedAmount readings, timeouts, the user's close/reconnect/release) against the
//! machine's invariants.
mod core_support;

use std::collections::BTreeSet;

use core_support::*;
use proptest::prelude::*;
use resilient_ws::core::*;

/// Which socket an input claims to come from.
#[derive(Clone, Debug)]
enum Pick {
    /// The latest `Open`.
    Latest,
    /// An older id (stale).
    Older(u64),
    /// An id never opened (stale).
    Newer(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    Opened(Pick),
    Message(Pick, bool),
    Error(Pick),
    Closed(Pick, u16, bool),
    OpenFailed(Pick),
    Buffered(Pick, u64),
    Advance(u64),
    Step,
    Close(u16, usize),
    Reconnect,
    Online,
    Offline,
    Visible,
    Release,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        6 => Just(Pick::Latest),
        1 => (1u64..4).prop_map(Pick::Older),
        1 => (1u64..4).prop_map(Pick::Newer),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..60).prop_map(Op::Send),
        5 => pick().prop_map(Op::Opened),
        3 => (pick(), any::<bool>()).prop_map(|(p, pong)| Op::Message(p, pong)),
        2 => pick().prop_map(Op::Error),
        4 => (pick(), prop::sample::select(vec![1000u16, 1001, 1006, 1008, 1011, 4401]), any::<bool>())
            .prop_map(|(p, c, r)| Op::Closed(p, c, r)),
        1 => pick().prop_map(Op::OpenFailed),
        5 => (pick(), 0u64..120).prop_map(|(p, b)| Op::Buffered(p, b)),
        5 => (0u64..3_000).prop_map(Op::Advance),
        5 => Just(Op::Step),
        1 => (prop::sample::select(vec![1000u16, 3000, 4999, 999, 1001, 5000]), 0usize..130)
            .prop_map(|(c, l)| Op::Close(c, l)),
        1 => Just(Op::Reconnect),
        1 => Just(Op::Online),
        1 => Just(Op::Offline),
        1 => Just(Op::Visible),
    ]
}

fn options() -> impl Strategy<Value = Options> {
    let reconnect = prop::option::weighted(
        0.85,
        (
            0.0f64..1_000.0,
            1.0f64..3.0,
            0.0f64..=1.0,
            prop::option::of(0u32..5),
            0u64..3_000,
            0.0f64..10_000.0,
        )
            .prop_map(
                |(initial, factor, jitter, max_attempts, min_uptime, extra)| ReconnectOptions {
                    initial_delay_ms: initial,
                    max_delay_ms: initial + extra,
                    factor,
                    jitter,
                    max_attempts,
                    min_uptime_ms: min_uptime,
                },
            ),
    );
    let heartbeat =
        prop::option::of(
            (1u64..4_000, 1u64..4_000).prop_map(|(i, t)| HeartbeatOptions {
                interval_ms: i,
                timeout_ms: t,
                ..HeartbeatOptions::default()
            }),
        );
    let outbox = (
        1usize..8,
        1usize..64,
        prop::sample::select(vec![
            Overflow::Error,
            Overflow::DropOldest,
            Overflow::DropNewest,
        ]),
        1usize..64,
    )
        .prop_map(
            |(max_messages, max_bytes, overflow, high_water_mark)| OutboxOptions {
                max_messages,
                max_bytes,
                overflow,
                high_water_mark,
            },
        );
    (reconnect, 1u64..20_000, heartbeat, outbox).prop_map(
        |(reconnect, timeout, heartbeat, outbox)| Options {
            reconnect,
            connect_timeout_ms: timeout,
            heartbeat,
            outbox,
            delivery: None,
        },
    )
}

/// A user message: "u<id>|" padded with dots to at least `size` bytes.
fn user_payload(id: usize, size: usize) -> Payload {
    let mut s = format!("u{id}|");
    while s.len() < size {
        s.push('.');
    }
    Payload::Text(s)
}

fn user_id(p: &Payload) -> Option<usize> {
    match p {
        Payload::Text(s) if s.starts_with('u') => s[1..s.find('|')?].parse().ok(),
        _ => None,
    }
}

/// Replays the trace incrementally and checks every invariant.
#[derive(Default)]
struct Checker {
    seen: usize,
    live: BTreeSet<ConnId>,
    opened_fed: BTreeSet<ConnId>,
    last_open: ConnId,
    opens: usize,
    closed_events: usize,
    delivered: Vec<usize>,
    dropped: BTreeSet<usize>,
    refused: BTreeSet<usize>,
    /// Size of every user message sent so far, by id.
    sizes: Vec<usize>,
    last_status: Option<Status>,
    released: bool,
}

impl Checker {
    fn scan(&mut self, sim: &Sim) -> Result<(), TestCaseError> {
        for (t, tr) in &sim.trace[self.seen..] {
            match tr {
                Trace::Cmd(c) => {
                    prop_assert!(!self.released, "command after release: {c:?}");
                    match c {
                        Command::Open { conn } => {
                            prop_assert!(*conn > self.last_open, "ids increase");
                            prop_assert!(
                                self.live.is_empty(),
                                "at {t}: Open {conn} while {:?} live",
                                self.live
                            );
                            self.live.insert(*conn);
                            self.last_open = *conn;
                            self.opens += 1;
                        }
                        Command::Close { conn, .. } | Command::Abandon { conn } => {
                            self.live.remove(conn);
                        }
                        Command::Send { payload, conn } => {
                            prop_assert!(self.live.contains(conn), "send to a dead socket {conn}");
                            if let Some(id) = user_id(payload) {
                                prop_assert!(
                                    !self.dropped.contains(&id),
                                    "{id} dropped and delivered"
                                );
                                prop_assert!(
                                    !self.refused.contains(&id),
                                    "{id} refused and delivered"
                                );
                                if let Some(&last) = self.delivered.last() {
                                    prop_assert!(id > last, "order/once: {id} after {last}");
                                }
                                self.delivered.push(id);
                            }
                        }
                        Command::ReadBufferedAmount { conn } => {
                            prop_assert!(self.live.contains(conn));
                        }
                    }
                }
                Trace::In(i) => match i {
                    // Only a live socket can really open (the rest is stale noise).
                    Input::Opened { conn } if self.live.contains(conn) => {
                        self.opened_fed.insert(*conn);
                    }
                    Input::Closed { conn, .. } => {
                        self.live.remove(conn);
                    }
                    Input::OpenFailed { conn, .. } if !self.opened_fed.contains(conn) => {
                        self.live.remove(conn);
                    }
                    _ => {}
                },
                Trace::Ev(e) => match e {
                    Event::Dropped { payload, .. } => {
                        if let Some(id) = user_id(payload) {
                            prop_assert!(
                                !self.delivered.contains(&id),
                                "{id} delivered and dropped"
                            );
                            prop_assert!(self.dropped.insert(id), "{id} dropped twice");
                        }
                    }
                    Event::Status(s) => {
                        let prev = self.last_status.unwrap_or(Status::Connecting);
                        prop_assert_ne!(prev, *s, "status event without a change");
                        self.last_status = Some(*s);
                    }
                    Event::Closed(_) => self.closed_events += 1,
                    _ => {}
                },
            }
        }
        self.seen = sim.trace.len();
        Ok(())
    }

    fn check_state(&self, sim: &Sim) -> Result<(), TestCaseError> {
        let o = &sim.m.options().outbox;
        let (n, bytes) = (sim.m.queued_messages(), sim.m.queued_bytes());
        prop_assert!(n <= o.max_messages, "{n} queued > {}", o.max_messages);
        prop_assert!(
            bytes <= o.max_bytes,
            "{bytes} bytes queued > {}",
            o.max_bytes
        );
        // Conservation: every message is delivered, dropped, refused or still queued.
        let delivered: BTreeSet<usize> = self.delivered.iter().copied().collect();
        let pending: Vec<usize> = (0..self.sizes.len())
            .filter(|id| {
                !delivered.contains(id) && !self.dropped.contains(id) && !self.refused.contains(id)
            })
            .collect();
        prop_assert_eq!(pending.len(), n, "queued count");
        prop_assert_eq!(
            pending.iter().map(|&id| self.sizes[id]).sum::<usize>(),
            bytes
        );
        prop_assert!(self.closed_events <= self.opens);
        prop_assert_eq!(
            self.last_status.unwrap_or(Status::Connecting),
            sim.m.status()
        );
        match sim.m.status() {
            Status::Closed(_) => {
                prop_assert_eq!(sim.m.current_conn(), None);
                prop_assert_eq!(sim.m.next_retry_at(), None);
                prop_assert!(
                    self.live.is_empty() || sim.m.status() == Status::Closed(ClosedReason::User),
                    "closed with a live socket"
                );
            }
            Status::Connected => prop_assert!(sim.m.current_conn().is_some()),
            Status::Reconnecting if sim.m.next_retry_at().is_some() => {
                prop_assert!(self.live.is_empty(), "waiting with a live socket")
            }
            _ => {}
        }
        if let Some(d) = sim.m.poll_timeout() {
            prop_assert!(d >= sim.now, "deadline {d} in the past at {}", sim.now);
        }
        Ok(())
    }
}

fn conn_of(sim: &Sim, c: &Checker, p: &Pick) -> ConnId {
    let _ = sim;
    match p {
        Pick::Latest => c.last_open,
        Pick::Older(k) => c.last_open.saturating_sub(*k),
        Pick::Newer(k) => c.last_open + k,
    }
}

/// `ops`, with a release (which ends everything) inserted at `release_at` if given.
fn with_release(mut ops: Vec<Op>, release_at: Option<usize>) -> Vec<Op> {
    if let Some(i) = release_at {
        ops.insert(i.min(ops.len()), Op::Release);
    }
    ops
}

fn run(options: Options, seed: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut sim = Sim::with_seed(options, seed);
    let mut c = Checker::default();
    c.scan(&sim)?;
    for op in ops {
        let before = sim.trace.len();
        match op {
            Op::Send(size) => {
                let id = c.sizes.len();
                let payload = user_payload(id, size);
                c.sizes.push(payload.byte_len());
                let out = sim.send(payload);
                let new = &sim.trace[before..];
                let sent = new.iter().any(
                    |(_, t)| matches!(t, Trace::Cmd(Command::Send { payload, .. }) if user_id(payload) == Some(id)),
                );
                let dropped = new.iter().any(
                    |(_, t)| matches!(t, Trace::Ev(Event::Dropped { payload, .. }) if user_id(payload) == Some(id)),
                );
                match out {
                    Ok(SendOutcome::Sent) => prop_assert!(sent && !dropped),
                    Ok(SendOutcome::Queued) => prop_assert!(!sent && !dropped),
                    Ok(SendOutcome::Dropped) => prop_assert!(!sent && dropped),
                    Err(full) => {
                        prop_assert!(!sent && !dropped);
                        prop_assert_eq!(full.message_bytes, c.sizes[id]);
                        c.refused.insert(id);
                    }
                }
            }
            Op::Opened(p) => {
                let conn = conn_of(&sim, &c, &p);
                sim.input(Input::Opened { conn });
            }
            Op::Message(p, pong) => {
                let conn = conn_of(&sim, &c, &p);
                let payload = text(if pong { "pong" } else { "hello" });
                sim.input(Input::Message { conn, payload });
                let new = &sim.trace[before..];
                let passed_on = new
                    .iter()
                    .any(|(_, t)| matches!(t, Trace::Ev(Event::Message(_))));
                if pong && sim.m.options().heartbeat.is_some() {
                    prop_assert!(!passed_on, "pong passed on");
                }
            }
            Op::Error(p) => {
                let conn = conn_of(&sim, &c, &p);
                let status = sim.m.status();
                sim.input(Input::Error { conn });
                prop_assert_eq!(sim.m.status(), status, "error alone changes no status");
                prop_assert!(sim.trace[before..]
                    .iter()
                    .all(|(_, t)| !matches!(t, Trace::Cmd(_))));
            }
            Op::Closed(p, code, reconnect) => {
                let conn = conn_of(&sim, &c, &p);
                let info = close_info(code);
                sim.input(Input::Closed {
                    conn,
                    info,
                    reconnect,
                });
            }
            Op::OpenFailed(p) => {
                let conn = conn_of(&sim, &c, &p);
                sim.input(Input::OpenFailed {
                    conn,
                    error: "boom".into(),
                });
            }
            Op::Buffered(p, bytes) => {
                let conn = conn_of(&sim, &c, &p);
                sim.input(Input::BufferedAmount { conn, bytes });
            }
            Op::Advance(ms) => sim.advance(ms),
            Op::Step => {
                sim.step();
            }
            Op::Close(code, len) => {
                let status = sim.m.status();
                let reason = "r".repeat(len);
                let valid = validate_close(code, &reason).is_ok();
                let r = sim.close(code, &reason);
                prop_assert_eq!(r.is_ok(), valid);
                if !valid {
                    prop_assert_eq!(sim.trace.len(), before, "a refused close changes nothing");
                    prop_assert_eq!(sim.m.status(), status);
                } else if !c.released {
                    prop_assert_eq!(sim.m.status(), Status::Closed(ClosedReason::User));
                    prop_assert_eq!(sim.m.poll_timeout(), None);
                }
            }
            Op::Reconnect => {
                sim.reconnect();
                if !c.released {
                    prop_assert_eq!(sim.m.attempt(), 0);
                    prop_assert_eq!(sim.m.current_conn(), Some(sim.last_open()));
                }
            }
            Op::Online => sim.input(Input::Online),
            Op::Offline => sim.input(Input::Offline),
            Op::Visible => sim.input(Input::Visible),
            Op::Release => {
                sim.release();
                c.scan(&sim)?;
                c.released = true;
                prop_assert_eq!(sim.m.queued_messages(), 0);
                prop_assert_eq!(sim.m.poll_timeout(), None);
            }
        }
        c.scan(&sim)?;
        c.check_state(&sim)?;
    }
    sim.assert_paced(sim.m.options().outbox.high_water_mark as u64);
    Ok(())
}

proptest! {
    // No regression file: a failure prints its minimal input; add it as a unit test.
    #![proptest_config(ProptestConfig {
        cases: 600,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn invariants_hold_over_random_inputs(
        options in options(),
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..150),
        release_at in prop::option::weighted(0.2, 0usize..150),
    ) {
        run(options, seed, with_release(ops, release_at))?;
    }
}

/// A long random run on the defaults (jitter on, heartbeat on), to exercise deep backoff.
#[test]
fn long_random_run_on_defaults() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 20,
        failure_persistence: None,
        ..Config::default()
    });
    let mut o = Options {
        heartbeat: Some(HeartbeatOptions {
            interval_ms: 2_000,
            timeout_ms: 1_000,
            ..HeartbeatOptions::default()
        }),
        ..Options::default()
    };
    o.outbox.max_messages = 20;
    o.outbox.max_bytes = 300;
    o.outbox.high_water_mark = 50;
    runner
        .run(
            &(any::<u64>(), prop::collection::vec(op(), 500..1_000)),
            |(seed, ops)| run(o.clone(), seed, ops),
        )
        .unwrap();
}
