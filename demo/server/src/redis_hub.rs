//! The hub in Redis (cluster mode): everything that must outlive an instance.
//!
//! Keys (prefix `rws:`):
//! - `rws:room:<room>:seq`: the room's last sequence number (INCR);
//! - `rws:room:<room>:log`: the room's last 5000 messages, each `"<seq> <json>"`, in sequence
//!   order with no gaps (so the messages after a sequence are the list's last few);
//! - `rws:room:<room>:online`: presence, a sorted set of `"<connection key> <user>"` scored by
//!   expiry (ms); each instance refreshes its own every second for 4 s, and sweeps the rooms it
//!   has members in: a killed instance's members expire within ~5 s, and the room is told;
//! - `rws:sess:<sid>`: a delivery session's state (JSON), kept for an hour;
//! - `rws:sess:<sid>:epoch`: the session's last connection (INCR on every hello): a state is
//!   saved only by the connection of the current epoch, so an older connection of the session
//!   still open on some instance cannot overwrite the newer one's (it is closed with 4000);
//! - channel `rws:ch:<room>`: the room's fan-out, `"c <seq> <json>"` for a message and
//!   `"p <json>"` for presence. Every instance subscribes to `rws:ch:*`.
//!
//! A message is posted by one Lua script (atomic): the sequence number, the log, the publish,
//! and the sender's session state (its last accepted sequence) happen together or not at all,
//! so an instance that dies at any point has either applied a message and recorded it, or
//! neither; and the channel carries the messages in sequence order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

use crate::hub::{Chat, Event, Fanout, HubError, NewChat, SessionBlob, SessionWrite, ROOM_LOG_LEN};
use crate::now_ms;

const SESSION_TTL_S: u64 = 3600;
const PRESENCE_TTL_MS: u64 = 4_000;
const PRESENCE_REFRESH: Duration = Duration::from_secs(1);

