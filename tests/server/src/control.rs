//! The control server (axum): JSON answers with CORS headers, so that browser tests can call
//! it with fetch().

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use resilient_ws_protocol::wire::Msg;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::log;
use crate::state::{DeliveryStats, Fault, Recorded, Shared, Stats};

const MAX_BODY: usize = 64 << 20;
const MAX_BURST: u64 = 1_000_000;
const MAX_WAIT_MS: u64 = 60_000;

const ENDPOINTS: &[&str] = &[
    "/drop",
    "/refuse?ms=N",
    "/stall?ms=N",
    "/pause",
    "/resume",
    "/mute",
    "/unmute",
    "/close?code=C&reason=R",
    "/stats",
    "/received",
    "/send?data=D",
    "/burst?n=N",
    "/wait",
    "/reset",
    "/delivery/forget",
    "/delivery/drop-after-apply?n=N",
    "/delivery/send?data=D",
    "/delivery/stats",
];

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    if let Err(e) = axum::serve(listener, router(shared)).await {
        log(format_args!("control server failed: {e}"));
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", any(help))
        .route("/help", any(help))
        .route("/drop", any(drop_conns))
        .route("/refuse", any(refuse_or_stall))
        .route("/stall", any(refuse_or_stall))
        .route("/pause", any(mode))
        .route("/resume", any(mode))
        .route("/mute", any(mode))
        .route("/unmute", any(mode))
        .route("/close", any(close))
        .route("/stats", any(stats))
        .route("/received", any(received))
        .route("/send", any(send))
        .route("/burst", any(burst))
        .route("/wait", any(wait))
        .route("/reset", any(reset))
        .route("/delivery/forget", any(delivery_forget))
        .route("/delivery/drop-after-apply", any(drop_after_apply))
        .route("/delivery/send", any(delivery_send))
        .route("/delivery/stats", any(delivery_stats))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(cors_and_log))
        .with_state(shared)
}

type Shared_ = State<Arc<Shared>>;
type Reply<T> = Result<Json<T>, Error>;

/// An error answer: `{"error": "..."}` with its status.
pub struct Error(StatusCode, String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.0, Json(Body { error: self.1 })).into_response()
    }
}

fn bad(msg: String) -> Error {
    Error(StatusCode::BAD_REQUEST, msg)
}

/// The query parameters, in order, percent-decoded (`+` is a space).
struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        match Query::try_from_uri(&parts.uri) {
            Ok(Query(pairs)) => Ok(Params(pairs)),
            Err(e) => Err(bad(format!("bad query string: {}", e.body_text()))),
        }
    }
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `scope=S`; `None` without it (every scope).
    fn scope(&self) -> Option<&str> {
        self.get("scope")
    }

    fn number(&self, name: &str) -> Result<Option<u64>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| bad(format!("{name} must be a non-negative integer, got {v:?}"))),
        }
    }

    fn required(&self, name: &str) -> Result<u64, Error> {
        self.number(name)?
            .ok_or_else(|| bad(format!("missing parameter {name}")))
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|b| b != "0" && b != "false")
    }

    /// `data=D`, or the body of a POST without it.
    fn data(&self, method: &Method, body: Bytes) -> Result<Vec<u8>, Error> {
        match self.get("data") {
            Some(d) => Ok(d.as_bytes().to_vec()),
            None if method == Method::POST => Ok(body.to_vec()),
            None => Err(bad("missing parameter data (or a POST body)".into())),
        }
    }

    /// The message to send: `data` (or the POST body), binary with `binary=1`.
    fn message(&self, method: &Method, body: Bytes) -> Result<Msg, Error> {
        let data = self.data(method, body)?;
        if self.flag("binary") {
            Ok(Msg::Binary(data))
        } else {
            String::from_utf8(data)
                .map(Msg::Text)
                .map_err(|_| bad("data is not UTF-8".into()))
        }
    }
}

