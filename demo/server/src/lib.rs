//! The chat server of the resilient-ws demo (axum).
//!
//! Routes:
//! - `POST /api/login` `{"name":"…"}` → `{"token":"<JWT>","expiresAt":<epoch ms>,"user":"…"}`. A
//!   development login without a password: anyone may take any name. HS256 tokens, signed with
//!   `DEMO_JWT_SECRET` (a random secret when unset), valid for `DEMO_TOKEN_TTL_S` (300 s).
//! - `GET /ws?token=<JWT>&room=<room>`: the chat (see [`conn`]). Before the upgrade, a missing,
//!   bad or expired token gets 401 and an `Origin` outside the allow-list gets 403; both are
//!   logged with their cause.
//! - `GET /healthz` → `{"ok":true,"instance":"…","pid":N,"catchUps":N}` (`catchUps`: how many
//!   times a connection fell behind its room's queue and caught up from the room's log).
//! - `GET /api/history?room=<room>` → `{"room":"…","messages":[…]}`: the room's stored messages.
//! - `POST /api/kill` (only with `DEMO_ENABLE_KILL=1`, the cluster): the instance kills itself
//!   with SIGKILL, as a crash would.
//! - anything else: the built page (static files).
//!
//! SIGTERM or SIGINT ([`Server::run`]'s `shutdown`): every socket gets a close frame 1001, then
//! `run` returns (within 3 s).

pub mod auth;
pub mod conn;
pub mod hub;
pub mod redis_hub;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{sleep, timeout};
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::Auth;
use crate::hub::Hub;

/// Limits a connection's messages: at most this many (default; `DEMO_RATE_MESSAGES`)…
pub const RATE_MESSAGES: usize = 20;
/// …per this window.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The longest chat text, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// A frame (or message) above this closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// After a shutdown signal, how long `run` waits for the sockets to close.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct Config {
    /// 0: any free port.
    pub port: u16,
    /// When `port` is taken, take any free port instead of failing.
    pub port_fallback: bool,
    /// The built page; None serves a short note instead.
    pub static_dir: Option<PathBuf>,
    pub jwt_secret: Vec<u8>,
    pub token_ttl_s: u64,
    /// None: the origin the page is served from (`http://<Host>`).
    pub allowed_origins: Option<Vec<String>>,
    /// This instance's name, shown on the page.
    pub instance: String,
    /// The server pings every interval and drops a peer silent for two.
    pub ping_interval: Duration,
    /// `POST /api/kill` is allowed.
    pub enable_kill: bool,
    /// Redis (cluster mode); None keeps every state in memory.
    pub redis_url: Option<String>,
    /// At most this many messages per connection per 10 s.
    pub rate_messages: usize,
    /// Each room's queue of events for its local members ([`hub::ROOM_QUEUE`]).
    pub room_queue: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 0,
            port_fallback: false,
            static_dir: None,
            jwt_secret: random_bytes(),
            token_ttl_s: 300,
            allowed_origins: None,
            instance: format!("i-{:x}", std::process::id()),
            ping_interval: Duration::from_secs(30),
            enable_kill: false,
            redis_url: None,
            rate_messages: RATE_MESSAGES,
            room_queue: hub::ROOM_QUEUE,
        }
    }
}

fn random_bytes() -> Vec<u8> {
    (0..32).map(|_| rand::random::<u8>()).collect()
}

