//! The demo chat server, driven by real WebSocket and HTTP clients on 127.0.0.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use demo_chat_server::{Config, Exit, Server, HISTORY_LEN, RESTART_EXIT_CODE};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
const WAIT: Duration = Duration::from_secs(2);

/// A fresh directory under the system temp dir, unique to this test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("demo-chat-server-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start(config: Config) -> (SocketAddr, JoinHandle<Exit>) {
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    (addr, tokio::spawn(server.run()))
}

async fn start_default() -> SocketAddr {
    start(Config::default()).await.0
}

/// Connects and returns the socket with the history message it gets first.
async fn join(addr: SocketAddr) -> (Ws, Value) {
    let (mut ws, _) = timeout(WAIT, connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("connect in time")
        .expect("connect");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "history", "{hello}");
    (ws, hello)
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

async fn say(ws: &mut Ws, id: &str, text: &str) {
    let msg = json!({ "type": "chat", "id": id, "user": "tester", "text": text, "sentAt": 1234.0 });
    ws.send(Message::text(msg.to_string())).await.unwrap();
}

/// A raw HTTP request; returns (status, headers, body).
async fn http(addr: SocketAddr, method: &str, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, buf[end..].to_vec())
}

#[tokio::test]
async fn broadcasts_each_chat_message_to_every_client() {
    let addr = start_default().await;
    let (mut a, _) = join(addr).await;
    let (mut b, _) = join(addr).await;
    say(&mut a, "m1", "hello everyone").await;
    for ws in [&mut a, &mut b] {
        let chat = next_non_presence(ws).await;
        assert_eq!(chat["type"], "chat");
        assert_eq!(chat["id"], "m1");
        assert_eq!(chat["user"], "tester");
        assert_eq!(chat["text"], "hello everyone");
        assert_eq!(chat["sentAt"], 1234.0);
        assert!(chat["serverAt"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn new_joiners_get_the_last_messages_in_order() {
    let addr = start_default().await;
    let (mut a, hello) = join(addr).await;
    assert_eq!(hello["messages"], json!([]));
    for i in 0..HISTORY_LEN + 10 {
        say(&mut a, &format!("m{i}"), &format!("message {i}")).await;
    }
    // Once a has its own last message back, the server has stored them all.
    loop {
        if next_non_presence(&mut a).await["id"] == format!("m{}", HISTORY_LEN + 9) {
            break;
        }
    }
    let (_b, hello) = join(addr).await;
    let ids: Vec<&str> = hello["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (10..HISTORY_LEN + 10).map(|i| format!("m{i}")).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn answers_ping_with_pong_and_rejects_bad_messages() {
    let addr = start_default().await;
    let (mut ws, _) = join(addr).await;
    ws.send(Message::text("ping")).await.unwrap();
    let reply = loop {
        match next_message(&mut ws).await {
            Message::Text(t) if t.as_str().contains("presence") => continue,
            other => break other,
        }
    };
    assert_eq!(reply, Message::text("pong"));
    ws.send(Message::text("{\"type\":\"chat\",\"text\":\"   \"}"))
        .await
        .unwrap();
    let error = next_non_presence(&mut ws).await;
    assert_eq!(error["type"], "error");
    ws.send(Message::text("not json")).await.unwrap();
    assert_eq!(next_non_presence(&mut ws).await["type"], "error");
}

#[tokio::test]
async fn restart_closes_with_1012_refuses_then_a_new_server_accepts_with_the_history() {
    let dir = temp_dir("restart");
    let config = Config {
        state_file: Some(dir.join("history.json")),
        ..Config::default()
    };
    let (addr, running) = start(config.clone()).await;
    let (mut ws, first_hello) = join(addr).await;
    say(&mut ws, "before-restart", "still here after the restart?").await;
    assert_eq!(next_non_presence(&mut ws).await["id"], "before-restart");

    let (status, _, _) = http(addr, "POST", "/control/restart", "").await;
    assert_eq!(status, 202);
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Restart),
        other => panic!("expected a close frame 1012, got {other:?}"),
    }
    let exit = timeout(WAIT, running)
        .await
        .expect("run() returns")
        .unwrap();
    assert_eq!(exit, Exit::Restart);

    // Down: refused, as while a real server restarts.
    let refused = TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "connections must be refused while the server is down"
    );

    // The fresh server (same port, same state file) accepts again and still has the history.
    let (again, _running) = start(Config {
        port: addr.port(),
        ..config
    })
    .await;
    assert_eq!(again, addr);
    let (_ws, hello) = join(addr).await;
    assert_ne!(hello["bootId"], first_hello["bootId"]);
    assert_eq!(hello["messages"][0]["id"], "before-restart");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn outage_silences_connections_holds_handshakes_then_drops_and_resumes() {
    let addr = start_default().await;
    let (mut ws, _) = join(addr).await;
    let (status, _, body) = http(addr, "POST", "/control/outage?ms=400", "").await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));

    // Half-open: the ping goes unanswered.
    ws.send(Message::text("ping")).await.unwrap();
    let silent = timeout(Duration::from_millis(250), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("presence") => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(
        silent.is_err(),
        "no reply during the outage, got {silent:?}"
    );

    // A new handshake hangs while the network is down, and completes once it is back.
    let joining = tokio::spawn(join(addr));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !joining.is_finished(),
        "a handshake must hang during the outage"
    );
    let (_fresh, hello) = timeout(WAIT, joining).await.unwrap().unwrap();
    assert_eq!(hello["type"], "history");

    // The silenced connection is gone without a close frame; the ping was never answered.
    let after = timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("presence") => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the silenced connection ends");
    assert!(
        !matches!(
            after,
            Some(Ok(Message::Text(_))) | Some(Ok(Message::Close(_)))
        ),
        "expected the connection to drop, got {after:?}"
    );
}

#[tokio::test]
async fn serves_the_page_history_and_guards_the_controls() {
    let dir = temp_dir("static");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>chat</title>").unwrap();
    std::fs::write(dir.join("assets/app.wasm"), b"\0asm").unwrap();
    let (addr, _) = start(Config {
        static_dir: Some(dir.clone()),
        ..Config::default()
    })
    .await;

    let (status, head, body) = http(addr, "GET", "/", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/html"), "{head}");
    assert_eq!(body, b"<!doctype html><title>chat</title>");
    let (status, head, _) = http(addr, "GET", "/assets/app.wasm", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("application/wasm"), "{head}");
    let (status, head, body) = http(addr, "HEAD", "/", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 34"), "{head}");
    assert!(body.is_empty());
    assert_eq!(http(addr, "GET", "/../Cargo.toml", "").await.0, 404);
    assert_eq!(http(addr, "GET", "/missing.js", "").await.0, 404);

    let (status, _, body) = http(addr, "GET", "/api/history", "").await;
    assert_eq!(status, 200);
    let history: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(history["messages"], json!([]));

    assert_eq!(http(addr, "GET", "/control/restart", "").await.0, 405);
    let foreign = "Origin: http://evil.example\r\n";
    assert_eq!(
        http(addr, "POST", "/control/outage?ms=10", foreign).await.0,
        403
    );
    assert_eq!(http(addr, "POST", "/control/outage?ms=0", "").await.0, 400);
    assert_eq!(
        http(addr, "POST", "/control/outage?ms=abc", "").await.0,
        400
    );
    let same = format!("Origin: http://{addr}\r\n");
    assert_eq!(
        http(addr, "POST", "/control/outage?ms=10", &same).await.0,
        202
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The binary itself: after a restart request it exits with the code demo/run.sh restarts on.
#[tokio::test]
async fn the_binary_exits_with_the_restart_code() {
    let dir = temp_dir("binary");
    let port_file = dir.join("port");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo-chat-server"))
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let port: u16 = timeout(WAIT, async {
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
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (_ws, _) = join(addr).await;
    assert_eq!(http(addr, "POST", "/control/restart", "").await.0, 202);
    let status = timeout(Duration::from_secs(3), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(RESTART_EXIT_CODE));
    let _ = std::fs::remove_dir_all(dir);
}
