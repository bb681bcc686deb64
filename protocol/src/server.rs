//! The server side of the protocol as a sans-IO state machine: no sockets, no runtime. A
//! server feeds it the frames it decodes and sends the frames it returns.
//!
//! Two layers:
//! - [`SessionState`]: the state of one session and the pure operations on it. A server that
//!   keeps its sessions somewhere asynchronous (Redis, a database) loads the state, calls one
//!   operation, and stores the state back.
//! - [`Server`]: the same operations by session id, over a synchronous [`SessionStore`]
//!   (for instance [`MemoryStore`]).
//!
//! One session must be driven by one connection at a time: a server holds a lock (or its
//! store's transaction) around each operation, and around [`Server::receive`] plus the
//! [`Server::accept`] or [`Server::reject`] that follows it.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::wire::{Msg, ServerFrame};

/// A server message not yet acknowledged by the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffered {
    pub seq: u64,
    pub payload: Msg,
}

/// The state of one session: everything a server must keep (for instance in Redis) to resume
/// it on another connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The highest client seq accepted (applied or refused), 0 if none.
    pub last_in: u64,
    /// The last server seq assigned, 0 if none.
    pub out_seq: u64,
    /// The server messages the client has not acknowledged, in order: consecutive seqs
    /// ending at `out_seq`.
    pub replay: VecDeque<Buffered>,
}

/// The answer to a hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// Whether the session was resumed (false: a fresh session started).
    pub resumed: bool,
    /// The frames to send, in order: the welcome, then the replayed data frames.
    pub frames: Vec<ServerFrame>,
}

/// What to do with a client data frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Already accepted: do not apply it; send this acknowledgement again.
    Duplicate(ServerFrame),
    /// A seq beyond the next one: ignore it (the client resends from the gap).
    Gap,
    /// The next message: the application applies it and calls `accept`, or refuses it and
    /// calls `reject`.
    New(Pending),
}

/// A new client message awaiting the application's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "accept or reject the message"]
pub struct Pending {
    pub seq: u64,
}

impl SessionState {
    /// The first seq of the replay buffer, or `out_seq + 1` if it is empty.
    fn first_buffered(&self) -> u64 {
        self.replay.front().map_or(self.out_seq + 1, |b| b.seq)
    }

    /// Answers a hello (`inbound`: the last server seq the client delivered). `stored` is the
    /// state kept for the session id, if any. Returns the session's new state and the
    /// welcome:
    /// - a stored state that can serve `inbound` resumes: `resumed: true`, `out: last_in`,
    ///   and every buffered message after `inbound` is replayed. Those up to `inbound` stay
    ///   buffered until the client acknowledges them: a client that finds out that it must
    ///   start afresh (see `PROTOCOL.md`) says hello again with `in: 0`, and gets them;
    /// - otherwise (no state, messages after `inbound` already dropped, or `inbound` beyond
    ///   the last seq sent) a fresh session starts: `resumed: false`, `out: 0`.
    pub fn hello(stored: Option<SessionState>, inbound: u64) -> (SessionState, Welcome) {
        let resumable = stored
            .filter(|s| inbound <= s.out_seq && inbound.saturating_add(1) >= s.first_buffered());
        let resumed = resumable.is_some();
        let state = resumable.unwrap_or_default();
        let mut frames = vec![ServerFrame::Welcome {
            out: state.last_in,
            resumed,
        }];
        let replay = state.replay.iter().filter(|b| b.seq > inbound);
        frames.extend(replay.map(|b| ServerFrame::Data {
            seq: b.seq,
            payload: b.payload.clone(),
        }));
        (state, Welcome { resumed, frames })
    }

    /// Classifies a client data frame by its seq.
    pub fn receive(&self, seq: u64) -> Incoming {
        if seq <= self.last_in {
            Incoming::Duplicate(ServerFrame::Ack { upto: self.last_in })
        } else if seq == self.last_in + 1 {
            Incoming::New(Pending { seq })
        } else {
            Incoming::Gap
        }
    }

