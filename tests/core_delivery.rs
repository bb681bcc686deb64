#![cfg(not(target_arch = "wasm32"))]
//! The delivery protocol (PROTOCOL.md) in the core, on a virtual clock: hello/welcome,
//! numbering, cumulative acks, resend after a drop, the ack timeout, nacks, de-duplication and
//! gaps of the server's stream, continuity loss, and the outbox bounds with unacknowledged
//! messages. Frames are read and written with the protocol crate's codec, as a server would.
mod core_support;

use core_support::*;
use resilient_ws::core::*;
use resilient_ws_protocol::wire::ServerFrame as SF;
use resilient_ws_protocol::wire::{decode_client, encode_server, ClientFrame as CF, Msg};

fn delivery(ack_timeout_ms: u64, ack_every_ms: u64) -> Options {
    let mut o = no_jitter();
    o.delivery = Some(DeliveryOptions {
        ack_timeout_ms,
        ack_every_ms,
        persist: false,
    });
    o
}

/// The client frames handed to socket `conn` since the last call.
fn frames(sim: &mut Sim) -> Vec<(ConnId, CF)> {
    sim.take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::Send { conn, payload } => Some((
                conn,
                decode_client(&payload.into()).expect("a protocol frame"),
            )),
            _ => None,
        })
        .collect()
}

/// The acknowledgement the client sends right after a welcome (nothing received yet).
const ACK0: CF = CF::Ack { upto: 0 };

fn data(seq: u64, s: &str) -> CF {
    CF::Data {
        seq,
        payload: Msg::Text(s.to_owned()),
    }
}

fn server(sim: &mut Sim, frame: SF) {
    let conn = sim.last_open();
    sim.input(Input::Message {
        conn,
        payload: encode_server(&frame).into(),
    });
}

fn welcome(sim: &mut Sim, out: u64, resumed: bool) {
    server(sim, SF::Welcome { out, resumed });
}

fn sid(sim: &Sim) -> String {
    sim.m.session_id().unwrap().to_owned()
}

/// After a lost socket: the retry starts, opens and is welcomed as resumed (the server has up
/// to `out`); the frames the client then hands to the new socket.
fn resume(sim: &mut Sim, out: u64) -> Vec<(ConnId, CF)> {
    sim.step();
    sim.open();
    sim.clear();
    welcome(sim, out, true);
    frames(sim)
}

/// Opens the latest attempt and answers its hello with a fresh welcome.
fn connect(sim: &mut Sim) {
    sim.open();
    welcome(sim, 0, false);
}

#[test]
fn the_first_frame_is_hello_and_connected_waits_for_the_welcome() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    sim.open();
    let sid = sid(&sim);
    assert_eq!(sid.len(), 32);
    assert_eq!(frames(&mut sim), vec![(1, CF::Hello { sid, inbound: 0 })]);
    assert_eq!(sim.m.status(), Status::Connecting);
    assert_eq!(sim.send_text("early"), Ok(SendOutcome::Queued));
    assert!(
        frames(&mut sim).is_empty(),
        "nothing goes out before the welcome"
    );
    assert!(!sim.take_events().contains(&Event::Opened));

    welcome(&mut sim, 0, false);
    assert_eq!(sim.m.status(), Status::Connected);
    assert_eq!(
        frames(&mut sim),
        vec![(1, ACK0), (1, data(1, "early"))],
        "an ack at once tells the server its welcome arrived, then the queued message"
    );
    let events = sim.take_events();
    assert!(events.contains(&Event::Opened));
    assert!(
        !events.contains(&Event::Resync),
        "the first welcome is fresh, not a resync"
    );
    assert_eq!(sim.m.resumed(), Some(false));
}

#[test]
fn no_welcome_within_the_connect_timeout_is_a_failed_attempt() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    sim.open();
    sim.advance(10_000);
    assert_eq!(sim.m.status(), Status::Reconnecting);
    let cmds = sim.take_commands();
    assert!(cmds.contains(&Command::Abandon { conn: 1 }));
    assert!(sim.take_events().contains(&Event::Closed(CloseInfo {
        code: 1006,
        reason: "connect timeout".into(),
        was_clean: false
    })));
}

