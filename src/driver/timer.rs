//! The one timer: armed for the core's next deadline, and re-armed only when that deadline
//! changes.
use std::rc::Rc;

use gloo_timers::callback::Timeout;

use super::live::Live;
use super::Shared;
use crate::core::Millis;

/// The single armed timer and the deadline it is armed for. Dropping it cancels it.
pub(super) struct Timer {
    deadline: Millis,
    _timeout: Timeout,
    _live: Live,
}

impl Shared {
    /// Arms the one timer for the core's deadline, only when that deadline changed.
    pub(super) fn rearm_timer(self: &Rc<Self>) {
        let now = self.now();
        let mut st = self.state.borrow_mut();
        let deadline = st.machine.poll_timeout();
        if st.timer.as_ref().map(|t| t.deadline) == deadline {
            return;
        }
        st.timer = deadline.map(|deadline| {
            let delay = deadline.saturating_sub(now).min(i32::MAX as u64) as u32;
            let weak = Rc::downgrade(self);
            Timer {
                deadline,
                _timeout: Timeout::new(delay, move || {
                    if let Some(s) = weak.upgrade() {
                        s.timer_fired();
                    }
                }),
                _live: Live::new(1),
            }
        });
    }

    fn timer_fired(self: &Rc<Self>) {
        if self.released.get() {
            return;
        }
        let now = self.now();
        let spent = {
            let mut st = self.state.borrow_mut();
            let spent = st.timer.take();
            if st.machine.poll_timeout().is_some_and(|d| now >= d) {
                st.machine.handle_timeout(now);
            }
            spent
        };
        // (A timer that fired a little early is simply re-armed by the pump.)
        drop(spent);
        self.pump();
    }
}
