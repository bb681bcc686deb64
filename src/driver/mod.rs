//! The browser driver: runs the sans-IO [`Machine`] against the real browser.
//!
//! It owns the current `web_sys::WebSocket` (and any socket still closing) with its four
//! handlers, ONE timer re-armed only when the core's deadline changes, and the window's
//! `online`/`offline` and the document's `visibilitychange` listeners. Everything is released
//! with the [`Driver`]: handlers are detached and sockets closed when their `SocketHandle`
//! drops, so nothing is `forget`-ed per connection. Messages stay JS values throughout
//! ([`JsMessage`]): no message data crosses into WebAssembly.
//!
//! Re-entrancy: each part of the state sits in its own `RefCell`, owned by the file of its
//! concern, and no borrow is held while sockets are called or user code runs. [`Shared::pump`]
//! runs the core's commands and dispatches its events one at a time; a callback that calls
//! back into the connection (sendMessage in onMessage, close in onClose) only feeds the core,
//! and the pump already running picks up what that produced, so the order of events is kept.
//! A user send's own commands run before `sendMessage` returns, so a message handed to the
//! socket is never copied.
//!
//! One concern per file:
//! - this file: [`Driver`] (the API the bindings use), the shared state, the pump, release;
//! - `message.rs`: [`JsMessage`], the core's view of a JS message;
//! - `commands.rs`: the core's commands carried out on the sockets;
//! - `callbacks.rs`: the user's callbacks ([`Hooks`]) and the core's events dispatched to them;
//! - `socket.rs`: the sockets, each with one handler for its four events, and its close event;
//! - `url.rs`: each attempt's URL (string, function, Promise) and `ws_url`;
//! - `timer.rs`: the one re-armed timer, and the unclamped tick for polls due at once;
//! - `listeners.rs`: the window's online/offline and the document's visibilitychange;
//! - `snapshot.rs`: the snapshot store: snapshot object, last message, subscribers;
//! - `clock.rs`: the monotonic clock;
//! - `live.rs`: the live-handle counter for the leak test.
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::core::{CloseError, Input, Machine, Millis, Options, OutboxFull, SendOutcome, Status};

mod acks;
mod callbacks;
mod clock;
mod commands;
mod listeners;
mod live;
mod message;
mod persist;
mod snapshot;
mod socket;
mod timer;
mod url;

pub(crate) use callbacks::Hooks;
pub(crate) use live::live_handles;
pub(crate) use message::{
    byte_length, describe, describe_error, invalid_data_error, json_text, outbox_full_error,
    JsMessage,
};
pub(crate) use persist::PersistConfig;
pub(crate) use snapshot::{status_index, status_name};
pub(crate) use url::{ws_url, UrlSource};

use acks::Tickets;
use clock::Clock;
use listeners::Listeners;
use persist::Persist;
use snapshot::Store;
use socket::Sockets;
use timer::TimerSlot;
use url::UrlResolver;

/// The closure type of the event handlers set in js/src/driver.js (socket events, window
/// listeners): `(kind, value)`. Each closure type costs the module its own glue. Only JS that
/// always passes a number may call one: debug builds check the `u32` (wasm-bindgen `_assertNum`).
type Handler = Closure<dyn Fn(u32, JsValue)>;

pub(crate) struct Config {
    pub(crate) url: UrlSource,
    pub(crate) protocols: Vec<String>,
    /// Already validated.
    pub(crate) options: Options,
    pub(crate) hooks: Hooks,
    /// `persist` (with delivery on).
    pub(crate) persist: Option<PersistConfig>,
}

/// Everything a connection's handlers and timers reach through a `Weak`.
struct Shared {
    machine: RefCell<Machine<JsMessage>>,
    sockets: Sockets,
    url: UrlResolver,
    timer: TimerSlot,
    listeners: Listeners,
    store: Store,
    tickets: Tickets,
    hooks: Hooks,
    persist: Option<Persist>,
    clock: Clock,
    pumping: Cell<bool>,
    released: Cell<bool>,
}

