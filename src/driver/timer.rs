//! The one timer: armed for the core's next deadline, and re-armed only when that deadline
//! changes. A deadline that is already due (the bufferedAmount poll while the socket drains)
//! runs on the next task through a MessageChannel, which browsers do not clamp the way they
//! clamp nested timers (4 ms); when the page is hidden, or there is no MessageChannel, a
//! plain timer is used.
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MessageChannel;

use super::live::Live;
use super::Shared;
use crate::core::Millis;

/// The timer slot of a connection. Dropping it cancels everything.
#[derive(Default)]
pub(super) struct TimerSlot {
    armed: RefCell<Option<Armed>>,
    /// Created on first use, kept until release.
    ticker: RefCell<Option<Ticker>>,
}

/// The armed deadline and how it fires.
struct Armed {
    deadline: Millis,
    /// None: a tick was posted.
    _timeout: Option<Timeout>,
    _live: Live,
}

/// A MessageChannel whose message runs the timer on the next task.
struct Ticker {
    channel: MessageChannel,
    _on_message: Closure<dyn Fn()>,
    _live: Live,
}

impl Ticker {
    fn new(weak: Weak<Shared>) -> Option<Ticker> {
        let channel = MessageChannel::new().ok()?;
        let on_message = Closure::<dyn Fn()>::new(move || {
            if let Some(s) = weak.upgrade() {
                s.timer_fired(true);
            }
        });
        channel
            .port1()
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Ticker {
            channel,
            _on_message: on_message,
            _live: Live::new(1),
        })
    }

    fn post(&self) -> bool {
        self.channel
            .port2()
            .post_message(&JsValue::UNDEFINED)
            .is_ok()
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.channel.port1().set_onmessage(None);
        self.channel.port1().close();
        self.channel.port2().close();
    }
}

fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

impl TimerSlot {
    pub(super) fn cancel(&self) {
        let armed = self.armed.borrow_mut().take();
        let ticker = self.ticker.borrow_mut().take();
        drop((armed, ticker));
    }

    /// Posts a tick; false if ticks are not available here (or now: the page is hidden).
    fn tick(&self, shared: &Rc<Shared>) -> bool {
        if page_hidden() {
            return false;
        }
        let mut ticker = self.ticker.borrow_mut();
        if ticker.is_none() {
            *ticker = Ticker::new(Rc::downgrade(shared));
        }
        ticker.as_ref().is_some_and(Ticker::post)
    }
}

impl Shared {
    /// Arms the one timer for the core's deadline, only when that deadline changed.
    pub(super) fn rearm_timer(self: &Rc<Self>) {
        let deadline = self.machine.borrow().poll_timeout();
        let slot = &self.timer;
        if slot.armed.borrow().as_ref().map(|t| t.deadline) == deadline {
            return;
        }
        let armed = deadline.map(|deadline| {
            let delay = deadline.saturating_sub(self.now());
            let timeout = if delay == 0 && slot.tick(self) {
                None
            } else {
                let weak = Rc::downgrade(self);
                let ms = delay.min(i32::MAX as u64) as u32;
                Some(Timeout::new(ms, move || {
                    if let Some(s) = weak.upgrade() {
                        s.timer_fired(false);
                    }
                }))
            };
            Armed {
                deadline,
                _timeout: timeout,
                _live: Live::new(1),
            }
        });
        let old = slot.armed.replace(armed);
        drop(old);
    }

    fn timer_fired(self: &Rc<Self>, tick: bool) {
        if self.released.get() {
            return;
        }
        // A tick posted for a deadline that has since been re-armed as a timer is stale.
        let spent = {
            let mut armed = self.timer.armed.borrow_mut();
            if tick && armed.as_ref().is_some_and(|a| a._timeout.is_some()) {
                return;
            }
            armed.take()
        };
        drop(spent);
        let now = self.now();
        let due = self
            .machine
            .borrow()
            .poll_timeout()
            .is_some_and(|d| now >= d);
        if due {
            self.machine.borrow_mut().handle_timeout(now);
        }
        // (A timer that fired a little early is simply re-armed by the pump.)
        self.pump();
    }
}
