//! One chat connection: `/ws?token=…&room=…`, after the upgrade.
//!
//! The chat's messages (the "app payloads"), all JSON text:
//! - client → server: `{"type":"chat","text":"…"}` with an optional `"id"` (the sender's id
//!   for the message, at most 64 characters); the heartbeat's `ping` is answered with `pong`.
//! - server → client: first `{"type":"history","room","instance","user","messages":[…]}` (the
//!   room's last 50 messages), then `{"type":"chat","seq","id","user","text","at","instance"}`
//!   for every message of the room (to everyone, the sender included) and
//!   `{"type":"presence","user","joined","online"}`. A refused message gets
//!   `{"type":"error","message":"…"}`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{interval_at, timeout, Duration, MissedTickBehavior};

use crate::hub::{Chat, Event, NewChat, HISTORY_LEN};
use crate::{now_ms, AppState, MAX_TEXT_CHARS, RATE_MESSAGES, RATE_WINDOW};

/// The longest message id a client may give.
pub const MAX_ID_CHARS: usize = 64;
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_TRY_AGAIN: u16 = 1013;

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

/// Why the connection ended.
enum End {
    /// The client closed, or the connection broke.
    Gone,
    /// Silent for two ping intervals.
    Silent,
    /// A frame above the limit: 1009.
    TooBig,
    /// It fell too far behind the room: 1013.
    TooSlow,
    /// SIGTERM/SIGINT: 1001.
    Shutdown,
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
}

pub async fn run(mut socket: WebSocket, app: Arc<AppState>, user: String, room: String) {
    let key = app.conn_key();
    let mut conn = Conn {
        app: app.clone(),
        user,
        room,
        key,
        cursor: 0,
        recent: VecDeque::new(),
        next_local_id: 0,
    };
    let mut events = app.hub.fanout.subscribe(&conn.room);
    let end = match conn.start(&mut socket).await {
        Ok(()) => conn.serve(&mut socket, &mut events).await,
        Err(e) => {
            app.log(&format!("connection {}: {e}", conn.key));
            End::Gone
        }
    };
    drop(events);
    if let Err(e) = app.hub.leave(&conn.room, &conn.key, &conn.user).await {
        app.log(&format!("presence: {e}"));
    }
    let close = match end {
        End::Gone | End::Silent => None,
        End::TooBig => Some((CLOSE_TOO_BIG, "frame too big (16 KiB at most)")),
        End::TooSlow => Some((CLOSE_TRY_AGAIN, "too far behind")),
        End::Shutdown => Some((CLOSE_GOING_AWAY, "server shutting down")),
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
    /// Sends the history and joins the room's presence.
    async fn start(&mut self, socket: &mut WebSocket) -> Result<(), String> {
        let messages = self.app.hub.history(&self.room, 0, HISTORY_LEN).await?;
        self.cursor = messages.last().map_or(0, |c| c.seq);
        let history = Payload::History {
            room: &self.room,
            instance: &self.app.config.instance,
            user: &self.user,
            messages: &messages,
        };
        socket
            .send(Message::text(to_json(&history)))
            .await
            .map_err(|e| format!("send: {e}"))?;
        self.app.hub.join(&self.room, &self.key, &self.user).await
    }

    async fn serve(
        &mut self,
        socket: &mut WebSocket,
        events: &mut tokio::sync::broadcast::Receiver<Arc<Event>>,
    ) -> End {
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
                            let reply = if text.as_str() == "ping" {
                                Some("pong".to_owned())
                            } else {
                                self.on_text(text.as_str()).await.err().map(|message| to_json(&Payload::Error { message: &message }))
                            };
                            if let Some(reply) = reply {
                                if socket.send(Message::text(reply)).await.is_err() {
                                    return End::Gone;
                                }
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let reply = to_json(&Payload::Error { message: "binary messages are not part of the chat" });
                            if socket.send(Message::text(reply)).await.is_err() {
                                return End::Gone;
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return End::Gone,
                        Some(Err(e)) => return if is_too_big(e) { End::TooBig } else { End::Gone },
                    }
                }
                event = events.recv() => match event {
                    Ok(event) => {
                        if let Some(seq) = event.seq() {
                            if seq <= self.cursor {
                                continue; // already sent with the history
                            }
                            self.cursor = seq;
                        }
                        if socket.send(Message::text(to_json(&*event))).await.is_err() {
                            return End::Gone;
                        }
                    }
                    Err(RecvError::Lagged(_)) => return End::TooSlow,
                    Err(RecvError::Closed) => return End::Gone,
                },
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
        if self.recent.len() >= RATE_MESSAGES {
            return Err(format!(
                "rate limit: at most {RATE_MESSAGES} messages per {} s",
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

    /// One chat message from the client: posted, or refused (the refusal is returned).
    async fn on_text(&mut self, text: &str) -> Result<(), String> {
        let chat = self.check(text)?;
        self.app
            .hub
            .post(&self.room, chat, None)
            .await
            .map(|_| ())
            .map_err(|e| format!("not stored: {e}"))
    }
}

/// Whether a receive error is a frame or message over the size limit.
fn is_too_big(e: axum::Error) -> bool {
    let inner = e.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}
