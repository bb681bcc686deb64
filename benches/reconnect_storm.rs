//! Reconnect storm: 10,000 simulated clients (one `Machine` each, different seeds) are
//! connected when the server goes away at t = 0 (every client gets close 1006). Until
//! t = 5000 ms the server refuses: every attempt fails at once with close 1006. After that it
//! accepts. We count `Command::Open`s per 100 ms window and report the busiest window and when
//! the last client is connected again, with full jitter (the default) against none.
//!
//! Runs on the virtual clock, so the figures are exact and reproducible.
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use resilient_ws::core::*;

const CLIENTS: usize = 10_000;
/// Virtual time of "t = 0" (the machines were started and connected a minute before).
const T0: Millis = 100_000;
const SERVER_BACK_MS: Millis = 5_000;
const WINDOW_MS: Millis = 100;

struct Outcome {
    /// Opens per 100 ms window, keyed by window start (ms after t = 0).
    windows: BTreeMap<Millis, u32>,
    all_connected_ms: Millis,
    /// When each client was connected again (ms after t = 0), sorted.
    connected_at: Vec<Millis>,
    opens: u64,
}

impl Outcome {
    fn peak(&self, from: Millis) -> (Millis, u32) {
        self.windows
            .range(from..)
            .map(|(&w, &n)| (w, n))
            .max_by_key(|&(w, n)| (n, Reverse(w)))
            .unwrap_or((0, 0))
    }

    fn percentile(&self, p: usize) -> Millis {
        self.connected_at[(self.connected_at.len() * p / 100).min(self.connected_at.len() - 1)]
    }
}

/// Carries out the machine's commands as the test server would at `now`; returns whether
/// the machine is connected afterwards.
fn drive(m: &mut Machine, now: Millis, out: &mut Outcome) -> bool {
    loop {
        let mut replies = Vec::new();
        while let Some(c) = m.poll_command() {
            if let Command::Open { conn } = c {
                if now >= T0 {
                    *out.windows
                        .entry((now - T0) / WINDOW_MS * WINDOW_MS)
                        .or_default() += 1;
                    out.opens += 1;
                }
                let up = !(T0..T0 + SERVER_BACK_MS).contains(&now);
                replies.push(if up {
                    Input::Opened { conn }
                } else {
                    abnormal_close(conn)
                });
            }
        }
        while m.poll_event().is_some() {}
        if replies.is_empty() {
            return m.status() == Status::Connected;
        }
        for r in replies {
            m.handle(now, r);
        }
    }
}

fn storm(jitter: f64) -> Outcome {
    let mut options = Options::default();
    options.reconnect.as_mut().unwrap().jitter = jitter;
    options.validate().unwrap();
    let mut out = Outcome {
        windows: BTreeMap::new(),
        all_connected_ms: 0,
        connected_at: Vec::with_capacity(CLIENTS),
        opens: 0,
    };
    let start = T0 - 60_000;
    let mut machines: Vec<Machine> = (0..CLIENTS)
        .map(|i| {
            let seed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
            let mut m = Machine::new(options.clone(), seed, start);
            assert!(drive(&mut m, start, &mut out));
            m
        })
        .collect();
    // t = 0: the server goes away.
    let mut heap = BinaryHeap::new();
    for (i, m) in machines.iter_mut().enumerate() {
        let conn = m.current_conn().unwrap();
        m.handle(T0, abnormal_close(conn));
        assert!(!drive(m, T0, &mut out));
        heap.push(Reverse((m.poll_timeout().unwrap(), i)));
    }
    let mut connected = 0;
    while let Some(Reverse((t, i))) = heap.pop() {
        let m = &mut machines[i];
        if m.poll_timeout() != Some(t) {
            continue; // superseded
        }
        m.handle_timeout(t);
        if drive(m, t, &mut out) {
            connected += 1;
            out.connected_at.push(t - T0);
            if connected == CLIENTS {
                out.all_connected_ms = t - T0;
                break;
            }
        } else if let Some(next) = m.poll_timeout() {
            heap.push(Reverse((next, i)));
        }
    }
    assert_eq!(connected, CLIENTS, "every client reconnects");
    out
}

fn main() {
    let t = std::time::Instant::now();
    let full = storm(1.0);
    let none = storm(0.0);
    let (fw, fp) = full.peak(0);
    let (nw, np) = none.peak(0);
    let (fbw, fbp) = full.peak(SERVER_BACK_MS);
    let (nbw, nbp) = none.peak(SERVER_BACK_MS);
    println!(
        "reconnect storm: {CLIENTS} clients, server away from t=0 to t={SERVER_BACK_MS} ms, \
         backoff defaults (500 ms x2, max 30 s), opens counted per {WINDOW_MS} ms window"
    );
    println!();
    println!(
        "| jitter | peak opens/100ms (at ms) | peak once the server is back (at ms) | median / p99 / all reconnected (ms) | opens |"
    );
    println!("|---|---|---|---|---|");
    for (j, (w, p), (bw, bp), o) in [
        ("1 (full)", (fw, fp), (fbw, fbp), &full),
        ("0 (none)", (nw, np), (nbw, nbp), &none),
    ] {
        println!(
            "| {j} | {p} ({w}) | {bp} ({bw}) | {} / {} / {} | {} |",
            o.percentile(50),
            o.percentile(99),
            o.all_connected_ms,
            o.opens
        );
    }
    println!();
    println!(
        "peak ratio jitter 0 / jitter 1: {:.1}x overall, {:.1}x once the server is back",
        np as f64 / fp as f64,
        nbp as f64 / fbp as f64
    );
    println!(
        "storm jitter=1 peak_per_100ms={fp} peak_after_back_per_100ms={fbp} all_connected_ms={} opens={}",
        full.all_connected_ms, full.opens
    );
    println!(
        "storm jitter=0 peak_per_100ms={np} peak_after_back_per_100ms={nbp} all_connected_ms={} opens={}",
        none.all_connected_ms, none.opens
    );
    println!(
        "(simulated in {:.2} s of wall time)",
        t.elapsed().as_secs_f64()
    );
}

/// What a refused attempt or a dropped connection looks like to the core: close 1006.
fn abnormal_close(conn: ConnId) -> Input {
    Input::Closed {
        conn,
        info: CloseInfo {
            code: 1006,
            reason: String::new(),
            was_clean: false,
        },
        reconnect: true,
    }
}