/// The browser driver. Dropping it releases everything (see [`Driver::drop`]).
pub(crate) struct Driver {
    shared: Rc<Shared>,
}

impl Driver {
    /// Creates the machine and starts the first attempt at once.
    pub(crate) fn start(config: Config) -> Driver {
        let clock = Clock::new();
        let now = clock.now();
        let shared = Rc::new(Shared {
            machine: RefCell::new(Machine::new(config.options, clock.random_seed(), now)),
            sockets: Sockets::new(config.protocols),
            url: UrlResolver::new(config.url),
            timer: TimerSlot::default(),
            listeners: Listeners::default(),
            store: Store::default(),
            tickets: Tickets::default(),
            hooks: config.hooks,
            persist: config.persist.map(Persist::new),
            clock,
            pumping: Cell::new(false),
            released: Cell::new(false),
        });
        shared.listeners.attach(&shared);
        shared.start_restore();
        shared.store.mark_notified(&shared.machine.borrow());
        // onStatus hears the initial "connecting" too (the core reports changes only).
        let initial = shared.machine.borrow().status();
        shared.dispatch(crate::core::Event::Status(initial));
        shared.pump();
        Driver { shared }
    }

    pub(crate) fn status(&self) -> Status {
        self.shared.machine.borrow().status()
    }

    /// The frozen `{ data, receivedAt }` of the last message, or null.
    pub(crate) fn last_message(&self) -> JsValue {
        self.shared.store.last_message()
    }

    /// JSON.parse of the last message when it was text and JSON, else null (parsed once).
    pub(crate) fn last_json_message(&self) -> JsValue {
        self.shared.store.last_json_message()
    }

    /// A user send: a fresh bufferedAmount reading first if it could matter, then the core
    /// decides. What it hands to the socket is handed before this returns.
    pub(crate) fn send(&self, mut message: JsMessage) -> Result<SendOutcome, OutboxFull> {
        let s = &self.shared;
        if s.persist.is_some() {
            message.at = js_sys::Date::now();
        }
        let now = s.clock.now();
        // A socket whose close frame arrived is CLOSING before its close event: the core must
        // know before it hands anything more to it.
        let reading = {
            let m = s.machine.borrow();
            m.open_conn().map(|conn| (conn, m.wants_reading()))
        }
        .and_then(|(conn, wants)| {
            if s.sockets.is_closing(conn) {
                Some(Input::Closing { conn })
            } else if wants {
                s.sockets
                    .buffered_amount(conn)
                    .map(|bytes| Input::BufferedAmount { conn, bytes })
            } else {
                None
            }
        });
        let result = {
            let mut m = s.machine.borrow_mut();
            if let Some(reading) = reading {
                m.handle(now, reading);
            }
            m.send(now, message)
        };
        s.run_commands();
        s.pump();
        result
    }

    /// sendWithAck: [`Driver::send`], and a promise that settles when the message is
    /// acknowledged or dropped. (The caller checks that delivery is on.)
    pub(crate) fn send_with_ack(
        &self,
        mut message: JsMessage,
    ) -> Result<(SendOutcome, js_sys::Promise), OutboxFull> {
        let (ticket, promise) = self.shared.tickets.promise();
        message.ticket = ticket;
        match self.send(message) {
            Ok(outcome) => Ok((outcome, promise)),
            Err(full) => {
                self.shared.tickets.forget(ticket);
                Err(full)
            }
        }
    }

    /// `persist`: a promise of true once everything sent so far is durable in the store, of
    /// false when nothing is persisted (no `persist`, or IndexedDB missing or refusing).
    pub(crate) fn persisted(&self) -> js_sys::Promise {
        match &self.shared.persist {
            Some(p) => p.store().persisted(),
            None => js_sys::Promise::resolve(&JsValue::FALSE),
        }
    }

