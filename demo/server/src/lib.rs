//! The chat server of the resilient-ws demo.
//!
//! One port, bound to 127.0.0.1, serves everything:
//! - `GET /ws` (a WebSocket upgrade): the chat. On connect the server sends the history
//!   (`{"type":"history","bootId","startedAt","messages":[…]}`), then every chat message anyone sends
//!   (`{"type":"chat","id","user","text","sentAt","serverAt"}`) and the number of people online
//!   (`{"type":"presence","online"}`). A client sends `{"type":"chat","id","user","text","sentAt"}`;
//!   the text frame `ping` is answered with `pong` (the SDK's heartbeat).
//! - `GET /api/history`, `GET /api/status`: the same data over plain HTTP.
//! - `POST /control/restart`: every client gets a close frame 1012 ("service restart"), the listener
//!   closes and [`Server::run`] returns [`Exit::Restart`]; the binary then exits with code 75 and
//!   `demo/run.sh` starts a fresh process on the same port a few seconds later. In between, connections
//!   are refused, exactly as during a real restart. The history survives in the state file.
//! - `POST /control/outage?ms=N`: a network loss. Open connections go silent (nothing read, nothing
//!   written, pings unanswered: half-open, as seen from the browser), new WebSocket handshakes hang;
//!   after N ms the silent connections are dropped without a close frame (whatever they carried in the
//!   meantime is lost) and the handshakes waiting complete.
//! - any other `GET`: the built page (static files).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How many chat messages a new joiner gets.
pub const HISTORY_LEN: usize = 50;
pub const MAX_TEXT_CHARS: usize = 2000;
pub const MAX_USER_CHARS: usize = 32;
pub const MAX_ID_LEN: usize = 64;
pub const DEFAULT_OUTAGE_MS: u64 = 5000;
pub const MAX_OUTAGE_MS: u64 = 60_000;
/// The exit code of the binary after `POST /control/restart`: "start me again".
pub const RESTART_EXIT_CODE: i32 = 75;
/// Messages waiting for one client; a client that falls further behind is disconnected (1013).
const CLIENT_QUEUE: usize = 256;
const HEAD_LIMIT: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a restart waits for the clients to answer the close frame.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// A chat message as the server stores and broadcasts it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub id: String,
    pub user: String,
    pub text: String,
    /// When the sender wrote it (the client's clock, epoch ms).
    pub sent_at: f64,
    /// When the server received it (epoch ms).
    pub server_at: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ServerMsg<'a> {
    Chat(&'a Chat),
    #[serde(rename_all = "camelCase")]
    History {
        boot_id: &'a str,
        started_at: u64,
        messages: Vec<&'a Chat>,
    },
    Presence {
        online: usize,
    },
    Error {
        message: String,
    },
}

impl ServerMsg<'_> {
    fn to_message(&self) -> Message {
        Message::text(serde_json::to_string(self).expect("server messages serialize"))
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ClientMsg {
    Chat {
        id: Option<String>,
        user: Option<String>,
        text: String,
        #[serde(rename = "sentAt")]
        sent_at: Option<f64>,
    },
}

#[derive(Serialize, Deserialize, Default)]
struct StateFile {
    messages: Vec<Chat>,
}

/// The server's fault mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// A network loss; the number tells one outage from the next.
    Outage(u64),
    /// Shutting down for a restart.
    Restarting,
}

/// Why [`Server::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `POST /control/restart`: start a fresh server (same port, same state file).
    Restart,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    /// 0: any free port.
    pub port: u16,
    /// When `port` is taken, take any free port instead of failing.
    pub port_fallback: bool,
    /// The built page; None serves a short note instead.
    pub static_dir: Option<PathBuf>,
    /// Where the history is kept across restarts; None keeps it in memory only.
    pub state_file: Option<PathBuf>,
}

struct State {
    history: VecDeque<Chat>,
    clients: HashMap<u64, mpsc::Sender<Message>>,
    next_client: u64,
    next_message: u64,
    next_outage: u64,
}

