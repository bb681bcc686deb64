//! End-to-end tests of the ws-test-server binary: each test starts its own server on free
//! ports and talks to it with a real tungstenite client and raw HTTP requests.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const STEP: Duration = Duration::from_secs(5);

struct Server {
    child: Child,
    ws: String,
    control: String,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ws-test-server"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ws-test-server");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped"))
            .read_line(&mut line)
            .expect("read the first line");
        let (ws, control) = line
            .trim_end()
            .strip_prefix("ws=")
            .and_then(|rest| rest.split_once(" control="))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(ws.starts_with("ws://127.0.0.1:"), "{line}");
        assert!(control.starts_with("http://127.0.0.1:"), "{line}");
        Self {
            ws: ws.to_owned(),
            control: control.to_owned(),
            child,
        }
    }

    /// An HTTP request to the control server (by hyper's client, as a browser's preflight
    /// would: with Origin and Access-Control-Request-Headers): (status, headers, body).
    async fn http(&self, method: &str, path: &str, body: &str) -> (u16, HeaderMap, String) {
        let addr = self.control.strip_prefix("http://").expect("http url");
        let stream = TcpStream::connect(addr).await.expect("connect control");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr)
            .header("origin", "http://127.0.0.1:1")
            .header("access-control-request-headers", "content-type")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("a request");
        let resp = tokio::time::timeout(STEP, async {
            let resp = sender.send_request(req).await.expect("a response");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .expect("the body")
                .to_bytes();
            (
                status,
                headers,
                String::from_utf8(body.to_vec()).expect("UTF-8"),
            )
        });
        resp.await.expect("control answers in time")
    }

    /// GET path, expecting 200; returns the body.
    async fn get(&self, path: &str) -> String {
        let (status, _, body) = self.http("GET", path, "").await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn stats(&self, scope: &str) -> String {
        self.get(&format!("/stats?scope={scope}")).await
    }

    async fn connect(&self, scope: &str) -> Client {
        let url = format!("{}/{scope}", self.ws);
        let (client, _) = tokio::time::timeout(STEP, connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stats(attempts: u64, refused: u64, opened: u64, open: u64, received: u64) -> String {
    format!(
        "{{\"attempts\":{attempts},\"refused\":{refused},\"opened\":{opened},\"open\":{open},\"received\":{received}}}"
    )
}

async fn next(client: &mut Client) -> Message {
    tokio::time::timeout(STEP, client.next())
        .await
        .expect("a message in time")
        .expect("the stream goes on")
        .expect("no error")
}

async fn next_text(client: &mut Client) -> String {
    match next(client).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads until the server's close frame, then on until the end (reading sends the reply).
async fn close_frame(client: &mut Client) -> CloseFrame {
    let frame = loop {
        match next(client).await {
            Message::Close(Some(frame)) => break frame,
            Message::Close(None) => panic!("a close frame without a code"),
            _ => {}
        }
    };
    let end = tokio::time::timeout(STEP, client.next())
        .await
        .expect("in time");
    assert!(end.is_none(), "the stream ends after the close: {end:?}");
    frame
}

/// Asserts that nothing arrives for a while.
async fn silent(client: &mut Client, for_: Duration) {
    if let Ok(msg) = tokio::time::timeout(for_, client.next()).await {
        panic!("expected silence, got {msg:?}");
    }
}

fn kill(pid: u32, signal: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: plain syscall wrapper; the child is ours and not yet reaped.
    let rc = unsafe { kill(pid as i32, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn prints_one_line_and_exits_cleanly_on_sigterm_and_sigint() {
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    for signal in [SIGTERM, SIGINT] {
        let mut server = Server::start();
        kill(server.child.id(), signal);
        let status = wait_exit(&mut server);
        assert!(status.success(), "{signal}: {status}");
        let mut rest = String::new();
        let stdout = server.child.stdout.as_mut().expect("piped");
        stdout.read_to_string(&mut rest).expect("read the rest");
        assert_eq!(rest, "", "{signal}: one line only");
    }
}

#[test]
fn honours_fixed_ports_and_rejects_bad_arguments() {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    };
    let (p, c) = (free(), free());
    let (ps, cs) = (p.to_string(), c.to_string());
    let server = Server::start_with(&["--ws-port", &ps, &format!("--control-port={cs}")]);
    assert_eq!(server.ws, format!("ws://127.0.0.1:{p}"));
    assert_eq!(server.control, format!("http://127.0.0.1:{c}"));

    let out = Command::new(env!("CARGO_BIN_EXE_ws-test-server"))
        .arg("--bogus")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn echoes_text_and_binary_and_answers_ping_with_pong() {
    let server = Server::start();
    let mut c = server.connect("echo").await;
    c.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "hello");
    c.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(next(&mut c).await, Message::binary(vec![0u8, 1, 2, 255]));
    c.send(Message::text("ping")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "pong");
    // Only exactly "ping" is special.
    c.send(Message::text("ping ")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "ping ");
    assert_eq!(server.stats("echo").await, stats(1, 0, 1, 1, 4));

    // The root path is the scope "".
    let mut root = server.connect("").await;
    root.send(Message::text("at root")).await.unwrap();
    assert_eq!(next_text(&mut root).await, "at root");
    assert_eq!(
        server.get("/received?scope=").await,
        "{\"messages\":[\"at root\"],\"count\":1,\"truncated\":false}"
    );

    // A normal close from the client is answered.
    c.close(None).await.unwrap();
    assert!(matches!(next(&mut c).await, Message::Close(_)));
    let done = server.get("/wait?scope=echo&open=0&ms=2000").await;
    assert!(done.ends_with("\"ok\":true}"), "{done}");
}

#[tokio::test]
async fn records_messages_in_order_with_binary_as_length_head_and_hash() {
    let server = Server::start();
    let mut c = server.connect("rec?ignored=1").await;
    c.send(Message::text("a \"quoted\"\nline")).await.unwrap();
    c.send(Message::binary(b"abc".to_vec())).await.unwrap();
    c.send(Message::text("ping")).await.unwrap();
    c.send(Message::binary(Vec::new())).await.unwrap();
    for _ in 0..4 {
        next(&mut c).await;
    }
    assert_eq!(
        server.get("/received?scope=rec").await,
        "{\"messages\":[\"a \\\"quoted\\\"\\nline\",\
         {\"binary\":3,\"head\":\"616263\",\"fnv1a64\":\"e71fa2190541574b\"},\"ping\",\
         {\"binary\":0,\"head\":\"\",\"fnv1a64\":\"cbf29ce484222325\"}],\"count\":4,\"truncated\":false}"
    );
}

#[tokio::test]
async fn accepts_the_first_offered_subprotocol() {
    let server = Server::start();
    let mut req = format!("{}/proto", server.ws)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("chat.v2, chat.v1"),
    );
    let (_c, resp) = connect_async(req).await.expect("connect with protocols");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat.v2");

    let (_c, resp) = connect_async(format!("{}/proto", server.ws)).await.unwrap();
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test]
async fn drop_resets_connections_without_a_close_frame() {
    let server = Server::start();
    let mut c = server.connect("drop").await;
    c.send(Message::text("x")).await.unwrap();
    next(&mut c).await;
    assert_eq!(server.get("/drop?scope=drop").await, "{\"dropped\":1}");
    // /drop answers once the connections are gone.
    assert_eq!(server.stats("drop").await, stats(1, 0, 1, 0, 1));
    match tokio::time::timeout(STEP, c.next()).await.expect("in time") {
        Some(Err(WsError::Io(_) | WsError::Protocol(_))) => {}
        other => panic!("expected an abnormal end, got {other:?}"),
    }
    // The server accepts again at once.
    let mut c = server.connect("drop").await;
    c.send(Message::text("again")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "again");
}

#[tokio::test]
async fn refuse_answers_503_for_a_while_then_accepts() {
    let server = Server::start();
    let t0 = Instant::now();
    assert_eq!(server.get("/refuse?scope=ref&ms=400").await, "{\"ms\":400}");
    match connect_async(format!("{}/ref", server.ws)).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected a 503, got {other:?}"),
    }
    // Another scope is not refused.
    server.connect("other").await;
    while t0.elapsed() < Duration::from_millis(450) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = server.connect("ref").await;
    c.send(Message::text("in")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "in");
    assert_eq!(server.stats("ref").await, stats(2, 1, 1, 1, 1));

    // ms=0 stops refusing at once.
    server.get("/refuse?scope=ref&ms=60000").await;
    assert!(connect_async(format!("{}/ref", server.ws)).await.is_err());
    server.get("/refuse?scope=ref&ms=0").await;
    let _c2 = server.connect("ref").await;
    assert_eq!(server.stats("ref").await, stats(4, 2, 2, 2, 1));
}

#[tokio::test]
async fn close_sends_the_code_and_reason() {
    let server = Server::start();
    let mut c = server.connect("close").await;
    let mut other = server.connect("keep").await;
    let (closed, frame) = tokio::join!(
        server.get("/close?scope=close&code=4001&reason=bye%20now"),
        close_frame(&mut c)
    );
    assert_eq!(closed, "{\"closed\":1}");
    assert_eq!(frame.code, CloseCode::from(4001));
    assert_eq!(frame.reason.as_str(), "bye now");
    assert_eq!(server.stats("close").await, stats(1, 0, 1, 0, 0));
    other.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_text(&mut other).await, "still here");

    let long = "r".repeat(124);
    let (status, _, _) = server
        .http("GET", &format!("/close?reason={long}"), "")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn stats_count_attempts_opens_and_messages() {
    let server = Server::start();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(server.connect("count").await);
    }
    clients[0].send(Message::text("1")).await.unwrap();
    clients[2].send(Message::text("2")).await.unwrap();
    next(&mut clients[0]).await;
    next(&mut clients[2]).await;
    assert_eq!(server.stats("count").await, stats(3, 0, 3, 3, 2));
    drop(clients);
    let done = server.get("/wait?scope=count&open=0").await;
    assert_eq!(done, stats(3, 0, 3, 0, 2).replace('}', ",\"ok\":true}"));
    // Unscoped stats sum every scope.
    let _another = server.connect("another").await;
    assert_eq!(server.get("/stats").await, stats(4, 0, 4, 1, 2));
    // /wait gives up after ms.
    let t0 = Instant::now();
    let body = server.get("/wait?scope=count&received=3&ms=150").await;
    assert!(body.ends_with("\"ok\":false}"), "{body}");
    assert!(t0.elapsed() >= Duration::from_millis(140));
}

#[tokio::test]
async fn pause_backs_writes_up_and_resume_delivers_everything_in_order() {
    const N: usize = 64;
    const SIZE: usize = 32 << 10; // 64 × 32 KiB = 2 MiB
    let server = Server::start();
    let mut c = server.connect("pause").await;
    c.send(Message::text("warm-up")).await.unwrap();
    next(&mut c).await; // the server is now waiting in a read
    assert_eq!(
        server.get("/pause?scope=pause").await,
        "{\"connections\":1}"
    );

    let (mut sink, mut stream) = c.split();
    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            for i in 0..N {
                let mut text = format!("{i}:");
                text.extend(std::iter::repeat_n('x', SIZE - text.len()));
                sink.send(Message::text(text)).await.unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
            sink
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled_at = written.load(Ordering::SeqCst);
    assert!(!writer.is_finished(), "the writes must back up");
    // The kernels absorb little: with the small receive buffer and MSS, ~130 KB.
    assert!(
        stalled_at * SIZE < 512 << 10,
        "{stalled_at} messages written"
    );
    assert_eq!(server.stats("pause").await, stats(1, 0, 1, 1, 1));

    assert_eq!(
        server.get("/resume?scope=pause").await,
        "{\"connections\":1}"
    );
    let t0 = Instant::now();
    for i in 0..N {
        let msg = tokio::time::timeout(STEP, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = msg.into_text().unwrap();
        assert!(
            text.starts_with(&format!("{i}:")),
            "message {i} out of order"
        );
        assert_eq!(text.len(), SIZE);
    }
    let _sink = writer.await.unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "2 MiB took {:?}",
        t0.elapsed()
    );
    assert_eq!(server.stats("pause").await, stats(1, 0, 1, 1, N as u64 + 1));
}

#[tokio::test]
async fn mute_reads_and_records_but_answers_nothing() {
    let server = Server::start();
    let mut c = server.connect("mute").await;
    assert_eq!(server.get("/mute?scope=mute").await, "{\"connections\":1}");
    c.send(Message::text("ping")).await.unwrap();
    c.send(Message::text("hello")).await.unwrap();
    let body = server.get("/wait?scope=mute&received=2").await;
    assert!(body.ends_with("\"ok\":true}"), "{body}");
    silent(&mut c, Duration::from_millis(200)).await;
    // Pushes still go out while muted.
    server.get("/send?scope=mute&data=pushed").await;
    assert_eq!(next_text(&mut c).await, "pushed");
    server.get("/unmute?scope=mute").await;
    c.send(Message::text("ping")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "pong");
}

#[tokio::test]
async fn faults_and_counters_are_per_scope() {
    let server = Server::start();
    let mut a = server.connect("a").await;
    let mut b = server.connect("b").await;
    server.get("/pause?scope=a").await;
    server.get("/mute?scope=b").await;
    a.send(Message::text("to a")).await.unwrap();
    b.send(Message::text("to b")).await.unwrap();
    server.get("/wait?scope=b&received=1").await;
    assert_eq!(server.stats("a").await, stats(1, 0, 1, 1, 0));
    assert_eq!(server.stats("b").await, stats(1, 0, 1, 1, 1));
    server.get("/unmute?scope=b").await;
    b.send(Message::text("b again")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "b again");

    assert_eq!(server.get("/drop?scope=a").await, "{\"dropped\":1}");
    assert!(!matches!(a.next().await, Some(Ok(_))));
    b.send(Message::text("b survives")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "b survives");
    assert_eq!(
        server.get("/received?scope=b").await,
        "{\"messages\":[\"to b\",\"b again\",\"b survives\"],\"count\":3,\"truncated\":false}"
    );

    // Resetting a scope clears its faults and counters only.
    server.get("/reset?scope=a").await;
    assert_eq!(server.stats("a").await, stats(0, 0, 0, 0, 0));
    assert_eq!(server.stats("b").await, stats(1, 0, 1, 1, 3));
    let mut a = server.connect("a").await;
    a.send(Message::text("a unpaused")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "a unpaused");
}

#[tokio::test]
async fn unscoped_faults_apply_to_every_scope() {
    let server = Server::start();
    let mut a = server.connect("ga").await;
    server.get("/mute?scope=ga").await;
    assert_eq!(server.get("/pause").await, "{\"connections\":1}");
    // A connection opened later, in a new scope, is paused too.
    let mut b = server.connect("gb").await;
    a.send(Message::text("1")).await.unwrap();
    b.send(Message::text("2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(server.get("/stats").await, stats(2, 0, 2, 2, 0));
    // Unscoped clearing clears the scoped faults too.
    server.get("/resume").await;
    server.get("/wait?received=2").await;
    server.get("/unmute").await;
    assert_eq!(next_text(&mut b).await, "2");
    a.send(Message::text("3")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "3", "the muted \"1\" got no echo");
    // Unscoped /received merges the scopes in arrival order ("1" and "2" raced).
    let all = server.get("/received").await;
    assert!(
        all.ends_with(",\"3\"],\"count\":3,\"truncated\":false}"),
        "{all}"
    );
    assert!(all.contains("\"1\"") && all.contains("\"2\""), "{all}");
    // Unscoped close and reset.
    let (closed, fa, fb) = tokio::join!(
        server.get("/close?code=1001"),
        close_frame(&mut a),
        close_frame(&mut b)
    );
    assert_eq!(closed, "{\"closed\":2}");
    assert_eq!(fa.code, CloseCode::Away);
    assert_eq!(fb.code, CloseCode::Away);
    server.get("/reset").await;
    assert_eq!(server.get("/stats").await, stats(0, 0, 0, 0, 0));
}

#[tokio::test]
async fn burst_and_send_push_messages_in_order() {
    let server = Server::start();
    let mut c = server.connect("burst").await;
    let mut d = server.connect("burst").await;
    assert_eq!(
        server.get("/burst?scope=burst&n=1000").await,
        "{\"sent\":2}"
    );
    for client in [&mut c, &mut d] {
        for i in 0..1000 {
            assert_eq!(next_text(client).await, i.to_string());
        }
    }
    assert_eq!(
        server.get("/send?scope=burst&data=a%20b%2Bc+d").await,
        "{\"sent\":2}"
    );
    assert_eq!(next_text(&mut c).await, "a b+c d");
    let (status, _, body) = server
        .http("POST", "/send?scope=burst", "from the body")
        .await;
    assert_eq!((status, body.as_str()), (200, "{\"sent\":2}"));
    assert_eq!(next_text(&mut c).await, "from the body");
    server.get("/send?scope=burst&data=AB&binary=1").await;
    assert_eq!(next(&mut c).await, Message::binary(b"AB".to_vec()));
    assert_eq!(server.stats("burst").await, stats(2, 0, 2, 2, 0));
}

#[tokio::test]
async fn stall_holds_the_handshake() {
    let server = Server::start();
    server.get("/stall?scope=stall&ms=300").await;
    let t0 = Instant::now();
    let mut c = server.connect("stall").await;
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    c.send(Message::text("late")).await.unwrap();
    assert_eq!(next_text(&mut c).await, "late");
    assert_eq!(server.stats("stall").await, stats(1, 0, 1, 1, 1));
}

#[tokio::test]
async fn control_speaks_cors_and_reports_errors() {
    let server = Server::start();
    let (status, head, body) = server.http("GET", "/stats?scope=x", "").await;
    assert_eq!(status, 200);
    assert_eq!(head["access-control-allow-origin"], "*");
    assert_eq!(head["content-type"], "application/json");
    assert_eq!(body, stats(0, 0, 0, 0, 0));

    let (status, head, body) = server.http("OPTIONS", "/pause?scope=x", "").await;
    assert_eq!(status, 204);
    assert_eq!(head["access-control-allow-origin"], "*");
    assert_eq!(head["access-control-allow-methods"], "GET, POST, OPTIONS");
    assert_eq!(head["access-control-allow-headers"], "content-type");
    assert_eq!(head["access-control-allow-private-network"], "true");
    assert_eq!(body, "");

    for (path, want) in [
        ("/nope", 404),
        ("/refuse", 400),
        ("/refuse?ms=-1", 400),
        ("/burst?n=x", 400),
        ("/close?code=70000", 400),
        ("/send", 400),
        ("/delivery/drop-after-apply", 400),
        ("/delivery/send", 400),
    ] {
        let (status, head, body) = server.http("GET", path, "").await;
        assert_eq!(status, want, "{path}: {body}");
        assert_eq!(head["access-control-allow-origin"], "*", "{path}");
        assert_eq!(head["content-type"], "application/json", "{path}");
        assert!(body.starts_with("{\"error\":\""), "{body}");
    }
    let (status, _, _) = server.http("DELETE", "/reset", "").await;
    assert_eq!(status, 405);
}