    /// Whether the delivery option is on.
    pub(crate) fn delivery(&self) -> bool {
        self.shared.machine.borrow().options().delivery.is_some()
    }

    /// The user's close (validated by the core; on error nothing is closed).
    pub(crate) fn close(&self, code: u16, reason: String) -> Result<(), CloseError> {
        let s = &self.shared;
        let now = s.clock.now();
        let result = s.machine.borrow_mut().close(now, code, reason);
        s.pump();
        result
    }

    pub(crate) fn reconnect(&self) {
        let s = &self.shared;
        let now = s.clock.now();
        s.machine.borrow_mut().reconnect(now);
        s.pump();
    }

    /// Adds a listener called after state changes; returns the unsubscribe function.
    pub(crate) fn subscribe(&self, listener: Function) -> Function {
        self.shared.store.subscribe(&self.shared, listener)
    }

    /// The frozen snapshot; the same object until something in it changes.
    pub(crate) fn snapshot(&self) -> JsValue {
        let s = &self.shared;
        s.store.snapshot(&s.machine.borrow(), &s.clock)
    }

    /// The outbox limits: (maxMessages, maxBytes).
    pub(crate) fn outbox_limits(&self) -> (usize, usize) {
        let m = self.shared.machine.borrow();
        let o = &m.options().outbox;
        (o.max_messages, o.max_bytes)
    }
}

impl Drop for Driver {
    /// free(): closes the socket, removes the window listeners, cancels the timer and reports
    /// the still-queued messages dropped ("released").
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl Shared {
    /// Feeds one input and runs what follows.
    fn feed(self: &Rc<Self>, input: Input<JsMessage>) {
        if self.released.get() {
            return;
        }
        // A received message starts no timer: the core does not need a fresh clock reading
        // for it (the last one keeps `now` monotonic), which saves a call per message.
        let now = match input {
            Input::Message { .. } => self.clock.last(),
            _ => self.clock.now(),
        };
        self.machine.borrow_mut().handle(now, input);
        self.pump();
    }

    /// Carries out the core's commands, one at a time, with no borrow held while each runs.
    fn run_commands(self: &Rc<Self>) {
        while !self.released.get() {
            let Some(command) = self.machine.borrow_mut().poll_command() else {
                return;
            };
            self.execute(command);
        }
    }

    /// Runs commands and dispatches events until there is nothing left, then re-arms the
    /// timer and notifies subscribers. A nested call (from a user callback) returns at once:
    /// the outer loop picks up what it fed the core.
    fn pump(self: &Rc<Self>) {
        if self.released.get() || self.pumping.replace(true) {
            return;
        }
        while !self.released.get() {
            self.run_commands();
            let event = self.machine.borrow_mut().poll_event();
            match event {
                Some(event) => self.dispatch(event),
                None => {
                    self.write_changes();
                    self.rearm_timer();
                    if !self.notify_if_changed() {
                        break;
                    }
                }
            }
        }
        self.pumping.set(false);
    }

    /// Releases everything: the core abandons the socket and reports queued messages
    /// dropped; sockets, listeners, the timer and a pending URL go; those last events are
    /// dispatched.
    fn release(self: &Rc<Self>) {
        if self.released.replace(true) {
            return;
        }
        let now = self.clock.now();
        let events = match self.machine.try_borrow_mut() {
            Ok(mut m) => {
                m.release(now);
                while m.poll_command().is_some() {}
                std::iter::from_fn(|| m.poll_event()).collect()
            }
            Err(_) => Vec::new(),
        };
        self.sockets.clear();
        self.listeners.clear();
        self.timer.cancel();
        self.url.cancel_all();
        self.store.clear_subscribers();
        if let Some(p) = &self.persist {
            // What is stored stays for the next connection with this name.
            p.close();
        }
        for event in events {
            self.dispatch(event);
        }
    }

    fn now(&self) -> Millis {
        self.clock.now()
    }
}