/// CORS on every answer (and preflights), GET/POST only, and a log line per request (but
/// for successful `/stats`, `/received` and `/delivery/stats`, which tests poll).
async fn cors_and_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut resp = if method == Method::OPTIONS {
        let allowed = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static("*"));
        let mut resp = StatusCode::NO_CONTENT.into_response();
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        h.insert(
            "access-control-allow-private-network",
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        resp
    } else if method != Method::GET && method != Method::POST {
        Error(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST".into()).into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let polled = ["/stats", "/received", "/delivery/stats"].contains(&uri.path());
    if method != Method::OPTIONS && (resp.status() != StatusCode::OK || !polled) {
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let shown = if body.len() > 200 {
            "…".into()
        } else {
            String::from_utf8_lossy(&body)
        };
        log(format_args!(
            "control {method} {uri} -> {} {shown}",
            parts.status.as_u16()
        ));
        resp = Response::from_parts(parts, axum::body::Body::from(body));
    }
    resp
}

async fn not_found(uri: axum::http::Uri) -> Error {
    Error(StatusCode::NOT_FOUND, format!("no endpoint {}", uri.path()))
}

#[derive(Serialize)]
struct Help {
    endpoints: &'static [&'static str],
    stats: Stats,
}

async fn help(State(shared): Shared_) -> Json<Help> {
    Json(Help {
        endpoints: ENDPOINTS,
        stats: shared.stats(None),
    })
}

#[derive(Serialize)]
struct Dropped {
    dropped: usize,
}

async fn drop_conns(State(shared): Shared_, q: Params) -> Json<Dropped> {
    let dropped = shared.drop_conns(q.scope()).await;
    Json(Dropped { dropped })
}

#[derive(Serialize)]
struct Ms {
    ms: u64,
}

async fn refuse_or_stall(State(shared): Shared_, uri: axum::http::Uri, q: Params) -> Reply<Ms> {
    let ms = q.required("ms")?;
    let d = Duration::from_millis(ms);
    let fault = if uri.path() == "/refuse" {
        Fault::Refuse(d)
    } else {
        Fault::Stall(d)
    };
    shared.set_fault(q.scope(), fault).await;
    Ok(Json(Ms { ms }))
}

#[derive(Serialize)]
struct Connections {
    connections: usize,
}

async fn mode(State(shared): Shared_, uri: axum::http::Uri, q: Params) -> Json<Connections> {
    let fault = match uri.path() {
        "/pause" => Fault::Pause(true),
        "/resume" => Fault::Pause(false),
        "/mute" => Fault::Mute(true),
        _ => Fault::Mute(false),
    };
    let connections = shared.set_fault(q.scope(), fault).await;
    Json(Connections { connections })
}

#[derive(Serialize)]
struct Closed {
    closed: usize,
}

async fn close(State(shared): Shared_, q: Params) -> Reply<Closed> {
    let code = q.number("code")?.unwrap_or(1000);
    let code = u16::try_from(code).map_err(|_| bad(format!("code {code} is not a u16")))?;
    let reason = q.get("reason").unwrap_or("");
    if reason.len() > 123 {
        return Err(bad(format!(
            "reason is {} bytes; a close reason holds at most 123",
            reason.len()
        )));
    }
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let closed = shared.close_conns(q.scope(), frame).await;
    Ok(Json(Closed { closed }))
}

async fn stats(State(shared): Shared_, q: Params) -> Json<Stats> {
    Json(shared.stats(q.scope()))
}

/// A recorded message: text as a JSON string; binary as its length, the hex of its first 16
/// bytes, and the 16 hex digits of the 64-bit FNV-1a hash of all its bytes.
#[derive(Serialize)]
#[serde(untagged)]
enum RecordedJson {
    Text(String),
    Binary {
        binary: usize,
        head: String,
        fnv1a64: String,
    },
}

