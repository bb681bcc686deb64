//! The WebSocket side: admission (attempt counting, refuse, stall), the handshake (HTTP by
//! hyper), and one task per open connection that echoes (or speaks the delivery protocol),
//! records and obeys [`Cmd`]s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use resilient_ws_protocol::wire::{decode_client, ClientFrame};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::log;
use crate::state::{to_msg, Admission, Cmd, Mode, Recorded, Registration, Shared};

type Ws = WebSocketStream<TcpStream>;
type Answer = Response<Full<Bytes>>;

/// How long a client may take to send its handshake request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake started by the server may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Paths under this prefix speak the delivery protocol.
pub const DELIVERY_PREFIX: &str = "/delivery/";

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(handle(stream, peer, shared.clone()));
            }
            Err(e) => {
                log(format_args!("ws accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The scope of a request path: without the leading slash, percent-decoded.
pub fn scope_of(path: &str) -> String {
    let path = path.strip_prefix('/').unwrap_or(path);
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

async fn handle(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(answer(req, peer, shared).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        log(format_args!("connection from {peer}: {e}"));
    }
}

fn plain(status: StatusCode, text: &str) -> Answer {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Answers one handshake request: 503 while refusing, later while stalling, 400 if it is
/// no WebSocket handshake, else 101, and the connection's task starts once upgraded.
async fn answer(mut req: Request<Incoming>, peer: SocketAddr, shared: Arc<Shared>) -> Answer {
    let path = req.uri().path().to_owned();
    let scope = scope_of(&path);
    match shared.attempt(&scope) {
        Admission::Accept => {}
        Admission::Refuse => {
            log(format_args!("refused {peer} scope={scope:?}"));
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "connection refused by ws-test-server (/refuse)",
            );
        }
        Admission::Stall(until) => {
            log(format_args!("stalling {peer} scope={scope:?}"));
            tokio::time::sleep_until(until.into()).await;
        }
    }
    let accept_key = match websocket_key(&req) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err(why) => {
            log(format_args!("not a handshake from {peer}: {why}"));
            return plain(StatusCode::BAD_REQUEST, &why);
        }
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = first_subprotocol(&req) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    // Register before the 101 response goes out, so that a client that sees its connection
    // open can rely on the control endpoints reaching it.
    let delivery = path.starts_with(DELIVERY_PREFIX);
    let registration = shared.register(&scope, delivery);
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let id = registration.id;
        let ws = match upgrade.await.map(|u| u.downcast::<TokioIo<TcpStream>>()) {
            Ok(Ok(parts)) => {
                let stream = parts.io.into_inner();
                let read = parts.read_buf.to_vec();
                WebSocketStream::from_partially_read(stream, read, Role::Server, None).await
            }
            Ok(Err(_)) => unreachable!("the connection is a TcpStream"),
            Err(e) => {
                shared.unregister(id);
                return log(format_args!("upgrade of {peer} failed: {e}"));
            }
        };
        log(format_args!(
            "open #{id} {peer} scope={scope:?}{}",
            if delivery { " (delivery)" } else { "" }
        ));
        run(ws, registration, &scope, delivery, &shared).await;
    });
    resp
}

/// The client's Sec-WebSocket-Key, or why the request is no WebSocket handshake.
fn websocket_key(req: &Request<Incoming>) -> Result<&str, String> {
    let header_has = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if req.method() != hyper::Method::GET {
        return Err(format!(
            "a WebSocket handshake is a GET, not {}",
            req.method()
        ));
    }
    if !header_has(header::UPGRADE, "websocket") || !header_has(header::CONNECTION, "upgrade") {
        return Err("not a WebSocket handshake: no Upgrade: websocket".into());
    }
    if !header_has(header::SEC_WEBSOCKET_VERSION, "13") {
        return Err("unsupported Sec-WebSocket-Version (13 expected)".into());
    }
    req.headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| "missing Sec-WebSocket-Key".into())
}

/// The first subprotocol the client offers, if any.
fn first_subprotocol(req: &Request<Incoming>) -> Option<HeaderValue> {
    let first = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| !p.is_empty())?;
    HeaderValue::from_str(first).ok()
}