impl Config {
    /// The defaults, changed by the `DEMO_*` environment variables (see demo/README.md).
    pub fn from_env() -> Result<Config, String> {
        let mut config = Config::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(secret) = var("DEMO_JWT_SECRET") {
            config.jwt_secret = secret.into_bytes();
        }
        if let Some(ttl) = var("DEMO_TOKEN_TTL_S") {
            config.token_ttl_s = ttl.parse().ok().filter(|&t| t > 0).ok_or_else(|| {
                format!("DEMO_TOKEN_TTL_S: not a positive number of seconds: {ttl}")
            })?;
        }
        if let Some(list) = var("DEMO_ALLOWED_ORIGINS") {
            let origins: Vec<String> = list
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect();
            if let Some(bad) = origins.iter().find(|o| !o.contains("://")) {
                return Err(format!(
                    "DEMO_ALLOWED_ORIGINS: not an origin (scheme://host[:port]): {bad}"
                ));
            }
            config.allowed_origins = Some(origins);
        }
        if let Some(name) = var("DEMO_INSTANCE") {
            config.instance = name;
        }
        if let Some(ms) = var("DEMO_PING_INTERVAL_MS") {
            let ms: u64 =
                ms.parse().ok().filter(|&ms| ms >= 10).ok_or_else(|| {
                    format!("DEMO_PING_INTERVAL_MS: not a number of ms >= 10: {ms}")
                })?;
            config.ping_interval = Duration::from_millis(ms);
        }
        if let Some(n) = var("DEMO_RATE_MESSAGES") {
            config.rate_messages = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                format!("DEMO_RATE_MESSAGES: not a positive number of messages: {n}")
            })?;
        }
        if let Some(n) = var("DEMO_ROOM_QUEUE") {
            config.room_queue =
                n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("DEMO_ROOM_QUEUE: not a positive number of events: {n}")
                })?;
        }
        config.enable_kill = var("DEMO_ENABLE_KILL").is_some_and(|v| v == "1");
        config.redis_url = var("DEMO_REDIS_URL");
        Ok(config)
    }
}

pub struct AppState {
    pub config: Config,
    pub auth: Auth,
    pub hub: Hub,
    /// Becomes true on SIGTERM/SIGINT: every socket closes with 1001.
    pub shutdown: watch::Sender<bool>,
    /// Sockets open; `run` waits for 0 after a shutdown signal.
    active: AtomicUsize,
    next_conn: AtomicU64,
    /// How many times a connection fell behind its room's queue and caught up from the log.
    catch_ups: AtomicU64,
}

impl AppState {
    /// A key for a new connection, unique across instances.
    pub fn conn_key(&self) -> String {
        let n = self.next_conn.fetch_add(1, Ordering::Relaxed);
        format!("{}/{}/{n}", self.config.instance, std::process::id())
    }

    /// A connection caught up from the room's log (it had fallen behind the room's queue).
    pub fn note_catch_up(&self) {
        self.catch_ups.fetch_add(1, Ordering::Relaxed);
    }

    pub fn log(&self, line: &str) {
        eprintln!("demo-chat-server[{}]: {line}", self.config.instance);
    }
}

pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Binds 127.0.0.1:`port` (a taken port: retried for a few seconds, or any free port with
    /// `port_fallback`) and connects to Redis when configured.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = bind_listener(config.port, config.port_fallback).await?;
        let hub = match &config.redis_url {
            None => Hub::memory(config.room_queue),
            Some(url) => Hub::redis(url, config.room_queue)
                .await
                .map_err(io::Error::other)?,
        };
        let state = Arc::new(AppState {
            auth: Auth::new(&config.jwt_secret, config.token_ttl_s),
            hub,
            config,
            shutdown: watch::Sender::new(false),
            active: AtomicUsize::new(0),
            next_conn: AtomicU64::new(0),
            catch_ups: AtomicU64::new(0),
        });
        Ok(Server { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; then closes every socket with 1001 and returns once
    /// they are closed (at most 3 s later).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Server { listener, state } = self;
        let app = router(state.clone());
        let signal_state = state.clone();
        // No Nagle: a connection writes what is ready in one go (conn.rs batches), and that
        // must leave at once rather than wait for the peer's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            signal_state.log("shutting down: closing every socket (1001)");
            signal_state.shutdown.send_replace(true);
        });
        let mut started = state.shutdown.subscribe();
        let server = tokio::spawn(async move { serve.await });
        let _ = started.wait_for(|&down| down).await;
        let _ = timeout(SHUTDOWN_WAIT, async {
            while state.active.load(Ordering::SeqCst) > 0 {
                sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        server.abort();
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

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/login", post(login))
        .route("/api/history", get(history))
        .route("/api/kill", post(kill))
        .route("/healthz", get(healthz))
        .route("/ws", get(ws));
    let app = match &state.config.static_dir {
        Some(dir) => api.fallback_service(
            ServeDir::new(dir).not_found_service(ServeFile::new(dir.join("index.html"))),
        ),
        None => api.fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "The page is not built: run `make demo` (demo/run.sh).\n",
            )
        }),
    };
    app.with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    name: String,
}

