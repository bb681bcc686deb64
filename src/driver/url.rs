//! Where each attempt gets its URL: a fixed string, or the user's function returning a string
//! or a Promise of one. Only ws: and wss: URLs are used.
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::convert::describe_error;
use super::live::Live;
use super::{Shared, State};
use crate::core::ConnId;

/// Where each attempt gets its URL.
pub(crate) enum UrlSource {
    Fixed(String),
    /// Called once per attempt; returns a string or a Promise of one.
    Function(Function),
}

/// An attempt waiting for its URL function's Promise.
pub(super) struct PendingUrl {
    conn: ConnId,
    _live: Live,
}

/// Why a URL cannot be used for a WebSocket, or None when it can.
pub(crate) fn check_ws_url(url: &str) -> Option<String> {
    match web_sys::Url::new(url) {
        Err(_) => Some(format!("cannot parse URL {url:?}")),
        Ok(u) => {
            let scheme = u.protocol();
            if scheme == "ws:" || scheme == "wss:" {
                None
            } else {
                Some(format!(
                    "URL {url:?} has scheme {scheme:?}; only ws: and wss: are allowed"
                ))
            }
        }
    }
}

fn is_thenable(v: &JsValue) -> bool {
    if v.is_instance_of::<Promise>() {
        return true;
    }
    v.is_object() && Reflect::get(v, &JsValue::from_str("then")).is_ok_and(|t| t.is_function())
}

impl State {
    /// Forgets attempt `conn`'s wait for its URL; whether it was waiting.
    pub(super) fn cancel_pending_url(&mut self, conn: ConnId) -> bool {
        let waiting = self.pending_url.as_ref().is_some_and(|p| p.conn == conn);
        if waiting {
            self.pending_url = None;
        }
        waiting
    }
}

impl Shared {
    /// Command::Open: resolve the URL (the user's function is called with no borrow held),
    /// then create the socket; every failure becomes Input::OpenFailed.
    pub(super) fn open(self: &Rc<Self>, conn: ConnId) {
        {
            let mut st = self.state.borrow_mut();
            st.current = Some(conn);
            st.pending_url = None;
        }
        let url = match &self.url {
            UrlSource::Fixed(url) => url.clone(),
            UrlSource::Function(f) => match f.call0(&JsValue::NULL) {
                Err(e) => {
                    return self
                        .open_failed(conn, format!("url function threw: {}", describe_error(&e)))
                }
                Ok(v) => {
                    if let Some(url) = v.as_string() {
                        url
                    } else if is_thenable(&v) {
                        self.await_url(conn, Promise::resolve(&v));
                        return;
                    } else {
                        return self.open_failed(
                            conn,
                            format!(
                                "url function returned {}, expected a string or a Promise of one",
                                v.js_typeof().as_string().unwrap_or_default()
                            ),
                        );
                    }
                }
            },
        };
        self.connect(conn, &url);
    }

    fn await_url(self: &Rc<Self>, conn: ConnId, promise: Promise) {
        self.state.borrow_mut().pending_url = Some(PendingUrl {
            conn,
            _live: Live::new(1),
        });
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let result = JsFuture::from(promise).await;
            let Some(s) = weak.upgrade() else { return };
            if s.released.get() {
                return;
            }
            // Only the attempt still waiting for this URL may use it.
            let still_current = s.state.borrow_mut().cancel_pending_url(conn);
            if !still_current {
                return;
            }
            match result {
                Ok(v) => match v.as_string() {
                    Some(url) => s.connect(conn, &url),
                    None => s.open_failed(
                        conn,
                        "url function's Promise resolved to a non-string".to_owned(),
                    ),
                },
                Err(e) => s.open_failed(
                    conn,
                    format!("url function's Promise rejected: {}", describe_error(&e)),
                ),
            }
            s.pump();
        });
    }
}