#[test]
fn messages_are_numbered_and_leave_only_when_acknowledged() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    connect(&mut sim);
    sim.clear();
    for s in ["a", "b", "c"] {
        assert_eq!(sim.send_text(s), Ok(SendOutcome::Sent));
    }
    assert_eq!(
        frames(&mut sim),
        vec![(1, data(1, "a")), (1, data(2, "b")), (1, data(3, "c"))]
    );
    assert_eq!((sim.m.unacked_messages(), sim.m.queued_messages()), (3, 0));
    assert_eq!(sim.m.unacked_bytes(), 3);
    server(&mut sim, SF::Ack { upto: 2 });
    assert_eq!(
        sim.take_events(),
        vec![Event::Acked(text("a")), Event::Acked(text("b"))]
    );
    assert_eq!(sim.m.unacked_messages(), 1);
    server(&mut sim, SF::Ack { upto: 2 }); // a repeated ack changes nothing
    assert!(sim.take_events().is_empty());
}

#[test]
fn after_a_drop_the_welcome_forgets_what_the_server_has_and_the_rest_is_resent() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    connect(&mut sim);
    for s in ["a", "b", "c"] {
        sim.send_text(s).unwrap();
    }
    server(&mut sim, SF::Ack { upto: 1 });
    sim.server_close(1006);
    sim.send_text("d").unwrap(); // while reconnecting: waits, unnumbered
    sim.step();
    sim.open();
    sim.clear();
    // The server had applied b (2) but its ack was lost.
    let s = sid(&sim);
    welcome(&mut sim, 2, true);
    assert_eq!(sim.take_events()[..1], [Event::Acked(text("b"))]);
    assert_eq!(
        frames(&mut sim),
        vec![(2, ACK0), (2, data(3, "c")), (2, data(4, "d"))],
        "resent with the same numbers, then the new one"
    );
    // The hello of the second socket said what the app had (nothing) and the same session.
    let hello = sim.trace.iter().find_map(|(_, t)| match t {
        Trace::Cmd(Command::Send { conn: 2, payload }) => decode_client(&payload.clone().into()),
        _ => None,
    });
    assert_eq!(hello, Some(CF::Hello { sid: s, inbound: 0 }));
    assert_eq!(sim.m.resumed(), Some(true));
}

#[test]
fn an_unacknowledged_message_past_ack_timeout_drops_the_socket_and_resends_on_the_next() {
    let mut sim = Sim::new(delivery(3_000, 1_000));
    connect(&mut sim);
    sim.send_text("a").unwrap();
    sim.advance(1_000);
    sim.send_text("b").unwrap();
    sim.clear();
    sim.advance(2_000); // 3 s after "a" went out
    assert!(sim.take_commands().contains(&Command::Abandon { conn: 1 }));
    assert!(sim.take_events().contains(&Event::Closed(CloseInfo {
        code: 1006,
        reason: "ack timeout".into(),
        was_clean: false
    })));
    assert_eq!(sim.m.status(), Status::Reconnecting);
    assert_eq!(
        resume(&mut sim, 0),
        vec![(2, ACK0), (2, data(1, "a")), (2, data(2, "b"))]
    );
}

#[test]
fn the_ack_timeout_follows_the_oldest_message_in_flight() {
    let mut sim = Sim::new(delivery(3_000, 1_000));
    connect(&mut sim);
    sim.send_text("a").unwrap();
    sim.advance(2_000);
    sim.send_text("b").unwrap();
    server(&mut sim, SF::Ack { upto: 1 });
    sim.advance(2_900); // "b" has waited 2.9 s
    assert_eq!(sim.m.status(), Status::Connected);
    sim.advance(100);
    assert_eq!(sim.m.status(), Status::Reconnecting);
}

#[test]
fn a_nack_reports_the_message_rejected_and_it_is_never_resent() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    connect(&mut sim);
    for s in ["a", "b", "c"] {
        sim.send_text(s).unwrap();
    }
    sim.clear();
    server(
        &mut sim,
        SF::Nack {
            seq: 2,
            error: "too long".into(),
        },
    );
    assert_eq!(
        sim.take_events(),
        vec![Event::Rejected {
            payload: text("b"),
            error: "too long".into()
        }]
    );
    sim.server_close(1006);
    assert_eq!(
        resume(&mut sim, 0),
        vec![(2, ACK0), (2, data(1, "a")), (2, data(3, "c"))]
    );
}

