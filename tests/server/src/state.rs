//! Shared server state: scopes with their counters, recorded messages and faults, and the
//! registry of open connections (each one a task that takes [`Cmd`]s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use resilient_ws_protocol::server::{Incoming, MemoryStore, Server};
use resilient_ws_protocol::wire::{encode_server, Msg};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// Recording stops (counting goes on) once a scope holds this many bytes of messages.
const MAX_RECORDED_BYTES: usize = 64 << 20;

/// The reason of the refusal of a delivery message whose text starts with `nack`.
pub const NACK_REASON: &str = "refused by test server";

/// What a connection task does with the messages it reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// Do not read from the socket at all.
    pub paused: bool,
    /// Read and record, but answer nothing.
    pub muted: bool,
}

/// A command for one connection task.
pub enum Cmd {
    /// New effective mode; the task acknowledges once it is applied.
    Mode(Mode, oneshot::Sender<()>),
    /// Push a message to the client.
    Send(Message),
    /// Close with a close frame, then finish the closing handshake.
    Close(CloseFrame),
}

/// How a new connection attempt is admitted.
pub enum Admission {
    Accept,
    Refuse,
    /// Hold the handshake until then.
    Stall(Instant),
}

/// A message received from a client.
#[derive(Clone)]
pub enum Recorded {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Recorded {
    fn len(&self) -> usize {
        match self {
            Recorded::Text(t) => t.len(),
            Recorded::Binary(b) => b.len(),
        }
    }
}

/// A WebSocket message as the protocol crate sees it.
pub fn to_msg(m: &Message) -> Option<Msg> {
    match m {
        Message::Text(t) => Some(Msg::Text(t.as_str().to_owned())),
        Message::Binary(b) => Some(Msg::Binary(b.to_vec())),
        _ => None,
    }
}

pub fn to_message(m: Msg) -> Message {
    match m {
        Msg::Text(t) => Message::text(t),
        Msg::Binary(b) => Message::binary(b),
    }
}

#[derive(Clone, Copy, Default)]
struct Faults {
    paused: bool,
    muted: bool,
    refuse_until: Option<Instant>,
    stall_until: Option<Instant>,
}

/// A fault a control endpoint sets or clears.
#[derive(Clone, Copy)]
pub enum Fault {
    Pause(bool),
    Mute(bool),
    /// Refuse new connections for this long (zero clears).
    Refuse(Duration),
    /// Hold new handshakes for this long (zero clears).
    Stall(Duration),
}

/// Counters of one scope, or summed over all of them.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub attempts: u64,
    pub refused: u64,
    pub opened: u64,
    pub open: u64,
    pub received: u64,
}

#[derive(Default)]
struct ScopeData {
    faults: Faults,
    attempts: u64,
    refused: u64,
    opened: u64,
    received: u64,
    /// (global sequence number, message), in arrival order.
    log: Vec<(u64, Recorded)>,
    log_bytes: usize,
    truncated: bool,
}

/// Delivery-protocol counters of one scope, or summed over all of them.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// Session states kept.
    pub sessions: u64,
    /// New client messages applied (and recorded).
    pub applied: u64,
    /// Client data frames already accepted (acknowledged again, not applied).
    pub duplicates: u64,
    /// Client data frames beyond the next seq (ignored).
    pub gaps: u64,
    /// New client messages refused.
    pub nacked: u64,
    /// Hellos answered.
    pub welcomes: u64,
    /// Hellos answered with `resumed: true`.
    pub resumed: u64,
}

/// The delivery protocol's state of one scope.
#[derive(Default)]
struct Delivery {
    server: Server<MemoryStore>,
    stats: DeliveryStats,
    /// Drop the connection after applying this many more messages.
    drop_after_apply: u64,
}

/// What a delivery connection does after a client data frame.
#[derive(Default)]
pub struct AfterData {
    /// The frame to answer with (an ack or a nack), if any.
    pub reply: Option<Message>,
    /// Reset the connection now, without answering.
    pub drop: bool,
}

