//! Outbox throughput through the machine (`Machine::send` + `poll_command`), timed with
//! `Instant`. Two paths, 1,000,000 messages of 16 bytes each:
//! - direct: connected, the driver feeds a bufferedAmount reading before each send (as the
//!   browser driver does), every message goes straight out;
//! - queued: sent while offline into a large outbox, then flushed on open, paced by
//!   highWaterMark with a reading of 0 each time the machine waits for room.
//!
//! Each figure includes building the message (`String` clone) and the driver's side of the
//! command queue.
use std::hint::black_box;
use std::time::Instant;

use resilient_ws::core::*;

const MESSAGES: usize = 1_000_000;
const TEXT: &str = "hello world 0123";

fn options() -> Options {
    let mut o = Options::default();
    o.outbox.max_messages = MESSAGES;
    o.outbox.max_bytes = MESSAGES * TEXT.len();
    o.validate().unwrap();
    o
}

fn connected(now: Millis) -> (Machine, ConnId) {
    let mut m = Machine::new(options(), 1, now);
    let Some(Command::Open { conn }) = m.poll_command() else {
        unreachable!()
    };
    m.handle(now, Input::Opened { conn });
    while m.poll_event().is_some() {}
    (m, conn)
}

fn direct() -> f64 {
    let (mut m, conn) = connected(0);
    let t = Instant::now();
    for i in 0..MESSAGES {
        m.handle(i as Millis, Input::BufferedAmount { conn, bytes: 0 });
        let r = m.send(i as Millis, Payload::Text(TEXT.to_owned()));
        debug_assert_eq!(r, Ok(SendOutcome::Sent));
        black_box(m.poll_command());
    }
    t.elapsed().as_nanos() as f64 / MESSAGES as f64
}

fn queued() -> (f64, f64, usize) {
    let mut m = Machine::new(options(), 1, 0);
    let Some(Command::Open { conn }) = m.poll_command() else {
        unreachable!()
    };
    let t = Instant::now();
    for _ in 0..MESSAGES {
        let r = m.send(0, Payload::Text(TEXT.to_owned()));
        debug_assert_eq!(r, Ok(SendOutcome::Queued));
    }
    let push = t.elapsed().as_nanos() as f64 / MESSAGES as f64;
    assert_eq!(m.queued_messages(), MESSAGES);
    let t = Instant::now();
    m.handle(1, Input::Opened { conn });
    let (mut sent, mut readings) = (0, 0);
    loop {
        while let Some(c) = m.poll_command() {
            if let Command::Send { .. } = c {
                sent += 1;
            }
            black_box(c);
        }
        if m.queued_messages() == 0 {
            break;
        }
        // The socket drained instantly: the next reading is 0.
        m.handle(1, Input::BufferedAmount { conn, bytes: 0 });
        readings += 1;
    }
    let drain = t.elapsed().as_nanos() as f64 / MESSAGES as f64;
    assert_eq!(sent, MESSAGES);
    (push, drain, readings)
}

fn main() {
    // Warm-up, then the measured runs.
    black_box(direct());
    let d = direct();
    let (push, drain, readings) = queued();
    println!(
        "outbox throughput: {MESSAGES} messages of {} bytes",
        TEXT.len()
    );
    println!();
    println!("| path | ns/message |");
    println!("|---|---|");
    println!("| direct (connected, reading before each send) | {d:.1} |");
    println!("| queued while offline (send) | {push:.1} |");
    println!(
        "| flushed on open, paced at highWaterMark 65536 ({readings} readings) | {drain:.1} |"
    );
    println!(
        "outbox direct_ns_per_msg={d:.1} queue_ns_per_msg={push:.1} flush_ns_per_msg={drain:.1}"
    );
}
