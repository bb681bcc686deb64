//! The snapshot store: what `getSnapshot`/`subscribe` see (the store behind React's
//! `useSyncExternalStore`). It owns the frozen snapshot object, rebuilt only when something in
//! it changes, the last message and last close as JS objects, and the subscribers notified
//! after each change. The rest of the snapshot is read from the core when it is built.
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::callbacks::close_info_to_js;
use super::clock::Clock;
use super::{JsMessage, Shared};
use crate::core::{Machine, Millis, Status};

// The objects handed to JS are built in JS (js/src/driver.js): one call across the boundary
// each. The JSON of a message is parsed on first use, once, whoever asks (lastJsonMessage or
// the snapshot's lazy getter).
#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    fn json_of(message: &JsValue) -> JsValue;
    /// `{ data, receivedAt }`, stamped now.
    fn frozen_message(data: &JsValue) -> JsValue;
    /// "connecting" | "connected" | "reconnecting" | "closed", by [`status_index`].
    pub(crate) fn status_name(status: u8) -> JsValue;
    #[allow(clippy::too_many_arguments)]
    fn frozen_snapshot(
        status: u8,
        last_message: &JsValue,
        attempt: u32,
        next_retry_at: &JsValue,
        queued_messages: f64,
        queued_bytes: f64,
        buffered_amount: f64,
        last_close: &JsValue,
        unacked_messages: f64,
        resumed: u8,
    ) -> JsValue;
}

/// The index of `status` in the JS STATUS table above.
pub(crate) fn status_index(status: Status) -> u8 {
    match status {
        Status::Connecting => 0,
        Status::Connected => 1,
        Status::Reconnecting => 2,
        Status::Closed(_) => 3,
    }
}

/// What the snapshot shows; a change means a new snapshot object and a notification.
#[derive(Clone, PartialEq)]
struct SnapshotKey {
    status: Status,
    message_seq: u64,
    attempt: u32,
    next_retry_at: Option<Millis>,
    queued_messages: usize,
    queued_bytes: usize,
    buffered_amount: u64,
    unacked_messages: usize,
    resumed: Option<bool>,
    /// Counts closes rather than holding the last one: no string clone per message.
    closes: u64,
}

#[derive(Default)]
struct Inner {
    /// The frozen `{ data, receivedAt }` of the last message.
    last_message: Option<JsValue>,
    message_seq: u64,
    /// The frozen last close, with the close count it was made for.
    last_close: Option<(u64, JsValue)>,
    snapshot: Option<(SnapshotKey, JsValue)>,
    notified: Option<SnapshotKey>,
    subscribers: Vec<(u64, Function)>,
    next_subscriber: u64,
}

#[derive(Default)]
pub(super) struct Store {
    inner: RefCell<Inner>,
}

impl Inner {
    fn key(&self, m: &Machine<JsMessage>) -> SnapshotKey {
        SnapshotKey {
            status: m.status(),
            message_seq: self.message_seq,
            attempt: m.outage_attempt(),
            next_retry_at: m.next_retry_at(),
            queued_messages: m.queued_messages(),
            queued_bytes: m.queued_bytes(),
            buffered_amount: m.buffered_amount(),
            unacked_messages: m.unacked_messages(),
            resumed: m.resumed(),
            closes: m.closes(),
        }
    }

    fn last_message(&self) -> JsValue {
        self.last_message.clone().unwrap_or(JsValue::NULL)
    }

    fn last_close(&mut self, m: &Machine<JsMessage>) -> JsValue {
        let Some(info) = m.last_close() else {
            return JsValue::NULL;
        };
        match &self.last_close {
            Some((closes, js)) if *closes == m.closes() => js.clone(),
            _ => {
                let js = close_info_to_js(info);
                self.last_close = Some((m.closes(), js.clone()));
                js
            }
        }
    }
}

impl Store {
    /// Keeps a received message as the last one; returns its `{ data, receivedAt }` object.
    pub(super) fn record_message(&self, data: &JsValue) -> JsValue {
        let object = frozen_message(data);
        let mut inner = self.inner.borrow_mut();
        inner.message_seq += 1;
        inner.last_message = Some(object.clone());
        object
    }

    /// The frozen `{ data, receivedAt }` of the last message, or null.
    pub(super) fn last_message(&self) -> JsValue {
        self.inner.borrow().last_message()
    }

    /// JSON.parse of the last message (parsed once), or null.
    pub(super) fn last_json_message(&self) -> JsValue {
        json_of(&self.last_message())
    }

    /// The frozen snapshot; the same object until something in it changes.
    pub(super) fn snapshot(&self, m: &Machine<JsMessage>, clock: &Clock) -> JsValue {
        let mut inner = self.inner.borrow_mut();
        let key = inner.key(m);
        if let Some((k, js)) = &inner.snapshot {
            if *k == key {
                return js.clone();
            }
        }
        let next_retry_at = key
            .next_retry_at
            .map_or(JsValue::NULL, |t| JsValue::from_f64(clock.epoch(t)));
        let js = frozen_snapshot(
            status_index(key.status),
            &inner.last_message(),
            key.attempt,
            &next_retry_at,
            key.queued_messages as f64,
            key.queued_bytes as f64,
            key.buffered_amount as f64,
            &inner.last_close(m),
            key.unacked_messages as f64,
            key.resumed.map_or(2, u8::from),
        );
        inner.snapshot = Some((key, js.clone()));
        js
    }

    /// Takes the current state as already notified (at the start: nothing changed yet).
    pub(super) fn mark_notified(&self, m: &Machine<JsMessage>) {
        let mut inner = self.inner.borrow_mut();
        inner.notified = Some(inner.key(m));
    }

    /// Adds a listener called after state changes; returns the unsubscribe function.
    pub(super) fn subscribe(&self, shared: &Rc<Shared>, listener: Function) -> Function {
        let id = {
            let mut inner = self.inner.borrow_mut();
            let id = inner.next_subscriber;
            inner.next_subscriber += 1;
            inner.subscribers.push((id, listener));
            id
        };
        let weak: Weak<Shared> = Rc::downgrade(shared);
        // Owned by the JS function: freed by the GC when the caller lets go of it.
        Closure::<dyn Fn()>::new(move || {
            if let Some(s) = weak.upgrade() {
                if let Ok(mut inner) = s.store.inner.try_borrow_mut() {
                    inner.subscribers.retain(|(i, _)| *i != id);
                }
            }
        })
        .into_js_value()
        .unchecked_into()
    }

    pub(super) fn clear_subscribers(&self) {
        let all = std::mem::take(&mut self.inner.borrow_mut().subscribers);
        drop(all);
    }
}

impl Shared {
    /// Calls the subscribers when the snapshot's content changed since they were last
    /// called; whether it did.
    pub(super) fn notify_if_changed(self: &Rc<Self>) -> bool {
        let listeners: Vec<Function> = {
            let m = self.machine.borrow();
            let mut inner = self.store.inner.borrow_mut();
            let key = inner.key(&m);
            if inner.notified.as_ref() == Some(&key) {
                return false;
            }
            inner.notified = Some(key);
            if inner.subscribers.is_empty() {
                return false;
            }
            inner.subscribers.iter().map(|(_, f)| f.clone()).collect()
        };
        for f in listeners {
            if self.released.get() {
                break;
            }
            if let Err(e) = f.call0(&JsValue::NULL) {
                self.report_callback_error(e);
            }
        }
        true
    }
}