struct Conn {
    scope: String,
    /// Speaks the delivery protocol.
    delivery: bool,
    /// The session the connection said hello to (delivery connections).
    sid: Option<String>,
    tx: mpsc::UnboundedSender<Cmd>,
    kill: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct State {
    global: Faults,
    scopes: HashMap<String, ScopeData>,
    conns: HashMap<u64, Conn>,
    next_id: u64,
    next_seq: u64,
    deliveries: HashMap<String, Delivery>,
    /// `/delivery/drop-after-apply` without a scope: counts down on any scope's applies.
    drop_after_apply: u64,
}

impl State {
    fn scope(&mut self, scope: &str) -> &mut ScopeData {
        if !self.scopes.contains_key(scope) {
            self.scopes.insert(scope.to_owned(), ScopeData::default());
        }
        self.scopes.get_mut(scope).expect("just inserted")
    }

    fn delivery(&mut self, scope: &str) -> &mut Delivery {
        self.deliveries.entry(scope.to_owned()).or_default()
    }

    /// The deliveries of `scope` (all of them for `None`).
    fn deliveries_in<'a>(
        &'a mut self,
        scope: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a String, &'a mut Delivery)> {
        self.deliveries
            .iter_mut()
            .filter(move |(s, _)| scope.is_none_or(|want| *s == want))
    }

    /// Records a message received on a connection of `scope`.
    fn record(&mut self, scope: &str, msg: Recorded) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let data = self.scope(scope);
        data.received += 1;
        if data.log_bytes + msg.len() > MAX_RECORDED_BYTES {
            data.truncated = true;
        } else if !data.truncated {
            data.log_bytes += msg.len();
            data.log.push((seq, msg));
        }
    }

    /// Numbers `payload` as the next server message of session `sid` and queues it on the
    /// session's open connections. Returns how many.
    fn delivery_send(&mut self, scope: &str, sid: &str, payload: Msg) -> usize {
        let Some(frame) = self.delivery(scope).server.send(sid, payload) else {
            return 0;
        };
        let msg = to_message(encode_server(&frame));
        let mut n = 0;
        for conn in self.conns.values() {
            if conn.scope == scope && conn.sid.as_deref() == Some(sid) {
                let _ = conn.tx.send(Cmd::Send(msg.clone()));
                n += 1;
            }
        }
        n
    }

    fn mode_of(&self, scope: &str) -> Mode {
        let local = self.scopes.get(scope).map(|s| s.faults).unwrap_or_default();
        Mode {
            paused: self.global.paused || local.paused,
            muted: self.global.muted || local.muted,
        }
    }

    /// Ids of the open connections in `scope` (all of them for `None`).
    fn ids_in(&self, scope: Option<&str>) -> Vec<u64> {
        self.ids_where(|c| scope.is_none_or(|s| c.scope == s))
    }

    fn ids_where(&self, pred: impl Fn(&Conn) -> bool) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// What a new connection task needs.
pub struct Registration {
    pub id: u64,
    pub mode: Mode,
    pub rx: mpsc::UnboundedReceiver<Cmd>,
    pub kill: oneshot::Receiver<()>,
}

/// The state shared by the WebSocket and control servers.
#[derive(Default)]
pub struct Shared {
    state: Mutex<State>,
    /// Woken on every change of counters or connections (for `/wait` and for endpoints that
    /// wait until connections are gone).
    changed: Notify,
}

