//! The browser driver: runs the sans-IO [`Machine`] against the real browser.
//!
//! It owns the current `web_sys::WebSocket` (and any socket still closing) with its four
//! handlers, ONE timer re-armed only when the core's deadline changes, and the window's
//! `online`/`offline` and the document's `visibilitychange` listeners. Everything is released
//! with the [`Driver`]: handlers are detached and sockets closed when their [`SocketHandle`]
//! drops, so nothing is `forget`-ed per connection.
//!
//! Re-entrancy: the state sits in `Rc<RefCell<State>>`. [`Shared::pump`] drains the core's
//! commands and events while borrowed, drops the borrow, then performs the socket calls and
//! runs the user's callbacks. A callback that calls back into the connection (sendMessage in
//! onMessage, close in onClose) only feeds the core; the pump already running picks up what
//! that produced, so the order of events is kept.
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use crate::core::{
    default_should_reconnect, CloseError, CloseInfo, Command, ConnId, Event as CoreEvent, Input,
    Machine, Millis, Options, OutboxFull, Payload, SendOutcome, Status,
};

// ---------------------------------------------------------------------------------------------
// Live-handle accounting (for the leak test)
// ---------------------------------------------------------------------------------------------

thread_local! {
    static LIVE_HANDLES: Cell<usize> = const { Cell::new(0) };
}

/// The number of closures and listeners the drivers currently hold (socket handlers, window
/// listeners, armed timers, pending URL promises). Reconnecting must not make it grow.
pub fn live_handles() -> usize {
    LIVE_HANDLES.with(Cell::get)
}

/// Counts `n` live handles from creation until drop.
struct Live(usize);

impl Live {
    fn new(n: usize) -> Live {
        LIVE_HANDLES.with(|c| c.set(c.get() + n));
        Live(n)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_HANDLES.with(|c| c.set(c.get() - self.0));
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Where each attempt gets its URL.
pub enum UrlSource {
    Fixed(String),
    /// Called once per attempt; returns a string or a Promise of one.
    Function(Function),
}

/// The user's callbacks. Each is optional.
#[derive(Default)]
pub struct Hooks {
    pub on_open: Option<Function>,
    pub on_close: Option<Function>,
    pub on_message: Option<Function>,
    pub on_error: Option<Function>,
    pub on_reconnect_stop: Option<Function>,
    pub on_drop: Option<Function>,
    pub on_status: Option<Function>,
    pub should_reconnect: Option<Function>,
}

pub struct Config {
    pub url: UrlSource,
    pub protocols: Vec<String>,
    /// Already validated.
    pub options: Options,
    pub hooks: Hooks,
}

// ---------------------------------------------------------------------------------------------
// Browser access
// ---------------------------------------------------------------------------------------------

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str, value: &JsValue);
}

/// Why a URL cannot be used for a WebSocket, or None when it can.
pub fn check_ws_url(url: &str) -> Option<String> {
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

/// A short description of a thrown JS value.
pub fn describe_error(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        let name = String::from(e.name());
        let message = String::from(e.message());
        if name.is_empty() {
            message
        } else {
            format!("{name}: {message}")
        }
    } else if let Some(s) = err.as_string() {
        s
    } else {
        format!("{err:?}")
    }
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    let from_crypto = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .and_then(|c| c.get_random_values_with_u8_array(&mut bytes).ok())
        .is_some();
    if from_crypto {
        u64::from_le_bytes(bytes)
    } else {
        let hi = (js_sys::Math::random() * 4294967296.0) as u64;
        let lo = (js_sys::Math::random() * 4294967296.0) as u64;
        (hi << 32) | lo
    }
}

fn payload_to_js(payload: &Payload) -> JsValue {
    match payload {
        Payload::Text(s) => JsValue::from_str(s),
        Payload::Binary(b) => Uint8Array::from(b.as_slice()).buffer().into(),
    }
}