impl From<&Recorded> for RecordedJson {
    fn from(m: &Recorded) -> Self {
        match m {
            Recorded::Text(t) => RecordedJson::Text(t.as_str().to_owned()),
            Recorded::Binary(b) => RecordedJson::Binary {
                binary: b.len(),
                head: b
                    .iter()
                    .take(16)
                    .map(|byte| format!("{byte:02x}"))
                    .collect(),
                fnv1a64: format!("{:016x}", fnv1a64(b)),
            },
        }
    }
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Serialize)]
struct Received {
    messages: Vec<RecordedJson>,
    count: usize,
    truncated: bool,
}

async fn received(State(shared): Shared_, q: Params) -> Json<Received> {
    let (msgs, truncated) = shared.received(q.scope());
    Json(Received {
        count: msgs.len(),
        messages: msgs.iter().map(RecordedJson::from).collect(),
        truncated,
    })
}

#[derive(Serialize)]
struct Sent {
    sent: usize,
}

async fn send(State(shared): Shared_, method: Method, q: Params, body: Bytes) -> Reply<Sent> {
    let msg = match q.message(&method, body)? {
        Msg::Text(t) => Message::text(t),
        Msg::Binary(b) => Message::binary(b),
    };
    let sent = shared.send(q.scope(), std::iter::once(msg));
    Ok(Json(Sent { sent }))
}

async fn burst(State(shared): Shared_, q: Params) -> Reply<Sent> {
    let count = q.required("n")?;
    if count > MAX_BURST {
        return Err(bad(format!("n is at most {MAX_BURST}")));
    }
    let sent = shared.send(q.scope(), (0..count).map(|i| Message::text(i.to_string())));
    Ok(Json(Sent { sent }))
}

#[derive(Serialize)]
struct Waited {
    #[serde(flatten)]
    stats: Stats,
    ok: bool,
}

async fn wait(State(shared): Shared_, q: Params) -> Reply<Waited> {
    let (received, attempts, opened, open) = (
        q.number("received")?,
        q.number("attempts")?,
        q.number("opened")?,
        q.number("open")?,
    );
    let ms = q.number("ms")?.unwrap_or(5000).min(MAX_WAIT_MS);
    let (stats, ok) = shared
        .wait_for(q.scope(), Duration::from_millis(ms), |s: &Stats| {
            received.is_none_or(|n| s.received >= n)
                && attempts.is_none_or(|n| s.attempts >= n)
                && opened.is_none_or(|n| s.opened >= n)
                && open.is_none_or(|n| s.open == n)
        })
        .await;
    Ok(Json(Waited { stats, ok }))
}

#[derive(Serialize)]
struct Ok_ {
    ok: bool,
}

async fn reset(State(shared): Shared_, q: Params) -> Json<Ok_> {
    shared.reset(q.scope()).await;
    Json(Ok_ { ok: true })
}

#[derive(Serialize)]
struct Forgotten {
    forgotten: usize,
    dropped: usize,
}

async fn delivery_forget(State(shared): Shared_, q: Params) -> Json<Forgotten> {
    let (forgotten, dropped) = shared.delivery_forget(q.scope()).await;
    Json(Forgotten { forgotten, dropped })
}

#[derive(Serialize)]
struct N {
    n: u64,
}

async fn drop_after_apply(State(shared): Shared_, q: Params) -> Reply<N> {
    let n = q.required("n")?;
    shared.drop_after_apply(q.scope(), n);
    Ok(Json(N { n }))
}

#[derive(Serialize)]
struct DeliverySent {
    sessions: usize,
    connections: usize,
}

async fn delivery_send(
    State(shared): Shared_,
    method: Method,
    q: Params,
    body: Bytes,
) -> Reply<DeliverySent> {
    let msg = q.message(&method, body)?;
    let (sessions, connections) = shared.delivery_send_all(q.scope(), &msg);
    Ok(Json(DeliverySent {
        sessions,
        connections,
    }))
}

async fn delivery_stats(State(shared): Shared_, q: Params) -> Json<DeliveryStats> {
    Json(shared.delivery_stats(q.scope()))
}