async fn login(
    State(state): State<Arc<AppState>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"name\":\"…\"}}: {}", e.body_text()),
            )
        }
    };
    let name = match auth::check_name(&request.name) {
        Ok(name) => name,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (token, exp_s) = state.auth.issue(&name, now_ms() / 1000);
    Json(json!({ "token": token, "expiresAt": exp_s * 1000, "user": name })).into_response()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "ok": true,
        "instance": state.config.instance,
        "pid": std::process::id(),
        "catchUps": state.catch_ups.load(Ordering::Relaxed),
    }))
    .into_response()
}

/// A room name: 1–32 characters of `[a-z0-9-]`.
pub fn check_room(room: &str) -> Result<(), String> {
    if room.is_empty() || room.len() > 32 {
        return Err(format!(
            "room must be 1-32 characters of [a-z0-9-], not {} characters",
            room.chars().count()
        ));
    }
    if let Some(c) = room
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(format!(
            "room must be 1-32 characters of [a-z0-9-]; {c:?} is not allowed"
        ));
    }
    Ok(())
}

async fn history(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let room = params.get("room").map_or("lobby", String::as_str);
    if let Err(e) = check_room(room) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    match state.hub.history(room, 0, usize::MAX).await {
        Ok(messages) => Json(json!({ "room": room, "messages": messages })).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// The origin of the page: `http://<Host>`, or the allow-list when one is configured.
fn origin_allowed(config: &Config, headers: &HeaderMap) -> Result<(), String> {
    // Not a browser: an Origin check protects browsers only.
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("<not text>");
    let allowed = match &config.allowed_origins {
        Some(list) => list.iter().any(|o| o == origin),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            }),
    };
    if allowed {
        Ok(())
    } else {
        Err(format!("Origin {origin} is not allowed"))
    }
}

fn peer(headers: &HeaderMap, addr: SocketAddr) -> String {
    match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(forwarded) => format!("{addr} (for {forwarded})"),
        None => addr.to_string(),
    }
}

async fn kill(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !state.config.enable_kill {
        return error(
            StatusCode::NOT_FOUND,
            "the kill control is on in cluster mode only (DEMO_ENABLE_KILL=1)",
        );
    }
    if let Err(cause) = origin_allowed(&state.config, &headers) {
        state.log(&format!(
            "refused /api/kill from {}: 403 {cause}",
            peer(&headers, addr)
        ));
        return error(StatusCode::FORBIDDEN, cause);
    }
    state.log("kill requested: SIGKILL to myself");
    tokio::spawn(async {
        sleep(Duration::from_millis(50)).await;
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({ "ok": true, "action": "kill" })),
    )
        .into_response()
}

async fn ws(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let refuse = |status: StatusCode, cause: String| {
        state.log(&format!(
            "refused /ws from {}: {} {cause}",
            peer(&headers, addr),
            status.as_u16()
        ));
        error(status, cause)
    };
    if let Err(cause) = origin_allowed(&state.config, &headers) {
        return refuse(StatusCode::FORBIDDEN, cause);
    }
    let user = match params.get("token") {
        None => return refuse(StatusCode::UNAUTHORIZED, "missing token".into()),
        Some(token) => match state.auth.verify(token) {
            Ok(user) => user,
            Err(cause) => return refuse(StatusCode::UNAUTHORIZED, cause),
        },
    };
    let room = params
        .get("room")
        .cloned()
        .unwrap_or_else(|| "lobby".into());
    if let Err(cause) = check_room(&room) {
        return refuse(StatusCode::BAD_REQUEST, cause);
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(e) => return refuse(e.status(), e.body_text()),
    };
    let mode = match params.get("mode").map(String::as_str) {
        None | Some("delivery") => conn::Mode::Delivery,
        Some("plain") => conn::Mode::Plain,
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("mode must be delivery or plain, not {other:?}"),
            );
        }
    };
    if *state.shutdown.borrow() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    state.active.fetch_add(1, Ordering::SeqCst);
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_failed_upgrade({
            let state = state.clone();
            move |e| {
                state.active.fetch_sub(1, Ordering::SeqCst);
                state.log(&format!("upgrade failed: {e}"));
            }
        })
        .on_upgrade(move |socket| async move {
            conn::run(socket, state.clone(), user, room, mode).await;
            state.active.fetch_sub(1, Ordering::SeqCst);
        })
}
