//! The Rust API (feature `rust-api`): [`Connection`] for Rust code compiled to wasm32
//! (Leptos, Yew, Dioxus, ...). It runs on the same browser driver as the JS bindings: the
//! driver's hooks are JS functions, made here from Rust closures that turn the driver's JS
//! values into [`Event`]s; messages go to the driver as JS values ([`Data::to_js`]).
//!
//! - this file: [`Connection`], [`ConnectionBuilder`], the event fan-out, [`Events`], [`Ack`];
//! - `event.rs`: [`Event`], [`Data`], [`DropError`], [`Error`] and their JS conversions;
//!
//! The builder methods of the core's option types are in src/option_builders.rs.
use std::any::Any;
use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::core::{
    validate_close, CloseInfo, ClosedReason, DeliveryOptions, HeartbeatOptions, Options,
    OutboxOptions, ReconnectOptions, SendOutcome, Status,
};
use crate::driver::{ws_url, Config, Driver, Hooks, JsMessage, UrlSource};

mod event;

use event::{close_info_from_js, error_text};
pub use event::{Data, DropError, Error, Event};

type Callback = Rc<dyn Fn(&Event)>;
/// The close policy: reconnect after this close?
type Policy = Rc<dyn Fn(&CloseInfo) -> bool>;

/// Hands each event to the callbacks, then to every open stream. Owned by the driver's hooks
/// (the closures below), so that the events of the release, dispatched while the driver
/// drops, still arrive; streams end when it goes.
#[derive(Default)]
struct Fanout {
    callbacks: Vec<Callback>,
    streams: RefCell<Vec<UnboundedSender<Event>>>,
}

impl Fanout {
    fn emit(&self, event: Event) {
        // No borrow is held while user code runs: a callback may call `events()`.
        for callback in &self.callbacks {
            callback(&event);
        }
        self.streams
            .borrow_mut()
            .retain(|s| s.unbounded_send(event.clone()).is_ok());
    }
}

/// The connection's parts. Fields drop in order: the driver first (its release dispatches
/// its last events to the hooks), then the fan-out and the closures behind the hooks.
struct Inner {
    driver: OnceCell<Driver>,
    fanout: Rc<Fanout>,
    _closures: Vec<Box<dyn Any>>,
}

/// A resilient WebSocket connection for Rust code in the browser: it reconnects with backoff
/// and jitter, can watch the link with a heartbeat, and keeps what is sent while disconnected
/// in an outbox that it flushes in order on the next connection. Connecting starts at once.
///
/// Events come to callbacks given to the [`ConnectionBuilder`] and to any number of
/// [`Events`] streams ([`Connection::events`]), in order. Dropping the connection releases
/// everything: the socket is closed, the timers and the window listeners are removed, the
/// closures are freed, messages still queued are reported [`Event::Dropped`] with
/// [`DropError::Released`] (pending [`Ack`]s resolve to that error), and the streams end.
///
/// ```ignore
/// // Needs a browser, and futures-util for StreamExt::next.
/// use futures_util::StreamExt;
/// use resilient_ws::core::{Options, ReconnectOptions};
/// use resilient_ws::{Connection, Data, Event};
///
/// # async fn run() -> Result<(), resilient_ws::Error> {
/// let conn = Connection::builder("wss://example.com/chat")
///     .options(
///         Options::default()
///             .reconnect(Some(ReconnectOptions::default().initial_delay_ms(250.0)))
///             .connect_timeout_ms(5_000),
///     )
///     .on_event(|event| {
///         if let Event::Status(status) = event {
///             web_sys::console::log_1(&status.as_str().into());
///         }
///     })
///     .connect()?;
/// let mut events = conn.events();
/// conn.send("hello")?; // sent now, or queued until connected
/// conn.send(vec![1u8, 2, 3])?;
/// while let Some(event) = events.next().await {
///     if let Event::Message(Data::Text(text)) = event {
///         web_sys::console::log_1(&text.into());
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct Connection {
    inner: Rc<Inner>,
}

