//! One chat connection: `/ws?token=…&room=…`, after the upgrade.
//!
//! By default the connection speaks resilient-ws's delivery protocol (`PROTOCOL.md`): the
//! client's first frame is its hello, every chat payload below travels in a numbered data frame,
//! the server acknowledges each message it stored and refuses (nacks) each one a limit stops, and
//! a client that reconnects (to this instance or another) resumes its session: the server
//! replays what the client missed, then the room's messages posted meanwhile. With `&mode=plain`
//! the payloads are bare text frames and a refusal is an `error` payload (the load client).
//!
//! The chat's messages (the "app payloads"), all JSON text:
//! - client → server: `{"type":"chat","text":"…"}` with an optional `"id"` (the sender's id
//!   for the message, at most 64 characters); the heartbeat's `ping` is answered with `pong`.
//! - server → client: `{"type":"connected","room","instance","user","killable"}` on every
//!   connection, then
//!   `{"type":"history","room","instance","user","messages":[…]}` (the room's last 50 messages;
//!   in delivery mode only for a fresh session, a resumed one gets what it missed), then `{"type":"chat","seq","id","user","text","at","instance"}`
//!   for every message of the room (to everyone, the sender included) and
//!   `{"type":"presence","user","joined","online"}`. A refused message gets
//!   `{"type":"error","message":"…"}`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::time::{interval_at, timeout, Duration, MissedTickBehavior};

use resilient_ws_protocol::server::{Incoming, SessionState};
use resilient_ws_protocol::wire::{decode_client, encode_server, ClientFrame, Msg, ServerFrame};

use crate::hub::{Chat, Event, NewChat, Outgoing, SessionWrite, HISTORY_LEN, ROOM_LOG_LEN};
use crate::{now_ms, AppState, MAX_TEXT_CHARS, RATE_WINDOW};

/// The longest message id a client may give.
pub const MAX_ID_CHARS: usize = 64;
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Server messages a session keeps for replay until the client acknowledges them.
const REPLAY_LIMIT: usize = 1000;
/// At most this many room events go out in one write (and, in delivery mode, one save of the
/// session): a connection that is behind takes what has piled up at once.
const BATCH: usize = 256;

pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_INTERNAL: u16 = 1011;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_TRY_AGAIN: u16 = 1013;
/// A newer connection of the same delivery session took it over (PROTOCOL.md).
pub const CLOSE_TAKEN_OVER: u16 = 4000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatIn {
    #[serde(rename = "type")]
    kind: String,
    text: String,
    id: Option<String>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Payload<'a> {
    /// First on every connection (after the welcome and the replay): where the client is.
    Connected {
        room: &'a str,
        instance: &'a str,
        user: &'a str,
        /// `POST /api/kill` is on (cluster mode).
        killable: bool,
    },
    History {
        room: &'a str,
        instance: &'a str,
        user: &'a str,
        messages: &'a [Chat],
    },
    Error {
        message: &'a str,
    },
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("payloads serialize")
}

/// How the connection talks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The delivery protocol (the default).
    Delivery,
    /// Bare payloads (`&mode=plain`).
    Plain,
}

/// A delivery session as the hub keeps it: the protocol's state, and where this session is in
/// its room (to catch up on the room's messages after a resume).
#[derive(Serialize, Deserialize)]
struct Saved {
    proto: SessionState,
    room: String,
    /// The room sequence of the last room message put in the session's stream.
    cursor: u64,
}

struct Session {
    sid: String,
    state: SessionState,
    /// This connection's claim on the session; a newer connection's is higher.
    epoch: u64,
}

