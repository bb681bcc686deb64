//! demo-chat-server [--port N] [--port-fallback] [--static DIR] [--port-file FILE]
//!
//! Serves the resilient-ws chat demo on 127.0.0.1 (see the library docs for the routes and
//! demo/README.md for the `DEMO_*` environment variables). SIGTERM or SIGINT closes every socket
//! with 1001 and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;

use demo_chat_server::{Config, Server};
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str =
    "usage: demo-chat-server [--port N] [--port-fallback] [--static DIR] [--port-file FILE]
  --port N         port on 127.0.0.1 (default 8080; 0: any free port)
  --port-fallback  if the port is taken, use any free port
  --static DIR     the built page (demo/web/dist)
  --port-file FILE write the port there once listening
environment: DEMO_JWT_SECRET, DEMO_TOKEN_TTL_S, DEMO_ALLOWED_ORIGINS, DEMO_INSTANCE,
  DEMO_PING_INTERVAL_MS, DEMO_ENABLE_KILL, DEMO_REDIS_URL, DEMO_RATE_MESSAGES, DEMO_ROOM_QUEUE
  (see demo/README.md)";

fn parse_args() -> Result<(Config, Option<PathBuf>), String> {
    let mut config = Config::from_env()?;
    config.port = 8080;
    let mut port_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                config.port = v.parse().map_err(|_| format!("--port: not a port: {v}"))?;
            }
            "--port-fallback" => config.port_fallback = true,
            "--static" => config.static_dir = Some(value("--static")?.into()),
            "--port-file" => port_file = Some(value("--port-file")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((config, port_file))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let (config, port_file) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("demo-chat-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let wanted = config.port;
    let instance = config.instance.clone();
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("demo-chat-server: cannot start on 127.0.0.1:{wanted}: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = server.local_addr();
    if wanted != 0 && addr.port() != wanted {
        println!(
            "demo-chat-server: port {wanted} is taken, using {} instead",
            addr.port()
        );
    }
    println!(
        "demo-chat-server[{instance}]: listening on http://{addr}/ (pid {})",
        std::process::id()
    );
    if let Some(path) = port_file {
        if let Err(e) = std::fs::write(&path, format!("{}\n", addr.port())) {
            eprintln!("demo-chat-server: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("demo-chat-server: cannot install the signal handlers");
        return ExitCode::from(1);
    };
    server
        .run(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await;
    println!("demo-chat-server[{instance}]: stopped");
    // Exit at once: nothing is left to finish, and the runtime must not wait for stragglers.
    std::process::exit(0);
}