#[test]
fn server_data_reaches_the_app_once_in_order_and_is_acknowledged_at_most_every_ack_every() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    connect(&mut sim);
    sim.clear();
    for (seq, s) in [(1, "x"), (2, "y"), (2, "y"), (1, "x"), (3, "z")] {
        server(
            &mut sim,
            SF::Data {
                seq,
                payload: Msg::Text(s.into()),
            },
        );
    }
    let got: Vec<Event> = sim.take_events();
    assert_eq!(
        got,
        vec![
            Event::Message(text("x")),
            Event::Message(text("y")),
            Event::Message(text("z"))
        ]
    );
    assert!(frames(&mut sim).is_empty(), "no ack before ackEveryMs");
    sim.advance(1_000);
    assert_eq!(frames(&mut sim), vec![(1, CF::Ack { upto: 3 })]);
    sim.advance(5_000);
    assert!(frames(&mut sim).is_empty(), "nothing new, no ack");
    // Non-protocol frames pass through.
    sim.message("hello there");
    assert_eq!(sim.take_events(), vec![Event::Message(text("hello there"))]);
}

#[test]
fn a_gap_in_the_server_stream_is_not_delivered_and_the_client_resumes() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    connect(&mut sim);
    server(
        &mut sim,
        SF::Data {
            seq: 1,
            payload: Msg::Text("x".into()),
        },
    );
    sim.clear();
    server(
        &mut sim,
        SF::Data {
            seq: 3,
            payload: Msg::Text("z".into()),
        },
    );
    assert!(!sim
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Message(_))));
    assert!(sim.take_commands().contains(&Command::Abandon { conn: 1 }));
    sim.step();
    sim.open();
    let s = sid(&sim);
    assert_eq!(
        frames(&mut sim),
        vec![(2, CF::Hello { sid: s, inbound: 1 })]
    );
}

#[test]
fn a_server_that_lost_the_session_gets_everything_renumbered_and_the_app_a_resync() {
    let mut sim = Sim::new(delivery(10_000, 1_000));
    connect(&mut sim);
    for s in ["a", "b", "c"] {
        sim.send_text(s).unwrap();
    }
    server(&mut sim, SF::Ack { upto: 1 });
    server(
        &mut sim,
        SF::Data {
            seq: 1,
            payload: Msg::Text("x".into()),
        },
    );
    sim.server_close(1006);
    sim.step();
    sim.open();
    sim.clear();
    welcome(&mut sim, 0, false);
    assert!(sim.take_events().contains(&Event::Resync));
    assert_eq!(
        frames(&mut sim),
        vec![(2, ACK0), (2, data(1, "b")), (2, data(2, "c"))]
    );
    assert_eq!(sim.m.resumed(), Some(false));
    assert_eq!(sim.m.inbound_seq(), 0);
    // The new stream starts at 1 again.
    server(
        &mut sim,
        SF::Data {
            seq: 1,
            payload: Msg::Text("fresh".into()),
        },
    );
    assert!(sim.take_events().contains(&Event::Message(text("fresh"))));
    // A later reconnect that resumes says so again.
    sim.server_close(1006);
    sim.step();
    sim.open();
    welcome(&mut sim, 2, true);
    assert_eq!(sim.m.resumed(), Some(true));
}

