//! sendWithAck's promises: each settles when its message is acknowledged (resolved) or
//! dropped (rejected with a DropError). A message carries its promise's ticket
//! ([`JsMessage::ticket`](super::JsMessage)) through the core and back in the event.
use std::cell::{Cell, RefCell};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/src/messages.js")]
extern "C" {
    #[wasm_bindgen(js_name = dropError)]
    fn drop_error(reason: &str, detail: Option<String>) -> JsValue;
}

#[derive(Default)]
pub(super) struct Tickets {
    last: Cell<u32>,
    /// (ticket, resolve, reject), oldest first.
    pending: RefCell<Vec<(u32, Function, Function)>>,
}

impl Tickets {
    /// A new promise and its ticket (never 0: 0 means "no promise").
    pub(super) fn promise(&self) -> (u32, Promise) {
        let ticket = self.last.get().wrapping_add(1).max(1);
        self.last.set(ticket);
        let mut pending = self.pending.borrow_mut();
        let promise = Promise::new(&mut |resolve, reject| pending.push((ticket, resolve, reject)));
        (ticket, promise)
    }

    fn take(&self, ticket: u32) -> Option<(Function, Function)> {
        let mut pending = self.pending.borrow_mut();
        let i = pending.iter().position(|(t, _, _)| *t == ticket)?;
        let (_, resolve, reject) = pending.remove(i);
        Some((resolve, reject))
    }

    /// The message was acknowledged.
    pub(super) fn acked(&self, ticket: u32) {
        if let Some((resolve, _)) = self.take(ticket) {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    /// The message was dropped: reason "overflow" | "full" | "released" | "rejected".
    pub(super) fn dropped(&self, ticket: u32, reason: &str, detail: Option<String>) {
        if let Some((_, reject)) = self.take(ticket) {
            let _ = reject.call1(&JsValue::NULL, &drop_error(reason, detail));
        }
    }

    /// The send itself threw (nothing was queued): the promise will never settle.
    pub(super) fn forget(&self, ticket: u32) {
        self.take(ticket);
    }
}
