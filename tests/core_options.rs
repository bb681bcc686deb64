#![cfg(not(target_arch = "wasm32"))]
//! Option defaults and validation: the field named is the JS path.
use resilient_ws::core::*;

#[test]
fn documented_defaults() {
    let o = Options::default();
    assert_eq!(
        o.reconnect,
        Some(ReconnectOptions {
            initial_delay_ms: 500.0,
            max_delay_ms: 30_000.0,
            factor: 2.0,
            jitter: 1.0,
            max_attempts: None,
            min_uptime_ms: 5_000,
        })
    );
    assert_eq!(o.connect_timeout_ms, 10_000);
    assert_eq!(o.heartbeat, None);
    assert_eq!(
        o.outbox,
        OutboxOptions {
            max_messages: 1_000,
            max_bytes: 1_048_576,
            overflow: Overflow::Error,
            high_water_mark: 65_536,
        }
    );
    assert_eq!(
        HeartbeatOptions::default(),
        HeartbeatOptions {
            interval_ms: 25_000,
            timeout_ms: 10_000,
            message: "ping".into(),
            pong_message: "pong".into(),
        }
    );
    assert_eq!(o.validate(), Ok(()));
    let mut all = o.clone();
    all.heartbeat = Some(HeartbeatOptions::default());
    assert_eq!(all.validate(), Ok(()));
}

fn field_of(f: impl FnOnce(&mut Options)) -> OptionError {
    let mut o = Options {
        heartbeat: Some(HeartbeatOptions::default()),
        ..Options::default()
    };
    f(&mut o);
    o.validate().expect_err("should be invalid")
}

fn r(o: &mut Options) -> &mut ReconnectOptions {
    o.reconnect.as_mut().unwrap()
}

fn h(o: &mut Options) -> &mut HeartbeatOptions {
    o.heartbeat.as_mut().unwrap()
}

#[test]
fn each_rule_names_its_field() {
    let cases: Vec<(OptionError, &str)> = vec![
        (
            field_of(|o| r(o).initial_delay_ms = -1.0),
            "reconnect.initialDelayMs",
        ),
        (
            field_of(|o| r(o).initial_delay_ms = f64::NAN),
            "reconnect.initialDelayMs",
        ),
        (
            field_of(|o| r(o).max_delay_ms = f64::INFINITY),
            "reconnect.maxDelayMs",
        ),
        (
            field_of(|o| r(o).max_delay_ms = 100.0),
            "reconnect.maxDelayMs",
        ),
        (field_of(|o| r(o).factor = 0.5), "reconnect.factor"),
        (field_of(|o| r(o).factor = f64::NAN), "reconnect.factor"),
        (field_of(|o| r(o).jitter = 1.5), "reconnect.jitter"),
        (field_of(|o| r(o).jitter = -0.1), "reconnect.jitter"),
        (field_of(|o| o.connect_timeout_ms = 0), "connectTimeoutMs"),
        (field_of(|o| h(o).interval_ms = 0), "heartbeat.intervalMs"),
        (field_of(|o| h(o).timeout_ms = 0), "heartbeat.timeoutMs"),
        (field_of(|o| h(o).message.clear()), "heartbeat.message"),
        (
            field_of(|o| o.outbox.max_messages = 0),
            "outbox.maxMessages",
        ),
        (field_of(|o| o.outbox.max_bytes = 0), "outbox.maxBytes"),
        (
            field_of(|o| o.outbox.high_water_mark = 0),
            "outbox.highWaterMark",
        ),
    ];
    for (err, field) in cases {
        assert_eq!(err.field, field, "{err}");
        assert!(!err.message.is_empty());
        assert!(err
            .to_string()
            .starts_with(&format!("invalid option {field}: ")));
    }
}

#[test]
fn messages_say_what_is_wrong() {
    assert_eq!(
        field_of(|o| r(o).jitter = 1.5).to_string(),
        "invalid option reconnect.jitter: must be between 0 and 1 (got 1.5)"
    );
    assert_eq!(
        field_of(|o| r(o).factor = 0.5).to_string(),
        "invalid option reconnect.factor: must be at least 1 (got 0.5)"
    );
    assert_eq!(
        field_of(|o| r(o).initial_delay_ms = -1.0).to_string(),
        "invalid option reconnect.initialDelayMs: must be at least 0 (got -1)"
    );
    assert_eq!(
        field_of(|o| r(o).initial_delay_ms = f64::NAN).to_string(),
        "invalid option reconnect.initialDelayMs: must be a finite number (got NaN)"
    );
    assert_eq!(
        field_of(|o| r(o).max_delay_ms = 100.0).to_string(),
        "invalid option reconnect.maxDelayMs: must be at least reconnect.initialDelayMs (got 100)"
    );
    assert_eq!(
        field_of(|o| o.outbox.max_bytes = 0).to_string(),
        "invalid option outbox.maxBytes: must be greater than 0 (got 0)"
    );
}

#[test]
fn edge_values_are_valid() {
    let mut o = Options::default();
    let rc = r(&mut o);
    rc.jitter = 0.0;
    rc.factor = 1.0;
    rc.initial_delay_ms = 0.0;
    rc.max_delay_ms = 0.0;
    rc.max_attempts = Some(0);
    rc.min_uptime_ms = 0;
    o.outbox.max_messages = 1;
    o.outbox.max_bytes = 1;
    o.outbox.high_water_mark = 1;
    assert_eq!(o.validate(), Ok(()));
    r(&mut o).jitter = 1.0;
    assert_eq!(o.validate(), Ok(()));
    // Reconnect off: its fields are not checked.
    o.reconnect = None;
    assert_eq!(o.validate(), Ok(()));
}