/// How to make a [`Connection`]: the URL, [`Options`], subprotocols and callbacks.
pub struct ConnectionBuilder {
    url: String,
    url_fn: Option<Rc<dyn Fn() -> String>>,
    options: Options,
    protocols: Vec<String>,
    callbacks: Vec<Callback>,
    should_reconnect: Option<Policy>,
}

impl ConnectionBuilder {
    /// All the options at once (default: [`Options::default`]).
    #[must_use]
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The reconnect policy; `None`: never reconnect.
    #[must_use]
    pub fn reconnect(mut self, reconnect: Option<ReconnectOptions>) -> Self {
        self.options.reconnect = reconnect;
        self
    }

    /// An attempt not open after this long fails (default 10000).
    #[must_use]
    pub fn connect_timeout_ms(mut self, ms: u64) -> Self {
        self.options.connect_timeout_ms = ms;
        self
    }

    /// The heartbeat; `None` (the default): off.
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Option<HeartbeatOptions>) -> Self {
        self.options.heartbeat = heartbeat;
        self
    }

    /// The outbox limits and overflow policy.
    #[must_use]
    pub fn outbox(mut self, outbox: OutboxOptions) -> Self {
        self.options.outbox = outbox;
        self
    }

    /// The delivery protocol (acknowledgements, resend, resume); needed by
    /// [`Connection::send_with_ack`]. `None` (the default): off.
    #[must_use]
    pub fn delivery(mut self, delivery: Option<DeliveryOptions>) -> Self {
        self.options.delivery = delivery;
        self
    }

    /// The subprotocols offered (Sec-WebSocket-Protocol).
    #[must_use]
    pub fn protocols<S: Into<String>>(mut self, protocols: impl IntoIterator<Item = S>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Called before every attempt for its URL (e.g. with a fresh token), instead of the
    /// fixed one. A URL the browser rejects fails that attempt ([`Event::Error`]).
    #[must_use]
    pub fn url_fn(mut self, url: impl Fn() -> String + 'static) -> Self {
        self.url_fn = Some(Rc::new(url));
        self
    }

    /// Called with every [`Event`], in order. It may call the connection (send, close):
    /// what that causes is reported after it returns.
    #[must_use]
    pub fn on_event(mut self, callback: impl Fn(&Event) + 'static) -> Self {
        self.callbacks.push(Rc::new(callback));
        self
    }

    /// Called with every message received.
    #[must_use]
    pub fn on_message(self, callback: impl Fn(&Data) + 'static) -> Self {
        self.on_event(move |e| {
            if let Event::Message(data) = e {
                callback(data)
            }
        })
    }

    /// Called with every status change (the first, `Connecting`, at once).
    #[must_use]
    pub fn on_status(self, callback: impl Fn(Status) + 'static) -> Self {
        self.on_event(move |e| {
            if let Event::Status(status) = e {
                callback(*status)
            }
        })
    }

    /// Decides after an unexpected close whether to reconnect. Default:
    /// [`default_should_reconnect`] (not after 1002, 1003, 1007–1010, 4401, 4403).
    ///
    /// [`default_should_reconnect`]: crate::core::default_should_reconnect
    #[must_use]
    pub fn should_reconnect(mut self, policy: impl Fn(&CloseInfo) -> bool + 'static) -> Self {
        self.should_reconnect = Some(Rc::new(policy));
        self
    }

    /// Checks the URL and the options, then connects (the first attempt starts at once).
    pub fn connect(self) -> Result<Connection, Error> {
        let fixed = match self.url_fn {
            Some(_) => None,
            None => match ws_url(&JsValue::from_str(&self.url)) {
                Ok(Some(href)) => Some(href),
                Ok(None) => return Err(Error::InvalidUrl(self.url)),
                Err(e) => return Err(Error::InvalidUrl(error_text(&e))),
            },
        };
        self.options.validate().map_err(Error::InvalidOption)?;

        let fanout = Rc::new(Fanout {
            callbacks: self.callbacks,
            streams: RefCell::default(),
        });
        let mut config = None;
        let (url_fn, should_reconnect) = (self.url_fn, self.should_reconnect);
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let mut closures = Closures::default();
            let url = match (fixed, url_fn) {
                (Some(href), _) => UrlSource::Fixed(href),
                (_, f) => {
                    let f = f.expect("a URL function when there is no fixed URL");
                    UrlSource::Function(closures.keep(Closure::<dyn Fn() -> JsValue>::new(
                        move || JsValue::from_str(&f()),
                    )))
                }
            };
            let hooks = closures.hooks(&fanout, weak.clone(), should_reconnect);
            config = Some((url, hooks));
            Inner {
                driver: OnceCell::new(),
                fanout,
                _closures: closures.0,
            }
        });
        let (url, hooks) = config.expect("set by new_cyclic");
        // Started once `inner` exists, so that the status hook can read the driver through it.
        let driver = Driver::start(Config {
            url,
            protocols: self.protocols,
            options: self.options,
            hooks,
            // (IndexedDB persistence is the JS package's; a Rust app keeps its own state.)
            persist: None,
        });
        let _ = inner.driver.set(driver);
        Ok(Connection { inner })
    }
}

