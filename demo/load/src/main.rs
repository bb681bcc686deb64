//! demo-load --url http://127.0.0.1:PORT/ [--connections 2000] [--rooms 20] [--rate 1]
//!           [--seconds 30] [--pids name:PID,...]
//!
//! A bounded load test of the chat demo, on loopback: opens `connections` WebSockets (plain
//! mode) spread over `rooms` rooms, each sending `rate` messages per second for `seconds`; every
//! connection records every message of its room, and after the last send reads on until its
//! room has been quiet for 3 s (so "lost" counts only what never came). Messages the server
//! refused (the rate limit) are counted apart. Prints one JSON line: connections opened,
//! messages sent, deliveries expected and received, lost (expected − received), the p50/p99
//! delivery latency (send → receipt, every receiver), and for each `--pids` process its CPU
//! (percent of one core over the run) and peak memory (VmHWM).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

/// Latency histogram: 100 µs buckets up to 30 s.
const BUCKET_US: u64 = 100;
const BUCKETS: usize = 300_000;

struct Stats {
    sent: AtomicU64,
    received: AtomicU64,
    histogram: Vec<AtomicU64>,
    failed: AtomicU64,
    /// Connections the server closed (or that broke) before the end.
    closed: AtomicU64,
    /// Messages the server refused.
    refused: AtomicU64,
}