struct Shared {
    state: Mutex<State>,
    mode: watch::Sender<Mode>,
    boot_id: String,
    started_at: u64,
    static_dir: Option<PathBuf>,
    state_file: Option<PathBuf>,
}

pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds 127.0.0.1:`port` and loads the history from the state file. A taken port is retried for
    /// a few seconds (a restart rebinding its own port), or replaced by a free one with `port_fallback`.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = bind_listener(config.port, config.port_fallback).await?;
        let history = match &config.state_file {
            Some(path) => load_history(path),
            None => VecDeque::new(),
        };
        let started_at = now_ms();
        static BOOTS: AtomicU64 = AtomicU64::new(0);
        let boot_id = format!(
            "{:x}-{:x}-{}",
            started_at,
            std::process::id(),
            BOOTS.fetch_add(1, Ordering::Relaxed)
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                history,
                clients: HashMap::new(),
                next_client: 0,
                next_message: 0,
                next_outage: 0,
            }),
            mode: watch::Sender::new(Mode::Normal),
            boot_id,
            started_at,
            static_dir: config.static_dir,
            state_file: config.state_file,
        });
        Ok(Server { listener, shared })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn boot_id(&self) -> &str {
        &self.shared.boot_id
    }

    /// Serves until a restart is requested; by then every client has been sent a close frame 1012
    /// and the listener is closed (new connections are refused).
    pub async fn run(self) -> Exit {
        let Server { listener, shared } = self;
        // Every connection task holds a clone of `alive`; recv() returns None once they all ended.
        let (alive, mut all_ended) = mpsc::channel::<()>(1);
        let mut mode = shared.mode.subscribe();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let shared = shared.clone();
                        let alive = alive.clone();
                        tokio::spawn(async move {
                            handle_connection(stream, shared).await;
                            drop(alive);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        eprintln!("demo-chat-server: accept failed: {e}");
                        sleep(Duration::from_millis(50)).await;
                    }
                },
                changed = mode.changed() => {
                    if changed.is_err() || *mode.borrow_and_update() == Mode::Restarting {
                        break;
                    }
                }
            }
        }
        drop(listener);
        drop(alive);
        let _ = timeout(CLOSE_WAIT * 4, all_ended.recv()).await;
        Exit::Restart
    }
}