fn close_info_to_js(info: &CloseInfo) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"code".into(), &JsValue::from(info.code));
    let _ = Reflect::set(&o, &"reason".into(), &JsValue::from_str(&info.reason));
    let _ = Reflect::set(&o, &"wasClean".into(), &JsValue::from_bool(info.was_clean));
    Object::freeze(&o).into()
}

// ---------------------------------------------------------------------------------------------
// Owned browser resources
// ---------------------------------------------------------------------------------------------

/// One socket and its four handlers. Dropping it detaches the handlers and closes the socket.
struct SocketHandle {
    conn: ConnId,
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

    fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
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

/// The single armed timer and the deadline it is armed for.
struct Timer {
    deadline: Millis,
    _timeout: Timeout,
    _live: Live,
}

/// An attempt waiting for its URL function's Promise.
struct PendingUrl {
    conn: ConnId,
    _live: Live,
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// What the snapshot shows; a change means a new snapshot object and a notification.
#[derive(Clone, PartialEq)]
struct SnapshotKey {
    status: Status,
    message_seq: u64,
    attempt: u32,
    next_retry_at: Option<Millis>,
    queued_messages: usize,
    queued_bytes: usize,
    buffered_amount: u64,
    last_close: Option<CloseInfo>,
}

struct LastMessage {
    /// The frozen `{ data, receivedAt }` object.
    object: JsValue,
    /// The text, until lastJsonMessage parses it.
    text: Option<String>,
    /// JSON.parse of the text, once computed (null when not JSON or binary).
    json: Option<JsValue>,
}

struct State {
    machine: Machine,
    /// The current socket, and sockets still waiting for their close event.
    sockets: Vec<SocketHandle>,
    /// The conn of the last `Command::Open`.
    current: Option<ConnId>,
    pending_url: Option<PendingUrl>,
    timer: Option<Timer>,
    listeners: Vec<Listener>,
    last_message: Option<LastMessage>,
    message_seq: u64,
    last_close_js: Option<(CloseInfo, JsValue)>,
    snapshot: Option<(SnapshotKey, JsValue)>,
    notified: Option<SnapshotKey>,
    subscribers: Vec<(u64, Function)>,
    next_subscriber: u64,
}

impl State {
    fn key(&self) -> SnapshotKey {
        let m = &self.machine;
        SnapshotKey {
            status: m.status(),
            message_seq: self.message_seq,
            attempt: m.attempt(),
            next_retry_at: m.next_retry_at(),
            queued_messages: m.queued_messages(),
            queued_bytes: m.queued_bytes(),
            buffered_amount: m.buffered_amount(),
            last_close: m.last_close().cloned(),
        }
    }

    fn socket(&self, conn: ConnId) -> Option<&SocketHandle> {
        self.sockets.iter().find(|s| s.conn == conn)
    }

    fn take_socket(&mut self, conn: ConnId) -> Option<SocketHandle> {
        let i = self.sockets.iter().position(|s| s.conn == conn)?;
        Some(self.sockets.swap_remove(i))
    }