#[test]
fn unacknowledged_messages_count_against_the_outbox_and_are_never_evicted() {
    let mut o = delivery(10_000, 1_000);
    o.outbox.max_messages = 3;
    o.outbox.overflow = Overflow::DropOldest;
    let mut sim = Sim::new(o);
    connect(&mut sim);
    sim.send_text("a").unwrap();
    sim.send_text("b").unwrap();
    sim.server_close(1006);
    sim.send_text("c").unwrap(); // waits
    sim.clear();
    assert_eq!(sim.send_text("d"), Ok(SendOutcome::Queued));
    assert_eq!(
        sim.take_events(),
        vec![Event::Dropped {
            payload: text("c"),
            reason: DropReason::Overflow
        }],
        "only the unsent message can be evicted"
    );
    sim.m.release(sim.now);
    sim.pump();
    let dropped: Vec<Event> = sim
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::Dropped { .. }))
        .collect();
    assert_eq!(dropped.len(), 3, "a, b and d are released: {dropped:?}");

    let mut o = delivery(10_000, 1_000);
    o.outbox.max_messages = 2;
    let mut sim = Sim::new(o);
    connect(&mut sim);
    sim.send_text("a").unwrap();
    sim.send_text("b").unwrap();
    let full = sim.send_text("c").unwrap_err();
    assert_eq!(full.queued_messages, 2);
}

/// `persist` on: the same options with the machine logging what a store must follow.
fn persisted(ack_timeout_ms: u64, ack_every_ms: u64) -> Options {
    let mut o = delivery(ack_timeout_ms, ack_every_ms);
    o.delivery.as_mut().unwrap().persist = true;
    o
}

fn changes(sim: &mut Sim) -> Vec<PersistChange> {
    std::iter::from_fn(|| sim.m.poll_persist()).collect()
}

#[test]
fn with_persist_a_message_is_numbered_when_sent_and_every_change_is_logged() {
    let mut sim = Sim::new(persisted(10_000, 1_000));
    assert_eq!(sim.send_text("early"), Ok(SendOutcome::Queued));
    assert_eq!(changes(&mut sim), vec![PersistChange::Numbered(1)]);
    assert_eq!(sim.m.unacked_message(1), Some(&text("early")));
    assert_eq!((sim.m.queued_messages(), sim.m.unacked_messages()), (0, 1));
    connect(&mut sim);
    assert!(frames(&mut sim).contains(&(1, data(1, "early"))));
    sim.send_text("b").unwrap();
    sim.send_text("c").unwrap();
    server(
        &mut sim,
        SF::Nack {
            seq: 3,
            error: "no".into(),
        },
    );
    server(&mut sim, SF::Ack { upto: 2 });
    assert_eq!(
        changes(&mut sim),
        vec![
            PersistChange::Numbered(2),
            PersistChange::Numbered(3),
            PersistChange::Removed(3),
            PersistChange::Acked(2),
        ]
    );
    assert_eq!(sim.m.next_seq(), 4);
    // Continuity lost: everything renumbered, the store rewritten.
    sim.send_text("d").unwrap();
    sim.server_close(1006);
    sim.advance(1_000);
    sim.open();
    welcome(&mut sim, 0, false);
    assert_eq!(changes(&mut sim), vec![PersistChange::Reset]);
    assert_eq!(sim.m.unacked_seqs(), vec![(1, &text("d"))]);

    let mut o = persisted(10_000, 1_000);
    o.outbox.max_messages = 1;
    o.outbox.overflow = Overflow::DropOldest;
    let mut sim = Sim::new(o);
    sim.send_text("a").unwrap();
    assert_eq!(sim.send_text("b"), Ok(SendOutcome::Dropped));
    assert_eq!(
        sim.take_events(),
        vec![Event::Dropped {
            payload: text("b"),
            reason: DropReason::Full
        }],
        "nothing numbered is evicted: the new message is dropped"
    );
}