async fn bind_listener(port: u16, fallback: bool) -> io::Result<TcpListener> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && port != 0 => {
                if fallback {
                    return TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await;
                }
                tries += 1;
                if tries >= 50 {
                    return Err(e);
                }
                sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn load_history(path: &Path) -> VecDeque<Chat> {
    let Ok(bytes) = std::fs::read(path) else {
        return VecDeque::new();
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(file) => {
            let skip = file.messages.len().saturating_sub(HISTORY_LEN);
            file.messages.into_iter().skip(skip).collect()
        }
        Err(e) => {
            eprintln!(
                "demo-chat-server: ignoring unreadable state file {}: {e}",
                path.display()
            );
            VecDeque::new()
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Registers a client and returns its id with the history to send it first. Both happen under one
    /// lock, so the client misses no message and gets none twice.
    fn join(&self, tx: mpsc::Sender<Message>) -> (u64, Message) {
        let mut state = self.lock();
        let id = state.next_client;
        state.next_client += 1;
        state.clients.insert(id, tx);
        let hello = ServerMsg::History {
            boot_id: &self.boot_id,
            started_at: self.started_at,
            messages: state.history.iter().collect(),
        }
        .to_message();
        (id, hello)
    }

    fn leave(&self, id: u64) {
        self.lock().clients.remove(&id);
    }

    fn broadcast_presence(&self) {
        let mut state = self.lock();
        let msg = ServerMsg::Presence {
            online: state.clients.len(),
        }
        .to_message();
        broadcast(&mut state, &msg);
    }

    /// Handles one text frame other than "ping"; returns the error to send back, if any.
    fn handle_text(&self, text: &str) -> Result<(), String> {
        let ClientMsg::Chat {
            id,
            user,
            text,
            sent_at,
        } = serde_json::from_str(text).map_err(|e| format!("not a chat message: {e}"))?;
        if text.trim().is_empty() {
            return Err("empty message".into());
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("message longer than {MAX_TEXT_CHARS} characters"));
        }
        let user: String = user
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or("anonymous")
            .chars()
            .take(MAX_USER_CHARS)
            .collect();
        let now = now_ms();
        let mut state = self.lock();
        let id = match id {
            Some(id) if !id.is_empty() && id.len() <= MAX_ID_LEN => id,
            _ => {
                state.next_message += 1;
                format!("{}-{}", self.boot_id, state.next_message)
            }
        };
        let chat = Chat {
            id,
            user,
            text,
            sent_at: sent_at.filter(|t| t.is_finite()).unwrap_or(now as f64),
            server_at: now,
        };
        let msg = ServerMsg::Chat(&chat).to_message();
        state.history.push_back(chat);
        while state.history.len() > HISTORY_LEN {
            state.history.pop_front();
        }
        self.persist(&state);
        broadcast(&mut state, &msg);
        Ok(())
    }

    /// Writes the history to the state file (under the lock, so writes land in order).
    fn persist(&self, state: &State) {
        let Some(path) = &self.state_file else { return };
        let file = StateFile {
            messages: state.history.iter().cloned().collect(),
        };
        let tmp = path.with_extension("tmp");
        let result = serde_json::to_vec(&file)
            .map_err(io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            eprintln!(
                "demo-chat-server: could not save history to {}: {e}",
                path.display()
            );
        }
    }

    fn start_outage(self: &Arc<Self>, ms: u64) {
        let generation = {
            let mut state = self.lock();
            state.next_outage += 1;
            state.next_outage
        };
        let started = self.mode.send_if_modified(|mode| {
            if *mode == Mode::Restarting {
                return false;
            }
            *mode = Mode::Outage(generation);
            true
        });
        if !started {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(ms)).await;
            // A later outage extends this one: only the latest one ends it.
            let ended = shared.mode.send_if_modified(|mode| {
                if *mode == Mode::Outage(generation) {
                    *mode = Mode::Normal;
                    return true;
                }
                false
            });
            if ended {
                println!("demo-chat-server: network back after {ms} ms");
            }
        });
    }
}

/// Queues `msg` for every client; a client whose queue is full is disconnected.
fn broadcast(state: &mut State, msg: &Message) {
    state
        .clients
        .retain(|_, tx| tx.try_send(msg.clone()).is_ok());
}

/// Resolves once the mode is no longer an outage; returns that mode.
async fn outage_over(mode: &mut watch::Receiver<Mode>) -> Mode {
    loop {
        let current = *mode.borrow_and_update();
        if !matches!(current, Mode::Outage(_)) {
            return current;
        }
        if mode.changed().await.is_err() {
            return Mode::Restarting;
        }
    }
}

/// Resolves once a restart has begun.
async fn restarting(mode: &mut watch::Receiver<Mode>) {
    loop {
        if *mode.borrow_and_update() == Mode::Restarting || mode.changed().await.is_err() {
            return;
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    fn is_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    }
}

/// Reads a request head; returns it with the bytes read past it.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<(Request, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            break searched_from + pos + 4;
        }
        if buf.len() > HEAD_LIMIT {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_owned();
    let target = request_line.next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let request = Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
    };
    Ok(Some((request, buf[end..].to_vec())))
}

