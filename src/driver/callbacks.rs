//! The user's callbacks: the core's events dispatched to them, and what happens when one
//! throws (it goes to onError; if that throws too, to console.error).
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::snapshot::{status_index, status_name};
use super::{JsMessage, Shared};
use crate::core::{CloseInfo, Event as CoreEvent};

/// The user's callbacks. Each is optional.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) on_open: Option<Function>,
    pub(crate) on_close: Option<Function>,
    pub(crate) on_message: Option<Function>,
    pub(crate) on_error: Option<Function>,
    pub(crate) on_reconnect_stop: Option<Function>,
    pub(crate) on_drop: Option<Function>,
    pub(crate) on_status: Option<Function>,
    pub(crate) should_reconnect: Option<Function>,
    pub(crate) on_ack: Option<Function>,
    pub(crate) on_resync: Option<Function>,
}

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    fn frozen_close(code: u16, reason: &str, was_clean: bool) -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str, value: &JsValue);
}

/// The frozen `{ code, reason, wasClean }`.
pub(super) fn close_info_to_js(info: &CloseInfo) -> JsValue {
    frozen_close(info.code, &info.reason, info.was_clean)
}

impl Shared {
    /// Hands one core event to the user's callback for it.
    pub(super) fn dispatch(self: &Rc<Self>, event: CoreEvent<JsMessage>) {
        let h = &self.hooks;
        match event {
            CoreEvent::Status(status) => {
                if h.on_status.is_some() {
                    self.call(&h.on_status, &status_name(status_index(status)), &[]);
                }
            }
            CoreEvent::Opened => self.call(&h.on_open, &JsValue::UNDEFINED, &[]),
            CoreEvent::Message(message) => {
                let object = self.store.record_message(&message.value);
                self.call(&h.on_message, &object, &[]);
            }
            CoreEvent::Closed(info) => {
                if h.on_close.is_some() {
                    self.call(&h.on_close, &close_info_to_js(&info), &[]);
                }
            }
            CoreEvent::Error(message) => {
                if let Some(f) = &h.on_error {
                    let err: JsValue = js_sys::Error::new(&message).into();
                    if let Err(e) = f.call1(&JsValue::NULL, &err) {
                        console_error("resilient-ws: onError threw", &e);
                    }
                }
            }
            CoreEvent::ReconnectStopped { attempts } => {
                self.call(&h.on_reconnect_stop, &JsValue::from(attempts), &[]);
            }
            CoreEvent::Dropped { payload, reason } => {
                self.tickets.dropped(payload.ticket, reason.as_str(), None);
                if h.on_drop.is_some() {
                    let reason = JsValue::from_str(reason.as_str());
                    self.call(&h.on_drop, &payload.value, &[&reason]);
                }
            }
            CoreEvent::Acked(payload) => {
                self.tickets.acked(payload.ticket);
                self.call(&h.on_ack, &payload.value, &[]);
            }
            CoreEvent::Rejected { payload, error } => {
                self.tickets
                    .dropped(payload.ticket, "rejected", Some(error.clone()));
                if h.on_drop.is_some() {
                    let reason = JsValue::from_str("rejected");
                    self.call(&h.on_drop, &payload.value, &[&reason, &error.into()]);
                }
            }
            CoreEvent::Resync => self.call(&h.on_resync, &JsValue::UNDEFINED, &[]),
        }
    }

    /// Calls a user callback with `a` and up to two more arguments; if it throws, the error
    /// goes to onError.
    fn call(&self, f: &Option<Function>, a: &JsValue, more: &[&JsValue]) {
        let Some(f) = f else { return };
        let result = match more {
            [] => f.call1(&JsValue::NULL, a),
            [b] => f.call2(&JsValue::NULL, a, b),
            [b, c, ..] => f.call3(&JsValue::NULL, a, b, c),
        };
        if let Err(e) = result {
            self.report_callback_error(e);
        }
    }

    /// A user callback threw: report it through onError; if that throws too, console.error.
    pub(super) fn report_callback_error(&self, error: JsValue) {
        match &self.hooks.on_error {
            Some(on_error) => {
                if let Err(e) = on_error.call1(&JsValue::NULL, &error) {
                    console_error("resilient-ws: onError threw", &e);
                }
            }
            None => console_error("resilient-ws: a callback threw", &error),
        }
    }
}
