//! The demo chat server, driven by real WebSocket and HTTP clients on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use demo_chat_server::auth::Auth;
use demo_chat_server::hub::ROOM_LOG_LEN;
use demo_chat_server::{Config, Server, MAX_TEXT_CHARS, RATE_MESSAGES};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
const WAIT: Duration = Duration::from_secs(3);
const SECRET: &[u8] = b"test secret";

fn config() -> Config {
    Config {
        jwt_secret: SECRET.to_vec(),
        instance: "test-1".into(),
        ..Config::default()
    }
}

/// A server on a free port; dropping the sender stops it.
async fn start(config: Config) -> (SocketAddr, oneshot::Sender<()>) {
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

async fn login(addr: SocketAddr, name: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/login"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert!(body["expiresAt"].as_u64().is_some(), "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

/// Opens /ws with these query and Origin; the handshake's result.
async fn open(addr: SocketAddr, query: &str, origin: Option<&str>) -> Result<Ws, WsError> {
    let mut request = format!("ws://{addr}/ws?{query}")
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    timeout(WAIT, connect_async(request))
        .await
        .expect("handshake in time")
        .map(|(ws, _)| ws)
}

/// Logs in as `name`, joins `room` in plain mode; returns the socket and the history message it gets first.
async fn join(addr: SocketAddr, name: &str, room: &str) -> (Ws, Value) {
    let token = login(addr, name).await;
    let mut ws = open(addr, &format!("token={token}&room={room}&mode=plain"), None)
        .await
        .expect("connect");
    let connected = next_json(&mut ws).await;
    assert_eq!(
        (&connected["type"], &connected["user"]),
        (&json!("connected"), &json!(name))
    );
    let history = next_json(&mut ws).await;
    assert_eq!(history["type"], "history", "{history}");
    assert_eq!(history["room"], room);
    assert!(
        history["instance"]
            .as_str()
            .is_some_and(|i| i.starts_with("test-")),
        "{history}"
    );
    (ws, history)
}

fn status_of(result: Result<Ws, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, got an upgrade"),
    }
}

async fn next_message(ws: &mut Ws) -> Message {
    loop {
        let msg = timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return msg;
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    match next_message(ws).await {
        Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The next message that is not a presence update.
async fn next_non_presence(ws: &mut Ws) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["type"] != "presence" {
            return v;
        }
    }
}

async fn say(ws: &mut Ws, text: &str) {
    let msg = json!({ "type": "chat", "text": text }).to_string();
    ws.send(Message::text(msg)).await.expect("send");
}

/// Sends `text` and expects its broadcast back.
async fn say_ok(ws: &mut Ws, text: &str) -> Value {
    say(ws, text).await;
    let chat = next_non_presence(ws).await;
    assert_eq!(chat["type"], "chat", "{chat}");
    assert_eq!(chat["text"], text);
    chat
}

/// Sends a raw frame and expects a refusal naming `expected`.
async fn refused(ws: &mut Ws, frame: String, expected: &str) {
    ws.send(Message::text(frame)).await.expect("send");
    let reply = next_non_presence(ws).await;
    assert_eq!(reply["type"], "error", "{reply}");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.contains(expected),
        "{message:?} should name {expected:?}"
    );
}

/// The connection still works: the heartbeat is answered and a message goes through.
async fn usable(ws: &mut Ws) {
    ws.send(Message::text("ping")).await.unwrap();
    loop {
        match next_message(ws).await {
            Message::Text(t) if t.as_str() == "pong" => break,
            Message::Text(t) if t.as_str().contains("presence") => {}
            other => panic!("expected pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn login_rejects_bad_names_and_healthz_names_the_instance() {
    let (addr, _stop) = start(config()).await;
    let client = reqwest::Client::new();
    for (body, expected) in [
        (json!({ "name": "" }), "name is empty"),
        (json!({ "name": "x".repeat(33) }), "longer than 32"),
        (json!({ "nom": "a" }), "name"),
    ] {
        let response = client
            .post(format!("http://{addr}/api/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{error}"
        );
    }
    let health: Value = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);
    assert_eq!(health["instance"], "test-1");
    assert_eq!(health["pid"], std::process::id());
}

#[tokio::test]
async fn missing_bad_or_expired_tokens_get_401_and_foreign_origins_403_without_upgrade() {
    let (addr, _stop) = start(config()).await;
    let token = login(addr, "ann").await;
    assert_eq!(status_of(open(addr, "room=lobby", None).await), 401);
    assert_eq!(
        status_of(open(addr, "token=abc&room=lobby", None).await),
        401
    );
    let forged = Auth::new(b"another secret", 300)
        .issue("ann", 2_000_000_000)
        .0;
    assert_eq!(
        status_of(open(addr, &format!("token={forged}"), None).await),
        401
    );
    let expired = Auth::new(SECRET, 300).issue("ann", 1_000_000_000).0;
    assert_eq!(
        status_of(open(addr, &format!("token={expired}"), None).await),
        401
    );

    let foreign = Some("http://evil.example");
    assert_eq!(
        status_of(open(addr, &format!("token={token}"), foreign).await),
        403
    );
    // The page's own origin is allowed.
    let own = format!("http://{addr}");
    open(addr, &format!("token={token}&room=lobby"), Some(&own))
        .await
        .expect("the page's origin is allowed");
    // A bad room name is refused too.
    assert_eq!(
        status_of(open(addr, &format!("token={token}&room=No_Caps"), None).await),
        400
    );
}

#[tokio::test]
async fn the_allow_list_replaces_the_default_origin() {
    let (addr, _stop) = start(Config {
        allowed_origins: Some(vec!["https://chat.example".into()]),
        ..config()
    })
    .await;
    let token = login(addr, "ann").await;
    let own = format!("http://{addr}");
    assert_eq!(
        status_of(open(addr, &format!("token={token}"), Some(&own)).await),
        403
    );
    open(
        addr,
        &format!("token={token}"),
        Some("https://chat.example"),
    )
    .await
    .expect("listed origin");
}

#[tokio::test]
async fn rate_limit_refuses_the_21st_message_and_the_connection_stays_usable() {
    let (addr, _stop) = start(config()).await;
    let (mut ws, _) = join(addr, "ann", "lobby").await;
    for i in 0..RATE_MESSAGES {
        say_ok(&mut ws, &format!("m{i}")).await;
    }
    let frame = json!({ "type": "chat", "text": "one too many" }).to_string();
    refused(&mut ws, frame, "rate limit").await;
    usable(&mut ws).await;
    // It still gets the room's messages.
    let (mut bob, _) = join(addr, "bob", "lobby").await;
    say_ok(&mut bob, "hi ann").await;
    assert_eq!(next_non_presence(&mut ws).await["text"], "hi ann");
}

#[tokio::test]
async fn size_limit_and_bad_json_are_refused_and_the_connection_stays_usable() {
    let (addr, _stop) = start(config()).await;
    let (mut ws, _) = join(addr, "ann", "lobby").await;
    let long = "é".repeat(MAX_TEXT_CHARS + 1);
    refused(
        &mut ws,
        json!({ "type": "chat", "text": long }).to_string(),
        "too long",
    )
    .await;
    say_ok(&mut ws, &"é".repeat(MAX_TEXT_CHARS)).await;
    refused(&mut ws, "{not json".into(), "JSON").await;
    refused(
        &mut ws,
        json!({ "type": "chat" }).to_string(),
        "missing field `text`",
    )
    .await;
    refused(
        &mut ws,
        json!({ "type": "chat", "text": 5 }).to_string(),
        "invalid type",
    )
    .await;
    refused(
        &mut ws,
        json!({ "type": "chat", "text": "a", "x": 1 }).to_string(),
        "unknown field",
    )
    .await;
    refused(
        &mut ws,
        json!({ "type": "shout", "text": "a" }).to_string(),
        "unknown message type",
    )
    .await;
    refused(
        &mut ws,
        json!({ "type": "chat", "text": "  " }).to_string(),
        "empty",
    )
    .await;
    usable(&mut ws).await;
    say_ok(&mut ws, "still here").await;
}

#[tokio::test]
async fn a_frame_over_16_kib_closes_with_1009() {
    let (addr, _stop) = start(config()).await;
    let (mut ws, _) = join(addr, "ann", "lobby").await;
    ws.send(Message::text("x".repeat(16 * 1024 + 1)))
        .await
        .unwrap();
    loop {
        match next_message(&mut ws).await {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Size);
                break;
            }
            Message::Text(t) if t.as_str().contains("presence") => {}
            other => panic!("expected a close frame 1009, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_joiner_gets_the_last_50_messages() {
    let (addr, _stop) = start(config()).await;
    let mut n = 0;
    for name in ["a", "b", "c"] {
        let (mut ws, _) = join(addr, name, "busy").await;
        for _ in 0..RATE_MESSAGES.min(55 - n) {
            n += 1;
            say_ok(&mut ws, &format!("message {n}")).await;
        }
    }
    assert_eq!(n, 55);
    let (_ws, history) = join(addr, "late", "busy").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (6..=55).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected);
    let seqs: Vec<u64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (6..=55).collect::<Vec<u64>>());
}

#[tokio::test]
async fn rooms_are_isolated_and_presence_counts_the_room() {
    let (addr, _stop) = start(config()).await;
    let (mut a1, _) = join(addr, "ann", "red").await;
    let (mut b1, _) = join(addr, "bob", "blue").await;
    let (mut a2, _) = join(addr, "cat", "red").await;
    // ann sees cat join: 2 online in "red".
    let presence = loop {
        let p = next_json(&mut a1).await;
        if p["user"] == "cat" {
            break p;
        }
    };
    assert_eq!(
        presence,
        json!({ "type": "presence", "user": "cat", "joined": true, "online": 2 })
    );
    say_ok(&mut a2, "red only").await;
    assert_eq!(next_non_presence(&mut a1).await["text"], "red only");
    say_ok(&mut b1, "blue only").await;
    say_ok(&mut a2, "red again").await;
    assert_eq!(next_non_presence(&mut a1).await["text"], "red again");
    // A leave is announced with the new count.
    drop(a2);
    let left = loop {
        let p = next_json(&mut a1).await;
        if p["type"] == "presence" && p["joined"] == false {
            break p;
        }
    };
    assert_eq!(left["online"], 1);
    assert_eq!(texts_in_history(addr, "blue").await, ["blue only"]);
}

/// Joins `room` in plain mode with a 4 KiB receive buffer, so that a member that stops
/// reading soon fills its socket and its connection on the server stops taking room events.
async fn join_with_small_buffer(addr: SocketAddr, name: &str, room: &str) -> Ws {
    let token = login(addr, name).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/ws?token={token}&room={room}&mode=plain");
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgrade");
    assert_eq!(next_json(&mut ws).await["type"], "connected");
    assert_eq!(next_json(&mut ws).await["type"], "history");
    ws
}

/// The room gets `count` messages of ~480 characters, `"<n> xxx…"`, from a member that reads
/// its own socket all along; returns once the last one is stored.
async fn flood(addr: SocketAddr, room: &str, count: usize) {
    let (ws, _) = join(addr, "poster", room).await;
    let (mut sink, mut source) = ws.split();
    let reader = tokio::spawn(async move {
        let mut last = 0;
        while last < count {
            let msg = timeout(Duration::from_secs(20), source.next()).await;
            let Ok(Some(Ok(Message::Text(t)))) = msg else {
                panic!("the poster's socket ended: {msg:?}");
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "chat" {
                last = v["text"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
            }
        }
    });
    let filler = "x".repeat(MAX_TEXT_CHARS - 20);
    for n in 1..=count {
        let msg = json!({ "type": "chat", "text": format!("{n} {filler}") });
        sink.send(Message::text(msg.to_string())).await.unwrap();
    }
    reader.await.expect("the poster got every message back");
}

/// Reads chat messages until `last` (or the close); returns their numbers and the close code.
async fn read_numbers(ws: &mut Ws, last: usize) -> (Vec<usize>, Option<u16>) {
    let mut numbers = Vec::new();
    while numbers.last() != Some(&last) {
        match timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message in time")
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "chat" {
                    let text = v["text"].as_str().unwrap();
                    numbers.push(text.split(' ').next().unwrap().parse().unwrap());
                }
            }
            Some(Ok(Message::Close(frame))) => return (numbers, frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            other => panic!("expected a message or a close, got {other:?}"),
        }
    }
    (numbers, None)
}

/// GET `http://addr/path` as JSON.
async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    response.json().await.unwrap()
}

async fn catch_ups(addr: SocketAddr) -> u64 {
    let health = get_json(addr, "/healthz").await;
    health["catchUps"].as_u64().expect("catchUps")
}

/// A tiny room queue, so that a member that stops reading falls behind it.
fn small_queue() -> Config {
    Config {
        room_queue: 8,
        rate_messages: 1_000_000,
        ..config()
    }
}

#[tokio::test]
async fn a_member_behind_the_room_queue_catches_up_from_the_log_and_loses_nothing() {
    let (addr, _stop) = start(small_queue()).await;
    let mut slow = join_with_small_buffer(addr, "slow", "busy").await;
    // 3,000 messages in a burst, through a room queue of 8 events: the members' connections
    // fall behind the queue (the old server closed them with 1013) while the slow member
    // reads nothing.
    flood(addr, "busy", 3000).await;
    let (numbers, close) = read_numbers(&mut slow, 3000).await;
    assert_eq!(close, None, "the slow member stays connected");
    assert_eq!(
        numbers,
        (1..=3000).collect::<Vec<_>>(),
        "every message once, in order"
    );
    assert!(
        catch_ups(addr).await >= 1,
        "a connection fell behind the queue of 8 and caught up from the log"
    );
    usable(&mut slow).await;
}

#[tokio::test]
async fn a_member_behind_the_room_log_is_closed_with_1013_not_skipped() {
    let (addr, _stop) = start(small_queue()).await;
    let mut slow = join_with_small_buffer(addr, "slow", "busy").await;
    // The server's socket buffer takes up to 4 MiB (~8,000 of these messages) before the
    // connection stops taking events; then it must be more than the log behind.
    let count = ROOM_LOG_LEN + 10_000;
    flood(addr, "busy", count).await;
    let (numbers, close) = read_numbers(&mut slow, count).await;
    assert_eq!(close, Some(1013), "closed: too far behind the room");
    // What it got before the close has no hole: nothing was skipped silently.
    assert!(!numbers.is_empty() && numbers.len() < count);
    assert_eq!(numbers, (1..=numbers.len()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_peer_silent_for_two_ping_intervals_is_dropped() {
    let (addr, _stop) = start(Config {
        ping_interval: Duration::from_millis(400),
        ..config()
    })
    .await;
    let (mut watcher, _) = join(addr, "ann", "lobby").await;
    // This peer never reads, so it never answers the server's pings.
    let (_silent, _) = join(addr, "mute", "lobby").await;
    let started = std::time::Instant::now();
    let left = loop {
        // The watcher reads (and so answers pings) while waiting.
        let p = next_json(&mut watcher).await;
        if p["type"] == "presence" && p["user"] == "mute" && p["joined"] == false {
            break p;
        }
    };
    assert_eq!(left["online"], 1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// The real binary: SIGTERM closes every socket with 1001, then it exits 0 within 5 s.
/// The real binary, as instance `name`, with these environment variables; its address.
async fn spawn_server(
    name: &str,
    env: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr, TempDir) {
    let dir = std::env::temp_dir().join(format!("demo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo-chat-server"))
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .env("DEMO_JWT_SECRET", "spawned")
        .env("DEMO_INSTANCE", name)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the server");
    let port: u16 = timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = p.trim().parse() {
                    return p;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server writes its port");
    (
        child,
        SocketAddr::from(([127, 0, 0, 1], port)),
        TempDir(dir),
    )
}

#[tokio::test]
async fn sigterm_closes_every_socket_with_1001_and_exits_0() {
    let (mut child, addr, _dir) = spawn_server("test-1", &[]).await;
    let (mut a, _) = join(addr, "ann", "lobby").await;
    let (mut b, _) = join(addr, "bob", "other").await;
    let pid = child.id().unwrap().to_string();
    let started = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    for ws in [&mut a, &mut b] {
        loop {
            match next_message(ws).await {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::Away);
                    break;
                }
                Message::Text(_) => {}
                other => panic!("expected a close frame 1001, got {other:?}"),
            }
        }
    }
    drop((a, b));
    let status = timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exits within 5 s")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A redis-server of its own on a free port (Debian's, installed by `make setup`).
struct Redis {
    child: std::process::Child,
    url: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("demo-redis-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (make setup installs it)");
    let redis = Redis {
        child,
        url: format!("redis://127.0.0.1:{port}/"),
        _dir: TempDir(dir),
    };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("redis-server did not listen on {port}");
}

/// A redis-server and two instances on it, "test-1" and "test-2".
async fn start_cluster() -> (
    Redis,
    (SocketAddr, oneshot::Sender<()>),
    (SocketAddr, oneshot::Sender<()>),
) {
    let redis = start_redis().await;
    let cluster = |name: &str| Config {
        instance: name.into(),
        redis_url: Some(redis.url.clone()),
        ..config()
    };
    let a = start(cluster("test-1")).await;
    let b = start(cluster("test-2")).await;
    (redis, a, b)
}

/// Two instances on one Redis: a room spans both, with one history and one presence count.
#[tokio::test]
async fn two_instances_share_rooms_history_and_presence_through_redis() {
    let (_redis, (a, _stop_a), (b, _stop_b)) = start_cluster().await;
    let (mut ann, on_a) = join(a, "ann", "lobby").await;
    let (mut bob, on_b) = join(b, "bob", "lobby").await;
    assert_eq!(
        (&on_a["instance"], &on_b["instance"]),
        (&json!("test-1"), &json!("test-2"))
    );
    let seen = loop {
        let p = next_json(&mut ann).await;
        if p["user"] == "bob" {
            break p;
        }
    };
    assert_eq!(seen["online"], 2);
    let sent = say_ok(&mut ann, "from a").await;
    let got = next_non_presence(&mut bob).await;
    assert_eq!(got, sent);
    assert_eq!(got["instance"], "test-1");
    say_ok(&mut bob, "from b").await;
    assert_eq!(next_non_presence(&mut ann).await["text"], "from b");
    // A joiner on either instance gets the same history.
    let (_c, history) = join(b, "cat", "lobby").await;
    let texts: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(texts, [&json!("from a"), &json!("from b")]);
    let (_d, other) = join(a, "dan", "elsewhere").await;
    assert_eq!(other["messages"], json!([]));
}

// ---- the delivery protocol (the default mode) ----

/// Opens a delivery connection and says hello; returns the socket and the welcome.
async fn hello(addr: SocketAddr, token: &str, room: &str, sid: &str, inbound: u64) -> (Ws, Value) {
    let mut ws = open(addr, &format!("token={token}&room={room}"), None)
        .await
        .expect("connect");
    let hello = json!({ "t": "hello", "sid": sid, "in": inbound }).to_string();
    ws.send(Message::text(hello)).await.unwrap();
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["t"], "welcome", "{welcome}");
    (ws, welcome)
}

/// The next protocol frame; a data frame's payload is parsed into "p".
async fn frame(ws: &mut Ws) -> Value {
    let mut f = next_json(ws).await;
    if f["t"] == "d" {
        f["p"] = serde_json::from_str(f["p"].as_str().unwrap()).unwrap();
    }
    f
}

/// The next frame that is not presence data.
async fn frame_skipping_presence(ws: &mut Ws) -> Value {
    loop {
        let f = frame(ws).await;
        if f["t"] != "d" || f["p"]["type"] != "presence" {
            return f;
        }
    }
}

async fn data(ws: &mut Ws, seq: u64, payload: &str) {
    let frame = json!({ "t": "d", "s": seq, "p": payload }).to_string();
    ws.send(Message::text(frame)).await.unwrap();
}

fn chat(text: &str) -> String {
    json!({ "type": "chat", "text": text }).to_string()
}

async fn texts_in_history(addr: SocketAddr, room: &str) -> Vec<String> {
    let history = get_json(addr, &format!("/api/history?room={room}")).await;
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The next presence update about `user`, waiting at most `within`.
async fn presence_of(ws: &mut Ws, user: &str, within: Duration) -> Value {
    timeout(within, async {
        loop {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "presence" && v["user"] == user {
                return v;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no presence update about {user} within {within:?}"))
}

#[tokio::test]
async fn a_sigkilled_instance_s_members_leave_the_room_within_seconds() {
    let redis = start_redis().await;
    let (a, _stop) = start(Config {
        redis_url: Some(redis.url.clone()),
        ..config()
    })
    .await;
    let (mut doomed, b, _dir) = spawn_server("test-2", &[("DEMO_REDIS_URL", &redis.url)]).await;
    let (mut ann, _) = join(a, "ann", "lobby").await;
    let (_bob, _) = join(b, "bob", "lobby").await;
    let joined = presence_of(&mut ann, "bob", WAIT).await;
    assert_eq!(
        (&joined["joined"], &joined["online"]),
        (&json!(true), &json!(2))
    );
    doomed.start_kill().unwrap(); // SIGKILL: bob's instance never says goodbye
    let killed = std::time::Instant::now();
    let left = presence_of(&mut ann, "bob", Duration::from_secs(10)).await;
    assert_eq!(
        (&left["joined"], &left["online"]),
        (&json!(false), &json!(1))
    );
    // Refreshed every second for 4 s, swept every second: gone within ~5 s (it was 30 s).
    assert!(
        killed.elapsed() < Duration::from_secs(7),
        "after {:?}",
        killed.elapsed()
    );
}

#[tokio::test]
async fn delivery_acks_stored_messages_and_nacks_refused_ones() {
    let (addr, _stop) = start(config()).await;
    let token = login(addr, "ann").await;
    let (mut ws, welcome) = hello(addr, &token, "lobby", "sid-1", 0).await;
    assert_eq!(
        welcome,
        json!({ "t": "welcome", "out": 0, "resumed": false })
    );
    let connected = frame(&mut ws).await;
    let expected = json!({ "type": "connected", "room": "lobby", "instance": "test-1", "user": "ann", "killable": false });
    assert_eq!(connected, json!({ "t": "d", "s": 1, "p": expected }));
    let history = frame(&mut ws).await;
    assert_eq!(
        (history["s"].as_u64(), &history["p"]["type"]),
        (Some(2), &json!("history"))
    );
    data(&mut ws, 1, &chat("hello")).await;
    assert_eq!(
        frame_skipping_presence(&mut ws).await,
        json!({ "t": "a", "s": 1 })
    );
    let echo = frame_skipping_presence(&mut ws).await;
    assert_eq!(
        (&echo["p"]["type"], &echo["p"]["text"]),
        (&json!("chat"), &json!("hello"))
    );
    data(&mut ws, 2, &chat(&"x".repeat(MAX_TEXT_CHARS + 1))).await;
    let nack = frame_skipping_presence(&mut ws).await;
    assert_eq!((&nack["t"], &nack["s"]), (&json!("n"), &json!(2)));
    assert!(nack["e"].as_str().unwrap().contains("too long"), "{nack}");
    data(&mut ws, 3, "{not json").await;
    let nack = frame_skipping_presence(&mut ws).await;
    assert_eq!((&nack["t"], &nack["s"]), (&json!("n"), &json!(3)));
    ws.send(Message::binary(vec![0x64, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2]))
        .await
        .unwrap();
    let nack = frame_skipping_presence(&mut ws).await;
    assert_eq!((&nack["t"], &nack["s"]), (&json!("n"), &json!(4)));
    // The connection stays usable, and a resent message is acknowledged, not applied again.
    data(&mut ws, 5, &chat("after the refusals")).await;
    assert_eq!(
        frame_skipping_presence(&mut ws).await,
        json!({ "t": "a", "s": 5 })
    );
    assert_eq!(
        frame_skipping_presence(&mut ws).await["p"]["text"],
        "after the refusals"
    );
    data(&mut ws, 1, &chat("hello")).await;
    let again = frame_skipping_presence(&mut ws).await;
    assert_eq!(again, json!({ "t": "a", "s": 1 }));
    // A resent refused message is refused again (its nack may have been lost).
    data(&mut ws, 2, &chat("x")).await;
    let again = frame_skipping_presence(&mut ws).await;
    assert_eq!((&again["t"], &again["s"]), (&json!("n"), &json!(2)));
    assert!(again["e"].as_str().unwrap().contains("too long"), "{again}");
    assert_eq!(
        texts_in_history(addr, "lobby").await,
        ["hello", "after the refusals"]
    );
}

#[tokio::test]
async fn the_rate_limit_is_a_nack_in_delivery_mode() {
    let (addr, _stop) = start(config()).await;
    let token = login(addr, "ann").await;
    let (mut ws, _) = hello(addr, &token, "lobby", "sid-rate", 0).await;
    for seq in 1..=(RATE_MESSAGES as u64 + 1) {
        data(&mut ws, seq, &chat(&format!("m{seq}"))).await;
    }
    let mut acked = 0;
    let nack = loop {
        let f = frame_skipping_presence(&mut ws).await;
        match f["t"].as_str().unwrap() {
            "a" => acked = f["s"].as_u64().unwrap(),
            "n" => break f,
            _ => {}
        }
    };
    assert_eq!(acked, RATE_MESSAGES as u64);
    assert_eq!(nack["s"], RATE_MESSAGES as u64 + 1);
    assert!(nack["e"].as_str().unwrap().contains("rate limit"), "{nack}");
}

/// A session resumes on a new connection: the welcome's `out` covers what was stored, what the
/// client had not received is replayed, the room's messages posted meanwhile follow, and a
/// resent message is not stored twice. `second` is the instance the client comes back to.
async fn resume_across(first: SocketAddr, second: SocketAddr) {
    let token = login(first, "ann").await;
    let (mut ws, _) = hello(first, &token, "resume", "sid-r", 0).await;
    assert_eq!(frame(&mut ws).await["p"]["type"], "connected");
    let history = frame(&mut ws).await;
    let inbound = history["s"].as_u64().unwrap();
    data(&mut ws, 1, &chat("one")).await;
    assert_eq!(
        frame_skipping_presence(&mut ws).await,
        json!({ "t": "a", "s": 1 })
    );
    // The client has delivered the history only: its echo of "one" is not acknowledged.
    drop(ws);
    let (mut bob, _) = join(second, "bob", "resume").await;
    say_ok(&mut bob, "two").await;
    say_ok(&mut bob, "three").await;

    let (mut ws, welcome) = hello(second, &token, "resume", "sid-r", inbound).await;
    assert_eq!(
        welcome,
        json!({ "t": "welcome", "out": 1, "resumed": true })
    );
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    while got.len() < 3 {
        let f = frame_skipping_presence(&mut ws).await;
        if f["p"]["type"] == "connected" {
            assert_eq!(
                f["p"]["instance"],
                if first == second { "test-1" } else { "test-2" }
            );
            continue;
        }
        assert_eq!(f["t"], "d", "{f}");
        seqs.push(f["s"].as_u64().unwrap());
        got.push(f["p"]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, ["one", "two", "three"]);
    // In stream order (presence frames take seqs in between).
    assert!(
        inbound < seqs[0] && seqs[0] < seqs[1] && seqs[1] < seqs[2],
        "{seqs:?}"
    );
    data(&mut ws, 1, &chat("one")).await; // resent: its ack was lost, say
    assert_eq!(frame_skipping_presence(&mut ws).await["t"], "a");
    assert_eq!(
        texts_in_history(second, "resume").await,
        ["one", "two", "three"]
    );
}

#[tokio::test]
async fn a_session_resumes_after_a_reconnect_and_catches_up_with_the_room() {
    let (addr, _stop) = start(config()).await;
    resume_across(addr, addr).await;
}

#[tokio::test]
async fn a_session_resumes_on_the_other_instance_through_redis() {
    let (_redis, (a, _stop_a), (b, _stop_b)) = start_cluster().await;
    resume_across(a, b).await;
}

/// A session open on `first` is opened again on `second` (the client gave the first socket up,
/// but it is still open): the newer connection wins, the older one is closed with 4000 and
/// what still arrives on it is not applied.
async fn take_over(first: SocketAddr, second: SocketAddr) {
    let token = login(first, "ann").await;
    let (mut old, _) = hello(first, &token, "fence", "sid-f", 0).await;
    assert_eq!(frame(&mut old).await["p"]["type"], "connected");
    assert_eq!(frame(&mut old).await["p"]["type"], "history");
    data(&mut old, 1, &chat("one")).await;
    assert_eq!(
        frame_skipping_presence(&mut old).await,
        json!({ "t": "a", "s": 1 })
    );
    let token = login(second, "ann").await;
    let (mut new, welcome) = hello(second, &token, "fence", "sid-f", 0).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    // The old socket speaks up: not applied, and closed.
    let stale = json!({ "t": "d", "s": 2, "p": chat("stale") }).to_string();
    let _ = old.send(Message::text(stale)).await;
    loop {
        match next_message(&mut old).await {
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4000, "{frame:?}");
                break;
            }
            Message::Text(_) => {}
            other => panic!("expected a close frame 4000, got {other:?}"),
        }
    }
    data(&mut new, 2, &chat("two")).await;
    loop {
        let f = frame_skipping_presence(&mut new).await;
        if f["t"] == "a" {
            assert_eq!(f["s"], 2);
            break;
        }
    }
    assert_eq!(texts_in_history(second, "fence").await, ["one", "two"]);
}

#[tokio::test]
async fn a_newer_connection_of_a_session_takes_it_over_and_the_older_gets_4000() {
    let (addr, _stop) = start(config()).await;
    take_over(addr, addr).await;
}

#[tokio::test]
async fn a_newer_connection_on_the_other_instance_takes_the_session_over() {
    let (_redis, (a, _stop_a), (b, _stop_b)) = start_cluster().await;
    take_over(a, b).await;
}

#[tokio::test]
async fn a_connection_must_start_with_a_hello() {
    let (addr, _stop) = start(config()).await;
    let token = login(addr, "ann").await;
    let mut ws = open(addr, &format!("token={token}"), None).await.unwrap();
    data(&mut ws, 1, &chat("no hello")).await;
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Protocol),
        other => panic!("expected a close frame 1002, got {other:?}"),
    }
}
