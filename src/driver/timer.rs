//! The one timer: armed for the core's next deadline, and re-armed only when that deadline
//! changes. A deadline that is already due (the bufferedAmount poll while the socket drains)
//! runs on the next task through a MessageChannel, which browsers do not clamp the way they
//! clamp nested timers (4 ms); when the page is hidden, or there is no MessageChannel, a
//! plain timer is used. One closure serves both, for the connection's lifetime.
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MessageChannel;

use super::live::Live;
use super::Shared;
use crate::core::Millis;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: u32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// The timer slot of a connection. Cancelled on release.
#[derive(Default)]
pub(super) struct TimerSlot {
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The deadline armed, with the setTimeout id (None: a tick was posted).
    armed: Option<(Millis, Option<JsValue>)>,
    /// Calls `timer_fired`; made on first use.
    fire: Option<(Closure<dyn Fn()>, Live)>,
    /// Made on first tick; None inside if there is no MessageChannel here.
    channel: Option<Option<MessageChannel>>,
}

impl Inner {
    fn disarm(&mut self) {
        if let Some((_, Some(id))) = self.armed.take() {
            clear_timeout(&id);
        }
    }
}

fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

impl TimerSlot {
    pub(super) fn cancel(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.disarm();
        if let Some(Some(channel)) = inner.channel.take() {
            channel.port1().set_onmessage(None);
            channel.port1().close();
        }
        let fire = inner.fire.take();
        drop(inner);
        drop(fire);
    }
}

impl Shared {
    /// Arms the one timer for the core's deadline, only when that deadline changed.
    pub(super) fn rearm_timer(self: &Rc<Self>) {
        let deadline = self.machine.borrow().poll_timeout();
        let mut inner = self.timer.inner.borrow_mut();
        if inner.armed.as_ref().map(|(d, _)| *d) == deadline {
            return;
        }
        inner.disarm();
        let Some(deadline) = deadline else { return };
        let weak = Rc::downgrade(self);
        let fire: &Function = inner
            .fire
            .get_or_insert_with(|| {
                let closure = Closure::<dyn Fn()>::new(move || {
                    if let Some(s) = weak.upgrade() {
                        s.timer_fired();
                    }
                });
                (closure, Live::new(1))
            })
            .0
            .as_ref()
            .unchecked_ref();
        let fire = fire.clone();
        let delay = deadline.saturating_sub(self.now());
        let ticked = delay == 0 && !page_hidden() && {
            let channel = inner.channel.get_or_insert_with(|| {
                let channel = MessageChannel::new().ok()?;
                channel.port1().set_onmessage(Some(&fire));
                Some(channel)
            });
            channel
                .as_ref()
                .is_some_and(|c| c.port2().post_message(&JsValue::UNDEFINED).is_ok())
        };
        let id = if ticked {
            None
        } else {
            Some(set_timeout(&fire, delay.min(i32::MAX as u64) as u32))
        };
        inner.armed = Some((deadline, id));
    }

    fn timer_fired(self: &Rc<Self>) {
        if self.released.get() {
            return;
        }
        self.timer.inner.borrow_mut().disarm();
        let now = self.now();
        let due = self
            .machine
            .borrow()
            .poll_timeout()
            .is_some_and(|d| now >= d);
        if due {
            self.machine.borrow_mut().handle_timeout(now);
        }
        // (A timer that fired a little early, or a stale tick, is simply re-armed by the pump.)
        self.pump();
    }
}
