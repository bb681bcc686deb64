//! demo-chat-server [--port N] [--port-fallback] [--static DIR] [--state FILE] [--port-file FILE]
//!
//! Serves the resilient-ws chat demo on 127.0.0.1 (see the library docs for the routes). After
//! `POST /control/restart` it exits with code 75: demo/run.sh then starts it again on the same port.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use demo_chat_server::{Config, Exit, Server, RESTART_EXIT_CODE};

const USAGE: &str = "usage: demo-chat-server [--port N] [--port-fallback] [--static DIR] [--state FILE] [--port-file FILE]
  --port N         port on 127.0.0.1 (default 8080; 0: any free port)
  --port-fallback  if the port is taken, use any free port
  --static DIR     the built page (demo/web/dist)
  --state FILE     keep the chat history there across restarts
  --port-file FILE write the port there once listening";

fn parse_args() -> Result<(Config, Option<PathBuf>), String> {
    let mut config = Config {
        port: 8080,
        ..Config::default()
    };
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
            "--state" => config.state_file = Some(value("--state")?.into()),
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
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("demo-chat-server: cannot listen on 127.0.0.1:{wanted}: {e}");
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
        "demo-chat-server: listening on http://{addr}/ (chat: ws://{addr}/ws, boot {})",
        server.boot_id()
    );
    if let Some(path) = port_file {
        if let Err(e) = std::fs::write(&path, format!("{}\n", addr.port())) {
            eprintln!("demo-chat-server: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    match server.run().await {
        Exit::Restart => {
            println!("demo-chat-server: every connection closed (1012); exiting for the restart");
            let _ = std::io::stdout().flush();
            // Exit at once: nothing is left to finish, and the runtime must not wait for stragglers.
            std::process::exit(RESTART_EXIT_CODE);
        }
    }
}
