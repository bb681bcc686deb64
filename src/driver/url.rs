//! Where each attempt gets its URL: a fixed string, or the user's function returning a string
//! or a Promise of one. Only ws: and wss: URLs are used.
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use super::describe_error;
use super::live::Live;
use super::Shared;
use crate::core::ConnId;

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    /// Calls `done(true, value)` or `done(false, error)` once the thenable settles.
    fn settle(value: &JsValue, done: JsValue);
}

/// Where each attempt gets its URL.
pub(crate) enum UrlSource {
    Fixed(String),
    /// Called once per attempt; returns a string or a Promise of one.
    Function(Function),
}

/// The URL source, and the attempt waiting for its URL function's Promise, if any.
pub(super) struct UrlResolver {
    source: UrlSource,
    pending: RefCell<Option<(ConnId, Live)>>,
}

/// Why a URL cannot be used for a WebSocket, or None when it can.
pub(crate) fn check_ws_url(url: &str) -> Option<String> {
    match web_sys::Url::new(url) {
        Err(_) => Some(["cannot parse URL \"", url, "\""].concat()),
        Ok(u) => {
            let scheme = u.protocol();
            if scheme == "ws:" || scheme == "wss:" {
                None
            } else {
                Some(
                    [
                        "URL \"",
                        url,
                        "\" has scheme \"",
                        &scheme,
                        "\"; only ws: and wss: are allowed",
                    ]
                    .concat(),
                )
            }
        }
    }
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
                Ok(v) => {
                    if let Some(url) = v.as_string() {
                        url
                    } else if is_thenable(&v) {
                        self.await_url(conn, &v);
                        return;
                    } else {
                        let kind = v.js_typeof().as_string().unwrap_or_default();
                        let message = [
                            "url function returned ",
                            &kind,
                            ", expected a string or a Promise of one",
                        ]
                        .concat();
                        return self.open_failed(conn, message);
                    }
                }
            },
        };
        self.connect(conn, &url);
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
            match (ok, value.as_string()) {
                (true, Some(url)) => s.connect(conn, &url),
                (true, None) => s.open_failed(
                    conn,
                    "url function's Promise resolved to a non-string".to_owned(),
                ),
                (false, _) => {
                    let message =
                        ["url function's Promise rejected: ", &describe_error(&value)].concat();
                    s.open_failed(conn, message);
                }
            }
            s.pump();
        });
        settle(thenable, done);
    }
}