struct Args {
    url: String,
    connections: usize,
    rooms: usize,
    rate: f64,
    seconds: u64,
    pids: Vec<(String, u32)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        connections: 2000,
        rooms: 20,
        rate: 1.0,
        seconds: 30,
        pids: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        let num = |v: String| v.parse::<f64>().map_err(|_| format!("not a number: {v}"));
        match arg.as_str() {
            "--url" => args.url = value()?,
            "--connections" => args.connections = num(value()?)? as usize,
            "--rooms" => args.rooms = num(value()?)? as usize,
            "--rate" => args.rate = num(value()?)?,
            "--seconds" => args.seconds = num(value()?)? as u64,
            "--pids" => {
                for pair in value()?.split(',').filter(|p| !p.is_empty()) {
                    let (name, pid) = pair
                        .split_once(':')
                        .ok_or_else(|| format!("--pids: expected name:pid, got {pair}"))?;
                    let pid = pid
                        .parse()
                        .map_err(|_| format!("--pids: not a pid: {pid}"))?;
                    args.pids.push((name.to_owned(), pid));
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !args.url.starts_with("http://") {
        return Err("--url http://host:port/ is required".into());
    }
    if args.connections == 0 || args.rooms == 0 || args.rate <= 0.0 {
        return Err("--connections, --rooms and --rate must be positive".into());
    }
    Ok(args)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Peak resident memory (VmHWM), KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Deserialize)]
struct Chat {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

fn percentile(histogram: &[u64], total: u64, p: f64) -> f64 {
    let target = ((total as f64) * p).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= target {
            return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
        }
    }
    f64::NAN
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("demo-load: {e}");
            std::process::exit(2);
        }
    };
    let base = args.url.trim_end_matches('/').to_owned();
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&json!({ "name": "load" }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("login")
        .json()
        .await
        .expect("login JSON");
    let token = login["token"].as_str().expect("a token").to_owned();
    let ws_base = base.replacen("http://", "ws://", 1);
    let stats = Arc::new(Stats {
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        histogram: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        failed: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let epoch = Instant::now();
    // Everyone connects, then everyone starts sending together.
    let ready = Arc::new(Barrier::new(args.connections + 1));
    let send_for = Duration::from_secs(args.seconds);
    // After the last send, a connection reads on until its room has been quiet this long.
    let quiet = Duration::from_secs(3);
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let connect_gate = Arc::new(tokio::sync::Semaphore::new(100));
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let url = format!(
            "{ws_base}/ws?token={token}&room=load-{}&mode=plain",
            i % args.rooms
        );
        let (stats, ready, gate) = (stats.clone(), ready.clone(), connect_gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("open gate");
            let ws = tokio_tungstenite::connect_async(&url).await;
            drop(permit);
            let Ok((ws, _)) = ws else {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                ready.wait().await;
                return;
            };
            let (mut sink, mut source) = ws.split();
            ready.wait().await;
            let start = Instant::now();
            // Spread the senders over the period.
            let mut next = start + period.mul_f64((i % 1000) as f64 / 1000.0);
            let mut n = 0u64;
            let mut last_heard = Instant::now();
            loop {
                let sending = start.elapsed() < send_for;
                let give_up = if sending { start + send_for } else { last_heard + quiet };
                tokio::select! {
                    _ = tokio::time::sleep_until(next.into()), if sending => {
                        n += 1;
                        let sent_us = epoch.elapsed().as_micros() as u64;
                        let text = format!("{i}:{n}:{sent_us}");
                        let msg = json!({ "type": "chat", "text": text }).to_string();
                        if sink.send(Message::text(msg)).await.is_err() {
                            break;
                        }
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                        next += period;
                    }
                    msg = source.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            last_heard = Instant::now();
                            let Ok(chat) = serde_json::from_str::<Chat>(t.as_str()) else { continue };
                            if chat.kind == "error" {
                                // A refusal of this connection's message (the rate limit, when
                                // queues bunch the messages up): never delivered, not lost.
                                stats.refused.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            if chat.kind != "chat" {
                                continue;
                            }
                            let Some(sent_us) = chat.text.rsplit(':').next().and_then(|s| s.parse::<u64>().ok()) else { continue };
                            let latency = epoch.elapsed().as_micros() as u64 - sent_us;
                            let bucket = ((latency / BUCKET_US) as usize).min(BUCKETS - 1);
                            stats.histogram[bucket].fetch_add(1, Ordering::Relaxed);
                            stats.received.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            stats.closed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Some(Ok(_)) => {}
                    },
                    _ = tokio::time::sleep_until(give_up.into()), if !sending => break,
                }
            }
        }));
    }
    ready.wait().await;
    let opened = args.connections as u64 - stats.failed.load(Ordering::Relaxed);
    let ticks_before: HashMap<String, Option<u64>> = args
        .pids
        .iter()
        .map(|(name, pid)| (name.clone(), cpu_ticks(*pid)))
        .collect();
    let started = Instant::now();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let clk_tck = 100.0; // Linux USER_HZ
    let mut servers = serde_json::Map::new();
    for (name, pid) in &args.pids {
        let cpu = match (ticks_before[name], cpu_ticks(*pid)) {
            (Some(a), Some(b)) => json!(((b - a) as f64 / clk_tck / elapsed * 100.0).round()),
            _ => json!(null),
        };
        servers.insert(
            name.clone(),
            json!({ "cpuPercentOfOneCore": cpu, "peakRssMiB": peak_kib(*pid).map(|k| (k as f64 / 1024.0).round()) }),
        );
    }
    let histogram: Vec<u64> = stats
        .histogram
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let received = stats.received.load(Ordering::Relaxed);
    let refused = stats.refused.load(Ordering::Relaxed);
    let sent = stats.sent.load(Ordering::Relaxed) - refused;
    // Every message goes to every connection of its room, the sender included.
    let per_room = args.connections as f64 / args.rooms as f64;
    let expected = (sent as f64 * per_room).round() as u64;
    let report = json!({
        "connections": opened,
        "failedConnections": stats.failed.load(Ordering::Relaxed),
        "closedEarly": stats.closed.load(Ordering::Relaxed),
        "seconds": (elapsed * 10.0).round() / 10.0,
        "rooms": args.rooms,
        "sent": sent,
        "refused": refused,
        "deliveriesExpected": expected,
        "deliveriesReceived": received,
        "lost": expected.saturating_sub(received),
        "latencyMs": { "p50": percentile(&histogram, received, 0.50), "p99": percentile(&histogram, received, 0.99) },
        "servers": servers,
    });
    println!("{report}");
}