    fn last_json(&mut self) -> JsValue {
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

pub(crate) struct Shared {
    state: RefCell<State>,
    hooks: Hooks,
    url: UrlSource,
    protocols: Vec<String>,
    reconnect_enabled: bool,
    performance: Option<web_sys::Performance>,
    time_origin: f64,
    last_now: Cell<Millis>,
    pumping: Cell<bool>,
    released: Cell<bool>,
}

/// The browser driver. Dropping it releases everything (see [`Driver::drop`]).
pub struct Driver {
    shared: Rc<Shared>,
}

impl Driver {
    /// Creates the machine and starts the first attempt at once.
    pub fn start(config: Config) -> Driver {
        let performance = web_sys::window().and_then(|w| w.performance());
        let time_origin = match &performance {
            Some(p) => p.time_origin(),
            None => js_sys::Date::now(),
        };
        let reconnect_enabled = config.options.reconnect.is_some();
        let now = performance.as_ref().map_or(0, |p| p.now() as Millis);
        let shared = Rc::new(Shared {
            state: RefCell::new(State {
                machine: Machine::new(config.options, random_seed(), now),
                sockets: Vec::new(),
                current: None,
                pending_url: None,
                timer: None,
                listeners: Vec::new(),
                last_message: None,
                message_seq: 0,
                last_close_js: None,
                snapshot: None,
                notified: None,
                subscribers: Vec::new(),
                next_subscriber: 0,
            }),
            hooks: config.hooks,
            url: config.url,
            protocols: config.protocols,
            reconnect_enabled,
            performance,
            time_origin,
            last_now: Cell::new(now),
            pumping: Cell::new(false),
            released: Cell::new(false),
        });
        let listeners = window_listeners(&shared);
        shared.state.borrow_mut().listeners = listeners;
        {
            let mut st = shared.state.borrow_mut();
            st.notified = Some(st.key());
        }
        shared.pump();
        Driver { shared }
    }

    pub fn status(&self) -> Status {
        self.shared.state.borrow().machine.status()
    }

    /// The frozen `{ data, receivedAt }` of the last message, or null.
    pub fn last_message(&self) -> JsValue {
        let st = self.shared.state.borrow();
        st.last_message
            .as_ref()
            .map_or(JsValue::NULL, |m| m.object.clone())
    }

    /// JSON.parse of the last message when it was text and JSON, else null.
    pub fn last_json_message(&self) -> JsValue {
        self.shared.state.borrow_mut().last_json()
    }

    /// A user send: first a fresh bufferedAmount reading, then the core decides.
    pub fn send(&self, payload: Payload) -> Result<SendOutcome, OutboxFull> {
        let s = &self.shared;
        let now = s.now();
        let result = {
            let mut st = s.state.borrow_mut();
            let reading = st
                .current
                .and_then(|c| st.socket(c))
                .filter(|h| h.is_open())
                .map(|h| (h.conn, h.ws.buffered_amount() as u64));
            if let Some((conn, bytes)) = reading {
                st.machine
                    .handle(now, Input::BufferedAmount { conn, bytes });
            }
            st.machine.send(now, payload)
        };
        s.pump();
        result
    }

    /// The user's close (validated by the core; on error nothing is closed).
    pub fn close(&self, code: u16, reason: String) -> Result<(), CloseError> {
        let s = &self.shared;
        let now = s.now();
        let result = s.state.borrow_mut().machine.close(now, code, reason);
        s.pump();
        result
    }

    pub fn reconnect(&self) {
        let s = &self.shared;
        let now = s.now();
        s.state.borrow_mut().machine.reconnect(now);
        s.pump();
    }

    /// Adds a listener called after state changes; returns the unsubscribe function.
    pub fn subscribe(&self, listener: Function) -> Function {
        let id = {
            let mut st = self.shared.state.borrow_mut();
            let id = st.next_subscriber;
            st.next_subscriber += 1;
            st.subscribers.push((id, listener));
            id
        };
        let weak: Weak<Shared> = Rc::downgrade(&self.shared);
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

    /// The frozen snapshot; the same object until something in it changes.
    pub fn snapshot(&self) -> JsValue {
        self.shared.snapshot()
    }
}

impl Drop for Driver {
    /// free(): closes the socket, removes the window listeners, cancels the timer and reports
    /// the still-queued messages dropped ("released").
    fn drop(&mut self) {
        self.shared.release();
    }
}

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

impl Shared {
    /// The monotonic clock in ms (performance.now(), never going back).
    fn now(&self) -> Millis {
        let t = self
            .performance
            .as_ref()
            .map_or_else(|| js_sys::Date::now() - self.time_origin, |p| p.now());
        let t = (t.max(0.0) as Millis).max(self.last_now.get());
        self.last_now.set(t);
        t
    }

    fn epoch(&self, t: Millis) -> f64 {
        (self.time_origin + t as f64).round()
    }

    /// Feeds one input and runs what follows.
    fn feed(self: &Rc<Self>, input: Input) {
        if self.released.get() {
            return;
        }
        let now = self.now();
        self.state.borrow_mut().machine.handle(now, input);
        self.pump();
    }

    /// Drains the core and acts on it until there is nothing left, then notifies subscribers.
    /// No borrow is held while sockets are called or user code runs. A nested call (from a
    /// user callback) returns at once: the outer loop picks up what it fed the core.
    fn pump(self: &Rc<Self>) {
        if self.released.get() || self.pumping.replace(true) {
            return;
        }
        loop {
            if self.released.get() {
                break;
            }
            let (commands, events) = {
                let mut st = self.state.borrow_mut();
                let commands: Vec<Command> =
                    std::iter::from_fn(|| st.machine.poll_command()).collect();
                let events: Vec<CoreEvent> =
                    std::iter::from_fn(|| st.machine.poll_event()).collect();
                (commands, events)
            };
            if commands.is_empty() && events.is_empty() {
                self.rearm_timer();
                if self.notify_if_changed() {
                    continue;
                }
                break;
            }
            for command in commands {
                if self.released.get() {
                    break;
                }
                self.execute(command);
            }
            for event in events {
                if self.released.get() {
                    break;
                }
                self.dispatch(event);
            }
        }
        self.pumping.set(false);
    }

    /// Arms the one timer for the core's deadline, only when that deadline changed.
    fn rearm_timer(self: &Rc<Self>) {
        let now = self.now();
        let mut st = self.state.borrow_mut();
        let deadline = st.machine.poll_timeout();
        if st.timer.as_ref().map(|t| t.deadline) == deadline {
            return;
        }
        st.timer = deadline.map(|deadline| {
            let delay = deadline.saturating_sub(now).min(i32::MAX as u64) as u32;
            let weak = Rc::downgrade(self);
            Timer {
                deadline,
                _timeout: Timeout::new(delay, move || {
                    if let Some(s) = weak.upgrade() {
                        s.timer_fired();
                    }
                }),
                _live: Live::new(1),
            }
        });
    }

    fn timer_fired(self: &Rc<Self>) {
        if self.released.get() {
            return;
        }
        let now = self.now();
        let spent = {
            let mut st = self.state.borrow_mut();
            let spent = st.timer.take();
            if st.machine.poll_timeout().is_some_and(|d| now >= d) {
                st.machine.handle_timeout(now);
            }
            spent
        };
        // (A timer that fired a little early is simply re-armed by the pump.)
        drop(spent);
        self.pump();
    }

    fn notify_if_changed(self: &Rc<Self>) -> bool {
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

    fn snapshot(&self) -> JsValue {
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
        set(
            "lastMessage",
            &st.last_message
                .as_ref()
                .map_or(JsValue::NULL, |m| m.object.clone()),
        );
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

    // -----------------------------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------------------------

    fn execute(self: &Rc<Self>, command: Command) {
        match command {
            Command::Open { conn } => self.open(conn),
            Command::Send { conn, payload } => {
                let failed = {
                    let st = self.state.borrow();
                    match st.socket(conn) {
                        Some(h) => match &payload {
                            Payload::Text(t) => h.ws.send_with_str(t).is_err(),
                            Payload::Binary(b) => h.ws.send_with_u8_array(b).is_err(),
                        },
                        None => false,
                    }
                };
                if failed {
                    let now = self.now();
                    self.state
                        .borrow_mut()
                        .machine
                        .handle(now, Input::Error { conn });
                }
            }
            Command::ReadBufferedAmount { conn } => {
                let now = self.now();
                let mut st = self.state.borrow_mut();
                if let Some(bytes) = st.socket(conn).map(|h| h.ws.buffered_amount() as u64) {
                    st.machine
                        .handle(now, Input::BufferedAmount { conn, bytes });
                }
            }
            Command::Close { conn, code, reason } => {
                let now = self.now();
                let mut st = self.state.borrow_mut();
                if let Some(h) = st.socket(conn) {
                    // Handlers stay until the close event arrives.
                    let _ = h.ws.close_with_code_and_reason(code, &reason);
                } else {
                    // No socket yet (the URL is still being resolved): closed at once.
                    if st.pending_url.as_ref().is_some_and(|p| p.conn == conn) {
                        st.pending_url = None;
                    }
                    let info = CloseInfo {
                        code,
                        reason,
                        was_clean: true,
                    };
                    st.machine.handle(
                        now,
                        Input::Closed {
                            conn,
                            info,
                            reconnect: false,
                        },
                    );
                }
            }
            Command::Abandon { conn } => {
                let handle = {
                    let mut st = self.state.borrow_mut();
                    if st.pending_url.as_ref().is_some_and(|p| p.conn == conn) {
                        st.pending_url = None;
                    }
                    st.take_socket(conn)
                };
                drop(handle);
            }
        }
    }

    /// Command::Open: resolve the URL (the user's function is called with no borrow held),
    /// then create the socket; every failure becomes Input::OpenFailed.
    fn open(self: &Rc<Self>, conn: ConnId) {
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
            let still_current = {
                let mut st = s.state.borrow_mut();
                if st.pending_url.as_ref().is_some_and(|p| p.conn == conn) {
                    st.pending_url = None;
                    true
                } else {
                    false
                }
            };
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

    fn connect(self: &Rc<Self>, conn: ConnId, url: &str) {
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

    fn open_failed(self: &Rc<Self>, conn: ConnId, error: String) {
        let now = self.now();
        self.state
            .borrow_mut()
            .machine
            .handle(now, Input::OpenFailed { conn, error });
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

    // -----------------------------------------------------------------------------------------
    // Events → user callbacks
    // -----------------------------------------------------------------------------------------

    fn dispatch(self: &Rc<Self>, event: CoreEvent) {
        let h = &self.hooks;
        match event {
            CoreEvent::Status(status) => {
                self.call(&h.on_status, &[JsValue::from_str(status.as_str())]);
            }
            CoreEvent::Opened => self.call(&h.on_open, &[]),
            CoreEvent::Message(payload) => {
                let object = Object::new();
                let _ = Reflect::set(&object, &"data".into(), &payload_to_js(&payload));
                let _ = Reflect::set(
                    &object,
                    &"receivedAt".into(),
                    &JsValue::from_f64(js_sys::Date::now()),
                );
                let object: JsValue = Object::freeze(&object).into();
                {
                    let mut st = self.state.borrow_mut();
                    st.message_seq += 1;
                    let text = match payload {
                        Payload::Text(t) => Some(t),
                        Payload::Binary(_) => None,
                    };
                    let json = if text.is_none() {
                        Some(JsValue::NULL)
                    } else {
                        None
                    };
                    st.last_message = Some(LastMessage {
                        object: object.clone(),
                        text,
                        json,
                    });
                }
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
    fn report_callback_error(&self, error: JsValue) {
        match &self.hooks.on_error {
            Some(on_error) => {
                if let Err(e) = on_error.call1(&JsValue::NULL, &error) {
                    console_error("resilient-ws: onError threw", &e);
                }
            }
            None => console_error("resilient-ws: a callback threw", &error),
        }
    }

    /// Releases everything: the core abandons the socket and reports queued messages
    /// dropped; handles, listeners and the timer go; those last events are dispatched.
    fn release(self: &Rc<Self>) {
        if self.released.get() {
            return;
        }
        let now = self.now();
        let Ok(mut st) = self.state.try_borrow_mut() else {
            self.released.set(true);
            return;
        };
        st.machine.release(now);
        while st.machine.poll_command().is_some() {}
        let events: Vec<CoreEvent> = std::iter::from_fn(|| st.machine.poll_event()).collect();
        let sockets = std::mem::take(&mut st.sockets);
        let listeners = std::mem::take(&mut st.listeners);
        let timer = st.timer.take();
        let pending = st.pending_url.take();
        st.subscribers.clear();
        drop(st);
        self.released.set(true);
        drop((sockets, listeners, timer, pending));
        for event in events {
            self.dispatch(event);
        }
    }
}

fn is_thenable(v: &JsValue) -> bool {
    if v.is_instance_of::<Promise>() {
        return true;
    }
    v.is_object() && Reflect::get(v, &JsValue::from_str("then")).is_ok_and(|t| t.is_function())
}
