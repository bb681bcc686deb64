//! demo-load --url http://127.0.0.1:PORT/ [--connections 2000] [--rooms 20] [--rate 1]
//!           [--seconds 30] [--drain-quiet 10] [--pids name:PID,...] [--healthz name=URL,...]
//!
//! A bounded load test of the chat demo, on loopback: opens `connections` WebSockets (plain
//! mode) spread over `rooms` rooms; once all are open, each sends `seconds × rate` messages,
//! `rate` per second, and reads every message of its room.
//!
//! What counts as lost: after the last send (the end of the send phase), every connection
//! reads on until it has received every message its room accepted, or until it has heard
//! nothing for `drain-quiet` seconds; only then is a message that has not come counted as
//! lost. The report gives how long that drain took. A message the server refused (the rate
//! limit) is counted apart: it was never accepted. Each connection also checks each sender's
//! messages arrive in order and once.
//!
//! Prints one JSON line: connections opened, closed early (by close code), messages sent,
//! refused, deliveries expected and received, lost, duplicated or out of order, the delivery
//! latency (send → receipt, every receiver: p50, p99, max), the send and drain times, and for
//! the load client and each `--pids` process its CPU (percent of one core over the run) and
//! peak memory (VmHWM), and each `--healthz` instance's `catchUps` (connections that fell behind
//! their room's queue and caught up from the room's log).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

struct Args {
    url: String,
    connections: usize,
    rooms: usize,
    rate: f64,
    seconds: u64,
    drain_quiet: Duration,
    pids: Vec<(String, u32)>,
    healthz: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        connections: 2000,
        rooms: 20,
        rate: 1.0,
        seconds: 30,
        drain_quiet: Duration::from_secs(10),
        pids: Vec::new(),
        healthz: Vec::new(),
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
            "--drain-quiet" => args.drain_quiet = Duration::from_secs_f64(num(value()?)?),
            "--pids" => {
                for pair in value()?.split(',').filter(|p| !p.is_empty()) {
                    let (name, pid) = pair
                        .split_once(':')
                        .ok_or_else(|| format!("--pids: expected name:pid, got {pair}"))?;
                    let pid = pid
                        .parse()
                        .map_err(|_| format!("--pids: not a pid: {pid:?} (for {name})"))?;
                    args.pids.push((name.to_owned(), pid));
                }
            }
            "--healthz" => {
                for pair in value()?.split(',').filter(|p| !p.is_empty()) {
                    let (name, url) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("--healthz: expected name=URL, got {pair}"))?;
                    args.healthz.push((name.to_owned(), url.to_owned()));
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !args.url.starts_with("http://") {
        return Err("--url http://host:port/ is required".into());
    }
    if args.connections == 0 || args.rooms == 0 || args.rate <= 0.0 || args.seconds == 0 {
        return Err("--connections, --rooms, --rate and --seconds must be positive".into());
    }
    if args.rooms > args.connections {
        return Err("--rooms must not exceed --connections".into());
    }
    Ok(args)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The whole machine's (busy, total) CPU time, in clock ticks, from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?; // idle + iowait
    Some((total - idle, total))
}

/// Peak resident memory (VmHWM), KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A payload from the server; only `chat` and `error` matter here.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    text: &'a str,
    /// In `connected`: the instance this connection is on.
    #[serde(default, borrow)]
    instance: &'a str,
}

/// A room's running totals, shared by its connections.
#[derive(Default)]
struct RoomCount {
    /// Messages its members sent.
    sent: AtomicU64,
    /// …of which the server refused these.
    refused: AtomicU64,
    /// Members that have finished sending (or whose connection ended).
    done_sending: AtomicU64,
}

/// What one connection saw.
#[derive(Default)]
struct Seen {
    opened: bool,
    sent: u64,
    refused: u64,
    received: u64,
    /// A message of a sender that came again, or before one of its earlier messages.
    out_of_order: u64,
    /// Which messages of each room member came: a bit per message number.
    got: Vec<Vec<u64>>,
    /// The instance the server said this connection is on.
    instance: String,
    /// Delivery latencies, µs.
    latencies: Vec<u32>,
    /// The close code, when the connection ended before the drain did.
    closed_early: Option<String>,
    /// When this connection stopped reading (after the drain).
    finished: Option<Instant>,
    /// When it sent its last message.
    last_send: Option<Instant>,
}