#[test]
fn a_restored_session_resumes_with_its_id_and_numbers_and_what_was_sent_meanwhile_follows() {
    let mut sim = Sim::new(persisted(10_000, 1_000));
    sim.send_text("meanwhile").unwrap();
    changes(&mut sim);
    let now = sim.now;
    sim.m.restore(
        now,
        Restored {
            sid: Some("stored".into()),
            inbound: 7,
            next_seq: 12,
            welcomed: true,
            unacked: vec![(10, text("x")), (11, text("y"))],
        },
    );
    assert_eq!(changes(&mut sim), vec![PersistChange::Numbered(12)]);
    sim.open();
    assert_eq!(
        frames(&mut sim),
        vec![(
            1,
            CF::Hello {
                sid: "stored".into(),
                inbound: 7
            }
        )]
    );
    welcome(&mut sim, 10, true);
    assert_eq!(
        frames(&mut sim),
        vec![
            (1, CF::Ack { upto: 7 }),
            (1, data(11, "y")),
            (1, data(12, "meanwhile"))
        ],
        "the server had 10: the rest follows, in order"
    );
    assert_eq!(sim.take_events().first(), Some(&Event::Acked(text("x"))));

    // No stored id (a first start, or expired entries): a fresh session numbered from 1.
    let mut sim = Sim::new(persisted(10_000, 1_000));
    sim.send_text("new").unwrap();
    let now = sim.now;
    sim.m.restore(
        now,
        Restored {
            sid: None,
            inbound: 3,
            next_seq: 9,
            welcomed: true,
            unacked: vec![(8, text("kept"))],
        },
    );
    assert_eq!(changes(&mut sim), vec![PersistChange::Reset]);
    assert_eq!(
        sim.m.unacked_seqs(),
        vec![(1, &text("kept")), (2, &text("new"))]
    );
    assert_eq!((sim.m.inbound_seq(), sim.m.welcomed()), (0, false));
}

#[test]
fn delivery_options_are_validated() {
    let mut o = delivery(0, 1_000);
    assert_eq!(o.validate().unwrap_err().field, "delivery.ackTimeoutMs");
    o = delivery(1, 0);
    assert_eq!(o.validate().unwrap_err().field, "delivery.ackEveryMs");
}

// ---- property: a simulated server that drops, blackholes and restarts at any point ----

mod property {
    use std::collections::{HashMap, VecDeque};

    use proptest::prelude::*;
    use resilient_ws_protocol::server::{Incoming, MemoryStore, Server, SessionStore};
    use resilient_ws_protocol::wire::ServerFrame as SF;
    use resilient_ws_protocol::wire::{decode_client, encode_server, ClientFrame as CF, Msg};