fn active(until: Option<Instant>, now: Instant) -> Option<Instant> {
    until.filter(|u| *u > now)
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data for a test server.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection attempt to `scope` and decides how to treat it.
    pub fn attempt(&self, scope: &str) -> Admission {
        let now = Instant::now();
        let mut st = self.lock();
        let global = st.global;
        let data = st.scope(scope);
        data.attempts += 1;
        let refuse = active(global.refuse_until, now).or(active(data.faults.refuse_until, now));
        let stall = [global.stall_until, data.faults.stall_until]
            .into_iter()
            .filter_map(|u| active(u, now))
            .max();
        let admission = if refuse.is_some() {
            data.refused += 1;
            Admission::Refuse
        } else if let Some(until) = stall {
            Admission::Stall(until)
        } else {
            Admission::Accept
        };
        drop(st);
        self.changed.notify_waiters();
        admission
    }

    /// Registers an open connection of `scope` (`delivery`: it speaks the delivery protocol).
    pub fn register(&self, scope: &str, delivery: bool) -> Registration {
        let (tx, rx) = mpsc::unbounded_channel();
        let (kill_tx, kill) = oneshot::channel();
        let mut st = self.lock();
        st.next_id += 1;
        let id = st.next_id;
        st.scope(scope).opened += 1;
        let mode = st.mode_of(scope);
        st.conns.insert(
            id,
            Conn {
                scope: scope.to_owned(),
                delivery,
                sid: None,
                tx,
                kill: Some(kill_tx),
            },
        );
        drop(st);
        self.changed.notify_waiters();
        Registration { id, mode, rx, kill }
    }

    pub fn unregister(&self, id: u64) {
        self.lock().conns.remove(&id);
        self.changed.notify_waiters();
    }

    /// Records a message received on a connection of `scope`.
    pub fn record(&self, scope: &str, msg: Recorded) {
        self.lock().record(scope, msg);
        self.changed.notify_waiters();
    }

    /// Answers the hello of delivery connection `id`, which now belongs to session `sid`.
    /// Returns the welcome and the replayed data frames.
    pub fn delivery_hello(&self, id: u64, scope: &str, sid: &str, inbound: u64) -> Vec<Message> {
        let mut st = self.lock();
        if let Some(conn) = st.conns.get_mut(&id) {
            conn.sid = Some(sid.to_owned());
        }
        let d = st.delivery(scope);
        let welcome = d.server.hello(sid, inbound);
        d.stats.welcomes += 1;
        d.stats.resumed += u64::from(welcome.resumed);
        drop(st);
        self.changed.notify_waiters();
        let frames = welcome.frames.iter().map(encode_server);
        frames.map(to_message).collect()
    }

    /// Handles a client data frame of session `sid`: a duplicate is acknowledged again, a
    /// gap ignored; a new message starting with `nack` is refused, any other one applied:
    /// recorded, acknowledged, and echoed to the session as server data.
    pub fn delivery_data(&self, scope: &str, sid: &str, seq: u64, payload: Msg) -> AfterData {
        let mut st = self.lock();
        let global_drops = st.drop_after_apply;
        let d = st.delivery(scope);
        let reply = |frame| AfterData {
            reply: Some(to_message(encode_server(&frame))),
            drop: false,
        };
        let after = match d.server.receive(sid, seq) {
            None => AfterData::default(), // forgotten: the connection is being dropped
            Some(Incoming::Duplicate(ack)) => {
                d.stats.duplicates += 1;
                reply(ack)
            }
            Some(Incoming::Gap) => {
                d.stats.gaps += 1;
                AfterData::default()
            }
            Some(Incoming::New(p)) if matches!(&payload, Msg::Text(t) if t.starts_with("nack")) => {
                d.stats.nacked += 1;
                reply(d.server.reject(sid, p, NACK_REASON).expect("known session"))
            }
            Some(Incoming::New(p)) => {
                d.stats.applied += 1;
                let ack = d.server.accept(sid, p).expect("known session");
                let drop = if d.drop_after_apply > 0 {
                    d.drop_after_apply -= 1;
                    true
                } else if global_drops > 0 {
                    st.drop_after_apply -= 1;
                    true
                } else {
                    false
                };
                let recorded = match &payload {
                    Msg::Text(t) => Recorded::Text(t.as_str().into()),
                    Msg::Binary(b) => Recorded::Binary(b.clone().into()),
                };
                st.record(scope, recorded);
                st.delivery_send(scope, sid, payload);
                if drop {
                    AfterData {
                        reply: None,
                        drop: true,
                    }
                } else {
                    reply(ack)
                }
            }
        };
        drop(st);
        self.changed.notify_waiters();
        after
    }

    /// The client of session `sid` acknowledged server data up to `upto`.
    pub fn delivery_ack(&self, scope: &str, sid: &str, upto: u64) {
        self.lock().delivery(scope).server.ack(sid, upto);
    }

    /// Sends `payload` as server data to every session of `scope` (of every scope for
    /// `None`). Returns (sessions, open connections it was written to).
    pub fn delivery_send_all(&self, scope: Option<&str>, payload: &Msg) -> (usize, usize) {
        let mut st = self.lock();
        let targets: Vec<(String, String)> = st
            .deliveries_in(scope)
            .flat_map(|(s, d)| {
                let sids = d.server.store().sids();
                sids.map(|sid| (s.clone(), sid.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let conns = targets
            .iter()
            .map(|(s, sid)| st.delivery_send(s, sid, payload.clone()))
            .sum();
        (targets.len(), conns)
    }

    /// Forgets every session state of `scope` (of every scope for `None`), then drops the
    /// scope's connections (every delivery connection for `None`). Returns (sessions
    /// forgotten, connections dropped).
    pub async fn delivery_forget(&self, scope: Option<&str>) -> (usize, usize) {
        let forgotten = {
            let mut st = self.lock();
            st.deliveries_in(scope)
                .map(|(_, d)| {
                    let n = d.server.store().len();
                    d.server.store_mut().clear();
                    n
                })
                .sum()
        };
        let dropped = self
            .kill_where(|c| c.delivery && scope.is_none_or(|s| c.scope == s))
            .await;
        (forgotten, dropped)
    }

    /// Drops a connection right after each of the next `n` applied messages of `scope` (of
    /// any scope for `None`).
    pub fn drop_after_apply(&self, scope: Option<&str>, n: u64) {
        let mut st = self.lock();
        match scope {
            Some(s) => st.delivery(s).drop_after_apply = n,
            None => st.drop_after_apply = n,
        }
    }

    pub fn delivery_stats(&self, scope: Option<&str>) -> DeliveryStats {
        let mut st = self.lock();
        let mut out = DeliveryStats::default();
        for (_, d) in st.deliveries_in(scope) {
            let s = &d.stats;
            out.sessions += d.server.store().len() as u64;
            out.applied += s.applied;
            out.duplicates += s.duplicates;
            out.gaps += s.gaps;
            out.nacked += s.nacked;
            out.welcomes += s.welcomes;
            out.resumed += s.resumed;
        }
        out
    }

    /// Sets or clears a fault. With a scope, only that scope's fault changes. Without one,
    /// setting applies globally (every scope, present and future); clearing clears the global
    /// fault and the fault of every scope. Returns once every affected connection task has
    /// applied its new mode (or after a second, if one is stuck writing).
    pub async fn set_fault(&self, scope: Option<&str>, fault: Fault) -> usize {
        let now = Instant::now();
        let until = |d: Duration| (!d.is_zero()).then(|| now + d);
        let apply = |f: &mut Faults| match fault {
            Fault::Pause(on) => f.paused = on,
            Fault::Mute(on) => f.muted = on,
            Fault::Refuse(d) => f.refuse_until = until(d),
            Fault::Stall(d) => f.stall_until = until(d),
        };
        let clearing = match fault {
            Fault::Pause(on) | Fault::Mute(on) => !on,
            Fault::Refuse(d) | Fault::Stall(d) => d.is_zero(),
        };
        let acks = {
            let mut st = self.lock();
            match scope {
                Some(s) => apply(&mut st.scope(s).faults),
                None => {
                    apply(&mut st.global);
                    if clearing {
                        st.scopes.values_mut().for_each(|d| apply(&mut d.faults));
                    }
                }
            }
            self.push_modes(&st, scope)
        };
        let n = acks.len();
        Self::await_acks(acks).await;
        n
    }

    /// Sends every connection in `scope` its current effective mode.
    fn push_modes(&self, st: &State, scope: Option<&str>) -> Vec<oneshot::Receiver<()>> {
        let mut acks = Vec::new();
        for id in st.ids_in(scope) {
            let conn = &st.conns[&id];
            let (tx, rx) = oneshot::channel();
            if conn.tx.send(Cmd::Mode(st.mode_of(&conn.scope), tx)).is_ok() {
                acks.push(rx);
            }
        }
        acks
    }

    async fn await_acks(acks: Vec<oneshot::Receiver<()>>) {
        let all = futures_util::future::join_all(acks);
        let _ = tokio::time::timeout(Duration::from_secs(1), all).await;
    }

    /// Clears faults, counters and recorded messages of `scope` (of everything for `None`),
    /// delivery counters and `drop-after-apply` included. Open connections stay open, and
    /// delivery sessions are kept.
    pub async fn reset(&self, scope: Option<&str>) {
        let acks = {
            let mut st = self.lock();
            if scope.is_none() {
                st.drop_after_apply = 0;
            }
            for (_, d) in st.deliveries_in(scope) {
                d.stats = DeliveryStats::default();
                d.drop_after_apply = 0;
            }
            match scope {
                Some(s) => {
                    st.scopes.remove(s);
                }
                None => {
                    st.global = Faults::default();
                    st.scopes.clear();
                }
            }
            self.push_modes(&st, scope)
        };
        self.changed.notify_waiters();
        Self::await_acks(acks).await;
    }

    /// Drops every open connection of `scope` without a close frame (the sockets are reset).
    /// Returns how many, once they are gone.
    pub async fn drop_conns(&self, scope: Option<&str>) -> usize {
        self.kill_where(|c| scope.is_none_or(|s| c.scope == s))
            .await
    }

    async fn kill_where(&self, pred: impl Fn(&Conn) -> bool) -> usize {
        let ids = {
            let mut st = self.lock();
            let ids = st.ids_where(pred);
            for id in &ids {
                if let Some(kill) = st.conns.get_mut(id).and_then(|c| c.kill.take()) {
                    let _ = kill.send(());
                }
            }
            ids
        };
        self.wait_gone(&ids, Duration::from_secs(2)).await;
        ids.len()
    }

    /// Closes every open connection of `scope` with `frame`. Returns how many, once their
    /// closing handshakes are over (or after a few seconds).
    pub async fn close_conns(&self, scope: Option<&str>, frame: CloseFrame) -> usize {
        let ids = {
            let st = self.lock();
            let ids = st.ids_in(scope);
            for id in &ids {
                let _ = st.conns[id].tx.send(Cmd::Close(frame.clone()));
            }
            ids
        };
        self.wait_gone(&ids, Duration::from_secs(4)).await;
        ids.len()
    }

    /// Queues `msgs`, in order, on every open connection of `scope`. Returns how many
    /// connections got them.
    pub fn send(&self, scope: Option<&str>, msgs: impl Iterator<Item = Message> + Clone) -> usize {
        let st = self.lock();
        let ids = st.ids_in(scope);
        for id in &ids {
            let tx = &st.conns[id].tx;
            for m in msgs.clone() {
                let _ = tx.send(Cmd::Send(m));
            }
        }
        ids.len()
    }

    pub fn stats(&self, scope: Option<&str>) -> Stats {
        let st = self.lock();
        let mut out = Stats {
            open: st
                .conns
                .values()
                .filter(|c| scope.is_none_or(|s| c.scope == s))
                .count() as u64,
            ..Stats::default()
        };
        let datas: Vec<&ScopeData> = match scope {
            Some(s) => st.scopes.get(s).into_iter().collect(),
            None => st.scopes.values().collect(),
        };
        for d in datas {
            out.attempts += d.attempts;
            out.refused += d.refused;
            out.opened += d.opened;
            out.received += d.received;
        }
        out
    }

    /// The recorded messages of `scope` (of all scopes, merged in arrival order, for `None`),
    /// and whether recording stopped because of the size limit.
    pub fn received(&self, scope: Option<&str>) -> (Vec<Recorded>, bool) {
        let st = self.lock();
        let datas: Vec<&ScopeData> = match scope {
            Some(s) => st.scopes.get(s).into_iter().collect(),
            None => st.scopes.values().collect(),
        };
        let truncated = datas.iter().any(|d| d.truncated);
        let mut all: Vec<&(u64, Recorded)> = datas.iter().flat_map(|d| d.log.iter()).collect();
        all.sort_unstable_by_key(|(seq, _)| *seq);
        (all.into_iter().map(|(_, m)| m.clone()).collect(), truncated)
    }

    /// Waits until `done(stats of scope)` holds or `timeout` passes; returns the last stats
    /// and whether the condition held.
    pub async fn wait_for(
        &self,
        scope: Option<&str>,
        timeout: Duration,
        done: impl Fn(&Stats) -> bool,
    ) -> (Stats, bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stats = self.stats(scope);
            if done(&stats) {
                return (stats, true);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let stats = self.stats(scope);
                let ok = done(&stats);
                return (stats, ok);
            }
        }
    }

    /// Waits until none of `ids` is registered any more (or `timeout` passes).
    async fn wait_gone(&self, ids: &[u64], timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !ids.iter().any(|id| self.lock().conns.contains_key(id)) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}