/// The closures behind the driver's hooks, kept (and freed) with the connection.
#[derive(Default)]
struct Closures(Vec<Box<dyn Any>>);

impl Closures {
    /// Keeps `closure` and returns its JS function.
    fn keep<T: ?Sized + 'static>(&mut self, closure: Closure<T>) -> Function {
        let f = closure.as_ref().unchecked_ref::<Function>().clone();
        self.0.push(Box::new(closure));
        f
    }

    /// A hook taking one value, emitting `to_event(value)`.
    fn hook1(&mut self, fanout: &Rc<Fanout>, to_event: fn(JsValue) -> Event) -> Option<Function> {
        let fanout = fanout.clone();
        Some(self.keep(Closure::<dyn Fn(JsValue)>::new(move |v| {
            fanout.emit(to_event(v))
        })))
    }

    /// Every hook of the driver, each emitting its [`Event`] to `fanout`.
    fn hooks(
        &mut self,
        fanout: &Rc<Fanout>,
        inner: Weak<Inner>,
        should_reconnect: Option<Policy>,
    ) -> Hooks {
        let on_status = {
            let fanout = fanout.clone();
            self.keep(Closure::<dyn Fn(JsValue)>::new(move |name: JsValue| {
                fanout.emit(Event::Status(status_from(&name, &inner)))
            }))
        };
        let on_drop = {
            let fanout = fanout.clone();
            self.keep(Closure::<dyn Fn(JsValue, JsValue, JsValue)>::new(
                move |data: JsValue, reason: JsValue, detail: JsValue| {
                    fanout.emit(Event::Dropped {
                        data: Data::from_js(&data),
                        error: DropError::from_js(&reason, &detail),
                    })
                },
            ))
        };
        let should_reconnect = should_reconnect.map(|policy| {
            self.keep(Closure::<dyn Fn(JsValue) -> bool>::new(move |info| {
                policy(&close_info_from_js(&info))
            }))
        });
        Hooks {
            on_open: self.hook1(fanout, |_| Event::Open),
            on_close: self.hook1(fanout, |info| Event::Close(close_info_from_js(&info))),
            on_message: self.hook1(fanout, |m| {
                let data = Reflect::get(&m, &JsValue::from_str("data")).unwrap_or_default();
                Event::Message(Data::from_js(&data))
            }),
            on_error: self.hook1(fanout, |e| Event::Error(error_text(&e))),
            on_reconnect_stop: self.hook1(fanout, |n| Event::ReconnectStopped {
                attempts: n.as_f64().unwrap_or(0.0) as u32,
            }),
            on_drop: Some(on_drop),
            on_status: Some(on_status),
            should_reconnect,
            on_ack: self.hook1(fanout, |data| Event::Acked(Data::from_js(&data))),
            on_resync: self.hook1(fanout, |_| Event::Resync),
        }
    }
}

/// The status the driver names. A closed one takes its reason from the driver when it is
/// still closed (not while the connection drops: then [`ClosedReason::User`]).
fn status_from(name: &JsValue, inner: &Weak<Inner>) -> Status {
    match name.as_string().as_deref() {
        Some("connecting") => Status::Connecting,
        Some("connected") => Status::Connected,
        Some("reconnecting") => Status::Reconnecting,
        _ => match inner
            .upgrade()
            .and_then(|i| i.driver.get().map(Driver::status))
        {
            Some(closed @ Status::Closed(_)) => closed,
            _ => Status::Closed(ClosedReason::User),
        },
    }
}