struct Plan {
    connections: usize,
    rooms: usize,
    /// Messages each connection sends.
    count: u64,
    period: Duration,
    drain_quiet: Duration,
}

impl Plan {
    fn members(&self, room: usize) -> usize {
        (self.connections + self.rooms - 1 - room) / self.rooms
    }
}

/// The text of message `n` of connection `i`: `"i:n:sent_us"`.
fn parse_text(text: &str) -> Option<(usize, u64, u64)> {
    let mut parts = text.split(':');
    let i = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let at = parts.next()?.parse().ok()?;
    Some((i, n, at))
}

async fn connection(
    i: usize,
    url: String,
    plan: Arc<Plan>,
    room: Arc<RoomCount>,
    epoch: Instant,
    ready: Arc<Barrier>,
    gate: Arc<tokio::sync::Semaphore>,
) -> Seen {
    let mut seen = Seen::default();
    let permit = gate.acquire_owned().await.expect("open gate");
    // No Nagle: a message leaves when it is sent.
    let ws = tokio_tungstenite::connect_async_with_config(&url, None, true).await;
    drop(permit);
    let Ok((ws, _)) = ws else {
        room.done_sending.fetch_add(1, Ordering::Relaxed);
        ready.wait().await;
        return seen;
    };
    seen.opened = true;
    let (mut sink, mut source) = ws.split();
    // The last message number seen of each member of the room (member = sender / rooms).
    let mut last_n = vec![0u64; plan.members(i % plan.rooms)];
    seen.got = vec![vec![0u64; plan.count as usize / 64 + 1]; last_n.len()];
    // The handshake's end is not the server's: the connection is in its room once the server
    // has sent `connected` and the history (it subscribes to the room before). Until then a
    // message of the room would reach it in the history, which is not counted here.
    let joined = async {
        while let Some(Ok(msg)) = source.next().await {
            if let Message::Text(t) = msg {
                match serde_json::from_str::<Payload>(t.as_str()) {
                    Ok(p) if p.kind == "connected" => seen.instance = p.instance.to_owned(),
                    Ok(p) if p.kind == "history" => return true,
                    _ => {}
                }
            }
        }
        false
    };
    if !joined.await {
        seen.closed_early = Some("closed before joining".into());
        room.done_sending.fetch_add(1, Ordering::Relaxed);
        ready.wait().await;
        return seen;
    }
    ready.wait().await;
    let start = Instant::now();
    // Spread the senders over the period.
    let mut next = start + plan.period.mul_f64((i % 1000) as f64 / 1000.0);
    let mut n = 0u64;
    let mut last_heard = Instant::now();
    let members = plan.members(i % plan.rooms) as u64;
    // Every room member has sent everything: what the room accepted is known (but for
    // refusals still on their way back to their senders).
    let all_sent = || room.done_sending.load(Ordering::Relaxed) >= members;
    let accepted = || room.sent.load(Ordering::Relaxed) - room.refused.load(Ordering::Relaxed);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        let sending = n < plan.count;
        if !sending && all_sent() && seen.received >= accepted() {
            break; // everything this room accepted has come
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()), if sending => {
                n += 1;
                let sent_us = epoch.elapsed().as_micros() as u64;
                let msg = json!({ "type": "chat", "text": format!("{i}:{n}:{sent_us}") });
                if sink.send(Message::text(msg.to_string())).await.is_err() {
                    seen.closed_early = Some("send failed".into());
                    break;
                }
                seen.sent += 1;
                room.sent.fetch_add(1, Ordering::Relaxed);
                if n == plan.count {
                    seen.last_send = Some(Instant::now());
                    room.done_sending.fetch_add(1, Ordering::Relaxed);
                }
                next += plan.period;
            }
            msg = source.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let Ok(payload) = serde_json::from_str::<Payload>(t.as_str()) else { continue };
                    if matches!(payload.kind, "chat" | "error") {
                        // Not presence: the members that finish and leave must not keep the
                        // ones still waiting from ever going quiet.
                        last_heard = Instant::now();
                    }
                    match payload.kind {
                        // A refusal of this connection's message (the rate limit): never
                        // accepted, so never delivered; not lost.
                        "error" => {
                            seen.refused += 1;
                            room.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        "chat" => {
                            let Some((from, k, sent_us)) = parse_text(payload.text) else { continue };
                            let now_us = epoch.elapsed().as_micros() as u64;
                            seen.latencies.push(now_us.saturating_sub(sent_us).min(u32::MAX as u64) as u32);
                            seen.received += 1;
                            if let Some(last) = last_n.get_mut(from / plan.rooms) {
                                if k <= *last {
                                    seen.out_of_order += 1;
                                }
                                *last = (*last).max(k);
                            }
                            if let Some(word) = seen.got.get_mut(from / plan.rooms).and_then(|g| g.get_mut(k as usize / 64)) {
                                *word |= 1 << (k % 64);
                            }
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    seen.closed_early = Some(frame.map_or("1005".into(), |f| u16::from(f.code).to_string()));
                    break;
                }
                Some(Err(e)) => {
                    seen.closed_early = Some(format!("error: {e}"));
                    break;
                }
                None => {
                    seen.closed_early = Some("eof".into());
                    break;
                }
                Some(Ok(_)) => {}
            },
            _ = check.tick(), if !sending => {
                if last_heard.elapsed() >= plan.drain_quiet {
                    break; // silent for the whole drain wait: what has not come is lost
                }
            }
        }
    }
    if n < plan.count {
        // Ended before sending everything: the room must not wait for it.
        room.done_sending.fetch_add(1, Ordering::Relaxed);
    }
    seen.finished = Some(Instant::now());
    if seen.closed_early.is_none() {
        let _ = sink
            .send(Message::Close(Some(
                tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: CloseCode::Normal,
                    reason: "done".into(),
                },
            )))
            .await;
    }
    seen
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    ms(sorted[index])
}

