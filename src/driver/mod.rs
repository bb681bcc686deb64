//! The browser driver: runs the sans-IO [`Machine`] against the real browser.
//!
//! It owns the current `web_sys::WebSocket` (and any socket still closing) with its four
//! handlers, ONE timer re-armed only when the core's deadline changes, and the window's
//! `online`/`offline` and the document's `visibilitychange` listeners. Everything is released
//! with the [`Driver`]: handlers are detached and sockets closed when their `SocketHandle`
//! drops, so nothing is `forget`-ed per connection.
//!
//! Re-entrancy: the state sits in `Rc<RefCell<State>>`. [`Shared::pump`] drains the core's
//! commands and events while borrowed, drops the borrow, then performs the socket calls and
//! runs the user's callbacks. A callback that calls back into the connection (sendMessage in
//! onMessage, close in onClose) only feeds the core; the pump already running picks up what
//! that produced, so the order of events is kept.
//!
//! One concern per file:
//! - this file: [`Driver`] (the API the bindings use), the shared state, the pump loop, release;
//! - `commands.rs`: the core's commands carried out on the sockets;
//! - `callbacks.rs`: the user's callbacks ([`Hooks`]) and the core's events dispatched to them;
//! - `socket.rs`: a WebSocket, its four handlers and its close event;
//! - `url.rs`: each attempt's URL (string, function, Promise) and `check_ws_url`;
//! - `timer.rs`: the one re-armed timer;
//! - `listeners.rs`: the window's online/offline and the document's visibilitychange;
//! - `snapshot.rs`: the snapshot object, last message/close, subscribers;
//! - `convert.rs`: core values as JS values, thrown JS values as text;
//! - `live.rs`: the live-handle counter for the leak test.
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::{
    CloseError, CloseInfo, Command, ConnId, Event as CoreEvent, Input, Machine, Millis, Options,
    OutboxFull, Payload, SendOutcome, Status,
};

mod callbacks;
mod commands;
mod convert;
mod listeners;
mod live;
mod snapshot;
mod socket;
mod timer;
mod url;

pub(crate) use callbacks::Hooks;
pub(crate) use convert::describe_error;
pub(crate) use live::live_handles;
pub(crate) use url::{check_ws_url, UrlSource};

use listeners::{window_listeners, Listener};
use snapshot::{LastMessage, SnapshotKey};
use socket::SocketHandle;
use timer::Timer;
use url::PendingUrl;

pub(crate) struct Config {
    pub(crate) url: UrlSource,
    pub(crate) protocols: Vec<String>,
    /// Already validated.
    pub(crate) options: Options,
    pub(crate) hooks: Hooks,
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

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

struct Shared {
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

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

/// The browser driver. Dropping it releases everything (see [`Driver::drop`]).
pub(crate) struct Driver {
    shared: Rc<Shared>,
}

impl Driver {
    /// Creates the machine and starts the first attempt at once.
    pub(crate) fn start(config: Config) -> Driver {
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

    pub(crate) fn status(&self) -> Status {
        self.shared.state.borrow().machine.status()
    }

    /// The frozen `{ data, receivedAt }` of the last message, or null.
    pub(crate) fn last_message(&self) -> JsValue {
        self.shared.state.borrow().last_message_js()
    }

    /// JSON.parse of the last message when it was text and JSON, else null.
    pub(crate) fn last_json_message(&self) -> JsValue {
        self.shared.state.borrow_mut().last_json()
    }

    /// A user send: first a fresh bufferedAmount reading, then the core decides.
    pub(crate) fn send(&self, payload: Payload) -> Result<SendOutcome, OutboxFull> {
        let s = &self.shared;
        let now = s.now();
        let result = {
            let mut st = s.state.borrow_mut();
            let reading = st
                .current
                .and_then(|c| st.socket(c))
                .filter(|h| h.is_open())
                .map(|h| (h.conn, h.buffered_amount()));
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
    pub(crate) fn close(&self, code: u16, reason: String) -> Result<(), CloseError> {
        let s = &self.shared;
        let now = s.now();
        let result = s.state.borrow_mut().machine.close(now, code, reason);
        s.pump();
        result
    }

    pub(crate) fn reconnect(&self) {
        let s = &self.shared;
        let now = s.now();
        s.state.borrow_mut().machine.reconnect(now);
        s.pump();
    }

    /// Adds a listener called after state changes; returns the unsubscribe function.
    pub(crate) fn subscribe(&self, listener: Function) -> Function {
        self.shared.subscribe(listener)
    }

    /// The frozen snapshot; the same object until something in it changes.
    pub(crate) fn snapshot(&self) -> JsValue {
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

/// The seed of the core's jitter: crypto.getRandomValues, else Math.random.
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

// ---------------------------------------------------------------------------------------------
// The pump
// ---------------------------------------------------------------------------------------------

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

    /// A time of the monotonic clock as epoch milliseconds.
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
