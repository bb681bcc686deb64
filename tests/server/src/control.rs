//! The control server: a minimal HTTP/1.1 server (one request per connection) answering
//! JSON with CORS headers, so that browser tests can call it with fetch().

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::state::{Fault, Recorded, Shared, Stats};
use crate::{log, percent_decode};

const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 64 << 20;
const MAX_BURST: u64 = 1_000_000;
const MAX_WAIT_MS: u64 = 60_000;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream, shared.clone()));
            }
            Err(e) => {
                log(format_args!("control accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    /// Access-Control-Request-Headers of a preflight.
    acr_headers: Option<String>,
    body: Vec<u8>,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn scope(&self) -> Option<&str> {
        self.param("scope")
    }

    fn number(&self, name: &str) -> Result<Option<u64>, String> {
        match self.param(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name} must be a non-negative integer, got {v:?}")),
        }
    }

    fn required(&self, name: &str) -> Result<u64, String> {
        self.number(name)?
            .ok_or_else(|| format!("missing parameter {name}"))
    }
}

struct Reply {
    status: u16,
    body: String,
}

fn ok(body: String) -> Result<Reply, Reply> {
    Ok(Reply { status: 200, body })
}

fn error(status: u16, msg: &str) -> Reply {
    let mut body = String::from("{\"error\":");
    json_str(&mut body, msg);
    body.push('}');
    Reply { status, body }
}

fn bad(msg: String) -> Reply {
    error(400, &msg)
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    let req = match tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream)).await {
        Ok(Ok(req)) => req,
        Ok(Err(msg)) => {
            let reply = error(400, &msg);
            let _ = write_reply(&mut stream, &reply, None).await;
            return;
        }
        Err(_) => return,
    };
    if req.method == "OPTIONS" {
        let _ = write_reply(
            &mut stream,
            &Reply {
                status: 204,
                body: String::new(),
            },
            Some(req.acr_headers.as_deref().unwrap_or("*")),
        )
        .await;
        return;
    }
    let reply = if req.method != "GET" && req.method != "POST" {
        error(405, "use GET or POST")
    } else {
        route(&shared, &req).await.unwrap_or_else(|e| e)
    };
    if reply.status != 200 || req.path != "/stats" && req.path != "/received" {
        let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        log(format_args!(
            "control {} {}{}{} -> {} {}",
            req.method,
            req.path,
            if q.is_empty() { "" } else { "?" },
            q.join("&"),
            reply.status,
            if reply.body.len() > 200 {
                "…"
            } else {
                &reply.body
            }
        ));
    }
    let _ = write_reply(&mut stream, &reply, None).await;
}