fn ms(us: u32) -> f64 {
    (us as f64 / 100.0).round() / 10.0
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
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
        .unwrap_or_else(|e| {
            eprintln!("demo-load: login at {base}/api/login failed: {e}");
            std::process::exit(1);
        })
        .json()
        .await
        .expect("login JSON");
    let token = login["token"].as_str().expect("a token").to_owned();
    let ws_base = base.replacen("http://", "ws://", 1);
    let plan = Arc::new(Plan {
        connections: args.connections,
        rooms: args.rooms,
        count: (args.seconds as f64 * args.rate).round() as u64,
        period: Duration::from_secs_f64(1.0 / args.rate),
        drain_quiet: args.drain_quiet,
    });
    let rooms: Vec<Arc<RoomCount>> = (0..args.rooms).map(|_| Arc::default()).collect();
    let epoch = Instant::now();
    // Everyone connects, then everyone starts sending together.
    let ready = Arc::new(Barrier::new(args.connections + 1));
    let gate = Arc::new(tokio::sync::Semaphore::new(100));
    let tasks: Vec<_> = (0..args.connections)
        .map(|i| {
            let url = format!(
                "{ws_base}/ws?token={token}&room=load-{}&mode=plain",
                i % args.rooms
            );
            let room = rooms[i % args.rooms].clone();
            tokio::spawn(connection(
                i,
                url,
                plan.clone(),
                room,
                epoch,
                ready.clone(),
                gate.clone(),
            ))
        })
        .collect();
    ready.wait().await;
    let mut pids = args.pids.clone();
    pids.push(("load-client".into(), std::process::id()));
    let ticks_before: Vec<Option<u64>> = pids.iter().map(|(_, pid)| cpu_ticks(*pid)).collect();
    let machine_before = machine_ticks();
    let started = Instant::now();
    let mut seen = Vec::with_capacity(tasks.len());
    for task in tasks {
        seen.push(task.await.expect("a connection task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let clk_tck = 100.0; // Linux USER_HZ
                         // How busy the whole machine was (everyone's processes, not only these), and its cores.
    let busy = match (machine_before, machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            json!(((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0).round())
        }
        _ => json!(null),
    };
    let machine = json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "busyPercentOfAllCores": busy,
        "loadAverage1m": std::fs::read_to_string("/proc/loadavg").ok()
            .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok()),
    });
    let mut processes = serde_json::Map::new();
    for ((name, pid), before) in pids.iter().zip(&ticks_before) {
        let cpu = match (before, cpu_ticks(*pid)) {
            (Some(a), Some(b)) => json!(((b - a) as f64 / clk_tck / elapsed * 100.0).round()),
            _ => json!(null),
        };
        processes.insert(
            name.clone(),
            json!({ "cpuPercentOfOneCore": cpu, "peakRssMiB": peak_kib(*pid).map(|k| (k as f64 / 1024.0).round()) }),
        );
    }

    // Every accepted message goes to every open member of its room, the sender included.
    let mut expected = 0u64;
    let mut received = 0u64;
    let mut sent = 0u64;
    let mut refused = 0u64;
    let mut out_of_order = 0u64;
    let mut opened = 0u64;
    let mut closed: BTreeMap<String, u64> = BTreeMap::new();
    let mut latencies: Vec<u32> = Vec::new();
    for (room, count) in rooms.iter().enumerate() {
        let members = seen
            .iter()
            .skip(room)
            .step_by(args.rooms)
            .filter(|s| s.opened)
            .count() as u64;
        let accepted = count.sent.load(Ordering::Relaxed) - count.refused.load(Ordering::Relaxed);
        expected += accepted * members;
    }
    // Which messages did not come, to whom: a message nobody got was never stored (or never
    // published); one that only some members missed was lost on the way to them.
    let mut missed: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut missed_by_instance: BTreeMap<String, u64> = BTreeMap::new();
    for (r, receiver) in seen.iter().enumerate().filter(|(_, s)| s.opened) {
        for (member, got) in receiver.got.iter().enumerate() {
            let sender = member * args.rooms + r % args.rooms;
            for k in 1..=seen.get(sender).map_or(0, |s| s.sent) {
                if got
                    .get(k as usize / 64)
                    .is_none_or(|w| w & (1 << (k % 64)) == 0)
                {
                    *missed.entry((sender, k)).or_default() += 1;
                    *missed_by_instance
                        .entry(receiver.instance.clone())
                        .or_default() += 1;
                }
            }
        }
    }
    let members_of = |sender: usize| plan.members(sender % args.rooms) as u64;
    let missing = json!({
        "distinctMessages": missed.len(),
        "missedByWholeRoom": missed.iter().filter(|((s, _), n)| **n >= members_of(*s)).count(),
        "byReceiverInstance": missed_by_instance,
        "examples": missed.iter().take(5).map(|((s, k), n)| format!("{s}:{k} missed by {n}")).collect::<Vec<_>>(),
    });
    let mut last_send: Option<Instant> = None;
    let mut last_finish: Option<Instant> = None;
    for s in &mut seen {
        opened += s.opened as u64;
        sent += s.sent;
        refused += s.refused;
        received += s.received;
        out_of_order += s.out_of_order;
        if let Some(code) = s.closed_early.take() {
            *closed.entry(code).or_default() += 1;
        }
        latencies.append(&mut s.latencies);
        last_send = last_send.max(s.last_send);
        last_finish = last_finish.max(s.finished);
    }
    latencies.sort_unstable();
    let send_phase = last_send.map_or(0.0, |t| secs(t - started));
    let drain = match (last_send, last_finish) {
        (Some(a), Some(b)) => secs(b.saturating_duration_since(a)),
        _ => 0.0,
    };
    let mut catch_ups = serde_json::Map::new();
    for (name, url) in &args.healthz {
        let health = async { reqwest::get(url).await?.json::<serde_json::Value>().await };
        let n = match health.await {
            Ok(health) => health["catchUps"].clone(),
            Err(e) => json!(format!("{url}: {e}")),
        };
        catch_ups.insert(name.clone(), n);
    }
    let report = json!({
        "connections": opened,
        "failedConnections": args.connections as u64 - opened,
        "closedEarly": closed,
        "rooms": args.rooms,
        "sent": sent,
        "refused": refused,
        "deliveriesExpected": expected,
        "deliveriesReceived": received,
        "lost": expected.saturating_sub(received),
        "outOfOrderOrDuplicated": out_of_order,
        "missing": missing,
        "latencyMs": {
            "p50": percentile(&latencies, 0.50),
            "p99": percentile(&latencies, 0.99),
            "max": latencies.last().map_or(f64::NAN, |&us| ms(us)),
        },
        "sendSeconds": send_phase,
        "drainSeconds": drain,
        "drainQuietSeconds": args.drain_quiet.as_secs_f64(),
        "deliveriesPerSecond": (received as f64 / elapsed).round(),
        "processes": processes,
        "catchUps": catch_ups,
        "machine": machine,
    });
    println!("{report}");
}