/// Runs an open connection until it ends, is closed, or is dropped.
async fn run(mut ws: Ws, reg: Registration, scope: &str, delivery: bool, shared: &Shared) {
    let Registration {
        id,
        mode,
        mut rx,
        mut kill,
    } = reg;
    let conn = Conn {
        id,
        scope,
        shared,
        mode,
        delivery,
        sid: None,
    };
    let end = tokio::select! {
        r = conn.run(&mut ws, &mut rx) => match r {
            Ok(End::Closed) => "closed".to_owned(),
            Ok(End::Drop) => {
                let _ = ws.get_ref().set_zero_linger();
                "dropped after applying (drop-after-apply)".to_owned()
            }
            Err(e) => format!("ended: {e}"),
        },
        Ok(()) = &mut kill => {
            // Reset the TCP connection: no close frame, no FIN handshake.
            let _ = ws.get_ref().set_zero_linger();
            "dropped".to_owned()
        }
    };
    drop(ws);
    shared.unregister(id);
    log(format_args!("#{id} {end}"));
}

enum End {
    Closed,
    /// Reset the connection (drop-after-apply).
    Drop,
}

/// What to do after reading a message.
#[derive(Default)]
struct Action {
    replies: Vec<Message>,
    drop: bool,
}

impl Action {
    fn reply(msg: Message) -> Self {
        Self {
            replies: vec![msg],
            drop: false,
        }
    }
}

struct Conn<'a> {
    id: u64,
    scope: &'a str,
    shared: &'a Shared,
    mode: Mode,
    delivery: bool,
    /// The session of a delivery connection, once it said hello.
    sid: Option<String>,
}

impl Conn<'_> {
    async fn run(
        mut self,
        ws: &mut Ws,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Cmd>,
    ) -> Result<End, WsError> {
        loop {
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    None => return Ok(End::Closed),
                    Some(Cmd::Mode(mode, ack)) => {
                        self.mode = mode;
                        let _ = ack.send(());
                    }
                    // A muted delivery connection sends nothing at all.
                    Some(Cmd::Send(msg)) => if !(self.delivery && self.mode.muted) {
                        ws.send(msg).await?;
                    }
                    Some(Cmd::Close(frame)) => {
                        ws.close(Some(frame)).await?;
                        // Finish the closing handshake (whatever the mode), taking in what
                        // the client still sent, without answering.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                            while let Some(Ok(msg)) = ws.next().await {
                                self.read(msg);
                            }
                        })
                        .await;
                        return Ok(End::Closed);
                    }
                },
                msg = ws.next(), if !self.mode.paused => match msg {
                    None => return Ok(End::Closed),
                    Some(msg) => {
                        let action = self.read(msg?);
                        if action.drop {
                            return Ok(End::Drop);
                        }
                        if !self.mode.muted && !action.replies.is_empty() {
                            for reply in action.replies {
                                ws.feed(reply).await?;
                            }
                            ws.flush().await?;
                        }
                    }
                },
            }
        }
    }

    /// Takes in a message read from the client; returns the answer.
    fn read(&mut self, msg: Message) -> Action {
        let is_ping = matches!(&msg, Message::Text(t) if t.as_str() == "ping");
        if !self.delivery {
            let rec = match &msg {
                Message::Text(t) => Recorded::Text(t.clone()),
                Message::Binary(b) => Recorded::Binary(b.clone()),
                // Pings are answered by tungstenite itself; a close is answered on the next
                // read.
                _ => return Action::default(),
            };
            self.shared.record(self.scope, rec);
            return Action::reply(if is_ping { Message::text("pong") } else { msg });
        }
        let Some(wire) = to_msg(&msg) else {
            return Action::default();
        };
        match (decode_client(&wire), self.sid.as_deref()) {
            (Some(ClientFrame::Hello { sid, inbound }), _) => {
                let frames = self
                    .shared
                    .delivery_hello(self.id, self.scope, &sid, inbound);
                self.sid = Some(sid);
                Action {
                    replies: frames,
                    drop: false,
                }
            }
            (Some(ClientFrame::Data { seq, payload }), Some(sid)) => {
                let after = self.shared.delivery_data(self.scope, sid, seq, payload);
                Action {
                    replies: after.reply.into_iter().collect(),
                    drop: after.drop,
                }
            }
            (Some(ClientFrame::Ack { upto }), Some(sid)) => {
                self.shared.delivery_ack(self.scope, sid, upto);
                Action::default()
            }
            (None, _) if is_ping => Action::reply(Message::text("pong")),
            (frame, _) => {
                log(format_args!(
                    "#{} ignores {}",
                    self.id,
                    if frame.is_some() {
                        "a frame before the hello"
                    } else {
                        "a message that is no protocol frame"
                    }
                ));
                Action::default()
            }
        }
    }
}