    /// Records that the application applied the message; returns the acknowledgement.
    pub fn accept(&mut self, pending: Pending) -> ServerFrame {
        self.last_in = self.last_in.max(pending.seq);
        ServerFrame::Ack { upto: self.last_in }
    }

    /// Records that the application refused the message (it counts as accepted, so the client
    /// does not resend it); returns the refusal.
    pub fn reject(&mut self, pending: Pending, reason: impl Into<String>) -> ServerFrame {
        self.last_in = self.last_in.max(pending.seq);
        ServerFrame::Nack {
            seq: pending.seq,
            error: reason.into(),
        }
    }

    /// The client acknowledged every server message up to `upto`: they need no replay.
    pub fn ack(&mut self, upto: u64) {
        while self.replay.front().is_some_and(|b| b.seq <= upto) {
            self.replay.pop_front();
        }
    }

    /// Numbers a server message and buffers it for replay until the client acknowledges it.
    /// Returns the data frame to send (if the session has an open connection). With
    /// `limit`, at most that many messages stay buffered: the oldest are dropped (a client
    /// that missed them then gets a fresh session on its next hello).
    pub fn send(&mut self, payload: Msg, limit: Option<usize>) -> ServerFrame {
        self.out_seq += 1;
        self.replay.push_back(Buffered {
            seq: self.out_seq,
            payload: payload.clone(),
        });
        if let Some(limit) = limit {
            while self.replay.len() > limit {
                self.replay.pop_front();
            }
        }
        ServerFrame::Data {
            seq: self.out_seq,
            payload,
        }
    }
}

/// Where a server keeps its session states, by session id.
pub trait SessionStore {
    fn get(&self, sid: &str) -> Option<SessionState>;
    fn put(&mut self, sid: &str, state: SessionState);
    fn remove(&mut self, sid: &str) -> Option<SessionState>;
}

/// Session states in a `HashMap` (lost when the process ends).
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    sessions: HashMap<String, SessionState>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The ids of the stored sessions, in no particular order.
    pub fn sids(&self) -> impl Iterator<Item = &str> {
        self.sessions.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Forgets every session.
    pub fn clear(&mut self) {
        self.sessions.clear();
    }
}

impl SessionStore for MemoryStore {
    fn get(&self, sid: &str) -> Option<SessionState> {
        self.sessions.get(sid).cloned()
    }

    fn put(&mut self, sid: &str, state: SessionState) {
        self.sessions.insert(sid.to_owned(), state);
    }

    fn remove(&mut self, sid: &str) -> Option<SessionState> {
        self.sessions.remove(sid)
    }
}

/// The protocol operations by session id, over a [`SessionStore`].
///
/// Every operation but [`Server::hello`] returns `None` when the store has no state for the
/// session id (no hello yet, or the state was forgotten): the connection should then close,
/// so that the client says hello again.
#[derive(Clone, Debug, Default)]
pub struct Server<S> {
    store: S,
    replay_limit: Option<usize>,
}