    use super::core_support::*;
    use super::delivery;
    use resilient_ws::core::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// The app sends a message; `true`: one the server refuses.
        Send(bool),
        /// The server accepts the pending attempt.
        Accept,
        /// The server reads one frame (and acknowledges at once, or not).
        ServerReads(bool),
        /// One frame reaches the client.
        ClientReads,
        /// The server's app sends a message to the session.
        ServerSends,
        /// The current socket dies abruptly (frames in flight are lost).
        Drop,
        /// The next applied message drops the socket before its ack goes out.
        DropAfterApply,
        /// Nothing gets through the socket, and no close either (frames wait, as TCP
        /// retransmits them), or the blackhole ends.
        Blackhole(bool),
        /// The server restarts: keeping its session state, or losing it.
        Restart(bool),
        Advance(u64),
        /// A sloppy server sends its last data frame again: the app must not get it twice.
        Repeat,
        /// `persist`: the page reloads. Its socket dies and a new machine starts from what
        /// was stored.
        Reload,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            20 => base_op(),
            1 => Just(Op::Reload),
        ]
    }

    fn base_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(|b| Op::Send(b % 7 == 0)),
            3 => Just(Op::Accept),
            6 => any::<bool>().prop_map(Op::ServerReads),
            6 => Just(Op::ClientReads),
            2 => Just(Op::ServerSends),
            1 => Just(Op::Drop),
            1 => Just(Op::DropAfterApply),
            1 => any::<bool>().prop_map(Op::Blackhole),
            1 => any::<bool>().prop_map(Op::Restart),
            3 => (1u64..3_000).prop_map(Op::Advance),
            1 => Just(Op::Repeat),
        ]
    }

    /// `persist`: what the driver would have written, following the machine's changes.
    #[derive(Default)]
    struct Store {
        sid: String,
        inbound: u64,
        next_seq: u64,
        welcomed: bool,
        messages: std::collections::BTreeMap<u64, Payload>,
    }

    struct World {
        sim: Sim,
        /// None: `persist` off.
        store: Option<Store>,
        reloads: u64,
        /// The protocol crate's sans-IO server: the client core against the real server rules.
        server: Server<MemoryStore>,
        /// The server's side of the current socket, and the session its hello named.
        srv: Option<(ConnId, Option<String>)>,
        to_server: VecDeque<Msg>,
        to_client: VecDeque<Msg>,
        /// The last data frame the server sent on this socket since its welcome (for `Op::Repeat`).
        last_data: Option<SF>,
        blackhole: bool,
        drop_after_apply: bool,
        /// Whether the server ever lost its state.
        lost_state: bool,
        sent: Vec<String>,
        applied: Vec<String>,
        server_sent: Vec<String>,
        outcomes: HashMap<String, &'static str>,
        /// What the app received, split where onResync fired.
        received: Vec<Vec<String>>,
    }

    fn text_of(p: &Payload) -> String {
        match p {
            Payload::Text(s) => s.clone(),
            Payload::Binary(_) => panic!("binary"),
        }
    }

    impl World {
        fn options(persist: bool) -> Options {
            let mut o = delivery(2_000, 300);
            let r = o.reconnect.as_mut().unwrap();
            r.initial_delay_ms = 50.0;
            r.max_delay_ms = 400.0;
            o.connect_timeout_ms = 1_500;
            o.delivery.as_mut().unwrap().persist = persist;
            o
        }

        fn new(persist: bool) -> World {
            World {
                sim: Sim::new(World::options(persist)),
                store: persist.then(Store::default),
                reloads: 0,
                server: Server::new(MemoryStore::new()),
                srv: None,
                to_server: VecDeque::new(),
                to_client: VecDeque::new(),
                last_data: None,
                blackhole: false,
                drop_after_apply: false,
                lost_state: false,
                sent: Vec::new(),
                applied: Vec::new(),
                server_sent: Vec::new(),
                outcomes: HashMap::new(),
                received: vec![Vec::new()],
            }
        }

        /// Carries the client's commands to the server side, and records its events.
        fn settle(&mut self) {
            for c in self.sim.take_commands() {
                match c {
                    Command::Send { conn, payload } if self.srv_conn() == Some(conn) => {
                        self.to_server.push_back(payload.into());
                    }
                    Command::Abandon { conn } | Command::Close { conn, .. }
                        if self.srv_conn() == Some(conn) =>
                    {
                        self.server_lost_socket();
                    }
                    _ => {}
                }
            }
            for e in self.sim.take_events() {
                match e {
                    Event::Acked(p) => self.outcome(text_of(&p), "acked"),
                    Event::Rejected { payload, .. } => self.outcome(text_of(&payload), "rejected"),
                    Event::Dropped { payload, .. } => self.outcome(text_of(&payload), "dropped"),
                    Event::Message(p) => self.received.last_mut().unwrap().push(text_of(&p)),
                    Event::Resync => self.received.push(Vec::new()),
                    _ => {}
                }
            }
            self.write_store();
        }

        /// The driver's part: write the machine's changes to the store, in order.
        fn write_store(&mut self) {
            let Some(store) = self.store.as_mut() else {
                return;
            };
            let m = &mut self.sim.m;
            while let Some(change) = m.poll_persist() {
                match change {
                    PersistChange::Numbered(seq) => {
                        let msg = m.unacked_message(seq).expect("a numbered message").clone();
                        store.messages.insert(seq, msg);
                    }
                    PersistChange::Acked(upto) => store.messages.retain(|&s, _| s > upto),
                    PersistChange::Removed(seq) => {
                        store.messages.remove(&seq);
                    }
                    PersistChange::Reset => {
                        store.messages = m
                            .unacked_seqs()
                            .into_iter()
                            .map(|(s, p)| (s, p.clone()))
                            .collect();
                    }
                }
            }
            store.sid = m.session_id().unwrap().to_owned();
            store.inbound = m.inbound_seq();
            store.next_seq = m.next_seq();
            store.welcomed = m.welcomed();
        }

        /// The page reloads: the socket dies with it, a new machine starts from the store.
        fn reload(&mut self) {
            let Some(store) = self.store.as_ref() else {
                return;
            };
            let restored = Restored {
                sid: Some(store.sid.clone()),
                inbound: store.inbound,
                next_seq: store.next_seq,
                welcomed: store.welcomed,
                unacked: store
                    .messages
                    .iter()
                    .map(|(s, p)| (*s, p.clone()))
                    .collect(),
            };
            self.server_lost_socket();
            self.reloads += 1;
            let now = self.sim.now;
            self.sim.m = Machine::new(World::options(true), 100 + self.reloads, now);
            self.sim.m.restore(now, restored);
            self.sim.take_commands();
            self.sim.take_events();
            self.sim.pump();
        }

        fn outcome(&mut self, msg: String, what: &'static str) {
            if let Some(before) = self.outcomes.insert(msg.clone(), what) {
                panic!("{msg}: two outcomes, {before} then {what}");
            }
        }

        fn srv_conn(&self) -> Option<ConnId> {
            self.srv.as_ref().map(|(c, _)| *c)
        }

        fn server_lost_socket(&mut self) {
            self.srv = None;
            self.last_data = None;
            self.to_server.clear();
            self.to_client.clear();
        }

        /// The socket dies: the client hears a 1006 close.
        fn kill_socket(&mut self) {
            if let Some(conn) = self.sim.m.current_conn() {
                self.server_lost_socket();
                self.sim.input(Input::Closed {
                    conn,
                    info: close_info(1006),
                    reconnect: true,
                });
            }
        }

        fn reply(&mut self, frame: SF) {
            if matches!(frame, SF::Data { .. }) {
                self.last_data = Some(frame.clone());
            }
            self.to_client.push_back(encode_server(&frame));
        }

        fn server_reads(&mut self, ack_now: bool) {
            if self.blackhole {
                return;
            }
            let Some(msg) = self.to_server.pop_front() else {
                return;
            };
            let Some(frame) = decode_client(&msg) else {
                return;
            };
            let Some((_, sid)) = self.srv.as_mut() else {
                return;
            };
            match frame {
                CF::Hello { sid: s, inbound } => {
                    *sid = Some(s.clone());
                    self.last_data = None; // a repeat is of this stream only
                    for frame in self.server.hello(&s, inbound).frames {
                        self.reply(frame);
                    }
                }
                CF::Data { seq, payload } => {
                    let Some(s) = sid.clone() else { return };
                    let Msg::Text(p) = payload else {
                        panic!("binary")
                    };
                    match self.server.receive(&s, seq) {
                        Some(Incoming::Duplicate(frame)) => self.reply(frame),
                        Some(Incoming::New(pending)) if p.ends_with('!') => {
                            let nack = self.server.reject(&s, pending, "refused").unwrap();
                            self.reply(nack);
                        }
                        Some(Incoming::New(pending)) => {
                            let ack = self.server.accept(&s, pending).unwrap();
                            self.applied.push(p);
                            if std::mem::take(&mut self.drop_after_apply) {
                                self.kill_socket();
                            } else if ack_now {
                                self.reply(ack);
                            }
                        }
                        Some(Incoming::Gap) | None => {} // the client resends from the gap
                    }
                }
                CF::Ack { upto } => {
                    let Some(s) = sid.clone() else { return };
                    self.server.ack(&s, upto);
                }
            }
        }

        fn server_sends(&mut self) {
            let Some(sid) = self.sim.m.session_id().map(str::to_owned) else {
                return;
            };
            let p = format!("s{}", self.server_sent.len());
            let Some(frame) = self.server.send(&sid, Msg::Text(p.clone())) else {
                return; // no session yet: nothing to send to
            };
            self.server_sent.push(p);
            if self
                .srv
                .as_ref()
                .is_some_and(|(_, s)| s.as_deref() == Some(sid.as_str()))
            {
                self.reply(frame);
            }
        }

        fn apply(&mut self, op: &Op) {
            match *op {
                Op::Send(refused) => {
                    let p = format!("c{}{}", self.sent.len(), if refused { "!" } else { "" });
                    self.sent.push(p.clone());
                    self.sim
                        .send(Payload::Text(p))
                        .expect("the outbox is large");
                }
                Op::Accept => {
                    if let Some(conn) = self.sim.m.current_conn() {
                        if self.srv.is_none() && self.sim.m.status() != Status::Connected {
                            self.srv = Some((conn, None));
                            self.sim.input(Input::Opened { conn });
                        }
                    }
                }
                Op::ServerReads(ack) => self.server_reads(ack),
                Op::ClientReads if self.blackhole => {}
                Op::ClientReads => {
                    if let (Some(msg), Some(conn)) = (self.to_client.pop_front(), self.srv_conn()) {
                        self.sim.input(Input::Message {
                            conn,
                            payload: msg.into(),
                        });
                    }
                }
                Op::ServerSends => self.server_sends(),
                Op::Drop => self.kill_socket(),
                Op::DropAfterApply => self.drop_after_apply = true,
                // Frames wait (TCP retransmits) until it ends or the socket is dropped.
                Op::Blackhole(on) => self.blackhole = on,
                Op::Restart(keep) => {
                    self.kill_socket();
                    if !keep {
                        self.server.store_mut().clear();
                        self.lost_state = true;
                    }
                }
                Op::Advance(ms) => self.sim.advance(ms),
                Op::Reload => self.reload(),
                Op::Repeat => {
                    if let (Some(frame), Some(_)) = (self.last_data.clone(), &self.srv) {
                        self.reply(frame);
                    }
                }
            }
            self.settle();
        }

        /// The network heals; run until everything is settled.
        fn heal(&mut self) {
            self.blackhole = false;
            self.drop_after_apply = false;
            for _ in 0..2_000 {
                self.apply(&Op::Accept);
                while !self.to_server.is_empty() || !self.to_client.is_empty() {
                    self.apply(&Op::ServerReads(true));
                    self.apply(&Op::ClientReads);
                }
                let done = self.sim.m.status() == Status::Connected
                    && self.sim.m.unacked_messages() == 0
                    && self.sim.m.queued_messages() == 0
                    && self.outcomes.len() == self.sent.len()
                    && self.sim.m.inbound_seq()
                        == self
                            .sim
                            .m
                            .session_id()
                            .and_then(|s| self.server.store().get(s))
                            .map_or(0, |s| s.out_seq);
                if done {
                    return;
                }
                self.apply(&Op::Advance(100));
            }
            panic!(
                "did not settle: status {:?}, unacked {}, queued {}",
                self.sim.m.status(),
                self.sim.m.unacked_messages(),
                self.sim.m.queued_messages()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn every_message_is_applied_once_in_order_or_reported(ops in prop::collection::vec(base_op(), 1..120)) {
            check(World::new(false), &ops)?;
        }

        /// `persist`: the same guarantees across page reloads at any point, from a store that
        /// follows the machine's changes.
        #[test]
        fn a_persisted_session_survives_reloads(ops in prop::collection::vec(op(), 1..120)) {
            check(World::new(true), &ops)?;
        }
    }

    fn check(mut w: World, ops: &[Op]) -> Result<(), TestCaseError> {
        {
            w.settle();
            for op in ops {
                w.apply(op);
            }
            w.heal();

            // Every message the app sent has exactly one outcome, and is acked unless refused.
            for m in &w.sent {
                let want = if m.ends_with('!') {
                    "rejected"
                } else {
                    "acked"
                };
                prop_assert_eq!(w.outcomes.get(m).copied(), Some(want), "{}", m);
            }
            let accepted: Vec<String> = w
                .sent
                .iter()
                .filter(|m| !m.ends_with('!'))
                .cloned()
                .collect();
            if w.lost_state {
                // A server that lost its state may apply again what it had applied
                // (PROTOCOL.md), but every message is applied.
                for m in &accepted {
                    prop_assert!(w.applied.contains(m), "{} never applied", m);
                }
            } else {
                prop_assert_eq!(&w.applied, &accepted, "exactly once, in order");
            }
            // The app never gets a server message twice, nor out of order; without an
            // onResync (and a server that kept its state) it gets every one. (onResync can also fire without a state loss, when
            // a socket dies within a round trip of a session's first welcome, before the
            // server heard from the client: the server cannot know that its welcome arrived.)
            let all: Vec<&String> = w.received.iter().flatten().collect();
            let index = |m: &String| w.server_sent.iter().position(|s| s == m).unwrap();
            for pair in all.windows(2) {
                prop_assert!(index(pair[0]) < index(pair[1]), "{:?} out of order", pair);
            }
            if w.received.len() == 1 && !w.lost_state {
                prop_assert_eq!(&w.received[0], &w.server_sent);
            }
        }
        Ok(())
    }
}
