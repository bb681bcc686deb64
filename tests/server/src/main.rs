//! # ws-test-server
//!
//! A real WebSocket server with fault controls, for resilient-ws's browser and host tests.
//!
//! ```text
//! ws-test-server [--ws-port N] [--control-port N]      (0, the default, picks a free port)
//! ```
//!
//! Both servers bind 127.0.0.1 only. Once both listen, exactly one line goes to stdout (then
//! stdout is flushed):
//!
//! ```text
//! ws=ws://127.0.0.1:<P> control=http://127.0.0.1:<C>
//! ```
//!
//! Logs go to stderr. The server runs until SIGTERM or SIGINT, then exits with status 0.
//!
//! ## WebSocket server (`ws://127.0.0.1:<P>/<scope>`)
//!
//! - Any path is accepted. The path without its leading slash and without the query
//!   (percent-decoded) is the connection's **scope**: `/test-echo-1?x=1` → `test-echo-1`,
//!   `/` → `""`. Tests use a scope of their own so that they do not disturb each other.
//! - Text is echoed as text, binary as binary. The text message `ping` is answered with `pong`
//!   instead of an echo. Every text and binary message received is recorded per scope.
//! - The first subprotocol the client offers (Sec-WebSocket-Protocol) is accepted; none is
//!   selected when none is offered.
//! - The listening socket has an 8 KiB SO_RCVBUF (Linux doubles it to 16 KiB) and an MSS
//!   clamped to 1460 bytes; accepted sockets inherit both. The MSS clamp matters as much as
//!   the receive buffer: on loopback (MTU 64 KiB) the client's kernel would otherwise
//!   autotune its send buffer to megabytes. With both, a client whose server stopped reading
//!   (`/pause`) can hand only ~130 KB to its kernel, so the browser's `bufferedAmount` grows
//!   after that.
//!
//! ## Control server (`http://127.0.0.1:<C>`)
//!
//! HTTP/1.1, one request per connection (`Connection: close`), GET or POST, JSON answers,
//! `Access-Control-Allow-Origin: *` on every answer, and OPTIONS preflights answered with 204
//! (methods GET, POST, OPTIONS; the requested headers; `Access-Control-Allow-Private-Network`).
//! Bad parameters get 400 and unknown paths 404, both with `{"error": "..."}`.
//!
//! Every endpoint takes an optional `scope=S` (query parameter, URL-encoded; `scope=` is the
//! scope `""`). Without `scope`, an endpoint acts on every scope: setting a fault sets it
//! globally (every scope, also scopes first seen later); clearing a fault clears the global
//! fault and the fault of every scope; `/stats` sums all scopes; `/received` merges all scopes
//! in arrival order. With `scope`, only that scope is touched (a scope's effective fault is
//! its own OR the global one).
//!
//! | endpoint | effect | answer |
//! |---|---|---|
//! | `/drop` | drop every open connection abruptly: no close frame, the TCP connection is reset (RST). Browsers see close code 1006. Answers once they are gone. | `{"dropped":n}` |
//! | `/refuse?ms=N` | for N ms, refuse new connection attempts: the server reads the handshake request and answers `503 Service Unavailable` (counted in `attempts` and `refused`). `ms=0` stops refusing. Open connections stay open. | `{"ms":N}` |
//! | `/stall?ms=N` | for N ms, hold the handshake of new attempts (no answer until the N ms are over, then the handshake completes). For connect-timeout tests. `ms=0` stops stalling new attempts. | `{"ms":N}` |
//! | `/pause` / `/resume` | stop / restart reading from the clients (bufferedAmount grows). Answers once every connection applied it; messages read later are recorded and echoed in order. | `{"connections":n}` |
//! | `/mute` / `/unmute` | keep reading and recording but answer nothing (no echo, no pong) / answer again. | `{"connections":n}` |
//! | `/close?code=C&reason=R` | close every open connection with a close frame (default code 1000, reason ""; reason at most 123 bytes). Answers once the closing handshakes are over (at most ~3 s). | `{"closed":n}` |
//! | `/stats` | counters | `{"attempts":n,"refused":n,"opened":n,"open":n,"received":n}` |
//! | `/received` | the recorded messages, in order | `{"messages":[...],"count":n,"truncated":false}` |
//! | `/send?data=D[&binary=1]` | send D as a text (or binary) message to every open connection; a POST without `data` sends its body | `{"sent":connections}` |
//! | `/burst?n=N` | send N text messages `"0"`..`"N-1"`, in order, to every open connection | `{"sent":connections}` |
//! | `/wait?received=N&attempts=N&opened=N&open=N&ms=T` | wait until every given condition holds (`open` exactly, the others at least), at most T ms (default 5000) | the stats plus `"ok":true/false` |
//! | `/reset` | clear faults, counters and recorded messages (open connections stay open) | `{"ok":true}` |
//! | `/` | the endpoint list and global stats | |
//!
//! Counters: `attempts` counts every handshake request (refused ones included), `refused` the
//! refused ones, `opened` the completed handshakes, `open` the connections open now,
//! `received` the text and binary messages received.
//!
//! In `/received`, a text message is a JSON string; a binary message is
//! `{"binary":<length>,"head":"<hex of its first 16 bytes>","fnv1a64":"<16 hex digits>"}`,
//! the 64-bit FNV-1a hash (offset basis 0xcbf29ce484222325, prime 0x100000001b3) of all its
//! bytes. Recording stops (counting goes on, `truncated` becomes true) past 64 MiB per scope.
//!
//! ## Notes for browser tests (measured in headless Chromium and Firefox ESR)
//!
//! - A connection is registered before its 101 response goes out: once `onopen` fired, every
//!   control call reaches it.
//! - `/refuse`: the browser logs "Unexpected response code: 503" and fires `error`, then
//!   `close` with code 1006, `wasClean` false, within ~5–20 ms.
//! - `/drop`: `close` with code 1006, `wasClean` false, within ~20–60 ms. The fetch may
//!   resolve before or after the browser's close event: wait for the event.
//! - Firefox delays a new WebSocket to a host:port after a failed attempt *and after an
//!   abnormal close* (200–400 ms, ×1.5 per further failure, up to 60 s) unless the pref
//!   `network.websocket.delay-failed-reconnects` is false, as the repo's webdriver.json sets.
//! - Both browsers run one WebSocket handshake at a time per host: a handshake held by
//!   `/stall` holds up every other new WebSocket to this server from that browser, whatever
//!   its scope.
//! - `/pause`: measured while sending 2 MiB in 16 KiB messages, `bufferedAmount` rises past
//!   1.7 MB (Chromium) and 1.9 MB (Firefox): only a few hundred KB are absorbed by the kernel
//!   and the browser. After `/resume` everything arrives, in order, within ~150 ms.
//! - `/close` answers once the browser has answered the close frame; the `close` event then
//!   has the code and reason and `wasClean` true.

