//! The user's callbacks: the core's events dispatched to them, and what happens when one
//! throws (it goes to onError; if that throws too, to console.error).
use std::rc::Rc;

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;

use super::convert::{close_info_to_js, payload_to_js};
use super::Shared;
use crate::core::Event as CoreEvent;

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
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str, value: &JsValue);
}

impl Shared {
    /// Hands one core event to the user's callback for it.
    pub(super) fn dispatch(self: &Rc<Self>, event: CoreEvent) {
        let h = &self.hooks;
        match event {
            CoreEvent::Status(status) => {
                self.call(&h.on_status, &[JsValue::from_str(status.as_str())]);
            }
            CoreEvent::Opened => self.call(&h.on_open, &[]),
            CoreEvent::Message(payload) => {
                let object = self.state.borrow_mut().record_message(payload);
                self.call(&h.on_message, &[object]);
            }
            CoreEvent::Closed(info) => self.call(&h.on_close, &[close_info_to_js(&info)]),
            CoreEvent::Error(message) => {
                if let Some(f) = &h.on_error {
                    let err: JsValue = js_sys::Error::new(&message).into();
                    if let Err(e) = f.call1(&JsValue::NULL, &err) {
                        console_error("resilient-ws: onError threw", &e);
                    }
                }
            }
            CoreEvent::ReconnectStopped { attempts } => {
                self.call(&h.on_reconnect_stop, &[JsValue::from(attempts)]);
            }
            CoreEvent::Dropped { payload, reason } => self.call(
                &h.on_drop,
                &[payload_to_js(&payload), JsValue::from_str(reason.as_str())],
            ),
        }
    }

    /// Calls a user callback; if it throws, the error goes to onError.
    fn call(&self, f: &Option<Function>, args: &[JsValue]) {
        let Some(f) = f else { return };
        let result = match args {
            [] => f.call0(&JsValue::NULL),
            [a] => f.call1(&JsValue::NULL, a),
            [a, b] => f.call2(&JsValue::NULL, a, b),
            _ => f.apply(&JsValue::NULL, &args.iter().collect::<Array>()),
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