impl<S: SessionStore> Server<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            replay_limit: None,
        }
    }

    /// Keeps at most `limit` unacknowledged messages per session (see [`SessionState::send`]).
    pub fn with_replay_limit(mut self, limit: usize) -> Self {
        self.replay_limit = Some(limit);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Runs `op` on the stored state of `sid` and stores the result.
    fn update<T>(&mut self, sid: &str, op: impl FnOnce(&mut SessionState) -> T) -> Option<T> {
        let mut state = self.store.get(sid)?;
        let out = op(&mut state);
        self.store.put(sid, state);
        Some(out)
    }

    /// Answers a client's hello (see [`SessionState::hello`]).
    pub fn hello(&mut self, sid: &str, inbound: u64) -> Welcome {
        let (state, welcome) = SessionState::hello(self.store.get(sid), inbound);
        self.store.put(sid, state);
        welcome
    }

    /// Classifies a client data frame (see [`SessionState::receive`]).
    pub fn receive(&self, sid: &str, seq: u64) -> Option<Incoming> {
        self.store.get(sid).map(|s| s.receive(seq))
    }

    /// The application applied the message: returns the acknowledgement to send.
    pub fn accept(&mut self, sid: &str, pending: Pending) -> Option<ServerFrame> {
        self.update(sid, |s| s.accept(pending))
    }

    /// The application refused the message: returns the refusal to send.
    pub fn reject(&mut self, sid: &str, pending: Pending, reason: &str) -> Option<ServerFrame> {
        self.update(sid, |s| s.reject(pending, reason))
    }

    /// The client acknowledged server messages up to `upto`.
    pub fn ack(&mut self, sid: &str, upto: u64) -> Option<()> {
        self.update(sid, |s| s.ack(upto))
    }

    /// Numbers and buffers a server message; returns the data frame to send if the session
    /// has an open connection.
    pub fn send(&mut self, sid: &str, payload: Msg) -> Option<ServerFrame> {
        let limit = self.replay_limit;
        self.update(sid, |s| s.send(payload, limit))
    }

    /// Forgets a session (as a server restart that lost its state would).
    pub fn forget(&mut self, sid: &str) -> Option<SessionState> {
        self.store.remove(sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Msg {
        Msg::Text(s.to_owned())
    }

    fn welcome(out: u64, resumed: bool) -> ServerFrame {
        ServerFrame::Welcome { out, resumed }
    }

    fn data(seq: u64, s: &str) -> ServerFrame {
        ServerFrame::Data {
            seq,
            payload: text(s),
        }
    }

    /// A server whose session "s" was welcomed and has sent "m1".."m{sent}".
    fn server_with_sent(sent: u64) -> Server<MemoryStore> {
        let mut server = Server::new(MemoryStore::new());
        server.hello("s", 0);
        for i in 1..=sent {
            assert_eq!(
                server.send("s", text(&format!("m{i}"))),
                Some(data(i, &format!("m{i}")))
            );
        }
        server
    }

    #[test]
    fn an_unknown_session_starts_fresh() {
        let mut server = Server::new(MemoryStore::new());
        let w = server.hello("s", 0);
        assert_eq!(w.frames, vec![welcome(0, false)]);
        assert!(!w.resumed);
        assert_eq!(server.store().get("s"), Some(SessionState::default()));
        // A client that had delivered messages of a session the server does not know.
        let w = server.hello("t", 5);
        assert_eq!(w.frames, vec![welcome(0, false)]);
    }

    #[test]
    fn a_known_session_resumes_and_replays_what_follows_inbound() {
        let mut server = server_with_sent(3);
        let p = match server.receive("s", 1) {
            Some(Incoming::New(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(server.accept("s", p), Some(ServerFrame::Ack { upto: 1 }));
        let w = server.hello("s", 1);
        assert!(w.resumed);
        assert_eq!(
            w.frames,
            vec![welcome(1, true), data(2, "m2"), data(3, "m3")]
        );
        // Everything delivered: nothing to replay.
        let w = server.hello("s", 3);
        assert_eq!(w.frames, vec![welcome(1, true)]);
        // A hello does not trim the buffer: only acks do. A client that starts afresh
        // (in: 0) gets everything again.
        let state = server.store().get("s").unwrap();
        assert_eq!(state.replay.len(), 3);
        assert_eq!(
            server.hello("s", 0).frames,
            vec![
                welcome(1, true),
                data(1, "m1"),
                data(2, "m2"),
                data(3, "m3")
            ]
        );
        server.ack("s", 3);
        assert_eq!(server.hello("s", 3).frames, vec![welcome(1, true)]);
        assert!(server.store().get("s").unwrap().replay.is_empty());
    }

    #[test]
    fn a_session_that_cannot_replay_starts_fresh() {
        // The client acknowledged 2, then claims to have delivered only 1.
        let mut server = server_with_sent(3);
        server.ack("s", 2);
        assert_eq!(server.hello("s", 1).frames, vec![welcome(0, false)]);
        assert_eq!(server.store().get("s"), Some(SessionState::default()));
        // The client claims more than was sent.
        let mut server = server_with_sent(3);
        assert_eq!(server.hello("s", 4).frames, vec![welcome(0, false)]);
        // Inbound exactly at the first trimmed boundary is fine.
        let mut server = server_with_sent(3);
        server.ack("s", 2);
        assert_eq!(
            server.hello("s", 2).frames,
            vec![welcome(0, true), data(3, "m3")]
        );
    }

    #[test]
    fn client_data_is_new_duplicate_or_gap() {
        let mut state = SessionState::default();
        assert_eq!(state.receive(2), Incoming::Gap);
        let Incoming::New(p) = state.receive(1) else {
            panic!("seq 1 is new")
        };
        assert_eq!(state.accept(p), ServerFrame::Ack { upto: 1 });
        assert_eq!(
            state.receive(1),
            Incoming::Duplicate(ServerFrame::Ack { upto: 1 })
        );
        assert_eq!(state.receive(3), Incoming::Gap);
        let Incoming::New(p) = state.receive(2) else {
            panic!("seq 2 is new")
        };
        assert_eq!(
            state.reject(p, "no"),
            ServerFrame::Nack {
                seq: 2,
                error: "no".into()
            }
        );
        // A refused message counts as accepted: it is a duplicate now, and 3 is no gap.
        assert_eq!(
            state.receive(2),
            Incoming::Duplicate(ServerFrame::Ack { upto: 2 })
        );
        assert_eq!(state.receive(3), Incoming::New(Pending { seq: 3 }));
        assert_eq!(state.last_in, 2);
        // Accepting a message twice (two connections racing) does not move last_in back.
        state.last_in = 5;
        assert_eq!(state.accept(p), ServerFrame::Ack { upto: 5 });
    }

    #[test]
    fn acks_trim_the_replay_buffer() {
        let mut server = server_with_sent(4);
        server.ack("s", 2);
        let seqs = |server: &Server<MemoryStore>| -> Vec<u64> {
            let state = server.store().get("s").unwrap();
            state.replay.iter().map(|b| b.seq).collect()
        };
        assert_eq!(seqs(&server), [3, 4]);
        server.ack("s", 1); // an old ack changes nothing
        assert_eq!(seqs(&server), [3, 4]);
        server.ack("s", 99); // beyond what was sent: everything
        assert_eq!(seqs(&server), [] as [u64; 0]);
        assert_eq!(server.store().get("s").unwrap().out_seq, 4);
        assert_eq!(server.send("s", text("m5")), Some(data(5, "m5")));
        assert_eq!(seqs(&server), [5]);
    }

    #[test]
    fn the_replay_limit_drops_the_oldest_and_a_client_that_missed_them_starts_fresh() {
        let mut server = Server::new(MemoryStore::new()).with_replay_limit(2);
        server.hello("s", 0);
        for i in 1..=4 {
            server.send("s", text(&format!("m{i}")));
        }
        let state = server.store().get("s").unwrap();
        assert_eq!(
            state.replay.iter().map(|b| b.seq).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(
            server.hello("s", 2).frames,
            vec![welcome(0, true), data(3, "m3"), data(4, "m4")]
        );
        assert_eq!(server.hello("s", 1).frames, vec![welcome(0, false)]);
    }

    #[test]
    fn operations_on_an_unknown_session_answer_none() {
        let mut server = server_with_sent(1);
        assert_eq!(server.forget("s").map(|s| s.out_seq), Some(1));
        assert_eq!(server.receive("s", 1), None);
        assert_eq!(server.accept("s", Pending { seq: 1 }), None);
        assert_eq!(server.reject("s", Pending { seq: 1 }, "no"), None);
        assert_eq!(server.ack("s", 1), None);
        assert_eq!(server.send("s", text("x")), None);
        assert!(server.store().is_empty());
    }

    #[test]
    fn session_state_round_trips_through_json() {
        let mut state = SessionState::default();
        state.send(text("a \"b\""), None);
        state.send(Msg::Binary(vec![0, 1, 255]), None);
        state.last_in = 7;
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            r#"{"last_in":7,"out_seq":2,"replay":[{"seq":1,"payload":{"Text":"a \"b\""}},{"seq":2,"payload":{"Binary":[0,1,255]}}]}"#
        );
        assert_eq!(serde_json::from_str::<SessionState>(&json).unwrap(), state);
    }

    /// A client and a server over one unreliable connection at a time, both speaking through
    /// the wire encoding. The client side follows the protocol's client rules.
    mod model {
        use std::collections::VecDeque;

        use proptest::prelude::*;

        use super::super::*;
        use crate::wire::{
            decode_client, decode_server, encode_client, encode_server, ClientFrame,
        };

        const SID: &str = "sid";

        /// Client messages whose number is 4 mod 5 are refused by the server's application.
        fn refused(id: u32) -> bool {
            id % 5 == 4
        }

        #[derive(Clone, Debug)]
        enum Step {
            ClientSend,
            ServerSend,
            ToServer,
            ToClient,
            ClientAck,
            Drop,
            Connect,
            /// The server loses every session state (and its connections).
            Forget,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => Just(Step::ClientSend),
                3 => Just(Step::ServerSend),
                5 => Just(Step::ToServer),
                5 => Just(Step::ToClient),
                2 => Just(Step::ClientAck),
                1 => Just(Step::Drop),
                2 => Just(Step::Connect),
                1 => Just(Step::Forget),
            ]
        }

        #[derive(Default)]
        struct Sim {
            server: Server<MemoryStore>,
            // The connection, if any: the messages in flight each way.
            connected: bool,
            /// The server read the connection's hello (it sends data on it from then on).
            attached: bool,
            c2s: VecDeque<Msg>,
            s2c: VecDeque<Msg>,
            // The client.
            welcomed: bool,
            welcomed_before: bool,
            inbound: u64,
            last_seq: u64,
            /// The highest of its seqs the client saw the server accept.
            accepted: u64,
            outbox: Vec<(u64, u32)>,
            // What happened.
            client_sent: u32,
            server_sent: u32,
            delivered: Vec<u32>,
            applied: Vec<u32>,
            rejected: Vec<u32>,
            lossy: bool,
            resyncs: u32,
            out_of_order: bool,
        }

        fn payload_id(m: &Msg) -> u32 {
            match m {
                Msg::Text(t) => t.parse().expect("a number"),
                Msg::Binary(b) => u32::from_be_bytes(b[..].try_into().expect("4 bytes")),
            }
        }

        impl Sim {
            fn send_to_server(&mut self, f: ClientFrame) {
                self.c2s.push_back(encode_client(&f));
            }

            fn send_to_client(&mut self, f: ServerFrame) {
                self.s2c.push_back(encode_server(&f));
            }

            fn drop_connection(&mut self) {
                self.connected = false;
                self.attached = false;
                self.welcomed = false;
                self.c2s.clear();
                self.s2c.clear();
            }

            fn send_data(&mut self, seq: u64, id: u32) {
                // Odd messages go as binary, even ones as text.
                let payload = if id % 2 == 1 {
                    Msg::Binary(id.to_be_bytes().to_vec())
                } else {
                    Msg::Text(id.to_string())
                };
                self.send_to_server(ClientFrame::Data { seq, payload });
            }

            fn step(&mut self, step: &Step) {
                match step {
                    Step::ClientSend => {
                        let id = self.client_sent;
                        self.client_sent += 1;
                        self.last_seq += 1;
                        self.outbox.push((self.last_seq, id));
                        if self.welcomed {
                            self.send_data(self.last_seq, id);
                        }
                    }
                    Step::ServerSend => {
                        // Sent to the session, if the server knows it, whether or not it
                        // has a connection.
                        let id = self.server_sent;
                        if let Some(f) = self.server.send(SID, Msg::Text(id.to_string())) {
                            self.server_sent += 1;
                            if self.attached {
                                self.send_to_client(f);
                            }
                        }
                    }
                    Step::ToServer => {
                        if let Some(m) = self.c2s.pop_front() {
                            self.server_gets(&m);
                        }
                    }
                    Step::ToClient => {
                        if let Some(m) = self.s2c.pop_front() {
                            self.client_gets(&m);
                        }
                    }
                    Step::ClientAck => {
                        if self.welcomed {
                            self.send_to_server(ClientFrame::Ack { upto: self.inbound });
                        }
                    }
                    Step::Drop => self.drop_connection(),
                    Step::Connect => {
                        if !self.connected {
                            self.connected = true;
                            let hello = ClientFrame::Hello {
                                sid: SID.into(),
                                inbound: self.inbound,
                            };
                            self.send_to_server(hello);
                        }
                    }
                    Step::Forget => {
                        self.lossy |= self.server.forget(SID).is_some();
                        self.drop_connection();
                    }
                }
            }

            /// What the test server does with a message from the client.
            fn server_gets(&mut self, m: &Msg) {
                let frame = decode_client(m).expect("the client sends valid frames");
                match frame {
                    ClientFrame::Hello { sid, inbound } => {
                        self.attached = true;
                        for f in self.server.hello(&sid, inbound).frames {
                            self.send_to_client(f);
                        }
                    }
                    ClientFrame::Data { seq, payload } => {
                        let incoming = self.server.receive(SID, seq).expect("said hello");
                        match incoming {
                            Incoming::Duplicate(ack) => self.send_to_client(ack),
                            Incoming::Gap => {}
                            Incoming::New(p) => {
                                let id = payload_id(&payload);
                                let reply = if refused(id) {
                                    self.server.reject(SID, p, "refused")
                                } else {
                                    self.applied.push(id);
                                    self.server.accept(SID, p)
                                };
                                self.send_to_client(reply.expect("known session"));
                            }
                        }
                    }
                    ClientFrame::Ack { upto } => {
                        self.server.ack(SID, upto).expect("known session");
                    }
                }
            }

            /// The client's rules.
            fn client_gets(&mut self, m: &Msg) {
                let frame = decode_server(m).expect("the server sends valid frames");
                match frame {
                    ServerFrame::Welcome { out, resumed } => {
                        assert!(!self.welcomed, "one welcome per connection");
                        // A resumed session that forgot messages it accepted lost its state
                        // too (its resumed:false welcome was lost with its connection).
                        if (!resumed || out < self.accepted) && self.welcomed_before {
                            for (i, (seq, _)) in self.outbox.iter_mut().enumerate() {
                                *seq = i as u64 + 1;
                            }
                            self.last_seq = self.outbox.len() as u64;
                            self.inbound = 0;
                            self.accepted = 0;
                            self.resyncs += 1;
                        }
                        self.accepted = self.accepted.max(out);
                        self.welcomed = true;
                        self.welcomed_before = true;
                        self.outbox.retain(|(seq, _)| *seq > out);
                        for (seq, id) in self.outbox.clone() {
                            self.send_data(seq, id);
                        }
                    }
                    ServerFrame::Ack { upto } => {
                        self.accepted = self.accepted.max(upto);
                        self.outbox.retain(|(seq, _)| *seq > upto);
                    }
                    ServerFrame::Nack { seq, .. } => {
                        self.accepted = self.accepted.max(seq);
                        let i = self.outbox.iter().position(|(s, _)| *s == seq);
                        let (_, id) = self.outbox.remove(i.expect("nack of an unacked message"));
                        self.rejected.push(id);
                    }
                    ServerFrame::Data { seq, payload } => {
                        assert!(self.welcomed, "data after the welcome");
                        if seq != self.inbound + 1 {
                            // Not delivered: the client reconnects.
                            self.out_of_order = true;
                            self.drop_connection();
                            return;
                        }
                        self.inbound = seq;
                        self.delivered.push(payload_id(&payload));
                    }
                }
            }

            /// Reconnects if needed, then delivers everything until both sides are idle,
            /// and lets the client acknowledge; again if the client dropped the connection
            /// (at most 3 times: a client needs at most two reconnects to recover).
            fn settle(&mut self) {
                for _ in 0..3 {
                    self.step(&Step::Connect);
                    for _ in 0..2 {
                        while !self.c2s.is_empty() || !self.s2c.is_empty() {
                            self.step(&Step::ToServer);
                            self.step(&Step::ToClient);
                        }
                        self.step(&Step::ClientAck);
                    }
                    if self.connected {
                        return;
                    }
                }
                panic!("the client keeps reconnecting");
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn every_message_arrives_once_in_order_across_drops_and_resumes(
                steps in prop::collection::vec(step(), 0..120),
                limit in prop::option::weighted(0.3, 1usize..4),
            ) {
                let mut sim = Sim::default();
                if let Some(limit) = limit {
                    sim.server = Server::new(MemoryStore::new()).with_replay_limit(limit);
                }
                for s in &steps {
                    sim.step(s);
                }
                sim.settle();
                let lossy = sim.lossy || limit.is_some();
                if lossy {
                    // After a state loss, the session recovers: once settled, one more client
                    // message gets through, and the second server message at worst (a client
                    // that resynced on its own gets the next server message out of order,
                    // reconnects, and may find that message dropped by the replay limit).
                    let client_id = sim.client_sent;
                    sim.step(&Step::ClientSend);
                    sim.step(&Step::ServerSend);
                    sim.settle();
                    if !refused(client_id) {
                        prop_assert_eq!(sim.applied.last(), Some(&client_id));
                    }
                    let server_id = sim.server_sent;
                    sim.step(&Step::ServerSend);
                    sim.settle();
                    prop_assert_eq!(sim.delivered.last(), Some(&server_id));
                }

                // Nothing is left to resend or to replay, and both ends agree on the seqs.
                prop_assert!(sim.outbox.is_empty(), "outbox {:?}", sim.outbox);
                let state = sim.server.store().get(SID).expect("welcomed");
                prop_assert!(state.replay.is_empty(), "replay {:?}", state.replay);
                prop_assert_eq!(state.out_seq, sim.inbound);
                prop_assert_eq!(state.last_in, sim.last_seq);

                // Refused messages are never applied; each one refused at most once.
                prop_assert!(sim.rejected.iter().all(|id| refused(*id)));
                prop_assert!(!sim.applied.iter().any(|id| refused(*id)));
                // The server's messages arrive in order, never twice.
                prop_assert!(sim.delivered.windows(2).all(|w| w[0] < w[1]));

                let expected_applied: Vec<u32> =
                    (0..sim.client_sent).filter(|id| !refused(*id)).collect();
                if lossy {
                    // Every message applied, some maybe twice (after a resync); server
                    // messages buffered when the state was lost are lost.
                    for id in &expected_applied {
                        prop_assert!(sim.applied.contains(id), "{} never applied", id);
                    }
                } else {
                    // A server that never lost state applies every message exactly once, in
                    // order, and delivers every message it sent, without any resync.
                    prop_assert_eq!(&sim.applied, &expected_applied);
                    prop_assert_eq!(&sim.delivered, &(0..sim.server_sent).collect::<Vec<_>>());
                    prop_assert!(!sim.out_of_order);
                    prop_assert_eq!(sim.resyncs, 0);
                }
            }
        }
    }
}