/// Why the connection ended.
enum End {
    /// The client closed, or the connection broke.
    Gone,
    /// Silent for two ping intervals.
    Silent,
    /// A frame above the limit: 1009.
    TooBig,
    /// It fell behind even the room's log: 1013.
    TooSlow,
    /// SIGTERM/SIGINT: 1001.
    Shutdown,
    /// Not the protocol: 1002.
    Protocol(&'static str),
    /// The hub failed (Redis): 1011, the client resumes elsewhere.
    Internal,
    /// A newer connection of the session took it over: 4000.
    TakenOver,
}

struct Conn {
    app: Arc<AppState>,
    user: String,
    room: String,
    key: String,
    /// The room sequence of the last message sent to this client.
    cursor: u64,
    /// When this connection's last accepted messages came in (rate limit).
    recent: VecDeque<Instant>,
    next_local_id: u64,
    /// The delivery session (None: plain mode).
    session: Option<Session>,
}

pub async fn run(
    mut socket: WebSocket,
    app: Arc<AppState>,
    user: String,
    room: String,
    mode: Mode,
) {
    let key = app.conn_key();
    let mut conn = Conn {
        app: app.clone(),
        user,
        room,
        key,
        cursor: 0,
        recent: VecDeque::new(),
        next_local_id: 0,
        session: None,
    };
    let mut events = app.hub.fanout.subscribe(&conn.room);
    let started = match mode {
        Mode::Plain => conn.start_plain(&mut socket).await,
        Mode::Delivery => conn.start_delivery(&mut socket).await,
    };
    let end = match started {
        Ok(()) => conn.serve(&mut socket, &mut events).await,
        Err(end) => end,
    };
    drop(events);
    if let Err(e) = app.hub.leave(&conn.room, &conn.key, &conn.user).await {
        app.log(&format!("presence: {e}"));
    }
    let close = match end {
        End::Gone | End::Silent => None,
        End::TooBig => Some((CLOSE_TOO_BIG, "frame too big (16 KiB at most)")),
        End::TooSlow => Some((CLOSE_TRY_AGAIN, "too far behind the room")),
        End::Shutdown => Some((CLOSE_GOING_AWAY, "server shutting down")),
        End::Protocol(reason) => Some((CLOSE_PROTOCOL, reason)),
        End::Internal => Some((CLOSE_INTERNAL, "storage unavailable")),
        End::TakenOver => Some((CLOSE_TAKEN_OVER, "a newer connection took the session over")),
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = timeout(CLOSE_WAIT, async {
            if socket.send(Message::Close(Some(frame))).await.is_ok() {
                // Wait for the client's close frame, so that it sees a clean close.
                while let Some(Ok(_)) = socket.recv().await {}
            }
        })
        .await;
    }
}

impl Conn {
    /// Plain mode: sends the history, joins the room's presence.
    async fn start_plain(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        self.send_connected(socket).await?;
        self.send_history(socket).await?;
        self.join().await
    }

    async fn join(&mut self) -> Result<(), End> {
        let joined = self.app.hub.join(&self.room, &self.key, &self.user).await;
        joined.map_err(|e| self.failed(&e))
    }

    fn failed(&self, e: &str) -> End {
        self.app.log(&format!("connection {}: {e}", self.key));
        End::Internal
    }

    async fn send_connected(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        let connected = Payload::Connected {
            room: &self.room,
            instance: &self.app.config.instance,
            user: &self.user,
            killable: self.app.config.enable_kill,
        };
        self.send_app(socket, to_json(&connected)).await
    }

    /// The room's last 50 messages; the cursor moves to the last one.
    async fn send_history(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        let history = self.app.hub.history(&self.room, 0, HISTORY_LEN).await;
        let messages = history.map_err(|e| self.failed(&e))?;
        self.cursor = messages.last().map_or(0, |c| c.seq);
        let history = Payload::History {
            room: &self.room,
            instance: &self.app.config.instance,
            user: &self.user,
            messages: &messages,
        };
        self.send_app(socket, to_json(&history)).await
    }

