#![cfg(not(target_arch = "wasm32"))]
//! The snapshot's `attempt` (`Machine::outage_attempt`): the retries of the current outage,
//! 0 while connected, unlike the backoff's own counter (`Machine::attempt`), which goes back
//! to 0 only after minUptimeMs.
mod core_support;

use core_support::*;
use resilient_ws::core::*;

#[test]
fn counts_the_retries_of_the_current_outage_and_is_0_while_connected() {
    let mut sim = Sim::new(no_jitter());
    assert_eq!(
        sim.m.outage_attempt(),
        0,
        "the first attempt is not a retry"
    );
    sim.server_close(1006);
    assert_eq!(sim.m.outage_attempt(), 1, "waiting for retry 1");
    sim.step();
    assert_eq!(sim.m.outage_attempt(), 1, "making retry 1");
    sim.fail_attempts(2);
    assert_eq!(sim.m.outage_attempt(), 3);
    sim.open();
    assert_eq!(sim.m.status(), Status::Connected);
    assert_eq!(sim.m.outage_attempt(), 0, "connected");
    assert_eq!(
        sim.m.attempt(),
        3,
        "the backoff's counter waits for minUptimeMs"
    );
    // A drop before minUptimeMs: the backoff goes on (retry 4), the outage starts at 1.
    sim.advance(100);
    sim.server_close(1006);
    assert_eq!(sim.m.attempt(), 4);
    assert_eq!(sim.m.outage_attempt(), 1);
    sim.step();
    sim.open();
    sim.advance(5_000);
    assert_eq!((sim.m.attempt(), sim.m.outage_attempt()), (0, 0));
}

#[test]
fn reconnect_resets_it_and_exhaustion_keeps_the_count() {
    let mut o = no_jitter();
    o.reconnect.as_mut().unwrap().max_attempts = Some(2);
    let mut sim = Sim::new(o);
    sim.fail_attempts(2);
    sim.server_close(1006);
    assert_eq!(
        sim.m.status(),
        Status::Closed(ClosedReason::AttemptsExhausted)
    );
    assert_eq!(sim.m.outage_attempt(), 2, "the retries made");
    sim.reconnect();
    assert_eq!(sim.m.outage_attempt(), 0);
    sim.server_close(1006);
    assert_eq!(sim.m.outage_attempt(), 1);
}
