//! Where each attempt gets its URL: a fixed string, or the user's function returning a string
//! (or a URL) or a Promise of one. Each is read as the WebSocket constructor reads it
//! (js/src/driver.js `ws_url`): relative to the document's base URL, http(s): as ws(s):.
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use super::live::Live;
use super::Shared;
use super::{describe, describe_error};
use crate::core::ConnId;

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    /// Calls `done(true, value)` or `done(false, error)` once the thenable settles.
    fn settle(value: &JsValue, done: JsValue);
    /// The URL a WebSocket would connect to; throws a SyntaxError for one it rejects; None
    /// for a value that is neither a string nor a URL.
    #[wasm_bindgen(catch)]
    pub(crate) fn ws_url(url: &JsValue) -> Result<Option<String>, JsValue>;
}

/// Where each attempt gets its URL.
pub(crate) enum UrlSource {
    /// Already read by `ws_url`.
    Fixed(String),
    /// Called once per attempt; returns a string or a Promise of one.
    Function(Function),
}

/// The URL source, and the attempt waiting for its URL function's Promise, if any.
pub(super) struct UrlResolver {
    source: UrlSource,
    pending: RefCell<Option<(ConnId, Live)>>,
}

fn is_thenable(v: &JsValue) -> bool {
    v.is_object() && Reflect::get(v, &JsValue::from_str("then")).is_ok_and(|t| t.is_function())
}

impl UrlResolver {
    pub(super) fn new(source: UrlSource) -> UrlResolver {
        UrlResolver {
            source,
            pending: RefCell::new(None),
        }
    }

    /// Forgets attempt `conn`'s wait for its URL; whether it was waiting.
    pub(super) fn cancel(&self, conn: ConnId) -> bool {
        let mut pending = self.pending.borrow_mut();
        let waiting = pending.as_ref().is_some_and(|(c, _)| *c == conn);
        if waiting {
            *pending = None;
        }
        waiting
    }

    pub(super) fn cancel_all(&self) {
        self.pending.borrow_mut().take();
    }
}

impl Shared {
    /// Command::Open: resolve the URL (the user's function is called with no borrow held),
    /// then create the socket; every failure becomes Input::OpenFailed.
    pub(super) fn open(self: &Rc<Self>, conn: ConnId) {
        self.url.cancel_all();
        let url = match &self.url.source {
            UrlSource::Fixed(url) => url.clone(),
            UrlSource::Function(f) => match f.call0(&JsValue::NULL) {
                Err(e) => {
                    let message = ["url function threw: ", &describe_error(&e)].concat();
                    return self.open_failed(conn, message);
                }
                Ok(v) if is_thenable(&v) => return self.await_url(conn, &v),
                Ok(v) => return self.use_url(conn, &v),
            },
        };
        self.connect(conn, &url);
    }

    /// What the URL function gave (or its Promise resolved to): connect, or fail the attempt.
    fn use_url(self: &Rc<Self>, conn: ConnId, value: &JsValue) {
        match ws_url(value) {
            Ok(Some(url)) => self.connect(conn, &url),
            Ok(None) => {
                let message = [
                    "url function gave ",
                    &describe(value),
                    ", expected a string (or a Promise of one)",
                ]
                .concat();
                self.open_failed(conn, message);
            }
            Err(e) => self.open_failed(conn, describe_error(&e)),
        }
    }

    fn await_url(self: &Rc<Self>, conn: ConnId, thenable: &JsValue) {
        *self.url.pending.borrow_mut() = Some((conn, Live::new(1)));
        let weak = Rc::downgrade(self);
        // Called once, when the promise settles; freed then.
        let done = Closure::once_into_js(move |ok: bool, value: JsValue| {
            let Some(s) = weak.upgrade() else { return };
            // Only the attempt still waiting for this URL may use it.
            if s.released.get() || !s.url.cancel(conn) {
                return;
            }
            if ok {
                s.use_url(conn, &value);
            } else {
                let message =
                    ["url function's Promise rejected: ", &describe_error(&value)].concat();
                s.open_failed(conn, message);
            }
            s.pump();
        });
        settle(thenable, done);
    }
}