mod control;
mod state;
mod ws;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str = "usage: ws-test-server [--ws-port N] [--control-port N]";

/// Writes a log line to stderr, prefixed with the seconds since start.
pub fn log(args: std::fmt::Arguments) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[{t:9.3}] {args}");
}

struct Args {
    ws_port: u16,
    control_port: u16,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ws_port: 0,
        control_port: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let slot = match name.as_str() {
            "--ws-port" => &mut args.ws_port,
            "--control-port" => &mut args.control_port,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{name} needs a port number"))?;
        *slot = value
            .parse()
            .map_err(|_| format!("{name}: {value:?} is not a port number"))?;
    }
    Ok(args)
}

/// Binds 127.0.0.1:port. The WebSocket listener gets small buffers (see the crate docs).
fn listen(port: u16, small_buffers: bool) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    if small_buffers {
        socket.set_recv_buffer_size(8 * 1024)?;
        clamp_mss(&socket, 1460)?;
    }
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(1024)
}

/// Sets TCP_MAXSEG on a socket (neither std nor tokio offer it; this avoids a dependency).
fn clamp_mss(socket: &TcpSocket, mss: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            value: *const std::ffi::c_void,
            len: u32,
        ) -> i32;
    }
    const IPPROTO_TCP: i32 = 6;
    const TCP_MAXSEG: i32 = 2; // the same on Linux, macOS and the BSDs
                               // SAFETY: a valid open descriptor, and a pointer to an int with its exact size.
    let rc = unsafe {
        setsockopt(
            socket.as_raw_fd(),
            IPPROTO_TCP,
            TCP_MAXSEG,
            (&mss as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("ws-test-server: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let bound = listen(args.ws_port, true).and_then(|ws| {
        let control = listen(args.control_port, false)?;
        Ok((ws, control))
    });
    let (ws_listener, control_listener) = match bound {
        Ok(listeners) => listeners,
        Err(e) => {
            eprintln!("ws-test-server: cannot listen: {e}");
            std::process::exit(1);
        }
    };
    let ws_addr = ws_listener.local_addr().expect("bound");
    let control_addr = control_listener.local_addr().expect("bound");
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("ws-test-server: cannot install signal handlers");
            std::process::exit(1);
        }
    };

    let shared = state::Shared::new();
    tokio::spawn(ws::serve(ws_listener, shared.clone()));
    tokio::spawn(control::serve(control_listener, shared));

    let mut out = io::stdout().lock();
    let _ = writeln!(out, "ws=ws://{ws_addr} control=http://{control_addr}");
    let _ = out.flush();
    drop(out);
    log(format_args!(
        "listening: ws://{ws_addr} control http://{control_addr}"
    ));

    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    log(format_args!("{name}: exiting"));
}
