//! The sockets: creating the WebSocket of an attempt, its handlers (js/src/driver.js's
//! attachSocket: four handlers, one wasm closure), and its close event.
//!
//! A [`SocketHandle`] owns one socket and its handler; dropping it detaches the handlers and
//! closes the socket, so nothing is `forget`-ed per connection. [`Sockets`] holds the current
//! socket and any socket still waiting for its close event after the user's close().
use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, WebSocket};

use super::callbacks::close_info_to_js;
use super::live::Live;
use super::{Handler, JsMessage, Shared};
use crate::core::{default_should_reconnect, CloseInfo, ConnId, Input};

#[wasm_bindgen]
extern "C" {
    /// A WebSocket, seen through its `send` that takes any JS value (string, ArrayBuffer or
    /// view) as it is.
    type AnySend;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send(this: &AnySend, data: &JsValue) -> Result<(), JsValue>;
}

#[wasm_bindgen(module = "/js/src/driver.js")]
extern "C" {
    /// Sets the socket's four handlers to call `handler(kind, value)`: 0 open, 1 message (the
    /// data), 2 error, 3 close (the CloseEvent); binaryType "arraybuffer".
    #[wasm_bindgen(js_name = attachSocket)]
    fn attach_socket(ws: &WebSocket, handler: &Handler);
    /// Clears those handlers; closes the socket (1000) if it is opening or open.
    #[wasm_bindgen(js_name = detachSocket)]
    fn detach_socket(ws: &WebSocket);
}

/// One socket and its handler. Dropping it detaches the handler and closes the socket.
struct SocketHandle {
    conn: ConnId,
    ws: WebSocket,
    _handler: Handler,
    _live: Live,
}

impl SocketHandle {
    fn attach(shared: &Rc<Shared>, conn: ConnId, ws: WebSocket) -> SocketHandle {
        let weak = Rc::downgrade(shared);
        let handler = Handler::new(move |kind: u32, value: JsValue| {
            let Some(s) = weak.upgrade() else { return };
            match kind {
                0 => s.feed(Input::Opened { conn }),
                1 => s.feed(Input::Message {
                    conn,
                    payload: JsMessage::incoming(value),
                }),
                2 => s.feed(Input::Error { conn }),
                _ => {
                    let e: CloseEvent = value.unchecked_into();
                    let info = CloseInfo {
                        code: e.code(),
                        reason: e.reason(),
                        was_clean: e.was_clean(),
                    };
                    s.socket_closed(conn, info);
                }
            }
        });
        attach_socket(&ws, &handler);
        SocketHandle {
            conn,
            ws,
            _handler: handler,
            _live: Live::new(1),
        }
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        detach_socket(&self.ws);
    }
}

/// The current socket, and sockets still waiting for their close event.
pub(super) struct Sockets {
    protocols: Vec<String>,
    list: RefCell<Vec<SocketHandle>>,
}

impl Sockets {
    pub(super) fn new(protocols: Vec<String>) -> Sockets {
        Sockets {
            protocols,
            list: RefCell::new(Vec::new()),
        }
    }

    fn with<T>(&self, conn: ConnId, f: impl FnOnce(&WebSocket) -> T) -> Option<T> {
        let list = self.list.borrow();
        list.iter().find(|h| h.conn == conn).map(|h| f(&h.ws))
    }

    /// Socket `conn`'s bufferedAmount, if it exists.
    pub(super) fn buffered_amount(&self, conn: ConnId) -> Option<u64> {
        self.with(conn, |ws| ws.buffered_amount() as u64)
    }

    /// Whether socket `conn` is closing or closed (readyState CLOSING or CLOSED): what is
    /// handed to it now is dropped without an error.
    pub(super) fn is_closing(&self, conn: ConnId) -> bool {
        self.with(conn, |ws| ws.ready_state() >= WebSocket::CLOSING)
            .unwrap_or(false)
    }

    /// Hands a message to socket `conn`; false if the socket refused it (a missing socket
    /// counts as accepted: its close event is on the way).
    pub(super) fn send(&self, conn: ConnId, data: &JsValue) -> bool {
        self.with(conn, |ws| ws.unchecked_ref::<AnySend>().send(data).is_ok())
            .unwrap_or(true)
    }

    /// Starts socket `conn`'s closing handshake (its handlers stay until the close event);
    /// false if there is no such socket.
    pub(super) fn close(&self, conn: ConnId, code: u16, reason: &str) -> bool {
        self.with(conn, |ws| {
            let _ = ws.close_with_code_and_reason(code, reason);
        })
        .is_some()
    }

    /// Lets go of socket `conn`: handlers detached, socket closed (outside the borrow).
    pub(super) fn remove(&self, conn: ConnId) {
        let handle = {
            let mut list = self.list.borrow_mut();
            list.iter()
                .position(|h| h.conn == conn)
                .map(|i| list.swap_remove(i))
        };
        drop(handle);
    }

    /// Lets go of every socket.
    pub(super) fn clear(&self) {
        let all = std::mem::take(&mut *self.list.borrow_mut());
        drop(all);
    }
}

impl Shared {
    /// Creates the socket of attempt `conn` for its resolved URL, if the core still wants
    /// it; a failure becomes Input::OpenFailed.
    pub(super) fn connect(self: &Rc<Self>, conn: ConnId, url: &str) {
        if self.released.get() || self.machine.borrow().current_conn() != Some(conn) {
            return; // freed, closed or reconnected from inside the URL function
        }
        let protocols = &self.sockets.protocols;
        let ws = if protocols.is_empty() {
            WebSocket::new(url)
        } else {
            let list: Array = protocols.iter().map(|p| JsValue::from_str(p)).collect();
            WebSocket::new_with_str_sequence(url, &list)
        };
        match ws {
            Err(e) => {
                let message = ["cannot create WebSocket: ", &super::describe_error(&e)].concat();
                self.open_failed(conn, message)
            }
            Ok(ws) => {
                let handle = SocketHandle::attach(self, conn, ws);
                self.sockets.list.borrow_mut().push(handle);
            }
        }
    }

    /// A socket's close event: ask the close policy if the core needs it (no borrow held),
    /// feed the core, and let go of the socket.
    fn socket_closed(self: &Rc<Self>, conn: ConnId, info: CloseInfo) {
        if self.released.get() {
            return;
        }
        let ask_user = self.machine.borrow().close_needs_policy(conn);
        let reconnect = match (&self.hooks.should_reconnect, ask_user) {
            (Some(f), true) => match f.call1(&JsValue::NULL, &close_info_to_js(&info)) {
                Ok(v) => v.is_truthy(),
                Err(e) => {
                    self.report_callback_error(e);
                    default_should_reconnect(&info)
                }
            },
            _ => default_should_reconnect(&info),
        };
        if self.released.get() {
            return;
        }
        self.sockets.remove(conn);
        let now = self.now();
        self.machine.borrow_mut().handle(
            now,
            Input::Closed {
                conn,
                info,
                reconnect,
            },
        );
        self.pump();
    }
}
