//! Rooms: history, presence and fan-out, and the delivery sessions' state.
//!
//! [`Hub`] keeps them in this process ([`Hub::memory`]); the Redis hub (cluster mode) keeps
//! them in Redis, so that an instance holds nothing that would be lost if it died.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// How many messages a joiner gets.
pub const HISTORY_LEN: usize = 50;
/// How many messages a room keeps, so that a session resuming after a break, or a connection
/// that fell behind the room's queue, catches up on what it missed (the joiner still gets only
/// the last [`HISTORY_LEN`]).
pub const ROOM_LOG_LEN: usize = 5000;
/// Events a room holds for its local members, each reading at its own pace (the slowest one
/// holds none back: one that falls further behind catches up from the room's log, and one
/// that falls behind even the log is disconnected with 1013, never skipped silently).
/// `DEMO_ROOM_QUEUE` changes it.
pub const ROOM_QUEUE: usize = 4096;

/// A chat message as stored and sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    /// The room's sequence number: 1, 2, 3… in the order the room received them.
    pub seq: u64,
    /// The sender's id for the message (the page's), or the server's.
    pub id: String,
    pub user: String,
    pub text: String,
    /// When the server received it (epoch ms).
    pub at: u64,
    /// The instance that received it.
    pub instance: String,
}

/// What a room sends to its members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    Chat(Chat),
    /// Someone joined or left; `online` is the room's count after that.
    Presence {
        user: String,
        joined: bool,
        online: u64,
    },
}

impl Event {
    /// The room sequence of a chat message; presence has none.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Event::Chat(chat) => Some(chat.seq),
            Event::Presence { .. } => None,
        }
    }
}

/// An event as the room's local members get it: serialized once for all of them.
#[derive(Debug)]
pub struct Outgoing {
    /// The room sequence of a chat message; presence has none.
    pub seq: Option<u64>,
    /// The event's JSON.
    pub json: Utf8Bytes,
}

impl Outgoing {
    pub fn new(event: &Event) -> Outgoing {
        Outgoing {
            seq: event.seq(),
            json: serde_json::to_string(event)
                .expect("events serialize")
                .into(),
        }
    }
}

/// A message to post; the hub gives it its room sequence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewChat {
    pub id: String,
    pub user: String,
    pub text: String,
    pub at: u64,
    pub instance: String,
}

impl NewChat {
    pub fn with_seq(self, seq: u64) -> Chat {
        Chat {
            seq,
            id: self.id,
            user: self.user,
            text: self.text,
            at: self.at,
            instance: self.instance,
        }
    }
}

/// The local fan-out: one broadcast channel per room with local members.
pub struct Fanout {
    /// Each room's queue: events held for its slowest local member.
    queue: usize,
    rooms: Mutex<HashMap<String, broadcast::Sender<Arc<Outgoing>>>>,
}

impl Fanout {
    pub fn new(queue: usize) -> Fanout {
        Fanout {
            queue: queue.max(1),
            rooms: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Outgoing>>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, room: &str) -> broadcast::Receiver<Arc<Outgoing>> {
        self.lock()
            .entry(room.to_owned())
            .or_insert_with(|| broadcast::channel(self.queue).0)
            .subscribe()
    }

    /// Hands `event` to the room's local members (none: nothing to do).
    pub fn deliver(&self, room: &str, event: Event) {
        let mut rooms = self.lock();
        if let Some(tx) = rooms.get(room) {
            if tx.send(Arc::new(Outgoing::new(&event))).is_err() {
                rooms.remove(room); // nobody listens any more
            }
        }
    }

    /// The rooms that have local members.
    pub fn rooms(&self) -> Vec<String> {
        let mut rooms = self.lock();
        rooms.retain(|_, tx| tx.receiver_count() > 0);
        rooms.keys().cloned().collect()
    }
}

#[derive(Default)]
struct Room {
    last_seq: u64,
    log: VecDeque<Chat>,
    /// connection key → user
    online: HashMap<String, String>,
}

/// Everything in this process (`make demo`).
#[derive(Default)]
pub struct MemoryHub {
    rooms: Mutex<HashMap<String, Room>>,
    /// sid → (the epoch of the connection that holds it, its state)
    sessions: Mutex<HashMap<String, (u64, String)>>,
}

impl MemoryHub {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, (u64, String)>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The error of a hub operation (Redis unreachable, and the like).
pub type HubError = String;

/// A session's saved state, as the delivery protocol's JSON.
pub type SessionBlob = String;

/// A session's state to save, by the connection that holds the session at `epoch`: refused
/// once a newer connection has claimed the session (fencing: the newer one wins).
pub struct SessionWrite<'a> {
    pub sid: &'a str,
    pub epoch: u64,
    pub blob: SessionBlob,
}

pub enum Backend {
    Memory(MemoryHub),
    Redis(crate::redis_hub::RedisHub),
}

pub struct Hub {
    pub fanout: Arc<Fanout>,
    backend: Backend,
}

impl Hub {
    /// `queue`: each room's queue of events for its local members ([`ROOM_QUEUE`]).
    pub fn memory(queue: usize) -> Hub {
        Hub {
            fanout: Arc::new(Fanout::new(queue)),
            backend: Backend::Memory(MemoryHub::default()),
        }
    }