    /// Delivery mode: waits for the hello, answers it (replaying what the client missed), then
    /// sends the history (a fresh session) or the room's messages since the session's cursor.
    async fn start_delivery(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        let hello = timeout(self.app.config.ping_interval * 2, socket.recv()).await;
        let (sid, inbound) = match hello {
            Ok(Some(Ok(Message::Text(text)))) => {
                match decode_client(&Msg::Text(text.as_str().into())) {
                    Some(ClientFrame::Hello { sid, inbound }) => (sid, inbound),
                    _ => return Err(End::Protocol("expected a hello first")),
                }
            }
            Ok(Some(Ok(_))) => return Err(End::Protocol("expected a hello first")),
            Ok(Some(Err(e))) => {
                return Err(if is_too_big(e) {
                    End::TooBig
                } else {
                    End::Gone
                })
            }
            Ok(None) => return Err(End::Gone),
            Err(_) => return Err(End::Silent),
        };
        if sid.is_empty() || sid.len() > 128 {
            return Err(End::Protocol("session id must be 1-128 bytes"));
        }
        // This connection takes the session over from any older one still open (fencing).
        let claim = self.app.hub.claim_session(&sid).await;
        let (epoch, blob) = claim.map_err(|e| self.failed(&e))?;
        let saved: Option<Saved> = blob.and_then(|blob| serde_json::from_str(&blob).ok());
        let (stored, place) = match saved {
            Some(s) => (Some(s.proto), Some((s.room, s.cursor))),
            None => (None, None),
        };
        let (state, welcome) = SessionState::hello(stored, inbound);
        for frame in &welcome.frames {
            send_frame(socket, frame).await?;
        }
        self.session = Some(Session { sid, state, epoch });
        self.send_connected(socket).await?;
        match place {
            Some((room, cursor)) if welcome.resumed && room == self.room => {
                // The room's messages this session missed while it had no connection.
                self.cursor = cursor;
                let missed = self.app.hub.history(&self.room, cursor, ROOM_LOG_LEN).await;
                let missed = missed.map_err(|e| self.failed(&e))?;
                if let Some(gone) = self.gap(&missed) {
                    // Not silent: the log no longer reaches back to the session's cursor.
                    self.app.log(&format!(
                        "session {sid}: resumed {gone} messages behind the room's log; they \
                         are not replayed",
                        sid = self.session.as_ref().map_or("", |s| s.sid.as_str())
                    ));
                }
                let mut batch = Vec::with_capacity(missed.len());
                for chat in missed {
                    self.cursor = chat.seq;
                    batch.push(to_json(&Event::Chat(chat)).into());
                }
                self.send_batch(socket, batch).await?;
            }
            _ => self.send_history(socket).await?,
        }
        self.save().await?;
        self.join().await
    }

    /// The session's state as the hub keeps it.
    fn saved(&self, state: &SessionState) -> String {
        to_json(&Saved {
            proto: state.clone(),
            room: self.room.clone(),
            cursor: self.cursor,
        })
    }

