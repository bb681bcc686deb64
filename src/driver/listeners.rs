//! The window's `online`/`offline` and the document's `visibilitychange` listeners (js/src/
//! driver.js's listenWindow: three listeners, one wasm closure): each feeds the core a hint
//! that now is a good time to retry.
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::live::Live;
use super::{Handler, Shared};
use crate::core::Input;

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    /// Adds the listeners, calling `handler(kind)`: 0 online, 1 offline, 2 the document became
    /// visible. Returns what removes them.
    #[wasm_bindgen(js_name = listenWindow)]
    fn listen_window(handler: &Handler) -> Function;
}

/// The connection's window and document listeners, while attached.
#[derive(Default)]
pub(super) struct Listeners {
    attached: RefCell<Option<Attached>>,
}

impl Listeners {
    /// Adds them: `online` → Input::Online, `offline` → Input::Offline, the document becoming
    /// visible → Input::Visible.
    pub(super) fn attach(&self, shared: &Rc<Shared>) {
        let weak = Rc::downgrade(shared);
        let handler = Handler::new(move |kind: u32, _: JsValue| {
            if let Some(s) = weak.upgrade() {
                s.feed(match kind {
                    0 => Input::Online,
                    1 => Input::Offline,
                    _ => Input::Visible,
                });
            }
        });
        let remove = listen_window(&handler);
        *self.attached.borrow_mut() = Some(Attached {
            _handler: handler,
            remove,
            _live: Live::new(1),
        });
    }

    /// Removes them.
    pub(super) fn clear(&self) {
        let attached = self.attached.borrow_mut().take();
        drop(attached);
    }
}

/// The listeners' handler and what removes them, on drop.
struct Attached {
    _handler: Handler,
    remove: Function,
    _live: Live,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.remove.call0(&JsValue::NULL);
    }
}
