//! What `getSnapshot`/`subscribe` see (the store behind React's `useSyncExternalStore`): the
//! frozen snapshot object, rebuilt only when something in it changes, the last message and
//! last close as JS objects (cached), and the subscribers notified after each change.
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{close_info_to_js, frozen_message, payload_to_js};
use super::{Shared, State};
use crate::core::{Millis, Payload, Status};

/// What the snapshot shows; a change means a new snapshot object and a notification.
#[derive(Clone, PartialEq)]
pub(super) struct SnapshotKey {
    status: Status,
    message_seq: u64,
    attempt: u32,
    next_retry_at: Option<Millis>,
    queued_messages: usize,
    queued_bytes: usize,
    buffered_amount: u64,
    /// Counts closes rather than holding the last one: no string clone per message.
    closes: u64,
}

pub(super) struct LastMessage {
    /// The frozen `{ data, receivedAt }` object.
    object: JsValue,
    /// The text, until lastJsonMessage parses it.
    text: Option<String>,
    /// JSON.parse of the text, once computed (null when not JSON or binary).
    json: Option<JsValue>,
}

impl LastMessage {
    /// A message received now.
    fn new(payload: Payload) -> LastMessage {
        let object = frozen_message(&payload_to_js(&payload), js_sys::Date::now());
        let text = match payload {
            Payload::Text(t) => Some(t),
            Payload::Binary(_) => None,
        };
        let json = if text.is_none() {
            Some(JsValue::NULL)
        } else {
            None
        };
        LastMessage { object, text, json }
    }
}

impl State {
    pub(super) fn key(&self) -> SnapshotKey {
        let m = &self.machine;
        SnapshotKey {
            status: m.status(),
            message_seq: self.message_seq,
            attempt: m.attempt(),
            next_retry_at: m.next_retry_at(),
            queued_messages: m.queued_messages(),
            queued_bytes: m.queued_bytes(),
            buffered_amount: m.buffered_amount(),
            closes: m.closes(),
        }
    }

    /// Keeps a received message as the last one; returns its `{ data, receivedAt }` object.
    pub(super) fn record_message(&mut self, payload: Payload) -> JsValue {
        let message = LastMessage::new(payload);
        let object = message.object.clone();
        self.message_seq += 1;
        self.last_message = Some(message);
        object
    }

    /// The frozen `{ data, receivedAt }` of the last message, or null.
    pub(super) fn last_message_js(&self) -> JsValue {
        self.last_message
            .as_ref()
            .map_or(JsValue::NULL, |m| m.object.clone())
    }

    /// JSON.parse of the last message (parsed once), or null.
    pub(super) fn last_json(&mut self) -> JsValue {
        match &mut self.last_message {
            None => JsValue::NULL,
            Some(m) => {
                if m.json.is_none() {
                    let parsed = match m.text.take() {
                        Some(t) => JSON::parse(&t).unwrap_or(JsValue::NULL),
                        None => JsValue::NULL,
                    };
                    m.json = Some(parsed);
                }
                m.json.clone().unwrap_or(JsValue::NULL)
            }
        }
    }

    fn last_close_js(&mut self) -> JsValue {
        let Some(info) = self.machine.last_close().cloned() else {
            return JsValue::NULL;
        };
        match &self.last_close_js {
            Some((cached, js)) if *cached == info => js.clone(),
            _ => {
                let js = close_info_to_js(&info);
                self.last_close_js = Some((info, js.clone()));
                js
            }
        }
    }
}

impl Shared {
    /// The frozen snapshot; the same object until something in it changes.
    pub(super) fn snapshot(&self) -> JsValue {
        let mut st = self.state.borrow_mut();
        let key = st.key();
        if let Some((k, js)) = &st.snapshot {
            if *k == key {
                return js.clone();
            }
        }
        let o = Object::new();
        let set = |k: &str, v: &JsValue| {
            let _ = Reflect::set(&o, &JsValue::from_str(k), v);
        };
        set("status", &JsValue::from_str(key.status.as_str()));
        set("lastMessage", &st.last_message_js());
        set("lastJsonMessage", &st.last_json());
        set("attempt", &JsValue::from(key.attempt));
        set(
            "nextRetryAt",
            &key.next_retry_at
                .map_or(JsValue::NULL, |t| JsValue::from_f64(self.epoch(t))),
        );
        set(
            "queuedMessages",
            &JsValue::from_f64(key.queued_messages as f64),
        );
        set("queuedBytes", &JsValue::from_f64(key.queued_bytes as f64));
        set(
            "bufferedAmount",
            &JsValue::from_f64(key.buffered_amount as f64),
        );
        set("lastClose", &st.last_close_js());
        let js: JsValue = Object::freeze(&o).into();
        st.snapshot = Some((key, js.clone()));
        js
    }

    /// Adds a listener called after state changes; returns the unsubscribe function.
    pub(super) fn subscribe(self: &Rc<Self>, listener: Function) -> Function {
        let id = {
            let mut st = self.state.borrow_mut();
            let id = st.next_subscriber;
            st.next_subscriber += 1;
            st.subscribers.push((id, listener));
            id
        };
        let weak: Weak<Shared> = Rc::downgrade(self);
        // Owned by the JS function: freed by the GC when the caller lets go of it.
        Closure::<dyn Fn()>::new(move || {
            if let Some(s) = weak.upgrade() {
                if let Ok(mut st) = s.state.try_borrow_mut() {
                    st.subscribers.retain(|(i, _)| *i != id);
                }
            }
        })
        .into_js_value()
        .unchecked_into()
    }

    /// Calls the subscribers when the snapshot's content changed since they were last
    /// called; whether it did.
    pub(super) fn notify_if_changed(self: &Rc<Self>) -> bool {
        let listeners: Vec<Function> = {
            let mut st = self.state.borrow_mut();
            let key = st.key();
            if st.notified.as_ref() == Some(&key) {
                return false;
            }
            st.notified = Some(key);
            st.subscribers.iter().map(|(_, f)| f.clone()).collect()
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