async fn handle_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut mode = shared.mode.subscribe();
    let head = tokio::select! {
        head = timeout(HEAD_TIMEOUT, read_head(&mut stream)) => head,
        () = restarting(&mut mode) => return,
    };
    let Ok(Ok(Some((request, leftover)))) = head else {
        return;
    };
    if request.is_websocket() {
        if request.path == "/ws" {
            websocket(stream, request, leftover, shared).await;
        } else {
            let _ = respond(&mut stream, 404, "text/plain", b"the chat is at /ws\n").await;
        }
        return;
    }
    if let Err(e) = http(&mut stream, &request, &shared).await {
        if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::ConnectionReset {
            eprintln!("demo-chat-server: {} {}: {e}", request.method, request.path);
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    respond_to(stream, false, status, content_type, body).await
}

/// Writes a whole response and closes; `head_only`: without the body (a HEAD request).
async fn respond_to(
    stream: &mut TcpStream,
    head_only: bool,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    stream.flush().await?;
    stream.shutdown().await
}

async fn respond_json(
    stream: &mut TcpStream,
    status: u16,
    value: serde_json::Value,
) -> io::Result<()> {
    let body = serde_json::to_vec(&value).map_err(io::Error::other)?;
    respond(stream, status, "application/json", &body).await
}

async fn respond_json_to(
    stream: &mut TcpStream,
    head_only: bool,
    value: serde_json::Value,
) -> io::Result<()> {
    let body = serde_json::to_vec(&value).map_err(io::Error::other)?;
    respond_to(stream, head_only, 200, "application/json", &body).await
}

/// The controls change the server's state, so only the page itself may call them: the Host must be
/// the loopback address (no DNS rebinding) and a browser's Origin must be this server.
fn control_allowed(request: &Request) -> bool {
    let Some(host) = request.header("host") else {
        return true; // not a browser
    };
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    if name != "127.0.0.1" && name != "localhost" {
        return false;
    }
    request
        .header("origin")
        .is_none_or(|origin| origin == format!("http://{host}"))
}

async fn http(stream: &mut TcpStream, request: &Request, shared: &Arc<Shared>) -> io::Result<()> {
    let method = request.method.as_str();
    let path = request.path.as_str();
    let head_only = method == "HEAD";
    if path.starts_with("/control/") {
        if method != "POST" {
            return respond(stream, 405, "text/plain", b"use POST\n").await;
        }
        if !control_allowed(request) {
            return respond(
                stream,
                403,
                "text/plain",
                b"controls are for the demo page only\n",
            )
            .await;
        }
    }
    match (method, path) {
        ("POST", "/control/restart") => {
            respond_json(
                stream,
                202,
                serde_json::json!({ "ok": true, "action": "restart" }),
            )
            .await?;
            println!("demo-chat-server: restart requested: closing every connection (1012)");
            shared.mode.send_replace(Mode::Restarting);
            Ok(())
        }
        ("POST", "/control/outage") => {
            let ms = match request.query_param("ms") {
                None => Some(DEFAULT_OUTAGE_MS),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=MAX_OUTAGE_MS).contains(ms)),
            };
            let Some(ms) = ms else {
                let msg = format!("ms must be a whole number from 1 to {MAX_OUTAGE_MS}\n");
                return respond(stream, 400, "text/plain", msg.as_bytes()).await;
            };
            respond_json(
                stream,
                202,
                serde_json::json!({ "ok": true, "action": "outage", "ms": ms }),
            )
            .await?;
            println!("demo-chat-server: network loss for {ms} ms: connections go silent");
            shared.start_outage(ms);
            Ok(())
        }
        ("POST", _) => respond(stream, 404, "text/plain", b"not found\n").await,
        ("GET" | "HEAD", "/api/history") => {
            let messages: Vec<Chat> = shared.lock().history.iter().cloned().collect();
            let history = serde_json::json!({ "bootId": shared.boot_id, "messages": messages });
            respond_json_to(stream, head_only, history).await
        }
        ("GET" | "HEAD", "/api/status") => {
            let online = shared.lock().clients.len();
            let mode = match shared.mode() {
                Mode::Normal => "normal",
                Mode::Outage(_) => "outage",
                Mode::Restarting => "restarting",
            };
            let status = serde_json::json!({
                "bootId": shared.boot_id, "startedAt": shared.started_at, "online": online, "mode": mode,
            });
            respond_json_to(stream, head_only, status).await
        }
        ("GET" | "HEAD", _) => {
            static_file(stream, head_only, path, shared.static_dir.as_deref()).await
        }
        _ => respond(stream, 405, "text/plain", b"method not allowed\n").await,
    }
}