impl Connection {
    /// Connects to `url` with the default options: shorthand for
    /// `Connection::builder(url).connect()`.
    pub fn new(url: impl Into<String>) -> Result<Connection, Error> {
        Connection::builder(url).connect()
    }

    /// A builder for a connection to `url` (ws:, wss:, http: or https:, or relative to the
    /// document's base URL, read as `new WebSocket` reads it).
    pub fn builder(url: impl Into<String>) -> ConnectionBuilder {
        ConnectionBuilder {
            url: url.into(),
            url_fn: None,
            options: Options::default(),
            protocols: Vec::new(),
            callbacks: Vec::new(),
            should_reconnect: None,
        }
    }

    fn driver(&self) -> &Driver {
        self.inner.driver.get().expect("set when connected")
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.driver().status()
    }

    /// A new stream of the events from now on, in order. It ends when the connection is
    /// dropped (after the last events of the release). Any number may be open.
    pub fn events(&self) -> Events {
        let (tx, rx) = unbounded();
        self.inner.fanout.streams.borrow_mut().push(tx);
        Events(rx)
    }

    /// Sends `data` (a `&str`, `String`, `Vec<u8>` or `&[u8]`, or a [`Data`]): handed to
    /// the socket now ([`SendOutcome::Sent`]), or kept in the outbox until a connection
    /// opens ([`SendOutcome::Queued`]), or refused under overflow "drop-newest"
    /// ([`SendOutcome::Dropped`], also reported as [`Event::Dropped`]). Under overflow
    /// "error" a full outbox is [`Error::OutboxFull`] and nothing is queued.
    pub fn send(&self, data: impl Into<Data>) -> Result<SendOutcome, Error> {
        let (value, bytes) = data.into().to_js();
        self.driver()
            .send(JsMessage::outgoing(value, bytes))
            .map_err(Error::OutboxFull)
    }

    /// With the delivery option: sends like [`Connection::send`], and returns an [`Ack`]
    /// future that resolves once the server acknowledged the message, or to the
    /// [`DropError`] that says why it never will be.
    pub fn send_with_ack(&self, data: impl Into<Data>) -> Result<Ack, Error> {
        let driver = self.driver();
        if !driver.delivery() {
            return Err(Error::DeliveryOff);
        }
        let (value, bytes) = data.into().to_js();
        let (_, promise) = driver
            .send_with_ack(JsMessage::outgoing(value, bytes))
            .map_err(Error::OutboxFull)?;
        Ok(Ack(JsFuture::from(promise)))
    }

    /// Ends the connection for good with code 1000 (no more attempts; [`reconnect`] starts
    /// again).
    ///
    /// [`reconnect`]: Connection::reconnect
    pub fn close(&self) {
        let _ = self.driver().close(1000, String::new());
    }

    /// [`close`](Connection::close) with a code (1000 or 3000..=4999) and a reason (at most
    /// 123 UTF-8 bytes); anything else is [`Error::InvalidClose`] and closes nothing.
    pub fn close_with(&self, code: u16, reason: &str) -> Result<(), Error> {
        validate_close(code, reason).map_err(Error::InvalidClose)?;
        self.driver()
            .close(code, reason.to_owned())
            .map_err(Error::InvalidClose)
    }

    /// Starts a new attempt now with the backoff reset (also after close).
    pub fn reconnect(&self) {
        self.driver().reconnect();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// A stream of a connection's [`Event`]s ([`Connection::events`]); it ends when the
/// connection is dropped.
pub struct Events(UnboundedReceiver<Event>);

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

/// The acknowledgement of a [`Connection::send_with_ack`]: `Ok(())` once the server
/// acknowledged the message, or why it never will.
pub struct Ack(JsFuture);

impl Future for Ack {
    type Output = Result<(), DropError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map(drop).map_err(|e| DropError::from_js_error(&e)))
    }
}