async fn route(shared: &Shared, req: &Request) -> Result<Reply, Reply> {
    let scope = req.scope();
    let path = req.path.trim_end_matches('/');
    match path {
        "" | "/help" => ok(format!(
            "{{\"endpoints\":[\"/drop\",\"/refuse?ms=N\",\"/stall?ms=N\",\"/pause\",\"/resume\",\
             \"/mute\",\"/unmute\",\"/close?code=C&reason=R\",\"/stats\",\"/received\",\
             \"/send?data=D\",\"/burst?n=N\",\"/wait\",\"/reset\"],\"stats\":{}}}",
            stats_json(&shared.stats(None))
        )),
        "/drop" => {
            let n = shared.drop_conns(scope).await;
            ok(format!("{{\"dropped\":{n}}}"))
        }
        "/refuse" | "/stall" => {
            let ms = req.required("ms").map_err(bad)?;
            let d = Duration::from_millis(ms);
            let fault = if path == "/refuse" {
                Fault::Refuse(d)
            } else {
                Fault::Stall(d)
            };
            shared.set_fault(scope, fault).await;
            ok(format!("{{\"ms\":{ms}}}"))
        }
        "/pause" | "/resume" | "/mute" | "/unmute" => {
            let fault = match path {
                "/pause" => Fault::Pause(true),
                "/resume" => Fault::Pause(false),
                "/mute" => Fault::Mute(true),
                _ => Fault::Mute(false),
            };
            let n = shared.set_fault(scope, fault).await;
            ok(format!("{{\"connections\":{n}}}"))
        }
        "/close" => {
            let code = req.number("code").map_err(bad)?.unwrap_or(1000);
            let code = u16::try_from(code).map_err(|_| bad(format!("code {code} is not a u16")))?;
            let reason = req.param("reason").unwrap_or("");
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
            let n = shared.close_conns(scope, frame).await;
            ok(format!("{{\"closed\":{n}}}"))
        }
        "/stats" => ok(stats_json(&shared.stats(scope))),
        "/received" => {
            let (msgs, truncated) = shared.received(scope);
            let mut body = String::from("{\"messages\":[");
            for (i, m) in msgs.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                recorded_json(&mut body, m);
            }
            let _ = write!(
                body,
                "],\"count\":{},\"truncated\":{truncated}}}",
                msgs.len()
            );
            ok(body)
        }
        "/send" => {
            let data: Vec<u8> = match req.param("data") {
                Some(d) => d.as_bytes().to_vec(),
                None if req.method == "POST" => req.body.clone(),
                None => return Err(bad("missing parameter data (or a POST body)".into())),
            };
            let msg = if req
                .param("binary")
                .is_some_and(|b| b != "0" && b != "false")
            {
                Message::binary(data)
            } else {
                let text = String::from_utf8(data).map_err(|_| bad("data is not UTF-8".into()))?;
                Message::text(text)
            };
            let n = shared.send(scope, std::iter::once(msg));
            ok(format!("{{\"sent\":{n}}}"))
        }
        "/burst" => {
            let count = req.required("n").map_err(bad)?;
            if count > MAX_BURST {
                return Err(bad(format!("n is at most {MAX_BURST}")));
            }
            let n = shared.send(scope, (0..count).map(|i| Message::text(i.to_string())));
            ok(format!("{{\"sent\":{n}}}"))
        }
        "/wait" => {
            let want = |name| req.number(name).map_err(bad);
            let (received, attempts, opened, open) = (
                want("received")?,
                want("attempts")?,
                want("opened")?,
                want("open")?,
            );
            let ms = want("ms")?.unwrap_or(5000).min(MAX_WAIT_MS);
            let (stats, met) = shared
                .wait_for(scope, Duration::from_millis(ms), |s: &Stats| {
                    received.is_none_or(|n| s.received >= n)
                        && attempts.is_none_or(|n| s.attempts >= n)
                        && opened.is_none_or(|n| s.opened >= n)
                        && open.is_none_or(|n| s.open == n)
                })
                .await;
            let mut body = stats_json(&stats);
            body.pop();
            let _ = write!(body, ",\"ok\":{met}}}");
            ok(body)
        }
        "/reset" => {
            shared.reset(scope).await;
            ok("{\"ok\":true}".into())
        }
        _ => Err(error(404, &format!("no endpoint {}", req.path))),
    }
}

fn stats_json(s: &Stats) -> String {
    format!(
        "{{\"attempts\":{},\"refused\":{},\"opened\":{},\"open\":{},\"received\":{}}}",
        s.attempts, s.refused, s.opened, s.open, s.received
    )
}

/// Text as a JSON string; binary as `{"binary":<length>,"head":"<hex of the first 16
/// bytes>","fnv1a64":"<16 hex digits of the 64-bit FNV-1a hash of all bytes>"}`.
fn recorded_json(out: &mut String, m: &Recorded) {
    match m {
        Recorded::Text(t) => json_str(out, t.as_str()),
        Recorded::Binary(b) => {
            let _ = write!(out, "{{\"binary\":{},\"head\":\"", b.len());
            for byte in b.iter().take(16) {
                let _ = write!(out, "{byte:02x}");
            }
            let _ = write!(out, "\",\"fnv1a64\":\"{:016x}\"}}", fnv1a64(b));
        }
    }
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-request".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "request head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().ok_or("malformed request line")?.to_owned();
    let mut content_length = 0usize;
    let mut acr_headers = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| "bad Content-Length")?;
        } else if name.eq_ignore_ascii_case("access-control-request-headers") {
            acr_headers = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked bodies are not supported; send a Content-Length".into());
        }
    }
    if content_length > MAX_BODY {
        return Err("body too large".into());
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        let mut chunk = vec![0u8; (content_length - body.len()).min(64 << 10)];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    Ok(Request {
        method,
        path: percent_decode(path, false),
        query,
        acr_headers,
        body,
    })
}

async fn write_reply(
    stream: &mut TcpStream,
    reply: &Reply,
    preflight_headers: Option<&str>,
) -> std::io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nAccess-Control-Allow-Origin: *\r\nCache-Control: no-store\r\n\
         Connection: close\r\n",
        reply.status
    );
    if let Some(allowed) = preflight_headers {
        let _ = write!(
            head,
            "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n\
             Access-Control-Allow-Headers: {allowed}\r\nAccess-Control-Allow-Private-Network: true\r\n\
             Access-Control-Max-Age: 600\r\n"
        );
    }
    if reply.status != 204 {
        let _ = write!(
            head,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            reply.body.len()
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(reply.body.as_bytes()).await?;
    stream.shutdown().await
}
