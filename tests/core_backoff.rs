#![cfg(not(target_arch = "wasm32"))]
//! Backoff: the exact sequence without jitter, the bounds and per-attempt draws with it.
mod core_support;

use core_support::*;
use resilient_ws::core::*;

fn opts(jitter: f64) -> ReconnectOptions {
    ReconnectOptions {
        jitter,
        ..ReconnectOptions::default()
    }
}

#[test]
fn exact_sequence_without_jitter() {
    let b = Backoff::new(&opts(0.0));
    let mut rng = Rng::new(7);
    let got: Vec<Millis> = (1..=10).map(|n| b.delay(n, &mut rng)).collect();
    assert_eq!(
        got,
        vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
    );
}

#[test]
fn exact_sequence_through_the_machine() {
    let mut sim = Sim::new(no_jitter());
    sim.server = Server::Refuse;
    sim.reconnect();
    while sim.opens().len() < 11 {
        sim.step();
    }
    assert_eq!(
        sim.retry_delays(),
        vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    );
    assert_eq!(
        sim.m.attempt(),
        10,
        "retry 9 failed at once too: retry 10 is scheduled"
    );
}

#[test]
fn other_factors_and_caps() {
    let b = Backoff::new(&ReconnectOptions {
        initial_delay_ms: 100.0,
        max_delay_ms: 1_000.0,
        factor: 1.5,
        jitter: 0.0,
        ..ReconnectOptions::default()
    });
    let got: Vec<f64> = (1..=8).map(|n| b.base_delay(n)).collect();
    assert_eq!(
        got,
        vec![100.0, 150.0, 225.0, 337.5, 506.25, 759.375, 1000.0, 1000.0]
    );
    let flat = Backoff::new(&ReconnectOptions {
        factor: 1.0,
        jitter: 0.0,
        ..ReconnectOptions::default()
    });
    assert_eq!(flat.base_delay(1), 500.0);
    assert_eq!(flat.base_delay(1_000_000), 500.0);
}

#[test]
fn huge_attempt_numbers_cap_instead_of_overflowing() {
    let b = Backoff::new(&opts(0.0));
    let mut rng = Rng::new(1);
    for n in [31, 64, 1_025, 1_000_000, u32::MAX] {
        assert_eq!(b.base_delay(n), 30_000.0, "n={n}");
        assert_eq!(b.delay(n, &mut rng), 30_000, "n={n}");
    }
    let big_factor = Backoff::new(&ReconnectOptions {
        factor: 1e300,
        jitter: 0.0,
        ..ReconnectOptions::default()
    });
    assert_eq!(big_factor.base_delay(3), 30_000.0);
    let zero = Backoff::new(&ReconnectOptions {
        initial_delay_ms: 0.0,
        max_delay_ms: 0.0,
        ..ReconnectOptions::default()
    });
    assert_eq!(zero.base_delay(u32::MAX), 0.0);
    assert_eq!(zero.delay(u32::MAX, &mut rng), 0);
    // n = 0 is treated as the first retry.
    assert_eq!(b.base_delay(0), 500.0);
}

#[test]
fn jittered_delays_stay_within_bounds_under_many_seeds() {
    for &j in &[1.0, 0.5, 0.1] {
        let b = Backoff::new(&opts(j));
        for seed in 0..2_000u64 {
            let mut rng = Rng::new(seed);
            for n in 1..=12 {
                let (low, high) = b.bounds(n);
                assert_eq!(high, b.base_delay(n));
                assert!((low - high * (1.0 - j)).abs() < 1e-9);
                let d = b.delay(n, &mut rng);
                assert!(
                    (low.round() as u64..=high.round() as u64).contains(&d),
                    "jitter {j} seed {seed} n {n}: {d} not in [{low}, {high}]"
                );
            }
        }
    }
}

#[test]
fn full_jitter_spreads_over_the_whole_range() {
    // Full jitter: uniform on [0, base]. Mean ≈ base / 2, and both ends are reached.
    let b = Backoff::new(&opts(1.0));
    let mut rng = Rng::new(99);
    let n = 4; // base 4000
    let samples: Vec<Millis> = (0..20_000).map(|_| b.delay(n, &mut rng)).collect();
    let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
    assert!((mean - 2_000.0).abs() < 40.0, "mean {mean}");
    assert!(*samples.iter().min().unwrap() < 40);
    assert!(*samples.iter().max().unwrap() > 3_960);
    // Ten buckets, each near 10 %.
    let mut buckets = [0usize; 10];
    for &s in &samples {
        buckets[((s as usize) * 10 / 4_001).min(9)] += 1;
    }
    for (i, &c) in buckets.iter().enumerate() {
        assert!((1_700..=2_300).contains(&c), "bucket {i}: {c}");
    }
}

#[test]
fn jitter_is_drawn_afresh_for_every_attempt() {
    // With factor 1 every retry has the same base: the delays still differ attempt to attempt.
    let mut o = Options::default();
    let r = o.reconnect.as_mut().unwrap();
    r.factor = 1.0;
    r.initial_delay_ms = 10_000.0;
    r.max_delay_ms = 10_000.0;
    let mut sim = Sim::with_seed(o, 12_345);
    sim.server = Server::Refuse;
    sim.reconnect();
    while sim.opens().len() < 22 {
        sim.step();
    }
    let delays = sim.retry_delays();
    assert_eq!(delays.len(), 20);
    let mut distinct = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 18, "{delays:?}");
    assert!(delays.iter().all(|&d| d <= 10_000));
}

#[test]
fn different_seeds_give_different_schedules_same_seed_the_same() {
    let run = |seed| {
        let mut sim = Sim::with_seed(Options::default(), seed);
        sim.server = Server::Refuse;
        sim.reconnect();
        while sim.opens().len() < 8 {
            sim.step();
        }
        sim.retry_delays()
    };
    assert_eq!(run(5), run(5), "deterministic");
    let schedules: Vec<Vec<Millis>> = (0..20).map(run).collect();
    let mut firsts: Vec<Millis> = schedules.iter().map(|s| s[0]).collect();
    firsts.sort_unstable();
    firsts.dedup();
    assert!(firsts.len() >= 15, "first retries spread: {firsts:?}");
    for s in &schedules {
        for (i, &d) in s.iter().enumerate() {
            let high = (500u64 << i).min(30_000);
            assert!(d <= high, "{s:?}");
        }
    }
}

#[test]
fn partial_jitter_keeps_the_lower_bound_through_the_machine() {
    let mut o = Options::default();
    o.reconnect.as_mut().unwrap().jitter = 0.25;
    for seed in 0..50 {
        let mut sim = Sim::with_seed(o.clone(), seed);
        sim.server = Server::Refuse;
        sim.reconnect();
        while sim.opens().len() < 10 {
            sim.step();
        }
        for (i, &d) in sim.retry_delays().iter().enumerate() {
            let base = (500u64 << i).min(30_000);
            assert!(
                d * 4 >= base * 3 && d <= base,
                "seed {seed} retry {}: {d}",
                i + 1
            );
        }
    }
}
