//! The WebSocket side: admission (attempt counting, refuse, stall), the handshake, and one
//! task per open connection that echoes, records and obeys [`Cmd`]s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::state::{Admission, Cmd, Mode, Recorded, Registration, Shared};
use crate::{log, percent_decode};

type Ws = WebSocketStream<TcpStream>;

/// How long a client may take to send its handshake request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake started by the server may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

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

/// The scope of a request target: its path without the leading slash and without the query,
/// percent-decoded.
pub fn scope_of(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    percent_decode(path.strip_prefix('/').unwrap_or(path), false)
}

async fn handle(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let target = match tokio::time::timeout(HANDSHAKE_TIMEOUT, request_target(&stream)).await {
        Ok(Some(target)) => target,
        _ => return, // closed, garbage, or silent: not an attempt
    };
    let scope = scope_of(&target);
    match shared.attempt(&scope) {
        Admission::Accept => {}
        Admission::Refuse => {
            log(format_args!("refused {peer} scope={scope:?}"));
            refuse(stream).await;
            return;
        }
        Admission::Stall(until) => {
            log(format_args!("stalling {peer} scope={scope:?}"));
            tokio::time::sleep_until(until.into()).await;
        }
    }
    // Register from the handshake callback, before the 101 response goes out, so that a
    // client that sees its connection open can rely on the control endpoints reaching it.
    let mut registration = None;
    #[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
    let callback = |req: &Request, resp: Response| {
        registration = Some(shared.register(&scope));
        echo_subprotocol(req, resp)
    };
    let accept = tokio_tungstenite::accept_hdr_async(stream, callback);
    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await;
    let Some(Registration {
        id,
        mode,
        mut rx,
        mut kill,
    }) = registration
    else {
        return log(format_args!("handshake with {peer} failed: {result:?}"));
    };
    let mut ws = match result {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            shared.unregister(id);
            return log(format_args!("handshake with {peer} failed: {e}"));
        }
        Err(_) => {
            shared.unregister(id);
            return log(format_args!("handshake with {peer} timed out"));
        }
    };
    log(format_args!("open #{id} {peer} scope={scope:?}"));
    let conn = Conn {
        scope: &scope,
        shared: &shared,
        mode,
    };
    let end = tokio::select! {
        r = conn.run(&mut ws, &mut rx) => match r {
            Ok(()) => "closed".to_owned(),
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

/// Reads (without consuming) the request line and returns its target.
async fn request_target(stream: &TcpStream) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&buf[..end]).ok()?;
            let mut parts = line.split(' ');
            let _method = parts.next()?;
            return parts.next().map(str::to_owned);
        }
        if n == buf.len() {
            return None;
        }
        // The line is incomplete: peek returns at once while any data is buffered.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Answers a refused attempt: reads the request, answers 503 and closes.
async fn refuse(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let body = "connection refused by ws-test-server (/refuse)\n";
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
    // Read until the client closes, so that closing does not turn into a reset.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(1..) = stream.read(&mut buf).await {}
    })
    .await;
}

/// Accepts the first subprotocol the client offers, if any.
#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn echo_subprotocol(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    let first = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| !p.is_empty());
    if let Some(value) = first.and_then(|p| HeaderValue::from_str(p).ok()) {
        resp.headers_mut().insert("sec-websocket-protocol", value);
    }
    Ok(resp)
}

struct Conn<'a> {
    scope: &'a str,
    shared: &'a Shared,
    mode: Mode,
}

impl Conn<'_> {
    async fn run(
        mut self,
        ws: &mut Ws,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Cmd>,
    ) -> Result<(), WsError> {
        loop {
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    None => return Ok(()),
                    Some(Cmd::Mode(mode, ack)) => {
                        self.mode = mode;
                        let _ = ack.send(());
                    }
                    Some(Cmd::Send(msg)) => ws.send(msg).await?,
                    Some(Cmd::Close(frame)) => {
                        ws.close(Some(frame)).await?;
                        // Finish the closing handshake (whatever the mode), recording what
                        // the client still sent.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                            while let Some(Ok(msg)) = ws.next().await {
                                self.record(&msg);
                            }
                        })
                        .await;
                        return Ok(());
                    }
                },
                msg = ws.next(), if !self.mode.paused => match msg {
                    None => return Ok(()),
                    Some(msg) => {
                        let msg = msg?;
                        self.record(&msg);
                        if let Some(reply) = self.reply(msg) {
                            ws.send(reply).await?;
                        }
                    }
                },
            }
        }
    }

    fn record(&self, msg: &Message) {
        let rec = match msg {
            Message::Text(t) => Recorded::Text(t.clone()),
            Message::Binary(b) => Recorded::Binary(b.clone()),
            _ => return,
        };
        self.shared.record(self.scope, rec);
    }

    fn reply(&self, msg: Message) -> Option<Message> {
        if self.mode.muted {
            return None;
        }
        match msg {
            Message::Text(t) if t.as_str() == "ping" => Some(Message::text("pong")),
            Message::Text(_) | Message::Binary(_) => Some(msg),
            // Pings are answered by tungstenite itself; a close is answered on the next read.
            _ => None,
        }
    }
}