    /// Connects to Redis at `url` (cluster mode).
    pub async fn redis(url: &str, queue: usize) -> Result<Hub, HubError> {
        let fanout = Arc::new(Fanout::new(queue));
        let hub = crate::redis_hub::RedisHub::connect(url, fanout.clone()).await?;
        Ok(Hub {
            fanout,
            backend: Backend::Redis(hub),
        })
    }

    /// Stores `chat` in the room's history with the next room sequence, and sends it to every
    /// member of the room on every instance. `session`: the sender's session state after it
    /// accepted the message, saved in the same step (so that no instance applies it twice).
    /// None: a newer connection holds the session; nothing was stored.
    pub async fn post(
        &self,
        room: &str,
        chat: NewChat,
        session: Option<SessionWrite<'_>>,
    ) -> Result<Option<Chat>, HubError> {
        match &self.backend {
            Backend::Memory(hub) => {
                let chat = {
                    let mut rooms = hub.rooms();
                    let mut sessions = hub.sessions();
                    if let Some(write) = &session {
                        if sessions.get(write.sid).map(|s| s.0) != Some(write.epoch) {
                            return Ok(None);
                        }
                    }
                    let r = rooms.entry(room.to_owned()).or_default();
                    r.last_seq += 1;
                    let chat = chat.with_seq(r.last_seq);
                    r.log.push_back(chat.clone());
                    while r.log.len() > ROOM_LOG_LEN {
                        r.log.pop_front();
                    }
                    if let Some(write) = session {
                        sessions.insert(write.sid.to_owned(), (write.epoch, write.blob));
                    }
                    // Under the rooms lock: members get the messages in sequence order.
                    self.fanout.deliver(room, Event::Chat(chat.clone()));
                    chat
                };
                Ok(Some(chat))
            }
            Backend::Redis(hub) => hub.post(room, chat, session).await,
        }
    }

    /// The room's messages with a sequence above `after`, at most the last `limit` of them.
    pub async fn history(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Chat>, HubError> {
        let mut log: Vec<Chat> = match &self.backend {
            Backend::Memory(hub) => hub
                .rooms()
                .get(room)
                .map(|r| r.log.iter().filter(|c| c.seq > after).cloned().collect())
                .unwrap_or_default(),
            Backend::Redis(hub) => hub.history(room, after, limit).await?,
        };
        let skip = log.len().saturating_sub(limit);
        log.drain(..skip);
        Ok(log)
    }

    /// Adds a member to the room's presence and tells the room.
    pub async fn join(&self, room: &str, key: &str, user: &str) -> Result<(), HubError> {
        self.presence(room, key, user, true).await
    }

    pub async fn leave(&self, room: &str, key: &str, user: &str) -> Result<(), HubError> {
        self.presence(room, key, user, false).await
    }

    async fn presence(
        &self,
        room: &str,
        key: &str,
        user: &str,
        joined: bool,
    ) -> Result<(), HubError> {
        match &self.backend {
            Backend::Memory(hub) => {
                let mut rooms = hub.rooms();
                let r = rooms.entry(room.to_owned()).or_default();
                if joined {
                    r.online.insert(key.to_owned(), user.to_owned());
                } else {
                    r.online.remove(key);
                }
                let online = r.online.len() as u64;
                let event = Event::Presence {
                    user: user.to_owned(),
                    joined,
                    online,
                };
                self.fanout.deliver(room, event);
                Ok(())
            }
            Backend::Redis(hub) => hub.presence(room, key, user, joined).await,
        }
    }

    /// A new connection of the session takes it over: returns its epoch (higher than any
    /// before) and the session's saved state. From then on only this connection's writes count.
    pub async fn claim_session(&self, sid: &str) -> Result<(u64, Option<SessionBlob>), HubError> {
        match &self.backend {
            Backend::Memory(hub) => {
                let mut sessions = hub.sessions();
                let entry = sessions.entry(sid.to_owned()).or_default();
                entry.0 += 1;
                let blob = (!entry.1.is_empty()).then(|| entry.1.clone());
                Ok((entry.0, blob))
            }
            Backend::Redis(hub) => hub.claim_session(sid).await,
        }
    }

    /// Saves the session's state; false: a newer connection holds the session (not saved).
    pub async fn save_session(&self, write: SessionWrite<'_>) -> Result<bool, HubError> {
        match &self.backend {
            Backend::Memory(hub) => {
                let mut sessions = hub.sessions();
                match sessions.get_mut(write.sid) {
                    Some(held) if held.0 == write.epoch => {
                        held.1 = write.blob;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            Backend::Redis(hub) => hub.save_session(write).await,
        }
    }
}