/// The file under `dir` that a URL path names, or None when the path tries to leave `dir`.
pub fn static_path(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Some(dir.join(rel))
    } else {
        None
    }
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn static_file(
    stream: &mut TcpStream,
    head_only: bool,
    url_path: &str,
    dir: Option<&Path>,
) -> io::Result<()> {
    let Some(dir) = dir else {
        let note = b"The page is not built: run `make demo` (demo/run.sh).\n";
        return respond(stream, 404, "text/plain; charset=utf-8", note).await;
    };
    let Some(path) = static_path(dir, url_path) else {
        return respond(stream, 404, "text/plain", b"not found\n").await;
    };
    match tokio::fs::read(&path).await {
        Ok(body) => respond_to(stream, head_only, 200, content_type(&path), &body).await,
        Err(_) => respond(stream, 404, "text/plain", b"not found\n").await,
    }
}

enum End {
    /// The client left, or its connection broke.
    Gone,
    /// It fell too far behind.
    TooSlow,
    Outage,
    Restart,
}

async fn websocket(
    mut stream: TcpStream,
    request: Request,
    leftover: Vec<u8>,
    shared: Arc<Shared>,
) {
    let Some(key) = request.header("sec-websocket-key") else {
        let _ = respond(
            &mut stream,
            400,
            "text/plain",
            b"missing Sec-WebSocket-Key\n",
        )
        .await;
        return;
    };
    let mut mode = shared.mode.subscribe();
    // The network is down: the handshake hangs until it is back.
    if outage_over(&mut mode).await == Mode::Restarting {
        return;
    }
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    if stream.write_all(accept.as_bytes()).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, None).await;
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel(CLIENT_QUEUE);
    let (id, hello) = shared.join(tx);
    if sink.send(hello).await.is_err() {
        shared.leave(id);
        return;
    }
    shared.broadcast_presence();

    let end = loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = if text.as_str() == "ping" {
                        Some(Message::text("pong"))
                    } else {
                        shared
                            .handle_text(text.as_str())
                            .err()
                            .map(|message| ServerMsg::Error { message }.to_message())
                    };
                    if let Some(reply) = reply {
                        if sink.send(reply).await.is_err() {
                            break End::Gone;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let message = "binary messages are not part of the chat".to_owned();
                    if sink.send(ServerMsg::Error { message }.to_message()).await.is_err() {
                        break End::Gone;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Gone,
                Some(Ok(_)) => {} // ping and pong frames: tungstenite answers pings itself
            },
            out = rx.recv() => match out {
                Some(msg) => {
                    if sink.send(msg).await.is_err() {
                        break End::Gone;
                    }
                }
                None => break End::TooSlow,
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    break End::Restart;
                }
                match *mode.borrow_and_update() {
                    Mode::Normal => {}
                    Mode::Outage(_) => break End::Outage,
                    Mode::Restarting => break End::Restart,
                }
            }
        }
    };
    shared.leave(id);
    match end {
        End::Gone => shared.broadcast_presence(),
        End::TooSlow => {
            let frame = CloseFrame {
                code: CloseCode::Again,
                reason: "too far behind".into(),
            };
            let _ = timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
            shared.broadcast_presence();
        }
        End::Outage => {
            // Silent: nothing read, nothing written, until the network is back; then the connection
            // is gone without a close frame, like one whose path died.
            outage_over(&mut mode).await;
        }
        End::Restart => {
            let frame = CloseFrame {
                code: CloseCode::Restart,
                reason: "server restarting".into(),
            };
            let _ = timeout(CLOSE_WAIT, async {
                if sink.send(Message::Close(Some(frame))).await.is_ok() {
                    // Wait for the client's close frame, so the browser sees a clean close.
                    while let Some(Ok(_)) = source.next().await {}
                }
            })
            .await;
        }
    }
}
