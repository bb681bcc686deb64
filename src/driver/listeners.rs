//! The window's `online`/`offline` and the document's `visibilitychange` listeners: each
//! feeds the core a hint that now is a good time to retry.
use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Event;

use super::live::Live;
use super::Shared;
use crate::core::Input;

/// The connection's window and document listeners.
#[derive(Default)]
pub(super) struct Listeners {
    list: RefCell<Vec<Listener>>,
}

impl Listeners {
    /// Adds them (see [`window_listeners`]).
    pub(super) fn attach(&self, shared: &Rc<Shared>) {
        *self.list.borrow_mut() = window_listeners(shared);
    }

    /// Removes them all.
    pub(super) fn clear(&self) {
        let all = std::mem::take(&mut *self.list.borrow_mut());
        drop(all);
    }
}

/// One event listener on a target, removed on drop.
struct Listener {
    target: web_sys::EventTarget,
    kind: &'static str,
    closure: Closure<dyn Fn(Event)>,
    _live: Live,
}

impl Listener {
    fn add(target: web_sys::EventTarget, kind: &'static str, f: impl Fn() + 'static) -> Listener {
        let closure = Closure::<dyn Fn(Event)>::new(move |_: Event| f());
        let _ = target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        Listener {
            target,
            kind,
            closure,
            _live: Live::new(1),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// `online` → Input::Online, `offline` → Input::Offline, the document becoming visible →
/// Input::Visible. Empty outside a window.
fn window_listeners(shared: &Rc<Shared>) -> Vec<Listener> {
    let mut out = Vec::new();
    let Some(window) = web_sys::window() else {
        return out;
    };
    let target: web_sys::EventTarget = window.clone().into();
    for (kind, input) in [("online", Input::Online), ("offline", Input::Offline)] {
        let weak = Rc::downgrade(shared);
        out.push(Listener::add(target.clone(), kind, move || {
            if let Some(s) = weak.upgrade() {
                s.feed(input.clone());
            }
        }));
    }
    if let Some(document) = window.document() {
        let weak = Rc::downgrade(shared);
        let doc = document.clone();
        out.push(Listener::add(
            document.into(),
            "visibilitychange",
            move || {
                if doc.visibility_state() == web_sys::VisibilityState::Visible {
                    if let Some(s) = weak.upgrade() {
                        s.feed(Input::Visible);
                    }
                }
            },
        ));
    }
    out
}