/// Removes a room's expired members (ARGV[1]: now, ms); returns the room's count after, then
/// the members removed. Atomic: one instance only announces each of them.
const SWEEP: &str = r"
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
local out = { tostring(redis.call('ZCARD', KEYS[1])) }
for _, m in ipairs(gone) do out[#out + 1] = m end
return out
";

const POST: &str = r"
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[6] then
  return -1
end
local seq = redis.call('INCR', KEYS[1])
local entry = seq .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PUBLISH', ARGV[3], 'c ' .. entry)
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
end
return seq
";

/// Saves a session's state (ARGV[1]) if ARGV[2] is still the session's epoch: 1, else 0.
const SAVE: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
";

/// The room's messages after ARGV[1], at most the last ARGV[2]: the log holds consecutive
/// sequences ending at the room's last one, so they are its last `min(last - after, limit)`.
const AFTER: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(last - tonumber(ARGV[1]), tonumber(ARGV[2]))
if n <= 0 then return {} end
return redis.call('LRANGE', KEYS[2], -n, -1)
";

pub struct RedisHub {
    con: MultiplexedConnection,
    post: redis::Script,
    save: redis::Script,
    after: redis::Script,
    /// This instance's members: connection key → (room, presence member), refreshed in Redis
    /// every second.
    members: Arc<Mutex<Members>>,
}

type Members = HashMap<String, (String, String)>;

/// A presence entry: the connection key (which has no space), then the user.
fn presence_member(key: &str, user: &str) -> String {
    format!("{key} {user}")
}

fn err(e: redis::RedisError) -> HubError {
    format!("redis: {e}")
}

fn seq_key(room: &str) -> String {
    format!("rws:room:{room}:seq")
}
fn log_key(room: &str) -> String {
    format!("rws:room:{room}:log")
}
fn online_key(room: &str) -> String {
    format!("rws:room:{room}:online")
}
fn channel(room: &str) -> String {
    format!("rws:ch:{room}")
}
fn session_key(sid: &str) -> String {
    format!("rws:sess:{sid}")
}
fn epoch_key(sid: &str) -> String {
    format!("rws:sess:{sid}:epoch")
}

/// A log entry `"<seq> <json of NewChat>"` → the message.
fn parse_entry(entry: &str) -> Option<Chat> {
    let (seq, json) = entry.split_once(' ')?;
    let chat: NewChat = serde_json::from_str(json).ok()?;
    Some(chat.with_seq(seq.parse().ok()?))
}

/// Tells the room's members on every instance that `user` joined or left.
async fn publish_presence(
    con: &mut MultiplexedConnection,
    room: &str,
    user: &str,
    joined: bool,
    online: u64,
) -> Result<(), HubError> {
    let event = Event::Presence {
        user: user.to_owned(),
        joined,
        online,
    };
    let payload = format!(
        "p {}",
        serde_json::to_string(&event).expect("events serialize")
    );
    con.publish::<_, _, ()>(channel(room), payload)
        .await
        .map_err(err)
}

/// Removes the room's expired members (those of an instance that died) and tells the room.
async fn sweep_room(
    con: &mut MultiplexedConnection,
    sweep: &redis::Script,
    room: &str,
) -> Result<(), HubError> {
    let out: Vec<String> = sweep
        .key(online_key(room))
        .arg(now_ms())
        .invoke_async(con)
        .await
        .map_err(err)?;
    let Some((online, gone)) = out.split_first() else {
        return Ok(());
    };
    let online = online.parse().unwrap_or(0);
    for member in gone {
        let user = member.split_once(' ').map_or("", |(_, user)| user);
        publish_presence(con, room, user, false, online).await?;
    }
    Ok(())
}

impl RedisHub {
    /// Connects, and starts the task that hands the rooms' messages to `fanout`.
    pub async fn connect(url: &str, fanout: Arc<Fanout>) -> Result<RedisHub, HubError> {
        let client = redis::Client::open(url).map_err(err)?;
        let con = client
            .get_multiplexed_async_connection()
            .await
            .map_err(err)?;
        let mut pubsub = client.get_async_pubsub().await.map_err(err)?;
        pubsub.psubscribe("rws:ch:*").await.map_err(err)?;
        let rooms = fanout.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let channel = msg.get_channel_name().to_owned();
                let Some(room) = channel.strip_prefix("rws:ch:") else {
                    continue;
                };
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                let event = match payload.split_at_checked(2) {
                    Some(("c ", entry)) => parse_entry(entry).map(Event::Chat),
                    Some(("p ", json)) => serde_json::from_str(json).ok(),
                    _ => None,
                };
                match event {
                    Some(event) => fanout.deliver(room, event),
                    None => eprintln!("demo-chat-server: unreadable message on {channel}"),
                }
            }
            eprintln!("demo-chat-server: lost the Redis subscription: exiting");
            std::process::exit(1);
        });
        let members: Arc<Mutex<Members>> = Arc::default();
        let refresh = (con.clone(), members.clone());
        tokio::spawn(async move {
            let (mut con, members) = refresh;
            let sweep = redis::Script::new(SWEEP);
            loop {
                tokio::time::sleep(PRESENCE_REFRESH).await;
                let list: Vec<(String, String)> = members
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .cloned()
                    .collect();
                let expiry = now_ms() + PRESENCE_TTL_MS;
                let mut pipe = redis::pipe();
                for (room, member) in &list {
                    pipe.zadd(online_key(room), member, expiry).ignore();
                }
                if let Err(e) = pipe.query_async::<()>(&mut con).await {
                    eprintln!("demo-chat-server: presence refresh: {e}");
                }
                // The members of a dead instance (no refresh since) leave the rooms here.
                for room in rooms.rooms() {
                    if let Err(e) = sweep_room(&mut con, &sweep, &room).await {
                        eprintln!("demo-chat-server: presence sweep of {room}: {e}");
                    }
                }
            }
        });
        Ok(RedisHub {
            con,
            post: redis::Script::new(POST),
            save: redis::Script::new(SAVE),
            after: redis::Script::new(AFTER),
            members,
        })
    }

    pub async fn post(
        &self,
        room: &str,
        chat: NewChat,
        session: Option<SessionWrite<'_>>,
    ) -> Result<Option<Chat>, HubError> {
        let json = serde_json::to_string(&chat).expect("a chat serializes");
        let (sid, epoch, blob) =
            session.map_or(("-", 0, String::new()), |w| (w.sid, w.epoch, w.blob));
        let seq: i64 = self
            .post
            .key(seq_key(room))
            .key(log_key(room))
            .key(session_key(sid))
            .key(epoch_key(sid))
            .arg(json)
            .arg(ROOM_LOG_LEN)
            .arg(channel(room))
            .arg(blob)
            .arg(SESSION_TTL_S)
            .arg(epoch)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(err)?;
        Ok(u64::try_from(seq).ok().map(|seq| chat.with_seq(seq)))
    }

    pub async fn history(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Chat>, HubError> {
        // Only what is asked for: a catch-up or a resume reads the messages it missed, not the
        // whole log.
        let entries: Vec<String> = self
            .after
            .key(seq_key(room))
            .key(log_key(room))
            .arg(after)
            .arg(limit.min(ROOM_LOG_LEN))
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(err)?;
        Ok(entries
            .iter()
            .filter_map(|e| parse_entry(e))
            .filter(|c| c.seq > after)
            .collect())
    }

    pub async fn presence(
        &self,
        room: &str,
        key: &str,
        user: &str,
        joined: bool,
    ) -> Result<(), HubError> {
        let member = presence_member(key, user);
        {
            let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            if joined {
                members.insert(key.to_owned(), (room.to_owned(), member.clone()));
            } else {
                members.remove(key);
            }
        }
        let now = now_ms();
        let online_key = online_key(room);
        let mut pipe = redis::pipe();
        if joined {
            pipe.zadd(&online_key, &member, now + PRESENCE_TTL_MS)
                .ignore();
        } else {
            pipe.zrem(&online_key, &member).ignore();
        }
        pipe.zrembyscore(&online_key, "-inf", now).ignore();
        pipe.zcard(&online_key);
        let (online,): (u64,) = pipe.query_async(&mut self.con.clone()).await.map_err(err)?;
        publish_presence(&mut self.con.clone(), room, user, joined, online).await
    }

    pub async fn claim_session(&self, sid: &str) -> Result<(u64, Option<SessionBlob>), HubError> {
        let (epoch, blob): (u64, Option<SessionBlob>) = redis::pipe()
            .atomic()
            .incr(epoch_key(sid), 1)
            .expire(epoch_key(sid), SESSION_TTL_S as i64)
            .ignore()
            .get(session_key(sid))
            .query_async(&mut self.con.clone())
            .await
            .map_err(err)?;
        Ok((epoch, blob))
    }

    pub async fn save_session(&self, write: SessionWrite<'_>) -> Result<bool, HubError> {
        let saved: u64 = self
            .save
            .key(session_key(write.sid))
            .key(epoch_key(write.sid))
            .arg(write.blob)
            .arg(write.epoch)
            .arg(SESSION_TTL_S)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(err)?;
        Ok(saved == 1)
    }
}
