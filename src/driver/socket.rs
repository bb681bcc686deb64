//! The WebSocket of an attempt: creating it, its four handlers, and its close event.
//!
//! A [`SocketHandle`] owns one socket and its handlers; dropping it detaches the handlers and
//! closes the socket, so nothing is `forget`-ed per connection.
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use super::convert::{close_info_to_js, describe_error};
use super::live::Live;
use super::url::check_ws_url;
use super::{Shared, State};
use crate::core::{default_should_reconnect, CloseInfo, ConnId, Input, Payload, Status};

/// One socket and its four handlers. Dropping it detaches the handlers and closes the socket.
pub(super) struct SocketHandle {
    pub(super) conn: ConnId,
    ws: WebSocket,
    _on_open: Closure<dyn Fn(Event)>,
    _on_message: Closure<dyn Fn(MessageEvent)>,
    _on_error: Closure<dyn Fn(Event)>,
    _on_close: Closure<dyn Fn(CloseEvent)>,
    _live: Live,
}

impl SocketHandle {
    fn attach(shared: &Rc<Shared>, conn: ConnId, ws: WebSocket) -> SocketHandle {
        ws.set_binary_type(BinaryType::Arraybuffer);
        let weak = Rc::downgrade(shared);
        let on_open = {
            let weak = weak.clone();
            Closure::<dyn Fn(Event)>::new(move |_: Event| {
                if let Some(s) = weak.upgrade() {
                    s.feed(Input::Opened { conn });
                }
            })
        };
        let on_message = {
            let weak = weak.clone();
            Closure::<dyn Fn(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(s) = weak.upgrade() {
                    let data = e.data();
                    let payload = if let Some(text) = data.as_string() {
                        Payload::Text(text)
                    } else if data.is_instance_of::<ArrayBuffer>() {
                        Payload::Binary(Uint8Array::new(&data).to_vec())
                    } else {
                        // binaryType is arraybuffer, so this does not happen.
                        return;
                    };
                    s.feed(Input::Message { conn, payload });
                }
            })
        };
        let on_error = {
            let weak = weak.clone();
            Closure::<dyn Fn(Event)>::new(move |_: Event| {
                if let Some(s) = weak.upgrade() {
                    s.feed(Input::Error { conn });
                }
            })
        };
        let on_close = Closure::<dyn Fn(CloseEvent)>::new(move |e: CloseEvent| {
            if let Some(s) = weak.upgrade() {
                let info = CloseInfo {
                    code: e.code(),
                    reason: e.reason(),
                    was_clean: e.was_clean(),
                };
                s.socket_closed(conn, info);
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        SocketHandle {
            conn,
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
            _live: Live::new(4),
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    pub(super) fn buffered_amount(&self) -> u64 {
        self.ws.buffered_amount() as u64
    }

    /// Hands a message to the socket; an error means the socket refused it.
    pub(super) fn send(&self, payload: &Payload) -> Result<(), JsValue> {
        match payload {
            Payload::Text(t) => self.ws.send_with_str(t),
            Payload::Binary(b) => self.ws.send_with_u8_array(b),
        }
    }

    /// Starts the closing handshake; the handlers stay until the close event arrives.
    pub(super) fn close(&self, code: u16, reason: &str) {
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        let state = self.ws.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.ws.close_with_code(1000);
        }
    }
}

impl State {
    pub(super) fn socket(&self, conn: ConnId) -> Option<&SocketHandle> {
        self.sockets.iter().find(|s| s.conn == conn)
    }

    pub(super) fn take_socket(&mut self, conn: ConnId) -> Option<SocketHandle> {
        let i = self.sockets.iter().position(|s| s.conn == conn)?;
        Some(self.sockets.swap_remove(i))
    }
}

impl Shared {
    /// Creates the socket of attempt `conn` for its resolved URL; a failure becomes
    /// Input::OpenFailed.
    pub(super) fn connect(self: &Rc<Self>, conn: ConnId, url: &str) {
        if self.released.get() {
            return; // freed from inside the URL function
        }
        if let Some(problem) = check_ws_url(url) {
            return self.open_failed(conn, problem);
        }
        let ws = if self.protocols.is_empty() {
            WebSocket::new(url)
        } else {
            let protocols: Array = self
                .protocols
                .iter()
                .map(|p| JsValue::from_str(p))
                .collect();
            WebSocket::new_with_str_sequence(url, &protocols)
        };
        match ws {
            Err(e) => self.open_failed(
                conn,
                format!("cannot create WebSocket: {}", describe_error(&e)),
            ),
            Ok(ws) => {
                let handle = SocketHandle::attach(self, conn, ws);
                self.state.borrow_mut().sockets.push(handle);
            }
        }
    }

    /// A socket's close event: ask the close policy (no borrow held), feed the core, and let
    /// go of the socket's handle.
    fn socket_closed(self: &Rc<Self>, conn: ConnId, info: CloseInfo) {
        if self.released.get() {
            return;
        }
        let ask_user = {
            let st = self.state.borrow();
            self.reconnect_enabled
                && st.current == Some(conn)
                && !matches!(st.machine.status(), Status::Closed(_))
        };
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
        let now = self.now();
        let handle = {
            let mut st = self.state.borrow_mut();
            let handle = st.take_socket(conn);
            st.machine.handle(
                now,
                Input::Closed {
                    conn,
                    info,
                    reconnect,
                },
            );
            handle
        };
        drop(handle);
        self.pump();
    }
}