    async fn save(&self) -> Result<(), End> {
        let Some(session) = &self.session else {
            return Ok(());
        };
        let write = SessionWrite {
            sid: &session.sid,
            epoch: session.epoch,
            blob: self.saved(&session.state),
        };
        match self.app.hub.save_session(write).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.taken_over()),
            Err(e) => Err(self.failed(&e)),
        }
    }

    fn taken_over(&self) -> End {
        self.app.log(&format!(
            "connection {}: a newer connection took its session over: closed (4000)",
            self.key
        ));
        End::TakenOver
    }

    /// Sends an app payload: bare (plain mode) or as the session's next data frame.
    async fn send_app(&mut self, socket: &mut WebSocket, payload: String) -> Result<(), End> {
        self.send_batch(socket, vec![payload.into()]).await
    }

    /// Sends app payloads in one write: bare (plain mode) or as the session's next data
    /// frames, saved (once) before any of them goes out.
    async fn send_batch(
        &mut self,
        socket: &mut WebSocket,
        payloads: Vec<Utf8Bytes>,
    ) -> Result<(), End> {
        if payloads.is_empty() {
            return Ok(());
        }
        match &mut self.session {
            None => {
                for payload in payloads {
                    socket
                        .feed(Message::Text(payload))
                        .await
                        .map_err(|_| End::Gone)?;
                }
            }
            Some(session) => {
                let frames: Vec<ServerFrame> = payloads
                    .iter()
                    .map(|p| {
                        let payload = Msg::Text(p.as_str().to_owned());
                        session.state.send(payload, Some(REPLAY_LIMIT))
                    })
                    .collect();
                self.save().await?;
                for frame in &frames {
                    socket
                        .feed(to_message(frame))
                        .await
                        .map_err(|_| End::Gone)?;
                }
            }
        }
        socket.flush().await.map_err(|_| End::Gone)
    }

    /// Adds a room event to `batch`, unless it was sent already (with the history or a
    /// catch-up).
    fn take(&mut self, event: &Outgoing, batch: &mut Vec<Utf8Bytes>) {
        if let Some(seq) = event.seq {
            if seq <= self.cursor {
                return;
            }
            self.cursor = seq;
        }
        batch.push(event.json.clone());
    }

    /// The connection fell `missed` events behind the room's queue: the messages it missed
    /// come from the room's log instead (presence it missed is not replayed: the next presence
    /// event carries the current count). Behind even the log: 1013, logged.
    async fn catch_up(&mut self, missed: u64, batch: &mut Vec<Utf8Bytes>) -> Result<(), End> {
        let log = self
            .app
            .hub
            .history(&self.room, self.cursor, ROOM_LOG_LEN)
            .await;
        let chats = log.map_err(|e| self.failed(&e))?;
        if let Some(gone) = self.gap(&chats) {
            self.app.log(&format!(
                "connection {}: {missed} events behind the room's queue and {gone} messages \
                 behind its log: closed (1013)",
                self.key
            ));
            return Err(End::TooSlow);
        }
        self.app.note_catch_up();
        for chat in chats {
            self.cursor = chat.seq;
            batch.push(to_json(&Event::Chat(chat)).into());
        }
        Ok(())
    }

    /// How many messages after the cursor the room's log no longer has (None: none).
    fn gap(&self, chats: &[Chat]) -> Option<u64> {
        let first = chats.first()?.seq;
        (first > self.cursor + 1).then(|| first - self.cursor - 1)
    }

    async fn serve(&mut self, socket: &mut WebSocket, events: &mut Receiver<Arc<Outgoing>>) -> End {
        let every = self.app.config.ping_interval;
        let mut pings = interval_at(tokio::time::Instant::now() + every, every);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut shutdown = self.app.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return End::Shutdown;
        }
        let shutdown = async move {
            let _ = shutdown.wait_for(|&down| down).await.map(|_| ());
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                incoming = socket.recv() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            if text.as_str() == "ping" {
                                if socket.send(Message::text("pong")).await.is_err() {
                                    return End::Gone;
                                }
                            } else if let Err(end) = self.on_message(socket, Msg::Text(text.as_str().into())).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Binary(bytes))) => {
                            if let Err(end) = self.on_message(socket, Msg::Binary(bytes.to_vec())).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return End::Gone,
                        Some(Err(e)) => return if is_too_big(e) { End::TooBig } else { End::Gone },
                    }
                }
                event = events.recv() => {
                    // This event and whatever else has piled up, in one write.
                    let mut batch = Vec::new();
                    let mut next = event;
                    loop {
                        match next {
                            Ok(event) => self.take(&event, &mut batch),
                            Err(RecvError::Lagged(missed)) => {
                                if let Err(end) = self.catch_up(missed, &mut batch).await {
                                    return end;
                                }
                            }
                            Err(RecvError::Closed) => return End::Gone,
                        }
                        if batch.len() >= BATCH {
                            break;
                        }
                        next = match events.try_recv() {
                            Ok(event) => Ok(event),
                            Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                            Err(TryRecvError::Closed) => Err(RecvError::Closed),
                            Err(TryRecvError::Empty) => break,
                        };
                    }
                    if let Err(end) = self.send_batch(socket, batch).await {
                        return end;
                    }
                }
                _ = pings.tick() => {
                    if last_heard.elapsed() >= every * 2 {
                        self.app.log(&format!("connection {}: silent for {:?}, dropped", self.key, last_heard.elapsed()));
                        return End::Silent;
                    }
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Gone;
                    }
                }
                _ = &mut shutdown => return End::Shutdown,
            }
        }
    }

    /// Checks a chat message against the limits; returns it ready to post, or the refusal.
    fn check(&mut self, text: &str) -> Result<NewChat, String> {
        let chat: ChatIn = serde_json::from_str(text)
            .map_err(|e| format!("expected {{\"type\":\"chat\",\"text\":\"…\"}} (JSON): {e}"))?;
        if chat.kind != "chat" {
            return Err(format!(
                "unknown message type {:?} (expected \"chat\")",
                chat.kind
            ));
        }
        if chat.text.trim().is_empty() {
            return Err("empty message".into());
        }
        let chars = chat.text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(format!(
                "message too long: {chars} characters, at most {MAX_TEXT_CHARS}"
            ));
        }
        if chat
            .id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.chars().count() > MAX_ID_CHARS)
        {
            return Err(format!("id must be 1-{MAX_ID_CHARS} characters"));
        }
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.recent.pop_front();
        }
        let limit = self.app.config.rate_messages;
        if self.recent.len() >= limit {
            return Err(format!(
                "rate limit: at most {limit} messages per {} s",
                RATE_WINDOW.as_secs()
            ));
        }
        self.recent.push_back(now);
        let id = chat.id.unwrap_or_else(|| {
            self.next_local_id += 1;
            format!("{}-{}", self.key, self.next_local_id)
        });
        Ok(NewChat {
            id,
            user: self.user.clone(),
            text: chat.text,
            at: now_ms(),
            instance: self.app.config.instance.clone(),
        })
    }

    /// One message from the client other than the heartbeat.
    async fn on_message(&mut self, socket: &mut WebSocket, msg: Msg) -> Result<(), End> {
        if self.session.is_none() {
            let refusal = match &msg {
                Msg::Text(text) => self.post(text, None).await?.err(),
                Msg::Binary(_) => Some(BINARY_REFUSED.to_owned()),
            };
            return match refusal {
                Some(message) => {
                    let reply = to_json(&Payload::Error { message: &message });
                    socket
                        .send(Message::text(reply))
                        .await
                        .map_err(|_| End::Gone)
                }
                None => Ok(()),
            };
        }
        let reply = match decode_client(&msg) {
            Some(ClientFrame::Data { seq, payload }) => self.on_data(seq, payload).await?,
            Some(ClientFrame::Ack { upto }) => {
                if let Some(session) = &mut self.session {
                    session.state.ack(upto);
                }
                self.save().await?;
                None
            }
            Some(ClientFrame::Hello { .. }) => return Err(End::Protocol("a second hello")),
            None => None, // not a protocol frame: ignored
        };
        match reply {
            Some(frame) => send_frame(socket, &frame).await,
            None => Ok(()),
        }
    }

    /// A client data frame: a duplicate is acknowledged again, a gap ignored, a new message
    /// posted (ack) or refused (nack).
    async fn on_data(&mut self, seq: u64, payload: Msg) -> Result<Option<ServerFrame>, End> {
        let Some(session) = &mut self.session else {
            return Ok(None);
        };
        // Any frame from the client confirms a fresh session: saved, so that the next hello
        // resumes it.
        let confirmed = session.state.unconfirmed;
        let pending = match session.state.receive(seq) {
            Incoming::Duplicate(answer) => {
                if confirmed {
                    self.save().await?;
                }
                return Ok(Some(answer));
            }
            Incoming::Gap => {
                if confirmed {
                    self.save().await?;
                }
                return Ok(None);
            }
            Incoming::New(pending) => pending,
        };
        let text = match payload {
            Msg::Text(text) => text,
            Msg::Binary(_) => {
                let nack = session.state.reject(pending, BINARY_REFUSED);
                self.save().await?;
                return Ok(Some(nack));
            }
        };
        // Accepted in the same step as stored: an instance that dies in between has done neither.
        let mut accepted = session.state.clone();
        let ack = accepted.accept(pending);
        let sid = session.sid.clone();
        let write = SessionWrite {
            sid: &sid,
            epoch: session.epoch,
            blob: self.saved(&accepted),
        };
        match self.post(&text, Some(write)).await? {
            Ok(()) => {
                if let Some(session) = &mut self.session {
                    session.state = accepted;
                }
                Ok(Some(ack))
            }
            Err(reason) => {
                let session = self.session.as_mut().expect("a session");
                let nack = session.state.reject(pending, reason);
                self.save().await?;
                Ok(Some(nack))
            }
        }
    }

    /// Posts a chat message: Ok(Ok) stored, Ok(Err(refusal)) refused by a limit.
    async fn post(
        &mut self,
        text: &str,
        session: Option<SessionWrite<'_>>,
    ) -> Result<Result<(), String>, End> {
        let chat = match self.check(text) {
            Ok(chat) => chat,
            Err(refusal) => return Ok(Err(refusal)),
        };
        match self.app.hub.post(&self.room, chat, session).await {
            Ok(Some(_)) => Ok(Ok(())),
            Ok(None) => Err(self.taken_over()),
            Err(e) => Err(self.failed(&e)),
        }
    }
}

const BINARY_REFUSED: &str = "binary messages are not part of the chat";

fn to_message(frame: &ServerFrame) -> Message {
    match encode_server(frame) {
        Msg::Text(text) => Message::text(text),
        Msg::Binary(bytes) => Message::binary(bytes),
    }
}

async fn send_frame(socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), End> {
    socket.send(to_message(frame)).await.map_err(|_| End::Gone)
}

/// Whether a receive error is a frame or message over the size limit.
fn is_too_big(e: axum::Error) -> bool {
    let inner = e.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}
