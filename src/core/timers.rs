//! The machine's deadlines as one table (quinn-proto's `TimerTable`): one slot per [`Timer`],
//! one way to set a deadline, and one way to find the next one that is due.
use super::Millis;

/// Every deadline the machine keeps. The order is the tie-break when two fall on the same
/// millisecond: a connection that stayed up minUptime counts as having stayed up even if its
/// pong is late at the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The open connection has proven itself: the attempt counter resets.
    Uptime,
    /// An unanswered ping means the connection is dead.
    Pong,
    /// Delivery: the oldest message in flight went unacknowledged too long; the socket is dead.
    AckTimeout,
    /// The next heartbeat ping goes out.
    Ping,
    /// Delivery: acknowledge the server's data delivered since the last acknowledgement.
    AckInbound,
    /// Ask for a fresh bufferedAmount reading.
    BufferPoll,
    /// The connecting socket is abandoned.
    Connect,
    /// The next retry starts (Reconnecting, waiting).
    Retry,
}

const ALL: [Timer; 8] = [
    Timer::Uptime,
    Timer::Pong,
    Timer::AckTimeout,
    Timer::Ping,
    Timer::AckInbound,
    Timer::BufferPoll,
    Timer::Connect,
    Timer::Retry,
];

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TimerTable {
    at: [Option<Millis>; ALL.len()],
}

impl TimerTable {
    /// Sets `timer` to fire `delay` ms after `now` (replacing any earlier deadline).
    pub(super) fn reset(&mut self, timer: Timer, now: Millis, delay: Millis) {
        self.at[timer as usize] = Some(now.saturating_add(delay));
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
    }

    pub(super) fn get(&self, timer: Timer) -> Option<Millis> {
        self.at[timer as usize]
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Stops every timer.
    pub(super) fn stop_all(&mut self) {
        *self = TimerTable::default();
    }

    /// Stops everything that belongs to a socket (all but the retry timer).
    pub(super) fn stop_socket_timers(&mut self) {
        let retry = self.get(Timer::Retry);
        self.stop_all();
        self.at[Timer::Retry as usize] = retry;
    }

    /// The earliest deadline and its timer (ties go to the first in [`Timer`]'s order).
    pub(super) fn next(&self) -> Option<(Millis, Timer)> {
        let mut best: Option<(Millis, Timer)> = None;
        for (at, timer) in self.at.iter().zip(ALL) {
            if let Some(at) = *at {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, timer));
                }
            }
        }
        best
    }

    /// The earliest timer due at `now`, if any.
    pub(super) fn next_expired(&self, now: Millis) -> Option<Timer> {
        self.next().filter(|&(at, _)| at <= now).map(|(_, t)| t)
    }
}
